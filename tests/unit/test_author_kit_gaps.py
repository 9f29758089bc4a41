"""Gaps in the author kit found after ``test_author_entry_points``:

* One module declared in both entry-point groups (``netdrv.drivers`` for its driver,
  ``netdrv.plugins`` for its hooks) is one plugin with both roles, as pytest treats
  a plugin registered twice: not a second registration that fails.
* An ``OSError`` without an errno the driver's own code raises (``raise OSError("...")``)
  is a bug with a location; one with an errno (a system call's: a device missing, no
  permission; or the driver's report, as Linux's ``-EIO``) is the environment's,
  reported without one.
* ``check_op`` failures of the conformance kit show the driver's frames, not a traceback
  through the kit.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from netdrv_core import Host, PluginError, PluginManager

PLUGIN = '''
"""{name}: a driver of the tests, with a device hook."""
from netdrv_core import hookimpl

EVENTS = []


@hookimpl
def netdrv_drivers():
    from .driver import {cls}

    return [{cls}]


@hookimpl
def netdrv_device_registered(dev):
    EVENTS.append(dev.name)
'''

DRIVER = '''
"""The driver module."""
import os
import socket

from netdrv_core import Driver, NetDeviceOps, alloc_netdev, eth_hw_addr_random, ether_setup


def setup(dev):
    ether_setup(dev)
    eth_hw_addr_random(dev)


class Ops(NetDeviceOps):
    def open(self, dev):
        {open_line}
        return 0

    def start_xmit(self, skb, dev):
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len
        skb.free()
        return 0


class {cls}(Driver):
    name = {name!r}
    summary = "a driver of the tests"

    def init(self):
        dev = alloc_netdev(None, "akg%d", setup)
        dev.netdev_ops = Ops()
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
    for mod in [m for m in sys.modules if m.startswith("netdrv_akg")]:
        sys.modules.pop(mod, None)


def _project(
    site: Path,
    name: str,
    *,
    init_line: str = "pass",
    open_line: str = "pass",
    hook_plugin: str | None = None,
) -> Path:
    """Package ``netdrv_NAME`` and its dist-info: entry point ``NAME`` in ``netdrv.drivers``
    and, with ``hook_plugin``, the same module under that name in ``netdrv.plugins``."""
    pkg = site / f"netdrv_{name}"
    pkg.mkdir()
    cls = name.capitalize()
    (pkg / "__init__.py").write_text(textwrap.dedent(PLUGIN).format(name=name, cls=cls))
    (pkg / "driver.py").write_text(
        textwrap.dedent(DRIVER).format(name=name, cls=cls, init_line=init_line, open_line=open_line)
    )
    info = site / f"netdrv_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: netdrv-{name}\nVersion: 0.1\n")
    eps = f"[netdrv.drivers]\n{name} = netdrv_{name}\n"
    if hook_plugin:
        eps += f"\n[netdrv.plugins]\n{hook_plugin} = netdrv_{name}\n"
    (info / "entry_points.txt").write_text(eps)
    (info / "top_level.txt").write_text(f"netdrv_{name}\n")
    return pkg


def _manager() -> PluginManager:
    return PluginManager(disabled={"slip", "usbnet"})


# -- one module in both entry-point groups ----------------------------------------------------
def test_a_module_in_both_groups_is_one_plugin_with_both_roles(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _project(site, "akga", hook_plugin="akga-events")
    pm = _manager()
    with caplog.at_level(logging.WARNING, logger="netdrv.plugins"):
        failed = pm.load_hook_plugins()
        assert failed == {}, failed
        cls = pm.get_driver("akga")
    assert cls.name == "akga"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    # Both names are loaded, and the hooks are registered (and run) once.
    assert {"akga", "akga-events"} <= pm.loaded_plugins()
    pm.notify("registered", SimpleNamespace(name="akg0"))
    assert sys.modules["netdrv_akga"].EVENTS == ["akg0"]
    # `netdrv drivers` shows the hook plugin loaded, with its hooks and driver.
    (info,) = [p for p in pm.list_plugins() if p.name == "akga-events"]
    assert info.problem == "", info
    assert "netdrv_device_registered" in info.hooks and info.drivers == ("akga",), info
    # Loading the hook plugins again does not register anything twice.
    assert pm.load_hook_plugins() == {}


def test_a_module_in_both_groups_loads_whichever_role_comes_first(site: Path) -> None:
    """The driver loaded first (``get_driver`` without the hook plugins), then the hooks."""
    _project(site, "akgb", hook_plugin="akgb-events")
    pm = _manager()
    assert pm.get_driver("akgb", hook_plugins=False).name == "akgb"
    assert pm.load_hook_plugins() == {}
    assert {"akgb", "akgb-events"} <= pm.loaded_plugins()
    assert pm.plugin_of("akgb") == "akgb"
    # Forgotten under its hook plugin's name, the driver goes too (one plugin).
    pm.forget_plugin("akgb-events")
    assert pm.plugin_of("akgb") is None and not {"akgb", "akgb-events"} & pm.loaded_plugins()
    assert all(getattr(p, "__name__", "") != "netdrv_akgb" for p in pm.pm.get_plugins())


# -- OSError: the driver's or the environment's -------------------------------------------------
def _raised(fn: Callable[[], object]) -> BaseException:
    """What ``fn`` raised; this module's frames stand for the driver's code."""
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing raised")


def _open_missing_device() -> None:
    os.open("/nonexistent/dev/ttyZZ", os.O_RDWR)


def _raise_plain() -> None:
    raise OSError("bad framing table")


def _raise_with_errno() -> None:
    raise OSError(errno.EIO, "device wedged")


class _PortError(OSError):
    """A driver's own error class for a port that is not there: its way to report it."""


