"""Every way a TX queue is woken or started keeps the carrier's ``noop_qdisc``.

Queue 0's one flag (``dev._queue_stopped``) is the driver's XOFF, BQL's and the
carrier's (``dev._deactivated``), recomputed by whoever changes one of them; a
subqueue's frames check ``_deactivated`` themselves.  Each path that wakes, starts or
recomputes a queue is driven here while an up device has no carrier: nothing may
reach ``start_xmit`` on any queue, each frame is dropped once, and everything flows
again once the carrier is back (Linux's ``dev_deactivate``/``dev_activate``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fakedev import FakeClock, mem
from frames import ETH_P_IP, eth_frame, udp_packet

from netdrv_core import (
    NETDEV_TX_OK,
    Host,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_etherdev_mq,
    dev_kfree_skb,
    netdev_get_tx_queue,
    netdev_tx_completed_queue,
    netdev_tx_reset_queue,
    netdev_tx_sent_queue,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_device_attach,
    netif_device_detach,
    netif_set_real_num_tx_queues,
    netif_start_queue,
    netif_stop_queue,
    netif_tx_start_all_queues,
    netif_tx_stop_all_queues,
    netif_tx_stop_queue,
    netif_tx_wake_all_queues,
    netif_tx_wake_queue,
    netif_wake_queue,
    skb_get_queue_mapping,
)
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.bql import bql_set
from netdrv_core.loop import EventLoop
from netdrv_core.netdevice import NET_XMIT_CN

PEER = b"\x02\x00\x00\x00\x00\x20"
MAC = b"\x02\x00\x00\x00\x00\x10"
NQ = 4


def _frame(i: int) -> bytes:
    return eth_frame(PEER, MAC, ETH_P_IP, udp_packet("198.18.0.1", "198.18.0.2", 7, 9, bytes([i])))


class RingOps(NetDeviceOps):
    """Keeps each frame on its queue's ring, reported to BQL, until :meth:`reap`;
    ``tx_timeout`` resets the rings and wakes every queue (e1000's recovery)."""

    def __init__(self) -> None:
        self.select_to = 0
        self.rings: dict[int, list[SkBuff]] = {q: [] for q in range(NQ)}
        self.calls: list[tuple[int, bool]] = []  # (queue, carrier) of each start_xmit

    def open(self, dev: NetDevice) -> int:
        netif_tx_start_all_queues(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        netif_tx_stop_all_queues(dev)
        self.reset(dev)
        return 0

    def select_queue(self, dev: NetDevice, skb: SkBuff, sb_dev: NetDevice | None) -> int:
        return self.select_to

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        q = skb_get_queue_mapping(skb)
        self.calls.append((q, netif_carrier_ok(dev)))
        self.rings[q].append(skb)
        netdev_tx_sent_queue(netdev_get_tx_queue(dev, q), skb.len)
        return NETDEV_TX_OK

    def reap(self, dev: NetDevice, q: int) -> None:
        done, self.rings[q] = self.rings[q], []
        for skb in done:
            dev.stats.tx_packets += 1
            dev_kfree_skb(skb)
        netdev_tx_completed_queue(netdev_get_tx_queue(dev, q), len(done),
                                  sum(skb.len for skb in done))  # fmt: skip

    def reset(self, dev: NetDevice) -> None:
        for q, ring in self.rings.items():
            for skb in ring:
                dev.stats.tx_dropped += 1
                dev_kfree_skb(skb)
            ring.clear()
            netdev_tx_reset_queue(netdev_get_tx_queue(dev, q))

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        self.reset(dev)
        netif_tx_wake_all_queues(dev)


@pytest.fixture
def rig() -> Iterator[tuple[Host, NetDevice, RingOps, FakeClock]]:
    clock = FakeClock()
    host = Host(MemoryStack(), loop=EventLoop(clock=clock))
    dev = alloc_etherdev_mq(None, NQ)
    ops = RingOps()
    dev.netdev_ops = ops
    dev.dev_addr = MAC
    dev.watchdog_timeo = 0.01
    host.register_netdev(dev)
    assert host.dev_open(dev) == 0
    yield host, dev, ops, clock
    host.close()
    host.loop.close()


def _send_each_queue(host: Host, dev: NetDevice, ops: RingOps) -> list[int]:
    rcs = []
    for q in range(dev.real_num_tx_queues):
        ops.select_to = q
        rcs.append(mem(host).send(dev, _frame(q)))
    host.loop.run_until_idle()
    return rcs


def _bql_stop_every_queue(host: Host, dev: NetDevice, ops: RingOps) -> None:
    bql_set(dev, {"limit_max": 0, "limit_min": 0})  # one frame in flight stops a queue
    _send_each_queue(host, dev, ops)
    assert all(netdev_get_tx_queue(dev, q).stack_xoff for q in range(NQ))


def _wake_all(host: Host, dev: NetDevice, ops: RingOps) -> None:
    netif_tx_stop_all_queues(dev)
    netif_tx_wake_all_queues(dev)


def _wake_each(host: Host, dev: NetDevice, ops: RingOps) -> None:
    netif_stop_queue(dev)
    netif_wake_queue(dev)
    for q in range(NQ):
        netif_tx_stop_queue(netdev_get_tx_queue(dev, q))
        netif_tx_wake_queue(netdev_get_tx_queue(dev, q))


def _start_again(host: Host, dev: NetDevice, ops: RingOps) -> None:
    netif_tx_stop_all_queues(dev)
    netif_start_queue(dev)
    netif_tx_start_all_queues(dev)


def _bql_completion(host: Host, dev: NetDevice, ops: RingOps) -> None:
    for q in range(NQ):  # the TX-done interrupt clears STACK_XOFF on each queue
        ops.reap(dev, q)


def _bql_reset(host: Host, dev: NetDevice, ops: RingOps) -> None:
    ops.reset(dev)  # netdev_tx_reset_queue clears STACK_XOFF


def _detach_attach(host: Host, dev: NetDevice, ops: RingOps) -> None:
    netif_device_detach(dev)
    netif_device_attach(dev)


def _real_num(host: Host, dev: NetDevice, ops: RingOps) -> None:
    assert netif_set_real_num_tx_queues(dev, 1) == 0
    assert _send_each_queue(host, dev, ops) == [NET_XMIT_CN]
    assert netif_set_real_num_tx_queues(dev, NQ) == 0


def _close_open(host: Host, dev: NetDevice, ops: RingOps) -> None:
    assert host.dev_close(dev) == 0
    assert host.dev_open(dev) == 0  # still without carrier: dev_activate waits for it


PATHS: dict[str, tuple[bool, Callable[[Host, NetDevice, RingOps], None]]] = {
    # name: (BQL-stop every queue first?, what the driver or the user does)
    "netif_tx_wake_all_queues": (False, _wake_all),
    "netif_wake_queue and netif_tx_wake_queue": (False, _wake_each),
    "netif_start_queue and netif_tx_start_all_queues": (False, _start_again),
    "BQL completion waking a STACK_XOFF queue": (True, _bql_completion),
    "netdev_tx_reset_queue": (True, _bql_reset),
    "netif_device_detach then attach": (False, _detach_attach),
    "netif_set_real_num_tx_queues": (False, _real_num),
    "dev_close then dev_open": (True, _close_open),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_no_queue_sends_without_carrier_whatever_wakes_it(
    rig: tuple[Host, NetDevice, RingOps, FakeClock], path: str
) -> None:
    host, dev, ops, _ = rig
    bql_first, act = PATHS[path]
    if bql_first:
        _bql_stop_every_queue(host, dev, ops)
    netif_carrier_off(dev)
    act(host, dev, ops)
    host.loop.run_until_idle()
    given = len(ops.calls)
    drops = dev.core_stats.tx_qdisc_drops
    assert _send_each_queue(host, dev, ops) == [NET_XMIT_CN] * NQ
    assert len(ops.calls) == given and all(carrier for _, carrier in ops.calls)
    assert dev.core_stats.tx_qdisc_drops == drops + NQ  # each dropped once, by the core
    # The carrier back: every queue sends again once its ring has room.
    for q in range(NQ):
        ops.reap(dev, q)
    bql_set(dev, {"limit_max": 1 << 20, "limit_min": 1 << 20})
    netif_carrier_on(dev)
    host.loop.run_until_idle()
    assert _send_each_queue(host, dev, ops) == [0] * NQ
    assert sorted(q for q, _ in ops.calls[-NQ:]) == list(range(NQ))
    assert all(carrier for _, carrier in ops.calls)


def test_the_watchdog_leaves_a_queue_stopped_without_carrier_and_fires_once_it_is_back(
    rig: tuple[Host, NetDevice, RingOps, FakeClock],
) -> None:
    # tx_timeout's recovery wakes every queue: without carrier it must not run at all
    # (Linux's dev_watchdog checks netif_carrier_ok), nor open the path if it did.
    host, dev, ops, clock = rig
    _bql_stop_every_queue(host, dev, ops)
    netif_carrier_off(dev)
    for _ in range(5):
        clock.advance(0.02)
        host.loop.run_until_idle()
    assert dev.core_stats.tx_timeouts == 0
    assert _send_each_queue(host, dev, ops) == [NET_XMIT_CN] * NQ
    netif_carrier_on(dev)  # still BQL-stopped, rings never completed: it times out now
    for _ in range(5):
        clock.advance(0.02)
        host.loop.run_until_idle()
    assert dev.core_stats.tx_timeouts >= 1 and not any(ops.rings.values())
    assert _send_each_queue(host, dev, ops) == [0] * NQ
    assert all(carrier for _, carrier in ops.calls)
