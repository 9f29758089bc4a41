"""Where a plugin's own code raised: what a load or hook error reports of its cause.

A plugin that fails (an ``ImportError`` in its driver module, a bug in the driver's
``init``) is reported by a :class:`~netdrv_core.errors.PluginError` whose message is
often shown without a traceback — by ``netdrv load``, the daemon's log, the
conformance kit.  Its message then ends with where the plugin's code raised,
`` (at FILE:LINE in FUNC)`` (:func:`driver_code_location`): the innermost line of the
plugin's own code, not of netdrv, pluggy, the import machinery or a library the
plugin called.  :func:`driver_exception` is what the plugin's code raised with only
its lines, for a report that shows a traceback (the pytest kit), and
:func:`driver_traceback` that traceback as text.  :func:`environment_error` tells an
``OSError`` of the environment (a port missing, no permission: the user's to fix) from
one the plugin's code raised itself (a bug, reported with its location).  Writing such a report never raises
in its turn: an exception whose ``__str__`` raises is named by its type
(:func:`describe_exception`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import sys
from collections.abc import Iterable
from types import TracebackType

import pluggy

__all__ = [
    "describe_exception",
    "driver_code_location",
    "driver_exception",
    "driver_traceback",
    "environment_error",
]

log = logging.getLogger("netdrv.plugins")


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` for an error message, or ``Type`` alone when its
    ``__str__`` raises (a plugin's exception): reporting an error never raises another."""
    try:
        text = str(exc)
    except Exception:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}"


