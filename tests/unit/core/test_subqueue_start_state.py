"""Every TX queue of a device — queue 0 and, with ``num_tx_queues > 1``, each subqueue —
starts stopped until the driver starts it in ``open``.

This is netdrv's documented contract (docs/driver-model.md, "Queue"), stricter than
Linux, whose queue state is zeroed at ``alloc_netdev_mqs``: there a driver that forgets
``netif_tx_start_all_queues`` works until its first down and up, and here it is caught
at once (as the conformance kit reports).  ``netif_start_queue`` starts queue 0 only,
as in Linux.
"""

from __future__ import annotations

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


def _registered(host: Host, ops: MqOps) -> NetDevice:
    dev = alloc_etherdev_mq(None, 4)
    dev.netdev_ops = ops
    dev.dev_addr = b"\x02\x00\x00\x00\x00\x10"
    host.register_netdev(dev)
    return dev


def test_every_queue_is_stopped_until_the_driver_starts_it(host: Host) -> None:
    dev = _registered(host, MqOps())
    assert netif_queue_stopped(dev)
    assert all(netif_subqueue_stopped(dev, i) for i in range(4))
    assert all(q["queue"] == "stopped" for q in device_status(host, dev)["tx_queues"])
    assert host.dev_open(dev) == 0  # MqOps.open: netif_tx_start_all_queues
    assert not any(netif_subqueue_stopped(dev, i) for i in range(4))


def test_netif_start_queue_starts_queue_0_only_and_the_rest_hold_their_frames(
    host: Host,
) -> None:
    ops = StartsQueueZeroOnly()
    dev = _registered(host, ops)
    assert host.dev_open(dev) == 0
    assert not netif_subqueue_stopped(dev, 0)
    assert all(netif_subqueue_stopped(dev, i) for i in range(1, 4))
    for port in range(1000, 1100):
        host.dev_queue_xmit(_skb(dev, flow(port)))
    host.loop.run_until_idle()
    held = sum(q["qdisc_backlog"] for q in device_status(host, dev)["tx_queues"][1:])
    assert ops.sent and {q for q, _ in ops.sent} == {0}  # only queue 0 sent
    assert held == 100 - len(ops.sent)  # the rest wait, none lost


def _skb(dev: NetDevice, frame: bytes) -> SkBuff:
    skb = SkBuff(len(frame))
    skb.put_data(frame)
    skb.dev = dev
    return skb
