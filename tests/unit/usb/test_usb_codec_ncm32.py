"""CDC-NCM NTB32 ("ncmh"/"ncm0"): format choice, parameters, encoder layout, decoder checks."""

from __future__ import annotations

import struct

import pytest
from netdrv_usbnet.codecs import FramingError, NtbDecoder, NtbEncoder, NtbParameters, encode_ntb
from netdrv_usbnet.codecs.cdc_ncm import (
    NCM_NDP32_MIN_LENGTH,
    NTB_FORMAT_NTB16,
    NTB_FORMAT_NTB32,
    NTH32_LENGTH,
    select_ntb_format,
)


def eth(n: int, fill: int = 0xAB) -> bytes:
    """An n-byte 'Ethernet frame' with a recognisable header."""
    assert n >= 14
    return (
        bytes([0x02, 0, 0, 0, 0, fill & 0xFF])
        + b"\x02\x11\x22\x33\x44\x55\x08\x00"
        + bytes([fill & 0xFF]) * (n - 14)
    )


def parse_ntb32(ntb: bytes) -> dict:
    """Independent minimal NTB32 parser used to check encoder output field by field."""
    sig, hlen, seq, blen, ndp = struct.unpack_from("<4sHHII", ntb, 0)
    nsig, wlen, res6, nxt, res12 = struct.unpack_from("<4sHHII", ntb, ndp)
    entries = [struct.unpack_from("<II", ntb, ndp + 16 + 8 * i) for i in range((wlen - 16) // 8)]
    return dict(sig=sig, hlen=hlen, seq=seq, blen=blen, ndp=ndp, nsig=nsig, wlen=wlen, res6=res6,
                next=nxt, res12=res12, entries=entries)  # fmt: skip


# ---------------------------------------------------------------- format choice, parameters


@pytest.mark.parametrize(
    ("formats", "ntb32"),
    [(NTB_FORMAT_NTB16, False), (NTB_FORMAT_NTB32, True),
     (NTB_FORMAT_NTB16 | NTB_FORMAT_NTB32, False), (0, None), (0xFFFC, None)],
)  # fmt: skip
def test_ntb16_is_preferred_and_ntb32_only_when_alone(formats, ntb32):
    assert select_ntb_format(formats) is ntb32


def test_ntb32_parameters_keep_32_bit_sizes():
    """NTB16 caps the sizes at 65535 (wBlockLength); NTB32's dwBlockLength has no such cap."""
    p = NtbParameters(bmNtbFormatsSupported=NTB_FORMAT_NTB32, dwNtbInMaxSize=0x30000,
                      dwNtbOutMaxSize=0x20000)  # fmt: skip
    assert NtbParameters.parse(p.pack()) == p
    s32 = p.sanitized(ntb32=True)
    assert (s32.dwNtbInMaxSize, s32.dwNtbOutMaxSize) == (0x30000, 0x20000)
    s16 = p.sanitized()
    assert (s16.dwNtbInMaxSize, s16.dwNtbOutMaxSize) == (0xFFFF, 0xFFFF)
    small = NtbParameters(dwNtbInMaxSize=100, dwNtbOutMaxSize=0).sanitized(ntb32=True)
    assert (small.dwNtbInMaxSize, small.dwNtbOutMaxSize) == (2048, 2048)


# ---------------------------------------------------------------- encoder


@pytest.mark.parametrize(("div", "rem", "align"), [(4, 0, 4), (8, 2, 16), (32, 14, 8), (64, 0, 64)])
@pytest.mark.parametrize("ndp_at_end", [False, True])
def test_ntb32_encoder_layout_and_fields(div, rem, align, ndp_at_end):
    params = NtbParameters(wNdpOutDivisor=div, wNdpOutPayloadRemainder=rem, wNdpOutAlignment=align)
    enc = NtbEncoder(params, ndp_at_end=ndp_at_end, sequence=7, ntb32=True)
    frames = [eth(n, i) for i, n in enumerate([60, 61, 97, 1514, 14, 333])]
    for f in frames:
        assert enc.add(f)
    size = enc.size
    ntb = enc.build()
    h = parse_ntb32(ntb)
    assert h["sig"] == b"ncmh" and h["hlen"] == NTH32_LENGTH == 16 and h["seq"] == 7
    assert h["blen"] == len(ntb) == size
    assert h["nsig"] == b"ncm0" and h["wlen"] == 16 + 8 * (len(frames) + 1)
    assert (h["res6"], h["next"], h["res12"]) == (0, 0, 0)
    assert h["ndp"] % align == 0 and h["ndp"] >= 16
    assert h["entries"][-1] == (0, 0)
    for (off, ln), f in zip(h["entries"][:-1], frames, strict=True):
        assert off % div == rem and ln == len(f) and ntb[off : off + ln] == f
    if ndp_at_end:
        assert h["ndp"] > max(off for off, _ in h["entries"][:-1])
    assert NtbDecoder(ntb32=True).decode(ntb) == frames


def test_ntb32_encoder_matches_the_layout_size_on_every_add():
    """The O(1) block length of add() (8-byte entries shift the datagrams by 8) agrees with a
    full relayout, for a divisor that divides 8 and one that does not."""
    for div in (4, 8, 16):
        enc = NtbEncoder(NtbParameters(wNdpOutDivisor=div, wNdpOutPayloadRemainder=2), ntb32=True)
        sizes = [60, 1514, 14, 97, 333, 15]
        for i, n in enumerate(sizes):
            assert enc.add(eth(n, i))
            assert enc.size == enc._layout_size(sizes[: i + 1])
        assert len(enc.build()) == enc._layout_size(sizes)


def test_ntb32_blocks_may_exceed_64k():
    params = NtbParameters(dwNtbOutMaxSize=0x30000)
    enc = NtbEncoder(params, ntb32=True, max_datagrams=100)
    assert enc.max_size == 0x30000
    frames = [eth(9000, i) for i in range(20)]
    for f in frames:
        assert enc.add(f)
    ntb = enc.build()
    assert len(ntb) > 0xFFFF
    h = parse_ntb32(ntb)
    assert h["blen"] == len(ntb) and max(off for off, _ in h["entries"]) > 0xFFFF
    dec = NtbDecoder(ntb32=True)
    assert dec.max_size == 0xFFFFFFFF  # no 16-bit default bound
    assert dec.decode(ntb) == frames and dec.stats.rx_errors == 0
    # NTB16 with the same parameters stays within 65535.
    assert NtbEncoder(params).max_size == 0xFFFF


def test_ntb32_encoder_limits_and_errors():
    enc = NtbEncoder(NtbParameters(dwNtbOutMaxSize=2048, wNtbOutMaxDatagrams=3), ntb32=True)
    assert enc.max_size == 2048 and enc.max_datagrams == 3
    # Largest frame alone: NTH32 16 + NDP32 16 + 2 entries of 8, datagram 4-aligned.
    assert enc.max_frame_size == 2048 - 48
    assert NtbEncoder(NtbParameters(dwNtbOutMaxSize=2048)).max_frame_size == 2048 - 28
    with pytest.raises(FramingError):
        enc.add(eth(2048 - 47))
    with pytest.raises(FramingError):
        enc.add(b"")
    for i in range(3):
        assert enc.add(eth(100, i))
    assert not enc.add(eth(100, 9)), "wNtbOutMaxDatagrams reached"
    ntbs = encode_ntb([eth(700, i) for i in range(7)], NtbParameters(dwNtbOutMaxSize=2048),
                      ntb32=True)  # fmt: skip
    assert all(len(n) <= 2048 and n[:4] == b"ncmh" for n in ntbs)
    assert [f for n in ntbs for f in NtbDecoder(ntb32=True).decode(n)] == [
        eth(700, i) for i in range(7)
    ]


def test_ntb32_sequence_increments_and_wraps():
    enc = NtbEncoder(sequence=0xFFFF, ntb32=True)
    seqs = []
    for _ in range(3):
        enc.add(eth(60))
        seqs.append(parse_ntb32(enc.build())["seq"])
    assert seqs == [0xFFFF, 0, 1]


def test_ntb32_in_direction_uses_in_fields():
    params = NtbParameters(dwNtbInMaxSize=4096, wNdpInDivisor=16, wNdpInPayloadRemainder=4)
    ntbs = encode_ntb([eth(1500, i) for i in range(5)], params, direction="in", ntb32=True)
    assert len(ntbs) == 3 and all(len(n) <= 4096 for n in ntbs)
    for n in ntbs:
        assert all(off % 16 == 4 for off, _ in parse_ntb32(n)["entries"][:-1])


# ---------------------------------------------------------------- decoder


def raw_ntb32(total: int, ndp_index: int, *, blen: int | None = None, sig: bytes = b"ncmh",
              hlen: int = 16, seq: int = 0) -> bytearray:  # fmt: skip
    buf = bytearray(total)
    struct.pack_into("<4sHHII", buf, 0, sig, hlen, seq, total if blen is None else blen, ndp_index)
    return buf


def put_ndp32(buf: bytearray, off: int, entries: list[tuple[int, int]], *, nxt: int = 0,
              sig: bytes = b"ncm0", wlen: int | None = None) -> None:  # fmt: skip
    wlen = 16 + 8 * len(entries) if wlen is None else wlen
    struct.pack_into("<4sHHII", buf, off, sig, wlen, 0, nxt, 0)
    for i, (a, b) in enumerate(entries):
        struct.pack_into("<II", buf, off + 16 + 8 * i, a, b)


def good_ntb32(frames: list[bytes], total: int = 1024) -> bytearray:
    """NTH32 at 0, NDP32 at 16 (entries at 32), datagrams 4-aligned after it."""
    buf = raw_ntb32(total, 16)
    entries = []
    off = 16 + 16 + 8 * (len(frames) + 1)
    for f in frames:
        buf[off : off + len(f)] = f
        entries.append((off, len(f)))
        off = (off + len(f) + 3) // 4 * 4
    put_ndp32(buf, 16, [*entries, (0, 0)])
    return buf


def test_ntb32_decoder_accepts_handmade_ntb():
    frames = [eth(60, 1), eth(64, 2)]
    dec = NtbDecoder(ntb32=True)
    assert dec.decode(bytes(good_ntb32(frames))) == frames
    assert dec.stats.rx_frames == 2 and dec.stats.rx_errors == 0 and dec.stats.rx_ntbs == 1
    out = NtbDecoder(ntb32=True, copy=False).decode(memoryview(good_ntb32(frames)))
    assert [bytes(f) for f in out] == frames and isinstance(out[0], memoryview)


@pytest.mark.parametrize(
    ("mutate", "counter"),
    [
        (lambda b: b.__setitem__(slice(0, 4), b"ncmx"), "bad_nth_signature"),
        (lambda b: b.__setitem__(slice(0, 4), b"NCMH"), "unsupported"),  # an NTB16 header
        (lambda b: struct.pack_into("<H", b, 4, 12), "bad_header_length"),  # NTH16's length
        (lambda b: struct.pack_into("<I", b, 8, 2000), "bad_block_length"),
        (lambda b: struct.pack_into("<I", b, 8, 0x10000 + 1024), "bad_block_length"),  # high half
        (lambda b: struct.pack_into("<I", b, 12, 12), "bad_ndp_index"),  # inside the NTH32
        (lambda b: struct.pack_into("<I", b, 12, 1009), "bad_ndp_index"),  # header: 1 byte out
        (lambda b: struct.pack_into("<I", b, 12, 0x10010), "bad_ndp_index"),  # 16 + 65536
        (lambda b: struct.pack_into("<H", b, 20, 24), "bad_ndp_length"),  # wLength < 32
        (lambda b: struct.pack_into("<H", b, 20, 31), "bad_ndp_length"),  # < 32 (floored: 1)
        (lambda b: struct.pack_into("<H", b, 20, 2000), "bad_ndp_length"),  # past the block
        (lambda b: b.__setitem__(slice(16, 20), b"ncmZ"), "bad_ndp_signature"),
        (lambda b: b.__setitem__(slice(16, 20), b"ncm1"), "unsupported"),  # CRC NDP32
        (lambda b: b.__setitem__(slice(16, 20), b"NCM0"), "unsupported"),  # an NDP16
        (lambda b: struct.pack_into("<I", b, 32, 4000), "bad_datagram"),  # index out of range
        (lambda b: struct.pack_into("<I", b, 32, 0x10000 + 56), "bad_datagram"),  # high half set
        (lambda b: struct.pack_into("<I", b, 32, 8), "bad_datagram"),  # inside the NTH32
        (lambda b: struct.pack_into("<I", b, 36, 1000), "bad_datagram"),  # length past block
        (lambda b: struct.pack_into("<I", b, 36, 0x10000 + 60), "bad_datagram"),  # high half
        (lambda b: struct.pack_into("<I", b, 32, 20), "overlapping_datagram"),  # inside the NDP
        (lambda b: struct.pack_into("<I", b, 36, 10), "short_datagram"),
        (lambda b: struct.pack_into("<I", b, 36, 0), "empty_ndp"),
    ],
)
def test_ntb32_decoder_counts_every_malformation_and_never_raises(mutate, counter):
    buf = good_ntb32([eth(60, 1)])
    assert NtbDecoder(ntb32=True).decode(bytes(buf)) == [eth(60, 1)]
    mutate(buf)
    dec = NtbDecoder(ntb32=True)
    assert dec.decode(bytes(buf)) == []
    assert getattr(dec.stats, counter) == 1
    assert dec.stats.rx_errors == 1 and dec.stats.rx_frames == 0


def test_each_decoder_refuses_the_other_format():
    frames = [eth(60, 1)]
    ntb16, ntb32 = encode_ntb(frames)[0], encode_ntb(frames, ntb32=True)[0]
    d16, d32 = NtbDecoder(), NtbDecoder(ntb32=True)
    assert d16.decode(ntb32) == [] and d16.stats.unsupported == 1
    assert d32.decode(ntb16) == [] and d32.stats.unsupported == 1
    assert d16.decode(ntb16) == frames and d32.decode(ntb32) == frames
    # After SET_NTB_FORMAT the format is switched on the same decoder (its counters stay).
    d16.ntb32 = True
    assert d16.decode(ntb32) == frames and d16.stats.rx_frames == 2


def test_ntb32_decoder_too_short_and_limits():
    dec = NtbDecoder(ntb32=True)
    for data in (b"", b"ncmh", bytes(good_ntb32([eth(60)]))[: 16 + NCM_NDP32_MIN_LENGTH - 1]):
        assert dec.decode(data) == []
    assert dec.stats.too_short == 3 and dec.stats.rx_length_errors == 3
    dec = NtbDecoder(ntb32=True, max_size=512)
    assert dec.decode(bytes(good_ntb32([eth(60)], total=1024))) == []
    assert dec.stats.bad_block_length == 1
    dec = NtbDecoder(ntb32=True, max_datagram=100)
    assert dec.decode(bytes(good_ntb32([eth(60), eth(200)]))) == [eth(60)]
    assert dec.stats.long_datagram == 1
    dec = NtbDecoder(ntb32=True, max_datagrams=5)
    frames = [eth(14, i) for i in range(20)]
    assert dec.decode(bytes(good_ntb32(frames))) == frames[:5]
    assert dec.stats.too_many_datagrams == 1


def test_ntb32_block_length_zero_and_trailing_bytes():
    buf = good_ntb32([eth(60)], total=256)
    assert NtbDecoder(ntb32=True).decode(bytes(buf) + b"\xee" * 100) == [eth(60)]
    struct.pack_into("<I", buf, 8, 0)
    assert NtbDecoder(ntb32=True).decode(bytes(buf)) == [eth(60)]


def test_ntb32_decoder_keeps_frames_before_a_bad_entry_and_counts_missing_terminator():
    frames = [eth(60, 1), eth(61, 2), eth(62, 3)]
    buf = good_ntb32(frames)
    struct.pack_into("<I", buf, 16 + 16 + 8 + 4, 5)  # second datagram length 5: a runt
    dec = NtbDecoder(ntb32=True)
    assert dec.decode(bytes(buf)) == [frames[0]]
    assert dec.stats.short_datagram == 1
    buf = good_ntb32(frames[:2])
    struct.pack_into("<II", buf, 16 + 16 + 16, *struct.unpack_from("<II", buf, 32))  # no (0, 0)
    dec = NtbDecoder(ntb32=True)
    assert dec.decode(bytes(buf)) == frames[:2] and dec.stats.missing_terminator == 1


def test_ntb32_decoder_follows_chain_skips_bad_ndp_and_stops_loops():
    f1, f2 = eth(60, 1), eth(70, 2)
    buf = raw_ntb32(512, 16)
    buf[200:260], buf[300:370] = f1, f2
    put_ndp32(buf, 16, [(200, 60), (0, 0)], nxt=64)
    put_ndp32(buf, 64, [(300, 70), (0, 0)])
    assert NtbDecoder(ntb32=True).decode(bytes(buf)) == [f1, f2]
    put_ndp32(buf, 16, [(200, 60), (0, 0)], nxt=64, sig=b"JUNK")
    dec = NtbDecoder(ntb32=True)
    assert dec.decode(bytes(buf)) == [f2] and dec.stats.bad_ndp_signature == 1
    put_ndp32(buf, 16, [(200, 60), (0, 0)], nxt=64)
    put_ndp32(buf, 64, [(300, 70), (0, 0)], nxt=16)  # back to the first
    dec = NtbDecoder(ntb32=True)
    assert dec.decode(bytes(buf)) == [f1, f2] and dec.stats.ndp_loop == 1
    n = 40
    buf = raw_ntb32(4096, 16)
    for i in range(n):
        put_ndp32(buf, 16 + 32 * i, [(0, 0), (0, 0)], nxt=16 + 32 * (i + 1) if i < n - 1 else 0)
    dec = NtbDecoder(ntb32=True, max_ndps=32)
    assert dec.decode(bytes(buf)) == [] and dec.stats.too_many_ndps == 1


def test_ntb32_sequence_glitches_are_counted_without_dropping():
    dec = NtbDecoder(ntb32=True)
    enc = NtbEncoder(sequence=10, ntb32=True)
    for _ in range(2):
        enc.add(eth(60))
        assert dec.decode(enc.build())
    enc.sequence = 40
    enc.add(eth(60))
    assert dec.decode(enc.build()) == [eth(60)]
    assert dec.stats.sequence_errors == 1 and dec.stats.rx_errors == 0


@pytest.mark.parametrize("ndp", [17, 18, 19, 21, 30])
@pytest.mark.parametrize("wlen", [32, 33, 39])
def test_ntb32_decoder_takes_an_unaligned_ndp_and_any_wlength(ndp, wlen):
    """As cdc_ncm_rx_verify_ndp32: no alignment of the NDP, and wLength need not be a
    multiple of 8 (the table is the whole entries that fit)."""
    f = eth(60, 1)
    buf = raw_ntb32(512, ndp)
    buf[300:360] = f
    put_ndp32(buf, ndp, [(300, 60), (0, 0)], wlen=wlen)
    dec = NtbDecoder(ntb32=True)
    assert dec.decode(bytes(buf)) == [f] and dec.stats.rx_errors == 0


def test_ntb32_decoder_ignores_the_last_slot_as_linux_does():
    f = eth(60, 1)
    buf = raw_ntb32(104, 80)  # NDP32 header 80..96, its entry 96..104, the zero pair out
    buf[20:80] = f
    put_ndp32(buf, 80, [(20, 60)], wlen=16 + 2 * 8)
    dec = NtbDecoder(ntb32=True)
    assert dec.decode(bytes(buf)) == [f] and dec.stats.missing_terminator == 1
