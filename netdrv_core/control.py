"""The control protocol between ``netdrv`` and its per-namespace daemon.

Transport: an *abstract* Unix stream socket, ``@netdrv/control``.  Abstract
sockets belong to the network namespace they were created in, so
``ip netns exec NS netdrv …`` reaches exactly that namespace's daemon, and
nothing is left on disk if the daemon is killed.  Abstract sockets have no file
permissions: the daemon checks every peer's credentials (``SO_PEERCRED``) and
only serves root and its own uid.

Messages: a 4-byte big-endian length, then a UTF-8 JSON object (at most
:data:`MAX_MESSAGE` bytes).  Requests carry ``cmd``; replies carry ``ok`` and
either results or ``error`` (with ``kind``, the class of the error, and for a
refused ``ethtool`` request its ``errno``).  ``capture`` switches the connection
to a raw pcap byte stream after its reply.

An ``unload`` reply is ``ok`` even when the driver's ``exit`` raised: the driver
is unloaded anyway (its devices unregistered; ``rmmod`` cannot fail either), and
the reply carries a ``warning`` that says what ``exit`` raised and where, and
that the traceback is in the daemon's log — ``netdrv unload`` prints it on
standard error.  The ``unload`` of the daemon's last driver also carries
``exiting``: the daemon exits once it has replied.
"""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import re
import select
import socket
import struct
import time
from typing import Any

from .errors import NetdrvError

__all__ = [
    "CONTROL_ADDRESS",
    "DEFAULT_TIMEOUT",
    "MAX_MESSAGE",
    "MAX_TIMEOUT",
    "ControlClient",
    "DaemonBusy",
    "DaemonClosed",
    "DaemonExiting",
    "DaemonNotRunning",
    "DaemonProcess",
    "ProtocolError",
    "decode_message",
    "encode_message",
    "has_net_admin",
    "netns_cookie",
    "netns_id",
]

CONTROL_ADDRESS = "\0netdrv/control"
MAX_MESSAGE = 1 << 20
_LEN = struct.Struct("!I")
COMMANDS = (
    "ping", "load", "unload", "status", "capture", "stop", "set", "sysctl", "ethtool", "faults",
)  # fmt: skip


class ProtocolError(NetdrvError):
    """A malformed control message."""


class DaemonNotRunning(NetdrvError):
    """No daemon listens in this network namespace."""


class DaemonClosed(ProtocolError):
    """The daemon closed the connection without answering: it was exiting (its last driver
    was unloaded, or it was stopped), or it dropped this client.  Asking again on a new
    connection finds no daemon, or the one that took over."""


class DaemonExiting(NetdrvError):
    """The daemon refused a load because it is exiting (its last driver was unloaded): the
    load belongs to the next daemon, which ``netdrv load`` starts."""


def netns_id() -> int:
    """Inode of this process's network namespace (names log files per namespace)."""
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return 0


def has_net_admin() -> bool:
    """Whether this process has CAP_NET_ADMIN, which creating kernel interfaces needs.

    The effective capability, also for root: root in a container started without
    ``--cap-add NET_ADMIN`` (or under ``capsh --drop``) is uid 0 without it.  Without
    ``/proc`` nothing is known and nothing claimed: True, and the kernel will say.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 12))
    except OSError:
        return True
    return False


_SO_NETNS_COOKIE = getattr(socket, "SO_NETNS_COOKIE", 71)  # in socket from Python 3.13


def netns_cookie() -> int | None:
    """The cookie of this process's network namespace (``SO_NETNS_COOKIE``, Linux >= 5.14).

    The kernel gives a freed namespace's inode (:func:`netns_id`) to a later namespace,
    never its cookie while the system runs: the daemon records the cookie in its log's
    ``listening`` line, so that ``netdrv log`` tells this namespace's log from that of a
    deleted one with the same inode.  None where the kernel does not have it.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            raw = sock.getsockopt(socket.SOL_SOCKET, _SO_NETNS_COOKIE, 8)
    except OSError:  # ENOPROTOOPT before 5.14
        return None
    return struct.unpack("=Q", raw)[0] if len(raw) == 8 else None


def encode_message(obj: dict[str, Any]) -> bytes:
    """Frame a JSON object."""
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"control message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    return _LEN.pack(len(data)) + data


