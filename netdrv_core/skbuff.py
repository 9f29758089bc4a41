"""Socket buffers: :class:`SkBuff`, the packet container of the driver model.

An skb is one preallocated ``bytearray`` with four offsets, exactly as in the
kernel (seed 000, "Network Buffers and Memory Management")::

    head <= data <= tail <= end
    |headroom|  packet   |tailroom|

``put`` grows the packet at the tail, ``push`` prepends a header into the
headroom, ``pull`` strips a header from the front, ``reserve`` makes headroom
in an empty buffer and ``trim`` cuts the tail.  Going past either end raises
:class:`SkbOverPanic` / :class:`SkbUnderPanic`, naming the sizes involved.

Views are ``memoryview`` slices of the one buffer: nothing on the hot path
copies a packet unless the kernel would too (``skb_copy``).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

    from .netdevice import NetDevice
    from .skbqueue import SkBuffHead

__all__ = [
    "CHECKSUM_COMPLETE",
    "CHECKSUM_NONE",
    "CHECKSUM_PARTIAL",
    "CHECKSUM_UNNECESSARY",
    "NET_IP_ALIGN",
    "NET_SKB_PAD",
    "PACKET_BROADCAST",
    "PACKET_HOST",
    "PACKET_LOOPBACK",
    "PACKET_MULTICAST",
    "PACKET_OTHERHOST",
    "PACKET_OUTGOING",
    "SKB_GSO_TCPV4",
    "SKB_GSO_TCPV6",
    "SKB_GSO_TCP_ECN",
    "SKB_GSO_TCP_FIXEDID",
    "SKB_GSO_UDP_L4",
    "SkBuff",
    "SkbError",
    "SkbOverPanic",
    "SkbUnderPanic",
    "alloc_skb",
    "consume_skb",
    "dev_alloc_skb",
    "dev_consume_skb_any",
    "dev_kfree_skb",
    "dev_kfree_skb_any",
    "kfree_skb",
    "napi_consume_skb",
    "netdev_alloc_skb",
    "netdev_alloc_skb_ip_align",
    "set_skb_debug",
    "skb_clone",
    "skb_copy",
    "skb_frame_start",
    "skb_from_frame",
    "skb_pad",
    "skb_padto",
    "skb_put_padto",
]

# pkt_type: who the frame was for (set by eth_type_trans).
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4
PACKET_LOOPBACK = 5

# ip_summed: what is known about the checksums of the packet.
CHECKSUM_NONE = 0
CHECKSUM_UNNECESSARY = 1
CHECKSUM_COMPLETE = 2
CHECKSUM_PARTIAL = 3

# gso_type bits (subset of include/linux/skbuff.h's SKB_GSO_*, with its numbers).
SKB_GSO_TCPV4 = 1 << 0
SKB_GSO_TCP_ECN = 1 << 2
#: A TCP super-frame whose segments all carry the same IPv4 ID (DF set): GRO merged a
#: "fixed-ID" flow, and segmenting it must keep the ID instead of counting it up.
SKB_GSO_TCP_FIXEDID = 1 << 3
SKB_GSO_TCPV6 = 1 << 4
SKB_GSO_UDP_L4 = 1 << 17

NET_SKB_PAD = 16  # headroom dev_alloc_skb reserves
NET_IP_ALIGN = 2  # 14-byte Ethernet header + 2 puts the IP header on a 4-byte boundary


class SkbError(RuntimeError):
    """A misuse of an skb (freed twice, used after free)."""


class SkbOverPanic(SkbError):
    """Raised instead of the kernel's ``skb_over_panic``: writing past ``end``."""


class SkbUnderPanic(SkbError):
    """Raised instead of the kernel's ``skb_under_panic``: pushing before ``head``."""


#: Record where each skb is freed, so a use after free or a double free names the
#: place (``NETDRV_SKB_DEBUG=1``, or :func:`set_skb_debug`; the conformance kit
#: turns it on).  Off by default: it costs a frame lookup per free.
skb_debug = os.environ.get("NETDRV_SKB_DEBUG", "") not in ("", "0")


