"""SLIP codec: wire format, errors and recovery, bounds, chunking, linearity, sliplib interop."""

from __future__ import annotations

import pytest
import sliplib
from hypothesis import given, settings
from hypothesis import strategies as st
from netdrv_serial.codecs import CodecError, SlipDecoder, SlipEncoder, decode_stream, encode

END, ESC, ESC_END, ESC_ESC = b"\xc0", b"\xdb", b"\xdc", b"\xdd"
ALL_BYTES = bytes(range(256))


def feed_chunks(dec, data: bytes, cuts: list[int]) -> list:
    out = []
    prev = 0
    for c in sorted(set(cuts)):
        out += dec.feed(data[prev:c])
        prev = c
    out += dec.feed(data[prev:])
    return out


# --- wire format -------------------------------------------------------------


def test_escapes_and_leading_end_on_the_wire():
    enc = SlipEncoder(mtu=10)
    assert (
        enc.encode(b"a\xc0b\xdbc") == END + b"a" + ESC + ESC_END + b"b" + ESC + ESC_ESC + b"c" + END
    )
    assert (
        SlipEncoder(mtu=10, leading_end=False).encode(b"\xdb\xc0")
        == ESC + ESC_ESC + ESC + ESC_END + END
    )
    # ESC must be escaped before END, or END's escape would be escaped again.
    assert encode(b"\xc0", leading_end=False) == b"\xdb\xdc\xc0"


def test_round_trip_every_byte_value():
    frame = ALL_BYTES * 4
    enc, dec = SlipEncoder(mtu=len(frame)), SlipDecoder(mtu=len(frame))
    wire = enc.encode(frame)
    assert wire.count(END) == 2  # only the delimiters
    assert dec.feed(wire) == [frame]
    assert dec.stats.frames == 1 and dec.stats.bytes == len(frame)
    assert dec.stats.wire_bytes == len(wire) == enc.stats.wire_bytes


def test_encoder_limits_raise_codec_error():
    enc = SlipEncoder(mtu=8)
    assert enc.encode(b"x" * 8)
    with pytest.raises(CodecError, match="9-byte frame"):
        enc.encode(b"x" * 9)
    with pytest.raises(CodecError):
        enc.encode(b"")
    assert issubclass(CodecError, ValueError)
    assert enc.stats.frames == 1


def test_accepts_bytearray_and_memoryview():
    enc, dec = SlipEncoder(), SlipDecoder()
    wire = enc.encode(bytearray(b"\xc0abc"))
    assert dec.feed(memoryview(wire)) == [b"\xc0abc"]
    assert dec.feed(bytearray(wire)) == [b"\xc0abc"]
    assert all(type(f) is bytes for f in SlipDecoder().feed(bytearray(wire)))


def test_empty_frames_are_skipped_silently():
    dec = SlipDecoder()
    assert dec.feed(END * 5 + b"abc" + END * 3 + b"de" + END) == [b"abc", b"de"]
    s = dec.stats
    assert (s.frames, s.dropped, s.framing_errors, s.overruns) == (2, 0, 0, 0)


def test_frame_without_leading_end_and_partial_frames():
    dec = SlipDecoder()
    assert dec.feed(b"abc") == []
    assert dec.buffered == 3
    assert dec.feed(b"d" + END + b"ef") == [b"abcd"]
    assert dec.feed(END) == [b"ef"]
    assert dec.buffered == 0


def test_escape_split_across_chunks():
    dec = SlipDecoder()
    assert dec.feed(END + b"a" + ESC) == []
    assert dec.feed(ESC_END + b"b" + ESC) == []
    assert dec.feed(ESC_ESC + END) == [b"a\xc0b\xdb"]
    assert dec.stats.escape_errors == 0


# --- errors and recovery -----------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        b"ab" + ESC + b"x" + b"cd",  # ESC + ordinary byte
        b"ab" + ESC,  # ESC just before END
        ESC + ESC + ESC_END,  # ESC ESC
        b"a" + ESC + ESC_END + ESC,  # a good escape then a stray one
    ],
)
def test_stray_escape_drops_the_frame_and_recovers(bad):
    dec = SlipDecoder()
    good = encode(b"next \xc0 frame")
    out = dec.feed(END + bad + END + good)
    assert out == [b"next \xc0 frame"]
    s = dec.stats
    assert (s.escape_errors, s.framing_errors, s.dropped, s.frames) == (1, 1, 1, 1)


def test_overrun_is_counted_once_and_the_next_frame_is_fine():
    mtu = 50
    dec = SlipDecoder(mtu)
    assert dec.feed(encode(b"x" * mtu)) == [b"x" * mtu]  # exactly the MTU is fine
    assert dec.feed(encode(b"y" * (mtu + 1))) == []
    assert dec.stats.overruns == 1 and dec.stats.dropped == 1
    assert dec.feed(encode(b"z" * 10)) == [b"z" * 10]
    assert dec.stats.frames == 2


def test_escaped_frame_at_the_limit_is_accepted_and_one_more_is_not():
    mtu = 40
    dec = SlipDecoder(mtu)
    # Every byte escaped: 2*mtu raw bytes is the largest legal frame.
    assert dec.feed(encode(END * mtu)) == [END * mtu]
    assert dec.feed(encode(ESC * (mtu + 1))) == []
    assert dec.stats.overruns == 1
    # Byte at a time takes the streaming overrun path: same verdicts.
    dec2 = SlipDecoder(mtu)
    for b in encode(END * mtu) + encode(ESC * (mtu + 1)):
        dec2.feed(bytes((b,)))
    assert dec2.stats.as_dict() == dec.stats.as_dict()


