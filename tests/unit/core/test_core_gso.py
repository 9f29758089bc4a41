"""Software segmentation (netdrv_core.gso): super-frames cut up as Linux's skb_gso_segment does.

Every segment is checked against the reference checksums in :mod:`frames`
(an RFC 1071 loop independent of the core), and the payloads put back
together must be the super-frame's payload.
"""

from __future__ import annotations

import logging
import re
import struct

import pytest
from fakedev import make_dev
from frames import (
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    eth_frame,
    ip4,
    ipv4_packet,
    pseudo_header_sum,
    ref_checksum,
    ref_sum,
)

from netdrv_core import Host, NetDevice, SkBuff, netif_set_gso_max_size
from netdrv_core.checksum import skb_checksum_help
from netdrv_core.gso import (
    GsoError,
    can_checksum_protocol,
    netif_needs_gso,
    skb_gso_ok,
    skb_gso_segment,
    validate_xmit_skb,
)
from netdrv_core.netdevice import (
    NETIF_F_GSO_UDP_L4,
    NETIF_F_HW_CSUM,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NETIF_F_TSO_ECN,
    NETIF_F_TSO_MANGLEID,
)
from netdrv_core.skbuff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCP_FIXEDID,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_GSO_UDP_L4,
)

SRC, DST = "198.18.0.1", "198.18.0.2"
SRC6 = bytes.fromhex("fd000000000000000000000000000001")
DST6 = bytes.fromhex("fd000000000000000000000000000002")
TCP_CWR = 0x80
HEADROOM = 34
PAYLOAD = bytes(i * 7 & 0xFF for i in range(4000))


def _tcp(payload: bytes, flags: int, seq: int = 0xFFFFF000) -> bytearray:
    # seq near the wrap: the segments' sequence numbers must wrap mod 2**32.
    hdr = struct.pack("!HHIIBBHHH", 40000, 5201, seq, 7, 8 << 4, flags, 512, 0, 0)
    return bytearray(hdr + bytes([1, 1, 8, 10]) + bytes(8) + payload)  # NOP NOP timestamps


def _udp(payload: bytes) -> bytearray:
    return bytearray(struct.pack("!HHHH", 40000, 5201, 8 + len(payload), 0) + payload)


def _v6_sum(proto: int, length: int) -> int:
    return ref_sum(SRC6 + DST6 + struct.pack("!IxxxB", length, proto))


def _super(version: int, proto: int, payload: bytes = PAYLOAD, mss: int = 1448,
           flags: int = TCP_ACK | TCP_PSH | TCP_FIN, ecn: bool = False) -> SkBuff:  # fmt: skip
    """A super-frame as the kernel hands it to a TSO/USO device: CHECKSUM_PARTIAL, gso set."""
    l4 = _tcp(payload, flags) if proto == IPPROTO_TCP else _udp(payload)
    off = 16 if proto == IPPROTO_TCP else 6
    if version == 4:
        seed = pseudo_header_sum(SRC, DST, proto, len(l4))
        struct.pack_into("!H", l4, off, seed)
        pkt = ipv4_packet(SRC, DST, proto, bytes(l4), ident=0xFFFE)  # the ID wraps too
        ethertype, nhlen = ETH_P_IP, 20
    else:
        struct.pack_into("!H", l4, off, _v6_sum(proto, len(l4)))
        pkt = struct.pack("!IHBB", 6 << 28, len(l4), proto, 64) + SRC6 + DST6 + bytes(l4)
        ethertype, nhlen = ETH_P_IPV6, 40
    frame = eth_frame("02:00:00:00:00:01", "02:00:00:00:00:02", ethertype, pkt)
    skb = SkBuff(HEADROOM + len(frame))
    skb.buf[HEADROOM:] = frame
    skb.data = skb.mac_header = HEADROOM
    skb.tail = HEADROOM + len(frame)
    skb.network_header = HEADROOM + 14
    skb.protocol = ethertype
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = HEADROOM + 14 + nhlen
    skb.csum_offset = off
    skb.gso_size = mss
    if proto == IPPROTO_UDP:
        skb.gso_type = SKB_GSO_UDP_L4
    else:
        skb.gso_type = (SKB_GSO_TCPV4 if version == 4 else SKB_GSO_TCPV6) | (
            SKB_GSO_TCP_ECN if ecn else 0
        )
    return skb


