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
from netdrv_core.netdevice import (
    NETIF_F_GSO,
    NETIF_F_GSO_UDP_L4,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
)


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
    # In the kernel's bit order, as ethtool lists them: highdma before rx-gro.
    res = run("-K", "sn0", "highdma", "on", "gro", "on")
    assert (res.exit_code, res.stdout) == (0, "Actual changes:\nhighdma: off [requested on]\n"
                                              "rx-gro: on\n"), res.output  # fmt: skip
    assert feature("generic-receive-offload")


def test_a_request_of_fixed_features_only_is_answered_as_ethtool_does(daemon: Daemon) -> None:
    """Linux's ethnl_set_features takes it (the fixed bits masked out: nothing changes) and
    ethtool's netlink/features.c shows the reply's wanted-diff, and, the diff being the
    whole request (nothing_changed), "Could not change any device features": exit 1.  As
    on Linux (`ethtool -K veth0 rx-vlan-filter on` prints "Actual changes:" /
    "rx-vlan-filter: off [requested on]", then that line on stderr, and exits 1)."""
    res = run("-K", "sn0", "rx", "on")
    assert (res.exit_code, res.stdout, res.stderr) == (
        1, "Actual changes:\nrx-checksum: off [requested on]\n",
        "netdrv: Could not change any device features\n")  # fmt: skip
    assert not feature("rx-checksumming")
    # Beside a fixed feature already as asked, the request is not all unmet: no failure.
    res = run("-K", "sn0", "rx", "on", "highdma", "off")
    assert (res.exit_code, res.stdout, res.stderr) == (
        0, "Actual changes:\nrx-checksum: off [requested on]\n", "")  # fmt: skip


def test_could_not_change_is_when_nothing_asked_for_came_out_so(daemon: Daemon) -> None:
    """ethtool's netlink/features.c: "Could not change any device features" (exit 1) when
    the kernel's wanted-diff is the whole request — not one feature came out as asked —
    after "Actual changes:" listing them; a request partly as asked already is no failure
    (sg on here), as ethtool on Linux says for it."""
    res = run("-K", "sn0", "highdma", "on", "sg", "on")  # sg already on
    assert (res.exit_code, res.stdout, res.stderr) == (
        0, "Actual changes:\nhighdma: off [requested on]\n", "")  # fmt: skip
    assert feature("scatter-gather")
    assert run("-K", "sn0", "tx", "off").exit_code == 0
    # TSO needs checksum offload: none of the tso bits comes on, the fixed ECN one neither.
    res = run("-K", "sn0", "tso", "on")
    assert (res.exit_code, res.stdout, res.stderr) == (
        1,
        "Actual changes:\ntx-tcp-segmentation: off [requested on]\n"
        "tx-tcp-ecn-segmentation: off [requested on]\n"
        "tx-tcp-mangleid-segmentation: off [requested on]\n"
        "tx-tcp6-segmentation: off [requested on]\n",
        "netdrv: Could not change any device features\n",
    )
    # A group asks for its fixed members too ("tx" is every tx-checksum-*): on Linux, ethtool
    # -K DEV tx on lists the IPv4/IPv6 bits a device has fixed off as [requested on].
    res = run("-K", "sn0", "tx", "on")
    assert (res.exit_code, res.stdout) == (0, (
        "Actual changes:\ntx-checksum-ipv4: off [requested on]\ntx-checksum-ip-generic: on\n"
        "tx-checksum-ipv6: off [requested on]\ntx-tcp-segmentation: on [not requested]\n"
        "tx-tcp-mangleid-segmentation: on [not requested]\n"
        "tx-tcp6-segmentation: on [not requested]\n"))  # fmt: skip
    assert run("-K", "sn0", "tx", "off", "--json").exit_code == 0  # --json: no report


# ethtool(8) -k on Linux for a device with snull's features: its legacy groups first (with
# the heading alone for a group of one), then the rest in netdev_features_strings order;
# lro, ntuple and rxhash, which ethtool always lists, are off [fixed].
SN0_FEATURES = """\
Features for sn0:
rx-checksumming: off [fixed]
tx-checksumming: on
\ttx-checksum-ipv4: off [fixed]
\ttx-checksum-ip-generic: on
\ttx-checksum-ipv6: off [fixed]
scatter-gather: on
\ttx-scatter-gather: on
tcp-segmentation-offload: on
\ttx-tcp-segmentation: on
\ttx-tcp-ecn-segmentation: off [fixed]
\ttx-tcp-mangleid-segmentation: off
\ttx-tcp6-segmentation: on
generic-segmentation-offload: on
generic-receive-offload: on
large-receive-offload: off [fixed]
rx-vlan-offload: off [fixed]
tx-vlan-offload: off [fixed]
ntuple-filters: off [fixed]
receive-hashing: off [fixed]
highdma: off [fixed]
rx-vlan-filter: off [fixed]
tx-udp-segmentation: off [fixed]
loopback: off [fixed]
"""


def test_features_are_listed_in_ethtools_order(daemon: Daemon) -> None:
    res = run("-k", "sn0")
    assert (res.exit_code, res.stdout) == (0, SN0_FEATURES)


