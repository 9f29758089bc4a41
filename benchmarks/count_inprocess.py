"""Instructions per packet on the in-process path, counted with valgrind's callgrind.

Timing on a shared machine swings by tens of percent from run to run; an
instruction count does not: the same code on the same interpreter counts the
same every run.  This runs ``bench_inprocess.py``'s loop (its frame, skbs and
snull pair) under ``valgrind --tool=callgrind`` four times — 50 and 250
batches of 64 packets, once transmitting them and once only building the
skbs — and prints::

    ((xmit 250 - xmit 50) - (build 250 - build 50)) / (200 * 64)

the instructions the path (``dev_queue_xmit`` -> snull -> ``netif_rx`` ->
backlog -> memory stack) costs per packet, start-up and the reader's skb
allocation excluded ("with build" includes the allocation).  A fixed hash
seed and the garbage collector off keep the count stable.

Run: ``python benchmarks/count_inprocess.py [--kind udp64|tcp1500] [--napi]``
(about a minute; needs ``valgrind``: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BATCH = 64
WARMUP = 20
SHORT, LONG = 50, 250


def loop(mode: str, batches: int, kind: str, napi: bool) -> None:
    """What valgrind runs: ``batches`` batches of 64, transmitted (``xmit``) or only built."""
    import bench_inprocess as b

    host, (sn0, _sn1) = b._setup(**({"use_napi": "1"} if napi else {}))
    data = b.frame(kind, sn0.dev_addr, b"\x02\0\0\0\0\1")
    xmit = host.dev_queue_xmit
    run = host.loop.run_until_idle
    rxq = host.attachment.rx["sn1"]  # type: ignore[attr-defined]
    mk = b._skb
    for _ in range(WARMUP):  # the interpreter specialises the hot code first
        for skb in [mk(data, sn0) for _ in range(BATCH)]:
            xmit(skb)
        run()
        rxq.clear()
    gc.disable()
    for _ in range(batches):
        skbs = [mk(data, sn0) for _ in range(BATCH)]
        if mode == "xmit":
            for skb in skbs:
                xmit(skb)
        run()
        rxq.clear()


def _count(mode: str, batches: int, kind: str, napi: bool) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           __file__, "--loop", mode, str(batches), "--kind", kind] + (["--napi"] if napi else [])  # fmt: skip
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
    m = re.search(r"Collected : (\d+)", out)
    if m is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out[-2000:]}")
    return int(m[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=["udp64", "tcp1500"], default="udp64")
    ap.add_argument("--napi", action="store_true", help="snull with use_napi=1")
    ap.add_argument("--loop", nargs=2, metavar=("MODE", "BATCHES"), help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.loop:
        loop(ns.loop[0], int(ns.loop[1]), ns.kind, ns.napi)
        return
    if shutil.which("valgrind") is None:
        sys.exit("count_inprocess: valgrind is not installed (apt-get install valgrind)")
    runs = [(m, n) for m in ("xmit", "build") for n in (SHORT, LONG)]
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        counts = dict(zip(runs, pool.map(lambda r: _count(*r, ns.kind, ns.napi), runs),
                          strict=True))  # fmt: skip
    packets = (LONG - SHORT) * BATCH
    xmit = (counts["xmit", LONG] - counts["xmit", SHORT]) / packets
    build = (counts["build", LONG] - counts["build", SHORT]) / packets
    label = ns.kind + (" use_napi=1" if ns.napi else "")
    print(f"{label}: {xmit - build:,.0f} instructions per packet "
          f"(with the reader's skb allocation {xmit:,.0f}; the allocation alone {build:,.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
