"""The event loop: one ``epoll`` loop for every device of a host.

It serves file descriptors (TAP fds, netlink, the control socket), timers
(watchdogs, carrier retries, keepalives) and deferred work — NAPI polls and the
receive backlog, the equivalent of the kernel's NET_RX softirq.  Threads that
must block (pyserial, pyusb) hand their results over with
:meth:`EventLoop.call_soon_threadsafe`, which wakes the loop through an eventfd.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["CallbackFault", "EventLoop", "Timer"]

log = logging.getLogger("netdrv.loop")

# Events per epoll_wait.  Python's default (-1) allocates room for 1023 on every
# call, a 12 KiB malloc; 32 fit pymalloc's small blocks.  More ready fds are
# simply reported by the next call (level-triggered, and epoll rotates them).
_MAX_EVENTS = 32
_MAX_WAIT = 86400.0  # a wait is cut to a day: a timer further out (a driver's
# hour-long watchdog, a keepalive in ms) only wakes the loop once a day to look again
# Bound once: the busy-poll test runs on every loop iteration.
_monotonic = time.monotonic
_select = select.select
_FD_SETSIZE = 1024
READER_FAULT_LIMIT = 10
"""Raises in a row (no call in between returned) after which a reader's fd is unwatched."""


def _callback_name(cb: Any) -> str:
    """``module.qualname`` of a callback, seen through :func:`functools.partial`."""
    while isinstance(cb, functools.partial):
        cb = cb.func
    fn = getattr(cb, "__func__", cb)  # a bound method: its function
    name = getattr(fn, "__qualname__", None)
    if not isinstance(name, str):
        return repr(cb)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if isinstance(module, str) else name


class Timer:
    """A scheduled call; :meth:`cancel` prevents it from running."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run this timer (also when it is already due in this loop round)."""
        self.cancelled = True

    def __call__(self) -> Any:
        """Run the callback unless cancelled: what the loop calls once the timer is due."""
        # Checked here, not only when the timer comes due: a callback that runs
        # earlier in the same round may cancel it after it joined the ready queue.
        if not self.cancelled:
            return self.callback(*self.args)
        return None

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<Timer when={self.when:.6f} callback={self.callback!r}{state}>"


class CallbackFault(NamedTuple):
    """What raised, as :attr:`EventLoop.fault_context` describes it to the error handler."""

    kind: str
    """``"timer"``, ``"reader"`` or ``"callback"`` (``call_soon``, ``call_soon_threadsafe``)."""
    callback: Callable[..., Any]
    """The function given to the loop (a timer's callback, not the :class:`Timer`)."""
    args: tuple[Any, ...]
    fd: int | None
    """The file descriptor of a reader."""


