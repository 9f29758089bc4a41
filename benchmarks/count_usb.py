"""Instructions per frame through the usbnet driver and a simulated adapter (valgrind).

``bench_usb.py``'s four "through the usbnet driver" rows are wall time of
several threads (the driver's reader and writer, the event loop, the
simulated device's work in the pyusb calls), which a shared machine makes
swing by a factor of two.  This runs the same traffic under ``valgrind
--tool=callgrind``, which counts the instructions of **every thread** of the
process — the loop, the bulk IN reader, the bulk OUT writer, the interrupt
reader, and the simulated adapter's framing and decoding that run inside
them — and prints, for each row::

    (count(LONG bursts) - count(SHORT bursts)) / (frames in LONG - SHORT)

so start-up, binding and tear-down cancel out.  Receive: bursts of 256
1514-byte frames injected on the simulated cable (``wire_rx_many``) until the
interface has them; transmit: bursts of 256 sent on the interface until the
cable has them — as ``bench_usb.py`` does.  Both adapters at USB 3 super
speed.  A fixed hash seed, the garbage collector off and idle readers that
do not wake every 100 ms (``RX_POLL_MS`` raised for the count: under
valgrind's ~50x slowdown their wake-ups would add instructions in proportion
to the wall time) keep counts steady; what still varies is where the threads
happen to switch (a few tenths of a percent).  Every run also checks that
nothing was lost: each frame reached the other side and the interface's
counters say so, none dropped or in error.

Run: ``python benchmarks/count_usb.py [--kind cdc_ncm-rx ...]`` (all four
rows by default; a few minutes; needs ``valgrind``: ``apt-get install
valgrind``).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

BURST = 256
WARMUP = 4
SHORT, LONG = 4, 24
KINDS = ("cdc_ncm-rx", "cdc_ncm-tx", "ax88179-rx", "ax88179-tx")


def loop(kind: str, bursts: int) -> None:
    """What valgrind runs: ``bursts`` bursts of 256 frames one way through the driver."""
    import bench_usb as b
    import netdrv_usbnet.core

    # The idle reader (the bulk IN one while transmitting, the interrupt one always) wakes
    # every RX_POLL_MS to look at its stop flag: under valgrind's slowdown that would add
    # instructions in proportion to the wall time, which a busy machine stretches.  Unload
    # wakes the readers anyway (the simulated adapter is pulled).
    netdrv_usbnet.core.RX_POLL_MS = 3_600_000
    sim, way = kind.split("-")
    host, drv, dev, model = b.driver_setup(sim)
    try:
        frame = dev.dev_addr + b.PEER + b"\x08\x00" + bytes(b.FRAME_LEN - 14)
        rxq = host.attachment.rx[dev.name]  # type: ignore[attr-defined]
        until = host.loop.run_until
        send = host.attachment.send  # type: ignore[attr-defined]
        st = model.stats
        for n in range(WARMUP + bursts):
            if n == WARMUP:
                gc.disable()
            if way == "rx":
                model.wire_rx_many([frame] * BURST)
                if not until(lambda: len(rxq) >= BURST, 60):
                    raise RuntimeError(f"{kind}: {len(rxq)}/{BURST} frames received")
                rxq.clear()
            else:
                want = st.wire_tx_frames + BURST
                for _ in range(BURST):
                    send(dev, frame)
                if not until(_reached(st, want), 60):
                    raise RuntimeError(f"{kind}: {st.wire_tx_frames}/{want} frames on the cable")
        _check_accounting(kind, host, dev, model, (WARMUP + bursts) * BURST)
    finally:
        b.driver_teardown(host, drv)


def _reached(stats: Any, want: int) -> Callable[[], bool]:
    """Whether the simulated cable has carried ``want`` frames."""
    return lambda: stats.wire_tx_frames >= want


def _check_accounting(kind: str, host: Any, dev: Any, model: Any, frames: int) -> None:
    """Nothing lost: every frame came through, and the counters say so."""
    un, st, ms = dev.priv, dev.stats, model.stats
    got: tuple[int, ...]
    want: tuple[int, ...]
    if kind.endswith("-rx"):
        got = (ms.wire_rx_frames, st.rx_packets, st.rx_errors + st.rx_dropped)
        want = (frames, frames, 0)
    else:
        host.loop.run_until(lambda: un.tx_inflight == 0, 60)  # the writer's last completions
        got = (ms.wire_tx_frames, st.tx_packets, st.tx_errors + st.tx_dropped, un.tx_inflight)
        want = (frames, frames, 0, 0)
    if got != want:
        raise RuntimeError(f"{kind}: frames lost: (cable, interface, errors+dropped[, in "
                           f"flight]) = {got}, want {want}")  # fmt: skip


def _count(kind: str, bursts: int) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           __file__, "--loop", kind, str(bursts)]  # fmt: skip
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    m = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode or m is None:
        raise RuntimeError(f"{kind}: valgrind failed (exit {out.returncode}):\n"
                           f"{out.stderr[-3000:]}")  # fmt: skip
    return int(m[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=KINDS, action="append",
                    help="a row to count (repeatable; default: all four)")  # fmt: skip
    ap.add_argument("--loop", nargs=2, metavar=("KIND", "BURSTS"), help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.loop:
        loop(ns.loop[0], int(ns.loop[1]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("count_usb: valgrind is not installed (apt-get install valgrind)")
    kinds = ns.kind or list(KINDS)
    runs = [(k, n) for k in kinds for n in (SHORT, LONG)]
    with ThreadPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:
        counts = dict(zip(runs, pool.map(lambda r: _count(*r), runs), strict=True))
    frames = (LONG - SHORT) * BURST
    for k in kinds:
        per = (counts[k, LONG] - counts[k, SHORT]) / frames
        print(f"{k}: {per:,.0f} instructions per frame (all threads)")


if __name__ == "__main__":
    main()
