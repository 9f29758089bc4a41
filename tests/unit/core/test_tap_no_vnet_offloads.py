"""A driver's offload job written to a TUN/TAP without a virtio-net header is done first.

Without the header nothing tells the kernel a checksum is partial or a frame is a
super-frame: it would take the bytes as they are (a wrong checksum, dropped by its
TCP/UDP).  So, as Linux before a device that takes no offloads (``validate_xmit_skb``),
the kernel attachment finishes a partial checksum (``skb_checksum_help``) and cuts a
super-frame into segments with finished checksums (``skb_gso_segment``).
"""

from __future__ import annotations

import os
import socket
import struct

import pytest
from fakedev import FakeTunTap, kernel_port, make_dev, rx_skb
from frames import (
    ETH_P_IP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    eth_frame,
    ipv4_checksum_ok,
    l4_checksum_ok,
    parse_eth,
    parse_ipv4,
    tcp_packet,
    udp_packet,
)

from netdrv_core import Host, netif_rx
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.attach.vnet import VNET_HDR, VNET_HDR_LEN
from netdrv_core.skbuff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_TCPV4,
    SKB_GSO_UDP_L4,
    SkBuff,
)

DST, SRC = "02:00:00:00:00:10", "02:00:00:00:00:20"
A, B = "198.18.0.2", "198.18.0.1"


def _partial(proto: int, payload: bytes, **kw: int) -> bytes:
    """An Ethernet frame whose L4 checksum is partial (the pseudo-header sum)."""
    if proto == IPPROTO_TCP:
        return eth_frame(DST, SRC, ETH_P_IP, tcp_packet(A, B, 40000, 5201, payload, partial=True,
                                                        **kw))  # fmt: skip
    return eth_frame(DST, SRC, ETH_P_IP, udp_packet(A, B, 40000, 9, payload, partial=True))


def _offload_skb(dev, frame: bytes, proto: int, gso_size: int = 0) -> SkBuff:  # type: ignore[no-untyped-def]
    skb = rx_skb(dev, frame)
    skb.ip_summed, skb.csum_start = CHECKSUM_PARTIAL, skb.mac_header + 34
    skb.csum_offset = 16 if proto == IPPROTO_TCP else 6
    if gso_size:
        skb.gso_size = gso_size
        skb.gso_type = SKB_GSO_TCPV4 if proto == IPPROTO_TCP else SKB_GSO_UDP_L4
    return skb


