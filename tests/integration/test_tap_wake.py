"""A queue woken inside ``start_xmit`` does not make the TAP reader re-enter it.

snull with a one-buffer pool stops its queue on every frame and wakes it again
before ``start_xmit`` returns (the buffer comes straight back).  The kernel
attachment used to read and transmit the next queued frame from within that
wake-up: one nesting level per frame waiting in the TAP, until a RecursionError
took the device down (a driver fault, the frames in flight counted twice).
Here the kernel queues some 1000 frames behind a stopped queue first.
"""

from __future__ import annotations

import json
import sys

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns

WAKE_IN_XMIT = r"""
import json, socket
from netdrv_core.attach.tap import KernelStack
from netdrv_core.host import Host
from netdrv_core.netdevice import IFF_UP, netif_stop_queue, netif_wake_queue
from netdrv_core.params import parse_params
from netdrv_core.plugins import PluginManager

host = Host(KernelStack())
pm = PluginManager()
drv = pm.get_driver("snull")(host, parse_params("snull", pm.driver_parameters("snull"),
                                              ["pool_size=1", "timeout=60000"]))
with host.as_current():
    drv.init()
    drv.configure()
sn0 = host.devices["sn0"]
netif_stop_queue(sn0)  # the kernel queues what follows in the TAP
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent = 0
for _ in range(1500):
    try:
        s.sendto(b"x" * 64, ("198.18.0.2", 9))
        sent += 1
    except OSError:
        pass
host.loop.run_until(lambda: False, timeout=0.1)
netif_wake_queue(sn0)
host.loop.run_until(lambda: False, timeout=0.5)
out = {"sent": sent, "up": bool(sn0.flags & IFF_UP), "tx": sn0.stats.tx_packets,
       "faults": sn0.core_stats.tx_driver_faults, "submitted": sn0.core_stats.tx_submitted}
with host.as_current():
    drv.exit()
print(json.dumps(out))
"""


def test_a_wake_inside_start_xmit_does_not_nest_reads(netns: NetNamespace) -> None:
    res = json.loads(netns.run([sys.executable, "-c", WAKE_IN_XMIT], timeout=30).stdout)
    assert res["up"] and res["faults"] == 0, res
    assert res["tx"] == res["submitted"] >= 500, res  # the queued frames all went through
