"""rtnetlink: watching and configuring kernel links.

:class:`LinkMonitor` is a raw ``NETLINK_ROUTE`` socket subscribed to link
events; its fd sits in the host's event loop and each ``RTM_NEWLINK`` is
parsed here (sans-I/O parser :func:`parse_link_messages`) — a few struct
unpacks, no threads.  Changes netdrv makes itself go through pyroute2
(:class:`LinkConfig`), imported only when a kernel attachment is used.

When the socket's receive buffer overflows the kernel drops events and says so
once (ENOBUFS); the monitor then dumps the TUN/TAP links on the same socket, so
each link's current state arrives in order with the events around it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LinkConfig",
    "LinkEvent",
    "LinkMonitor",
    "dump_interrupted",
    "dump_status",
    "parse_link_messages",
]

log = logging.getLogger("netdrv.attach.netlink")

NETLINK_ROUTE = 0
RTMGRP_LINK = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10  # the links changed while the dump ran: it may have missed one
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
NLMSG_HDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
RTATTR = struct.Struct("=HH")
AF_UNSPEC = 0
SIOCGIFFLAGS = 0x8913
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_TXQLEN = 13
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_PROMISCUITY = 30
IFLA_CARRIER = 33
IFLA_EVENT = 44  # why rtnetlink sent the RTM_NEWLINK (Linux 4.13+)
IFLA_EVENT_FEATURES = 2  # NETDEV_FEAT_CHANGE: the features changed (``ethtool -K``)
IFLA_ALLMULTI = 61  # Linux 6.x; older kernels show allmulti only in the flags
IFLA_INFO_KIND = 1
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # not in Python's socket module
# Room for some thousand link events (the kernel doubles it): a script toggling many links,
# or the daemon busy in a driver for a while, must not overflow it.
RCVBUF = 4 << 20


@dataclass
class LinkEvent:
    """One RTM_NEWLINK/RTM_DELLINK, the fields netdrv keeps in step."""

    kind: int
    index: int
    flags: int
    change: int
    name: str = ""
    mtu: int | None = None
    address: bytes | None = None
    txqlen: int | None = None
    promiscuity: int | None = None
    allmulti: int | None = None  # the allmulti count (a bridge port's is not in the flags)
    event: int | None = None  # IFLA_EVENT: IFLA_EVENT_FEATURES after ``ethtool -K``
    seq: int = 0
    portid: int = 0
    # A link's state read back after events were lost (ENOBUFS), not the report of a change.
    resync: bool = False
    # Its place among the events a reader has read (set by the reader, e.g. KernelStack, to
    # order them against its own writes: only one read after a write can be its echo).
    order: int = 0

    @property
    def deleted(self) -> bool:
        """The link was removed."""
        return self.kind == RTM_DELLINK

    @property
    def features_changed(self) -> bool:
        """The link's features changed (``ethtool -K``, TUNSETOFFLOAD); the event does not
        say to what: read them (``SIOCETHTOOL``)."""
        return self.event == IFLA_EVENT_FEATURES


def _messages(mv: memoryview) -> Iterator[tuple[int, int, int, int, int, int]]:
    """``(offset, length, type, seq, portid, flags)`` of each netlink message in a datagram.

    Stops at the first malformed header (a length that does not fit).
    """
    off = 0
    n = len(mv)
    while off + NLMSG_HDR.size <= n:
        length, mtype, flags, seq, pid = NLMSG_HDR.unpack_from(mv, off)
        if length < NLMSG_HDR.size or off + length > n:
            return
        yield off, length, mtype, seq, pid, flags
        off += (length + 3) & ~3


def parse_link_messages(data: bytes | memoryview) -> list[LinkEvent]:
    """Parse a netlink datagram into link events (other messages are skipped)."""
    out: list[LinkEvent] = []
    mv = memoryview(data)
    for off, length, mtype, seq, pid, _flags in _messages(mv):
        if mtype in (RTM_NEWLINK, RTM_DELLINK) and length >= NLMSG_HDR.size + IFINFOMSG.size:
            p = off + NLMSG_HDR.size
            fam, _typ, index, flags, change = IFINFOMSG.unpack_from(mv, p)
            if fam != AF_UNSPEC:
                # A bridge's port info (AF_BRIDGE): its RTM_DELLINK says the link left the
                # bridge (``ip link set DEV nomaster``), not that it was deleted.
                continue
            ev = LinkEvent(mtype, index, flags, change, seq=seq, portid=pid)
            a = p + IFINFOMSG.size
            end = off + length
            while a + RTATTR.size <= end:
                alen, atype = RTATTR.unpack_from(mv, a)
                if alen < RTATTR.size or a + alen > end:
                    break
                payload = mv[a + RTATTR.size : a + alen]
                atype &= 0x3FFF
                if atype == IFLA_IFNAME:
                    ev.name = bytes(payload).split(b"\0", 1)[0].decode(errors="replace")
                elif atype == IFLA_MTU and len(payload) >= 4:
                    ev.mtu = int.from_bytes(payload[:4], "little")
                elif atype == IFLA_ADDRESS:
                    ev.address = bytes(payload)
                elif atype == IFLA_TXQLEN and len(payload) >= 4:
                    ev.txqlen = int.from_bytes(payload[:4], "little")
                elif atype == IFLA_PROMISCUITY and len(payload) >= 4:
                    ev.promiscuity = int.from_bytes(payload[:4], "little")
                elif atype == IFLA_ALLMULTI and len(payload) >= 4:
                    ev.allmulti = int.from_bytes(payload[:4], "little")
                elif atype == IFLA_EVENT and len(payload) >= 4:
                    ev.event = int.from_bytes(payload[:4], "little")
                a += (alen + 3) & ~3
            out.append(ev)
    return out


def dump_interrupted(data: bytes | memoryview, seq: int, portid: int) -> bool:
    """Whether a message of the dump ``seq`` to ``portid`` in this datagram carries
    NLM_F_DUMP_INTR: the links changed while it ran, and it may have missed one."""
    return any(
        mseq == seq and pid == portid and flags & NLM_F_DUMP_INTR
        for _off, _len, _type, mseq, pid, flags in _messages(memoryview(data))
    )


def dump_status(data: bytes | memoryview, seq: int, portid: int) -> int | None:
    """How the dump ``seq`` to ``portid`` ended in this datagram: 0 done, a negative errno, or
    None while it goes on."""
    mv = memoryview(data)
    for off, length, mtype, mseq, pid, _flags in _messages(mv):
        if mseq == seq and pid == portid:
            if mtype == NLMSG_DONE:
                return 0
            if mtype == NLMSG_ERROR:
                if length < NLMSG_HDR.size + 4:
                    return -errno.EPROTO
                return struct.unpack_from("=i", mv, off + NLMSG_HDR.size)[0]
    return None


def _rta(kind: int, payload: bytes) -> bytes:
    a = RTATTR.pack(RTATTR.size + len(payload), kind) + payload
    return a + b"\0" * (-len(a) % 4)


# RTM_GETLINK dump of the TUN/TAP links only (the kernel filters by kind; an old kernel that
# does not, dumps every link: the attachment skips the ones it does not own).
_DUMP_BODY = IFINFOMSG.pack(0, 0, 0, 0, 0) + _rta(IFLA_LINKINFO, _rta(IFLA_INFO_KIND, b"tun\0"))


class LinkMonitor:
    """A non-blocking socket receiving the kernel's link events.

    Events lost to a full receive buffer are made up for by a dump of the links on this
    socket (:meth:`request_dump`, once :meth:`read` has read it to the end): its
    RTM_NEWLINKs (``resync``) queue behind the events read before and ahead of the events
    of later changes.
    """

    def __init__(self, rcvbuf: int = RCVBUF) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                                  NETLINK_ROUTE)  # fmt: skip
        self.set_rcvbuf(rcvbuf)
        self.sock.bind((0, RTMGRP_LINK))
        self.portid: int = self.sock.getsockname()[0]
        self.overflows = 0  # ENOBUFS: times the kernel dropped events
        self.dump_wanted = False  # events were lost since the last dump was requested
        self._dump_seq = 0  # the dump in progress (0: none)
        self._dump_seen: set[int] = set()  # links the dump in progress has shown so far
        self._dump_intr = False  # the dump in progress was interrupted (NLM_F_DUMP_INTR)
        # The links a dump showed, once it ended; taken by :meth:`take_dump`.
        self._dump_done: set[int] | None = None
        self._seq = 0

    def set_rcvbuf(self, size: int) -> None:
        """Size the receive buffer: past ``net.core.rmem_max`` with CAP_NET_ADMIN."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except PermissionError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def fileno(self) -> int:
        """For the event loop."""
        return self.sock.fileno()

    def read(self) -> list[LinkEvent]:
        """Every event waiting on the socket; after an overflow ``dump_wanted`` is set.

        The queue is read to the end (an ENOBUFS is reported once, ahead of what is still
        queued), so a dump requested next shows the links as they are after every event read.
        """
        events: list[LinkEvent] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    log.warning("reading link events failed: %s", exc)
                    break
                self.overflows += 1
                self.dump_wanted = True
                continue
            batch = parse_link_messages(data)
            if self._dump_seq:
                seq, pid = self._dump_seq, self.portid
                for ev in batch:
                    if ev.seq == seq and ev.portid == pid:
                        ev.resync = True
                        self._dump_seen.add(ev.index)
                if dump_interrupted(data, seq, pid):
                    self._dump_intr = True
                status = dump_status(data, seq, pid)
                if status is not None:
                    self._dump_seq = 0
                    if status:
                        # Still wanted: the attachment asks again later (not at once: a
                        # refusal would come back at once, forever).
                        self.dump_wanted = True
                        log.warning("dumping the links after lost events failed (%s)",
                                    errno.errorcode.get(-status, status))  # fmt: skip
                    elif self._dump_intr:
                        # Its state events still count; which links are gone it cannot say.
                        self.dump_wanted = True
                    else:
                        self._dump_done = self._dump_seen
                    self._dump_seen = set()
                    self._dump_intr = False
            events.extend(batch)
        return events

    def request_dump(self) -> bool:
        """Ask for the TUN/TAP links' state (``resync`` events); False if one cannot be asked
        for now: one dump at a time per socket, an overflow during it wants another."""
        if not self.dump_wanted or self._dump_seq:
            return False
        self._seq = self._seq % 0x7FFFFFFF + 1
        msg = NLMSG_HDR.pack(NLMSG_HDR.size + len(_DUMP_BODY), RTM_GETLINK,
                             NLM_F_REQUEST | NLM_F_DUMP, self._seq, 0) + _DUMP_BODY  # fmt: skip
        try:
            self.sock.sendto(msg, (0, 0))
        except OSError as exc:  # still wanted: asked again after the next read
            log.warning("could not ask the kernel for its links: %s", exc)
            return False
        self.dump_wanted = False
        self._dump_seq = self._seq
        self._dump_seen = set()
        self._dump_intr = False
        return True

    def take_dump(self) -> set[int] | None:
        """The indexes of the links the last dump showed, once it has ended (then None
        until the next one ends): a link missing from it was deleted or moved away while
        its events were lost."""
        done, self._dump_done = self._dump_done, None
        return done

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


