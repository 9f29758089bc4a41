"""A NETDEV_TX_BUSY the core takes as sent — the driver put the skb on a list of its own,
or freed it — is the NETDEV_TX_OK path to the rest of the transmit path: the qdisc goes on
draining (nothing was requeued, the queue is awake, so nothing else would retry) and the
queue's trans_start moves as on any taken frame (txq_trans_update)."""

from __future__ import annotations

import pytest
from fakedev import FakeClock, ScriptedOps, make_dev, tx
from test_multiqueue import MqOps, flows_on_two_queues, mq_dev

from netdrv_core import (
    NETDEV_TX_BUSY,
    NetDevice,
    SkBuff,
    SkBuffHead,
    dev_get_stats,
    dev_kfree_skb,
    kfree_skb,
    netdev_get_tx_queue,
    netif_stop_queue,
    netif_tx_stop_queue,
    netif_tx_wake_queue,
    netif_wake_queue,
    skb_dequeue,
    skb_queue_tail,
)
from netdrv_core.host import Host


def _bad_busy(skb: SkBuff, ring: SkBuffHead, how: str) -> int:
    """The driver's misuse: BUSY for an skb it listed (``"listed"``) or freed (``"freed"``)."""
    if how == "listed":
        skb_queue_tail(ring, skb)
    else:
        dev_kfree_skb(skb)
    return NETDEV_TX_BUSY


class FirstBusy(ScriptedOps):
    """``start_xmit``: the first frame gets the misuse, the rest are sent."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.ring = SkBuffHead()
        self.n = 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        self.n += 1
        if self.n == 1:
            return _bad_busy(skb, self.ring, self.how)
        return super().start_xmit(skb, dev)


def _reap(dev: NetDevice, ring: SkBuffHead) -> None:
    """The TX-done interrupt for what the driver listed."""
    while (skb := skb_dequeue(ring)) is not None:
        dev.stats.tx_packets += 1
        kfree_skb(skb)


@pytest.mark.parametrize("how", ["listed", "freed"])
def test_qdisc_goes_on_draining_after_a_busy_taken_as_sent(host: Host, how: str) -> None:
    dev, _ = make_dev(host)
    ops = FirstBusy(how)
    dev.netdev_ops = ops
    netif_stop_queue(dev)
    for _ in range(3):
        tx(host, dev)  # into the qdisc
    assert len(dev.qdisc) == 3
    netif_wake_queue(dev)
    host.loop.run_until_idle()
    assert ops.n == 3 and not dev.qdisc  # the two behind it went out
    assert len(ops.sent) == 2
    tx(host, dev)  # and transmit goes on
    assert ops.n == 4 and len(ops.sent) == 3 and not dev.qdisc
    _reap(dev, ops.ring)
    s = dev_get_stats(dev)
    assert dev.core_stats.tx_submitted == 4 == s.tx_packets + s.tx_dropped + s.tx_errors


@pytest.mark.parametrize("how", ["listed", "freed"])
def test_busy_taken_as_sent_updates_trans_start(host: Host, clock: FakeClock, how: str) -> None:
    dev, _ = make_dev(host)  # ScriptedOps has tx_timeout: the watchdog is on
    ops = FirstBusy(how)
    dev.netdev_ops = ops
    clock.advance(7.0)
    tx(host, dev)
    assert ops.n == 1 and not dev.qdisc
    assert dev.trans_start == clock()


@pytest.mark.parametrize("how", ["listed", "freed"])
def test_subqueue_goes_on_draining_after_a_busy_taken_as_sent(host: Host, how: str) -> None:
    class Ops(MqOps):
        def __init__(self) -> None:
            super().__init__()
            self.ring_head = SkBuffHead()
            self.n = 0
            self.armed = False

        def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
            if self.armed:
                self.n += 1
                if self.n == 1:
                    return _bad_busy(skb, self.ring_head, how)
            return super().start_xmit(skb, dev)

    ops = Ops()
    dev = mq_dev(host, ops=ops)
    frame, q, _, _ = flows_on_two_queues(host, dev)
    txq = netdev_get_tx_queue(dev, q)
    netif_tx_stop_queue(txq)
    for _ in range(3):
        tx(host, dev, frame)
    assert len(txq.qdisc) == 3
    ops.armed = True
    before = len(ops.sent)
    netif_tx_wake_queue(txq)
    host.loop.run_until_idle()
    assert ops.n == 3 and not txq.qdisc
    assert len(ops.sent) == before + 2
