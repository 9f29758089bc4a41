"""Misuse of an skb is an error at the line that does it, as Linux's debug options make it:
every operation on a freed skb (KASAN's use-after-free report) and an skb queued on a
second list while still on one (CONFIG_DEBUG_LIST's list_add corruption report)."""

from __future__ import annotations

import sys

import pytest

from netdrv_core import (
    SkbError,
    SkBuff,
    SkBuffHead,
    __skb_dequeue,
    __skb_queue_head,
    __skb_queue_tail,
    alloc_netdev,
    dev_alloc_skb,
    eth_type_trans,
    ether_setup,
    kfree_skb,
    skb_dequeue,
    skb_dequeue_tail,
    skb_queue_head,
    skb_queue_head_init,
    skb_queue_purge,
    skb_queue_splice_tail_init,
    skb_queue_tail,
    skb_unlink,
    vlan,
)
from netdrv_core.checksum import skb_checksum_help
from netdrv_core.skbuff import (
    consume_skb,
    dev_kfree_skb_any,
    set_skb_debug,
    skb_pad,
    skb_padto,
    skb_put_padto,
)
from netdrv_core.vlan import (
    ETH_P_8021Q,
    skb_vlan_tag_get,
    skb_vlan_tag_get_id,
    skb_vlan_tag_get_prio,
    skb_vlan_tag_present,
    skb_vlan_tagged,
    skb_vlan_untag,
    vlan_get_tag,
    vlan_hwaccel_clear_tag,
    vlan_hwaccel_push_inside,
    vlan_hwaccel_put_tag,
    vlan_insert_tag,
    vlan_insert_tag_set_proto,
)

# Each operation on a freed skb, with the name the error must give it.
_OPS = [
    ("skb_reserve", lambda s: s.reserve(2)),
    ("skb_trim", lambda s: s.trim(1)),
    ("skb_put", lambda s: s.put(1)),
    ("skb_put_data", lambda s: s.put_data(b"x")),
    ("skb_push", lambda s: s.push(1)),
    ("skb_pull", lambda s: s.pull(1)),
    ("skb_clone", lambda s: s.clone()),
    ("skb_copy", lambda s: s.copy()),
    ("skb_copy_expand", lambda s: s.copy(headroom=32, tailroom=8)),
    ("skb.view", lambda s: s.view()),
    ("skb.tobytes", lambda s: s.tobytes()),
    ("skb_mac_header", lambda s: s.mac_header_view()),
    ("skb_network_header", lambda s: s.network_header_view()),
    ("skb_reset_mac_header", lambda s: s.reset_mac_header()),
    ("skb_reset_network_header", lambda s: s.reset_network_header()),
    ("skb_reset_transport_header", lambda s: s.reset_transport_header()),
    ("skb_set_network_header", lambda s: s.set_network_header(0)),
    ("skb_set_transport_header", lambda s: s.set_transport_header(0)),
    ("skb_pad", lambda s: skb_pad(s, 4)),
    ("skb_padto", lambda s: skb_padto(s, 60)),
    ("skb_put_padto", lambda s: skb_put_padto(s, 60)),
    ("skb_queue_tail", lambda s: skb_queue_tail(SkBuffHead(), s)),
    ("skb_queue_head", lambda s: skb_queue_head(SkBuffHead(), s)),
    ("skb_headroom", lambda s: s.headroom()),
    ("skb_tailroom", lambda s: s.tailroom()),
    ("eth_type_trans", lambda s: eth_type_trans(s, alloc_netdev(None, "t%d", ether_setup))),
    ("skb_checksum_help", skb_checksum_help),
    ("__vlan_hwaccel_put_tag", lambda s: vlan_hwaccel_put_tag(s, ETH_P_8021Q, 5)),
    ("__vlan_hwaccel_clear_tag", vlan_hwaccel_clear_tag),
    ("__vlan_hwaccel_copy_tag", lambda s: vlan.__vlan_hwaccel_copy_tag(s, dev_alloc_skb(8))),
    ("__vlan_hwaccel_copy_tag", lambda s: vlan.__vlan_hwaccel_copy_tag(dev_alloc_skb(8), s)),
    ("skb_vlan_tag_present", skb_vlan_tag_present),
    ("skb_vlan_tag_get", skb_vlan_tag_get),
    ("skb_vlan_tag_get_id", skb_vlan_tag_get_id),
    ("skb_vlan_tag_get_prio", skb_vlan_tag_get_prio),
    ("skb_vlan_tagged", skb_vlan_tagged),
    ("vlan_get_tag", vlan_get_tag),
    ("vlan_insert_tag", lambda s: vlan_insert_tag(s, ETH_P_8021Q, 5)),
    ("vlan_insert_tag_set_proto", lambda s: vlan_insert_tag_set_proto(s, ETH_P_8021Q, 5)),
    ("vlan_hwaccel_push_inside", vlan_hwaccel_push_inside),
    ("__vlan_hwaccel_push_inside", vlan.__vlan_hwaccel_push_inside),
    ("skb_vlan_untag", skb_vlan_untag),
]


