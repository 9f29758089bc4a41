"""AX88179 transmit offloads, as Linux's ax88179_178a declares them: checksum offload and TSO.

The simulated chip does what the silicon does with what the driver hands it — writes the
TCP/UDP checksums of every frame its AX_TXCOE_CTL enables, cuts a record whose tx_hdr2
carries an MSS into segments — so what comes out on the simulated wire must be valid
frames, checked here independently (netdrv_core's checksum helpers over hand-parsed
headers).  With ``ethtool -K … tso off`` (or ``tx off``) the core does the same work in
software, and the wire must carry the very same bytes.
"""

from __future__ import annotations

import struct

import pytest
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.core import TxFrame
from usbnet_helpers import PEER, accounted, frame, linux_tx_bytes, settle_tx, up

from netdrv_core import (
    CHECKSUM_PARTIAL,
    NETIF_F_TSO_MANGLEID,
    SKB_GSO_TCP_FIXEDID,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SkBuff,
)
from netdrv_core.checksum import csum_fold, csum_partial, csum_tcpudp_nofold, ip_fast_csum
from netdrv_core.ethtool import ethtool_request

SRC4, DST4 = bytes([198, 18, 7, 1]), bytes([198, 18, 7, 2])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000000000000000000002")
TCP, UDP = 6, 17
FIN, PSH, ACK, CWR = 0x01, 0x08, 0x10, 0x80
MSS = 1448
HEADROOM = 16  # where MemoryStack.send puts the frame in the skb's buffer (csum_start is there)


def ip_frame(src_mac: bytes, proto: int, payload: bytes, *, ipv6: bool = False,
             seq: int = 1000, flags: int = ACK | PSH, ip_id: int = 0x1234,
             partial: bool = True, vlan: bool = False,
             hop_by_hop: bool = False) -> tuple[bytes, int, int]:  # fmt: skip
    """An Ethernet frame of TCP or UDP over IPv4/IPv6 to PEER: (frame, L4 offset, checksum
    field's offset in the L4 header).  ``partial``: the checksum field holds the pseudo-header
    sum, as Linux leaves it for CHECKSUM_PARTIAL; else the finished checksum.  ``vlan``: an
    802.1Q tag; ``hop_by_hop``: an IPv6 hop-by-hop options header before the TCP/UDP one."""
    if proto == TCP:
        l4 = bytearray(struct.pack("!HHIIBBHHH", 40000, 5201, seq, 7, 5 << 4, flags, 512, 0, 0))
        off = 16
    else:
        l4 = bytearray(struct.pack("!HHHH", 40000, 5201, 8 + len(payload), 0))
        off = 6
    l4 += payload
    tag = b"\x81\x00\x00\x07" if vlan else b""
    if ipv6:
        ext = bytes([proto, 0, 1, 4, 0, 0, 0, 0]) if hop_by_hop else b""  # PadN
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(ext) + len(l4), 0 if ext else proto, 64,
                         SRC6, DST6) + ext  # fmt: skip
        pseudo = csum_partial(SRC6 + DST6) + len(l4) + proto
        eth = PEER + src_mac + tag + b"\x86\xdd"
    else:
        iph = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ip_id, 0x4000, 64,
                                    proto, 0, SRC4, DST4))  # fmt: skip
        iph[10:12] = csum_fold(csum_partial(iph)).to_bytes(2, "big")
        ip = bytes(iph)
        pseudo = csum_tcpudp_nofold(SRC4, DST4, len(l4), proto)
        eth = PEER + src_mac + tag + b"\x08\x00"
    if partial:
        l4[off : off + 2] = (~csum_fold(pseudo) & 0xFFFF).to_bytes(2, "big")
    else:
        l4[off : off + 2] = (csum_fold(csum_partial(l4, pseudo)) or 0xFFFF).to_bytes(2, "big")
    return eth + ip + bytes(l4), len(eth) + len(ip), off


