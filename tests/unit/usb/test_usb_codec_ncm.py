"""CDC-NCM NTB16 codec: parameters, encoder layout/batching, decoder validation."""

from __future__ import annotations

import struct

import pytest
from netdrv_usbnet.codecs import FramingError, NtbDecoder, NtbEncoder, NtbParameters, encode_ntb
from netdrv_usbnet.codecs.cdc_ncm import NTH16_LENGTH


def eth(n: int, fill: int = 0xAB) -> bytes:
    """An n-byte 'Ethernet frame' with a recognisable header."""
    assert n >= 14
    return (
        bytes([0x02, 0, 0, 0, 0, fill & 0xFF])
        + b"\x02\x11\x22\x33\x44\x55"
        + b"\x08\x00"
        + bytes([fill & 0xFF]) * (n - 14)
    )


def parse_ntb(ntb: bytes) -> dict:
    """Independent minimal parser used to check encoder output field by field."""
    sig, hlen, seq, blen, ndp = struct.unpack_from("<4sHHHH", ntb, 0)
    nsig, wlen, nxt = struct.unpack_from("<4sHH", ntb, ndp)
    entries = [struct.unpack_from("<HH", ntb, ndp + 8 + 4 * i) for i in range((wlen - 8) // 4)]
    return dict(
        sig=sig,
        hlen=hlen,
        seq=seq,
        blen=blen,
        ndp=ndp,
        nsig=nsig,
        wlen=wlen,
        next=nxt,
        entries=entries,
    )


# ---------------------------------------------------------------- parameters


def test_ntb_parameters_parse_and_pack_roundtrip():
    raw = struct.pack("<HHIHHHHIHHHH", 28, 0x0003, 32768, 8, 2, 16, 0, 8192, 32, 6, 8, 10)
    p = NtbParameters.parse(raw)
    assert (p.wLength, p.bmNtbFormatsSupported, p.dwNtbInMaxSize) == (28, 3, 32768)
    assert (p.wNdpInDivisor, p.wNdpInPayloadRemainder, p.wNdpInAlignment) == (8, 2, 16)
    assert (p.dwNtbOutMaxSize, p.wNdpOutDivisor, p.wNdpOutPayloadRemainder) == (8192, 32, 6)
    assert (p.wNdpOutAlignment, p.wNtbOutMaxDatagrams) == (8, 10)
    assert p.pack() == raw
    assert NtbParameters.parse(raw + b"extra") == p


def test_ntb_parameters_short_raises_documented_error():
    with pytest.raises(FramingError, match="28 bytes"):
        NtbParameters.parse(b"\x1c\x00" + b"\x00" * 20)


def test_ntb_parameters_sanitized_applies_linux_fallbacks():
    p = NtbParameters(
        dwNtbInMaxSize=100,
        dwNtbOutMaxSize=1 << 20,
        wNdpOutDivisor=6,
        wNdpOutPayloadRemainder=5,
        wNdpOutAlignment=2,
        wNdpInDivisor=16,
        wNdpInPayloadRemainder=20,
        wNdpInAlignment=0,
    ).sanitized()
    assert p.dwNtbInMaxSize == 2048 and p.dwNtbOutMaxSize == 0xFFFF
    assert p.wNdpOutDivisor == 4 and p.wNdpOutPayloadRemainder == 0  # not a power of two
    assert p.wNdpOutAlignment == 4 and p.wNdpInAlignment == 4
    assert p.wNdpInDivisor == 16 and p.wNdpInPayloadRemainder == 0  # remainder >= divisor


def test_a_small_out_max_size_is_kept():
    """A device that takes OUT NTBs of 1600 bytes only (below the spec's 2048): bigger NTBs
    are lost inside it, so the encoder never builds one (Linux honours such a value too)."""
    p = NtbParameters(dwNtbOutMaxSize=1600).sanitized()
    assert p.dwNtbOutMaxSize == 1600
    assert NtbParameters(dwNtbOutMaxSize=0).sanitized().dwNtbOutMaxSize == 2048
    frames = [eth(1000, i) for i in range(4)]
    ntbs = encode_ntb(frames, NtbParameters(dwNtbOutMaxSize=1600))
    assert len(ntbs) == 4 and all(len(n) <= 1600 for n in ntbs)
    assert [f for n in ntbs for f in NtbDecoder(max_size=1600).decode(n)] == frames


@pytest.mark.parametrize("field", ["wNdpOutDivisor", "wNdpOutAlignment"])
@pytest.mark.parametrize(("value", "device_max", "cap"), [(16384, 16384, None),
                                                          (32768, 32768, None),
                                                          (16384, 65535, 16384)])  # fmt: skip
def test_a_modulus_as_large_as_the_ntb_falls_back_to_four(field, value, device_max, cap):
    """A divisor or NDP alignment >= the NTB size (the device's, or the caller's smaller cap)
    put the first datagram or the NDP past the end: nothing fit, every frame was dropped.
    Linux ``cdc_ncm_fix_modulus`` uses 4 then."""
    params = NtbParameters(dwNtbOutMaxSize=device_max, **{field: value})
    enc = NtbEncoder(params, max_size=cap)
    assert (enc.divisor, enc.ndp_alignment) == (4, 4)
    assert enc.max_frame_size >= 1514
    frames = [eth(1514, 1), eth(60, 2)]
    ntbs = encode_ntb(frames, params, max_size=cap)
    assert [f for n in ntbs for f in NtbDecoder().decode(n)] == frames


def test_a_modulus_below_the_ntb_size_is_kept():
    enc = NtbEncoder(NtbParameters(dwNtbOutMaxSize=16384, wNdpOutDivisor=8192,
                                   wNdpOutAlignment=8192))  # fmt: skip
    assert (enc.divisor, enc.ndp_alignment) == (8192, 8192)


# ---------------------------------------------------------------- encoder


@pytest.mark.parametrize(("div", "rem", "align"), [(4, 0, 4), (8, 2, 16), (32, 14, 8), (64, 0, 64)])
@pytest.mark.parametrize("ndp_at_end", [False, True])
def test_encoder_layout_alignment_and_fields(div, rem, align, ndp_at_end):
    params = NtbParameters(wNdpOutDivisor=div, wNdpOutPayloadRemainder=rem, wNdpOutAlignment=align)
    enc = NtbEncoder(params, ndp_at_end=ndp_at_end, sequence=7)
    frames = [eth(n, i) for i, n in enumerate([60, 61, 97, 1514, 14, 333])]
    for f in frames:
        assert enc.add(f)
    ntb = enc.build()
    h = parse_ntb(ntb)
    assert h["sig"] == b"NCMH" and h["hlen"] == 12 and h["seq"] == 7
    assert h["blen"] == len(ntb)
    assert h["nsig"] == b"NCM0" and h["next"] == 0
    assert h["ndp"] % align == 0 and h["ndp"] >= 12
    assert h["wlen"] == 8 + 4 * (len(frames) + 1)
    assert h["entries"][-1] == (0, 0)
    for (off, ln), f in zip(h["entries"][:-1], frames, strict=True):
        assert off % div == rem
        assert ln == len(f)
        assert ntb[off : off + ln] == f
        assert off >= 12
        assert off + ln <= h["ndp"] or off >= h["ndp"] + h["wlen"]  # never inside the NDP
    if ndp_at_end:
        assert h["ndp"] > max(o for o, _ in h["entries"][:-1])
    else:
        assert h["ndp"] < min(o for o, _ in h["entries"][:-1])
    assert NtbDecoder().decode(ntb) == frames


def test_encoder_sequence_increments_and_wraps():
    enc = NtbEncoder(sequence=0xFFFE)
    seqs = []
    for _ in range(3):
        enc.add(eth(60))
        seqs.append(parse_ntb(enc.build())["seq"])
    assert seqs == [0xFFFE, 0xFFFF, 0]


def test_encoder_respects_max_datagrams():
    enc = NtbEncoder(NtbParameters(dwNtbOutMaxSize=65535), max_datagrams=40)
    added = [enc.add(eth(60)) for _ in range(41)]
    assert added == [True] * 40 + [False]
    assert enc.pending == 40
    assert len(parse_ntb(enc.build())["entries"]) == 41  # 40 + terminator
    assert enc.pending == 0


def test_encoder_respects_device_max_datagrams():
    enc = NtbEncoder(NtbParameters(wNtbOutMaxDatagrams=3), max_datagrams=40)
    assert [enc.add(eth(60)) for _ in range(4)] == [True, True, True, False]


def test_encoder_respects_max_size_and_never_exceeds_it():
    params = NtbParameters(dwNtbOutMaxSize=4096, wNdpOutDivisor=8, wNdpOutPayloadRemainder=2)
    frames = [eth(n, i) for i, n in enumerate([1514, 1514, 1514, 700, 60, 1000] * 3)]
    ntbs = encode_ntb(frames, params)
    assert all(len(n) <= 4096 for n in ntbs)
    assert len(ntbs) > 1
    dec = NtbDecoder(max_size=4096)
    assert [f for n in ntbs for f in dec.decode(n)] == frames
    enc = NtbEncoder(params)
    assert enc.add(eth(1514)) and enc.add(eth(1514))
    assert not enc.add(eth(1514))  # a third does not fit in 4096
    assert enc.size <= 4096


def test_encoder_rejects_impossible_frames_and_empty_build():
    enc = NtbEncoder(NtbParameters(dwNtbOutMaxSize=2048))
    with pytest.raises(FramingError):
        enc.add(b"")
    with pytest.raises(FramingError):
        enc.add(b"x" * 2048)
    big = enc.max_frame_size
    assert enc.add(b"y" * big)
    with pytest.raises(FramingError):
        NtbEncoder(NtbParameters(dwNtbOutMaxSize=2048)).add(b"y" * (big + 1))
    enc.build()
    with pytest.raises(FramingError):
        enc.build()


def test_encode_ntb_in_direction_uses_in_fields():
    params = NtbParameters(
        dwNtbInMaxSize=2048, wNdpInDivisor=16, wNdpInPayloadRemainder=4, dwNtbOutMaxSize=65535
    )
    ntbs = encode_ntb([eth(1100), eth(1100), eth(900)], params, direction="in")
    assert len(ntbs) == 2  # two 1100-byte frames don't fit in 2048 bytes; 1100 + 900 do
    assert all(len(n) <= 2048 for n in ntbs)
    for n in ntbs:
        assert all(off % 16 == 4 for off, ln in parse_ntb(n)["entries"][:-1])


# ---------------------------------------------------------------- decoder helpers


def raw_ntb(
    total: int,
    ndp_index: int,
    *,
    blen: int | None = None,
    sig: bytes = b"NCMH",
    hlen: int = 12,
    seq: int = 0,
) -> bytearray:
    buf = bytearray(total)
    struct.pack_into("<4sHHHH", buf, 0, sig, hlen, seq, total if blen is None else blen, ndp_index)
    return buf


def put_ndp(
    buf: bytearray,
    off: int,
    entries: list[tuple[int, int]],
    *,
    nxt: int = 0,
    sig: bytes = b"NCM0",
    wlen: int | None = None,
) -> None:
    wlen = 8 + 4 * len(entries) if wlen is None else wlen
    struct.pack_into("<4sHH", buf, off, sig, wlen, nxt)
    for i, (a, b) in enumerate(entries):
        struct.pack_into("<HH", buf, off + 8 + 4 * i, a, b)


def good_ntb(frames: list[bytes], total: int = 1024) -> bytearray:
    buf = raw_ntb(total, 12)
    entries = []
    off = 12 + 8 + 4 * (len(frames) + 1)
    off = (off + 3) // 4 * 4
    for f in frames:
        buf[off : off + len(f)] = f
        entries.append((off, len(f)))
        off = (off + len(f) + 3) // 4 * 4
    put_ndp(buf, 12, [*entries, (0, 0)])
    return buf


def test_decoder_accepts_handmade_ntb():
    frames = [eth(60, 1), eth(64, 2)]
    dec = NtbDecoder()
    assert dec.decode(bytes(good_ntb(frames))) == frames
    assert dec.stats.rx_frames == 2 and dec.stats.rx_errors == 0 and dec.stats.rx_bytes == 124


def test_decoder_zero_copy_returns_memoryviews():
    frames = [eth(60, 1)]
    buf = bytes(good_ntb(frames))
    out = NtbDecoder(copy=False).decode(buf)
    assert isinstance(out[0], memoryview) and bytes(out[0]) == frames[0]


def test_decoder_accepts_array_and_memoryview_input():
    import array

    frames = [eth(60, 3)]
    buf = good_ntb(frames)
    assert NtbDecoder().decode(array.array("B", buf)) == frames
    assert NtbDecoder().decode(memoryview(buf)) == frames


@pytest.mark.parametrize(
    ("mutate", "counter"),
    [
        (lambda b: b.__setitem__(slice(0, 4), b"NCMX"), "bad_nth_signature"),
        (lambda b: b.__setitem__(slice(0, 4), b"ncmh"), "unsupported"),
        (lambda b: struct.pack_into("<H", b, 4, 16), "bad_header_length"),
        (lambda b: struct.pack_into("<H", b, 8, 2000), "bad_block_length"),
        (lambda b: struct.pack_into("<H", b, 10, 8), "bad_ndp_index"),  # inside the NTH
        (lambda b: struct.pack_into("<H", b, 10, 1020), "bad_ndp_index"),  # NDP past the block
        (lambda b: struct.pack_into("<H", b, 10, 1017), "bad_ndp_index"),  # header: 1 byte out
        (lambda b: struct.pack_into("<H", b, 16, 12), "bad_ndp_length"),  # wLength < 16
        (lambda b: struct.pack_into("<H", b, 16, 15), "bad_ndp_length"),  # < 16 (floored: 1)
        (lambda b: struct.pack_into("<H", b, 16, 2000), "bad_ndp_length"),  # past the block
        (lambda b: b.__setitem__(slice(12, 16), b"NCMZ"), "bad_ndp_signature"),
        (lambda b: b.__setitem__(slice(12, 16), b"NCM1"), "unsupported"),  # CRC NDP
        (lambda b: struct.pack_into("<H", b, 20, 4000), "bad_datagram"),  # index out of range
        (lambda b: struct.pack_into("<H", b, 20, 4), "bad_datagram"),  # inside the NTH
        (lambda b: struct.pack_into("<H", b, 22, 1020), "bad_datagram"),  # length past block
        (lambda b: struct.pack_into("<H", b, 20, 16), "overlapping_datagram"),  # inside the NDP
        (lambda b: struct.pack_into("<H", b, 22, 10), "short_datagram"),
        (lambda b: struct.pack_into("<H", b, 22, 0), "empty_ndp"),
    ],
)
def test_decoder_counts_every_malformation_and_never_raises(mutate, counter):
    frames = [eth(60, 1)]
    buf = good_ntb(frames)
    mutate(buf)
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == []
    assert getattr(dec.stats, counter) == 1
    assert dec.stats.rx_errors == 1
    assert dec.stats.rx_frames == 0


def test_decoder_rejects_block_above_max_size():
    buf = good_ntb([eth(60)], total=4096)
    dec = NtbDecoder(max_size=2048)
    assert dec.decode(bytes(buf)) == []
    assert dec.stats.bad_block_length == 1


def test_decoder_too_short_transfer():
    dec = NtbDecoder()
    for data in (b"", b"NCMH", bytes(good_ntb([eth(60)]))[:27]):
        assert dec.decode(data) == []
    assert dec.stats.too_short == 3 and dec.stats.rx_length_errors == 3


def test_decoder_block_length_zero_means_whole_transfer():
    buf = good_ntb([eth(60)])
    struct.pack_into("<H", buf, 8, 0)
    assert NtbDecoder().decode(bytes(buf)) == [eth(60)]


def test_decoder_ignores_bytes_after_block():
    buf = good_ntb([eth(60)], total=256)
    assert NtbDecoder().decode(bytes(buf) + b"\xee" * 100) == [eth(60)]


def test_decoder_keeps_frames_before_a_bad_entry():
    frames = [eth(60, 1), eth(61, 2), eth(62, 3)]
    buf = good_ntb(frames)
    struct.pack_into("<H", buf, 12 + 8 + 4 + 2, 5)  # second datagram length 5 -> runt
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [frames[0]]
    assert dec.stats.short_datagram == 1 and dec.stats.rx_length_errors == 1


def test_decoder_zero_pair_terminates_table():
    frames = [eth(60, 1), eth(60, 2)]
    buf = good_ntb(frames)
    struct.pack_into("<HH", buf, 12 + 8 + 4, 0, 0)  # terminator after the first entry
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [frames[0]]
    assert dec.stats.rx_errors == 0


def test_decoder_missing_terminator_is_counted():
    frames = [eth(60, 1), eth(60, 2)]
    buf = good_ntb(frames)
    off, ln = struct.unpack_from("<HH", buf, 12 + 8)
    struct.pack_into("<HH", buf, 12 + 8 + 8, off, ln)  # last slot is not (0, 0)
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == frames
    assert dec.stats.missing_terminator == 1


def test_decoder_follows_ndp_chain():
    buf = raw_ntb(512, 12)
    f1, f2 = eth(60, 1), eth(70, 2)
    buf[100:160] = f1
    buf[200:270] = f2
    put_ndp(buf, 12, [(100, 60), (0, 0)], nxt=40)
    put_ndp(buf, 40, [(200, 70), (0, 0)])
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f1, f2]


def test_decoder_bad_ndp_signature_skips_to_next_ndp():
    buf = raw_ntb(512, 12)
    f2 = eth(70, 2)
    buf[200:270] = f2
    put_ndp(buf, 12, [(100, 60), (0, 0)], nxt=40, sig=b"JUNK")
    put_ndp(buf, 40, [(200, 70), (0, 0)])
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f2]
    assert dec.stats.bad_ndp_signature == 1


