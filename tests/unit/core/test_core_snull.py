"""snull on the memory attachment: the flip, checksums, padding, filters, lockups, the pool."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from fakedev import FakeClock, LoadSnull, Run, mem
from frames import (
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    arp_request,
    eth_frame,
    flip_third_octet,
    icmp_echo_packet,
    ip4,
    ipv4_checksum_ok,
    l4_checksum_ok,
    parse_eth,
    parse_ipv4,
    pseudo_header_sum,
    tcp_packet,
    udp_packet,
)

from netdrv_core import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    PACKET_HOST,
    SIOCDEVPRIVATE,
    Host,
    NetDevice,
    SkBuff,
    dev_get_stats,
    netif_queue_stopped,
)

SRC, DST = "198.18.0.1", "198.18.0.2"
HOST_MAC = b"\x02\xaa\xbb\xcc\xdd\xee"


def devs(host: Host) -> tuple[NetDevice, NetDevice]:
    sn0, sn1 = host.dev_get_by_name("sn0"), host.dev_get_by_name("sn1")
    assert sn0 is not None and sn1 is not None
    return sn0, sn1


def send(host: Host, dev: NetDevice, packet: bytes, **meta: int) -> int:
    frame = eth_frame(dev.dev_addr, HOST_MAC, ETH_P_IP, packet)
    return mem(host).send(dev, frame, **meta)


def received(host: Host, name: str) -> list[bytes]:
    return mem(host).received(name)


def balanced(dev: NetDevice) -> bool:
    s = dev_get_stats(dev)
    return dev.core_stats.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors


@pytest.mark.parametrize(
    "packet",
    [
        icmp_echo_packet(SRC, DST, 7, 1, b"abcdefgh" * 8),
        tcp_packet(SRC, DST, 40000, 80, b"GET / HTTP/1.0\r\n\r\n" * 3),
        udp_packet(SRC, DST, 5353, 53, b"\x12\x34query" * 10),
        udp_packet(SRC, DST, 5353, 53, b"no checksum", checksum=False),
    ],
    ids=["icmp", "tcp", "udp", "udp-nocsum"],
)
def test_sn0_to_sn1_flips_the_third_octet_and_keeps_checksums_valid(
    host: Host,
    snull: LoadSnull,
    packet: bytes,
) -> None:
    snull()
    sn0, sn1 = devs(host)
    send(host, sn0, packet)
    host.loop.run_until_idle()
    got = received(host, "sn1")
    assert len(got) == 1
    dst_mac, src_mac, etype, payload = parse_eth(got[0])
    assert dst_mac == sn1.dev_addr and src_mac == sn0.dev_addr and etype == ETH_P_IP
    ip = parse_ipv4(payload)
    assert ip.src == flip_third_octet(SRC) == ip4("198.18.1.1")
    assert ip.dst == flip_third_octet(DST) == ip4("198.18.1.2")
    assert ipv4_checksum_ok(payload) and l4_checksum_ok(payload)
    orig = parse_ipv4(packet)
    l4_hlen = 20 if orig.proto == IPPROTO_TCP else 8
    assert ip.payload[l4_hlen:] == orig.payload[l4_hlen:]  # beyond the L4 header: unchanged
    assert ip.proto == orig.proto and ip.ttl == orig.ttl
    assert received(host, "sn0") == []
    assert sn0.stats.tx_packets == 1 and sn1.stats.rx_packets == 1
    assert sn1.stats.rx_bytes == len(got[0]) == sn0.stats.tx_bytes
    assert balanced(sn0)


def test_sn1_to_sn0_works_the_other_way(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, sn1 = devs(host)
    send(host, sn1, udp_packet("198.18.1.2", "198.18.1.1", 1, 2, b"back"))
    host.loop.run_until_idle()
    (frame,) = received(host, "sn0")
    ip = parse_ipv4(frame[14:])
    assert (ip.src, ip.dst) == (ip4("198.18.0.2"), ip4("198.18.0.1"))
    assert frame[:6] == sn0.dev_addr and l4_checksum_ok(frame[14:])


def test_received_skb_metadata(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, sn1 = devs(host)
    send(host, sn0, udp_packet(SRC, DST, 1, 2, b"meta"))
    host.loop.run_until_idle()
    (skb,) = mem(host).received_skbs("sn1")
    assert skb.dev is sn1 and skb.protocol == ETH_P_IP
    assert skb.ip_summed == CHECKSUM_UNNECESSARY
    assert skb.data - skb.mac_header == 14 and skb.network_header == skb.data
    assert skb.data % 4 == 0  # the IP header is aligned (NET_IP_ALIGN)


def test_short_frames_are_padded_to_eth_zlen(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, _ = devs(host)
    pkt = udp_packet(SRC, DST, 1, 2, b"x")
    assert 14 + len(pkt) == 43
    send(host, sn0, pkt)
    host.loop.run_until_idle()
    (frame,) = received(host, "sn1")
    assert len(frame) == 60 and frame[43:] == bytes(17)
    assert parse_ipv4(frame[14:]).total_length == len(pkt)
    assert l4_checksum_ok(frame[14:]) and sn0.stats.tx_bytes == 60


def test_long_frames_are_not_padded(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, _ = devs(host)
    pkt = tcp_packet(SRC, DST, 1, 2, bytes(1400))
    send(host, sn0, pkt)
    host.loop.run_until_idle()
    (frame,) = received(host, "sn1")
    assert len(frame) == 14 + len(pkt)


@pytest.mark.parametrize(
    ("etype", "payload"),
    [(ETH_P_ARP, arp_request(HOST_MAC, SRC, DST)), (ETH_P_IPV6, b"\x60" + bytes(59)),
     (ETH_P_IP, b"\x4f" + bytes(10)),  # IHL 60 > what the (padded) frame holds
     (ETH_P_IP, b"\x44" + bytes(39)),  # IHL 16 < 20
     (ETH_P_IP, b"\x65" + bytes(39))],  # version 6 in an IPv4 frame
    ids=["arp", "ipv6", "long-ihl", "short-ihl", "bad-version"],
)  # fmt: skip
def test_non_ipv4_is_dropped_and_counted(
    host: Host, snull: LoadSnull, etype: int, payload: bytes
) -> None:
    snull()
    sn0, sn1 = devs(host)
    mem(host).send(sn0, eth_frame(sn0.dev_addr, HOST_MAC, etype, payload))
    host.loop.run_until_idle()
    assert received(host, "sn1") == []
    assert sn0.stats.tx_dropped == 1 and sn0.stats.tx_packets == 0 and sn1.stats.rx_packets == 0
    assert balanced(sn0) and not netif_queue_stopped(sn0)


@pytest.mark.parametrize(("proto", "field"), [(IPPROTO_TCP, 16), (IPPROTO_UDP, 6)])
def test_checksum_partial_gets_the_pseudo_header_sum_adjusted(
    host: Host,
    snull: LoadSnull,
    proto: int,
    field: int,
) -> None:
    snull()
    sn0, sn1 = devs(host)
    build = tcp_packet if proto == IPPROTO_TCP else udp_packet
    pkt = build(SRC, DST, 1111, 2222, b"offloaded payload", partial=True)
    seg_len = len(pkt) - 20
    assert int.from_bytes(pkt[20 + field : 22 + field], "big") == pseudo_header_sum(
        SRC, DST, proto, seg_len
    )
    headroom = max(sn0.needed_headroom, 16)  # where MemoryStack.send puts the frame
    send(host, sn0, pkt, ip_summed=CHECKSUM_PARTIAL, csum_start=headroom + 14 + 20,
         csum_offset=field)  # fmt: skip
    host.loop.run_until_idle()
    (skb,) = mem(host).received_skbs("sn1")
    frame = bytes(skb.buf[skb.mac_header : skb.tail])
    l4 = frame[34:]
    value = int.from_bytes(l4[field : field + 2], "big")
    assert value == pseudo_header_sum(flip_third_octet(SRC), flip_third_octet(DST), proto, seg_len)
    assert value != pseudo_header_sum(SRC, DST, proto, seg_len)
    assert ipv4_checksum_ok(frame[14:])
    assert skb.ip_summed == CHECKSUM_PARTIAL
    assert skb.csum_start - skb.mac_header == 34 and skb.csum_offset == field
    assert skb.transport_header == skb.csum_start
    # Finishing the checksum as the stack would gives a valid packet.
    from frames import ref_checksum

    fixed = bytearray(frame[14:])
    fixed[20 + field : 22 + field] = ref_checksum(fixed[20:]).to_bytes(2, "big")
    assert l4_checksum_ok(bytes(fixed))
    assert balanced(sn0) and sn1.stats.rx_packets == 1


def test_fragments_after_the_first_keep_their_payload(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, _ = devs(host)
    frag = bytes(range(48))  # not an L4 header: must not be "fixed"
    pkt = parse_ipv4(udp_packet(SRC, DST, 1, 2, b"x")).header  # noqa: F841 (shape reference)
    from frames import ipv4_packet

    send(host, sn0, ipv4_packet(SRC, DST, IPPROTO_UDP, frag, df=False, frag_offset=1480))
    host.loop.run_until_idle()
    (frame,) = received(host, "sn1")
    ip = parse_ipv4(frame[14:])
    assert ip.payload == frag and ipv4_checksum_ok(frame[14:])


MCAST = b"\x01\x00\x5e\x00\x00\x01"
MCAST_RX = b"\x01\x00\x5e\x00\x01\x01"  # 224.0.0.1 arrives as 224.0.1.1: this group's MAC


def send_to(host: Host, dev: NetDevice, dst_mac: bytes) -> None:
    mem(host).send(
        dev, eth_frame(dst_mac, HOST_MAC, ETH_P_IP, udp_packet(SRC, "224.0.0.1", 1, 2, b"m"))
    )
    host.loop.run_until_idle()


def test_multicast_filter(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, sn1 = devs(host)
    send_to(host, sn0, MCAST)
    assert received(host, "sn1") == [] and sn1.stats.rx_dropped == 1
    host.dev_mc_add(sn1, MCAST_RX)
    send_to(host, sn0, MCAST)
    (frame,) = received(host, "sn1")
    assert frame[:6] == MCAST_RX  # the group address follows the flip; it is not the peer's
    assert sn1.stats.multicast == 1
    send_to(host, sn0, b"\x01\x00\x5e\x00\x00\x02")  # another group: still filtered
    assert received(host, "sn1") == [] and sn1.stats.rx_dropped == 2
    host.dev_set_rx_mode(sn1, allmulti=True)
    send_to(host, sn0, b"\x01\x00\x5e\x00\x00\x02")
    assert len(received(host, "sn1")) == 1
    host.dev_set_rx_mode(sn1, allmulti=False, promisc=True)
    send_to(host, sn0, b"\x01\x00\x5e\x00\x00\x03")
    assert len(received(host, "sn1")) == 1
    host.dev_set_rx_mode(sn1, promisc=False, mc_list=[])
    send_to(host, sn0, b"\xff" * 6)  # broadcast always passes
    (frame,) = received(host, "sn1")
    assert frame[:6] == b"\xff" * 6
    assert balanced(sn0)


def test_an_ipv4_group_address_follows_the_flip_so_a_member_of_the_flipped_group_gets_it(
    host: Host, snull: LoadSnull
) -> None:
    # 239.1.0.5 leaves sn0 and arrives on sn1 as 239.1.1.5: sn1's filter holds that group's
    # MAC (RFC 1112: 01:00:5e + the low 23 bits), so the frame must carry it, not the old one.
    snull()
    sn0, sn1 = devs(host)
    host.dev_mc_add(sn1, b"\x01\x00\x5e\x01\x01\x05")  # ip maddr: 239.1.1.5 joined on sn1
    pkt = udp_packet(SRC, "239.1.0.5", 1, 2, b"group")
    mem(host).send(sn0, eth_frame(b"\x01\x00\x5e\x01\x00\x05", HOST_MAC, ETH_P_IP, pkt))
    host.loop.run_until_idle()
    (frame,) = received(host, "sn1")
    assert frame[:6] == b"\x01\x00\x5e\x01\x01\x05" and frame[6:12] == sn0.dev_addr
    assert parse_ipv4(frame[14:]).dst == ip4("239.1.1.5") and l4_checksum_ok(frame[14:])
    assert sn1.stats.multicast == 1 and sn1.stats.rx_dropped == 0


def test_peer_down_drops_on_the_peer(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, sn1 = devs(host)
    host.dev_close(sn1)
    send(host, sn0, udp_packet(SRC, DST, 1, 2, b"x"))
    host.loop.run_until_idle()
    assert sn0.stats.tx_packets == 1 and sn1.stats.rx_dropped == 1
    assert sn0.priv.pool_free == sn0.priv.params["pool_size"]  # buffer given back


def test_lockup_recovered_by_the_watchdog(host: Host, snull: LoadSnull, run: Run) -> None:
    snull(lockup=3, timeout=50)
    sn0, _ = devs(host)
    assert sn0.watchdog_timeo == 0.05
    for i in range(10):
        send(host, sn0, udp_packet(SRC, DST, 1, 2, bytes([i]) * 20))
    host.loop.run_until_idle()
    assert netif_queue_stopped(sn0) and sn0.stats.tx_packets == 2  # the 3rd locked up
    assert len(sn0.qdisc) == 7
    run(0.3)
    assert sn0.core_stats.tx_timeouts >= 3 and sn0.priv.lockups == sn0.core_stats.tx_timeouts
    assert sn0.stats.tx_errors == sn0.priv.lockups
    assert not sn0.qdisc and not netif_queue_stopped(sn0)
    assert sn0.core_stats.tx_submitted == 10 and balanced(sn0)
    got = received(host, "sn1")
    assert len(got) == 10  # the "hardware" delivered them all; only TX-done was lost
    assert [parse_ipv4(f[14:]).payload[8] for f in got] == list(range(10))


def test_closing_with_a_pending_transmission_counts_it(host: Host, snull: LoadSnull) -> None:
    snull(lockup=1)
    sn0, _ = devs(host)
    send(host, sn0, udp_packet(SRC, DST, 1, 2, b"x"))
    host.loop.run_until_idle()
    assert sn0.priv.skb is not None
    host.dev_close(sn0)
    assert sn0.stats.tx_errors == 1 and balanced(sn0)


def test_pool_exhaustion_stops_and_refill_wakes_the_queue(host: Host, snull: LoadSnull) -> None:
    snull(use_napi=1, pool_size=2)
    sn0, sn1 = devs(host)
    for i in range(10):
        send(host, sn0, udp_packet(SRC, DST, 1, 2, bytes([i]) * 20))
    # No loop run yet: sn1's NAPI poll has not given the buffers back.
    assert sn0.priv.pool_free == 0 and netif_queue_stopped(sn0)
    assert len(sn0.qdisc) == 8 and sn0.core_stats.tx_submitted == 2
    host.loop.run_until_idle()
    assert not netif_queue_stopped(sn0) and not sn0.qdisc
    assert sn0.priv.pool_free == 2
    got = received(host, "sn1")
    assert [parse_ipv4(f[14:]).payload[8] for f in got] == list(range(10))
    assert sn0.core_stats.tx_busy == 0 and balanced(sn0)
    assert sn1.stats.rx_packets == 10


@pytest.mark.parametrize("use_napi", [0, 1])
def test_every_skb_ends_exactly_once_under_lockup_and_pool_exhaustion(
    host: Host,
    snull: LoadSnull,
    clock: FakeClock,
    use_napi: int,
) -> None:
    snull(lockup=4, timeout=20, pool_size=3, use_napi=use_napi, napi_weight=2)
    sn0, sn1 = devs(host)
    sent = 0
    for burst in range(15):
        for _ in range(burst % 5 + 1):
            send(host, sn0, udp_packet(SRC, DST, 1, 2, bytes([sent & 0xFF]) * 30))
            sent += 1
        if burst % 3 == 0:  # a non-IPv4 frame now and then: dropped and counted
            mem(host).send(sn0, eth_frame(sn0.dev_addr, HOST_MAC, ETH_P_ARP,
                                                arp_request(HOST_MAC, SRC, DST)))  # fmt: skip
            sent += 1
        for _ in range(7):
            clock.advance(0.004)
            host.loop.run_until_idle()
    for _ in range(200):
        if not sn0.qdisc and sn0.priv.skb is None:
            break
        clock.advance(0.005)
        host.loop.run_until_idle()
    cs = sn0.core_stats
    s = dev_get_stats(sn0)
    assert cs.tx_qdisc_drops == 0 and not sn0.qdisc
    assert cs.tx_submitted == sent
    assert cs.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors
    assert s.tx_errors == sn0.priv.lockups > 0 and s.tx_dropped == 5
    assert cs.tx_busy == 0  # the queue is always stopped before the pool runs dry
    assert len(received(host, "sn1")) == sent - 5 == sn1.stats.rx_packets
    assert sn0.priv.pool_free == 3


def test_napi_delivers_everything(host: Host, snull: LoadSnull) -> None:
    snull(use_napi=1, napi_weight=8, pool_size=64)
    sn0, sn1 = devs(host)
    napi = sn1.priv.napi
    for i in range(50):
        send(host, sn0, udp_packet(SRC, DST, 1, 2, i.to_bytes(2, "big") * 10))
    host.loop.run_until_idle()
    got = received(host, "sn1")
    assert [parse_ipv4(f[14:]).payload[8:10] for f in got] == [
        i.to_bytes(2, "big") for i in range(50)
    ]
    assert napi.polls >= 50 // 8 and napi.work_done_total == 50
    assert sn1.core_stats.rx_delivered == 50 and not napi.scheduled
    assert sn1.priv.rx_int_enabled


def test_change_mtu_accepts_68_to_1500_only(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, _ = devs(host)
    sn0.min_mtu, sn0.max_mtu = 1, 65535  # let the driver's own rule decide
    assert host.dev_set_mtu(sn0, 67) == -errno.EINVAL
    assert host.dev_set_mtu(sn0, 1501) == -errno.EINVAL
    assert sn0.mtu == 1500
    assert host.dev_set_mtu(sn0, 68) == 0 and sn0.mtu == 68
    assert host.dev_set_mtu(sn0, 1500) == 0 and sn0.mtu == 1500


def test_set_config_refused_while_up(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, _ = devs(host)
    assert host.dev_set_config(sn0, {"irq": 9}) == -errno.EBUSY
    host.dev_close(sn0)
    assert host.dev_set_config(sn0, {"irq": 9}) == 0 and sn0.irq == 9
    # shown where ifconfig would show it (SIOCGIFMAP): status --json's ifmap
    from netdrv_core.status import device_status

    assert device_status(host, sn0)["ifmap"]["irq"] == 9
    assert host.dev_set_config(sn0, {"base_addr": 0x300}) == -errno.EOPNOTSUPP
    # LDD's printk is in the log; netdrv set shows the reason too (extack).
    assert host.extack is not None and "can't change I/O address" in host.extack
    assert sn0.base_addr == 0
    assert host.dev_set_config(sn0, {"base_addr": sn0.base_addr}) == 0


def test_private_ioctls(host: Host, snull: LoadSnull) -> None:
    snull(pool_size=5)
    sn0, _ = devs(host)
    state = host.dev_ioctl(sn0, SIOCDEVPRIVATE)
    assert {k: state[k] for k in ("pool_free", "rx_queue", "lockups", "lockup", "use_napi",
                                  "tx_pending")} == {"pool_free": 5, "rx_queue": 0, "lockups": 0,
                                                     "lockup": 0, "use_napi": False,
                                                     "tx_pending": False}  # fmt: skip
    assert host.dev_ioctl(sn0, SIOCDEVPRIVATE + 1, 2) == 0
    assert host.dev_ioctl(sn0, SIOCDEVPRIVATE)["lockup"] == 2
    assert host.dev_ioctl(sn0, SIOCDEVPRIVATE + 1, -1) == -errno.EINVAL
    assert host.dev_ioctl(sn0, SIOCDEVPRIVATE + 1, "3") == -errno.EINVAL
    assert host.dev_ioctl(sn0, SIOCDEVPRIVATE + 3) == -errno.EOPNOTSUPP
    send(host, sn0, udp_packet(SRC, DST, 1, 2, b"a"))
    send(host, sn0, udp_packet(SRC, DST, 1, 2, b"b"))  # the 2nd locks up
    host.loop.run_until_idle()
    st = host.dev_ioctl(sn0, SIOCDEVPRIVATE)
    assert st["tx_pending"] and st["pool_free"] == 5


def test_carrier_ioctl(host: Host, snull: LoadSnull) -> None:
    from netdrv_core import netif_carrier_ok

    snull()
    sn0, _ = devs(host)
    assert host.dev_ioctl(sn0, SIOCDEVPRIVATE + 2, 0) == 0 and not netif_carrier_ok(sn0)
    assert sn0.operstate == "lowerlayerdown"
    assert host.dev_ioctl(sn0, SIOCDEVPRIVATE + 2, 1) == 0 and netif_carrier_ok(sn0)
    assert host.dev_ioctl(sn0, SIOCDEVPRIVATE + 2, 5) == -errno.EINVAL


def test_mac_address_and_ethtool(host: Host, snull: LoadSnull) -> None:
    from netdrv_core.ethtool import ethtool_report

    snull()
    sn0, sn1 = devs(host)
    assert sn0.dev_addr == b"\x00SNUL0" and sn1.dev_addr == b"\x00SNUL1"
    assert host.dev_set_mac_address(sn0, b"\x02SNULX") == -errno.EBUSY
    rep = ethtool_report(sn0)
    assert rep["driver"] == "snull" and rep["speed"] == 10000 and rep["duplex"] == "full"
    assert {"lockups": 0, "pool_free": 8, "rx_queue": 0}.items() <= rep["stats"].items()


def test_eth_names_and_unload(host: Host, snull: LoadSnull) -> None:
    drv = snull(eth=1)
    assert sorted(host.devices) == ["eth0", "eth1"]
    with host.as_current():
        drv.exit()
    assert host.devices == {}


def _aligned_skb(dev: NetDevice, frame: bytes, headroom: int = 34) -> SkBuff:
    """An skb as the TAP reader builds it: 34 bytes of headroom, so the IP header is aligned."""
    skb = SkBuff(headroom + len(frame))
    skb.buf[headroom:] = frame
    skb.data = skb.mac_header = headroom
    skb.tail = headroom + len(frame)
    skb.dev = dev
    return skb


def test_an_aligned_skb_is_handed_to_the_peer_itself(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, sn1 = devs(host)
    pkt = udp_packet(SRC, DST, 1, 2, b"veth-like" * 4)
    skb = _aligned_skb(sn0, eth_frame(sn0.dev_addr, HOST_MAC, ETH_P_IP, pkt))
    skb.priority = 5
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    (got,) = mem(host).received_skbs("sn1")
    assert got is skb and not got.freed  # no copy: the receiver owns the transmitted skb
    assert got.dev is sn1 and got.protocol == ETH_P_IP and got.pkt_type == PACKET_HOST
    assert got.mac_header == 34 and got.data == got.network_header == 48
    assert got.ip_summed == CHECKSUM_UNNECESSARY
    frame = bytes(got.buf[got.mac_header : got.tail])
    assert frame[:12] == sn1.dev_addr + sn0.dev_addr
    assert ipv4_checksum_ok(frame[14:]) and l4_checksum_ok(frame[14:])
    assert sn0.stats.tx_packets == 1 and sn1.stats.rx_packets == 1 and balanced(sn0)
    assert sn0.priv.pool_free == sn0.priv.pool_size


def test_an_unaligned_skb_is_copied_aligned_and_freed(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, _ = devs(host)
    skb = _aligned_skb(sn0, eth_frame(sn0.dev_addr, HOST_MAC, ETH_P_IP,
                                      udp_packet(SRC, DST, 1, 2, b"copied" * 6)), headroom=17)  # fmt: skip
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    (got,) = mem(host).received_skbs("sn1")
    assert got is not skb and skb.freed and got.data % 4 == 0


@pytest.mark.parametrize("use_napi", [0, 1])
def test_a_locked_up_transmission_is_not_freed_under_the_receiver(
    host: Host, snull: LoadSnull, run: Run, use_napi: int
) -> None:
    snull(lockup=1, timeout=20, use_napi=use_napi)
    sn0, _ = devs(host)
    skb = _aligned_skb(sn0, eth_frame(sn0.dev_addr, HOST_MAC, ETH_P_IP,
                                      udp_packet(SRC, DST, 1, 2, b"lost irq" * 4)))  # fmt: skip
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    assert sn0.priv.skb is skb and netif_queue_stopped(sn0)
    run(0.1)  # tx_timeout completes it as an error, without freeing the peer's skb
    assert sn0.priv.skb is None and sn0.stats.tx_errors == 1 and balanced(sn0)
    (got,) = mem(host).received_skbs("sn1")
    assert got is skb and not got.freed


def _flip_case(proto: str, src: bytes, dst: bytes, payload: bytes, ident: int,
               ip_kw: dict[str, Any]) -> bytes:  # fmt: skip
    """A packet built from scratch by the test's own RFC 1071 helpers (``frames``)."""
    if proto == "tcp":
        return tcp_packet(src, dst, 40000, 5201, payload, ident=ident, **ip_kw)
    if proto == "tcp-partial":
        return tcp_packet(src, dst, 40000, 5201, payload, partial=True, ident=ident, **ip_kw)
    return udp_packet(src, dst, 40000, 5201, payload, checksum=proto == "udp", ident=ident,
                      **ip_kw)  # fmt: skip


