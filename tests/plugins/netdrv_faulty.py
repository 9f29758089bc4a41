"""faulty: a test driver that raises (or hangs) where it is told to, to prove drivers are isolated.

``netdrv -p netdrv_faulty load netdrv_faulty fail_in=WHERE`` registers ``fa0``
(an Ethernet device with NAPI, a loop timer and a reader thread) that raises
``RuntimeError("deliberate bug in WHERE")`` in that one callback (default
``start_xmit``; ``fail_in=`` for a driver that does not raise at all):

=============  ==============================================================
``init``       the driver's init (nothing must stay registered)
``exit``       the driver's exit (its devices must be unregistered anyway)
``open``       ``ndo_open`` (``ip link set fa0 up`` fails, the link stays down)
``stop``       ``ndo_stop``
``start_xmit`` every transmission
``change_mtu`` ``ip link set fa0 mtu N``
``set_rx_mode`` ``ip link set fa0 promisc on``
``tx_timeout`` the watchdog's call (fa0 stops its queue on the first frame)
``napi``       the NAPI poll (fa0 loops every frame back through NAPI)
``timer``      a loop timer armed by open (fires after 50 ms)
``tx_done``    the TX-done "interrupt" of every frame: start_xmit stops the queue and
               arms a 10 ms timer that completes the frame and wakes the queue
``call_soon``  the completion of every frame, scheduled by start_xmit with call_soon
``fd_reader``  the "interrupt handler": a reader on an eventfd registered by init (kept
               while the device is down, like an open serial port), signalled by open;
               the handler raises before it acknowledges (reads) the eventfd
``reader``     the loop-side hand-off of a reader thread's data (after 50 ms)
``thread``     the reader thread itself (dies after 50 ms)
``get_stats``  ``ndo_get_stats`` (``netdrv status``)
``ioctl``      ``ndo_do_ioctl`` (``netdrv set fa0 ioctl=…``)
``hook``       the plugin's ``netdrv_device_up`` hook
=============  ==============================================================

``hang_in=init|exit|hook|open|start_xmit|timer`` sleeps ``hang_s`` seconds there instead (a
hung driver).  ``NETDRV_FAULTY_HANG_IMPORT=SECONDS`` in the environment makes
the module itself hang while it is imported.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from netdrv_core import (
    NETDEV_TX_OK,
    Driver,
    NetDevice,
    NetDeviceOps,
    Param,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    ether_setup,
    hookimpl,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_schedule,
    netif_napi_add,
    netif_receive_skb,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
)

if os.environ.get("NETDRV_FAULTY_HANG_IMPORT"):
    time.sleep(float(os.environ["NETDRV_FAULTY_HANG_IMPORT"]))

FAIL_POINTS = ("", "init", "exit", "open", "stop", "start_xmit", "change_mtu", "set_rx_mode",
               "tx_timeout", "napi", "timer", "tx_done", "call_soon", "fd_reader", "reader",
               "thread", "get_stats", "ioctl", "hook")  # fmt: skip
HANG_POINTS = ("", "init", "exit", "hook", "open", "start_xmit", "timer")


class FaultyPriv:
    """Per-device state: the parameters, the loop-back queue, the timer and the thread."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.rx: list[SkBuff] = []
        self.napi: Any = None
        self.timer: Any = None
        self.thread: threading.Thread | None = None
        self.stop_thread = threading.Event()
        self.inflight: list[SkBuff] = []  # accepted by start_xmit, not yet completed
        self.irq_fd = -1  # the eventfd "interrupt line" (fail_in=fd_reader)


def _bug(dev: NetDevice, where: str) -> None:
    p = dev.priv.params
    if p["hang_in"] == where:
        time.sleep(p["hang_s"])
    if p["fail_in"] == where:
        raise RuntimeError(f"deliberate bug in {where}")


def _timer(dev: NetDevice) -> None:
    _bug(dev, "timer")


def _reader(dev: NetDevice, stop: threading.Event) -> None:
    """A driver's reader thread: hands data to the loop, or dies (fail_in=thread)."""
    if stop.wait(0.05):
        return
    _bug(dev, "thread")
    host = dev.host
    if host is not None:
        host.loop.call_soon_threadsafe(_rx_handoff, dev, b"data from the line")


def _rx_handoff(dev: NetDevice, data: bytes) -> None:
    _bug(dev, "reader")


def _tx_complete(dev: NetDevice, skb: SkBuff, where: str) -> None:
    """The TX-done "interrupt" (a timer or a call_soon): count, free, wake the queue."""
    _bug(dev, where)
    priv = dev.priv
    if skb in priv.inflight:
        priv.inflight.remove(skb)
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len
        dev_kfree_skb(skb)
    netif_wake_queue(dev)


def _irq(dev: NetDevice) -> None:
    """The eventfd's handler; a bug before the read leaves the fd readable (level-triggered)."""
    _bug(dev, "fd_reader")
    try:
        os.eventfd_read(dev.priv.irq_fd)
    except BlockingIOError:
        pass


def _poll(napi: Any, budget: int) -> int:
    dev = napi.dev
    _bug(dev, "napi")
    priv = dev.priv
    done = 0
    while priv.rx and done < budget:
        netif_receive_skb(priv.rx.pop(0))
        done += 1
    if done < budget:
        napi_complete_done(napi, done)
    return done


