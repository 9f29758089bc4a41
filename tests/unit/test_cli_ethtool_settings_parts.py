"""Plain ``netdrv ethtool DEV`` when one of its parts fails, as ethtool 6.1's nl_gset: it
asks for link modes/info, Wake-on-LAN, the message level and the link state one request
at a time (``suppress_nlerr = 1``), prints what came back, says ``netlink error: …`` for a
request that failed (nothing for EOPNOTSUPP), and exits 0 — or, when nothing came back,
prints "No data available" and exits 75.  And ``sopass``, which the kernel leaves out
(net/ethtool/wol.c wol_fill_reply) unless the device supports WAKE_MAGICSECURE.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from typing import Any

import pytest
from test_cli_ethtool import in_process_daemon, run
from test_cli_ethtool_wol_tsinfo import WolEthtool

from netdrv_core import NetDevice, NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import WAKE_MAGIC, WAKE_PHY, LinkSettings, WolInfo


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    tw0 = alloc_netdev(None, "tw0", ether_setup)
    tw0.netdev_ops = NetDeviceOps()
    tw0.dev_addr = b"\x02\x00\x00\x00\x00\x45"
    tw0.ethtool_ops = WolEthtool()
    with in_process_daemon(monkeypatch, tw0) as d:
        yield d


def ops_of(daemon: Daemon) -> WolEthtool:
    return daemon.host.devices["tw0"].ethtool_ops  # type: ignore[return-value]


SETTINGS = "Settings for tw0:\n\tSpeed: 1000Mb/s\n\tDuplex: Full\n\tAuto-negotiation: on\n"
WOL = "\tSupports Wake-on: pgs\n\tWake-on: g\n        SecureOn password: 00:00:00:00:00:00\n"
LEVEL = "        Current message level: 0x00000007 (7)\n" + " " * 30 + " drv probe link\n"


def test_a_failing_get_wol_leaves_the_rest_shown(daemon: Daemon) -> None:
    def get_wol(dev: NetDevice, wol: WolInfo) -> None:
        raise OSError(errno.EIO, "the wake-up unit does not answer")

    ops_of(daemon).get_wol = get_wol  # type: ignore[method-assign]
    res = run("tw0")
    assert res.exit_code == 0, res.output
    assert res.stdout == SETTINGS + "\tPort: Twisted Pair\n" + LEVEL + "\tLink detected: yes\n"
    assert res.stderr.startswith("netlink error: tw0: get_wol: ")
    assert "the wake-up unit does not answer" in res.stderr and res.stderr.count("\n") == 1
    out = json.loads(run("tw0", "--json").stdout)
    assert out["wol"] is None and out["speed"] == 1000 and out["msglevel"] == 7
    assert out["errors"]["wol"]["errno"] == errno.EIO
    assert "the wake-up unit does not answer" in out["errors"]["wol"]["error"]


def test_a_failing_get_link_ksettings_leaves_the_rest_shown(daemon: Daemon) -> None:
    def get_link_ksettings(dev: NetDevice) -> LinkSettings:
        raise OSError(errno.EIO, "the PHY does not answer")

    ops_of(daemon).get_link_ksettings = get_link_ksettings  # type: ignore[method-assign]
    res = run("tw0")
    assert res.exit_code == 0, res.output
    assert res.stdout == "Settings for tw0:\n" + WOL + LEVEL + "\tLink detected: yes\n"
    assert res.stderr.startswith("netlink error: tw0: get_link_ksettings: ")
    assert json.loads(run("tw0", "--json").stdout)["speed"] is None


def test_a_get_msglevel_that_raises_is_a_driver_fault_and_the_rest_is_shown(
    daemon: Daemon,
) -> None:
    def get_msglevel(dev: NetDevice) -> int:
        raise RuntimeError("bug")

    ops_of(daemon).get_msglevel = get_msglevel  # type: ignore[method-assign]
    res = run("tw0")
    assert res.exit_code == 0, res.output
    # (the fault takes the device down after this request: its link was still up)
    assert res.stdout == SETTINGS + "\tPort: Twisted Pair\n" + WOL + "\tLink detected: yes\n"
    assert res.stderr.startswith("netlink error: tw0: ") and "raised in get_msglevel" in res.stderr


def test_an_eopnotsupp_part_is_silent(daemon: Daemon) -> None:
    def get_link_ksettings(dev: NetDevice) -> LinkSettings:
        raise OSError(errno.EOPNOTSUPP, "not on this board")

    ops_of(daemon).get_link_ksettings = get_link_ksettings  # type: ignore[method-assign]
    res = run("tw0")
    assert (res.exit_code, res.stderr) == (0, "")
    assert res.stdout == "Settings for tw0:\n" + WOL + LEVEL + "\tLink detected: yes\n"


def test_nothing_came_back_is_no_data_available(daemon: Daemon) -> None:
    from netdrv_core.ethtool import EthtoolOps

    class Broken(EthtoolOps):
        def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
            raise OSError(errno.EIO, "the PHY does not answer")

        def get_link(self, dev: NetDevice) -> bool:
            raise OSError(errno.EIO, "the MAC does not answer")

    daemon.host.devices["tw0"].ethtool_ops = Broken()
    res = run("tw0")
    assert (res.exit_code, res.stdout) == (75, "No data available\n")
    assert res.stderr.splitlines()[0].startswith("netlink error: tw0: get_link_ksettings: ")
    assert res.stderr.splitlines()[1].startswith("netlink error: tw0: get_link: ")


def test_sopass_only_with_magicsecure_supported(daemon: Daemon) -> None:
    assert "sopass" in json.loads(run("tw0", "--json").stdout)["wol"]
    ops_of(daemon).wol = WolInfo(supported=WAKE_PHY | WAKE_MAGIC, wolopts=WAKE_MAGIC)
    assert "sopass" not in json.loads(run("tw0", "--json").stdout)["wol"]
    res = run("-s", "tw0", "wol", "p", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["wake_on"] == "p" and "sopass" not in out  # (-s with wol only: its reply)
    assert run("tw0").stdout == (SETTINGS + "\tPort: Twisted Pair\n"
                                 "\tSupports Wake-on: pg\n\tWake-on: p\n" + LEVEL
                                 + "\tLink detected: yes\n")  # fmt: skip


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        ({"get_link_ksettings": lambda dev: LinkSettings(speed="1000")},  # type: ignore[arg-type]
         "netlink error: tw0: the host's get_link_ksettings returned LinkSettings(speed='1000'"),
        ({"level": -1},
         "netlink error: tw0: the host's get_msglevel returned -1, not an integer 0..4294967295"),
    ],
)  # fmt: skip
def test_garbage_from_one_part_is_that_part_s_error(
    daemon: Daemon, garbage: dict[str, Any], message: str
) -> None:
    """Not a Python traceback, nor the whole command failing: that part's error named."""
    for k, v in garbage.items():
        setattr(ops_of(daemon), k, v)
    res = run("tw0")
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith(message) and res.stderr.count("\n") == 1
    assert res.stdout.startswith("Settings for tw0:\n") and "\tLink detected: yes\n" in res.stdout


