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

import json
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


# -- a hook plugin that failed is tried again at the next load (as modprobe) ---------------
BROKEN = "raise RuntimeError('no pcap library')\n"

MISSPELLED = '''
"""{name}: a hook with a typo (refused after its import went through)."""
from netdrv_core import Param, hookimpl


@hookimpl
def netdrv_driver_parameter(driver):
    return [Param("pcap", str, "", "capture file")]
'''


def _failures(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"plugin {name!r}" in r.getMessage()]


@pytest.mark.parametrize("broken", [BROKEN, MISSPELLED], ids=["import-raises", "bad-hook"])
def test_a_failed_hook_plugin_is_tried_again_at_each_load_and_works_once_fixed(
    site: Path, daemon: Callable[..., Daemon], caplog: pytest.LogCaptureFixture, broken: str
) -> None:
    mw = _module(site, "netdrv_mwretry", broken)
    _hook_dist(site, {"mwretry": mw})
    d = daemon()
    with caplog.at_level(logging.ERROR, logger="netdrv.plugins"):
        assert d.handle({"cmd": "load", "driver": "loopback"})["ok"]  # type: ignore[index]
        # Still broken: tried again, and its error (naming it) logged again.
        with pytest.raises(NetdrvError, match="pcap"):
            d.handle({"cmd": "load", "driver": "snull", "params": ["pcap=/tmp/x"]})
    logged = _failures(caplog, "mwretry")
    assert len(logged) == 2 and all("netdrv-mw 0.3" in m for m in logged), logged
    # Fixed (and reinstalled) while the daemon runs: the next load imports it afresh.
    _module(site, mw)
    with caplog.at_level(logging.INFO, logger="netdrv.plugins"):
        reply = d.handle({"cmd": "load", "driver": "snull", "params": ["pcap=/tmp/x"]})
    assert reply is not None and reply["ok"], reply
    assert "plugin 'mwretry' (distribution netdrv-mw 0.3) loaded; it had failed to load " \
        "before" in _failures(caplog, "mwretry")  # fmt: skip
    assert _events(mw) == [("registered", "sn0"), ("registered", "sn1")]
    assert "mwretry" in d.pm.loaded_plugins() and "mwretry" not in d.pm.errors


def test_an_unknown_parameter_names_the_hook_plugin_that_failed_to_load(
    site: Path, daemon: Callable[..., Daemon]
) -> None:
    _hook_dist(site, {"mwgone": _module(site, "netdrv_mwgone", BROKEN)})
    d = daemon()
    for _ in range(2):  # at every load, not only the first
        with pytest.raises(NetdrvError) as ei:
            d.handle({"cmd": "load", "driver": "snull", "params": ["pcap=/tmp/x"]})
        msg = str(ei.value)
        assert "has no parameter 'pcap'" in msg and "failed to load in the daemon" in msg
        assert "'mwgone' (distribution netdrv-mw 0.3)" in msg and "no pcap library" in msg
    # A bad value of a parameter the driver has is not about the plugin.
    with pytest.raises(NetdrvError) as ei:
        d.handle({"cmd": "load", "driver": "snull", "params": ["lockup=x"]})
    assert "mwgone" not in str(ei.value)


def test_the_cli_process_does_not_retry_what_failed_in_it(site: Path) -> None:
    """Only a load (the daemon's) tries again: a get_driver or a listing does not."""
    _hook_dist(site, {"mwonce": _module(site, "netdrv_mwonce", BROKEN)})
    pm = PluginManager(disabled=OTHERS)
    first = pm.load_hook_plugins()["mwonce"]
    pm.get_driver("snull")
    assert pm.load_hook_plugins() == {"mwonce": first}
    again = pm.load_hook_plugins(retry_failed=True)["mwonce"]
    assert again is not first and "no pcap library" in str(again)


