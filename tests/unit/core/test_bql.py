"""Byte Queue Limits (``netdrv_core.bql``): the queue API of include/linux/netdevice.h on a
memory-attached test device whose TX ring is completed by hand (its "TX-done interrupt")."""

from __future__ import annotations

import pytest
from fakedev import Run, make_dev, tx

from netdrv_core import (
    NETDEV_TX_OK,
    QUEUE_STATE_DRV_XOFF,
    QUEUE_STATE_STACK_XOFF,
    DqlError,
    Host,
    NetDevice,
    SkBuff,
    dev_kfree_skb,
    netdev_completed_queue,
    netdev_get_tx_queue,
    netdev_reset_queue,
    netdev_sent_queue,
    netdev_tx_completed_queue,
    netdev_tx_sent_queue,
    netif_queue_stopped,
    netif_stop_queue,
    netif_tx_stop_queue,
    netif_wake_queue,
    netif_xmit_stopped,
)
from netdrv_core.bql import bql_set
from netdrv_core.status import device_status

FRAME = 60


class BqlRing:
    """start_xmit puts the skb on a ring and reports its bytes (netdev_sent_queue);
    :meth:`complete` is the TX-done interrupt (netdev_completed_queue)."""

    def __init__(self) -> None:
        self.ring: list[SkBuff] = []
        self.xmits = 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        self.xmits += 1
        self.ring.append(skb)
        netdev_sent_queue(dev, skb.len)
        return NETDEV_TX_OK

    def complete(self, dev: NetDevice, n: int | None = None) -> None:
        done = self.ring[: len(self.ring) if n is None else n]
        del self.ring[: len(done)]
        nbytes = 0
        for skb in done:
            nbytes += skb.len
            dev.stats.tx_packets += 1
            dev.stats.tx_bytes += skb.len
            dev_kfree_skb(skb)
        netdev_completed_queue(dev, len(done), nbytes)


def bql_dev(host: Host, **attrs: object) -> tuple[NetDevice, BqlRing]:
    dev, ops = make_dev(host, **attrs)
    ring = BqlRing()
    ops.start_xmit = ring.start_xmit  # type: ignore[method-assign]
    return dev, ring


def test_over_the_limit_the_stack_stops_the_queue_and_frames_wait(host: Host) -> None:
    dev, ring = bql_dev(host)
    txq = netdev_get_tx_queue(dev, 0)
    tx(host, dev)  # a fresh limit is 0: the first frame is over it
    assert txq.dql.inflight == FRAME and txq.state == QUEUE_STATE_STACK_XOFF
    assert netif_xmit_stopped(txq) and not netif_queue_stopped(dev)  # the stack's stop only
    for _ in range(3):
        tx(host, dev)
    host.loop.run_until_idle()
    assert ring.xmits == 1 and len(dev.qdisc) == 3  # they wait, none is lost
    assert dev.core_stats.tx_qdisc_drops == 0


def test_a_completion_under_the_limit_restarts_what_waits(host: Host) -> None:
    dev, ring = bql_dev(host)
    txq = netdev_get_tx_queue(dev, 0)
    for _ in range(3):
        tx(host, dev)
    ring.complete(dev)  # starved: the limit grows to one frame, the queue wakes
    assert txq.dql.limit == FRAME and not txq.state
    host.loop.run_until_idle()  # the core sends from the qdisc: two frames fill the limit
    assert ring.xmits == 3 and not dev.qdisc and txq.state == QUEUE_STATE_STACK_XOFF
    assert txq.dql.inflight == 2 * FRAME
    ring.complete(dev)
    host.loop.run_until_idle()
    assert txq.dql.inflight == 0 and not netif_xmit_stopped(txq)
    assert dev.stats.tx_packets == dev.core_stats.tx_submitted == 3