def _steered(checksum: int, word: int, target: int) -> int:
    """The value of a 16-bit word, ``word`` now, that makes a checksum now ``checksum``
    ``target``: one's-complement arithmetic, ``word + (checksum - target)``."""
    x = word + checksum + (~target & 0xFFFF)
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def test_the_flip_gives_what_a_from_scratch_build_of_the_flipped_packet_has() -> None:
    """flip_ipv4 against the reference: the flipped packet is byte for byte what the test's
    own RFC 1071 builder makes with the flipped addresses — IP, UDP and TCP checksums, the
    pseudo-header sum of CHECKSUM_PARTIAL, UDP's 0 (none) kept and a computed 0 sent as
    0xFFFF — with the checksums steered (through the IP ID and the first payload word) to
    the high bytes where the fast path's one-byte update stops as well as random ones."""
    import random

    from netdrv_snull.ipv4 import flip_ipv4

    rnd = random.Random(1624)
    edges = [0x00, 0x01, 0x02, 0x03, 0xFC, 0xFD, 0xFE, 0xFF]
    # Whole values too: 0x0200 and 0xFDFF become 0 after the flip (UDP: sent as 0xFFFF).
    exact = [0x0000, 0x0001, 0x01FF, 0x0200, 0x0201, 0xFCFF, 0xFD00, 0xFDFE, 0xFDFF, 0xFEFF, 0xFFFF]

    def target() -> int:
        if rnd.random() < 0.3:
            return rnd.choice(exact)
        return rnd.choice(edges) << 8 | rnd.randrange(256)

    seen: set[tuple[str, int, int]] = set()  # (protocol, IP checksum high byte, L4's)
    udp_zero = 0
    for _ in range(6000):
        third = rnd.choice([(0, 0), (1, 1), (0, 1), (1, 0)])  # mostly the same low bit
        src = bytes([198, 18, third[0] | rnd.choice([0, 2, 0xFE]), rnd.randint(1, 254)])
        dst = bytes([198, 18, third[1] | rnd.choice([0, 2]), rnd.randint(1, 254)])
        proto = rnd.choice(["udp", "udp", "udp0", "tcp", "tcp-partial"])
        payload = bytearray(rnd.randbytes(rnd.choice([2, 3, 18, 64, 200])))
        ip_kw = {"df": rnd.random() < 0.7, "more_fragments": rnd.random() < 0.1,
                 "options": b"\x01\x01\x01\x00" if rnd.random() < 0.1 else b""}  # fmt: skip
        l4_at = 20 + len(ip_kw["options"]) + (6 if proto.startswith("udp") else 16)
        ident = rnd.randrange(0x10000)
        if proto in ("udp", "tcp") and rnd.random() < 0.8:
            pkt = _flip_case(proto, src, dst, bytes(payload), ident, ip_kw)
            word = _steered(pkt[l4_at] << 8 | pkt[l4_at + 1], payload[0] << 8 | payload[1],
                            target())  # fmt: skip
            payload[0:2] = word.to_bytes(2, "big")
        if rnd.random() < 0.8:
            pkt = _flip_case(proto, src, dst, bytes(payload), ident, ip_kw)
            ident = _steered(pkt[10] << 8 | pkt[11], ident, target())
        pkt = _flip_case(proto, src, dst, bytes(payload), ident, ip_kw)
        flipped = (flip_third_octet(src), flip_third_octet(dst))
        expected = _flip_case(proto, *flipped, bytes(payload), ident, ip_kw)
        buf = bytearray(14) + pkt
        flip_ipv4(buf, 14, len(buf), 14 + l4_at if proto == "tcp-partial" else -1)
        assert bytes(buf[14:]) == expected, (proto, pkt.hex(), expected.hex())
        seen.add((proto, pkt[10], pkt[l4_at]))
        udp_zero += proto == "udp" and expected[l4_at : l4_at + 2] == b"\xff\xff"
    for proto in ("udp", "tcp"):  # every edge was reached, in the IP and the L4 checksum
        for hi in edges:
            assert any(p == proto and ip == hi for p, ip, _ in seen), (proto, hi)
            assert any(p == proto and l4 == hi for p, _, l4 in seen), (proto, hi)
    assert udp_zero > 10  # a computed UDP checksum of 0, sent as 0xFFFF