def parse(f: bytes) -> dict:
    """The headers of a TCP/UDP frame on the wire, its checksums verified."""
    nh = 18 if f[12:14] == b"\x81\x00" else 14
    if f[nh - 2 : nh] == b"\x08\x00":
        ihl = (f[nh] & 0x0F) * 4
        assert ip_fast_csum(f[nh : nh + ihl]) == 0, "IPv4 header checksum"
        tot, ip_id, proto = struct.unpack_from("!H", f, nh + 2)[0], f[nh + 4 : nh + 6], f[nh + 9]
        ip_id = int.from_bytes(ip_id, "big")
        l4, end = nh + ihl, nh + tot
        pseudo = csum_tcpudp_nofold(f[nh + 12 : nh + 16], f[nh + 16 : nh + 20], end - l4, proto)
    else:
        assert f[nh - 2 : nh] == b"\x86\xdd"
        plen, proto, ip_id = struct.unpack_from("!H", f, nh + 4)[0], f[nh + 6], None
        l4, end = nh + 40, nh + 40 + plen
        if proto == 0:  # hop-by-hop options
            proto, l4 = f[l4], l4 + (f[l4 + 1] + 1) * 8
        pseudo = csum_partial(f[nh + 8 : nh + 40]) + (end - l4) + proto
    assert end == len(f), "IP length = the frame's"
    assert csum_fold(csum_partial(f[l4:end], pseudo)) == 0, "TCP/UDP checksum"
    out = {"proto": proto, "ip_id": ip_id, "len": end - 14}
    if proto == TCP:
        doff = (f[l4 + 12] >> 4) * 4
        out.update(seq=struct.unpack_from("!I", f, l4 + 4)[0], flags=f[l4 + 13],
                   payload=f[l4 + doff : end])  # fmt: skip
    else:
        out["payload"] = f[l4 + 8 : end]
    return out


def send(host, dev, f: bytes, l4: int, off: int, **meta: int) -> None:
    proto = int.from_bytes(f[12:14], "big")  # 0x8100 for a tagged frame, as Linux has it
    host.attachment.send(dev, f, ip_summed=CHECKSUM_PARTIAL, csum_start=HEADROOM + l4,
                         csum_offset=off, protocol=proto, **meta)  # fmt: skip


@pytest.fixture
def ax179(host, usbnet):
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    up(host, dev)
    return drv.sim_model, dev


def test_features_are_linuxs_and_ethtool_k_shows_them(host, ax179):
    from netdrv_core.cli import _features_text

    m, dev = ax179
    want = {"tx-scatter-gather", "tx-checksum-ipv4", "tx-checksum-ipv6", "rx-checksum",
            "tx-tcp-segmentation"}  # fmt: skip
    feats, _ = ethtool_request(host, dev, "features")
    f = feats["features"]
    soft = {"tx-generic-segmentation", "rx-gro"}  # every device's (register_netdevice)
    assert {n for n, s in f.items() if s["active"]} == want | soft
    assert all(not f[n]["fixed"] for n in want)  # Linux: hw_features |= features
    assert f["tx-tcp6-segmentation"] == {"active": False, "fixed": True, "requested": False}
    # register_netdevice(): with TSO changeable, so is IPv4 ID mangling (off, as in Linux).
    assert f["tx-tcp-mangleid-segmentation"] == {"active": False, "fixed": False,
                                                 "requested": False}  # fmt: skip
    assert m.regs[ax.AX_TXCOE_CTL] == m.regs[ax.AX_RXCOE_CTL] == 0x67
    text = _features_text(dev.name, f)
    assert "tx-checksumming: on\n\ttx-checksum-ipv4: on\n\ttx-checksum-ip-generic: off [fixed]" \
           "\n\ttx-checksum-ipv6: on" in text  # fmt: skip
    assert "tcp-segmentation-offload: on\n\ttx-tcp-segmentation: on" in text


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("proto", [UDP, TCP], ids=["udp", "tcp"])
def test_checksum_partial_frames_leave_with_their_checksum(host, ax179, proto, ipv6):
    """The driver hands the chip CHECKSUM_PARTIAL frames as they are; the chip writes the
    checksum: on the wire it verifies, and nothing else changed."""
    m, dev = ax179
    sent = []
    for i, size in enumerate((1, 100, 777, 1400)):
        f, l4, off = ip_frame(dev.dev_addr, proto, bytes([i]) * size, ipv6=ipv6)
        sent.append(f)
        send(host, dev, f, l4, off)
    assert settle_tx(host, dev)
    wire = m.take_wire_tx()
    assert len(wire) == len(sent)
    for w, f in zip(wire, sent, strict=True):
        p = parse(w)
        assert p["proto"] == proto and len(w) == len(f)
        at = (54 if ipv6 else 34) + (16 if proto == TCP else 6)
        assert w[:at] + w[at + 2 :] == f[:at] + f[at + 2 :], "only the checksum field changed"
        assert w != f, "the field held the pseudo-header sum, the wire the checksum"
    assert m.tx_offload.stats.csum_frames == len(sent)
    assert dev.stats.tx_packets == len(sent) and accounted(dev)


