"""Property tests of the simulated AX88179's transmit offload engine (its checksum offload and
TSO): arbitrary records never crash it, and for any TCP super-frame its segments are byte for
byte what netdrv_core's software GSO makes of the same super-frame (finished checksums)."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.core import TxFrame
from netdrv_usbnet.sim.ax88179_tx import TxOffloadEngine

from netdrv_core import SKB_GSO_TCPV4, SKB_GSO_TCPV6
from netdrv_core.checksum import csum_fold, csum_partial

FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
MAC = b"\x02\x11\x22\x33\x44\x55\x02\x00\x00\x00\x00\x01"


@FAST
@given(st.binary(max_size=3000), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFF),
       st.sampled_from([1518, 8189]))  # fmt: skip
def test_engine_never_raises(frame, hdr2, coe, max_frame):
    e = TxOffloadEngine()
    out = e.process(frame, hdr2, coe, max_frame)
    assert all(isinstance(f, bytes) for f in out)
    if hdr2 & ax.AX_TX_HDR2_MSS_MASK:
        assert all(len(f) <= max_frame for f in out)
        assert (e.stats.tso_errors == 1) == (out == [])
    else:
        assert len(out) == 1 and len(out[0]) == len(frame)


@st.composite
def tcp_superframe(draw):
    ipv6 = draw(st.booleans())
    payload = draw(st.binary(min_size=1, max_size=9000))
    opts = draw(st.sampled_from([b"", b"\x01\x01\x01\x00", bytes(12)]))  # TCP options
    flags = draw(st.integers(0, 0xFF))
    seq = draw(st.integers(0, 0xFFFFFFFF))
    tcp = struct.pack("!HHIIBBHHH", 1, 2, seq, 3, (5 + len(opts) // 4) << 4, flags, 4, 0, 0)
    l4 = bytearray(tcp + opts + payload)
    if ipv6:
        src, dst = bytes(range(16)), bytes(range(16, 32))
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(l4), 6, 64, src, dst)
        pseudo = csum_partial(src + dst) + len(l4) + 6
        eth = MAC + b"\x86\xdd"
    else:
        src, dst = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
        ip_id = draw(st.integers(0, 0xFFFF))
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ip_id, 0x4000, 64, 6, 0, src,
                         dst)  # fmt: skip
        pseudo = csum_partial(src + dst) + len(l4) + 6
        eth = MAC + b"\x08\x00"
    l4[16:18] = (~csum_fold(pseudo) & 0xFFFF).to_bytes(2, "big")  # CHECKSUM_PARTIAL's field
    mss = draw(st.integers(1, 1400))
    return eth + ip + bytes(l4), len(eth) + len(ip), mss, ipv6


@FAST
@given(tcp_superframe())
def test_chip_tso_equals_core_software_gso(sf):
    frame, l4, mss, ipv6 = sf
    e = TxOffloadEngine()
    by_chip = e.process(frame, mss, 0, 8189)
    t = TxFrame(frame)
    t.gso_size, t.gso_type = mss, SKB_GSO_TCPV6 if ipv6 else SKB_GSO_TCPV4
    t.csum_start, t.csum_offset = l4, 16
    assert by_chip == t.segment(0)  # features 0: the core finishes every checksum
    hlen = l4 + (frame[l4 + 12] >> 4) * 4
    assert e.stats.tso_segments == len(by_chip) == max(1, -(-(len(frame) - hlen) // mss))
