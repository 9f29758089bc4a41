"""The etherdevice.h / netdevice.h address helpers and the skb padding helpers.

Since Linux 5.15 ``dev->dev_addr`` is const: drivers set it with ``eth_hw_addr_set``,
``dev_addr_set`` or ``dev_addr_mod``.  Padding: ``skb_padto`` zeroes up to a length without
changing ``skb->len``, ``skb_put_padto``/``eth_skb_pad`` extend it; on failure Linux frees the
skb and returns -ENOMEM.
"""

from __future__ import annotations

import errno

import pytest
from fakedev import make_dev

from netdrv_core import (
    ETH_ZLEN,
    Host,
    NetDevice,
    SkbError,
    SkBuff,
    alloc_etherdev,
    alloc_netdev,
    dev_addr_mod,
    dev_addr_set,
    eth_broadcast_addr,
    eth_hw_addr_set,
    eth_skb_pad,
    eth_zero_addr,
    ether_addr_copy,
    ether_addr_equal,
    is_local_ether_addr,
    is_unicast_ether_addr,
    ptp_setup,
    skb_pad,
    skb_padto,
    skb_put_padto,
)

MAC = b"\x00\x1b\x21\x3c\x4d\x5e"  # a manufacturer's (universally administered) address


# -- addresses -------------------------------------------------------------------------
def test_eth_hw_addr_set_sets_the_address_from_any_buffer() -> None:
    dev = alloc_etherdev()
    eth_hw_addr_set(dev, memoryview(bytearray(MAC)))
    assert dev.dev_addr == MAC and type(dev.dev_addr) is bytes  # a copy: const, as in Linux


@pytest.mark.parametrize("addr", [MAC[:5], MAC + b"\0"])
def test_eth_hw_addr_set_refuses_anything_but_six_bytes(addr: bytes) -> None:
    dev = alloc_etherdev()
    with pytest.raises(ValueError, match=r"ETH_ALEN \(6\)"):
        eth_hw_addr_set(dev, addr)
    assert dev.dev_addr == bytes(6)  # ether_setup's


def test_eth_hw_addr_set_refuses_a_device_whose_addresses_are_not_ethernet() -> None:
    dev = alloc_netdev(None, "sl%d", ptp_setup)  # addr_len 0
    with pytest.raises(ValueError, match=r"0 bytes \(addr_len\).*dev_addr_set"):
        eth_hw_addr_set(dev, MAC)


def test_dev_addr_set_takes_addr_len_bytes() -> None:
    dev = NetDevice("fw%d")
    dev.addr_len = 8  # a non-Ethernet link layer (FireWire's EUI-64)
    dev_addr_set(dev, bytes(range(8)))
    assert dev.dev_addr == bytes(range(8))
    with pytest.raises(ValueError, match=r"6 bytes, but the device's addresses are 8"):
        dev_addr_set(dev, MAC)
    assert dev.dev_addr == bytes(range(8))


def test_dev_addr_mod_changes_part_of_the_address() -> None:
    dev = alloc_etherdev()
    eth_hw_addr_set(dev, MAC)
    dev_addr_mod(dev, 3, b"\xaa\xbb\xcc")  # as drivers give each port its own tail
    assert dev.dev_addr == MAC[:3] + b"\xaa\xbb\xcc"
    dev_addr_mod(dev, 5, b"\x01\x02\x03", 1)  # Linux's len argument: the first byte only
    assert dev.dev_addr == MAC[:3] + b"\xaa\xbb\x01"


def test_dev_addr_mod_of_an_unset_address_starts_from_zeros() -> None:
    dev = NetDevice("t%d")
    dev.addr_len = 6  # dev_addr still empty: Linux's is addr_len zeros
    dev_addr_mod(dev, 4, b"\x12\x34")
    assert dev.dev_addr == b"\0\0\0\0\x12\x34"


@pytest.mark.parametrize(("offset", "part"), [(4, b"\1\2\3"), (-1, b"\1"), (6, b"\1")])
def test_dev_addr_mod_refuses_what_does_not_fit(offset: int, part: bytes) -> None:
    dev = alloc_etherdev()
    eth_hw_addr_set(dev, MAC)
    with pytest.raises(ValueError, match="dev_addr_mod"):
        dev_addr_mod(dev, offset, part)
    assert dev.dev_addr == MAC


def test_dev_addr_mod_refuses_a_length_longer_than_the_buffer() -> None:
    dev = alloc_etherdev()
    with pytest.raises(ValueError, match="dev_addr_mod of 4 bytes at 0 from 2 bytes"):
        dev_addr_mod(dev, 0, b"\1\2", 4)


def test_an_address_set_before_register_is_the_permanent_one(host: Host) -> None:
    dev, _ = make_dev(host, up=False)
    assert dev.perm_addr == dev.dev_addr  # make_dev's
    new = alloc_etherdev()
    eth_hw_addr_set(new, MAC)
    host.register_netdev(new)
    assert new.perm_addr == MAC


def test_eth_hw_addr_set_from_set_mac_address_reaches_the_stack(host: Host) -> None:
    # The modern ndo_set_mac_address: validate, then eth_hw_addr_set.  The core tells the
    # stack (NETDEV_CHANGEADDR) after the op, as dev_set_mac_address does.
    dev, ops = make_dev(host, up=False)
    told: list[bytes] = []
    host.attachment.address_changed = lambda d: told.append(d.dev_addr)  # type: ignore[method-assign]
    ops.set_mac_address = lambda d, a: eth_hw_addr_set(d, a)  # type: ignore[method-assign,assignment]
    assert host.dev_set_mac_address(dev, MAC) == 0
    assert dev.dev_addr == MAC and told == [MAC]


