"""Every TX queue of a device — queue 0 and, with ``num_tx_queues > 1``, each subqueue —
starts with its state zeroed, as Linux's ``alloc_netdev_mqs`` leaves it
(``netif_alloc_netdev_queues`` zero-allocates the queues: no ``__QUEUE_STATE_DRV_XOFF``).

So no queue is stopped before ``open``, and a driver whose ``open`` forgets
``netif_start_queue`` transmits at its first ``open``.  The core starts and stops no
queue at ``open`` or ``close`` (``dev_activate``/``dev_deactivate`` leave the state
alone): a driver that stops its queues in ``stop`` and forgets to start them in ``open``
finds them stopped from the second ``open`` on — its frames wait in the qdisc, none lost
(the conformance kit's open/stop cycles report it).  ``netif_start_queue`` starts queue
0 only, as in Linux.
"""

from __future__ import annotations

from fakedev import make_dev
from test_multiqueue import MqOps, flow

from netdrv_core import (
    Host,
    NetDevice,
    SkBuff,
    alloc_etherdev_mq,
    netif_queue_stopped,
    netif_start_queue,
    netif_subqueue_stopped,
)
from netdrv_core.status import device_status


class StartsQueueZeroOnly(MqOps):
    """An ``open`` with the single-queue call: queue 0 starts, the subqueues do not."""

    def open(self, dev: NetDevice) -> int:
        netif_start_queue(dev)
        return 0


class ForgetsToStart(MqOps):
    """An ``open`` that starts no queue; its ``stop`` stops them all (MqOps.stop)."""

    def open(self, dev: NetDevice) -> int:
        return 0


def _registered(host: Host, ops: MqOps) -> NetDevice:
    dev = alloc_etherdev_mq(None, 4)
    dev.netdev_ops = ops
    dev.dev_addr = b"\x02\x00\x00\x00\x00\x10"
    host.register_netdev(dev)
    return dev


def _send(host: Host, dev: NetDevice, n: int = 100) -> int:
    """Send ``n`` frames of different flows; the number the qdiscs hold afterwards."""
    for port in range(1000, 1000 + n):
        host.dev_queue_xmit(_skb(dev, flow(port)))
    host.loop.run_until_idle()
    return sum(q["qdisc_backlog"] for q in device_status(host, dev)["tx_queues"])


def test_no_queue_is_stopped_before_open_and_the_first_open_sends_without_a_start(
    host: Host,
) -> None:
    ops = ForgetsToStart()
    dev = _registered(host, ops)
    assert not netif_queue_stopped(dev)
    assert not any(netif_subqueue_stopped(dev, i) for i in range(4))
    assert all(q["queue"] == "awake" for q in device_status(host, dev)["tx_queues"])
    assert host.dev_open(dev) == 0
    assert _send(host, dev) == 0
    assert len(ops.sent) == 100 and set(ops.queues()) == {0, 1, 2, 3}


def test_a_single_queue_device_forgetting_netif_start_queue_sends_at_its_first_open(
    host: Host,
) -> None:
    dev, ops = make_dev(host, up=False)
    ops.start_queue_on_open = False
    assert not netif_queue_stopped(dev)
    assert host.dev_open(dev) == 0
    from fakedev import tx

    tx(host, dev)
    host.loop.run_until_idle()
    assert len(ops.sent) == 1 and not dev.qdisc
    host.dev_close(dev)  # ScriptedOps.stop: netif_stop_queue
    assert netif_queue_stopped(dev)
    assert host.dev_open(dev) == 0  # and open does not start it again
    tx(host, dev)
    host.loop.run_until_idle()
    assert len(ops.sent) == 1 and len(dev.qdisc) == 1  # held, not lost


def test_after_stop_stopped_every_queue_an_open_that_starts_none_holds_the_frames(
    host: Host,
) -> None:
    ops = ForgetsToStart()
    dev = _registered(host, ops)
    assert host.dev_open(dev) == 0
    assert host.dev_close(dev) == 0  # netif_tx_stop_all_queues
    assert netif_queue_stopped(dev) and all(netif_subqueue_stopped(dev, i) for i in range(4))
    assert host.dev_open(dev) == 0
    assert all(netif_subqueue_stopped(dev, i) for i in range(4))  # open left them stopped
    assert _send(host, dev) == 100 and not ops.sent  # every frame waits, none lost


def test_netif_start_queue_starts_queue_0_only_and_the_rest_hold_their_frames(
    host: Host,
) -> None:
    ops = StartsQueueZeroOnly()
    dev = _registered(host, ops)
    assert host.dev_open(dev) == 0 and host.dev_close(dev) == 0  # stop: all stopped
    assert host.dev_open(dev) == 0
    assert not netif_subqueue_stopped(dev, 0)
    assert all(netif_subqueue_stopped(dev, i) for i in range(1, 4))
    held = _send(host, dev)
    assert ops.sent and set(ops.queues()) == {0}  # only queue 0 sent
    assert held == 100 - len(ops.sent)  # the rest wait, none lost


def _skb(dev: NetDevice, frame: bytes) -> SkBuff:
    skb = SkBuff(len(frame))
    skb.put_data(frame)
    skb.dev = dev
    return skb
