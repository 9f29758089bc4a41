"""Ethernet support routines: eth_type_trans, eth_header/rebuild, MAC helpers."""

from __future__ import annotations

import errno

import pytest
from frames import eth_frame

from netdrv_core import (
    ETH_HLEN,
    ETH_P_IP,
    IFF_LOOPBACK,
    IFF_NOARP,
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    NetDevice,
    SkBuff,
    alloc_netdev,
    dev_alloc_skb,
    eth_change_mtu,
    eth_header,
    eth_header_parse,
    eth_random_addr,
    eth_rebuild_header,
    eth_type_trans,
    ether_setup,
)
from netdrv_core.ether import (
    ETH_HEADER_OPS,
    ETH_P_802_2,
    ETH_P_802_3,
    format_mac,
    is_broadcast_ether_addr,
    is_multicast_ether_addr,
    is_valid_ether_addr,
    is_zero_ether_addr,
    parse_mac,
)

ME = b"\x02\x00\x00\x00\x00\x01"
OTHER = b"\x02\x00\x00\x00\x00\x02"


@pytest.fixture
def dev() -> NetDevice:
    d = alloc_netdev(None, "e0", ether_setup)
    d.dev_addr = ME
    return d


def rx(frame: bytes) -> SkBuff:
    skb = dev_alloc_skb(len(frame))
    skb.put_data(frame)
    return skb


@pytest.mark.parametrize(
    ("dst", "pkt_type"),
    [
        (ME, PACKET_HOST),
        (b"\xff" * 6, PACKET_BROADCAST),
        (b"\x01\x00\x5e\x00\x00\xfb", PACKET_MULTICAST),
        (b"\x33\x33\x00\x00\x00\x01", PACKET_MULTICAST),
        (OTHER, PACKET_OTHERHOST),
    ],
)
def test_eth_type_trans_pkt_type(dev: NetDevice, dst: bytes, pkt_type: int) -> None:
    skb = rx(eth_frame(dst, OTHER, ETH_P_IP, b"\x45" + bytes(45)))
    start = skb.data
    assert eth_type_trans(skb, dev) == ETH_P_IP
    assert skb.pkt_type == pkt_type and skb.protocol == ETH_P_IP and skb.dev is dev
    assert skb.mac_header == start and skb.data == start + ETH_HLEN == skb.network_header
    assert skb.len == 46
    assert eth_header_parse(skb) == OTHER


def test_802_3_length_frames(dev: NetDevice) -> None:
    raw_ipx = eth_frame(ME, OTHER, 40, b"\xff\xff" + bytes(38))
    skb = rx(raw_ipx)
    assert eth_type_trans(skb, dev) == ETH_P_802_3 == 0x0001
    llc = eth_frame(ME, OTHER, 40, b"\xaa\xaa\x03" + bytes(37))
    skb = rx(llc)
    assert eth_type_trans(skb, dev) == ETH_P_802_2 == 0x0004
    # 0x0600 is the first value that is a type, not a length
    assert eth_type_trans(rx(eth_frame(ME, OTHER, 0x0600, bytes(46))), dev) == 0x0600
    assert eth_type_trans(rx(eth_frame(ME, OTHER, 0x05FF, bytes(46))), dev) == ETH_P_802_2


def test_eth_type_trans_refuses_runts(dev: NetDevice) -> None:
    with pytest.raises(ValueError, match="shorter than ETH_HLEN"):
        eth_type_trans(rx(b"\x00" * 13), dev)


def test_eth_header_with_known_destination(dev: NetDevice) -> None:
    skb = dev_alloc_skb(100)
    skb.put_data(b"payload")
    assert eth_header(skb, dev, ETH_P_IP, OTHER, None, 7) == ETH_HLEN
    assert skb.tobytes()[:14] == OTHER + ME + b"\x08\x00"
    skb2 = dev_alloc_skb(100)
    src = b"\x02\xaa\xaa\xaa\xaa\xaa"
    assert eth_header(skb2, dev, ETH_P_IP, OTHER, src, 0) == ETH_HLEN
    assert skb2.tobytes()[6:12] == src


def test_eth_header_with_unknown_destination_is_negative(dev: NetDevice) -> None:
    skb = dev_alloc_skb(100)
    skb.put_data(b"x" * 10)
    assert eth_header(skb, dev, ETH_P_IP, None, None, 10) == -ETH_HLEN
    # the space is allocated and what is known filled in (seed 000)
    assert skb.len == 24 and skb.tobytes()[6:14] == ME + b"\x08\x00"
    assert eth_rebuild_header(skb) == -1  # still unknown
    assert eth_rebuild_header(skb, OTHER) == 0
    assert skb.tobytes()[:6] == OTHER
    skb2 = dev_alloc_skb(100)
    assert ETH_HEADER_OPS.create(skb2, dev, ETH_P_IP, None, None, 0) == -ETH_HLEN
    assert ETH_HEADER_OPS.rebuild(skb2) == -1


