"""The netdrv daemon: one per network namespace, hosting loaded drivers.

``netdrv load`` starts it on demand (``python -m netdrv_core.daemon``) and
talks to it over the control socket (:mod:`netdrv_core.control`).  It runs one
event loop for every device, timer and connection.  SIGTERM/SIGINT unload
every driver (interfaces gone, ports and USB interfaces released) and exit; the
daemon also exits by itself when its last driver is unloaded, and one started on
demand that is never used (its command killed before the load came) after
:data:`UNUSED_EXIT` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import faulthandler
import fcntl
import functools
import itertools
import json
import logging
import math
import os
import re
import signal
import socket
import stat
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, NoReturn

from .bql import bql_set
from .control import (
    CONTROL_ADDRESS,
    DaemonExiting,
    ProtocolError,
    decode_message,
    encode_message,
    netns_cookie,
    validate_request,
)
from .control import has_net_admin as _has_net_admin
from .driver import Driver, check_instance, split_instance
from .driver_errors import describe_exception, driver_code_location, environment_error
from .errors import (
    DriverError,
    NetdrvError,
    NotPermittedError,
    ParameterError,
    PluginError,
    oserror_errno,
    refusal_message,
    refusal_text,
)
from .host import Host
from .lockup import LockupDetector, dump_stacks
from .netdevice import NetDevice, NetDeviceOps
from .params import check_params_error, name_failed_plugins, parse_params
from .plugins import PluginManager
from .status import describe_driver, host_status

__all__ = [
    "Daemon",
    "DriverHang",
    "busy_path",
    "live_netns",
    "log_path",
    "main",
    "prune_logs",
    "run_dir",
]

log = logging.getLogger("netdrv.daemon")

SYSCTLS: dict[str, tuple[str, int, int]] = {
    "busy_poll": (
        "microseconds the event loop keeps polling after the last event instead of "
        "sleeping (like net.core.busy_poll): lower latency for a busy CPU; 0 = never",
        0,
        10_000_000,
    ),
    "loglevel": (
        "messages of a kernel level below this reach the daemon's log (console_loglevel): "
        "8 = debug too (netdev_dbg), 7 = info and worse (the default), 5 = warnings, "
        "4 = errors, 0 = none",
        0,
        8,
    ),
}
"""Daemon-wide tunables of ``netdrv sysctl``: name -> (description, minimum, maximum)."""

# console_loglevel N shows the kernel levels below N (0 emerg … 7 debug); Python's levels
# merge notice into info and emerg/alert into critical.
_LOGLEVELS = {8: logging.DEBUG, 7: logging.INFO, 6: logging.INFO, 5: logging.WARNING,
              4: logging.ERROR, 3: logging.CRITICAL, 2: logging.CRITICAL, 1: logging.CRITICAL + 1,
              0: logging.CRITICAL + 1}  # fmt: skip


_NETDRV_LOGGER = "netdrv"
"""What ``netdrv sysctl loglevel`` sets: netdrv's loggers (``netdrv`` and below, drivers'
``netdrv.DRIVER`` included), never the root logger, which belongs to the process (an
application embedding netdrv, the libraries drivers use)."""


def _loglevel() -> int:
    """The daemon log's threshold as a console_loglevel (see ``_LOGLEVELS``)."""
    level = logging.getLogger(_NETDRV_LOGGER).getEffectiveLevel()
    if level <= logging.DEBUG:
        return 8
    if level > logging.CRITICAL:
        return 0
    return max(n for n, lv in _LOGLEVELS.items() if lv >= level)


def _peer_creds(sock: socket.socket) -> tuple[int, int]:
    """``(pid, uid)`` of the peer of a Unix socket (``SO_PEERCRED``)."""
    import struct

    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def _lacks_net_admin(name: str) -> str:
    """The error of a load refused because this daemon has no CAP_NET_ADMIN.

    The caller passed the CLI's own check (it has the capability, or it would not have
    asked): the daemon was started by an earlier command run without it (``netdrv
    sysctl``), and only a new daemon, started by the load, can create interfaces."""
    return (
        f"loading {name}: this netdrv daemon (pid {os.getpid()}) has no CAP_NET_ADMIN, which "
        f"creating kernel interfaces needs: it was started by a command run without that "
        f"capability (such as netdrv sysctl). Stop it (netdrv stop) and load again as root: "
        f"the load starts a new daemon with its capabilities"
    )


DEFAULT_WATCHDOG = 10.0
"""Seconds a driver or plugin may run in one call before the daemon reports it busy."""
ACCEPT_PAUSE = 0.5
"""Seconds the daemon stops accepting control connections when it is out of descriptors."""
IDLE_TIMEOUT = 60.0
"""Seconds a control connection may stay open without sending a whole request (counted
from its connect or its last reply) before the daemon closes it; a capture is exempt."""
MAX_CONNECTIONS = 128
"""Control connections open at once; the daemon answers more with an error and closes them."""
LOG_MAX_BYTES = 8 << 20
"""A background daemon's log larger than this is rotated: renamed ``….log.1`` (replacing the
previous one) and continued in a new file — checked at start and every
:data:`LOG_CHECK_INTERVAL` seconds.  The size ``netdrv log`` reads."""
LOG_CHECK_INTERVAL = 60.0
"""Seconds between two checks of the log's size."""
UNUSED_EXIT = 10.0
"""Seconds a daemon ``netdrv`` started on demand waits to be used — a driver loaded or a
setting made — before it exits by itself (``--unused-exit``; see ``Daemon(unused_exit=)``)."""
DEFER_AFTER = 2.0
"""Seconds after it starts to serve that a daemon no request came to runs its deferred
housekeeping (:meth:`Daemon.defer`); one that gets a request runs it once that is answered."""
STALE_LOG_AGE = 600.0
"""Seconds a log (or busy file) of a network namespace that no longer exists stays
unwritten before a daemon starting in any namespace removes it (:func:`prune_logs`)."""


class DriverHang(NetdrvError):
    """Raised into driver/plugin code that hangs when the daemon is told to stop (SIGTERM)."""


class _Watchdog:
    """Reports a daemon stuck in driver or plugin code.

    :meth:`guard` wraps each call into third-party code (driver init/exit,
    plugin imports and hooks).  When one runs longer than ``after`` seconds a
    timer thread logs a warning naming the driver, ``faulthandler`` dumps
    every thread's stack into the log, and a small JSON file (:func:`busy_path`)
    tells ``netdrv`` — which times out waiting for its answer — what the
    daemon is busy with.  The file is removed when the call returns.
    """

    def __init__(self, after: float | None, path: str | None) -> None:
        self.after = after
        self.path = path
        self.current: str | None = None
        self.since = 0.0
        self._depth = 0
        self._reported = False
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run the body as ``what`` ("driver 'x' init"); nested guards keep the outer name."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        with self._lock:
            self.current, self.since, self._reported = what, time.monotonic(), False
        timer = None
        if self.after:
            timer = threading.Timer(self.after, self._report, args=(what, self.since))
            timer.daemon = True
            timer.name = "netdrv-watchdog"
            timer.start()
            # The stacks are dumped by the timer thread, holding the GIL (_report): a dump
            # from faulthandler's own C thread while another thread runs Python reads frames
            # as they change and can crash the daemon (it did, once in a few hundred hangs).
            # That C dump stays as a fallback, later, for code that never releases the GIL
            # (then no other thread runs Python); _report cancels it.
            with contextlib.suppress(Exception):  # no usable stderr (closed): no stack dump
                faulthandler.dump_traceback_later(2 * self.after, repeat=False, file=sys.stderr)
        try:
            yield
        finally:
            if timer is not None:
                with contextlib.suppress(Exception):
                    faulthandler.cancel_dump_traceback_later()
                timer.cancel()
            with self._lock:
                reported, took = self._reported, time.monotonic() - self.since
                self.current, self._reported = None, False
            self._depth = 0
            if reported:
                self.served_again(what, took)

    def _report(self, what: str, since: float) -> None:
        with self._lock:
            if self.current != what or self.since != since:
                return
            self._reported = True
        with contextlib.suppress(Exception):
            faulthandler.cancel_dump_traceback_later()
        log.warning(
            "%s has been running for %.0f s: the daemon cannot answer requests until it returns "
            "(stack dump follows; SIGTERM aborts it and unloads)", what, self.after,
        )  # fmt: skip
        dump_stacks()
        self.write_busy(what, since)

    def write_busy(self, what: str, since: float) -> None:
        """Tell ``netdrv`` (through the busy file) that the daemon is stuck in ``what``."""
        if self.path is None:
            return
        info = {"pid": os.getpid(), "busy": what, "since": time.time() - (time.monotonic() - since)}
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o644)  # fmt: skip
            with os.fdopen(fd, "w") as f:
                json.dump(info, f)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.debug("cannot write %s: %s", self.path, exc)

    def served_again(self, what: str, took: float) -> None:
        """``what``, reported stuck, has returned: say so and remove the busy file."""
        log.warning("%s returned after %.1f s; the daemon serves requests again", what, took)
        self.remove()

    def remove(self) -> None:
        """The daemon serves again: no busy file."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


class _Conn:
    """One client connection."""

    def __init__(self, sock: socket.socket, since: float = 0.0, pid: int = 0) -> None:
        self.sock = sock
        self.pid = pid
        """The client's process (``SO_PEERCRED``; 0: unknown), named when it is dropped."""
        self.since = since
        """Loop time of the connect or of the last reply: the idle timeout counts from it."""
        self.buf = bytearray()
        self.out = bytearray()
        """The rest of a capture record the socket took only part of (sent before any other)."""
        self.out_since = 0.0
        self.out_timer: Any = None  # the timer retrying ``out`` (one at a time)
        self.capture_remove: Callable[[], None] | None = None
        self.capture_left = 0
        self.capture_done = False  # the capture ended: close once ``out`` is sent
        self.pending = False  # its reply is owed: a self-test (ethtool -t) runs
        self.owed = ""  # then what the reply is owed for (said if the daemon stops first)
        self.on_close: Callable[[], None] | None = None
        """What ends when the client goes away (an ``ethtool -p`` interrupted: Ctrl-C)."""

    @property
    def streaming(self) -> bool:
        """A capture streams to it, or its reply is owed: waiting is not idling."""
        return self.capture_remove is not None or self.capture_done or bool(self.out) \
            or self.pending  # fmt: skip


