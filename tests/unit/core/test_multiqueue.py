"""Multiple TX queues (``netdrv_core.netdev_queue``): queue selection per flow,
``ndo_select_queue``, per-queue stop/wake, qdisc backlog, watchdog and BQL, and
``netif_set_real_num_tx_queues``, on a memory-attached test device."""

from __future__ import annotations

import logging

import pytest
from fakedev import Run, make_dev, tx
from frames import ETH_P_IP, eth_frame, udp_packet

from netdrv_core import (
    NETDEV_TX_OK,
    QUEUE_STATE_STACK_XOFF,
    Channels,
    EthtoolOps,
    Host,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_etherdev,
    alloc_etherdev_mq,
    dev_kfree_skb,
    netdev_get_tx_queue,
    netdev_tx_completed_queue,
    netdev_tx_sent_queue,
    netif_device_attach,
    netif_device_detach,
    netif_set_real_num_tx_queues,
    netif_start_subqueue,
    netif_stop_subqueue,
    netif_subqueue_stopped,
    netif_tx_start_all_queues,
    netif_tx_stop_all_queues,
    netif_tx_wake_all_queues,
    netif_wake_subqueue,
    skb_get_queue_mapping,
)
from netdrv_core.ethtool import ethtool_get, ethtool_set
from netdrv_core.status import device_status

MAC = b"\x02\x00\x00\x00\x00\x10"
PEER = b"\x02\x00\x00\x00\x00\x20"