def _check(seg: SkBuff, version: int, proto: int) -> tuple[bytes, bytes, bytes]:
    """(IP header, L4 header, payload) of a segment whose checksums verify as a receiver's."""
    frame = bytes(seg.buf[seg.data : seg.tail])
    pkt = frame[14:]
    if version == 4:
        ihl = (pkt[0] & 15) * 4
        ip, l4 = pkt[:ihl], pkt[ihl:]
        assert struct.unpack("!H", ip[2:4])[0] == len(pkt)
        assert ref_checksum(ip) == 0, "IPv4 header checksum"
        pseudo = ip4(SRC) + ip4(DST) + struct.pack("!BBH", 0, proto, len(l4))
    else:
        ip, l4 = pkt[:40], pkt[40:]
        assert struct.unpack("!H", ip[4:6])[0] == len(l4)
        pseudo = SRC6 + DST6 + struct.pack("!IxxxB", len(l4), proto)
    assert ref_checksum(pseudo + l4) == 0, "L4 checksum"
    hlen = (l4[12] >> 4) * 4 if proto == IPPROTO_TCP else 8
    if proto == IPPROTO_UDP:
        assert struct.unpack("!H", l4[4:6])[0] == len(l4)
        assert l4[6:8] != b"\0\0"  # 0 would mean "no checksum"
    return ip, l4[:hlen], l4[hlen:]


@pytest.mark.parametrize(("version", "proto"), [(4, IPPROTO_TCP), (6, IPPROTO_TCP),
                                                (4, IPPROTO_UDP), (6, IPPROTO_UDP)])  # fmt: skip
@pytest.mark.parametrize("device_csum", [False, True], ids=["sw-csum", "hw-csum"])
def test_segments_carry_the_payload_with_headers_a_receiver_accepts(
    version: int, proto: int, device_csum: bool
) -> None:
    skb = _super(version, proto)
    original = bytes(skb.buf)
    segs = skb_gso_segment(skb, NETIF_F_SG | (NETIF_F_HW_CSUM if device_csum else 0))
    assert bytes(skb.buf) == original  # the super-frame itself is left alone
    assert [s.tail - s.data - (14 + (20 if version == 4 else 40)) for s in segs] == [
        (32 if proto == IPPROTO_TCP else 8) + n for n in (1448, 1448, 1104)
    ]
    payload = b""
    for i, seg in enumerate(segs):
        assert seg.gso_size == 0 and seg.dev is None and seg.protocol == skb.protocol
        assert seg.data == seg.mac_header == HEADROOM  # the same headroom as the stack left
        assert seg.network_header == HEADROOM + 14
        if device_csum:  # left to the device, seeded as the stack seeds it
            assert seg.ip_summed == CHECKSUM_PARTIAL
            assert (seg.csum_start, seg.csum_offset) == (seg.transport_header, skb.csum_offset)
            skb_checksum_help(seg)  # what the device would do
        else:
            assert seg.ip_summed == CHECKSUM_NONE
        ip, l4h, data = _check(seg, version, proto)
        payload += data
        if version == 4:
            assert struct.unpack("!H", ip[4:6])[0] == (0xFFFE + i) & 0xFFFF  # IDs count on, wrap
        if proto == IPPROTO_TCP:
            assert struct.unpack("!I", l4h[4:8])[0] == (0xFFFFF000 + i * 1448) & 0xFFFFFFFF
            assert l4h[12:] == _tcp(b"", 0)[12:13] + l4h[13:14] + l4h[14:]  # options kept
            last = i == len(segs) - 1
            assert bool(l4h[13] & TCP_FIN) == last and bool(l4h[13] & TCP_PSH) == last
            assert l4h[13] & TCP_ACK
    assert payload == PAYLOAD


def test_cwr_stays_on_the_first_segment_only() -> None:
    skb = _super(4, IPPROTO_TCP, flags=TCP_ACK | TCP_CWR, ecn=True)
    flags = [_check(s, 4, IPPROTO_TCP)[1][13] for s in skb_gso_segment(skb, 0)]
    assert [bool(f & TCP_CWR) for f in flags] == [True, False, False]


def test_a_payload_within_one_segment_gives_one() -> None:
    skb = _super(4, IPPROTO_TCP, payload=b"x" * 100)
    (seg,) = skb_gso_segment(skb, 0)
    assert _check(seg, 4, IPPROTO_TCP)[2] == b"x" * 100


