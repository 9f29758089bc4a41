"""A driver's own ``dev_addr_set``/``eth_hw_addr_set`` at run time reaches the kernel link.

In Linux ``ip link`` shows ``dev->dev_addr``: an address a driver sets with
``dev_addr_set`` (say, after reading it again from the EEPROM, or when a bonded
port or a USB adapter reports a new one) is what the next ``ip link show``
prints, though no notifier is called.  On the kernel attachment the link is a
TAP, whose address is its own: netdrv writes the new one to it at once, without
waiting for some other change of the link, and without calling the driver's
``set_mac_address`` for the echo of that write.
"""

from __future__ import annotations

import json

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import SNULL_ON_KERNEL

pytestmark = pytest.mark.netns

# snull on the kernel attachment in this process; its set_mac_address recorded.  Each step
# changes sn0's address the way a driver does, on the loop, from a thread of its own, or a
# byte at a time (dev_addr_mod); then the loop runs until `ip link show sn0` shows it.
DEV_ADDR_SET = (
    SNULL_ON_KERNEL
    + r"""
import threading
from netdrv_core import dev_addr_mod, dev_addr_set, eth_hw_addr_set

calls = []
real = dev.netdev_ops.set_mac_address
def set_mac_address(d, addr):
    calls.append(bytes(addr).hex(":"))
    return real(d, addr)
dev.netdev_ops.set_mac_address = set_mac_address

def kernel():
    out = subprocess.run(["ip", "-j", "link", "show", "sn0"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]["address"]

host.loop.run_until(lambda: False, timeout=0.3)  # the link's set-up events
out = {"start": [dev.dev_addr.hex(":"), kernel()]}
steps = {
    "eth_hw_addr_set": lambda: host.loop.call_soon(
        eth_hw_addr_set, dev, bytes.fromhex("021122334401")),
    "dev_addr_set from a thread": lambda: threading.Thread(
        target=dev_addr_set, args=(dev, bytes.fromhex("021122334402"))).start(),
    "dev_addr_mod": lambda: host.loop.call_soon(dev_addr_mod, dev, 4, b"\x44\x03"),
}
for n, (what, step) in enumerate(steps.items(), 1):
    want = f"02:11:22:33:44:{n:02x}"
    step()
    host.loop.run_until(lambda: dev.dev_addr.hex(":") == want == kernel(), timeout=10)
    out[what] = [dev.dev_addr.hex(":"), kernel()]
host.loop.run_until(lambda: False, timeout=0.3)  # the echoes: none may reach the driver
out["settled"] = [dev.dev_addr.hex(":"), kernel()]
out["calls"] = calls
with host.as_current():
    drv.exit()
print(json.dumps(out))
"""
)


def test_a_drivers_own_dev_addr_set_shows_on_the_kernel_link(netns: NetNamespace) -> None:
    res = json.loads(netns.python(DEV_ADDR_SET).stdout)
    assert res["start"][0] == res["start"][1], res
    assert res["eth_hw_addr_set"] == ["02:11:22:33:44:01"] * 2, res
    assert res["dev_addr_set from a thread"] == ["02:11:22:33:44:02"] * 2, res
    assert res["dev_addr_mod"] == ["02:11:22:33:44:03"] * 2, res
    assert res["settled"] == ["02:11:22:33:44:03"] * 2, res
    # The echo of netdrv's own write is not a user's change: the driver is not asked.
    assert res["calls"] == [], res


# A driver's dev_addr_set queues the write to the TAP on the loop; events lost before it runs
# (a full netlink receive buffer) make netdrv re-read the link, which still shows the old
# address.  That is not a user's change: the driver's address must not be reverted (no
# set_mac_address(old), no down/up), and the queued write then shows it on the link.
RESYNC_BEFORE_SYNC = (
    SNULL_ON_KERNEL
    + r"""
from netdrv_core import dev_addr_set

calls = []
real = dev.netdev_ops.set_mac_address
def set_mac_address(d, addr):
    calls.append(bytes(addr).hex(":"))
    return real(d, addr)
dev.netdev_ops.set_mac_address = set_mac_address

def kernel():
    out = subprocess.run(["ip", "-j", "link", "show", "sn0"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]["address"]

host.loop.run_until(lambda: False, timeout=0.3)  # the link's set-up events
old = kernel()
dev_addr_set(dev, bytes.fromhex("02bb00000003"))  # the sync is queued, not run yet
ks._mon.dump_wanted = True  # as after ENOBUFS: events were lost
ks._on_netlink()  # the netlink socket's callback runs before the queued sync
host.loop.run_until(lambda: kernel() == dev.dev_addr.hex(":"), timeout=10)
host.loop.run_until(lambda: False, timeout=0.3)
out = {"old": old, "driver": dev.dev_addr.hex(":"), "kernel": kernel(), "calls": calls}
with host.as_current():
    drv.exit()
print(json.dumps(out))
"""
)


def test_a_resync_before_the_queued_address_write_does_not_revert_it(
    netns: NetNamespace,
) -> None:
    res = json.loads(netns.python(RESYNC_BEFORE_SYNC).stdout)
    assert res["old"] != "02:bb:00:00:00:03", res
    assert res["driver"] == res["kernel"] == "02:bb:00:00:00:03", res
    assert res["calls"] == [], res
