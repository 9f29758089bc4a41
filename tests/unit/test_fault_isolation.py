"""A driver that raises in any callback is isolated (issue 10, process faults).

The daemon hosts ``netdrv_faulty`` (tests/plugins) next to snull on the memory
attachment.  For every callback — ndo ops, the watchdog's ``tx_timeout``, a
NAPI poll, a loop timer, a reader thread's hand-off, the thread itself,
``get_stats``, ``do_ioctl``, a lifecycle hook, ``init`` and ``exit`` — the
fault is logged with the driver's name, the faulting device is taken down
(or never comes up), snull keeps passing traffic and the daemon keeps serving.
Faults of the driver's own loop callbacks (timers, ``call_soon``, readers,
thread hand-offs) and threads are counted on the driver in ``netdrv status``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netdrv_core import Host
from netdrv_core.daemon import Daemon
from netdrv_core.errors import DriverError, PluginError
from netdrv_core.netdevice import SIOCDEVPRIVATE
from netdrv_core.plugins import PluginManager

PLUGINS = str(Path(__file__).resolve().parent.parent / "plugins")
FRAME = (
    b"\x02\x00\x00\x00\xfa\x02" + b"\x02\x00\x00\x00\xfa\x01" + b"\x08\x00" + b"\x45" + bytes(45)
)


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A daemon on the memory attachment with snull loaded (sn0/sn1 up)."""
    monkeypatch.syspath_prepend(PLUGINS)
    host = Host()
    d = Daemon(host=host, pm=PluginManager(extra=["netdrv_faulty"]), exit_when_empty=False,
               watchdog=None)  # fmt: skip
    d.load("snull", [])
    yield d
    for name in list(d.drivers):
        d.unload(name)
    host.close()
    host.loop.close()


def _snull_still_works(d: Daemon) -> None:
    host = d.host
    sn0, sn1 = host.devices["sn0"], host.devices["sn1"]
    assert sn0.is_up and sn1.is_up
    mem: Any = host.attachment
    mem.received(sn1)
    frame = (b"\x00SNUL1\x00SNUL0\x08\x00" + bytes([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0])
             + bytes([198, 18, 0, 1, 198, 18, 0, 2]) + bytes(8))  # fmt: skip
    before = sn1.stats.rx_packets
    mem.send(sn0, frame)
    host.loop.run_until(lambda: sn1.stats.rx_packets > before, timeout=2)
    assert sn1.stats.rx_packets == before + 1
    assert d.handle({"cmd": "ping"})["ok"]
    st = d.handle({"cmd": "status"})
    assert st is not None and st["ok"]


def _logged(caplog: pytest.LogCaptureFixture, where: str) -> None:
    msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("netdrv_faulty" in m and where in m for m in msgs), msgs


def _load_up(d: Daemon, fail_in: str) -> Any:
    d.load("netdrv_faulty", [f"fail_in={fail_in}"])
    fa0 = d.host.devices["fa0"]
    d.host.attachment.up(fa0)  # type: ignore[attr-defined]
    return fa0


RUNTIME: dict[str, Callable[[Daemon, Any], None]] = {
    "start_xmit": lambda d, dev: d.host.attachment.send(dev, FRAME),  # type: ignore[attr-defined]
    "change_mtu": lambda d, dev: d.host.dev_set_mtu(dev, 1400),
    "set_rx_mode": lambda d, dev: d.host.dev_set_rx_mode(dev, promisc=True),
    "tx_timeout": lambda d, dev: d.host.attachment.send(dev, FRAME),  # type: ignore[attr-defined]
    "napi": lambda d, dev: d.host.attachment.send(dev, FRAME),  # type: ignore[attr-defined]
    "timer": lambda d, dev: None,  # fires 50 ms after open
    "tx_done": lambda d, dev: d.host.attachment.send(dev, FRAME),  # type: ignore[attr-defined]
    "call_soon": lambda d, dev: d.host.attachment.send(dev, FRAME),  # type: ignore[attr-defined]
    "fd_reader": lambda d, dev: None,  # open signals the eventfd
    "reader": lambda d, dev: None,  # the thread hands data over 50 ms after open
    "get_stats": lambda d, dev: d.handle({"cmd": "status"}),
}
WHERE = {"napi": "napi poll", "timer": "timer netdrv_faulty._timer",
         "tx_done": "timer netdrv_faulty._tx_complete",
         "call_soon": "loop callback netdrv_faulty._tx_complete",
         "fd_reader": "reader netdrv_faulty.Faulty.init.<locals>.<lambda> (fd ",
         "reader": "loop callback netdrv_faulty._rx_handoff"}  # fmt: skip