def decode_message(buf: bytearray) -> dict[str, Any] | None:
    """Take one complete message off the front of ``buf``; None if incomplete.

    Raises :class:`ProtocolError` for an oversized length, bad JSON or a
    non-object — the daemon then closes that connection.
    """
    if len(buf) < _LEN.size:
        return None
    (n,) = _LEN.unpack_from(buf)
    if n > MAX_MESSAGE:
        raise ProtocolError(f"control message length {n} exceeds {MAX_MESSAGE}")
    if len(buf) < _LEN.size + n:
        return None
    raw = bytes(buf[_LEN.size : _LEN.size + n])
    del buf[: _LEN.size + n]
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"control message is not JSON: {exc}") from None
    except RecursionError:  # "[[[[…": nested deeper than the parser's stack
        raise ProtocolError("control message is nested too deeply") from None
    if not isinstance(obj, dict):
        raise ProtocolError("control message must be a JSON object")
    return obj


_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
IFMAP_KEYS = ("irq", "base_addr", "mem_start", "mem_end", "dma", "port")
# The C type of each field of struct ifmap (include/uapi/linux/if.h) and its highest value:
# a value that does not fit is refused, never wrapped as C would store it.
IFMAP_TYPES: dict[str, tuple[str, int]] = {
    "mem_start": ("unsigned long", 2**64 - 1), "mem_end": ("unsigned long", 2**64 - 1),
    "base_addr": ("unsigned short", 0xFFFF), "irq": ("unsigned char", 0xFF),
    "dma": ("unsigned char", 0xFF), "port": ("unsigned char", 0xFF),
}  # fmt: skip
IOCTL_MAX = 0xFFFF_FFFF  # an ioctl's request number is an unsigned int


def ifmap_range_error(key: str, value: int) -> str | None:
    """What is wrong with ``value`` for the ``struct ifmap`` field ``key``, or None."""
    ctype, top = IFMAP_TYPES[key]
    if 0 <= value <= top:
        return None
    return f"{key} is 0..{top} (an {ctype} of struct ifmap), not {value}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_request(req: dict[str, Any]) -> None:
    """Check the shape of a request (types of the fields each command uses).

    Raises :class:`ProtocolError` naming the field; the daemon answers with it
    and keeps serving.  Fields a command does not use are ignored.
    """
    cmd = req.get("cmd")
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        raise ProtocolError(f"unknown command {cmd!r}; expected one of {', '.join(COMMANDS)}")
    if cmd in ("load", "unload") and not isinstance(req.get("driver"), str):
        raise ProtocolError(f"{cmd}: 'driver' must be a string")
    if cmd == "load":
        params = req.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise ProtocolError("load: 'params' must be a list of name=value strings")
        mods = req.get("plugins", [])
        if not isinstance(mods, list) or not all(isinstance(m, str) for m in mods):
            raise ProtocolError("load: 'plugins' must be a list of module names")
        disabled = req.get("disabled", [])
        if not isinstance(disabled, list) or not all(isinstance(m, str) for m in disabled):
            raise ProtocolError("load: 'disabled' must be a list of plugin names")
        bad = [m for m in mods if not _MODULE.match(m)]
        if bad:
            raise ProtocolError(f"load: {bad[0]!r} is not a Python module name (-p MODULE)")
    if cmd == "capture":
        if not isinstance(req.get("dev"), str):
            raise ProtocolError("capture: 'dev' must be a string")
        count = req.get("count", 0)
        if not _is_int(count) or count < 0:
            raise ProtocolError("capture: 'count' must be an integer >= 0")
    if cmd == "set":
        if not isinstance(req.get("dev"), str):
            raise ProtocolError("set: 'dev' must be a string")
        if "ifmap" in req:
            ifmap = req["ifmap"]
            if not isinstance(ifmap, dict) or not all(
                k in IFMAP_KEYS and _is_int(v) for k, v in ifmap.items()
            ):
                raise ProtocolError(f"set: 'ifmap' must map {', '.join(IFMAP_KEYS)} to integers")
            for k, v in ifmap.items():
                if (error := ifmap_range_error(k, v)) is not None:
                    raise ProtocolError(f"set: {error}")
        if "ioctl" in req and not (_is_int(req["ioctl"]) and 0 <= req["ioctl"] <= IOCTL_MAX):
            raise ProtocolError(f"set: 'ioctl' must be an integer request number 0..{IOCTL_MAX}")
        if req.get("data") is not None and not _is_int(req["data"]):
            raise ProtocolError("set: 'data' must be an integer")
    if cmd == "sysctl":
        values = req.get("values", {})
        if not isinstance(values, dict) or not all(
            isinstance(k, str) and _is_int(v) for k, v in values.items()
        ):
            raise ProtocolError("sysctl: 'values' must map setting names to integers")
    if cmd == "ethtool":
        _validate_ethtool(req)
    if cmd == "faults":
        _validate_faults(req)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# ``faults``'s ``set``: FaultInjector's keywords -> whether a value is of the right type.
