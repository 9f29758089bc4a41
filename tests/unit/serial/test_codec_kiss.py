"""KISS codec: command bytes, escaping, parameter commands, errors, bounds, kiss3 interop."""

from __future__ import annotations

import kiss
import kiss.util
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netdrv_serial.codecs import (
    CMD_DATA,
    CMD_FULLDUPLEX,
    CMD_P,
    CMD_RETURN,
    CMD_SETHARDWARE,
    CMD_SLOTTIME,
    CMD_TXDELAY,
    CMD_TXTAIL,
    CodecError,
    KissDecoder,
    KissEncoder,
    KissFrame,
)

FEND, FESC, TFEND, TFESC = b"\xc0", b"\xdb", b"\xdc", b"\xdd"


def test_command_codes_are_the_kiss_ones():
    assert list(range(7)) == [
        CMD_DATA,
        CMD_TXDELAY,
        CMD_P,
        CMD_SLOTTIME,
        CMD_TXTAIL,
        CMD_FULLDUPLEX,
        CMD_SETHARDWARE,
    ]
    assert CMD_RETURN == 0xFF


def test_data_frame_on_the_wire():
    enc = KissEncoder(mtu=16)
    assert enc.encode(b"hi\xc0\xdb") == FEND + b"\x00hi" + FESC + TFEND + FESC + TFESC + FEND
    assert enc.encode(b"x", port=3) == FEND + b"\x30x" + FEND
    assert KissEncoder(leading_fend=False).encode(b"x") == b"\x00x" + FEND


def test_command_byte_is_escaped_when_it_is_special():
    enc, dec = KissEncoder(), KissDecoder()
    wire = enc.encode(b"p12", port=12)  # 12 << 4 == 0xC0 == FEND
    assert wire == FEND + FESC + TFEND + b"p12" + FEND
    wire2 = enc.encode(b"", port=13, cmd=11)  # 0xDB == FESC
    assert wire2 == FEND + FESC + TFESC + FEND
    assert dec.feed(wire + wire2) == [KissFrame(12, 0, b"p12"), KissFrame(13, 11, b"")]


def test_parameter_commands():
    enc = KissEncoder()
    assert enc.encode_command(CMD_TXDELAY, 50) == FEND + b"\x01\x32" + FEND
    assert enc.encode_command(CMD_P, 63, port=1) == FEND + b"\x12\x3f" + FEND
    assert (
        enc.encode_command(CMD_SETHARDWARE, b"\xc0\x01")
        == FEND + b"\x06" + FESC + TFEND + b"\x01" + FEND
    )
    assert enc.encode_command(CMD_RETURN, port=5) == FEND + b"\xff" + FEND
    dec = KissDecoder()
    frames = dec.feed(
        enc.encode_command(CMD_SLOTTIME, 10)
        + enc.encode(b"data")
        + enc.encode_command(CMD_FULLDUPLEX, 1, port=2)
        + enc.encode_command(CMD_RETURN)
    )
    assert frames == [
        KissFrame(0, CMD_SLOTTIME, b"\x0a"),
        KissFrame(0, CMD_DATA, b"data"),
        KissFrame(2, CMD_FULLDUPLEX, b"\x01"),
        KissFrame(0, CMD_RETURN, b""),
    ]
    assert dec.stats.frames == 4 and dec.stats.commands == 3
    assert dec.stats.bytes == 4 + 1 + 1  # payloads only, not command bytes


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda e: e.encode(b"x", port=16), "port"),
        (lambda e: e.encode(b"x", cmd=16), "command"),
        (lambda e: e.encode_command(CMD_DATA, 1), "parameter"),
        (lambda e: e.encode_command(CMD_TXDELAY, 256), "0..255"),
        (lambda e: e.encode(b"x" * 9), "9-byte"),
        (lambda e: e.encode(b"x", port=15, cmd=15), "RETURN"),
    ],
)
def test_encoder_rejects_bad_requests(call, match):
    with pytest.raises(CodecError, match=match):
        call(KissEncoder(mtu=8))


def test_round_trip_every_byte_value_on_every_port():
    enc, dec = KissEncoder(mtu=256), KissDecoder(mtu=256)
    data = bytes(range(256))
    wire = b"".join(enc.encode(data, port=p) for p in range(16))
    assert dec.feed(wire) == [KissFrame(p, 0, data) for p in range(16)]


def test_bad_escape_and_overrun_are_counted_and_the_next_frame_survives():
    dec = KissDecoder(mtu=10)
    good = KissEncoder(mtu=10).encode(b"ok")
    wire = FEND + b"\x00ab" + FESC + b"Q" + FEND + good + FEND + b"\x00" + b"z" * 11 + FEND + good
    assert dec.feed(wire) == [KissFrame(0, 0, b"ok")] * 2
    s = dec.stats
    assert (s.escape_errors, s.overruns, s.dropped, s.frames) == (1, 1, 2, 2)
    # Exactly the MTU of data plus the command byte is fine.
    assert dec.feed(FEND + b"\x00" + b"m" * 10 + FEND) == [KissFrame(0, 0, b"m" * 10)]


