"""The simulated AX88179's transmit offload engine: what the silicon does to each frame the
host hands it, before the frame goes on the wire.

* **Checksum offload** (``AX_TXCOE_CTL``, which Linux's ``ax88179_reset`` sets to IP, TCP,
  UDP, TCPv6 and UDPv6 and ``ax88179_set_features`` changes with ``ethtool -K DEV tx``).
  The TX header has no per-frame checksum flag: the chip finds the IP and TCP/UDP headers
  itself (:func:`~netdrv_usbnet.codecs.ax88179.parse_tx_headers`) and, for every frame of an
  enabled kind, writes the whole checksum — pseudo-header included — over whatever the
  field held (a ``CHECKSUM_PARTIAL`` frame's pseudo-header sum, or a finished checksum,
  which comes out the same).  A UDP checksum that computes to 0 is sent as 0xFFFF.  With
  ``AX_TXCOE_IP`` the IPv4 header checksum of such a frame is rewritten too.  IPv4
  fragments and frames that are not TCP/UDP over IPv4/IPv6 go out untouched.
* **TSO**: a record whose ``tx_hdr2`` carries an MSS (Linux's ``gso_size``) is a TCP
  super-frame; the chip cuts its payload into MSS-sized segments, each with a copy of the
  headers: the IPv4 total length (IPv6 payload length), an IPv4 ID counting up from the
  super-frame's, the TCP sequence number advanced by the payload before it, FIN and PSH on
  the last segment only and CWR on the first only (as Linux's ``tcp_gso_segment``), and
  the IPv4 header and TCP checksums computed (whatever ``AX_TXCOE_CTL`` says).  A record
  that is not TCP over IPv4/IPv6, or whose MSS would make a segment longer than the chip
  sends (1518 bytes, or the jumbo limit), is dropped and counted (``tso_errors``).

The checksums are :mod:`netdrv_core.checksum`'s.
"""

from __future__ import annotations

import dataclasses

from netdrv_core.checksum import csum_fold, csum_partial, csum_tcpudp_nofold, ip_compute_csum
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.codecs.ax88179 import IPPROTO_TCP, IPPROTO_UDP, TxHeaders, parse_tx_headers

__all__ = ["TxOffloadEngine", "TxOffloadStats"]

_TCP_FIN_PSH = 0x01 | 0x08
_TCP_CWR = 0x80


@dataclasses.dataclass
class TxOffloadStats:
    """What the engine did: ``csum_frames`` (frames whose TCP/UDP checksum it wrote),
    ``tso_frames`` / ``tso_segments`` (super-frames cut up, segments sent), ``tso_errors``
    (super-frames refused: not TCP over IP, or an MSS the chip cannot send)."""

    csum_frames: int = 0
    tso_frames: int = 0
    tso_segments: int = 0
    tso_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        """All counters as a dict (a copy)."""
        return dataclasses.asdict(self)


def _pseudo(b: bytearray | bytes, h: TxHeaders, l4len: int) -> int:
    """The pseudo-header's partial sum (addresses, protocol, TCP/UDP length)."""
    if h.ipv6:
        return csum_partial(b[h.l3 + 8 : h.l3 + 40]) + l4len + h.proto
    return csum_tcpudp_nofold(b[h.l3 + 12 : h.l3 + 16], b[h.l3 + 16 : h.l3 + 20], l4len, h.proto)


def _write_l4_checksum(b: bytearray, h: TxHeaders, l4_end: int) -> None:
    at = h.l4 + (16 if h.proto == IPPROTO_TCP else 6)
    b[at : at + 2] = b"\0\0"
    csum = csum_fold(csum_partial(b[h.l4 : l4_end], _pseudo(b, h, l4_end - h.l4)))
    if not csum and h.proto == IPPROTO_UDP:
        csum = 0xFFFF  # 0 would tell the receiver "no checksum"
    b[at : at + 2] = csum.to_bytes(2, "big")


def _write_ip_checksum(b: bytearray, h: TxHeaders) -> None:
    b[h.l3 + 10 : h.l3 + 12] = b"\0\0"
    b[h.l3 + 10 : h.l3 + 12] = ip_compute_csum(b[h.l3 : h.l4]).to_bytes(2, "big")


class TxOffloadEngine:
    """The chip's transmit engine (see the module doc); :meth:`process` one record."""

    def __init__(self) -> None:
        self.stats = TxOffloadStats()

    def process(self, frame: bytes, hdr2: int, coe: int, max_frame: int) -> list[bytes]:
        """The frames one ``[header][frame]`` record puts on the wire: the frame itself
        (checksums written per *coe*, the AX_TXCOE_CTL register), its TSO segments when
        ``hdr2`` carries an MSS, or none for a super-frame the chip cannot cut up.
        *max_frame* is the longest frame the chip sends (jumbo mode or not)."""
        mss = hdr2 & ax.AX_TX_HDR2_MSS_MASK
        if mss:
            return self._segment(frame, mss, max_frame)
        if not coe & (ax.AX_TXCOE_TCP | ax.AX_TXCOE_UDP | ax.AX_TXCOE_TCPV6 | ax.AX_TXCOE_UDPV6):
            return [frame]
        h = parse_tx_headers(frame)
        if h is None:
            return [frame]
        if h.proto == IPPROTO_TCP:
            on = coe & (ax.AX_TXCOE_TCPV6 if h.ipv6 else ax.AX_TXCOE_TCP)
        else:
            on = coe & (ax.AX_TXCOE_UDPV6 if h.ipv6 else ax.AX_TXCOE_UDP)
        if not on:
            return [frame]
        b = bytearray(frame)
        if not h.ipv6 and coe & ax.AX_TXCOE_IP:
            _write_ip_checksum(b, h)
        _write_l4_checksum(b, h, h.ip_end)
        self.stats.csum_frames += 1
        return [bytes(b)]

    def _segment(self, frame: bytes, mss: int, max_frame: int) -> list[bytes]:
        st = self.stats
        h = parse_tx_headers(frame)
        if h is None or h.proto != IPPROTO_TCP or h.end + mss > max_frame:
            st.tso_errors += 1
            return []
        hdr = frame[: h.end]
        payload = memoryview(frame)[h.end : h.ip_end]
        nsegs = max(1, -(-len(payload) // mss))
        ip_id = int.from_bytes(frame[h.l3 + 4 : h.l3 + 6], "big")
        seq = int.from_bytes(frame[h.l4 + 4 : h.l4 + 8], "big")
        out: list[bytes] = []
        for i in range(nsegs):
            chunk = payload[i * mss : (i + 1) * mss]
            b = bytearray(hdr)
            b += chunk
            if h.ipv6:
                b[h.l3 + 4 : h.l3 + 6] = (len(b) - h.l3 - 40).to_bytes(2, "big")
            else:
                b[h.l3 + 2 : h.l3 + 4] = (len(b) - h.l3).to_bytes(2, "big")
                b[h.l3 + 4 : h.l3 + 6] = ((ip_id + i) & 0xFFFF).to_bytes(2, "big")
                _write_ip_checksum(b, h)
            b[h.l4 + 4 : h.l4 + 8] = ((seq + i * mss) & 0xFFFFFFFF).to_bytes(4, "big")
            if i < nsegs - 1:
                b[h.l4 + 13] &= ~_TCP_FIN_PSH & 0xFF
            if i:
                b[h.l4 + 13] &= ~_TCP_CWR & 0xFF
            _write_l4_checksum(b, h, len(b))
            out.append(bytes(b))
        st.tso_frames += 1
        st.tso_segments += nsegs
        return out