@functools.cache  # the same for the life of the process; asked once per error reported
def _library_dirs() -> tuple[str, ...]:
    """The standard library's directories and those of installed distributions
    (site-packages), each ending with a separator."""
    import site
    import sysconfig

    dirs = {
        sysconfig.get_paths().get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    with contextlib.suppress(Exception):
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    return tuple(os.path.abspath(d) + os.sep for d in dirs if d)


def _author_frames(exc: BaseException, skip: Iterable[str] = ()) -> list[TracebackType]:
    """The entries of ``exc``'s traceback in the code of the plugin that raised it,
    outermost first.

    Frames of netdrv, pluggy, the import machinery and the directories of ``skip`` are
    never the plugin's.  Of the others, the plugin's are those of the package (top-level
    module name) of the outermost one outside the standard library and site-packages —
    the driver's ``init`` called by the daemon, the plugin module an import ran — so a
    call into json or a library that raised is reported at the driver's line that made
    it.  A plugin installed into site-packages (all its frames there) is found the same
    way, from the outermost frame."""
    # importlib_metadata too: imported by anyone, it installs its finder on sys.meta_path
    # and entry points found by it load through its EntryPoint.load.
    backport = sys.modules.get("importlib_metadata")
    dirs = [os.path.dirname(__file__), os.path.dirname(pluggy.__file__ or ""),
            os.path.dirname(importlib.__file__ or ""),
            os.path.dirname(getattr(backport, "__file__", None) or ""), *skip]  # fmt: skip
    prefixes = tuple(os.path.abspath(d) + os.sep for d in dirs if d)
    frames: list[TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not (name.startswith("<") or os.path.abspath(name).startswith(prefixes)):
            frames.append(tb)
        tb = tb.tb_next
    if not frames:
        return []
    libraries = _library_dirs()

    def top(t: TracebackType) -> str | None:
        mod = t.tb_frame.f_globals.get("__name__")
        return mod.partition(".")[0] if isinstance(mod, str) and mod != "__main__" else None

    def library(t: TracebackType) -> bool:
        return os.path.abspath(t.tb_frame.f_code.co_filename).startswith(libraries)

    outer = next((t for t in frames if not library(t)), frames[0])
    package = top(outer)
    own = [t for t in frames if package is not None and top(t) == package]
    return own or [t for t in frames if not library(t)] or frames


def environment_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` of the environment rather than a plugin's bug.

    An ``OSError`` with an errno is a report: a system call's — made by netdrv, a
    library (pyserial, pyusb) or the plugin itself (``os.open`` of a device that is
    missing) — or the plugin's own, as a Linux driver returns ``-EIO``
    (``raise OSError(errno.EIO, "short read")``); so is one of an error class of the
    plugin's own that derives from ``OSError`` (``PortError``), and one without an errno
    that a call into C raised at the plugin's line (a socket's ``TimeoutError("timed
    out")``).  Its message says what failed, and the user is to fix it (plug the adapter
    in, get the permission).  A built-in ``OSError`` without an errno that a ``raise``
    statement of the plugin's own raised (``raise OSError("table too small")``) is a bug:
    its author needs where it was raised (:func:`driver_code_location`).  False for
    anything that is no ``OSError``; never raises itself.
    """
    if not isinstance(exc, OSError):
        return False
    try:
        tb = exc.__traceback__
        if tb is None:
            return True  # never raised: nothing points at the plugin's code
        while tb.tb_next is not None:
            tb = tb.tb_next  # where it was raised
        if exc.errno is not None or not any(t is tb for t in _author_frames(exc)):
            return True  # a report with an errno, or raised in netdrv or a library
        if not _raise_statement(tb):
            return True  # a call into C failed at the plugin's line: the system's error
        return type(exc).__module__ != "builtins"  # the plugin's own class: a report
    except Exception:  # as the other reports: an answer rather than an error
        log.debug("classifying %r failed", exc, exc_info=True)
        return True


def _raise_statement(tb: TracebackType) -> bool:
    """Whether the instruction ``tb`` stopped at is a ``raise`` statement's, rather than a
    call (of C code, which has no frame of its own) that raised."""
    import dis  # error paths only: not at start-up

    code = tb.tb_frame.f_code.co_code
    at = tb.tb_lasti
    return 0 <= at < len(code) and dis.opname[code[at]] in ("RAISE_VARARGS", "RERAISE")


def driver_code_location(exc: BaseException, skip: Iterable[str] = ()) -> str:
    """Where a plugin's own code raised what ``exc`` wraps: ``" (at FILE:LINE in FUNC)"``.

    A plugin that cannot load (an ``ImportError`` in its driver module, a ``NameError``
    in ``netdrv_drivers``) is reported by a :class:`~netdrv_core.errors.PluginError`
    that is shown without a traceback (by ``netdrv load``, the daemon's log, the
    conformance kit): its message then says which line failed, the innermost frame of
    ``exc`` and its causes in the plugin's code — outside netdrv, pluggy, the import
    machinery and the directories of ``skip``, and not in the standard library or
    another package the plugin called (:func:`_author_frames`); for a ``SyntaxError``,
    the line that does not compile.  ``""`` when there is none (an unknown driver, a
    module that is not installed, an exception never raised); never raises itself.
    """
    try:
        found = _deepest_author_frames(exc, skip)
    except Exception:  # a message without its location rather than none at all
        log.debug("locating %r failed", exc, exc_info=True)
        return ""
    if found is None:
        return ""
    cause, frames = found
    if isinstance(cause, SyntaxError) and cause.filename and cause.lineno:
        return f" (at {cause.filename}:{cause.lineno})"  # the line that does not compile
    t = frames[-1]
    return f" (at {t.tb_frame.f_code.co_filename}:{t.tb_lineno} in {t.tb_frame.f_code.co_name})"


def _deepest_author_frames(
    exc: BaseException, skip: Iterable[str] = ()
) -> tuple[BaseException, list[TracebackType]] | None:
    """The innermost of ``exc`` and its causes (``__cause__``, else ``__context__``) that
    has frames of the plugin's code or is a ``SyntaxError`` naming its line, with those
    frames; None when none has."""
    found = None
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        frames = _author_frames(cause, skip)
        if frames or (isinstance(cause, SyntaxError) and cause.filename and cause.lineno):
            found = (cause, frames)
        cause = cause.__cause__ or cause.__context__
    return found


def driver_exception(exc: BaseException, skip: Iterable[str] = ()) -> BaseException | None:
    """What the plugin's code raised under ``exc`` (its innermost cause with frames of the
    plugin), its traceback cut down to those frames — for a report that chains it
    (``raise PluginError(...) from driver_exception(exc)``) or prints it, so that the
    author sees the lines of the driver and not those of netdrv and importlib.  None
    when the plugin's code raised nothing (an unknown driver, a module not installed).
    The exception's traceback is replaced (it is the report's from then on)."""
    try:
        found = _deepest_author_frames(exc, skip)
        if found is None:
            return None
        cause, frames = found
        tb: TracebackType | None = None
        for t in reversed(frames):
            tb = TracebackType(tb, t.tb_frame, t.tb_lasti, t.tb_lineno)
        return cause.with_traceback(tb)
    except Exception:
        log.debug("cutting the traceback of %r failed", exc, exc_info=True)
        return None


def driver_traceback(exc: BaseException, skip: Iterable[str] = ()) -> str:
    """The traceback of :func:`driver_exception` as text (``""`` when there is none), for a
    report that is shown without one (the conformance kit's ``pytest.fail``)."""
    import traceback

    cause = driver_exception(exc, skip)
    if cause is None:
        return ""
    try:
        return "".join(traceback.format_exception(cause, chain=False)).rstrip("\n")
    except Exception:
        return ""
