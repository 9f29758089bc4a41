"""The in-process driver path: snull transmit -> peer receive on the memory attachment.

What one packet costs in Python, with no kernel in the way: the frame is put
into an skb as the TAP reader would (allocate + copy), handed to the core
(``dev_queue_xmit`` -> qdisc -> snull ``start_xmit``), snull rewrites the MAC,
flips both addresses and updates the IP and UDP/TCP checksums incrementally,
takes a buffer from its pool, the peer receives the skb itself (veth-like: its
IP header is aligned, so no copy; ``eth_type_trans``'s work, statistics,
``netif_rx``) and gives the buffer back, the TX-done completes the
transmission, and the backlog delivers the skb to the stack.  Packets go in batches of 64 (one NAPI/backlog round), so the
loop's own wake-up is amortised as it is on the kernel attachment.

Rows:

* UDP, 64-byte payload: target <= 1.5 us per packet; the baseline is the bare
  allocate-and-copy floor (``SkBuff`` + copy of the same frame), measured in
  the same run — the ratio says how many "copies" the whole path costs;
* TCP, 1448-byte payload (a full 1500-byte MTU frame): informational;
* UDP-64 with NAPI reception (``use_napi=1``): informational.

Run: ``python benchmarks/bench_inprocess.py [--quick]`` (no privileges needed).
"""

from __future__ import annotations

import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import check, main, row

from netdrv_core import Host, SkBuff
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.checksum import ip_compute_csum
from netdrv_core.loop import EventLoop
from netdrv_core.params import parse_params

COMMAND = "python benchmarks/bench_inprocess.py"
TARGET_US = 1.5
BATCH = 64
HEADROOM = 34  # what the TAP reader reserves (NET_SKB_PAD + NET_IP_ALIGN)
# CPU time of this thread: a busy neighbour on a shared machine does not inflate it.
CLOCK = time.thread_time


def _ipv4(src: bytes, dst: bytes, proto: int, l4: bytearray) -> bytes:
    total = 20 + len(l4)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, proto, 0, src, dst))
    ip[10:12] = ip_compute_csum(ip).to_bytes(2, "big")
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    off = 6 if proto == 17 else 16
    l4[off : off + 2] = ip_compute_csum(pseudo + bytes(l4)).to_bytes(2, "big")
    return bytes(ip + l4)


def frame(kind: str, dst_mac: bytes, src_mac: bytes) -> bytes:
    """An Ethernet frame 198.18.0.1 -> 198.18.0.2 with valid checksums."""
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    if kind == "udp64":
        payload = bytes(range(64))
        l4 = bytearray(struct.pack("!HHHH", 40000, 5201, 8 + len(payload), 0) + payload)
        pkt = _ipv4(src, dst, 17, l4)
    else:
        payload = bytes(i & 0xFF for i in range(1448))
        l4 = bytearray(struct.pack("!HHIIBBHHH", 40000, 5201, 1, 1, 0x80, 0x10, 512, 0, 0)
                       + bytes([1, 1, 8, 10]) + bytes(8) + payload)  # fmt: skip
        pkt = _ipv4(src, dst, 6, l4)
    return dst_mac + src_mac + b"\x08\x00" + pkt


def _setup(**params: str) -> tuple[Host, list]:
    from netdrv_snull.driver import Snull

    host = Host(MemoryStack(), EventLoop())
    words = ["configure=0", *(f"{k}={v}" for k, v in params.items())]
    drv = Snull(host, parse_params("snull", Snull.parameters, words))
    with host.as_current():
        drv.init()
    for dev in drv.devices:
        host.attachment.up(dev)  # type: ignore[attr-defined]
    return host, drv.devices


def _skb(data: bytes, dev: object) -> SkBuff:
    # Exactly what KernelStack._on_readable does with a frame it has read.
    size = HEADROOM + len(data)
    skb = SkBuff(size)
    skb.buf[HEADROOM:] = data
    skb.data = skb.mac_header = HEADROOM
    skb.tail = size
    skb.network_header = HEADROOM + 14
    skb.protocol = 0x0800
    skb.dev = dev  # type: ignore[assignment]
    return skb


