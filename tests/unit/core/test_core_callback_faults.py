"""A driver's own loop callbacks that raise are driver faults, on a bare host too.

A timer the driver armed (a simulated TX-done interrupt), a ``call_soon``
completion, a thread's ``call_soon_threadsafe`` hand-off, a reader on the
driver's own fd and a NAPI poll: when one raises, the host attributes it to
the driver that owns it — from the callback, its arguments, the traceback or,
for a reader, who registered it — and handles it like a raising
``start_xmit``: the device goes down (its ``stop`` drops what was in flight),
the fault is counted on the driver and named in the log, a reader that keeps
firing is removed instead of spinning the loop, and snull next to it keeps
passing traffic.  Nothing here needs the daemon: the conformance kit and
in-process tests get the same behaviour.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakedev import FakeClock, LoadSnull, load_driver, mem

from netdrv_core import Host
from netdrv_core.driver import Driver
from netdrv_core.loop import READER_FAULT_LIMIT, EventLoop

# The driver lives in its own module, as a plugin does: code of this test module is
# not driver code (see test_a_callback_of_no_driver_is_only_logged).
FLAKY = '''
"""flaky: raises in the driver-owned loop callback named by fail_in."""
import collections
import os
import threading

from netdrv_core import (
    NETDEV_TX_OK, Driver, NetDeviceOps, Param, alloc_netdev, dev_kfree_skb, ether_setup,
    napi_complete_done, napi_disable, napi_enable, napi_schedule, netif_napi_add,
    netif_start_queue, netif_stop_queue, netif_wake_queue,
)

KINDS = ("", "timer", "lambda_timer", "tx_done", "call_soon", "threadsafe", "reader",
         "reader_builtin", "napi")


class Priv:
    def __init__(self):
        self.fail_in = ""
        self.inflight = []
        self.timers = []
        self.irq_r = self.irq_w = -1
        self.pending = collections.deque()  # empty: popleft raises IndexError (in C)
        self.napi = None

    def explode(self):
        raise RuntimeError(f"deliberate bug in {self.fail_in}")

    def irq(self):
        """The interrupt handler; the bug comes before the acknowledgement (the read)."""
        if self.fail_in == "reader":
            self.explode()
        os.read(self.irq_r, 64)


def bug(dev, where):
    if dev.priv.fail_in == where:
        raise RuntimeError(f"deliberate bug in {where}")


def timer(dev):
    bug(dev, "timer")


def complete(dev, skb, where):
    bug(dev, where)
    if skb in dev.priv.inflight:
        dev.priv.inflight.remove(skb)
        dev.stats.tx_packets += 1
        dev_kfree_skb(skb)
    netif_wake_queue(dev)


def handoff(dev, data):
    bug(dev, "threadsafe")


def poll(napi, budget):
    bug(napi.dev, "napi")
    napi_complete_done(napi, 0)
    return 0


class Ops(NetDeviceOps):
    def open(self, dev):
        p = dev.priv
        netif_start_queue(dev)
        napi_enable(p.napi)
        loop = dev.host.loop
        p.timers.append(loop.call_later(0.01, timer, dev))
        if p.fail_in == "lambda_timer":
            p.timers.append(loop.call_later(0.01, lambda: p.explode()))
        if p.fail_in == "threadsafe":
            threading.Thread(target=loop.call_soon_threadsafe, args=(handoff, dev, b"x"),
                             daemon=True).start()
        if p.fail_in in ("reader", "reader_builtin"):
            os.write(p.irq_w, b"!")  # the interrupt line goes up
        if p.fail_in == "napi":
            napi_schedule(p.napi)
        return 0

    def stop(self, dev):
        p = dev.priv
        for t in p.timers:
            t.cancel()
        p.timers.clear()
        napi_disable(p.napi)
        netif_stop_queue(dev)
        while p.inflight:  # never completed: dropped and counted
            dev.stats.tx_dropped += 1
            dev_kfree_skb(p.inflight.pop())
        return 0

    def start_xmit(self, skb, dev):
        p = dev.priv
        if p.fail_in == "tx_done":  # one frame in flight; the TX-done timer wakes the queue
            p.inflight.append(skb)
            netif_stop_queue(dev)
            p.timers.append(dev.host.loop.call_later(0.001, complete, dev, skb, "tx_done"))
            return NETDEV_TX_OK
        if p.fail_in == "call_soon":
            p.inflight.append(skb)
            dev.host.loop.call_soon(complete, dev, skb, "call_soon")
            return NETDEV_TX_OK
        dev.stats.tx_packets += 1
        dev_kfree_skb(skb)
        return NETDEV_TX_OK


class Flaky(Driver):
    name = "flaky"
    parameters = (
        Param("fail_in", str, "", "where to raise", choices=KINDS),
        Param("unit", int, 0, "the device number"),
    )

    def init(self):
        unit = self.params["unit"]
        dev = alloc_netdev(Priv, f"fl{unit}", ether_setup)
        dev.dev_addr = bytes([2, 0, 0, 0, 0xF1, unit])
        dev.netdev_ops = Ops()
        p = dev.priv
        p.fail_in = self.params["fail_in"]
        p.napi = netif_napi_add(dev, poll, 8)
        self.register(dev)
        p.irq_r, p.irq_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # Registered for the driver's lifetime, like an open serial port's fd.
        handler = p.pending.popleft if p.fail_in == "reader_builtin" else p.irq
        self.host.loop.add_reader(p.irq_r, handler)

    def exit(self):
        for dev in self.devices:
            self.host.loop.remove_reader(dev.priv.irq_r)
            os.close(dev.priv.irq_r)
            os.close(dev.priv.irq_w)
        super().exit()
'''

KINDS = ["timer", "lambda_timer", "tx_done", "call_soon", "threadsafe", "reader",
         "reader_builtin", "napi"]  # fmt: skip
TX_KINDS = ("tx_done", "call_soon")
SNULL_FRAME = (b"\x00SNUL1\x00SNUL0\x08\x00" + bytes([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0])
               + bytes([198, 18, 0, 1, 198, 18, 0, 2]) + bytes(8))  # fmt: skip


def _import_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> Any:
    """Module ``name`` from ``source``, written to ``tmp_path`` and imported afresh (a plugin)."""
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.fixture
def flaky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: Host) -> Iterator[Any]:
    """``flaky(fail_in, unit=0)``: load the flaky driver on ``host``, its device up."""
    mod = _import_source(tmp_path, monkeypatch, "netdrv_flaky", FLAKY)
    loaded: list[Driver] = []

    def _load(fail_in: str, unit: int = 0) -> Driver:
        drv = load_driver(host, mod.Flaky, fail_in=fail_in, unit=unit)
        loaded.append(drv)
        mem(host).up(drv.devices[0])
        return drv

    yield _load
    for drv in loaded:
        drv.exit()
    sys.modules.pop("netdrv_flaky", None)


def settle(host: Host, clock: FakeClock, pred: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Run the loop (fake time moving 5 ms a round) until ``pred()``; threads get real time."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        clock.advance(0.005)
        host.loop.run_once(0.005)
    return True


def spin(host: Host, clock: FakeClock, rounds: int = 50) -> None:
    """Let the loop run a while longer (a faulting reader would fire in every round)."""
    for _ in range(rounds):
        clock.advance(0.005)
        host.loop.run_once(0)


def snull_works(host: Host) -> None:
    sn0, sn1 = host.devices["sn0"], host.devices["sn1"]
    assert sn0.is_up and sn1.is_up
    before = sn1.stats.rx_packets
    mem(host).send(sn0, SNULL_FRAME)
    host.loop.run_until_idle()
    assert sn1.stats.rx_packets == before + 1


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("kind", KINDS)
def test_a_raising_driver_callback_takes_its_device_down(
    host: Host, clock: FakeClock, snull: LoadSnull, flaky: Any, kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    snull()
    drv = flaky(kind)
    fl0 = drv.devices[0]
    if kind == "tx_done":
        for _ in range(3):  # one reaches the driver (it stops the queue), two wait
            mem(host).send(fl0, b"\x02" * 60)
    if kind == "call_soon":  # (each frame sent would be a completion that raises)
        mem(host).send(fl0, b"\x02" * 60)
    assert settle(host, clock, lambda: not fl0.is_up), f"{kind}: fl0 is still up"
    spin(host, clock)
    # Named in the log with the driver and the device, counted once: no cascade.
    msgs = [m for m in errors(caplog) if "fl0: driver flaky raised in" in m]
    assert len(msgs) == 1, errors(caplog)
    assert drv.faults == 1, drv.faults  # type: ignore[attr-defined]
    bug = "IndexError" if kind == "reader_builtin" else f"deliberate bug in {kind}"
    assert drv.last_fault.startswith("fl0: ") and bug in drv.last_fault  # type: ignore[attr-defined]
    if kind in TX_KINDS:  # every skb ended once: the in-flight one dropped by stop
        s, cs = fl0.stats, fl0.core_stats
        assert cs.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors == 1
        assert cs.tx_qdisc_drops == (2 if kind == "tx_done" else 0) and not fl0.qdisc
    if kind.startswith("reader"):  # the interrupt line is masked, not serviced forever
        assert fl0.priv.irq_r not in host.loop.reader_fds()
    snull_works(host)
    # The device can be brought up again: the core kept nothing broken.
    fl0.priv.fail_in = ""
    mem(host).up(fl0)
    assert fl0.is_up


def test_only_the_device_the_callback_worked_on_goes_down(
    host: Host, clock: FakeClock, flaky: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Two instances of one driver module: the timer's argument names the device."""
    good, bad = flaky(""), flaky("timer", unit=1)
    assert settle(host, clock, lambda: not bad.devices[0].is_up)
    spin(host, clock)
    assert good.devices[0].is_up and good.faults == 0  # type: ignore[attr-defined]
    assert bad.faults == 1  # type: ignore[attr-defined]