@pytest.mark.parametrize("flag", [IFF_LOOPBACK, IFF_NOARP])
def test_eth_header_needs_no_resolution_on_loopback_or_noarp(dev: NetDevice, flag: int) -> None:
    # As the kernel's eth_header: with IFF_LOOPBACK or IFF_NOARP the destination is
    # zeroed and the header is complete.
    dev.flags |= flag
    skb = dev_alloc_skb(100)
    assert eth_header(skb, dev, ETH_P_IP, None, None, 0) == ETH_HLEN
    assert skb.tobytes()[:6] == bytes(6)


@pytest.mark.parametrize("type_", [ETH_P_802_3, ETH_P_802_2])
def test_eth_header_writes_the_length_for_802_3(dev: NetDevice, type_: int) -> None:
    skb = dev_alloc_skb(100)
    assert eth_header(skb, dev, type_, OTHER, None, 77) == ETH_HLEN
    assert skb.tobytes()[12:14] == (77).to_bytes(2, "big")


def test_eth_header_needs_headroom(dev: NetDevice) -> None:
    from netdrv_core import SkbUnderPanic, alloc_skb

    with pytest.raises(SkbUnderPanic):
        eth_header(alloc_skb(100), dev, ETH_P_IP, OTHER, None, 0)


def test_eth_random_addr_is_unicast_and_locally_administered() -> None:
    addrs = {eth_random_addr() for _ in range(200)}
    assert len(addrs) > 190
    for a in addrs:
        assert len(a) == 6 and not a[0] & 1 and a[0] & 2 and is_valid_ether_addr(a)


def test_address_predicates() -> None:
    assert is_zero_ether_addr(bytes(6)) and not is_valid_ether_addr(bytes(6))
    assert is_broadcast_ether_addr(b"\xff" * 6) and is_multicast_ether_addr(b"\xff" * 6)
    assert is_multicast_ether_addr(b"\x01\x00\x5e\x00\x00\x01")
    assert not is_valid_ether_addr(b"\x01\x00\x5e\x00\x00\x01")
    assert not is_valid_ether_addr(b"\x02\x00\x00\x00\x00")  # 5 bytes
    assert is_valid_ether_addr(ME)


def test_parse_and_format_mac() -> None:
    assert parse_mac("02:00:00:aa:BB:cc") == b"\x02\x00\x00\xaa\xbb\xcc"
    assert parse_mac("02-00-00-aa-bb-cc") == b"\x02\x00\x00\xaa\xbb\xcc"
    assert parse_mac("2:0:0:a:b:c") == b"\x02\x00\x00\x0a\x0b\x0c"
    assert format_mac(b"\x02\x00\x00\xaa\xbb\xcc") == "02:00:00:aa:bb:cc"


@pytest.mark.parametrize(
    "text",
    ["", "02:00:00:00:00", "02:00:00:00:00:00:00", "02:00:00:00:00:zz", "02:00:00:00:00:100",
     "02::00:00:00:00", "0x2:00:00:00:00:01", "+2:00:00:00:00:01", " 2:00:00:00:00:01",
     "-2:00:00:00:00:01", "2_0:00:00:00:00:01"],
)  # fmt: skip
def test_parse_mac_errors(text: str) -> None:
    with pytest.raises(ValueError, match="invalid MAC address") as ei:
        parse_mac(text)
    assert "02:00:00:00:00:01" in str(ei.value)  # the message shows the expected form


def test_eth_mac_addr_and_change_mtu(dev: NetDevice) -> None:
    from netdrv_core import eth_mac_addr, eth_validate_addr

    assert eth_mac_addr(dev, OTHER) == 0 and dev.dev_addr == OTHER
    assert eth_mac_addr(dev, b"\xff" * 6) == -errno.EADDRNOTAVAIL
    assert eth_validate_addr(dev) == 0
    dev.dev_addr = bytes(6)
    assert eth_validate_addr(dev) == -errno.EADDRNOTAVAIL
    assert eth_change_mtu(dev, 67) == -errno.EINVAL
    assert eth_change_mtu(dev, 1501) == -errno.EINVAL
    assert eth_change_mtu(dev, 68) == 0 and dev.mtu == 68
