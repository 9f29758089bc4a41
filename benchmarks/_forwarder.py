"""A minimal Python TAP forwarder: snull's data path with nothing of netdrv around it.

The floor of "a Python process in the path": two TAP interfaces fa0/fa1 with
snull's addresses and MACs, one epoll loop, each frame read, its MACs
rewritten, both addresses flipped with snull's own ``flip_ipv4`` (checksums
updated incrementally), written to the other TAP.  No skb, no driver, no
pool, no interrupts, no statistics.  ``--offload`` adds the virtio-net header
with checksum/TSO offload, as snull's ``offload=1``.

SIGUSR1 makes it busy poll (``epoll_wait`` with a zero timeout, as netdrv's
``busy_poll``), SIGUSR2 makes it sleep in ``epoll_wait`` again.

Run inside a namespace of its own: ``python benchmarks/_forwarder.py [--offload]``;
prints ``ready`` once 198.18.0.2 can be pinged.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
from pathlib import Path

try:
    from netdrv_snull.ipv4 import flip_ipv4

    from netdrv_core.attach import ioctl
except ImportError:  # a checkout without an editable install
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "plugins")]
    from netdrv_snull.ipv4 import flip_ipv4

    from netdrv_core.attach import ioctl

IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
MACS = (bytes.fromhex("00534e554c30"), bytes.fromhex("00534e554c31"))
ADDRS = ("198.18.0.1/24", "198.18.1.2/24")


def tap(name: str, offload: bool) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if offload else 0)
    fcntl.ioctl(fd, ioctl.TUNSETIFF, struct.pack("16sH22x", name.encode(), flags))
    if offload:
        fcntl.ioctl(fd, ioctl.TUNSETVNETHDRSZ, struct.pack("i", 10))
        fcntl.ioctl(fd, ioctl.TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
    return fd


def main() -> None:
    offload = "--offload" in sys.argv[1:]
    fds = [tap(f"fa{i}", offload) for i in range(2)]
    for i in range(2):
        subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.fa{i}.disable_ipv6=1"], check=True)
        subprocess.run(["ip", "link", "set", f"fa{i}", "address", MACS[i].hex(":"), "arp", "off",
                        "up"], check=True)  # fmt: skip
        subprocess.run(["ip", "addr", "add", ADDRS[i], "dev", f"fa{i}"], check=True)
    # fd -> (fd to write to, destination MAC, source MAC)
    peer = {fds[0]: (fds[1], MACS[1], MACS[0]), fds[1]: (fds[0], MACS[0], MACS[1])}
    h = 10 if offload else 0  # the virtio-net header before each frame
    buf = bytearray(70_000)
    mv = memoryview(buf)
    ep = select.epoll()
    for fd in fds:
        ep.register(fd, select.EPOLLIN)
    spin = [False]
    signal.signal(signal.SIGUSR1, lambda *_: spin.__setitem__(0, True))
    signal.signal(signal.SIGUSR2, lambda *_: spin.__setitem__(0, False))
    print("ready", flush=True)
    while True:
        for fd, _ in ep.poll(0 if spin[0] else -1):
            out, dst, src = peer[fd]
            for _ in range(64):
                try:
                    n = os.readv(fd, [buf])
                except BlockingIOError:
                    break
                if n < h + 34 or buf[h + 12] != 0x08 or buf[h + 13]:
                    continue  # IPv4 only, like snull
                buf[h : h + 6] = dst
                buf[h + 6 : h + 12] = src
                partial = -1
                if h and buf[0] & 1:  # NEEDS_CSUM: the L4 field holds the pseudo-header sum
                    cs, co = struct.unpack_from("=HH", buf, 6)
                    partial = h + cs + co
                try:
                    flip_ipv4(buf, h + 14, n, partial)
                except ValueError:
                    continue
                try:
                    os.write(out, mv[:n])
                except OSError:
                    pass


if __name__ == "__main__":
    main()
