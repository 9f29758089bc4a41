"""SkBuffHead (``struct sk_buff_head``) and its functions; ``netif_receive_skb_list``."""

from __future__ import annotations

import pytest
from fakedev import make_dev, mem

from netdrv_core import (
    Host,
    NetDevice,
    SkbError,
    SkBuff,
    SkBuffHead,
    __skb_queue_tail,
    __skb_unlink,
    dev_alloc_skb,
    eth_type_trans,
    kfree_skb,
    netif_receive_skb_list,
    skb_dequeue,
    skb_dequeue_tail,
    skb_peek,
    skb_peek_tail,
    skb_queue_empty,
    skb_queue_head,
    skb_queue_head_init,
    skb_queue_len,
    skb_queue_purge,
    skb_queue_splice_tail_init,
    skb_queue_tail,
    skb_unlink,
)


def _skbs(n: int) -> list[SkBuff]:
    out = []
    for i in range(n):
        skb = SkBuff(8)
        skb.put_data(bytes([i]))
        out.append(skb)
    return out


def test_an_empty_list() -> None:
    head = SkBuffHead()
    assert skb_queue_empty(head) and skb_queue_len(head) == 0 and len(head) == 0
    assert not head and head.qlen == 0
    assert skb_dequeue(head) is None and skb_dequeue_tail(head) is None
    assert skb_peek(head) is None and skb_peek_tail(head) is None
    assert list(head) == []


def test_queue_at_both_ends_and_dequeue_from_both() -> None:
    a, b, c = _skbs(3)
    head = SkBuffHead()
    skb_queue_tail(head, b)
    skb_queue_tail(head, c)
    skb_queue_head(head, a)
    assert list(head) == [a, b, c] and skb_queue_len(head) == 3 and not skb_queue_empty(head)
    assert skb_peek(head) is a and skb_peek_tail(head) is c and len(head) == 3  # left on
    assert skb_dequeue(head) is a
    assert skb_dequeue_tail(head) is c
    assert skb_dequeue(head) is b
    assert skb_queue_empty(head)


def test_unlink_takes_an_skb_from_the_middle() -> None:
    a, b, c = _skbs(3)
    head = SkBuffHead()
    for skb in (a, b, c):
        skb_queue_tail(head, skb)
    skb_unlink(b, head)
    assert list(head) == [a, c]
    with pytest.raises(ValueError, match="is not on"):
        skb_unlink(b, head)  # Linux would corrupt the list


def test_the_walk_may_unlink_the_skb_it_is_at() -> None:
    # skb_queue_walk_safe: usbnet's unlink of what completed while walking rxq.
    skbs = _skbs(4)
    head = SkBuffHead()
    for skb in skbs:
        skb_queue_tail(head, skb)
    for skb in head:
        if skb.tobytes()[0] % 2:
            skb_unlink(skb, head)
    assert list(head) == [skbs[0], skbs[2]]


def test_purge_frees_every_skb() -> None:
    skbs = _skbs(3)
    head = SkBuffHead()
    for skb in skbs:
        skb_queue_tail(head, skb)
    skb_queue_purge(head)
    assert skb_queue_empty(head) and all(skb.freed for skb in skbs)


def test_purge_of_an_skb_freed_while_on_the_list_is_a_double_free() -> None:
    (skb,) = _skbs(1)
    head = SkBuffHead()
    skb_queue_tail(head, skb)
    kfree_skb(skb)
    with pytest.raises(SkbError, match="double free"):
        skb_queue_purge(head)


def test_a_freed_skb_cannot_be_queued() -> None:
    (skb,) = _skbs(1)
    kfree_skb(skb)
    head = SkBuffHead()
    with pytest.raises(SkbError, match="skb_queue_tail of a freed skb"):
        skb_queue_tail(head, skb)
    with pytest.raises(SkbError, match="skb_queue_head of a freed skb"):
        skb_queue_head(head, skb)
    assert skb_queue_empty(head)


def test_head_init_forgets_without_freeing() -> None:
    (skb,) = _skbs(1)
    head = SkBuffHead()
    skb_queue_tail(head, skb)
    skb_queue_head_init(head)
    assert skb_queue_empty(head) and not skb.freed


def test_splice_tail_init_moves_everything_in_order() -> None:
    a, b, c, d = _skbs(4)
    src, dst = SkBuffHead(), SkBuffHead()
    skb_queue_tail(dst, a)
    skb_queue_tail(src, b)
    skb_queue_tail(src, c)
    skb_queue_tail(src, d)
    skb_queue_splice_tail_init(src, dst)
    assert list(dst) == [a, b, c, d] and skb_queue_empty(src)
    with pytest.raises(ValueError, match="onto itself"):
        skb_queue_splice_tail_init(dst, dst)
    assert len(dst) == 4


def test_the_lock_free_variants_are_the_same_functions() -> None:
    (skb,) = _skbs(1)
    head = SkBuffHead()
    __skb_queue_tail(head, skb)
    assert list(head) == [skb]
    __skb_unlink(skb, head)
    assert skb_queue_empty(head)


# -- netif_receive_skb_list ------------------------------------------------------------
FRAME = b"\x02\x00\x00\x00\x00\x10" + b"\x02\x00\x00\x00\x00\x20" + b"\x08\x00"


def _rx(dev: NetDevice, tag: int) -> SkBuff:
    payload = FRAME + bytes([tag]) * 46
    skb = dev_alloc_skb(len(payload))
    skb.put_data(payload)
    eth_type_trans(skb, dev)
    return skb


def test_receive_skb_list_delivers_a_list_in_order(host: Host) -> None:
    dev, _ = make_dev(host)
    batch = [_rx(dev, i) for i in range(3)]
    netif_receive_skb_list(batch)
    assert [f[14] for f in mem(host).received(dev)] == [0, 1, 2]
    cs = dev.core_stats
    assert (cs.rx_submitted, cs.rx_delivered) == (3, 3)


def test_receive_skb_list_consumes_an_skb_head(host: Host) -> None:
    dev, _ = make_dev(host)
    head = SkBuffHead()
    for i in range(3):
        skb_queue_tail(head, _rx(dev, i))
    netif_receive_skb_list(head)
    assert skb_queue_empty(head)
    assert [f[14] for f in mem(host).received(dev)] == [0, 1, 2]


def test_receive_skb_list_of_a_down_device_drops_and_counts(host: Host) -> None:
    dev, _ = make_dev(host)
    batch = [_rx(dev, i) for i in range(2)]
    host.dev_close(dev)
    netif_receive_skb_list(batch)
    assert mem(host).received(dev) == []
    assert dev.core_stats.rx_down_drops == 2
