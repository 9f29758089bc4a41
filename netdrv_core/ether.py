"""Ethernet support routines (seed 002): header build/parse, ``eth_type_trans``, MACs."""

from __future__ import annotations

import errno
import os
import re
import struct
from typing import TYPE_CHECKING

from .netdevice import (
    IFF_LIVE_ADDR_CHANGE,
    IFF_LOOPBACK,
    IFF_NOARP,
    IFF_UP,
    NET_ADDR_RANDOM,
    HeaderOps,
    _dev_addr_changed,
    dev_addr_mod,
)
from .skbuff import (
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    SkBuff,
    _use_after_free,
    skb_put_padto,
)

if TYPE_CHECKING:
    from .netdevice import NetDevice

__all__ = [
    "ETH_ALEN",
    "ETH_FRAME_LEN",
    "ETH_HLEN",
    "ETH_P_802_2",
    "ETH_P_802_3",
    "ETH_P_802_3_MIN",
    "ETH_P_ARP",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "ETH_ZLEN",
    "EthHeaderOps",
    "eth_broadcast_addr",
    "eth_change_mtu",
    "eth_header",
    "eth_header_parse",
    "eth_hw_addr_random",
    "eth_hw_addr_set",
    "eth_mac_addr",
    "eth_random_addr",
    "eth_rebuild_header",
    "eth_skb_pad",
    "eth_type_trans",
    "eth_validate_addr",
    "eth_zero_addr",
    "ether_addr_copy",
    "ether_addr_equal",
    "format_mac",
    "is_broadcast_ether_addr",
    "is_local_ether_addr",
    "is_multicast_ether_addr",
    "is_unicast_ether_addr",
    "is_valid_ether_addr",
    "is_zero_ether_addr",
    "parse_mac",
]

ETH_ALEN = 6
ETH_HLEN = 14
ETH_ZLEN = 60
ETH_DATA_LEN = 1500
ETH_FRAME_LEN = 1514
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_802_3 = 0x0001
ETH_P_802_2 = 0x0004
ETH_P_802_3_MIN = 0x0600

_BCAST = b"\xff" * 6
_HEX_OCTET = re.compile(r"[0-9A-Fa-f]{1,2}")
_HDR = struct.Struct("!6s6sH")


def is_zero_ether_addr(addr: bytes) -> bool:
    """00:00:00:00:00:00."""
    return addr == b"\0" * 6


def is_multicast_ether_addr(addr: bytes | memoryview) -> bool:
    """The group bit (first octet bit 0) is set; broadcast is multicast too."""
    return bool(addr[0] & 1)


def is_broadcast_ether_addr(addr: bytes | memoryview) -> bool:
    """ff:ff:ff:ff:ff:ff."""
    return bytes(addr) == _BCAST


def is_valid_ether_addr(addr: bytes) -> bool:
    """Unicast and not all zeros (what ``eth_validate_addr`` accepts)."""
    return len(addr) == 6 and not is_multicast_ether_addr(addr) and not is_zero_ether_addr(addr)


def is_unicast_ether_addr(addr: bytes | memoryview) -> bool:
    """The group bit is clear (``is_unicast_ether_addr``)."""
    return not addr[0] & 1


def is_local_ether_addr(addr: bytes | memoryview) -> bool:
    """The locally administered bit (first octet bit 1) is set (``is_local_ether_addr``):
    an address made up, not the one the manufacturer assigned."""
    return bool(addr[0] & 2)


def _mac(addr: bytes | bytearray | memoryview, how: str) -> bytes:
    """The first ETH_ALEN bytes of ``addr``; ValueError when it is shorter (C would read on)."""
    if len(addr) < ETH_ALEN:
        raise ValueError(f"{how}: {bytes(addr)!r} is shorter than an Ethernet address "
                         f"(ETH_ALEN, {ETH_ALEN} bytes)")  # fmt: skip
    return bytes(addr[:ETH_ALEN])


def ether_addr_equal(addr1: bytes | memoryview, addr2: bytes | memoryview) -> bool:
    """True when the two addresses (their first ETH_ALEN bytes) are the same
    (``ether_addr_equal``)."""
    return _mac(addr1, "ether_addr_equal") == _mac(addr2, "ether_addr_equal")


def _fill(dst: bytearray | memoryview, value: bytes, how: str) -> None:
    try:
        dst[:ETH_ALEN] = value
    except TypeError:  # bytes, or a read-only view: C's const
        raise TypeError(
            f"{how}: {type(dst).__name__} is not writable; pass a bytearray or a "
            f"view of an skb (a device's address: eth_hw_addr_set)"
        ) from None


