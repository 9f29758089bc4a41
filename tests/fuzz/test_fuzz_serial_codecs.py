"""Property tests for the serial codecs: garbage never raises, buffers stay bounded,
decode(encode(x)) == x for every frame up to the MTU.

The same targets run under atheris (coverage-guided) with ``python fuzz/atheris_serial.py``.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netdrv_serial.codecs import (
    MODES,
    TYPE_COMPRESSED_TCP,
    TYPE_ERROR,
    TYPE_IP,
    TYPE_UNCOMPRESSED_TCP,
    CodecError,
    KissDecoder,
    KissEncoder,
    KissFrame,
    PlipDecoder,
    PlipEncoder,
    SlipDecoder,
    SlipEncoder,
    VJCompressor,
    VJDecompressor,
    cslip_decode_packet,
    cslip_encode_packet,
)

MTU = 96
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes biased towards the special values of every framing.
special = st.sampled_from([0xC0, 0xDB, 0xDC, 0xDD, 0x16, 0x00, 0xFF, 0x45, 0x75, 0x80])
line_bytes = st.lists(st.one_of(special, st.integers(0, 255)), max_size=600).map(bytes)
chunked = st.lists(line_bytes, max_size=8)


def _decoders():
    yield "slip", SlipDecoder(MTU), 2 * MTU
    yield "kiss", KissDecoder(MTU), 2 * (MTU + 1)
    yield "plip", PlipDecoder(MTU), MTU + 4
    for name, factory in MODES.items():
        dec = factory(mtu=MTU)[1]
        yield f"mode:{name}", dec, (MTU + 4 if name == "plip" else 2 * (MTU + 1))


@FUZZ
@given(chunks=chunked)
def test_decoders_never_raise_and_stay_bounded(chunks):
    for name, dec, bound in _decoders():
        total = 0
        for c in chunks:
            frames = dec.feed(c)
            total += len(c)
            assert isinstance(frames, list), name
            assert dec.buffered <= bound, name
            if name in ("slip", "plip"):
                assert all(0 < len(f) <= MTU for f in frames), name
            elif name == "kiss":
                assert all(isinstance(f, KissFrame) and len(f.data) <= MTU for f in frames)
        assert dec.stats.wire_bytes == total, name


@FUZZ
@given(chunks=chunked, mv=st.booleans())
def test_feeding_memoryview_and_bytearray_is_the_same(chunks, mv):
    a, b = SlipDecoder(MTU), SlipDecoder(MTU)
    conv = memoryview if mv else bytearray
    assert [f for c in chunks for f in a.feed(c)] == [f for c in chunks for f in b.feed(conv(c))]
    assert a.stats == b.stats


frames_up_to_mtu = st.lists(
    st.lists(st.one_of(special, st.integers(0, 255)), min_size=1, max_size=MTU).map(bytes),
    max_size=10,
)


@FUZZ
@given(frames=frames_up_to_mtu, noise=line_bytes)
def test_slip_round_trip(frames, noise):
    enc, dec = SlipEncoder(MTU), SlipDecoder(MTU)
    dec.feed(noise)  # whatever came before, the leading END resynchronises
    got = dec.feed(b"".join(enc.encode(f) for f in frames))
    assert got[len(got) - len(frames) :] == frames


@FUZZ
@given(
    frames=st.lists(
        st.tuples(st.integers(0, 15), st.integers(0, 14), st.binary(max_size=MTU)), max_size=10
    ),
    noise=line_bytes,
)
def test_kiss_round_trip(frames, noise):
    enc, dec = KissEncoder(MTU), KissDecoder(MTU)
    dec.feed(noise)
    got = dec.feed(b"".join(enc.encode(d, port=p, cmd=c) for p, c, d in frames))
    assert got[len(got) - len(frames) :] == [KissFrame(p, c, d) for p, c, d in frames]


@FUZZ
@given(frames=frames_up_to_mtu)
def test_plip_round_trip(frames):
    enc, dec = PlipEncoder(MTU), PlipDecoder(MTU)
    assert dec.feed(b"".join(enc.encode(f) for f in frames)) == frames


@FUZZ
@given(frames=frames_up_to_mtu, size=st.integers(MTU + 1, 3 * MTU))
def test_encoders_raise_only_codec_error(frames, size):
    for enc in (SlipEncoder(MTU), KissEncoder(MTU), PlipEncoder(MTU)):
        try:
            enc.encode(b"\xc0" * size)
        except CodecError:
            pass
        else:
            raise AssertionError(f"{type(enc).__name__} accepted {size} bytes")


# --- VJ compression -----------------------------------------------------------------------


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _tcp(seq: int, ack: int, flags: int, win: int, ident: int, data: bytes, sport: int) -> bytes:
    src, dst = b"\x0a\0\0\x01", b"\x0a\0\0\x02"
    seg = struct.pack("!HHIIBBHHH", sport, 80, seq, ack, 0x50, flags, win, 0, 0) + data
    seg = (
        seg[:16]
        + struct.pack("!H", _csum(src + dst + struct.pack("!BBH", 0, 6, len(seg)) + seg))
        + seg[18:]
    )
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), ident, 0x4000, 64, 6, 0, src, dst)
    return hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:] + seg


tcp_packets = st.builds(
    _tcp,
    seq=st.integers(0, 0xFFFFFFFF),
    ack=st.integers(0, 0xFFFFFFFF),
    flags=st.sampled_from([0x10, 0x18, 0x30, 0x11, 0x02, 0x10, 0x10]),
    win=st.integers(0, 0xFFFF),
    ident=st.integers(0, 0xFFFF),
    data=st.binary(max_size=40),
    sport=st.integers(1, 3),
)


@st.composite
def mutated_packets(draw):
    pkt = bytearray(draw(tcp_packets))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(pkt) - 1))
        pkt[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del pkt[draw(st.integers(0, len(pkt))) :]
    return bytes(pkt)


@FUZZ
@given(
    pkts=st.lists(st.one_of(tcp_packets, mutated_packets()), max_size=25), slots=st.integers(1, 4)
)
def test_vj_round_trip_of_anything_ip_like(pkts, slots):
    """Valid or mangled, every packet the compressor accepts comes back identical."""
    comp, decomp = VJCompressor(slots), VJDecompressor(slots)
    for pkt in pkts:
        try:
            wire = cslip_encode_packet(comp, pkt)
        except CodecError:
            assert not pkt or pkt[0] >= 0x70
            continue
        assert cslip_decode_packet(decomp, wire) == pkt
    assert decomp.stats.dropped == 0


@FUZZ
@given(
    items=st.lists(
        st.tuples(
            st.sampled_from(
                [TYPE_IP, TYPE_UNCOMPRESSED_TCP, TYPE_COMPRESSED_TCP, TYPE_ERROR, 0x13]
            ),
            st.one_of(line_bytes, mutated_packets()),
        ),
        max_size=30,
    )
)
def test_vj_decompressor_never_raises_on_garbage(items):
    d = VJDecompressor(slots=4, verify_tcp_checksum=True)
    for ptype, data in items:
        out = d.uncompress(ptype, data)
        assert out is None or isinstance(out, bytes)
        out = cslip_decode_packet(d, data)
        assert out is None or isinstance(out, bytes)
    s = d.stats
    assert s.dropped == s.tossed + s.framing_errors
