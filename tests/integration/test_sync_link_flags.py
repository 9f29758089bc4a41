"""What the kernel does to a link that no driver op says, and netdrv must still follow.

A bridge's port messages (AF_BRIDGE) are not the link's: the port leaving the bridge
is no deletion.  A bridge makes its ports promiscuous and all-multicast by count only,
and ``ip link set DEV arp on`` changes a flag of the device's, without a driver op.
"""

from __future__ import annotations

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, wait_for

pytestmark = pytest.mark.netns


def _settled(ns: NetNamespace, dev: str, mtu: int) -> bool:
    """Change the MTU and wait for the driver to see it: the events before it are applied."""
    ns.run(f"ip link set {dev} mtu {mtu}")
    return wait_for(lambda: device(ns, dev)["mtu"] == mtu)


def _bridge(ns: NetNamespace) -> None:
    if ns.run("ip link add br0 type bridge", check=False).returncode:
        pytest.skip("no bridge support in this kernel")


def test_leaving_a_bridge_keeps_the_link(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    _bridge(netns)
    netns.run("ip link set sn1 master br0")
    netns.run("ip link set br0 up")
    netns.run("ip link set sn1 nomaster")  # the bridge's RTM_DELLINK (AF_BRIDGE) for sn1
    assert _settled(netns, "sn1", 1400)
    assert netns.run("ip link show sn1", check=False).returncode == 0, "sn1's TAP was closed"
    assert device(netns, "sn1")["state"] == "up"
    # Enslaved again, and the bridge deleted under it: the port goes, the link stays.
    netns.run("ip link set sn1 master br0")
    netns.run("ip link del br0")
    assert _settled(netns, "sn1", 1300)
    assert "UP" in netns.run("ip link show sn1").stdout
    assert device(netns, "sn1")["state"] == "up"
    netns.run("ping -c1 -W5 198.18.0.2")


def test_a_bridge_port_is_promiscuous_and_allmulti(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    _bridge(netns)
    netns.run("ip link set sn1 master br0")
    netns.run("ip link set br0 up")
    # `ip link` shows neither flag (counts only: promiscuity 1 allmulti 1), the driver
    # must filter as if both were set, as a Linux driver's set_rx_mode sees them.
    assert _settled(netns, "sn1", 1400)
    assert {"PROMISC", "ALLMULTI"} <= set(device(netns, "sn1")["flags"])
    netns.run("ip link set sn1 nomaster")
    assert _settled(netns, "sn1", 1300)
    assert not {"PROMISC", "ALLMULTI"} & set(device(netns, "sn1")["flags"])


def test_arp_on_and_off_reach_the_device(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    netns.run("ip link set sn0 arp on multicast off")
    assert _settled(netns, "sn0", 1400)
    flags = set(device(netns, "sn0")["flags"])
    assert "NOARP" not in flags and "MULTICAST" not in flags
    netns.run("ip link set sn0 arp off multicast on")
    assert _settled(netns, "sn0", 1300)
    assert {"NOARP", "MULTICAST"} <= set(device(netns, "sn0")["flags"])


def test_txqueuelen_zero_is_refused_and_the_link_keeps_sending(netns: NetNamespace) -> None:
    # A TUN/TAP's ring of frames for its reader is txqueuelen long: at 0 the kernel dropped
    # every frame before the driver saw it, silently (only `ip -s link` counted them).
    netns.netdrv("load snull")
    netns.run("ip link set sn0 txqueuelen 0")
    assert _settled(netns, "sn0", 1400)
    assert wait_for(lambda: "qlen 1000" in netns.run("ip link show sn0").stdout)
    assert device(netns, "sn0")["tx_queue_len"] == 1000
    netns.run("ping -c1 -W5 198.18.0.2")
    netns.run("ip link set sn0 txqueuelen 200")  # other lengths are the driver's as before
    assert wait_for(lambda: device(netns, "sn0")["tx_queue_len"] == 200)
    assert "qlen 200" in netns.run("ip link show sn0").stdout


def test_a_macvlan_on_top_makes_the_link_promiscuous(netns: NetNamespace) -> None:
    # A TAP has no unicast filter: a macvlan's address makes it promiscuous (uc_promisc),
    # and the kernel sends no link event for that, nor for its end.
    netns.netdrv("load snull")
    if netns.run("ip link add link sn0 name mv0 type macvlan", check=False).returncode:
        pytest.skip("no macvlan support in this kernel")
    netns.run("ip link set mv0 up")
    assert "promiscuity 1" in netns.run("ip -d link show sn0").stdout
    assert wait_for(lambda: "PROMISC" in device(netns, "sn0")["flags"])
    netns.run("ip link del mv0")
    assert "promiscuity 0" in netns.run("ip -d link show sn0").stdout
    assert wait_for(lambda: "PROMISC" not in device(netns, "sn0")["flags"])


def test_a_link_deleted_by_the_user_shows_as_detached(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    netns.run("ip link del sn0")
    # Linux's IF_OPER_NOTPRESENT: the device stays the driver's, without a kernel link.
    assert wait_for(lambda: device(netns, "sn0")["operstate"] == "notpresent")
    assert device(netns, "sn0")["state"] == "down"
    assert "detached" in netns.netdrv("status").stdout
    assert device(netns, "sn1")["operstate"] == "up"
    netns.netdrv("unload snull")  # and it goes like any other device
