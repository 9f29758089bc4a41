"""A reader that raises at every wake-up is removed once, by name; the loop goes on.
One that raises now and then (a bad message, consumed) is kept."""

from __future__ import annotations

import functools
import logging
import os

import pytest

from netdrv_core.loop import READER_FAULT_LIMIT, EventLoop


class _Broken:
    def __init__(self) -> None:
        self.calls = 0

    def on_readable(self, what: str) -> None:
        self.calls += 1
        raise RuntimeError(f"core reader bug ({what})")


def test_a_raising_core_reader_is_logged_once_and_removed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="netdrv.loop")
    loop = EventLoop()
    r, w = os.pipe()
    r2, w2 = os.pipe()
    broken = _Broken()
    got: list[bytes] = []
    try:
        loop.add_reader(r, functools.partial(broken.on_readable, "netlink"))
        loop.add_reader(r2, lambda: got.append(os.read(r2, 10)))
        os.write(w, b"x")  # never read by the broken reader: the fd stays readable
        for _ in range(50):
            loop.run_once(0)
        assert broken.calls == READER_FAULT_LIMIT
        assert r not in loop.reader_fds() and loop.reader_owner(r) is None
        removed = [
            x.getMessage() for x in caplog.records if "not watched any more" in x.getMessage()
        ]
        assert removed == [
            f"fd {r}: its reader {__name__}._Broken.on_readable raised RuntimeError "
            f"{READER_FAULT_LIMIT} times in a row (last: core reader bug (netlink)); the fd is "
            "not watched any more"
        ]
        # A bare loop logs each raise: READER_FAULT_LIMIT tracebacks, not 50.
        assert sum(1 for x in caplog.records if x.exc_info) == READER_FAULT_LIMIT
        # The rest of the loop runs: other readers, timers.
        os.write(w2, b"y")
        ran: list[int] = []
        loop.call_later(0, ran.append, 1)
        assert loop.run_until(lambda: got == [b"y"] and ran == [1], timeout=5)
    finally:
        loop.remove_reader(r2)
        for fd in (r, w, r2, w2):
            os.close(fd)
        loop.close()


def test_a_reader_that_replaced_itself_before_raising_is_not_blamed_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only the callback that raised counts a raise: not a new one it installed on its fd,
    which starts afresh — it is removed after READER_FAULT_LIMIT raises of its own."""
    caplog.set_level(logging.ERROR, logger="netdrv.loop")
    loop = EventLoop()
    r, w = os.pipe()
    second_calls = 0

    def second() -> None:
        nonlocal second_calls
        second_calls += 1
        raise RuntimeError("the new reader's own bug")

    def first() -> None:
        loop.add_reader(r, second)
        raise RuntimeError("replaced, then raised")

    try:
        loop.add_reader(r, first)
        os.write(w, b"a")  # never read: the fd stays readable
        loop.run_once(0)
        assert r in loop.reader_fds()
        for _ in range(3 * READER_FAULT_LIMIT):
            loop.run_once(0)
        assert second_calls == READER_FAULT_LIMIT and r not in loop.reader_fds()
        removed = [x.getMessage() for x in caplog.records
                   if "not watched any more" in x.getMessage()]  # fmt: skip
        assert len(removed) == 1 and "second raised RuntimeError" in removed[0], removed
    finally:
        loop.remove_reader(r)
        os.close(r)
        os.close(w)
        loop.close()


def test_a_reader_that_raises_now_and_then_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    """A raise between calls that return (one bad message, read before the raise) never
    adds up: the reader stays, and reads on."""
    loop = EventLoop()
    r, w = os.pipe()
    seen: list[bytes] = []

    def flaky() -> None:
        data = os.read(r, 1)
        seen.append(data)
        if len(seen) % 2:
            raise RuntimeError("a bad message")

    try:
        loop.add_reader(r, flaky)
        for _ in range(4 * READER_FAULT_LIMIT):
            os.write(w, b"m")
            loop.run_once(0)
        assert len(seen) == 4 * READER_FAULT_LIMIT and r in loop.reader_fds()
        assert not any("not watched any more" in x.getMessage() for x in caplog.records)
    finally:
        loop.remove_reader(r)
        os.close(r)
        os.close(w)
        loop.close()