def test_which_features_take_which_super_frames() -> None:
    tcp4, tcp6, udp = _super(4, IPPROTO_TCP), _super(6, IPPROTO_TCP), _super(4, IPPROTO_UDP)
    ecn = _super(4, IPPROTO_TCP, ecn=True)
    assert skb_gso_ok(tcp4, NETIF_F_TSO) and not skb_gso_ok(tcp4, NETIF_F_TSO6)
    assert skb_gso_ok(tcp6, NETIF_F_TSO6) and not skb_gso_ok(tcp6, NETIF_F_TSO)
    assert skb_gso_ok(udp, NETIF_F_GSO_UDP_L4) and not skb_gso_ok(udp, NETIF_F_TSO)
    # ECN-marked: TSO alone is not enough, as in Linux's net_gso_ok().
    assert not skb_gso_ok(ecn, NETIF_F_TSO) and skb_gso_ok(ecn, NETIF_F_TSO | NETIF_F_TSO_ECN)
    assert netif_needs_gso(tcp4, NETIF_F_TSO6) and not netif_needs_gso(tcp4, NETIF_F_TSO)
    tcp4.gso_size = 0
    assert not netif_needs_gso(tcp4, 0)  # not a super-frame
    assert can_checksum_protocol(NETIF_F_IP_CSUM, ETH_P_IP)
    assert not can_checksum_protocol(NETIF_F_IP_CSUM, ETH_P_IPV6)
    assert can_checksum_protocol(NETIF_F_IPV6_CSUM, ETH_P_IPV6)
    assert can_checksum_protocol(NETIF_F_HW_CSUM, 0x8100)


def test_a_fixedid_super_frame_is_cut_up_keeping_its_one_ipv4_id(host: Host) -> None:
    # What GRO makes of a flow whose ID stayed the same (DF set): each segment keeps the ID,
    # as inet_gso_segment does for SKB_GSO_TCP_FIXEDID; a plain one counts up from it.
    fixed = _super(4, IPPROTO_TCP)
    fixed.gso_type = SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID
    ids = [struct.unpack("!H", _check(s, 4, IPPROTO_TCP)[0][4:6])[0]
           for s in skb_gso_segment(fixed, 0)]  # fmt: skip
    assert ids == [0xFFFE] * 3
    plain = [struct.unpack("!H", _check(s, 4, IPPROTO_TCP)[0][4:6])[0]
             for s in skb_gso_segment(_super(4, IPPROTO_TCP), 0)]  # fmt: skip
    assert plain == [0xFFFE, 0xFFFF, 0]
    # net_gso_ok(): the qualifier needs NETIF_F_TSO_MANGLEID besides TSO (a TSO device
    # counts the IDs up); without it the device gets the fixed-ID segments.
    assert not skb_gso_ok(fixed, NETIF_F_TSO) and not skb_gso_ok(fixed, NETIF_F_TSO_MANGLEID)
    assert skb_gso_ok(fixed, NETIF_F_TSO | NETIF_F_TSO_MANGLEID)
    ecn = _super(4, IPPROTO_TCP, ecn=True)
    ecn.gso_type |= SKB_GSO_TCP_FIXEDID
    assert not skb_gso_ok(ecn, NETIF_F_TSO | NETIF_F_TSO_ECN)
    assert not skb_gso_ok(ecn, NETIF_F_TSO | NETIF_F_TSO_MANGLEID)
    assert skb_gso_ok(ecn, NETIF_F_TSO | NETIF_F_TSO_ECN | NETIF_F_TSO_MANGLEID)
    dev, _ = make_dev(host, "g0")
    dev.features = NETIF_F_SG | NETIF_F_HW_CSUM
    segs = validate_xmit_skb(fixed, dev)
    assert len(segs) == 3 and all(s.buf[s.network_header + 4 : s.network_header + 6] == b"\xff\xfe"
                                  for s in segs)  # fmt: skip


