"""`netdrv ethtool` against snull through this namespace's daemon, with traffic across a resize."""

from __future__ import annotations

import json
import shutil

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, tcp_transfer

pytestmark = pytest.mark.netns


def test_ring_show_set_and_refusals_through_the_daemon(netns: NetNamespace) -> None:
    netns.netdrv("load snull use_napi=1 pool_size=8")
    out = netns.netdrv("ethtool -g sn0").stdout
    assert out.startswith("Ring parameters for sn0:\nPre-set maximums:\nRX:\t\tn/a\n")
    assert out.endswith("Current hardware settings:\nRX:\t\tn/a\nRX Mini:\tn/a\n"
                        "RX Jumbo:\tn/a\nTX:\t\t8\n"  # then ethtool 6.1's lines
                        "RX Buf Len:\t\tn/a\nCQE Size:\t\tn/a\nTX Push:\toff\n"
                        "TCP data split:\tn/a\n")  # fmt: skip

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
    assert res.returncode == 81 and res.stdout == ""  # ethtool -G's status
    assert res.stderr == ("netdrv: sn0: requested ring size exceeds maximum: tx_pending 70000 > "
                          "tx_max_pending 65536\n")  # fmt: skip
    res = netns.netdrv("ethtool -l sn0", check=False)
    assert (res.returncode, res.stderr) == (1, "netdrv: sn0 does not support channels\n")
    res = netns.netdrv("ethtool -G sn0 tx lots", check=False)
    assert res.returncode == 1 and "tx: 'lots' is not a number" in res.stderr
    res = netns.netdrv("ethtool -g eth0", check=False)
    assert (res.returncode, res.stderr) == (1, "netdrv: no netdrv device named 'eth0'\n")
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout


