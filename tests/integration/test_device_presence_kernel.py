"""netif_device_detach on the kernel attachment: the interface stays, frames wait.

Linux keeps the interface of a detached (suspended) device and its stopped queue holds what
the stack sends; attach sends what waited.  On the kernel attachment the frames wait in the
kernel (the TAP's queue) while the device is detached, and reach ``start_xmit`` after attach.
"""

from __future__ import annotations

import json
import sys

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import SNULL_ON_KERNEL

pytestmark = pytest.mark.netns

# snull on the kernel attachment in this process, both ends up; three frames sent on sn0
# through a packet socket while it is detached, then it is attached again.
DETACH_SCRIPT = (
    SNULL_ON_KERNEL
    + r"""
from netdrv_core import netif_device_attach, netif_device_detach

sn0, sn1 = dev, host.devices["sn1"]
ks.set_link_up(sn1)
host.loop.run_until(lambda: False, timeout=0.3)

def settle():
    host.loop.run_until(lambda: False, timeout=0.5)

def link():
    res = subprocess.run(["ip", "-j", "link", "show", "sn0"], capture_output=True, text=True)
    return json.loads(res.stdout)[0] if res.returncode == 0 else None

out = {}
base = sn0.core_stats.tx_submitted
netif_device_detach(sn0)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("sn0", 0))
frame = bytes.fromhex("020000000001") + sn0.dev_addr + b"\x88\xb5" + bytes(46)  # local exp.
for _ in range(3):
    s.send(frame)
settle()
k = link()
out["detached"] = {"submitted": sn0.core_stats.tx_submitted - base,
                   "link": k is not None and "UP" in k["flags"]}
netif_device_attach(sn0)
settle()
out["attached"] = {"submitted": sn0.core_stats.tx_submitted - base}
with host.as_current():
    drv.exit()
print(json.dumps(out))
"""
)


def test_a_detached_devices_frames_wait_in_the_kernel_until_attach(netns: NetNamespace) -> None:
    res = json.loads(netns.run([sys.executable, "-c", DETACH_SCRIPT]).stdout)
    # Detached: the interface is still the kernel's, up; nothing reached start_xmit.
    assert res["detached"] == {"submitted": 0, "link": True}
    # Attached: what waited in the kernel is read and sent.
    assert res["attached"] == {"submitted": 3}
