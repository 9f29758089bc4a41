"""What ``netdrv load`` says of a plugin that does not load, and ``-p no:NAME`` per load.

* A driver whose module fails to import (or whose ``netdrv_drivers`` raises) is
  reported with the file and line of the author's code that failed, by ``netdrv load``
  and by the daemon, as by the conformance kit.
* A ``-p MODULE`` module is no driver name: an unknown driver's suggestions are the
  installed drivers and those the loaded plugins offer, never a module's name.
* ``-p no:NAME`` of a hook plugin applies to that one load in a running daemon: the
  plugin's hooks neither add parameters to that driver nor follow its devices.

Nothing here starts a real daemon: the CLI's request is intercepted, and the daemon
runs in-process on the memory attachment.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import netdrv_core.cli as cli_mod
from netdrv_core import Host, NetdrvError, PluginError, PluginManager
from netdrv_core.cli import cli
from netdrv_core.daemon import Daemon

OTHERS = {"slip", "usbnet"}  # other teams' plugins stay out of these tests

BROKEN_INIT = '''
"""lerrpkg: a driver whose module does not import."""

from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers():
    from .driver import Broken

    return [Broken]
'''

MIDDLEWARE = '''
"""{name}: adds pcap= to every driver and records device events."""
from netdrv_core import Param, hookimpl

EVENTS = []


@hookimpl
def netdrv_driver_parameters(driver):
    return [Param("pcap", str, "", "capture file")]


@hookimpl
def netdrv_device_registered(dev):
    EVENTS.append(("registered", dev.name))


@hookimpl
def netdrv_device_unregistered(dev):
    EVENTS.append(("unregistered", dev.name))
'''


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NETDRV_DISABLE_PLUGIN_AUTOLOAD", "NETDRV_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory first on sys.path; what is imported from it is unimported afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    tops = {p.stem for p in tmp_path.glob("*.py")} | {p.name for p in tmp_path.iterdir()}
    for mod in [m for m in sys.modules if m.split(".")[0] in tops]:
        sys.modules.pop(mod, None)


def _dist(site: Path, dist: str, group: str, entry_points: dict[str, str]) -> None:
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    eps = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{eps}")


def _module(site: Path, name: str, source: str = MIDDLEWARE) -> str:
    (site / f"{name}.py").write_text(textwrap.dedent(source).format(name=name))
    return name


@pytest.fixture
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The ``load`` requests ``netdrv load`` would send (answered ok; no daemon starts)."""
    sent: list[dict[str, Any]] = []

    def ask(plugins: tuple[str, ...], req: dict[str, Any]) -> dict[str, Any]:
        sent.append(req)
        return {"ok": True, "devices": []}

    monkeypatch.setattr(cli_mod, "_ask_load", ask)
    monkeypatch.setattr(cli_mod, "_has_net_admin", lambda: True)
    return sent


@pytest.fixture
def daemon(host: Host) -> Iterator[Callable[..., Daemon]]:
    """``daemon(**pm_kwargs)``: an in-process daemon; its drivers are unloaded afterwards."""
    made: list[Daemon] = []

    def make(**kw: Any) -> Daemon:
        kw.setdefault("disabled", OTHERS)
        d = Daemon(host=host, pm=PluginManager(**kw), exit_when_empty=False, watchdog=None)
        made.append(d)
        return d

    yield make
    for d in made:
        for name in list(d.drivers):
            d.unload(name)


# -- a driver that does not import: where it failed -----------------------------------------
@pytest.mark.parametrize(
    ("init", "driver", "where"),
    [
        (BROKEN_INIT, '"""The driver."""\n\nfrom netdrv_core import Driver, netif_rx_ni\n',
         "driver.py:3 in <module>"),
        ('"""lerrpkg."""\n\nimport netdrv_core\n\nfrom .driver import X  # noqa\n',
         '"""The driver."""\n\n\ndef f():\n    return 1\n\n\nX = undefined_name\n',
         "driver.py:8 in <module>"),
        ('"""lerrpkg."""\n\nfrom .driver import X  # noqa\n', '"""The driver."""\nX = (\n',
         "driver.py:2)"),
    ],
    ids=["import-in-hook", "nameerror-at-import", "syntaxerror"],
)  # fmt: skip
def test_netdrv_load_says_where_a_driver_module_failed(
    site: Path, no_daemon: list[dict[str, Any]], daemon: Callable[..., Daemon],
    init: str, driver: str, where: str,
) -> None:  # fmt: skip
    pkg = site / "netdrv_lerrpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(init)
    (pkg / "driver.py").write_text(driver)
    _dist(site, "netdrv-lerrpkg", "netdrv.drivers", {"lerrpkg": "netdrv_lerrpkg"})
    res = CliRunner().invoke(cli, ["-p", "no:slip", "-p", "no:usbnet", "load", "lerrpkg"])
    assert res.exit_code == 2 and no_daemon == [], res.output
    assert f"(at {pkg}{'/'}{where}" in res.output and "Traceback" not in res.output, res.output
    # The daemon's error (a daemon that imports the plugin again) says it too, once.
    with pytest.raises(PluginError) as ei:
        daemon().handle({"cmd": "load", "driver": "lerrpkg"})
    assert str(ei.value).count(" (at ") == 1 and f"(at {pkg}/{where}" in str(ei.value)


