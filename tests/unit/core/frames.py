"""Frame construction and checking helpers for tests (IPv4/TCP/UDP/ICMP/ARP over Ethernet).

Everything here is independent of :mod:`netdrv_core`: checksums use the
straightforward RFC 1071 loop in :func:`ref_checksum`, so tests that build
frames with these helpers check the core against a reference, not against
itself.  Addresses are given as text (``"198.18.0.1"``, ``"02:00:00:00:00:01"``)
or bytes.

Typical use::

    frame = eth_frame(SN0_MAC, HOST_MAC, ETH_P_IP,
                      udp_packet("198.18.0.1", "198.18.0.2", 1234, 53, b"hi"))
    assert ipv4_checksum_ok(frame[14:]) and l4_checksum_ok(frame[14:])
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

__all__ = [
    "ETH_P_ARP",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "IPPROTO_ICMP",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "Ipv4",
    "arp_request",
    "eth_frame",
    "flip_third_octet",
    "icmp_echo_packet",
    "ip4",
    "ipv4_checksum_ok",
    "ipv4_packet",
    "l4_checksum_ok",
    "mac",
    "parse_eth",
    "parse_ipv4",
    "pseudo_header_sum",
    "ref_checksum",
    "ref_sum",
    "tcp_packet",
    "udp_packet",
]

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# -- addresses ---------------------------------------------------------------------------
def mac(text: str | bytes) -> bytes:
    """``"02:00:00:00:00:01"`` -> 6 bytes (bytes pass through)."""
    if isinstance(text, bytes | bytearray):
        assert len(text) == 6
        return bytes(text)
    out = bytes(int(p, 16) for p in text.split(":"))
    assert len(out) == 6, text
    return out


def ip4(addr: str | bytes) -> bytes:
    """``"198.18.0.1"`` -> 4 bytes (bytes pass through)."""
    if isinstance(addr, bytes | bytearray):
        assert len(addr) == 4
        return bytes(addr)
    return ipaddress.IPv4Address(addr).packed


def flip_third_octet(addr: str | bytes) -> bytes:
    """What snull does to an address: the low bit of the third octet flipped."""
    b = bytearray(ip4(addr))
    b[2] ^= 1
    return bytes(b)


# -- checksums (reference implementation, RFC 1071 section 4.1) ---------------------------
def ref_sum(data: bytes | bytearray | memoryview) -> int:
    """One's-complement sum of 16-bit big-endian words, folded to 16 bits (not inverted)."""
    data = bytes(data)
    if len(data) % 2:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ref_checksum(data: bytes | bytearray | memoryview) -> int:
    """The Internet checksum of ``data``."""
    return ~ref_sum(data) & 0xFFFF


def pseudo_header_sum(src: str | bytes, dst: str | bytes, proto: int, length: int) -> int:
    """Folded, non-inverted sum of the IPv4 pseudo-header (what CHECKSUM_PARTIAL stores)."""
    return ref_sum(ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, length))


