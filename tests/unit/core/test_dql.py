"""Dynamic queue limits (``netdrv_core.dql``): cases worked by hand through
``lib/dynamic_queue_limits.c``'s ``dql_completed``, on a fake clock."""

from __future__ import annotations

import pytest
from fakedev import FakeClock

from netdrv_core.dql import (
    DQL_MAX_LIMIT,
    DQL_MAX_OBJECT,
    Dql,
    DqlError,
    dql_avail,
    dql_completed,
    dql_queued,
    dql_reset,
)


def fresh(clock: FakeClock, hold_time: float = 1.0) -> Dql:
    return Dql(hold_time, clock)


def test_a_fresh_dql_stops_at_the_first_object() -> None:
    """limit 0 (dql_init): any queued byte is over it."""
    d = fresh(FakeClock())
    assert (d.limit, d.min_limit, d.max_limit, dql_avail(d)) == (0, 0, DQL_MAX_LIMIT, 0)
    dql_queued(d, 100)
    assert (d.num_queued, d.last_obj_cnt, dql_avail(d)) == (100, 100, -100)


def test_the_limit_grows_when_the_queue_starved() -> None:
    """Over the limit and then empty: the limit grows by what was queued and completed in
    the interval plus the previous over-limit."""
    d = fresh(FakeClock())
    dql_queued(d, 100)
    dql_completed(d, 100)  # ovlimit 100, nothing in progress: starved, limit 0 + 100
    assert (d.limit, d.adj_limit, d.prev_ovlimit, d.prev_num_queued) == (100, 200, 0, 100)
    assert dql_avail(d) == 100
    for _ in range(3):
        dql_queued(d, 100)
    assert dql_avail(d) == -200
    # 300 in flight over a limit of 100: ovlimit 200, 200 still in progress, and the
    # previous interval had no over-limit: neither starved nor busy throughout.
    dql_completed(d, 100)
    assert (d.limit, d.prev_ovlimit, d.adj_limit, dql_avail(d)) == (100, 200, 300, -100)
    # The rest: empty again after an over-limit interval: 100 + 0 + the previous 200.
    dql_completed(d, 200)
    assert (d.limit, d.prev_ovlimit, d.adj_limit, dql_avail(d)) == (300, 0, 700, 300)
    assert d.inflight == 0


def _busy_with_slack(clock: FakeClock, min_limit: int = 0) -> Dql:
    """A limit of 1000 (grown at a starvation), then a queue kept busy with 300 in
    flight: each completion of 100 sees a slack of 1000 - 2 * 100 = 800."""
    d = fresh(clock)
    d.min_limit = min_limit
    dql_queued(d, 1000)
    dql_completed(d, 1000)
    assert d.limit == 1000 and d.slack_start_time == clock.now
    for _ in range(4):
        dql_queued(d, 100)
    dql_completed(d, 100)  # nothing was in progress before: no slack measured yet
    assert d.limit == 1000 and d.lowest_slack == 0xFFFFFFFF
    return d


def test_slack_shrinks_the_limit_only_once_held_for_hold_time() -> None:
    clock = FakeClock()
    d = _busy_with_slack(clock)
    dql_queued(d, 100)
    dql_completed(d, 100)
    assert (d.limit, d.lowest_slack) == (1000, 800)  # measured, not held long enough
    clock.advance(1.0)  # exactly hold_time: Linux's time_after() is strict
    dql_queued(d, 100)
    dql_completed(d, 100)
    assert (d.limit, d.lowest_slack) == (1000, 800)
    clock.advance(0.5)
    dql_queued(d, 100)
    dql_completed(d, 100)
    # limit - lowest slack; the slack measurement starts again
    assert (d.limit, d.lowest_slack, d.slack_start_time) == (200, 0xFFFFFFFF, clock.now)
    assert d.adj_limit == 200 + d.num_completed and dql_avail(d) == -100


def test_the_limit_is_kept_within_min_and_max() -> None:
    clock = FakeClock()
    d = _busy_with_slack(clock, min_limit=500)
    clock.advance(1.5)
    dql_queued(d, 100)
    dql_completed(d, 100)
    assert d.limit == 500  # 200 clamped up to min_limit
    d = fresh(clock)
    d.max_limit = 150
    for _ in range(3):
        dql_queued(d, 100)
    dql_completed(d, 300)
    assert d.limit == 150 and d.adj_limit == 450  # 300 clamped down to max_limit


def test_completing_more_than_was_queued_is_an_error_that_changes_nothing() -> None:
    d = fresh(FakeClock())
    dql_queued(d, 100)
    dql_completed(d, 60)
    before = (d.limit, d.adj_limit, d.num_completed, d.prev_num_queued, d.prev_ovlimit)
    with pytest.raises(DqlError, match=r"50 completed but only 40 in the queue \(100 queued, 60 "):
        dql_completed(d, 50)
    assert (d.limit, d.adj_limit, d.num_completed, d.prev_num_queued, d.prev_ovlimit) == before
    dql_completed(d, 40)
    assert d.inflight == 0


def test_completing_a_negative_count_is_an_error_that_changes_nothing() -> None:
    """In C the count is unsigned; a negative one here would undo completions and leave
    bytes in flight that were never queued."""
    d = fresh(FakeClock())
    dql_queued(d, 100)
    dql_completed(d, 60)
    with pytest.raises(DqlError, match="-10 objects completed; a count is 0 or more"):
        dql_completed(d, -10)
    assert (d.num_completed, d.inflight) == (60, 40)


def test_queuing_a_negative_or_too_large_count_is_an_error() -> None:
    d = fresh(FakeClock())
    for bad in (-1, DQL_MAX_OBJECT + 1):
        with pytest.raises(DqlError, match=f"{bad} objects at once"):
            dql_queued(d, bad)
    assert d.num_queued == 0
    dql_queued(d, DQL_MAX_OBJECT)
    assert d.num_queued == DQL_MAX_OBJECT


def test_reset_starts_again_from_min_limit() -> None:
    """Everything dynamic forgotten; the limit is min_limit (Linux commit 3a17f23f7c36,
    2025), and so is adj_limit: the first bytes after a reset are measured against it."""
    clock = FakeClock()
    d = _busy_with_slack(clock)
    d.min_limit = 64
    d.max_limit = 5000
    d.slack_hold_time = 0.25
    clock.advance(3)
    dql_reset(d)
    assert (d.limit, d.adj_limit, d.num_queued, d.num_completed, d.inflight) == (64, 64, 0, 0, 0)
    assert (d.prev_num_queued, d.prev_ovlimit, d.prev_last_obj_cnt, d.last_obj_cnt) == (0, 0, 0, 0)
    assert (d.lowest_slack, d.slack_start_time) == (0xFFFFFFFF, clock.now)
    assert (d.min_limit, d.max_limit, d.slack_hold_time) == (64, 5000, 0.25)  # configuration kept
    dql_queued(d, 100)
    assert dql_avail(d) == -36
