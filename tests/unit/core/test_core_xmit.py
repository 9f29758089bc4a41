"""The transmit contract: qdisc, NETDEV_TX_OK/BUSY, stopped queues, driver faults, watchdog."""

from __future__ import annotations

import logging

import pytest
from fakedev import Run, make_dev, tx

from netdrv_core import (
    NETDEV_TX_BUSY,
    Host,
    SkBuff,
    dev_get_stats,
    netif_carrier_off,
    netif_carrier_on,
    netif_stop_queue,
    netif_trans_update,
    netif_wake_queue,
)
from netdrv_core.netdevice import NET_XMIT_CN, NET_XMIT_DROP, NET_XMIT_SUCCESS


def test_tx_ok_is_counted_as_submitted(host: Host) -> None:
    dev, ops = make_dev(host)
    for i in range(3):
        assert tx(host, dev, bytes([i]) * 60) == NET_XMIT_SUCCESS
    assert dev.core_stats.tx_submitted == 3 and dev.stats.tx_packets == 3
    assert ops.sent_bytes == [bytes([i]) * 60 for i in range(3)]
    assert all(s.dev is dev for s in ops.sent)


def test_xmit_on_a_down_device_is_dropped_and_counted(host: Host) -> None:
    dev, ops = make_dev(host, up=False)
    assert tx(host, dev) == NET_XMIT_CN  # a device that is down has noop_qdisc: noop_enqueue
    assert dev.core_stats.tx_qdisc_drops == 1 and "start_xmit" not in ops.calls


def test_dev_queue_xmit_needs_a_device(host: Host) -> None:
    with pytest.raises(ValueError, match=r"skb\.dev"):
        host.dev_queue_xmit(SkBuff(10))


def test_busy_keeps_the_same_skb_and_retries_after_wake(host: Host) -> None:
    dev, ops = make_dev(host)
    attempts: list[SkBuff] = []
    ops.on_xmit = lambda skb, d: attempts.append(skb)
    ops.mode = "busy"
    tx(host, dev, b"A" * 60)
    tx(host, dev, b"B" * 60)  # queue stopped now: goes to the qdisc behind A
    assert dev.core_stats.tx_busy == 1 and dev.core_stats.tx_submitted == 0
    assert len(dev.qdisc) == 2 and dev.qdisc[0] is attempts[0]
    assert not attempts[0].freed
    ops.mode = "ok"
    netif_wake_queue(dev)
    host.loop.run_until_idle()
    assert attempts[1] is attempts[0]  # the very same skb object was retried
    assert ops.sent_bytes == [b"A" * 60, b"B" * 60]  # nothing lost, order kept
    assert dev.core_stats.tx_submitted == 2 and not dev.qdisc


def test_busy_with_the_queue_awake_is_retried_soon(host: Host, run: Run) -> None:
    dev, ops = make_dev(host)
    n = {"busy": 2}
    original = ops.start_xmit

    def start_xmit(skb: SkBuff, d):
        if n["busy"]:
            n["busy"] -= 1
            return NETDEV_TX_BUSY  # a driver bug: BUSY without stopping the queue
        return original(skb, d)

    ops.start_xmit = start_xmit  # type: ignore[method-assign]
    tx(host, dev)
    assert dev.qdisc and dev.core_stats.tx_busy == 1
    run(0.01)
    assert not dev.qdisc and dev.core_stats.tx_submitted == 1 and dev.core_stats.tx_busy == 2


def test_stopped_queue_holds_up_to_tx_queue_len_then_drops(host: Host) -> None:
    dev, ops = make_dev(host, tx_queue_len=5)
    netif_stop_queue(dev)
    results = [tx(host, dev, bytes([i]) * 60) for i in range(8)]
    assert results == [NET_XMIT_SUCCESS] * 5 + [NET_XMIT_DROP] * 3
    assert len(dev.qdisc) == 5 and dev.core_stats.tx_qdisc_drops == 3
    netif_wake_queue(dev)
    host.loop.run_until_idle()
    assert ops.sent_bytes == [bytes([i]) * 60 for i in range(5)]
    assert dev.core_stats.tx_submitted == 5


def test_new_frames_queue_behind_a_pending_qdisc(host: Host) -> None:
    dev, ops = make_dev(host)
    netif_stop_queue(dev)
    tx(host, dev, b"1" * 60)
    netif_wake_queue(dev)  # drain is scheduled, not yet run
    tx(host, dev, b"2" * 60)
    host.loop.run_until_idle()
    assert ops.sent_bytes == [b"1" * 60, b"2" * 60]


