"""SkBuff: the head <= data <= tail <= end invariants, panics, allocation helpers, ownership."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netdrv_core import (
    CHECKSUM_PARTIAL,
    SkbOverPanic,
    SkBuff,
    SkbUnderPanic,
    alloc_skb,
    dev_alloc_skb,
    kfree_skb,
    netdev_alloc_skb,
    netdev_alloc_skb_ip_align,
)
from netdrv_core.skbuff import (
    NET_IP_ALIGN,
    NET_SKB_PAD,
    PACKET_HOST,
    SkbError,
    skb_clone,
    skb_copy,
    skb_from_frame,
)


def invariants(skb: SkBuff) -> None:
    assert 0 == skb.head <= skb.data <= skb.tail <= skb.end == len(skb.buf)
    assert skb.len == len(skb) == skb.tail - skb.data
    assert skb.headroom() == skb.data
    assert skb.tailroom() == skb.end - skb.tail


def test_alloc_skb_is_empty_without_headroom() -> None:
    skb = alloc_skb(100)
    invariants(skb)
    assert (skb.len, skb.headroom(), skb.tailroom()) == (0, 0, 100)


def test_fresh_skb_field_defaults() -> None:
    # __init__ stores the integer defaults as one constant tuple: pin each value.
    skb = SkBuff(8)
    assert (skb.data, skb.tail, skb.end, skb.protocol, skb.pkt_type, skb.ip_summed) == (
        0, 0, 8, 0, PACKET_HOST, 0,
    )  # fmt: skip
    assert (skb.csum, skb.csum_start, skb.csum_offset, skb.gso_size, skb.gso_type) == (0,) * 5
    assert (skb.mac_header, skb.network_header, skb.transport_header) == (-1, -1, -1)
    assert (skb.priority, skb.tstamp, skb.freed, skb.cb, skb.dev) == (0, 0.0, False, None, None)


def test_skb_from_frame_matches_init_plus_the_reader_fields() -> None:
    buf = bytearray(range(64))
    fast = skb_from_frame(buf, 34, 60, None, 0x0800, 48)
    slow = SkBuff(0, buf)
    slow.data = slow.mac_header = 34
    slow.tail = 60
    slow.protocol = 0x0800
    slow.network_header = 48
    assert fast.buf is buf
    for name in SkBuff.__slots__:
        if name != "__weakref__":
            a, b = getattr(fast, name), getattr(slow, name)
            assert a == b and type(a) is type(b), name
    invariants(fast)


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        alloc_skb(-1)


def test_reserve_put_push_pull_trim_move_the_right_offsets() -> None:
    skb = alloc_skb(64)
    skb.reserve(16)
    assert (skb.data, skb.tail, skb.headroom(), skb.tailroom()) == (16, 16, 16, 48)
    v = skb.put(10)
    v[:] = b"0123456789"
    assert (skb.len, skb.tailroom()) == (10, 38)
    hdr = skb.push(4)
    hdr[:] = b"HDR:"
    assert (skb.data, skb.len, skb.headroom()) == (12, 14, 12)
    assert skb.tobytes() == b"HDR:0123456789"
    rest = skb.pull(4)
    assert bytes(rest) == b"0123456789" and skb.data == 16
    skb.trim(3)
    assert skb.tobytes() == b"012" and skb.tail == 19
    skb.trim(100)  # longer than the data: no-op
    assert skb.len == 3
    invariants(skb)


def test_put_returns_a_writable_view_of_the_buffer() -> None:
    skb = alloc_skb(8)
    skb.put(4)[:] = b"abcd"
    assert skb.buf[:4] == b"abcd"
    skb.view()[0] = ord("X")
    assert skb.tobytes() == b"Xbcd" == bytes(skb)


def test_put_past_end_panics_naming_sizes() -> None:
    skb = alloc_skb(20)
    skb.reserve(4)
    skb.put(10)
    with pytest.raises(SkbOverPanic) as ei:
        skb.put(7)
    msg = str(ei.value)
    assert "put 7" in msg and "tail=14" in msg and "end=20" in msg and "tailroom=6" in msg
    invariants(skb)
    assert skb.len == 10  # unchanged by the failed put


def test_put_data_past_end_panics() -> None:
    skb = alloc_skb(4)
    with pytest.raises(SkbOverPanic, match=r"put 5 bytes at tail=0 but end=4"):
        skb.put_data(b"12345")
    assert skb.len == 0


def test_push_past_head_panics_naming_sizes() -> None:
    skb = alloc_skb(32)
    skb.reserve(2)
    skb.put(5)
    with pytest.raises(SkbUnderPanic) as ei:
        skb.push(3)
    msg = str(ei.value)
    assert "push 3" in msg and "headroom=2" in msg and "len=5" in msg
    assert skb.data == 2


def test_pull_more_than_len_panics() -> None:
    skb = alloc_skb(32)
    skb.put(5)
    with pytest.raises(SkbUnderPanic, match=r"pull 6 bytes from an skb of len=5"):
        skb.pull(6)
    assert skb.len == 5


def test_reserve_past_end_panics_and_on_nonempty_skb_is_an_error() -> None:
    skb = alloc_skb(10)
    with pytest.raises(SkbOverPanic, match=r"reserve 11 bytes at data=0 but end=10"):
        skb.reserve(11)
    skb.put(1)
    with pytest.raises(SkbError, match="non-empty"):
        skb.reserve(1)


@pytest.mark.parametrize("op", ["put", "push", "pull", "reserve"])
def test_negative_lengths_are_refused(op: str) -> None:
    skb = alloc_skb(10)
    skb.reserve(5)
    with pytest.raises((SkbOverPanic, SkbUnderPanic)):
        getattr(skb, op)(-1)
    with pytest.raises(ValueError):
        skb.trim(-1)


@given(st.lists(st.tuples(st.sampled_from(["put", "push", "pull", "trim"]), st.integers(0, 80))))
def test_invariants_hold_under_any_sequence(ops: list[tuple[str, int]]) -> None:
    skb = alloc_skb(128)
    skb.reserve(32)
    model = bytearray()
    for op, n in ops:
        try:
            if op == "put":
                skb.put(n)[:] = bytes([n & 0xFF]) * n
                model += bytes([n & 0xFF]) * n
            elif op == "push":
                skb.push(n)[:] = bytes([n & 0xFF]) * n
                model[:0] = bytes([n & 0xFF]) * n
            elif op == "pull":
                skb.pull(n)
                del model[:n]
            else:
                skb.trim(n)
                del model[n:]
        except (SkbOverPanic, SkbUnderPanic):
            pass
        invariants(skb)
        assert skb.tobytes() == bytes(model)


def test_dev_alloc_skb_reserves_16() -> None:
    skb = dev_alloc_skb(100)
    assert NET_SKB_PAD == 16
    assert skb.headroom() == 16 and skb.len == 0 and skb.tailroom() == 100
    assert skb.dev is None


def test_netdev_alloc_skb_sets_dev() -> None:
    sentinel = object()
    skb = netdev_alloc_skb(sentinel, 10)  # type: ignore[arg-type]
    assert skb.dev is sentinel and skb.headroom() == 16 and skb.tailroom() == 10


def test_netdev_alloc_skb_ip_align_puts_the_ip_header_on_a_4_byte_boundary() -> None:
    skb = netdev_alloc_skb_ip_align(None, 1514)
    assert NET_IP_ALIGN == 2
    assert skb.headroom() == 18 and skb.tailroom() == 1514
    skb.put_data(bytes(1514))
    skb.pull(14)  # the Ethernet header, as eth_type_trans does
    assert skb.data % 4 == 0 and skb.data == 32


def test_clone_shares_the_buffer_but_not_the_header() -> None:
    skb = dev_alloc_skb(32)
    skb.put_data(b"hello world")
    skb.cb = {"k": 1}
    c = skb_clone(skb)
    assert c is not skb and c.buf is skb.buf and c.is_cloned_with(skb)
    c.view()[0] = ord("J")
    assert skb.tobytes() == b"Jello world"  # the same bytes seen through both
    c.pull(6)
    assert c.tobytes() == b"world" and skb.tobytes() == b"Jello world"  # offsets independent
    c.cb["k"] = 2  # type: ignore[index]
    assert skb.cb == {"k": 1}
    kfree_skb(skb)
    assert not c.freed


def test_copy_does_not_share_and_shifts_header_offsets() -> None:
    skb = dev_alloc_skb(64)  # headroom 16
    skb.put_data(bytes(range(40)))
    skb.mac_header = skb.data
    skb.network_header = skb.data + 14
    skb.transport_header = skb.data + 34
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.data + 34
    skb.csum_offset = 16
    c = skb.copy(headroom=4, tailroom=10)
    assert c.buf is not skb.buf and not c.is_cloned_with(skb)
    assert c.tobytes() == skb.tobytes()
    assert (c.headroom(), c.tailroom()) == (4, 10)
    assert c.mac_header == 4 and c.network_header == 18 and c.transport_header == 38
    assert c.csum_start == 38 and c.csum_offset == 16
    c.view()[0] = 0xEE
    assert skb.view()[0] == 0
    same = skb_copy(skb)
    assert same.headroom() == skb.headroom() and same.mac_header == skb.mac_header


def test_copy_leaves_unset_headers_unset() -> None:
    skb = dev_alloc_skb(8)
    skb.put_data(b"abc")
    c = skb.copy(headroom=0)
    assert (c.mac_header, c.network_header, c.transport_header) == (-1, -1, -1)


def test_double_free_raises() -> None:
    skb = alloc_skb(4)
    kfree_skb(skb)
    assert skb.freed
    with pytest.raises(SkbError, match="double free"):
        kfree_skb(skb)


def test_header_views_need_the_header_set() -> None:
    skb = dev_alloc_skb(20)
    skb.put_data(b"\x01" * 20)
    with pytest.raises(SkbError, match="mac header"):
        skb.mac_header_view()
    skb.reset_mac_header()
    skb.pull(14)
    skb.reset_network_header()
    assert len(skb.mac_header_view()) == 20 and len(skb.network_header_view()) == 6
    skb.set_transport_header(2)
    assert skb.transport_header == skb.data + 2


def test_repr_names_the_sizes() -> None:
    skb = dev_alloc_skb(10)
    skb.put(3)
    assert re.search(r"len=3 headroom=16 tailroom=7", repr(skb))


@pytest.mark.parametrize(
    "use",
    [
        lambda s: s.buf[s.data],
        lambda s: s.buf.__setitem__(0, 1),
        lambda s: s.view(),
        lambda s: s.tobytes(),
        lambda s: s.put(1),
        lambda s: s.put_data(b"x"),
        lambda s: s.push(1),
        lambda s: s.pull(1),
        lambda s: s.clone(),
        lambda s: s.copy(),
    ],
    ids=["read", "write", "view", "tobytes", "put", "put_data", "push", "pull", "clone", "copy"],
)
def test_a_freed_skb_cannot_be_used(use) -> None:
    skb = dev_alloc_skb(20)
    skb.put_data(b"\x01" * 10)
    length = skb.len
    kfree_skb(skb)
    assert skb.len == length  # the metadata stays readable, as the kernel's struct would
    with pytest.raises(SkbError, match="used after free"):
        use(skb)


def test_skb_debug_names_where_it_was_freed() -> None:
    from netdrv_core.skbuff import set_skb_debug

    old = set_skb_debug(True)
    try:
        skb = alloc_skb(4)
        kfree_skb(skb)  # this line is named
        line = sys._getframe().f_lineno - 1
        with pytest.raises(SkbError, match=rf"freed at .*test_core_skbuff.py:{line} in test_"):
            skb.buf[0]
        with pytest.raises(SkbError, match=rf"double free .*test_core_skbuff.py:{line}"):
            kfree_skb(skb)
    finally:
        set_skb_debug(old)
    skb = alloc_skb(4)
    kfree_skb(skb)
    with pytest.raises(SkbError, match="NETDRV_SKB_DEBUG=1 names where"):
        skb.view()


def test_a_clone_outlives_the_freed_original() -> None:
    skb = dev_alloc_skb(20)
    skb.put_data(b"\x02" * 8)
    c = skb.clone()
    kfree_skb(skb)
    assert c.tobytes() == b"\x02" * 8
