"""The MODES registry: IP packets through every line mode, counters, limits, chunking."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netdrv_serial.codecs import (
    CMD_TXDELAY,
    DEFAULT_MTUS,
    MODES,
    CodecError,
    CodecStats,
    KissEncoder,
    PacketDecoder,
    PacketEncoder,
    make_kiss,
)


def ipv4_udp(payload: bytes, ident: int = 1) -> bytes:
    # Checksums do not matter to the framing modes; the CSLIP tests build exact ones.
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), ident, 0, 64, 17, 0,
                      bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))  # fmt: skip
    return hdr + struct.pack("!HHHH", 1234, 5678, 8 + len(payload), 0) + payload


PACKETS = [ipv4_udp(bytes(range(256))[: 10 * i] + b"\xc0\xdb\x16\x16", i) for i in range(20)]


def test_registry_names_and_defaults():
    assert set(MODES) == {"slip", "cslip", "adaptive", "plip", "kiss"}
    assert set(DEFAULT_MTUS) == set(MODES)
    assert DEFAULT_MTUS["slip"] == 296


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_carries_ip_packets(mode):
    enc, dec = MODES[mode](mtu=1500)
    assert isinstance(enc, PacketEncoder) and isinstance(dec, PacketDecoder)
    wire = b"".join(enc.encode(p) for p in PACKETS)
    assert dec.feed(wire) == PACKETS
    es, ds = enc.stats, dec.stats
    assert isinstance(es, CodecStats) and isinstance(ds, CodecStats)
    assert es.frames == ds.frames == len(PACKETS)
    assert es.bytes == ds.bytes == sum(map(len, PACKETS))
    assert es.wire_bytes == ds.wire_bytes == len(wire)
    assert ds.dropped == 0


@pytest.mark.parametrize("mode", sorted(MODES))
def test_encoders_take_memoryviews_and_bytearrays(mode):
    # The link driver hands over skb.view(), a memoryview.
    (e1, _), (e2, _), (e3, _) = (MODES[mode](mtu=1500) for _ in range(3))
    for p in PACKETS[:5]:
        wire, w2, w3 = e1.encode(p), e2.encode(memoryview(p)), e3.encode(bytearray(p))
        assert w2 == wire == w3
        assert type(w2) is bytes and type(w3) is bytes


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_enforces_the_mtu_and_recovers_from_noise(mode):
    enc, dec = MODES[mode](mtu=200)
    with pytest.raises(CodecError):
        enc.encode(ipv4_udp(b"x" * 200))
    with pytest.raises(CodecError):
        enc.encode(b"")
    assert enc.stats.frames == 0
    noise = b"\xc0\xdb\x16\x16\xff\xff\x01garbage" + bytes(range(256))
    dec.feed(noise)
    # A frame of noise may still be open; a second packet always comes through.
    got = dec.feed(enc.encode(PACKETS[1]) + enc.encode(PACKETS[2]))
    assert got[-1] == PACKETS[2]
    dec.reset()
    assert dec.feed(enc.encode(PACKETS[3])) == [PACKETS[3]]


@pytest.mark.parametrize("mode", sorted(MODES))
@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_every_mode_is_chunking_invariant(mode, cuts):
    enc, dec = MODES[mode](mtu=1500)
    wire = b"\x16\xc0junk" + b"".join(enc.encode(p) for p in PACKETS)
    whole = MODES[mode](mtu=1500)[1]
    expect = whole.feed(wire)
    got, prev = [], 0
    for c in sorted({c % (len(wire) + 1) for c in cuts}):
        got += dec.feed(wire[prev:c])
        prev = c
    got += dec.feed(wire[prev:])
    assert got == expect
    assert dec.stats.as_dict() == whole.stats.as_dict()


def test_kiss_mode_ignores_commands_and_other_ports():
    enc, dec = make_kiss(mtu=1500, port=2)
    raw = KissEncoder(mtu=1500)
    wire = (
        raw.encode_command(CMD_TXDELAY, 30, port=2)
        + enc.encode(PACKETS[0])
        + raw.encode(PACKETS[1], port=0)  # another port
        + raw.encode(b"", port=2)  # empty data frame
        + enc.encode(PACKETS[2])
    )
    assert dec.feed(wire) == [PACKETS[0], PACKETS[2]]
    s = dec.stats
    assert (s.frames, s.commands, s.dropped) == (2, 1, 2)
    assert s.bytes == len(PACKETS[0]) + len(PACKETS[2])


def test_cslip_mode_rejects_non_ip():
    enc, _ = MODES["cslip"]()
    with pytest.raises(CodecError, match="IP packets"):
        enc.encode(b"\x81abc")


def test_stacked_stats_are_snapshots():
    enc, dec = MODES["cslip"]()
    before = dec.stats
    dec.feed(enc.encode(PACKETS[0]))
    assert before.frames == 0 and dec.stats.frames == 1