def test_close_drops_what_the_qdisc_holds(host: Host) -> None:
    dev, _ = make_dev(host)
    netif_stop_queue(dev)
    skbs = []
    for _ in range(3):
        tx(host, dev)
        skbs.append(dev.qdisc[-1])
    host.dev_close(dev)
    assert not dev.qdisc and dev.core_stats.tx_qdisc_drops == 3
    assert all(s.freed for s in skbs)


def test_driver_raising_in_start_xmit_is_isolated(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    bad, bad_ops = make_dev(host, "bad%d")
    good, _ = make_dev(host, "good%d")
    bad_ops.mode = "raise"
    with caplog.at_level(logging.ERROR, logger="netdrv.host"):
        assert tx(host, bad) == NET_XMIT_SUCCESS
    assert bad.core_stats.tx_driver_faults == 1 and bad.core_stats.tx_submitted == 1
    assert dev_get_stats(bad).tx_dropped == 1
    assert bad.is_up  # taken down only after the loop runs
    assert any("bad0" in r.getMessage() and "start_xmit" in r.getMessage() for r in caplog.records)
    host.loop.run_until_idle()
    assert not bad.is_up and bad_ops.calls[-1] == "stop"
    assert tx(host, bad) == NET_XMIT_CN  # down: noop_qdisc
    assert tx(host, good) == NET_XMIT_SUCCESS and good.stats.tx_packets == 1 and good.is_up
    s = dev_get_stats(bad)
    assert bad.core_stats.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors


def test_a_faulted_driver_gets_no_more_frames_before_its_device_closes(host: Host) -> None:
    """Frames after the fault wait in the qdisc and are dropped, counted, by the close."""
    bad, bad_ops = make_dev(host, "bad%d")
    bad_ops.mode = "raise"
    tx(host, bad)
    assert tx(host, bad) == NET_XMIT_SUCCESS and tx(host, bad) == NET_XMIT_SUCCESS  # queued
    assert bad_ops.calls.count("start_xmit") == 1, "the faulted driver was called again"
    host.loop.run_until_idle()
    assert not bad.is_up and not bad.qdisc
    assert bad.core_stats.tx_qdisc_drops == 2


def test_driver_freeing_then_raising_is_not_a_double_free(host: Host) -> None:
    from netdrv_core import dev_kfree_skb

    dev, ops = make_dev(host)

    def free_then_raise(skb: SkBuff, d: object) -> None:
        dev_kfree_skb(skb)
        raise RuntimeError("oops")

    ops.on_xmit = free_then_raise
    tx(host, dev)
    assert dev.core_stats.tx_driver_faults == 1


def test_a_raising_tap_is_removed_and_traffic_continues(host: Host) -> None:
    dev, _ = make_dev(host)
    seen: list[str] = []

    def bad_tap(d: object, skb: SkBuff, direction: str) -> None:
        raise RuntimeError("tap bug")

    host.add_tap(dev, bad_tap)
    remove = host.add_tap(dev, lambda d, skb, direction: seen.append(direction))
    tx(host, dev)
    tx(host, dev)
    assert seen == ["tx", "tx"] and dev.stats.tx_packets == 2
    remove()
    tx(host, dev)
    assert seen == ["tx", "tx"]
    remove()  # twice is harmless


# -- watchdog ---------------------------------------------------------------------------------
def test_watchdog_fires_when_the_queue_stays_stopped(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=0.1)
    ops.mode = "hold"  # the TX-done interrupt never comes
    tx(host, dev)
    run(0.09)
    assert ops.timeouts == 0
    run(0.05)
    assert ops.timeouts == 1 and dev.core_stats.tx_timeouts == 1 and dev.watchdog_fired == 1
    run(0.05)
    assert ops.timeouts == 1  # trans_start was reset: not again right away
    run(0.1)
    assert ops.timeouts == 2  # still stopped a full period later


def test_watchdog_not_called_while_the_queue_is_awake(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=0.05)
    tx(host, dev)
    run(0.5)
    assert ops.timeouts == 0


def test_watchdog_not_called_with_the_carrier_off(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=0.05)
    netif_carrier_off(dev)
    netif_stop_queue(dev)
    run(0.5)
    assert ops.timeouts == 0
    assert dev._watchdog is None, "no carrier: nothing is checked until it returns"
    # The carrier returns with the queue still stopped: checked a period later, as in Linux.
    netif_carrier_on(dev)
    run(0.04)
    assert ops.timeouts == 0
    run(0.03)
    assert ops.timeouts == 1


def test_watchdog_does_not_fire_for_a_brief_stop_after_a_transmission(host: Host, run: Run) -> None:
    # A driver that never calls netif_trans_update: the core records the time of
    # each NETDEV_TX_OK (like the kernel's txq_trans_update), so a queue stopped a
    # moment ago after a successful transmission is not a timeout.
    dev, ops = make_dev(host, watchdog_timeo=0.1)
    run(1.0)  # long idle time since open
    ops.mode = "hold"
    tx(host, dev)
    run(0.05)
    assert ops.timeouts == 0
    ops.complete(dev)
    netif_wake_queue(dev)
    run(1.0)
    assert ops.timeouts == 0


def test_watchdog_counts_from_open_not_from_time_zero(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=0.1, up=False)
    ops.start_queue_on_open = False  # waits for something before starting the queue
    netif_stop_queue(dev)  # as its last stop left it (a queue starts zeroed, not stopped)
    run(5.0)
    host.dev_open(dev)
    run(0.08)
    assert ops.timeouts == 0
    run(0.1)
    assert ops.timeouts == 1


def test_watchdog_stops_when_the_device_goes_down(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=0.05)
    netif_stop_queue(dev)
    host.dev_close(dev)
    run(0.5)
    assert ops.timeouts == 0


def test_watchdog_default_period_and_no_watchdog_without_tx_timeout(host: Host) -> None:
    from netdrv_core import NetDeviceOps

    dev, _ = make_dev(host, watchdog_timeo=0.0)
    assert dev.watchdog_timeo == 5.0 and dev._watchdog_on
    assert dev._watchdog is None, "an awake queue cannot time out: nothing to check"
    netif_stop_queue(dev)
    assert dev._watchdog is not None, "a stopped queue is checked"

    class NoTimeout(NetDeviceOps):
        def start_xmit(self, skb: SkBuff, d: object) -> int:
            return 0

    d2, _ = make_dev(host, up=False)
    d2.netdev_ops = NoTimeout()
    host.dev_open(d2)
    netif_stop_queue(d2)
    assert not d2._watchdog_on and d2._watchdog is None


def test_an_idle_device_schedules_no_watchdog_checks(host: Host, run: Run) -> None:
    """Only a stopped queue is checked: an idle daemon is not woken every few milliseconds."""
    dev, ops = make_dev(host, watchdog_timeo=0.005)
    run(0.2)
    assert not host.loop._timers and ops.timeouts == 0
    netif_stop_queue(dev)
    netif_wake_queue(dev)  # woken in time: the pending check finds nothing and is not renewed
    run(0.2)
    assert not host.loop._timers and ops.timeouts == 0


def test_raising_tx_timeout_takes_the_device_down(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=0.05)

    def bad(d: object, q: int = 0) -> None:
        raise RuntimeError("timeout handler bug")

    ops.tx_timeout = bad  # type: ignore[method-assign, assignment]
    netif_stop_queue(dev)
    netif_trans_update(dev)
    run(0.2)
    assert not dev.is_up and dev.core_stats.tx_timeouts == 1


@pytest.mark.parametrize("rc", [None, True, -22])
def test_an_odd_start_xmit_return_is_taken_and_said_once(
    host: Host, caplog: pytest.LogCaptureFixture, rc: object
) -> None:
    # Neither TX_OK nor BUSY (a forgotten return, a bool, an errno): the skb counts as the
    # driver's, as Linux's dev_xmit_complete() has it, and the log says what to return.
    dev, ops = make_dev(host)
    real = ops.start_xmit

    def start_xmit(skb: SkBuff, d: object) -> object:
        real(skb, d)
        return rc

    ops.start_xmit = start_xmit  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="netdrv.host"):
        for _ in range(3):
            assert tx(host, dev) == NET_XMIT_SUCCESS
    assert dev.core_stats.tx_submitted == 3 and dev.stats.tx_packets == 3
    said = [r.getMessage() for r in caplog.records if "start_xmit returned" in r.getMessage()]
    assert len(said) == 1, said
    assert f"start_xmit returned {rc!r}" in said[0] and "NETDEV_TX_OK" in said[0]
    assert ("missing return statement" in said[0]) == (rc is None)