def test_with_tx_checksumming_off_the_core_finishes_them(host, ax179):
    """ethtool -K tx off: the chip's engines are switched off (AX_TXCOE_CTL keeps the IPv4
    header bit, as Linux's ax88179_set_features leaves it), TSO goes with it, and the core
    finishes each checksum before the driver sees the frame."""
    m, dev = ax179
    _, changed = ethtool_request(host, dev, "features", {"tx": False})
    assert changed
    assert not dev.features & (1 << 16), "TSO needs checksum offload"
    assert settle_tx(host, dev)
    assert host.loop.run_until(lambda: m.regs[ax.AX_TXCOE_CTL] == ax.AX_TXCOE_IP, 2)
    frames = [ip_frame(dev.dev_addr, p, b"x" * 300, ipv6=v6) for p in (TCP, UDP)
              for v6 in (False, True)]  # fmt: skip
    for f, l4, off in frames:
        send(host, dev, f, l4, off)
    assert settle_tx(host, dev)
    wire = m.take_wire_tx()
    assert [parse(w)["proto"] for w in wire] == [TCP, TCP, UDP, UDP]
    assert m.tx_offload.stats.csum_frames == 0, "the chip computed none"
    ethtool_request(host, dev, "features", {"tx": True, "rx": False})
    want = 0x67
    assert host.loop.run_until(lambda: m.regs[ax.AX_TXCOE_CTL] == want
                               and m.regs[ax.AX_RXCOE_CTL] == 0, 2)  # fmt: skip
    assert dev.features & (1 << 16), "TSO is back with checksumming"


