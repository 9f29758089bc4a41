"""netif_rx and the backlog; NAPI polling with a budget."""

from __future__ import annotations

import pytest
from fakedev import make_dev, mem

from netdrv_core import (
    NET_RX_DROP,
    NET_RX_SUCCESS,
    Host,
    NapiStruct,
    NetDevice,
    SkBuff,
    dev_alloc_skb,
    dev_get_stats,
    eth_type_trans,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_schedule,
    netif_napi_add,
    netif_receive_skb,
    netif_rx,
)
from netdrv_core.loop import EventLoop
from netdrv_core.napi import netif_napi_del

FRAME = b"\x02\x00\x00\x00\x00\x10" + b"\x02\x00\x00\x00\x00\x20" + b"\x08\x00" + bytes(46)


def rx_skb(dev: NetDevice, payload: bytes = FRAME) -> SkBuff:
    skb = dev_alloc_skb(len(payload))
    skb.put_data(payload)
    eth_type_trans(skb, dev)
    return skb


def test_netif_rx_success_is_delivered_after_the_loop_runs(host: Host) -> None:
    dev, _ = make_dev(host)
    assert netif_rx(rx_skb(dev)) == NET_RX_SUCCESS
    assert mem(host).received(dev) == []
    host.loop.run_until_idle()
    assert mem(host).received(dev) == [FRAME]
    cs = dev.core_stats
    assert (cs.rx_submitted, cs.rx_delivered, cs.rx_backlog_drops) == (1, 1, 0)


def test_netif_rx_needs_a_registered_device() -> None:
    skb = SkBuff(10)
    with pytest.raises(ValueError, match="registered device"):
        netif_rx(skb)


def test_backlog_full_drops_and_counts() -> None:
    loop = EventLoop()
    host = Host(loop=loop, netdev_max_backlog=3)
    try:
        dev, _ = make_dev(host)
        results = [netif_rx(rx_skb(dev)) for _ in range(5)]
        assert results == [NET_RX_SUCCESS] * 3 + [NET_RX_DROP] * 2
        assert dev.core_stats.rx_backlog_drops == 2
        assert dev_get_stats(dev).rx_dropped == 2
        host.loop.run_until_idle()
        assert len(mem(host).received(dev)) == 3
        assert netif_rx(rx_skb(dev)) == NET_RX_SUCCESS  # room again once processed
    finally:
        host.close()
        loop.close()


def test_netif_rx_on_a_down_device_drops(host: Host) -> None:
    dev, _ = make_dev(host, up=False)
    skb = rx_skb(dev)
    assert netif_rx(skb) == NET_RX_DROP
    assert dev.core_stats.rx_down_drops == 1 and dev_get_stats(dev).rx_dropped == 1
    assert skb.freed


def test_device_going_down_before_delivery_drops(host: Host) -> None:
    dev, _ = make_dev(host)
    netif_rx(rx_skb(dev))
    host.dev_close(dev)
    host.loop.run_until_idle()
    assert dev.core_stats.rx_down_drops == 1 and dev.core_stats.rx_delivered == 0


def test_backlog_is_processed_in_rounds_of_dev_weight(host: Host) -> None:
    dev, _ = make_dev(host)
    host.dev_weight = 4
    for _ in range(10):
        netif_rx(rx_skb(dev))
    host.loop.run_once(0)
    assert dev.core_stats.rx_delivered == 4
    host.loop.run_until_idle()
    assert dev.core_stats.rx_delivered == 10


def test_rx_taps_see_delivered_frames(host: Host) -> None:
    dev, _ = make_dev(host)
    seen: list[tuple[str, bytes]] = []
    host.add_tap(dev, lambda d, skb, direction: seen.append((direction, skb.tobytes())))
    netif_rx(rx_skb(dev))
    host.loop.run_until_idle()
    assert seen == [("rx", FRAME[14:])]  # data starts after the pulled link header


# -- NAPI ---------------------------------------------------------------------------------
class Ring:
    """A fake receive ring polled by NAPI."""

    def __init__(self, dev: NetDevice, n: int) -> None:
        self.dev = dev
        self.pending = n
        self.budgets: list[int] = []
        self.irq_enabled = True

    def poll(self, napi: NapiStruct, budget: int) -> int:
        self.budgets.append(budget)
        done = 0
        while done < budget and self.pending:
            self.pending -= 1
            netif_receive_skb(rx_skb(self.dev))
            done += 1
        if done < budget:
            napi_complete_done(napi, done)
            self.irq_enabled = True
        return done