def set_skb_debug(on: bool) -> bool:
    """Turn recording of free sites on or off; returns the previous setting."""
    global skb_debug
    old, skb_debug = skb_debug, bool(on)
    return old


class _FreedBuffer:
    """What a freed skb's :attr:`SkBuff.buf` becomes: any access raises :class:`SkbError`.

    In the kernel the memory would be reused by another packet, and reading or
    writing it corrupts that one — the bug this turns into an error at its site.
    """

    __slots__ = ("where",)

    def __init__(self, where: str = "") -> None:
        self.where = where

    def _used(self, *_args: object) -> Any:
        raise SkbError(f"skb used after free{_freed_at(self)}: its buffer may already hold "
                       f"another packet; take what you need before dev_kfree_skb")  # fmt: skip

    __getitem__ = __setitem__ = __delitem__ = __len__ = __iter__ = __contains__ = _used

    def __repr__(self) -> str:
        return f"<buffer of a freed skb{_freed_at(self)}>"


_FREED = _FreedBuffer()


def _freed_at(buf: object) -> str:
    where = getattr(buf, "where", "")
    if where:
        return f" (freed at {where})"
    return " (NETDRV_SKB_DEBUG=1 names where it was freed)"


def _use_after_free(skb: SkBuff, how: str) -> None:
    """Raise the error for ``how`` (``skb_put``…) on a freed skb: KASAN's use-after-free
    report, at the line that does it.  Called only once ``skb.freed`` was seen set, so
    the live path pays one attribute test per operation."""
    if gro_holds(skb):
        raise SkbError(f"{how}: skb used after napi_gro_receive took it: GRO holds it until "
                       f"the poll ends and may merge or free it; take what you need before "
                       f"handing it up: {skb!r}")  # fmt: skip
    buf: object = skb.buf
    where = (_freed_at(buf) if isinstance(buf, _FreedBuffer)
             else " (dropped or handed up by the core)")  # fmt: skip
    raise SkbError(f"{how}: skb used after free{where}: a freed skb is no longer the driver's; "
                   f"take what you need before freeing it: {skb!r}")  # fmt: skip


def gro_holds(skb: SkBuff) -> bool:
    """True when ``skb`` is held by GRO (``napi_gro_receive`` took it; the poll has not
    ended).  GRO marks such an skb freed — it is no longer the driver's — until it
    hands it up; this tells the two apart when an error is reported (not a fast path)."""
    for napi in getattr(skb.dev, "napi_list", ()):
        for flow in napi.gro_list:
            if flow.head is skb:
                return True
    return False


def skb_not_owned(how: str, skb: SkBuff) -> SkbError:
    """The error for an skb handed to ``how`` (``netif_rx``…) that is not the driver's to
    hand on: freed, dropped by the core, held by GRO after ``napi_gro_receive``, or still
    on a list (``skb.on_list``), which the core would link it into a second one of."""
    on = skb.on_list
    if on is not None and not skb.freed:  # Linux links it twice and corrupts both lists
        return SkbError(f"{how} of an skb still on a list ({on!r}): {skb!r}; an skb is on "
                        f"one list at a time, and {how} links it into another: unlink it first "
                        f"(skb_dequeue, skb_unlink) or hand on a skb_clone")  # fmt: skip
    if gro_holds(skb):
        return SkbError(f"{how} of an skb GRO still holds: napi_gro_receive took it, and it "
                        f"is handed up when the poll ends; hand each skb up once")  # fmt: skip
    buf: object = skb.buf  # a _FreedBuffer once kfree_skb freed it
    if isinstance(buf, _FreedBuffer):
        where = _freed_at(buf)
    else:  # marked freed, buffer intact: the core dropped it (NET_RX_DROP) or handed it up
        where = " (dropped or handed up by the core already)"
    return SkbError(f"{how} of a freed skb: hand it up or free it, not both; an skb handed "
                    f"up or dropped is no longer the driver's{where}")  # fmt: skip


