"""The driver conformance kit: every first-party driver passes it, and it catches real bugs.

The first part runs :class:`DriverConformance` over every driver the ``netdrv``
distribution declares (entry-point group ``netdrv.drivers``).  A driver that
cannot be loaded fails with its PluginError, it is not skipped.

The second part proves each check can fail: a minimal correct driver passes
everything, and one bug at a time added to it makes exactly the matching
check fail with a message that says what is wrong.

The third part runs the ``--netdrv-conformance`` option in a pytest subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from netdrv_core import (
    GRO_HELD,
    GRO_MERGED,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    Driver,
    EthtoolOps,
    NetDevice,
    NetDeviceOps,
    NetDeviceStats,
    Param,
    PluginManager,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    eth_type_trans,
    ether_setup,
    napi_complete_done,
    napi_gro_receive,
    napi_schedule,
    netdev_alloc_skb,
    netif_napi_add,
    netif_receive_skb,
    netif_running,
    netif_rx,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
    register_netdev,
    unregister_netdev,
)
from netdrv_core.testing.conformance import (
    DriverConformance,
    DriverHarness,
    default_frames,
    ipv4_udp,
)


def _first_party() -> list[str]:
    """Every driver the netdrv distribution declares (a broken one fails, it is not skipped)."""
    return [
        i.name for i in PluginManager(autoload=True).list_drivers() if i.distribution == "netdrv"
    ]


def test_first_party_drivers_are_discovered() -> None:
    assert {"loopback", "snull", "slip", "usbnet"} <= set(_first_party())


class TestFirstPartyDriverConformance(DriverConformance):
    """The kit over every first-party driver."""

    @pytest.fixture(params=_first_party(), ids=str)
    def netdrv_conformance_driver(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


# -- a correct minimal driver, and the same driver with one bug each ---------------------------
class GoodOps(NetDeviceOps):
    """Counts and frees every frame, like Linux dummy.c."""

    def open(self, dev: NetDevice) -> int:
        netif_start_queue(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        netif_stop_queue(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len
        dev_kfree_skb(skb)
        return NETDEV_TX_OK

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        dev.mtu = new_mtu
        return 0


class Good(Driver):
    """The baseline every bug below is added to."""

    name = "kitgood"
    summary = "a correct dummy driver"
    parameters = (Param("count", int, 1, "number of interfaces", min=1, max=4),)
    ops_class: type[NetDeviceOps] = GoodOps

    def init(self) -> None:
        for i in range(self.params["count"]):
            dev = alloc_netdev(None, "kit%d", ether_setup)
            dev.dev_addr = bytes([2, 0, 0, 0, 0x4B, i + 1])
            dev.max_mtu = 9000
            dev.netdev_ops = self.ops_class()
            self.register(dev)


def _bug(name: str, ops: type[NetDeviceOps] | None = None, **attrs: Any) -> type[Driver]:
    ns: dict[str, Any] = {"name": name, "summary": f"bug: {name}", **attrs}
    if ops is not None:
        ns["ops_class"] = ops
    return type(name.title(), (Good,), ns)


class UncountedOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        if skb.len > 100:
            dev_kfree_skb(skb)  # freed but never counted
            return NETDEV_TX_OK
        return super().start_xmit(skb, dev)


class DoubleFreeOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        super().start_xmit(skb, dev)
        dev_kfree_skb(skb)  # SkbError: double free
        return NETDEV_TX_OK


class UseAfterFreeOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev_kfree_skb(skb)
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += len(skb.view())  # SkbError: used after free
        return NETDEV_TX_OK


class BusyAwakeOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        if skb.cb is None:
            skb.cb = {"tried": True}
            return NETDEV_TX_BUSY  # without netif_stop_queue
        return super().start_xmit(skb, dev)


class BusyFreedOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        if skb.cb is None:
            skb.cb = {"tried": True}
            netif_stop_queue(dev)
            dev_kfree_skb(skb)
            dev.host.loop.call_soon(_wake, dev)  # type: ignore[union-attr]
            return NETDEV_TX_BUSY  # after freeing it
        return super().start_xmit(skb, dev)


def _wake(dev: NetDevice) -> None:
    from netdrv_core import netif_wake_queue

    netif_wake_queue(dev)


# -- the receive side: a driver that receives what it sends, like Linux loopback.c ----------
class EchoOps(GoodOps):
    """Hands every transmitted frame back up as received: eth_type_trans, counted, netif_rx."""

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        length = skb.len
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += length
        self.receive(skb, dev, length)
        return NETDEV_TX_OK

    def receive(self, skb: SkBuff, dev: NetDevice, length: int) -> None:
        skb.protocol = eth_type_trans(skb, dev)
        dev.stats.rx_packets += 1
        dev.stats.rx_bytes += length
        netif_rx(skb)


class NoTypeTransOps(EchoOps):
    def receive(self, skb: SkBuff, dev: NetDevice, length: int) -> None:
        new = netdev_alloc_skb(dev, length)  # a copy, as a driver with a ring does
        new.put_data(bytes(skb.view()))
        dev_kfree_skb(skb)
        dev.stats.rx_packets += 1
        dev.stats.rx_bytes += length
        netif_rx(new)  # without eth_type_trans: protocol 0, the header still in front


class NotPulledOps(EchoOps):
    def receive(self, skb: SkBuff, dev: NetDevice, length: int) -> None:
        dev.stats.rx_packets += 1
        dev.stats.rx_bytes += length
        netif_rx(skb)  # the transmitted skb as it is: protocol set, header not pulled


class RxUncountedOps(EchoOps):
    def receive(self, skb: SkBuff, dev: NetDevice, length: int) -> None:
        skb.protocol = eth_type_trans(skb, dev)
        netif_rx(skb)


class RxAfterFreeOps(EchoOps):
    def receive(self, skb: SkBuff, dev: NetDevice, length: int) -> None:
        skb.protocol = eth_type_trans(skb, dev)
        dev.stats.rx_packets += 1
        dev.stats.rx_bytes += length
        dev_kfree_skb(skb)  # "done with it"
        netif_rx(skb)


class NapiEchoOps(EchoOps):
    """Receives through NAPI: frames wait in a queue until the poll (weight 4)."""

    complete = True

    def open(self, dev: NetDevice) -> int:
        if not dev.napi_list:
            netif_napi_add(dev, self.poll, 4)
        for napi in dev.napi_list:
            napi.enable()
        self.queue: list[SkBuff] = []
        return super().open(dev)

    def stop(self, dev: NetDevice) -> int:
        for napi in dev.napi_list:
            napi.disable()
        for skb in self.queue:
            dev_kfree_skb(skb)
        self.queue = []
        return super().stop(dev)

    def receive(self, skb: SkBuff, dev: NetDevice, length: int) -> None:
        self.queue.append(skb)
        napi_schedule(dev.napi_list[0])

    def poll(self, napi: Any, budget: int) -> int:
        take = self.take(budget)
        batch, self.queue = self.queue[:take], self.queue[take:]
        for skb in batch:
            dev = skb.dev
            length = skb.len
            skb.protocol = eth_type_trans(skb, dev)
            dev.stats.rx_packets += 1
            dev.stats.rx_bytes += length
            netif_receive_skb(skb)
        if len(batch) < budget and self.complete:
            napi_complete_done(napi, len(batch))
        return len(batch)

    def take(self, budget: int) -> int:
        return budget


class NapiNoCompleteOps(NapiEchoOps):
    complete = False  # returns less than the budget without napi_complete_done


class NapiOverBudgetOps(NapiEchoOps):
    def take(self, budget: int) -> int:
        return len(self.queue)  # everything queued, whatever the budget


class NapiCompleteAtBudgetOps(NapiEchoOps):
    def poll(self, napi: Any, budget: int) -> int:
        done = super().poll(napi, budget)
        if done == budget:
            napi_complete_done(napi, done)  # the whole budget used, and completed all the same
        return done


class NapiGroOps(NapiEchoOps):
    """Hands up through GRO, as a NAPI driver should."""

    def poll(self, napi: Any, budget: int) -> int:
        batch, self.queue = self.queue[:budget], self.queue[budget:]
        for skb in batch:
            dev = skb.dev
            dev.stats.rx_packets += 1
            dev.stats.rx_bytes += skb.len
            skb.protocol = eth_type_trans(skb, dev)
            self.hand_up(napi, skb)
        if len(batch) < budget:
            napi_complete_done(napi, len(batch))
        return len(batch)

    def hand_up(self, napi: Any, skb: SkBuff) -> None:
        napi_gro_receive(napi, skb)


class NapiGroTwiceOps(NapiGroOps):
    def hand_up(self, napi: Any, skb: SkBuff) -> None:
        if napi_gro_receive(napi, skb) == GRO_HELD:
            netif_receive_skb(skb)  # "GRO did not take it": it did, and hands it up itself


class NoReturnOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        super().start_xmit(skb, dev)  # forgets to return its NETDEV_TX_OK


class ReturnsTrueOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        super().start_xmit(skb, dev)
        return True  # "it worked"


class ReturnsErrnoOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        super().start_xmit(skb, dev)
        return -105  # -ENOBUFS, as an ndo that returns an errno would


class DoubleCountOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.stats.tx_packets += 1  # counted here and again below
        return super().start_xmit(skb, dev)


class OpenRaisesOps(GoodOps):
    def open(self, dev: NetDevice) -> int:
        raise RuntimeError("no hardware")


class OpenFailsOps(GoodOps):
    def open(self, dev: NetDevice) -> int:
        return -19  # -ENODEV, without raising


class StopRaisesOps(GoodOps):
    def stop(self, dev: NetDevice) -> int:
        raise RuntimeError("stuck DMA")


class NoStartOps(GoodOps):
    def open(self, dev: NetDevice) -> int:
        return 0  # forgets netif_start_queue


class StuckOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        netif_stop_queue(dev)  # ring "full", never woken again
        return super().start_xmit(skb, dev)


class NoBytesOps(GoodOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.stats.tx_packets += 1
        dev_kfree_skb(skb)
        return NETDEV_TX_OK


class SmallMtuOps(GoodOps):
    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        if new_mtu > 1500:
            return -22  # but max_mtu says 9000
        return super().change_mtu(dev, new_mtu)


class TimeoutRaisesOps(GoodOps):
    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        raise RuntimeError("reset failed")


class TimerOps(GoodOps):
    def open(self, dev: NetDevice) -> int:
        dev.host.loop.call_later(3600, lambda: None)  # type: ignore[union-attr]  # never cancelled
        return super().open(dev)


class TxDoneRaisesOps(GoodOps):
    """Completes transmissions from a timer ("TX-done interrupt") that raises."""

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.host.loop.call_later(0.001, self.tx_done, dev, skb)  # type: ignore[union-attr]
        return NETDEV_TX_OK

    def tx_done(self, dev: NetDevice, skb: SkBuff) -> None:
        raise RuntimeError("TX-done handler bug")


class LeakOps(GoodOps):
    """Counts every frame but keeps the skb: the accounting balances, the memory leaks."""

    kept: list[SkBuff] = []

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len
        self.kept.append(skb)  # never dev_kfree_skb
        return NETDEV_TX_OK


class RingOps(GoodOps):
    """A TX ring completed by a timer "interrupt", LDD style: count and free on completion."""

    delay = 0.001

    def open(self, dev: NetDevice) -> int:
        dev.priv = {"ring": [], "timer": None}
        return super().open(dev)

    def stop(self, dev: NetDevice) -> int:
        netif_stop_queue(dev)
        ring = dev.priv["ring"]
        if dev.priv["timer"] is not None:
            dev.priv["timer"].cancel()
            dev.priv["timer"] = None
        self.release_ring(dev, ring)
        ring.clear()
        return 0

    def release_ring(self, dev: NetDevice, ring: list[SkBuff]) -> None:
        for skb in ring:  # what the hardware never sent: dropped, counted and freed
            dev.stats.tx_dropped += 1
            dev_kfree_skb(skb)

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.priv["ring"].append(skb)
        if dev.priv["timer"] is None:
            dev.priv["timer"] = dev.host.loop.call_later(self.delay, self.tx_done, dev)  # type: ignore[union-attr]
        return NETDEV_TX_OK

    def tx_done(self, dev: NetDevice) -> None:
        dev.priv["timer"] = None
        ring = dev.priv["ring"]
        while ring:
            skb = ring.pop(0)
            dev.stats.tx_packets += 1
            dev.stats.tx_bytes += skb.len
            dev_kfree_skb(skb)


class RingLeakOnStopOps(RingOps):
    """stop() counts what is left in the ring as dropped but forgets to free it."""

    def release_ring(self, dev: NetDevice, ring: list[SkBuff]) -> None:
        dev.stats.tx_dropped += len(ring)


class LazyReclaimOps(GoodOps):
    """Counts at xmit and frees the previous skb on the next one (virtio-net's old way)."""

    def open(self, dev: NetDevice) -> int:
        dev.priv = []
        return super().open(dev)

    def stop(self, dev: NetDevice) -> int:
        while dev.priv:
            dev_kfree_skb(dev.priv.pop())
        return super().stop(dev)

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        while dev.priv:
            dev_kfree_skb(dev.priv.pop())
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len
        dev.priv.append(skb)
        return NETDEV_TX_OK


class BatchOps(RingOps):
    """Completes only once four frames are in the ring: the last ones wait forever."""

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.priv["ring"].append(skb)
        if len(dev.priv["ring"]) >= 4:
            self.tx_done(dev)
        return NETDEV_TX_OK


class SlowOps(RingOps):
    """One frame in flight at a time, 10 ms each: correct, but slower than the kit waits."""

    delay = 0.01

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        netif_stop_queue(dev)
        return super().start_xmit(skb, dev)

    def tx_done(self, dev: NetDevice) -> None:
        super().tx_done(dev)
        if netif_running(dev):
            netif_wake_queue(dev)


class TxBytesTwiceOps(RingOps):
    """Counts tx_bytes when the skb is queued and again when the TX-done "interrupt" frees it."""

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.stats.tx_bytes += skb.len
        return super().start_xmit(skb, dev)


class RxBytesTwiceOps(EchoOps):
    """Counts each received frame's bytes twice (before and after eth_type_trans)."""

    def receive(self, skb: SkBuff, dev: NetDevice, length: int) -> None:
        dev.stats.rx_bytes += skb.len
        super().receive(skb, dev, length)


class NapiNoEnableOps(NapiEchoOps):
    """Adds its NAPI context but never enables it: nothing is ever polled (received)."""

    def open(self, dev: NetDevice) -> int:
        if not dev.napi_list:
            netif_napi_add(dev, self.poll, 4)
        self.queue = []
        netif_start_queue(dev)
        return 0


class NapiAlwaysBudgetOps(NapiEchoOps):
    """Claims its whole budget from every poll, whatever it received: polled forever."""

    def poll(self, napi: Any, budget: int) -> int:
        self.complete = False
        super().poll(napi, budget)
        return budget


class ResetStatsOnOpenOps(GoodOps):
    """Starts every open with fresh counters: ip -s link loses its history on down/up."""

    def open(self, dev: NetDevice) -> int:
        dev.stats = NetDeviceStats()
        return super().open(dev)


class NapiAddedOnEveryOpenOps(NapiEchoOps):
    """Adds a NAPI context in every open and never deletes it: napi_list grows per up."""

    def open(self, dev: NetDevice) -> int:
        netif_napi_add(dev, self.poll, 4)
        return super().open(dev)


class LinkYesOps(EthtoolOps):
    """get_link answers in words: "no" would read as link detected."""

    def get_link(self, dev: NetDevice) -> Any:
        return "yes"


class LinkYes(Good):
    name = "kitlinkyes"
    summary = "get_link returns a string"

    def init(self) -> None:
        super().init()
        for dev in self.devices:
            dev.ethtool_ops = LinkYesOps()


class LeakyThread(Good):
    name = "kitthread"
    summary = "starts a thread it never stops"
    stop_event = threading.Event()

    def init(self) -> None:
        super().init()
        threading.Thread(target=self.stop_event.wait, name="kit-leak", daemon=True).start()


class LeakyFd(Good):
    name = "kitfd"
    summary = "opens a pipe it never closes"
    leaked: list[int] = []

    def init(self) -> None:
        super().init()
        self.leaked.extend(os.pipe())


class NoExit(Good):
    name = "kitnoexit"
    summary = "exit() forgets to unregister"

    def exit(self) -> None:
        pass


class SelfRegister(Good):
    name = "kitselfreg"
    summary = "registers behind Driver.register's back"

    def init(self) -> None:
        dev = alloc_netdev(None, "kit%d", ether_setup)
        dev.dev_addr = b"\x02\x00\x00\x00\x4b\x09"
        dev.netdev_ops = GoodOps()
        dev.driver = self
        self.host.register_netdev(dev)


class LateRegister(Good):
    name = "kitlatereg"
    summary = "registers a second device from a callback after init, with no owner"

    def init(self) -> None:
        super().init()
        dev = alloc_netdev(None, "kit%d", ether_setup)
        dev.dev_addr = b"\x02\x00\x00\x00\x4b\x0a"
        dev.netdev_ops = GoodOps()
        # Outside init nothing adopts it: neither exit() nor the daemon's unload would find it.
        self.host.loop.call_soon(register_netdev, dev, self.host)


class ZeroMac(Good):
    name = "kitzeromac"
    summary = "keeps the all-zero MAC ether_setup leaves"

    def init(self) -> None:
        super().init()
        for dev in self.devices:
            dev.dev_addr = bytes(6)


BadParams = _bug(
    "kitbadparams",
    parameters=(
        Param("count", int, 1, "number of interfaces", min=1),
        Param("speed", int, "fast", "link speed"),  # default of the wrong type
        Param("quiet", bool, False, ""),  # no help
        Param("mode", str, "x", "mode", choices=("a", "b")),  # default not a choice
    ),
)

# A stray non-Param in ``parameters`` (a name where a Param belongs): reported, not an
# AttributeError from reading its ``.name``.
NotAParam = _bug("kitnotaparam", parameters=(Param("count", int, 1, "interfaces", min=1), "mtu"))


@pytest.fixture(autouse=True)
def _release_leaks() -> Any:
    yield
    LeakyThread.stop_event.set()
    LeakyThread.stop_event = threading.Event()
    while LeakyFd.leaked:
        os.close(LeakyFd.leaked.pop())


def check(cls: type[Driver], test: str, **params: Any) -> None:
    """Run one conformance test of the kit on ``cls`` (not installed: driver_class)."""
    kit = DriverConformance()
    h = DriverHarness(cls.name, params, driver_class=cls, settle_timeout=0.5)
    try:
        getattr(kit, test)(h)
    finally:
        h.close()


KIT_TESTS = sorted(n for n in dir(DriverConformance) if n.startswith("test_"))


@pytest.mark.parametrize("test", KIT_TESTS)
@pytest.mark.parametrize("count", [1, 2])
def test_a_correct_driver_passes_every_check(test: str, count: int) -> None:
    check(Good, test, count=str(count))


@pytest.mark.parametrize("test", KIT_TESTS)
def test_a_correct_gro_driver_passes_every_check(test: str) -> None:
    check(_bug("kitgro", NapiGroOps), test)


def test_the_kit_traffic_makes_gro_merge() -> None:
    """The kit's frames include a TCP flow GRO merges: a driver's use of napi_gro_receive
    is exercised, not only its netif_receive_skb path."""
    merged: list[int] = []
    h = DriverHarness("kitgro", {}, driver_class=_bug("kitgro", NapiGroOps), settle_timeout=0.5)
    try:
        _drv, devs = DriverConformance()._loaded(h)
        orig = h.host.napi_gro_receive

        def spy(napi: Any, skb: SkBuff) -> int:
            ret = orig(napi, skb)
            merged.append(ret)
            return ret

        h.host.napi_gro_receive = spy  # type: ignore[method-assign]
        h.traffic(devs, 18)
        h.assert_rx_counted(devs)
    finally:
        h.close()
    assert GRO_HELD in merged and GRO_MERGED in merged, merged


@pytest.mark.parametrize(
    ("cls", "test", "message"),
    [
        (_bug("kituncounted", UncountedOps), "test_every_skb_accounted", "accounted for"),
        (_bug("kitdoublefree", DoubleFreeOps), "test_every_skb_accounted", "double free"),
        (_bug("kituaf", UseAfterFreeOps), "test_every_skb_accounted",
         r"used after free \(freed at .*test_conformance.py:\d+ in start_xmit\)"),
        (_bug("kitbusyawake", BusyAwakeOps), "test_every_skb_accounted",
         "BUSY without stopping the queue"),
        (_bug("kitbusyfreed", BusyFreedOps), "test_every_skb_accounted",
         "BUSY after freeing the skb"),
        # A check whose own assertion is only the fault's consequence (the device taken
        # down) reports the fault, at once, not a bare assert after waiting for nothing.
        (_bug("kitbusyfreed", BusyFreedOps), "test_carrier", "BUSY after freeing the skb"),
        (_bug("kitnoreturn", NoReturnOps), "test_every_skb_accounted",
         r"kit0: start_xmit returned None \(a missing return statement\?\): return NETDEV_TX_OK"),
        (_bug("kitreturnstrue", ReturnsTrueOps), "test_every_skb_accounted",
         r"start_xmit returned True: return NETDEV_TX_OK .* or NETDEV_TX_BUSY"),
        (_bug("kitreturnserrno", ReturnsErrnoOps), "test_every_skb_accounted",
         "start_xmit returned -105: return NETDEV_TX_OK"),
        (_bug("kitdoublecount", DoubleCountOps), "test_queue_stop_and_wake",
         "kit0: the driver counted 3 skbs more .* than start_xmit accepted"),
        (_bug("kitopenraises", OpenRaisesOps), "test_open_stop_cycles",
         "kit0: open failed: EIO because the driver raised:\n  kit0: open raised RuntimeError: "
         "no hardware"),
        (_bug("kitopenfails", OpenFailsOps), "test_carrier",
         r"kit0: open failed: ENODEV \(the driver's validate_addr or open returned -19: return 0 on "
         r"success\)"),
        (_bug("kitstopraises", StopRaisesOps), "test_open_stop_cycles",
         "kit0: stop failed: EIO because the driver raised:\n  kit0: stop raised RuntimeError: "
         "stuck DMA"),
        (_bug("kitnostart", NoStartOps), "test_open_stop_cycles", "netif_start_queue"),
        (_bug("kitnotypetrans", NoTypeTransOps), "test_receive_contract",
         r"kit0: netif_rx of an skb with protocol 0: call skb.protocol = eth_type_trans"),
        (_bug("kitnotpulled", NotPulledOps), "test_receive_contract",
         "Ethernet header was not pulled"),
        (_bug("kitrxuncounted", RxUncountedOps), "test_receive_contract",
         r"kit0: the core delivered \d+ frames the driver handed up, but rx_packets is 0"),
        (_bug("kitrxafterfree", RxAfterFreeOps), "test_receive_contract",
         "kit0: netif_rx of a freed skb"),
        (_bug("kitgrotwice", NapiGroTwiceOps), "test_receive_contract",
         "kit0: netif_receive_skb of an skb GRO still holds: napi_gro_receive took it"),
        (_bug("kitnapistuck", NapiNoCompleteOps), "test_receive_contract",
         "without calling napi_complete_done"),
        (_bug("kitnapiover", NapiOverBudgetOps), "test_receive_contract",
         "a NAPI poll received more than its budget"),
        (_bug("kitnapiatbudget", NapiCompleteAtBudgetOps), "test_receive_contract",
         "called napi_complete_done and still returned its whole budget"),
        (_bug("kitstuck", StuckOps), "test_every_skb_accounted", "still pending in the qdisc"),
        (_bug("kitnobytes", NoBytesOps), "test_stats_consistency", "tx_bytes 0 < tx_packets"),
        (_bug("kitsmallmtu", SmallMtuOps), "test_mtu_limits", r"change_mtu\(\d+\) refused"),
        (_bug("kittimeout", TimeoutRaisesOps), "test_watchdog", "tx_timeout raised RuntimeError"),
        (_bug("kittimer", TimerOps), "test_clean_unload", "timers left scheduled"),
        (_bug("kittxdone", TxDoneRaisesOps), "test_every_skb_accounted",
         r"kit0: timer .*TxDoneRaisesOps.tx_done raised RuntimeError: TX-done handler bug"),
        (_bug("kitleak", LeakOps), "test_open_stop_cycles", "counting an skb is not freeing it"),
        (_bug("kitleak", LeakOps), "test_clean_unload", "still held by the driver after exit"),
        (_bug("kitringleak", RingLeakOnStopOps), "test_open_stop_cycles",
         "free what is left in your TX ring in stop"),
        (_bug("kitbatch", BatchOps), "test_queue_stop_and_wake",
         "3 skbs accepted by start_xmit are not accounted for"),
        (_bug("kitslow", SlowOps), "test_every_skb_accounted", "still progressing"),
        (_bug("kittxbytestwice", TxBytesTwiceOps), "test_stats_consistency",
         r"kit0: tx_bytes grew by \d+ while start_xmit accepted \d+ skbs of \d+ bytes"),
        (_bug("kitrxbytestwice", RxBytesTwiceOps), "test_stats_consistency",
         r"kit0: rx_bytes grew by \d+ while the driver handed up \d+ frames of \d+ bytes"),
        (_bug("kitnapinoenable", NapiNoEnableOps), "test_receive_contract",
         "kit0: a NAPI context is not enabled while the device is up: call napi_enable"),
        (_bug("kitnapibudget", NapiAlwaysBudgetOps), "test_receive_contract",
         "kit0: a NAPI poll returns its whole budget .* polled again and again"),
        (_bug("kitresetstats", ResetStatsOnOpenOps), "test_open_stop_cycles",
         r"kit0: counters went back across stop and open \(tx_packets \d+ -> 0"),
        (_bug("kitnapiperopen", NapiAddedOnEveryOpenOps), "test_open_stop_cycles",
         r"kit0: open adds NAPI contexts on every up and stop keeps them \(1 before this open, 2 "
         r"after\): call netif_napi_add once, in probe/init, or netif_napi_del them in stop"),
        (LinkYes, "test_ethtool_ops", r"kit0: get_link returned 'yes', not a bool"),
        (LeakyThread, "test_clean_unload", "threads started by the driver still run"),
        (LeakyFd, "test_clean_unload", "file descriptors opened by the driver"),
        (NoExit, "test_registration_and_naming", "still registered after exit"),
        (NoExit, "test_clean_unload", "still registered after exit"),
        (SelfRegister, "test_registration_and_naming", "through Driver.register"),
        (LateRegister, "test_registration_and_naming", "through Driver.register"),
        (LateRegister, "test_clean_unload", "still registered after exit"),
        (ZeroMac, "test_registration_and_naming", "not a valid unicast MAC"),
        (BadParams, "test_parameters_declared_and_documented", "speed: default 'fast' is not an int"),
        (BadParams, "test_parameters_declared_and_documented", "quiet: no help text"),
        (BadParams, "test_parameters_declared_and_documented", "mode: default 'x' is not one of"),
        (NotAParam, "test_parameters_declared_and_documented", "'mtu' is not a netdrv_core.Param"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("test_") else None,
)  # fmt: skip
def test_the_kit_catches_the_bug(cls: type[Driver], test: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(cls, test)


def test_an_invalid_original_mac_fails_only_where_it_is_named() -> None:
    """The all-zero MAC is reported by the registration test (above); the MAC test does not
    fail too, with a bare assert, trying to set that invalid address back."""
    check(ZeroMac, "test_mac_address_and_rx_mode")


@pytest.mark.parametrize("test", KIT_TESTS)
@pytest.mark.parametrize("ops", [EchoOps, NapiEchoOps], ids=lambda o: o.__name__)
def test_a_driver_that_receives_correctly_passes_every_check(
    test: str, ops: type[NetDeviceOps]
) -> None:
    check(_bug(f"kit{ops.__name__.lower()[:8]}", ops), test, count="2")


@pytest.mark.parametrize("test", KIT_TESTS)
@pytest.mark.parametrize("ops", [RingOps, LazyReclaimOps], ids=lambda o: o.__name__)
def test_deferred_tx_completion_passes_every_check(test: str, ops: type[NetDeviceOps]) -> None:
    """Completion from a timer, or lazy reclaim on the next frame, is not a leak."""
    check(_bug(f"kit{ops.__name__.lower()[:8]}", ops), test, count="2")


class LddStyle(Good):
    """Registers like LDD's snull: bare register_netdev inside init (documented as valid)."""

    name = "kitldd"
    summary = "LDD-style registration"

    def init(self) -> None:
        self.mine: list[NetDevice] = []
        for i in range(self.params["count"]):
            dev = alloc_netdev(None, "kit%d", ether_setup)
            dev.dev_addr = bytes([2, 0, 0, 0, 0x4C, i + 1])
            dev.max_mtu = 9000
            dev.netdev_ops = self.ops_class()
            register_netdev(dev)
            self.mine.append(dev)

    def exit(self) -> None:
        for dev in self.mine:
            unregister_netdev(dev)


class LddStyleDefaultExit(LddStyle):
    """The same, relying on Driver.exit: the adopted devices are in self.devices."""

    name = "kitlddexit"

    def exit(self) -> None:
        Driver.exit(self)


@pytest.mark.parametrize("test", KIT_TESTS)
@pytest.mark.parametrize("cls", [LddStyle, LddStyleDefaultExit], ids=lambda c: c.name)
@pytest.mark.parametrize("count", [1, 2])
def test_an_ldd_style_driver_passes_every_check(cls: type[Driver], test: str, count: int) -> None:
    check(cls, test, count=str(count))


class FailingLdd(LddStyle):
    name = "kitlddfail"
    summary = "LDD-style init that fails after registering"

    def init(self) -> None:
        super().init()
        raise RuntimeError("probe failed")

    def exit(self) -> None:
        pass  # a sloppy exit: the harness must still remove the adopted devices


def test_a_failed_ldd_style_init_leaves_nothing_registered() -> None:
    h = DriverHarness(FailingLdd.name, {"count": "2"}, driver_class=FailingLdd)
    try:
        with pytest.raises(RuntimeError, match="probe failed"):
            h.load()
        assert not h.host.devices
    finally:
        h.close()


def test_a_clean_name_clash_error_is_accepted_and_leaves_nothing() -> None:
    class Fixed(Good):
        name = "kitfixed"
        summary = "fixed interface names"

        def init(self) -> None:
            for n in ("kfix0", "kfix1"):
                dev = alloc_netdev(None, n, ether_setup)
                dev.dev_addr = b"\x02\x00\x00\x00\x4b\x10"
                dev.netdev_ops = GoodOps()
                self.register(dev)

    check(Fixed, "test_name_clash_resolved_or_refused")


def test_default_frames_fit_the_device() -> None:
    from netdrv_core.checksum import ip_fast_csum
    from netdrv_core.linktypes import ptp_setup

    eth = alloc_netdev(None, "e%d", ether_setup)
    eth.dev_addr = b"\x02\x00\x00\x00\x00\x07"
    frames = default_frames(eth, 1)
    assert max(len(f) for f in frames) == 14 + eth.mtu
    assert all(f[6:12] == eth.dev_addr for f in frames)
    ptp = alloc_netdev(None, "p%d", ptp_setup)
    packets = default_frames(ptp, 0)
    assert max(len(p) for p in packets) == ptp.mtu and all(p[0] >> 4 == 4 for p in packets)
    for p in packets:
        assert ip_fast_csum(p[:20]) == 0
    udp = ipv4_udp(b"\xc6\x12\x00\x01", b"\xc6\x12\x00\x02", 64)
    assert len(udp) == 64 and udp[9] == 17


# -- the pytest option ---------------------------------------------------------------------------
def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def test_option_runs_the_kit_on_named_drivers(tmp_path: Path) -> None:
    res = _pytest(tmp_path, "--netdrv-conformance=loopback,snull", "-k", "accounted or clean")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "4 passed" in res.stdout, res.stdout
    listing = _pytest(tmp_path, "--netdrv-conformance=loopback", "--collect-only")
    ids = [ln for ln in listing.stdout.splitlines() if ln.startswith("netdrv-conformance::")]
    assert len(ids) == len(KIT_TESTS) and all(i.endswith("[loopback]") for i in ids), ids


def test_option_fails_on_a_driver_that_cannot_load(tmp_path: Path) -> None:
    """A driver no plugin offers is the command line's error: one usage error (not one per
    check), whose message says it all — no traceback through netdrv's plugin manager."""
    res = _pytest(tmp_path, "--netdrv-conformance=no_such_driver", "-k", "loads")
    assert res.returncode == pytest.ExitCode.USAGE_ERROR, res.stdout + res.stderr
    assert res.stderr.count("--netdrv-conformance: unknown driver 'no_such_driver'") == 1
    assert "plugins.py" not in res.stdout + res.stderr, res.stdout + res.stderr


def test_a_subclass_naming_a_driver_not_installed_says_how_to_install_it(
    tmp_path: Path,
) -> None:
    """The kit in a project fresh from ``netdrv new-driver``, run before ``pip install -e .``."""
    (tmp_path / "test_kit.py").write_text(
        "from netdrv_core.testing.conformance import DriverConformance\n\n\n"
        "class TestConformance(DriverConformance):\n    driver_name = 'kitnotinstalled'\n"
    )
    res = _pytest(tmp_path, "-k", "loads")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "cannot load driver 'kitnotinstalled': unknown driver" in res.stdout, res.stdout
    assert "pip install -e ." in res.stdout and "driver_class" in res.stdout, res.stdout


def test_without_the_option_nothing_is_added(tmp_path: Path) -> None:
    res = _pytest(tmp_path)
    assert res.returncode == 5 and "no tests ran" in res.stdout, res.stdout + res.stderr


def test_a_driver_module_that_does_not_import_is_reported_with_its_line(tmp_path: Path) -> None:
    """The kit shows a plugin's load error without netdrv's traceback: the message then says
    where the driver's code failed, or the author is left to guess which import it was."""
    pkg = tmp_path / "src" / "netdrv_kitbroken"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        '"""kitbroken: a driver whose module does not import."""\n\n'
        "from netdrv_core import hookimpl\n\n\n@hookimpl\ndef netdrv_drivers():\n"
        "    from .driver import Broken\n\n    return [Broken]\n"
    )
    (pkg / "driver.py").write_text(
        '"""The driver."""\n\nfrom netdrv_core import Driver, netif_rx_ni\n'
    )
    (tmp_path / "test_kit.py").write_text(
        "from netdrv_core.testing.conformance import DriverConformance\n\n\n"
        "class TestConformance(DriverConformance):\n    driver_name = 'kitbroken'\n"
    )
    # Installed as pip would: an entry point in the metadata of a distribution on the path.
    dist = tmp_path / "src" / "netdrv_kitbroken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: netdrv-kitbroken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[netdrv.drivers]\nkitbroken = netdrv_kitbroken\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(tmp_path / "src"), env.get("PYTHONPATH")])
    )
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "loads"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    assert "ImportError: cannot import name 'netif_rx_ni'" in res.stdout, res.stdout
    assert f"(at {pkg / 'driver.py'}:3 in <module>)" in res.stdout, res.stdout
    # The option's suite has no class of the author's to set driver_class on.
    (tmp_path / "empty").mkdir()
    opt = _pytest(tmp_path / "empty", "--netdrv-conformance=no_such_driver", "-k", "loads")
    out = opt.stdout + opt.stderr  # a usage error
    assert "pip install -e ." in out and "driver_class" not in out, out