def test_a_completion_still_over_the_limit_keeps_the_queue_stopped(host: Host) -> None:
    dev, ring = bql_dev(host)
    txq = netdev_get_tx_queue(dev, 0)
    tx(host, dev)
    ring.complete(dev)  # limit: one 60-byte frame
    tx(host, dev)  # exactly at the limit: may go on
    assert not netif_xmit_stopped(txq)
    tx(host, dev, b"y" * 200)  # over it
    tx(host, dev)
    assert txq.dql.inflight == 260 and netif_xmit_stopped(txq) and len(dev.qdisc) == 1
    netdev_tx_completed_queue(txq, 0, 0)  # as in Linux: no bytes, nothing done
    assert txq.dql.num_completed == FRAME
    ring.complete(dev, 1)  # the 60: 200 still in flight over a limit of 60
    host.loop.run_until_idle()
    assert (txq.dql.limit, txq.dql.inflight) == (FRAME, 200) and netif_xmit_stopped(txq)
    assert ring.xmits == 3 and len(dev.qdisc) == 1
    ring.complete(dev)  # empty after an over-limit interval: 60 + the 200 over it
    host.loop.run_until_idle()
    assert txq.dql.limit == 260 and ring.xmits == 4 and not dev.qdisc


def test_wake_queue_clears_only_the_drivers_stop(host: Host) -> None:
    dev, ring = bql_dev(host)
    txq = netdev_get_tx_queue(dev, 0)
    tx(host, dev)
    netif_stop_queue(dev)  # the ring is full too
    assert txq.state == QUEUE_STATE_DRV_XOFF | QUEUE_STATE_STACK_XOFF
    tx(host, dev)
    netif_wake_queue(dev)
    host.loop.run_until_idle()
    assert txq.state == QUEUE_STATE_STACK_XOFF and netif_xmit_stopped(txq)
    assert ring.xmits == 1 and len(dev.qdisc) == 1
    # And the other way round: a completion under the limit does not undo the driver's stop.
    netif_stop_queue(dev)
    ring.complete(dev)
    host.loop.run_until_idle()
    assert txq.state == QUEUE_STATE_DRV_XOFF and ring.xmits == 1 and len(dev.qdisc) == 1
    netif_wake_queue(dev)
    host.loop.run_until_idle()
    assert ring.xmits == 2 and not dev.qdisc


def test_reset_forgets_the_bytes_in_flight_and_restarts_the_queue(host: Host) -> None:
    dev, ring = bql_dev(host)
    txq = netdev_get_tx_queue(dev, 0)
    tx(host, dev)
    tx(host, dev)
    assert netif_xmit_stopped(txq) and len(dev.qdisc) == 1
    for skb in ring.ring:  # the driver frees its ring (a hardware reset)
        dev.stats.tx_dropped += 1
        dev_kfree_skb(skb)
    ring.ring.clear()
    netdev_reset_queue(dev)
    assert (txq.dql.inflight, txq.dql.limit, txq.state) == (0, 0, 0)
    host.loop.run_until_idle()
    assert ring.xmits == 2 and not dev.qdisc  # what waited went out


def test_a_full_qdisc_behind_a_stack_stop_drops_and_counts(host: Host) -> None:
    dev, ring = bql_dev(host, tx_queue_len=2)
    for _ in range(5):
        tx(host, dev)
    assert ring.xmits == 1 and len(dev.qdisc) == 2 and dev.core_stats.tx_qdisc_drops == 2


def test_completing_more_than_was_sent_names_the_device_and_the_mistake(host: Host) -> None:
    dev, ring = bql_dev(host)
    tx(host, dev)
    ring.complete(dev)
    with pytest.raises(DqlError) as e:
        netdev_completed_queue(dev, 1, FRAME)  # the same frame completed twice
    msg = str(e.value)
    assert msg.startswith("t0: netdev_completed_queue: 60 bytes completed but only 0 in flight")
    assert "netdev_sent_queue(dev, skb.len)" in msg and "twice" in msg


def test_a_second_tx_queue_does_not_exist(host: Host) -> None:
    dev, _ = make_dev(host)
    assert dev.num_tx_queues == 1
    with pytest.raises(IndexError, match=r"t0: no TX queue 1: dev.num_tx_queues is 1"):
        netdev_get_tx_queue(dev, 1)
    assert netdev_get_tx_queue(dev, 0) is netdev_get_tx_queue(dev, 0)


def test_the_watchdog_times_out_a_queue_the_stack_stopped(host: Host, run: Run) -> None:
    """Linux's dev_watchdog checks netif_xmit_stopped: completions that never come are a
    hung transmitter whichever XOFF stopped the queue."""
    dev, ring = bql_dev(host, watchdog_timeo=0.5)
    ops = dev.netdev_ops
    run(2.0)  # long idle: the watchdog counts from the stop, not from the open
    tx(host, dev)
    run(0.3)
    assert ops.timeouts == 0  # type: ignore[attr-defined]
    run(0.5)
    assert ops.timeouts == 1  # type: ignore[attr-defined]
    ring.complete(dev)
    run(2.0)
    assert ops.timeouts == 1  # type: ignore[attr-defined]