_FAULT_KEYS: dict[str, Any] = {
    "drop": _is_number, "corrupt": _is_number, "duplicate": _is_number, "delay": _is_number,
    "jitter": _is_number, "reorder": _is_number, "drop_corr": _is_number,
    "corrupt_corr": _is_number, "duplicate_corr": _is_number, "delay_corr": _is_number,
    "reorder_corr": _is_number, "gap": _is_int, "limit": _is_int,
    "distribution": lambda v: v is None or isinstance(v, str),
    "rate": lambda v: v is None or _is_number(v), "packet_overhead": _is_int,
    "cell_size": _is_int, "cell_overhead": _is_int,
    "rate_limit": lambda v: v is None or _is_number(v),
    "burst": lambda v: v is None or _is_int(v),
    "direction": lambda v: isinstance(v, str),
    "seed": lambda v: v is None or _is_int(v) or isinstance(v, str),
}  # fmt: skip


def _validate_faults(req: dict[str, Any]) -> None:
    """``faults``: ``dev``; ``set`` (FaultInjector's keywords) or ``off``, or neither (show)."""
    if not isinstance(req.get("dev"), str):
        raise ProtocolError("faults: 'dev' must be a string")
    if "off" in req and not isinstance(req["off"], bool):
        raise ProtocolError("faults: 'off' must be a boolean")
    if "set" in req:
        settings = req["set"]
        if req.get("off"):
            raise ProtocolError("faults: give 'set' or 'off', not both")
        if not isinstance(settings, dict) or not all(
            k in _FAULT_KEYS and _FAULT_KEYS[k](v) for k, v in settings.items()
        ):
            raise ProtocolError(
                f"faults: 'set' must map {', '.join(_FAULT_KEYS)} to their values "
                f"(numbers; direction, distribution strings; rate, rate_limit, burst, "
                f"distribution, seed may be null)"
            )


# The ethtool set fields that are bytes, carried as hex: an EEPROM write, a SecureOn password.
_HEX_FIELDS = frozenset({("eeprom", "data"), ("wol", "sopass")})


def _validate_ethtool(req: dict[str, Any]) -> None:
    """``ethtool``: ``dev``, ``op`` (a get), and for a set ``set``: field name -> int or bool."""
    from .ethtool import ETHTOOL_REQUESTS

    if not isinstance(req.get("dev"), str):
        raise ProtocolError("ethtool: 'dev' must be a string")
    op = req.get("op")
    ops = (*ETHTOOL_REQUESTS, "identify")  # identify (ethtool -p): the daemon's, as it runs on
    if not isinstance(op, str) or op not in ops:
        raise ProtocolError(f"ethtool: 'op' must be one of {', '.join(ops)}")
    if "args" in req:  # what a get reads: offset/length of an EEPROM dump, a test's flags
        args = req["args"]
        keys = {"eeprom": ("offset", "length"), "test": ("flags",),
                "identify": ("seconds",)}.get(op, ())  # fmt: skip
        if not isinstance(args, dict) or not all(k in keys and _is_int(v) for k, v in args.items()):
            raise ProtocolError("ethtool: 'args' is for 'eeprom' (offset and length), "
                                "'test' (flags) and 'identify' (seconds): integers")  # fmt: skip
    if "set" in req:
        settings = req["set"]
        if op in ("drvinfo", "stats", "nway_reset", "permaddr", "regs", "test", "tsinfo",
                  "identify"):  # fmt: skip
            raise ProtocolError(f"ethtool: {op!r} takes no 'set'")
        if not isinstance(settings, dict) or not all(
            isinstance(k, str)
            and (isinstance(v, int) or (isinstance(v, str) and (op, k) in _HEX_FIELDS))
            for k, v in settings.items()
        ):
            raise ProtocolError(
                "ethtool: 'set' must map field names to integers or booleans "
                "(and 'data' to hex for 'eeprom', 'sopass' for 'wol')"
            )