def pipeline_us(kind: str, packets: int, repeats: int, *, with_alloc: bool = False,
                **params: str) -> tuple[float, int]:  # fmt: skip
    """Best CPU time per packet through snull (us), and packets delivered in the last repeat.

    Without ``with_alloc`` the skbs of a batch are built before the clock starts
    (the path measured is snull xmit -> peer rx); with it, building them — what
    the TAP reader does — is included.
    """
    host, (sn0, sn1) = _setup(**params)
    data = frame(kind, sn0.dev_addr, b"\x02\0\0\0\0\1")
    xmit = host.dev_queue_xmit
    run_until_idle = host.loop.run_until_idle
    rxq = host.attachment.rx["sn1"]  # type: ignore[attr-defined]
    rounds = packets // BATCH
    best = float("inf")
    delivered = 0
    batch = range(BATCH)
    try:
        for _ in range(repeats):
            rxq.clear()
            before = sn1.stats.rx_packets
            spent = 0.0
            for _ in range(rounds):
                if with_alloc:
                    t0 = CLOCK()
                    for _ in batch:
                        xmit(_skb(data, sn0))
                else:
                    skbs = [_skb(data, sn0) for _ in batch]
                    t0 = CLOCK()
                    for skb in skbs:
                        xmit(skb)
                run_until_idle()
                spent += CLOCK() - t0
                rxq.clear()
            best = min(best, spent / (rounds * BATCH))
            delivered = sn1.stats.rx_packets - before
    finally:
        host.close()
        host.loop.close()
    return best * 1e6, delivered


def floor_us(kind: str, packets: int, repeats: int) -> float:
    """Allocate a buffer and copy the frame into it, nothing else (us per packet)."""
    data = frame(kind, bytes(6), bytes(6))
    size = HEADROOM + len(data)
    sink: list[bytearray] = []
    best = float("inf")
    batch = range(BATCH)
    for _ in range(repeats):
        t0 = CLOCK()
        for _ in range(packets // BATCH):
            for _ in batch:
                buf = bytearray(size)
                buf[HEADROOM:] = data
                sink.append(buf)
            sink.clear()
        best = min(best, (CLOCK() - t0) / (packets // BATCH * BATCH))
    return best * 1e6


def run(quick: bool = False) -> list[dict]:
    """Measure the rows described in the module docstring."""
    packets = 12_800 if quick else 64_000
    repeats = 3 if quick else 7
    rows = []
    floor = floor_us("udp64", packets, repeats)
    us, got = pipeline_us("udp64", packets, repeats)
    assert got == packets // BATCH * BATCH, f"only {got} packets delivered"
    rows.append(row(
        "snull xmit -> peer rx, UDP 64-byte payload (memory attachment)", us, "us/packet",
        floor, "allocate + copy floor", us / floor, f"<= {TARGET_US} us/packet",
        check(us, "<=", TARGET_US), COMMAND, target_value=TARGET_US, target_op="<=",
        target_on="figure", note=f"{1 / us:.2f} Mpps on one core = {us / floor:.1f}x the bare "
        "allocate+copy of the same frame (CPU time, batches of 64)",
    ))  # fmt: skip
    us_alloc, _ = pipeline_us("udp64", packets, repeats, with_alloc=True)
    rows.append(row("the same, including the reader's skb allocation and copy", us_alloc,
                    "us/packet", floor, "allocate + copy floor", us_alloc / floor, "—", None,
                    COMMAND))  # fmt: skip
    floor = floor_us("tcp1500", packets, repeats)
    us, _ = pipeline_us("tcp1500", packets, repeats)
    rows.append(row("snull xmit -> peer rx, TCP 1500-byte frame", us, "us/packet", floor,
                    "allocate + copy floor", us / floor, "—", None, COMMAND,
                    note=f"{1514 * 8 / us / 1000:.2f} Gbit/s of 1500-byte frames on one core"))  # fmt: skip
    us_napi, _ = pipeline_us("udp64", packets, repeats, use_napi="1")
    rows.append(row("UDP-64 with NAPI reception (use_napi=1)", us_napi, "us/packet", floor,
                    "allocate + copy floor", us_napi / floor, "—", None, COMMAND))  # fmt: skip
    return rows


if __name__ == "__main__":
    main(run, f"In-process driver path  ({COMMAND})")