def test_a_fixedid_super_frame_without_df_is_dropped(host: Host) -> None:
    # inet_gso_segment: "fixed ID is invalid if DF bit is not set" — the segments would share
    # one ID and could be fragmented on the way.
    skb = _super(4, IPPROTO_TCP)
    skb.gso_type = SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID
    skb.buf[skb.network_header + 6] &= ~0x40  # DF off (the header checksum is not read here)
    with pytest.raises(GsoError, match="FIXEDID super-frame without DF"):
        skb_gso_segment(skb, 0)
    dev, ops = make_dev(host, "g0")
    # Segmented for lack of TSO or of MANGLEID; with MANGLEID, gso_features_check() strips it
    # for an IPv4 header without DF: segmented all the same, and so dropped.
    cases = (NETIF_F_SG, TSO_DEV, TSO_DEV | NETIF_F_TSO_MANGLEID)
    for features in cases:
        dev.features = features
        skb = _super(4, IPPROTO_TCP)
        skb.gso_type = SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID
        skb.buf[skb.network_header + 6] &= ~0x40
        assert validate_xmit_skb(skb, dev) == [] and skb.freed
    assert dev.core_stats.tx_qdisc_drops == len(cases) and ops.sent == []
    # A plain TCPV4 one without DF asks for no ID mangling: a TSO device takes it whole.
    plain = _super(4, IPPROTO_TCP)
    plain.buf[plain.network_header + 6] &= ~0x40
    assert validate_xmit_skb(plain, dev) == [plain]


def _send_fixedid(host: Host, dev: NetDevice, *, vlan: bool = False) -> None:
    """A fixed-ID super-frame (ID 0xFFFE, DF) through the memory stack's send, as the stack
    hands one over: validate_xmit_skb, then start_xmit."""
    skb = _super(4, IPPROTO_TCP)
    frame = bytes(skb.buf[skb.data : skb.tail])
    l4 = 14 + 20
    if vlan:  # an 802.1Q tag before the IPv4 ethertype
        frame, l4 = frame[:12] + b"\x81\x00\x00\x07" + frame[12:], l4 + 4
    hr = max(dev.needed_headroom, 16)
    host.attachment.send(dev, frame, ip_summed=CHECKSUM_PARTIAL, csum_start=hr + l4,  # type: ignore[attr-defined]
                         csum_offset=16, protocol=0x8100 if vlan else ETH_P_IP, gso_size=1448,
                         gso_type=SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID)  # fmt: skip


@pytest.mark.parametrize("vlan", [False, True], ids=["untagged", "vlan"])
def test_a_fixedid_super_frame_reaches_start_xmit_whole_only_with_mangleid(
    host: Host, vlan: bool
) -> None:
    # net_gso_ok(): SKB_GSO_TCP_FIXEDID needs NETIF_F_TSO_MANGLEID.  A TSO device would count
    # the IDs up, changing what was on the wire: unless the user lets it
    # (tx-tcp-mangleid-segmentation), the core cuts the frame up, every segment keeping the ID.
    from netdrv_core.ethtool import ethtool_request

    # Tagged: a device that offloads behind the tag (vlan_features), or the core would
    # segment it and finish the checksums whatever the features (netif_skb_features).
    vlan_features = TSO_DEV | NETIF_F_TSO_MANGLEID if vlan else 0
    dev, ops = make_dev(host, "g0", features=TSO_DEV, hw_features=TSO_DEV,
                        vlan_features=vlan_features)  # fmt: skip
    # register_netdevice(): a device whose TSO may be changed may be let mangle IDs; off.
    assert dev.hw_features & NETIF_F_TSO_MANGLEID and not dev.features & NETIF_F_TSO_MANGLEID
    nh = 18 if vlan else 14
    _send_fixedid(host, dev, vlan=vlan)
    assert [s.gso_size for s in ops.sent] == [0, 0, 0]
    assert [f[nh + 4 : nh + 6] for f in ops.sent_bytes] == [b"\xff\xfe"] * 3
    assert all(s.ip_summed == CHECKSUM_PARTIAL for s in ops.sent)  # the device finishes those
    ops.sent.clear()
    ops.sent_bytes.clear()
    ethtool_request(host, dev, "features", {"tx-tcp-mangleid-segmentation": True})
    assert dev.features & NETIF_F_TSO_MANGLEID
    _send_fixedid(host, dev, vlan=vlan)  # DF found behind the tag as well
    [whole] = ops.sent
    assert whole.gso_size == 1448 and whole.gso_type == SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID
    assert ops.sent_bytes[0][nh + 4 : nh + 6] == b"\xff\xfe"  # the device numbers them
    # TSO off takes MANGLEID with it (netdev_fix_features): segments again.
    ops.sent.clear()
    ethtool_request(host, dev, "features", {"tx-tcp-segmentation": False})
    assert not dev.features & (NETIF_F_TSO | NETIF_F_TSO_MANGLEID)
    _send_fixedid(host, dev, vlan=vlan)
    assert [s.gso_size for s in ops.sent] == [0, 0, 0]


