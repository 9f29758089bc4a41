"""Internet checksum (RFC 1071) and incremental update (RFC 1624).

All functions work on any buffer (``bytes``, ``bytearray``, ``memoryview``)
without copying it into a list; the sum is computed with ``int.from_bytes``,
which runs in C and is the fastest portable way in CPython.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .skbuff import SkBuff

__all__ = [
    "csum_fold",
    "csum_partial",
    "csum_replace2",
    "csum_replace4",
    "csum_tcpudp_magic",
    "csum_tcpudp_nofold",
    "csum_update",
    "ip_compute_csum",
    "ip_fast_csum",
    "skb_checksum_help",
]

Buffer = bytes | bytearray | memoryview


def csum_partial(data: Buffer, initial: int = 0) -> int:
    """One's-complement sum of ``data`` (big-endian 16-bit words), not folded."""
    n = len(data)
    if n & 1:
        data = bytes(data) + b"\0"
        n += 1
    if n == 0:
        return initial
    # Sum of 16-bit words == the big integer folded mod 0xFFFF (one's complement); a
    # multiple of 0xFFFF that is not zero sums to 0xFFFF (the big integer says which).
    value = int.from_bytes(data, "big")
    total = value % 0xFFFF
    if total == 0 and value:
        total = 0xFFFF
    return total + initial


def csum_fold(csum: int) -> int:
    """Fold a 32-bit (or larger) partial sum to 16 bits and complement it."""
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    return ~csum & 0xFFFF


def ip_compute_csum(data: Buffer) -> int:
    """The finished Internet checksum of ``data``."""
    return csum_fold(csum_partial(data))


def ip_fast_csum(iph: Buffer) -> int:
    """Checksum of an IPv4 header (returns 0 when the header's checksum is valid)."""
    ihl = (iph[0] & 0x0F) * 4
    return csum_fold(csum_partial(iph[:ihl]))


def csum_tcpudp_nofold(saddr: Buffer, daddr: Buffer, length: int, proto: int, csum: int = 0) -> int:
    """Add the IPv4 pseudo-header to a partial sum."""
    s = csum + int.from_bytes(saddr[0:2], "big") + int.from_bytes(saddr[2:4], "big")
    s += int.from_bytes(daddr[0:2], "big") + int.from_bytes(daddr[2:4], "big")
    return s + proto + length


def csum_tcpudp_magic(saddr: Buffer, daddr: Buffer, length: int, proto: int, csum: int = 0) -> int:
    """Finished TCP/UDP checksum over the pseudo-header plus ``csum``."""
    return csum_fold(csum_tcpudp_nofold(saddr, daddr, length, proto, csum))


def csum_update(check: int, old: int, new: int) -> int:
    """RFC 1624 eqn. 3: ``HC' = ~(~HC + ~m + m')`` for one 16-bit word ``old`` -> ``new``."""
    s = (~check & 0xFFFF) + (~old & 0xFFFF) + new
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def csum_replace2(check: int, old: int, new: int) -> int:
    """Kernel name for :func:`csum_update` on a 16-bit field."""
    return csum_update(check, old, new)


def csum_replace4(check: int, old: int, new: int) -> int:
    """Update a checksum for a 32-bit field change (e.g. an IPv4 address)."""
    s = (~check & 0xFFFF) + (~(old >> 16) & 0xFFFF) + (~old & 0xFFFF) + (new >> 16) + (new & 0xFFFF)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def skb_checksum_help(skb: SkBuff) -> None:
    """Finish a CHECKSUM_PARTIAL skb's checksum in software (Linux's ``skb_checksum_help``).

    The field at ``csum_start + csum_offset`` holds the pseudo-header sum; the
    checksum over ``csum_start``..``tail`` replaces it (0 is sent as 0xFFFF, as
    Linux's CSUM_MANGLED_0: a UDP receiver reads 0 as "no checksum"), and the skb becomes
    CHECKSUM_NONE.  For a driver whose hardware cannot finish this frame.
    """
    from .skbuff import CHECKSUM_NONE, CHECKSUM_PARTIAL, _use_after_free

    if skb.freed:
        _use_after_free(skb, "skb_checksum_help")
    if skb.ip_summed != CHECKSUM_PARTIAL:
        return
    start = skb.csum_start
    at = start + skb.csum_offset
    if not (skb.data <= start and at + 2 <= skb.tail):
        raise ValueError(f"skb_checksum_help: checksum at {start}+{skb.csum_offset} lies "
                         f"outside the frame {skb.data}..{skb.tail}")  # fmt: skip
    csum = csum_fold(csum_partial(memoryview(skb.buf)[start : skb.tail])) or 0xFFFF
    skb.buf[at : at + 2] = csum.to_bytes(2, "big")
    skb.ip_summed = CHECKSUM_NONE