def test_a_lambda_timer_is_attributed_through_its_closure(
    host: Host, clock: FakeClock, flaky: Any
) -> None:
    good, bad = flaky(""), flaky("lambda_timer", unit=1)
    assert settle(host, clock, lambda: not bad.devices[0].is_up)
    assert good.devices[0].is_up


def test_a_dying_driver_thread_is_a_driver_fault(
    host: Host, clock: FakeClock, flaky: Any, caplog: pytest.LogCaptureFixture
) -> None:
    drv = flaky("")
    fl0 = drv.devices[0]
    mod = sys.modules["netdrv_flaky"]
    seen: list[threading.ExceptHookArgs] = []
    # The driver's rx thread dies in driver code; the daemon's excepthook hands it over.
    t = threading.Thread(target=mod.Priv.explode, args=(fl0.priv,), name="flaky-rx")
    old = threading.excepthook
    threading.excepthook = seen.append
    try:
        t.start()
        t.join()
    finally:
        threading.excepthook = old
    exc = seen[0].exc_value
    assert exc is not None
    assert host.thread_fault(exc, seen[0].thread)
    host.loop.run_until_idle()
    assert not fl0.is_up and drv.faults == 1  # type: ignore[attr-defined]
    assert any("fl0: driver flaky raised in thread flaky-rx" in m for m in errors(caplog))