def test_napi_poll_gets_the_budget_and_is_rescheduled_while_it_uses_it(host: Host) -> None:
    dev, _ = make_dev(host)
    ring = Ring(dev, 10)
    napi = netif_napi_add(dev, ring.poll, weight=4)
    assert napi in dev.napi_list
    assert not napi_schedule(napi)  # not enabled yet
    napi_enable(napi)
    assert napi_schedule(napi)
    assert not napi_schedule(napi)  # already scheduled: missed, so polled once more
    host.loop.run_once(0)
    assert ring.budgets == [4] and dev.core_stats.rx_delivered == 4
    host.loop.run_until_idle()
    assert ring.budgets == [4, 4, 4, 4]  # 4 + 4 + 2 (< budget: complete) + the missed one
    assert dev.core_stats.rx_delivered == 10 and not napi.scheduled
    assert napi.polls == 4 and napi.work_done_total == 10
    host.loop.run_until_idle()
    assert ring.budgets == [4, 4, 4, 4]  # napi_complete_done stopped polling
    assert napi_schedule(napi)


def test_napi_poll_that_completes_at_exactly_the_budget_is_not_rescheduled(host: Host) -> None:
    dev, _ = make_dev(host)
    calls = []

    def poll(napi: NapiStruct, budget: int) -> int:
        calls.append(budget)
        napi_complete_done(napi, budget)
        return budget

    napi = netif_napi_add(dev, poll, weight=8)
    napi_enable(napi)
    napi_schedule(napi)
    host.loop.run_until_idle()
    assert calls == [8]
    assert napi.completed_at_budget == 1  # a misuse (Linux: "must not"), counted and warned


