"""Installed hook plugins (entry-point group ``netdrv.plugins``) in a real daemon.

* One that fails to import is tried again, afresh from disk, at the next ``netdrv load``:
  fixed while the daemon runs, it takes part in that load without a restart.
* ``netdrv -p no:NAME load …`` keeps it out of that one load in a running daemon.

The plugin is "installed" as pip leaves one: a module and a ``.dist-info`` declaring
its entry point, in a temporary directory the commands get on ``PYTHONPATH``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import wait_for
from .plugin_helpers import env_with

pytestmark = pytest.mark.netns

BROKEN = '''
"""hpretry: a middleware whose import fails."""
import netdrv_hpretry_missing_dependency  # the line the error points at
'''

FIXED = '''
"""hpretry: adds tag= to every driver; writes every device registered to {out}."""
from netdrv_core import Param, hookimpl


@hookimpl
def netdrv_driver_parameters(driver):
    return [Param("tag", str, "", "a tag")]


@hookimpl
def netdrv_device_registered(dev):
    with open({out!r}, "a") as f:
        f.write(dev.name + "\\n")
'''


def _install(site: Path, source: str) -> Path:
    module = site / "netdrv_hpretry.py"
    module.write_text(textwrap.dedent(source))
    info = site / "netdrv_hpretry-0.2.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: netdrv-hpretry\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text("[netdrv.plugins]\nhpretry = netdrv_hpretry\n")
    return module


def test_a_broken_hook_plugin_fixed_while_the_daemon_runs_takes_part_in_the_next_load(
    tmp_path: Path, netns: NetNamespace
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    module = _install(site, BROKEN)
    env = env_with(site)
    out = tmp_path / "registered.txt"

    def netdrv(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return netns.run([sys.executable, "-m", "netdrv_core.cli", *args], env=env, check=check)

    # Broken: the load goes on without it, and its error names it (and where it failed).
    first = netdrv("load", "loopback", "name=keep%d")
    assert "loopback: keep0" in first.stdout, first.stdout + first.stderr
    (pid,) = netns.pids()
    expected = "plugin 'hpretry' (distribution netdrv-hpretry 0.2) failed to load: " \
        "ModuleNotFoundError: No module named 'netdrv_hpretry_missing_dependency' " \
        f"(at {module}:3 in <module>)"  # fmt: skip
    assert expected in first.stderr, first.stderr
    assert expected in netdrv("log").stdout
    # Its parameter is not there while it fails: the refusal says which plugin failed.
    bad = netdrv("load", "snull", "tag=x", check=False)
    assert bad.returncode != 0 and "has no parameter 'tag'" in bad.stderr, bad.stderr
    assert "'hpretry' (distribution netdrv-hpretry 0.2)" in bad.stderr, bad.stderr

    # Fixed on disk while the daemon runs: the next load imports it afresh and its hooks apply.
    _install(site, FIXED.format(out=str(out)))
    res = netdrv("load", "snull", "tag=x")
    assert "snull: sn0, sn1" in res.stdout, res.stdout + res.stderr
    assert netns.pids() == [pid], "the same daemon, not a new one"
    assert out.read_text().split() == ["sn0", "sn1"]
    log = netdrv("log").stdout
    assert "plugin 'hpretry' (distribution netdrv-hpretry 0.2) loaded; it had failed to load " \
        "before" in log, log  # fmt: skip

    # -p no:hpretry keeps it out of one load in this running daemon (its hooks follow none
    # of that driver's devices), and only that one.
    off = netdrv("-p", "no:hpretry", "load", "loopback:b", "name=nohp%d", "tag=x", check=False)
    assert off.returncode != 0 and "has no parameter 'tag'" in off.stderr, off.stderr
    assert "nohp0" in netdrv("-p", "no:hpretry", "load", "loopback:b", "name=nohp%d").stdout
    assert "yes0" in netdrv("load", "loopback:c", "name=yes%d", "tag=x").stdout
    assert netns.pids() == [pid]
    assert out.read_text().split() == ["sn0", "sn1", "yes0"]
    netdrv("stop")
    assert wait_for(lambda: not netns.pids())
