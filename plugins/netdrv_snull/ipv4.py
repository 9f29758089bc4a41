"""The address flip at the heart of snull, with checksums kept valid (sans-I/O).

LDD's snull flips the least significant bit of the third octet of both the
source and destination IPv4 address, so a packet sent to 198.18.0.2 through
sn0 arrives on sn1 from 198.18.1.1 to 198.18.1.2.  LDD then recomputes the IP
header checksum and marks the skb CHECKSUM_UNNECESSARY; here the IP *and* the
TCP/UDP checksums are updated incrementally (RFC 1624), so the frame stays
valid on any stack and in any capture.
"""

from __future__ import annotations

import struct

__all__ = ["FlipError", "flip_ipv4"]

IPPROTO_TCP = 6
IPPROTO_UDP = 17

# Every field the fast path reads, in one unpack from the IP header: version and
# IHL, flags and fragment offset, protocol, the header checksum's high byte, the
# third octet of each address, and the high byte of where a UDP (ip + 26) and a
# TCP (ip + 36) checksum sits when the header is 20 bytes long.  Why one unpack:
# CPython 3.11 does not specialise indexing a bytearray, so each ``buf[i]`` is a
# generic subscript, and eight of them cost half as much again as this one call.
_fast_fields = struct.Struct("!B5xHxBB3xB3xB7xB9xB").unpack_from


def _high_bytes(step: int) -> tuple[int, ...]:
    """For each checksum high byte, the high byte after adding ``step`` to it; 0 where
    that would carry or borrow out of the byte, or where the old or the new byte is 0
    or 0xFF — those take the general update (and UDP's "no checksum" 0 is never moved)."""
    return tuple(h + step if h and 0 < h + step < 0xFF else 0 for h in range(256))


_HI_PLUS_2 = _high_bytes(2)  # both third octets odd -> even: finished checksums rise 0x0200
_HI_MINUS_2 = _high_bytes(-2)  # even -> odd: they drop by 0x0200


class FlipError(ValueError):
    """The frame is not an IPv4 packet snull can route."""


def flip_ipv4(buf: bytearray, ip: int, end: int, partial_csum_at: int = -1) -> None:
    """Flip the third octet's low bit of both addresses of the IPv4 header at ``buf[ip]``.

    Same contract and results, bit for bit, as :func:`_flip_ipv4_general`
    (see there); this is the per-packet fast path.  For the usual packet — a
    20-byte header whose two third octets have the same low bit (198.18.0.x
    <-> 198.18.1.x) — both address words change by 0x0100 in the same
    direction, so every finished checksum changes by exactly 0x0200 in the
    other direction: unless that borrows or carries out of the high byte (or
    would make a UDP checksum 0), only the checksum's high byte changes, and
    its new value is looked up (:data:`_HI_PLUS_2`, :data:`_HI_MINUS_2`).  One
    read of the header (:data:`_fast_fields`) and one write per changed byte;
    anything else takes the general path.
    """
    # 38 bytes: room for a TCP checksum (the deepest field read here), so the
    # per-protocol bounds checks below are not needed; shorter packets (never
    # from start_xmit, which pads to ETH_ZLEN) take the general path.
    if end - ip < 38:
        return _flip_ipv4_general(buf, ip, end, partial_csum_at)
    vihl, frag, proto, ip_hi, a, b, udp_hi, tcp_hi = _fast_fields(buf, ip)
    odd = a & 1
    if vihl != 0x45 or b & 1 != odd:
        return _flip_ipv4_general(buf, ip, end, partial_csum_at)
    buf[ip + 14] = a ^ 1  # the third octet of the source address
    buf[ip + 18] = b ^ 1  # ... and of the destination
    if odd:  # both bits set -> cleared: the sum drops by 0x0200, a finished checksum rises by it
        new_hi, delta = _HI_PLUS_2, 0xFDFF  # delta: ~m + m' of both words, folded (as in general)
    else:
        new_hi, delta = _HI_MINUS_2, 0x0200
    hi = new_hi[ip_hi]
    if hi:
        buf[ip + 10] = hi
    else:
        _update_finished(buf, ip + 10, delta, False)
    if partial_csum_at >= 0:
        p = partial_csum_at
        if p + 2 <= end:
            # A pseudo-header sum, stored non-inverted: it moves the other way.
            hi = (_HI_MINUS_2 if odd else _HI_PLUS_2)[buf[p]]
            if hi:
                buf[p] = hi
            else:
                x = ((buf[p] << 8) | buf[p + 1]) + delta
                x = (x & 0xFFFF) + (x >> 16)
                buf[p] = x >> 8
                buf[p + 1] = x & 0xFF
        return
    # The protocol first: an ICMP packet (a ping) needs no fragment test.
    if proto == IPPROTO_UDP:
        if frag & 0x1FFF:
            return  # not the first fragment: no L4 header here
        hi = new_hi[udp_hi]
        if hi:
            buf[ip + 26] = hi
        elif udp_hi or buf[ip + 27]:  # 0: UDP without checksum
            _update_finished(buf, ip + 26, delta, True)
    elif proto == IPPROTO_TCP:
        if frag & 0x1FFF:
            return  # not the first fragment: no L4 header here
        hi = new_hi[tcp_hi]
        if hi:
            buf[ip + 36] = hi
        else:
            _update_finished(buf, ip + 36, delta, False)