def _faults(d: Daemon, name: str = "netdrv_faulty") -> dict[str, Any]:
    """The driver's entry of ``netdrv status``."""
    st = d.handle({"cmd": "status"})
    assert st is not None
    return next(drv for drv in st["drivers"] if drv["name"] == name)


@pytest.mark.parametrize("fail_in", sorted(RUNTIME))
def test_a_raising_callback_takes_only_its_device_down(
    daemon: Daemon, caplog: pytest.LogCaptureFixture, fail_in: str
) -> None:
    fa0 = _load_up(daemon, fail_in)
    RUNTIME[fail_in](daemon, fa0)
    assert daemon.host.loop.run_until(lambda: not fa0.is_up, timeout=3), f"{fail_in}: fa0 still up"
    _logged(caplog, WHERE.get(fail_in, fail_in))
    # Counted once, in the status too: no cascade (a reader that fires again, a second
    # frame reaching the faulted driver).  get_stats raises again in every status.
    for _ in range(20):
        daemon.host.loop.run_once(0.005)
    msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    if fail_in != "get_stats":
        assert len([m for m in msgs if f"deliberate bug in {fail_in}" in m]) == 1, msgs
    entry = _faults(daemon)
    assert f"deliberate bug in {fail_in}" in entry["last_fault"], entry
    assert entry["faults"] == 1 or fail_in == "get_stats", entry
    assert entry["last_fault"].startswith("fa0: "), entry
    assert _faults(daemon, "snull")["faults"] == 0
    _snull_still_works(daemon)
    # The device can be brought up again: the fault was the driver's, not the core's.
    assert fa0.reg_state is not None and daemon.host.devices["fa0"] is fa0
    if fail_in in ("tx_done", "call_soon"):  # the frame in flight was dropped by stop
        s, cs = fa0.stats, fa0.core_stats
        assert cs.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors == 1
    if fail_in == "fd_reader":  # the faulting interrupt line is masked, not serviced forever
        assert fa0.priv.irq_fd not in daemon.host.loop.reader_fds()


def test_a_dying_driver_thread_takes_its_device_down(
    daemon: Daemon, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threading, "excepthook", daemon._thread_error)  # as Daemon.run() does
    fa0 = _load_up(daemon, "thread")
    assert daemon.host.loop.run_until(lambda: not fa0.is_up, timeout=3)
    _logged(caplog, "thread netdrv-faulty-rx")
    assert _faults(daemon)["faults"] == 1
    _snull_still_works(daemon)


TWINS = {
    "__init__.py": "",
    "common.py": """
from netdrv_core import NETDEV_TX_OK, Driver, NetDeviceOps, alloc_netdev, dev_kfree_skb, ether_setup

class Ops(NetDeviceOps):
    def open(self, dev):
        dev.priv["timer"] = dev.host.loop.call_later(0.02, tick, dev)
        return 0

    def stop(self, dev):
        dev.priv["timer"].cancel()
        return 0

    def start_xmit(self, skb, dev):
        dev_kfree_skb(skb)
        return NETDEV_TX_OK

def tick(dev):
    if dev.priv["fail"]:
        raise RuntimeError("deliberate bug in " + dev.name)

class Twin(Driver):
    prefix = ""
    def init(self):
        dev = alloc_netdev(dict, self.prefix + "%d", ether_setup)
        dev.dev_addr = bytes([2, 0, 0, 0, 0x7E, len(self.prefix)])
        dev.netdev_ops = Ops()
        dev.priv["fail"] = self.prefix == "twa"
        self.register(dev)
""",
    "a.py": "from .common import Twin\nclass TwinA(Twin):\n    name = 'twin_a'\n    prefix = 'twa'\n",
    "b.py": "from .common import Twin\nclass TwinB(Twin):\n    name = 'twin_b'\n    prefix = 'twinb'\n",
    "plugin.py": """
from netdrv_core import hookimpl
from .a import TwinA
from .b import TwinB

@hookimpl
def netdrv_drivers():
    return [TwinA, TwinB]
""",
}


