"""A driver's offload jobs reach a kernel TAP that has no virtio-net header done.

A device without offloads gets a TAP without the header, yet its driver may hand up an
skb with a partial checksum or a super-frame (forwarded from a device that has them, or
built by its hardware).  The kernel cannot be told: netdrv finishes the checksum and cuts
the super-frame into segments first, as Linux before a device that takes no offloads.
Here the kernel's own sockets must take each one, and count no checksum error.
"""

from __future__ import annotations

import json
import sys

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns

NO_VNET_OFFLOADS = r"""
import json, socket, struct, subprocess
from netdrv_core import (NetDeviceOps, SkBuff, alloc_netdev, dev_kfree_skb, ether_setup,
                         eth_type_trans, netif_rx, netif_start_queue)
from netdrv_core.attach.tap import KernelStack
from netdrv_core.checksum import csum_fold, csum_partial, ip_compute_csum
from netdrv_core.host import Host
from netdrv_core.skbuff import CHECKSUM_PARTIAL, SKB_GSO_UDP_L4

MAC, PEER_MAC = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x99"
LOCAL, PEER = socket.inet_aton("198.18.0.1"), socket.inet_aton("198.18.0.2")
sent = []

class Ops(NetDeviceOps):
    def open(self, dev):
        netif_start_queue(dev)
        return 0

    def start_xmit(self, skb, dev):
        sent.append(skb.tobytes())
        dev_kfree_skb(skb)
        return 0

def setup(dev):
    ether_setup(dev)
    dev.dev_addr = MAC
    dev.disable_ipv6 = True
    dev.netdev_ops = Ops()

def snmp(proto, field):
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith(proto + ":")]
    return int(rows[1][rows[0].index(field)])

def partial_skb(proto, l4, csum_offset, gso_size=0):
    # The L4 checksum field holds the pseudo-header sum, not inverted (CHECKSUM_PARTIAL).
    pseudo = PEER + LOCAL + struct.pack("!BBH", 0, proto, len(l4))
    l4 = bytearray(l4)
    l4[csum_offset:csum_offset + 2] = (~csum_fold(csum_partial(pseudo)) & 0xFFFF).to_bytes(2, "big")
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0,
                               PEER, LOCAL))
    ip[10:12] = ip_compute_csum(ip).to_bytes(2, "big")
    frame = MAC + PEER_MAC + b"\x08\x00" + bytes(ip) + bytes(l4)
    skb = SkBuff(2 + len(frame))
    skb.buf[2:] = frame
    skb.data, skb.tail = 2, 2 + len(frame)
    skb.protocol = eth_type_trans(skb, dev)
    skb.ip_summed, skb.csum_start, skb.csum_offset = CHECKSUM_PARTIAL, skb.data + 20, csum_offset
    if gso_size:
        skb.gso_size, skb.gso_type = gso_size, SKB_GSO_UDP_L4
    return skb

def udp(payload):
    return struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload

host = Host(KernelStack())
ks = host.attachment
dev = alloc_netdev(None, "nv0", setup)
host.register_netdev(dev)
ks.set_link_up(dev)
subprocess.run(["ip", "addr", "add", "198.18.0.1/24", "dev", "nv0"], check=True)
subprocess.run(["ip", "neigh", "replace", "198.18.0.2", "lladdr", "02:00:00:00:00:99",
                "dev", "nv0", "nud", "permanent"], check=True)
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("198.18.0.1", 9))
rx.setblocking(False)
srv = socket.socket()
srv.bind(("198.18.0.1", 5201))
srv.listen(1)
errors = snmp("Udp", "InCsumErrors") + snmp("Tcp", "InCsumErrors")
host.loop.run_until(lambda: False, timeout=0.2)
out = {"hlen": ks.ports["nv0"].hlen}

def datagrams():
    got = []
    while True:
        try:
            got.append(rx.recv(65536))
        except BlockingIOError:
            return got

with host.as_current():
    netif_rx(partial_skb(17, udp(b"a partial checksum"), 6))
host.loop.run_until(lambda: False, timeout=0.2)
out["partial"] = [d.decode() for d in datagrams()]
payload = bytes(range(256)) * 10
with host.as_current():
    netif_rx(partial_skb(17, udp(payload), 6, gso_size=1000))
host.loop.run_until(lambda: False, timeout=0.2)
got = datagrams()
out["gso"] = [len(d) for d in got]
out["gso_payload"] = b"".join(got) == payload
# A SYN with a partial checksum: the kernel answers it (SYN-ACK, through the driver).
syn = struct.pack("!HHIIBBHHH", 40001, 5201, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
with host.as_current():
    netif_rx(partial_skb(6, syn, 16))
def syn_acks():
    return [f for f in sent if len(f) >= 54 and f[12:14] == b"\x08\x00" and f[23] == 6
            and f[47] & 0x12 == 0x12]
host.loop.run_until(lambda: bool(syn_acks()), timeout=2)
out["syn_ack"] = len(syn_acks())
out["csum_errors"] = snmp("Udp", "InCsumErrors") + snmp("Tcp", "InCsumErrors") - errors
cs = dev.core_stats
out["counts"] = [cs.rx_submitted, cs.rx_delivered, ks.counters["bad_offload"]]
host.unregister_netdev(dev)
print(json.dumps(out))
"""


def test_partial_checksums_and_super_frames_reach_the_kernel_done(netns: NetNamespace) -> None:
    res = json.loads(netns.run([sys.executable, "-c", NO_VNET_OFFLOADS], timeout=30).stdout)
    assert res["hlen"] == 0, res  # no offloads: the TAP has no virtio-net header
    assert res["partial"] == ["a partial checksum"], res
    assert res["gso"] == [1000, 1000, 560] and res["gso_payload"], res
    assert res["syn_ack"] >= 1, res
    assert res["csum_errors"] == 0, res
    assert res["counts"] == [3, 3, 0], res