def test_settings_driver_and_statistics(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    assert "\tSpeed: 10000Mb/s\n\tDuplex: Full\n" in netns.netdrv("ethtool sn1").stdout
    assert netns.netdrv("ethtool -i sn1").stdout.startswith("driver: snull\nversion: 2.0\n")
    assert "     pool_free: 8\n" in netns.netdrv("ethtool -S sn1").stdout
    assert "supports-priv-flags: no\n" in netns.netdrv("ethtool -i sn1").stdout
    # snull has no PHY to force and no private flags: refused, nothing changes.
    res = netns.netdrv("ethtool -s sn1 speed 100 duplex half autoneg off", check=False)
    assert (res.returncode, res.stderr) == (
        75, "netdrv: sn1 does not support changing link settings (speed, duplex, autoneg)\n")  # fmt: skip
    res = netns.netdrv("ethtool --show-priv-flags sn1", check=False)
    assert (res.returncode, res.stderr) == (1, "netdrv: sn1 does not support private flags\n")
    res = netns.netdrv("ethtool -s sn1 speed fast", check=False)
    assert res.returncode == 1 and "speed: 'fast' is not a positive number of Mb/s" in res.stderr


def _kernel_features(netns: NetNamespace, dev: str) -> dict[str, str]:
    """The kernel's view of the TAP (the real ethtool -k): name -> on/off."""
    out = netns.run(["ethtool", "-k", dev]).stdout
    return dict(line.strip().split(": ")[:2] for line in out.splitlines()[1:] if ": " in line)


@pytest.mark.skipif(
    shutil.which("ethtool") is None, reason="ethtool is not installed (CI installs it)"
)
def test_features_toggle_the_taps_offloads(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    out = netns.netdrv("ethtool -k sn0").stdout
    assert "tcp-segmentation-offload: on\n\ttx-tcp-segmentation: on\n" in out
    assert "rx-checksumming: off [fixed]\n" in out
    assert _kernel_features(netns, "sn0")["tx-tcp-segmentation"] == "on"

    def avg_frame() -> float:  # bytes per frame sn0 sent during a 4 MiB TCP transfer
        before = device(netns, "sn0")["stats"]
        chash, shash, _ = tcp_transfer(netns, netns, "198.18.1.2", "198.18.0.2", 4 << 20)
        assert chash == shash
        after = device(netns, "sn0")["stats"]
        return (after["tx_bytes"] - before["tx_bytes"]) / (
            after["tx_packets"] - before["tx_packets"]
        )

    assert avg_frame() > 8000  # TSO super-frames
    # Off: the kernel segments before sn0 (the TAP's offloads follow), frames fit the MTU.
    assert netns.netdrv("ethtool -K sn0 tso off").stdout == ""
    assert _kernel_features(netns, "sn0")["tx-tcp-segmentation"] == "off"
    assert avg_frame() <= 1514
    # tso asks for every tx-tcp*-segmentation, snull's fixed-off ECN one too: ethtool lists
    # that one [requested on], as on a Linux NIC without it.
    assert netns.netdrv("ethtool -K sn0 tso on").stdout == (
        "Actual changes:\ntx-tcp-segmentation: on\ntx-tcp-ecn-segmentation: off [requested on]\n"
        "tx-tcp-mangleid-segmentation: on\ntx-tcp6-segmentation: on\n"
    )
    assert netns.netdrv("ethtool -K sn0 tso off").stdout == ""
    # Checksum offload off takes TSO with it (it needs one), as ethtool -K reports it; tso is
    # every tx-tcp*-segmentation, IPv4 ID mangling included (as on a Linux NIC).
    tso_off = ("tx-tcp-segmentation: off [requested on]\n"
               "tx-tcp-ecn-segmentation: off [requested on]\n"
               "tx-tcp-mangleid-segmentation: off [requested on]\n"
               "tx-tcp6-segmentation: off [requested on]\n")  # fmt: skip
    assert netns.netdrv("ethtool -K sn0 tso on tx off").stdout == (
        "Actual changes:\ntx-checksum-ip-generic: off\n" + tso_off
    )
    res = netns.netdrv("ethtool -K sn0 tso on", check=False)  # still no checksum offload
    assert (res.returncode, res.stdout) == (1, "Actual changes:\n" + tso_off)
    assert res.stderr == "netdrv: Could not change any device features\n"
    assert _kernel_features(netns, "sn0")["tx-checksumming"] == "off"
    assert netns.netdrv("ethtool -K sn0 sg on").stdout == ""  # already on: nothing to say
    # The requested TSO comes back with checksum offload.
    assert netns.netdrv("ethtool -K sn0 tx on").stdout == (
        "Actual changes:\ntx-checksum-ipv4: off [requested on]\ntx-checksum-ip-generic: on\n"
        "tx-checksum-ipv6: off [requested on]\ntx-tcp-segmentation: on [not requested]\n"
        "tx-tcp-mangleid-segmentation: on [not requested]\n"
        "tx-tcp6-segmentation: on [not requested]\n"
    )
    feats = json.loads(netns.netdrv("ethtool -k sn0 --json").stdout)["features"]
    assert feats["tx-tcp-segmentation"] == {"active": True, "fixed": False, "requested": True}
    assert _kernel_features(netns, "sn0")["tx-tcp-segmentation"] == "on"
    assert avg_frame() > 8000
    res = netns.netdrv("ethtool -K sn0 rx on", check=False)  # rx-checksum is fixed off
    assert (res.returncode, res.stdout, res.stderr) == (
        1, "Actual changes:\nrx-checksum: off [requested on]\n",
        "netdrv: Could not change any device features\n")  # fmt: skip
    # GSO off (the link's too) changes no frame sn0 gets: TSO still takes super-frames, and
    # without it the kernel's TCP segments for the link rather than its GSO (sk_can_gso).
    assert netns.netdrv("ethtool -K sn0 gso off").stdout == ""
    assert _kernel_features(netns, "sn0")["generic-segmentation-offload"] == "off"
    assert avg_frame() > 8000
    assert netns.netdrv("ethtool -K sn0 tso off").stdout == ""
    assert avg_frame() <= 1514


def test_without_a_daemon(netns: NetNamespace) -> None:
    res = netns.netdrv("ethtool -g sn0", check=False)
    assert res.returncode == 1
    assert res.stderr == (
        "netdrv: no netdrv daemon in this network namespace: 'sn0' is not a netdrv device\n"
    )
