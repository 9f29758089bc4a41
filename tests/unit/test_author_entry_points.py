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


# -- review of the above: metadata that does not list the modules -----------------------------
def _dist_info(site: Path, name: str, entry_point: str, files: dict[str, str],
               group: str = "netdrv.drivers") -> Path:  # fmt: skip
    """A dist-info of ``netdrv-NAME`` 0.1 with ``files`` written in it (no top_level.txt)."""
    info = site / f"netdrv_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: netdrv-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {entry_point}\n")
    for fname, text in files.items():
        (info / fname).write_text(text)
    return info


def test_an_editable_install_whose_record_lists_its_finder_is_no_typo(site: Path) -> None:
    """A PEP 660 install by hatchling (editables) lists a .pth and a finder module, not the
    package: it is no evidence of what the project installs, and no typo is claimed."""
    _dist_info(site, "aepo", "netdrv_aepo", {
        "RECORD": "_netdrv_aepo.pth,,\n_editable_impl_netdrv_aepo.py,,\n"
                  "netdrv_aepo-0.1.dist-info/METADATA,,\n",
        "direct_url.json": '{"dir_info": {"editable": true}, "url": "file:///src/aepo"}',
    })  # fmt: skip
    (site / "_editable_impl_netdrv_aepo.py").write_text("")
    with pytest.raises(PluginError) as err:
        _manager().get_driver("aepo")
    msg = str(err.value)
    assert "No module named 'netdrv_aepo'" in msg and "_editable_impl" not in msg, msg
    assert "does not install" not in msg and "reinstall it" in msg, msg
    assert msg.endswith(
        'or the entry point aepo = "netdrv_aepo" names a module the project does not have: '
        'check it under [project.entry-points."netdrv.drivers"] in its pyproject.toml'
    ), msg


def test_a_namespace_package_is_a_module_the_distribution_installs(site: Path) -> None:
    """``acme.netdrv_aepq`` (a typo of ``acme.netdrv_aepp``, ``acme`` a namespace package
    of the distribution, which installs ``acme_aeptools`` too): the typo is in the
    submodule, and ``acme`` is installed."""
    ns = site / "acme" / "netdrv_aepp"
    ns.mkdir(parents=True)
    (ns / "__init__.py").write_text('"""aepp."""\n')
    (site / "acme_aeptools.py").write_text("")
    _dist_info(site, "aepq", "acme.netdrv_aepq", {
        "RECORD": "acme/netdrv_aepp/__init__.py,,\nacme_aeptools.py,,\n",
    })  # fmt: skip
    try:
        with pytest.raises(PluginError) as err:
            _manager().get_driver("aepq")
    finally:
        for mod in [m for m in sys.modules if m == "acme" or m.startswith("acme.")]:
            sys.modules.pop(mod)
    msg = str(err.value)
    assert "names module 'acme'" not in msg, msg
    assert ("the entry point aepq = \"acme.netdrv_aepq\" names module 'acme.netdrv_aepq', "
            "which is not in package 'acme' (it has netdrv_aepp)") in msg, msg  # fmt: skip
    assert '(aepq = "acme.netdrv_aepp"?)' in msg and "reinstall" not in msg, msg


def test_a_typo_in_a_submodule_is_named_with_the_fix(site: Path) -> None:
    pkg = _project(site, "aepr", "netdrv_aepr.plugn")
    (pkg / "plugin.py").write_text('"""the plugin module."""\n')
    pm = _manager()
    with pytest.raises(PluginError) as err:
        pm.get_driver("aepr")
    msg = str(err.value)
    assert ("the entry point aepr = \"netdrv_aepr.plugn\" names module 'netdrv_aepr.plugn', "
            "which is not in package 'netdrv_aepr' (it has driver, plugin)") in msg, msg  # fmt: skip
    assert '(aepr = "netdrv_aepr.plugin"?)' in msg and "reinstall" not in msg, msg
    (info,) = [d for d in pm.list_drivers() if d.name == "aepr"]
    assert info.problem.startswith('the entry point aepr = "netdrv_aepr.plugn" names'), info


def test_a_module_no_installed_name_resembles_is_not_called_a_typo(site: Path) -> None:
    """A distribution of several modules whose entry point names another distribution's
    module (not installed): no guess at which of its own was meant."""
    _project(site, "aeps", "othervendor_plugin")
    (site / "netdrv_aeps-0.1.dist-info" / "top_level.txt").write_text("netdrv_aeps\naeps_util\n")
    with pytest.raises(PluginError) as err:
        _manager().get_driver("aeps")
    msg = str(err.value)
    assert ("names module 'othervendor_plugin', which netdrv-aeps 0.1 does not install (it "
            "installs aeps_util, netdrv_aeps)") in msg, msg  # fmt: skip
    assert "?)" not in msg and "install the distribution that provides it" in msg, msg