def _freed(free=kfree_skb) -> SkBuff:
    skb = dev_alloc_skb(20)
    skb.put_data(b"\x01" * 10)
    skb.reset_mac_header()
    skb.reset_network_header()
    free(skb)
    return skb


@pytest.mark.parametrize(("how", "use"), _OPS, ids=[how for how, _ in _OPS])
@pytest.mark.parametrize("free", [kfree_skb, consume_skb, dev_kfree_skb_any])
def test_every_operation_on_a_freed_skb_names_itself_and_the_free(how, use, free) -> None:
    skb = _freed(free)
    data, tail, mac = skb.data, skb.tail, skb.mac_header
    with pytest.raises(SkbError, match=rf"^{how}\b.*freed skb|^{how}\b.*used after free"):
        use(skb)
    assert (skb.data, skb.tail, skb.mac_header) == (data, tail, mac)  # nothing was done


@pytest.mark.parametrize(("how", "use"), _OPS, ids=[how for how, _ in _OPS])
def test_a_skb_the_core_dropped_is_freed_for_every_operation(how, use) -> None:
    """Marked freed with its buffer intact (the core dropped it: NET_RX_DROP): the same."""
    skb = dev_alloc_skb(20)
    skb.put_data(b"\x01" * 10)
    skb.reset_mac_header()
    skb.reset_network_header()
    skb.freed = True
    with pytest.raises(SkbError, match=rf"^{how}\b"):
        use(skb)


def test_the_error_names_where_the_skb_was_freed() -> None:
    old = set_skb_debug(True)
    try:
        skb = dev_alloc_skb(20)
        kfree_skb(skb)
        line = sys._getframe().f_lineno - 1
        with pytest.raises(
            SkbError, match=rf"^skb_reserve: .*freed at .*test_skb_misuse.py:{line}"
        ):
            skb.reserve(2)
        with pytest.raises(SkbError, match=rf"^skb_trim: .*freed at .*test_skb_misuse.py:{line}"):
            skb.trim(0)
    finally:
        set_skb_debug(old)


# -- an skb on one list at a time -------------------------------------------------------------


@pytest.mark.parametrize(
    "add", [skb_queue_tail, skb_queue_head, __skb_queue_tail, __skb_queue_head]
)
def test_an_skb_on_a_list_cannot_go_on_another(add) -> None:
    skb = dev_alloc_skb(8)
    rxq, txq = SkBuffHead(), SkBuffHead()
    skb_queue_tail(rxq, skb)
    with pytest.raises(SkbError, match=r"already on another list .*unlink it first"):
        add(txq, skb)
    with pytest.raises(SkbError, match=r"already on this list"):
        add(rxq, skb)  # twice on one list: a loop in Linux's
    assert list(rxq) == [skb] and not txq  # nothing moved


@pytest.mark.parametrize(
    "take",
    [
        skb_dequeue,
        skb_dequeue_tail,
        __skb_dequeue,
        lambda q: skb_unlink(next(iter(q)), q),
        lambda q: skb_queue_head_init(q),
        lambda q: skb_queue_splice_tail_init(q, SkBuffHead()),
    ],
    ids=["dequeue", "dequeue_tail", "__dequeue", "unlink", "head_init", "splice"],
)
def test_taking_an_skb_off_its_list_lets_it_go_on_another(take) -> None:
    skb = dev_alloc_skb(8)
    rxq, txq = SkBuffHead(), SkBuffHead()
    skb_queue_tail(rxq, skb)
    take(rxq)
    assert not rxq
    if skb.on_list is None:  # dequeued, unlinked or forgotten
        skb_queue_tail(txq, skb)
        assert skb_dequeue(txq) is skb and skb.on_list is None
    else:  # spliced: on the other list now, and only there
        with pytest.raises(SkbError, match="already on another list"):
            skb_queue_tail(txq, skb)


