"""The thin I/O layer under the serial link: a pyserial port served by two threads.

pyserial reads and writes block, so a reader thread and a writer thread own
the port and hand everything to the host's event loop with
``call_soon_threadsafe``: the loop never blocks on the line.  When the port
fails (a USB-serial adapter unplugged, ser2net gone, the far end of a pty
closed) both threads stop and :attr:`LinePort.on_lost` runs on the loop; the
driver turns the carrier off and calls :meth:`LinePort.open` again later —
:meth:`LinePort.open_async` for a network port, whose connect can take seconds.
Device paths are locked while open, so two programs cannot share a port.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import ipaddress
import logging
import os
import pwd
import select
import socket
import stat
import threading
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("netdrv.serial.port")

__all__ = [
    "LinePort",
    "NotAPortError",
    "PortError",
    "PortSettingError",
    "ServerClosedError",
    "check_port_path",
    "open_blocks",
    "open_serial",
    "port_key",
    "server_said",
]


class PortError(OSError):
    """The serial port could not be opened or failed; the message says which and why."""


class NotAPortError(PortError):
    """The path exists but is something that never becomes a serial port (a regular file,
    a directory, a FIFO, ``/dev/null``…): retrying it is pointless, unlike a missing path."""


class ServerClosedError(PortError):
    """A serial server (ser2net) took the connection and closed it: the serial device behind
    it is missing or busy.  ``said`` is the reason it sent, if it sent one as text."""

    def __init__(self, url: str, said: str = "") -> None:
        self.url, self.said = url, said
        why = f" ({said})" if said else ""
        super().__init__(
            f"cannot open serial port {url}: the server took the connection and closed it{why}: "
            f"the serial device behind it is probably missing or busy (check the server's log, "
            f"e.g. ser2net's connector device)"
        )


class PortSettingError(NotAPortError):
    """The port is there but refuses a setting (a ``baud=`` its UART cannot do): retrying
    it is as pointless as retrying a path that is no port."""


# What a port= path that is not a terminal should have been.
_PASS_INSTEAD = ("port= takes a tty device (/dev/ttyUSB0, /dev/ttyACM0, /dev/ttyS0), a pty, "
                 "socket://host:port or rfc2217://host:port")  # fmt: skip


def check_port_path(path: str) -> None:
    """A ``port=`` path must lead to a terminal (a tty or pty): :class:`PortError` says why not.

    Checked before pyserial opens it, so a directory, a regular file, a FIFO, a
    socket, a dangling link or a loop of symbolic links gets a message that
    names the problem instead of an ioctl error — and nothing is opened that
    is not a character device.  A path that exists but can never be a port
    raises :class:`NotAPortError`; a missing one (an adapter not plugged in
    yet) or one that cannot be opened right now raises a plain :class:`PortError`.
    A relative path is refused (:class:`NotAPortError`): the daemon that opens the
    port — and reopens it after every unplug — does not share the shell's directory.
    """
    if not os.path.isabs(path):
        dev = os.path.join("/dev", path)
        hint = f"port={dev}" if os.path.exists(dev) else "e.g. port=/dev/ttyUSB0"
        try:
            where = f" ({os.getcwd()})"
        except OSError:  # the directory was deleted
            where = ""
        raise NotAPortError(
            f"serial port {path} is a relative path: the daemon would look it up in its own "
            f"working directory{where}, which need not be yours — give the full path ({hint}) or "
            f"a URL (socket://host:port, rfc2217://host:port)"
        )
    try:
        st = os.stat(path)  # follows links: ELOOP for a loop, ENOENT for a dangling one
    except FileNotFoundError:
        raise PortError(
            f"serial port {path} does not exist: check the cable/adapter "
            f"(ls /dev/serial/by-id) or the pty link"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotAPortError(f"serial port {path}: too many levels of symbolic links (a link "
                                f"loop); point port= at the device itself") from None  # fmt: skip
        raise PortError(f"serial port {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise NotAPortError(f"serial port {path} is a directory, not a serial port: "
                            f"{_PASS_INSTEAD}")  # fmt: skip
    if not stat.S_ISCHR(st.st_mode):
        kind = {stat.S_IFREG: "a regular file", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
                stat.S_IFBLK: "a block device"}.get(stat.S_IFMT(st.st_mode), "not a device")  # fmt: skip
        raise NotAPortError(f"serial port {path} is {kind}, not a character device: "
                            f"{_PASS_INSTEAD}")  # fmt: skip
    if not os.access(path, os.R_OK | os.W_OK):
        raise PortError(_no_permission(path, st))
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise PortError(f"cannot open serial port {path}: {exc.strerror}") from None
    try:
        if not os.isatty(fd):
            raise NotAPortError(f"serial port {path} is a character device but not a terminal "
                                f"(tty), so it cannot carry a serial line: {_PASS_INSTEAD}")  # fmt: skip
    finally:
        os.close(fd)


def _no_permission(path: str, st: os.stat_result) -> str:
    """Why the daemon may not open ``path``, and the fix that fits the device and the
    daemon's user: joining the device's group helps only if that group may read and write
    (``dialout`` on Debian, ``uucp`` on Arch) and has a name to join; a pty is its maker's;
    root is refused only where its privilege does not reach."""
    uid = os.getuid()  # (os.access checks the real uid)
    owner_name, group_name = _id_name(pwd.getpwuid, st.st_uid), _id_name(grp.getgrgid, st.st_gid)
    owner, group = owner_name or str(st.st_uid), group_name or str(st.st_gid)
    acl = _has_acl(path)
    mode = stat.filemode(st.st_mode) + ("+" if acl else "")  # as ls -l marks an ACL
    me = "root" if uid == 0 else f"uid {uid}"
    head = f"no permission to open {path} ({mode} {owner}:{group}; the daemon runs as {me})"
    if uid == 0:
        # access(2) grants root everything but where CAP_DAC_OVERRIDE does not count (the
        # device's owner and group unmapped in a user namespace), the device cgroup
        # refuses the device, or a security module denies it.
        return (f"{head}: root is refused this device in a container that was not given it "
                f"(docker run --device {path}), or whose user namespace does not map its owner "
                f"and group (a rootless one), or by a security module (SELinux: see the audit log)")  # fmt: skip
    acl_too = f"; it has an ACL, which decides too: getfacl {path}" if acl else ""
    if st.st_uid == uid:
        return (f"{head}: it is the daemon's user's, but its mode does not let its owner read "
                f"and write it: chmod u+rw {path}{acl_too}")  # fmt: skip
    if st.st_mode & 0o060 == 0o060 and st.st_gid != 0 and group_name is None:
        fix = (f"its group, gid {st.st_gid}, has no name here (a container's device keeps the "
               f"host's gid), and usermod takes only a group that exists: make one "
               f"(groupadd -g {st.st_gid} serial) and add the daemon's user to it (usermod -aG "
               f"serial USER, then log in again or restart the service; in docker: docker run "
               f"--group-add {st.st_gid})")  # fmt: skip
    elif st.st_mode & 0o060 == 0o060 and st.st_gid != 0:
        fix = (f"add the daemon's user to the '{group}' group (usermod -aG {group} USER, "
               f"then log in again or restart the service)")  # fmt: skip
    elif os.major(st.st_rdev) in _PTY_SLAVE_MAJORS:
        # /dev/pts is no udev device: the program that makes the pty owns it.
        fix = (f"a pty belongs to the program that made it ({owner}): make it as the daemon's "
               f"user, or give it to that user as you make it (socat pty,…,user=USER — or "
               f"group=GROUP,perm=0660 for a group the daemon's user is in)")  # fmt: skip
    else:
        why = ("only its owner may read and write it" if st.st_mode & 0o060 != 0o060
               else f"its group is {group}'s")  # fmt: skip
        fix = (f"{why}: give it a group for serial ports (a udev rule: GROUP=\"dialout\", "
               f"MODE=\"0660\") and add the daemon's user to that group")  # fmt: skip
        if st.st_uid != 0:
            fix += f", run the daemon as {owner}"
    return f"{head}: {fix}, or run the daemon as root{acl_too}"


# Unix98 pty slaves (/dev/pts/N): UNIX98_PTY_SLAVE_MAJOR and the majors after it.
_PTY_SLAVE_MAJORS = range(136, 144)


def _id_name(get: Callable[[int], Any], num: int) -> str | None:
    """The name of user or group ``num``; None if it has none (a container's foreign id)."""
    try:
        return str(get(num)[0])
    except KeyError:
        return None


def _has_acl(path: str) -> bool:
    """Whether ``path`` has a POSIX ACL (which can grant or deny beyond its mode bits)."""
    try:
        return "system.posix_acl_access" in os.listxattr(path)
    except OSError:  # no xattrs on this filesystem (devpts): no ACL
        return False


class _ServerHungUp(Exception):
    """An RFC 2217 server hung up while the client negotiated (see :func:`_rfc2217_class`)."""


_RFC2217: type | None = None


def _rfc2217_class() -> type:
    """pyserial's RFC 2217 client, which says so when the server hangs up.

    pyserial's reader thread answers the server's telnet negotiation.  When the
    server has hung up already — ser2net does, at once, when the serial device
    behind it is missing or busy — that answer raises in the thread, which dies
    with a traceback in the daemon's log on every reconnect attempt, and
    ``open()`` waits out its negotiation and blames the server for not speaking
    RFC 2217.  Here the thread ends quietly, remembering why and what the server
    said (ser2net: ``Device open failure: …``), and ``open()`` and ``read()`` say that.
    """
    global _RFC2217
    if _RFC2217 is not None:
        return _RFC2217
    import serial
    import serial.rfc2217

    class Rfc2217Serial(serial.rfc2217.Serial):
        ended: BaseException | None = None  # why the reader thread ended on its own
        opening = False

        def _internal_raw_write(self, data: bytes) -> None:
            try:
                super()._internal_raw_write(data)
            except OSError as exc:
                if threading.current_thread() is not self._thread:
                    raise
                # The reader answering a server that hung up: it reads on, to the end of
                # what the server sent (ser2net's reason), and ends at its EOF.
                self.ended = self.ended or exc

        def close(self) -> None:
            t = self._thread
            if self.opening and t is not None and t is not threading.current_thread():
                t.join(0.5)  # a failed open: let the reader take in what the server said
            sock = self._socket
            super().close()
            if sock is not None:  # pyserial skips close() when shutdown() fails (peer gone)
                sock.close()

        def _telnet_read_loop(self) -> None:
            try:
                super()._telnet_read_loop()
            except Exception as exc:  # its answer to the server's negotiation failed
                if not isinstance(exc, OSError):
                    log.debug("%s: RFC 2217 reader thread failed", self.portstr, exc_info=exc)
                self.ended = exc
                with contextlib.suppress(Exception):
                    self._read_buffer.put(None)
            else:
                if self.is_open and self.ended is None:  # not close(): EOF or a socket error
                    self.ended = EOFError()

        def why(self, exc: BaseException | None = None) -> str:
            """How the connection ended, and what the server said before, if anything."""
            exc = self.ended or exc
            parts = []  # how the hang-up showed (EPIPE, ECONNRESET, EOF) varies: not said
            if exc is not None and not isinstance(exc, OSError | EOFError):
                parts.append(f"pyserial's RFC 2217 reader failed: {exc!r}")
            said = bytearray()
            with contextlib.suppress(Exception):
                while len(said) < 300 and not self._read_buffer.empty():
                    b = self._read_buffer.get_nowait()
                    if b is not None:
                        said += b
            text = server_said(bytes(said))
            if text:
                parts.append(f"it said {text!r}")
            return "; ".join(parts)

        def open(self) -> None:
            self.opening = True
            try:
                super().open()
            except (serial.SerialException, OSError) as exc:
                # The reader saw the hang-up, or this thread did, answering the negotiation.
                hung_up = isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.ECONNRESET)
                if self.ended is not None or hung_up:
                    raise _ServerHungUp(self.why(exc)) from exc
                raise
            finally:
                self.opening = False

        def read(self, size: int = 1) -> bytes:
            try:
                return bytes(super().read(size))
            except serial.SerialException as exc:
                if self.ended is not None:
                    why = self.why()
                    raise serial.SerialException(
                        "the server closed the connection" + (f" ({why})" if why else "")
                    ) from exc
                raise

    _RFC2217 = Rfc2217Serial
    return _RFC2217


