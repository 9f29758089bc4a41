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
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns

PLUGINS = str(Path(__file__).resolve().parent.parent / "plugins")

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


# netdrv_faulty in this process, its open raising: `ip link set fa0 up` fails in netdrv, which
# sets the kernel link down again.  While the link was up the kernel queued frames to the TAP;
# Linux never opened the device, so never sent them: nor may the next open that succeeds.
FAILED_OPEN = r"""
import json, logging, socket, subprocess, sys
sys.path.insert(0, PLUGINS)
from netdrv_core.attach.tap import KernelStack
from netdrv_core.host import Host
from netdrv_core.netdevice import IFF_UP
from netdrv_core.params import parse_params
import netdrv_faulty

logged = []
handler = logging.Handler()
handler.emit = lambda record: logged.append(record.getMessage())
logging.getLogger("netdrv").addHandler(handler)
host = Host(KernelStack())
drv = netdrv_faulty.Faulty(host, parse_params("netdrv_faulty", netdrv_faulty.Faulty.parameters,
                                              ["fail_in=open"]))
with host.as_current():
    drv.init()
fa0 = host.devices["fa0"]
sent = []
real_xmit = fa0.netdev_ops.start_xmit
def start_xmit(skb, dev):
    sent.append(skb.tobytes())
    return real_xmit(skb, dev)
fa0.netdev_ops.start_xmit = start_xmit
run = host.loop.run_until
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

def kernel():
    out = subprocess.run(["ip", "-j", "link", "show", "fa0"], capture_output=True, text=True,
                         check=True).stdout
    link = json.loads(out)[0]
    return {"kernel_up": "UP" in link["flags"], "lower_up": "LOWER_UP" in link["flags"],
            "kernel_state": link["operstate"]}

def link_up_and_send(payload):
    # The kernel queues frames to the TAP before netdrv hears of the up (the loop is not
    # running): on a failed open they wait in the TAP's ring.
    subprocess.run(["ip", "link", "set", "fa0", "up"], check=True)
    # (a down flushes permanent neighbours too)
    subprocess.run(["ip", "neigh", "replace", "198.19.0.2", "lladdr", "02:00:00:00:00:02",
                    "dev", "fa0", "nud", "permanent"], check=True)
    for _ in range(5):
        tx.sendto(payload, ("198.19.0.2", 9))
    run(lambda: False, timeout=0.3)

subprocess.run(["ip", "addr", "add", "198.19.0.1/24", "dev", "fa0"], check=True)
out = {}
for attempt in ("first", "again"):
    link_up_and_send(b"stale-frame")
    out[attempt] = {**kernel(), "dev_up": bool(fa0.flags & IFF_UP),
                    "operstate": fa0.operstate, "faults": drv.faults}
out["logged"] = [m for m in logged if m.startswith("fa0: open failed in driver netdrv_faulty")]
out["dropped"] = fa0.core_stats.tx_qdisc_drops
fa0.priv.params["fail_in"] = ""  # the driver is fixed: the next up opens it
link_up_and_send(b"fresh-frame")
out["fixed"] = {**kernel(), "dev_up": bool(fa0.flags & IFF_UP)}
out["stale"] = sum(b"stale-frame" in f for f in sent)
out["fresh"] = sum(b"fresh-frame" in f for f in sent)
with host.as_current():
    drv.exit()
print(json.dumps(out))
"""


def test_a_failed_open_leaves_the_link_down_and_sends_nothing_later(netns: NetNamespace) -> None:
    code = f"PLUGINS = {PLUGINS!r}\n{FAILED_OPEN}"
    res = json.loads(netns.run([sys.executable, "-c", code], timeout=30).stdout)
    # Down in the kernel (no carrier shown either) and in netdrv.
    down = {
        "kernel_up": False,
        "lower_up": False,
        "kernel_state": "DOWN",
        "dev_up": False,
        "operstate": "down",
    }
    assert res["first"] == {**down, "faults": 1}, res
    assert res["again"] == {**down, "faults": 2}, res  # the next `ip link set up` tries again
    assert len(res["logged"]) == 2, res  # names the device and its driver
    assert res["dropped"] >= 10, res  # what the kernel queued while the link was up
    assert res["fixed"]["kernel_up"] and res["fixed"]["lower_up"] and res["fixed"]["dev_up"], res
    assert res["stale"] == 0, res
    assert res["fresh"] == 5, res
