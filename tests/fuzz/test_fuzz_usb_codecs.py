"""Property tests of the USB codecs: arbitrary device bytes never crash or hang a decoder,
and encoders round-trip arbitrary frame lists."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from netdrv_usbnet.codecs import (
    Ax88179RxDecoder,
    Ax88179TxDecoder,
    DescriptorError,
    EcmRxDecoder,
    FramingError,
    NotificationParser,
    NtbDecoder,
    NtbEncoder,
    NtbParameters,
    encode_ntb,
    encode_rx_transfer,
    encode_tx,
    parse_functional_descriptors,
    parse_interrupt,
    parse_mac_string,
)

FAST = settings(max_examples=400, deadline=1000, suppress_health_check=[HealthCheck.too_slow])

frames_st = st.lists(st.binary(min_size=14, max_size=1600), min_size=1, max_size=60)


def ntb_like() -> st.SearchStrategy[bytes]:
    """Bytes that pass the first checks often, so the fuzzer reaches the NDP/datagram logic."""

    @st.composite
    def build(draw):
        size = draw(st.integers(28, 600))
        body = bytearray(draw(st.binary(min_size=size, max_size=size)))
        struct.pack_into(
            "<4sHHHH",
            body,
            0,
            b"NCMH",
            12,
            draw(st.integers(0, 0xFFFF)),
            draw(st.sampled_from([0, size, size - 1, size + 1, draw(st.integers(0, 0xFFFF))])),
            draw(st.integers(0, size + 8)),
        )
        for _ in range(draw(st.integers(0, 4))):
            off = draw(st.integers(0, max(0, size - 8)))
            struct.pack_into(
                "<4sHH", body, off, b"NCM0", draw(st.integers(0, 128)), draw(st.integers(0, size))
            )
        return bytes(body)

    return build()


def ntb32_like() -> st.SearchStrategy[bytes]:
    """NTB32 counterpart of :func:`ntb_like`: 32-bit fields, some with their high half set."""

    @st.composite
    def build(draw):
        size = draw(st.integers(48, 600))
        body = bytearray(draw(st.binary(min_size=size, max_size=size)))
        big = st.integers(0, 0xFFFFFFFF)
        struct.pack_into(
            "<4sHHII",
            body,
            0,
            draw(st.sampled_from([b"ncmh", b"ncmh", b"NCMH"])),
            draw(st.sampled_from([16, 16, 12])),
            draw(st.integers(0, 0xFFFF)),
            draw(st.sampled_from([0, size, size - 1, size + 1, 0x10000 + size, draw(big)])),
            draw(st.one_of(st.integers(0, size + 8), big)),
        )
        for _ in range(draw(st.integers(0, 4))):
            off = draw(st.integers(0, max(0, size - 16)))
            nxt = draw(st.one_of(st.integers(0, size), big))
            sig = draw(st.sampled_from([b"ncm0", b"ncm0", b"ncm1", b"NCM0"]))
            struct.pack_into("<4sHHII", body, off, sig, draw(st.integers(0, 160)), 0, nxt, 0)
            for j in range(draw(st.integers(0, 4))):
                if off + 16 + 8 * j + 8 <= size:
                    struct.pack_into(
                        "<II",
                        body,
                        off + 16 + 8 * j,
                        draw(st.one_of(st.integers(0, size), big)),
                        draw(st.one_of(st.integers(0, size), big)),
                    )
        return bytes(body)

    return build()


def ax_like() -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw):
        body = bytearray(draw(st.binary(min_size=0, max_size=600)))
        n = draw(st.integers(0, 40))
        hdr_off = draw(st.integers(0, len(body) + 8))
        for _ in range(n):
            body += struct.pack("<I", draw(st.integers(0, 0xFFFFFFFF)))
        body += struct.pack("<HH", draw(st.sampled_from([n, n + 1, 0, 0xFFFF])), hdr_off)
        return bytes(body)

    return build()


def check_frames(frames, transfer_len: int) -> None:
    total = 0
    for f in frames:
        assert isinstance(f, (bytes, memoryview))
        assert len(f) >= 14
        total += len(f)
    assert total <= transfer_len


@FAST
@given(st.one_of(st.binary(max_size=2048), ntb_like()))
@example(b"NCMH\x0c\x00\x00\x00\x00\x00\x0c\x00NCM0\x10\x00\x0c\x00" + bytes(8))  # self loop
def test_ntb_decoder_never_raises(data):
    dec = NtbDecoder(max_size=4096, max_datagrams=64)
    out = dec.decode(data)
    check_frames(out, len(data))
    assert len(out) <= 64
    assert dec.stats.rx_transfers == 1


@FAST
@given(st.one_of(st.binary(max_size=2048), ntb32_like(), ntb_like()))
@example(b"ncmh\x10\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00ncm0\x20\x00\x00\x00"
         b"\x10\x00\x00\x00" + bytes(24))  # fmt: skip  # self loop
def test_ntb32_decoder_never_raises(data):
    dec = NtbDecoder(max_size=4096, max_datagrams=64, ntb32=True)
    out = dec.decode(data)
    check_frames(out, len(data))
    assert len(out) <= 64
    assert dec.stats.rx_transfers == 1
    assert dec.stats.rx_errors == dec.stats.rx_length_errors + dec.stats.rx_frame_errors


@FAST
@given(st.one_of(st.binary(max_size=2048), ax_like()))
def test_ax88179_rx_decoder_never_raises(data):
    dec = Ax88179RxDecoder()
    out = dec.decode(data)
    check_frames(out, len(data))


@FAST
@given(st.binary(max_size=512))
def test_ax88179_tx_decoder_and_interrupt_never_raise(data):
    out = Ax88179TxDecoder().decode(data)
    assert sum(len(f) for f in out) <= len(data)
    st_ = parse_interrupt(data)
    assert (st_ is None) == (len(data) < 8)


@FAST
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_notification_parser_never_raises(packets):
    p = NotificationParser()
    for pkt in packets:
        for n in p.feed(pkt):
            assert n.code in range(256)
    assert p.stats.rx_transfers == len(packets)


@FAST
@given(st.binary(max_size=2000))
def test_ecm_decoder_never_raises(data):
    out = EcmRxDecoder().decode(data)
    assert out in ([], [data])


@FAST
@given(
    st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.binary(min_size=1, max_size=20).map(lambda b: bytes([len(b) + 1]) + b), max_size=10
        ).map(b"".join),
    )
)
def test_descriptor_parser_only_raises_descriptor_error(data):
    try:
        parse_functional_descriptors(data)
    except DescriptorError as exc:
        assert str(exc)


@FAST
@given(st.one_of(st.text(max_size=20), st.binary(max_size=20)))
def test_mac_parser_only_raises_descriptor_error(text):
    try:
        mac = parse_mac_string(text)
    except DescriptorError:
        return
    assert len(mac) == 6


@FAST
@given(st.binary(max_size=64))
def test_ntb_parameters_parse_only_raises_framing_error(data):
    try:
        p = NtbParameters.parse(data)
    except FramingError:
        assert len(data) < 28
        return
    assert p.pack() == data[:28]
    s = p.sanitized()
    assert s.wNdpOutDivisor >= 4 and s.wNdpOutPayloadRemainder < s.wNdpOutDivisor


params_st = st.builds(
    NtbParameters,
    dwNtbOutMaxSize=st.integers(0, 70000),
    wNdpOutDivisor=st.sampled_from([0, 1, 3, 4, 8, 16, 32, 64, 512, 6]),
    wNdpOutPayloadRemainder=st.integers(0, 70),
    wNdpOutAlignment=st.sampled_from([0, 2, 4, 8, 16, 64, 5]),
    wNtbOutMaxDatagrams=st.integers(0, 50),
)


@FAST
@given(frames_st, params_st, st.booleans(), st.integers(1, 64), st.booleans())
def test_ntb_encode_decode_identity(frames, params, ndp_at_end, max_dg, ntb32):
    enc = NtbEncoder(params, max_datagrams=max_dg, ndp_at_end=ndp_at_end, ntb32=ntb32)
    assume(all(len(f) <= enc.max_frame_size for f in frames))
    ntbs = encode_ntb(frames, params, max_datagrams=max_dg, ndp_at_end=ndp_at_end, ntb32=ntb32)
    p = params.sanitized(ntb32=ntb32)
    dec = NtbDecoder(max_size=p.dwNtbOutMaxSize, ntb32=ntb32)
    out = []
    for n in ntbs:
        assert len(n) <= p.dwNtbOutMaxSize
        assert n[:4] == (b"ncmh" if ntb32 else b"NCMH")
        got = dec.decode(n)
        assert 1 <= len(got) <= enc.max_datagrams
        out += got
    assert out == frames
    assert dec.stats.rx_errors == 0 and dec.stats.sequence_errors == 0


@FAST
@given(frames_st.map(lambda fs: [f[:8000] for f in fs]), st.booleans())
def test_ax88179_rx_encode_decode_identity(frames, dummies):
    dec = Ax88179RxDecoder()
    assert dec.decode(encode_rx_transfer(frames, dummy_headers=dummies)) == frames
    assert dec.stats.rx_errors == 0


@FAST
@given(frames_st)
def test_ax88179_tx_encode_decode_identity(frames):
    dec = Ax88179TxDecoder()
    assert dec.decode(b"".join(encode_tx(f) for f in frames)) == frames


@pytest.mark.parametrize("n", [1, 5, 40])
def test_ntb_decoder_bounds_long_ndp_chains(n):
    """A long NDP chain is bounded by max_ndps, so decoding stays fast."""
    size = 12 + 16 * 4000
    buf = bytearray(min(size, 0xFFFF))
    struct.pack_into("<4sHHHH", buf, 0, b"NCMH", 12, 0, len(buf), 12)
    for i in range(3000):
        struct.pack_into("<4sHH", buf, 12 + 16 * i, b"NCM0", 16, 12 + 16 * (i + 1))
    dec = NtbDecoder(max_ndps=n)
    assert dec.decode(bytes(buf)) == []
    assert dec.stats.too_many_ndps == 1