def _caller_site() -> str:
    # The first frame outside this module: the driver line that freed the skb.
    f: FrameType | None = sys._getframe(1)
    while f is not None and f.f_code.co_filename == __file__:
        f = f.f_back
    if f is None:
        return "?"
    return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"


class SkBuff:
    """A socket buffer.

    Offsets are indexes into :attr:`buf`; ``head`` is always 0.  The header
    offsets (``mac_header``, ``network_header``, ``transport_header``) are
    absolute indexes too, or ``-1`` when unset.

    ``on_list`` is the :class:`~netdrv_core.skbqueue.SkBuffHead` the skb is on, None
    when on none (Linux 2.4's ``skb->list``; today's ``skb->next != NULL``): queueing
    an skb that is on a list already is refused, as ``CONFIG_DEBUG_LIST`` reports it, and
    so is handing one on to ``netif_rx``, ``netif_receive_skb``, ``napi_gro_receive`` or
    ``dev_queue_xmit`` (each queues it: the backlog, GRO's list, the qdisc).

    ``vlan_all`` is a VLAN tag held in the metadata instead of the data (VLAN
    acceleration, :mod:`netdrv_core.vlan`): as in Linux, the union of
    :attr:`vlan_proto` and :attr:`vlan_tci`, and non-zero exactly when a tag is
    present (``skb_vlan_tag_present``).
    """

    __slots__ = (
        "__weakref__",
        "buf",
        "cb",
        "csum",
        "csum_offset",
        "csum_start",
        "data",
        "dev",
        "end",
        "freed",
        "gso_size",
        "gso_type",
        "ip_summed",
        "mac_header",
        "network_header",
        "on_list",
        "pkt_type",
        "priority",
        "protocol",
        "queue_mapping",
        "tail",
        "transport_header",
        "tstamp",
        "vlan_all",
    )

    on_list: SkBuffHead | None  # the list it is on (skbqueue); None from the tuple below

    def __init__(self, size: int, buf: bytearray | None = None) -> None:
        if size < 0:
            raise ValueError(f"alloc_skb: size must be >= 0, got {size}")
        if buf is None:
            buf = bytearray(size)
        self.buf: bytearray = buf
        self.end = len(buf)
        self.dev: NetDevice | None = None
        self.cb: dict[str, Any] | None = None  # driver scratch space, like skb->cb
        self.freed = False
        self.tstamp = 0.0
        # The integer defaults in one unpack of a constant tuple: a store each
        # instead of three instructions each (this runs for every packet).  The
        # literals: pkt_type PACKET_HOST and ip_summed CHECKSUM_NONE are 0 (a
        # global name would stop the tuple from being a constant).
        (
            self.data, self.tail, self.protocol, self.pkt_type, self.ip_summed, self.csum,
            self.csum_start, self.csum_offset, self.gso_size, self.gso_type, self.priority,
            self.vlan_all, self.queue_mapping, self.mac_header, self.network_header,
            self.transport_header, self.on_list,
        ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, None)  # fmt: skip

    # -- VLAN tag metadata (the two halves of the vlan_all union) ---------------
    @property
    def vlan_proto(self) -> int:
        """The metadata tag's protocol (ETH_P_8021Q or ETH_P_8021AD); 0 when none."""
        return self.vlan_all >> 16

    @vlan_proto.setter
    def vlan_proto(self, proto: int) -> None:
        self.vlan_all = (proto & 0xFFFF) << 16 | self.vlan_all & 0xFFFF

    @property
    def vlan_tci(self) -> int:
        """The metadata tag's TCI: priority (3 bits), DEI (1) and VLAN ID (12)."""
        return self.vlan_all & 0xFFFF

    @vlan_tci.setter
    def vlan_tci(self, tci: int) -> None:
        self.vlan_all = self.vlan_all & 0xFFFF0000 | tci & 0xFFFF

    # -- sizes -------------------------------------------------------------
    @property
    def head(self) -> int:
        """Start of the buffer (always 0)."""
        return 0

    @property
    def len(self) -> int:
        """Bytes of packet data (``tail - data``)."""
        return self.tail - self.data

    def __len__(self) -> int:
        return self.tail - self.data

    def headroom(self) -> int:
        """Free bytes before ``data`` (``skb_headroom``)."""
        if self.freed:
            _use_after_free(self, "skb_headroom")
        return self.data

    def tailroom(self) -> int:
        """Free bytes after ``tail`` (``skb_tailroom``)."""
        if self.freed:
            _use_after_free(self, "skb_tailroom")
        return self.end - self.tail

    # -- buffer operations ---------------------------------------------------
    def reserve(self, n: int) -> None:
        """Make ``n`` bytes of headroom in an empty buffer (``skb_reserve``)."""
        if self.freed:
            _use_after_free(self, "skb_reserve")
        if self.tail != self.data:
            raise SkbError(f"skb_reserve on a non-empty skb (len={self.len}); reserve before put")
        if n < 0 or self.data + n > self.end:
            raise SkbOverPanic(
                f"skb_over_panic: reserve {n} bytes at data={self.data} but end={self.end}"
            )
        self.data += n
        self.tail += n

    def put(self, n: int) -> memoryview:
        """Extend the data at the tail by ``n`` bytes; return a writable view of them."""
        if self.freed:
            _use_after_free(self, "skb_put")
        tail = self.tail
        new_tail = tail + n
        if n < 0 or new_tail > self.end:
            raise SkbOverPanic(
                f"skb_over_panic: put {n} bytes at tail={tail} but end={self.end} "
                f"(len={self.len}, tailroom={self.end - tail})"
            )
        self.tail = new_tail
        return memoryview(self.buf)[tail:new_tail]

    def put_data(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` at the tail (``skb_put_data``): one copy into the buffer."""
        if self.freed:
            _use_after_free(self, "skb_put_data")
        tail = self.tail
        new_tail = tail + len(data)
        if new_tail > self.end:
            raise SkbOverPanic(
                f"skb_over_panic: put {len(data)} bytes at tail={tail} but end={self.end} "
                f"(len={self.len}, tailroom={self.end - tail})"
            )
        self.buf[tail:new_tail] = data
        self.tail = new_tail

    def push(self, n: int) -> memoryview:
        """Prepend ``n`` bytes into the headroom; return a writable view of them."""
        if self.freed:
            _use_after_free(self, "skb_push")
        new_data = self.data - n
        if n < 0 or new_data < 0:
            raise SkbUnderPanic(
                f"skb_under_panic: push {n} bytes with headroom={self.data} "
                f"(len={self.len}); reserve more headroom when allocating"
            )
        self.data = new_data
        return memoryview(self.buf)[new_data : new_data + n]

    def pull(self, n: int) -> memoryview:
        """Remove ``n`` bytes from the start of the data; return a view of the new data.

        Like the kernel's ``skb_pull`` it refuses to pull more than ``len``:
        that raises :class:`SkbUnderPanic` rather than returning NULL, because a
        silent failure here is always a driver bug.
        """
        if self.freed:
            _use_after_free(self, "skb_pull")
        if n < 0 or n > self.tail - self.data:
            raise SkbUnderPanic(f"skb_pull: pull {n} bytes from an skb of len={self.len}")
        self.data += n
        return memoryview(self.buf)[self.data : self.tail]

    def trim(self, length: int) -> None:
        """Cut the packet down to ``length`` bytes (``skb_trim``); no-op if already shorter."""
        if self.freed:
            _use_after_free(self, "skb_trim")
        if length < 0:
            raise ValueError(f"skb_trim: length must be >= 0, got {length}")
        if self.tail - self.data > length:
            self.tail = self.data + length

    # -- views -----------------------------------------------------------------
    def view(self) -> memoryview:
        """A zero-copy, writable view of the packet data."""
        if self.freed:
            _use_after_free(self, "skb.view")
        return memoryview(self.buf)[self.data : self.tail]

    def tobytes(self) -> bytes:
        """A copy of the packet data as ``bytes``."""
        if self.freed:
            _use_after_free(self, "skb.tobytes")
        return bytes(self.buf[self.data : self.tail])

    def __bytes__(self) -> bytes:
        return self.tobytes()

    # -- header offsets (skb_reset_mac_header and friends) ----------------------
    def reset_mac_header(self) -> None:
        """Mark the current ``data`` as the start of the link-layer header."""
        if self.freed:
            _use_after_free(self, "skb_reset_mac_header")
        self.mac_header = self.data

    def reset_network_header(self) -> None:
        """Mark the current ``data`` as the start of the network header."""
        if self.freed:
            _use_after_free(self, "skb_reset_network_header")
        self.network_header = self.data

    def reset_transport_header(self) -> None:
        """Mark the current ``data`` as the start of the transport header."""
        if self.freed:
            _use_after_free(self, "skb_reset_transport_header")
        self.transport_header = self.data

    def set_network_header(self, offset: int) -> None:
        """Network header at ``data + offset``."""
        if self.freed:
            _use_after_free(self, "skb_set_network_header")
        self.network_header = self.data + offset

    def set_transport_header(self, offset: int) -> None:
        """Transport header at ``data + offset``."""
        if self.freed:
            _use_after_free(self, "skb_set_transport_header")
        self.transport_header = self.data + offset

    def mac_header_view(self) -> memoryview:
        """View from the link-layer header to ``tail`` (``skb_mac_header``)."""
        if self.freed:
            _use_after_free(self, "skb_mac_header")
        if self.mac_header < 0:
            raise SkbError("skb has no mac header set (call reset_mac_header first)")
        return memoryview(self.buf)[self.mac_header : self.tail]

    def network_header_view(self) -> memoryview:
        """View from the network header to ``tail`` (``skb_network_header``)."""
        if self.freed:
            _use_after_free(self, "skb_network_header")
        if self.network_header < 0:
            raise SkbError("skb has no network header set")
        return memoryview(self.buf)[self.network_header : self.tail]

    # -- ownership ----------------------------------------------------------------
    def clone(self) -> SkBuff:
        """A new skb header sharing this packet data (``skb_clone``)."""
        if self.freed:
            _use_after_free(self, "skb_clone")
        c = SkBuff.__new__(SkBuff)
        for name in SkBuff.__slots__:
            if name != "__weakref__":
                setattr(c, name, getattr(self, name))
        c.freed = False
        c.on_list = None  # a new skb: on no list (Linux's __skb_clone: n->next = NULL)
        c.cb = dict(self.cb) if self.cb else None
        return c

    def copy(self, headroom: int | None = None, tailroom: int = 0) -> SkBuff:
        """A private copy of header and data (``skb_copy`` / ``skb_copy_expand``).

        As in the kernel the headroom is copied too, so the headers before
        ``data`` (the link-layer header after ``eth_type_trans``) come along
        and every offset (``mac_header``, ``network_header``,
        ``transport_header``, ``csum_start`` of a ``CHECKSUM_PARTIAL`` skb)
        points at the same bytes in the copy.  ``headroom`` is the copy's
        ``skb_headroom`` (default: the same as this skb's), raised when the
        headers before ``data`` would not fit in it; ``tailroom`` is the room
        after ``tail``.
        """
        if self.freed:
            _use_after_free(self, "skb_copy_expand" if headroom or tailroom else "skb_copy")
        if tailroom < 0 or (headroom is not None and headroom < 0):
            raise ValueError(
                f"skb_copy_expand: headroom and tailroom must be >= 0, got {headroom}, {tailroom}"
            )
        data = self.data
        partial = self.ip_summed == CHECKSUM_PARTIAL
        # The earliest header that is set: it and everything after it must be copied.
        start = data
        for off in (self.mac_header, self.network_header, self.transport_header):
            if 0 <= off < start:
                start = off
        if partial and 0 <= self.csum_start < start:
            start = self.csum_start
        hr = data if headroom is None else max(headroom, data - start)
        # Like the kernel, copy as much of the old headroom as the new one holds
        # (all of it for a plain copy): never less than from ``start``.
        before = min(data, hr)
        c = self.clone()
        c.buf = buf = bytearray(hr + self.tail - data + tailroom)
        buf[hr - before : hr + self.tail - data] = self.buf[data - before : self.tail]
        shift = hr - data
        c.data = hr
        c.tail = self.tail + shift
        c.end = len(buf)
        # Unset offsets (-1) stay unset; set ones move with the bytes they point at.
        if self.mac_header >= 0:
            c.mac_header = self.mac_header + shift
        if self.network_header >= 0:
            c.network_header = self.network_header + shift
        if self.transport_header >= 0:
            c.transport_header = self.transport_header + shift
        if partial:
            c.csum_start = self.csum_start + shift
        return c

    def is_cloned_with(self, other: SkBuff) -> bool:
        """True when both skbs share one data buffer."""
        return self.buf is other.buf

    def __repr__(self) -> str:
        dev = self.dev.name if self.dev is not None else None
        return (
            f"<SkBuff len={self.len} headroom={self.data} tailroom={self.end - self.tail} "
            f"protocol=0x{self.protocol:04x} dev={dev}{' freed' if self.freed else ''}"
            f"{f' vlan=0x{self.vlan_proto:04x}/{self.vlan_tci}' if self.vlan_all else ''}>"
        )


_new_skb = object.__new__


def skb_from_frame(
    buf: bytearray, data: int, tail: int, dev: NetDevice | None, protocol: int, network_header: int
) -> SkBuff:
    """An skb over ``buf`` holding the frame ``buf[data:tail]`` (mac header at ``data``).

    What a receive path builds for every frame read — ``SkBuff(0, buf)`` then
    six fields set again — with each field stored once and without the class
    call (a plain function call is cheaper in CPython).  Every other field
    has the value ``SkBuff.__init__`` gives it.
    """
    skb: SkBuff = _new_skb(SkBuff)
    skb.buf = buf
    skb.end = len(buf)
    skb.dev = dev
    skb.data = skb.mac_header = data
    skb.tail = tail
    skb.protocol = protocol
    skb.network_header = network_header
    skb.cb = None
    skb.freed = False
    skb.tstamp = 0.0
    # Constant tuple, as in SkBuff.__init__ (PACKET_HOST, CHECKSUM_NONE, ...).
    (
        skb.on_list, skb.pkt_type, skb.ip_summed, skb.csum, skb.csum_start, skb.csum_offset,
        skb.gso_size, skb.gso_type, skb.priority, skb.vlan_all, skb.queue_mapping,
        skb.transport_header,
    ) = (None, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1)  # fmt: skip
    return skb


def alloc_skb(size: int) -> SkBuff:
    """Allocate an skb with ``size`` bytes of buffer and no headroom."""
    return SkBuff(size)


def dev_alloc_skb(length: int) -> SkBuff:
    """Allocate an skb for receiving ``length`` bytes, with 16 bytes of headroom reserved."""
    skb = SkBuff(length + NET_SKB_PAD)
    skb.data = skb.tail = NET_SKB_PAD
    return skb


def netdev_alloc_skb(dev: NetDevice | None, length: int) -> SkBuff:
    """``dev_alloc_skb`` that also sets ``skb.dev``."""
    skb = SkBuff(length + NET_SKB_PAD)
    skb.data = skb.tail = NET_SKB_PAD
    skb.dev = dev
    return skb


def netdev_alloc_skb_ip_align(dev: NetDevice | None, length: int) -> SkBuff:
    """Allocate for ``length`` bytes and reserve 2 more so the IP header is aligned."""
    skb = SkBuff(length + NET_SKB_PAD + NET_IP_ALIGN)
    skb.data = skb.tail = NET_SKB_PAD + NET_IP_ALIGN
    skb.dev = dev
    return skb


def skb_clone(skb: SkBuff) -> SkBuff:
    """Kernel-style alias of :meth:`SkBuff.clone`."""
    return skb.clone()


def skb_frame_start(skb: SkBuff) -> int:
    """Where ``skb``'s frame starts in its buffer: at its link-layer header when one was
    pulled off (``eth_type_trans`` on receive), else at ``data``."""
    mac = skb.mac_header
    return mac if 0 <= mac <= skb.data else skb.data


def skb_copy(skb: SkBuff) -> SkBuff:
    """Kernel-style alias of :meth:`SkBuff.copy`."""
    return skb.copy()


def kfree_skb(skb: SkBuff) -> None:
    """Release an skb. Freeing twice raises :class:`SkbError` (a double free is a bug).

    The skb's buffer is gone afterwards: reading or writing ``skb.buf``, or a
    view of it taken later, raises :class:`SkbError` (a use after free).
    """
    if skb.freed:
        if gro_holds(skb):
            raise SkbError(f"kfree_skb of an skb GRO holds: napi_gro_receive took it (it is "
                           f"the stack's now); do not free what you handed up: {skb!r}")  # fmt: skip
        raise SkbError(f"double free of {skb!r}{_freed_at(skb.buf)}")
    skb.freed = True
    skb.buf = _FreedBuffer(_caller_site()) if skb_debug else _FREED  # type: ignore[assignment]


dev_kfree_skb = kfree_skb
dev_kfree_skb_any = kfree_skb
dev_consume_skb_any = kfree_skb
consume_skb = kfree_skb


def napi_consume_skb(skb: SkBuff | None, budget: int) -> None:
    """Free an skb the driver has transmitted, from its NAPI poll (``napi_consume_skb``).

    ``budget`` is the poll's (0 when not called from a poll, where Linux falls back
    to ``dev_consume_skb_any``): here both are :func:`consume_skb`.  None is
    ignored, as Linux ignores NULL.
    """
    if skb is not None:
        kfree_skb(skb)


def skb_pad(skb: SkBuff, pad: int) -> int:
    """Zero ``pad`` bytes after the data, leaving ``skb.len`` as it is (``skb_pad``).

    With too little tailroom the buffer is replaced by a larger copy (Linux's
    ``pskb_expand_head``: views taken before no longer see the skb's data).
    Returns 0, or ``-ENOMEM`` when no buffer could be had: the skb is then
    **freed**, as in Linux, and must not be touched (``start_xmit`` returns
    ``NETDEV_TX_OK`` and counts it dropped).
    """
    if skb.freed:
        _use_after_free(skb, "skb_pad")
    if pad < 0:
        raise ValueError(f"skb_pad: pad must be >= 0, got {pad}")
    tail = skb.tail
    if pad <= skb.end - tail:
        skb.buf[tail : tail + pad] = bytes(pad)
        return 0
    try:
        buf = bytearray(tail + pad)  # zeroed: the padding
    except (MemoryError, OverflowError):
        kfree_skb(skb)
        return -errno.ENOMEM
    buf[:tail] = skb.buf[:tail]  # the headroom too: headers before data stay where they were
    skb.buf = buf
    skb.end = len(buf)
    return 0


def skb_padto(skb: SkBuff, length: int) -> int:
    """Make sure the buffer holds ``length`` bytes of data, zero-padded, without changing
    ``skb.len`` (``skb_padto``: the device sends the padding, the length stays).

    0, or ``-ENOMEM`` with the skb freed (see :func:`skb_pad`).
    """
    if skb.freed:
        _use_after_free(skb, "skb_padto")
    size = skb.tail - skb.data
    return 0 if size >= length else skb_pad(skb, length - size)


def skb_put_padto(skb: SkBuff, length: int) -> int:
    """Zero-pad the data to ``length`` bytes and count the padding in ``skb.len``
    (``skb_put_padto``).  0, or ``-ENOMEM`` with the skb freed (see :func:`skb_pad`).
    """
    if skb.freed:
        _use_after_free(skb, "skb_put_padto")
    size = skb.tail - skb.data
    if size < length:
        pad = length - size
        rc = skb_pad(skb, pad)
        if rc:
            return rc
        skb.tail += pad
    return 0
