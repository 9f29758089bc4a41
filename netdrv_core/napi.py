"""NAPI: interrupt mitigation by polling with a budget.

A driver registers a poll function with :func:`netif_napi_add`.  When packets
arrive it calls :func:`napi_schedule` (instead of one ``netif_rx`` per packet);
the core then calls ``poll(napi, budget)``, which receives at most ``budget``
packets with ``netif_receive_skb`` (or :func:`napi_gro_receive`, which merges a
TCP flow's segments: :mod:`netdrv_core.gro`) and returns how many.  A poll that
did less than its budget calls :func:`napi_complete_done` and, when that returns
True, re-enables its "interrupt"; a poll that used the whole budget is called
again in the next loop round, after the other work (fds, timers) has had its
turn.  What GRO holds is handed up when the poll completes or returns.

A schedule that finds the context already scheduled (or polling) is not lost:
as Linux's ``NAPIF_STATE_MISSED`` it makes :func:`napi_complete_done` return
False and the context is polled once more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .gro import napi_gro_flush, napi_gro_receive

if TYPE_CHECKING:
    from .netdevice import NetDevice

__all__ = [
    "NAPI_POLL_WEIGHT",
    "NapiStruct",
    "__napi_schedule",
    "__napi_schedule_irqoff",
    "napi_complete",
    "napi_complete_done",
    "napi_disable",
    "napi_enable",
    "napi_gro_flush",
    "napi_gro_receive",
    "napi_schedule",
    "napi_schedule_irqoff",
    "napi_schedule_prep",
    "napi_schedule_prepped",
    "netif_napi_add",
    "netif_napi_add_weight",
    "netif_napi_del",
]

NAPI_POLL_WEIGHT = 64

log = logging.getLogger("netdrv.napi")


class NapiStruct:
    """``struct napi_struct``: one polling context of a device."""

    __slots__ = ("completed", "completed_at_budget", "dev", "enabled", "gen", "gro_list",
                 "in_poll", "missed", "over_budget", "poll", "polls", "queued", "scheduled", "stalled",
                 "weight", "work_done_total")  # fmt: skip

    def __init__(self, dev: NetDevice, poll: Callable[[NapiStruct, int], int], weight: int) -> None:
        self.dev = dev
        self.poll = poll
        self.weight = weight
        self.scheduled = False
        # NAPIF_STATE_MISSED: scheduled again while scheduled; napi_complete_done polls once more.
        self.missed = False
        self.enabled = False
        self.polls = 0
        self.work_done_total = 0
        self.over_budget = 0  # polls that claimed more than their budget (warned once)
        # Bumped by disable(): a poll queued before it is stale and must not run, even
        # once the context is enabled and scheduled again (two chains would then poll).
        self.gen = 0
        # A poll of this generation is queued on the loop: at most one ever is (a poll that
        # completes, schedules again and returns its budget must not start a second chain).
        self.queued = False
        self.in_poll = False
        self.completed = False  # napi_complete_done was called by the poll running now
        self.completed_at_budget = 0  # polls that completed and yet used their whole budget
        self.stalled = 0  # polls that did less than their budget and did not complete
        self.gro_list: list[Any] = []  # flows napi_gro_receive holds until the poll ends

    def enable(self) -> None:
        """Allow scheduling (``napi_enable``)."""
        self.enabled = True

    def disable(self) -> None:
        """Forbid scheduling (``napi_disable``); a poll already scheduled runs first.

        Linux sets ``NAPI_STATE_DISABLE`` (no schedule is taken from then on) and waits
        for the scheduled poll to end: it runs, and one that used its whole budget is
        completed by the core instead of polled again.  The loop cannot wait, so that
        poll runs here, now — and once more if a schedule came while it was pending
        (``NAPIF_STATE_MISSED``), as Linux's ``napi_complete_done`` reschedules it.  What
        the device had raised is received, and the driver's ``napi_complete_done``
        re-enables its interrupt, instead of the frames sitting in its ring behind a
        masked interrupt after ``napi_enable``.  Not from the context's own poll (that one
        is already running: it is not run again).  A poll that raises is a driver fault,
        as any poll.
        """
        if self.enabled and self.scheduled and not self.in_poll and self.dev.host is not None:
            self._final_polls()
        self.cancel()

    def cancel(self) -> None:
        """Disable at once, dropping a scheduled poll unrun (``netif_napi_del``'s way)."""
        self.enabled = False
        self.scheduled = self.missed = False
        self.queued = False  # what is queued is stale now (another generation)
        self.gen += 1

    def _final_polls(self) -> None:
        """The scheduled poll, run by :meth:`disable` (see there)."""
        self.enabled = False  # NAPI_STATE_DISABLE: schedules are refused (missed too)
        for _ in range(2):  # the scheduled poll, and one more after a missed schedule
            done = self._run(self.gen, True)
            if done is None or not self.scheduled:
                return  # a fault, or the poll completed (napi_complete_done returned True)
            if done >= self.weight:
                # Budget used up: Linux's napi_poll completes it (napi_disable_pending).
                self.scheduled = self.missed = False
                return
            if not self.completed:
                # Neither completed nor at budget: Linux's napi_disable would wait forever
                # (the context stays scheduled, a stalled poll); warned as one, and let go.
                if not self.stalled:
                    log.warning("%s: NAPI poll returned %d < budget %d without "
                                "napi_complete_done (at napi_disable)", self.dev.name, done,
                                self.weight)  # fmt: skip
                self.stalled += 1
                return

    def schedule(self) -> bool:
        """Schedule a poll; False when one is already pending (noted as missed: the
        poll runs once more before it completes) or NAPI is disabled."""
        if not self.enabled:  # disabled, or being disabled: NAPI_STATE_DISABLE refuses all
            return False
        if self.scheduled:
            self.missed = True
            return False
        host = self.dev.host
        if host is None:
            return False
        self.scheduled = True
        if not self.queued:  # else the poll already queued is the one that runs
            self.queued = True
            host.loop.call_soon(self._run, self.gen)
        return True

    def schedule_prep(self) -> bool:
        """Claim the context for a poll (``napi_schedule_prep``): False when one is
        pending (noted as missed, as :meth:`schedule`) or NAPI is disabled; else it
        counts as scheduled from now on, and :meth:`schedule_prepped` queues the poll."""
        if not self.enabled:  # as schedule(): NAPI_STATE_DISABLE is tested first
            return False
        if self.scheduled:
            self.missed = True
            return False
        if self.dev.host is None:
            return False
        self.scheduled = True
        return True

    def schedule_prepped(self) -> None:
        """Queue the poll of a context :meth:`schedule_prep` claimed (``__napi_schedule``)."""
        if not self.scheduled:  # Linux would poll a context it never claimed
            raise RuntimeError(f"{self.dev.name}: __napi_schedule of a NAPI context not "
                               f"claimed: call napi_schedule_prep first (and only when it "
                               f"returns True), or napi_schedule")  # fmt: skip
        host = self.dev.host
        if not self.queued and host is not None:  # else the poll queued is the one that runs
            self.queued = True
            host.loop.call_soon(self._run, self.gen)

    def _run(self, gen: int, final: bool = False) -> int | None:
        """One poll, queued on the loop; ``final``: the one :meth:`disable` runs, which
        returns the work done (None after a fault) and queues nothing."""
        if gen != self.gen:
            return None
        if not final:
            self.queued = False
            if not self.scheduled or not self.enabled:
                return None
        host = self.dev.host
        assert host is not None
        self.in_poll = True
        self.completed = False
        try:
            done = self.poll(self, self.weight)
            if not isinstance(done, int) or done < 0:
                raise TypeError(f"poll returned {done!r}, not the number of packets received")
        except Exception as exc:
            self.scheduled = self.missed = False
            host.driver_fault(self.dev, "napi poll", exc)
            return None
        finally:
            self.in_poll = False
            if self.gro_list:  # GRO holds nothing past the poll that received it
                napi_gro_flush(self)
        self.polls += 1
        self.work_done_total += done
        if done > self.weight:
            # Linux warns once and polls on; the packets were received all the same.
            if not self.over_budget:
                log.warning("%s: NAPI poll did %d > budget %d", self.dev.name, done, self.weight)
            self.over_budget += 1
        if self.completed and done >= self.weight:
            # A poll that used its whole budget still owns the context and must not complete
            # it (Linux: "Drivers must not modify the NAPI state if they consume the entire
            # weight"); said once.  Completed, it is not polled on (Linux's repoll finds it
            # unscheduled and skips it): what its ring still holds waits for a schedule.
            if not self.completed_at_budget:
                log.warning("%s: NAPI poll called napi_complete_done and returned its whole "
                            "budget (%d)", self.dev.name, done)  # fmt: skip
            self.completed_at_budget += 1
        if final:
            return done
        if self.scheduled and done >= self.weight and not self.queued:
            self.queued = True
            host.loop.call_soon(self._run, gen)  # budget used up: more work waits
        elif self.scheduled and not self.completed and done < self.weight and gen == self.gen:
            # Linux stalls the same way (the context stays scheduled, off the poll list):
            # nothing but a warning, once, tells the driver's author why it receives no more.
            if not self.stalled:
                log.warning("%s: NAPI poll returned %d < budget %d without napi_complete_done: "
                            "the context stays scheduled and is never polled again; call "
                            "napi_complete_done(napi, work_done) when the ring is empty",
                            self.dev.name, done, self.weight)  # fmt: skip
            self.stalled += 1
        return None

    def complete_done(self, work_done: int) -> bool:
        """Mark the poll finished, handing up what GRO holds: True when the driver may
        re-enable its interrupt; False when a schedule came meanwhile (missed), and the
        context stays scheduled and is polled again."""
        if self.gro_list:
            napi_gro_flush(self)
        self.completed = True
        if self.missed:
            # Linux keeps NAPIF_STATE_SCHED and calls __napi_schedule: the event that
            # found the context busy is handled by one more poll, not lost.
            self.missed = False
            host = self.dev.host
            if self.scheduled and not self.queued and host is not None:
                self.queued = True
                host.loop.call_soon(self._run, self.gen)
            return False
        self.scheduled = False
        return True


def netif_napi_add(
    dev: NetDevice, poll: Callable[[NapiStruct, int], int], weight: int = NAPI_POLL_WEIGHT
) -> NapiStruct:
    """Register a NAPI context for ``dev``; enable it with :func:`napi_enable` at open."""
    napi = NapiStruct(dev, poll, weight)
    dev.napi_list.append(napi)
    if dev.host is not None:  # added after registration: what GRO may build needs re-judging
        dev.host.netdev_update_features(dev)
    return napi


def netif_napi_add_weight(
    dev: NetDevice, poll: Callable[[NapiStruct, int], int], weight: int
) -> NapiStruct:
    """:func:`netif_napi_add` with a weight other than NAPI_POLL_WEIGHT (64): Linux 6.1+
    names it so (``netif_napi_add`` lost its weight argument then)."""
    return netif_napi_add(dev, poll, weight)


def netif_napi_del(napi: NapiStruct) -> None:
    """Forget a NAPI context; a poll it had pending does not run (Linux's driver disables
    it first, :func:`napi_disable`, which runs that poll)."""
    napi.cancel()
    if napi in napi.dev.napi_list:
        napi.dev.napi_list.remove(napi)


def napi_enable(napi: NapiStruct) -> None:
    """Allow polls."""
    napi.enable()


def napi_disable(napi: NapiStruct) -> None:
    """Stop polls; a disabled context stays so.

    A poll already scheduled is not lost: it runs now, before this returns, as
    Linux's ``napi_disable`` waits for it (``NAPI_STATE_DISABLE`` refuses new
    schedules meanwhile; one that used its whole budget is completed, not polled
    again).  So the frames the device raised are received, and the interrupt the
    poll re-enables with :func:`napi_complete_done` is on again for the next
    :func:`napi_enable`.  Called by the context's own poll it raises
    ``RuntimeError``: Linux's ``napi_disable`` waits for the running poll to end,
    which would never happen.
    """
    if napi.in_poll and napi.enabled:
        raise RuntimeError(f"{napi.dev.name}: napi_disable from its own NAPI poll: Linux "
                           f"waits for the poll to finish and would hang; complete the poll "
                           f"and disable from ndo_stop (or from deferred work)")  # fmt: skip
    napi.disable()


def napi_schedule(napi: NapiStruct) -> bool:
    """Ask the core to call the poll function soon: True if this call scheduled it;
    False when disabled, or already scheduled (then it is polled once more before
    :func:`napi_complete_done` lets it go: Linux's ``NAPIF_STATE_MISSED``)."""
    return napi.schedule()


def napi_schedule_prep(napi: NapiStruct) -> bool:
    """Claim ``napi`` for a poll (``napi_schedule_prep``): True when it was neither
    scheduled nor disabled (when scheduled, the schedule is noted as missed, as by
    :func:`napi_schedule`).  The caller then masks its interrupt and calls
    :func:`__napi_schedule`, as Linux drivers split :func:`napi_schedule`."""
    return napi.schedule_prep()


def __napi_schedule(napi: NapiStruct) -> None:
    """Queue the poll of a context :func:`napi_schedule_prep` claimed (``__napi_schedule``).

    Inside a class body Python mangles this name (``_Class__napi_schedule``): call
    it as :func:`napi_schedule_prepped` there.  Calling it for a context not
    claimed raises ``RuntimeError``.
    """
    napi.schedule_prepped()


napi_schedule_prepped = __napi_schedule
"""``__napi_schedule`` under a name Python does not mangle in a class body."""
__napi_schedule_irqoff = __napi_schedule
"""Linux's variant for interrupts already disabled: the same here."""
napi_schedule_irqoff = napi_schedule
"""Linux's :func:`napi_schedule` for interrupts already disabled: the same here."""


def napi_complete_done(napi: NapiStruct, work_done: int) -> bool:
    """Tell the core the poll is finished after ``work_done`` packets.

    True: the driver re-enables its interrupt.  False: a schedule came while the
    context was scheduled (an interrupt during the poll), so it stays scheduled and
    is polled again; the interrupt stays masked (``if napi_complete_done(...):``).
    """
    return napi.complete_done(work_done)


def napi_complete(napi: NapiStruct) -> bool:
    """:func:`napi_complete_done` without a count."""
    return napi.complete_done(0)