def test_a_poll_that_does_less_than_its_budget_without_completing_is_warned_once(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    # Linux stalls the same way: the context stays scheduled and is never polled again.
    dev, _ = make_dev(host)
    calls = []

    def poll(napi: NapiStruct, budget: int) -> int:
        calls.append(budget)
        return 1  # forgot napi_complete_done

    napi = netif_napi_add(dev, poll, weight=8)
    napi_enable(napi)
    napi_schedule(napi)
    host.loop.run_until_idle()
    assert calls == [8] and napi.scheduled and napi.stalled == 1
    assert not napi_schedule(napi)  # still scheduled: nothing polls it again
    host.loop.run_until_idle()
    assert calls == [8]
    warned = [r for r in caplog.records if "without napi_complete_done" in r.getMessage()]
    assert len(warned) == 1 and dev.name in warned[0].getMessage()


def test_napi_disable_runs_a_pending_poll_first(host: Host) -> None:
    # Linux's napi_disable waits for the scheduled poll: the frames the device raised are
    # received, and the poll's napi_complete_done unmasks the interrupt again.
    dev, _ = make_dev(host)
    ring = Ring(dev, 3)
    napi = netif_napi_add(dev, ring.poll)
    napi_enable(napi)
    ring.irq_enabled = False  # masked by the "interrupt handler" that scheduled the poll
    napi_schedule(napi)
    napi_disable(napi)
    assert ring.budgets == [napi.weight] and ring.pending == 0 and ring.irq_enabled
    assert not napi.scheduled and not napi.enabled
    host.loop.run_until_idle()
    assert ring.budgets == [napi.weight]  # run once, not again from the loop
    assert len(mem(host).received(dev)) == 3
    netif_napi_del(napi)
    assert napi not in dev.napi_list


def test_napi_disable_completes_a_pending_poll_that_uses_its_budget(host: Host) -> None:
    # napi_poll with disable pending: a poll that used its whole budget is completed by
    # the core (napi_complete), not polled again; the rest waits in the ring.
    dev, _ = make_dev(host)
    ring = Ring(dev, 10)
    napi = netif_napi_add(dev, ring.poll, weight=4)
    napi_enable(napi)
    napi_schedule(napi)
    napi_disable(napi)
    assert ring.budgets == [4] and ring.pending == 6 and not napi.scheduled
    host.loop.run_until_idle()
    assert ring.budgets == [4]
    napi_enable(napi)  # re-enabled, scheduled again: the rest is received
    assert napi_schedule(napi)
    host.loop.run_until_idle()
    assert ring.budgets == [4, 4, 4] and ring.pending == 0


def test_napi_disable_refuses_schedules_while_the_pending_poll_runs(host: Host) -> None:
    # NAPI_STATE_DISABLE is set first: the poll's own schedule is not taken, not missed.
    dev, _ = make_dev(host)
    results: list[bool] = []

    def poll(napi: NapiStruct, budget: int) -> int:
        results.append(napi_schedule(napi))
        napi_complete_done(napi, 0)
        return 0

    napi = netif_napi_add(dev, poll)
    napi_enable(napi)
    napi_schedule(napi)
    napi_disable(napi)
    assert results == [False] and not napi.missed and not napi.scheduled
    host.loop.run_until_idle()
    assert results == [False]


def test_napi_disable_of_an_idle_context_runs_nothing(host: Host) -> None:
    dev, _ = make_dev(host)
    ring = Ring(dev, 3)
    napi = netif_napi_add(dev, ring.poll)
    napi_enable(napi)
    napi_disable(napi)
    napi_disable(napi)  # a disabled context stays so
    host.loop.run_until_idle()
    assert ring.budgets == [] and ring.pending == 3


def test_napi_disabled_when_the_device_closes(host: Host) -> None:
    dev, _ = make_dev(host)
    napi = netif_napi_add(dev, Ring(dev, 1).poll)
    napi_enable(napi)
    host.dev_close(dev)
    assert not napi.enabled and not napi_schedule(napi)


def test_dev_close_runs_a_pending_poll_and_counts_its_frames_as_dropped(host: Host) -> None:
    # The core disables NAPI once the device is down (before ndo_stop frees the ring):
    # the scheduled poll runs, and what it hands up is dropped and counted, not lost.
    dev, _ = make_dev(host)
    ring = Ring(dev, 3)
    napi = netif_napi_add(dev, ring.poll)
    napi_enable(napi)
    napi_schedule(napi)
    host.dev_close(dev)
    assert ring.budgets == [napi.weight] and ring.pending == 0
    cs = dev.core_stats
    assert (cs.rx_submitted, cs.rx_down_drops, cs.rx_delivered) == (3, 3, 0)
    assert dev_get_stats(dev).rx_dropped == 3
    host.loop.run_until_idle()
    assert ring.budgets == [napi.weight] and mem(host).received(dev) == []


def test_napi_poll_raising_is_a_driver_fault(host: Host) -> None:
    dev, _ = make_dev(host)

    def poll(napi: NapiStruct, budget: int) -> int:
        raise RuntimeError("poll bug")

    napi = netif_napi_add(dev, poll)
    napi_enable(napi)
    napi_schedule(napi)
    host.loop.run_until_idle()
    assert not dev.is_up and not napi.scheduled


def test_a_poll_queued_before_disable_does_not_run_beside_the_new_one(host: Host) -> None:
    # Down and up again while a poll is queued: napi_disable runs it (once: it used its
    # budget, so it is completed), then one poll chain afterwards, not two.
    dev, _ = make_dev(host)
    rounds: list[int] = []

    def busy(napi: NapiStruct, budget: int) -> int:
        rounds.append(host.loop.iterations)
        return budget  # always more work: the poll reschedules itself

    napi = netif_napi_add(dev, busy, weight=4)
    napi_enable(napi)
    napi_schedule(napi)
    napi_disable(napi)
    assert len(rounds) == 1  # the pending poll, run by napi_disable
    rounds.clear()
    napi_enable(napi)
    napi_schedule(napi)
    for _ in range(5):
        host.loop.run_once(0)
    assert len(rounds) == len(set(rounds)) == 5, rounds


@pytest.mark.parametrize("bad", [None, -1, "3", 2.0])
def test_a_poll_returning_no_count_is_a_driver_fault(host: Host, bad: object) -> None:
    dev, _ = make_dev(host)
    napi = netif_napi_add(dev, lambda n, b: bad)  # type: ignore[arg-type, return-value]
    napi_enable(napi)
    napi_schedule(napi)
    host.loop.run_until_idle()
    assert not dev.is_up and not napi.scheduled  # not a context stuck "scheduled" forever


def test_a_poll_over_its_budget_is_warned_about_and_polled_again(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    dev, _ = make_dev(host)
    polls: list[int] = []

    def greedy(napi: NapiStruct, budget: int) -> int:
        polls.append(budget)
        if len(polls) < 3:
            return budget + 5  # Linux warns (once) and polls again
        napi_complete_done(napi, 0)
        return 0

    napi = netif_napi_add(dev, greedy, weight=4)
    napi_enable(napi)
    napi_schedule(napi)
    host.loop.run_until_idle()
    assert polls == [4, 4, 4] and dev.is_up and napi.over_budget == 2
    assert caplog.text.count("NAPI poll did 9 > budget 4") == 1
    assert napi_schedule(napi), "the context still works"


def test_netif_receive_skb_delivers_immediately(host: Host) -> None:
    dev, _ = make_dev(host)
    assert netif_receive_skb(rx_skb(dev)) == NET_RX_SUCCESS
    assert mem(host).received(dev) == [FRAME]