def test_status_shows_the_limits_of_a_driver_using_bql(host: Host) -> None:
    dev, ring = bql_dev(host)
    plain, _ = make_dev(host)
    assert device_status(host, plain)["bql"] is None
    tx(host, dev)
    ring.complete(dev)
    tx(host, dev)
    bql = device_status(host, dev)["bql"]
    assert bql == {"limit": FRAME, "limit_max": 1879048192, "limit_min": 0,
                   "hold_time_ms": 1000.0, "inflight": FRAME, "stopped": False,
                   "active": True}  # fmt: skip
    assert plain._tx_queue is None  # asking for status made it no queue


def test_status_shows_no_limits_on_a_queue_bql_is_not_used_on(host: Host) -> None:
    """A driver without BQL whose queues exist all the same (a multi-queue device, the
    netif_tx_* calls): bql null on each queue, not a limit of 0 that no transmission obeys
    (Linux's sysfs shows the same for a queue BQL never saw); limits set with netdrv set
    are shown, and that BQL counts nothing there (active false)."""
    from fakedev import ScriptedOps

    from netdrv_core import alloc_etherdev_mq

    plain = alloc_etherdev_mq(None, 2)
    plain.netdev_ops = ScriptedOps()
    plain.dev_addr = b"\x02\x00\x00\x00\x00\x22"
    host.register_netdev(plain)
    assert host.dev_open(plain) == 0
    for _ in range(3):
        tx(host, plain)
    assert plain._tx_queue is not None  # the queues exist ...
    st = device_status(host, plain)
    assert st["bql"] is None and [q["bql"] for q in st["tx_queues"]] == [None, None]  # ... idle
    assert bql_set(plain, {"limit_min": 100})["limit_min"] == 100  # taken, as sysfs takes it
    for _ in range(3):
        tx(host, plain)
    st = device_status(host, plain)
    for shown in (st["bql"], *(q["bql"] for q in st["tx_queues"])):
        assert (shown["limit_min"], shown["inflight"], shown["active"]) == (100, 0, False)
    # A driver with BQL: shown from its first report, and after its reset (stop, or open)
    # with nothing reported since: as sysfs's byte_queue_limits after dql_reset, the limit
    # back at limit_min, nothing in flight.
    dev, ring = bql_dev(host)
    tx(host, dev)
    assert device_status(host, dev)["bql"]["inflight"] == FRAME
    ring.complete(dev)
    bql = device_status(host, dev)["bql"]
    assert (bql["inflight"], bql["limit"], bql["active"]) == (0, FRAME, True)
    netdev_reset_queue(dev)
    bql = device_status(host, dev)["bql"]
    assert (bql["inflight"], bql["limit"], bql["active"]) == (0, 0, True)


def test_status_shows_the_limits_of_a_bql_queue_just_reset(host: Host) -> None:
    """A BQL driver resets its queues in open (netdev_tx_reset_queue) before it sends a
    frame: sysfs's byte_queue_limits then shows limit 0, limit_min 0, limit_max
    DQL_MAX_LIMIT, inflight 0, hold_time 1000 (ms) -- the queue's BQL state, which status
    shows (active: the driver uses BQL there), on each queue it reset."""
    from fakedev import ScriptedOps

    from netdrv_core import alloc_etherdev_mq, netdev_tx_reset_queue, netif_tx_start_all_queues

    class ResettingOps(ScriptedOps):
        def open(self, dev: NetDevice) -> int:
            for i in range(dev.real_num_tx_queues):
                netdev_tx_reset_queue(netdev_get_tx_queue(dev, i))
            netif_tx_start_all_queues(dev)
            return 0

    dev = alloc_etherdev_mq(None, 2)
    dev.netdev_ops = ResettingOps()
    dev.dev_addr = b"\x02\x00\x00\x00\x00\x23"
    host.register_netdev(dev)
    assert host.dev_open(dev) == 0
    fresh = {"limit": 0, "limit_max": 1879048192, "limit_min": 0, "hold_time_ms": 1000.0,
             "inflight": 0, "stopped": False, "active": True}  # fmt: skip
    st = device_status(host, dev)
    assert st["bql"] == fresh
    assert [q["bql"] for q in st["tx_queues"]] == [fresh, fresh]


