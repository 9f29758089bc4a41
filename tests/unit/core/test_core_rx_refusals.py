"""Frames the core or the stack refuses are counted once and end their skb."""

from __future__ import annotations

import pytest

from netdrv_core import Host, NetDevice, NetDeviceOps, SkBuff, alloc_etherdev, register_netdev
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.loop import EventLoop
from netdrv_core.netdevice import NET_RX_DROP
from netdrv_core.skbuff import SkbError, kfree_skb, set_skb_debug


def _frame_skb(dev: NetDevice) -> SkBuff:
    skb = SkBuff(64)
    skb.put_data(b"\xff" * 6 + dev.dev_addr + b"\x08\x00" + bytes(46))
    skb.dev = dev
    skb.mac_header = 0
    skb.data = 14
    skb.protocol = 0x0800
    return skb


def _host(**kw: int) -> tuple[Host, NetDevice]:
    host = Host(MemoryStack(**kw), EventLoop())
    dev = alloc_etherdev()
    dev.netdev_ops = NetDeviceOps()
    register_netdev(dev, host)
    host.attachment.up(dev)  # type: ignore[attr-defined]
    return host, dev


def _balanced(dev: NetDevice) -> bool:
    c = dev.core_stats
    return c.rx_submitted == c.rx_delivered + c.rx_backlog_drops + c.rx_down_drops


def test_a_full_memory_queue_is_a_counted_drop_not_a_delivery() -> None:
    host, dev = _host(rx_queue_len=2)
    for _ in range(5):
        host.netif_rx(_frame_skb(dev))
    host.loop.run_until_idle()
    cs = dev.core_stats
    assert cs.rx_delivered == 2 and cs.rx_backlog_drops == 3
    assert host.attachment.rx_overflow[dev.name] == 3  # type: ignore[attr-defined]
    assert _balanced(dev)
    assert len(host.attachment.received(dev)) == 2  # type: ignore[attr-defined]


def test_the_memory_stack_passes_over_a_frame_for_a_device_without_a_queue() -> None:
    # A device it never attached has no receive queue: nothing is queued, nothing raised.
    stack = MemoryStack()
    dev = alloc_etherdev()
    assert stack.receive(dev, _frame_skb(dev)) is None
    assert stack.rx == {} and dev.core_stats.rx_backlog_drops == 0


def test_a_frame_for_a_device_gone_down_is_freed_on_every_path() -> None:
    host, dev = _host()
    queued = _frame_skb(dev)
    host.netif_rx(queued)  # on the backlog, then the device goes down
    host.attachment.down(dev)  # type: ignore[attr-defined]
    host.loop.run_until_idle()
    direct = _frame_skb(dev)
    host.netif_receive_skb(direct)  # the NAPI path, device down
    assert queued.freed and direct.freed
    assert dev.core_stats.rx_down_drops == 2 and _balanced(dev)


def test_frames_left_in_the_qdisc_of_an_unplugged_device_are_counted() -> None:
    host, dev = _host()
    dev.netdev_ops = NetDeviceOps()
    from netdrv_core import netif_stop_queue

    netif_stop_queue(dev)
    skbs = [_frame_skb(dev) for _ in range(3)]
    for skb in skbs:
        host.dev_queue_xmit(skb)
    assert len(dev.qdisc) == 3
    # An unplug: the device is marked down by its driver, then unregistered.
    dev.flags &= ~1
    host.unregister_netdev(dev)
    assert dev.core_stats.tx_qdisc_drops == 3 and all(s.freed for s in skbs)


@pytest.mark.parametrize("how", ["netif_rx", "netif_receive_skb"])
def test_handing_up_a_freed_skb_is_refused_and_names_where_it_was_freed(how: str) -> None:
    # On the memory stack the freed skb was queued as a received frame: the use after free
    # surfaced (if at all) only when the test read the queue, far from the driver's line.
    host, dev = _host()
    old = set_skb_debug(True)
    try:
        skb = _frame_skb(dev)
        kfree_skb(skb)
        with pytest.raises(SkbError, match=rf"{how} of a freed skb.*freed at .*test_core_rx_"):
            getattr(host, how)(skb)
    finally:
        set_skb_debug(old)
    host.loop.run_until_idle()
    assert host.attachment.received(dev) == []  # type: ignore[attr-defined]
    assert dev.core_stats.rx_submitted == 0 and _balanced(dev)  # refused: not a frame


def test_an_skb_the_core_dropped_is_not_the_drivers_to_hand_up_again() -> None:
    host, dev = _host(rx_queue_len=1)
    host.netdev_max_backlog = 1
    host.netif_rx(_frame_skb(dev))
    skb = _frame_skb(dev)
    assert host.netif_rx(skb) == NET_RX_DROP  # the backlog is full: consumed by the core
    with pytest.raises(SkbError, match=r"netif_rx of a freed skb.*dropped or handed up"):
        host.netif_rx(skb)  # "try again": delivered after all, once the backlog drained
    host.loop.run_until_idle()
    assert len(host.attachment.received(dev)) == 1  # type: ignore[attr-defined]
    assert dev.core_stats.rx_submitted == 2 and _balanced(dev)