def _ethtool_refusal(exc: Exception) -> dict[str, Any]:
    """The reply to an ethtool request the core or the driver refused (an EthtoolError)."""
    return {"ok": False, "error": str(exc), "errno": getattr(exc, "errno", None),
            "kind": "EthtoolError"}  # fmt: skip


def _lacks_op(dev: NetDevice, name: str) -> bool:
    """Whether ``dev``'s driver left op ``name`` to the NetDeviceOps default (a NULL ndo)."""
    return getattr(type(dev.netdev_ops), name, None) is getattr(NetDeviceOps, name)


class Daemon:
    """Hosts drivers on a :class:`Host`, serves the control socket."""

    def __init__(
        self,
        host: Host | None = None,
        pm: PluginManager | None = None,
        *,
        exit_when_empty: bool = True,
        watchdog: float | None = DEFAULT_WATCHDOG,
        busy_file: str | None = None,
        forget_unloaded: bool = False,
        log_file: str | None = None,
        unused_exit: float | None = None,
    ) -> None:
        """``forget_unloaded``: once a plugin's last loaded driver is unloaded, forget the
        plugin (:meth:`PluginManager.forget_plugin`), so the next load imports its code
        afresh, as ``rmmod`` + ``insmod`` do — what the daemon process does; leave it off
        where other code keeps the plugin's classes (a test importing the driver).

        ``log_file``: the file the daemon's stdout and stderr write to (a background
        daemon's log): SIGHUP then reopens it, for log rotation, instead of shutting down.

        ``unused_exit``: a daemon started on demand (what ``netdrv`` starts) exits this many
        seconds after it starts to serve (:meth:`run`) if it has not been used by then — no
        driver loaded, no ``sysctl`` setting made — as when the command that started it was
        killed before its request came, or its load failed (see :meth:`_exit_if_unused`).
        None: never."""
        if host is None:
            from .attach.tap import KernelStack

            host = Host(KernelStack())
        self.host = host
        self.pm = pm or PluginManager()
        self.watchdog = _Watchdog(watchdog, busy_file)
        self.lockup = LockupDetector(host.loop, self.watchdog, watchdog) if watchdog else None
        host.notify = self._notify
        # A driver's timer, reader or thread hand-off that raises is a driver fault: the
        # host's loop error handler (Host.callback_fault) attributes and isolates it.
        self.drivers: dict[str, Driver] = {}
        self.exit_when_empty = exit_when_empty
        self.forget_unloaded = forget_unloaded
        self.log_file = log_file
        self.uid = os.geteuid()
        self.listener: socket.socket | None = None
        self.conns: dict[int, _Conn] = {}
        self.idle_timeout = IDLE_TIMEOUT
        """Seconds a connection may go without a whole request (:data:`IDLE_TIMEOUT`)."""
        self.max_connections = MAX_CONNECTIONS
        """Connections served at once (:data:`MAX_CONNECTIONS`)."""
        self._idle_timer: Any = None  # the next idle check (a loop Timer), while one is due
        self._refused = 0  # connections refused at the limit since the last log line
        self._refused_logged = -math.inf  # loop time of that line
        self._stopping = False
        self._exiting = False  # stopped, or the last driver is gone: taking no new load
        # The hook plugins each loaded driver's load disabled (-p no:NAME), by instance name.
        self._skip_plugins: dict[str, frozenset[str]] = {}
        self._loading: str | None = None  # the driver being loaded (its init running)
        self._thread_errors: dict[tuple[str, str], float] = {}  # (thread, exception): logged at
        self.unused_exit = unused_exit
        self._used = False  # a driver was loaded or a setting made: what it was started for
        self._deferred: list[Callable[[], None]] = []  # housekeeping for once serving (defer)
        self.thread_owners: weakref.WeakKeyDictionary[threading.Thread, str] = (
            weakref.WeakKeyDictionary()
        )
        """The driver whose load started each thread (``driver 'NAME' (module M)``): named
        if the thread still runs as the daemon exits (:func:`report_lingering_threads`)."""

    # -- faults in driver and plugin code ----------------------------------------------------
    def _notify(self, event: str, dev: NetDevice) -> None:
        """Lifecycle hooks fan out to plugins under the watchdog (a hanging hook is reported)."""
        caller = getattr(self.pm.pm.hook, f"netdrv_device_{event}", None)
        if caller is None or not caller.get_hookimpls():
            return
        # Not the hooks of the plugins the load of the device's driver disabled (-p no:NAME).
        drv = getattr(dev, "driver", None)
        owner = getattr(drv, "instance", None) if drv is not None else self._loading
        skip = self._skip_plugins.get(owner, ()) if owner else ()
        with self.watchdog.guard(f"plugin hooks for {event} of {dev.name}"):
            self.pm.notify(event, dev, skip=skip)

    def _thread_error(self, args: threading.ExceptHookArgs) -> None:
        """``threading.excepthook``: a driver thread that dies takes its device(s) down."""
        exc = args.exc_value
        if exc is None or isinstance(exc, SystemExit):
            return
        self.host.loop.call_soon_threadsafe(self._thread_fault, exc, args.thread)

    def _thread_fault(self, exc: BaseException, thread: threading.Thread | None) -> None:
        if self.host.thread_fault(exc, thread):
            return
        # A library's thread (pyserial's RFC 2217 reader, dying at each reconnect to a
        # server whose device is gone): its traceback once a minute, then one line.
        name = thread.name if thread is not None else "?"
        key = (re.sub(r"\d+", "N", name), type(exc).__name__)
        now = time.monotonic()
        if now - self._thread_errors.get(key, -60.0) >= 60.0:
            self._thread_errors[key] = now
            log.error("thread %s raised %r", name, exc, exc_info=exc)
        else:
            log.error("thread %s raised %r again (traceback above)", name, exc)

    # -- control socket ------------------------------------------------------------
    def listen(self) -> None:
        """Bind the namespace's control socket; a clear error if a daemon already runs."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK
                          | socket.SOCK_CLOEXEC)  # fmt: skip
        try:
            s.bind(CONTROL_ADDRESS)
        except OSError as exc:
            s.close()
            if exc.errno == errno.EADDRINUSE:
                raise NetdrvError(
                    "a netdrv daemon already runs in this network namespace "
                    "(netdrv status shows it; netdrv stop ends it)"
                ) from None
            raise
        s.listen(16)
        self.listener = s
        self.host.loop.add_reader(s.fileno(), self._accept)

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                # Out of file descriptors (clients that connect and never close): the
                # listener stays readable, so waiting for the next round would spin the
                # loop.  Stop accepting for a moment; the drivers and open clients go on.
                log.warning("cannot accept control connections: %s; %d open; pausing %g s",
                            exc.strerror, len(self.conns), ACCEPT_PAUSE)  # fmt: skip
                listener = self.listener
                self.host.loop.remove_reader(listener.fileno())
                self.host.loop.call_later(ACCEPT_PAUSE, self._resume_accept, listener)
                return
            try:
                self._admit(sock)
            except Exception as exc:  # this one connection (its peer gone already): not the
                # listener's fault — were it to raise, the loop would stop watching it
                log.warning("dropped a control connection that could not be set up: %r", exc)
                self._forget_sock(sock)

    def _admit(self, sock: socket.socket) -> None:
        """A connection was accepted: serve it, or refuse it with a reason."""
        pid, uid = _peer_creds(sock)
        if uid not in (0, self.uid):
            log.warning("refused control connection from uid %d", uid)
            self._refuse(sock, f"permission denied: the netdrv daemon serves root and uid "
                               f"{self.uid} only (you are uid {uid})")  # fmt: skip
            return
        if len(self.conns) >= self.max_connections:
            self._refuse_busy(sock, pid)
            return
        sock.setblocking(False)
        conn = _Conn(sock, self.host.loop.clock(), pid)
        self.conns[sock.fileno()] = conn
        self.host.loop.add_reader(sock.fileno(), functools.partial(self._on_readable, conn))
        self._arm_idle_check(conn.since + self.idle_timeout)

    @staticmethod
    def _refuse(sock: socket.socket, error: str) -> None:
        """Answer a connection that will not be served with ``error``, and close it."""
        with contextlib.suppress(OSError):
            sock.setblocking(False)  # never wait for a client here: the reply fits the buffer
            sock.send(encode_message({"ok": False, "error": error}))
        sock.close()

    @staticmethod
    def _forget_sock(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.close()

    def _refuse_busy(self, sock: socket.socket, pid: int) -> None:
        """The connection limit is reached: say so to the client, and (at a bounded rate) in
        the log, naming the processes that hold the most connections."""
        self._refuse(sock, (
            f"the netdrv daemon has {len(self.conns)} control connections open, its limit: "
            f"retry in a moment (connections that send no request are closed after "
            f"{self.idle_timeout:g} s; its log names the processes holding them)"
        ))  # fmt: skip
        self._refused += 1
        now = self.host.loop.clock()
        if now - self._refused_logged < 10.0:
            return
        holders: dict[int, int] = {}
        for c in self.conns.values():
            holders[c.pid] = holders.get(c.pid, 0) + 1
        top = sorted(holders.items(), key=lambda kv: -kv[1])[:3]
        who = ", ".join(f"pid {p or '?'}: {n}" for p, n in top)
        log.warning(
            "refused %d control connection(s) (latest from pid %s): %d open, the limit (%s); "
            "idle ones are closed after %g s", self._refused, pid or "?", len(self.conns), who,
            self.idle_timeout,
        )  # fmt: skip
        self._refused, self._refused_logged = 0, now

    def _arm_idle_check(self, when: float) -> None:
        """Make sure an idle check runs by loop time ``when``."""
        t = self._idle_timer
        if t is not None and not t.cancelled and t.when <= when:
            return
        if t is not None:
            t.cancel()
        self._idle_timer = self.host.loop.call_at(when, self._close_idle)

    def _close_idle(self) -> None:
        """Close the connections that sent no whole request for :attr:`idle_timeout` seconds
        (a client that connects and never sends, or sends half a request, would hold a
        descriptor for as long as the daemon runs)."""
        self._idle_timer = None
        now = self.host.loop.clock()
        # ``since + timeout``, as the timer was armed: ``now - since`` may come out an ulp
        # short of the timeout at that very time, and the check would re-arm for now.
        idle = [c for c in self.conns.values()
                if not c.streaming and c.since + self.idle_timeout <= now]  # fmt: skip
        for conn in idle:
            self._close_conn(conn)
        if idle:
            pids = sorted({c.pid for c in idle})
            log.warning("closed %d control connection(s) that sent no request for %g s "
                        "(pid %s)", len(idle), self.idle_timeout,
                        ", ".join(str(p or "?") for p in pids))  # fmt: skip
        waiting = [c.since for c in self.conns.values() if not c.streaming]
        if waiting:
            self._arm_idle_check(min(waiting) + self.idle_timeout)

    def _resume_accept(self, listener: socket.socket) -> None:
        if self.listener is listener and listener.fileno() >= 0:
            self.host.loop.add_reader(listener.fileno(), self._accept)
            self._accept()

    def _close_conn(self, conn: _Conn) -> None:
        if conn.capture_remove is not None:
            conn.capture_remove()
            conn.capture_remove = None
        fd = conn.sock.fileno()
        if fd >= 0:
            self.host.loop.remove_reader(fd)
            self.conns.pop(fd, None)
        conn.sock.close()
        if conn.on_close is not None:  # after the close: its late answer goes nowhere
            on_close, conn.on_close = conn.on_close, None
            try:
                on_close()
            except Exception:  # a driver's fault is the host's to isolate: never the daemon's
                log.exception("ending what a closed connection was waiting for raised")

    def _on_readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_conn(conn)
            return
        conn.buf += data
        while True:
            try:
                req = decode_message(conn.buf)
            except ProtocolError as exc:
                self._send(conn, {"ok": False, "error": str(exc)})
                self._close_conn(conn)
                return
            if req is None:
                return
            if conn.capture_remove is not None:
                # The connection streams pcap records now: a reply would land in the
                # middle of them, and a second capture would orphan the first one's tap.
                log.warning("a request on a capturing connection (%r): closing it", req)
                self._close_conn(conn)
                return
            if conn.pending:  # its reply would come before the one it waits for
                log.warning("a request on a connection awaiting its reply (%r): closing it", req)
                self._close_conn(conn)
                return
            try:
                validate_request(req)
                reply = self.handle(req, conn)
            except NetdrvError as exc:
                reply = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
            except Exception as exc:
                log.exception("request %r failed", req.get("cmd"))
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "internal"}
            if reply is not None and not self._send(conn, reply):
                # A client that does not read its replies (it pipelines requests, or hung):
                # answering the rest of its requests would stall every device and client for
                # the send timeout each, and a reply cut short desynchronises the stream.
                log.warning("a client did not read its reply to %r: closing its connection",
                            req.get("cmd"))  # fmt: skip
                self._close_conn(conn)
                return
            if self._deferred:  # the first answer is out: housekeeping may take its time now
                self.host.loop.call_soon(self._run_deferred)
            if conn.sock.fileno() < 0:
                return
            conn.since = self.host.loop.clock()  # answered: its idle time starts again
            if not conn.streaming:
                self._arm_idle_check(conn.since + self.idle_timeout)

    def _send(self, conn: _Conn, obj: dict[str, Any]) -> bool:
        """Send one reply; False if the client did not take it within the send timeout."""
        try:
            data = encode_message(obj)
        except (TypeError, ValueError, ProtocolError) as exc:
            # A driver returned something JSON cannot carry: the client still gets an answer.
            log.error("reply %.200r could not be encoded: %s", obj, exc)
            data = encode_message({
                "ok": False, "kind": "ProtocolError",
                "error": f"the daemon's reply could not be encoded ({exc}); see its log",
            })  # fmt: skip
        return self._send_all(conn, data, 5.0)

    @staticmethod
    def _send_all(conn: _Conn, data: bytes | memoryview, timeout: float) -> bool:
        """Send all of ``data``, waiting at most ``timeout`` s for a slow reader; False if not."""
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(timeout)
            conn.sock.sendall(data)
            return True
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                conn.sock.setblocking(False)

    # -- commands ------------------------------------------------------------------------
    def handle(self, req: dict[str, Any], conn: _Conn | None = None) -> dict[str, Any] | None:
        """Execute one request."""
        cmd = req["cmd"]
        if cmd == "ping":
            return {"ok": True, "pid": os.getpid(), "drivers": list(self.drivers)}
        if cmd == "load":
            if self._exiting:
                # Its shutdown, already scheduled, would unload the driver after an "ok".
                raise DaemonExiting(
                    "this netdrv daemon is exiting (netdrv stop, or its last driver was just "
                    "unloaded): run the command again, which starts a new one"
                )
            name = req["driver"]
            base = split_instance(name)[0]
            skip = set(req.get("disabled", ()))
            if base in skip or base in self.pm.disabled:
                raise PluginError(f"plugin {base!r} is disabled (-p no:{base})")
            named = list(dict.fromkeys(req.get("plugins", [])))
            added = [m for m in named if m not in self.pm.extra]
            self.pm.extra.extend(added)
            loaded = self.pm.loaded_plugins()
            try:
                # Each `netdrv load` tries a hook plugin that failed before again, once.
                return self.load(name, req.get("params", []), plugins=named, retry_failed=True,
                                 skip=skip)  # fmt: skip
            except BaseException:
                # `-p MODULE` of a load that failed is not this daemon's plugin from now on
                # (`netdrv drivers` would list any module named, `-p os` included), and the
                # hooks it brought do not run for the next loads.
                for m in added:
                    self.pm.drop_extra(m, keep=loaded)
                raise
        if cmd == "unload":
            warning = self.unload(req["driver"])
            # Its last driver (or a stop came first): netdrv waits for this process to exit.
            reply: dict[str, Any] = {"ok": True, "exiting": True} if self._exiting else {"ok": True}
            if warning:  # unloaded all the same, as rmmod cannot fail: but the author must know
                reply["warning"] = warning
            return reply
        if cmd == "status":
            injectors = {dev: fi for dev, (fi, _) in self._injectors().items()}
            return {"ok": True, "pid": os.getpid(),
                    **host_status(self.host, self.drivers, injectors),
                    "fault_injectors": {d.name: fi.settings() for d, fi in injectors.items()}}  # fmt: skip
        if cmd == "stop":
            # A load read before the shutdown runs (this same round) would be answered, then
            # unloaded by it: refused instead, as after the last unload.
            self._exiting = True
            self.host.loop.call_soon(self.shutdown)
            return {"ok": True}
        if cmd == "capture":
            assert conn is not None
            self.start_capture(conn, req["dev"], int(req.get("count", 0)))
            return None  # the reply streams
        if cmd == "set":
            return self.set_device(req)
        if cmd == "sysctl":
            return {"ok": True, "result": self.sysctl(req.get("values", {}))}
        if cmd == "ethtool":
            return self.ethtool(req, conn)
        if cmd == "faults":
            return self.faults(req)
        raise ProtocolError(f"unhandled command {cmd!r}")

    def sysctl(self, values: dict[str, int]) -> dict[str, int]:
        """Set daemon-wide tunables (all or none) and return every one's value."""
        for key, value in values.items():
            if key not in SYSCTLS:
                raise ParameterError(f"unknown setting {key!r}; known: {', '.join(SYSCTLS)}")
            _, lo, hi = SYSCTLS[key]
            if not lo <= value <= hi:
                raise ParameterError(f"{key}={value} is out of range: {lo}..{hi}")
        loop = self.host.loop
        if values:  # a daemon kept for its settings, without drivers, until `netdrv stop`
            self._used = True
        if "busy_poll" in values:
            loop.busy_poll = values["busy_poll"] / 1e6
            log.info("busy_poll set to %d us", values["busy_poll"])
        if "loglevel" in values:
            logging.getLogger(_NETDRV_LOGGER).setLevel(_LOGLEVELS[values["loglevel"]])
            log.info("loglevel set to %d", values["loglevel"])
        return {"busy_poll": round(loop.busy_poll * 1e6), "loglevel": _loglevel()}

    def load(
        self, name: str, args: list[str], *, plugins: Collection[str] = (),
        retry_failed: bool = False, skip: Collection[str] = (),
    ) -> dict[str, Any]:  # fmt: skip
        """Load driver ``name`` with ``args``; on any failure nothing stays registered.

        First the ``-p`` modules and hook plugins are loaded, once
        (:meth:`PluginManager.load_hook_plugins`): one of ``plugins`` (the ``-p``
        modules named for this load) that fails fails the load; the hooks of the others
        apply to the driver.  With ``retry_failed`` (what a ``load`` request does), a hook
        plugin that failed at an earlier load is tried again, and its error logged again.
        The hooks of the plugins named in ``skip`` (a load request's ``-p no:NAME``) take
        no part in this load: not loaded for it, they add no parameter to the driver and
        follow none of its devices' events, as long as it is loaded, even if another
        load has loaded them.

        The plugin's import, the driver's ``init``/``configure`` and the hooks
        they trigger run under the watchdog: a hang is logged with a stack dump
        and reported to clients (``netdrv`` says the daemon is busy in driver
        NAME's init); SIGTERM aborts it.
        """
        base = split_instance(name)[0]
        if name in self.drivers:
            more = ""
            if self.drivers[name].multiple_instances:
                free = next(f"{base}:{t}" for t in _tags() if f"{base}:{t}" not in self.drivers)
                more = f", or load another instance: netdrv load {free} …"
            raise NetdrvError(
                f"driver {name!r} is already loaded (netdrv unload {name} first{more})"
            )
        with self.watchdog.guard("importing the -p and hook plugins"):
            failed = self.pm.load_hook_plugins(
                required=plugins, retry_failed=retry_failed, skip=skip
            )
        with self.watchdog.guard(f"importing plugin {base!r}"):
            cls = self.pm.get_driver(base, hook_plugins=False)
        try:
            with self.watchdog.guard(f"importing plugin {base!r}"):
                check_instance(cls, name)
                decl = self.pm.driver_parameters(base, hook_plugins=False, skip=skip)
                try:
                    params = parse_params(name, decl, args)
                except ParameterError as exc:
                    raise name_failed_plugins(exc, decl, args, failed, " in the daemon") from None
        except BaseException:
            self._forget_after_failed_load(name)
            raise
        drv: Driver | None = None
        before = set(self.host.devices.values())
        threads_before = set(threading.enumerate())
        self._skip_plugins[name] = frozenset(skip)
        self._loading = name  # the driver of a device registered in init without register
        try:
            with self.watchdog.guard(f"driver {name!r} init"), self.host.as_current():
                try:
                    cls.check_params(params)
                except ParameterError as exc:
                    raise check_params_error(name, exc) from None
                drv = cls(self.host, params)
                drv.instance = name
                drv.init()
                drv.configure()
        except BaseException as exc:
            # A bug in the driver's init/configure (not an error it reports, such as a
            # PortError) gets its traceback in the log: the reply can only say where.
            # An OSError of a system call (a port or adapter missing, busy, refused) is the
            # environment's; one the driver's code raises itself is a bug like any other.
            bug = not (isinstance(exc, NetdrvError | KeyboardInterrupt | SystemExit)
                       or environment_error(exc))  # fmt: skip
            log.warning("loading %s failed: %s", name, describe_exception(exc),
                        exc_info=exc if bug else None)  # fmt: skip
            if drv is not None:
                drv.adopt(before)
            self._undo_load(name, drv)
            self._skip_plugins.pop(name, None)
            self._forget_after_failed_load(name)
            if isinstance(exc, NotPermittedError | PermissionError) and not _has_net_admin():
                raise NotPermittedError(_lacks_net_admin(name)) from exc
            if isinstance(exc, NetdrvError):
                raise
            if isinstance(exc, PermissionError) and not bug:
                raise NotPermittedError(f"loading {name}: {exc}") from exc
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise DriverHang(f"driver {name!r} init was interrupted") from exc
            raise PluginError(
                f"driver {name!r} failed to initialise: {describe_exception(exc)}"
                + (f"{driver_code_location(exc)}; the traceback is in the daemon's log (netdrv "
                   f"log): fix the driver and load it again (the next load imports it afresh)"
                   if bug else "")
            ) from exc  # fmt: skip
        finally:
            self._loading = None
            for t in set(threading.enumerate()) - threads_before:
                self.thread_owners[t] = f"driver {name!r} (module {cls.__module__})"
        drv.adopt(before)
        self.drivers[name] = drv
        self._used = True
        log.info("loaded %s", " ".join([name, *args]))
        devices = [d.name for d in drv.devices]
        return {"ok": True, "devices": devices, "description": describe_driver(drv)}

    def _undo_load(self, name: str, drv: Driver | None) -> None:
        """A load failed: unregister what the driver registered, let it release the rest."""
        if drv is not None:
            self.host.unregister_driver_devices(drv)
            try:
                with self.watchdog.guard(f"driver {name!r} exit"), self.host.as_current():
                    drv.exit()
            except BaseException as exc:  # a hang aborted by SIGTERM included
                log.warning("driver %s raised in exit after a failed init: %r", name, exc)
        # Started for this load, it has nothing left to do; started by a setting (or kept
        # for one), it runs on without drivers until `netdrv stop`, as documented.
        if not self.drivers and self.exit_when_empty and not self._used:
            self._exit_empty()

    def _exit_empty(self) -> None:
        """No driver is left: exit, and stop listening before the reply goes out.

        The client's next command (``netdrv unload X; netdrv load X``) then finds
        no daemon and starts a fresh one, instead of connecting to this one as it
        exits and seeing its connection closed unanswered.
        """
        self._exiting = True
        self._close_listener()
        self.host.loop.call_soon(self.shutdown)

    def _exit_if_unused(self) -> None:
        """:attr:`unused_exit` seconds after it started to serve: exit if nothing used it.

        ``netdrv load`` starts the daemon, then sends its load; killed in between (or its
        load failing before anything was registered) it leaves a daemon holding nothing,
        which no command would ever end but ``netdrv stop``.  A daemon with a connection
        open then waits for it (the load may be on its way) and looks again later.
        """
        if not self.unused_exit or self._used or self._exiting or self._stopping or self.drivers:
            return
        if self.conns:
            self.host.loop.call_later(self.unused_exit, self._exit_if_unused)
            return
        log.info("no driver was loaded and no setting made in the %g s since this daemon "
                 "started to serve: exiting (the command that started it was interrupted, or "
                 "its load failed)", self.unused_exit)  # fmt: skip
        self._exit_empty()

    def unload(self, name: str) -> str | None:
        """Unload driver ``name``: its devices are unregistered, its resources released.

        Returns what went wrong on the way, if anything (the driver's ``exit`` raised: its
        devices are unregistered all the same, what else it held may not be released)."""
        from .ethtool import ethtool_phys_id_stop

        drv = self.drivers.pop(name, None)
        if drv is None:
            loaded = ", ".join(self.drivers) or "none"
            raise NetdrvError(f"driver {name!r} is not loaded (loaded: {loaded})")
        warning = None
        for dev in list(self.host.devices.values()):  # the LED back to normal while it is there
            if dev.driver is drv:
                with contextlib.suppress(Exception):
                    ethtool_phys_id_stop(self.host, dev, f"its driver {name!r} is being unloaded")
        try:
            with self.watchdog.guard(f"driver {name!r} exit"), self.host.as_current():
                drv.exit()
        except BaseException as exc:  # Exception, or DriverHang raised into a hanging exit
            log.error("driver %s raised in exit: %r; unregistering its devices anyway", name,
                      exc, exc_info=exc)  # fmt: skip
            warning = (
                f"driver {name!r} raised in exit: {describe_exception(exc)}"
                f"{driver_code_location(exc)}; its devices were unregistered anyway, but what "
                f"else it holds (a port, a thread) may not be released: the traceback is in "
                f"the daemon's log (netdrv log)"
            )
        for dev in list(self.host.devices.values()):
            if dev.driver is drv:
                with contextlib.suppress(Exception):
                    self.host.unregister_netdev(dev)
        self._skip_plugins.pop(name, None)
        log.info("unloaded %s", name)
        if not self.drivers and self.exit_when_empty:
            self._exit_empty()
        elif self.forget_unloaded and not self._stopping:
            self._forget_plugin_of(name)
        return warning

    def _forget_after_failed_load(self, name: str) -> None:
        """A load failed: the author's fix is what the next load should run (see unload)."""
        if self.forget_unloaded and not self._stopping and name not in self.drivers:
            self._forget_plugin_of(name)

    def _forget_plugin_of(self, name: str) -> None:
        """After unloading ``name``: an author's edit is what the next ``netdrv load`` runs,
        in a daemon other drivers keep alive (unless the plugin has a driver still loaded)."""
        owner = self.pm.plugin_of(split_instance(name)[0])
        if owner is None or any(
            self.pm.plugin_of(split_instance(d)[0]) == owner for d in self.drivers
        ):
            return
        try:
            gone = self.pm.forget_plugin(owner)
        except Exception:  # never fails the unload itself
            log.exception("forgetting plugin %r after unloading %s failed", owner, name)
            return
        if gone:
            log.info("forgot plugin %s (%s): the next load imports it afresh", owner,
                     ", ".join(gone))  # fmt: skip

    def set_device(self, req: dict[str, Any]) -> dict[str, Any]:
        """Driver-level settings that have no ip-link equivalent (ioctl, set_config)."""
        dev = self.host.dev_get_by_name(req["dev"])
        if dev is None:
            raise NetdrvError(f"no netdrv device named {req['dev']!r}")
        given = [k for k in ("ifmap", "ioctl", "bql") if k in req]
        if len(given) > 1:  # each is answered on its own: the others would go unapplied
            raise ProtocolError(f"set: give 'ifmap', 'ioctl' or 'bql' one at a time, not "
                                f"{' and '.join(map(repr, given))}")  # fmt: skip
        if "ifmap" in req:
            ret = self.host.dev_set_config(dev, dict(req["ifmap"]))
            error = None
            if ret:
                error = refusal_text(-ret, self.host.extack)
                if ret == -errno.EBUSY and self.host.extack is None and dev.is_up:
                    error += (f" ({dev.name} is up: drivers refuse set_config while up, as "
                              f"LDD's snull does; ip link set {dev.name} down first)")  # fmt: skip
                elif ret == -errno.EOPNOTSUPP and _lacks_op(dev, "set_config"):
                    error += (f" ({self.host._owner(dev)} has no set_config, Linux's "
                              f"ndo_set_config: irq=, base_addr=, ... reach only a driver "
                              f"whose NetDeviceOps overrides it)")  # fmt: skip
            return {"ok": ret == 0, "result": ret, "error": error}
        if "ioctl" in req:
            why = None
            try:
                res = self.host.dev_ioctl(dev, int(req["ioctl"]), req.get("data"))
            except OSError as exc:
                res = -oserror_errno(exc)
                why = refusal_message(exc)
            except Exception as exc:
                self.host.driver_fault(dev, "do_ioctl", exc)
                raise DriverError(
                    f"{dev.name}: {self.host._owner(dev)} raised in do_ioctl: "
                    f"{type(exc).__name__}: {exc} (the device was taken down; see the daemon log)"
                ) from exc
            failed = isinstance(res, int) and not isinstance(res, bool) and res < 0
            out: dict[str, Any] = {"ok": not failed, "result": res}
            if failed:
                out["error"] = refusal_text(-res, why)
                if res == -errno.EOPNOTSUPP and why is None and _lacks_op(dev, "do_ioctl"):
                    out["error"] += (f" ({self.host._owner(dev)} has no do_ioctl, Linux's "
                                     f"ndo_siocdevprivate: ioctl= reaches only a driver "
                                     f"whose NetDeviceOps overrides it)")  # fmt: skip
            return out
        if "bql" in req:
            try:
                return {"ok": True, "result": bql_set(dev, dict(req["bql"]))}
            except ValueError as exc:
                return {"ok": False, "result": None, "error": str(exc)}
        raise ProtocolError("set: give 'ifmap', 'ioctl' or 'bql'")

    def ethtool(self, req: dict[str, Any], conn: _Conn | None = None) -> dict[str, Any] | None:
        """``netdrv ethtool``: one get or set request on a device's ``ethtool_ops``.

        The core checks the request (:func:`~netdrv_core.ethtool.ethtool_request`)
        and calls the driver under the watchdog; a refusal answers with its
        message and ``errno``.  A self-test that needs the loop, and a change made
        while a self-test runs on the device (it waits for the test, as Linux's RTNL
        lock makes it), answer later (None: the reply is sent to ``conn`` then).
        """
        from .ethtool import EthtoolError, ethtool_request_begin

        dev = self.host.dev_get_by_name(req["dev"])
        if dev is None:
            raise NetdrvError(f"no netdrv device named {req['dev']!r}")
        op = req["op"]
        if op == "test":
            return self._self_test(dev, req, conn)
        if op == "identify":
            return self._identify(dev, req, conn)

        def reply_of(outcome: tuple[dict[str, Any], bool | None] | EthtoolError) -> dict[str, Any]:
            if isinstance(outcome, EthtoolError):
                return _ethtool_refusal(outcome)
            reply: dict[str, Any] = {"ok": True, "result": outcome[0]}
            if outcome[1] is not None:
                reply["changed"] = outcome[1]
            return reply

        later: list[dict[str, Any]] = []
        label = f"{self.host._owner(dev)}'s ethtool {op} on {dev.name}"

        def done(outcome: tuple[dict[str, Any], bool | None] | EthtoolError) -> None:
            self._answer_later(conn, later, reply_of(outcome))

        try:
            outcome = ethtool_request_begin(
                self.host, dev, op, req.get("set"), req.get("args"), done,
                lambda: self.watchdog.guard(label),
            )  # fmt: skip
        except EthtoolError as exc:
            return _ethtool_refusal(exc)
        if outcome is not None:
            return reply_of(outcome)
        return self._await_answer(dev, conn, later, done, op)

    def _answer_later(self, conn: _Conn | None, later: list[dict[str, Any]],
                      reply: dict[str, Any]) -> None:  # fmt: skip
        """Send an ethtool reply that was owed (a self-test's, a change's that waited for
        one) to ``conn``; in-process (no ``conn``), keep it in ``later``."""
        if conn is None:
            later.append(reply)
            return
        conn.pending = False
        conn.on_close = None
        if conn.sock.fileno() < 0:
            return  # the client went away meanwhile
        if not self._send(conn, reply):
            self._close_conn(conn)
            return
        conn.since = self.host.loop.clock()
        self._arm_idle_check(conn.since + self.idle_timeout)

    def _await_answer(self, dev: NetDevice, conn: _Conn | None, later: list[dict[str, Any]],
                      done: Callable[[Any], None], change: str | None) -> dict[str, Any] | None:  # fmt: skip
        """The answer comes later: mark ``conn`` owed one (None), or, in-process, run the
        loop until it is in ``later`` and return it.  ``change`` is the ethtool op of a
        change waiting for a self-test, None for a self-test.  An in-process caller
        answered that it failed (inside a loop callback, or the wait gave up) leaves
        nothing waiting: the change (``done`` its callback) is not made, the test not run,
        later."""
        from .ethtool import ETHTOOL_TEST_TIMEOUT, EthtoolError, _withdraw_waiting

        what = "the self-test" if change is None else \
            f"the self-test the ethtool {change} change waits for"  # fmt: skip
        if conn is None:  # an in-process caller: run the loop until the answer
            if self.host.loop.running is not None:  # as ethtool_request: never inside itself
                _withdraw_waiting(dev, done)
                return _ethtool_refusal(EthtoolError(
                    f"{dev.name}: {what} is not done yet, and an in-process request from a "
                    f"loop callback cannot wait (it would run the loop inside itself): send "
                    f"it through the control socket", errno.EDEADLK))  # fmt: skip
            # Up to a test's own timeout after waiting as long for one running before it.
            self.host.loop.run_until(lambda: bool(later), 2 * ETHTOOL_TEST_TIMEOUT + 1.0)
            if later:
                return later[0]
            _withdraw_waiting(dev, done)
            return _ethtool_refusal(EthtoolError(f"{dev.name}: {what} did not complete",
                                                 errno.ETIMEDOUT))  # fmt: skip
        conn.pending = True
        conn.owed = ("the self-test completed" if change is None else
                     f"the ethtool {change} change, waiting for a self-test, was made")  # fmt: skip
        return None

    def _self_test(
        self, dev: Any, req: dict[str, Any], conn: _Conn | None
    ) -> dict[str, Any] | None:
        """``ethtool -t``: the driver's test runs under the watchdog; one that completes later
        (it needs the loop: frames, timers) is answered then, the daemon serving meanwhile."""
        from .ethtool import ETH_TEST_FL_OFFLINE, EthtoolError, ethtool_self_test_begin

        def reply_of(outcome: dict[str, Any] | EthtoolError) -> dict[str, Any]:
            if isinstance(outcome, EthtoolError):
                return _ethtool_refusal(outcome)
            return {"ok": True, "result": outcome}

        later: list[dict[str, Any]] = []

        def done(outcome: dict[str, Any] | EthtoolError) -> None:
            self._answer_later(conn, later, reply_of(outcome))

        flags = (req.get("args") or {}).get("flags", ETH_TEST_FL_OFFLINE)
        try:
            with self.watchdog.guard(f"{self.host._owner(dev)}'s ethtool test on {dev.name}"):
                result = ethtool_self_test_begin(self.host, dev, flags, done)
        except EthtoolError as exc:
            return reply_of(exc)
        if result is not None:
            return reply_of(result)
        return self._await_answer(dev, conn, later, done, None)

    def _identify(self, dev: Any, req: dict[str, Any], conn: _Conn | None) -> dict[str, Any] | None:
        """``ethtool -p DEV [N]``: answered when it ends (after N seconds), the daemon serving
        meanwhile; the client going away (Ctrl-C) ends it, the driver told
        ``ETHTOOL_ID_INACTIVE``, as a signal ends Linux's."""
        from .ethtool import EthtoolError, ethtool_phys_id_begin

        later: list[dict[str, Any]] = []
        begun = False

        def done(error: EthtoolError | None) -> None:
            reply = {"ok": True, "result": {}} if error is None else _ethtool_refusal(error)
            if begun:
                self._answer_later(conn, later, reply)
            else:  # over before it began (its first ON refused): the request's own answer
                later.append(reply)

        seconds = (req.get("args") or {}).get("seconds", 0)
        label = f"{self.host._owner(dev)}'s ethtool identify on {dev.name}"
        if conn is None and not seconds:  # in-process: nobody could interrupt it
            return _ethtool_refusal(EthtoolError(f"{dev.name}: an in-process identify needs "
                                                 f"seconds > 0", errno.EINVAL))  # fmt: skip
        if conn is None and self.host.loop.running is not None:  # as _await_answer
            return _ethtool_refusal(EthtoolError(
                f"{dev.name}: an in-process identify from a loop callback cannot wait for its "
                f"end (it would run the loop inside itself): send it through the control "
                f"socket", errno.EDEADLK))  # fmt: skip
        try:
            run = ethtool_phys_id_begin(self.host, dev, seconds, done,
                                        lambda: self.watchdog.guard(label))  # fmt: skip
        except EthtoolError as exc:
            return _ethtool_refusal(exc)
        begun = True
        if later:
            return later[0]
        if conn is None:
            self.host.loop.run_until(lambda: bool(later), seconds + 5.0)
            if not later:
                run.cancel()
            return later[0]
        conn.pending = True
        conn.owed = f"the identification of {dev.name} (ethtool -p) ended"
        conn.on_close = run.cancel
        return None

    def faults(self, req: dict[str, Any]) -> dict[str, Any]:
        """``netdrv faults``: install or change (``set``), remove (``off``) or show the
        :class:`~netdrv_core.phy.FaultInjector` of a device, netem's ``tc qdisc``.

        One injector per device, the daemon's: ``set`` installs it, or replaces every
        parameter of the one there (:meth:`~netdrv_core.phy.FaultInjector.change`: one
        not given goes back to its default, where ``tc qdisc change … netem`` keeps
        corrupt, rate, distribution and correlations not given; a new ``direction``
        installs a new injector, whose counters start at 0).  ``off`` (and a new ``direction``) drops what the injector
        holds, as ``tc qdisc del`` resets netem's queue; it goes with its device (its
        held frames purged).
        The reply has ``faults`` (the parameters, None without an injector),
        ``stats`` (its :class:`~netdrv_core.phy.FaultStats`, both directions together)
        and ``directions`` (each direction's counters by ``tx``/``rx``); all three None
        without an injector.
        """
        from .phy.faults import FaultInjector

        dev = self.host.dev_get_by_name(req["dev"])
        if dev is None:
            raise NetdrvError(f"no netdrv device named {req['dev']!r}")
        injectors = self._injectors()
        held = injectors.get(dev)
        fi = held[0] if held else None
        if req.get("off"):
            if held is None:
                return {"ok": False, "error": f"{dev.name} has no fault injector (nothing to "
                                              f"turn off)"}  # fmt: skip
            log.info("%s: fault injector removed, %d held frame(s) dropped", dev.name,
                     self._faults_off(dev))  # fmt: skip
            return {"ok": True, "faults": None, "stats": None, "directions": None}
        if "set" in req:
            params = dict(req["set"])
            try:
                if fi is not None and params.get("direction", "both") == fi.direction:
                    fi.change(**params)
                else:
                    FaultInjector.check(dev, **params)  # refused: the old one stays
                    if held is not None:  # a new direction: a new injector, not over the old
                        log.info("%s: fault injector (direction %s) removed for a new direction "
                                 "%s, %d held frame(s) dropped", dev.name, held[0].direction,
                                 params.get("direction", "both"), self._faults_off(dev))  # fmt: skip
                    new = FaultInjector(dev, **params)
                    unpurge = self.host.add_purge(dev, functools.partial(self._faults_gone, dev))
                    injectors[dev] = (new, unpurge)
                    fi = new
            except (TypeError, ValueError) as exc:
                return {"ok": False, "error": f"{dev.name}: {exc}"}
            from .netem_words import faults_line

            log.info("%s", faults_line(dev.name, fi.settings()))  # in tc's words, as shown
        if fi is None:
            return {"ok": True, "faults": None, "stats": None, "directions": None}
        return {
            "ok": True,
            "faults": fi.settings(),
            "stats": fi.stats.as_dict(),
            "directions": {d: st.as_dict() for d, st in fi.stats_by_direction.items()},
        }

    def _injectors(self) -> dict[NetDevice, tuple[Any, Callable[[], None]]]:
        """The daemon's fault injectors by device, with what stops their purge callback."""
        try:
            return self._fault_injectors
        except AttributeError:
            self._fault_injectors: dict[NetDevice, tuple[Any, Callable[[], None]]] = {}
            return self._fault_injectors

    def _faults_off(self, dev: NetDevice) -> int:
        """Remove ``dev``'s injector; the number of held frames it dropped."""
        fi, unpurge = self._injectors().pop(dev)
        unpurge()
        purged: int = fi.stats.purged
        fi.remove()
        return int(fi.stats.purged - purged)

    def _faults_gone(self, dev: NetDevice, gone: bool) -> None:
        """``Host.add_purge``: the device went, its injector (which purged its frames) too."""
        if gone and dev in self._injectors():
            self._faults_off(dev)

    def start_capture(self, conn: _Conn, devname: str, count: int) -> None:
        """Stream pcap records of ``devname`` to this connection."""
        from .phy.pcap import PcapWriter

        dev = self.host.dev_get_by_name(devname)
        if dev is None:
            raise NetdrvError(f"no netdrv device named {devname!r}")
        writer = PcapWriter.for_device(dev)
        conn.capture_left = count  # 0: until the client goes away
        # The ifindex (never given twice by one daemon) tells netdrv capture, once the
        # stream ends, whether this very device is gone, whatever it is named by then.
        reply = {"ok": True, "linktype": writer.linktype, "ifindex": dev.ifindex}
        if not self._send(conn, reply):
            self.host.loop.call_soon(self._close_conn, conn)  # the client is gone: no tap
            return
        self._raw(conn, writer.header())

        def tap(d: Any, skb: Any, direction: str) -> None:
            # -c N counts the records the client gets: one a slow reader lost is not one.
            if not self._raw(conn, writer.record_skb(skb)):  # a metadata VLAN tag put back
                return
            if count:
                conn.capture_left -= 1
                if conn.capture_left == 0:  # the last one: no frame of this round after it
                    end_capture()

        def end_capture() -> None:
            if conn.capture_remove is not None:
                conn.capture_remove()
                conn.capture_remove = None
            conn.capture_done = True
            if not conn.out:  # else _flush_capture closes it once the record is whole
                self.host.loop.call_soon(self._close_conn, conn)  # EOF tells netdrv capture

        conn.capture_remove = self.host.add_tap(dev, tap, gone=end_capture)

    #: Seconds a capture reader may leave a record half-sent before its capture ends.
    capture_stall_timeout = 2.0

    def _raw(self, conn: _Conn, data: bytes) -> bool:
        """Send one pcap record whole, or not at all: a slow reader loses frames, not sync.

        Never waits: a record the socket takes only part of is finished from a
        timer (:meth:`_flush_capture`) while the devices keep running, and every
        record until then is lost.  True when the record went out, or its rest
        is queued to follow.
        """
        if conn.out and not self._flush_capture(conn, retry=False):
            return False  # the previous record is still going out: this one is lost
        try:
            n = conn.sock.send(data)
        except OSError:  # BlockingIOError included: nothing went out, the record is dropped
            return False
        if n < len(data):
            # Part of the record is out: the rest must follow before anything else, or every
            # later record is misread.
            conn.out += memoryview(data)[n:]
            conn.out_since = self.host.loop.clock()
            if conn.out_timer is None:
                conn.out_timer = self.host.loop.call_later(0.001, self._flush_capture, conn, 0.001)
        return True

    def _flush_capture(self, conn: _Conn, delay: float = 0.0, retry: bool = True) -> bool:
        """Send what is left of a half-sent record; True once it is all out.

        Retried from a timer (``retry``), backing off to 50 ms; a reader that takes
        nothing for :attr:`capture_stall_timeout` seconds ends its capture: the cut
        record is the last thing it gets.
        """
        if retry:
            conn.out_timer = None  # this is the timer's call
        if conn.sock.fileno() < 0 or not conn.out:
            return not conn.out
        try:
            n = conn.sock.send(conn.out)
        except BlockingIOError:
            n = 0
        except OSError:  # the reader went away
            self._close_conn(conn)
            return False
        if n:
            del conn.out[:n]
            conn.out_since = self.host.loop.clock()
        if not conn.out:
            if conn.capture_done:
                self._close_conn(conn)
            return True
        if not retry:
            return False
        if self.host.loop.clock() - conn.out_since >= self.capture_stall_timeout:
            log.warning("a capture reader took nothing for %g s: ending its capture",
                        self.capture_stall_timeout)  # fmt: skip
            self._close_conn(conn)  # removes the tap
            return False
        delay = min(delay * 2, 0.05)
        conn.out_timer = self.host.loop.call_later(delay, self._flush_capture, conn, delay)
        return False

    # -- lifecycle ----------------------------------------------------------------------
    def shutdown(self) -> None:
        """Unload everything and stop the loop."""
        if self._stopping:
            return
        self._stopping = True
        # Stop listening first, as _exit_empty does: a command whose connection is closed
        # below asks again at once, and must find no daemon, not a listener about to close.
        self._close_listener()
        for name in list(self.drivers):
            with contextlib.suppress(Exception):
                self.exit_when_empty = False
                self.unload(name)
        for conn in list(self.conns.values()):
            if conn.pending and conn.sock.fileno() >= 0:
                # Its self-test ended with its device (the result is still on its way): an
                # answer, not a connection closed unanswered.
                conn.pending = False
                self._send(conn, {"ok": False, "kind": "EthtoolError", "errno": errno.ENODEV,
                                  "error": "the netdrv daemon stopped (every driver unloaded) "
                                           f"before {conn.owed}"})  # fmt: skip
            self._close_conn(conn)
        self._close_listener()
        self.host.loop.stop()

    def _close_listener(self) -> None:
        if self.listener is not None:
            self.host.loop.remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None

    def _on_signal(self, signum: int, _frame: Any) -> None:
        """SIGTERM/SIGINT/SIGHUP: shut down; if stuck in driver code, abort that code first."""
        self.host.loop.call_soon_threadsafe(self.shutdown)
        busy = self.watchdog.current or (self.lockup.busy if self.lockup is not None else None)
        if busy is not None:
            log.warning("%s while busy in %s: aborting it", signal.Signals(signum).name, busy)
            raise DriverHang(f"{busy} aborted by {signal.Signals(signum).name}")

    def _on_sighup(self, signum: int, _frame: Any) -> None:
        """SIGHUP of a background daemon: reopen its log (see :meth:`reopen_log`)."""
        self.host.loop.call_soon_threadsafe(self.reopen_log)

    def reopen_log(self, why: str = "SIGHUP") -> None:
        """Open :attr:`log_file` afresh as stdout and stderr: after ``logrotate`` moved the
        old file away (or it was deleted), the log goes on in a new file of that name."""
        if self.log_file is None:
            return
        try:
            fd = open_log(self.log_file)
        except (OSError, NetdrvError) as exc:
            log.error("%s: cannot reopen the log %s: %s; writing on to the old file",
                      why, self.log_file, exc)  # fmt: skip
            return
        sys.stderr.flush()
        sys.stdout.flush()
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        finally:
            os.close(fd)
        log.info("log reopened (%s)", why)

    def check_log_size(self) -> bool:
        """Rotate :attr:`log_file` once it is larger than :data:`LOG_MAX_BYTES`: the file
        becomes ``….log.1`` (replacing an older one) and the log goes on in a new file,
        so one namespace's log never takes more than about twice that.  True if rotated.
        A file another tool has moved away already (logrotate without SIGHUP) is left."""
        if self.log_file is None:
            return False
        try:
            st = os.fstat(2)
            named = os.stat(self.log_file)
        except OSError:
            return False
        if st.st_size <= LOG_MAX_BYTES or (st.st_dev, st.st_ino) != (named.st_dev, named.st_ino):
            return False
        old = f"{self.log_file}.1"
        log.info("the log has %d bytes, more than %d: it goes on in a new file; these lines "
                 "are kept in %s", st.st_size, LOG_MAX_BYTES, old)  # fmt: skip
        try:
            os.replace(self.log_file, old)
        except OSError as exc:
            log.error("cannot rotate the log %s: %s", self.log_file, exc)
            return False
        self.reopen_log(f"more than {LOG_MAX_BYTES} bytes; the earlier lines are in {old}")
        return True

    def _log_check_timer(self) -> None:
        try:
            self.check_log_size()
        except Exception:  # housekeeping: logged, never a fault of the loop
            log.exception("checking the size of the log %s failed", self.log_file)
        finally:
            if not self._stopping:
                self.host.loop.call_later(LOG_CHECK_INTERVAL, self._log_check_timer)

    def defer(self, work: Callable[[], None]) -> None:
        """Run ``work`` once the daemon serves, after its first answer (or
        :data:`DEFER_AFTER` seconds into :meth:`run` if no request comes): housekeeping
        (log pruning) that a request waiting as the daemon starts must not wait for.
        An exception it raises is logged."""
        self._deferred.append(work)

    def _run_deferred(self) -> None:
        work, self._deferred = self._deferred, []
        for fn in work:
            try:
                fn()
            except Exception:  # housekeeping: logged, never what stops a daemon
                log.exception("deferred housekeeping %r failed", fn)

    def run(self) -> None:
        """Serve until stopped; SIGTERM and SIGINT shut down cleanly, and so does SIGHUP
        unless the daemon has a :attr:`log_file` (then SIGHUP reopens it).

        The :attr:`unused_exit` time counts from here, once the daemon serves — not from a
        start-up that may take longer — and deferred work (:meth:`defer`) waits for the
        first answer."""
        loop = self.host.loop
        if self.unused_exit:
            loop.call_later(self.unused_exit, self._exit_if_unused)
        if self._deferred:
            loop.call_later(DEFER_AFTER, self._run_deferred)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        if self.log_file is not None:
            signal.signal(signal.SIGHUP, self._on_sighup)
        threading.excepthook = self._thread_error
        if self.lockup is not None:
            self.lockup.start()
        if self.log_file is not None:
            loop.call_later(LOG_CHECK_INTERVAL, self._log_check_timer)
        try:
            loop.run_forever()
        finally:
            if self.lockup is not None:
                self.lockup.stop()
            self.shutdown()
            self.host.close()
            log.info("daemon stopped")


