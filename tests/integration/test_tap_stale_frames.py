"""Frames the kernel queued to a device's TAP before ``ip link set DEV down`` are not sent
after the next ``up``.

In Linux what a device's qdisc holds when it goes down is dropped (``dev_deactivate`` →
``qdisc_reset``), never sent after the next up.  A TAP's ring is not emptied when its link
goes down, so netdrv reads and discards it then, counted in ``tx_qdisc_drops``.  Here
snull's sn0 has its queue stopped, so the kernel's frames wait in the TAP ring; sn1, where
sn0's frames arrive, is watched for them.
"""

from __future__ import annotations

import json
import sys

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns

STALE_ACROSS_DOWN_UP = r"""
import json, socket, subprocess
from netdrv_core.attach.tap import KernelStack
from netdrv_core.host import Host
from netdrv_core.netdevice import IFF_UP, netif_stop_queue
from netdrv_core.params import parse_params
from netdrv_core.plugins import PluginManager

host = Host(KernelStack())
pm = PluginManager()
drv = pm.get_driver("snull")(host, parse_params("snull", pm.driver_parameters("snull"),
                                              ["timeout=60000"]))  # no watchdog wake-up
with host.as_current():
    drv.init()
    drv.configure()
sn0 = host.devices["sn0"]
run = host.loop.run_until
watch = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
watch.bind(("sn1", 0))
watch.setblocking(False)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def send(payload, n):
    for _ in range(n):
        tx.sendto(payload, ("198.18.0.2", 9))


def received():  # the frames sn1 received (not the ICMP errors it sends back)
    frames = []
    while True:
        try:
            data, addr = watch.recvfrom(65536)
        except BlockingIOError:
            return frames
        if addr[2] != socket.PACKET_OUTGOING:
            frames.append(data)


netif_stop_queue(sn0)  # the kernel's frames wait in the TAP ring
send(b"stale-frame", 20)
run(lambda: False, timeout=0.2)
held = sn0.core_stats.tx_submitted
if BY == "kernel":  # ip link set sn0 down/up: netdrv follows the kernel link
    subprocess.run(["ip", "link", "set", "sn0", "down"], check=True)
else:  # netdrv set sn0 down/up: the kernel link follows netdrv
    host.dev_close(sn0)
run(lambda: not sn0.flags & IFF_UP, timeout=5)
dropped = sn0.core_stats.tx_qdisc_drops
if BY == "kernel":
    subprocess.run(["ip", "link", "set", "sn0", "up"], check=True)
else:
    host.attachment.set_link_up(sn0)
run(lambda: bool(sn0.flags & IFF_UP), timeout=5)
run(lambda: False, timeout=0.3)
send(b"fresh-frame", 1)
run(lambda: False, timeout=0.5)
frames = received()
out = {"held": held, "dropped": dropped, "stale": sum(b"stale-frame" in f for f in frames),
       "fresh": sum(b"fresh-frame" in f for f in frames)}
with host.as_current():
    drv.exit()
print(json.dumps(out))
"""


@pytest.mark.parametrize("by", ["kernel", "netdrv"])
def test_frames_queued_before_down_are_not_sent_after_up(netns: NetNamespace, by: str) -> None:
    code = f"BY = {by!r}\n{STALE_ACROSS_DOWN_UP}"
    res = json.loads(netns.run([sys.executable, "-c", code], timeout=30).stdout)
    assert res["held"] == 0, res  # the stopped queue kept them in the TAP
    assert res["stale"] == 0, res  # never transmitted after the up
    assert res["dropped"] >= 20, res  # dropped at the down, as qdisc_reset
    assert res["fresh"] == 1, res  # the device transmits again after the up