def test_limits_set_like_sysfs_apply_at_the_next_completion(host: Host) -> None:
    dev, ring = bql_dev(host)
    txq = netdev_get_tx_queue(dev, 0)
    out = bql_set(dev, {"limit_min": 1000, "hold_time_ms": 250})
    assert (out["limit_min"], out["hold_time_ms"], txq.dql.slack_hold_time) == (1000, 250, 0.25)
    tx(host, dev)
    ring.complete(dev)
    assert txq.dql.limit == 1000
    for _ in range(20):
        tx(host, dev)
    # Sent until over the limit: the 17th frame is the first that does not fit in 1000 bytes.
    assert ring.xmits == 1 + 17 and len(dev.qdisc) == 3
    with pytest.raises(ValueError, match="limit_min 1000 is over limit_max 10"):
        bql_set(dev, {"limit_max": 10})
    with pytest.raises(ValueError, match="unknown byte queue limit 'limit'"):
        bql_set(dev, {"limit": 10})
    assert bql_set(dev, {"limit_max": "max"})["limit_max"] == 1879048192


def test_limits_set_before_the_first_frame_hold_from_it_on(host: Host) -> None:
    """`netdrv set DEV bql_limit_min=…` right after loading: the driver has not called
    netdev_sent_queue yet, and the limits still apply (Linux: every queue has them)."""
    dev, ring = bql_dev(host)
    assert device_status(host, dev)["bql"] is None  # no BQL seen on it yet
    assert bql_set(dev, {"limit_min": 2 * FRAME})["limit_min"] == 2 * FRAME
    tx(host, dev)
    ring.complete(dev)
    assert netdev_get_tx_queue(dev, 0).dql.limit == 2 * FRAME
    assert device_status(host, dev)["bql"]["limit_min"] == 2 * FRAME


def test_a_bad_byte_count_names_the_device_and_what_to_report(host: Host) -> None:
    dev, _ring = bql_dev(host)
    with pytest.raises(DqlError, match=r"t0: netdev_sent_queue: -1 bytes at once; report the "
                                       r"length of each skb start_xmit accepts"):  # fmt: skip
        netdev_sent_queue(dev, -1)
    tx(host, dev)
    with pytest.raises(DqlError, match=r"t0: netdev_completed_queue: -60 bytes completed; "):
        netdev_completed_queue(dev, 1, -FRAME)
    assert netdev_get_tx_queue(dev, 0).dql.inflight == FRAME  # nothing undone


def test_sent_queue_on_the_queue_object() -> None:
    """The txq forms, on a device not registered (its state zeroed, as alloc_netdev_mqs
    leaves it; BQL sets and clears only the stack's XOFF, the driver's stays what it was)."""
    dev, _ = make_dev(None)
    txq = netdev_get_tx_queue(dev, 0)
    assert txq.state == 0
    netdev_tx_sent_queue(txq, 10)
    assert txq.dql.num_queued == 10
    assert txq.state == QUEUE_STATE_STACK_XOFF
    netdev_tx_completed_queue(txq, 1, 10)
    assert txq.dql.limit == 10 and txq.state == 0
    netif_tx_stop_queue(txq)
    netdev_tx_sent_queue(txq, 10)
    netdev_tx_completed_queue(txq, 1, 10)
    assert txq.state == QUEUE_STATE_DRV_XOFF


def test_the_daemon_shows_and_sets_the_limits(host: Host) -> None:
    """`netdrv status --json` and `netdrv set DEV bql_limit_max=N …` go through these."""
    from netdrv_core.daemon import Daemon

    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    dev, ring = bql_dev(host)
    tx(host, dev)
    st = daemon.handle({"cmd": "status"})
    assert st is not None
    (shown,) = [d["bql"] for d in st["devices"] if d["name"] == "t0"]
    assert (shown["limit"], shown["inflight"], shown["stopped"]) == (0, FRAME, True)
    reply = daemon.handle({"cmd": "set", "dev": "t0", "bql": {"limit_max": 5000, "limit_min": 100}})
    assert reply is not None and reply["ok"], reply
    assert (reply["result"]["limit_max"], reply["result"]["limit_min"]) == (5000, 100)
    ring.complete(dev)
    assert netdev_get_tx_queue(dev, 0).dql.limit == 100  # the new floor, at the completion
    bad = daemon.handle({"cmd": "set", "dev": "t0", "bql": {"limit_max": -1}})
    assert bad is not None and not bad["ok"] and "not a whole number" in bad["error"]