def server_said(data: bytes) -> str:
    """``data`` as one line of text if it is text (ser2net's ``Device open failure: …``), else ``""``."""
    raw = data[:300]
    if not raw or sum(32 <= b < 127 or b in b"\t\r\n" for b in raw) < 0.9 * len(raw):
        return ""
    return " ".join(raw.decode("ascii", "replace").split())


def open_serial(url: str, baud: int, *, rtscts: bool = False, xonxoff: bool = False) -> Any:
    """Open anything pyserial opens: a device path, ``socket://``, ``rfc2217://``, ``loop://``."""
    import serial

    local = "://" not in url
    if local:
        check_port_path(url)
    # A device is locked (flock, as pyserial's exclusive=True does): a second program on
    # the same port would take half of its bytes, and neither link would work.
    lock = {"exclusive": True} if local else {}
    try:
        if url.lower().startswith("rfc2217://"):
            # serial_for_url's own way of opening it, with the class above.
            ser = _rfc2217_class()(None, baudrate=baud, rtscts=rtscts, xonxoff=xonxoff,
                                   timeout=0, write_timeout=None)  # fmt: skip
            ser.port = url
            ser.open()
            return ser
        return serial.serial_for_url(url, baudrate=baud, rtscts=rtscts, xonxoff=xonxoff,
                                     timeout=0, write_timeout=None, **lock)  # fmt: skip
    except _ServerHungUp as exc:
        raise ServerClosedError(url, str(exc)) from None
    except (serial.SerialException, OSError, ValueError) as exc:
        if not local and "waiting for option 'control'" in str(exc):
            fixed = url + ("&" if "?" in url else "?") + "ign_set_control"
            raise PortError(
                f"cannot open serial port {url}: {exc}: the port behind the server cannot "
                f"do modem control lines (DTR/RTS; a pty cannot) — add ign_set_control to "
                f"the URL: port={fixed}"
            ) from exc
        if local and "exclusively lock" in str(exc):
            raise PortError(
                f"serial port {url} is in use by another program (it holds a lock on it; "
                f"two programs on one port split its bytes): stop it first — `fuser -v {url}` "
                f"shows which"
            ) from exc
        if not local and isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.ECONNRESET):
            # ser2net takes the connection, fails to open its serial device, and hangs up.
            raise ServerClosedError(url) from exc
        if isinstance(exc, ValueError) and "baud" in str(exc).lower():
            # pyserial: "Failed to set custom baud rate (12345): [Errno 22] Invalid argument"
            raise PortSettingError(
                f"serial port {url} refuses baud={baud} ({exc}): use a rate the adapter "
                f"supports — 9600, 19200, 38400, 57600, 115200, 230400 — and the same on both ends"
            ) from exc
        raise PortError(f"cannot open serial port {url}: {exc}") from exc


