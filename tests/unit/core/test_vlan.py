"""VLAN acceleration (netdrv_core.vlan): the skb's tag metadata and the transmit/receive contract.

A device with NETIF_F_HW_VLAN_CTAG_TX gets 802.1Q frames with the tag in the
metadata, one without gets it in the data; a tag a driver hands up in the
metadata reaches the kernel in the frame (a TAP has no field for it) and stays
in the metadata on the memory stack, as on Linux's veth.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from fakedev import kernel_port, make_dev, mem, rx_skb
from frames import TCP_ACK, eth_frame, icmp_echo_packet, tcp_packet

from netdrv_core import (
    ETH_P_8021AD,
    ETH_P_8021Q,
    NETDEV_TX_OK,
    NETIF_F_GRO,
    NETIF_F_HW_VLAN_CTAG_FILTER,
    NETIF_F_HW_VLAN_CTAG_RX,
    NETIF_F_HW_VLAN_CTAG_TX,
    Driver,
    Host,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    __vlan_hwaccel_clear_tag,
    __vlan_hwaccel_push_inside,
    __vlan_hwaccel_put_tag,
    alloc_netdev,
    dev_kfree_skb,
    eth_type_trans,
    ether_setup,
    napi_gro_receive,
    netif_rx,
    netif_start_queue,
    skb_vlan_tag_get,
    skb_vlan_tag_get_id,
    skb_vlan_tag_get_prio,
    skb_vlan_tag_present,
    skb_vlan_untag,
    vlan_get_tag,
    vlan_hwaccel_put_tag,
    vlan_insert_tag,
)
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.attach.vnet import VNET_HDR, VNET_HDR_LEN
from netdrv_core.checksum import csum_fold, csum_partial
from netdrv_core.ethtool import ethtool_features, ethtool_set_features
from netdrv_core.gso import skb_gso_segment
from netdrv_core.napi import NapiStruct, napi_complete_done, napi_enable, netif_napi_add
from netdrv_core.skbuff import (
    CHECKSUM_COMPLETE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_TCPV4,
)
from netdrv_core.testing.conformance import DriverConformance, DriverHarness

A, B = "198.18.0.1", "198.18.0.2"
DST, SRC = "02:00:00:00:00:10", "02:00:00:00:00:20"
TCI = 3 << 13 | 5  # priority 3, VLAN 5


def ping(payload: bytes = b"ping") -> bytes:
    return eth_frame(DST, SRC, 0x0800, icmp_echo_packet(A, B, payload=payload))


def tagged(frame: bytes, tci: int = TCI, proto: int = ETH_P_8021Q) -> bytes:
    return frame[:12] + struct.pack("!HH", proto, tci) + frame[12:]


def tx_skb(frame: bytes, headroom: int = 16) -> SkBuff:
    skb = SkBuff(headroom + len(frame))
    skb.data = skb.tail = skb.mac_header = headroom
    skb.put_data(frame)
    skb.protocol = frame[12] << 8 | frame[13] if len(frame) >= 14 else 0
    return skb


# -- metadata ------------------------------------------------------------------------------------
def test_the_tag_metadata_is_the_vlan_all_union_as_in_linux() -> None:
    skb = tx_skb(ping())
    assert not skb_vlan_tag_present(skb) and skb.vlan_all == 0
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)
    assert skb_vlan_tag_present(skb)
    assert (skb.vlan_proto, skb.vlan_tci) == (ETH_P_8021Q, TCI)
    assert (skb_vlan_tag_get(skb), skb_vlan_tag_get_id(skb), skb_vlan_tag_get_prio(skb)) == (
        TCI, 5, 3,
    )  # fmt: skip
    assert "vlan=0x8100/" in repr(skb)
    __vlan_hwaccel_clear_tag(skb)
    assert not skb_vlan_tag_present(skb) and skb.vlan_tci == 0
    skb.vlan_tci = 7  # a TCI alone makes vlan_all non-zero: present, as in Linux
    assert skb_vlan_tag_present(skb) and skb.vlan_proto == 0


def test_clone_copy_and_segments_carry_the_tag() -> None:
    skb = tx_skb(eth_frame(DST, SRC, 0x0800, tcp_packet(A, B, 1, 2, b"x" * 3000)))
    skb.network_header = skb.data + 14
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)
    assert skb.clone().vlan_all == skb.vlan_all == skb.copy().vlan_all
    skb.gso_size, skb.gso_type = 1000, SKB_GSO_TCPV4
    segs = skb_gso_segment(skb, 0)
    assert len(segs) == 3 and all(s.vlan_tci == TCI for s in segs)


def test_vlan_get_tag_reads_the_metadata_then_the_data() -> None:
    assert vlan_get_tag(tx_skb(ping())) is None
    assert vlan_get_tag(tx_skb(tagged(ping(), 9))) == 9
    skb = tx_skb(ping())
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, 11)
    assert vlan_get_tag(skb) == 11


# -- tags in the data ----------------------------------------------------------------------------
def test_insert_and_untag_move_the_tag_between_data_and_metadata() -> None:
    frame = ping()
    skb = tx_skb(frame)
    nh = skb.data + 14
    skb.network_header = nh
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)
    __vlan_hwaccel_push_inside(skb)
    assert skb.tobytes() == tagged(frame) and not skb.vlan_all
    assert skb.mac_header == skb.data == 12 and skb.protocol == ETH_P_8021Q
    assert skb.network_header == nh  # the IP header did not move
    skb_vlan_untag(skb)
    assert skb.tobytes() == frame and skb.vlan_all == ETH_P_8021Q << 16 | TCI
    assert skb.mac_header == skb.data == 16 and skb.protocol == 0x0800 and skb.network_header == nh


def test_insert_without_headroom_grows_the_buffer_keeping_every_offset() -> None:
    frame = eth_frame(DST, SRC, 0x0800, tcp_packet(A, B, 1, 2, b"y" * 20, partial=True))
    skb = tx_skb(frame, headroom=0)
    skb.ip_summed, skb.csum_start, skb.csum_offset = CHECKSUM_PARTIAL, 34, 16
    skb.network_header, skb.transport_header = 14, 34
    tcp_header = bytes(skb.buf[34:54])
    vlan_insert_tag(skb, ETH_P_8021Q, TCI)
    assert skb.tobytes() == tagged(frame) and skb.headroom() == 0
    assert bytes(skb.buf[skb.csum_start : skb.csum_start + 20]) == tcp_header
    assert bytes(skb.buf[skb.transport_header : skb.transport_header + 20]) == tcp_header
    assert skb.network_header == skb.data + 18


def test_untag_after_eth_type_trans_leaves_data_at_the_network_header() -> None:
    dev, _ops = make_dev()
    frame = ping()
    skb = rx_skb(dev, tagged(frame))
    assert skb.protocol == ETH_P_8021Q
    skb_vlan_untag(skb)
    assert skb.protocol == 0x0800 and skb.vlan_tci == TCI
    assert bytes(skb.buf[skb.mac_header : skb.tail]) == frame
    assert skb.data == skb.network_header == skb.mac_header + 14


def _complete(skb: SkBuff, start: int) -> None:
    """CHECKSUM_COMPLETE, the sum a device reports over the frame from ``start``."""
    skb.ip_summed = CHECKSUM_COMPLETE
    skb.csum = csum_partial(skb.buf[start : skb.tail])


def _same_sum(skb: SkBuff) -> bool:
    """``skb.csum`` is the one's-complement sum of data..tail (compared folded)."""
    return csum_fold(skb.csum) == csum_fold(csum_partial(skb.buf[skb.data : skb.tail]))