class FaultyOps(NetDeviceOps):
    """Every op calls :func:`_bug` first."""

    def open(self, dev: NetDevice) -> int:
        """Start the queue, NAPI, a timer and a reader thread."""
        _bug(dev, "open")
        priv = dev.priv
        netif_start_queue(dev)
        napi_enable(priv.napi)
        assert dev.host is not None
        priv.timer = dev.host.loop.call_later(0.05, _timer, dev)
        priv.stop_thread = threading.Event()
        priv.thread = threading.Thread(target=_reader, args=(dev, priv.stop_thread), daemon=True,
                                       name="netdrv-faulty-rx")  # fmt: skip
        priv.thread.start()
        if priv.irq_fd >= 0:
            os.eventfd_write(priv.irq_fd, 1)  # "the hardware raises its interrupt"
        return 0

    def stop(self, dev: NetDevice) -> int:
        """Stop everything open started."""
        priv = dev.priv
        priv.stop_thread.set()
        if priv.timer is not None:
            priv.timer.cancel()
        netif_stop_queue(dev)
        napi_disable(priv.napi)
        if priv.thread is not None and priv.thread is not threading.current_thread():
            priv.thread.join(timeout=1)
        priv.rx.clear()
        while priv.inflight:  # frames the TX-done never completed: dropped and counted
            dev.stats.tx_dropped += 1
            dev_kfree_skb(priv.inflight.pop())
        _bug(dev, "stop")
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """Count and free the frame; with fail_in=tx_timeout/napi, lock up / loop back first."""
        _bug(dev, "start_xmit")
        p = dev.priv.params
        if p["fail_in"] in ("tx_done", "call_soon"):
            assert dev.host is not None
            dev.priv.inflight.append(skb)
            if p["fail_in"] == "tx_done":
                netif_stop_queue(dev)  # one frame in flight: the TX-done wakes the queue
                dev.priv.timer = dev.host.loop.call_later(0.01, _tx_complete, dev, skb, "tx_done")
            else:
                dev.host.loop.call_soon(_tx_complete, dev, skb, "call_soon")
            return NETDEV_TX_OK
        if p["fail_in"] == "tx_timeout":
            netif_stop_queue(dev)  # the TX-done interrupt never comes: the watchdog fires
        if p["fail_in"] == "napi":
            skb.dev = dev
            dev.priv.rx.append(skb)
            napi_schedule(dev.priv.napi)
            dev.stats.tx_packets += 1
            return NETDEV_TX_OK
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len
        dev_kfree_skb(skb)
        return NETDEV_TX_OK

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        """The watchdog fired."""
        _bug(dev, "tx_timeout")

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        """Accept any MTU (unless told to raise)."""
        _bug(dev, "change_mtu")
        dev.mtu = new_mtu
        return 0

    def set_rx_mode(self, dev: NetDevice) -> None:
        """Nothing to program (unless told to raise)."""
        _bug(dev, "set_rx_mode")

    def get_stats(self, dev: NetDevice) -> Any:
        """The device's counters (unless told to raise)."""
        _bug(dev, "get_stats")
        return dev.stats

    def do_ioctl(self, dev: NetDevice, request: int, data: Any) -> Any:
        """Answer 0 to any request (unless told to raise)."""
        _bug(dev, "ioctl")
        return 0


def _setup(dev: NetDevice) -> None:
    ether_setup(dev)
    dev.dev_addr = b"\x02\x00\x00\x00\xfa\x01"
    dev.netdev_ops = FaultyOps()
    dev.watchdog_timeo = 0.2
    dev.disable_ipv6 = True


class Faulty(Driver):
    """Raises (or hangs) in the callback named by ``fail_in`` (``hang_in``)."""

    name = "netdrv_faulty"
    summary = "a driver that raises or hangs where it is told to (tests)"
    parameters = (
        Param("fail_init", bool, False, "raise in init (the same as fail_in=init)"),
        Param(
            "fail_in",
            str,
            "start_xmit",
            "raise in this callback (empty: nowhere)",
            choices=FAIL_POINTS,
        ),
        Param("hang_in", str, "", "sleep hang_s seconds in this callback", choices=HANG_POINTS),
        Param("hang_s", float, 3600.0, "how long a hang lasts", min=0.0, unit="s"),
    )

    def init(self) -> None:
        """Register fa0."""
        p = self.params
        if p["fail_init"]:
            raise RuntimeError("deliberate bug in init")
        if p["hang_in"] == "init":
            time.sleep(p["hang_s"])
        if p["fail_in"] == "init":
            raise RuntimeError("deliberate bug in init")
        dev = alloc_netdev(FaultyPriv, "fa%d", _setup)
        dev.priv.params = p
        dev.priv.napi = netif_napi_add(dev, _poll, 8)
        self.register(dev)
        dev.priv.irq_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.host.loop.add_reader(dev.priv.irq_fd, lambda: _irq(dev))

    def exit(self) -> None:
        """Unregister fa0 — after raising or hanging, if told to."""
        p = self.params
        if p["hang_in"] == "exit":
            time.sleep(p["hang_s"])
        if p["fail_in"] == "exit":
            raise RuntimeError("deliberate bug in exit")
        for dev in self.devices:
            if dev.priv.irq_fd >= 0:
                self.host.loop.remove_reader(dev.priv.irq_fd)
                os.close(dev.priv.irq_fd)
                dev.priv.irq_fd = -1
        super().exit()


@hookimpl
def netdrv_drivers() -> list[type[Driver]]:
    """Offer the faulty driver."""
    return [Faulty]


@hookimpl
def netdrv_device_up(dev: NetDevice) -> None:
    """A lifecycle hook that raises or hangs for fa devices told to."""
    if isinstance(dev.priv, FaultyPriv):
        _bug(dev, "hook")