def ether_addr_copy(dst: bytearray | memoryview, src: bytes | memoryview) -> None:
    """Copy the address ``src`` into the first ETH_ALEN bytes of ``dst`` (``ether_addr_copy``).

    As in C, ``dst`` is written in place: a ``bytearray`` or a writable view (a
    header in an skb).  ``bytes`` cannot be written: for a device's address use
    :func:`eth_hw_addr_set`, as Linux (5.15+) requires too.
    """
    _fill(dst, _mac(src, "ether_addr_copy"), "ether_addr_copy")


def eth_zero_addr(addr: bytearray | memoryview) -> None:
    """Write 00:00:00:00:00:00 into ``addr`` (``eth_zero_addr``; in place, as
    :func:`ether_addr_copy`)."""
    _fill(addr, bytes(ETH_ALEN), "eth_zero_addr")


def eth_broadcast_addr(addr: bytearray | memoryview) -> None:
    """Write ff:ff:ff:ff:ff:ff into ``addr`` (``eth_broadcast_addr``; in place, as
    :func:`ether_addr_copy`)."""
    _fill(addr, _BCAST, "eth_broadcast_addr")


def eth_hw_addr_set(dev: NetDevice, addr: bytes | bytearray | memoryview) -> None:
    """Set the Ethernet address of ``dev`` (``eth_hw_addr_set``): what a driver calls at
    probe with the address it read from its EEPROM, or from ``set_mac_address``.

    ``addr`` is ETH_ALEN bytes, and ``dev`` an Ethernet-like device (``addr_len`` 6,
    as :func:`~netdrv_core.linktypes.ether_setup` sets); anything else raises
    ``ValueError``.  No notifier is called, as in Linux (``dev_set_mac_address`` and
    ``ip link set DEV address`` call it), but the interface shows the new address at once;
    see :func:`~netdrv_core.netdevice.dev_addr_set`.
    """
    if len(addr) != ETH_ALEN:
        raise ValueError(f"{dev.name}: eth_hw_addr_set of {len(addr)} bytes: an Ethernet "
                         f"address is ETH_ALEN ({ETH_ALEN}) bytes")  # fmt: skip
    if dev.addr_len != ETH_ALEN:
        raise ValueError(f"{dev.name}: eth_hw_addr_set on a device whose addresses are "
                         f"{dev.addr_len} bytes (addr_len); ether_setup makes them "
                         f"{ETH_ALEN}, else use dev_addr_set")  # fmt: skip
    dev_addr_mod(dev, 0, addr)


def eth_random_addr() -> bytes:
    """A random locally administered unicast address."""
    a = bytearray(os.urandom(6))
    a[0] = (a[0] & 0xFE) | 0x02
    return bytes(a)


def eth_hw_addr_random(dev: NetDevice) -> None:
    """A random address for a device that has none of its own (Linux's): ``dev_addr`` from
    :func:`eth_random_addr`, ``addr_assign_type`` NET_ADDR_RANDOM, so ``register_netdev``
    leaves ``perm_addr`` empty (``ethtool -P`` shows zeros).  On a registered device the
    interface shows the new address at once, as after :func:`eth_hw_addr_set`."""
    dev.addr_assign_type = NET_ADDR_RANDOM
    dev.dev_addr = eth_random_addr()
    _dev_addr_changed(dev)  # Linux's goes through __dev_addr_set


