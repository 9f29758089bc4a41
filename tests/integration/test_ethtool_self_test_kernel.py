"""`netdrv ethtool sn0 -t` through the real CLI and daemon, with snull's TAPs in the kernel."""

from __future__ import annotations

import json

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device

pytestmark = pytest.mark.netns


@pytest.mark.parametrize("napi", [0, 1])
def test_snull_self_test_through_the_daemon(netns: NetNamespace, napi: int) -> None:
    netns.netdrv(f"load snull use_napi={napi}")
    assert "supports-test: yes\n" in netns.netdrv("ethtool -i sn0").stdout
    tx = device(netns, "sn0")["stats"]["tx_packets"]
    out = netns.netdrv("ethtool sn0 -t").stdout
    assert out == ("The test result is PASS\nThe test extra info:\n"
                   "Register test  (on/offline)\t 0\nLoopback test  (offline)\t 0\n\n")  # fmt: skip
    # The test frame went out of sn0 and stayed in the driver at sn1: not in the kernel.
    sn0, sn1 = device(netns, "sn0"), device(netns, "sn1")
    assert sn0["stats"]["tx_packets"] == tx + 1 and sn0["operstate"] == "up"
    r = json.loads(netns.netdrv("ethtool --test sn1 online --json").stdout)
    assert r["passed"] and r["flags"] == 0
    # The link still works.
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
    assert sn1["stats"]["rx_errors"] == 0
    res = netns.netdrv("ethtool -t sn0 sideways", check=False)
    # ethtool's exit_bad_args: 1 (2 is a test that failed)
    assert res.returncode == 1 and "-t takes one of offline, online, external_lb" in res.stderr


def test_the_kernel_link_is_testing_while_a_self_test_runs(netns: NetNamespace) -> None:
    # IF_OPER_TESTING reaches the kernel's link (ip link: state TESTING), and UP after.
    import subprocess
    import time

    netns.netdrv("load snull")
    # UNKNOWN before (no linkwatch event yet), UP after: what Linux's linkwatch gives after
    # netif_testing_off too; the kernel takes no UNKNOWN back through IFLA_OPERSTATE.
    assert "state UNKNOWN" in netns.run("ip -o link show sn0").stdout
    mon = netns.popen("ip -o monitor link", stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # the monitor listens before the test starts
        netns.netdrv("ethtool sn0 -t")
        time.sleep(0.3)
    finally:
        mon.terminate()
        out, _ = mon.communicate(timeout=5)
    states = [line.split(" state ")[1].split()[0] for line in out.splitlines()
              if ": sn0:" in line and " state " in line]  # fmt: skip
    assert "TESTING" in states, out
    assert states[-1] == "UP", out
    assert "state UP" in netns.run("ip -o link show sn0").stdout