def test_the_flip_fast_path_matches_the_general_one_bit_for_bit() -> None:
    import random

    from netdrv_snull.ipv4 import FlipError, _flip_ipv4_general, flip_ipv4

    rnd = random.Random(7)
    edges = [0, 1, 2, 3, 0x1FF, 0x200, 0x201, 0xFCFF, 0xFD00, 0xFDFE, 0xFDFF, 0xFEFF, 0xFFFF]
    for _ in range(20_000):
        pkt = bytearray(rnd.randbytes(rnd.choice([rnd.randint(0, 60), 40])))
        n = len(pkt)
        if n and rnd.random() < 0.9:
            pkt[0] = 0x45 if rnd.random() < 0.8 else 0x40 | rnd.randint(0, 15)
        if n > 9:
            pkt[9] = rnd.choice([6, 17, 1])
        if n > 7 and rnd.random() < 0.6:
            pkt[6], pkt[7] = rnd.choice([0, 0x40]), 0
        if n > 18 and rnd.random() < 0.8:  # same low bit in both third octets, mostly
            pkt[18] = (pkt[18] & 0xFE) | (pkt[14] & 1 if rnd.random() < 0.9 else rnd.randint(0, 1))
        for off in (10, 26, 36):
            if n > off + 1 and rnd.random() < 0.5:
                v = rnd.choice(edges)
                pkt[off], pkt[off + 1] = v >> 8, v & 0xFF
        partial = rnd.choice([-1, -1, 40, rnd.randint(14, 14 + n + 2)])
        outs = []
        for fn in (_flip_ipv4_general, flip_ipv4):
            buf = bytearray(14) + pkt
            try:
                fn(buf, 14, len(buf), partial)
                outs.append(bytes(buf))
            except FlipError:
                outs.append(b"FlipError")
        assert outs[0] == outs[1], (pkt.hex(), partial)
