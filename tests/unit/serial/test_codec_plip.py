"""PLIP-like serial framing: wire format, checksum/length errors, resync, bounds, chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netdrv_serial.codecs import SYNC, CodecError, PlipDecoder, PlipEncoder
from netdrv_serial.codecs.plip import PLIP_OVERHEAD, checksum


def accounted(dec: PlipDecoder, frames: list[bytes]) -> int:
    """wire_bytes must split exactly into delivered frames, garbage and buffered bytes."""
    return sum(len(f) + PLIP_OVERHEAD for f in frames) + dec.stats.garbage_bytes + dec.buffered


def test_wire_format():
    assert SYNC == b"\x16\x16"
    wire = PlipEncoder().encode(b"\x01\x02\xff")
    assert wire == b"\x16\x16" + b"\x03\x00" + b"\x01\x02\xff" + bytes(((1 + 2 + 255) & 0xFF,))
    assert checksum(b"\xff\xff") == 0xFE
    big = PlipEncoder(max_frame=0xFFFF).encode(b"a" * 0x1234)
    assert big[2:4] == b"\x34\x12"  # little-endian length as in plip.c


def test_round_trip_every_byte_value_including_sync_bytes():
    enc, dec = PlipEncoder(), PlipDecoder()
    frames = [bytes(range(256)), SYNC * 10, b"\x16", b"\x00\x16\x16\x05\x00"]
    wire = b"".join(enc.encode(f) for f in frames)
    assert dec.feed(wire) == frames
    assert dec.stats.frames == 4 and dec.stats.garbage_bytes == 0
    assert dec.stats.wire_bytes == accounted(dec, frames)


def test_encoder_limits():
    with pytest.raises(CodecError):
        PlipEncoder(max_frame=10).encode(b"x" * 11)
    with pytest.raises(CodecError):
        PlipEncoder().encode(b"")
    with pytest.raises(CodecError):
        PlipEncoder(max_frame=70000)


def test_checksum_error_is_counted_and_the_next_frame_is_delivered():
    enc, dec = PlipEncoder(), PlipDecoder()
    bad = bytearray(enc.encode(b"hello world"))
    bad[7] ^= 0x01
    out = dec.feed(bytes(bad) + enc.encode(b"next"))
    assert out == [b"next"]
    s = dec.stats
    assert (s.checksum_errors, s.dropped, s.frames) == (1, 1, 1)
    assert s.wire_bytes == accounted(dec, out)


@pytest.mark.parametrize("length", [b"\x00\x00", b"\xff\xff"])
def test_impossible_length_resyncs(length):
    enc, dec = PlipEncoder(), PlipDecoder(max_frame=1500)
    out = dec.feed(SYNC + length + b"junk" + enc.encode(b"after"))
    assert out == [b"after"]
    assert dec.stats.framing_errors == 1
    assert dec.stats.wire_bytes == accounted(dec, out)


def test_corrupted_length_does_not_swallow_the_following_frames():
    # The length claims 1000 bytes; the good frames inside that window are still
    # found, because the hunt resumes one byte after the rejected sync.
    enc, dec = PlipEncoder(), PlipDecoder()
    good = [f"frame {i}".encode() * 5 for i in range(40)]
    wire = SYNC + (1000).to_bytes(2, "little") + b"xx" + b"".join(enc.encode(f) for f in good)
    assert len(wire) > 1005
    out = dec.feed(wire)
    assert out == good
    assert dec.stats.checksum_errors == 1


def test_lost_byte_recovery():
    # A UART overrun loses one byte: that frame is gone, the next ones are not.
    enc, dec = PlipEncoder(), PlipDecoder()
    a = enc.encode(b"A" * 30)
    wire = a[:10] + a[11:] + enc.encode(b"B" * 30) + enc.encode(b"C" * 30)
    out = dec.feed(wire)
    assert out[-2:] == [b"B" * 30, b"C" * 30]
    assert dec.stats.dropped >= 1
    assert dec.stats.wire_bytes == accounted(dec, out)


def test_garbage_between_frames_is_counted():
    enc, dec = PlipEncoder(), PlipDecoder()
    out = dec.feed(b"noise" + enc.encode(b"one") + b"\x16x" + enc.encode(b"two") + b"\x16")
    assert out == [b"one", b"two"]
    assert dec.stats.garbage_bytes == 5 + 2
    assert dec.buffered == 1  # a trailing lone SYN may start the next frame
    # Here it does not: SYN + the next frame's sync reads as a 1302-byte length, so
    # "three" waits until that candidate fails its checksum, then is found.
    three = enc.encode(b"three")
    assert dec.feed(three) == []
    pads = [b"pad" * 100] * 5
    out2 = dec.feed(b"".join(enc.encode(p) for p in pads))
    assert out2 == [b"three", *pads]
    assert dec.stats.checksum_errors == 1
    assert dec.stats.wire_bytes == accounted(dec, [*out, *out2])


def test_bounded_buffer_with_garbage_and_with_a_huge_claimed_length():
    dec = PlipDecoder(max_frame=1500)
    for _ in range(100):
        dec.feed(bytes(range(256)) * 400)  # ~10 MB in total, with lone SYN bytes
        assert dec.buffered <= 1 + 4
    dec2 = PlipDecoder(max_frame=1500)
    dec2.feed(SYNC + (1500).to_bytes(2, "little"))
    for _ in range(1000):
        dec2.feed(b"\x01" * 10)
        assert dec2.buffered <= 1500 + PLIP_OVERHEAD
    assert dec2.stats.checksum_errors + dec2.stats.framing_errors >= 1


@st.composite
def plip_streams(draw):
    enc = PlipEncoder(max_frame=64)
    parts = []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["good", "good", "noise", "badsum", "sync"]))
        if kind == "good":
            parts.append(enc.encode(draw(st.binary(min_size=1, max_size=64))))
        elif kind == "noise":
            parts.append(draw(st.binary(max_size=20)))
        elif kind == "badsum":
            w = bytearray(enc.encode(draw(st.binary(min_size=1, max_size=64))))
            w[-1] ^= 0xFF
            parts.append(bytes(w))
        else:
            parts.append(SYNC + draw(st.binary(max_size=3)))
    return b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(data=plip_streams(), cuts=st.lists(st.integers(0, 2000), max_size=15))
def test_any_chunking_gives_the_same_frames_and_counters(data, cuts):
    whole = PlipDecoder(max_frame=64)
    expect = whole.feed(data)
    assert whole.stats.wire_bytes == accounted(whole, expect)
    split = PlipDecoder(max_frame=64)
    got, prev = [], 0
    for c in sorted({c % (len(data) + 1) for c in cuts}):
        got += split.feed(data[prev:c])
        prev = c
    got += split.feed(data[prev:])
    assert got == expect
    assert split.stats.as_dict() == whole.stats.as_dict()
    bytewise = PlipDecoder(max_frame=64)
    got = [f for i in range(len(data)) for f in bytewise.feed(data[i : i + 1])]
    assert got == expect
    assert bytewise.stats.as_dict() == whole.stats.as_dict()