def _superframe(dev, payload_len: int, *, ipv6: bool = False, flags: int = ACK | PSH | FIN):
    payload = bytes((k * 7 + k // 251) & 0xFF for k in range(payload_len))
    f, l4, off = ip_frame(dev.dev_addr, TCP, payload, ipv6=ipv6, seq=0xFFFFF000, flags=flags,
                          ip_id=0xFFF0)  # fmt: skip
    return f, l4, off, payload


def _check_segments(wire: list[bytes], payload: bytes, *, first_flags: int, ipv6=False,
                    mss: int = MSS, fixed_id: bool = False):  # fmt: skip
    n = -(-len(payload) // mss)
    assert len(wire) == n
    got = b""
    for i, w in enumerate(wire):
        p = parse(w)
        assert len(p["payload"]) == (mss if i < n - 1 else len(payload) - (n - 1) * mss)
        assert p["seq"] == (0xFFFFF000 + i * mss) & 0xFFFFFFFF, "sequence numbers wrap"
        if not ipv6:
            assert p["ip_id"] == (0xFFF0 if fixed_id else (0xFFF0 + i) & 0xFFFF)
        want = first_flags if i == n - 1 else first_flags & ~(FIN | PSH)
        assert p["flags"] == (want if i == 0 else want & ~CWR)
        assert len(w) <= 1514
        got += p["payload"]
    assert got == payload


@pytest.mark.parametrize("size", [16383 - 54, 65535 - 40], ids=["16k-tso", "64k"])
def test_a_gso_super_frame_arrives_as_mss_segments(host, ax179, size):
    """A TCP super-frame leaves as MSS-sized, valid segments.  Below gso_max_size (16 KiB,
    Linux's netif_set_gso_max_size) the chip cuts it (TSO, its MSS in tx_hdr2): one packet
    handed to start_xmit, one tx_packet.  The core cuts a 64 KiB one in software first, as
    Linux's gso_features_check has it: start_xmit gets the segments, and the chip
    checksums them."""
    m, dev = ax179
    f, l4, off, payload = _superframe(dev, size, flags=ACK | PSH | FIN | CWR)
    send(host, dev, f, l4, off, gso_size=MSS, gso_type=SKB_GSO_TCPV4)
    assert settle_tx(host, dev)
    wire = m.take_wire_tx()
    _check_segments(wire, payload, first_flags=ACK | PSH | FIN | CWR)
    info = dev.priv.info
    if len(f) < ax.AX88179_GSO_MAX_SIZE:
        assert (info.tx_tso, info.tx_gso_software) == (1, 0)
        assert m.tx_offload.stats.tso_frames == 1
        assert m.tx_offload.stats.tso_segments == len(wire)
        # Linux: one skb, one transfer: its 8-byte header too (and a pad byte, if due).
        assert dev.stats.tx_packets == 1
        assert dev.stats.tx_bytes == linux_tx_bytes("ax88179", [f], dev.priv.out_mps)
    else:
        assert (info.tx_tso, info.tx_gso_software) == (0, 0)
        assert m.tx_offload.stats.csum_frames == len(wire)
        assert dev.stats.tx_packets == len(wire)
        assert dev.stats.tx_bytes == linux_tx_bytes("ax88179", wire, dev.priv.out_mps)
    assert accounted(dev)
    assert m.stats.wire_tx_errors == 0


@pytest.mark.parametrize("off", [{"tso": False}, {"tx": False}], ids=["tso-off", "tx-off"])
def test_with_tso_off_the_core_segments_the_same_frames(host, ax179, off):
    """ethtool -K tso off (or tx off, which TSO needs): the core segments the super-frame in
    software and the wire carries byte for byte what the chip's TSO put there."""
    m, dev = ax179
    f, l4, o, payload = _superframe(dev, 16000)
    send(host, dev, f, l4, o, gso_size=MSS, gso_type=SKB_GSO_TCPV4)
    assert settle_tx(host, dev)
    by_chip = m.take_wire_tx()
    assert dev.priv.info.tx_tso == 1
    ethtool_request(host, dev, "features", off)
    assert not dev.features & (1 << 16)
    sent_before = dev.core_stats.tx_submitted
    send(host, dev, f, l4, o, gso_size=MSS, gso_type=SKB_GSO_TCPV4)
    assert settle_tx(host, dev)
    assert m.take_wire_tx() == by_chip
    assert dev.core_stats.tx_submitted - sent_before == len(by_chip), "one skb per segment"
    assert dev.priv.info.tx_tso == 1 and m.tx_offload.stats.tso_frames == 1
    _check_segments(by_chip, payload, first_flags=ACK | PSH | FIN)


def test_an_ipv6_super_frame_is_segmented_by_the_core(host, ax179):
    """Linux's AX88179 has TSO for IPv4 only (no NETIF_F_TSO6): the core segments IPv6."""
    m, dev = ax179
    f, l4, off, payload = _superframe(dev, 5000, ipv6=True)
    send(host, dev, f, l4, off, gso_size=MSS - 20, gso_type=SKB_GSO_TCPV6)
    assert settle_tx(host, dev)
    _check_segments(m.take_wire_tx(), payload, first_flags=ACK | PSH | FIN, ipv6=True,
                    mss=MSS - 20)  # fmt: skip
    assert dev.priv.info.tx_tso == 0 and m.tx_offload.stats.tso_frames == 0


FIXED = SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID


def test_a_fixed_id_super_frame_goes_to_the_chip_only_with_mangleid(host, ax179):
    """A fixed-ID super-frame (GRO'd, its one IPv4 ID with DF): the chip's TSO would count
    the IDs up, so the core cuts it up keeping the ID (Linux's net_gso_ok: no
    NETIF_F_TSO_MANGLEID) and start_xmit gets the segments.  With
    tx-tcp-mangleid-segmentation on (``tso on`` turns it on too) the chip cuts it."""
    m, dev = ax179
    f, l4, off, payload = _superframe(dev, 5000)
    send(host, dev, f, l4, off, gso_size=MSS, gso_type=FIXED)
    assert settle_tx(host, dev)
    wire = m.take_wire_tx()
    _check_segments(wire, payload, first_flags=ACK | PSH | FIN, fixed_id=True)
    info = dev.priv.info
    assert (info.tx_tso, info.tx_gso_software) == (0, 0)  # the core's work, not the driver's
    assert m.tx_offload.stats.tso_frames == 0 and dev.stats.tx_packets == len(wire)
    ethtool_request(host, dev, "features", {"tso": False})
    ethtool_request(host, dev, "features", {"tso": True})
    assert dev.features & NETIF_F_TSO_MANGLEID
    send(host, dev, f, l4, off, gso_size=MSS, gso_type=FIXED)
    assert settle_tx(host, dev)
    wire = m.take_wire_tx()
    _check_segments(wire, payload, first_flags=ACK | PSH | FIN)  # the chip numbers them
    assert (info.tx_tso, info.tx_gso_software) == (1, 0) and m.tx_offload.stats.tso_frames == 1
    assert accounted(dev) and m.stats.wire_tx_errors == 0


def _xmit(host, dev, f: bytes, l4: int, off: int, gso_size: int, gso_type=SKB_GSO_TCPV4):
    """Straight to dev_queue_xmit, without the checks the memory stack's send does first."""
    skb = SkBuff(HEADROOM + len(f))
    skb.data = skb.tail = HEADROOM
    skb.put_data(f)
    skb.dev = dev
    skb.protocol = int.from_bytes(f[12:14], "big")
    skb.ip_summed, skb.csum_start, skb.csum_offset = CHECKSUM_PARTIAL, HEADROOM + l4, off
    skb.gso_size, skb.gso_type = gso_size, gso_type
    host.dev_queue_xmit(skb)


def test_a_malformed_or_oversized_mss_is_refused_and_counted(host, ax179):
    m, dev = ax179
    f, l4, off, _ = _superframe(dev, 12000)
    udp, ul4, uoff = ip_frame(dev.dev_addr, UDP, b"u" * 6000)
    cases = [
        (f, l4, off, 9000, SKB_GSO_TCPV4),  # segments above the MTU
        (f, l4, off, 1461, SKB_GSO_TCPV4),  # one byte too many: 20 + 20 + 1461 > 1500
        (f, l4, off, 0x8000, SKB_GSO_TCPV4),  # does not fit tx_hdr2 (bit 15: padding)
        (f, l4, off, -5, SKB_GSO_TCPV4),  # nonsense
        (udp, ul4, uoff, MSS, SKB_GSO_TCPV4),  # says TCP, is UDP
        (f[:40], l4, off, MSS, SKB_GSO_TCPV4),  # headers cut short
    ]
    for c in cases:
        _xmit(host, dev, *c)
    assert settle_tx(host, dev)
    info = dev.priv.info
    assert info.tx_gso_refused == len(cases) and info.tx_tso == 0
    assert dev.stats.tx_dropped == len(cases) and dev.stats.tx_packets == 0 and accounted(dev)
    assert m.take_wire_tx() == [] and m.stats.wire_tx_errors == 0
    stats = dict(zip(dev.ethtool_ops.get_strings(dev), dev.ethtool_ops.get_ethtool_stats(dev),
                     strict=True))  # fmt: skip
    assert stats["tx_gso_refused"] == len(cases)
    # The largest MSS the MTU allows goes, and the adapter carries on.
    _xmit(host, dev, f, l4, off, 1460)
    host.attachment.send(dev, frame(PEER, 100))
    assert settle_tx(host, dev)
    wire = m.take_wire_tx()
    assert len(wire) == 10 and max(map(len, wire)) == 1514 and dev.stats.tx_packets == 2


def test_a_fixed_id_super_frame_past_the_core_keeps_its_id_without_mangleid(host, ax179):
    """One queued before ``ethtool -K`` took MANGLEID away (here: handed past the core's
    checks): the driver segments it in software, keeping the ID (tx_gso_software); with
    MANGLEID on it goes to the chip."""
    m, dev = ax179
    f, l4, off, payload = _superframe(dev, 4000)
    _xmit(host, dev, f, l4, off, MSS, FIXED)
    assert settle_tx(host, dev)
    _check_segments(m.take_wire_tx(), payload, first_flags=ACK | PSH | FIN, fixed_id=True)
    info = dev.priv.info
    assert (info.tx_tso, info.tx_gso_software) == (0, 1)
    ethtool_request(host, dev, "features", {"tx-tcp-mangleid-segmentation": True})
    _xmit(host, dev, f, l4, off, MSS, FIXED)
    assert settle_tx(host, dev)
    _check_segments(m.take_wire_tx(), payload, first_flags=ACK | PSH | FIN)
    assert (info.tx_tso, info.tx_gso_software) == (1, 1) and accounted(dev)
    stats = dict(zip(dev.ethtool_ops.get_strings(dev), dev.ethtool_ops.get_ethtool_stats(dev),
                     strict=True))  # fmt: skip
    assert (stats["tx_tso"], stats["tx_gso_software"]) == (1, 1)


def test_the_chip_refuses_a_super_frame_it_cannot_cut(host, ax179):
    """What a broken host could send the silicon: an MSS making frames longer than it sends,
    or an MSS on a frame that is no TCP.  Dropped and counted, nothing crashes, and the
    records after it in the transfer still go out."""
    m, dev = ax179
    f, _, _, _ = _superframe(dev, 3000, flags=ACK)
    plain = frame(PEER, 200)
    bad = [(f, 1500), (frame(PEER, 3000), 1000), (plain, ax.AX_TX_HDR2_MSS_MASK)]
    transfer = ax.encode_tx_many([b for b, _ in bad] + [plain] + [f],
                                 mss=[s for _, s in bad] + [0, 1000])  # fmt: skip
    before = m.stats.wire_tx_errors
    out = m._decode_out(transfer)
    assert m.tx_offload.stats.tso_errors == 3 and m.stats.wire_tx_errors - before == 3
    assert out[0] == plain and len(out) == 4 and all(parse(w) for w in out[1:])


def test_txframe_keeps_the_offload_job():
    skb = SkBuff(64 + 100)
    skb.data = skb.tail = 64
    skb.put_data(bytes(range(100)))
    skb.ip_summed, skb.csum_start, skb.csum_offset = CHECKSUM_PARTIAL, 64 + 34, 16
    skb.gso_size, skb.gso_type = 1000, SKB_GSO_TCPV4
    t = TxFrame.from_skb(skb)
    assert t == bytes(range(100)) and isinstance(t, bytes)
    assert (t.csum_start, t.csum_offset, t.gso_size, t.gso_type) == (34, 16, 1000, SKB_GSO_TCPV4)


def test_frames_the_chip_would_get_wrong_are_finished_in_software(host, ax179):
    """Linux gives an IP_CSUM device neither a VLAN-tagged frame's checksum (the AX88179 has
    no vlan_features) nor one behind IPv6 extension headers (skb_csum_hwoffload_help), nor a
    checksum the chip would not find where it looks: the driver finishes those itself."""
    m, dev = ax179
    cases = [ip_frame(dev.dev_addr, UDP, b"e" * 99, ipv6=True, hop_by_hop=True),
             ip_frame(dev.dev_addr, TCP, b"v" * 99, vlan=True)]  # fmt: skip
    f, l4, off = ip_frame(dev.dev_addr, UDP, b"t" * 99)
    cases.append((f, l4 + 8, 6))  # csum_start behind the UDP header: a tunnel's inner one
    for f, l4, off in cases:
        _xmit(host, dev, f, l4, off, 0)
    assert settle_tx(host, dev)
    wire = m.take_wire_tx()
    assert [parse(w)["proto"] for w in wire[:2]] == [UDP, TCP]
    assert dev.priv.info.tx_csum_software == 3 and accounted(dev)


def test_a_vlan_tagged_super_frame_is_segmented_in_software(host, ax179):
    m, dev = ax179
    f, l4, off = ip_frame(dev.dev_addr, TCP, b"q" * 5000, vlan=True, seq=0xFFFFF000,
                          ip_id=0xFFF0)  # fmt: skip
    send(host, dev, f, l4, off, gso_size=MSS, gso_type=SKB_GSO_TCPV4)
    assert settle_tx(host, dev)
    wire = m.take_wire_tx()
    _check_segments(wire, b"q" * 5000, first_flags=ACK | PSH)
    # Through the core the driver gets it as segments, their checksums finished: the
    # AX88179 has no vlan_features (as Linux's ax88179_bind), so netif_skb_features
    # leaves no offload for a tagged frame.
    assert dev.priv.info.tx_gso_software == 0 and dev.stats.tx_packets == len(wire)
    assert dev.priv.info.tx_csum_software == 0
    # IPv6 behind a hop-by-hop header (an IPv6 super-frame reaches the driver only if the
    # core's checks are bypassed: the AX88179 has no TSO6).
    f, l4, off = ip_frame(dev.dev_addr, TCP, b"h" * 3000, ipv6=True, hop_by_hop=True,
                          seq=0xFFFFF000)  # fmt: skip
    _xmit(host, dev, f, l4, off, 1400, SKB_GSO_TCPV6)
    assert settle_tx(host, dev)
    _check_segments(m.take_wire_tx(), b"h" * 3000, first_flags=ACK | PSH, ipv6=True, mss=1400)
    info = dev.priv.info
    assert (info.tx_tso, info.tx_gso_software, info.tx_gso_refused) == (0, 1, 0)
    assert accounted(dev) and dev.stats.tx_packets == len(wire) + 1