@pytest.mark.parametrize("cycle", [1, 2, 5])
def test_decoder_detects_ndp_loops(cycle):
    buf = raw_ntb(1024, 12)
    f = eth(60, 9)
    buf[800:860] = f
    offs = [12 + 20 * i for i in range(cycle)]
    for i, off in enumerate(offs):
        entries = [(800, 60), (0, 0)] if i == 0 else [(0, 0), (0, 0)]
        put_ndp(buf, off, entries, nxt=offs[(i + 1) % cycle])
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f]  # delivered once, not once per lap
    assert dec.stats.ndp_loop == 1


def test_decoder_bounds_ndp_chain_length():
    buf = raw_ntb(4096, 12)
    n = 100
    for i in range(n):
        put_ndp(buf, 12 + 20 * i, [(0, 0), (0, 0)], nxt=12 + 20 * (i + 1) if i < n - 1 else 0)
    dec = NtbDecoder(max_ndps=32)
    assert dec.decode(bytes(buf)) == []
    assert dec.stats.too_many_ndps == 1


def test_decoder_bounds_datagram_count():
    frames = [eth(14, i) for i in range(20)]
    dec = NtbDecoder(max_datagrams=5)
    assert dec.decode(bytes(good_ntb(frames))) == frames[:5]
    assert dec.stats.too_many_datagrams == 1


