"""VLAN acceleration against the kernel: tagged frames through real TAPs, both ways.

A test driver in-process on the kernel attachment has two devices joined by a
"cable" whose hardware puts the 802.1Q tag on the wire: with
NETIF_F_HW_VLAN_CTAG_TX|CTAG_RX it inserts the tag from the skb's metadata and
strips it into the metadata on receive; without, the tag is in the data all
along.  The kernel side is the same either way: the tag is in the frames the
TAP hands netdrv, and must be in the frames netdrv writes back (a virtio-net
header has no VLAN field).  The driver sees the tag in the metadata only with
the features.  Packet sockets stand in for VLAN interfaces (``ip link add …
type vlan``), which the CI machines' kernel lacks (no CONFIG_VLAN_8021Q).
"""

from __future__ import annotations

import json
import sys

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns

CABLE = r"""
import json, subprocess, sys, threading
from netdrv_core import (ETH_P_8021Q, NETDEV_TX_OK, NETIF_F_HW_VLAN_CTAG_RX,
                         NETIF_F_HW_VLAN_CTAG_TX, NetDeviceOps, alloc_netdev, dev_kfree_skb,
                         eth_hw_addr_random, eth_type_trans, ether_setup, netdev_alloc_skb,
                         netif_rx, netif_start_queue, skb_vlan_tag_present, vlan_hwaccel_put_tag)
from netdrv_core.attach.tap import KernelStack
from netdrv_core.host import Host

offload = sys.argv[1] == "1"
host = Host(KernelStack())
faults = []
host.loop.error_handler = lambda exc, cb: faults.append(repr(exc))
seen = {"tx_meta": 0, "tx_data": 0, "rx_meta": 0}
TAGGED = b"\x81\x00"

class CableOps(NetDeviceOps):
    # One end of a cable whose "hardware" puts the tag on the wire: from the skb's metadata
    # with offload, else it is in the data already; with offload it strips it on receive.
    peer = None
    def open(self, dev):
        netif_start_queue(dev)
        return 0
    def start_xmit(self, skb, dev):
        frame = skb.tobytes()
        if skb_vlan_tag_present(skb):
            seen["tx_meta"] += 1
            frame = frame[:12] + skb.vlan_all.to_bytes(4, "big") + frame[12:]
        elif frame[12:14] == TAGGED:
            seen["tx_data"] += 1
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += len(frame)
        dev_kfree_skb(skb)
        host.loop.call_soon(self.peer.netdev_ops.deliver, self.peer, frame)
        return NETDEV_TX_OK
    def deliver(self, dev, frame):
        tci = None
        if dev.features & NETIF_F_HW_VLAN_CTAG_RX and frame[12:14] == TAGGED:
            tci = int.from_bytes(frame[14:16], "big")
            frame = frame[:12] + frame[16:]
        skb = netdev_alloc_skb(dev, len(frame) + 2)
        skb.reserve(2)
        skb.put_data(frame)
        skb.protocol = eth_type_trans(skb, dev)
        if tci is not None:
            vlan_hwaccel_put_tag(skb, ETH_P_8021Q, tci)  # the unmangled name, in a class
            seen["rx_meta"] += 1
        dev.stats.rx_packets += 1
        dev.stats.rx_bytes += len(frame)
        netif_rx(skb)

def setup(dev):
    ether_setup(dev)
    eth_hw_addr_random(dev)
    dev.netdev_ops = CableOps()
    if offload:
        dev.features = dev.hw_features = dev.wanted_features = (
            NETIF_F_HW_VLAN_CTAG_TX | NETIF_F_HW_VLAN_CTAG_RX)

with host.as_current():
    a, b = alloc_netdev(None, "vc%d", setup), alloc_netdev(None, "vc%d", setup)
    host.register_netdev(a)
    host.register_netdev(b)
a.netdev_ops.peer, b.netdev_ops.peer = b, a
result = {}

def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True)

def packets():
    # A tagged frame from a packet socket on one link to one on the other.
    import socket, struct, time
    try:
        for cmd in (f"ip link set {a.name} up", f"ip link set {b.name} up"):
            sh(cmd)
        rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        rx.bind((b.name, 0))
        rx.setsockopt(263, 8, 1)  # SOL_PACKET, PACKET_AUXDATA: a tag the kernel took out
        rx.settimeout(5)
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        tx.bind((a.name, 0))
        payload = b"vlan offload" * 4
        tx.send(bytes(b.dev_addr) + bytes(a.dev_addr) + b"\x81\x00\x60\x05\x88\xb5" + payload)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data, anc, _flags, _addr = rx.recvmsg(4096, 1024)
            tci = None
            for level, typ, val in anc:
                if level == 263 and typ == 8:
                    status, _l, _s, _m, _n, vtci = struct.unpack_from("IIIHHH", val)
                    if status & 0x10:  # TP_STATUS_VLAN_VALID
                        tci = vtci
            if tci is None and data[12:14] == b"\x81\x00":
                tci, data = int.from_bytes(data[14:16], "big"), data[:12] + data[16:]
            if data[12:14] == b"\x88\xb5" and data[14:] == payload:
                result["tci"] = tci
                break
    except OSError as exc:
        result["error"] = repr(exc)
    finally:
        result["done"] = True

t = threading.Thread(target=packets)
t.start()
host.loop.run_until(lambda: "done" in result, timeout=60)
t.join(5)
print(json.dumps({**result, **seen, "faults": faults,
                  "features": [a.features, b.features]}))
"""


def run_cable(ns: NetNamespace, offload: bool) -> dict:
    res = ns.run([sys.executable, "-c", CABLE, "1" if offload else "0"],
                 timeout=90)  # fmt: skip
    return json.loads(res.stdout.splitlines()[-1])


@pytest.mark.parametrize("offload", [True, False], ids=["ctag-offload", "no-offload"])
def test_a_tagged_frame_crosses_the_driver_between_packet_sockets(netns_factory, offload) -> None:
    res = run_cable(netns_factory(), offload)
    assert not res["faults"] and "error" not in res, res
    assert res["tci"] == 3 << 13 | 5, res  # the kernel got the tag back, priority and all
    if offload:
        assert (res["tx_meta"], res["tx_data"], res["rx_meta"]) == (1, 0, 1), res
    else:
        assert (res["tx_meta"], res["tx_data"], res["rx_meta"]) == (0, 1, 0), res