@pytest.mark.parametrize("payload", [b"ping", b"odd-length payload"])
def test_untag_takes_the_tag_out_of_a_checksum_complete_sum(payload: bytes) -> None:
    # Linux's skb_vlan_untag pulls the tag with skb_pull_rcsum: skb->csum loses its bytes
    # (the TCI and the encapsulated ethertype) and stays right for what follows.
    dev, _ops = make_dev()
    skb = rx_skb(dev, tagged(ping(payload)))
    _complete(skb, skb.data)  # the device's sum from past the Ethernet header: the tag on
    skb_vlan_untag(skb)
    assert skb.ip_summed == CHECKSUM_COMPLETE and skb.vlan_tci == TCI
    assert _same_sum(skb) and skb.data == skb.network_header


def test_untag_before_eth_type_trans_keeps_a_checksum_complete_sum_right() -> None:
    # The sum covers the frame past its link header, where eth_type_trans will leave data:
    # the tag's 4 bytes leave it here too.
    dev, _ops = make_dev()
    skb = tx_skb(tagged(ping(b"pong")))
    _complete(skb, skb.data + 14)
    skb_vlan_untag(skb)
    eth_type_trans(skb, dev)
    assert skb.ip_summed == CHECKSUM_COMPLETE and skb.protocol == 0x0800 and _same_sum(skb)


