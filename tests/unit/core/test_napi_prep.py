"""napi_schedule_prep / __napi_schedule, netif_napi_add_weight, napi_consume_skb, and
netdev_features_change."""

from __future__ import annotations

import pytest
from fakedev import make_dev

from netdrv_core import (
    NAPI_POLL_WEIGHT,
    NETIF_F_SG,
    Host,
    NapiStruct,
    SkbError,
    SkBuff,
    __napi_schedule,
    napi_complete_done,
    napi_consume_skb,
    napi_enable,
    napi_schedule_irqoff,
    napi_schedule_prep,
    napi_schedule_prepped,
    netdev_features_change,
    netif_napi_add,
    netif_napi_add_weight,
)


class Poller:
    """A poll that records its budgets and completes at once."""

    def __init__(self) -> None:
        self.budgets: list[int] = []

    def __call__(self, napi: NapiStruct, budget: int) -> int:
        self.budgets.append(budget)
        napi_complete_done(napi, 0)
        return 0


def _napi(host: Host, weight: int | None = None) -> tuple[NapiStruct, Poller]:
    dev, _ = make_dev(host)
    poll = Poller()
    napi = netif_napi_add(dev, poll) if weight is None else netif_napi_add_weight(dev, poll, weight)
    napi_enable(napi)
    return napi, poll


def test_prep_claims_the_context_once_and_schedule_polls(host: Host) -> None:
    napi, poll = _napi(host)
    assert napi_schedule_prep(napi)
    assert not napi_schedule_prep(napi)  # claimed: a second interrupt finds it scheduled
    host.loop.run_until_idle()
    assert poll.budgets == [], "prep alone queues no poll"
    __napi_schedule(napi)
    host.loop.run_until_idle()
    assert poll.budgets == [NAPI_POLL_WEIGHT] * 2  # the second interrupt's: missed, polled again
    assert napi_schedule_prep(napi)  # completed: it can be claimed again


def test_prep_of_a_disabled_context_is_false(host: Host) -> None:
    dev, _ = make_dev(host)
    napi = netif_napi_add(dev, Poller())
    assert not napi_schedule_prep(napi)


def test_schedule_of_a_context_not_claimed_raises(host: Host) -> None:
    napi, poll = _napi(host)
    with pytest.raises(RuntimeError, match="napi_schedule_prep first"):
        __napi_schedule(napi)
    host.loop.run_until_idle()
    assert poll.budgets == []


def test_an_interrupt_handler_in_a_class_uses_the_unmangled_name(host: Host) -> None:
    # Inside a class body ``__napi_schedule`` would be looked up as
    # ``_Nic__napi_schedule``: drivers' handlers, usually methods, use the plain alias.
    napi, poll = _napi(host)

    class Nic:
        masked = False

        def interrupt(self) -> None:
            if napi_schedule_prep(napi):
                self.masked = True
                napi_schedule_prepped(napi)

    nic = Nic()
    nic.interrupt()
    nic.interrupt()  # the second finds the poll pending: missed, so polled once more
    host.loop.run_until_idle()
    assert nic.masked and poll.budgets == [NAPI_POLL_WEIGHT] * 2
    assert napi_schedule_prepped is __napi_schedule


def test_napi_schedule_irqoff_schedules(host: Host) -> None:
    napi, poll = _napi(host)
    assert napi_schedule_irqoff(napi)
    host.loop.run_until_idle()
    assert poll.budgets == [NAPI_POLL_WEIGHT]


def test_netif_napi_add_weight_gives_the_poll_its_budget(host: Host) -> None:
    napi, poll = _napi(host, weight=16)
    assert napi.weight == 16 and napi in napi.dev.napi_list
    assert napi_schedule_irqoff(napi)
    host.loop.run_until_idle()
    assert poll.budgets == [16]


def test_napi_consume_skb_frees_and_ignores_none() -> None:
    skb = SkBuff(10)
    napi_consume_skb(skb, 64)
    assert skb.freed
    with pytest.raises(SkbError, match="double free"):
        napi_consume_skb(skb, 0)
    napi_consume_skb(None, 64)  # NULL, as Linux allows


# -- netdev_features_change --------------------------------------------------------------
def test_netdev_features_change_tells_the_stack(host: Host) -> None:
    dev, _ = make_dev(host)
    told: list[int] = []
    host.attachment.features_changed = lambda d: told.append(d.features)  # type: ignore[method-assign]
    dev.features |= NETIF_F_SG  # changed by the driver itself (a reset, a new firmware)
    netdev_features_change(dev)
    assert told == [dev.features]


def test_netdev_features_change_before_register_tells_nobody(host: Host) -> None:
    dev, _ = make_dev(None)
    told: list[int] = []
    host.attachment.features_changed = lambda d: told.append(d.features)  # type: ignore[method-assign]
    netdev_features_change(dev)  # the features go to the stack with the registration
    assert told == []
