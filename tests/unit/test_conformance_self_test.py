"""The conformance kit's self-test check: a driver whose ``self_test`` keeps the contract
passes ``test_ethtool_self_test`` (whether its tests pass or not); one that resizes
``data``, adds a flag of its own, never completes or leaves its queue stopped fails it
with a message that says so."""

from __future__ import annotations

from typing import Any

import pytest
from test_conformance import Good, check

from netdrv_core import (
    ETH_TEST_FL_FAILED,
    ETH_TEST_FL_OFFLINE,
    Completion,
    EthtoolTest,
    NetDevice,
    netif_stop_queue,
)
from netdrv_core.ethtool import EthtoolOps


class KitSelfTest(EthtoolOps):
    """Two tests; the offline one fails (the hardware's business, not the kit's)."""

    def get_test_strings(self, dev: NetDevice) -> list[str]:
        return ["Register test (on/offline)", "Loopback test (offline)"]

    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        if test.flags & ETH_TEST_FL_OFFLINE:
            data[1] = 1
            test.flags |= ETH_TEST_FL_FAILED
        return None


class Later(KitSelfTest):
    """Completes from a timer, as a test with frames in flight does."""

    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        done = Completion()
        assert dev.host is not None
        dev.host.loop.call_later(0.01, done.complete)
        return done


class Resizes(KitSelfTest):
    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        data.append(0)


class OwnFlag(KitSelfTest):
    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        test.flags |= 1 << 5


class Never(KitSelfTest):
    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        return Completion()


class LeavesQueueStopped(KitSelfTest):
    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        if test.flags & ETH_TEST_FL_OFFLINE:
            netif_stop_queue(dev)  # "offline": and never woken again


def _with(name: str, ops: type[EthtoolOps]) -> type[Good]:
    def init(self: Good) -> None:
        Good.init(self)
        for dev in self.devices:
            dev.ethtool_ops = ops()

    return type(name.title(), (Good,), {"name": name, "summary": name, "init": init})


@pytest.mark.parametrize("ops", [KitSelfTest, Later])
def test_a_driver_keeping_the_contract_passes(ops: type[EthtoolOps]) -> None:
    check(_with("kitselftest", ops), "test_ethtool_self_test", count="2")


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (Resizes, r"ethtool -t online fails: .*resized its data list of 2 results to 3"),
        (OwnFlag, r"ethtool -t online fails: .*left test.flags=32 from 0x0: it may only add "
                  r"ETH_TEST_FL_FAILED to"),
        (Never, r"ethtool -t online: the Completion self_test returned was not completed"),
        (LeavesQueueStopped, r"the queue is still stopped after ethtool -t offline: wake it"),
    ],
)  # fmt: skip
def test_self_test_bugs_are_caught(ops: type[EthtoolOps], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(_with("kitselftestbug", ops), "test_ethtool_self_test")
