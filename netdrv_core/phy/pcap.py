"""pcap capture: a sans-I/O :class:`PcapWriter`, a safe :class:`PcapFile`, and :func:`capture`.

The classic libpcap file format (what ``tcpdump -w`` writes, readable by
tcpdump, Wireshark and scapy): a 24-byte global header, then one 16-byte
record header per frame followed by at most ``snaplen`` bytes of it.  Values
are written little-endian; the magic number tells readers the byte order and
the timestamp resolution (``0xa1b2c3d4`` microseconds, ``0xa1b23c4d``
nanoseconds).

The link type of a capture follows the device (:func:`linktype_for`):

=====================================  ===================================
device                                 link type
=====================================  ===================================
``hard_header_len == 0`` (SLIP, CSLIP,  ``LINKTYPE_RAW`` (101): the frames
PPP-like, TUN-like; KISS carrying IP)   are bare IPv4/IPv6 packets
ARPHRD_ETHER                           ``LINKTYPE_ETHERNET`` (1, DLT_EN10MB)
ARPHRD_LOOPBACK                        ``LINKTYPE_ETHERNET`` (1): netdrv's
                                       loopback frames carry an Ethernet header
ARPHRD_IEEE802_TR                      ``LINKTYPE_IEEE802_5`` (6)
ARPHRD_FDDI                            ``LINKTYPE_FDDI`` (10)
ARPHRD_AX25 with a link header         ``LINKTYPE_AX25`` (3)
ARPHRD_LOCALTLK / ARPHRD_APPLETLK      ``LINKTYPE_LTALK`` (114)
ARPHRD_IEEE802 (IP over Fibre Channel) ``LINKTYPE_IP_OVER_FC`` (122)
anything else (e.g. HIPPI)             ``LINKTYPE_USER0`` (147): readers
                                       show the bytes undecoded
=====================================  ===================================

What a capture sees (:func:`capture` is a :meth:`Host.add_tap` observer):
transmitted frames as the stack handed them to the core, before any
middleware on ``xmit_hook`` (a :class:`~netdrv_core.phy.faults.FaultInjector`
dropping a frame does not hide it); received frames as they are delivered to
the stack, after the middleware on ``rx_hook``.

A VLAN tag held in the skb's metadata (:mod:`netdrv_core.vlan`: the device
inserts it on transmit, or stripped it on receive) is put back after the MAC
addresses of an Ethernet frame (:func:`capture_frame`), as libpcap does from a
packet socket's auxdata: a capture shows the tag the wire carries, as tcpdump
on Linux does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import struct
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from ..linktypes import (
    ARPHRD_APPLETLK,
    ARPHRD_AX25,
    ARPHRD_ETHER,
    ARPHRD_FDDI,
    ARPHRD_IEEE802,
    ARPHRD_IEEE802_TR,
    ARPHRD_LOCALTLK,
    ARPHRD_LOOPBACK,
)
from ..skbuff import skb_frame_start
from ..vlan import vlan_tag_bytes

if TYPE_CHECKING:
    from ..host import Host
    from ..netdevice import NetDevice
    from ..skbuff import SkBuff

__all__ = [
    "LINKTYPE_AX25",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_FDDI",
    "LINKTYPE_IEEE802_5",
    "LINKTYPE_IP_OVER_FC",
    "LINKTYPE_LTALK",
    "LINKTYPE_RAW",
    "LINKTYPE_USER0",
    "PCAP_MAGIC_NSEC",
    "PCAP_MAGIC_USEC",
    "Capture",
    "PcapFile",
    "PcapStreamSplitter",
    "PcapWriter",
    "capture",
    "capture_frame",
    "frame_view",
    "linktype_for",
    "open_capture_file",
]

log = logging.getLogger("netdrv.phy.pcap")

LINKTYPE_ETHERNET = 1
LINKTYPE_AX25 = 3
LINKTYPE_IEEE802_5 = 6
LINKTYPE_FDDI = 10
LINKTYPE_RAW = 101
LINKTYPE_LTALK = 114
LINKTYPE_IP_OVER_FC = 122
LINKTYPE_USER0 = 147

PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAP_VERSION = (2, 4)
DEFAULT_SNAPLEN = 262144  # what tcpdump uses

_GLOBAL_HDR = struct.Struct("<IHHiIII")
_RECORD_HDR = struct.Struct("<IIII")

_BY_TYPE = {
    ARPHRD_ETHER: LINKTYPE_ETHERNET,
    ARPHRD_LOOPBACK: LINKTYPE_ETHERNET,
    ARPHRD_IEEE802_TR: LINKTYPE_IEEE802_5,
    ARPHRD_FDDI: LINKTYPE_FDDI,
    ARPHRD_AX25: LINKTYPE_AX25,
    ARPHRD_LOCALTLK: LINKTYPE_LTALK,
    ARPHRD_APPLETLK: LINKTYPE_LTALK,
    ARPHRD_IEEE802: LINKTYPE_IP_OVER_FC,
}


def linktype_for(dev: NetDevice) -> int:
    """The pcap link type for frames of ``dev`` (see the table in the module docstring)."""
    if dev.hard_header_len == 0:
        return LINKTYPE_RAW
    lt = _BY_TYPE.get(dev.type)
    if lt is None:
        log.debug("%s: no pcap link type for ARPHRD %d; using LINKTYPE_USER0", dev.name, dev.type)
        return LINKTYPE_USER0
    return lt


def frame_view(skb: SkBuff) -> memoryview:
    """The frame of ``skb`` from its link-layer header (if one was pulled off) to ``tail``."""
    return memoryview(skb.buf)[skb_frame_start(skb) : skb.tail]


_MACS = 12  # where libpcap puts a metadata VLAN tag back (its vlan_offset, 2 * ETH_ALEN)


def capture_frame(skb: SkBuff, linktype: int = LINKTYPE_ETHERNET) -> bytes | memoryview:
    """The frame of ``skb`` as a capture shows it: :func:`frame_view`, with a VLAN tag held
    in the metadata (``skb.vlan_all``) put back after the MAC addresses when ``linktype`` is
    :data:`LINKTYPE_ETHERNET` — what libpcap does from ``tp_vlan_tci``, so a capture shows
    the tag a ``NETIF_F_HW_VLAN_CTAG_TX`` device inserts or a ``CTAG_RX`` one stripped.  A
    tag without its protocol is an 802.1Q one, as libpcap takes it."""
    frame = frame_view(skb)
    tag = skb.vlan_all
    if not tag or linktype != LINKTYPE_ETHERNET or len(frame) < _MACS:
        return frame
    return b"".join((frame[:_MACS], vlan_tag_bytes(tag), frame[_MACS:]))


class PcapWriter:
    """Turns frames into pcap bytes; does no I/O (sans-I/O).

    ``header()`` once, then ``record(frame, timestamp_ns)`` per frame; write the
    returned bytes wherever you like.  Frames longer than ``snaplen`` are cut
    (the record keeps the original length, as libpcap does).
    """

    def __init__(
        self, linktype: int = LINKTYPE_ETHERNET, *, snaplen: int = DEFAULT_SNAPLEN,
        nanosecond: bool = False,
    ) -> None:  # fmt: skip
        if not 0 < snaplen <= 0x7FFFFFFF:
            raise ValueError(f"pcap snaplen must be 1..2147483647, got {snaplen}")
        if not 0 <= linktype <= 0xFFFF:
            raise ValueError(f"pcap link type must be 0..65535, got {linktype}")
        self.linktype = linktype
        self.snaplen = snaplen
        self.nanosecond = nanosecond
        self.records = 0
        self.truncated = 0

    @classmethod
    def for_device(cls, dev: NetDevice, **kw: Any) -> PcapWriter:
        """A writer with the link type of ``dev`` (:func:`linktype_for`); ``snaplen``, ``nanosecond``."""
        return cls(linktype_for(dev), **kw)

    @property
    def magic(self) -> int:
        """The magic number (tells the timestamp resolution)."""
        return PCAP_MAGIC_NSEC if self.nanosecond else PCAP_MAGIC_USEC

    def header(self) -> bytes:
        """The 24-byte global header."""
        return _GLOBAL_HDR.pack(self.magic, *PCAP_VERSION, 0, 0, self.snaplen, self.linktype)

    def record(
        self, frame: bytes | bytearray | memoryview, timestamp_ns: int | None = None,
        orig_len: int | None = None,
    ) -> bytes:  # fmt: skip
        """One record: header plus up to ``snaplen`` bytes of ``frame``.

        ``timestamp_ns`` is nanoseconds since the epoch (default: ``time.time_ns()``
        now); ``orig_len`` is the length on the wire when ``frame`` is already cut.
        """
        if timestamp_ns is None:
            timestamp_ns = time.time_ns()
        if timestamp_ns < 0:
            raise ValueError(f"pcap timestamps cannot be negative, got {timestamp_ns}")
        n = len(frame)
        if orig_len is None:
            orig_len = n
        elif orig_len < n:
            raise ValueError(f"orig_len {orig_len} is shorter than the {n}-byte frame")
        incl = min(n, self.snaplen)
        if incl < orig_len:
            self.truncated += 1
        sec, frac = divmod(int(timestamp_ns), 1_000_000_000)
        if not self.nanosecond:
            frac //= 1000
        if sec > 0xFFFFFFFF:
            raise ValueError(f"pcap timestamp {sec} s does not fit in 32 bits")
        self.records += 1
        hdr = _RECORD_HDR.pack(sec, frac, incl, min(orig_len, 0xFFFFFFFF))
        return b"".join((hdr, frame[:incl]))

    def record_skb(self, skb: SkBuff, timestamp_ns: int | None = None) -> bytes:
        """:meth:`record` of ``skb``'s frame as a capture shows it (:func:`capture_frame`)."""
        return self.record(capture_frame(skb, self.linktype), timestamp_ns)


