"""Carrier off on an up device: Linux's ``dev_deactivate``, carrier on: ``dev_activate``.

Linux's linkwatch swaps every TX queue's qdisc for ``noop_qdisc`` when an up device
loses its carrier: what the qdiscs held (a skb requeued after ``NETDEV_TX_BUSY``
too) is freed, and every frame sent until the carrier is back is dropped before
``start_xmit``.  netdrv counts each such frame in ``core_stats.tx_qdisc_drops``.  The
driver's own queue state and its Byte Queue Limits are left alone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fakedev import LoadSnull, Run, ScriptedOps, kernel_port, make_dev, mem, pump, tx
from frames import ETH_P_IP, eth_frame, pseudo_header_sum, tcp_packet, udp_packet

import netdrv_core.netdevice as netdevice_mod
from netdrv_core import (
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    Host,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_etherdev_mq,
    alloc_netdev,
    dev_kfree_skb,
    ether_setup,
    netdev_completed_queue,
    netdev_get_tx_queue,
    netdev_sent_queue,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_queue_stopped,
    netif_start_queue,
    netif_stop_subqueue,
    netif_tx_queue_stopped,
    netif_tx_start_all_queues,
    netif_tx_stop_all_queues,
    netif_wake_queue,
    netif_wake_subqueue,
    netif_xmit_stopped,
    skb_get_queue_mapping,
)
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.bql import bql_set
from netdrv_core.netdevice import NET_XMIT_CN
from netdrv_core.skbuff import CHECKSUM_PARTIAL, SKB_GSO_TCPV4

PEER = b"\x02\x00\x00\x00\x00\x20"
MAC = b"\x02\x00\x00\x00\x00\x10"


def _frame(i: int = 0) -> bytes:
    return eth_frame(PEER, MAC, ETH_P_IP, udp_packet("198.18.0.1", "198.18.0.2", 7, 9, bytes([i])))


def _xmit_calls(ops: ScriptedOps) -> int:
    return ops.calls.count("start_xmit")


@pytest.fixture
def core_frees(monkeypatch: pytest.MonkeyPatch) -> list[SkBuff]:
    """Every skb the core frees (``kfree_tx``); a second free of one would raise SkbError."""
    freed: list[SkBuff] = []
    real = netdevice_mod.kfree_skb

    def spy(skb: SkBuff) -> None:
        freed.append(skb)
        real(skb)

    monkeypatch.setattr(netdevice_mod, "kfree_skb", spy)
    return freed


def _accounted(dev: NetDevice) -> bool:
    s, cs = dev.stats, dev.core_stats
    return cs.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors


# -- queue 0 ------------------------------------------------------------------------------------
def test_carrier_off_purges_what_the_qdisc_holds_counted_once(
    host: Host, core_frees: list[SkBuff]
) -> None:
    dev, ops = make_dev(host)
    ops.mode = "hold"  # the ring is full after one frame: the driver stops the queue
    for i in range(4):
        assert tx(host, dev, _frame(i)) == 0
    assert len(ops.held) == 1 and len(dev.qdisc) == 3
    waiting = list(dev.qdisc)
    netif_carrier_off(dev)
    assert not dev.qdisc and dev.core_stats.tx_qdisc_drops == 3
    assert core_frees == waiting and all(skb.freed for skb in waiting)
    # What start_xmit took is the driver's: untouched, and its queue state is its own.
    assert not ops.held[0].freed and netif_queue_stopped(dev)
    ops.complete(dev)  # the TX-done interrupt frees it (a double free would raise)
    netif_wake_queue(dev)  # woken without carrier: still nothing sent
    host.loop.run_until_idle()
    assert _xmit_calls(ops) == 1 and not netif_queue_stopped(dev)
    assert _accounted(dev) and dev.core_stats.tx_submitted == 1


def test_frames_sent_without_carrier_are_dropped_never_reaching_start_xmit(
    host: Host, core_frees: list[SkBuff]
) -> None:
    dev, ops = make_dev(host)
    netif_carrier_off(dev)
    assert not netif_queue_stopped(dev)  # the carrier is not the driver's XOFF
    skbs = []
    for i in range(5):
        skb = SkBuff(64 + 16)
        skb.data = skb.tail = 16
        skb.put_data(_frame(i))
        skb.dev = dev
        skbs.append(skb)
        assert host.dev_queue_xmit(skb) == NET_XMIT_CN  # noop_enqueue
    # A driver waking or starting its queue meanwhile lets nothing through either.
    netif_wake_queue(dev)
    assert tx(host, dev, _frame(8)) == NET_XMIT_CN
    netif_start_queue(dev)
    assert tx(host, dev, _frame(9)) == NET_XMIT_CN
    host.loop.run_until_idle()
    assert _xmit_calls(ops) == 0 and not dev.qdisc
    assert dev.core_stats.tx_qdisc_drops == 7 and dev.core_stats.tx_submitted == 0
    assert core_frees[:5] == skbs and len(core_frees) == 7
    assert all(skb.freed for skb in core_frees)


def test_a_busy_requeued_skb_is_purged_once(host: Host, core_frees: list[SkBuff]) -> None:
    dev, ops = make_dev(host)
    ops.mode = "busy"  # stops the queue, returns NETDEV_TX_BUSY: the core keeps the skb
    assert tx(host, dev, _frame(1)) == 0
    (requeued,) = dev.qdisc
    assert dev.core_stats.tx_busy == 1 and not requeued.freed
    netif_carrier_off(dev)
    assert not dev.qdisc and core_frees == [requeued] and requeued.freed
    assert dev.core_stats.tx_qdisc_drops == 1
    ops.mode = "ok"
    netif_carrier_on(dev)
    netif_wake_queue(dev)
    host.loop.run_until_idle()
    assert _xmit_calls(ops) == 1  # the BUSY call only: the dropped skb is never offered again
    assert tx(host, dev, _frame(2)) == 0
    assert _xmit_calls(ops) == 2 and len(ops.sent) == 1 and core_frees == [requeued]


class BusyAwakeOps(ScriptedOps):
    """NETDEV_TX_BUSY without stopping the queue (a driver bug the core retries 1 ms later)."""

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        self.calls.append("start_xmit")
        return NETDEV_TX_BUSY


def test_busy_with_the_queue_awake_is_not_retried_without_carrier(host: Host, run: Run) -> None:
    dev, _ = make_dev(host)
    ops = BusyAwakeOps()
    dev.netdev_ops = ops
    tx(host, dev, _frame(1))
    assert len(dev.qdisc) == 1 and _xmit_calls(ops) == 1
    netif_carrier_off(dev)
    run(0.01)  # the retry timer finds nothing to send
    assert _xmit_calls(ops) == 1 and not dev.qdisc and dev.core_stats.tx_qdisc_drops == 1


def test_busy_after_carrier_off_inside_start_xmit_is_dropped(
    host: Host, core_frees: list[SkBuff]
) -> None:
    # The driver sees the link gone while sending: carrier off, NETDEV_TX_BUSY.  Linux's
    # dev_deactivate resets the qdisc the skb went back to; netdrv drops it at once.
    dev, ops = make_dev(host)
    ops.mode = "busy"
    ops.on_xmit = lambda skb, d: netif_carrier_off(d)
    assert tx(host, dev, _frame(1)) == 0
    assert not dev.qdisc and len(core_frees) == 1 and core_frees[0].freed
    cs = dev.core_stats
    assert (cs.tx_busy, cs.tx_qdisc_drops, cs.tx_submitted) == (1, 1, 0)


def test_a_frame_tx_middleware_delayed_is_dropped_if_the_carrier_went_meanwhile(
    host: Host, run: Run
) -> None:
    from netdrv_core.phy.faults import FaultInjector

    dev, ops = make_dev(host)
    FaultInjector(dev, seed=1, delay=0.05, direction="tx")
    for i in range(2):
        tx(host, dev, _frame(i))
    netif_carrier_off(dev)  # dev_deactivate resets the qdiscs: netem's queue with them
    assert dev.core_stats.tx_qdisc_drops == 2
    netif_carrier_on(dev)
    run(0.06)
    assert _xmit_calls(ops) == 0 and dev.core_stats.tx_qdisc_drops == 2


def test_gso_segments_sent_without_carrier_are_each_dropped(host: Host) -> None:
    dev, ops = make_dev(host)  # no TSO: the memory stack segments the super-frame first
    netif_carrier_off(dev)
    src, dst = "198.18.0.1", "198.18.0.2"
    payload = bytes(3000)
    seg = tcp_packet(src, dst, 1, 2, payload, partial=True)
    assert seg[36:38] == pseudo_header_sum(src, dst, 6, 20 + len(payload)).to_bytes(2, "big")
    frame = eth_frame(PEER, MAC, ETH_P_IP, seg)
    hr = max(dev.needed_headroom, 16)
    rc = mem(host).send(dev, frame, ip_summed=CHECKSUM_PARTIAL, csum_start=hr + 34,
                        csum_offset=16, protocol=ETH_P_IP, gso_size=1000,
                        gso_type=SKB_GSO_TCPV4)  # fmt: skip
    assert rc == NET_XMIT_CN
    assert _xmit_calls(ops) == 0 and dev.core_stats.tx_qdisc_drops == 3


def test_traffic_resumes_after_carrier_on(host: Host, snull: LoadSnull) -> None:
    # The memory stack, through a real driver: snull hands sn0's frames to sn1.
    drv = snull()
    sn0, sn1 = drv.devices
    frame = eth_frame(sn0.dev_addr, b"\x02\xaa\xbb\xcc\xdd\xee", ETH_P_IP,
                      udp_packet("192.168.0.1", "192.168.1.2", 1, 2, b"x" * 32))  # fmt: skip
    netif_carrier_off(sn0)
    for _ in range(3):
        assert mem(host).send(sn0, frame) == NET_XMIT_CN
    host.loop.run_until_idle()
    assert mem(host).received(sn1) == [] and sn0.stats.tx_packets == 0
    assert sn0.core_stats.tx_qdisc_drops == 3
    netif_carrier_on(sn0)
    host.loop.run_until_idle()
    for _ in range(3):
        assert mem(host).send(sn0, frame) == 0
    host.loop.run_until_idle()
    assert len(mem(host).received(sn1)) == 3 and sn0.stats.tx_packets == 3
    assert _accounted(sn0) and sn0.core_stats.tx_qdisc_drops == 3


# -- while down ---------------------------------------------------------------------------------
def _state(dev: NetDevice) -> tuple[Any, ...]:
    return (dev._queue_stopped, dev._drv_xoff, dev._stack_xoff, len(dev.qdisc),
            dev.core_stats.as_dict(), dev.operstate)  # fmt: skip


def test_carrier_changes_while_down_change_nothing(host: Host) -> None:
    dev, ops = make_dev(host, up=False)
    before = _state(dev)
    netif_carrier_off(dev)
    host.loop.run_until_idle()
    assert _state(dev) == before and not netif_carrier_ok(dev)
    netif_carrier_on(dev)
    host.loop.run_until_idle()
    assert _state(dev) == before
    # Down again after a carrier loss while up: the queue is the driver's again.
    assert host.dev_open(dev) == 0
    netif_carrier_off(dev)
    mem(host).down(dev)
    assert (dev._queue_stopped, dev._drv_xoff) == (True, True)
    netif_carrier_on(dev)
    assert host.dev_open(dev) == 0 and tx(host, dev, _frame()) == 0 and len(ops.sent) == 1


def test_opened_without_carrier_sends_nothing_until_carrier_on(host: Host) -> None:
    # Linux's dev_activate at open waits for the carrier: noop_qdisc until netif_carrier_on.
    dev, ops = make_dev(host, up=False)
    netif_carrier_off(dev)
    assert host.dev_open(dev) == 0 and not netif_queue_stopped(dev)
    assert tx(host, dev, _frame()) == NET_XMIT_CN and _xmit_calls(ops) == 0
    netif_carrier_on(dev)
    assert tx(host, dev, _frame()) == 0 and len(ops.sent) == 1
    assert dev.core_stats.tx_qdisc_drops == 1


# -- multi-queue --------------------------------------------------------------------------------
class MqOps(NetDeviceOps):
    """Sends on the queue ``select`` says; with :attr:`bql`, keeps what it sent in flight."""

    def __init__(self) -> None:
        self.select_to = 0
        self.sent: list[int] = []

    def open(self, dev: NetDevice) -> int:
        netif_tx_start_all_queues(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        netif_tx_stop_all_queues(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        self.sent.append(skb_get_queue_mapping(skb))
        dev.stats.tx_packets += 1
        dev_kfree_skb(skb)
        return NETDEV_TX_OK


def _mq_dev(host: Host) -> tuple[NetDevice, MqOps]:
    dev = alloc_etherdev_mq(None, 4)
    ops = MqOps()
    dev.netdev_ops = ops
    ops.select_queue = lambda d, skb, sb: ops.select_to  # type: ignore[method-assign,assignment]
    dev.dev_addr = MAC
    host.register_netdev(dev)
    assert host.dev_open(dev) == 0
    return dev, ops


def test_a_subqueues_backlog_is_purged_and_every_queue_drops(
    host: Host, core_frees: list[SkBuff]
) -> None:
    dev, ops = _mq_dev(host)
    q2 = netdev_get_tx_queue(dev, 2)
    netif_stop_subqueue(dev, 2)
    ops.select_to = 2
    for i in range(3):
        assert tx(host, dev, _frame(i)) == 0
    waiting = list(q2.qdisc)
    assert len(waiting) == 3 and not ops.sent
    netif_carrier_off(dev)
    assert not q2.qdisc and core_frees == waiting and dev.core_stats.tx_qdisc_drops == 3
    for q in (0, 1, 2, 3):  # every queue, awake or not, drops
        ops.select_to = q
        assert tx(host, dev, _frame(q)) == NET_XMIT_CN
    netif_wake_subqueue(dev, 2)  # the driver's wake, without carrier: nothing to send
    host.loop.run_until_idle()
    assert not ops.sent and dev.core_stats.tx_qdisc_drops == 7
    # The driver's stop bits are its own: only queue 2 was stopped, and it woke it.
    assert [netif_tx_queue_stopped(netdev_get_tx_queue(dev, i)) for i in range(4)] == [False] * 4
    netif_stop_subqueue(dev, 3)
    netif_carrier_on(dev)
    for q in (0, 1, 2, 3):
        ops.select_to = q
        assert tx(host, dev, _frame(q)) == 0
    host.loop.run_until_idle()
    assert ops.sent == [0, 1, 2] and len(netdev_get_tx_queue(dev, 3).qdisc) == 1
    netif_wake_subqueue(dev, 3)
    host.loop.run_until_idle()
    assert ops.sent == [0, 1, 2, 3] and _accounted(dev)


# -- Byte Queue Limits --------------------------------------------------------------------------
class BqlOps(ScriptedOps):
    """Reports each frame to BQL and keeps it on its "ring" until :meth:`reap`."""

    def __init__(self) -> None:
        super().__init__()
        self.ring: list[SkBuff] = []

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        self.calls.append("start_xmit")
        self.ring.append(skb)
        netdev_sent_queue(dev, skb.len)
        return NETDEV_TX_OK

    def reap(self, dev: NetDevice) -> None:
        done, self.ring = self.ring, []
        for skb in done:
            dev.stats.tx_packets += 1
            dev_kfree_skb(skb)
        netdev_completed_queue(dev, len(done), sum(skb.len for skb in done))


def test_the_purge_leaves_bql_alone(host: Host) -> None:
    # Linux's dev_deactivate does not reset BQL: what the driver took is in flight, and
    # the frames purged never reached it, so no byte of theirs is in the counts.
    dev = alloc_netdev(None, "b%d", ether_setup)
    ops = BqlOps()
    dev.netdev_ops = ops
    dev.dev_addr = MAC
    host.register_netdev(dev)
    assert host.dev_open(dev) == 0
    bql_set(dev, {"limit_max": 200, "limit_min": 0})
    for i in range(6):
        tx(host, dev, _frame(i))
    txq = netdev_get_tx_queue(dev, 0)
    dql = txq.dql
    assert txq.stack_xoff and dev.qdisc and ops.ring  # BQL stopped the queue, frames wait
    inflight = dql.num_queued - dql.num_completed
    counts = (dql.num_queued, dql.num_completed, dql.limit)
    netif_carrier_off(dev)
    assert not dev.qdisc and (dql.num_queued, dql.num_completed, dql.limit) == counts
    # The XOFF bits still tell: BQL's stop stands, the driver's queue is awake.
    assert txq.stack_xoff and netif_xmit_stopped(txq) and not netif_queue_stopped(dev)
    assert inflight == sum(skb.len for skb in ops.ring)
    ops.reap(dev)  # completing what was in flight: exactly what was reported (no DqlError)
    assert dql.num_queued == dql.num_completed and not txq.stack_xoff
    assert not netif_xmit_stopped(txq)  # the carrier is no XOFF
    assert tx(host, dev, _frame(7)) == NET_XMIT_CN and dql.num_queued == counts[0]
    netif_carrier_on(dev)
    assert tx(host, dev, _frame(8)) == 0 and len(ops.ring) == 1
    assert dql.num_queued == counts[0] + ops.ring[0].len
    ops.reap(dev)
    assert _accounted(dev)


# -- the TAP reader -----------------------------------------------------------------------------
@pytest.fixture
def tap_reader() -> Iterator[tuple[Host, KernelStack, _Port, socket.socket, ScriptedOps]]:
    """A device up on a host whose attachment is the kernel one, its TAP a socketpair end."""
    host = Host()
    dev, ops = make_dev(host)
    with kernel_port(host, dev, attach=True) as (ks, port, a):
        yield host, ks, port, a, ops
    host.close()
    host.loop.close()


def test_a_tap_reader_held_back_reads_again_after_carrier_off_and_on(tap_reader: Any) -> None:
    host, _ks, port, a, ops = tap_reader
    dev = port.dev
    ops.mode = "busy"  # the ring is full: queue stopped, the skb back in the qdisc
    for i in range(3):
        a.send(_frame(i))
    pump(host)
    assert _xmit_calls(ops) == 1 and len(dev.qdisc) == 1 and not port.reading
    # The carrier goes and comes back, and the driver's TX completion wakes its queue in
    # between (no wake reaches the stack without carrier): held frames purged, the reader
    # must not stay stopped.
    ops.mode = "ok"
    netif_carrier_off(dev)
    netif_wake_queue(dev)
    netif_carrier_on(dev)
    pump(host)
    assert port.reading and not dev.qdisc and dev.core_stats.tx_qdisc_drops == 1
    assert len(ops.sent) == 2  # the two frames the kernel still had
    a.send(_frame(5))
    pump(host)
    assert len(ops.sent) == 3 and ops.sent_bytes[-1] == _frame(5)


def test_a_tap_reader_drops_what_the_kernel_queued_while_without_carrier(
    tap_reader: Any,
) -> None:
    host, _ks, port, a, ops = tap_reader
    dev = port.dev
    ops.mode = "hold"  # one frame on the ring, the queue stopped: the reader stops
    for i in range(3):
        a.send(_frame(i))
    pump(host)
    assert len(ops.held) == 1 and not port.reading
    netif_carrier_off(dev)
    pump(host)
    # Read again and dropped (noop_qdisc), while the driver's queue stays stopped.
    assert port.reading and netif_queue_stopped(dev) and _xmit_calls(ops) == 1
    assert dev.core_stats.tx_qdisc_drops == 2
    with pytest.raises(BlockingIOError):
        os.read(port.fd, 2048)
    ops.complete(dev)
    ops.mode = "ok"
    netif_carrier_on(dev)
    netif_wake_queue(dev)
    a.send(_frame(7))
    pump(host)
    assert ops.sent_bytes == [_frame(7)] and _accounted(dev)


def test_the_drivers_view_of_its_queue_ignores_the_carrier(host: Host, snull: LoadSnull) -> None:
    # Without carrier the core drops (noop qdisc), but the queue is still the driver's: it
    # shows awake, and snull shrinking its pool to what is out stops it (it did not, as
    # snull read the core's combined flag, which the carrier forces on).
    from netdrv_snull.driver import snull_resize_pool

    from netdrv_core.status import device_status

    drv = snull(use_napi=1)
    sn0, _sn1 = drv.devices
    frame = eth_frame(sn0.dev_addr, b"\x02\xaa\xbb\xcc\xdd\xee", ETH_P_IP,
                      udp_packet("192.168.0.1", "192.168.1.2", 1, 2, b"x" * 32))  # fmt: skip
    for _ in range(2):  # two pool buffers out, waiting for sn1's poll
        assert mem(host).send(sn0, frame) == 0
    netif_carrier_off(sn0)
    assert device_status(host, sn0)["queue"] == "awake"
    snull_resize_pool(sn0, 2)
    assert netif_queue_stopped(sn0), "the pool is empty: snull must stop its queue"
    host.loop.run_until_idle()  # sn1 polls, the buffers come back, snull wakes its queue
    assert not netif_queue_stopped(sn0)
    netif_carrier_on(sn0)
    host.loop.run_until_idle()
    assert mem(host).send(sn0, frame) == 0 and _accounted(sn0)


def test_a_tap_reader_held_back_reads_again_when_the_driver_starts_its_queue(
    tap_reader: Any,
) -> None:
    # Some drivers restart their queue with netif_start_queue rather than netif_wake_queue;
    # Linux sends what waits at the stack's next packet, but the TAP reader, stopped by the
    # stopped queue, would bring none: the start restarts it as a wake does.
    host, _ks, port, a, ops = tap_reader
    dev = port.dev
    ops.mode = "hold"  # one frame on the ring, the queue stopped: the reader stops
    for i in range(3):
        a.send(_frame(i))
    pump(host)
    assert len(ops.held) == 1 and not port.reading
    ops.mode = "ok"
    ops.complete(dev)  # the TX-done interrupt reaps the ring...
    netif_start_queue(dev)  # ...and restarts the queue the other way
    pump(host)
    assert port.reading and ops.sent_bytes == [_frame(1), _frame(2)] and not dev.qdisc
    assert _accounted(dev)


def test_busy_after_freeing_the_skb_is_a_counted_loss_not_a_requeue(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    # NETDEV_TX_BUSY means the core keeps the skb; a driver that freed it first would get
    # it back in start_xmit after its free.  The frame is lost: counted, said once.
    import logging

    from netdrv_core import (
        NETDEV_TX_BUSY,
        NETDEV_TX_OK,
        dev_get_stats,
        dev_kfree_skb,
        netif_stop_queue,
    )

    class FreesThenBusy(ScriptedOps):
        def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
            self.sent.append(skb)
            if len(self.sent) > 2:
                dev_kfree_skb(skb)
                dev.stats.tx_packets += 1
                return NETDEV_TX_OK
            dev_kfree_skb(skb)
            netif_stop_queue(dev)
            return NETDEV_TX_BUSY

    dev, _ = make_dev(host)
    ops = FreesThenBusy()
    dev.netdev_ops = ops
    with caplog.at_level(logging.WARNING, logger="netdrv"):
        for i in range(2):
            tx(host, dev, _frame(i))
            netif_wake_queue(dev)
            host.loop.run_until_idle()
    assert len(ops.sent) == 2 and not dev.qdisc  # neither came back to start_xmit
    s = dev_get_stats(dev)  # the core's faults are in tx_dropped, as a driver's raise is
    assert dev.core_stats.tx_driver_faults == 2 and s.tx_dropped == 2
    assert dev.core_stats.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors
    assert sum("freed the skb and returned NETDEV_TX_BUSY" in r.getMessage()
               for r in caplog.records) == 1  # fmt: skip