def test_the_set_command_checks_bql_values_before_asking_the_daemon() -> None:
    from click.testing import CliRunner

    from netdrv_core.cli import cli

    res = CliRunner().invoke(cli, ["set", "sn0", "bql_limit_max=lots"])
    assert res.exit_code == 1 and "'lots' is not a number" in res.output


def test_reset_while_the_driver_stopped_the_queue_leaves_its_stop(host: Host) -> None:
    """netdev_reset_queue clears BQL's stop only: the driver's netif_stop_queue holds until
    its netif_wake_queue (the ring being refilled after a hardware reset)."""
    dev, ring = bql_dev(host)
    txq = netdev_get_tx_queue(dev, 0)
    tx(host, dev)
    netif_stop_queue(dev)
    tx(host, dev)
    ring.ring.clear()  # freed by the "hardware reset" (not counted: not checked here)
    netdev_reset_queue(dev)
    host.loop.run_until_idle()
    assert txq.state == QUEUE_STATE_DRV_XOFF and netif_xmit_stopped(txq) and len(dev.qdisc) == 1
    netif_wake_queue(dev)
    host.loop.run_until_idle()
    assert ring.xmits == 2 and not dev.qdisc


def test_unregistering_drops_and_counts_what_bql_held_back(host: Host) -> None:
    """Frames waiting behind BQL's stop are the core's: freed and counted when the device
    goes; a completion the driver reports afterwards wakes nothing."""
    dev, ring = bql_dev(host)
    for _ in range(3):
        tx(host, dev)
    waiting = list(dev.qdisc)
    assert len(waiting) == 2
    host.unregister_netdev(dev)
    assert not dev.qdisc and dev.core_stats.tx_qdisc_drops == 2
    assert all(skb.freed for skb in waiting)
    ring.complete(dev)  # the ring's last TX-done, after the device went
    host.loop.run_until_idle()
    assert netdev_get_tx_queue(dev, 0).dql.inflight == 0 and ring.xmits == 1


def test_limits_set_apply_to_every_tx_queue_and_status_shows_each(host: Host) -> None:
    """`netdrv set DEV bql_limit_min=…` on a multi-queue device: every queue (sysfs
    queues/tx-*/byte_queue_limits), those not in use yet too; status lists each queue's."""
    from netdrv_core import NetDeviceOps, alloc_etherdev_mq, netif_set_real_num_tx_queues

    dev = alloc_etherdev_mq(None, 4)
    dev.netdev_ops = NetDeviceOps()
    host.register_netdev(dev)
    assert netif_set_real_num_tx_queues(dev, 3) == 0
    out = bql_set(dev, {"limit_min": 1000, "limit_max": 5000, "hold_time_ms": 250})
    assert (out["limit_min"], out["limit_max"], out["hold_time_ms"]) == (1000, 5000, 250)
    for i in range(4):
        dql = netdev_get_tx_queue(dev, i).dql
        assert (dql.min_limit, dql.max_limit, dql.slack_hold_time) == (1000, 5000, 0.25), i
    shown = device_status(host, dev)["tx_queues"]
    assert [q["index"] for q in shown] == [0, 1, 2]
    for q in shown:
        assert (q["bql"]["limit_min"], q["bql"]["limit_max"], q["bql"]["hold_time_ms"]) == (
            1000, 5000, 250.0)  # fmt: skip
    # Only the names given change, all or none: a bad pair on one queue changes no queue.
    netdev_get_tx_queue(dev, 2).dql.max_limit = 1500
    with pytest.raises(ValueError, match="limit_min 2000 is over limit_max 1500 on TX queue 2"):
        bql_set(dev, {"limit_min": 2000})
    assert netdev_get_tx_queue(dev, 0).dql.min_limit == 1000
    bql_set(dev, {"hold_time_ms": 500})
    assert netdev_get_tx_queue(dev, 2).dql.max_limit == 1500
    assert netdev_get_tx_queue(dev, 3).dql.slack_hold_time == 0.5
