"""A minimal Python forwarder on veth pairs + AF_PACKET rings (the TAP floor's rival).

Same contract as ``_forwarder.py``: run inside a namespace of its own,
``python benchmarks/_forwarder_packet.py [--offload] [--batch N]`` (N frames
per port and pass, 64 by default), prints ``ready``, SIGUSR1 makes it busy
poll and SIGUSR2 makes it sleep again.  The user-visible
interfaces fa0/fa1 carry snull's addresses and MACs, so 198.18.0.2 goes out
fa0 and comes back in fa1 as 198.18.1.2 (same routing trick).

The difference is the attachment: fa0/fa1 are veth ends, and the process owns
their peers fp0/fp1 (same namespace, no addresses, IPv6 disabled, so the
stack ignores them: the frames they receive carry fa0's/fa1's MAC, are
PACKET_OTHERHOST there and are dropped by ``ip_rcv`` right after the packet
socket has seen them).  One AF_PACKET socket per peer (bound to ETH_P_IP,
so it sits in ``ptype_base``, not ``ptype_all``: no tap on transmit), with

* a PACKET_RX_RING (TPACKET_V2: one status word per frame, any number of
  frames read per wake-up without a system call),
* a PACKET_TX_RING in the same mmap, filled by the loop and kicked with one
  ``send(b"", MSG_DONTWAIT)`` per batch,
* PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, PACKET_LOSS,
* ``--offload``: PACKET_VNET_HDR (virtio-net header before every frame on
  both rings, as on the TAP with IFF_VNET_HDR); fa0/fa1 keep veth's
  TSO/checksum offloads.  Without it, checksum offload (and so TSO and SG)
  is turned off on fa0/fa1 with SIOCETHTOOL, like a TAP without
  TUNSETOFFLOAD, so every frame carries finished checksums.

Per frame, the work of ``_forwarder.py``: MAC rewrite and ``flip_ipv4``,
done in place in the RX ring, then copied to a TX ring slot.

Busy polling (SIGUSR1) spins on the rings' status words: no syscall at all
while idle; sleeping, it waits in ``epoll_wait``.

Two variants measured while this was written lost and are not kept (see
docs/performance.md): one ``send()`` per frame instead of the TX ring (-25 %
packets/s), and TPACKET_V3 blocks, whose retire timer (1 ms at least) makes a
ping take about 0.9 ms.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import select
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

try:
    from netdrv_snull.ipv4 import flip_ipv4
except ImportError:  # a checkout without an editable install
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "plugins")]
    from netdrv_snull.ipv4 import flip_ipv4

MACS = (bytes.fromhex("00534e554c30"), bytes.fromhex("00534e554c31"))
ADDRS = ("198.18.0.1/24", "198.18.1.2/24")

SOL_PACKET = 263
PACKET_RX_RING, PACKET_VERSION, PACKET_TX_RING, PACKET_LOSS = 5, 10, 13, 14
PACKET_VNET_HDR, PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING = 15, 20, 23
TPACKET_V2 = 1
TP_STATUS_KERNEL, TP_STATUS_USER, TP_STATUS_SEND_REQUEST = 0, 1, 1
TP_STATUS_WRONG_FORMAT = 4
ETH_P_IP = 0x0800
TX_DATA = 32  # TPACKET2_HDRLEN - sizeof(sockaddr_ll): where a TX frame's data starts

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO = 0x17, 0x19, 0x1F, 0x24


def ethtool_set(ifname: str, cmd: int, value: int) -> None:
    """A legacy ``ETHTOOL_S*`` (struct ethtool_value) on ``ifname``."""
    ev = ctypes.create_string_buffer(struct.pack("II", cmd, value))
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(ev)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)


class Port:
    """An AF_PACKET socket on a veth peer with an RX ring and a TX ring in one mmap."""

    def __init__(self, ifname: str, offload: bool, frame: int, rx_frames: int, tx_frames: int,
                 block: int) -> None:  # fmt: skip
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.sock = s
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        if offload:  # before the rings: the kernel refuses it (EBUSY) once they exist
            s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        s.setsockopt(SOL_PACKET, PACKET_LOSS, 1)
        try:
            s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            pass  # < 4.20; ETH_P_IP binding and qdisc bypass keep our own frames away anyway
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.frame = frame
        self.rx_frames = rx_frames
        # tpacket_req: block_size, block_nr, frame_size, frame_nr (with a TX ring, every
        # send() goes through it: tpacket_snd)
        for opt, n in ((PACKET_RX_RING, rx_frames), (PACKET_TX_RING, tx_frames)):
            s.setsockopt(SOL_PACKET, opt, struct.pack("4I", block, n * frame // block, frame, n))
        self.tx_frames = tx_frames
        s.bind((ifname, ETH_P_IP))
        s.setblocking(False)
        self.rx_size = rx_frames * frame
        self.mm = mmap.mmap(s.fileno(), self.rx_size + tx_frames * frame, mmap.MAP_SHARED,
                            mmap.PROT_READ | mmap.PROT_WRITE)  # fmt: skip
        self.mv = memoryview(self.mm)
        self.rx = 0  # next RX frame
        self.tx = 0  # next TX frame
        self.hole = -1  # an RX slot found empty while the next one was ready
        self.pending: list[int] = []  # RX slots skipped while not ready


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def setup_links(offload: bool) -> None:
    for i in range(2):
        ip("link", "add", f"fa{i}", "type", "veth", "peer", "name", f"fp{i}")
        for dev in (f"fa{i}", f"fp{i}"):
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1"], check=True)
        if not offload:  # as a TAP without TUNSETOFFLOAD: finished checksums, no TSO, no SG
            for cmd in (ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SSG, ETHTOOL_STXCSUM):
                ethtool_set(f"fa{i}", cmd, 0)
        ip("link", "set", f"fa{i}", "address", MACS[i].hex(":"), "arp", "off")
        ip("link", "set", f"fp{i}", "arp", "off", "up")
        ip("link", "set", f"fa{i}", "up")
        ip("addr", "add", ADDRS[i], "dev", f"fa{i}")


def main() -> None:
    args = sys.argv[1:]
    offload = "--offload" in args
    batch = int(args[args.index("--batch") + 1]) if "--batch" in args else 64
    setup_links(offload)
    if offload:  # room for a 64 KiB TSO super-frame + headers in one frame
        frame, block, rx_frames, tx_frames = 1 << 16, 1 << 17, 256, 256
    else:
        frame, block, rx_frames, tx_frames = 2048, 1 << 16, 2048, 4096
    ports = [Port(f"fp{i}", offload, frame, rx_frames, tx_frames, block) for i in range(2)]
    h = 10 if offload else 0
    spin = [False]
    signal.signal(signal.SIGUSR1, lambda *_: spin.__setitem__(0, True))
    signal.signal(signal.SIGUSR2, lambda *_: spin.__setitem__(0, False))
    ep = select.epoll()
    for p in ports:
        ep.register(p.sock.fileno(), select.EPOLLIN)
    print("ready", flush=True)
    loop(ports, h, spin, ep, batch)


def loop(ports: list[Port], h: int, spin: list[bool], ep: select.epoll, batch: int) -> None:
    """Forward between the two ports forever, up to ``batch`` frames per port and pass."""
    unpack_from, pack_into = struct.unpack_from, struct.pack_into
    frame = ports[0].frame
    rx_n, tx_n = ports[0].rx_frames, ports[0].tx_frames
    tx_base = ports[0].rx_size
    macs = (MACS[1] + MACS[0], MACS[0] + MACS[1])  # (dst, src) for frames leaving fp1 / fp0
    dontwait = socket.MSG_DONTWAIT
    sides = [(ports[0], ports[1], macs[0]), (ports[1], ports[0], macs[1])]

    def forward(mm: mmap.mmap, mv: memoryview, off: int, dst: Port, mac: bytes) -> int:
        """Forward the RX frame at ``off`` to ``dst``; 1 if it took a TX ring slot."""
        _, n, snap, mac_off = unpack_from("=IIIH", mm, off)
        d = off + mac_off
        if snap < n:
            return 0  # truncated: the ring's frames are sized so that this does not happen
        if n < 34 or mm[d + 12] != 0x08 or mm[d + 13]:
            return 0  # IPv4 only, like snull
        mv[d : d + 12] = mac
        partial = -1
        if h and mm[d - 10] & 1:  # NEEDS_CSUM: the L4 field holds the pseudo-header sum
            cs, co = unpack_from("=HH", mm, d - 4)
            partial = d + cs + co
        try:
            flip_ipv4(mm, d + 14, d + n, partial)
        except ValueError:
            return 0
        t = dst.tx
        omm = dst.mm
        toff = tx_base + t * frame
        st = omm[toff]
        if st and st != TP_STATUS_WRONG_FORMAT:  # still in flight: the skb holds the slot
            return 0  # dropped: the ring is sized to outlast the receiver's queue
        dst.mv[toff + TX_DATA : toff + TX_DATA + h + n] = mv[d - h : d + n]
        pack_into("=II", omm, toff, TP_STATUS_SEND_REQUEST, h + n)
        dst.tx = t + 1 if t + 1 < tx_n else 0
        return 1

    while True:
        busy = False
        for src, dst, mac in sides:
            mm = src.mm
            mv = src.mv
            i = src.rx
            sent = 0
            pending = src.pending
            if pending:  # slots skipped earlier that the kernel has handed over since
                for k in list(pending):
                    off = k * frame
                    if mm[off] & TP_STATUS_USER:
                        sent += forward(mm, mv, off, dst, mac)
                        pack_into("=I", mm, off, TP_STATUS_KERNEL)
                        pending.remove(k)
                        busy = True
            for _ in range(batch):
                off = i * frame
                if not mm[off] & TP_STATUS_USER:
                    # The slot is not ready but the next one is: frames complete out of order
                    # when two CPUs deliver at once (the copy of a big frame takes long).  After
                    # one pass, go on and remember the slot, or the ring stalls: the kernel
                    # fills the ring, then drops everything.
                    nxt = i + 1 if i + 1 < rx_n else 0
                    if mm[nxt * frame] & TP_STATUS_USER:
                        if src.hole == i:
                            src.hole = -1
                            pending.append(i)
                            i = nxt
                            continue
                        src.hole = i
                    break
                if pending and i in pending:
                    pending.remove(i)
                sent += forward(mm, mv, off, dst, mac)
                pack_into("=I", mm, off, TP_STATUS_KERNEL)
                i = i + 1 if i + 1 < rx_n else 0
                busy = True
            src.rx = i
            if sent:
                try:
                    dst.sock.send(b"", dontwait)
                except OSError:
                    pass
        if not busy and not spin[0]:
            ep.poll(-1)


if __name__ == "__main__":
    main()
