"""Dynamic queue limits: a port of Linux's ``lib/dynamic_queue_limits.c``.

A :class:`Dql` limits how many bytes (objects, in general) sit in a producer/
consumer queue — a driver's TX ring — and adapts the limit to what completion
processing keeps up with: it grows when the queue ran dry between two
completions (starvation: the limit was too low), and shrinks when some bytes
were never needed for ``slack_hold_time`` (slack: the limit was too high, and
only added latency).  Byte Queue Limits (:mod:`netdrv_core.bql`) runs one per
transmit queue.

Pure logic, no I/O.  Time is read from the ``clock`` the dql was made with
(the host's loop clock for a device's queue, so tests drive it with a fake one);
Linux's jiffies are seconds here, as ``watchdog_timeo`` is.

Differences from C, because this is Python: the counters are unbounded ints, so
the wrap-safe ``POSDIFF``/``AFTER_EQ`` are plain comparisons; a ``BUG_ON`` is a
:class:`DqlError`; and :func:`dql_reset` also resets ``adj_limit``, which Linux
leaves as it was (so there, until the first completion after a reset, the queue
takes up to the old limit plus every byte completed before the reset).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import NetdrvError

__all__ = [
    "DQL_MAX_LIMIT",
    "DQL_MAX_OBJECT",
    "Dql",
    "DqlError",
    "dql_avail",
    "dql_completed",
    "dql_init",
    "dql_queued",
    "dql_reset",
]

_UINT_MAX = 0xFFFFFFFF
DQL_MAX_OBJECT = _UINT_MAX // 16
"""The most one :func:`dql_queued` may add (Linux BUG()s beyond it)."""
DQL_MAX_LIMIT = _UINT_MAX // 2 - DQL_MAX_OBJECT
"""The highest limit (the default ``max_limit``; ``limit_max`` in sysfs)."""


class DqlError(NetdrvError):
    """A caller broke the dql's contract: completed more than was queued, or queued too
    much at once (what Linux's ``BUG_ON`` stops the machine for)."""


class Dql:
    """``struct dql``: the state of one dynamic queue limit.

    Fields, as in C: ``num_queued`` (total ever queued), ``adj_limit``
    (``limit + num_completed``), ``last_obj_cnt`` (count of the last queuing),
    ``limit`` (the current limit), ``num_completed`` (total ever completed),
    ``prev_ovlimit``, ``prev_num_queued``, ``prev_last_obj_cnt`` (the previous
    completion's view), ``lowest_slack`` and ``slack_start_time`` (slack seen
    since the limit last changed), and the configuration ``max_limit``,
    ``min_limit`` and ``slack_hold_time`` (seconds).
    """

    __slots__ = (
        "adj_limit", "clock", "last_obj_cnt", "limit", "lowest_slack", "max_limit", "min_limit",
        "num_completed", "num_queued", "prev_last_obj_cnt", "prev_num_queued", "prev_ovlimit",
        "slack_hold_time", "slack_start_time",
    )  # fmt: skip

    def __init__(self, hold_time: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        """Where time comes from (the host's loop clock for a device's queue)."""
        self.num_queued = 0
        self.adj_limit = 0
        self.last_obj_cnt = 0
        self.limit = 0
        self.num_completed = 0
        self.prev_ovlimit = 0
        self.prev_num_queued = 0
        self.prev_last_obj_cnt = 0
        self.lowest_slack = _UINT_MAX
        self.slack_start_time = 0.0
        self.max_limit = DQL_MAX_LIMIT
        self.min_limit = 0
        self.slack_hold_time = hold_time
        dql_init(self, hold_time)

    @property
    def inflight(self) -> int:
        """Bytes queued and not yet completed (sysfs ``byte_queue_limits/inflight``)."""
        return self.num_queued - self.num_completed

    def __repr__(self) -> str:
        return (
            f"Dql(limit={self.limit}, inflight={self.inflight}, min_limit={self.min_limit}, "
            f"max_limit={self.max_limit}, slack_hold_time={self.slack_hold_time:g})"
        )


def dql_queued(dql: Dql, count: int) -> None:
    """Record ``count`` objects (bytes) put in the queue."""
    if not 0 <= count <= DQL_MAX_OBJECT:
        raise DqlError(f"dql_queued: {count} objects at once; 0..{DQL_MAX_OBJECT} allowed")
    dql.last_obj_cnt = count
    dql.num_queued += count


def dql_avail(dql: Dql) -> int:
    """How many more objects fit under the limit; negative when over it."""
    return dql.adj_limit - dql.num_queued


def _posdiff(a: int, b: int) -> int:
    return a - b if a > b else 0


def dql_completed(dql: Dql, count: int) -> None:
    """Record ``count`` objects completed (taken out of the queue) and adapt the limit.

    Raises :class:`DqlError` when ``count`` is more than is in the queue
    (Linux: ``BUG_ON(count > num_queued - num_completed)``) or negative (an unsigned
    int in C; here it would undo completions); nothing changes then.
    """
    num_queued = dql.num_queued
    num_completed = dql.num_completed
    if count < 0:
        raise DqlError(f"dql_completed: {count} objects completed; a count is 0 or more")
    if count > num_queued - num_completed:
        raise DqlError(
            f"dql_completed: {count} completed but only {num_queued - num_completed} in the "
            f"queue ({num_queued} queued, {num_completed} completed so far)"
        )
    completed = num_completed + count
    limit = dql.limit
    ovlimit = _posdiff(num_queued - num_completed, limit)
    inprogress = num_queued - completed
    prev_inprogress = dql.prev_num_queued - num_completed
    all_prev_completed = completed >= dql.prev_num_queued

    if (ovlimit and not inprogress) or (dql.prev_ovlimit and all_prev_completed):
        # Starved: over the limit and now empty, or over it last time and everything then
        # queued may have gone before this completion ran.  Grow by what was both queued
        # and completed in the interval, plus the previous over-limit.
        limit += _posdiff(completed, dql.prev_num_queued) + dql.prev_ovlimit
        dql.slack_start_time = dql.clock()
        dql.lowest_slack = _UINT_MAX
    elif inprogress and prev_inprogress and not all_prev_completed:
        # Busy through the whole interval: the slack (what was queued beyond what kept
        # the queue from starving) may go, once its lowest value held for hold_time.
        slack = _posdiff(limit + dql.prev_ovlimit, 2 * (completed - num_completed))
        slack_last_objs = (
            _posdiff(dql.prev_last_obj_cnt, dql.prev_ovlimit) if dql.prev_ovlimit else 0
        )
        slack = max(slack, slack_last_objs)
        if slack < dql.lowest_slack:
            dql.lowest_slack = slack
        now = dql.clock()
        if now > dql.slack_start_time + dql.slack_hold_time:
            limit = _posdiff(limit, dql.lowest_slack)
            dql.slack_start_time = now
            dql.lowest_slack = _UINT_MAX

    limit = min(max(limit, dql.min_limit), dql.max_limit)  # the kernel's clamp()
    if limit != dql.limit:
        dql.limit = limit
        ovlimit = 0
    dql.adj_limit = limit + completed
    dql.prev_ovlimit = ovlimit
    dql.prev_last_obj_cnt = dql.last_obj_cnt
    dql.num_completed = completed
    dql.prev_num_queued = num_queued


def dql_reset(dql: Dql) -> None:
    """Forget everything queued and completed; the limit starts again from ``min_limit``."""
    dql.limit = dql.min_limit
    dql.adj_limit = dql.min_limit  # Linux keeps the old one: see the module's docstring
    dql.num_queued = 0
    dql.num_completed = 0
    dql.last_obj_cnt = 0
    dql.prev_num_queued = 0
    dql.prev_last_obj_cnt = 0
    dql.prev_ovlimit = 0
    dql.lowest_slack = _UINT_MAX
    dql.slack_start_time = dql.clock()


def dql_init(dql: Dql, hold_time: float) -> None:
    """Default bounds (0..:data:`DQL_MAX_LIMIT`), ``hold_time`` seconds of slack before a
    shrink, and :func:`dql_reset`."""
    dql.max_limit = DQL_MAX_LIMIT
    dql.min_limit = 0
    dql.slack_hold_time = hold_time
    dql_reset(dql)
