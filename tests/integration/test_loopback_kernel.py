"""loopback on the kernel attachment (issue 5): what the kernel sends on nlo0 comes back in."""

from __future__ import annotations

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device

pytestmark = pytest.mark.netns

CODE = r"""
import socket, time
ETH_P_ALL = 3
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
s.bind(("nlo0", 0))
s.settimeout(2)
frame = bytes.fromhex("020000000001" "020000000001" "88b5") + b"netdrv-loopback" * 4
for i in range(10):
    s.send(frame[:-1] + bytes([i]))
seen_in = 0
deadline = time.time() + 3
while time.time() < deadline and seen_in < 10:
    data, addr = s.recvfrom(4096)
    # addr[2] is the packet type: PACKET_OUTGOING (4) for our own sends, others for received.
    if data[12:14] == b"\x88\xb5" and addr[2] != socket.PACKET_OUTGOING:
        seen_in += 1
print(seen_in)
"""


def test_loopback_returns_every_frame(netns: NetNamespace) -> None:
    out = netns.netdrv("load loopback").stdout
    assert "nlo0" in out
    netns.run("ip link set nlo0 up")
    line = netns.run("ip -o link show nlo0").stdout
    assert "NOARP" in line and "UP" in line
    assert netns.python(CODE).stdout.strip() == "10"
    d = device(netns, "nlo0")
    s = d["stats"]
    assert s["tx_packets"] >= 10 and s["rx_packets"] == s["tx_packets"]
    assert d["core"]["tx_submitted"] == s["tx_packets"] + s["tx_dropped"] + s["tx_errors"]
    # The driver's MTU is 64 KiB like lo's; a TAP's largest is 65535 - 14.
    assert d["mtu"] == 65536 and "mtu 65521" in line
