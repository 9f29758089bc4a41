"""Byte Queue Limits: the transmit-queue API of ``include/linux/netdevice.h``.

A driver with a TX ring reports the bytes it puts on the ring
(:func:`netdev_sent_queue`, in ``start_xmit``) and the bytes its TX-completion
takes off (:func:`netdev_completed_queue`); the core keeps the ring no fuller
than a :class:`~netdrv_core.dql.Dql` says keeps it busy.  Over that limit the
queue is stopped by the *stack* (``__QUEUE_STATE_STACK_XOFF``), separately from
the driver's own stop (``netif_stop_queue``, ``__QUEUE_STATE_DRV_XOFF``): frames
wait in the qdisc, and a completion that brings the queue under the limit
restarts them.  :func:`netdev_reset_queue` forgets what was in flight (in
``stop``, or wherever the driver frees its ring).

Every TX queue has its own limit (:mod:`netdrv_core.netdev_queue`):
``netdev_tx_sent_queue(netdev_get_tx_queue(dev, i), ...)`` on a device with
several; the ``netdev_*_queue(dev, ...)`` shorthands are queue 0's.  A driver
that never calls these functions is unaffected: the transmit path reads one
stopped flag either way.
"""

from __future__ import annotations

from typing import Any

from .dql import (
    DQL_MAX_LIMIT,
    DQL_MAX_OBJECT,
    DqlError,
    dql_completed,
    dql_queued,
    dql_reset,
)
from .netdev_queue import (
    BQL_HOLD_TIME,
    QUEUE_STATE_ANY_XOFF,
    QUEUE_STATE_DRV_XOFF,
    QUEUE_STATE_STACK_XOFF,
    NetdevQueue,
    arm_watchdog,
    netdev_get_tx_queue,
    txq_woken,
)
from .netdevice import NetDevice

__all__ = [
    "BQL_HOLD_TIME",
    "QUEUE_STATE_ANY_XOFF",
    "QUEUE_STATE_DRV_XOFF",
    "QUEUE_STATE_STACK_XOFF",
    "NetdevQueue",
    "bql_set",
    "bql_status",
    "bql_txq_status",
    "netdev_completed_queue",
    "netdev_get_tx_queue",
    "netdev_reset_queue",
    "netdev_sent_queue",
    "netdev_tx_completed_queue",
    "netdev_tx_reset_queue",
    "netdev_tx_sent_queue",
    "netif_xmit_stopped",
]


def netif_xmit_stopped(txq: NetdevQueue) -> bool:
    """True while the core sends nothing on ``txq``: stopped by the driver or by BQL."""
    return txq.stopped


def netdev_tx_sent_queue(txq: NetdevQueue, nbytes: int) -> None:
    """Report ``nbytes`` handed to the hardware (call in ``start_xmit``, once per skb).

    Over the limit, the stack stops the queue: the frames that follow wait in
    the qdisc until :func:`netdev_tx_completed_queue` brings it back under.
    Raises :class:`~netdrv_core.dql.DqlError` for a negative or impossibly large count.
    """
    dql = txq.dql
    try:
        dql_queued(dql, nbytes)
    except DqlError:
        raise DqlError(
            f"{txq.dev.name}: netdev_sent_queue: {nbytes} bytes at once; report the length "
            f"of each skb start_xmit accepts (skb.len, 0..{DQL_MAX_OBJECT})"
        ) from None
    if dql.adj_limit - dql.num_queued >= 0:  # dql_avail(), inline: it runs per packet
        return
    # As Linux since 6.12: the watchdog counts a queue stopped here from now, not
    # from the last transmission, which may be long ago on an idle link.
    host = txq.dev.host
    if host is not None:
        txq.trans_start = host.loop.clock()
    txq.stack_xoff = True
    if not txq.stopped:
        txq.stopped = True
        arm_watchdog(txq.dev)  # a stack-stopped queue can time out too (dev_watchdog)


def netdev_tx_completed_queue(txq: NetdevQueue, pkts: int, nbytes: int) -> None:
    """Report ``pkts`` packets of ``nbytes`` bytes the hardware is done with (TX completion).

    Raises :class:`~netdrv_core.dql.DqlError` when more bytes are completed than
    were reported sent — a driver bug Linux stops the machine for (``BUG_ON``).
    """
    if not nbytes:
        return
    dql = txq.dql
    try:
        dql_completed(dql, nbytes)
    except DqlError:
        if nbytes < 0:
            raise DqlError(
                f"{txq.dev.name}: netdev_completed_queue: {nbytes} bytes completed; report "
                f"the bytes (the sum of skb.len) of the packets the hardware finished"
            ) from None
        raise DqlError(_overcompleted(txq, nbytes)) from None
    if dql.adj_limit - dql.num_queued < 0:
        return
    if txq.index:
        if txq.stack_xoff:
            _stack_wake(txq)
    elif txq.dev._stack_xoff:  # queue 0: the device's field, without a property call
        _stack_wake(txq)


def _overcompleted(txq: NetdevQueue, nbytes: int) -> str:
    dql = txq.dql
    return (
        f"{txq.dev.name}: netdev_completed_queue: {nbytes} bytes completed but only "
        f"{dql.inflight} in flight ({dql.num_queued} reported to netdev_sent_queue, "
        f"{dql.num_completed} completed since the last reset): the driver completes bytes it "
        f"never reported as sent, or completes them twice (Linux BUG()s here) — call "
        f"netdev_sent_queue(dev, skb.len) for each skb start_xmit accepts and "
        f"netdev_completed_queue once for it, with the same length, in its TX completion; "
        f"after netdev_reset_queue complete nothing sent before it"
    )