class PcapStreamSplitter:
    """Cuts a pcap byte stream at record boundaries (sans-I/O).

    A stream read in chunks (``netdrv capture`` reading the daemon's socket)
    ends anywhere, also in the middle of a record; a file ending so is one
    tcpdump refuses ("truncated dump file").  :meth:`feed` returns the global
    header and the records that are complete so far; what remains of a record
    cut short waits for the next chunk (:attr:`pending` bytes), and is left out
    if the stream ends first.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._record: struct.Struct | None = None  # known once the global header is in
        self.records = 0
        """Records :meth:`feed` has returned whole (the frames a capture wrote)."""

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a header or record not complete yet."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Take the next chunk of the stream; return what is complete (b"" if nothing)."""
        buf = self._buf
        buf += data
        pos = 0
        if self._record is None:
            if len(buf) < _GLOBAL_HDR.size:
                return b""
            magic = int.from_bytes(buf[:4], "little")
            big = magic not in (PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC)
            self._record = struct.Struct(">IIII" if big else "<IIII")
            pos = _GLOBAL_HDR.size
        rec = self._record
        while len(buf) - pos >= rec.size:
            end = pos + rec.size + rec.unpack_from(buf, pos)[2]
            if end > len(buf):
                break
            pos = end
            self.records += 1
        if not pos:
            return b""
        out = bytes(buf[:pos])
        del buf[:pos]
        return out


