"""The conformance kit's Byte Queue Limits check: a driver that reports its TX ring's bytes
(netdev_sent_queue / netdev_completed_queue / netdev_reset_queue) correctly passes every
check; one that completes bytes twice, never completes them, or forgets them at stop fails
with a message that says so.  Drivers without BQL are covered by test_conformance.py."""

from __future__ import annotations

import pytest
from test_conformance import KIT_TESTS, RingOps, _bug, check

from netdrv_core import (
    IFF_UP,
    NetDevice,
    SkBuff,
    netdev_completed_queue,
    netdev_reset_queue,
    netdev_sent_queue,
    netif_stop_queue,
    netif_wake_queue,
)
from netdrv_core.testing.conformance import DriverHarness


class BqlRingOps(RingOps):
    """RingOps (a TX ring completed by a timer) with Byte Queue Limits, as e1000e does."""

    def stop(self, dev: NetDevice) -> int:
        ret = super().stop(dev)  # the ring is freed: what was on it is dropped
        netdev_reset_queue(dev)
        return ret

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        netdev_sent_queue(dev, skb.len)
        return super().start_xmit(skb, dev)

    def tx_done(self, dev: NetDevice) -> None:
        ring = dev.priv["ring"]
        pkts, nbytes = len(ring), sum(skb.len for skb in ring)
        super().tx_done(dev)
        self.completed(dev, pkts, nbytes)

    def completed(self, dev: NetDevice, pkts: int, nbytes: int) -> None:
        netdev_completed_queue(dev, pkts, nbytes)


class CompletesTwiceOps(BqlRingOps):
    def completed(self, dev: NetDevice, pkts: int, nbytes: int) -> None:
        netdev_completed_queue(dev, pkts, nbytes)
        netdev_completed_queue(dev, pkts, nbytes)


class NeverCompletesOps(BqlRingOps):
    def completed(self, dev: NetDevice, pkts: int, nbytes: int) -> None:
        pass


class NoResetOps(BqlRingOps):
    def stop(self, dev: NetDevice) -> int:
        return RingOps.stop(self, dev)


class LinkLaterOps(BqlRingOps):
    """Sends once its link is up, a little after open (a PHY negotiating): the driver's
    stop, not BQL's, holds the queue right after open."""

    def open(self, dev: NetDevice) -> int:
        ret = super().open(dev)
        netif_stop_queue(dev)
        dev.host.loop.call_later(0.02, netif_wake_queue, dev)  # type: ignore[union-attr]
        return ret


BqlGood = _bug("kitbql", BqlRingOps)


@pytest.mark.parametrize("test", KIT_TESTS)
def test_a_correct_bql_driver_passes_every_check(test: str) -> None:
    check(BqlGood, test, count="2")


def test_a_queue_the_driver_starts_after_open_is_no_bql_failure() -> None:
    """The reopen check blames BQL only for BQL's own stop (QUEUE_STATE_STACK_XOFF)."""
    check(_bug("kitlate", LinkLaterOps), "test_byte_queue_limits")


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (CompletesTwiceOps,
         r"DqlError: kit0: netdev_completed_queue: \d+ bytes completed but only 0 in flight .*"
         r"completes them twice"),
        (NeverCompletesOps, r"frames still pending in the qdisc .* here byte queue limits "
                            r"stopped it \(\d+ bytes in flight"),
        (NoResetOps, r"kit0: \d+ bytes reported to netdev_sent_queue are still in flight after "
                     r"stop .* call netdev_reset_queue in stop\(\)"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)  # fmt: skip
def test_the_kit_catches_the_bql_bug(ops: type[BqlRingOps], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(_bug(f"kit{ops.__name__.lower()[:8]}", ops), "test_byte_queue_limits")


@pytest.mark.parametrize("ops", [BqlRingOps, NoResetOps], ids=lambda o: o.__name__)
def test_stop_in_flight_closes_with_bytes_in_flight_and_checks_them(ops: type[BqlRingOps]) -> None:
    """DriverHarness.stop_in_flight, the open/stop and BQL checks' `ip link set DEV down`
    under load: the devices end down with nothing in flight, or it says what is."""
    cls = _bug(f"kit{ops.__name__.lower()[:8]}", ops)
    h = DriverHarness(cls.name, {"count": "2"}, driver_class=cls, settle_timeout=0.5)
    try:
        devs = h.owned(h.load())
        if ops is NoResetOps:
            with pytest.raises(
                AssertionError, match=r"kit0: \d+ bytes .* still in flight after stop"
            ):
                h.stop_in_flight(devs)
            return
        h.stop_in_flight(devs)
        assert [d.flags & IFF_UP for d in devs] == [0, 0]
        assert all(d.core_stats.tx_submitted for d in devs)  # on the ring when stop() came
    finally:
        h.close()