def test_two_drivers_of_one_package_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The faulting device names its driver; the package alone would name either."""
    pkg = tmp_path / "netdrv_twins"
    pkg.mkdir()
    for name, text in TWINS.items():
        (pkg / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    host = Host()
    d = Daemon(host=host, pm=PluginManager(extra=["netdrv_twins.plugin"]), exit_when_empty=False,
               watchdog=None)  # fmt: skip
    try:
        d.load("twin_a", [])
        d.load("twin_b", [])  # loaded last: what a package-to-driver map would blame
        twa, twb = host.devices["twa0"], host.devices["twinb0"]
        host.attachment.up(twa)  # type: ignore[attr-defined]
        host.attachment.up(twb)  # type: ignore[attr-defined]
        assert host.loop.run_until(lambda: not twa.is_up, timeout=3)
        for _ in range(10):
            host.loop.run_once(0.01)
        assert twb.is_up
        assert _faults(d, "twin_a")["faults"] == 1 and _faults(d, "twin_b")["faults"] == 0
        msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("twa0: driver twin_a raised in timer" in m for m in msgs), msgs
    finally:
        for name in list(d.drivers):
            d.unload(name)
        host.close()
        host.loop.close()


def test_a_callback_with_a_broken_repr_cannot_stop_the_loop(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """Reporting a fault must not raise a second one out of the loop."""
    fa0 = _load_up(daemon, "")
    import netdrv_faulty

    class Handler:
        def __call__(self) -> None:
            raise RuntimeError("deliberate bug in a callable object")

        def __repr__(self) -> str:
            raise ValueError("a repr that raises")

    Handler.__module__ = netdrv_faulty.__name__  # the driver's own class
    daemon.host.loop.call_soon(Handler())
    daemon.host.loop.run_once(0)  # must not raise
    assert daemon.host.loop.run_until(lambda: not fa0.is_up, timeout=2)
    assert _faults(daemon)["faults"] == 1
    _snull_still_works(daemon)


def test_a_raising_open_leaves_the_link_down(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    daemon.load("netdrv_faulty", ["fail_in=open"])
    fa0 = daemon.host.devices["fa0"]
    with pytest.raises(DriverError, match="open failed") as e:
        daemon.host.attachment.up(fa0)  # type: ignore[attr-defined]
    # What the driver raised, not only EIO (what the kernel would have answered).
    assert str(e.value).startswith("fa0: open failed (EIO): the driver raised in open: ")
    assert not fa0.is_up
    _logged(caplog, "open")
    _snull_still_works(daemon)


def test_a_raising_stop_still_takes_the_device_down(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    fa0 = _load_up(daemon, "stop")
    daemon.host.attachment.down(fa0)  # type: ignore[attr-defined]
    assert not fa0.is_up
    _logged(caplog, "stop")
    _snull_still_works(daemon)


def test_a_raising_ioctl_is_refused_and_isolated(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    fa0 = _load_up(daemon, "ioctl")
    with pytest.raises(DriverError, match="netdrv_faulty raised in do_ioctl"):
        daemon.handle({"cmd": "set", "dev": "fa0", "ioctl": SIOCDEVPRIVATE})
    daemon.host.loop.run_until(lambda: not fa0.is_up, timeout=2)
    assert not fa0.is_up
    _snull_still_works(daemon)


def test_a_raising_hook_is_logged_with_its_plugin(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    fa0 = _load_up(daemon, "hook")
    assert fa0.is_up, "a lifecycle hook observes: its failure does not undo the event"
    msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("netdrv_faulty" in m and "netdrv_device_up" in m for m in msgs), msgs
    _snull_still_works(daemon)


def test_a_raising_init_leaves_nothing_registered(daemon: Daemon) -> None:
    with pytest.raises(PluginError, match=r"netdrv_faulty.*deliberate bug in init"):
        daemon.load("netdrv_faulty", ["fail_in=init"])
    assert "fa0" not in daemon.host.devices and "netdrv_faulty" not in daemon.drivers
    _snull_still_works(daemon)


def test_a_raising_exit_still_unregisters(daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    _load_up(daemon, "exit")
    daemon.unload("netdrv_faulty")
    assert "fa0" not in daemon.host.devices
    msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("netdrv_faulty raised in exit" in m for m in msgs), msgs
    _snull_still_works(daemon)


def test_a_hang_in_init_is_reported_by_the_watchdog(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The watchdog names what hangs in the log and in the busy file, and forgets it after."""
    monkeypatch.syspath_prepend(PLUGINS)
    host = Host()
    busy = tmp_path / "daemon.busy"
    d = Daemon(host=host, pm=PluginManager(extra=["netdrv_faulty"]), exit_when_empty=False,
               watchdog=0.2, busy_file=str(busy))  # fmt: skip
    seen: list[str] = []
    real_sleep = __import__("time").sleep

    def sleep_and_look(s: float) -> None:  # the "hang": 0.6 s, looking at the busy file
        real_sleep(s)
        seen.append(busy.read_text() if busy.exists() else "")

    import netdrv_faulty

    monkeypatch.setattr(netdrv_faulty.time, "sleep", sleep_and_look)
    try:
        d.load("netdrv_faulty", ["hang_in=init", "hang_s=0.6", "fail_in="])
        assert '"busy": "driver \'netdrv_faulty\' init"' in seen[0]
        assert not busy.exists(), "the busy file goes away when the call returns"
        msgs = [r.getMessage() for r in caplog.records]
        assert any("driver 'netdrv_faulty' init has been running" in m for m in msgs), msgs
        assert any("returned after" in m for m in msgs)
    finally:
        for name in list(d.drivers):
            d.unload(name)
        host.close()
        host.loop.close()