def _update_finished(buf: bytearray, p: int, delta: int, udp: bool) -> None:
    """Add ``delta`` to the finished checksum at ``buf[p]`` (RFC 1624 eqn. 3)."""
    x = (((buf[p] << 8) | buf[p + 1]) ^ 0xFFFF) + delta
    x = ((x & 0xFFFF) + (x >> 16)) ^ 0xFFFF
    if udp and x == 0:
        x = 0xFFFF  # RFC 768: a computed 0 is sent as all ones
    buf[p] = x >> 8
    buf[p + 1] = x & 0xFF


def _flip_ipv4_general(buf: bytearray, ip: int, end: int, partial_csum_at: int = -1) -> None:
    """The flip for any IPv4 header (options, mixed address parities, any checksum).

    ``partial_csum_at`` is the buffer offset of an L4 checksum field holding a
    pseudo-header sum (CHECKSUM_PARTIAL, offloaded): it is adjusted as a
    non-inverted sum.  Otherwise a TCP/UDP checksum of an unfragmented packet is
    updated as a finished checksum.

    The arithmetic is RFC 1624 eqn. 3, ``HC' = ~(~HC + ~m + m')``, with the
    per-word difference ``~m + m'`` known in advance: flipping bit 8 of a
    16-bit word adds 0x0100 when it was clear and subtracts it (adds 0xFEFF in
    one's complement) when it was set.  Everything is inline integer work on
    the buffer — no slices, no calls — because it runs for every packet.
    """
    if end - ip < 20:
        raise FlipError("not an IPv4 packet")
    v = buf[ip]
    if v >> 4 != 4:
        raise FlipError("not an IPv4 packet")
    ihl = (v & 0x0F) * 4
    if ihl < 20 or ip + ihl > end:
        raise FlipError(f"bad IPv4 header length {ihl}")
    s = ip + 14  # third octet of the source address
    d = ip + 18  # ... and of the destination
    a = buf[s]
    b = buf[d]
    buf[s] = a ^ 1
    buf[d] = b ^ 1
    # One's-complement difference of both address words (~m + m' for each).
    delta = (0xFEFF if a & 1 else 0x0100) + (0xFEFF if b & 1 else 0x0100)
    delta = (delta & 0xFFFF) + (delta >> 16)
    # IP header checksum (always a finished checksum).
    c = ip + 10
    x = (((buf[c] << 8) | buf[c + 1]) ^ 0xFFFF) + delta
    x = ((x & 0xFFFF) + (x >> 16)) ^ 0xFFFF
    buf[c] = x >> 8
    buf[c + 1] = x & 0xFF
    if partial_csum_at >= 0:
        # Pseudo-header sum stored non-inverted: add the delta directly.
        p = partial_csum_at
        if p + 2 <= end:
            x = ((buf[p] << 8) | buf[p + 1]) + delta
            x = (x & 0xFFFF) + (x >> 16)
            buf[p] = x >> 8
            buf[p + 1] = x & 0xFF
        return
    if buf[ip + 7] or buf[ip + 6] & 0x1F:
        return  # not the first fragment: no L4 header here
    proto = buf[ip + 9]
    if proto == IPPROTO_TCP:
        p = ip + ihl + 16
    elif proto == IPPROTO_UDP:
        p = ip + ihl + 6
        if p + 2 <= end and not buf[p] and not buf[p + 1]:
            return  # UDP without checksum
    else:
        return
    if p + 2 > end:
        return
    x = (((buf[p] << 8) | buf[p + 1]) ^ 0xFFFF) + delta
    x = ((x & 0xFFFF) + (x >> 16)) ^ 0xFFFF
    if proto == IPPROTO_UDP and x == 0:
        x = 0xFFFF  # RFC 768: a computed 0 is sent as all ones
    buf[p] = x >> 8
    buf[p + 1] = x & 0xFF
