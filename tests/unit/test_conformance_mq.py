"""The conformance kit on devices with several TX queues: a driver with one TX ring per queue,
each stopped and woken on its own (``netif_stop_subqueue`` / ``netif_wake_subqueue``) and with
Byte Queue Limits per queue, as igb does, passes every check; one that leaves a subqueue
stopped, forgets the bytes of queue 0 only at stop, drops a queue's frames uncounted or
returns BUSY having stopped another queue fails with a message that says so."""

from __future__ import annotations

import pytest
from test_conformance import KIT_TESTS, Good, check

from netdrv_core import (
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_netdev_mqs,
    dev_kfree_skb,
    ether_setup,
    netdev_get_tx_queue,
    netdev_reset_queue,
    netdev_tx_completed_queue,
    netdev_tx_reset_queue,
    netdev_tx_sent_queue,
    netif_running,
    netif_stop_queue,
    netif_stop_subqueue,
    netif_tx_disable,
    netif_tx_queue_stopped,
    netif_tx_start_all_queues,
    netif_wake_queue,
    netif_wake_subqueue,
    skb_get_queue_mapping,
)

QUEUES = 4


class MqRingOps(NetDeviceOps):
    """A TX ring per queue, completed by a timer "interrupt"; a full ring stops its queue
    only, the completion wakes it.  ``bql``: bytes reported per queue."""

    ring_size = 2  # small: the kit's bursts fill it, so stop and wake are exercised
    delay = 0.001
    bql = True

    def open(self, dev: NetDevice) -> int:
        dev.priv = {"rings": {q: [] for q in range(dev.num_tx_queues)}, "timer": None}
        netif_tx_start_all_queues(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        netif_tx_disable(dev)
        if dev.priv["timer"] is not None:
            dev.priv["timer"].cancel()
            dev.priv["timer"] = None
        for q, ring in dev.priv["rings"].items():
            for skb in ring:  # never sent: dropped, counted and freed
                dev.stats.tx_dropped += 1
                dev_kfree_skb(skb)
            ring.clear()
            self.reset(dev, q)
        return 0

    def reset(self, dev: NetDevice, q: int) -> None:
        if self.bql:
            netdev_tx_reset_queue(netdev_get_tx_queue(dev, q))

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        q = skb_get_queue_mapping(skb)
        ring = dev.priv["rings"][q]
        if self.refuse(dev, q, skb):
            return NETDEV_TX_BUSY
        ring.append(skb)
        if self.bql:
            netdev_tx_sent_queue(netdev_get_tx_queue(dev, q), skb.len)
        if len(ring) >= self.ring_size:
            netif_stop_subqueue(dev, q)
        if dev.priv["timer"] is None:
            dev.priv["timer"] = dev.host.loop.call_later(self.delay, self.tx_done, dev)  # type: ignore[union-attr]
        return NETDEV_TX_OK

    def refuse(self, dev: NetDevice, q: int, skb: SkBuff) -> bool:
        return False

    def tx_done(self, dev: NetDevice) -> None:
        dev.priv["timer"] = None
        for q, ring in dev.priv["rings"].items():
            pkts, nbytes = len(ring), sum(skb.len for skb in ring)
            for skb in ring:
                self.count(dev, q, skb)
                dev_kfree_skb(skb)
            ring.clear()
            if self.bql:
                self.completed(dev, q, pkts, nbytes)
            if netif_running(dev) and netif_tx_queue_stopped(netdev_get_tx_queue(dev, q)):
                self.wake(dev, q)

    def count(self, dev: NetDevice, q: int, skb: SkBuff) -> None:
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len

    def completed(self, dev: NetDevice, q: int, pkts: int, nbytes: int) -> None:
        netdev_tx_completed_queue(netdev_get_tx_queue(dev, q), pkts, nbytes)

    def wake(self, dev: NetDevice, q: int) -> None:
        netif_wake_subqueue(dev, q)

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        dev.mtu = new_mtu
        return 0


class MqGood(Good):
    """Good's devices, each with :data:`QUEUES` TX queues."""

    name = "kitmq"
    summary = "a correct multi-queue driver"
    ops_class: type[NetDeviceOps] = MqRingOps

    def init(self) -> None:
        for i in range(self.params["count"]):
            dev = alloc_netdev_mqs(None, "kit%d", ether_setup, QUEUES, QUEUES)
            dev.dev_addr = bytes([2, 0, 0, 0, 0x4D, i + 1])
            dev.max_mtu = 9000
            dev.netdev_ops = self.ops_class()
            self.register(dev)


def _mq(name: str, ops: type[NetDeviceOps]) -> type[MqGood]:
    return type(
        name.title(), (MqGood,), {"name": name, "summary": f"bug: {name}", "ops_class": ops}
    )


class MqPlainOps(MqRingOps):
    bql = False


class WakesQueue0Ops(MqRingOps):
    """Ported from one queue: the completion wakes queue 0 (netif_wake_queue) whichever
    queue it stopped, so a full ring of queue 1 or above stops that queue for good."""

    def wake(self, dev: NetDevice, q: int) -> None:
        netif_wake_queue(dev)


class ResetsQueue0Ops(MqRingOps):
    """stop() forgets the bytes in flight of queue 0 only (netdev_reset_queue)."""

    def reset(self, dev: NetDevice, q: int) -> None:
        if q == 0:
            netdev_reset_queue(dev)


class UncountedQueueOps(MqRingOps):
    """Frees the frames of queues 1 and above without counting them."""

    def count(self, dev: NetDevice, q: int, skb: SkBuff) -> None:
        if q == 0:
            super().count(dev, q, skb)


class NeverCompletesQueueOps(MqRingOps):
    """Counts and frees every frame but reports the completion of queue 0's bytes only."""

    def completed(self, dev: NetDevice, q: int, pkts: int, nbytes: int) -> None:
        if q == 0:
            super().completed(dev, q, pkts, nbytes)


class BusyStopsQueue0Ops(MqRingOps):
    """Returns BUSY for a frame of queue 1 or above once its ring is full, having stopped
    queue 0 (netif_stop_queue) instead of the frame's queue."""

    ring_size = 4  # BUSY before the ring's own stop

    def refuse(self, dev: NetDevice, q: int, skb: SkBuff) -> bool:
        if q and len(dev.priv["rings"][q]) >= 2:
            netif_stop_queue(dev)
            return True
        return False

    def wake(self, dev: NetDevice, q: int) -> None:
        super().wake(dev, q)
        netif_wake_queue(dev)


@pytest.mark.parametrize("test", KIT_TESTS)
@pytest.mark.parametrize("ops", [MqRingOps, MqPlainOps], ids=lambda o: o.__name__)
def test_a_correct_multiqueue_driver_passes_every_check(test: str, ops: type[MqRingOps]) -> None:
    check(_mq(f"kit{ops.__name__.lower()[:6]}", ops), test, count="2")


class RecordingOps(MqRingOps):
    """Records the queue of every frame start_xmit gets."""

    queues: set[int] = set()

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        RecordingOps.queues.add(skb_get_queue_mapping(skb))
        return super().start_xmit(skb, dev)


def test_the_multiqueue_check_sends_on_every_queue() -> None:
    """The kit's flows reach every TX queue of the device (the check is not vacuous)."""
    RecordingOps.queues = set()
    check(_mq("kitrecord", RecordingOps), "test_tx_queues")
    assert RecordingOps.queues == set(range(QUEUES))


def test_a_single_queue_driver_passes_the_multiqueue_check() -> None:
    check(Good, "test_tx_queues")


@pytest.mark.parametrize(
    ("ops", "test", "message"),
    [
        (WakesQueue0Ops, "test_tx_queues",
         r"kit0: \d+ frames still pending in the qdisc of TX queue [123] after the loop went "
         r"idle \(queue stopped\): .*netif_wake_subqueue\(dev, [123]\)"),
        (WakesQueue0Ops, "test_every_skb_accounted", r"still pending in the qdisc of TX queue"),
        (ResetsQueue0Ops, "test_byte_queue_limits",
         r"kit0: \d+ bytes reported to netdev_tx_sent_queue on TX queue [123] are still in "
         r"flight after stop .* netdev_tx_reset_queue\(netdev_get_tx_queue\(dev, i\)\) for "
         r"every queue i in stop\(\)"),
        (ResetsQueue0Ops, "test_open_stop_cycles", r"on TX queue [123] are still in flight"),
        (UncountedQueueOps, "test_tx_queues", r"kit0: the core handed \d+ skbs to start_xmit"),
        (NeverCompletesQueueOps, "test_tx_queues",
         r"pending in the qdisc of TX queue [123] .* here byte queue limits stopped it \(\d+ "
         r"bytes in flight.* netdev_tx_completed_queue on its queue for what the hardware sent"),
        (BusyStopsQueue0Ops, "test_tx_queues",
         r"returned NETDEV_TX_BUSY without stopping the queue \(call "
         r"netif_stop_subqueue\(dev, skb_get_queue_mapping\(skb\)\)"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("test_") else None,
)  # fmt: skip
def test_the_kit_catches_the_multiqueue_bug(ops: type[MqRingOps], test: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(_mq(f"kit{ops.__name__.lower()[:8]}", ops), test)