KERNEL_STYLE = '''
from netdrv_core import Driver, Param, alloc_netdev, ether_setup, hookimpl, register_netdev

class KernelStyle(Driver):
    """Registers like LDD's code does: register_netdev(dev), not Driver.register."""
    name = "kstyle"
    parameters = (Param("fail", bool, False, "raise after the first device"),)

    def init(self):
        dev = alloc_netdev(None, "ks%d", ether_setup)
        dev.dev_addr = b"\\x02\\x00\\x00\\x00\\x6b\\x01"
        register_netdev(dev)
        if self.params["fail"]:
            raise OSError(12, "no memory for the second device")

@hookimpl
def netdrv_drivers():
    return [KernelStyle]
'''


@pytest.mark.parametrize("fail", [True, False], ids=["failed-load", "unload"])
def test_devices_registered_with_bare_register_netdev_do_not_outlive_their_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    (tmp_path / "netdrv_kstyle.py").write_text(KERNEL_STYLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    host = Host()
    d = Daemon(host=host, pm=PluginManager(extra=["netdrv_kstyle"]), exit_when_empty=False,
               watchdog=None)  # fmt: skip
    try:
        for _ in range(2):  # retried: nothing piles up
            if fail:
                with pytest.raises(PluginError, match="no memory for the second device"):
                    d.load("kstyle", ["fail=1"])
            else:
                assert d.load("kstyle", [])["devices"] == ["ks0"]
                d.unload("kstyle")
            assert not host.devices and "kstyle" not in d.drivers
    finally:
        host.close()
        host.loop.close()