def test_untag_from_an_odd_offset_swaps_the_bytes_of_what_stays() -> None:
    # A sum from data 5 bytes before the tag's end: what stays starts at an odd offset of
    # the sum, so taking the front out leaves a byte-swapped sum, swapped back.
    dev, _ops = make_dev()
    skb = rx_skb(dev, tagged(ping(b"x" * 7)))
    skb.data = skb.mac_header + 13
    _complete(skb, skb.data)
    skb_vlan_untag(skb)
    assert skb.data == skb.mac_header + 14 and _same_sum(skb)


# -- transmit ------------------------------------------------------------------------------------
def test_a_tagged_frame_reaches_a_ctag_tx_device_with_the_tag_in_the_metadata(host: Host) -> None:
    dev, ops = make_dev(host, features=NETIF_F_HW_VLAN_CTAG_TX)
    mem(host).send(dev, tagged(ping()))
    (skb,) = ops.sent
    assert skb.vlan_proto == ETH_P_8021Q and skb.vlan_tci == TCI
    assert ops.sent_bytes == [ping()] and skb.protocol == 0x0800


def test_a_device_without_ctag_tx_gets_the_tag_in_the_data(host: Host) -> None:
    dev, ops = make_dev(host)
    mem(host).send(dev, tagged(ping()))
    mem(host).send(dev, ping(), vlan_all=ETH_P_8021Q << 16 | TCI)  # a metadata tag: inserted
    assert ops.sent_bytes == [tagged(ping())] * 2
    assert not any(skb.vlan_all for skb in ops.sent)


def test_an_8021ad_metadata_tag_is_inserted_even_with_ctag_tx(host: Host) -> None:
    dev, ops = make_dev(host, features=NETIF_F_HW_VLAN_CTAG_TX)
    mem(host).send(dev, ping(), vlan_all=ETH_P_8021AD << 16 | TCI)
    assert ops.sent_bytes == [tagged(ping(), proto=ETH_P_8021AD)] and not ops.sent[0].vlan_all


def test_a_metadata_tag_on_a_runt_is_dropped_and_counted(host: Host) -> None:
    dev, ops = make_dev(host)
    skb = tx_skb(b"\x02" * 10)
    skb.dev = dev
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)
    assert host.dev_queue_xmit(skb) == 1  # NET_XMIT_DROP
    assert not ops.sent and dev.core_stats.tx_qdisc_drops == 1 and skb.freed


def test_a_tagged_super_frame_is_segmented_each_segment_keeping_the_tag(host: Host) -> None:
    dev, ops = make_dev(host, features=NETIF_F_HW_VLAN_CTAG_TX)  # no TSO: segmented
    frame = eth_frame(DST, SRC, 0x0800, tcp_packet(A, B, 1, 2, b"z" * 3000, flags=TCP_ACK))
    mem(host).send(dev, tagged(frame), gso_size=1000, gso_type=SKB_GSO_TCPV4)
    assert len(ops.sent) == 3 and all(s.vlan_tci == TCI for s in ops.sent)
    assert all(f[12:14] == b"\x08\x00" for f in ops.sent_bytes)  # untagged data