def test_headers_that_contradict_the_gso_type_are_refused() -> None:
    skb = _super(4, IPPROTO_UDP)
    skb.gso_type = SKB_GSO_TCPV4
    with pytest.raises(GsoError, match=r"says TCP.*protocol is 17"):
        skb_gso_segment(skb, 0)
    skb = _super(4, IPPROTO_TCP)
    skb.tail = skb.network_header + 30  # cut inside the TCP header
    with pytest.raises(GsoError, match="shorter than its own headers"):
        skb_gso_segment(skb, 0)
    skb = _super(4, IPPROTO_TCP)
    skb.gso_size = -1
    with pytest.raises(GsoError, match="segment size of at least 1"):
        skb_gso_segment(skb, 0)
    skb = _super(4, IPPROTO_TCP)
    skb.buf[skb.network_header] = 0x55  # not IP
    with pytest.raises(GsoError, match="no IPv4/IPv6 header"):
        skb_gso_segment(skb, 0)


def test_validate_xmit_skb_segments_finishes_or_drops(host: Host) -> None:
    dev, _ = make_dev(host, "g0")
    dev.features = NETIF_F_SG
    skb = _super(4, IPPROTO_TCP)
    segs = validate_xmit_skb(skb, dev)
    assert len(segs) == 3 and skb.freed and all(s.ip_summed == CHECKSUM_NONE for s in segs)
    dev.features = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO
    whole = _super(4, IPPROTO_TCP)
    assert validate_xmit_skb(whole, dev) == [whole] and whole.ip_summed == CHECKSUM_PARTIAL
    dev.features = NETIF_F_SG
    small = _super(4, IPPROTO_UDP, payload=b"y" * 50)
    small.gso_size = small.gso_type = 0
    assert validate_xmit_skb(small, dev) == [small] and small.ip_summed == CHECKSUM_NONE
    _check(small, 4, IPPROTO_UDP)  # finished in software
    bad = _super(4, IPPROTO_UDP)
    bad.gso_type = SKB_GSO_TCPV4
    assert validate_xmit_skb(bad, dev) == [] and bad.freed
    assert dev.core_stats.tx_qdisc_drops == 1


def test_a_super_frame_longer_than_gso_max_size_is_segmented_for_a_tso_device(
    host: Host,
) -> None:
    # netif_set_gso_max_size(): a TSO device that takes shorter super-frames only (the
    # AX88179's 16 KiB) gets a longer one (queued before the limit reached the kernel)
    # as segments; one within the limit whole.
    dev, _ = make_dev(host, "g0")
    dev.features = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO
    whole = _super(4, IPPROTO_TCP)
    netif_set_gso_max_size(dev, whole.len + 1)
    assert validate_xmit_skb(whole, dev) == [whole]
    netif_set_gso_max_size(dev, whole.len)  # gso_features_check: skb->len >= gso_max_size
    longer = _super(4, IPPROTO_TCP)
    segs = validate_xmit_skb(longer, dev)
    assert len(segs) == 3 and longer.freed and all(not s.gso_size for s in segs)
    for seg in segs:  # the device still finishes each segment's checksum
        assert seg.ip_summed == CHECKSUM_PARTIAL
        skb_checksum_help(seg)
        _check(seg, 4, IPPROTO_TCP)
    with pytest.raises(ValueError, match=r"gso_max_size 0 outside 1\.\.65536"):
        netif_set_gso_max_size(dev, 0)


def test_the_memory_stack_sends_a_super_frame_as_segments_to_a_device_without_tso(
    host: Host,
) -> None:
    dev, ops = make_dev(host, "g0")
    dev.features = NETIF_F_SG | NETIF_F_HW_CSUM
    skb = _super(6, IPPROTO_TCP)
    frame = bytes(skb.buf[skb.data : skb.tail])
    mem = host.attachment
    hr = max(dev.needed_headroom, 16)
    mem.send(dev, frame, ip_summed=CHECKSUM_PARTIAL, csum_start=hr + 54, csum_offset=16,  # type: ignore[attr-defined]
             gso_size=1448, gso_type=SKB_GSO_TCPV6)  # fmt: skip
    assert [len(f) for f in ops.sent_bytes] == [14 + 40 + 32 + n for n in (1448, 1448, 1104)]
    assert all(s.ip_summed == CHECKSUM_PARTIAL for s in ops.sent)  # the device finishes those