def test_a_p_module_that_does_not_import_says_where(site: Path) -> None:
    bad = _module(site, "netdrv_lerrp", '"""p."""\n\nimport netdrv_lerr_missing_dependency\n')
    with pytest.raises(PluginError) as ei:
        PluginManager(disabled=OTHERS, extra=[bad]).load_hook_plugins(required=[bad])
    assert f"(at {site / bad}.py:3 in <module>)" in str(ei.value)
    # A module that is not there at all has no line of its own to show.
    with pytest.raises(PluginError) as ei:
        PluginManager(extra=["netdrv_lerr_nosuch"]).load_hook_plugins(
            required=["netdrv_lerr_nosuch"]
        )
    assert " (at " not in str(ei.value)


# -- a -p module is no driver name ----------------------------------------------------------
def test_a_failed_p_module_is_not_suggested_as_a_driver(site: Path) -> None:
    bad = _module(site, "netdrv_lerrsnull", "import netdrv_lerr_missing_dependency\n")
    pm = PluginManager(disabled=OTHERS, extra=[bad])
    with pytest.raises(PluginError) as ei:
        pm.get_driver("lerrsnull")
    msg = str(ei.value)
    assert msg.startswith("unknown driver 'lerrsnull'.") and bad not in msg, msg
    assert "Installed drivers: loopback, snull" in msg, msg
    # netdrv drivers: with the plugins, marked broken once imported (--verbose); not a driver.
    res = CliRunner().invoke(
        cli, ["-p", "no:slip", "-p", "no:usbnet", "-p", bad, "drivers", "--verbose", "--json"]
    )
    assert res.exit_code == 0, res.output
    rows = [r for r in json.loads(res.stdout) if r["name"] == bad]
    assert [r["kind"] for r in rows] == ["module"], rows
    assert "No module named 'netdrv_lerr_missing_dependency'" in rows[0]["error"]


def test_the_drivers_a_p_module_offers_are_suggested(site: Path) -> None:
    pm = PluginManager(autoload=False, extra=["netdrv_snull"])
    with pytest.raises(PluginError) as ei:
        pm.get_driver("snul")
    assert "Did you mean: snull?" in str(ei.value) and "netdrv_snull" not in str(ei.value)


# -- -p no:NAME of a hook plugin, for one load in a running daemon --------------------------
@pytest.mark.parametrize("loaded_before", [False, True], ids=["not-loaded", "loaded-before"])
def test_p_no_of_a_hook_plugin_applies_to_that_load_in_a_running_daemon(
    site: Path, daemon: Callable[..., Daemon], loaded_before: bool
) -> None:
    mw = _module(site, "netdrv_lerrmw")
    _dist(site, "netdrv-lerrmw", "netdrv.plugins", {"lerrmw": mw})
    d = daemon()
    if loaded_before:  # another load has loaded it: its hooks are registered in the daemon
        assert d.handle({"cmd": "load", "driver": "loopback"})["ok"]  # type: ignore[index]
        assert [e for e, _ in sys.modules[mw].EVENTS] == ["registered"]
        sys.modules[mw].EVENTS.clear()
    off = {"cmd": "load", "driver": "snull", "disabled": ["lerrmw"]}
    with pytest.raises(NetdrvError, match="no parameter 'pcap'"):
        d.handle({**off, "params": ["pcap=/tmp/x"]})
    assert d.handle(off)["ok"]  # type: ignore[index]
    assert ("lerrmw" in d.pm.loaded_plugins()) is loaded_before
    events = sys.modules[mw].EVENTS if mw in sys.modules else []
    d.unload("snull")
    assert events == []
    # The next load without it has the plugin's hooks, as before.
    assert d.handle({"cmd": "load", "driver": "snull", "params": ["pcap=/tmp/x"]})["ok"]  # type: ignore[index]
    assert sys.modules[mw].EVENTS == [("registered", "sn0"), ("registered", "sn1")]
