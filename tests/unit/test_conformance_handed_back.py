"""The kit's credit for skbs ``start_xmit`` hands back up (``netif_rx``) that the core drops.

Linux's loopback_xmit counts a frame only when ``__netif_rx`` takes it: one the backlog
drops is counted once, by the core, in ``rx_dropped``, and in no tx counter.  The kit
accepts that — per skb, and only for the device that handed it back — without letting a
driver that frees other skbs uncounted pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from netdrv_core import (
    NETDEV_TX_OK,
    Driver,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    eth_type_trans,
    ether_setup,
    netif_rx,
    netif_start_queue,
    netif_stop_queue,
)
from netdrv_core.testing.conformance import DriverHarness


class EchoOps(NetDeviceOps):
    """loopback_xmit: hands every frame back up and counts it only when netif_rx takes it."""

    def open(self, dev: NetDevice) -> int:
        netif_start_queue(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        netif_stop_queue(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        self.echo(skb, dev)
        return NETDEV_TX_OK

    def echo(self, skb: SkBuff, dev: NetDevice) -> None:
        skb.data = skb.mac_header
        eth_type_trans(skb, dev)
        length = skb.len
        if netif_rx(skb) == 0:
            dev.stats.tx_packets += 1
            dev.stats.tx_bytes += length
            dev.stats.rx_packets += 1
            dev.stats.rx_bytes += length
        else:
            self.dropped(dev)

    def dropped(self, dev: NetDevice) -> None:
        """The core dropped the frame handed back and counted it in rx_dropped."""


class CountsDropsOps(EchoOps):
    """Counts its handed-back drops in tx_dropped too (netdrv's loopback before 07d447f)."""

    def dropped(self, dev: NetDevice) -> None:
        dev.stats.tx_dropped += 1


class LossyOps(CountsDropsOps):
    """Also frees every 4th skb without counting it: a real bug the slack must not hide."""

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.priv = (dev.priv or 0) + 1
        if dev.priv % 4 == 0:
            dev_kfree_skb(skb)  # counted nowhere
            return NETDEV_TX_OK
        return super().start_xmit(skb, dev)


class SilentOps(EchoOps):
    """Frees every skb and counts none."""

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev_kfree_skb(skb)
        return NETDEV_TX_OK


class LaterOps(EchoOps):
    """Hands the frames back from a timer ("RX interrupt"), not inside start_xmit."""

    lose = False

    def open(self, dev: NetDevice) -> int:
        dev.priv = {"ring": [], "timer": None}
        return super().open(dev)

    def stop(self, dev: NetDevice) -> int:
        netif_stop_queue(dev)
        if dev.priv["timer"] is not None:
            dev.priv["timer"].cancel()
            dev.priv["timer"] = None
        self.flush(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.priv["ring"].append(skb)
        if dev.priv["timer"] is None:
            dev.priv["timer"] = dev.host.loop.call_later(0.001, self.flush, dev)  # type: ignore[union-attr]
        return NETDEV_TX_OK

    def flush(self, dev: NetDevice) -> None:
        dev.priv["timer"] = None
        ring = dev.priv["ring"]
        while ring:
            skb = ring.pop(0)
            if self.lose and len(ring) % 5 == 0:
                dev_kfree_skb(skb)  # counted nowhere
                continue
            self.echo(skb, dev)


class LaterCountsDropsOps(LaterOps):
    dropped = CountsDropsOps.dropped


class LossyLaterOps(LaterCountsDropsOps):
    """Counts its handed-back drops in tx_dropped and loses every 5th skb uncounted."""

    lose = True


def _driver(ops: type[NetDeviceOps]) -> type[Driver]:
    class D(Driver):
        name = "kitecho"
        summary = "hands its frames back up"

        def init(self) -> None:
            dev = alloc_netdev(None, "kite%d", ether_setup)
            dev.dev_addr = bytes([2, 0, 0, 0, 0x4B, 1])
            dev.netdev_ops = ops()
            self.register(dev)

    return D


@pytest.fixture
def harness() -> Iterator[Any]:
    made: list[DriverHarness] = []

    def make(ops: type[NetDeviceOps]) -> DriverHarness:
        h = DriverHarness("kitecho", driver_class=_driver(ops), settle_timeout=0.5)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def _send(h: DriverHarness, ops: type[NetDeviceOps], n: int, backlog: int) -> NetDevice:
    """Load a driver with ``ops``, send ``n`` frames with a backlog of ``backlog`` frames."""
    drv = h.load()
    (dev,) = h.owned(drv)
    h.up(dev)
    h.host.netdev_max_backlog = backlog
    frames = h.frames(dev)
    for i in range(n):
        h.xmit(dev, frames[i % len(frames)])
    h.settle_accounted([dev])
    return dev


@pytest.mark.parametrize(
    "ops", [EchoOps, CountsDropsOps, LaterOps, LaterCountsDropsOps], ids=lambda o: o.__name__
)
def test_handed_back_drops_counted_once_or_twice_pass(harness: Any, ops: Any) -> None:
    """A drop of the core's is counted by the driver (tx_dropped) or not (loopback_xmit)."""
    h = harness(ops)
    dev = _send(h, ops, 30, backlog=2)
    assert dev.core_stats.rx_backlog_drops > 0  # the case at hand happened
    h.assert_accounted([dev])


def test_a_driver_that_counts_its_handed_back_drops_gets_no_credit_for_lost_skbs(
    harness: Any,
) -> None:
    """kit_slack: 40 submitted, 30 counted (its backlog drops included), 10 freed uncounted.
    The credit is for the skbs handed back that the driver did not count, not for any."""
    h = harness(LossyOps)
    dev = _send(h, LossyOps, 40, backlog=4)
    s = dev.stats
    assert dev.core_stats.tx_submitted == 40 and s.tx_packets + s.tx_dropped == 30
    with pytest.raises(AssertionError, match="the driver accounted for 30"):
        h.assert_accounted([dev])


def test_skbs_handed_back_later_get_all_or_no_credit(harness: Any) -> None:
    """Handed back from a timer: either every uncounted skb is a drop of the core's, or the
    driver lost some — never a partial credit that hides them."""
    h = harness(LossyLaterOps)
    dev = _send(h, LossyLaterOps, 40, backlog=2)
    assert dev.core_stats.rx_backlog_drops > 0
    with pytest.raises(AssertionError, match="every skb handed to a driver must end"):
        h.assert_accounted([dev])


def test_the_credit_does_not_carry_over_to_a_reloaded_device_of_the_same_name(
    harness: Any,
) -> None:
    """kit_reload: a device's credit ends with it; a new one of the same name starts at 0."""
    h = harness(EchoOps)
    first = _send(h, EchoOps, 30, backlog=2)
    assert first.core_stats.rx_backlog_drops > 0
    h.assert_accounted([first])
    name = first.name
    h.down(first)
    h.unload(h.drivers[0])
    h.host.netdev_max_backlog = 1000
    h.cls = _driver(SilentOps)
    second = _send(h, SilentOps, 10, backlog=1000)
    assert second is not first and second.name == name
    with pytest.raises(AssertionError, match="the driver accounted for 0"):
        h.assert_accounted([second])
