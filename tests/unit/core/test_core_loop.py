"""The event loop's scheduling decisions: how long it sleeps, and busy polling."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from netdrv_core.control import ProtocolError, validate_request
from netdrv_core.loop import EventLoop


@pytest.fixture
def loop():
    lp = EventLoop()
    timeouts: list[float | None] = []
    real = lp._poll

    def poll(timeout=None, maxevents=-1):
        timeouts.append(timeout)
        return real(timeout, maxevents)

    lp._poll = poll  # type: ignore[method-assign]
    lp.timeouts = timeouts  # type: ignore[attr-defined]
    yield lp
    lp.close()


def _readable_pipe(loop: EventLoop, seen: list[bytes]) -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    loop.add_reader(r, lambda: seen.append(os.read(r, 100)))
    return r, w


def test_without_busy_poll_an_idle_loop_sleeps_until_the_next_timer(loop) -> None:
    seen: list[bytes] = []
    r, w = _readable_pipe(loop, seen)
    os.write(w, b"x")
    loop.run_once(None)
    loop.call_later(0.02, lambda: None)
    loop.run_once(None)
    assert seen == [b"x"]
    assert loop.timeouts[0] is None and 0 < loop.timeouts[1] <= 0.02
    os.close(r), os.close(w)


def test_busy_poll_spins_after_an_event_and_sleeps_once_the_window_passes(loop) -> None:
    loop.busy_poll = 0.05
    seen: list[bytes] = []
    r, w = _readable_pipe(loop, seen)
    loop.run_once(0.01)  # nothing happened yet: no reason to spin
    assert loop.timeouts[-1] == 0.01
    os.write(w, b"x")
    loop.run_once(None)
    assert seen == [b"x"]
    loop.run_once(None)  # right after an event: poll without sleeping
    loop.run_once(None)
    assert loop.timeouts[-2:] == [0, 0]
    time.sleep(0.06)
    loop.run_once(0.001)  # the window has passed: the loop may sleep again
    assert loop.timeouts[-1] == 0.001
    os.close(r), os.close(w)


def test_busy_poll_still_runs_timers_and_thread_handoffs(loop) -> None:
    loop.busy_poll = 1.0
    loop._last_event = time.monotonic()
    ran: list[str] = []
    loop.call_later(0.01, ran.append, "timer")
    loop.call_soon_threadsafe(ran.append, "thread")
    assert loop.run_until(lambda: len(ran) == 2, timeout=2)
    assert sorted(ran) == ["thread", "timer"]


@pytest.mark.parametrize(
    "values", [{"busy_poll": "50"}, {"busy_poll": True}, ["busy_poll", 50], {1: 2}]
)
def test_sysctl_requests_are_checked(values) -> None:
    with pytest.raises(ProtocolError, match="sysctl: 'values'"):
        validate_request({"cmd": "sysctl", "values": values})
    validate_request({"cmd": "sysctl", "values": {"busy_poll": 50}})
    validate_request({"cmd": "sysctl"})


def test_the_loop_shows_what_runs_for_the_lockup_detector(loop) -> None:
    during: list[object] = []

    def cb() -> None:
        during.append(loop.running)
        raise RuntimeError("a driver bug")  # handed to the error handler; running is cleared

    loop.error_handler = lambda exc, cb: None
    before = loop.iterations
    loop.call_soon(cb)
    loop.run_once(0)
    assert during == [cb] and loop.running is None and loop.iterations == before + 1


def test_a_reader_removed_by_an_earlier_callback_of_the_batch_is_not_called(loop) -> None:
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    called: list[int] = []

    def first() -> None:
        called.append(1)
        loop.remove_reader(r2)
        loop.remove_reader(r1)

    loop.add_reader(r1, first)
    loop.add_reader(r2, first)  # whichever runs first removes the other
    os.write(w1, b"x"), os.write(w2, b"x")
    loop.run_once(0)
    assert called == [1]
    assert not loop.remove_reader(r1) and not loop.remove_reader(r2)
    for fd in (r1, w1, r2, w2):
        os.close(fd)


def test_reader_census_and_replacing_a_callback(loop) -> None:
    r, w = os.pipe()
    seen: list[str] = []
    loop.add_reader(r, lambda: seen.append("old"))
    loop.add_reader(r, lambda: (seen.append("new"), os.read(r, 1)))
    assert r in loop.reader_fds()
    os.write(w, b"x")
    loop.run_once(0)
    assert seen == ["new"]
    assert loop.remove_reader(r) and r not in loop.reader_fds()
    os.close(r), os.close(w)


def test_a_negative_timeout_polls_instead_of_blocking(loop) -> None:
    loop.run_once(-1.0)
    loop.call_later(-5.0, lambda: None)  # overdue timer
    loop.run_once(None)
    assert loop.timeouts[-2:] == [0, 0]


def test_a_timer_weeks_away_does_not_overflow_the_wait(loop) -> None:
    """epoll takes at most INT_MAX ms (24.8 days): a longer wait (a driver's watchdog or
    keepalive parameter in ms) is cut to a day instead of raising OverflowError, which
    would end the daemon's loop."""
    seen: list[bytes] = []
    r, w = _readable_pipe(loop, seen)
    os.write(w, b"x")  # the wait returns at once: the test does not sleep for a day
    timer = loop.call_later(40 * 86400.0, lambda: None)
    loop.run_once(None)
    os.write(w, b"y")
    loop.run_once(100 * 86400.0)
    assert seen == [b"x", b"y"]
    assert loop.timeouts == [86400.0, 86400.0]
    timer.cancel()
    os.close(r), os.close(w)


