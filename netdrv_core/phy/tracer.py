"""A packet tracer: one log line per frame on the ``netdrv.trace`` logger.

::

    sn0 tx 98 bytes: 02:aa:bb:cc:dd:ee > 00:53:4e:55:4c:30, IPv4 198.18.0.1 > 198.18.0.2 ICMP echo-request id 7 seq 1
    sn1 rx 60 bytes: 00:53:4e:55:4c:30 > ff:ff:ff:ff:ff:ff, ARP who-has 198.18.1.2 tell 198.18.1.1

:func:`describe_frame` is the pure decoder (Ethernet, 802.3 length frames,
802.1Q/802.1ad VLAN tags, ARP, IPv4 with TCP/UDP/ICMP, IPv6, and bare IP
packets of links without a link header; a tag the skb holds in its metadata
is shown in the frame, as by the capture); :class:`Tracer` installs it on a device with
:meth:`~netdrv_core.host.Host.add_tap`.  Nothing is decoded while the
logger is not enabled for the tracer's level.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from .pcap import LINKTYPE_ETHERNET, LINKTYPE_RAW, capture_frame, linktype_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..host import Host
    from ..netdevice import NetDevice
    from ..skbuff import SkBuff

__all__ = ["Tracer", "describe_frame"]

_IP_PROTOS = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 58: "ICMPv6",
              132: "SCTP"}  # fmt: skip
_ICMP_TYPES = {0: "echo-reply", 3: "unreachable", 5: "redirect", 8: "echo-request",
               11: "time-exceeded"}  # fmt: skip
_ETHERTYPES = {0x86DD: "IPv6", 0x8100: "802.1Q", 0x88A8: "802.1ad", 0x88CC: "LLDP",
               0x8035: "RARP"}  # fmt: skip
_VLAN_TPIDS = {0x8100: "802.1Q", 0x88A8: "802.1ad"}
_TCP_FLAGS = "FSRPAUEC"


def _mac(b: bytes | memoryview) -> str:
    return ":".join(f"{x:02x}" for x in bytes(b))


def _ipv4_text(p: memoryview) -> str:
    if len(p) < 20:
        return "IPv4 [truncated]"
    ihl = (p[0] & 0x0F) * 4
    total = (p[2] << 8) | p[3]
    src = ipaddress.IPv4Address(bytes(p[12:16]))
    dst = ipaddress.IPv4Address(bytes(p[16:20]))
    proto = p[9]
    name = _IP_PROTOS.get(proto, f"proto {proto}")
    frag = ((p[6] & 0x1F) << 8) | p[7]
    text = f"IPv4 {src} > {dst} {name}"
    l4 = p[ihl:total] if ihl >= 20 else p[0:0]
    if frag:
        return f"{text} fragment offset {frag * 8} len {total}"
    if proto == 6 and len(l4) >= 20:
        flags = "".join(c for i, c in enumerate(_TCP_FLAGS) if l4[13] >> i & 1)
        doff = (l4[12] >> 4) * 4
        return (
            f"{text} {(l4[0] << 8) | l4[1]} > {(l4[2] << 8) | l4[3]} "
            f"[{flags or '.'}] len {max(len(l4) - doff, 0)}"
        )
    if proto == 17 and len(l4) >= 8:
        return f"{text} {(l4[0] << 8) | l4[1]} > {(l4[2] << 8) | l4[3]} len {len(l4) - 8}"
    if proto == 1 and len(l4) >= 8:
        t = _ICMP_TYPES.get(l4[0], f"type {l4[0]}")
        if l4[0] in (0, 8):
            return f"{text} {t} id {(l4[4] << 8) | l4[5]} seq {(l4[6] << 8) | l4[7]}"
        return f"{text} {t}"
    return f"{text} len {total}"


def _ipv6_text(p: memoryview) -> str:
    if len(p) < 40:
        return "IPv6 [truncated]"
    src = ipaddress.IPv6Address(bytes(p[8:24]))
    dst = ipaddress.IPv6Address(bytes(p[24:40]))
    nh = p[6]
    return f"IPv6 {src} > {dst} {_IP_PROTOS.get(nh, f'next-header {nh}')} len {(p[4] << 8) | p[5]}"


def _arp_text(p: memoryview) -> str:
    if len(p) < 28 or p[4] != 6 or p[5] != 4:
        return "ARP [not Ethernet/IPv4 or truncated]"
    op = (p[6] << 8) | p[7]
    spa = ipaddress.IPv4Address(bytes(p[14:18]))
    tpa = ipaddress.IPv4Address(bytes(p[24:28]))
    if op == 1:
        return f"ARP who-has {tpa} tell {spa}"
    if op == 2:
        return f"ARP {spa} is-at {_mac(p[8:14])}"
    return f"ARP op {op} {spa} > {tpa}"


def _l3_text(ethertype: int, p: memoryview) -> str:
    if ethertype == 0x0800:
        return _ipv4_text(p)
    if ethertype == 0x0806:
        return _arp_text(p)
    if ethertype == 0x86DD:
        return _ipv6_text(p)
    return f"ethertype 0x{ethertype:04x} ({_ETHERTYPES.get(ethertype, 'unknown')}) len {len(p)}"


def describe_frame(frame: bytes | bytearray | memoryview, linktype: int = LINKTYPE_ETHERNET) -> str:
    """A one-line description of ``frame`` (pcap link type: Ethernet or raw IP)."""
    p = memoryview(frame)
    if linktype == LINKTYPE_RAW:
        if not len(p):
            return "empty"
        v = p[0] >> 4
        if v == 4:
            return _ipv4_text(p)
        if v == 6:
            return _ipv6_text(p)
        return f"IP version {v}? len {len(p)}"
    if linktype != LINKTYPE_ETHERNET:
        return f"link type {linktype} len {len(p)}"
    if len(p) < 14:
        return f"[truncated Ethernet frame, {len(p)} bytes]"
    head = f"{_mac(p[6:12])} > {_mac(p[0:6])}"
    et = (p[12] << 8) | p[13]
    if et < 0x0600:
        return f"{head}, 802.3 length {et}"
    at = 14
    while et in _VLAN_TPIDS and len(p) >= at + 4:  # 802.1Q / 802.1ad tags, as tcpdump shows them
        tci = (p[at] << 8) | p[at + 1]
        head += f", {_VLAN_TPIDS[et]} vlan {tci & 0x0FFF} p {tci >> 13}"
        et = (p[at + 2] << 8) | p[at + 3]
        at += 4
    return f"{head}, {_l3_text(et, p[at:])}"


class Tracer:
    """Log one line per frame of ``dev`` (``"rx"``, ``"tx"`` or ``"both"`` directions).

    The line is ``"<dev> <rx|tx> <len> bytes: <description>"``, logged at
    ``level`` on ``logger`` (default ``netdrv.trace``).  :meth:`remove` stops it.
    """

    def __init__(
        self, host: Host, dev: NetDevice, *, logger: logging.Logger | None = None,
        level: int = logging.INFO, direction: str = "both",
    ) -> None:  # fmt: skip
        if direction not in ("rx", "tx", "both"):
            raise ValueError(f"tracer direction must be 'rx', 'tx' or 'both', got {direction!r}")
        self.host = host
        self.dev = dev
        self.log = logger or logging.getLogger("netdrv.trace")
        self.level = level
        self.direction = direction
        self.linktype = linktype_for(dev)
        self.lines = 0
        self._remove: Callable[[], None] | None = host.add_tap(dev, self._tap)

    def _tap(self, dev: NetDevice, skb: SkBuff, direction: str) -> None:
        if self.direction != "both" and direction != self.direction:
            return
        if not self.log.isEnabledFor(self.level):
            return
        frame = capture_frame(skb, self.linktype)  # a tag in the metadata shown, as tcpdump does
        self.lines += 1
        self.log.log(
            self.level, "%s %s %d bytes: %s", dev.name, direction, len(frame),
            describe_frame(frame, self.linktype),
        )  # fmt: skip

    def remove(self) -> None:
        """Stop tracing (idempotent)."""
        if self._remove is not None:
            self._remove()
            self._remove = None

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