class EventLoop:
    """A small single-threaded event loop.

    ``clock`` may be replaced (tests pass a fake clock to drive watchdogs
    deterministically).  Exceptions raised by callbacks are handed to
    :attr:`error_handler` so one failing driver cannot stop the loop; a
    :class:`~netdrv_core.host.Host` installs one that finds the driver the
    callback belongs to and takes its device down (``Host.driver_fault``).  A
    reader still watched after :data:`READER_FAULT_LIMIT` raises in a row is removed,
    whoever it belongs to (its fd would wake the loop, and raise, in every round): one
    log line names it and its fd.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        # epoll itself, not selectors: an event maps to its callback with one dict
        # lookup instead of a SelectorKey per event (this runs for every frame).
        self._epoll = select.epoll()
        self._poll: Callable[..., list[tuple[int, int]]] = self._epoll.poll
        # For the sub-millisecond waits (run_once): select() takes fds below FD_SETSIZE only.
        epfd = self._epoll.fileno()
        self._epfd = (epfd,) if epfd < _FD_SETSIZE else ()
        self._readers: dict[int, Callable[[], Any]] = {}
        self._reader_faults: dict[int, int] = {}  # fd -> raises in a row (READER_FAULT_LIMIT)
        # fd -> module that registered the reader: who to blame when a library or C
        # callable (no driver frame in its traceback) raises.  Registration is rare.
        self._reader_owners: dict[int, str | None] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._ready: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._threadsafe: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.add_reader(self._wake_fd, self._drain_wakeup)
        self._stopping = False
        self._thread_id: int | None = None
        self.busy_poll = 0.0
        """Seconds to keep polling (``epoll_wait`` with a zero timeout) after the last event
        instead of sleeping: the ``net.core.busy_poll`` of netdrv.  A sleeping process
        takes tens of microseconds to wake; a spinning one answers at once, at the price
        of a busy CPU while traffic keeps coming.  0 (the default) never spins."""
        self._last_event = 0.0
        self.iterations = 0
        """Loop iterations so far; with :attr:`running`, what a lockup detector watches."""
        self.running: Callable[..., Any] | None = None
        """The callback running now (None between callbacks; the :class:`Timer` of a timer's)."""
        self.error_handler: Callable[[BaseException, Callable[..., Any]], None] = self._log_error
        """Called with ``(exc, callback)`` when a callback raises; an exception it raises
        itself is logged, never propagated (the loop keeps running)."""
        self.fault_context: CallbackFault | None = None
        """While :attr:`error_handler` runs: the timer, reader or call that raised."""

    # -- registration -----------------------------------------------------------
    def add_reader(self, fd: int, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` whenever ``fd`` is readable.

        The module calling this is recorded as the reader's owner: a reader that
        raises is blamed on it (and removed) even when the callback is library code.
        """
        owner = sys._getframe(1).f_globals.get("__name__")
        self._reader_faults.pop(fd, None)  # a new callback starts afresh
        try:
            self._epoll.register(fd, select.EPOLLIN)  # ValueError/OSError for a bad fd
        except FileExistsError:
            pass  # watched already: only the callback changes
        # (A number still in _readers but not in the epoll set is a reused fd: its old
        # file was closed without remove_reader, and the kernel dropped it from the set.)
        self._readers[fd] = callback
        self._reader_owners[fd] = owner

    def remove_reader(self, fd: int) -> bool:
        """Stop watching ``fd``; returns False when it was not watched."""
        if self._readers.pop(fd, None) is None:
            return False
        self._reader_owners.pop(fd, None)
        self._reader_faults.pop(fd, None)
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):  # already closed: the kernel dropped it from the set
            pass
        return True

    def reader_fds(self) -> set[int]:
        """The file descriptors watched for reading."""
        return set(self._readers)

    def reader_owner(self, fd: int) -> str | None:
        """The name of the module that registered the reader of ``fd`` (None: unknown)."""
        return self._reader_owners.get(fd)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` in the next loop iteration."""
        self._ready.append((callback, args))

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        """Like :meth:`call_soon`, from any thread; wakes the loop."""
        self._threadsafe.append((callback, args))
        try:
            os.eventfd_write(self._wake_fd, 1)
        except OSError:  # loop closed
            pass

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` after ``delay`` seconds."""
        return self.call_at(self.clock() + delay, callback, *args)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` at loop time ``when``."""
        t = Timer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._seq), t))
        return t

    # -- running --------------------------------------------------------------------
    def _drain_wakeup(self) -> None:
        try:
            os.eventfd_read(self._wake_fd)
        except BlockingIOError:
            pass

    def _log_error(self, exc: BaseException, cb: Callable[..., Any]) -> None:
        log.error("callback %r raised %r", cb, exc, exc_info=exc)

    def _fault(
        self, exc: Exception, kind: str, cb: Callable[..., Any], args: tuple[Any, ...],
        fd: int | None,
    ) -> None:  # fmt: skip
        """A callback raised: tell :attr:`error_handler`, which must not stop the loop either."""
        self.fault_context = CallbackFault(kind, cb, args, fd)
        try:
            self.error_handler(exc, cb)
        except Exception as exc2:  # a second fault while reporting the first: log both, go on
            try:
                log.critical("the loop's error handler raised %r while handling %r", exc2, exc,
                             exc_info=exc2)  # fmt: skip
            except Exception:  # even logging failed: nothing safer is left to do
                pass
        finally:
            self.fault_context = None

    def _reader_raised(self, fd: int, cb: Callable[[], Any], exc: Exception) -> None:
        """A reader raised and the error handler left it watched: after
        :data:`READER_FAULT_LIMIT` raises in a row, stop watching its fd.

        One raise may be one bad message, consumed before the raise: the reader goes on.
        One that raises at every wake-up has left its fd readable (level-triggered): it
        would run — and raise — in every loop round, a spinning loop.  Like an IRQ nobody
        handles, it is then disabled, once, with one line naming it; the other fds,
        timers and devices go on.
        """
        faults = self._reader_faults.get(fd, 0) + 1
        if faults < READER_FAULT_LIMIT:
            self._reader_faults[fd] = faults
            return
        self.remove_reader(fd)
        try:
            log.error("fd %d: its reader %s raised %s %d times in a row (last: %s); the fd "
                      "is not watched any more", fd, _callback_name(cb), type(exc).__name__,
                      READER_FAULT_LIMIT, exc)  # fmt: skip
        except Exception:  # logging itself failed: the reader is removed all the same
            pass

    def run_once(self, timeout: float | None = None) -> None:
        """Wait for events at most ``timeout`` seconds (None: until one) and run them."""
        self.iterations += 1
        ready = self._ready
        timers = self._timers
        ts = self._threadsafe
        if ready or ts:
            timeout = 0
        elif timers:
            delay = timers[0][0] - self.clock()
            if timeout is None or delay < timeout:
                timeout = delay
        if timeout is not None:
            if timeout < 0:
                timeout = 0  # epoll would read a negative timeout as "forever"
            elif timeout > _MAX_WAIT:
                timeout = _MAX_WAIT  # epoll takes at most INT_MAX ms (OverflowError)
        busy_poll = self.busy_poll  # read once: used before and after the wait
        if busy_poll and timeout != 0 and _monotonic() - self._last_event < busy_poll:
            timeout = 0  # spin: the next frame is probably microseconds away
        if timeout and timeout < 0.001 and self._epfd:
            # epoll_wait counts whole milliseconds (a 100 us timer would fire after 1 ms):
            # a wait shorter than that sleeps in select() on the epoll fd, which takes
            # microseconds, and then collects what is ready without waiting.
            events = self._poll(0, _MAX_EVENTS) if _select(self._epfd, (), (), timeout)[0] else []
        else:
            events = self._poll(timeout, _MAX_EVENTS)
        if events:
            if busy_poll:
                self._last_event = _monotonic()
            readers = self._readers
            faulty = self._reader_faults
            for fd, _ in events:
                # Looked up now: a callback earlier in this batch may have removed it.
                cb = readers.get(fd)
                if cb is None:
                    continue
                self.running = cb
                try:
                    cb()
                except Exception as exc:
                    self._fault(exc, "reader", cb, (), fd)
                    if readers.get(fd) is cb:
                        self._reader_raised(fd, cb, exc)
                else:
                    if faulty:
                        faulty.pop(fd, None)
                finally:
                    self.running = None
        while ts:
            ready.append(ts.popleft())
        if timers:
            now = self.clock()
            while timers and timers[0][0] <= now:
                t = heapq.heappop(timers)[2]
                if not t.cancelled:
                    # The Timer itself, which checks ``cancelled`` again when it runs;
                    # plain call_soon callbacks pay nothing for that.
                    ready.append((t, ()))
        # Only what was ready at the start runs now, so work that reschedules
        # itself (a NAPI poll over budget) cannot starve the fds.
        if ready:
            popleft = ready.popleft
            for _ in range(len(ready)):
                cb, args = popleft()
                self.running = cb
                try:
                    cb(*args)
                except Exception as exc:
                    # Blame a timer's callback (the driver's function), not the Timer.
                    if type(cb) is Timer:
                        self._fault(exc, "timer", cb.callback, cb.args, None)
                    else:
                        self._fault(exc, "callback", cb, args, None)
                finally:
                    self.running = None

    def run_forever(self) -> None:
        """Run until :meth:`stop` is called."""
        self._stopping = False
        self._thread_id = threading.get_ident()
        while not self._stopping:
            self.run_once(None)

    def run_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Run until ``predicate()`` is true or ``timeout`` real seconds pass."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.run_once(min(left, 0.05))
        return True

    def run_until_idle(self, max_rounds: int = 10_000) -> None:
        """Run ready work (not timers in the future) until nothing is left."""
        for _ in range(max_rounds):
            if not (self._ready or self._threadsafe):
                self.run_once(0)
                if not (self._ready or self._threadsafe):
                    return
            else:
                self.run_once(0)

    def stop(self) -> None:
        """Make :meth:`run_forever` return after the current iteration."""
        self._stopping = True
        self.call_soon_threadsafe(lambda: None)

    def close(self) -> None:
        """Release the epoll instance and the wake-up fd."""
        self._readers.clear()
        self._reader_owners.clear()
        self._epoll.close()
        os.close(self._wake_fd)
        self._wake_fd = -1