def test_more_ready_fds_than_one_poll_returns_are_all_served(loop) -> None:
    pipes = [os.pipe() for _ in range(50)]
    seen: set[int] = set()
    for r, w in pipes:
        loop.add_reader(r, lambda r=r: (seen.add(r), os.read(r, 1)))
        os.write(w, b"x")
    loop.run_until(lambda: len(seen) == 50, timeout=2)
    assert len(seen) == 50
    for r, w in pipes:
        os.close(r), os.close(w)


def test_a_reader_on_a_reused_fd_number_is_watched(loop) -> None:
    # The old file was closed without remove_reader (the kernel dropped it from the epoll
    # set); a new file got the same number: its reader must really be watched.
    r, w = os.pipe()
    loop.add_reader(r, lambda: None)
    os.close(r)
    os.close(w)
    r2, w2 = os.pipe()
    try:
        assert r2 == r  # the lowest free number is reused
        got: list[bytes] = []
        loop.add_reader(r2, lambda: got.append(os.read(r2, 10)))
        os.write(w2, b"x")
        loop.run_once(0.5)
        assert got == [b"x"]
    finally:
        loop.remove_reader(r2)
        os.close(r2)
        os.close(w2)


def test_a_sub_millisecond_wait_sleeps_in_select_not_in_epoll(
    loop: EventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # epoll_wait counts whole milliseconds (CPython rounds a timeout up to one): a loop
    # sleeping in it fires a 200 us timer after 1 ms at the earliest.  Such a wait sleeps
    # in select() on the epoll fd, which takes microseconds, and epoll only collects.
    import netdrv_core.loop as loop_mod

    selects: list[float] = []
    real_select = loop_mod._select

    def spy(r: Any, w: Any, x: Any, timeout: float) -> Any:
        selects.append(timeout)
        return real_select(r, w, x, timeout)

    monkeypatch.setattr(loop_mod, "_select", spy)
    fired: list[float] = []
    start = time.monotonic()
    loop.call_later(0.0002, lambda: fired.append(time.monotonic()))
    while not fired:
        loop.run_once()
    assert fired[0] - start >= 0.0002  # never early
    assert selects and all(0 < t <= 0.0002 for t in selects), selects
    assert all(t == 0 for t in loop.timeouts), loop.timeouts  # type: ignore[attr-defined]
    # A wait of a millisecond or more stays in epoll.
    selects.clear()
    loop.call_later(0.002, lambda: None)
    loop.run_once()
    assert not selects
    # An fd event during a short wait still wakes the loop and is delivered.
    r, w = os.pipe()
    got: list[bytes] = []
    loop.add_reader(r, lambda: got.append(os.read(r, 8)))
    os.write(w, b"x")
    loop.call_later(0.0005, lambda: None)
    loop.run_once()
    assert got == [b"x"]
    loop.remove_reader(r)
    os.close(r)
    os.close(w)


def test_a_loop_whose_epoll_fd_is_beyond_select_waits_in_epoll() -> None:
    # select() takes fds below FD_SETSIZE (1024) only: a process with many fds open before
    # its loop still runs sub-millisecond timers (rounded up to a millisecond by epoll).
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard}: cannot open 1024 fds")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(1030)]
    loop = EventLoop()
    try:
        assert loop._epoll.fileno() >= 1024
        fired: list[bool] = []
        loop.call_later(0.0002, lambda: fired.append(True))
        while not fired:
            loop.run_once()
    finally:
        loop.close()
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