def test_a_load_loads_the_hook_plugins_once(
    site: Path, daemon: Callable[..., Daemon], monkeypatch: pytest.MonkeyPatch,
    no_daemon: list[dict[str, Any]], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    _hook_dist(site, {"mwcount": _module(site, "netdrv_mwcount", BROKEN)})
    calls: list[dict[str, Any]] = []
    real = PluginManager.load_hook_plugins

    def counted(self: PluginManager, *args: Any, **kw: Any) -> dict[str, PluginError]:
        calls.append(kw)
        return real(self, *args, **kw)

    monkeypatch.setattr(PluginManager, "load_hook_plugins", counted)
    d = daemon()
    with caplog.at_level(logging.ERROR, logger="netdrv.plugins"):
        assert d.handle({"cmd": "load", "driver": "snull"})["ok"]  # type: ignore[index]
    assert len(calls) == 1 and len(_failures(caplog, "mwcount")) == 1
    calls.clear()
    res = CliRunner().invoke(cli, ["-p", "no:slip", "-p", "no:usbnet", "load", "loopback"])
    assert res.exit_code == 0, res.output
    assert len(calls) == 1 and no_daemon


# -- netdrv drivers lists the hook plugins and -p modules, importing nothing --------------
def test_netdrv_drivers_lists_hook_plugins_and_p_modules_without_importing(site: Path) -> None:
    good = _module(site, "netdrv_mwlistgood")
    bad = _module(site, "netdrv_mwlistbad", BROKEN)
    _hook_dist(site, {"mwlistgood": good, "mwlistbad": bad, "mwlistghost": "netdrv_mw_no_such",
                      "snull": good})  # fmt: skip
    _hook_dist(site, {"mwlistgood": bad}, dist="netdrv-mw-other")
    pmod = _module(site, "netdrv_mwlistp")
    args = ["-p", "no:slip", "-p", "no:usbnet", "-p", pmod, "-p", "netdrv_mw_p_typo"]
    res = CliRunner().invoke(cli, [*args, "drivers", "--json"])
    assert res.exit_code == 0, res.output
    assert not {good, bad, pmod} & set(sys.modules)
    rows = json.loads(res.output)
    drivers = {r["name"] for r in rows if r["kind"] == "driver"}
    assert drivers == {"loopback", "snull", "slip", "usbnet"}
    plugins = [(r["name"], r["kind"], r["distribution"]) for r in rows if r["kind"] != "driver"]
    assert plugins == [
        ("mwlistbad", "plugin", "netdrv-mw"), ("mwlistghost", "plugin", "netdrv-mw"),
        ("mwlistgood", "plugin", "netdrv-mw"), ("mwlistgood", "plugin", "netdrv-mw-other"),
        ("snull", "plugin", "netdrv-mw"),
        (pmod, "module", "(-p)"), ("netdrv_mw_p_typo", "module", "(-p)"),
    ]  # fmt: skip
    by = {(r["name"], r["distribution"]): r for r in rows if r["kind"] != "driver"}
    good_row = by["mwlistgood", "netdrv-mw"]
    assert good_row["version"] == "0.3" and good_row["summary"].startswith("netdrv_mwlistgood:")
    assert "error" not in good_row and "error" not in by["mwlistbad", "netdrv-mw"]  # not imported
    assert "module 'netdrv_mw_no_such' not found" in by["mwlistghost", "netdrv-mw"]["error"]
    assert "a driver's name" in by["snull", "netdrv-mw"]["error"]
    assert "already taken by netdrv-mw 0.3" in by["mwlistgood", "netdrv-mw-other"]["error"]
    assert "not found" in by["netdrv_mw_p_typo", "(-p)"]["error"]
    # The table has them too, under their own title.
    res = CliRunner().invoke(cli, [*args, "drivers"])
    assert res.exit_code == 0 and "plugins loaded with every driver" in res.output
    assert "mwlistghost" in res.output and not {good, bad, pmod} & set(sys.modules)
    # Once the driver snull is loaded, the hook plugin named like it has not its hooks.
    pm = PluginManager(disabled=OTHERS)
    pm.get_driver("snull")
    info = next(p for p in pm.list_plugins() if p.name == "snull")
    assert info.hooks == () and info.drivers == () and "a driver's name" in info.problem


def test_netdrv_drivers_verbose_says_why_a_hook_plugin_fails_and_what_one_implements(
    site: Path,
) -> None:
    _hook_dist(site, {"mwvgood": _module(site, "netdrv_mwvgood"),
                      "mwvbad": _module(site, "netdrv_mwvbad", BROKEN)})  # fmt: skip
    pmod = _module(site, "netdrv_mwvp")
    args = ["-p", "no:slip", "-p", "no:usbnet", "-p", pmod, "-p", "netdrv_snull"]
    res = CliRunner().invoke(cli, [*args, "drivers", "--verbose", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout) if r["kind"] != "driver"}
    bad = rows["mwvbad"]["error"]
    assert "'mwvbad' (distribution netdrv-mw 0.3) failed to load" in bad and "no pcap" in bad
    assert rows["mwvgood"]["hooks"] == ["netdrv_device_registered", "netdrv_driver_parameters"]
    assert "error" not in rows[pmod] and rows[pmod]["drivers"] == []  # hooks only: not broken
    assert rows[pmod]["hooks"] == rows["mwvgood"]["hooks"]
    assert rows["netdrv_snull"]["drivers"] == ["snull"]  # the -p module of a driver
    assert any(p.startswith("lockup=int") for p in rows["netdrv_snull"]["parameters"])
    res = CliRunner().invoke(cli, [*args, "drivers", "--verbose"])
    assert res.exit_code == 0 and "hooks: netdrv_device_registered" in res.output