def _tags() -> Iterator[str]:
    """Instance tags to suggest: b, c, … z, then 2, 3, …"""
    yield from "bcdefghijklmnopqrstuvwxyz"
    yield from map(str, itertools.count(2))


def run_dir() -> str:
    """The directory of this user's daemon logs: ``/run/netdrv`` for root.

    Other users get ``$XDG_RUNTIME_DIR/netdrv`` or ``/tmp/netdrv-UID``, created
    0700.  The directory must be a real directory owned by the user and not
    writable by anyone else — otherwise another user could plant a symlink
    where the daemon appends its log — or :class:`NetdrvError` says what to
    remove.
    """
    uid = os.geteuid()
    if uid == 0:
        base, mode = "/run/netdrv", 0o755
    elif os.environ.get("XDG_RUNTIME_DIR"):
        base, mode = os.path.join(os.environ["XDG_RUNTIME_DIR"], "netdrv"), 0o700
    else:
        base, mode = f"/tmp/netdrv-{uid}", 0o700
    try:
        os.makedirs(base, mode=mode, exist_ok=True)
        st = os.lstat(base)
    except OSError as exc:
        raise NetdrvError(f"cannot create the netdrv log directory {base}: {exc}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o022:
        raise NetdrvError(
            f"{base} must be a directory owned by uid {uid} and writable only by it "
            f"(it is {stat.filemode(st.st_mode)} owned by uid {st.st_uid}): remove it and retry"
        )
    return base


def log_path() -> str:
    """Where a background daemon of this namespace logs."""
    from .control import netns_id

    return os.path.join(run_dir(), f"daemon-{netns_id()}.log")


def busy_path() -> str:
    """Where the daemon of this namespace says what driver code it is stuck in (see ``netdrv``)."""
    from .control import netns_id

    return os.path.join(run_dir(), f"daemon-{netns_id()}.busy")


def open_log(path: str) -> int:
    """Open (append) a daemon log without following symlinks; never world-writable."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o640)  # fmt: skip
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        os.close(fd)
        raise NetdrvError(f"{path} belongs to uid {st.st_uid}, not to you: remove it and retry")
    if st.st_mode & 0o022:
        os.fchmod(fd, st.st_mode & 0o755 & ~0o022)
    # A shared lock, held as long as the daemon (which inherits this open file) writes to
    # it: prune_logs never removes a log in use, whichever namespace its daemon is in.
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    return fd


_NETNS_LINK = re.compile(r"net:\[(\d+)\]")
_RUN_FILE = re.compile(r"daemon-(\d+)\.(?:log|log\.1|busy)\Z")


def live_netns() -> set[int]:
    """The inodes of the network namespaces this process can see alive: those of every
    process and thread (``/proc/PID/task/TID/ns/net``), those a process holds open
    (``/proc/PID/fd/N``: a container runtime's, or any program's that will ``setns`` back)
    and those bind-mounted (``ip netns add`` mounts them on ``/run/netns/NAME``) in this or
    any process's mount namespace.  Those of another user's processes are not readable
    unless root.  A namespace none of these holds is gone: the kernel frees it."""
    from .control import netns_id

    live = {netns_id()}
    mount_ns: set[int | None] = set()
    if _read_nsfs_mounts("/proc/self/mountinfo", live):
        mount_ns.add(_ns_link("/proc/self/ns/mnt"))
    with contextlib.suppress(OSError):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            links = [f"/proc/{pid}/ns/net"]
            with contextlib.suppress(OSError):
                tasks = os.listdir(f"/proc/{pid}/task")
                if len(tasks) > 1:  # a thread may have called setns(CLONE_NEWNET)
                    links += [f"/proc/{pid}/task/{tid}/ns/net" for tid in tasks if tid != pid]
            with contextlib.suppress(OSError):
                links += [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
            for link in links:
                ino = _ns_link(link, "net")
                if ino is not None:
                    live.add(ino)
            mnt = _ns_link(f"/proc/{pid}/ns/mnt")
            # Read at once, while the process is there; a mount namespace counts as read
            # only if that worked (the process may have exited since: the next one of it).
            if (mnt is not None and mnt not in mount_ns
                    and _read_nsfs_mounts(f"/proc/{pid}/mountinfo", live)):  # fmt: skip
                mount_ns.add(mnt)
    return live


def _read_nsfs_mounts(path: str, live: set[int]) -> bool:
    """Add the network namespaces mounted in the ``mountinfo`` file ``path`` to ``live``;
    False if it could not be read (its process gone, or another user's)."""
    found = set()
    try:
        with open(path) as f:
            for line in f:
                fields = line.split()
                # ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPEROPTIONS
                if "-" in fields and fields[fields.index("-") + 1 :][:1] == ["nsfs"]:
                    m = _NETNS_LINK.fullmatch(fields[3]) if len(fields) > 3 else None
                    if m:
                        found.add(int(m.group(1)))
    except OSError:
        return False
    live |= found
    return True


def _ns_link(path: str, kind: str = "mnt") -> int | None:
    """The inode a ``/proc`` namespace link (or an open namespace fd) names, if of ``kind``."""
    try:
        target = os.readlink(path)
    except OSError:  # the process or fd went meanwhile, or is another user's
        return None
    prefix = f"{kind}:["
    if target.startswith(prefix) and target.endswith("]") and target[len(prefix) : -1].isdigit():
        return int(target[len(prefix) : -1])
    return None


def prune_logs(directory: str, *, max_age: float = STALE_LOG_AGE) -> list[str]:
    """Remove the logs (``daemon-INODE.log``, ``.log.1``) and busy files of network
    namespaces that no longer exist from ``directory`` (:func:`run_dir`); returns their names.

    A namespace is gone when no process or thread is in it, none holds it open and nothing
    mounts it (:func:`live_netns`); a file is kept anyway while a daemon holds the log open
    (its lock) or if it was written in the last ``max_age`` seconds.  A namespace that still
    exists keeps its log, to read with ``netdrv log`` in it, even with no daemon left.
    """
    live: set[int] | None = None  # scanned for the first old file only: it reads all of /proc
    now = time.time()
    gone: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return gone
    for name in sorted(names):
        m = _RUN_FILE.fullmatch(name)
        if m is None:
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < max_age:
                continue
            if live is None:
                live = live_netns()
            if int(m.group(1)) in live:
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a daemon writes it
            os.unlink(path)
            gone.append(name)
        except OSError:
            continue
        finally:
            os.close(fd)
    if gone:
        log.info("removed %d log file(s) of network namespaces that no longer exist from %s: "
                 "%s", len(gone), directory, ", ".join(gone))  # fmt: skip
    return gone


def _absolute(cwd: str, entry: Any) -> Any:
    """A ``sys.path`` entry relative to ``cwd`` made absolute; others as they are."""
    if isinstance(entry, str) and not os.path.isabs(entry):
        return os.path.normpath(os.path.join(cwd, entry))
    return entry


def _leave_cwd() -> None:
    """``chdir("/")``, as daemons do, so the daemon does not hold its start directory busy.

    The daemon inherits the working directory of the ``netdrv`` command that started
    it — a home directory, a USB stick, a build tree — and would keep that file system
    from being unmounted for as long as it runs.  Nothing the daemon does depends on
    it: ports must be absolute paths (the slip driver refuses relative ones), the logs
    are in :func:`run_dir`, the control socket is abstract, and captures are written
    by the ``netdrv`` client.  Only imports look at it: relative ``sys.path`` entries
    (``""`` is the working directory) are made absolute first, so a plugin importable
    at start-up stays importable.  (``python -m`` already puts the absolute directory
    first; ``site`` makes ``PYTHONPATH`` entries absolute.)
    """
    try:
        cwd = os.getcwd()
    except OSError:  # the directory was deleted: relative entries lead nowhere anyway
        cwd = None
    if cwd is not None:
        sys.path[:] = [_absolute(cwd, p) for p in sys.path]
    os.chdir("/")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m netdrv_core.daemon``."""
    ap = argparse.ArgumentParser(prog="netdrv-daemon", description=__doc__)
    ap.add_argument("--log-level", default="INFO")
    ap.add_argument("--ready-fd", type=int, default=-1, help="write one byte here once listening")
    ap.add_argument("--log-file", default=None,
                    help="the file stdout and stderr go to: SIGHUP reopens it (log rotation)")  # fmt: skip
    ap.add_argument("-p", dest="plugins", action="append", default=[],
                    help="no:NAME disables a plugin; MODULE adds one")  # fmt: skip
    ap.add_argument("--watchdog", type=float,
                    default=float(os.environ.get("NETDRV_WATCHDOG") or DEFAULT_WATCHDOG),
                    help="seconds a driver or plugin call may take before the daemon reports "
                         "itself busy (log warning, stack dump); 0 disables")  # fmt: skip
    ap.add_argument("--unused-exit", type=float, default=0.0, metavar="SECONDS",
                    help="exit if no driver was loaded and no setting made within SECONDS of "
                         "starting to serve (what netdrv starts on demand); 0 never")  # fmt: skip
    ns = ap.parse_args(argv)
    if not ns.unused_exit >= 0:  # NaN too
        ap.error(f"--unused-exit: {ns.unused_exit} is not a number of seconds >= 0")
    os.umask(0o022)  # whatever the caller's umask, nothing the daemon creates is world-writable
    logging.basicConfig(
        level=ns.log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    disabled = [p[3:] for p in ns.plugins if p.startswith("no:")]
    extra = [p for p in ns.plugins if not p.startswith("no:")]
    try:
        try:
            busy: str | None = os.path.abspath(busy_path())  # absolute before _leave_cwd()
        except NetdrvError as exc:
            log.warning("%s; hangs will be logged but not reported to netdrv", exc)
            busy = None
        log_file = os.path.abspath(ns.log_file) if ns.log_file else None  # before _leave_cwd()
        d = Daemon(pm=PluginManager(disabled=disabled, extra=extra), watchdog=ns.watchdog or None,
                   busy_file=busy, forget_unloaded=True, log_file=log_file,
                   unused_exit=ns.unused_exit or None)  # fmt: skip
        d.listen()
    except NetdrvError as exc:
        print(f"netdrv-daemon: {exc}", file=sys.stderr)
        return 1
    _leave_cwd()  # before the first request: every driver runs in "/"
    if log_file is not None:
        d.check_log_size()  # this namespace's daemon now: its log may be rotated
    starter_gone = False
    if ns.ready_fd >= 0:
        try:
            os.write(ns.ready_fd, b"1")
        except OSError:  # the netdrv command that started it is gone (Ctrl-C, killed): EPIPE
            starter_gone = True
        os.close(ns.ready_fd)
    # The cookie tells this namespace's lines from those of a deleted namespace whose
    # inode (the log's name) the kernel reused: `netdrv log` compares it.
    cookie = netns_cookie()
    log.info("daemon %d listening (netns %s%s)", os.getpid(), os.readlink("/proc/self/ns/net"),
             "" if cookie is None else f", cookie {cookie}")  # fmt: skip
    if starter_gone:
        ends = (f"it exits in {ns.unused_exit:g} s unless a driver is loaded or a setting made"
                if ns.unused_exit else "netdrv stop ends it")  # fmt: skip
        log.warning("the netdrv command that started this daemon is gone (interrupted or "
                    "killed): serving on (%s)", ends)  # fmt: skip
    if log_file is not None:
        # Once serving: it reads every fd on the host, and the load of the command that
        # started this daemon may be waiting.
        d.defer(functools.partial(_prune_logs_logged, os.path.dirname(log_file)))
    d.run()
    # Every driver is unloaded, its interfaces gone.  A thread one left running would keep
    # the process alive at interpreter exit (Python waits for non-daemon threads):
    # named here, and not waited for (_exit_process).
    report_lingering_threads(getattr(d, "thread_owners", {}))
    return 0


def _prune_logs_logged(directory: str) -> None:
    try:
        prune_logs(directory)
    except Exception as exc:  # housekeeping: never what stops a daemon
        log.warning("could not remove the logs of namespaces that no longer exist: %r", exc)


def report_lingering_threads(
    owners: Mapping[threading.Thread, str] | None = None, grace: float = 1.0
) -> list[str]:
    """Log each non-daemon thread still running besides this one after ``grace`` seconds
    (one finishing its work ends meanwhile) — which driver's load started it (``owners``),
    or the first non-library module on its stack, and the stack — and return their names.
    What the daemon says before it exits without waiting for them."""
    me = threading.current_thread()
    deadline = time.monotonic() + grace
    for t in threading.enumerate():
        if t is not me and not t.daemon:
            t.join(max(0.0, deadline - time.monotonic()))
    frames = sys._current_frames()
    names = []
    for t in threading.enumerate():
        if t is me or t.daemon or not t.is_alive():
            continue
        frame = frames.get(t.ident) if t.ident is not None else None
        stack = traceback.format_stack(frame) if frame is not None else []
        who = (owners or {}).get(t) or _thread_module(t, frame) or "unknown code"
        log.warning("thread %r, started by %s, still runs as the daemon exits: not waited "
                    "for (a driver's exit should end the threads it started); its stack:\n%s",
                    t.name, who, "".join(stack).rstrip() or "  (not known)")  # fmt: skip
        names.append(t.name)
    return names


def _thread_module(t: threading.Thread, frame: Any) -> str | None:
    """``module M``: the first module on ``t``'s stack (innermost first), its target or its
    class that is neither the standard library nor netdrv_core."""
    mods = []
    while frame is not None:
        mods.append(frame.f_globals.get("__name__", ""))
        frame = frame.f_back
    mods += [getattr(getattr(t, "_target", None), "__module__", None) or "",
             type(t).__module__]  # fmt: skip
    for mod in mods:
        top = mod.partition(".")[0]
        if top and top not in sys.stdlib_module_names and top not in ("netdrv_core", "__main__"):
            return f"module {mod}"
    return None


def _exit_process(status: int) -> NoReturn:
    """End the daemon process with ``status`` without waiting for non-daemon threads:
    its interfaces, ports and connections are gone already; what a thread left behind
    still holds is released by the kernel as the process exits."""
    logging.shutdown()  # flushes every handler
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


def _main_process() -> NoReturn:
    """``python -m netdrv_core.daemon``: :func:`main`, then :func:`_exit_process` however
    it ended — a thread left running must not keep the process after an error either."""
    try:
        status = main()
    except SystemExit as exc:  # argparse: --help, a bad option
        if exc.code is None or isinstance(exc.code, int):
            status = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    _exit_process(status)


if __name__ == "__main__":
    _main_process()
