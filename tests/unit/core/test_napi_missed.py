"""NAPIF_STATE_MISSED and the NAPI context's life (net/core/dev.c).

A schedule that finds the context scheduled or polling is remembered: the
poll's ``napi_complete_done`` returns False and the context is polled once
more, so a frame that raised the interrupt during the poll is not stranded.
Also: a disabled context ignores schedules, ``napi_disable`` runs a pending
poll (and the missed one) first, ``napi_disable`` from the context's own poll
is refused, and ``netif_napi_del`` drops a pending poll.
"""

from __future__ import annotations

from collections import deque

import pytest
from fakedev import make_dev, mem

from netdrv_core import (
    Host,
    NapiStruct,
    NetDevice,
    SkBuff,
    dev_alloc_skb,
    eth_type_trans,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_schedule,
    napi_schedule_prep,
    netif_napi_add,
    netif_receive_skb,
)
from netdrv_core.napi import netif_napi_del

FRAME = b"\x02\x00\x00\x00\x00\x10" + b"\x02\x00\x00\x00\x00\x20" + b"\x08\x00" + bytes(46)


def rx_skb(dev: NetDevice) -> SkBuff:
    skb = dev_alloc_skb(len(FRAME))
    skb.put_data(FRAME)
    eth_type_trans(skb, dev)
    return skb


class Nic:
    """A receive ring with a maskable interrupt.

    Its poll unmasks the interrupt *before* ``napi_complete_done`` (a pattern
    Linux's MISSED state keeps correct); ``arrive_in_window`` frames land in
    that window, raising the interrupt while the poll still owns the context.
    """

    def __init__(self, dev: NetDevice) -> None:
        self.dev = dev
        self.ring: deque[bytes] = deque()
        self.irq_enabled = True
        self.arrive_in_window = 0
        self.budgets: list[int] = []
        self.completions: list[bool] = []
        self.napi = netif_napi_add(dev, self.poll)
        napi_enable(self.napi)

    def frame_arrives(self) -> None:
        """The hardware stores a frame and interrupts if unmasked."""
        self.ring.append(FRAME)
        if self.irq_enabled:
            self.irq_enabled = False
            napi_schedule(self.napi)

    def poll(self, napi: NapiStruct, budget: int) -> int:
        self.budgets.append(budget)
        done = 0
        while done < budget and self.ring:
            self.ring.popleft()
            netif_receive_skb(rx_skb(self.dev))
            done += 1
        if done < budget:
            self.irq_enabled = True  # unmasked early: the next line may interrupt
            while self.arrive_in_window:
                self.arrive_in_window -= 1
                self.frame_arrives()
            self.completions.append(napi_complete_done(napi, done))
        return done


def test_an_interrupt_during_the_poll_is_polled_again_without_a_new_event(host: Host) -> None:
    dev, _ = make_dev(host)
    nic = Nic(dev)
    nic.arrive_in_window = 1
    nic.frame_arrives()
    host.loop.run_until_idle()
    # Without MISSED the second frame would wait, interrupt masked, for a third.
    assert mem(host).received(dev) == [FRAME, FRAME]
    assert nic.completions == [False, True] and len(nic.budgets) == 2
    assert not nic.napi.scheduled and not nic.napi.missed
    assert nic.irq_enabled  # the second poll completed and unmasked


def test_a_schedule_before_the_poll_runs_adds_one_poll(host: Host) -> None:
    dev, _ = make_dev(host)
    nic = Nic(dev)
    assert napi_schedule(nic.napi)
    assert not napi_schedule(nic.napi)  # scheduled: False, but remembered
    host.loop.run_until_idle()
    assert nic.completions == [False, True]
    host.loop.run_until_idle()
    assert len(nic.budgets) == 2  # completed for good: no poll without a schedule


def test_napi_schedule_prep_of_a_scheduled_context_marks_it_missed(host: Host) -> None:
    dev, _ = make_dev(host)
    nic = Nic(dev)
    assert napi_schedule_prep(nic.napi)
    assert not nic.napi.missed
    assert not napi_schedule_prep(nic.napi)
    assert nic.napi.missed


def test_a_poll_alone_completes_with_true(host: Host) -> None:
    dev, _ = make_dev(host)
    nic = Nic(dev)
    nic.frame_arrives()
    host.loop.run_until_idle()
    assert nic.completions == [True] and len(nic.budgets) == 1


def test_a_missed_schedule_during_a_full_budget_poll_waits_for_its_completion(
    host: Host,
) -> None:
    dev, _ = make_dev(host)
    nic = Nic(dev)
    for _ in range(nic.napi.weight + 3):
        nic.ring.append(FRAME)
    napi_schedule(nic.napi)
    napi_schedule(nic.napi)  # missed
    host.loop.run_until_idle()
    # 64 (no completion), 3 (complete: False, missed), 0 (complete: True); one chain.
    assert nic.completions == [False, True] and len(nic.budgets) == 3
    assert len(mem(host).received(dev)) == nic.napi.weight + 3


def test_napi_disable_runs_the_pending_and_the_missed_poll_then_ignores_schedules(
    host: Host,
) -> None:
    # Linux's napi_disable waits until SCHED clears: the pending poll runs, and its
    # napi_complete_done, finding MISSED, reschedules it once more before it does.
    dev, _ = make_dev(host)
    nic = Nic(dev)
    nic.ring.append(FRAME)
    napi_schedule(nic.napi)
    napi_schedule(nic.napi)  # missed
    napi_disable(nic.napi)
    assert nic.completions == [False, True] and len(nic.budgets) == 2
    assert mem(host).received(dev) == [FRAME]
    assert not napi_schedule(nic.napi) and not napi_schedule_prep(nic.napi)
    assert not nic.napi.missed and not nic.napi.scheduled
    napi_enable(nic.napi)
    host.loop.run_until_idle()
    assert len(nic.budgets) == 2  # nothing queued before the disable runs again


def test_napi_disable_from_its_own_poll_is_refused_as_a_driver_fault(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    dev, _ = make_dev(host)

    def poll(napi: NapiStruct, budget: int) -> int:
        napi_disable(napi)  # Linux would wait for this very poll: a hang
        return 0

    napi = netif_napi_add(dev, poll)
    napi_enable(napi)
    napi_schedule(napi)
    host.loop.run_until_idle()
    assert "napi_disable from its own NAPI poll" in caplog.text
    assert not dev.is_up and not napi.scheduled


def test_napi_disable_of_a_context_already_disabled_in_its_poll_is_allowed(host: Host) -> None:
    # dev_close disables NAPI before ndo_stop, whose napi_disable then finds it disabled.
    dev, _ = make_dev(host)
    seen: list[bool] = []

    def poll(napi: NapiStruct, budget: int) -> int:
        napi.disable()  # what the core's dev_close does first
        napi_disable(napi)
        seen.append(napi.enabled)
        return 0

    napi = netif_napi_add(dev, poll)
    napi_enable(napi)
    napi_schedule(napi)
    host.loop.run_until_idle()
    assert seen == [False] and dev.is_up


def test_netif_napi_del_of_a_scheduled_context_drops_its_poll(host: Host) -> None:
    dev, _ = make_dev(host)
    nic = Nic(dev)
    nic.frame_arrives()
    assert nic.napi.scheduled
    netif_napi_del(nic.napi)
    host.loop.run_until_idle()
    assert nic.budgets == [] and nic.napi not in dev.napi_list
    assert not napi_schedule(nic.napi)  # deleted: disabled for good