DEFAULT_TIMEOUT = 30.0
"""Seconds ``netdrv`` waits for the daemon's answer (``--timeout``, ``NETDRV_TIMEOUT``)."""
MAX_TIMEOUT = 86_400
"""The longest wait (one day): ``socket.settimeout`` overflows on much larger values."""


class DaemonBusy(NetdrvError):
    """The daemon did not answer in time (stuck in a driver's or plugin's code)."""


def _alive(pid: object) -> bool:
    """Whether ``pid`` names a running process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def busy_report(pid: int | None) -> str:
    """What the daemon ``pid`` says it is stuck in (its busy file), or ``""``."""
    try:
        from .daemon import busy_path

        with open(busy_path()) as f:
            info = json.load(f)
    except (OSError, ValueError, NetdrvError):
        return ""
    if not isinstance(info, dict) or (pid is not None and info.get("pid") != pid):
        return ""
    if pid is None and not _alive(info.get("pid")):
        return ""  # left by a daemon that was killed (SIGKILL leaves it): not this one's state
    busy = str(info.get("busy", "?"))
    try:
        since = f" for {max(0.0, time.time() - float(info['since'])):.0f} s"
    except (KeyError, TypeError, ValueError):
        since = ""
    return f"{busy}{since}"


_SO_PEERPIDFD_BY_MACHINE = (("sparc", 0x56), ("parisc", 0x404B))
"""``SO_PEERPIDFD`` where the architecture numbers its socket options its own way."""
_GENERIC_SOCKOPT_MACHINES = (
    "x86_64", "i386", "i486", "i586", "i686", "aarch64", "arm", "riscv", "ppc", "powerpc",
    "s390", "loongarch", "mips", "alpha", "m68k", "sh", "csky", "xtensa", "arc", "or1k",
    "openrisc", "microblaze", "nios2", "hexagon", "ia64",
)  # fmt: skip
"""``platform.machine()`` prefixes of the architectures where ``SO_PEERPIDFD`` is 77
(``include/uapi/asm-generic/socket.h``; alpha's and mips' own socket.h use it too)."""


def peer_pidfd_option() -> int | None:
    """``SO_PEERPIDFD`` (Linux 6.5: a pidfd of a Unix socket's peer) on this machine:
    Python's (3.13 on), else the kernel's number for the architecture — None for one
    this does not know, whose option 77 could be another option."""
    opt = getattr(socket, "SO_PEERPIDFD", None)
    if opt is not None:
        return int(opt)
    machine = platform.machine().lower()
    for prefix, value in _SO_PEERPIDFD_BY_MACHINE:
        if machine.startswith(prefix):
            return value
    return 77 if machine.startswith(_GENERIC_SOCKOPT_MACHINES) else None


class DaemonProcess:
    """The daemon process at the other end of a connection, to wait for its exit.

    Held as a pidfd taken when connected (``SO_PEERPIDFD``, else ``pidfd_open`` of the
    ``SO_PEERCRED`` pid), so a pid reused after the daemon's exit is never waited for
    instead.  A pidfd polls readable once the process has exited — its descriptors
    closed, so its TUN/TAP interfaces gone — whoever reaps it.
    """

    def __init__(self, sock: socket.socket, pid: int | None) -> None:
        self.pid = pid
        self.exited = False
        """The process had exited already when asked for (no pidfd needed)."""
        self._fd: int | None = None
        opt = peer_pidfd_option()
        if opt is not None:
            try:
                self._fd = sock.getsockopt(socket.SOL_SOCKET, opt)
                return
            except OSError as exc:
                # A peer already reaped has no pidfd: Linux 6.5-6.15 say EINVAL
                # (pidfd_prepare), later ones ESRCH.  It has exited; its pid may be
                # another process's by now, so no pidfd_open of it.  Other errors (the
                # option unknown before 6.5: ENOPROTOOPT) fall back to pidfd_open.
                if exc.errno in (errno.ESRCH, errno.EINVAL):
                    self.exited = True
                    return
        if pid:
            try:
                self._fd = os.pidfd_open(pid)
            except ProcessLookupError:
                self.exited = True
            except OSError:  # no pidfds (Linux < 5.3, seccomp): the caller watches the socket
                pass

    def wait(self, timeout: float) -> bool | None:
        """Wait up to ``timeout`` seconds for the process to exit: True once it has, False
        if it still runs, None if this cannot tell (no pidfd: a kernel before 5.3,
        ``pidfd_open`` blocked by a seccomp filter, or no pid to open — the daemon in another
        pid namespace — and no ``SO_PEERPIDFD``, before Linux 6.5)."""
        if self.exited:
            return True
        if self._fd is None:
            return None
        p = select.poll()
        p.register(self._fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            # poll's milliseconds are an int: a day at most (MAX_TIMEOUT) fits.
            if p.poll(max(0, math.ceil(left * 1000))):
                self.exited = True
                return True
            if left <= 0:
                return False

    def close(self) -> None:
        """Release the pidfd."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ControlClient:
    """A connection to this namespace's daemon.

    Every reply is awaited at most ``timeout`` seconds; then :class:`DaemonBusy`
    says what the daemon is stuck in (when its watchdog reported it) and how to
    end it.  ``None`` waits forever; a longer wait than :data:`MAX_TIMEOUT`
    (``inf`` too) is cut to it, and NaN raises :class:`ValueError`.
    """

    def __init__(self, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        if timeout is not None:
            if math.isnan(timeout):
                raise ValueError("ControlClient: timeout must be a number of seconds, not NaN")
            # settimeout overflows on inf or 1e300; a day is as good as forever here.
            timeout = min(timeout, MAX_TIMEOUT)
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(CONTROL_ADDRESS)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                self.sock.close()
                raise DaemonNotRunning("no netdrv daemon runs in this network namespace") from None
            except (BlockingIOError, TimeoutError):
                # The listen backlog is full: the daemon is busy, or many clients came at
                # once.  A socket with a timeout is non-blocking, and a Unix connect then
                # fails at once (EAGAIN) instead of waiting: wait here, up to the timeout.
                if deadline is not None and time.monotonic() >= deadline:
                    self.sock.close()
                    raise DaemonBusy(self._busy_message("connect", None)) from None
                time.sleep(0.02)
        self._buf = bytearray()
        self.pid: int | None = None
        try:
            creds = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                         struct.calcsize("3i"))  # fmt: skip
            self.pid = struct.unpack("3i", creds)[0] or None
        except OSError:
            pass
        self._cmd = ""

    def process(self) -> DaemonProcess:
        """The daemon process of this connection, to wait for its exit (``netdrv stop``):
        taken before the request that ends it, as the process may be gone by its reply."""
        return DaemonProcess(self.sock, self.pid)

    def _busy_message(self, cmd: str, pid: int | None) -> str:
        who = f"the netdrv daemon (pid {pid})" if pid else "the netdrv daemon"
        busy = busy_report(pid)
        what = f"it is busy in {busy}" if busy else "it is busy or hung"
        try:
            from .daemon import log_path

            log = f"; its log {log_path()} has a stack dump"
        except Exception:
            log = ""
        kill = f"kill {pid}" if pid else "kill the daemon"
        # The socket's: a caller may set it after connecting (capture starts with None).
        waited = self.sock.gettimeout()
        within = f" within {waited:g} s" if waited is not None else ""
        return (
            f"{who} did not answer {cmd!r}{within}: {what}{log}. Wait and retry "
            f"(netdrv --timeout SECONDS), or stop it: {kill} (SIGTERM aborts the stuck call and "
            f"unloads every driver)"
        )

    def request(self, cmd: str, **kw: Any) -> dict[str, Any]:
        """Send one request and wait for its reply."""
        self._cmd = cmd
        try:
            self.sock.sendall(encode_message({"cmd": cmd, **kw}))
        except TimeoutError:
            raise DaemonBusy(self._busy_message(cmd, self.pid)) from None
        except (BrokenPipeError, ConnectionResetError):
            # A daemon that refuses a connection (its connection limit, another uid) answers
            # before it hangs up: that answer says why, when it is there.
            try:
                return self.read_message()
            except (OSError, NetdrvError):
                pass
            raise DaemonClosed("the daemon closed the connection (see its log)") from None
        return self.read_message()

    def read_message(self) -> dict[str, Any]:
        """Read one reply."""
        while True:
            msg = decode_message(self._buf)
            if msg is not None:
                return msg
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise DaemonBusy(self._busy_message(self._cmd or "?", self.pid)) from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise DaemonClosed("the daemon closed the connection (see its log)")
            self._buf += chunk

    def read_raw(self, n: int = 65536) -> bytes:
        """After ``capture``: the next bytes of the stream (b"" at the end)."""
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            return data
        return self.sock.recv(n)

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