def test_a_wire_carries_the_offload_job_to_the_other_device(host: Host) -> None:
    """A super-frame received on one end of a wire is transmitted whole to a TSO device,
    and as segments to one without TSO (as the kernel forwards between devices)."""
    from netdrv_core import netif_rx

    a, _ = make_dev(host, "w0")
    b, b_ops = make_dev(host, "w1", mac=b"\x02\0\0\0\0\x11")
    host.attachment.wire(a, b)  # type: ignore[attr-defined]
    for features, count in ((NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO, 1), (NETIF_F_SG, 3)):
        b.features = features
        b_ops.sent_bytes.clear()
        skb = _super(4, IPPROTO_TCP)
        skb.dev = a
        skb.data += 14  # eth_type_trans pulled the link header
        with host.as_current():
            netif_rx(skb)
        host.loop.run_until_idle()
        assert len(b_ops.sent_bytes) == count
        got = b"".join(f[14 + 20 + 32 :] for f in b_ops.sent_bytes)
        assert got == PAYLOAD


@pytest.mark.parametrize("ihl", [0, 3, 4])
def test_an_ipv4_header_length_under_20_bytes_is_refused(ihl: int) -> None:
    """inet_gso_segment() refuses it: the transport header would be inside the IP header,
    and the segments' length fields would be written over the addresses."""
    skb = _super(4, IPPROTO_UDP)
    skb.buf[skb.network_header] = 0x40 | ihl
    with pytest.raises(GsoError, match=f"header length of {ihl * 4} bytes"):
        skb_gso_segment(skb, 0)


def test_uso_without_the_checksum_offload_for_the_ip_version_segments() -> None:
    """USO needs only some checksum offload; a super-frame whose IP version the device
    cannot checksum is segmented here (Linux's harmonize_features drops the GSO features),
    not handed over whole with a checksum over the whole payload."""
    dev, _ = make_dev(None, "g0")
    dev.features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_GSO_UDP_L4
    segs = validate_xmit_skb(_super(6, IPPROTO_UDP), dev)
    assert len(segs) == 3 and not any(s.gso_size for s in segs)
    got = b"".join(_check(s, 6, IPPROTO_UDP)[2] for s in segs)
    assert got == PAYLOAD
    whole = _super(4, IPPROTO_UDP)  # IPv4: the device checksums it, so it takes it whole
    assert validate_xmit_skb(whole, dev) == [whole] and whole.ip_summed == CHECKSUM_PARTIAL


def test_a_wire_hands_a_tso_device_the_checksum_job_and_the_protocol(host: Host) -> None:
    """The super-frame a TSO peer gets is still CHECKSUM_PARTIAL with its ethertype, not
    one whose checksum was finished over the whole payload (protocol 0: "cannot offload")."""
    from netdrv_core import netif_rx

    a, _ = make_dev(host, "w0")
    b, b_ops = make_dev(host, "w1", mac=b"\x02\0\0\0\0\x11")
    host.attachment.wire(a, b)  # type: ignore[attr-defined]
    b.features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO
    skb = _super(4, IPPROTO_TCP)
    skb.dev = a
    skb.data += 14
    with host.as_current():
        netif_rx(skb)
    host.loop.run_until_idle()
    [sent] = b_ops.sent
    assert sent.gso_size == 1448 and sent.protocol == ETH_P_IP
    assert sent.ip_summed == CHECKSUM_PARTIAL
    assert sent.csum_start - sent.data == 14 + 20 and sent.csum_offset == 16


TSO_DEV = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_TSO6


