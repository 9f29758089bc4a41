"""The carrier of a usbnet interface on the kernel attachment, as Linux's usbnet keeps it.

Off from bind until the adapter reports a link after ``ip link set usb0 up`` (the interrupt
endpoint is read only while the interface is up); ``netdrv ethtool usb0`` "Link detected"
says the same as the carrier.  Namespace A runs ``netdrv load usbnet sim=…``; the cable's
TAP (simw0) moves to namespace B.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, wait_for
from .test_usbnet_kernel import A_IP, B_IP, SIOCDEVPRIVATE, _ping

pytestmark = pytest.mark.netns

SIM_LINK = SIOCDEVPRIVATE + 2


class _LogTail:
    """What the daemon of ``ns`` logs from now on (named after the namespace's inode, which
    is reused: an older log may be there already)."""

    def __init__(self, ns: NetNamespace) -> None:
        self.path = Path(f"/run/netdrv/daemon-{os.stat(f'/run/netns/{ns.name}').st_ino}.log")
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def text(self) -> str:
        if not self.path.exists():
            return ""
        with self.path.open("rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")


def _link_detected(ns: NetNamespace) -> bool:
    out = ns.netdrv("ethtool usb0").stdout
    assert "Link detected:" in out, out
    return "Link detected: yes" in out


def _agree(ns: NetNamespace, carrier: bool) -> bool:
    """``netdrv status`` carrier and ``netdrv ethtool`` Link detected both say ``carrier``."""
    d = device(ns, "usb0")
    return d["carrier"] is carrier and d["ethtool"]["link"] is carrier


@pytest.mark.parametrize("sim", ["cdc_ether", "cdc_ncm", "ax88179"])
def test_carrier_is_off_while_down_until_the_adapter_reports_link(netns_factory, sim) -> None:
    a, b = netns_factory(), netns_factory()
    log = _LogTail(a)
    a.netdrv(f"load usbnet sim={sim} sim_wire=simw0")
    a.run(f"ip link set simw0 netns {b.name}")
    b.run(f"ip addr add {B_IP}/24 dev simw0")
    b.run("ip link set simw0 up")
    # Bound and down: no carrier, no "link up" (the adapter's report waits for open).
    assert _agree(a, False) and not _link_detected(a)
    assert not wait_for(lambda: device(a, "usb0")["carrier"], timeout=1.0), "carrier while down"
    assert "registered usb0" in log.text() and "usb0: link up" not in log.text()
    a.run(f"ip addr add {A_IP}/24 dev usb0")
    a.run("ip link set usb0 up")
    assert wait_for(lambda: _agree(a, True)), "no carrier after up"
    assert _link_detected(a) and "LOWER_UP" in a.run("ip link show usb0").stdout
    assert "usb0: link up" in log.text()
    _ping(a, B_IP)
    # Down, the cable pulled meanwhile, up: the report that waited turns the carrier off...
    a.run("ip link set usb0 down")
    a.netdrv(f"set usb0 ioctl={SIM_LINK}:0")
    a.run("ip link set usb0 up")
    assert wait_for(lambda: _agree(a, False)), "the cable is out: no carrier"
    assert not _link_detected(a) and "NO-CARRIER" in a.run("ip link show usb0").stdout
    # ...and it comes back once the adapter reports the link.
    a.netdrv(f"set usb0 ioctl={SIM_LINK}:1")
    assert wait_for(lambda: _agree(a, True)), "the carrier did not come back"
    _ping(a, B_IP)


def test_unplug_while_down_then_replug_comes_back_down_without_carrier(netns_factory) -> None:
    a = netns_factory()
    a.netdrv("load usbnet sim=cdc_ether sim_wire=simw0 hotplug_interval=5")
    a.run("ip link set usb0 up")
    assert wait_for(lambda: _agree(a, True))
    a.run("ip link set usb0 down")
    # Nothing reads a down interface's endpoints: the hub (the bus scan) notices the unplug.
    a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE + 1}:0")
    assert wait_for(lambda: " usb0:" not in a.run("ip -o link").stdout), "usb0 stayed"
    assert "usb0" not in a.netdrv("status").stdout