def test_gso_is_every_devices_and_goes_with_scatter_gather(daemon: Daemon) -> None:
    # The line pasted from a Linux how-to: lro, fixed off, is no error either.
    res = run("-K", "sn0", "tso", "off", "gso", "off", "gro", "off", "lro", "off")
    assert (res.exit_code, res.stdout, res.stderr) == (0, "", "")
    assert not feature("generic-segmentation-offload")
    assert not feature("generic-receive-offload")
    # As Linux's netdev_fix_features: no software GSO without scatter-gather.
    res = run("-K", "sn0", "gso", "on", "sg", "off")
    assert (res.exit_code, res.stdout) == (0, "Actual changes:\ntx-scatter-gather: off\n"
                                              "tx-generic-segmentation: off [requested on]\n")  # fmt: skip
    assert "\ngeneric-segmentation-offload: off [requested on]\n" in run("-k", "sn0").stdout
    res = run("-K", "sn0", "sg", "on")
    assert (res.exit_code, res.stdout) == (0, "Actual changes:\ntx-scatter-gather: on\n"
                                              "tx-generic-segmentation: on [not requested]\n")  # fmt: skip
    assert run("-K", "sn0", "tx-generic-segmentation", "off").exit_code == 0
    assert not feature("generic-segmentation-offload")
    res = run("-K", "sn0", "lro", "on")
    assert (res.exit_code, res.stdout, res.stderr) == (
        1, "Actual changes:\nrx-lro: off [requested on]\n",
        "netdrv: Could not change any device features\n")  # fmt: skip
    # A device without scatter-gather wants GSO, as every device, but cannot have it.
    assert "\ngeneric-segmentation-offload: off [requested on]\n" in run("-k", "tn0").stdout


def test_json_exits_as_the_plain_command_and_carries_what_was_not_met(daemon: Daemon) -> None:
    """--json answers with the plain command's exit status: a request of which nothing came
    out as asked exits 1 ("Could not change any device features"); ``unmet`` names each
    feature asked for that did not come out so, with the state requested."""
    import json

    res = run("-K", "sn0", "rx", "on", "--json")
    assert (res.exit_code, res.stderr) == (1, "netdrv: Could not change any device features\n")
    out = json.loads(res.stdout)
    assert (out["changed"], out["unmet"]) == (False, {"rx-checksum": True})
    assert not out["features"]["rx-checksum"]["active"]
    # Partly met: exit 0, as the plain command; the fixed one still named.
    res = run("-K", "sn0", "rx", "on", "gro", "off", "--json")
    assert (res.exit_code, res.stderr) == (0, "")
    out = json.loads(res.stdout)
    assert (out["changed"], out["unmet"]) == (True, {"rx-checksum": True})
    # All met: nothing unmet.
    res = run("-K", "sn0", "gro", "on", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["unmet"] == {}


def test_a_group_heading_is_never_fixed(daemon: Daemon) -> None:
    """ethtool's dump_features prints a heading of several features as "NAME: on|off"
    alone ([fixed] is for a feature, as ``ethtool -k lo`` shows "scatter-gather: on" over
    two fixed members): tn0, with no hw_features, has every member fixed."""
    res = run("-k", "tn0")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    for heading in ("tx-checksumming", "scatter-gather", "tcp-segmentation-offload"):
        at = lines.index(f"{heading}: off")
        assert lines[at + 1].startswith("\t") and lines[at + 1].endswith(": off [fixed]")
    assert "rx-checksumming: off [fixed]" in lines  # a group of one: the feature's own line


def test_udp_segmentation_needs_both_ip_checksums_not_scatter_gather(daemon: Daemon) -> None:
    """Linux's netdev_fix_features since 6.11 ("net: Make USO depend on CSUM offload"):
    USO needs HW_CSUM or both IP_CSUM and IPV6_CSUM; it is not one of the TSO bits SG
    takes with it (``ethtool -K veth sg off`` leaves tx-udp-segmentation on)."""
    tn0 = daemon.host.devices["tn0"]
    hw = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM | NETIF_F_TSO | NETIF_F_GSO_UDP_L4
    hw |= NETIF_F_GSO  # (as every device's: software GSO)
    tn0.hw_features = tn0.wanted_features = hw
    assert daemon.host.netdev_update_features(tn0) == 1 and tn0.features & hw == hw
    res = run("-K", "tn0", "sg", "off")
    assert (res.exit_code, res.stdout) == (0, (
        "Actual changes:\ntx-scatter-gather: off\n"
        "tx-generic-segmentation: off [not requested]\n"
        "tx-tcp-segmentation: off [not requested]\n")), res.output  # fmt: skip
    assert tn0.features & NETIF_F_GSO_UDP_L4
    assert run("-K", "tn0", "sg", "on").exit_code == 0
    res = run("-K", "tn0", "tx-checksum-ipv6", "off")
    assert (res.exit_code, res.stdout) == (0, (
        "Actual changes:\ntx-checksum-ipv6: off\n"
        "tx-udp-segmentation: off [not requested]\n")), res.output  # fmt: skip