def test_decoder_max_datagram_length():
    dec = NtbDecoder(max_datagram=100)
    assert dec.decode(bytes(good_ntb([eth(60), eth(200)]))) == [eth(60)]
    assert dec.stats.long_datagram == 1


def test_decoder_counts_sequence_glitches_without_dropping():
    dec = NtbDecoder()
    enc = NtbEncoder(sequence=10)
    for seq_expected_glitch in (False, False):
        enc.add(eth(60))
        assert dec.decode(enc.build())
        assert (dec.stats.sequence_errors > 0) == seq_expected_glitch
    enc.sequence = 40
    enc.add(eth(60))
    assert dec.decode(enc.build()) == [eth(60)]
    assert dec.stats.sequence_errors == 1


def test_ntb_header_constant():
    assert NTH16_LENGTH == 12


# -- what Linux's cdc_ncm_rx_verify_ndp16 accepts, and what it does not --------------------------
@pytest.mark.parametrize("ndp", [13, 14, 15, 17, 22, 203])
def test_decoder_takes_an_ndp_at_any_offset(ndp):
    """Linux does not hold a device to wNdpInAlignment (nor to 4 bytes) on receive: an NDP
    anywhere after the NTH whose header and entries lie in the block is read."""
    f1, f2 = eth(60, 1), eth(61, 2)
    buf = raw_ntb(512, ndp)
    buf[300:360], buf[400:461] = f1, f2
    put_ndp(buf, ndp, [(300, 60), (400, 61), (0, 0)])
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f1, f2]
    assert dec.stats.rx_errors == 0 and dec.stats.rx_frames == 2