# -- receive -------------------------------------------------------------------------------------
def test_a_metadata_tag_handed_up_stays_in_the_metadata_on_the_memory_stack(host: Host) -> None:
    dev, _ops = make_dev(host, features=NETIF_F_HW_VLAN_CTAG_RX)
    skb = rx_skb(dev, ping())
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)
    netif_rx(skb)
    host.loop.run_until_idle()
    (got,) = mem(host).received_skbs(dev)
    assert got.vlan_tci == TCI
    skb = rx_skb(dev, ping())
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)
    netif_rx(skb)
    host.loop.run_until_idle()
    assert mem(host).received(dev) == [tagged(ping())]  # as bytes: the tag in the frame


def test_a_tag_without_its_protocol_becomes_the_same_8021q_bytes_everywhere(host: Host) -> None:
    # Only skb.vlan_tci set (Linux's put_tag always sets both halves): the memory stack,
    # software insertion and a capture all write it as 802.1Q, never a zero TPID.
    from netdrv_core.phy.pcap import capture_frame

    dev, _ops = make_dev(host, features=NETIF_F_HW_VLAN_CTAG_RX)
    skb = rx_skb(dev, ping())
    skb.vlan_tci = TCI
    netif_rx(skb)
    host.loop.run_until_idle()
    assert mem(host).received(dev) == [tagged(ping())]
    skb = tx_skb(ping())
    skb.vlan_tci = TCI
    assert bytes(capture_frame(skb)) == tagged(ping())
    __vlan_hwaccel_push_inside(skb)
    assert skb.tobytes() == tagged(ping()) and skb.protocol == ETH_P_8021Q


@pytest.mark.parametrize("features", [NETIF_F_HW_VLAN_CTAG_TX, 0])
def test_a_wire_carries_the_metadata_tag_to_the_peer(host: Host, features: int) -> None:
    a, _ = make_dev(host, "a%d")
    b, ops = make_dev(host, "b%d", features=features)
    mem(host).wire(a, b)
    skb = rx_skb(a, ping())
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)
    netif_rx(skb)
    host.loop.run_until_idle()
    (sent,) = ops.sent
    if features:
        assert sent.vlan_tci == TCI and ops.sent_bytes == [ping()]
    else:
        assert not sent.vlan_all and ops.sent_bytes == [tagged(ping())]


class _GroDev:
    def __init__(self, host: Host) -> None:
        self.dev, _ = make_dev(host, "g%d", mac=bytes.fromhex("020000000010"))
        self.dev.features |= NETIF_F_GRO
        self.napi: NapiStruct = netif_napi_add(self.dev, self.poll, 64)
        napi_enable(self.napi)
        self.pending: list[tuple[bytes, int]] = []

    def poll(self, napi: NapiStruct, budget: int) -> int:
        done = 0
        for frame, tci in self.pending:
            skb = SkBuff(2 + len(frame))
            skb.buf[2:] = frame
            skb.data, skb.tail = 2, 2 + len(frame)
            skb.protocol = eth_type_trans(skb, self.dev)
            skb.ip_summed = CHECKSUM_UNNECESSARY
            vlan_hwaccel_put_tag(skb, ETH_P_8021Q, tci)  # in a class: the unmangled name
            napi_gro_receive(napi, skb)
            done += 1
        self.pending.clear()
        napi_complete_done(napi, done)
        return done


def _seg(i: int) -> bytes:
    pkt = tcp_packet(A, B, 40000, 5201, bytes(1000), seq=1000 + i * 1000, ack=1, flags=TCP_ACK)
    return eth_frame(DST, SRC, 0x0800, pkt)


def test_gro_merges_only_segments_of_the_same_vlan(host: Host) -> None:
    g = _GroDev(host)
    g.pending = [(_seg(0), 5), (_seg(1), 5), (_seg(2), 6)]  # the third: another VLAN
    from netdrv_core.napi import napi_schedule

    napi_schedule(g.napi)
    host.loop.run_until_idle()
    got = mem(host).received_skbs(g.dev)
    assert [(s.gso_size, s.vlan_tci) for s in got] == [(1000, 5), (0, 6)]


