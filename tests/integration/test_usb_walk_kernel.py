"""Defects found walking the usbnet docs on the kernel attachment (simulated adapters).

Namespace A runs ``netdrv load usbnet sim=… sim_wire=simw0``; simw0 moves to B.
"""

from __future__ import annotations

import pytest

from .helpers import device, wait_for
from .test_usbnet_kernel import A_IP, B_IP, _ping, _setup

pytestmark = pytest.mark.netns

NEW_MAC = "02:11:22:33:44:55"


@pytest.mark.parametrize("sim", ["cdc_ether", "cdc_ncm"])
def test_cdc_mac_change_while_down_then_traffic(netns_factory, sim: str) -> None:
    # `ip link set usb0 address …` was reverted ("driver refused address change (ENOTSUP)")
    # for CDC, down or up; Linux's cdc_ether/cdc_ncm take it while down (eth_mac_addr).
    a, b = _setup(netns_factory, sim)
    a.run("ip link set usb0 down")
    a.run(f"ip link set usb0 address {NEW_MAC}")
    a.run("ip link set usb0 up")
    assert wait_for(lambda: device(a, "usb0")["carrier"]), "no carrier on usb0"
    _ping(a, B_IP)
    assert NEW_MAC in a.run("ip -o link show usb0").stdout, "the address was reverted"
    assert NEW_MAC in b.run(f"ip neigh show {A_IP}").stdout


def test_sim_excluded_by_vid_is_a_load_error(netns_factory) -> None:
    a = netns_factory()
    res = a.netdrv("load usbnet sim=cdc_ether vid=0b95", check=False)
    assert res.returncode != 0
    assert "vid=0b95 excludes" in res.stderr, res.stderr
    assert "usbsim0" not in a.run("ip -o link").stdout, "the cable TAP was left behind"


def test_ethtool_message_level(netns_factory) -> None:
    a, _ = _setup(netns_factory, "ax88179")
    assert "drv probe link" in a.netdrv("ethtool usb0").stdout
    a.netdrv("ethtool -s usb0 msglvl link off")
    out = a.netdrv("ethtool usb0").stdout
    assert "0x00000003" in out, out


def test_two_simulated_adapters_at_once(netns_factory) -> None:
    # sim= took one adapter and usbnet loads once per namespace (usbnet:b is refused): two
    # adapters at once could not be tried without hardware.
    a, b, c = netns_factory(), netns_factory(), netns_factory()
    out = a.netdrv("load usbnet sim=cdc_ncm,ax88179 sim_wire=simw0,simw1").stdout
    assert "usb0, usb1" in out and "cable on TAP simw0" in out and "TAP simw1" in out, out
    for dev, wire, far, net in (("usb0", "simw0", b, "198.18.7"), ("usb1", "simw1", c, "198.18.8")):
        a.run(f"ip link set {wire} netns {far.name}")
        far.run(f"ip addr add {net}.2/24 dev {wire}")
        far.run(f"ip link set {wire} up")
        a.run(f"ip addr add {net}.1/24 dev {dev}")
        a.run(f"ip link set {dev} up")
        assert wait_for(lambda dev=dev: device(a, dev)["carrier"]), f"no carrier on {dev}"
    _ping(a, "198.18.7.2")
    _ping(a, "198.18.8.2")
    assert device(a, "usb0")["ethtool"]["driver"] == "cdc_ncm"
    assert device(a, "usb1")["ethtool"]["driver"] == "ax88179_178a"
    a.netdrv("unload usbnet")
    assert wait_for(lambda: "simw0" not in b.run("ip -o link").stdout), "TAP simw0 left"
    assert wait_for(lambda: "simw1" not in c.run("ip -o link").stdout), "TAP simw1 left"


def test_sim_wire_refused_by_the_kernel_names_the_parameter(netns_factory) -> None:
    # sim_wire=lo said only "the kernel refused interface 'lo' (EINVAL)".
    a = netns_factory()
    res = a.netdrv("load usbnet sim=cdc_ether sim_wire=lo", check=False)
    assert res.returncode != 0 and "sim_wire=lo" in res.stderr, res.stderr