def test_a_callback_of_no_driver_is_only_logged(
    host: Host, clock: FakeClock, flaky: Any, caplog: pytest.LogCaptureFixture
) -> None:
    drv = flaky("")
    fl0 = drv.devices[0]

    def not_a_driver(dev: Any) -> None:
        raise RuntimeError("a bug outside any driver")

    host.loop.call_soon(not_a_driver, "fl0")
    host.loop.run_until_idle()
    assert fl0.is_up and drv.faults == 0  # type: ignore[attr-defined]
    assert any("a bug outside any driver" in m for m in errors(caplog))


def test_a_raising_error_handler_does_not_stop_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = EventLoop()
    ran: list[int] = []

    def handler(exc: BaseException, cb: Any) -> None:
        raise ValueError("the handler itself is broken")

    def boom() -> None:
        raise RuntimeError("first")

    try:
        loop.error_handler = handler
        loop.call_soon(boom)
        loop.call_soon(ran.append, 1)
        loop.run_once(0)  # neither the callback's nor the handler's exception escapes
        assert ran == [1]
        assert any("the handler itself is broken" in r.getMessage()
                   or "the handler itself is broken" in str(r.exc_info)
                   for r in caplog.records)  # fmt: skip
    finally:
        loop.close()


# -- who is to blame when there are several candidates, or odd objects ----------------------------
PAIR = '''
"""pair: one driver instance, two devices; its callbacks raise when the device's priv says."""
import weakref

from netdrv_core import Driver, NetDeviceOps, Param, alloc_netdev, ether_setup, netif_start_queue


class Priv:
    fail = False


class Gone:
    pass


def tick(dev):
    if dev.priv.fail:
        raise RuntimeError(f"deliberate bug for {dev.name}")


def tick_with_a_dead_proxy(dev):
    helper = weakref.proxy(Gone())  # its object is gone at once: any use raises ReferenceError
    raise RuntimeError(f"deliberate bug for {dev.name}")


class Ops(NetDeviceOps):
    def open(self, dev):
        netif_start_queue(dev)
        return 0


class Pair(Driver):
    name = "pair"
    parameters = (Param("unit", int, 0, "devices pr(2 unit) and pr(2 unit + 1)"),)

    def init(self):
        for i in range(2 * self.params["unit"], 2 * self.params["unit"] + 2):
            dev = alloc_netdev(Priv, f"pr{i}", ether_setup)
            dev.dev_addr = bytes([2, 0, 0, 0, 0xF2, i])
            dev.netdev_ops = Ops()
            self.register(dev)

    def poll_link(self):
        """A periodic job of the driver itself, about no device in particular."""
        raise RuntimeError("deliberate bug in poll_link")


class Unhashable(Pair):
    """A driver that defines == (and so, in Python, is unhashable)."""

    def __eq__(self, other):
        return self is other


class NoModule(Driver):
    name = "nomodule"

    def init(self):
        pass


NoModule.__module__ = None  # a class made by a code generator, say
'''


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: Host) -> Iterator[Any]:
    """The ``netdrv_pair`` module: ``pair.load(cls=Pair)`` loads it, its devices up."""
    mod = _import_source(tmp_path, monkeypatch, "netdrv_pair", PAIR)

    def _load(cls: Any = None, unit: int = 0) -> Driver:
        drv = load_driver(host, cls or mod.Pair, unit=unit)
        for dev in drv.devices:
            mem(host).up(dev)
        return drv

    mod.load = _load  # type: ignore[attr-defined]
    yield mod
    sys.modules.pop("netdrv_pair", None)