def _report_missing_port() -> None:
    raise _PortError(errno.ENOENT, "serial port /dev/ttyUSB9 does not exist: plug it in")


def _reraise_own() -> None:
    try:
        _raise_plain()
    except OSError:
        raise


def test_a_system_call_error_is_the_environments() -> None:
    from netdrv_core.driver_errors import environment_error

    assert environment_error(_raised(_open_missing_device))
    assert environment_error(_raised(lambda: Path("/nonexistent/akg").read_bytes()))  # stdlib
    assert environment_error(PermissionError(errno.EPERM, "not permitted"))  # never raised
    assert environment_error(_raised(_report_missing_port))  # the driver's own report
    assert environment_error(_raised(_raise_with_errno))  # a report, as a driver's -EIO


def test_an_oserror_the_code_raises_itself_is_a_bug() -> None:
    from netdrv_core.driver_errors import environment_error

    assert not environment_error(_raised(_raise_plain))
    assert not environment_error(_raised(_reraise_own))
    assert not environment_error(_raised(lambda: dict[str, int]()["k"]))  # no OSError at all


def test_an_oserror_raised_in_init_is_reported_with_its_line(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from netdrv_core.daemon import Daemon

    pkg = _project(site, "akgc", init_line="raise OSError('table too small')")
    line = (pkg / "driver.py").read_text().splitlines().index(
        "        raise OSError('table too small')"
    ) + 1
    _project(site, "akgd", init_line="os.open('/nonexistent/dev/akg', os.O_RDWR)")
    host = Host()
    daemon = Daemon(host=host, pm=_manager(), watchdog=None, exit_when_empty=False)
    try:
        with caplog.at_level(logging.WARNING, logger="netdrv.daemon"):
            with pytest.raises(PluginError) as err:
                daemon.load("akgc", [])
            assert f"(at {pkg / 'driver.py'}:{line} in init)" in str(err.value), str(err.value)
            (rec,) = [r for r in caplog.records if r.getMessage().startswith("loading akgc")]
            assert rec.exc_info is not None
            # A device that is not there: the environment's, no location, no traceback.
            with pytest.raises(PluginError) as err:
                daemon.load("akgd", [])
            msg = str(err.value)
            assert "FileNotFoundError" in msg and "(at " not in msg, msg
            (rec,) = [r for r in caplog.records if r.getMessage().startswith("loading akgd")]
            assert rec.exc_info is None
    finally:
        host.close()
        host.loop.close()


# -- check_op: the driver's frames ----------------------------------------------------------------
def test_a_failed_open_in_the_kit_shows_the_drivers_frames_not_the_kits(
    site: Path, tmp_path: Path
) -> None:
    pkg = _project(site, "akge", open_line="raise RuntimeError('no hardware')")
    driver = pkg / "driver.py"
    line = driver.read_text().splitlines().index("        raise RuntimeError('no hardware')") + 1
    work = tmp_path / "work"
    work.mkdir()
    (work / "test_it.py").write_text(
        textwrap.dedent("""
        from netdrv_core.testing.conformance import DriverConformance


        class TestAkge(DriverConformance):
            driver_name = "akge"
        """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "test_it.py", "-k", "test_open_stop_cycles"],
        capture_output=True, text=True, timeout=300, cwd=work, env=env,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert "1 failed" in out, out
    assert "akg0: open failed: EIO because the driver raised" in out, out
    assert f"open raised RuntimeError: no hardware (at {driver}:{line} in open)" in out, out
    assert f'File "{driver}", line {line}, in open' in out, out
    report = out.partition("Captured log")[0]  # the host's own log has its traceback
    assert "conformance.py" not in report, out


# -- after review ---------------------------------------------------------------------------------
def test_a_load_without_the_hook_plugin_skips_the_hooks_of_a_module_in_both_groups(
    site: Path,
) -> None:
    """``-p no:HOOKNAME`` of one load (the daemon's ``skip``) keeps the module's hooks out of
    that load, though pluggy knows the module by its driver's name."""
    _project(site, "akgf", hook_plugin="akgf-events")
    pm = _manager()
    assert pm.load_hook_plugins() == {}
    pm.notify("registered", SimpleNamespace(name="akg0"), skip={"akgf-events"})
    assert sys.modules["netdrv_akgf"].EVENTS == []
    pm.notify("registered", SimpleNamespace(name="akg1"))
    assert sys.modules["netdrv_akgf"].EVENTS == ["akg1"]
    # Loaded as a driver only (the hook plugin skipped at the load): skipped all the same.
    pm.forget_plugin("akgf-events")
    assert pm.load_hook_plugins(skip={"akgf-events"}) == {}
    assert pm.get_driver("akgf", hook_plugins=False).name == "akgf"
    assert "akgf-events" not in pm.loaded_plugins()
    pm.notify("registered", SimpleNamespace(name="akg2"), skip={"akgf-events"})
    assert sys.modules["netdrv_akgf"].EVENTS == []


def test_unloading_the_driver_keeps_the_hooks_the_other_drivers_use(site: Path) -> None:
    """Forgotten under its driver's name (``netdrv unload`` of that driver), a module that
    is also a hook plugin stays registered: its hooks go on running for the drivers still
    loaded, as a hook plugin's do."""
    _project(site, "akgg", hook_plugin="akgg-events")
    pm = _manager()
    assert pm.load_hook_plugins() == {}
    assert pm.get_driver("akgg", hook_plugins=False).name == "akgg"
    assert pm.forget_plugin("akgg") == []
    assert {"akgg", "akgg-events"} <= pm.loaded_plugins()
    pm.notify("registered", SimpleNamespace(name="snull0"))
    assert sys.modules["netdrv_akgg"].EVENTS == ["snull0"]
    assert pm.get_driver("akgg", hook_plugins=False).name == "akgg"


def _recv_timed_out() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(0.001)
        b.recv(1)  # nothing is sent: TimeoutError("timed out"), raised by the socket's C code


def test_an_oserror_a_system_call_raises_in_the_drivers_line_is_the_environments() -> None:
    # A socket timeout has no errno, and no Python frame of its own: the innermost frame
    # is the driver's call, but the driver's code did not raise it.
    from netdrv_core.driver_errors import environment_error

    exc = _raised(_recv_timed_out)
    assert isinstance(exc, TimeoutError) and exc.errno is None
    assert environment_error(exc)


def test_the_kit_imports_nothing_private_of_pytest() -> None:
    """pyproject allows any pytest >= 7.4: ``_pytest`` is pytest's private package."""
    import ast

    import netdrv_core

    root = Path(netdrv_core.__file__).parent
    private = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            private += [f"{path}:{node.lineno}" for n in names if n.split(".")[0] == "_pytest"]
    assert private == []
    from netdrv_core.testing.conformance import DriverOpFailure

    assert issubclass(DriverOpFailure, pytest.fail.Exception | AssertionError)