def _written(a: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(a.recv(70000))
        except BlockingIOError:
            return out


@pytest.mark.parametrize("proto", [IPPROTO_TCP, IPPROTO_UDP])
def test_a_partial_checksum_is_finished(host: Host, proto: int) -> None:
    dev, _ops = make_dev(host, "k%d")
    with kernel_port(host, dev) as (ks, _port, a):
        a.setblocking(False)
        frame = _partial(proto, b"q" * 41)  # an odd length: the sum's last byte is padded
        assert ks.receive(dev, _offload_skb(dev, frame, proto))
        (got,) = _written(a)
    # The frame as a stack that finished the checksum would have built it, nothing else.
    done = (eth_frame(DST, SRC, ETH_P_IP, tcp_packet(A, B, 40000, 5201, b"q" * 41))
            if proto == IPPROTO_TCP
            else eth_frame(DST, SRC, ETH_P_IP, udp_packet(A, B, 40000, 9, b"q" * 41)))  # fmt: skip
    assert got == done and l4_checksum_ok(got[14:])
    assert ks.counters["bad_offload"] == 0


@pytest.mark.parametrize("proto", [IPPROTO_TCP, IPPROTO_UDP])
def test_a_super_frame_goes_as_its_segments(host: Host, proto: int) -> None:
    dev, _ops = make_dev(host, "k%d")
    payload = os.urandom(3500)
    with kernel_port(host, dev) as (ks, _port, a):
        a.setblocking(False)
        skb = _offload_skb(dev, _partial(proto, payload), proto, gso_size=1000)
        assert ks.receive(dev, skb)
        got = _written(a)
    assert len(got) == 4  # 1000 + 1000 + 1000 + 500
    data = b""
    for i, frame in enumerate(got):
        dst, src, etype, packet = parse_eth(frame)
        assert (dst, src, etype) == (bytes.fromhex(DST.replace(":", "")),
                                     bytes.fromhex(SRC.replace(":", "")), ETH_P_IP)  # fmt: skip
        assert ipv4_checksum_ok(packet) and l4_checksum_ok(packet), i
        ip = parse_ipv4(packet)
        hlen = 20 if proto == IPPROTO_TCP else 8
        if proto == IPPROTO_TCP:
            assert struct.unpack("!I", ip.payload[4:8])[0] == 1000 + i * 1000  # the sequence
        else:
            assert struct.unpack("!H", ip.payload[4:6])[0] == len(ip.payload)  # UDP length
        data += ip.payload[hlen:]
    assert data == payload


def test_through_netif_rx_a_super_frame_counts_once(host: Host) -> None:
    dev, _ops = make_dev(host, "k%d")
    with kernel_port(host, dev, attach=True) as (_ks, _port, a):
        a.setblocking(False)
        skb = _offload_skb(dev, _partial(IPPROTO_UDP, bytes(2500)), IPPROTO_UDP, gso_size=1000)
        with host.as_current():
            netif_rx(skb)
        host.loop.run_until_idle()
        assert len(_written(a)) == 3
    cs = dev.core_stats
    assert (cs.rx_submitted, cs.rx_delivered, cs.rx_down_drops) == (1, 1, 0)


def test_a_job_that_cannot_be_done_is_dropped_and_counted(host: Host) -> None:
    dev, _ops = make_dev(host, "k%d")
    with kernel_port(host, dev) as (ks, _port, a):
        a.setblocking(False)
        bad = _offload_skb(dev, _partial(IPPROTO_TCP, b"q" * 40), IPPROTO_TCP)
        bad.csum_offset = 5000  # outside the frame
        assert ks.receive(dev, bad) is False
        # gso_type says TCP, the packet is UDP: no segmentation can be right.
        bad = _offload_skb(dev, _partial(IPPROTO_UDP, bytes(2500)), IPPROTO_UDP, gso_size=1000)
        bad.gso_type = SKB_GSO_TCPV4
        assert ks.receive(dev, bad) is False
        assert _written(a) == []
    assert ks.counters["bad_offload"] == 2 and dev.core_stats.rx_down_drops == 2


def test_frames_without_a_job_are_written_as_they_are(host: Host) -> None:
    dev, _ops = make_dev(host, "k%d")
    with kernel_port(host, dev) as (ks, _port, a):
        a.setblocking(False)
        frame = _partial(IPPROTO_UDP, b"as it is")  # not marked partial: the driver's bytes
        for summed in (CHECKSUM_NONE, CHECKSUM_UNNECESSARY):
            skb = rx_skb(dev, frame)
            skb.ip_summed = summed
            assert ks.receive(dev, skb)
        assert _written(a) == [frame, frame]


def test_with_a_vnet_header_the_job_is_passed_on(host: Host) -> None:
    dev, _ops = make_dev(host, "k%d")
    with kernel_port(host, dev, vnet_hdr=True) as (ks, _port, a):
        a.setblocking(False)
        frame = _partial(IPPROTO_TCP, bytes(3000))
        assert ks.receive(dev, _offload_skb(dev, frame, IPPROTO_TCP, gso_size=1000))
        (got,) = _written(a)
    flags, gso_type, _hl, gso_size, csum_start, csum_offset = VNET_HDR.unpack_from(got)
    assert got[VNET_HDR_LEN:] == frame  # the super-frame whole, its checksum partial
    assert (flags, gso_type, gso_size, csum_start, csum_offset) == (1, 1, 1000, 34, 16)


def test_on_a_tun_the_segments_are_ip_packets(host: Host) -> None:
    from netdrv_core import NetDeviceOps, alloc_netdev
    from netdrv_core.linktypes import ptp_setup

    def setup(dev):  # type: ignore[no-untyped-def]
        ptp_setup(dev, mtu=1500)
        dev.netdev_ops = NetDeviceOps()

    dev = alloc_netdev(None, "tl%d", setup)
    host.register_netdev(dev)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    tt = FakeTunTap(b.fileno(), dev.name)
    tt.tap = False
    ks = KernelStack()
    ks.host = host
    ks.ports[dev.name] = _Port(dev, tt, 1)  # type: ignore[arg-type]
    try:
        a.setblocking(False)
        packet = udp_packet(A, B, 40000, 9, os.urandom(2100), partial=True)
        skb = SkBuff(2 + len(packet))
        skb.buf[2:] = packet
        skb.data, skb.tail, skb.dev, skb.protocol = 2, 2 + len(packet), dev, ETH_P_IP
        skb.ip_summed, skb.csum_start, skb.csum_offset = CHECKSUM_PARTIAL, 2 + 20, 6
        skb.gso_size, skb.gso_type = 1000, SKB_GSO_UDP_L4
        assert ks.receive(dev, skb)
        got = _written(a)
    finally:
        a.close()
        b.close()
    assert [len(p) for p in got] == [1028, 1028, 128]
    assert all(p[0] >> 4 == 4 and ipv4_checksum_ok(p) and l4_checksum_ok(p) for p in got)
    assert b"".join(parse_ipv4(p).payload[8:] for p in got) == packet[28:]