def _stack_wake(txq: NetdevQueue) -> None:
    """Clear the stack's XOFF; if that leaves the queue awake, send what the qdisc holds
    (Linux's ``netif_schedule_queue``)."""
    txq.stack_xoff = False
    if not txq.drv_xoff:
        txq.stopped = False
        txq_woken(txq)


def netdev_tx_reset_queue(txq: NetdevQueue) -> None:
    """Forget the bytes in flight and clear the stack's XOFF (when the driver frees its
    TX ring: in ``stop``, or on a reset of the hardware)."""
    dql_reset(txq.dql)
    txq.bql_reset = True  # the driver uses BQL here: status shows the queue's limits
    if txq.stack_xoff:
        # Linux only clears the bit: its next dev_queue_xmit runs the qdisc anyway.
        # netdrv's qdisc runs when woken, so wake it (as netif_wake_queue would).
        _stack_wake(txq)


def netdev_sent_queue(dev: NetDevice, nbytes: int) -> None:
    """:func:`netdev_tx_sent_queue` on ``dev``'s queue."""
    netdev_tx_sent_queue(dev._tx_queue or netdev_get_tx_queue(dev, 0), nbytes)


def netdev_completed_queue(dev: NetDevice, pkts: int, nbytes: int) -> None:
    """:func:`netdev_tx_completed_queue` on ``dev``'s queue."""
    netdev_tx_completed_queue(dev._tx_queue or netdev_get_tx_queue(dev, 0), pkts, nbytes)


def netdev_reset_queue(dev: NetDevice) -> None:
    """:func:`netdev_tx_reset_queue` on ``dev``'s queue."""
    netdev_tx_reset_queue(netdev_get_tx_queue(dev, 0))


# -- what sysfs shows in queues/tx-0/byte_queue_limits/ -------------------------------------------
def bql_status(dev: NetDevice) -> dict[str, int | float] | None:
    """``limit``, ``limit_max``, ``limit_min``, ``hold_time_ms`` and ``inflight`` of ``dev``'s
    queue (sysfs ``byte_queue_limits``), and whether BQL stops it now (``stopped``); None
    while neither its driver nor :func:`bql_set` has used BQL on it."""
    txq = dev._tx_queue
    if txq is None:
        return None
    return bql_txq_status(txq)


def bql_txq_status(txq: NetdevQueue) -> dict[str, int | float]:
    """:func:`bql_status` of one TX queue (``queues/tx-N/byte_queue_limits``)."""
    dql = txq.dql
    return {
        "limit": dql.limit,
        "limit_max": dql.max_limit,
        "limit_min": dql.min_limit,
        "hold_time_ms": round(dql.slack_hold_time * 1000, 3),
        "inflight": dql.inflight,
        "stopped": bool(txq.stack_xoff),
    }


_BQL_KNOBS = ("limit_max", "limit_min", "hold_time_ms")
_HOLD_TIME_MAX_MS = 0xFFFFFFFF  # an unsigned int, as sysfs's hold_time


def bql_set(dev: NetDevice, values: dict[str, Any]) -> dict[str, int | float]:
    """Set ``limit_max``, ``limit_min`` (bytes, ≤ :data:`~netdrv_core.dql.DQL_MAX_LIMIT`) and
    ``hold_time_ms`` of every TX queue of ``dev``, all or none, as writing sysfs
    ``queues/tx-*/byte_queue_limits`` does; each limit moves into the new bounds at its
    queue's next completion.  Returns :func:`bql_status` (queue 0's; ``netdrv status
    --json`` lists each queue's in ``tx_queues``).  Raises ValueError for an unknown name
    or a bad value.

    Every queue, not one: Linux users script the same values into each ``tx-N``, and a
    queue taken into use later (``ethtool -L``) has them too.  As in Linux, where every TX
    queue has these limits, any device takes them: a driver that has not sent yet uses
    them from its first :func:`netdev_sent_queue` on, and one that never uses BQL is not
    affected.
    """
    given = _bql_values(values)
    queues = [netdev_get_tx_queue(dev, i) for i in range(dev.num_tx_queues)]
    for txq in queues:  # all or none: every queue checked before one changes
        lo = given.get("limit_min", txq.dql.min_limit)
        hi = given.get("limit_max", txq.dql.max_limit)
        if lo > hi:
            where = f" on TX queue {txq.index}" if len(queues) > 1 else ""
            raise ValueError(f"limit_min {lo} is over limit_max {hi}{where}: lower limit_min "
                             f"or raise limit_max (both may be set at once)")  # fmt: skip
    for txq in queues:
        dql = txq.dql
        dql.max_limit = given.get("limit_max", dql.max_limit)
        dql.min_limit = given.get("limit_min", dql.min_limit)
        if "hold_time_ms" in given:
            dql.slack_hold_time = given["hold_time_ms"] / 1000
    status = bql_status(dev)
    assert status is not None
    return status


def _bql_values(values: dict[str, Any]) -> dict[str, int]:
    """``values`` checked: known names, whole numbers in range (``"max"`` for a limit)."""
    out: dict[str, int] = {}
    for key, value in values.items():
        if key not in _BQL_KNOBS:
            raise ValueError(f"unknown byte queue limit {key!r}; known: {', '.join(_BQL_KNOBS)}")
        if value == "max" and key != "hold_time_ms":
            value = DQL_MAX_LIMIT  # as sysfs takes "max"
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key}: {value!r} is not a whole number >= 0")
        if key != "hold_time_ms" and value > DQL_MAX_LIMIT:
            raise ValueError(f"{key}: {value} is over the highest limit, {DQL_MAX_LIMIT}")
        if key == "hold_time_ms" and value > _HOLD_TIME_MAX_MS:  # sysfs: kstrtouint
            raise ValueError(f"{key}: {value} is over the highest, {_HOLD_TIME_MAX_MS} (ms)")
        out[key] = value
    return out
