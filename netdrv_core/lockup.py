"""The daemon's soft-lockup watchdog: event-loop callbacks that do not return.

Driver code the event loop runs — ``start_xmit``, a NAPI poll, a timer, a
reader thread's hand-off — is not wrapped in a guard (that would cost on every
packet).  :class:`LockupDetector` samples the loop from a thread of its own
instead, like the kernel's soft-lockup detector samples a CPU, and
:func:`stuck_in` names the driver code a stuck stack is in.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import sys
import sysconfig
import threading
import time
from types import FrameType
from typing import Any, Protocol

__all__ = ["LockupDetector", "dump_stacks", "stuck_in"]

log = logging.getLogger("netdrv.daemon")

_paths = sysconfig.get_paths()
_STDLIB = tuple({_paths["stdlib"], _paths["platstdlib"]})
# Third-party packages (and a driver installed without -e) live *under* the stdlib
# directory (…/lib/python3.X/site-packages): they are not the standard library.
_SITE = tuple({_paths["purelib"], _paths["platlib"]})


def _is_stdlib(path: str) -> bool:
    if path.startswith("<frozen "):
        return True  # importlib's bootstrap, frozen into the interpreter
    return path.startswith(_STDLIB) and not path.startswith(_SITE)


def _is_core(module: str) -> bool:
    return module == "netdrv_core" or module.startswith("netdrv_core.")


class _Reporter(Protocol):
    """What the detector needs of the daemon's watchdog (``daemon._Watchdog``)."""

    current: Any

    def write_busy(self, what: str, since: float) -> None: ...

    def served_again(self, what: str, took: float) -> None: ...


class LockupDetector:
    """The soft-lockup watchdog of the event loop.

    A thread samples the loop every quarter of ``after``: when the same
    callback has been running for ``after`` seconds without the loop moving
    on (and no guarded driver call is being timed by ``watchdog``), it logs
    the driver code it is stuck in with every thread's stack, and has
    ``watchdog`` write the busy file so that ``netdrv`` says what the daemon
    is doing instead of only timing out.  SIGTERM aborts the stuck code (the
    daemon faults the driver and unloads).
    """

    def __init__(self, loop: Any, watchdog: _Reporter, after: float) -> None:
        self.loop = loop
        self.watchdog = watchdog
        self.after = after
        self.busy: str | None = None
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._watch, name="netdrv-lockup", daemon=True)

    def start(self) -> None:
        """Start watching (from the loop's thread)."""
        self._main = threading.get_ident()
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()

    def _where(self) -> str:
        """The stuck driver code in the loop's thread (see :func:`stuck_in`)."""
        main = self._main  # the main thread's ident is never None (it has started)
        return stuck_in(sys._current_frames().get(main) if main is not None else None)

    def _watch(self) -> None:
        seen: tuple[int, Any] | None = None
        since = 0.0
        while not self._stop.wait(self.after / 4):
            loop = self.loop
            running = loop.running
            now = (loop.iterations, running)
            if running is None or now != seen or self.watchdog.current is not None:
                if self.busy is not None:  # ``since`` is still when the stall began
                    self.watchdog.served_again(self.busy, time.monotonic() - since)
                    self.busy = None
                seen, since = now, time.monotonic()
                continue
            if self.busy is None and time.monotonic() - since >= self.after:
                self.busy = f"driver code {self._where()}"
                log.warning(
                    "the event loop has been stuck in %s for %.0f s: no device is served and the "
                    "daemon cannot answer requests until it returns (stack dump follows; SIGTERM "
                    "aborts it and unloads)", self.busy, self.after,
                )  # fmt: skip
                dump_stacks()
                self.watchdog.write_busy(self.busy, since)


def stuck_in(frame: FrameType | None) -> str:
    """Name the driver code a stack is stuck in, from its innermost ``frame``.

    The driver is the chain of frames outside netdrv_core and the standard
    library nearest the top of the stack; its package is the one of the
    frame netdrv_core called.  The innermost frame of that package is named
    (``netdrv_x.func (file:line)``) and, when the code is stuck further in, in
    a library the driver called, that frame too (``…, in lib.func (…)``): a
    library blocking inside a driver callback is not mistaken for the driver.
    """
    chain: list[FrameType] = []  # innermost first
    while frame is not None:
        if _is_core(str(frame.f_globals.get("__name__", ""))):
            if chain:
                break  # the core called the outermost frame of the chain: the driver's
        elif not _is_stdlib(frame.f_code.co_filename):
            chain.append(frame)
        frame = frame.f_back
    if not chain:
        return "an event-loop callback"

    def package(f: FrameType) -> str:
        return str(f.f_globals.get("__name__", "")).partition(".")[0]

    def name(f: FrameType) -> str:
        code = f.f_code
        return (
            f"{f.f_globals.get('__name__', '?')}.{code.co_name} ({code.co_filename}:{f.f_lineno})"
        )

    driver = package(chain[-1])
    own = next(f for f in chain if package(f) == driver)
    return name(own) if own is chain[0] else f"{name(own)}, in {name(chain[0])}"


def dump_stacks() -> None:
    """Every thread's stack into the log, from a thread holding the GIL (frames stand still)."""
    with contextlib.suppress(Exception):  # no usable stderr (closed): no stack dump
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