def test_byte_at_a_time_matches_whole_buffer_errors_and_counters_included():
    # feed() takes its own inline path for chunks without FEND (a serial read of one
    # byte): it must buffer, bound and count exactly as the whole-buffer path does.
    good = KissEncoder(mtu=10).encode(b"ok")
    wire = FEND + b"\x00ab" + FESC + b"Q" + FEND + good + FEND + b"\x00" + b"z" * 25 + FEND + good
    whole, single = KissDecoder(mtu=10), KissDecoder(mtu=10)
    expect = whole.feed(wire)
    got = [f for i in range(len(wire)) for f in single.feed(memoryview(wire)[i : i + 1])]
    assert got == expect == [KissFrame(0, 0, b"ok")] * 2
    assert single.stats.as_dict() == whole.stats.as_dict()
    assert single.stats.overruns == 1 and single.stats.wire_bytes == len(wire)


def test_buffer_bounded_without_fend():
    dec = KissDecoder(mtu=256)
    for _ in range(200):
        dec.feed(b"\x00" * 50_000)
    assert dec.buffered <= 2 * 257
    assert dec.stats.overruns == 1
    assert dec.feed(FEND + FEND + b"\x00hi" + FEND) == [KissFrame(0, 0, b"hi")]


@settings(max_examples=200, deadline=None)
@given(
    frames=st.lists(
        st.tuples(st.integers(0, 15), st.integers(0, 15), st.binary(max_size=40)).filter(
            lambda t: t[:2] != (15, 15)
        ),
        max_size=10,
    ),
    noise=st.binary(max_size=40),
    cuts=st.lists(st.integers(0, 1000), max_size=12),
)
def test_chunking_invariance(frames, noise, cuts):
    enc = KissEncoder(mtu=32)
    wire = noise + b"".join(enc.encode(d[:32], port=p, cmd=c) for p, c, d in frames)
    whole = KissDecoder(mtu=32)
    expect = whole.feed(wire)
    if frames:
        assert expect[-len(frames) :] == [KissFrame(p, c, d[:32]) for p, c, d in frames]
    split = KissDecoder(mtu=32)
    got, prev = [], 0
    for c in sorted({c % (len(wire) + 1) for c in cuts}):
        got += split.feed(wire[prev:c])
        prev = c
    got += split.feed(wire[prev:])
    assert got == expect
    assert split.stats.as_dict() == whole.stats.as_dict()


# --- interop with kiss3 ------------------------------------------------------------
# kiss3 exposes a stateful deframer, kiss.KISSDecode(strip_df_start=False).update(bytes),
# yielding the unescaped frame *including* the command byte, and the encoder
# KISSProtocol.write(frame, command) that writes FEND cmd escaped(frame) FEND to a transport.


class _Transport:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> None:
        self.data += b


def _kiss3_decode(wire: bytes) -> list[bytes]:
    return list(kiss.KISSDecode(strip_df_start=False).update(wire))


payloads = st.binary(min_size=1, max_size=200)


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(st.tuples(st.integers(0, 14), payloads), min_size=1, max_size=8))
def test_kiss3_decodes_our_frames(frames):
    # (port 15 is avoided: kiss3 strips a leading 0xF0 byte as an NMEA header.)
    enc = KissEncoder(mtu=200)
    wire = b"".join(enc.encode(d, port=p) for p, d in frames)
    assert _kiss3_decode(wire) == [bytes(((p << 4),)) + d for p, d in frames]


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(payloads, min_size=1, max_size=8))
def test_we_decode_kiss3_frames(frames):
    proto = kiss.KISSProtocol(transport=_Transport())
    for f in frames:
        proto.write(f)
    proto.write(b"\x20", command=kiss.Command.TX_DELAY)
    wire = bytes(proto.transport.data)
    assert KissDecoder(mtu=200).feed(wire) == [KissFrame(0, 0, f) for f in frames] + [
        KissFrame(0, CMD_TXDELAY, b"\x20")
    ]
    # kiss3's low-level escaping matches ours byte for byte.
    assert FEND + b"\x00" + kiss.util.escape_special_codes(frames[0]) + FEND == KissEncoder(
        mtu=200
    ).encode(frames[0])


# --- built on SLIP's frame assembly, not on its internals ------------------------


def test_no_codec_reads_another_objects_private_attributes():
    # KissDecoder used to read and drive SlipDecoder's buffer, discard flag and limit from
    # outside: a change inside SLIP would have broken KISS silently.  It now subclasses
    # SlipFramer, whose protected API is its own state (self._...).
    import ast
    from pathlib import Path

    from netdrv_serial import codecs

    reaches = []
    for path in sorted(Path(codecs.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                reaches.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    assert not reaches


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([FEND, FESC, TFEND, TFESC, b"\x00", b"\x10", b"\xff", b"x" * 7])
    ).map(b"".join),
    mtu=st.integers(1, 12),
)
def test_kiss_assembles_frames_exactly_as_slip_does(data, mtu):
    # KISS inlines the byte-at-a-time path SlipDecoder.feed has: the two must not drift.
    from netdrv_serial.codecs import SlipDecoder

    slip = SlipDecoder(mtu, max_frame=mtu + 1)
    raws = slip.feed(data)
    for chunking in (len(data) or 1, 1, 3):
        dec = KissDecoder(mtu)
        got = []
        for i in range(0, len(data), chunking):
            got += dec.feed(data[i : i + chunking])
        assert [bytes((f.port << 4 | f.command,)) + f.data for f in got] == raws
        assert dec.buffered == slip.buffered
        for name in ("frames", "wire_bytes", "overruns", "escape_errors", "dropped"):
            assert getattr(dec.stats, name) == getattr(slip.stats, name), name