def port_key(url: str) -> str | None:
    """What ``url`` names, so two ``port=`` spellings of one port compare equal.

    A device is its tty, by device number, as a line discipline belongs to the tty
    (slip.c's ``tty->disc_data``): ``/dev/serial/by-id/…``, a pty's ``link=``, and a
    second node of the device (``mknod``, on whose inode the other's lock does not
    reach) are one port; a path that is not there yet is compared by its real path.
    A server is ``host:port`` as pyserial connects to it (``socket://`` and
    ``rfc2217://`` alike, URL options ignored, an IP address in one spelling, a name
    resolved to the address pyserial's connect tries first: ``localhost`` and
    ``127.0.0.1`` are one server where localhost is 127.0.0.1 — see
    :func:`_server_address`).  ``spy://`` and
    ``alt://`` are the device they wrap.  None for ``loop://`` (a port of its own at
    each open) and for what pyserial finds by a search (``hwgrep://``): nothing to compare.
    """
    if "://" not in url:
        return _device_key(url)
    try:
        parts = urlsplit(url)  # (the scheme lowercased, as pyserial takes it)
    except ValueError:  # socket://[::1:3333: the open says what is wrong with it
        return None
    if parts.scheme in ("socket", "rfc2217"):
        host = parts.hostname or ""  # (lowercased, IPv6 brackets off)
        try:
            port = parts.port
        except ValueError:  # not a port number: the open fails on it anyway
            port = None
        return f"{_server_address(host, port)}:{port}"
    if parts.scheme in ("spy", "alt"):  # pyserial opens netloc + path, a device
        return _device_key(parts.netloc + parts.path)
    return None