@pytest.mark.parametrize(
    ("version", "gso_type", "why"),
    [
        (4, 0, r"gso_type 0x0 does not say TCP over IPv4"),  # says nothing
        (4, SKB_GSO_TCPV6, r"gso_type 0x10 does not say TCP over IPv4"),
        (6, SKB_GSO_TCPV4, r"gso_type 0x1 does not say TCP over IPv6"),
        # The fixed-ID qualifier alone: not even to a device that may mangle IDs.
        (4, SKB_GSO_TCP_FIXEDID, r"gso_type 0x8 does not say TCP over IPv4"),
    ],
)
def test_a_gso_type_that_does_not_say_what_the_frame_is_is_dropped_not_handed_over(
    host: Host, caplog: pytest.LogCaptureFixture, version: int, gso_type: int, why: str
) -> None:
    # gso_type 0 fitted every device (a TSO driver got a super-frame Linux never hands one:
    # gso_features_check() strips the GSO features and the segmentation fails); TCPV6 on an
    # IPv4 packet was cut up as if it said TCPV4 (tcp4_gso_segment returns -EINVAL).
    dev, ops = make_dev(host, "g0")
    every = TSO_DEV | NETIF_F_TSO_ECN | NETIF_F_TSO_MANGLEID
    dev.features = every if gso_type in (0, SKB_GSO_TCP_FIXEDID) else NETIF_F_SG | NETIF_F_HW_CSUM
    skb = _super(version, IPPROTO_TCP)
    skb.gso_type = gso_type
    if gso_type in (0, SKB_GSO_TCP_FIXEDID):
        assert not skb_gso_ok(skb, every)
    with caplog.at_level(logging.WARNING, logger="netdrv.gso"):
        assert validate_xmit_skb(skb, dev) == [] and skb.freed
    assert re.search(why, caplog.text) and dev.core_stats.tx_qdisc_drops == 1
    assert ops.sent == []


@pytest.mark.parametrize("csum_start", [-20, HEADROOM - 1, HEADROOM + 14 + 20 + 32 + 4000 - 17])
def test_a_partial_checksum_outside_the_frame_never_reaches_a_tso_driver(
    host: Host, csum_start: int
) -> None:
    # Linux's skb_partial_csum_set refuses such a frame where it comes in (the kernel
    # attachment's virtio-net header check does); on the memory stack it reached start_xmit.
    dev, ops = make_dev(host, "g0")
    dev.features = TSO_DEV
    for gso in (True, False):
        skb = _super(4, IPPROTO_TCP)
        skb.csum_start = csum_start
        if not gso:
            skb.gso_size = skb.gso_type = 0
        assert validate_xmit_skb(skb, dev) == [] and skb.freed
    assert ops.sent == [] and dev.core_stats.tx_qdisc_drops == 2


def test_an_ipv6_super_frame_cut_inside_its_ipv6_header_is_dropped_not_raised(host: Host) -> None:
    # Its checksum said to start before the end of the 40-byte IPv6 header: looking for
    # the L4 protocol behind extension headers read past the buffer and IndexError escaped
    # validate_xmit_skb (into the memory stack's send, or a TAP reader's batch).
    dev, ops = make_dev(host, "g0")
    dev.features = NETIF_F_SG  # no TSO6: segmented in software
    skb = _super(6, IPPROTO_TCP)
    nh = skb.network_header
    skb.buf = skb.buf[: nh + 4]  # the buffer ends where the frame was cut
    skb.tail = skb.end = nh + 4
    skb.csum_start, skb.csum_offset = nh, 0
    with pytest.raises(GsoError, match="shorter than its IPv6 header"):
        skb_gso_segment(skb.copy(), 0)
    assert validate_xmit_skb(skb, dev) == [] and skb.freed
    assert dev.core_stats.tx_qdisc_drops == 1 and ops.sent == []


@pytest.mark.parametrize("proto", [IPPROTO_TCP, IPPROTO_UDP])
def test_a_partial_checksum_not_at_the_l4_header_is_not_segmented(host: Host, proto: int) -> None:
    # tcp_gso_segment / __udp_gso_segment: "if (unlikely(skb_checksum_start(skb) !=
    # skb_transport_header(skb))) goto out" (-EINVAL): the frame's offload metadata contradict
    # its headers, and validate_xmit_skb drops it. netdrv ignored csum_start over IPv4 and
    # cut the frame up by its headers.
    skb = _super(4, proto)
    skb.csum_start += 4  # inside the frame, but not where the L4 header starts
    with pytest.raises(GsoError, match="csum_start"):
        skb_gso_segment(skb, 0)
    dev, ops = make_dev(host, "g0")
    dev.features = NETIF_F_SG  # no TSO/USO: segmented in software
    assert validate_xmit_skb(skb, dev) == [] and skb.freed
    assert dev.core_stats.tx_qdisc_drops == 1 and ops.sent == []