# -- the kernel attachment -----------------------------------------------------------------------
@pytest.fixture
def tap(host: Host) -> Iterator[tuple[KernelStack, NetDevice, _Port, socket.socket, list]]:
    dev, ops = make_dev(host, "k%d")
    with kernel_port(host, dev, vnet_hdr=True) as (ks, port, a):
        a.setblocking(False)
        seen: list[tuple[int, int, bytes, bytes]] = []  # vlan_all, protocol, data, at csum_start
        ops.on_xmit = lambda skb, _dev: seen.append((skb.vlan_all, skb.protocol, skb.tobytes(),
                                                     bytes(skb.buf[skb.csum_start : skb.csum_start + 4])))  # fmt: skip
        yield ks, dev, port, a, seen


def test_the_kernel_gets_a_metadata_tag_back_in_the_frame(tap) -> None:
    ks, dev, _port, a, _sent = tap
    frame = eth_frame(DST, SRC, 0x0800, tcp_packet(A, B, 1, 2, b"q" * 40, partial=True))
    skb = rx_skb(dev, frame)
    skb.ip_summed, skb.csum_start, skb.csum_offset = CHECKSUM_PARTIAL, skb.mac_header + 34, 16
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)
    assert ks.receive(dev, skb)
    got = a.recv(4096)
    _flags, _gso, _hl, _gs, csum_start, _off = VNET_HDR.unpack_from(got)
    assert got[VNET_HDR_LEN:] == tagged(frame)
    assert csum_start == 38  # the TCP header, 4 bytes later in the tagged frame


@pytest.mark.parametrize("features", [NETIF_F_HW_VLAN_CTAG_TX, 0])
def test_a_tagged_frame_read_from_the_tap_follows_ctag_tx(tap, features: int) -> None:
    ks, dev, port, a, sent = tap
    dev.features = features
    frame = eth_frame(DST, SRC, 0x0800, tcp_packet(A, B, 1, 2, b"q" * 40, partial=True))
    hdr = VNET_HDR.pack(1, 0, 0, 0, 38, 16)  # NEEDS_CSUM, the TCP header in the tagged frame
    a.send(hdr + tagged(frame))
    ks._on_readable(port)
    ((vlan_all, protocol, data, at_csum),) = sent
    # No checksum offload on the device: the core finished the partial checksum.
    done = eth_frame(DST, SRC, 0x0800, tcp_packet(A, B, 1, 2, b"q" * 40))
    if features:
        assert (vlan_all, protocol, data) == (ETH_P_8021Q << 16 | TCI, 0x0800, done)
    else:
        assert (vlan_all, protocol, data) == (0, ETH_P_8021Q, tagged(done))
    assert at_csum == b"\x00\x01\x00\x02"  # either way the checksum job is at the TCP header


# -- capture -------------------------------------------------------------------------------------
def _pcap_frames(data: bytes) -> list[tuple[bytes, int]]:
    """(frame, orig_len) of each record of a little-endian pcap byte stream."""
    out, at = [], 24
    while at < len(data):
        _sec, _frac, incl, orig = struct.unpack_from("<IIII", data, at)
        out.append((data[at + 16 : at + 16 + incl], orig))
        at += 16 + incl
    return out


def test_a_capture_shows_the_tag_the_hardware_inserts_or_stripped(host: Host) -> None:
    """As tcpdump on Linux (libpcap puts the auxdata tag back): a CTAG_TX device's
    transmitted frames and a CTAG_RX driver's received ones carry their tag in the pcap."""
    import io

    from netdrv_core.phy.pcap import capture

    dev, _ops = make_dev(host, features=NETIF_F_HW_VLAN_CTAG_TX | NETIF_F_HW_VLAN_CTAG_RX)
    out = io.BytesIO()
    cap = capture(host, dev, out)
    mem(host).send(dev, tagged(ping()))  # to the driver: the tag in the metadata
    skb = rx_skb(dev, ping(b"pong"))
    __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, TCI)  # the hardware stripped it
    netif_rx(skb)
    host.loop.run_until_idle()
    mem(host).send(dev, ping(b"bare"))  # untagged: as it is
    cap.stop()
    frames = _pcap_frames(out.getvalue())
    assert frames == [(tagged(ping()), len(ping()) + 4),
                      (tagged(ping(b"pong")), len(ping()) + 4),
                      (ping(b"bare"), len(ping()))]  # fmt: skip