def open_capture_file(path: str) -> IO[bytes]:
    """Open ``path`` for a capture: created or truncated, mode 0600, never through a symlink.

    Captures hold other people's traffic: an existing file keeps no wider
    permissions, and a symlink planted at ``path`` is refused (ELOOP) rather
    than followed to overwrite what it points at.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write capture file {path}: {exc.strerror}") from None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)  # an existing file keeps no wider permissions
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


class PcapFile:
    """A pcap file being written: a :class:`PcapWriter` plus the file.

    ``target`` is a path — created (or truncated) with mode 0600, because
    captures hold other people's traffic; symlinks are not followed — or an
    already open binary file object (e.g. ``sys.stdout.buffer``), which is
    flushed but not closed by :meth:`close`.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[bytes],
        linktype: int = LINKTYPE_ETHERNET,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        nanosecond: bool = False,
        clock: Callable[[], int] = time.time_ns,
        flush: bool = True,
    ) -> None:
        self.writer = PcapWriter(linktype, snaplen=snaplen, nanosecond=nanosecond)
        self.clock = clock
        self.flush_each = flush
        self._owned = not hasattr(target, "write")
        if self._owned:
            path = os.fspath(target)  # type: ignore[arg-type]
            self.file: IO[bytes] = open_capture_file(path)
            self.name = path
        else:
            self.file = target  # type: ignore[assignment]
            self.name = getattr(target, "name", "<file>")
        self.closed = False
        self.file.write(self.writer.header())
        if flush:
            self.file.flush()

    @property
    def packets(self) -> int:
        """Records written so far."""
        return self.writer.records

    def write(
        self, frame: bytes | bytearray | memoryview, timestamp_ns: int | None = None,
        orig_len: int | None = None,
    ) -> None:  # fmt: skip
        """Append one frame (timestamped now unless ``timestamp_ns`` is given)."""
        if self.closed:
            raise ValueError(f"capture file {self.name} is closed")
        ts = self.clock() if timestamp_ns is None else timestamp_ns
        self.file.write(self.writer.record(frame, ts, orig_len))
        if self.flush_each:
            self.file.flush()

    def write_skb(self, skb: SkBuff, timestamp_ns: int | None = None) -> None:
        """Append the frame of ``skb`` (from its link-layer header; a metadata VLAN tag
        put back, :func:`capture_frame`)."""
        self.write(capture_frame(skb, self.writer.linktype), timestamp_ns)

    def flush(self) -> None:
        """Push buffered records to the file."""
        if not self.closed:
            self.file.flush()

    def close(self) -> None:
        """Flush, and close the file if this object opened it."""
        if self.closed:
            return
        self.closed = True
        try:
            self.file.flush()
        finally:
            if self._owned:
                self.file.close()

    def __enter__(self) -> PcapFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Capture:
    """A running capture of one device (returned by :func:`capture`)."""

    def __init__(
        self, host: Host, dev: NetDevice, pcap: PcapFile, count: int | None, direction: str
    ) -> None:
        self.host = host
        self.dev = dev
        self.pcap = pcap
        self.count = count
        self.direction = direction
        self.done = False
        # The device unregistered, or a write that failed: the capture ends, its file closed.
        self._remove = host.add_tap(dev, self._tap, gone=self._ended)

    @property
    def packets(self) -> int:
        """Frames captured so far."""
        return self.pcap.packets

    def _tap(self, dev: NetDevice, skb: SkBuff, direction: str) -> None:
        if self.done or (self.direction != "both" and direction != self.direction):
            return
        self.pcap.write_skb(skb)
        if self.count is not None and self.pcap.packets >= self.count:
            self.stop()

    def _ended(self) -> None:
        if not self.done:
            self.done = True
            with contextlib.suppress(OSError):  # a failed write already said what went wrong
                self.pcap.close()

    def stop(self) -> None:
        """Stop capturing and close the file (idempotent)."""
        if self.done:
            return
        self.done = True
        self._remove()
        self.pcap.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"<Capture {self.dev.name} -> {self.pcap.name} {self.packets} packets {state}>"


def capture(
    host: Host,
    dev: NetDevice | str,
    path: str | os.PathLike[str] | IO[bytes],
    count: int | None = None,
    *,
    direction: str = "both",
    linktype: int | None = None,
    **pcap_kw: Any,
) -> Capture:
    """Capture frames of ``dev`` into a pcap file until ``count`` frames or :meth:`Capture.stop`.

    ``direction`` is ``"rx"``, ``"tx"`` or ``"both"``; the link type defaults
    to :func:`linktype_for`; other keywords go to :class:`PcapFile`
    (``snaplen``, ``nanosecond``, ``clock``, ``flush``).
    """
    if isinstance(dev, str):
        found = host.dev_get_by_name(dev)
        if found is None:
            raise ValueError(f"capture: no device named {dev!r} on this host")
        dev = found
    if direction not in ("rx", "tx", "both"):
        raise ValueError(f"capture direction must be 'rx', 'tx' or 'both', got {direction!r}")
    if count is not None and count <= 0:
        raise ValueError(f"capture count must be positive, got {count}")
    pcap = PcapFile(path, linktype_for(dev) if linktype is None else linktype, **pcap_kw)
    return Capture(host, dev, pcap, count, direction)