# How long port_key waits for a name's lookup (DNS) before comparing the name as written:
# the check runs in the daemon's load, which other commands wait for.
_RESOLVE_TIMEOUT = 1.0


def _server_address(host: str, port: int | None) -> str:
    """The address of server ``host`` that pyserial connects to, in one spelling.

    ``socket://`` and ``rfc2217://`` connect with :func:`socket.create_connection`,
    which tries :func:`socket.getaddrinfo`'s answers in order: the first is the one a
    connect reaches when the server listens there.  An IP address is not looked up; a
    name that does not resolve within :data:`_RESOLVE_TIMEOUT` (no DNS, a slow server)
    is compared as written — the open then says what is wrong with it.
    """
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).compressed
    if not host:
        return host
    found: list[str] = []

    def lookup() -> None:
        with contextlib.suppress(OSError, UnicodeError):  # gaierror; a label too long
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            if infos:
                found.append(str(infos[0][4][0]))

    # getaddrinfo cannot be interrupted: one that hangs is left to finish on its own.
    t = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    t.start()
    t.join(_RESOLVE_TIMEOUT)
    if not found:
        return host
    addr = found[0].partition("%")[0]  # a link-local address's scope: the same host
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(addr).compressed
    return host


def _device_key(path: str) -> str:
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # missing (wait=1), or a bad path the open refuses
        return os.path.realpath(path)
    if not stat.S_ISCHR(st.st_mode):
        return os.path.realpath(path)
    key = f"char device {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    if os.major(st.st_rdev) in _PTY_SLAVE_MAJORS:
        # Each devpts mount (a container's) numbers its own ptys from 0.
        key += f" of devpts {st.st_dev}"
    return key