def test_each_netlink_error_comes_where_its_part_would_have_been(daemon: Daemon) -> None:
    """ethtool 6.1 prints each reply as it comes and a failed request's ``netlink error``
    then: on a terminal the line stands between the parts before and after it (click.echo
    flushes each line, as a terminal's line buffering does; ``output`` is both, in order)."""

    def get_wol(dev: NetDevice, wol: WolInfo) -> None:
        raise OSError(errno.EIO, "the wake-up unit does not answer")

    ops_of(daemon).get_wol = get_wol  # type: ignore[method-assign]
    res = run("tw0")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("netlink error: "))
    assert lines[error - 1] == "\tPort: Twisted Pair"  # after the link settings ...
    assert lines[error + 1] == LEVEL.splitlines()[0]  # ... before the message level


def test_no_data_available_comes_after_the_errors(daemon: Daemon) -> None:
    """nl_gset says "No data available" once every request is done: after their errors."""
    from netdrv_core.ethtool import EthtoolOps

    class Broken(EthtoolOps):
        def get_link(self, dev: NetDevice) -> bool:
            raise OSError(errno.EIO, "the MAC does not answer")

    daemon.host.devices["tw0"].ethtool_ops = Broken()
    res = run("tw0")
    assert res.exit_code == 75, res.output
    assert res.output.splitlines()[-1] == "No data available"
    assert res.output.startswith("netlink error: tw0: get_link: ")


def test_a_part_that_finds_the_device_gone_is_that_part_s_error(daemon: Daemon) -> None:
    """A driver noticing the unplug in get_wol (a USB adapter) detaches the device: the
    requests after it fail with ENODEV too, and ethtool 6.1 goes on all the same (its
    gset_request never returns -ENODEV: the real one asks all five for a device that is
    not there) — what came back before stays shown, each failure is said, exit 0."""
    from netdrv_core.netdevice import netif_device_detach

    def get_wol(dev: NetDevice, wol: WolInfo) -> None:
        netif_device_detach(dev)
        raise OSError(errno.ENODEV, "the adapter was unplugged")

    ops_of(daemon).get_wol = get_wol  # type: ignore[method-assign]
    res = run("tw0")
    assert res.exit_code == 0, res.output
    assert res.stdout == SETTINGS + "\tPort: Twisted Pair\n"
    errors = res.stderr.splitlines()
    assert len(errors) == 3 and all(e.startswith("netlink error: tw0: ") for e in errors)
    assert "the adapter was unplugged" in errors[0] and "detached" in errors[1]
