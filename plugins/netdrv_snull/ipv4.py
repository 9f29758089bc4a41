"""The address flip at the heart of snull, with checksums kept valid (sans-I/O).

LDD's snull flips the least significant bit of the third octet of both the
source and destination IPv4 address, so a packet sent to 198.18.0.2 through
sn0 arrives on sn1 from 198.18.1.1 to 198.18.1.2.  LDD then recomputes the IP
header checksum and marks the skb CHECKSUM_UNNECESSARY; here the IP *and* the
TCP/UDP checksums are updated incrementally (RFC 1624), so the frame stays
valid on any stack and in any capture.
"""

from __future__ import annotations

__all__ = ["FlipError", "flip_ipv4"]

IPPROTO_TCP = 6
IPPROTO_UDP = 17


class FlipError(ValueError):
    """The frame is not an IPv4 packet snull can route."""


def _add16(a: int, b: int) -> int:
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def flip_ipv4(buf: bytearray, ip: int, end: int, partial_csum_at: int = -1) -> None:
    """Flip the third octet's low bit of both addresses of the IPv4 header at ``buf[ip]``.

    ``partial_csum_at`` is the buffer offset of an L4 checksum field holding a
    pseudo-header sum (CHECKSUM_PARTIAL, offloaded): it is adjusted as a
    non-inverted sum.  Otherwise a TCP/UDP checksum of an unfragmented packet is
    updated as a finished checksum.
    """
    if end - ip < 20 or buf[ip] >> 4 != 4:
        raise FlipError("not an IPv4 packet")
    ihl = (buf[ip] & 0x0F) * 4
    if ihl < 20 or ip + ihl > end:
        raise FlipError(f"bad IPv4 header length {ihl}")
    s = ip + 12
    d = ip + 16
    old_s = (buf[s + 2] << 8) | buf[s + 3]
    old_d = (buf[d + 2] << 8) | buf[d + 3]
    buf[s + 2] ^= 1
    buf[d + 2] ^= 1
    new_s = old_s ^ 0x100
    new_d = old_d ^ 0x100
    # One's-complement delta of both address words: ~m + m' for each.
    delta = _add16(_add16(~old_s & 0xFFFF, new_s), _add16(~old_d & 0xFFFF, new_d))
    delta = _add16(delta, 0)
    # IP header checksum (always a finished checksum).
    c = ip + 10
    hc = (buf[c] << 8) | buf[c + 1]
    hc = ~_add16(_add16(~hc & 0xFFFF, delta), 0) & 0xFFFF
    buf[c] = hc >> 8
    buf[c + 1] = hc & 0xFF
    if partial_csum_at >= 0:
        # Pseudo-header sum stored non-inverted: add the delta directly.
        p = partial_csum_at
        if p + 2 <= end:
            v = _add16(_add16((buf[p] << 8) | buf[p + 1], delta), 0)
            buf[p] = v >> 8
            buf[p + 1] = v & 0xFF
        return
    frag = ((buf[ip + 6] & 0x1F) << 8) | buf[ip + 7]
    if frag:
        return  # not the first fragment: no L4 header here
    proto = buf[ip + 9]
    t = ip + ihl
    if proto == IPPROTO_TCP:
        p = t + 16
    elif proto == IPPROTO_UDP:
        p = t + 6
        if p + 2 <= end and buf[p] == 0 and buf[p + 1] == 0:
            return  # UDP without checksum
    else:
        return
    if p + 2 > end:
        return
    lc = (buf[p] << 8) | buf[p + 1]
    lc = ~_add16(_add16(~lc & 0xFFFF, delta), 0) & 0xFFFF
    if proto == IPPROTO_UDP and lc == 0:
        lc = 0xFFFF  # RFC 768: a computed 0 is sent as all ones
    buf[p] = lc >> 8
    buf[p + 1] = lc & 0xFF