def open_blocks(url: str) -> bool:
    """Whether opening ``url`` can take seconds: a network connect (``socket://``, ``rfc2217://``).

    Device paths and ``loop://`` open at once; a TCP connect to a host that does
    not answer takes pyserial 5 s to give up, and RFC 2217 negotiation more.
    """
    return "://" in url and not url.startswith("loop://")


class _Opening:
    """One open in progress on a thread; ``cancelled`` by :meth:`LinePort.close`."""

    def __init__(self) -> None:
        self.cancelled = False
        self.ser: Any = None


def _read_tty(ser: Any) -> bytes:
    """``ser.read()`` of what is waiting, with the hang-up said plainly."""
    try:
        return bytes(ser.read(65536))
    except Exception as exc:
        # pyserial: "device reports readiness to read but returned no data (device
        # disconnected or multiple access on port?)" — the device went away; its
        # "multiple access" guess would send one looking for another program.
        if "returned no data" in str(exc):
            raise PortError("the line hung up: the device is gone (the adapter was unplugged, "
                            "or the other end of the pty closed)") from exc  # fmt: skip
        raise


class _TxQueue:
    """What one writer thread (one open of the port) has to write, and what it is writing.

    Every item ends exactly once: written (the writer posts ``on_written``), or
    handed back unsent by :meth:`LinePort.close`, or given up by
    :meth:`LinePort.abandon_write`.  ``current`` is the item in the writer's
    ``ser.write()``; once ``given_up`` is set (a close or a transmit timeout took
    it), the writer reports nothing for it, whether that write later completes,
    is cut short or raises.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.items: deque[tuple[bytes, Any]] = deque()
        self.current: tuple[bytes, Any] | None = None
        self.given_up = False
        self.stopped = False

    def take(self) -> tuple[bytes, Any] | None:
        """The writer's next item, now ``current``; ``None`` once stopped."""
        with self.cond:
            while not self.items and not self.stopped:
                self.cond.wait()
            if self.stopped:
                return None
            item = self.items.popleft()
            self.current, self.given_up = item, False
            return item