def test_max_frame_overrides_mtu():
    dec = SlipDecoder(296, max_frame=1152)  # Linux slip.c leniency
    assert dec.feed(encode(b"q" * 1000)) == [b"q" * 1000]


def test_reset_forgets_partial_frame():
    dec = SlipDecoder()
    dec.feed(b"garbage")
    dec.reset()
    assert dec.buffered == 0
    assert dec.feed(b"ok" + END) == [b"ok"]


# --- bounded buffer ----------------------------------------------------------


@pytest.mark.parametrize("chunk", [1 << 20, 4096, 7])
def test_ten_megabytes_without_end_keep_the_buffer_bounded(chunk):
    mtu = 296
    dec = SlipDecoder(mtu)
    junk = bytes(range(256)).replace(END, b"") * (10_000_000 // 255)
    if chunk == 7:
        junk = junk[:200_000]  # same path, fewer Python calls
    high = 0
    for i in range(0, len(junk), chunk):
        assert dec.feed(junk[i : i + chunk]) == []
        high = max(high, dec.buffered)
    assert high <= 2 * mtu
    assert dec.stats.overruns == 1  # one (very long) frame
    assert dec.feed(END + encode(b"alive")) == [b"alive"]
    assert dec.stats.frames == 1


def test_one_huge_chunk_is_not_buffered():
    dec = SlipDecoder(100)
    assert dec.feed(b"a" * 5_000_000) == []
    assert dec.buffered == 0 and dec.stats.overruns == 1


# --- chunking invariance -----------------------------------------------------

frames_st = st.lists(st.binary(min_size=0, max_size=80), max_size=12)


@st.composite
def slip_streams(draw):
    """Valid frames interleaved with line noise (stray ESCs, long frames, empty frames)."""
    parts = []
    for f in draw(frames_st):
        kind = draw(st.sampled_from(["good", "good", "noise", "long", "huge", "ends"]))
        if kind == "good":
            parts.append(encode(f) if f else END)
        elif kind == "noise":
            parts.append(draw(st.binary(max_size=30)))
        elif kind == "long":  # decoded length over the limit
            parts.append(encode(b"L" * 70))
        elif kind == "huge":  # even the raw length is over twice the limit
            parts.append(encode(b"H" * draw(st.integers(129, 300))))
        else:
            parts.append(END * draw(st.integers(1, 3)))
    return b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(data=slip_streams(), cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_any_chunking_gives_the_same_frames_and_counters(data, cuts):
    whole = SlipDecoder(mtu=64)
    expect = whole.feed(data)
    split = SlipDecoder(mtu=64)
    got = feed_chunks(split, data, [c % (len(data) + 1) for c in cuts])
    assert got == expect
    assert split.stats.as_dict() == whole.stats.as_dict()
    assert split.buffered == whole.buffered
    bytewise = SlipDecoder(mtu=64)
    got = [f for i in range(len(data)) for f in bytewise.feed(data[i : i + 1])]
    assert got == expect
    assert bytewise.stats.as_dict() == whole.stats.as_dict()


@settings(max_examples=200, deadline=None)
@given(data=slip_streams(), cuts=st.lists(st.integers(0, 2000), max_size=10))
def test_drop_marks_are_in_stream_order_whatever_the_chunking(data, cuts):
    whole = SlipDecoder(mtu=64).feed_with_drops(data)
    dec = SlipDecoder(mtu=64)
    got = []
    prev = 0
    for c in sorted({c % (len(data) + 1) for c in cuts}):
        got += dec.feed_with_drops(data[prev:c])
        prev = c
    got += dec.feed_with_drops(data[prev:])
    assert got == whole
    assert [f for f in whole if f is not None] == SlipDecoder(mtu=64).feed(data)
    assert whole.count(None) == dec.stats.dropped


# --- linear time (work counting for every decoder: test_codec_linear.py) -------


def test_partial_frame_is_appended_in_place():
    dec = SlipDecoder(mtu=5000)
    buf = dec._buf
    assert isinstance(buf, bytearray)
    for i in range(3000):
        dec.feed(b"\x01")
        assert dec._buf is buf and len(buf) == i + 1  # grown in place, never rebuilt


# --- interop with sliplib --------------------------------------------------------


def _sliplib_decode(wire: bytes) -> list[bytes]:
    drv = sliplib.Driver()
    drv.receive(wire)
    out = []
    while (m := drv.get(block=False)) is not None:
        out.append(m)
    return out


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8))
def test_sliplib_decodes_our_frames(frames):
    enc = SlipEncoder(mtu=300)
    assert _sliplib_decode(b"".join(enc.encode(f) for f in frames)) == frames
    enc = SlipEncoder(mtu=300, leading_end=False)
    assert _sliplib_decode(b"".join(enc.encode(f) for f in frames)) == frames


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8))
def test_we_decode_sliplib_frames(frames):
    for leading in (False, True):
        with sliplib.use_leading_end_byte(leading):
            drv = sliplib.Driver()
        wire = b"".join(drv.send(f) for f in frames)
        assert SlipDecoder(mtu=300).feed(wire) == frames
    # sliplib's low-level encode() escapes exactly as we do.
    enc = SlipEncoder(300, leading_end=False)
    assert b"".join(sliplib.encode(f) + END for f in frames) == b"".join(map(enc.encode, frames))


def test_same_verdict_as_sliplib_on_bad_escapes():
    for packet in [b"a\xdbb", b"\xdb", b"a\xdb\xdcb", b"\xdb\xdb\xdd"]:
        ours = decode_stream(packet + END)
        try:
            theirs = [sliplib.decode(packet)]
        except sliplib.ProtocolError:
            theirs = []
        assert ours == theirs