def format_mac(addr: bytes | memoryview) -> str:
    """``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in bytes(addr))


def parse_mac(text: str) -> bytes:
    """Parse ``aa:bb:cc:dd:ee:ff`` (or ``-`` separated); ValueError with the reason otherwise."""
    parts = text.replace("-", ":").split(":")
    try:
        if len(parts) != 6 or not all(_HEX_OCTET.fullmatch(p) for p in parts):
            raise ValueError
        out = bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(
            f"invalid MAC address {text!r}: expected six hex octets like 02:00:00:00:00:01"
        ) from None
    return out


def eth_header(
    skb: SkBuff, dev: NetDevice, type_: int, daddr: bytes | None, saddr: bytes | None,
    length: int,
) -> int:  # fmt: skip
    """Push an Ethernet header; return ``ETH_HLEN``, or ``-ETH_HLEN`` if ``daddr`` is unknown.

    Per seed 000/001: with an unknown destination the space is still allocated
    and filled as far as possible; the negative length tells the caller to
    resolve the address and call :func:`eth_rebuild_header`.  A device with
    IFF_LOOPBACK or IFF_NOARP resolves nothing: the destination is zeroed and
    the header is complete (as in the kernel).
    """
    hdr = skb.push(ETH_HLEN)
    proto = type_ if type_ not in (ETH_P_802_3, ETH_P_802_2) else length
    hdr[12:14] = proto.to_bytes(2, "big")
    hdr[6:12] = saddr if saddr is not None else dev.dev_addr
    if daddr is not None:
        hdr[0:6] = daddr
        return ETH_HLEN
    if dev.flags & (IFF_LOOPBACK | IFF_NOARP):  # nothing to resolve (as the kernel)
        hdr[0:6] = b"\0" * 6
        return ETH_HLEN
    hdr[0:6] = b"\0" * 6
    return -ETH_HLEN


def eth_rebuild_header(skb: SkBuff, daddr: bytes | None = None) -> int:
    """Complete a header built with an unknown destination; 0 when done, -1 if still unknown.

    Without ARP in the memory stack, the resolved address is passed in ``daddr``.
    """
    if daddr is None:
        return -1
    skb.buf[skb.data : skb.data + 6] = daddr
    return 0


def eth_type_trans(skb: SkBuff, dev: NetDevice) -> int:
    """Set ``skb.dev``, the mac header, ``pkt_type``; pull the header; return the protocol.

    ``pkt_type`` follows the destination: broadcast, multicast, this host, or
    another host (seen in promiscuous mode).  A type field below 0x0600 is an
    802.3 length: the protocol is ETH_P_802_3 (raw IPX, 0xFFFF) or ETH_P_802_2.
    """
    if skb.freed:
        _use_after_free(skb, "eth_type_trans")
    skb.dev = dev
    skb.mac_header = skb.data
    buf = skb.buf
    d = skb.data
    if skb.tail - d < ETH_HLEN:
        raise ValueError(f"eth_type_trans: frame of {skb.tail - d} bytes is shorter than ETH_HLEN")
    if buf[d] & 1:
        skb.pkt_type = PACKET_BROADCAST if buf[d : d + 6] == _BCAST else PACKET_MULTICAST
    elif buf[d : d + 6] != dev.dev_addr:
        skb.pkt_type = PACKET_OTHERHOST
    else:
        skb.pkt_type = PACKET_HOST
    proto = (buf[d + 12] << 8) | buf[d + 13]
    skb.data = d + ETH_HLEN
    skb.network_header = skb.data
    if proto >= ETH_P_802_3_MIN:
        skb.protocol = proto
    elif skb.tail - skb.data >= 2 and buf[skb.data : skb.data + 2] == b"\xff\xff":
        skb.protocol = ETH_P_802_3
    else:
        skb.protocol = ETH_P_802_2
    return skb.protocol


def eth_header_parse(skb: SkBuff) -> bytes:
    """The source MAC of the frame whose mac header is set."""
    m = skb.mac_header if skb.mac_header >= 0 else skb.data
    return bytes(skb.buf[m + 6 : m + 12])


def eth_mac_addr(dev: NetDevice, addr: bytes) -> int:
    """Default ``set_mac_address``: refuse while up (unless live change), validate, set."""
    if dev.flags & IFF_UP and not dev.priv_flags & IFF_LIVE_ADDR_CHANGE:
        return -errno.EBUSY
    if not is_valid_ether_addr(bytes(addr)):
        return -errno.EADDRNOTAVAIL
    dev.dev_addr = bytes(addr)
    return 0


def eth_validate_addr(dev: NetDevice) -> int:
    """Default ``validate_addr`` for Ethernet: a valid unicast address."""
    return 0 if is_valid_ether_addr(dev.dev_addr) else -errno.EADDRNOTAVAIL


def eth_skb_pad(skb: SkBuff) -> int:
    """Pad a frame shorter than ETH_ZLEN (60) with zeros up to it, counted in ``skb.len``
    (``eth_skb_pad``).  0, or ``-ENOMEM`` with the skb **freed** (see
    :func:`~netdrv_core.skbuff.skb_pad`)."""
    return skb_put_padto(skb, ETH_ZLEN)


def eth_change_mtu(dev: NetDevice, new_mtu: int) -> int:
    """The classic Ethernet rule: 68..1500."""
    if new_mtu < 68 or new_mtu > ETH_DATA_LEN:
        return -errno.EINVAL
    dev.mtu = new_mtu
    return 0


class EthHeaderOps(HeaderOps):
    """``eth_header_ops``."""

    def create(
        self, skb: SkBuff, dev: NetDevice, type_: int, daddr: bytes | None,
        saddr: bytes | None, length: int,
    ) -> int:  # fmt: skip
        """See :func:`eth_header`."""
        return eth_header(skb, dev, type_, daddr, saddr, length)

    def parse(self, skb: SkBuff) -> bytes:
        """See :func:`eth_header_parse`."""
        return eth_header_parse(skb)

    def rebuild(self, skb: SkBuff) -> int:
        """See :func:`eth_rebuild_header`."""
        return eth_rebuild_header(skb)


ETH_HEADER_OPS = EthHeaderOps()