class MqOps(NetDeviceOps):
    """Records the queue of every frame it sends; :attr:`bql` reports bytes per queue."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []
        self.timeouts: list[int] = []
        self.bql = False
        self.ring: dict[int, list[SkBuff]] = {}

    def open(self, dev: NetDevice) -> int:
        netif_tx_start_all_queues(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        netif_tx_stop_all_queues(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        q = skb_get_queue_mapping(skb)
        self.sent.append((q, skb.tobytes()))
        if self.bql:
            self.ring.setdefault(q, []).append(skb)
            netdev_tx_sent_queue(netdev_get_tx_queue(dev, q), skb.len)
        else:
            dev_kfree_skb(skb)
        return NETDEV_TX_OK

    def complete(self, dev: NetDevice, q: int) -> None:
        done = self.ring.pop(q, [])
        nbytes = sum(skb.len for skb in done)
        for skb in done:
            dev_kfree_skb(skb)
        netdev_tx_completed_queue(netdev_get_tx_queue(dev, q), len(done), nbytes)

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        self.timeouts.append(txqueue)

    def queues(self) -> list[int]:
        return [q for q, _ in self.sent]


def mq_dev(
    host: Host, count: int = 4, ops: NetDeviceOps | None = None, **attrs: object
) -> NetDevice:
    dev = alloc_etherdev_mq(None, count)
    dev.netdev_ops = ops or MqOps()
    dev.dev_addr = MAC
    for k, v in attrs.items():
        setattr(dev, k, v)
    host.register_netdev(dev)
    assert host.dev_open(dev) == 0
    return dev


def flow(sport: int, dport: int = 53, src: str = "198.18.0.1", dst: str = "198.18.0.2") -> bytes:
    return eth_frame(PEER, MAC, ETH_P_IP, udp_packet(src, dst, sport, dport, b"q" * 20))


def queue_of(host: Host, dev: NetDevice, frame: bytes) -> int:
    ops = dev.netdev_ops
    assert isinstance(ops, MqOps)
    n = len(ops.sent)
    tx(host, dev, frame)
    assert len(ops.sent) == n + 1, "the frame was not sent at once"
    return ops.sent[-1][0]


def flows_on_two_queues(host: Host, dev: NetDevice) -> tuple[bytes, int, bytes, int]:
    """Two flows the core puts on two different queues, neither queue 0."""
    seen: dict[int, bytes] = {}
    for port in range(1000, 1200):
        q = queue_of(host, dev, flow(port))
        if q:
            seen.setdefault(q, flow(port))
        if len(seen) == 2:
            (qa, fa), (qb, fb) = seen.items()
            return fa, qa, fb, qb
    raise AssertionError(f"200 flows fell on queues {sorted(seen)} only")


def test_one_flow_takes_one_queue_both_ways_and_flows_spread(host: Host) -> None:
    dev = mq_dev(host)
    ops = dev.netdev_ops
    assert isinstance(ops, MqOps)
    for port in range(2000, 2064):
        first = queue_of(host, dev, flow(port))
        assert queue_of(host, dev, flow(port)) == first
        reply = flow(53, port, src="198.18.0.2", dst="198.18.0.1")
        assert queue_of(host, dev, reply) == first  # the flow hash is symmetric
    assert set(ops.queues()) == {0, 1, 2, 3}  # 64 flows over 4 queues: every queue used
    assert dev.core_stats.tx_submitted == 64 * 3 and not dev.qdisc


def test_select_queue_is_honoured_and_an_out_of_range_choice_is_capped_once(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    class Select(MqOps):
        choice = 2

        def select_queue(self, dev: NetDevice, skb: SkBuff, sb_dev: NetDevice | None) -> int:
            return self.choice

    ops = Select()
    dev = mq_dev(host, ops=ops)
    assert queue_of(host, dev, flow(1)) == 2 and queue_of(host, dev, flow(2)) == 2
    ops.choice = 7  # no such queue: netdev_cap_txqueue uses 0, and says so once
    with caplog.at_level(logging.WARNING, logger="netdrv"):
        assert queue_of(host, dev, flow(1)) == 0 and queue_of(host, dev, flow(2)) == 0
    assert sum("selects TX queue 7" in r.getMessage() for r in caplog.records) == 1
    ops.choice = True  # a bool (a missing int()?) is no queue number either, though Python
    assert queue_of(host, dev, flow(1)) == 0  # takes it for 1


def test_a_stopped_subqueue_holds_only_its_frames_and_wake_sends_them(host: Host) -> None:
    dev = mq_dev(host)
    ops = dev.netdev_ops
    assert isinstance(ops, MqOps)
    fa, qa, fb, qb = flows_on_two_queues(host, dev)
    ops.sent.clear()
    netif_stop_subqueue(dev, qa)
    assert netif_subqueue_stopped(dev, qa) and not netif_subqueue_stopped(dev, qb)
    for _ in range(3):
        tx(host, dev, fa)
        tx(host, dev, fb)
    host.loop.run_until_idle()
    assert ops.queues() == [qb] * 3  # the other queue's frames kept flowing
    assert len(netdev_get_tx_queue(dev, qa).qdisc) == 3 and not dev.qdisc
    netif_wake_subqueue(dev, qa)
    host.loop.run_until_idle()
    assert ops.queues() == [qb] * 3 + [qa] * 3
    assert [frame for q, frame in ops.sent if q == qa] == [fa] * 3  # in order, none lost


def test_a_subqueue_restarted_with_start_rather_than_wake_sends_what_waits(host: Host) -> None:
    # Some drivers restart a running device's queue with netif_tx_start_queue rather than
    # a wake: what waits in its backlog must go out, not stay behind every later frame of
    # that queue for good (queue 0 and netif_start_queue: test_carrier_deactivate.py).
    dev = mq_dev(host)
    ops = dev.netdev_ops
    assert isinstance(ops, MqOps)
    fa, qa, _fb, _qb = flows_on_two_queues(host, dev)
    ops.sent.clear()
    netif_stop_subqueue(dev, qa)
    for _ in range(3):
        tx(host, dev, fa)
    host.loop.run_until_idle()
    assert not ops.sent
    netif_start_subqueue(dev, qa)
    host.loop.run_until_idle()
    assert ops.sent == [(qa, fa)] * 3
    tx(host, dev, fa)
    host.loop.run_until_idle()
    assert ops.sent == [(qa, fa)] * 4


def test_a_full_subqueue_drops_and_counts_and_close_purges_every_queue(host: Host) -> None:
    dev = mq_dev(host, tx_queue_len=2)
    fa, qa, _fb, _qb = flows_on_two_queues(host, dev)
    netif_stop_subqueue(dev, qa)
    for _ in range(5):
        tx(host, dev, fa)
    assert len(netdev_get_tx_queue(dev, qa).qdisc) == 2  # each queue's pfifo: tx_queue_len
    assert dev.core_stats.tx_qdisc_drops == 3
    host.dev_close(dev)
    assert not netdev_get_tx_queue(dev, qa).qdisc and dev.core_stats.tx_qdisc_drops == 5


def test_tx_timeout_is_told_the_queue_that_timed_out(host: Host, run: Run) -> None:
    dev = mq_dev(host, watchdog_timeo=0.1)
    ops = dev.netdev_ops
    assert isinstance(ops, MqOps)
    netif_stop_subqueue(dev, 2)
    run(0.3)
    assert ops.timeouts and set(ops.timeouts) == {2}
    assert dev.core_stats.tx_timeouts == len(ops.timeouts)
    netif_wake_subqueue(dev, 2)
    ops.timeouts.clear()
    run(0.3)
    assert ops.timeouts == []  # every queue awake: nothing times out


def test_bql_stops_and_restarts_one_queue_only(host: Host) -> None:
    ops = MqOps()
    dev = mq_dev(host, ops=ops)
    fa, qa, fb, qb = flows_on_two_queues(host, dev)
    ops.bql = True
    assert queue_of(host, dev, fa) == qa and queue_of(host, dev, fb) == qb
    txa = netdev_get_tx_queue(dev, qa)  # a fresh limit is 0: its first frame is over it
    assert txa.state == QUEUE_STATE_STACK_XOFF and txa.dql.inflight > 0
    assert device_status(host, dev)["tx_queues"][qa]["bql"]["stopped"] is True
    ops.complete(dev, qb)  # qb back under its limit; qa still over
    ops.sent.clear()
    tx(host, dev, fa)
    tx(host, dev, fb)
    host.loop.run_until_idle()
    assert ops.queues() == [qb] and len(txa.qdisc) == 1
    ops.complete(dev, qa)  # its completion restarts it and sends what waited
    host.loop.run_until_idle()
    assert ops.queues() == [qb, qa] and not txa.qdisc
    status = device_status(host, dev)
    assert [q["index"] for q in status["tx_queues"]] == [0, 1, 2, 3]
    assert status["tx_queues"][qa]["bql"]["inflight"] == txa.dql.inflight > 0


def test_fewer_real_queues_drop_and_count_what_waits_on_the_removed_ones(host: Host) -> None:
    dev = mq_dev(host)
    ops = dev.netdev_ops
    assert isinstance(ops, MqOps)
    netif_tx_stop_all_queues(dev)
    for port in range(3000, 3032):
        tx(host, dev, flow(port))
    waiting = [len(netdev_get_tx_queue(dev, i).qdisc) for i in range(4)]
    assert sum(waiting) == 32 and all(waiting[2:])
    assert netif_set_real_num_tx_queues(dev, 0) < 0 and netif_set_real_num_tx_queues(dev, 5) < 0
    assert netif_set_real_num_tx_queues(dev, 2) == 0 and dev.real_num_tx_queues == 2
    assert dev.core_stats.tx_qdisc_drops == waiting[2] + waiting[3]
    netif_tx_wake_all_queues(dev)
    host.loop.run_until_idle()
    assert len(ops.sent) == waiting[0] + waiting[1]
    ops.sent.clear()
    for port in range(3000, 3032):
        tx(host, dev, flow(port))
    assert set(ops.queues()) <= {0, 1}


def test_ethtool_set_channels_through_netif_set_real_num_tx_queues(host: Host) -> None:
    class Chan(EthtoolOps):
        def get_channels(self, dev: NetDevice) -> Channels:
            return Channels(max_combined=dev.num_tx_queues, combined_count=dev.real_num_tx_queues)

        def set_channels(self, dev: NetDevice, channels: Channels) -> int:
            return netif_set_real_num_tx_queues(dev, channels.combined_count)

    dev = mq_dev(host, ethtool_ops=Chan())
    assert ethtool_get(host, dev, "channels").combined_count == 4
    assert ethtool_set(host, dev, "channels", {"combined_count": 1})
    assert dev.real_num_tx_queues == 1 and "tx_queues" not in device_status(host, dev)
    assert queue_of(host, dev, flow(1)) == 0 and queue_of(host, dev, flow(2)) == 0


def test_detach_stops_every_queue_and_attach_wakes_them(host: Host) -> None:
    dev = mq_dev(host)
    fa, qa, _fb, _qb = flows_on_two_queues(host, dev)
    netif_device_detach(dev)
    assert all(netif_subqueue_stopped(dev, i) for i in range(4))
    tx(host, dev, fa)
    assert len(netdev_get_tx_queue(dev, qa).qdisc) == 1
    netif_device_attach(dev)
    host.loop.run_until_idle()
    assert not netdev_get_tx_queue(dev, qa).qdisc
    assert not any(netif_subqueue_stopped(dev, i) for i in range(4))


def test_a_single_queue_device_is_unchanged(host: Host) -> None:
    def select_queue(dev: NetDevice, skb: SkBuff, sb_dev: NetDevice | None) -> int:
        raise AssertionError("one queue: nothing to select")

    assert alloc_etherdev().num_tx_queues == alloc_etherdev().real_num_tx_queues == 1
    dev, ops = make_dev(host)
    ops.select_queue = select_queue
    tx(host, dev)
    assert len(ops.sent) == 1 and ops.sent[0].queue_mapping == 0
    with pytest.raises(IndexError):
        netdev_get_tx_queue(dev, 1)
    status = device_status(host, dev)
    assert "tx_queues" not in status and status["bql"] is None


@pytest.mark.parametrize("woken", [0, 1])
def test_a_queue_woken_inside_start_xmit_makes_the_stack_send_only_after_it(
    host: Host, monkeypatch: pytest.MonkeyPatch, woken: int
) -> None:
    # A driver reaping its TX rings in start_xmit wakes another queue there. The TAP
    # reader, stopped while every queue was blocked, must not read and transmit from
    # within that start_xmit: the driver would be entered again from its own xmit.
    class Reaper(MqOps):
        inside = False
        target = 1 - woken

        def select_queue(self, dev: NetDevice, skb: SkBuff, sb_dev: NetDevice | None) -> int:
            return self.target

        def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
            self.inside = True
            try:
                netif_wake_subqueue(dev, woken)
                return super().start_xmit(skb, dev)
            finally:
                self.inside = False

    ops = Reaper()
    dev = mq_dev(host, count=2, ops=ops)
    told: list[bool] = []
    monkeypatch.setattr(host.attachment, "queue_woken", lambda d: told.append(ops.inside))
    netif_stop_subqueue(dev, woken)
    tx(host, dev, flow(1))
    host.loop.run_until_idle()
    assert [q for q, _ in ops.sent] == [1 - woken] and not netif_subqueue_stopped(dev, woken)
    assert told and not any(told), told  # told after start_xmit returned, not inside it
