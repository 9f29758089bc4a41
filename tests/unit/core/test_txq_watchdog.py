"""The TX watchdog (Linux's ``dev_watchdog``) with queues stopped outside ``start_xmit``
and with several queues timing out at once, on a memory-attached test device."""

from __future__ import annotations

from fakedev import Run, make_dev
from test_multiqueue import MqOps, mq_dev

from netdrv_core import (
    Host,
    NetDevice,
    netif_stop_queue,
    netif_stop_subqueue,
    netif_tx_stop_all_queues,
    netif_tx_wake_all_queues,
    netif_wake_queue,
    netif_wake_subqueue,
)


def test_stopping_an_idle_queue_counts_the_timeout_from_the_stop(host: Host, run: Run) -> None:
    """A driver stopping a queue that has sent nothing for long (ring reconfiguration,
    a reset task) gets no tx_timeout before watchdog_timeo has passed since the stop:
    netif_tx_stop_queue refreshes trans_start, as in Linux since 6.12."""
    dev = mq_dev(host, watchdog_timeo=1.0)
    ops = dev.netdev_ops
    assert isinstance(ops, MqOps)
    run(5.0, step=0.01)  # idle: no queue has sent for 5 timeouts
    netif_stop_subqueue(dev, 2)
    run(0.5)
    netif_wake_subqueue(dev, 2)
    netif_tx_stop_all_queues(dev)
    run(0.5)
    netif_tx_wake_all_queues(dev)
    run(2.0, step=0.01)
    assert ops.timeouts == []
    netif_stop_subqueue(dev, 2)  # a real stall still times out, once the timeout has passed
    run(0.9)
    assert ops.timeouts == []
    run(0.2)
    assert ops.timeouts == [2]


def test_stopping_an_idle_single_queue_counts_from_the_stop(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=1.0)
    run(5.0, step=0.01)
    netif_stop_queue(dev)
    run(0.5)
    netif_wake_queue(dev)
    run(2.0, step=0.01)
    assert ops.timeouts == 0


class RecoveringOps(MqOps):
    """Its tx_timeout recovers the ring of the queue it is told of (and that one only)."""

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        super().tx_timeout(dev, txqueue)
        netif_wake_subqueue(dev, txqueue)


def test_queues_stalled_together_time_out_once_per_period(host: Host, run: Run) -> None:
    """Every queue stalled at once: one tx_timeout per watchdog_timeo (dev_watchdog reports
    the first late queue, then looks again a full period later), not one per queue in
    quick succession — a driver resetting its hardware in tx_timeout would reset it once
    per queue."""
    ops = RecoveringOps()
    dev = mq_dev(host, ops=ops, watchdog_timeo=1.0)
    netif_tx_stop_all_queues(dev)
    run(1.2)
    assert ops.timeouts == [0]
    run(0.8)  # less than a period since the timeout
    assert ops.timeouts == [0]
    run(3.0, step=0.01)
    assert ops.timeouts == [0, 1, 2, 3]  # each in turn, a period apart
    assert dev.core_stats.tx_timeouts == 4
