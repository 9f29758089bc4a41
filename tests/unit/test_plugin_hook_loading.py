"""Hooks of ``-p MODULE`` modules and of installed hook plugins take part in every load.

A middleware plugin offers no driver: it adds a parameter to every driver
(``netdrv_driver_parameters``) and follows device events.  Named with ``-p MODULE``
or installed in the entry-point group ``netdrv.plugins``, its hooks must run when any
driver is loaded, in the ``netdrv load`` command (which checks the parameters) and in
the daemon — as pytest loads every plugin.  A ``-p`` module that cannot be imported is
a clear error (the user named it); an installed hook plugin that fails is logged and
stops no unrelated driver.  Nothing here starts a real daemon: the CLI's request is
intercepted, and the daemon runs in-process on the memory attachment.
"""

from __future__ import annotations

import logging
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
'''

OTHERS = {"slip", "usbnet"}  # other teams' plugins stay out of these tests


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NETDRV_DISABLE_PLUGIN_AUTOLOAD", "NETDRV_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory first on sys.path; the modules written there are unimported afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in [p.stem for p in tmp_path.glob("*.py")]:
        sys.modules.pop(mod, None)


def _module(site: Path, name: str, source: str = MIDDLEWARE) -> str:
    (site / f"{name}.py").write_text(textwrap.dedent(source).format(name=name))
    return name


def _hook_dist(site: Path, entry_points: dict[str, str], dist: str = "netdrv-mw") -> None:
    """A distribution declaring ``entry_points`` in the group ``netdrv.plugins``."""
    info = site / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    eps = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[netdrv.plugins]\n{eps}")


def _events(mod: str) -> list[tuple[str, str]]:
    return list(sys.modules[mod].EVENTS)


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


@pytest.fixture
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The ``load`` requests ``netdrv load`` would send (answered ok; no daemon starts)."""
    sent: list[dict[str, Any]] = []

    def ask(plugins: tuple[str, ...], req: dict[str, Any]) -> dict[str, Any]:
        sent.append(req)
        return {"ok": True, "devices": ["sn0", "sn1"]}

    monkeypatch.setattr(cli_mod, "_ask_load", ask)
    monkeypatch.setattr(cli_mod, "_has_net_admin", lambda: True)
    return sent


# -- -p MODULE: its hooks take part although it offers no driver ---------------------------
def test_a_p_middleware_adds_its_parameter_to_a_driver_it_does_not_offer(site: Path) -> None:
    mw = _module(site, "netdrv_mwparams")
    pm = PluginManager(disabled=OTHERS, extra=[mw])
    assert "pcap" in [p.name for p in pm.driver_parameters("snull")]


def test_netdrv_load_accepts_the_parameter_a_p_middleware_adds(
    site: Path, no_daemon: list[dict[str, Any]]
) -> None:
    mw = _module(site, "netdrv_mwcli")
    res = CliRunner().invoke(cli, ["-p", "no:slip", "-p", mw, "load", "snull", "pcap=/tmp/x"])
    assert res.exit_code == 0, res.output
    assert no_daemon == [{"driver": "snull", "params": ["pcap=/tmp/x"], "plugins": [mw],
                          "disabled": ["slip"]}]  # fmt: skip


def test_the_daemon_runs_a_p_middleware_hooks_for_a_driver_it_does_not_offer(
    site: Path, daemon: Callable[..., Daemon]
) -> None:
    mw = _module(site, "netdrv_mwdaemon")
    d = daemon()
    reply = d.handle({"cmd": "load", "driver": "snull", "params": ["pcap=/tmp/x"],
                      "plugins": [mw]})  # fmt: skip
    assert reply is not None and reply["ok"], reply
    assert _events(mw) == [("registered", "sn0"), ("registered", "sn1")]
    assert mw in d.pm.extra


def test_a_p_middleware_of_a_failed_load_leaves_no_hooks_behind(
    site: Path, daemon: Callable[..., Daemon]
) -> None:
    mw = _module(site, "netdrv_mwfailed")
    d = daemon()
    with pytest.raises(NetdrvError):  # snull has no nosuch=: the load fails after mw loaded
        d.handle({"cmd": "load", "driver": "snull", "params": ["nosuch=1"], "plugins": [mw]})
    events = sys.modules[mw].EVENTS if mw in sys.modules else []
    assert mw not in d.pm.extra
    # The next load does not name it: neither its parameter nor its device hooks apply.
    with pytest.raises(NetdrvError, match="pcap"):
        d.handle({"cmd": "load", "driver": "snull", "params": ["pcap=/tmp/x"]})
    assert d.handle({"cmd": "load", "driver": "snull"})["ok"]  # type: ignore[index]
    assert events == []


# -- -p MODULE that cannot be imported: a clear error, nothing kept ------------------------
def test_a_p_typo_fails_netdrv_load_before_any_daemon_is_asked(
    no_daemon: list[dict[str, Any]],
) -> None:
    res = CliRunner().invoke(cli, ["-p", "netdrv_nosuchmod", "load", "snull"])
    assert res.exit_code == 2, res.output
    assert no_daemon == []
    msg = res.output
    assert "'netdrv_nosuchmod'" in msg and "-p netdrv_nosuchmod" in msg and "not found" in msg
    assert "check the name" in msg and "PYTHONPATH" in msg and "Traceback" not in msg


def test_a_p_typo_is_refused_by_the_daemon_which_keeps_its_drivers(
    daemon: Callable[..., Daemon],
) -> None:
    d = daemon()
    assert d.handle({"cmd": "load", "driver": "loopback"})["ok"]  # type: ignore[index]
    with pytest.raises(PluginError, match=r"'netdrv_nosuchmod' .*not found.*PYTHONPATH"):
        d.handle({"cmd": "load", "driver": "snull", "plugins": ["netdrv_nosuchmod"]})
    assert "netdrv_nosuchmod" not in d.pm.extra and "snull" not in d.drivers
    assert "loopback" in d.drivers
    # The next load without the typo works, and the typo fails again (it is not remembered).
    assert d.handle({"cmd": "load", "driver": "snull"})["ok"]  # type: ignore[index]
    with pytest.raises(PluginError, match="not found"):
        d.handle({"cmd": "load", "driver": "loopback:b", "plugins": ["netdrv_nosuchmod"]})


def test_a_daemon_started_with_a_p_typo_drops_it(daemon: Callable[..., Daemon]) -> None:
    d = daemon(extra=["netdrv_nosuchmod"])
    with pytest.raises(PluginError, match="not found"):
        d.handle({"cmd": "load", "driver": "snull", "plugins": ["netdrv_nosuchmod"]})
    assert d.pm.extra == []
    assert d.handle({"cmd": "load", "driver": "snull"})["ok"]  # type: ignore[index]


def test_a_p_module_whose_import_raises_names_the_cause(site: Path) -> None:
    bad = _module(site, "netdrv_mwbroken", "import netdrv_mw_missing_dependency\n")
    pm = PluginManager(disabled=OTHERS, extra=[bad])
    with pytest.raises(PluginError) as ei:
        pm.load_hook_plugins(required=[bad])
    msg = str(ei.value)
    assert "'netdrv_mwbroken' (-p netdrv_mwbroken) failed to load" in msg
    assert "No module named 'netdrv_mw_missing_dependency'" in msg


def test_listing_shows_a_p_typo_as_broken_without_importing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pm = PluginManager(disabled=OTHERS, extra=["netdrv_nosuchmod"])
    row = next(d for d in pm.list_drivers() if d.module == "netdrv_nosuchmod")
    assert "not found" in row.problem and "PYTHONPATH" in row.problem


def test_p_with_the_module_of_an_installed_driver_is_that_driver() -> None:
    """``-p netdrv_snull`` with snull installed: not a second plugin claiming ``snull``."""
    pm = PluginManager(disabled=OTHERS, extra=["netdrv_snull"])
    assert pm.get_driver("snull").name == "snull"
    assert pm.load_hook_plugins(required=["netdrv_snull"]) == {}


# -- installed hook plugins (entry-point group netdrv.plugins) -----------------------------
def test_an_installed_hook_plugin_takes_part_in_every_load(
    site: Path, daemon: Callable[..., Daemon]
) -> None:
    mw = _module(site, "netdrv_mwinstalled")
    _hook_dist(site, {"mwinstalled": mw})
    d = daemon()
    assert "pcap" in [p.name for p in d.pm.driver_parameters("loopback")]
    reply = d.handle({"cmd": "load", "driver": "snull", "params": ["pcap=/tmp/x"]})
    assert reply is not None and reply["ok"], reply
    assert _events(mw) == [("registered", "sn0"), ("registered", "sn1")]


def test_listing_drivers_does_not_import_hook_plugins(site: Path) -> None:
    mw = _module(site, "netdrv_mwlisted")
    _hook_dist(site, {"mwlisted": mw})
    names = PluginManager(disabled=OTHERS).driver_names()
    assert "snull" in names and "mwlisted" not in names and mw not in sys.modules


def test_a_disabled_or_not_autoloaded_hook_plugin_is_not_imported(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mw = _module(site, "netdrv_mwoff")
    _hook_dist(site, {"mwoff": mw})
    PluginManager(disabled={"mwoff", *OTHERS}).get_driver("snull")
    monkeypatch.setenv("NETDRV_DISABLE_PLUGIN_AUTOLOAD", "1")
    PluginManager(extra=["netdrv_loopback"]).get_driver("loopback")
    assert mw not in sys.modules


def test_a_broken_hook_plugin_is_logged_and_stops_no_driver(
    site: Path, daemon: Callable[..., Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    bad = _module(site, "netdrv_mwraises", "raise RuntimeError('no pcap library')\n")
    good = _module(site, "netdrv_mwgood")
    _hook_dist(site, {"mwraises": bad, "mwgood": good})
    d = daemon()
    with caplog.at_level(logging.ERROR, logger="netdrv.plugins"):
        reply = d.handle({"cmd": "load", "driver": "snull", "params": ["pcap=/tmp/x"]})
        assert reply is not None and reply["ok"], reply
        assert d.pm.load_hook_plugins() == {"mwraises": d.pm.errors["mwraises"]}
    logged = [r.getMessage() for r in caplog.records]
    assert [m for m in logged if "'mwraises'" in m and "netdrv-mw 0.3" in m
            and "RuntimeError: no pcap library" in m], logged  # fmt: skip
    assert _events(good) == [("registered", "sn0"), ("registered", "sn1")]


def test_a_hook_plugin_declared_as_a_driver_says_where_it_belongs(site: Path) -> None:
    mw = _module(site, "netdrv_mwmisplaced")
    info = site / "netdrv_mwmisplaced-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: netdrv-mwmisplaced\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[netdrv.drivers]\nmwmisplaced = {mw}\n")
    with pytest.raises(PluginError) as ei:
        PluginManager(disabled=OTHERS).get_driver("mwmisplaced")
    msg = str(ei.value)
    assert "implements hooks but no driver" in msg and "netdrv.plugins" in msg