def test_purge_takes_each_skb_off_before_freeing_it() -> None:
    skbs = [dev_alloc_skb(8) for _ in range(3)]
    q = SkBuffHead()
    for skb in skbs:
        skb_queue_tail(q, skb)
    skb_queue_purge(q)
    assert all(skb.freed and skb.on_list is None for skb in skbs)


def test_a_clone_or_copy_is_on_no_list() -> None:
    skb = dev_alloc_skb(8)
    q = SkBuffHead()
    skb_queue_tail(q, skb)
    other = SkBuffHead()
    skb_queue_tail(other, skb.clone())
    skb_queue_tail(other, skb.copy())
    assert len(other) == 2 and skb.on_list is q


def test_busy_for_an_skb_the_driver_queued_is_taken_as_sent_not_requeued(
    host, caplog: pytest.LogCaptureFixture
) -> None:
    """NETDEV_TX_BUSY means the core keeps the skb (it goes back on the qdisc); a driver
    that put it on its own list first would have it on two lists.  The driver holds it:
    taken as NETDEV_TX_OK (its completion counts it), said once, never requeued."""
    import logging

    from fakedev import ScriptedOps, make_dev, tx

    from netdrv_core import NETDEV_TX_BUSY, NetDevice, dev_get_stats, netif_wake_queue

    class QueuesThenBusy(ScriptedOps):
        def __init__(self) -> None:
            super().__init__()
            self.ring = SkBuffHead()
            self.calls = 0

        def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
            self.calls += 1
            skb_queue_tail(self.ring, skb)
            return NETDEV_TX_BUSY

    dev, _ = make_dev(host)
    ops = QueuesThenBusy()
    dev.netdev_ops = ops
    frame = b"\xff" * 6 + dev.dev_addr + b"\x08\x00" + bytes(46)
    with caplog.at_level(logging.WARNING, logger="netdrv"):
        for _ in range(2):
            tx(host, dev, frame)
            netif_wake_queue(dev)
            host.loop.run_until_idle()
    assert ops.calls == 2 and len(ops.ring) == 2 and not dev.qdisc  # none came back
    while (skb := skb_dequeue(ops.ring)) is not None:  # the TX-done interrupt
        dev.stats.tx_packets += 1
        kfree_skb(skb)
    s = dev_get_stats(dev)
    assert dev.core_stats.tx_submitted == 2 == s.tx_packets + s.tx_dropped + s.tx_errors
    assert sum("queued the skb on a list and returned NETDEV_TX_BUSY" in r.getMessage()
               for r in caplog.records) == 1  # fmt: skip


# Handing on an skb that is still on a list: the core would queue it on a second one (the
# backlog, GRO's list, the qdisc) while the driver's list still links it.
_HAND_ON = {
    "netif_rx": lambda host, napi, skb: host.netif_rx(skb),
    "netif_receive_skb": lambda host, napi, skb: host.netif_receive_skb(skb),
    "napi_gro_receive": lambda host, napi, skb: host.napi_gro_receive(napi, skb),
    "dev_queue_xmit": lambda host, napi, skb: host.dev_queue_xmit(skb),
}


@pytest.mark.parametrize("how", list(_HAND_ON))
def test_handing_on_an_skb_still_on_a_list_is_refused_naming_skb_and_list(host, how) -> None:
    from fakedev import make_dev, mem

    from netdrv_core import netif_napi_add

    dev, ops = make_dev(host)
    napi = netif_napi_add(dev, lambda napi, budget: 0)
    skb = dev_alloc_skb(64)
    skb.put_data(b"\xff" * 6 + dev.dev_addr + b"\x08\x00" + bytes(46))
    if how == "dev_queue_xmit":
        skb.dev = dev
    else:
        skb.protocol = eth_type_trans(skb, dev)
    ring = SkBuffHead()
    skb_queue_tail(ring, skb)
    with pytest.raises(SkbError, match=rf"^{how} of an skb still on a list \(<SkBuffHead "
                                       rf"qlen=1>\): <SkBuff len=\d+ .*unlink it first"):  # fmt: skip
        _HAND_ON[how](host, napi, skb)
    host.loop.run_until_idle()
    assert list(ring) == [skb] and skb.on_list is ring and not skb.freed  # left as it was
    cs = dev.core_stats
    assert cs.rx_submitted == cs.tx_submitted == cs.tx_qdisc_drops == 0  # refused: not a frame
    assert not dev.qdisc and not ops.sent and mem(host).received(dev) == []
