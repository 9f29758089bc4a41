"""UDP segmentation offload (``tx-udp-segmentation``, NETIF_F_GSO_UDP_L4) through a TAP.

A driver that advertises NETIF_F_GSO_UDP_L4 is handed the kernel's UDP super-frames
(a socket sending with UDP_SEGMENT), as Linux hands them to a device with that feature:
netdrv offers the TAP TUN_F_USO4|TUN_F_USO6.  ``ethtool -K DEV tx-udp-segmentation off``
on the kernel side reaches the driver, and the kernel then segments before the TAP.
snull carries the super-frame to sn1, whose TAP takes it back with a virtio-net UDP_L4
header: the receiving socket gets every datagram either way.
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("ethtool") is None, reason="needs ethtool(8)"),
]

UDP_GSO = r"""
import json, select, socket, subprocess
from netdrv_core.attach.tap import KernelStack, TunTap
from netdrv_core.host import Host, netdev_update_features
from netdrv_core.netdevice import NETIF_F_GSO_UDP_L4
from netdrv_core.params import parse_params
from netdrv_core.plugins import PluginManager
from netdrv_core.skbuff import SKB_GSO_UDP_L4

UDP_SEGMENT, SEGMENTS, SEG = 103, 10, 1000
host = Host(KernelStack())
ks = host.attachment
pm = PluginManager()
drv = pm.get_driver("snull")(host, parse_params("snull", pm.driver_parameters("snull"),
                                              ["timeout=60000"]))
with host.as_current():
    drv.init()
    drv.configure()
sn0 = host.devices["sn0"]
seen = []
real_xmit = sn0.netdev_ops.start_xmit
def start_xmit(skb, dev):
    if skb.protocol == 0x0800 and skb.buf[skb.network_header + 9] == 17:
        seen.append([bool(skb.gso_type & SKB_GSO_UDP_L4), skb.gso_size, skb.len])
    return real_xmit(skb, dev)
sn0.netdev_ops.start_xmit = start_xmit

def kernel(name):
    out = subprocess.run(["ethtool", "-k", "sn0"], capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.strip().startswith(name + ":"))
    return line.split(": ", 1)[1].split()[0]

def settle():
    fd = ks._mon.fileno()
    for _ in range(50):
        if not select.select([fd], [], [], 0.3)[0]:
            return
        host.loop.run_once(0)
        host.loop.run_until_idle()

rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("198.18.1.2", 9999))
rx.setblocking(False)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.setsockopt(socket.SOL_UDP, UDP_SEGMENT, SEG)

def burst():
    seen.clear()
    payload = bytes(range(256)) * (SEGMENTS * SEG // 256) + bytes(SEGMENTS * SEG % 256)
    tx.sendto(payload, ("198.18.0.2", 9999))
    got = []
    host.loop.run_until(lambda: len(seen) >= 1 and sum(n for _g, _s, n in seen) > 0,
                        timeout=5)
    for _ in range(40):
        host.loop.run_until(lambda: False, timeout=0.05)
        try:
            while True:
                got.append(rx.recv(65536))
        except BlockingIOError:
            pass
        if len(got) >= SEGMENTS:
            break
    return {"seen": seen[:], "datagrams": [len(g) for g in got],
            "intact": b"".join(got) == payload}

res = {"uso_refused": TunTap.uso_refused, "before": kernel("tx-udp-segmentation")}
sn0.hw_features |= NETIF_F_GSO_UDP_L4
sn0.wanted_features |= NETIF_F_GSO_UDP_L4
with host.as_current():
    netdev_update_features(sn0)
settle()
res["on"] = {"driver": bool(sn0.features & NETIF_F_GSO_UDP_L4),
             "kernel": kernel("tx-udp-segmentation"), **burst()}
subprocess.run(["ethtool", "-K", "sn0", "tx-udp-segmentation", "off"], check=True)
settle()
res["off"] = {"driver": bool(sn0.features & NETIF_F_GSO_UDP_L4),
              "kernel": kernel("tx-udp-segmentation"), **burst()}
res["rejected"] = ks.counters.get("rejected", 0)
with host.as_current():
    drv.exit()
print(json.dumps(res))
"""


def test_udp_super_frames_reach_a_driver_with_uso_and_segments_without(
    netns: NetNamespace,
) -> None:
    res = json.loads(netns.run([sys.executable, "-c", UDP_GSO], timeout=60).stdout)
    if res["uso_refused"]:
        pytest.skip("this kernel's TUN/TAP has no UDP segmentation offload (Linux < 6.2)")
    # A TAP's tx-udp-segmentation follows the device's: off until the driver has it.
    assert res["before"] == "off", res
    on, off = res["on"], res["off"]
    assert on["driver"] and on["kernel"] == "on", res
    # One super-frame of ten 1000-byte segments reached the driver, as one skb...
    assert on["seen"] == [
        [True, 1000, 10 * 1000 + 42]
    ]  # with the Ethernet, IP and UDP headers, res
    # ...and the receiving socket got ten datagrams: sn1's TAP took the UDP_L4 header.
    assert on["datagrams"] == [1000] * 10 and on["intact"], res
    # The kernel's ethtool turned it off: the driver lost the feature, and the kernel
    # segments before the TAP.
    assert not off["driver"] and off["kernel"] == "off", res
    assert off["seen"] == [[False, 0, 1000 + 42]] * 10, res
    assert off["datagrams"] == [1000] * 10 and off["intact"], res
    assert res["rejected"] == 0, res
