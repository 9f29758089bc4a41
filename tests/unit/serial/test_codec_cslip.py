"""Van Jacobson compression (RFC 1144) and the CSLIP wire form.

Packets are real IPv4/TCP packets built here with correct checksums; every
test checks that what comes out of the decompressor is byte-identical to what
went into the compressor.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netdrv_serial.codecs import (
    TYPE_COMPRESSED_TCP,
    TYPE_ERROR,
    TYPE_IP,
    TYPE_UNCOMPRESSED_TCP,
    AdaptiveMode,
    CodecError,
    SlipDecoder,
    SlipEncoder,
    VJCompressor,
    VJDecompressor,
    cslip_decode_packet,
    cslip_encode_packet,
    make_adaptive,
    make_cslip,
    wire_type,
)
from netdrv_serial.codecs.cslip import NEW_C, SPECIAL_D, SPECIAL_I, SPECIALS_MASK
from slip_helpers import inet_csum

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


# --- packet construction ------------------------------------------------------------


def ip_packet(src: bytes, dst: bytes, proto: int, payload: bytes, *, ip_id: int = 0, ttl: int = 64,
              tos: int = 0, frag: int = 0x4000, options: bytes = b"") -> bytes:  # fmt: skip
    ihl = 20 + len(options)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl // 4, tos, ihl + len(payload), ip_id, frag, ttl,
                      proto, 0, src, dst) + options  # fmt: skip
    return hdr[:10] + struct.pack("!H", inet_csum(hdr)) + hdr[12:] + payload


def tcp_packet(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int = ACK,
               win: int = 8192, data: bytes = b"", *, urp: int = 0, tcp_options: bytes = b"",
               **ip_kw) -> bytes:  # fmt: skip
    off = (20 + len(tcp_options)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4,
                      flags, win, 0, urp) + tcp_options + data  # fmt: skip
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", inet_csum(pseudo + seg)) + seg[18:]
    return ip_packet(src, dst, 6, seg, **ip_kw)


@dataclass
class Host:
    """One end of a TCP connection, sending over the link under test."""

    addr: bytes
    port: int
    peer_addr: bytes
    peer_port: int
    seq: int = 1000
    ack: int = 5000
    ip_id: int = 1
    win: int = 16384
    sent: list[bytes] = field(default_factory=list)

    def send(self, data: bytes = b"", flags: int = ACK, **kw) -> bytes:
        kw.setdefault("win", self.win)
        pkt = tcp_packet(self.addr, self.peer_addr, self.port, self.peer_port, self.seq, self.ack,
                         flags, data=data, ip_id=self.ip_id, **kw)  # fmt: skip
        self.seq = (self.seq + len(data) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        self.sent.append(pkt)
        return pkt


A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def host(sport: int = 40000, **kw) -> Host:
    return Host(A, sport, B, 80, **kw)


def round_trip(packets: list[bytes], comp: VJCompressor | None = None,
               decomp: VJDecompressor | None = None) -> list[tuple[int, bytes]]:  # fmt: skip
    """Send packets through the wire helpers; assert identity; return (type, wire) per packet."""
    comp = comp or VJCompressor()
    decomp = decomp or VJDecompressor(verify_tcp_checksum=True)
    out = []
    for pkt in packets:
        wire = cslip_encode_packet(comp, pkt)
        assert cslip_decode_packet(decomp, wire) == pkt
        out.append((wire_type(wire), wire))
    assert decomp.stats.dropped == 0
    return out


# --- classification ------------------------------------------------------------------


def test_non_tcp_fragments_and_control_segments_go_as_type_ip():
    h = host()
    udp = ip_packet(A, B, 17, b"\x00\x35\x00\x35\x00\x10\x00\x00" + b"dns!" * 2)
    frag = tcp_packet(A, B, 1, 2, 0, 0, data=b"x" * 40, frag=0x2000)  # MF set
    syn = h.send(flags=SYN)
    synack_like = h.send(flags=SYN | ACK)
    fin = h.send(flags=FIN | ACK)
    rst = h.send(flags=RST | ACK)
    no_ack = h.send(b"data", flags=PSH)
    short = ip_packet(A, B, 6, b"x" * 10)
    ipv6 = bytes([0x60]) + bytes(39)
    comp = VJCompressor()
    for pkt in [udp, frag, syn, synack_like, fin, rst, no_ack, short, ipv6]:
        assert comp.compress(pkt) == (TYPE_IP, pkt)
    assert comp.stats.compressed == comp.stats.uncompressed == 0
    round_trip([udp, frag, syn, fin, rst, no_ack, short, ipv6])


def test_bad_ip_checksum_or_length_is_not_compressed():
    h = host()
    good = h.send(b"x")
    bad_sum = good[:10] + bytes([good[10] ^ 1]) + good[11:]
    padded = h.send(b"y") + b"\0\0"  # trailing bytes beyond the IP total length
    comp = VJCompressor()
    assert comp.compress(bad_sum)[0] == TYPE_IP
    assert comp.compress(padded)[0] == TYPE_IP


def test_first_packet_is_uncompressed_with_the_slot_in_the_protocol_field():
    h = host()
    pkt = h.send(b"hello")
    comp = VJCompressor()
    ptype, out = comp.compress(pkt)
    assert ptype == TYPE_UNCOMPRESSED_TCP
    assert out[9] == 0 and out[:9] == pkt[:9] and out[10:] == pkt[10:]
    wire = cslip_encode_packet(VJCompressor(), pkt)
    assert wire[0] == 0x75 and wire[1:9] == pkt[1:9]  # version nibble 4 -> 7 (Linux slhc)
    assert wire_type(wire) == TYPE_UNCOMPRESSED_TCP


# --- steady state -------------------------------------------------------------------------


def test_bulk_transfer_compresses_to_three_bytes_of_header():
    h = host()
    pkts = [h.send(b"D" * 512) for _ in range(50)]
    res = round_trip(pkts)
    assert res[0][0] == TYPE_UNCOMPRESSED_TCP
    assert all(t == TYPE_COMPRESSED_TCP for t, _ in res[1:])
    # Change mask (SPECIAL_D) + TCP checksum: the seq delta is implied by the previous
    # length, the IP id by +1, the slot by the previous packet (the UNCOMPRESSED one).
    assert all(w[0] == 0x80 | SPECIAL_D for _, w in res[1:])
    assert all(len(w) == 3 + 512 for _, w in res[1:])
    assert sum(map(len, pkts[1:])) / sum(len(w) for _, w in res[1:]) > 1.07


def test_interactive_echo_uses_special_i():
    h = host()
    pkts = []
    for ch in b"hello world":
        h.ack += 1  # the echo of the previous keystroke arrived
        pkts.append(h.send(bytes([ch]), flags=ACK | PSH))
    res = round_trip(pkts)
    assert all(w[0] & 0x7F & SPECIALS_MASK == SPECIAL_I for _, w in res[2:])
    assert all(len(w) == 3 + 1 for _, w in res[2:])  # 40-byte header -> 3 bytes


def test_pure_acks_window_urgent_and_ip_id_deltas():
    h = host()
    pkts = [h.send()]
    for i in range(30):
        h.ack += 1460 * (1 + i % 3)  # acking received data
        if i % 4 == 0:
            h.win = (h.win + 1000 * (i - 10)) & 0xFFFF  # window moves both ways
        if i % 7 == 0:
            h.ip_id += 300  # other traffic from this host in between (2-byte delta)
        pkts.append(h.send())
    pkts.append(h.send(b"!", flags=ACK | URG | PSH, urp=1))
    pkts.append(h.send(b"!", flags=ACK | URG, urp=0))  # urgent pointer 0: long encoding
    pkts.append(h.send(b"normal"))
    res = round_trip(pkts)
    types = [t for t, _ in res]
    assert types.count(TYPE_COMPRESSED_TCP) >= 30
    assert max(len(w) for _, w in res[1:31]) <= 1 + 1 + 2 + 3 + 3 + 3  # mask, slot, sum, W, A, I


def test_seq_and_ack_wrap_around_2_32():
    h = host(seq=0xFFFFFF00, ack=0xFFFFFFF0)
    pkts = []
    for _ in range(10):
        h.ack += 100
        pkts.append(h.send(b"w" * 100))
    res = round_trip(pkts)
    assert [t for t, _ in res].count(TYPE_COMPRESSED_TCP) == 9


def test_retransmission_and_big_jumps_go_uncompressed():
    h = host()
    p1 = h.send(b"a" * 100)
    p2 = h.send(b"b" * 100)
    retrans = p2  # same packet again: nothing changed -> probably a retransmit
    h.seq += 70000  # more than 16 bits forward
    jump = h.send(b"c" * 10)
    h.seq -= 500  # backwards
    back = h.send(b"d" * 10)
    res = round_trip([p1, p2, retrans, jump, back])
    assert [t for t, _ in res] == [
        TYPE_UNCOMPRESSED_TCP,
        TYPE_COMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
    ]


def test_big_ack_jumps_and_changes_shaped_like_special_encodings_go_uncompressed():
    h = host()
    pkts = [h.send(b"x")]
    h.ack += 0x10000  # ack delta needs more than 16 bits
    pkts.append(h.send(b"x"))
    h.ack -= 10  # ack going backwards
    pkts.append(h.send(b"x"))
    pkts.append(h.send(b"x"))  # S only (data-after-data): SPECIAL_D, compressed
    # Genuine urgent + window + seq changes == the SPECIAL_I mask: must go whole.
    h.win += 1
    pkts.append(h.send(b"x", flags=ACK | URG, urp=1))
    # ... and + ack as well == the SPECIAL_D mask.
    h.win += 1
    h.ack += 1
    pkts.append(h.send(b"x", flags=ACK | URG, urp=1))
    res = round_trip(pkts)
    assert [t for t, _ in res] == [
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_COMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
    ]


def test_changed_constant_fields_and_options_force_uncompressed():
    h = host()
    base = h.send(b"x")
    ttl = h.send(b"x", ttl=17)
    tos = h.send(b"x", tos=0x10)
    opts1 = h.send(b"x", tcp_options=b"\x01\x01\x08\x0a" + b"\0\0\0\1" + b"\0\0\0\2")
    opts2 = h.send(b"x", tcp_options=b"\x01\x01\x08\x0a" + b"\0\0\0\2" + b"\0\0\0\2")
    opts3 = h.send(b"x", tcp_options=b"\x01\x01\x08\x0a" + b"\0\0\0\2" + b"\0\0\0\2")
    ipopt = h.send(b"x", options=b"\x01\x01\x01\x00")
    plain = h.send(b"x")
    ece = h.send(b"x", flags=ACK | 0x40)  # ECN echo: a flag VJ cannot carry
    urp_no_urg = h.send(b"x", flags=ACK | 0x40, urp=5)  # pointer changed without URG
    res = round_trip([base, ttl, tos, opts1, opts2, opts3, ipopt, plain, ece, urp_no_urg])
    assert [t for t, _ in res] == [
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
        TYPE_COMPRESSED_TCP,  # same options as the previous packet: compressible
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,  # options gone again
        TYPE_UNCOMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,
    ]


def test_tcp_options_dropped_is_a_header_change():
    h = host()
    ts = b"\x01\x01\x08\x0a" + b"\0\0\0\1" + b"\0\0\0\2"
    pkts = [h.send(b"x", tcp_options=ts), h.send(b"x", tcp_options=ts), h.send(b"x")]
    res = round_trip(pkts)
    assert [t for t, _ in res] == [
        TYPE_UNCOMPRESSED_TCP,
        TYPE_COMPRESSED_TCP,
        TYPE_UNCOMPRESSED_TCP,  # the TCP header got shorter
    ]


def test_no_special_encoding_after_an_urgent_segment():
    # The receiver keeps saved flags in SPECIAL_D; URG must not leak into the next packet.
    h = host()
    pkts = [
        h.send(b"a" * 10, urp=10),
        h.send(b"u" * 10, flags=ACK | URG, urp=10),
        h.send(b"a" * 10, urp=10),  # same pointer, URG clear: NEW_S alone, SPECIAL_D-shaped
    ]
    res = round_trip(pkts)
    assert res[2][0] == TYPE_COMPRESSED_TCP
    assert res[2][1][0] & SPECIALS_MASK not in (SPECIAL_D, SPECIAL_I)


def test_many_connections_share_slots_lru():
    hosts = [host(sport=50000 + i) for i in range(20)]
    comp = VJCompressor(slots=4)
    pkts = []
    for rnd in range(5):
        for h in hosts[:4] if rnd < 3 else hosts:
            pkts.append(h.send(b"z" * 20))
    res = round_trip(pkts, comp, VJDecompressor(slots=4, verify_tcp_checksum=True))
    types = [t for t, _ in res]
    # 4 connections fit in 4 slots: rounds 2 and 3 are compressed with explicit slot ids.
    assert types[4:12] == [TYPE_COMPRESSED_TCP] * 8
    assert all(w[0] & NEW_C for _, w in res[4:12])
    # Then 20 connections thrash 4 slots: after the 4 still-cached ones, every packet
    # evicts the least recently used slot and goes uncompressed.
    assert types[12:16] == [TYPE_COMPRESSED_TCP] * 4
    assert types[16:] == [TYPE_UNCOMPRESSED_TCP] * (len(types) - 16)


def test_slot_id_is_omitted_only_when_it_repeats():
    h = host()
    pkts = [h.send(b"q" * 30) for _ in range(5)]
    res = round_trip(pkts)
    assert not any(w[0] & NEW_C for _, w in res[1:])
    other = host(sport=9)
    mixed = [pkts[0], other.send(b"o"), h.send(b"q" * 30), h.send(b"q" * 30), other.send(b"o")]
    res = round_trip(mixed)
    assert [bool(w[0] & NEW_C) for _, w in res[2:]] == [True, False, True]
    res = round_trip(pkts, VJCompressor(compress_slot_id=False))
    assert all(w[0] & NEW_C for _, w in res[1:])


def test_two_directions_of_one_link():
    # Our host's data and the acks for the peer's data share one compressor.
    a = host()
    b_to_a_acks = Host(A, 22, B, 50000, seq=7, ack=9)
    pkts = []
    for i in range(40):
        pkts.append(a.send(b"data" * 30))
        b_to_a_acks.ack += 536
        if i % 2:
            pkts.append(b_to_a_acks.send())
    res = round_trip(pkts)
    assert sum(t == TYPE_COMPRESSED_TCP for t, _ in res) >= 55


# --- errors, toss and resync ----------------------------------------------------------------


def test_corrupted_compressed_packet_tosses_until_uncompressed():
    h = host()
    comp, decomp = VJCompressor(), VJDecompressor()
    pkts = [h.send(b"s" * 100, win=8000 + i) for i in range(6)]
    wires = [cslip_encode_packet(comp, p) for p in pkts]
    assert cslip_decode_packet(decomp, wires[0]) == pkts[0]
    assert cslip_decode_packet(decomp, wires[1]) == pkts[1]
    # Truncated inside the deltas: undecodable -> error, toss.
    assert cslip_decode_packet(decomp, wires[2][:4]) is None
    assert decomp.stats.framing_errors == 1 and decomp.tossing
    assert cslip_decode_packet(decomp, wires[3]) is None
    assert cslip_decode_packet(decomp, wires[4]) is None
    assert decomp.stats.tossed == 2
    # TCP retransmits the lost segment: sequence goes back -> sent uncompressed -> resync.
    h.seq = (h.seq - 400) & 0xFFFFFFFF
    retrans = h.send(b"s" * 100)
    w = cslip_encode_packet(comp, retrans)
    assert wire_type(w) == TYPE_UNCOMPRESSED_TCP
    assert cslip_decode_packet(decomp, w) == retrans and not decomp.tossing
    nxt = h.send(b"s" * 100)
    assert cslip_decode_packet(decomp, cslip_encode_packet(comp, nxt)) == nxt
    assert decomp.stats.dropped == 3


def test_lost_slip_frame_tosses_via_the_framing_layer():
    h = host()
    enc, dec = make_cslip(mtu=1500)
    pkts = [h.send(b"L" * 200) for _ in range(6)]
    wires = [enc.encode(p) for p in pkts]
    assert dec.feed(wires[0] + wires[1]) == pkts[:2]
    corrupted = wires[2][:50] + b"\xdb\x01" + wires[2][52:]  # bad escape: SLIP drops it
    assert dec.feed(corrupted + wires[3] + wires[4]) == []
    s = dec.stats
    assert s.escape_errors == 1 and s.tossed == 2
    h.seq = (h.seq - 800) & 0xFFFFFFFF
    retrans = h.send(b"L" * 200)
    assert dec.feed(enc.encode(retrans)) == [retrans]
    assert dec.stats.uncompressed == 2


def test_silently_lost_packet_is_caught_by_the_tcp_checksum_check():
    # Without a framing error the decompressor cannot know a packet vanished (the RFC
    # relies on TCP's checksum); verify_tcp_checksum makes it notice at once.
    h = host()
    comp = VJCompressor()
    wires = [cslip_encode_packet(comp, h.send(b"m" * 64)) for _ in range(4)]
    strict, lax = VJDecompressor(verify_tcp_checksum=True), VJDecompressor()
    for d in (strict, lax):
        cslip_decode_packet(d, wires[0])
        cslip_decode_packet(d, wires[1])
    # wires[2] is lost.
    assert cslip_decode_packet(strict, wires[3]) is None and strict.tossing
    bad = cslip_decode_packet(lax, wires[3])
    assert bad is not None and bad != h.sent[3]  # wrong sequence number, TCP will drop it
    assert (
        inet_csum(bytes(bad[12:20]) + b"\0\x06" + struct.pack("!H", len(bad) - 20) + bad[20:]) != 0
    )


def test_corrupted_uncompressed_packet_is_rejected_by_its_ip_checksum():
    h = host()
    comp, decomp = VJCompressor(), VJDecompressor()
    wires = [cslip_encode_packet(comp, h.send(b"c" * 20)) for _ in range(3)]
    hit = bytearray(wires[0])
    hit[8] ^= 0x40  # TTL flipped on the line
    assert cslip_decode_packet(decomp, bytes(hit)) is None
    assert decomp.stats.framing_errors == 1 and decomp.tossing
    assert cslip_decode_packet(decomp, wires[1]) is None  # no state to apply it to
    assert decomp.stats.tossed == 1


def test_uncompressed_tcp_length_is_not_checked_against_the_frame_as_in_linux():
    # slhc_remember checks that the frame holds the IP and TCP headers, not that the IP
    # total length is the frame's size: the packet goes up as it came (IP trims padding,
    # drops a packet cut short) and its header is remembered as it is.
    h = host()
    comp = VJCompressor()
    sent = [h.send(b"a" * 10), h.send(b"b" * 10), h.send(b"c" * 10)]
    wires = [cslip_encode_packet(comp, p) for p in sent]
    assert [wire_type(w) for w in wires] == [TYPE_UNCOMPRESSED_TCP] + [TYPE_COMPRESSED_TCP] * 2
    padded = VJDecompressor(verify_tcp_checksum=True)
    assert cslip_decode_packet(padded, wires[0] + b"\0\0\0") == sent[0] + b"\0\0\0"
    assert [cslip_decode_packet(padded, w) for w in wires[1:]] == sent[1:]
    short = VJDecompressor(verify_tcp_checksum=True)
    assert cslip_decode_packet(short, wires[0][:-4]) == sent[0][:-4]  # headers whole
    assert [cslip_decode_packet(short, w) for w in wires[1:]] == sent[1:]
    for d in (padded, short):
        assert d.stats.uncompressed == 1 and d.stats.compressed == 2
        assert d.stats.framing_errors == d.stats.dropped == 0 and not d.tossing


def _runts() -> dict[str, bytes]:
    """UNCOMPRESSED_TCP packets (slot 0, as VJDecompressor.uncompress takes them) that
    slhc_remember rejects, each for one reason."""
    h = host()
    pkt = bytearray(h.send(b"x" * 8))
    pkt[9] = 0  # the slot, in the protocol field
    opts = tcp_packet(A, B, 1, 2, 0, 0, data=b"x" * 8, options=b"\x01" * 8)  # IHL 7
    opts = bytearray(opts)
    opts[9] = 0
    big_doff = bytearray(pkt)
    big_doff[32] = 15 << 4  # a 60-byte TCP header (the IP checksum does not cover it)
    small_doff = bytearray(pkt)
    small_doff[32] = 4 << 4
    bad_sum = bytearray(pkt)
    bad_sum[8] ^= 1  # TTL changed, checksum not
    # (The checksum is taken with the protocol field back at 6, as slhc_remember does, so
    # any slot number leaves it right.)
    slot = bytearray(pkt)
    slot[9] = 16
    return {
        "shorter than an IP header": bytes(pkt[:19]),
        "IHL below 5": bytes([0x44]) + bytes(pkt[1:]),
        "no room for the TCP header after the IP options": bytes(opts[: 28 + 19]),
        "no room for the TCP header (20 bytes)": bytes(pkt[:39]),
        "TCP data offset below 5": bytes(small_doff),
        "no room for the TCP options": bytes(big_doff[: 20 + 59]),
        "bad IP header checksum": bytes(bad_sum),
        "slot out of range": bytes(slot),
    }


@pytest.mark.parametrize("why", list(_runts()))
def test_uncompressed_tcp_rejected_as_linux_rejects_it(why: str):
    runt = _runts()[why]
    h = host(sport=7)
    comp, d = VJCompressor(), VJDecompressor(slots=16)
    assert cslip_decode_packet(d, cslip_encode_packet(comp, h.send(b"ok"))) is not None
    assert d.uncompress(TYPE_UNCOMPRESSED_TCP, runt) is None
    # One error, one drop, and a toss (slhc_toss); not counted as a packet received.
    st = d.stats
    assert (st.framing_errors, st.dropped, st.uncompressed, st.frames) == (1, 1, 1, 1), st
    assert d.tossing
    assert cslip_decode_packet(d, cslip_encode_packet(comp, h.send(b"ok"))) is None
    assert d.stats.tossed == 1


def test_uncompressed_tcp_with_its_options_whole_is_taken():
    # The same packets as above, one byte longer where they were cut: taken.
    h = host()
    pkt = bytearray(h.send(b"x" * 8))
    pkt[9] = 0
    d = VJDecompressor()
    assert d.uncompress(TYPE_UNCOMPRESSED_TCP, bytes(pkt[:40])) is not None  # no payload
    big_doff = bytearray(pkt) + bytes(40)
    big_doff[32] = 15 << 4
    assert d.uncompress(TYPE_UNCOMPRESSED_TCP, bytes(big_doff[:80])) is not None
    assert d.stats.uncompressed == 2 and d.stats.framing_errors == 0


def test_explicit_slot_id_ends_a_toss_as_in_the_rfc():
    h1, h2 = host(sport=1), host(sport=2)
    comp, decomp = VJCompressor(), VJDecompressor()
    for p in (h1.send(b"1"), h2.send(b"2")):
        cslip_decode_packet(decomp, cslip_encode_packet(comp, p))
    decomp.toss()
    p = h1.send(b"1")  # a different slot than the last one: carries its id
    w = cslip_encode_packet(comp, p)
    assert w[0] & NEW_C
    assert cslip_decode_packet(decomp, w) == p and not decomp.tossing


def test_decompressor_rejects_garbage_without_raising():
    d = VJDecompressor(slots=4)
    assert d.uncompress(TYPE_COMPRESSED_TCP, b"\x40\x07\x00\x00") is None  # slot out of range
    assert d.uncompress(TYPE_COMPRESSED_TCP, b"\x40\x01\x00\x00") is None  # slot never set up
    assert d.uncompress(TYPE_UNCOMPRESSED_TCP, b"\x45" + bytes(39)) is None  # bad checksum etc.
    assert d.uncompress(0x33, b"whatever") is None
    assert d.uncompress(TYPE_ERROR, b"") is None and d.tossing
    assert d.uncompress(TYPE_COMPRESSED_TCP, b"\x00\x00\x00") is None  # tossed
    assert d.stats.framing_errors == 4 and d.stats.tossed == 1
    assert d.uncompress(TYPE_IP, b"\x45abc") == b"\x45abc"


def test_encode_helper_rejects_what_would_be_misread():
    comp = VJCompressor()
    with pytest.raises(CodecError):
        cslip_encode_packet(comp, b"")
    with pytest.raises(CodecError):
        cslip_encode_packet(comp, b"\x80junk")
    with pytest.raises(CodecError):
        VJCompressor(slots=0)


# --- adaptive mode ----------------------------------------------------------------------


def test_adaptive_mode_switches_on_when_the_peer_compresses():
    mode = AdaptiveMode()
    h = host()
    comp = VJCompressor()
    w1 = cslip_encode_packet(comp, h.send(b"a"))
    w2 = cslip_encode_packet(comp, h.send(b"b"))
    assert not mode.accepts(w2)  # compressed before any uncompressed: ignored (Linux)
    assert mode.observe(b"\x45" + bytes(30)) is False and not mode.compressing
    assert mode.observe(w1) is True and mode.compressing
    assert mode.observe(w1) is False
    assert mode.accepts(w2)


def test_adaptive_link_pair_against_a_cslip_peer():
    our_enc, our_dec = make_adaptive(mtu=1500)
    peer_enc, peer_dec = make_cslip(mtu=1500)
    ours, theirs = host(sport=1), Host(B, 80, A, 1)
    # We start plain: the peer sees ordinary IP packets.
    p = ours.send(b"hello")
    assert peer_dec.feed(our_enc.encode(p)) == [p]
    assert our_enc.stats.compressed == our_enc.stats.uncompressed == 0
    # The peer compresses (its first packet is UNCOMPRESSED_TCP): we switch on.
    q = [theirs.send(b"world") for _ in range(3)]
    assert our_dec.feed(b"".join(peer_enc.encode(x) for x in q)) == q
    assert our_dec.adaptive.compressing and our_enc.adaptive is our_dec.adaptive
    r = [ours.send(b"more") for _ in range(3)]
    assert peer_dec.feed(b"".join(our_enc.encode(x) for x in r)) == r
    assert our_enc.stats.compressed >= 1
    assert our_enc.stats.bytes == len(p) + sum(map(len, r))


# --- property: random flows round-trip exactly ------------------------------------------------

actions = st.lists(
    st.tuples(
        st.integers(0, 3),  # connection
        st.sampled_from(
            [
                "data",
                "ack",
                "echo",
                "win",
                "urg",
                "retrans",
                "jump",
                "ackjump",
                "ctl",
                "ecn",
                "opts",
                "ttl",
                "id",
            ]
        ),
        st.integers(0, 600),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(acts=actions, slots=st.integers(1, 5), cid=st.booleans())
def test_random_tcp_flows_round_trip_byte_for_byte(acts, slots, cid):
    hosts = [host(sport=60000 + i, seq=(i * 0x3FFFFFFF) & 0xFFFFFFFF) for i in range(4)]
    pkts = []
    for conn, act, n in acts:
        h = hosts[conn]
        if act == "data":
            pkts.append(
                h.send(bytes([n & 0xFF]) * (n % 200 + 1), flags=ACK | (PSH if n & 1 else 0))
            )
        elif act == "ack":
            h.ack += n * 7
            pkts.append(h.send())
        elif act == "echo":
            h.ack += 1
            pkts.append(h.send(b"e"))
        elif act == "win":
            h.win = (h.win + n * 97 - 20000) & 0xFFFF
            pkts.append(h.send(b"w" * (n % 3)))
        elif act == "urg":
            pkts.append(h.send(b"u" * 3, flags=ACK | URG, urp=n))
        elif act == "retrans" and h.sent:
            pkts.append(h.sent[-1])
        elif act == "jump":
            h.seq = (h.seq + n * 1000) & 0xFFFFFFFF
            pkts.append(h.send(b"j"))
        elif act == "ackjump":
            h.ack += n * 1000 - 3000
            pkts.append(h.send(b"k"))
        elif act == "ctl":
            pkts.append(h.send(flags=[SYN, FIN | ACK, RST, PSH][n % 4]))
        elif act == "opts":
            ts = b"\x01\x01\x08\x0a" + n.to_bytes(4, "big") + b"\0\0\0\7"
            pkts.append(h.send(b"o" * (n % 3), tcp_options=ts[: 4 * (n % 4)]))
        elif act == "ecn":
            pkts.append(h.send(b"n" * (n % 4), flags=ACK | (0x40, 0x80, 0xC0)[n % 3]))
        elif act == "ttl":
            pkts.append(h.send(b"t", ttl=1 + n % 255))
        elif act == "id":
            h.ip_id = (h.ip_id + n * 113) & 0xFFFF
            pkts.append(h.send(b"i" * (n % 5)))
    comp = VJCompressor(slots=slots, compress_slot_id=cid)
    round_trip(pkts, comp, VJDecompressor(slots=slots, verify_tcp_checksum=True))
    # And the same through the full CSLIP link pair, in one stream.
    enc, dec = make_cslip(mtu=1500, slots=slots, compress_slot_id=cid)
    assert dec.feed(b"".join(enc.encode(p) for p in pkts)) == pkts


def test_slip_framing_carries_compressed_packets():
    h = host()
    comp, decomp = VJCompressor(), VJDecompressor()
    enc, dec = SlipEncoder(mtu=1500), SlipDecoder(mtu=1500)
    pkts = [h.send(bytes(range(256))) for _ in range(5)]
    wire = b"".join(enc.encode(cslip_encode_packet(comp, p)) for p in pkts)
    assert [cslip_decode_packet(decomp, f) for f in dec.feed(wire)] == pkts