def test_an_entry_point_that_is_no_module_name_says_so(site: Path) -> None:
    _project(site, "aept", "netdrv_aept/driver.py")
    pm = _manager()
    with pytest.raises(PluginError) as err:
        pm.get_driver("aept")
    msg = str(err.value)
    assert ('the entry point aept = "netdrv_aept/driver.py" is not a module name: name the '
            'plugin module as in an import (aept = "netdrv_aept.driver"?)') in msg, msg  # fmt: skip
    assert "NoneType" not in msg, msg


def test_an_error_while_building_the_hint_never_hides_the_load_error(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong while the hint is worked out (here: reading the distribution's
    file list raises) costs the hint, never the original error."""
    import netdrv_core.plugin_hints as hints_mod

    _project(site, "aepu", "netdrv_aepuu")

    def broken(ep: object) -> list[str]:
        raise RuntimeError("odd metadata")

    monkeypatch.setattr(hints_mod, "dist_modules", broken)
    with pytest.raises(PluginError) as err:
        _manager().get_driver("aepu")
    msg = str(err.value)
    assert "failed to load: ModuleNotFoundError: No module named 'netdrv_aepuu'" in msg, msg
    (info,) = [d for d in _manager().list_drivers() if d.name == "aepu"]  # netdrv drivers
    assert info.problem.startswith("module 'netdrv_aepuu' not found"), info


# -- where a driver's code raised ----------------------------------------------------------------
def test_the_location_is_the_drivers_line_not_a_library_it_called(
    site: Path, tmp_path: Path
) -> None:
    """A driver's bug that raises inside the standard library or another package it calls
    is reported at the driver's line (the call), not inside json or the library."""
    from netdrv_core.daemon import Daemon
    from netdrv_core.driver_errors import driver_code_location

    lib = tmp_path / "libdir"
    lib.mkdir()
    (lib / "aeplib.py").write_text("def parse(text):\n    raise ValueError('bad: ' + text)\n")
    sys.path.append(str(lib))
    pkg = _project(site, "aepv", "netdrv_aepv", init_line="__import__('json').loads('{')")
    pkx = _project(site, "aepx", "netdrv_aepx", init_line="__import__('aeplib').parse('x')")
    host = Host()
    daemon = Daemon(host=host, pm=_manager(), watchdog=None, exit_when_empty=False)
    try:
        with pytest.raises(PluginError) as err:
            daemon.load("aepv", [])
        assert f"(at {pkg / 'driver.py'}:17 in init)" in str(err.value), str(err.value)
        with pytest.raises(PluginError) as err:
            daemon.load("aepx", [])
        assert "ValueError: bad: x" in str(err.value)
        assert f"(at {pkx / 'driver.py'}:17 in init)" in str(err.value), str(err.value)
    finally:
        sys.path.remove(str(lib))
        sys.modules.pop("aeplib", None)
        host.close()
        host.loop.close()
    # Nothing to say, and nothing raised, for an exception that was never raised.
    assert driver_code_location(RuntimeError("never raised")) == ""


# -- the kit: the driver's traceback ------------------------------------------------------------
def test_the_kit_shows_the_drivers_own_frames_when_its_code_raised(
    site: Path, tmp_path: Path
) -> None:
    pkg = _project(site, "aepw", "netdrv_aepw")
    (pkg / "driver.py").write_text((pkg / "driver.py").read_text() + "\n\nTABLE = build_table()\n")
    work = tmp_path / "work"
    work.mkdir()
    out = _pytest(
        work,
        site,
        """
        from netdrv_core.testing.conformance import DriverConformance


        def test_load(netdrv_load):
            netdrv_load("aepw")


        class TestAepw(DriverConformance):
            driver_name = "aepw"

            def test_one(self, netdrv_conformance):
                pass
    """,
    )
    assert "1 failed" in out and " errors" in out, out
    frame = f'File "{pkg / "driver.py"}", line 21, in <module>'
    assert out.count(frame) >= 2, out  # in both reports
    assert "NameError: name 'build_table' is not defined" in out, out
    assert "plugins.py" not in out and "importlib" not in out, out
    assert "During handling" not in out, out


# -- follow-ups ---------------------------------------------------------------------------------
def test_an_unknown_conformance_driver_is_one_usage_error(tmp_path: Path) -> None:
    """``--netdrv-conformance=snul`` failed each of the kit's 20 checks with the same
    error; it is the command line that is wrong: one usage error, naming the drivers."""
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--netdrv-conformance=loopback,snul"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode == pytest.ExitCode.USAGE_ERROR, out
    assert out.count("unknown driver 'snul'") == 1, out
    assert "--netdrv-conformance: unknown driver 'snul'. Did you mean: snull?" in out, out
    assert "Installed drivers: loopback, " in out and "passed" not in out, out


def test_the_kit_says_where_a_drivers_op_raised(site: Path, tmp_path: Path) -> None:
    """``aep0: open raised RuntimeError: open bug`` named no line of the driver; the daemon's
    messages do (``at FILE:LINE in FUNC``), and so does the kit."""
    pkg = _project(site, "aepy", "netdrv_aepy", init_line="dev.netdev_ops = Ops()")
    driver = pkg / "driver.py"
    driver.write_text(
        driver.read_text() + "\n\nclass Ops(__import__('netdrv_core').NetDeviceOps):\n"
        "    def open(self, dev):\n        raise RuntimeError('open bug')\n"
    )
    line = driver.read_text().splitlines().index("        raise RuntimeError('open bug')") + 1
    work = tmp_path / "work"
    work.mkdir()
    out = _pytest(
        work,
        site,
        """
        from netdrv_core.testing.conformance import DriverConformance


        class TestAepy(DriverConformance):
            driver_name = "aepy"
    """,
    )
    assert f"open raised RuntimeError: open bug (at {driver}:{line} in open)" in out, out


def test_netdrv_load_names_the_hook_plugin_that_failed_when_its_parameter_is_unknown(
    site: Path,
) -> None:
    """``netdrv load aepz tag=1``, ``tag`` being the parameter of a hook plugin that failed
    to load: the daemon's refusal named that plugin, the command's own did not."""
    from click.testing import CliRunner

    import netdrv_core.cli as cli_mod

    _project(site, "aepz", "netdrv_aepz")
    (site / "netdrv_aeptag.py").write_text(
        '"""adds tag."""\nfrom netdrv_core import Param, hookimpl\nraise ImportError("tag bug")\n'
    )
    info = site / "netdrv_aeptag-0.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: netdrv-aeptag\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text("[netdrv.plugins]\naeptag = netdrv_aeptag\n")
    res = CliRunner().invoke(cli_mod.cli, ["-p", "no:slip", "-p", "no:usbnet", "load", "aepz",
                                           "tag=1"])  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "driver 'aepz' has no parameter 'tag'." in res.output, res.output
    assert ("This plugin, loaded with every driver, failed to load (it may be what adds the "
            "parameter):\n  plugin 'aeptag' (distribution netdrv-aeptag 0.2) failed to load: "
            "ImportError: tag bug") in res.output, res.output  # fmt: skip


WEIRD = """
class Weird(Exception):
    def __str__(self):
        raise RuntimeError("a __str__ that raises")
"""


def test_an_exception_whose_str_raises_is_still_reported(site: Path) -> None:
    """Writing the report must not raise in its turn: the plugin's import, the driver's
    init and its exit raise an exception whose ``__str__`` raises; each is reported by
    its type and line, and the unload still unregisters the devices."""
    from netdrv_core.daemon import Daemon

    pkg = _project(site, "aepim", "netdrv_aepim")
    (pkg / "__init__.py").write_text((pkg / "__init__.py").read_text() + WEIRD + "raise Weird()\n")
    with pytest.raises(PluginError) as err:
        _manager().get_driver("aepim")
    assert f"failed to load: Weird (at {pkg / '__init__.py'}:" in str(err.value), err.value

    pkg = _project(site, "aepin", "netdrv_aepin", init_line="raise Weird()")
    (pkg / "driver.py").write_text((pkg / "driver.py").read_text() + WEIRD)
    pkx = _project(site, "aepix", "netdrv_aepix")
    (pkx / "driver.py").write_text(
        (pkx / "driver.py").read_text() + "\n    def exit(self):\n        super().exit()\n"
        "        raise Weird()\n" + WEIRD
    )
    host = Host()
    daemon = Daemon(host=host, pm=_manager(), watchdog=None, exit_when_empty=False)
    try:
        with pytest.raises(PluginError) as err:
            daemon.load("aepin", [])
        assert f"failed to initialise: Weird (at {pkg / 'driver.py'}:17 in init)" in str(err.value)
        daemon.handle({"cmd": "load", "driver": "aepix"})
        reply = daemon.handle({"cmd": "unload", "driver": "aepix"})
    finally:
        host.close()
        host.loop.close()
    assert reply is not None and reply["ok"] and host.devices == {}, reply
    assert reply["warning"].startswith(
        f"driver 'aepix' raised in exit: Weird (at {pkx / 'driver.py'}:"
    ), reply


def test_an_entry_point_loaded_through_importlib_metadata_is_not_the_plugins_line() -> None:
    """Once anything imports the importlib_metadata backport, its finder is on sys.meta_path
    and entry points may load through its ``EntryPoint.load``: a module that does not exist
    has no line of the plugin's to show, not the backport's (seen in CI's full run)."""
    importlib_metadata = pytest.importorskip("importlib_metadata")
    from netdrv_core.driver_errors import driver_code_location

    ep = importlib_metadata.EntryPoint("aepm", "netdrv_aep_no_such_module", "netdrv.drivers")
    with pytest.raises(ModuleNotFoundError) as err:
        ep.load()
    # This test's own frame stands for netdrv's, which call the load.
    assert driver_code_location(err.value, skip=[str(Path(__file__).parent)]) == ""