def test_ether_addr_equal_compares_six_bytes_of_any_buffer() -> None:
    frame = bytearray(MAC + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00")
    assert ether_addr_equal(memoryview(frame)[:6], MAC)
    assert ether_addr_equal(frame, MAC)  # the destination of a frame: its first 6 bytes
    assert not ether_addr_equal(memoryview(frame)[6:12], MAC)
    with pytest.raises(ValueError, match="shorter than an Ethernet address"):
        ether_addr_equal(MAC[:4], MAC)


def test_ether_addr_copy_writes_into_a_buffer_as_in_c() -> None:
    skb = SkBuff(64)
    hdr = skb.put(14)
    ether_addr_copy(hdr[0:6], MAC)  # the destination of a header being built
    ether_addr_copy(memoryview(skb.buf)[6:12], b"\x02\x00\x00\x00\x00\x01")
    assert skb.tobytes()[:12] == MAC + b"\x02\x00\x00\x00\x00\x01"


def test_ether_addr_copy_into_bytes_says_what_to_use() -> None:
    with pytest.raises(TypeError, match=r"bytes is not writable.*eth_hw_addr_set"):
        ether_addr_copy(MAC, MAC)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not writable"):
        ether_addr_copy(memoryview(MAC), MAC)  # a read-only view


def test_eth_zero_addr_and_eth_broadcast_addr_fill_in_place() -> None:
    buf = bytearray(MAC + b"\x77")
    eth_broadcast_addr(buf)
    assert buf == b"\xff" * 6 + b"\x77"
    eth_zero_addr(buf)
    assert buf == bytes(6) + b"\x77"


@pytest.mark.parametrize(
    ("addr", "unicast", "local"),
    [
        (MAC, True, False),
        (b"\x02\x00\x00\x00\x00\x01", True, True),
        (b"\x01\x00\x5e\x00\x00\x01", False, False),  # IPv4 multicast
        (b"\x33\x33\x00\x00\x00\x01", False, True),  # IPv6 multicast: local bit set too
        (b"\xff" * 6, False, True),
    ],
)
def test_unicast_and_local_bits(addr: bytes, unicast: bool, local: bool) -> None:
    assert is_unicast_ether_addr(addr) is unicast
    assert is_local_ether_addr(addr) is local


# -- padding ---------------------------------------------------------------------------
def _skb(n: int, size: int = 128, headroom: int = 16) -> SkBuff:
    skb = SkBuff(size)
    skb.reserve(headroom)
    skb.put_data(bytes([0xAB]) * n)
    return skb


def test_skb_padto_zeroes_the_tail_without_changing_len() -> None:
    skb = _skb(42)
    skb.buf[skb.tail : skb.end] = b"\xee" * skb.tailroom()  # stale bytes in the tailroom
    assert skb_padto(skb, ETH_ZLEN) == 0
    assert skb.len == 42
    assert skb.buf[skb.tail : skb.tail + 18] == bytes(18)
    assert skb.buf[skb.tail + 18] == 0xEE  # only up to the length asked for


def test_skb_padto_of_a_long_enough_skb_changes_nothing() -> None:
    skb = _skb(60)
    buf = skb.buf
    assert skb_padto(skb, ETH_ZLEN) == 0 and skb.len == 60 and skb.buf is buf


def test_skb_padto_grows_a_buffer_whose_tailroom_is_short() -> None:
    skb = _skb(42, size=16 + 42)  # no tailroom at all
    skb.reset_mac_header()
    assert skb_padto(skb, ETH_ZLEN) == 0
    assert skb.len == 42 and skb.end >= skb.tail + 18
    assert skb.headroom() == 16 and skb.mac_header == 16  # the headroom is kept
    assert skb.tobytes() == bytes([0xAB]) * 42
    assert skb.buf[skb.tail : skb.tail + 18] == bytes(18)


def test_skb_put_padto_counts_the_padding() -> None:
    skb = _skb(10, size=16 + 10)
    assert skb_put_padto(skb, 64) == 0
    assert skb.tobytes() == bytes([0xAB]) * 10 + bytes(54)


def test_eth_skb_pad_pads_a_runt_to_eth_zlen() -> None:
    skb = _skb(42)
    assert eth_skb_pad(skb) == 0
    assert skb.len == ETH_ZLEN and skb.tobytes()[42:] == bytes(18)
    longer = _skb(100)
    assert eth_skb_pad(longer) == 0 and longer.len == 100


def test_a_padding_that_cannot_be_allocated_frees_the_skb_and_returns_enomem() -> None:
    skb = _skb(42, size=16 + 42)
    assert skb_padto(skb, 1 << 62) == -errno.ENOMEM
    assert skb.freed  # Linux frees it: the driver must not touch it again
    with pytest.raises(SkbError, match="used after free"):
        skb_padto(skb, ETH_ZLEN)
    skb = _skb(42, size=16 + 42)
    assert skb_put_padto(skb, 1 << 62) == -errno.ENOMEM and skb.freed


def test_skb_pad_refuses_a_negative_pad() -> None:
    with pytest.raises(ValueError, match="pad must be >= 0"):
        skb_pad(_skb(1), -1)
