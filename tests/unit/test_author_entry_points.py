"""Mistakes a driver author makes, found by writing an out-of-tree driver (``netdrv-xor``)
from the docs alone; each error must name the plugin or driver and say what to do.

* An entry point whose value has a typo (``xor = "netdrv_xorr"``) was answered "reinstall
  it (pip install -e DIR)", which cannot help: the distribution's own metadata says which
  modules it installs, so the message now names the entry point and the fix.
* An entry point naming the driver module (``"netdrv_xor.driver"``) or an object in the
  plugin module (``"netdrv_xor:Xor"``, ``"netdrv_xor:netdrv_drivers"``) was answered "its
  netdrv_drivers hook returned no driver" — the module has no such hook — or with a bare
  ``AttributeError``.
* A driver whose ``init`` raised (``KeyError: 'kye'``) was reported by ``netdrv load`` as
  ``failed to initialise: KeyError: 'kye'``: no file, no line, and no traceback in the
  daemon's log either.
* A hook plugin that raised in a device hook was logged without where it raised.
* The pytest kit: ``netdrv_load`` of a plugin that does not load, or with a parameter the
  driver lacks, showed a traceback through netdrv's plugin manager and importlib; the
  conformance kit, given ``driver_params`` the driver does not declare (the scaffold's
  ``count`` after the tutorial's driver replaced it), raised the same traceback in every
  check without saying where the parameter came from.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from netdrv_core import Host, NetdrvError, PluginError, PluginManager

PLUGIN = '''
"""{name}: a driver of the tests."""
from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers():
    from .driver import {cls}

    return [{cls}]
'''

DRIVER = '''
"""The driver module: no hook here."""
from netdrv_core import Driver, alloc_netdev, eth_hw_addr_random, ether_setup


def setup(dev):
    ether_setup(dev)
    eth_hw_addr_random(dev)


class {cls}(Driver):
    name = {name!r}
    summary = "a driver of the tests"

    def init(self):
        dev = alloc_netdev(None, "aep%d", setup)
        {init_line}
        self.register(dev)
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory first on sys.path; what is imported from it is unimported afterwards."""
    for var in ("NETDRV_DISABLE_PLUGIN_AUTOLOAD", "NETDRV_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in [m for m in sys.modules if m.startswith("netdrv_aep")]:
        sys.modules.pop(mod, None)


def _project(site: Path, name: str, entry_point: str, *, init_line: str = "pass",
             top_level: bool = True, version: str = "0.1") -> Path:  # fmt: skip
    """Package ``netdrv_NAME`` (plugin module + driver module) and the dist-info setuptools
    writes for it, whose ``netdrv.drivers`` entry point is ``NAME = entry_point``."""
    pkg = site / f"netdrv_{name}"
    pkg.mkdir()
    cls = name.capitalize()
    (pkg / "__init__.py").write_text(textwrap.dedent(PLUGIN).format(name=name, cls=cls))
    (pkg / "driver.py").write_text(
        textwrap.dedent(DRIVER).format(name=name, cls=cls, init_line=init_line)
    )
    info = site / f"netdrv_{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: netdrv-{name}\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text(f"[netdrv.drivers]\n{name} = {entry_point}\n")
    if top_level:
        (info / "top_level.txt").write_text(f"netdrv_{name}\n")
    return pkg


def _manager() -> PluginManager:
    return PluginManager(disabled={"slip", "usbnet"})


# -- the entry point -----------------------------------------------------------------------
def test_a_typo_in_the_entry_point_is_named_with_the_fix(site: Path) -> None:
    _project(site, "aepa", "netdrv_aepaa")
    pm = _manager()
    with pytest.raises(PluginError) as err:
        pm.get_driver("aepa")
    msg = str(err.value)
    assert msg.startswith("plugin 'aepa' (distribution netdrv-aepa 0.1) failed to load: "), msg
    assert "the entry point aepa = \"netdrv_aepaa\" names module 'netdrv_aepaa'" in msg, msg
    assert "(it installs netdrv_aepa)" in msg and '(aepa = "netdrv_aepa"?)' in msg, msg
    assert '[project.entry-points."netdrv.drivers"]' in msg and "reinstall" not in msg, msg
    # netdrv drivers says it too, from the metadata alone.
    (info,) = [d for d in pm.list_drivers() if d.name == "aepa"]
    assert info.problem.startswith('the entry point aepa = "netdrv_aepaa" names module'), info


def test_a_missing_module_the_metadata_lists_still_asks_for_a_reinstall(site: Path) -> None:
    """The distribution says it installs the module, which is not there: a stale install."""
    pkg = _project(site, "aepb", "netdrv_aepb")
    (pkg / "__init__.py").unlink()
    (pkg / "driver.py").unlink()
    pkg.rmdir()
    with pytest.raises(PluginError) as err:
        _manager().get_driver("aepb")
    assert "reinstall it (pip install -e DIR)" in str(err.value)
    assert "the entry point" not in str(err.value)


def test_without_top_level_metadata_the_record_tells_the_modules(site: Path) -> None:
    _project(site, "aepc", "netdrv_aepcc", top_level=False)
    info = site / "netdrv_aepc-0.1.dist-info"
    (info / "RECORD").write_text(
        "netdrv_aepc/__init__.py,,\nnetdrv_aepc/driver.py,,\nnetdrv_aepc-0.1.dist-info/METADATA,,\n"
    )
    with pytest.raises(PluginError, match=r"\(it installs netdrv_aepc\)"):
        _manager().get_driver("aepc")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("netdrv_aepd.driver",
         'the entry point aepd = "netdrv_aepd.driver" names module \'netdrv_aepd.driver\', '
         "which implements no netdrv hook: name the plugin module"),
        ("netdrv_aepd:netdrv_drivers",
         'the entry point aepd = "netdrv_aepd:netdrv_drivers" names an object in a module; '
         'a netdrv entry point names the plugin module itself (aepd = "netdrv_aepd")'),
        ("netdrv_aepd:Aepd",
         "AttributeError: module 'netdrv_aepd' has no attribute 'Aepd' — the entry point "
         'aepd = "netdrv_aepd:Aepd" names an object in a module; a netdrv entry point names '
         'the plugin module itself (aepd = "netdrv_aepd")'),
    ],
    ids=["driver-module", "hook-function", "driver-class"],
)  # fmt: skip
def test_an_entry_point_naming_the_wrong_thing_says_to_name_the_plugin_module(
    site: Path, value: str, says: str
) -> None:
    _project(site, "aepd", value)
    with pytest.raises(PluginError) as err:
        _manager().get_driver("aepd")
    msg = str(err.value)
    assert msg.startswith("plugin 'aepd' (distribution netdrv-aepd 0.1) "), msg
    assert says in msg, msg
    assert "returned no driver" not in msg, msg