def _clear_cancel(ser: Any) -> None:
    """Take back a ``cancel_write()`` that found no write to cancel.

    pyserial's POSIX ``write()`` looks at its cancel pipe after writing: a byte left
    there would make the next write stop at once and report 0 bytes written.
    """
    fd = getattr(ser, "pipe_abort_write_r", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.read(fd, 1000)  # non-blocking: nothing there is BlockingIOError


class LinePort:
    """A pyserial port with a reader and a writer thread.

    ``on_data(bytes)``, ``on_written(token)`` and ``on_lost(exc)`` are called
    on the event loop.  :meth:`write` never blocks: it queues.

    Each open is a generation of its own: :meth:`close` ends it, so what its threads
    posted and the loop runs after the close is not taken for the next open's.  Data
    and a loss are then ignored; a frame it wrote is reported to ``on_written_late``
    (``on_written`` if not given) — it left, and :meth:`close` did not return it as
    unsent, but it is no longer one of the frames in flight to the writer.
    """

    def __init__(
        self,
        url: str,
        baud: int,
        call_soon_threadsafe: Callable[..., None],
        on_data: Callable[[bytes], None],
        on_written: Callable[[Any], None],
        on_lost: Callable[[BaseException], None],
        *,
        rtscts: bool = False,
        xonxoff: bool = False,
        on_written_late: Callable[[Any], None] | None = None,
    ) -> None:
        self.url = url
        self.baud = baud
        self.rtscts = rtscts
        self.xonxoff = xonxoff
        self._post = call_soon_threadsafe
        self.on_data = on_data
        self.on_written = on_written
        self.on_written_late = on_written_late or on_written
        self.on_lost = on_lost
        self.ser: Any = None
        self._tx = _TxQueue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lost_reported = False
        self._wake_r = self._wake_w = -1
        self.generation = 0  # bumps at every open and close: stale callbacks are told apart
        self._opening: _Opening | None = None
        self._open_lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """True while the port is open and its threads run."""
        return self.ser is not None

    @property
    def is_opening(self) -> bool:
        """True while :meth:`open_async` is still trying."""
        return self._opening is not None

    def open(self, ser: Any = None) -> None:
        """Open the port (or adopt ``ser``, already open) and start the threads.

        Raises :class:`PortError`.  Blocks for as long as pyserial takes: for a
        URL where that can be seconds (:func:`open_blocks`), use :meth:`open_async`.
        """
        if self.ser is not None:
            return
        if ser is None:
            ser = open_serial(self.url, self.baud, rtscts=self.rtscts, xonxoff=self.xonxoff)
        self._start(ser)

    def open_async(self, done: Callable[[PortError | None], None]) -> None:
        """Open the port on a thread; ``done(None)`` (open, threads running) or
        ``done(error)`` follows on the loop — unless :meth:`close` cancelled it first."""
        if self.ser is not None or self._opening is not None:
            return
        op = self._opening = _Opening()

        def run() -> None:
            err: PortError | None = None
            ser = None
            with self._open_lock:
                cancelled = op.cancelled
            if cancelled:
                # Closed (unload, link down) before this thread got to connect: a connect
                # now would take the port from its user (ser2net's kickolduser hands it to
                # each new connection) for nobody.  One under way when close() runs cannot
                # be taken back: the server accepts it whatever the client does next.
                return
            try:
                ser = open_serial(self.url, self.baud, rtscts=self.rtscts, xonxoff=self.xonxoff)
            except PortError as exc:
                err = exc
            except Exception as exc:  # a pyserial handler failing in its own way
                err = PortError(f"cannot open serial port {self.url}: {exc}")
            with self._open_lock:
                stale = ser if op.cancelled else None
                if not op.cancelled:
                    op.ser = ser
            if stale is not None:  # closed meanwhile (link down, unload): nobody wants it
                with contextlib.suppress(Exception):
                    stale.close()
                return
            self._post(self._opened, op, err, done)

        threading.Thread(target=run, daemon=True, name=f"netdrv-serial-open {self.url}").start()

    def _opened(self, op: _Opening, err: PortError | None, done: Callable[..., None]) -> None:
        with self._open_lock:
            if op.cancelled:  # close() ran after the post and closed op.ser itself
                return
            ser, op.ser = op.ser, None
        self._opening = None
        if err is None:
            self._start(ser)
        done(err)

    def _cancel_open(self) -> None:
        op, self._opening = self._opening, None
        if op is None:
            return
        with self._open_lock:
            op.cancelled = True
            ser, op.ser = op.ser, None
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.close()

    def _start(self, ser: Any) -> None:
        self.ser = ser
        self.generation += 1
        self._stopping.clear()
        self._lost_reported = False
        self._tx = _TxQueue()
        self._wake_r, self._wake_w = os.pipe()
        gen = self.generation
        self._threads = [
            threading.Thread(target=self._reader, args=(self.ser, gen), daemon=True,
                             name=f"netdrv-serial-rx {self.url}"),
            threading.Thread(target=self._writer, args=(self.ser, gen, self._tx), daemon=True,
                             name=f"netdrv-serial-tx {self.url}"),
        ]  # fmt: skip
        for t in self._threads:
            t.start()

    def write(self, data: bytes, token: Any = None) -> None:
        """Queue ``data``; ``on_written(token)`` follows once it left (or ``on_lost``)."""
        tx = self._tx
        with tx.cond:
            tx.items.append((data, token))
            tx.cond.notify()

    def abandon_write(self) -> tuple[bool, Any]:
        """Give up one frame the line does not take (Linux ``sl_tx_timeout``): the one being
        written, or — when that one was given up already and its write is still stuck (a
        network port has no way to cancel a write) — the oldest one waiting behind it.

        Returns ``(True, token)`` for the frame given up, whose ``on_written`` will never
        come, or ``(False, None)`` when the writer holds nothing.  The rest of a frame
        being written is not written (pyserial's ``cancel_write``): the peer sees a frame
        cut short, a bad frame it counts.  What an earlier write put in the kernel's
        buffer stays there, to go out when the line moves: those frames were counted as
        sent.  The writer goes on with the next frame.
        """
        tx = self._tx
        ser = self.ser
        with tx.cond:
            if tx.current is not None and not tx.given_up:
                tx.given_up = True
                # Under the lock: the writer looks at given_up only after this, so it
                # knows to clear a cancel that came too late to cut its write short.
                if ser is not None:
                    with contextlib.suppress(Exception):
                        ser.cancel_write()
                return True, tx.current[1]
            if tx.items:
                return True, tx.items.popleft()[1]
        return False, None

    def close(self) -> list[Any]:
        """Stop the threads and close the port (or cancel an :meth:`open_async`); returns
        the tokens never written: those queued, and the one being written unless its
        write completed — a write still stuck after the writer's 2 s to end counts as
        not written, and whatever it does later is not reported."""
        self._cancel_open()
        ser = self.ser
        if ser is None:
            return []
        self._stopping.set()
        # What this open's threads posted and the loop runs from now on is stale: a loss
        # is no loss (the port is closed on purpose), a frame written no longer in flight.
        self.generation += 1
        tx = self._tx
        with tx.cond:
            tx.stopped = True
            tx.cond.notify_all()
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        for fn in ("cancel_read", "cancel_write"):
            with contextlib.suppress(Exception):
                getattr(ser, fn)()
        # socket:// and rfc2217:// have no cancel_write: a writer blocked in send() (the
        # server stopped reading) wakes only when the socket is shut down.
        sock = getattr(ser, "_socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)
        unsent = []
        with tx.cond:
            if tx.current is not None and not tx.given_up:
                # The writer is still in ser.write() (a driver or line that ignores the
                # cancel): the frame is given up here, once; if the write completes or
                # raises later, the writer reports nothing.
                tx.given_up = True
                unsent.append(tx.current[1])
                log.warning("%s: a write did not end within 2 s of closing the port; its "
                            "frame is counted as not sent", self.url)  # fmt: skip
            unsent.extend(token for _, token in tx.items)
            tx.items.clear()
        with contextlib.suppress(Exception):
            ser.close()
        self.ser = None
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1
        self._threads = []
        return unsent

    # -- threads ------------------------------------------------------------------------
    def _lost(self, gen: int, exc: BaseException) -> None:
        if self._stopping.is_set() or gen != self.generation:
            return
        self._post(self._report_lost, gen, exc)

    def _report_lost(self, gen: int, exc: BaseException) -> None:
        if gen != self.generation or self._lost_reported:
            return
        self._lost_reported = True
        self.on_lost(exc)

    def _reader(self, ser: Any, gen: int) -> None:
        try:
            fd = ser.fileno()
        except Exception:
            fd = None
        post = self._post
        # socket://: read the socket itself.  pyserial's read() goes on reading after the
        # bytes that came and, meeting the server's hang-up, raises and drops them — the
        # last data, or the reason the server gives (ser2net: "Device open failure: …").
        sock = getattr(ser, "_socket", None) if fd is not None else None
        try:
            if fd is not None:
                wake = self._wake_r
                ser.timeout = 0
                while not self._stopping.is_set():
                    r, _, _ = select.select([fd, wake], [], [], 1.0)
                    if wake in r or self._stopping.is_set():
                        return
                    if not r:
                        continue
                    data = sock.recv(65536) if sock is not None else _read_tty(ser)
                    if not data:
                        # Readable but empty: the other end hung up (pty closed, socket EOF).
                        if sock is not None:
                            raise PortError("the server closed the connection")
                        raise PortError(f"{self.url}: the line hung up")
                    post(self._deliver, gen, data)
            else:
                # No fd to select on (rfc2217://, loop://): pyserial's read(n) waits until n
                # bytes came or the timeout ran out, so a read(4096) would hold every frame
                # back by the whole timeout.  Wait for one byte, then take what is waiting.
                ser.timeout = 0.05
                while not self._stopping.is_set():
                    data = ser.read(1)
                    if data:
                        n = ser.in_waiting
                        if n:
                            data += ser.read(min(n, 65536))
                        post(self._deliver, gen, data)
        except Exception as exc:
            self._lost(gen, exc)

    def _deliver(self, gen: int, data: bytes) -> None:
        if gen == self.generation and not self._lost_reported:
            self.on_data(data)

    def _writer(self, ser: Any, gen: int, tx: _TxQueue) -> None:
        while True:
            item = tx.take()
            if item is None:
                return  # closing: what is queued is close()'s to report as unsent
            data, token = item
            failure: BaseException | None = None
            try:
                n = ser.write(data)
            except Exception as exc:
                failure = exc
            else:
                if n is not None and n < len(data):
                    # cancel_write() cut it short, and pyserial returns a short count
                    # rather than raising: part of a frame is no frame sent.
                    failure = PortError(f"{self.url}: a write was cut short")
            with tx.cond:
                given_up = tx.given_up
                tx.current, tx.given_up = None, False
                if given_up:
                    # close() or abandon_write() took this frame and counted it: nothing
                    # to report, whatever the write did.
                    if tx.stopped:
                        return  # (the port is closed or closing: leave its pipes alone)
                    # A cancel that came after the write had ended would cut the next
                    # one short: clear it.
                    _clear_cancel(ser)
                    continue
                if failure is not None:
                    # Back to the queue's head for close() to report as unsent (on_lost
                    # closes the port; _lost() is a no-op while closing).
                    tx.items.appendleft(item)
            if failure is not None:
                self._lost(gen, failure)
                return
            self._post(self._written, gen, token)

    def _written(self, gen: int, token: Any) -> None:
        if gen == self.generation:
            self.on_written(token)
            return
        # Posted by a writer just before its close(), run after it: the frame did leave,
        # and close() did not return it as unsent — dropping this report would leave it
        # counted nowhere.  But it is not one of the current open's frames in flight.
        # (A writer still in its write when close() gave up on it posts nothing: close()
        # counted it.)
        self.on_written_late(token)