# -- building ------------------------------------------------------------------------------
def eth_frame(dst: str | bytes, src: str | bytes, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet II frame (no FCS, no padding)."""
    return mac(dst) + mac(src) + struct.pack("!H", ethertype) + payload


def ipv4_packet(
    src: str | bytes,
    dst: str | bytes,
    proto: int,
    payload: bytes,
    *,
    ttl: int = 64,
    ident: int = 0x1234,
    df: bool = True,
    frag_offset: int = 0,
    more_fragments: bool = False,
    tos: int = 0,
    options: bytes = b"",
) -> bytes:
    """An IPv4 packet with a correct header checksum."""
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    flags = (0x4000 if df else 0) | (0x2000 if more_fragments else 0) | (frag_offset // 8)
    fields = ((4 << 4) | ihl, tos, ihl * 4 + len(payload), ident, flags, ttl, proto, 0)
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", *fields, ip4(src), ip4(dst)) + options)
    struct.pack_into("!H", hdr, 10, ref_checksum(hdr))
    return bytes(hdr) + payload


def _l4_checksum(src: str | bytes, dst: str | bytes, proto: int, segment: bytes) -> int:
    return ref_checksum(ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, len(segment)) + segment)


def tcp_packet(
    src: str | bytes,
    dst: str | bytes,
    sport: int,
    dport: int,
    payload: bytes = b"",
    *,
    seq: int = 1000,
    ack: int = 0,
    flags: int = TCP_ACK | TCP_PSH,
    window: int = 65535,
    partial: bool = False,
    **ip_kw: object,
) -> bytes:
    """IPv4 + TCP with valid checksums.

    ``partial=True`` builds what a stack hands a device with checksum offload
    (CHECKSUM_PARTIAL): the TCP checksum field holds the folded, non-inverted
    pseudo-header sum instead of the finished checksum.
    """
    seg = bytearray(struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0))
    seg += payload
    if partial:
        struct.pack_into("!H", seg, 16, pseudo_header_sum(src, dst, IPPROTO_TCP, len(seg)))
    else:
        struct.pack_into("!H", seg, 16, _l4_checksum(src, dst, IPPROTO_TCP, bytes(seg)))
    return ipv4_packet(src, dst, IPPROTO_TCP, bytes(seg), **ip_kw)  # type: ignore[arg-type]


def udp_packet(
    src: str | bytes,
    dst: str | bytes,
    sport: int,
    dport: int,
    payload: bytes = b"",
    *,
    checksum: bool = True,
    partial: bool = False,
    **ip_kw: object,
) -> bytes:
    """IPv4 + UDP; ``checksum=False`` sends 0 (no checksum); see :func:`tcp_packet` for partial."""
    seg = bytearray(struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)) + payload
    if partial:
        struct.pack_into("!H", seg, 6, pseudo_header_sum(src, dst, IPPROTO_UDP, len(seg)))
    elif checksum:
        c = _l4_checksum(src, dst, IPPROTO_UDP, bytes(seg))
        struct.pack_into("!H", seg, 6, c or 0xFFFF)
    return ipv4_packet(src, dst, IPPROTO_UDP, bytes(seg), **ip_kw)  # type: ignore[arg-type]


def icmp_echo_packet(
    src: str | bytes, dst: str | bytes, ident: int = 1, seq: int = 1, payload: bytes = b"ping",
    *, reply: bool = False, **ip_kw: object,
) -> bytes:  # fmt: skip
    """IPv4 + ICMP echo request (or reply) with valid checksums."""
    msg = bytearray(struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq)) + payload
    struct.pack_into("!H", msg, 2, ref_checksum(msg))
    return ipv4_packet(src, dst, IPPROTO_ICMP, bytes(msg), **ip_kw)  # type: ignore[arg-type]


def arp_request(sha: str | bytes, spa: str | bytes, tpa: str | bytes) -> bytes:
    """An Ethernet/IPv4 ARP who-has (the ARP payload, without the Ethernet header)."""
    return struct.pack(
        "!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, mac(sha), ip4(spa), b"\0" * 6, ip4(tpa)
    )


# -- parsing and checking ---------------------------------------------------------------------
def parse_eth(frame: bytes) -> tuple[bytes, bytes, int, bytes]:
    """``(dst, src, ethertype, payload)``."""
    assert len(frame) >= 14, f"frame of {len(frame)} bytes has no Ethernet header"
    return frame[0:6], frame[6:12], struct.unpack("!H", frame[12:14])[0], frame[14:]


@dataclass
class Ipv4:
    """The fields of an IPv4 packet tests look at."""

    ihl: int
    total_length: int
    ident: int
    flags_frag: int
    ttl: int
    proto: int
    checksum: int
    src: bytes
    dst: bytes
    header: bytes
    payload: bytes  # exactly total_length - ihl bytes (padding stripped)


def parse_ipv4(packet: bytes) -> Ipv4:
    """Parse an IPv4 packet (padding after ``total_length`` is ignored)."""
    assert len(packet) >= 20 and packet[0] >> 4 == 4, "not an IPv4 packet"
    ihl = (packet[0] & 0x0F) * 4
    (tl, ident, ff, ttl, proto, csum, src, dst) = struct.unpack("!2xHHHBBH4s4s", packet[:20])
    return Ipv4(ihl, tl, ident, ff, ttl, proto, csum, src, dst, packet[:ihl], packet[ihl:tl])


def ipv4_checksum_ok(packet: bytes) -> bool:
    """The IPv4 header checksum verifies."""
    ihl = (packet[0] & 0x0F) * 4
    return ref_sum(packet[:ihl]) == 0xFFFF


def l4_checksum_ok(packet: bytes) -> bool:
    """The TCP/UDP/ICMP checksum of an unfragmented IPv4 packet verifies (UDP 0 = none)."""
    ip = parse_ipv4(packet)
    seg = ip.payload
    if ip.proto == IPPROTO_ICMP:
        return ref_sum(seg) == 0xFFFF
    if ip.proto == IPPROTO_UDP and seg[6:8] == b"\0\0":
        return True
    if ip.proto not in (IPPROTO_TCP, IPPROTO_UDP):
        raise ValueError(f"no transport checksum for protocol {ip.proto}")
    pseudo = ip.src + ip.dst + struct.pack("!BBH", 0, ip.proto, len(seg))
    return ref_sum(pseudo + seg) == 0xFFFF
