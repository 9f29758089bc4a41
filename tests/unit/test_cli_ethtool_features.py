"""``netdrv ethtool -K`` with fixed features, as ethtool(8) on a Linux NIC.

The kernel leaves the bits outside ``hw_features`` out of a request: a fixed feature
asked for the state it has is no error, and one asked for the other state does not
stop the features beside it from changing (ethtool reports it ``[requested on]``).
As test_cli_ethtool: snull on an in-process daemon behind a JSON round-tripping client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from test_cli_ethtool import in_process_daemon

import netdrv_core.cli as cli_mod
from netdrv_core import NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import EthtoolOps


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    tn0 = alloc_netdev(None, "tn0", ether_setup)
    tn0.netdev_ops = NetDeviceOps()
    tn0.dev_addr = b"\x02\x00\x00\x00\x00\x42"
    tn0.ethtool_ops = EthtoolOps()
    with in_process_daemon(monkeypatch, tn0) as d:
        yield d


def run(*args: str) -> Result:
    return CliRunner().invoke(cli_mod.cli, ["ethtool", *args])


def feature(name: str) -> bool:
    """Whether ``-k sn0`` shows ``name`` (a feature or a group heading) on."""
    res = run("-k", "sn0")
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if x.strip().startswith(f"{name}:"))
    return line.split(":")[1].split()[0] == "on"


def test_a_fixed_feature_asked_for_the_state_it_has_is_no_error(daemon: Daemon) -> None:
    # snull: receive checksumming and highdma fixed off (ethtool -K DEV rx off: exit 0).
    for words in (["rx", "off"], ["highdma", "off"], ["rx", "off", "highdma", "off"]):
        res = run("-K", "sn0", *words)
        assert (res.exit_code, res.stdout, res.stderr) == (0, "", ""), words


def test_a_fixed_feature_does_not_stop_the_others_from_changing(daemon: Daemon) -> None:
    # The usual "all offloads off" line: the fixed ones already off, the rest turned off.
    res = run("-K", "sn0", "rx", "off", "tx", "off", "sg", "off", "tso", "off", "gro", "off")
    assert res.exit_code == 0, res.output
    assert not any(feature(n) for n in ("tx-checksumming", "scatter-gather",
                                                "tcp-segmentation-offload",
                                                "generic-receive-offload"))  # fmt: skip
    # One asked for the state it cannot take is reported as ethtool does, the rest changes.
    res = run("-K", "sn0", "highdma", "on", "gro", "on")
    assert (res.exit_code, res.stdout) == (0, "Actual changes:\nrx-gro: on\nhighdma: off "
                                              "[requested on]\n"), res.output  # fmt: skip
    assert feature("generic-receive-offload")


def test_a_request_that_can_change_nothing_is_still_refused(daemon: Daemon) -> None:
    res = run("-K", "sn0", "rx", "on")  # alone: the reason, as before
    assert res.exit_code == 1
    assert res.stderr == ("netdrv: sn0: rx is fixed off: driver snull does not let it be "
                          "changed (not in hw_features)\n")  # fmt: skip
    res = run("-K", "sn0", "highdma", "on", "sg", "on")  # sg already on: nothing changes
    assert (res.exit_code, res.stderr) == (1, "netdrv: Could not change any device features\n")
    assert feature("scatter-gather")
