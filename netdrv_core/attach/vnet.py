"""The virtio-net header TAP puts before each frame with IFF_VNET_HDR (sans-I/O).

It carries checksum offload (``NEEDS_CSUM`` = CHECKSUM_PARTIAL with
csum_start/csum_offset, ``DATA_VALID`` = CHECKSUM_UNNECESSARY) and GSO
(a super-frame to be segmented, with its segment size).
"""

from __future__ import annotations

import struct

from ..skbuff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_GSO_UDP_L4,
    SkBuff,
)

__all__ = [
    "VIRTIO_NET_HDR_F_DATA_VALID",
    "VIRTIO_NET_HDR_F_NEEDS_CSUM",
    "VNET_HDR_LEN",
    "VnetHeaderError",
    "apply_vnet_header",
    "build_vnet_header",
]

VNET_HDR = struct.Struct("=BBHHHH")  # native endian: legacy virtio on a little-endian host
VNET_HDR_LEN = VNET_HDR.size  # 10
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_F_DATA_VALID = 2
VIRTIO_NET_HDR_GSO_NONE = 0
VIRTIO_NET_HDR_GSO_TCPV4 = 1
VIRTIO_NET_HDR_GSO_UDP = 3
VIRTIO_NET_HDR_GSO_TCPV6 = 4
VIRTIO_NET_HDR_GSO_UDP_L4 = 5
VIRTIO_NET_HDR_GSO_ECN = 0x80

_GSO_TO_SKB = {
    VIRTIO_NET_HDR_GSO_TCPV4: SKB_GSO_TCPV4,
    VIRTIO_NET_HDR_GSO_TCPV6: SKB_GSO_TCPV6,
    VIRTIO_NET_HDR_GSO_UDP_L4: SKB_GSO_UDP_L4,
}


class VnetHeaderError(ValueError):
    """A virtio-net header that cannot describe the frame it precedes."""


def apply_vnet_header(hdr: bytes | memoryview, skb: SkBuff) -> None:
    """Set ``skb`` checksum/GSO metadata from a header; offsets relative to ``skb.data``.

    Raises :class:`VnetHeaderError` (only) when the header is shorter than
    :data:`VNET_HDR_LEN` or cannot describe the frame.
    """
    try:
        flags, gso_type, _hdr_len, gso_size, csum_start, csum_offset = VNET_HDR.unpack_from(hdr)
    except struct.error:
        raise VnetHeaderError(f"vnet header of {len(hdr)} bytes; expected {VNET_HDR_LEN}") from None
    n = skb.tail - skb.data
    if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM:
        if csum_start + csum_offset + 2 > n:
            raise VnetHeaderError(
                f"vnet header checksum at {csum_start}+{csum_offset} lies outside a {n}-byte frame"
            )
        skb.ip_summed = CHECKSUM_PARTIAL
        skb.csum_start = skb.data + csum_start
        skb.csum_offset = csum_offset
        # skb_partial_csum_set: the checksummed part starts at the transport header.
        skb.transport_header = skb.data + csum_start
    elif flags & VIRTIO_NET_HDR_F_DATA_VALID:
        skb.ip_summed = CHECKSUM_UNNECESSARY
    else:
        skb.ip_summed = CHECKSUM_NONE
    base = gso_type & ~VIRTIO_NET_HDR_GSO_ECN
    if base != VIRTIO_NET_HDR_GSO_NONE:
        if base not in _GSO_TO_SKB:
            raise VnetHeaderError(f"unsupported vnet GSO type {gso_type}")
        if gso_size == 0:
            raise VnetHeaderError("vnet GSO frame with gso_size 0")
        skb.gso_type = _GSO_TO_SKB[base] | (SKB_GSO_TCP_ECN if gso_type & 0x80 else 0)
        skb.gso_size = gso_size
    else:
        skb.gso_type = 0
        skb.gso_size = 0


def build_vnet_header(skb: SkBuff, start: int) -> bytes:
    """The header describing ``skb`` whose frame starts at buffer offset ``start``.

    :raises VnetHeaderError: the skb's offload fields cannot be described (a checksum
        start outside the frame, or a field over 16 bits): a driver bug, not a frame.
    """
    flags = 0
    csum_start = csum_offset = 0
    if skb.ip_summed == CHECKSUM_PARTIAL:
        flags = VIRTIO_NET_HDR_F_NEEDS_CSUM
        csum_start = skb.csum_start - start
        csum_offset = skb.csum_offset
    elif skb.ip_summed == CHECKSUM_UNNECESSARY:
        flags = VIRTIO_NET_HDR_F_DATA_VALID
    gso_type = VIRTIO_NET_HDR_GSO_NONE
    if skb.gso_size:
        # As Linux's virtio_net_hdr_from_skb(): the protocol and the ECN bit, nothing else —
        # SKB_GSO_TCP_FIXEDID (GRO merged segments of one IPv4 ID) has no header bit, and
        # the receiver takes such a super-frame as plain TCPV4.
        t = skb.gso_type
        if t & SKB_GSO_TCPV4:
            gso_type = VIRTIO_NET_HDR_GSO_TCPV4
        elif t & SKB_GSO_TCPV6:
            gso_type = VIRTIO_NET_HDR_GSO_TCPV6
        elif t & SKB_GSO_UDP_L4:
            gso_type = VIRTIO_NET_HDR_GSO_UDP_L4
        if t & SKB_GSO_TCP_ECN:
            gso_type |= VIRTIO_NET_HDR_GSO_ECN
    hdr_len = 0
    if gso_type and skb.transport_header >= 0:
        hdr_len = skb.transport_header - start
    gso_size = skb.gso_size if gso_type else 0
    length = skb.tail - start
    if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM and not (
        csum_start >= 0 and csum_start + csum_offset + 2 <= length
    ):
        raise VnetHeaderError(
            f"CHECKSUM_PARTIAL skb with csum_start {skb.csum_start} / csum_offset {csum_offset} "
            f"outside its {length}-byte frame"
        )
    try:
        return VNET_HDR.pack(flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)
    except struct.error:
        raise VnetHeaderError(
            f"offload fields do not fit a virtio-net header: hdr_len {hdr_len}, gso_size "
            f"{gso_size}, csum_start {csum_start}, csum_offset {csum_offset}"
        ) from None


DATA_VALID_HDR = VNET_HDR.pack(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0)
PLAIN_HDR = VNET_HDR.pack(0, 0, 0, 0, 0, 0)