class LinkConfig:
    """Configure links through pyroute2 (synchronous; used at load time and on changes)."""

    def __init__(self) -> None:
        from pyroute2 import IPRoute

        self.ipr: Any = IPRoute()

    # index() and flags() ask the kernel directly, not through pyroute2: its link "get"
    # (NLM_F_ACK) returns with the reply, and the ACK that follows lands in a queue nobody
    # reads (pyroute2 0.9), one small buffer per call for the daemon's lifetime, each
    # pinning malloc'd heap: about 10 KB of RSS per load/unload of snull.
    def index(self, name: str) -> int | None:
        """ifindex of ``name`` or None."""
        try:
            return socket.if_nametoindex(name)
        except (OSError, ValueError):
            return None

    def set(self, index: int, **kw: Any) -> None:
        """``ip link set``: mtu=, address=, txqlen=, state="up"/"down", flags=/change=."""
        self.ipr.link("set", index=index, **kw)

    def flags(self, index: int) -> int:
        """Current kernel flags of a link (``SIOCGIFFLAGS``: IFF_UP and the other low 16).

        A link that is gone raises OSError(ENODEV).
        """
        try:
            name = socket.if_indextoname(index)
        except OSError:
            raise OSError(errno.ENODEV, f"no link with ifindex {index}") from None
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            ifr = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", name.encode(), 0))
        return int(struct.unpack_from("H", ifr, 16)[0])

    def add_address(
        self, index: int, address: str, prefixlen: int, peer: str | None = None
    ) -> None:
        """``ip addr add``."""
        kw: dict[str, Any] = {"index": index, "address": address, "prefixlen": prefixlen}
        if peer:
            kw = {"index": index, "local": address, "address": peer, "prefixlen": prefixlen}
        self.ipr.addr("add", **kw)

    def add_route(self, dst: str, index: int, gateway: str | None = None) -> None:
        """``ip route add``."""
        kw: dict[str, Any] = {"dst": dst, "oif": index}
        if gateway:
            kw["gateway"] = gateway
        self.ipr.route("add", **kw)

    def close(self) -> None:
        """Close the netlink socket."""
        self.ipr.close()
