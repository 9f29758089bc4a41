"""usbnet on the kernel: simulated adapters whose cable ends in a TAP moved to another namespace.

Namespace A runs the daemon with ``netdrv load usbnet sim=MODEL sim_wire=simw0``;
``simw0`` (the far end of the adapter's Ethernet cable) is moved into namespace
B, which answers real traffic: ping both ways and a TCP transfer with a hash
check, through pyusb, the usbnet core, a minidriver and the simulated adapter.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, status, tcp_transfer, wait_for

pytestmark = pytest.mark.netns

A_IP, B_IP = "198.18.7.1", "198.18.7.2"
SIOCDEVPRIVATE = 0x89F0


def _invariant(d: dict) -> None:
    s, c = d["stats"], d["core"]
    assert c["tx_submitted"] == s["tx_packets"] + s["tx_dropped"] + s["tx_errors"], (s, c)


def _links(ns: NetNamespace) -> str:
    return ns.run("ip -o link").stdout


def _setup(
    netns_factory: Callable[[], NetNamespace], sim: str, extra: str = ""
) -> tuple[NetNamespace, NetNamespace]:
    a, b = netns_factory(), netns_factory()
    out = a.netdrv(f"load usbnet sim={sim} sim_wire=simw0 {extra}").stdout
    assert "usb0" in out and "simw0" in out, out
    assert " simw0:" in _links(a)
    a.run(f"ip link set simw0 netns {b.name}")
    b.run(f"ip addr add {B_IP}/24 dev simw0")
    b.run("ip link set simw0 up")
    _usb0_up(a)
    return a, b


def _usb0_up(a: NetNamespace) -> None:
    a.run(f"ip addr add {A_IP}/24 dev usb0")
    a.run("ip link set usb0 up")
    assert wait_for(lambda: device(a, "usb0")["carrier"]), "no carrier on usb0"


def _ping(src: NetNamespace, dst: str, count: int = 3) -> None:
    res = src.run(f"ping -c {count} -i 0.2 -W 2 {dst}", check=False)
    assert f"{count} received" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize("sim", ["cdc_ether", "cdc_ncm", "cdc_ncm32", "ax88179"])
def test_ping_and_tcp_through_a_simulated_adapter(netns_factory, sim: str) -> None:
    a, b = _setup(netns_factory, sim)
    _ping(a, B_IP)
    _ping(b, A_IP)
    size = 4 << 20
    chash, shash, peer = tcp_transfer(b, a, B_IP, B_IP, size, timeout=60)
    assert chash == shash and peer == A_IP
    chash, shash, peer = tcp_transfer(a, b, A_IP, A_IP, size, port=5202, timeout=60)
    assert chash == shash and peer == B_IP
    d = device(a, "usb0")
    _invariant(d)
    assert d["driver"] == "usbnet" and d["state"] == "up" and d["carrier"] is True
    # A TSO super-frame is one tx packet, as in Linux's usbnet (the AX88179 is no
    # FLAG_MULTI_PACKET minidriver: usbnet_start_xmit counts each skb once).
    sent = 2000 if sim != "ax88179" else (4 << 20) // 65536
    assert d["stats"]["rx_packets"] > 2000 and d["stats"]["tx_packets"] > sent
    assert d["stats"]["rx_errors"] == 0 and d["stats"]["tx_errors"] == 0
    eth = d["ethtool"]
    if sim == "ax88179":  # the kernel handed usb0 TCP super-frames; the chip cut them up
        assert eth["stats"]["tx_tso"] > 0 and eth["stats"]["tx_gso_refused"] == 0
    assert eth["driver"] == {"cdc_ether": "cdc_ether", "cdc_ncm": "cdc_ncm", "cdc_ncm32": "cdc_ncm",
                             "ax88179": "ax88179_178a"}[sim]  # fmt: skip
    assert eth["bus_info"] == "usb-1-1" and eth["link"] is True and eth["speed"] > 0
    if sim.startswith("cdc_ncm"):  # cdc_ncm32: an NCM adapter that offers NTB32 only
        assert eth["stats"]["tx_datagrams"] > eth["stats"]["tx_ntbs"], "NCM batched datagrams"
        assert eth["stats"]["ntb_format"] == (32 if sim == "cdc_ncm32" else 16)
    # The kernel sees the adapter's MAC on usb0.
    state = a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE}").stdout
    assert f'"minidriver": "{eth["driver"]}"' in state
    assert d["address"] in a.run("ip -o link show usb0").stdout


def test_hot_unplug_and_replug(netns_factory) -> None:
    a, b = _setup(netns_factory, "cdc_ether", "hotplug_interval=0.5")
    _ping(a, B_IP)
    before = device(a, "usb0")["ethtool"]
    # Pull the plug; the simulated adapter comes back 1.5 s later with a new address.
    a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE + 1}:1500")
    assert wait_for(lambda: " usb0:" not in _links(a), timeout=1.0), "usb0 must disappear"
    assert all(d["name"] != "usb0" for d in status(a)["devices"])
    assert " simw0:" in _links(b), "the cable's end stays"
    assert wait_for(lambda: " usb0:" in _links(a), timeout=6.0), "usb0 must come back"
    _usb0_up(a)  # a new interface: configured again, like a replugged adapter
    _ping(a, B_IP)
    _ping(b, A_IP)
    chash, shash, _ = tcp_transfer(b, a, B_IP, B_IP, 1 << 20, timeout=60)
    assert chash == shash
    d = device(a, "usb0")
    _invariant(d)
    assert d["ethtool"]["bus_info"] == before["bus_info"] and d["address"]


@pytest.mark.parametrize("sim", ["cdc_ncm", "ax88179"])
def test_endpoint_stalls_from_the_cli_are_cleared_and_traffic_goes_on(
    netns_factory, sim: str
) -> None:
    """``netdrv set usb0 ioctl=0x89f3:EP`` halts an endpoint; the daemon clears it and carries on."""
    a, b = _setup(netns_factory, sim)
    _ping(a, B_IP)
    state = json.loads(a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE}").stdout)
    eps = state["endpoints"]
    bad = a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE + 3}:0x7f", check=False)
    assert bad.returncode != 0 and "Invalid argument" in bad.stderr + bad.stdout
    for ep in (eps["in"], eps["out"], eps["int"]):
        a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE + 3}:{ep}")
        # A stalled transfer loses its frames (counted as errors), at most one ping here.
        res = a.run(f"ping -c 4 -i 0.2 -W 2 {B_IP}", check=False).stdout
        assert re.search(r"4 packets transmitted, [34] received", res), res
    _ping(a, B_IP)
    eth = device(a, "usb0")["ethtool"]["stats"]
    assert eth["rx_stalls"] >= 1 and eth["tx_stalls"] == 1 and eth["intr_stalls"] >= 1, eth
    chash, shash, _ = tcp_transfer(b, a, B_IP, B_IP, 1 << 20, timeout=60)
    assert chash == shash
    d = device(a, "usb0")
    _invariant(d)
    assert d["carrier"] is True


def test_ethtool_forces_the_ax88179_phy_and_traffic_goes_on(netns_factory) -> None:
    """``netdrv ethtool -s usb0 speed 100 duplex half autoneg off`` through the daemon: the
    minidriver writes the PHY's BMCR, the simulated chip renegotiates in the forced mode and
    link_reset programs the medium for 100/half; autoneg on brings gigabit back."""
    from netdrv_usbnet.codecs import ax88179 as ax

    a, b = _setup(netns_factory, "ax88179")

    def settled(speed: int, full: bool, changes: int) -> bool:
        d = device(a, "usb0")
        stats = d["ethtool"]["stats"]
        return (d["carrier"] and d["ethtool"]["speed"] == speed
                and stats["medium_mode"] == ax.medium_mode(speed, full)
                and stats["link_changes"] >= changes)  # fmt: skip

    out = a.netdrv("ethtool usb0").stdout
    assert "\tSpeed: 1000Mb/s\n\tDuplex: Full\n\tAuto-negotiation: on\n" in out
    changes = device(a, "usb0")["ethtool"]["stats"]["link_changes"]
    assert a.netdrv("ethtool -s usb0 speed 100 duplex half autoneg off").stdout == ""
    out = a.netdrv("ethtool usb0").stdout
    assert "\tSpeed: 100Mb/s\n\tDuplex: Half\n\tAuto-negotiation: off\n" in out
    assert wait_for(lambda: settled(100, False, changes + 2)), device(a, "usb0")["ethtool"]
    _ping(a, B_IP)
    _ping(b, A_IP)

    res = a.netdrv("ethtool -s usb0 speed 2500", check=False)
    assert (res.returncode, res.stdout, res.stderr) == (75, "", (  # ethtool -s's status
        "netdrv: usb0: cannot set link settings (speed 2500Mb/s, duplex half, autoneg off): "
        "Invalid argument\n"))  # fmt: skip
    res = a.netdrv("ethtool --show-priv-flags usb0", check=False)
    assert (res.returncode, res.stderr) == (1, "netdrv: usb0 does not support private flags\n")

    assert a.netdrv("ethtool -s usb0 autoneg on").stdout == ""
    assert wait_for(lambda: settled(1000, True, changes + 4)), device(a, "usb0")["ethtool"]
    assert "\tAuto-negotiation: on\n" in a.netdrv("ethtool usb0").stdout
    _ping(a, B_IP)
    chash, shash, _ = tcp_transfer(b, a, B_IP, B_IP, 1 << 20, timeout=60)
    assert chash == shash
    _invariant(device(a, "usb0"))


def test_ax88179_offloads_with_the_kernel_and_ethtool_k(netns_factory) -> None:
    """The kernel hands usb0 TCP super-frames and unfinished checksums (its TAP offloads
    follow the AX88179's features): the chip's TSO and checksum engines put valid frames on
    the cable, which namespace B's kernel checks.  ``ethtool -K usb0 tso off`` and ``tx off``
    through the daemon: the kernel does that work again, and the transfers still verify."""
    a, b = _setup(netns_factory, "ax88179")
    out = a.netdrv("ethtool -k usb0").stdout
    assert "tcp-segmentation-offload: on\n\ttx-tcp-segmentation: on\n" in out, out
    assert "tx-checksumming: on\n\ttx-checksum-ipv4: on\n" in out, out

    def transfer(port: int) -> dict:
        chash, shash, peer = tcp_transfer(b, a, B_IP, B_IP, 2 << 20, port=port, timeout=60)
        assert chash == shash and peer == A_IP
        d = device(a, "usb0")
        _invariant(d)
        assert d["stats"]["tx_errors"] == 0
        return d["ethtool"]["stats"]

    # netif_set_gso_max_size(16384) reached the link: the kernel's TCP builds super-frames
    # the chip takes whole, none the driver must cut up in software.
    link = json.loads(a.run("ip -d -j link show usb0").stdout)[0]
    assert link["gso_max_size"] == 16384, link
    st = transfer(5301)
    assert st["tx_tso"] > 0 and st["tx_gso_refused"] == 0 and st["tx_gso_software"] == 0
    assert a.netdrv("ethtool -K usb0 tso off").stdout == ""
    assert "tcp-segmentation-offload: off\n" in a.netdrv("ethtool -k usb0").stdout
    after = transfer(5302)
    assert (after["tx_tso"], after["tx_gso_software"]) == (st["tx_tso"], st["tx_gso_software"])
    assert a.netdrv("ethtool -K usb0 tx off").stdout == ""
    assert "tx-checksumming: off\n" in a.netdrv("ethtool -k usb0").stdout
    transfer(5303)
    out = a.netdrv("ethtool -K usb0 tx on tso on").stdout
    # As ethtool: the groups ask their fixed members too, which stay off ([requested on]).
    assert "tx-checksum-ip-generic: off [requested on]\n" in out
    assert "tx-tcp-segmentation: on\n" in out and "tx-checksum-ipv4: on\n" in out
    st = transfer(5304)
    assert st["tx_tso"] > after["tx_tso"]


def _tasks(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_unload_leaves_no_interface_thread_or_tap(netns_factory) -> None:
    a, b = netns_factory(), netns_factory()
    a.netdrv("load snull")  # keeps the daemon alive after usbnet is unloaded
    (pid,) = a.pids()
    # Without sim= and without an adapter on this machine's bus: loads and waits.  (libusb
    # starts its own event thread once per process: the baseline is taken after this cycle.)
    out = a.netdrv("load usbnet").stdout
    assert "no devices yet" in out and "waiting" in out, out
    running = _tasks(pid)
    a.netdrv("unload usbnet")
    assert wait_for(lambda: _tasks(pid) == running - 1), "the hotplug watcher ends"
    base = _tasks(pid)
    a.netdrv("load usbnet sim=cdc_ncm sim_wire=simw0")
    a.run(f"ip link set simw0 netns {b.name}")
    b.run(f"ip addr add {B_IP}/24 dev simw0")
    b.run("ip link set simw0 up")
    _usb0_up(a)
    _ping(a, B_IP, 2)
    assert _tasks(pid) >= base + 5  # reader, interrupt, writer, kevent, hotplug
    a.netdrv("unload usbnet")
    assert wait_for(lambda: " usb0:" not in _links(a))
    assert wait_for(lambda: " simw0:" not in _links(b)), "the TAP goes with the driver"
    assert wait_for(lambda: _tasks(pid) == base), f"threads left: {_tasks(pid) - base}"
    assert [d["name"] for d in status(a)["devices"]] == ["sn0", "sn1"]
    assert "3 received" in a.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout, "the rest runs on"
    a.netdrv("unload snull")
    assert wait_for(lambda: not a.pids())


@pytest.mark.parametrize("how", ["ip link del", "ip netns del"])
def test_deleting_the_cables_tap_cuts_the_cable_once(netns_factory, how: str) -> None:
    """The simulated cable's TAP deleted (or the namespace it was moved to): its fd reads
    EBADFD for good.  Read on, the loop spun and logged a warning per read (tens of
    thousands a second); instead the cable is cut once: one warning, link down, the daemon
    runs on, the driver unloads cleanly."""
    a, b = _setup(netns_factory, "cdc_ether")
    _ping(a, B_IP)
    if how == "ip link del":
        b.run("ip link del simw0")
    else:
        b.delete()
    assert wait_for(lambda: not device(a, "usb0")["carrier"], timeout=5), "carrier stays on"
    wait_for(lambda: False, timeout=1.0)  # let a spinning loop show itself
    log = a.netdrv("log").stdout
    assert "read failed" not in log, log[-2000:]
    assert log.count("cable is cut") == 1, log[-2000:]
    (drv,) = status(a)["drivers"]
    assert "cable cut: TAP simw0 is gone" in drv["description"], drv["description"]
    res = a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE + 2}:1", check=False)
    assert res.returncode != 0 and "cable is cut" in res.stderr, res.stdout + res.stderr
    a.netdrv("unload usbnet")
    assert wait_for(lambda: not a.pids()), "the daemon exits"
