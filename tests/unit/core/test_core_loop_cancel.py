"""``Timer.cancel()`` holds even when the timer is already due in the running loop round."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netdrv_core.loop import EventLoop, Timer


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def loop(clock: Clock) -> Iterator[EventLoop]:
    lp = EventLoop(clock=clock)
    yield lp
    lp.close()


def test_a_timer_cancelled_by_an_earlier_timer_of_the_same_round_does_not_run(
    loop: EventLoop, clock: Clock
) -> None:
    ran: list[str] = []
    second: Timer | None = None

    def first() -> None:
        ran.append("first")
        assert second is not None
        second.cancel()

    loop.call_later(0.01, first)
    second = loop.call_later(0.02, ran.append, "second")
    clock.now += 1.0  # both are due in the next round
    loop.run_once(0)
    loop.run_until_idle()
    assert ran == ["first"] and second.cancelled


def test_a_timer_cancelled_by_a_ready_callback_queued_before_it_does_not_run(
    loop: EventLoop, clock: Clock
) -> None:
    ran: list[str] = []
    t = loop.call_later(0.01, ran.append, "timer")
    # call_soon work is queued before the timers that come due in the same round
    loop.call_soon(t.cancel)
    loop.call_soon(ran.append, "soon")
    clock.now += 1.0
    loop.run_once(0)
    loop.run_until_idle()
    assert ran == ["soon"]


def test_uncancelled_due_timers_still_run_in_order_with_their_args(
    loop: EventLoop, clock: Clock
) -> None:
    ran: list[tuple[str, int]] = []
    loop.call_later(0.02, lambda *a: ran.append(a), "b", 2)
    loop.call_later(0.01, lambda *a: ran.append(a), "a", 1)
    cancelled = loop.call_later(0.015, lambda *a: ran.append(a), "x", 0)
    cancelled.cancel()
    clock.now += 1.0
    loop.run_once(0)
    assert ran == [("a", 1), ("b", 2)]


def test_a_raising_timer_is_reported_against_its_callback(loop: EventLoop, clock: Clock) -> None:
    seen: list[tuple[BaseException, object]] = []
    during: list[object] = []

    def boom() -> None:
        during.append(loop.running)
        raise RuntimeError("a driver bug")

    loop.error_handler = lambda exc, cb: seen.append((exc, cb))
    t = loop.call_later(0.01, boom)
    clock.now += 1.0
    loop.run_once(0)
    assert [cb for _, cb in seen] == [boom] and isinstance(seen[0][0], RuntimeError)
    # the lockup detector sees something running (the Timer), then nothing
    assert during == [t] and loop.running is None
    assert "boom" in repr(t)
