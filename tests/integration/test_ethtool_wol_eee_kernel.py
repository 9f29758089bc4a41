"""``netdrv ethtool`` Wake-on-LAN, ``-T``, EEE and ``-p`` against a simulated AX88179 through
this namespace's daemon, beside the real ethtool 6.1 on a kernel TAP for the layout."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace, netns_available

from .helpers import device, wait_for

pytestmark = pytest.mark.netns


@pytest.fixture
def ns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetNamespace]:
    """A namespace of this test's own (``eth2-…``), its daemon's runtime directory private."""
    ok, why = netns_available()
    if not ok:
        pytest.skip(f"netns test: {why}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    n = NetNamespace("eth2")
    try:
        yield n
    finally:
        n.delete()


def test_wol_tsinfo_eee_and_identify_of_an_ax88179(ns: NetNamespace) -> None:
    assert "usb0" in ns.netdrv("load usbnet sim=ax88179").stdout
    ns.run("ip link set usb0 up")
    assert wait_for(lambda: device(ns, "usb0")["carrier"], 30), "no carrier on usb0"

    # Wake-on-LAN: after the port, as ethtool's nl_gset; the chip's AX_MONITOR_MOD holds it
    out = ns.netdrv("ethtool usb0").stdout
    assert "\tPort: MII\n\tSupports Wake-on: pg\n\tWake-on: g\n" in out, out
    assert ns.netdrv("ethtool -s usb0 wol pg").stdout == ""
    assert "\tWake-on: pg\n" in ns.netdrv("ethtool usb0").stdout
    res = ns.netdrv("ethtool -s usb0 wol s sopass 01:02:03:04:05:06", check=False)
    assert (res.returncode, res.stderr) == (75, "netdrv: usb0: cannot enable unsupported WoL "
                                                "mode: s (the device supports pg)\n")  # fmt: skip
    assert "\tWake-on: pg\n" in ns.netdrv("ethtool usb0").stdout

    # -T: the layout of the real ethtool for a TAP (tun's ops: ethtool_op_get_ts_info too)
    if shutil.which("ethtool"):
        ns.run("ip tuntap add dev eth2tap mode tap")
        real = ns.run("ethtool -T eth2tap").stdout.replace("eth2tap", "usb0")
        assert ns.netdrv("ethtool -T usb0").stdout == real

    # EEE: reset advertises none; advertising both modes renegotiates and EEE comes up
    out = ns.netdrv("ethtool --show-eee usb0").stdout
    assert out == ("EEE settings for usb0:\n\tEEE status: disabled\n\tTx LPI: disabled\n"
                   "\tSupported EEE link modes:  100baseT/Full\n"
                   "\t                           1000baseT/Full\n"
                   "\tAdvertised EEE link modes:  Not reported\n"
                   "\tLink partner advertised EEE link modes:  100baseT/Full\n"
                   "\t                                         1000baseT/Full\n")  # fmt: skip
    assert ns.netdrv("ethtool --set-eee usb0 advertise 0x28").stdout == ""
    assert wait_for(lambda: "\tEEE status: enabled - active\n"
                    in ns.netdrv("ethtool --show-eee usb0").stdout, 30)  # fmt: skip
    assert wait_for(lambda: device(ns, "usb0")["carrier"], 30), "the link came back"

    # -p: the AX88179 has no set_phys_id (as Linux's): ethtool's status for it
    res = ns.netdrv("ethtool -p usb0 1", check=False)
    assert (res.returncode, res.stderr) == (255, "netdrv: usb0 does not support identification "
                                                 "(ethtool -p: its driver has no set_phys_id)\n")  # fmt: skip
