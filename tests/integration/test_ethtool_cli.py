"""`netdrv ethtool` against snull through this namespace's daemon, with traffic across a resize."""

from __future__ import annotations

import json

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, tcp_transfer

pytestmark = pytest.mark.netns


def test_ring_show_set_and_refusals_through_the_daemon(netns: NetNamespace) -> None:
    netns.netdrv("load snull use_napi=1 pool_size=8")
    out = netns.netdrv("ethtool -g sn0").stdout
    assert out.startswith("Ring parameters for sn0:\nPre-set maximums:\nRX:\t\tn/a\n")
    assert out.endswith("Current hardware settings:\nRX:\t\tn/a\nRX Mini:\tn/a\n"
                        "RX Jumbo:\tn/a\nTX:\t\t8\n")  # fmt: skip

    # Resized while up and under traffic: the pool follows, nothing is lost.
    assert netns.netdrv("ethtool -G sn0 tx 2").stdout == ""
    assert json.loads(netns.netdrv("ethtool -g sn0 --json").stdout)["tx_pending"] == 2
    chash, shash, _ = tcp_transfer(netns, netns, "198.18.1.2", "198.18.0.2", 4 << 20)
    assert chash == shash
    sn0 = device(netns, "sn0")
    assert sn0["ethtool"]["ringparam"]["tx_pending"] == 2  # netdrv status --json shows it too
    assert sn0["ethtool"]["stats"]["pool_free"] == 2 and sn0["ethtool"]["stats"]["pool_stops"] > 0
    assert device(netns, "sn1")["ethtool"]["ringparam"]["tx_pending"] == 8

    res = netns.netdrv("ethtool -G sn0 tx 70000", check=False)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr == ("netdrv: sn0: requested ring size exceeds maximum: tx_pending 70000 > "
                          "tx_max_pending 65536\n")  # fmt: skip
    res = netns.netdrv("ethtool -l sn0", check=False)
    assert (res.returncode, res.stderr) == (1, "netdrv: sn0 does not support channels\n")
    res = netns.netdrv("ethtool -G sn0 tx lots", check=False)
    assert res.returncode == 2 and "tx: 'lots' is not a number" in res.stderr
    res = netns.netdrv("ethtool -g eth0", check=False)
    assert (res.returncode, res.stderr) == (1, "netdrv: no netdrv device named 'eth0'\n")
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout


def test_settings_driver_and_statistics(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    assert "\tSpeed: 10000Mb/s\n\tDuplex: Full\n" in netns.netdrv("ethtool sn1").stdout
    assert netns.netdrv("ethtool -i sn1").stdout.startswith("driver: snull\nversion: 2.0\n")
    assert "     pool_free: 8\n" in netns.netdrv("ethtool -S sn1").stdout


def test_without_a_daemon(netns: NetNamespace) -> None:
    res = netns.netdrv("ethtool -g sn0", check=False)
    assert res.returncode == 1
    assert res.stderr == (
        "netdrv: no netdrv daemon in this network namespace: 'sn0' is not a netdrv device\n"
    )