def test_decoder_follows_a_chain_of_unaligned_ndps():
    f1, f2 = eth(60, 1), eth(70, 2)
    buf = raw_ntb(512, 13)
    buf[100:160], buf[200:270] = f1, f2
    put_ndp(buf, 13, [(100, 60), (0, 0)], nxt=39)
    put_ndp(buf, 39, [(200, 70), (0, 0)])
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f1, f2] and dec.stats.rx_errors == 0


@pytest.mark.parametrize("wlen", [16, 17, 18, 19])
def test_decoder_takes_a_wlength_that_is_no_multiple_of_4(wlen):
    """Linux's table is the whole entries that fit wLength: 16 to 19 bytes are one datagram
    and the zero pair."""
    f = eth(60, 1)
    buf = raw_ntb(256, 12)
    buf[100:160] = f
    put_ndp(buf, 12, [(100, 60), (0, 0)], wlen=wlen)
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f] and dec.stats.rx_errors == 0


def test_decoder_ignores_the_last_slot_as_linux_does():
    """Linux reads the entries before the table's last slot and never the last one: an NDP
    at the block's end whose zero pair lies past it still delivers its datagrams (counted
    as ``missing_terminator``), as one whose last slot is no zero pair does."""
    f1, f2 = eth(60, 1), eth(61, 2)
    buf = raw_ntb(224, 208)  # NDP header 208..216, entries 216..220 and 220..224, zero pair out
    buf[20:80], buf[100:161] = f1, f2
    put_ndp(buf, 208, [(20, 60), (100, 61)], wlen=8 + 3 * 4)
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f1, f2]
    assert dec.stats.missing_terminator == 1 and dec.stats.rx_frames == 2
    # One slot more past the block: an entry Linux would read lies outside; refused.
    put_ndp(buf, 208, [(20, 60), (100, 61)], wlen=8 + 4 * 4)
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [] and dec.stats.bad_ndp_length == 1