def test_a_hook_that_returns_no_driver_is_still_told_what_to_return(site: Path) -> None:
    """The plugin module was named, its hook exists and returned nothing: the old advice."""
    pkg = _project(site, "aepe", "netdrv_aepe")
    (pkg / "__init__.py").write_text(
        '"""aepe."""\nfrom netdrv_core import hookimpl\n\n\n@hookimpl\n'
        "def netdrv_drivers():\n    return []\n"
    )
    with pytest.raises(PluginError, match=r"its netdrv_drivers hook returned no driver"):
        _manager().get_driver("aepe")


# -- a hook that raises --------------------------------------------------------------------
def test_a_raising_device_hook_is_logged_with_where_it_raised(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (site / "netdrv_aepwatch.py").write_text(
        '"""aepwatch."""\nfrom netdrv_core import hookimpl\n\n\n@hookimpl\n'
        "def netdrv_device_up(dev):\n    raise RuntimeError('watch bug')\n"
    )
    pm = PluginManager(autoload=False, extra=["netdrv_aepwatch"])
    pm.load_hook_plugins()
    with caplog.at_level(logging.ERROR, logger="netdrv.plugins"):
        pm.notify("up", object())
    (rec,) = [r for r in caplog.records if "raised in netdrv_device_up" in r.getMessage()]
    assert f"RuntimeError: watch bug (at {site / 'netdrv_aepwatch.py'}:7 in netdrv_device_up)" in (
        rec.getMessage()
    )


# -- the daemon: a driver whose init raises --------------------------------------------------
def test_a_driver_bug_in_init_is_reported_with_its_line_and_logged_with_its_traceback(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from netdrv_core.daemon import Daemon

    pkg = _project(site, "aepf", "netdrv_aepf", init_line='dev.priv_key = self.params["kye"]')
    host = Host()
    daemon = Daemon(host=host, pm=_manager(), watchdog=None, exit_when_empty=False)
    try:
        with caplog.at_level(logging.WARNING, logger="netdrv.daemon"), pytest.raises(
            PluginError
        ) as err:  # fmt: skip
            daemon.load("aepf", [])
        msg = str(err.value)
        assert msg.startswith("driver 'aepf' failed to initialise: KeyError: 'kye' (at "), msg
        assert f"(at {pkg / 'driver.py'}:17 in init)" in msg, msg
        assert "the traceback is in the daemon's log (netdrv log)" in msg, msg
        (rec,) = [r for r in caplog.records if r.getMessage().startswith("loading aepf failed")]
        assert rec.exc_info is not None and rec.exc_info[0] is KeyError
        assert host.devices == {}
    finally:
        host.close()
        host.loop.close()


def test_an_error_the_driver_reports_gets_no_traceback(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A NetdrvError (a port that does not exist, a name in use) is the user's to fix: its
    message is the answer, as before."""
    from netdrv_core.daemon import Daemon

    _project(site, "aepg", "netdrv_aepg",
             init_line='raise __import__("netdrv_core").NetdrvError("no such port: plug it in")')  # fmt: skip
    host = Host()
    daemon = Daemon(host=host, pm=_manager(), watchdog=None, exit_when_empty=False)
    try:
        with caplog.at_level(logging.WARNING, logger="netdrv.daemon"), pytest.raises(
            NetdrvError
        ) as err:  # fmt: skip
            daemon.load("aepg", [])
        assert str(err.value) == "no such port: plug it in"
        (rec,) = [r for r in caplog.records if r.getMessage().startswith("loading aepg failed")]
        assert rec.exc_info is None
    finally:
        host.close()
        host.loop.close()


# -- the pytest kit ----------------------------------------------------------------------------
def _pytest(cwd: Path, site: Path, test: str) -> str:
    (cwd / "test_it.py").write_text(textwrap.dedent(test))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "test_it.py"],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env,
    )  # fmt: skip
    return res.stdout + res.stderr


def test_netdrv_load_failures_show_the_test_line_not_netdrv_internals(
    site: Path, tmp_path: Path
) -> None:
    _project(site, "aeph", "netdrv_aephh")
    _project(site, "aepi", "netdrv_aepi")
    work = tmp_path / "work"
    work.mkdir()
    out = _pytest(
        work,
        site,
        """
        def test_broken_entry_point(netdrv_load):
            netdrv_load("aeph")


        def test_unknown_parameter(netdrv_load):
            netdrv_load("aepi", count=1)
    """,
    )
    assert "2 failed" in out, out
    assert 'the entry point aeph = "netdrv_aephh" names module' in out, out
    assert "driver 'aepi' has no parameter 'count'." in out, out
    assert "plugins.py" not in out and "importlib" not in out and "params.py" not in out, out


def test_the_kit_says_which_parameters_it_was_given_that_the_driver_lacks(
    site: Path, tmp_path: Path
) -> None:
    _project(site, "aepj", "netdrv_aepj")
    work = tmp_path / "work"
    work.mkdir()
    out = _pytest(
        work,
        site,
        """
        from typing import ClassVar

        from netdrv_core.testing.conformance import DriverConformance


        class TestAepj(DriverConformance):
            driver_name = "aepj"
            driver_params: ClassVar[dict[str, str]] = {"count": "1"}
    """,
    )
    assert " error" in out and " passed" not in out, out
    assert ("the kit loads driver 'aepj' with TestAepj.driver_params {'count': '1'}, which it "
            "refuses — change them to what the driver declares:\n"
            "driver 'aepj' has no parameter 'count'.") in out, out  # fmt: skip
    assert "params.py" not in out and "conformance.py" not in out, out


# -- what the troubleshooting page quotes ----------------------------------------------------
def test_the_troubleshooting_page_quotes_these_messages_as_netdrv_says_them(site: Path) -> None:
    """Its lines for an entry point's typo and a driver's bug in init are the messages
    (driver ``mydrv`` there, ``aepk`` and ``aepn`` here; the file and line differ)."""
    import re

    from netdrv_core.daemon import Daemon

    page = (Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md").read_text()

    def same(doc_line: str, real: str, name: str) -> None:
        norm = [re.sub(r"\(at [^)]*\)", "(at …)", t.replace("mydrv", name))
                for t in (doc_line, real)]  # fmt: skip
        assert norm[0] == norm[1], f"\n doc:  {doc_line}\n real: {real}"

    _project(site, "aepk", "netdrv_aepkv", version="0.1.0")  # the page's "netdrv_mydrvv"
    with pytest.raises(PluginError) as err:
        _manager().get_driver("aepk")
    (doc,) = [ln for ln in page.splitlines() if "No module named 'netdrv_mydrvv'" in ln]
    same(doc, str(err.value), "aepk")

    _project(site, "aepn", "netdrv_aepn", init_line='dev.priv_key = self.params["kye"]')
    host = Host()
    daemon = Daemon(host=host, pm=_manager(), watchdog=None, exit_when_empty=False)
    try:
        with pytest.raises(PluginError) as err:
            daemon.load("aepn", [])
    finally:
        host.close()
        host.loop.close()
    (doc,) = [ln for ln in page.splitlines() if "failed to initialise: KeyError" in ln]
    same(doc, f"netdrv: {err.value}", "aepn")


def test_a_driver_declared_as_a_hook_plugin_is_told_where_it_belongs(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``netdrv.plugins`` instead of ``netdrv.drivers``: the driver loads (hook plugins are
    imported with every driver), but ``netdrv drivers`` does not list it — said once."""
    _project(site, "aepl", "netdrv_aepl")
    (site / "netdrv_aepl-0.1.dist-info" / "entry_points.txt").write_text(
        "[netdrv.plugins]\naepl = netdrv_aepl\n"
    )
    pm = _manager()
    with caplog.at_level(logging.WARNING, logger="netdrv.plugins"):
        pm.load_hook_plugins()
        pm.load_hook_plugins()
    assert pm.get_driver("aepl").name == "aepl"
    assert "aepl" not in pm.driver_names()
    (rec,) = [r for r in caplog.records if "offers driver aepl" in r.getMessage()]
    assert rec.getMessage() == (
        "plugin 'aepl' (netdrv-aepl 0.1) offers driver aepl but is declared in the entry-point "
        "group netdrv.plugins, whose plugins are imported with every driver and whose drivers "
        '`netdrv drivers` does not list: declare it under [project.entry-points."netdrv.drivers"]'
        ' instead (aepl = "netdrv_aepl")'
    )


def test_an_exit_that_raises_is_reported_by_netdrv_unload(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rmmod cannot fail, nor can the unload: the devices go all the same.  But the driver's
    bug (its port or thread perhaps still held) was only in the log; ``netdrv unload``
    exited 0 without a word."""
    from click.testing import CliRunner

    import netdrv_core.cli as cli_mod
    from netdrv_core.daemon import Daemon

    pkg = _project(site, "aepm", "netdrv_aepm")
    (pkg / "driver.py").write_text(
        (pkg / "driver.py").read_text()
        + "\n    def exit(self):\n        super().exit()\n        raise OSError('port stuck')\n"
    )
    host = Host()
    daemon = Daemon(host=host, pm=_manager(), watchdog=None, exit_when_empty=False)
    try:
        daemon.handle({"cmd": "load", "driver": "aepm"})
        reply = daemon.handle({"cmd": "unload", "driver": "aepm"})
    finally:
        host.close()
        host.loop.close()
    assert reply is not None and reply["ok"] and host.devices == {}
    assert reply["warning"].startswith(
        f"driver 'aepm' raised in exit: OSError: port stuck (at {pkg / 'driver.py'}:22 in exit); "
        "its devices were unregistered anyway"
    ), reply
    assert reply["warning"].endswith("the traceback is in the daemon's log (netdrv log)")
    # The command says it (stderr) and succeeds: the driver is unloaded.
    monkeypatch.setattr(cli_mod, "_ask_once_more", lambda client, cmd, req: reply)
    res = CliRunner().invoke(cli_mod.cli, ["unload", "aepm"])
    assert res.exit_code == 0, res.output
    assert f"netdrv: warning: {reply['warning']}" in res.stderr