def test_a_late_callback_of_an_unplugged_device_takes_no_other_device_down(
    host: Host, pair: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """pr0 is unplugged (unregistered); a timer it left behind raises: pr1 is not to blame."""
    drv = pair.load()
    pr0, pr1 = drv.devices
    drv.unregister(pr0)
    pr0.priv.fail = True
    host.loop.call_soon(pair.tick, pr0)
    host.loop.run_until_idle()
    assert pr1.is_up, "the driver's other device was taken down for pr0's late timer"
    assert drv.faults == 1 and "deliberate bug for pr0" in drv.last_fault  # type: ignore[attr-defined]
    assert any("driver pair raised in loop callback netdrv_pair.tick" in m for m in errors(caplog))


@pytest.mark.parametrize("how", ["device", "driver method"])
def test_a_leftover_callback_of_an_unloaded_instance_spares_the_reloaded_one(
    host: Host, pair: Any, how: str
) -> None:
    """Unloaded, then loaded again: the old instance's leftover callback is the old one's."""
    old = pair.load()
    old_dev = old.devices[0]
    old.exit()  # still known to the host while anything references it
    new = pair.load()
    assert len(host.known_drivers) == 2
    if how == "device":
        old_dev.priv.fail = True
        host.loop.call_soon(pair.tick, old_dev)
    else:
        host.loop.call_later(0, old.poll_link)
    host.loop.run_until_idle()
    assert all(d.is_up for d in new.devices), "the reloaded driver was blamed"
    assert new.faults == 0 and old.faults == 1  # type: ignore[attr-defined]


def test_a_driver_method_without_a_device_takes_that_instances_devices_down(
    host: Host, pair: Any
) -> None:
    """Two instances of one driver: a bound method's ``self`` says which one raised."""
    a, b = pair.load(), pair.load(unit=1)
    host.loop.call_soon(b.poll_link)
    host.loop.run_until_idle()
    assert all(d.is_up for d in a.devices) and not any(d.is_up for d in b.devices)
    assert a.faults == 0 and b.faults == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("odd", ["unhashable driver", "dead weak proxy", "class without module"])
def test_odd_objects_cannot_break_attribution(
    host: Host, pair: Any, odd: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Attribution must not raise: it would leave the device up and a raising reader spinning."""
    drv = pair.load(pair.Unhashable if odd == "unhashable driver" else None)
    # Another known driver, held as the daemon holds it: must not break anyone's attribution.
    other = pair.NoModule(host, {}) if odd == "class without module" else None
    pr0, pr1 = drv.devices
    pr0.priv.fail = True
    tick = pair.tick_with_a_dead_proxy if odd == "dead weak proxy" else pair.tick
    host.loop.call_soon(tick, pr0)
    host.loop.run_until_idle()
    assert not pr0.is_up and pr1.is_up
    assert drv.faults == 1  # type: ignore[attr-defined]
    assert not any("attributing" in m for m in errors(caplog))
    assert other is None or other in host.known_drivers


def test_a_fault_storm_is_counted_but_logged_at_a_bounded_rate(
    host: Host, clock: FakeClock, pair: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Thousands of faults (a thread handing raising callbacks over): every one counted,
    a few logged with their traceback, then a note, then the count when logging resumes."""
    from netdrv_core.host import FAULT_LOG_BURST, FAULT_LOG_INTERVAL

    drv = pair.load()
    pr0 = drv.devices[0]
    pr0.priv.fail = True
    for _ in range(2000):
        host.loop.call_soon(pair.tick, pr0)
    host.loop.run_until_idle()
    assert not pr0.is_up and drv.faults == 2000  # type: ignore[attr-defined]
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len([r for r in logged if r.exc_info]) == FAULT_LOG_BURST
    assert sum("not logged for now" in r.getMessage() for r in logged) == 1
    caplog.clear()
    clock.advance(FAULT_LOG_INTERVAL)
    host.loop.call_soon(pair.tick, pr0)
    host.loop.run_until_idle()
    msgs = errors(caplog)
    assert len(msgs) == 1 and f"({2000 - FAULT_LOG_BURST} more faults of this driver were " \
        "counted, not logged)" in msgs[0], msgs  # fmt: skip
    assert drv.faults == 2001  # type: ignore[attr-defined]


def test_a_reader_belonging_to_no_driver_that_keeps_raising_is_removed_once(
    host: Host, clock: FakeClock, flaky: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The core's or the application's reader: its fd stays readable, so it would raise
    in every loop round (a spinning loop, a log of tracebacks).  It is logged once, by
    name, and its fd is no longer watched; the devices and other readers go on."""
    drv = flaky("")
    fl0 = drv.devices[0]
    r, w = os.pipe()
    calls = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("application reader bug")

    host.loop.add_reader(r, broken)
    os.write(w, b"x")  # stays readable: the reader never reads it
    try:
        for _ in range(500):
            host.loop.run_once(0)
        assert len(calls) == READER_FAULT_LIMIT and r not in host.loop.reader_fds()
        assert len([x for x in caplog.records if x.exc_info]) == READER_FAULT_LIMIT  # then no more
        removed = [x.getMessage() for x in caplog.records if "not watched" in x.getMessage()]
        assert len(removed) == 1 and "broken raised RuntimeError" in removed[0], removed
        assert fl0.is_up and drv.faults == 0  # type: ignore[attr-defined]
    finally:
        os.close(r)
        os.close(w)
