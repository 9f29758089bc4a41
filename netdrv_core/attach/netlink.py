"""rtnetlink: watching and configuring kernel links.

:class:`LinkMonitor` is a raw ``NETLINK_ROUTE`` socket subscribed to link
events; its fd sits in the host's event loop and each ``RTM_NEWLINK`` is
parsed here (sans-I/O parser :func:`parse_link_messages`) — a few struct
unpacks, no threads.  Changes netdrv makes itself go through pyroute2
(:class:`LinkConfig`), imported only when a kernel attachment is used.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any

__all__ = ["LinkConfig", "LinkEvent", "LinkMonitor", "parse_link_messages"]

NETLINK_ROUTE = 0
RTMGRP_LINK = 1
RTM_NEWLINK = 16
RTM_DELLINK = 17
NLMSG_HDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
RTATTR = struct.Struct("=HH")
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_TXQLEN = 13
IFLA_OPERSTATE = 16
IFLA_PROMISCUITY = 30
IFLA_CARRIER = 33


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

    @property
    def deleted(self) -> bool:
        """The link was removed."""
        return self.kind == RTM_DELLINK


def parse_link_messages(data: bytes | memoryview) -> list[LinkEvent]:
    """Parse a netlink datagram into link events (other messages are skipped)."""
    out: list[LinkEvent] = []
    mv = memoryview(data)
    off = 0
    n = len(mv)
    while off + NLMSG_HDR.size <= n:
        length, mtype, _flags, _seq, _pid = NLMSG_HDR.unpack_from(mv, off)
        if length < NLMSG_HDR.size or off + length > n:
            break
        if mtype in (RTM_NEWLINK, RTM_DELLINK) and length >= NLMSG_HDR.size + IFINFOMSG.size:
            p = off + NLMSG_HDR.size
            _fam, _typ, index, flags, change = IFINFOMSG.unpack_from(mv, p)
            ev = LinkEvent(mtype, index, flags, change)
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
                a += (alen + 3) & ~3
            out.append(ev)
        off += (length + 3) & ~3
    return out


class LinkMonitor:
    """A non-blocking socket receiving the kernel's link events."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                                  NETLINK_ROUTE)  # fmt: skip
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, RTMGRP_LINK))

    def fileno(self) -> int:
        """For the event loop."""
        return self.sock.fileno()

    def read(self) -> list[LinkEvent]:
        """Every event waiting on the socket."""
        events: list[LinkEvent] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return events
            except OSError:  # ENOBUFS: events lost; the caller resyncs
                return events
            events.extend(parse_link_messages(data))

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


class LinkConfig:
    """Configure links through pyroute2 (synchronous; used at load time and on changes)."""

    def __init__(self) -> None:
        from pyroute2 import IPRoute

        self.ipr: Any = IPRoute()

    def index(self, name: str) -> int | None:
        """ifindex of ``name`` or None."""
        res = self.ipr.link_lookup(ifname=name)
        return res[0] if res else None

    def set(self, index: int, **kw: Any) -> None:
        """``ip link set``: mtu=, address=, txqlen=, state="up"/"down", flags=/change=."""
        self.ipr.link("set", index=index, **kw)

    def flags(self, index: int) -> int:
        """Current kernel flags of a link."""
        return int(self.ipr.link("get", index=index)[0]["flags"])

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
