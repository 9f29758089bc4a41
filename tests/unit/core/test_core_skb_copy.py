"""``skb_copy`` carries the headers before ``data``, as the kernel's does (it copies the headroom)."""

from __future__ import annotations

import pytest
from fakedev import make_dev, mem
from hypothesis import given
from hypothesis import strategies as st

from netdrv_core import (
    CHECKSUM_PARTIAL,
    Host,
    SkBuff,
    eth_type_trans,
    netdev_alloc_skb_ip_align,
    netif_rx,
)
from netdrv_core.phy import FaultInjector
from netdrv_core.skbuff import skb_copy

DST = bytes.fromhex("020000000010")
SRC = bytes.fromhex("020000000099")
FRAME = DST + SRC + b"\x08\x00" + bytes(range(0x45, 0x45 + 40))


def received_skb(host: Host) -> SkBuff:
    """A frame as a driver receives it: headroom 18, then ``eth_type_trans``."""
    dev, _ = make_dev(host)
    skb = netdev_alloc_skb_ip_align(dev, len(FRAME))
    skb.put_data(FRAME)
    skb.protocol = eth_type_trans(skb, dev)
    skb.transport_header = skb.data + 20
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.data + 20
    skb.csum_offset = 6
    return skb


def same_bytes(c: SkBuff, skb: SkBuff) -> None:
    """Every offset of ``c`` points at the bytes the same offset of ``skb`` points at."""
    for name in ("mac_header", "network_header", "transport_header", "csum_start", "data"):
        a, b = getattr(c, name), getattr(skb, name)
        assert a >= 0, name
        assert c.buf[a : c.tail] == skb.buf[b : skb.tail], name
    assert c.tail - c.data == skb.tail - skb.data and c.len == skb.len
    assert c.tobytes() == skb.tobytes()
    assert 0 <= c.data <= c.tail <= c.end == len(c.buf)


def test_copy_keeps_the_mac_header_after_eth_type_trans(host: Host) -> None:
    skb = received_skb(host)
    for c in (skb.copy(), skb_copy(skb)):
        assert c.buf is not skb.buf
        assert bytes(c.mac_header_view()[:14]) == bytes(skb.mac_header_view()[:14]) == FRAME[:14]
        # a plain copy is the kernel's skb_copy: same headroom, same offsets
        assert (c.data, c.tail, c.mac_header, c.network_header) == (
            skb.data, skb.tail, skb.mac_header, skb.network_header,
        )  # fmt: skip
        assert (c.protocol, c.pkt_type, c.csum_offset) == (
            skb.protocol, skb.pkt_type, skb.csum_offset,
        )  # fmt: skip
        same_bytes(c, skb)


@pytest.mark.parametrize("headroom", [0, 4, 14, 32])
def test_a_smaller_or_larger_headroom_keeps_every_offset_valid(host: Host, headroom: int) -> None:
    skb = received_skb(host)
    c = skb.copy(headroom=headroom, tailroom=7)
    same_bytes(c, skb)
    # The headers before data always fit: the headroom is raised to hold them.
    assert c.mac_header == c.data - 14 and c.headroom() == max(headroom, 14)
    assert c.tailroom() == 7
    assert c.csum_start - c.data == skb.csum_start - skb.data == 20


def test_csum_start_points_at_the_same_byte(host: Host) -> None:
    skb = received_skb(host)
    for c in (skb.copy(), skb.copy(headroom=4), skb.copy(headroom=64, tailroom=3)):
        assert c.ip_summed == CHECKSUM_PARTIAL
        assert c.buf[c.csum_start] == skb.buf[skb.csum_start] == FRAME[14 + 20]


def test_the_copy_is_independent(host: Host) -> None:
    skb = received_skb(host)
    before = bytes(skb.buf)
    for c in (skb.copy(tailroom=1), skb.copy(headroom=4, tailroom=1)):
        c.buf[c.mac_header] ^= 0xFF
        c.view()[0] ^= 0xFF
        c.push(2)[:] = b"\xaa\xbb"
        c.put_data(b"z")
        assert bytes(skb.buf) == before and not c.is_cloned_with(skb)


def test_unset_headers_stay_unset_and_nothing_before_data_is_needed() -> None:
    skb = SkBuff(30)
    skb.data = skb.tail = 10
    skb.put_data(b"payload")
    c = skb.copy(headroom=2)
    assert (c.mac_header, c.network_header, c.transport_header) == (-1, -1, -1)
    assert (c.headroom(), c.tobytes()) == (2, b"payload")


def test_negative_room_is_refused(host: Host) -> None:
    skb = received_skb(host)
    with pytest.raises(ValueError, match="headroom and tailroom"):
        skb.copy(headroom=-1)
    with pytest.raises(ValueError, match="headroom and tailroom"):
        skb.copy(tailroom=-1)


@given(
    room=st.integers(0, 40),
    mac_back=st.integers(0, 20),
    headroom=st.none() | st.integers(0, 40),
    tailroom=st.integers(0, 8),
    n=st.integers(0, 30),
)
def test_copy_offsets_property(
    room: int, mac_back: int, headroom: int | None, tailroom: int, n: int
) -> None:
    skb = SkBuff(room + n + 5)
    skb.buf[:] = bytes((i * 7 + 3) & 0xFF for i in range(len(skb.buf)))
    skb.data = room
    skb.tail = room + n
    skb.mac_header = max(0, room - mac_back)
    skb.network_header = room
    c = skb.copy(headroom=headroom, tailroom=tailroom)
    assert c.buf[c.mac_header : c.tail] == skb.buf[skb.mac_header : skb.tail]
    assert c.network_header == c.data and c.len == n
    assert c.headroom() == (room if headroom is None else max(headroom, room - skb.mac_header))
    assert c.tailroom() == tailroom


def test_a_duplicated_received_frame_keeps_its_ethernet_header(host: Host) -> None:
    # FaultInjector(duplicate=) is the caller that showed the bug: its copy lost the header.
    skb = received_skb(host)
    skb.ip_summed = 0
    dev = skb.dev
    assert dev is not None
    FaultInjector(dev, seed=1, duplicate=1.0, direction="rx")
    netif_rx(skb)
    host.loop.run_until_idle()
    assert mem(host).received(dev) == [FRAME, FRAME]
