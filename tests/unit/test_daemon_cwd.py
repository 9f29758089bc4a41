"""The daemon leaves the directory it was started in (chdir "/"), as daemons do, and a
plugin that was importable from there stays importable."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from netdrv_core import daemon


class _FakeDaemon:
    """Stands in for :class:`~netdrv_core.daemon.Daemon`: records what ``run`` sees."""

    seen: dict[str, Any] = {}

    def __init__(self, **kw: Any) -> None:
        self.kw = kw

    def listen(self) -> None:
        _FakeDaemon.seen["listen_cwd"] = os.getcwd()

    def run(self) -> None:
        _FakeDaemon.seen["run_cwd"] = os.getcwd()
        _FakeDaemon.seen["busy_file"] = self.kw["busy_file"]
        # A plugin module next to where the daemon was started, found through "" on sys.path.
        _FakeDaemon.seen["module"] = importlib.import_module("netdrv_cwd_probe").VALUE


@pytest.fixture
def started_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    start = tmp_path / "start"
    start.mkdir()
    (start / "netdrv_cwd_probe.py").write_text("VALUE = 'found'\n")
    monkeypatch.chdir(start)  # restored after the test
    monkeypatch.setattr(sys, "path", ["", *sys.path])  # as `python -c` would have it
    monkeypatch.delitem(sys.modules, "netdrv_cwd_probe", raising=False)
    monkeypatch.setattr(daemon, "Daemon", _FakeDaemon)
    monkeypatch.setattr(daemon, "PluginManager", lambda **kw: None)
    monkeypatch.setattr(daemon, "busy_path", lambda: "rel/daemon.busy")  # relative: a bad XDG
    monkeypatch.setattr(daemon.logging, "basicConfig", lambda **kw: None)
    old_umask = os.umask(0o022)
    yield start
    os.umask(old_umask)
    sys.modules.pop("netdrv_cwd_probe", None)


def test_the_daemon_runs_in_the_root_directory(started_in: Path) -> None:
    _FakeDaemon.seen.clear()
    assert daemon.main(["--watchdog", "0"]) == 0
    seen = _FakeDaemon.seen
    assert seen["listen_cwd"] == str(started_in)  # set-up still where it was started...
    assert seen["run_cwd"] == "/"  # ...but it serves from "/", holding no mount point busy
    assert seen["module"] == "found"  # imports resolve as they did at start-up
    assert seen["busy_file"] == str(started_in / "rel" / "daemon.busy")
