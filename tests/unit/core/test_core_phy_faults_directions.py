"""phy.faults: the counters of each direction, as Linux has one netem qdisc per direction.

netem works on transmit only: faults on received frames take a second netem (on an ifb
device), with counters of its own.  An injector on both directions keeps each one's
counters apart (``stats_by_direction``), beside the total (``stats``), so that a
device's transmit and receive books can each be balanced against the driver's.
"""

from __future__ import annotations

import pytest
from fakedev import FakeClock, make_dev, rx_skb
from fault_helpers import balanced, frame_n

from netdrv_core import Host, SkBuff, netif_rx
from netdrv_core.loop import EventLoop
from netdrv_core.phy import FaultInjector, FaultStats


def _tx(dev: object, i: int) -> SkBuff:
    frame = frame_n(dev, i)  # type: ignore[arg-type]
    skb = SkBuff(16 + len(frame))
    skb.buf[16:] = frame
    skb.data = skb.mac_header = 16
    skb.tail = 16 + len(frame)
    skb.dev = dev  # type: ignore[assignment]
    return skb


def _sum(a: FaultStats, b: FaultStats) -> dict[str, int]:
    return {k: v + b.as_dict()[k] for k, v in a.as_dict().items()}


def test_each_direction_has_its_own_books_and_they_add_up_to_the_total() -> None:
    clock = FakeClock()
    host = Host(loop=EventLoop(clock=clock))
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=4, drop=0.3, duplicate=0.3, delay=0.01, jitter=0.005)
    for i in range(40):
        host.dev_queue_xmit(_tx(dev, i))
    for i in range(25):
        netif_rx(rx_skb(dev, frame_n(dev, 100 + i)))
    host.loop.run_until_idle()
    tx, rx = fi.stats_by_direction["tx"], fi.stats_by_direction["rx"]
    assert (tx.seen, rx.seen) == (40, 25)
    assert tx.dropped and rx.dropped and tx.duplicated and rx.duplicated
    assert balanced(tx) and balanced(rx)
    assert _sum(tx, rx) == fi.stats.as_dict()
    clock.advance(1.0)
    host.loop.run_until_idle()
    assert tx.pending == rx.pending == 0 and _sum(tx, rx) == fi.stats.as_dict()
    host.close()
    host.loop.close()


def test_purged_frames_are_counted_in_their_direction() -> None:
    clock = FakeClock()
    host = Host(loop=EventLoop(clock=clock))
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, delay=1.0)
    for i in range(3):
        host.dev_queue_xmit(_tx(dev, i))
    netif_rx(rx_skb(dev, frame_n(dev, 9)))
    host.loop.run_until_idle()
    fi.remove()
    tx, rx = fi.stats_by_direction["tx"], fi.stats_by_direction["rx"]
    assert (tx.purged, rx.purged, fi.stats.purged) == (3, 1, 4)
    assert balanced(tx) and balanced(rx)
    host.close()
    host.loop.close()


@pytest.mark.parametrize("direction", ["tx", "rx"])
def test_an_injector_on_one_direction_counts_only_that_one(direction: str) -> None:
    host = Host(loop=EventLoop(clock=FakeClock()))
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, drop=1.0, direction=direction)
    assert list(fi.stats_by_direction) == [direction]
    host.dev_queue_xmit(_tx(dev, 1))
    netif_rx(rx_skb(dev, frame_n(dev, 2)))
    host.loop.run_until_idle()
    assert fi.stats_by_direction[direction].as_dict() == fi.stats.as_dict()
    assert fi.stats.dropped == 1
    host.close()
    host.loop.close()
