"""``netdrv ethtool -t``: the words ethtool takes, its output and its exit status (2 on FAIL).

The command talks to an in-process daemon (snull, and a device whose self-test fails)
through the JSON round-trip client of ``test_cli_ethtool``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_cli_ethtool import failed, in_process_daemon, ok, run

from netdrv_core import (
    ETH_TEST_FL_EXTERNAL_LB,
    ETH_TEST_FL_EXTERNAL_LB_DONE,
    ETH_TEST_FL_FAILED,
    EthtoolTest,
    NetDevice,
    NetDeviceOps,
    alloc_netdev,
    ether_setup,
)
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import EthtoolOps


class CableTest(EthtoolOps):
    """A link test that fails with a measurement, and an external loopback test."""

    def __init__(self) -> None:
        self.flags: list[int] = []

    def get_test_strings(self, dev: NetDevice) -> list[str]:
        return ["Link test   (on/offline)", "Cable errors (external_lb)"]

    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> None:
        self.flags.append(test.flags)
        data[0] = 0xFFFF_FFFF  # ethtool prints (u32) data[i] with %d: -1
        if test.flags & ETH_TEST_FL_EXTERNAL_LB:
            data[1] = 3
            test.flags |= ETH_TEST_FL_EXTERNAL_LB_DONE
        test.flags |= ETH_TEST_FL_FAILED


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    ct0 = alloc_netdev(None, "ct0", ether_setup)
    ct0.netdev_ops = NetDeviceOps()
    ct0.dev_addr = b"\x02\x00\x00\x00\x00\x43"
    ct0.ethtool_ops = CableTest()
    with in_process_daemon(monkeypatch, ct0) as d:
        yield d


def test_snull_passes_as_ethtool_prints_it(daemon: Daemon) -> None:
    expected = (
        "The test result is PASS\n"
        "The test extra info:\n"
        "Register test  (on/offline)\t 0\n"
        "Loopback test  (offline)\t 0\n\n"
    )
    assert ok("-t", "sn0") == expected
    assert ok("--test", "sn1", "offline") == expected
    assert ok("-t", "sn0", "online") == expected  # the loopback test is offline: left 0
    out = ok("-t", "sn0", "external_lb")
    assert out.startswith("The test result is PASS\nExternal loopback test was not executed\n")
    assert "supports-test: yes\n" in ok("-i", "sn0")


def test_a_failed_test_exits_2_as_ethtool_does(daemon: Daemon) -> None:
    ops = daemon.host.devices["ct0"].ethtool_ops
    assert isinstance(ops, CableTest)
    res = run("-t", "ct0", "external_lb")
    assert res.exit_code == 2, res.output  # test.flags & ETH_TEST_FL_FAILED
    assert res.stdout == (
        "The test result is FAIL\n"
        "External loopback test was executed\n"
        "The test extra info:\n"
        "Link test   (on/offline)\t -1\n"
        "Cable errors (external_lb)\t 3\n\n"
    )
    assert ops.flags == [1 | 8]
    res = run("-t", "ct0", "online", "--json")
    assert res.exit_code == 2, res.output
    out = json.loads(res.stdout)
    assert out["passed"] is False and out["flag_names"] == ["FAILED"]
    assert out["results"] == {"Link test   (on/offline)": 0xFFFF_FFFF,
                              "Cable errors (external_lb)": 0}  # fmt: skip
    assert ops.flags[-1] == 0


def test_refusals_and_usage_errors(daemon: Daemon) -> None:
    """As ethtool: a malformed command line exits 1 (exit_bad_args) and a test that cannot
    run 74 ("Cannot test"), so that 2 means only that the test failed."""
    err = failed(1, "-t", "sn0", "inline")
    assert "-t takes one of offline, online, external_lb, not 'inline'" in err
    err = failed(1, "-t", "sn0", "offline", "online")
    assert "-t takes one of offline, online, external_lb" in err
    daemon.host.devices["ct0"].ethtool_ops = None
    assert failed(74, "-t", "ct0") == "netdrv: ct0 does not support self-tests (ethtool -t)\n"
    assert "supports-test: no\n" in ok("-i", "ct0")
