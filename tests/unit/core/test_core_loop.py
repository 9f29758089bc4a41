"""The event loop's scheduling decisions: how long it sleeps, and busy polling."""

from __future__ import annotations

import os
import time

import pytest

from netdrv_core.control import ProtocolError, validate_request
from netdrv_core.loop import EventLoop


@pytest.fixture
def loop():
    lp = EventLoop()
    timeouts: list[float | None] = []
    real = lp._selector.select

    def select(timeout=None):
        timeouts.append(timeout)
        return real(timeout)

    lp._selector.select = select  # type: ignore[method-assign]
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
