"""The kernel attachment and a device registered without a hardware address (all zeros)."""

from __future__ import annotations

import json
import sys

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns

# An Ethernet device registered with no address of its own, its set_mac_address recorded;
# then the user changes the link's MTU, and later its address.
ZERO_ADDRESS = r"""
import json, subprocess
from netdrv_core import NetDeviceOps, alloc_netdev, ether_setup, netif_start_queue
from netdrv_core.attach.tap import KernelStack
from netdrv_core.host import Host

calls = []

class Ops(NetDeviceOps):
    def open(self, dev):
        netif_start_queue(dev)
        return 0

    def start_xmit(self, skb, dev):
        return 0

    def set_mac_address(self, dev, addr):
        calls.append(bytes(addr).hex(":"))
        return super().set_mac_address(dev, addr)

def setup(dev):
    ether_setup(dev)
    dev.netdev_ops = Ops()

def kernel():
    out = subprocess.run(["ip", "-j", "link", "show", "zz0"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]["address"]

def settle():
    host.loop.run_until(lambda: False, timeout=0.3)

host = Host(KernelStack())
dev = alloc_netdev(None, "zz0", setup)
host.register_netdev(dev)
settle()
out = {}
subprocess.run(["ip", "link", "set", "zz0", "mtu", "1400"], check=True)
settle()
out["mtu"] = {"calls": calls[:], "dev": dev.dev_addr.hex(":"), "mtu": dev.mtu}
subprocess.run(["ip", "link", "set", "zz0", "address", "02:00:00:00:00:42"], check=True)
settle()
out["address"] = {"calls": calls[:], "dev": dev.dev_addr.hex(":"), "kernel": kernel()}
print(json.dumps(out))
"""


def test_the_taps_random_address_is_not_handed_to_a_device_without_one(
    netns: NetNamespace,
) -> None:
    # A TAP cannot take an all-zero address: the link keeps the random one it was created
    # with.  That is not a change of the user's: an unrelated `ip link set DEV mtu` must
    # not hand it to the driver's set_mac_address (it did, and the device took it).
    res = json.loads(netns.run([sys.executable, "-c", ZERO_ADDRESS]).stdout)
    assert res["mtu"] == {"calls": [], "dev": "00:00:00:00:00:00", "mtu": 1400}, res
    # An address the user sets does reach the driver, and both sides agree.
    assert res["address"] == {
        "calls": ["02:00:00:00:00:42"],
        "dev": "02:00:00:00:00:42",
        "kernel": "02:00:00:00:00:42",
    }, res


# A device whose hardware addresses are 1 byte (ARCnet-like; LocalTalk's setup) with an
# address of its own: a TAP's addresses are 6 bytes, so the link cannot carry it.
ONE_BYTE_ADDRESS = r"""
import json, subprocess
from netdrv_core import NetDeviceOps, alloc_netdev, netif_start_queue
from netdrv_core.attach.tap import KernelStack
from netdrv_core.host import Host
from netdrv_core.linktypes import ltalk_setup

calls = []

class Ops(NetDeviceOps):
    def open(self, dev):
        calls.append("open")
        netif_start_queue(dev)
        return 0

    def stop(self, dev):
        calls.append("stop")
        return 0

    def start_xmit(self, skb, dev):
        return 0

    def set_mac_address(self, dev, addr):
        calls.append("set_mac_address " + bytes(addr).hex(":"))
        return super().set_mac_address(dev, addr)

def setup(dev):
    ltalk_setup(dev)
    dev.type = 7  # ARPHRD_ARCNET
    dev.dev_addr = b"\x2a"
    dev.netdev_ops = Ops()

def kernel():
    out = subprocess.run(["ip", "-j", "link", "show", "arc0"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]

def settle():
    host.loop.run_until(lambda: False, timeout=0.3)

host = Host(KernelStack())
dev = alloc_netdev(None, "arc%d", setup)
host.register_netdev(dev)
settle()
out = {"name": dev.name, "registered": kernel()["address"]}
for cmd in (["address", "02:00:00:00:00:42"], ["up"], ["mtu", "500"], ["down"]):
    subprocess.run(["ip", "link", "set", "arc0", *cmd], check=True)
    settle()
k = kernel()
out.update(calls=calls, dev=[dev.dev_addr.hex(), dev.mtu, dev.is_up],
           kernel=[k["address"], k["mtu"], "UP" in k["flags"]])
host.unregister_netdev(dev)
print(json.dumps(out))
"""


def test_a_device_with_one_byte_addresses_registers_and_keeps_its_own(
    netns: NetNamespace,
) -> None:
    res = json.loads(netns.run([sys.executable, "-c", ONE_BYTE_ADDRESS]).stdout)
    assert res["name"] == "arc0"
    assert len(bytes.fromhex(res["registered"].replace(":", ""))) == 6  # the TAP's own
    # An address set on the link is no address of the device's: it stays the link's. The
    # rest reaches the driver as on any device.
    assert res["calls"] == ["open", "stop"], res
    assert res["dev"] == ["2a", 500, False], res
    assert res["kernel"] == ["02:00:00:00:00:42", 500, False], res