def test_netdrv_capture_streams_the_tag_the_hardware_inserts(host: Host) -> None:
    """The daemon's capture (`netdrv capture`) writes the same frames."""
    from netdrv_core.daemon import Daemon, _Conn

    dev, _ops = make_dev(host, features=NETIF_F_HW_VLAN_CTAG_TX)
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        conn = _Conn(a)
        daemon.conns[a.fileno()] = conn
        daemon.start_capture(conn, dev.name, 1)
        mem(host).send(dev, tagged(ping()))
        host.loop.run_until_idle()
        b.setblocking(False)
        data = b.recv(1 << 16)
    finally:
        a.close()
        b.close()
    reply = struct.unpack("!I", data[:4])[0]
    assert _pcap_frames(data[4 + reply :]) == [(tagged(ping()), len(ping()) + 4)]


def test_a_capture_puts_a_metadata_tag_only_into_an_ethernet_frame() -> None:
    from netdrv_core.phy.pcap import LINKTYPE_RAW, capture_frame

    skb = tx_skb(ping())
    skb.vlan_tci = 5  # a tag without its protocol: 802.1Q, as libpcap takes it
    assert bytes(capture_frame(skb)) == tagged(ping(), 5)
    assert bytes(capture_frame(skb, LINKTYPE_RAW)) == ping()
    runt = tx_skb(b"\x02" * 10)
    runt.vlan_tci = 5
    assert bytes(capture_frame(runt)) == b"\x02" * 10  # no room for the MAC addresses


# -- features ------------------------------------------------------------------------------------
def test_ethtool_names_and_short_names_of_the_vlan_features(host: Host) -> None:
    bits = NETIF_F_HW_VLAN_CTAG_TX | NETIF_F_HW_VLAN_CTAG_RX
    dev, _ops = make_dev(host, features=bits | NETIF_F_HW_VLAN_CTAG_FILTER, hw_features=bits,
                         wanted_features=bits)  # fmt: skip
    feats = ethtool_features(dev)
    assert feats["tx-vlan-hw-insert"]["active"] and feats["rx-vlan-hw-parse"]["active"]
    assert feats["rx-vlan-filter"] == {"active": True, "fixed": True, "requested": True}
    assert ethtool_set_features(host, dev, {"rxvlan": False})
    assert dev.features & bits == NETIF_F_HW_VLAN_CTAG_TX
    assert ethtool_set_features(host, dev, {"tx-vlan-hw-insert": False})
    assert not dev.features & bits


# -- the conformance kit -------------------------------------------------------------------------
class _VlanOps(NetDeviceOps):
    """Inserts the tag "in hardware": counts the frame and frees it."""

    def open(self, dev: NetDevice) -> int:
        netif_start_queue(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len + (4 if skb_vlan_tag_present(skb) else 0)
        dev_kfree_skb(skb)
        return NETDEV_TX_OK


class _LosesTaggedOps(_VlanOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        if skb_vlan_tag_present(skb):
            dev_kfree_skb(skb)  # "the hardware cannot": freed, never counted
            return NETDEV_TX_OK
        return super().start_xmit(skb, dev)


def _kit_driver(ops: type[NetDeviceOps]) -> type[Driver]:
    class VlanKit(Driver):
        name = "kitvlan"
        summary = "a VLAN-offloading test driver"

        def init(self) -> None:
            dev = alloc_netdev(None, "kv%d", ether_setup)
            dev.dev_addr = b"\x02\x00\x00\x00\x4b\x01"
            dev.features = dev.hw_features = NETIF_F_HW_VLAN_CTAG_TX
            dev.netdev_ops = ops()
            self.register(dev)

    return VlanKit


def _kit_vlan_test(ops: type[NetDeviceOps]) -> None:
    cls = _kit_driver(ops)
    h = DriverHarness(cls.name, {}, driver_class=cls, settle_timeout=0.5)
    try:
        DriverConformance().test_vlan_tx_offload(h)
    finally:
        h.close()


def test_the_kit_passes_a_ctag_tx_driver_and_catches_one_losing_tagged_skbs() -> None:
    _kit_vlan_test(_VlanOps)
    with pytest.raises(AssertionError, match="accounted for 0"):
        _kit_vlan_test(_LosesTaggedOps)
