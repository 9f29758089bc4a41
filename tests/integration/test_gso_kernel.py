"""Software segmentation against the kernel: super-frames queued before `ethtool -K tso off`.

snull runs in-process on the kernel attachment in a network namespace.  While a
TCP transfer runs, sn0's queue is stopped so the kernel fills the TAP with TSO
super-frames; TSO is then turned off and the queue woken.  netdrv must cut the
stale super-frames into segments the receiving kernel accepts (Linux's
validate_xmit_skb) rather than drop them and leave TCP to resend.
"""

from __future__ import annotations

import json
import sys

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns

STALE_SUPER_FRAMES = r"""
import hashlib, json, os, socket, threading
from netdrv_core.attach.tap import KernelStack
from netdrv_core.ethtool import ethtool_set_features
from netdrv_core.host import Host
from netdrv_core.netdevice import netif_stop_queue, netif_wake_queue
from netdrv_core.params import parse_params
from netdrv_core.plugins import PluginManager

def retrans():
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("RetransSegs")])

host = Host(KernelStack())
ks = host.attachment
faults = []
host.loop.error_handler = lambda exc, cb: faults.append(repr(exc))
pm = PluginManager()
drv = pm.get_driver("snull")(host, parse_params("snull", pm.driver_parameters("snull"),
                                              ["timeout=60000"]))  # no watchdog wake-up
with host.as_current():
    drv.init()
    drv.configure()
sn0 = host.devices["sn0"]
srv = socket.socket()
srv.bind(("198.18.1.2", 5201))
srv.listen(1)
size, got, result = 16 << 20, hashlib.sha256(), {}
data = os.urandom(size)
def server():
    c, _ = srv.accept()
    n = 0
    while b := c.recv(1 << 16):
        got.update(b)
        n += len(b)
    result["received"] = n
def client():
    c = socket.create_connection(("198.18.0.2", 5201), timeout=30)
    c.sendall(data)
    c.close()
threads = [threading.Thread(target=server), threading.Thread(target=client)]
for t in threads:
    t.start()
before = retrans()
host.loop.run_until(lambda: sn0.stats.tx_bytes > 1 << 20, timeout=10)
netif_stop_queue(sn0)  # the kernel queues TSO super-frames in the TAP meanwhile
host.loop.run_until(lambda: False, timeout=0.05)
with host.as_current():
    ethtool_set_features(host, sn0, {"tso": False})
netif_wake_queue(sn0)
host.loop.run_until(lambda: "received" in result, timeout=60)
for t in threads:
    t.join(5)
drops = sn0.core_stats.tx_qdisc_drops  # before exit: the down drops what the TAP still holds
with host.as_current():
    drv.exit()
print(json.dumps({
    "ok": got.hexdigest() == hashlib.sha256(data).hexdigest(), "result": result,
    "stale": ks.counters["stale_offload"], "drops": drops,
    "retrans": retrans() - before, "faults": faults, "size": size,
}))
"""


def test_super_frames_queued_before_tso_went_off_are_segmented(netns: NetNamespace) -> None:
    res = json.loads(netns.run([sys.executable, "-c", STALE_SUPER_FRAMES], timeout=90).stdout)
    assert res["ok"] and res["result"]["received"] == res["size"], res
    assert res["stale"] > 0, res  # super-frames were read after TSO went off...
    assert res["drops"] == 0, res  # ...and none was dropped: each went as its segments
    assert not res["faults"], res
    print(f"TCP retransmissions during the transfer: {res['retrans']}")