def test_decoder_checks_the_length_before_the_signature_as_linux_does():
    """cdc_ncm_rx_verify_ndp16 refuses a short wLength (the transfer is dropped, the chain
    ends) before cdc_ncm_rx_fixup looks at the signature (which only skips that NDP)."""
    f = eth(60, 1)
    buf = raw_ntb(512, 12)
    buf[200:260] = f
    put_ndp(buf, 12, [(0, 0)], nxt=40, sig=b"JUNK", wlen=12)
    put_ndp(buf, 40, [(200, 60), (0, 0)])
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == []
    assert dec.stats.bad_ndp_length == 1 and dec.stats.bad_ndp_signature == 0
    put_ndp(buf, 12, [(0, 0), (0, 0)], nxt=40, sig=b"JUNK")
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f] and dec.stats.bad_ndp_signature == 1


def test_decoder_follows_as_many_ndps_as_linux():
    """cdc_ncm_rx_fixup's loopcount: the first NDP and 50 more."""
    buf = raw_ntb(4096, 12)
    f = eth(60, 7)
    buf[3000:3060] = f
    offs = [12 + 20 * i for i in range(52)]
    for i, off in enumerate(offs):
        entries = [(3000, 60), (0, 0)] if i in (50, 51) else [(0, 0), (0, 0)]
        put_ndp(buf, off, entries, nxt=offs[i + 1] if i + 1 < len(offs) else 0)
    dec = NtbDecoder()
    assert dec.decode(bytes(buf)) == [f]  # the 51st NDP is read, the 52nd is not
    assert dec.stats.too_many_ndps == 1
