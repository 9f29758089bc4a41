"""SLIP codec benchmark against sliplib, measured in the same run.

Rows (ratio = sliplib time / our time unless stated):

* decode, fed one byte at a time (target >= 10x; sliplib re-scans its buffer
  on every byte, so it gets fewer frames and per-frame times are compared);
* decode, whole buffer (target >= 1.5x);
* per-frame decode time at 1k / 10k / 100k frames, fed in 4 KiB reads
  (target: time per frame at 100k <= 1.5x the time at 1k);
* encode (target >= 1.0x).

Run: ``python benchmarks/bench_slip.py [--quick]``. Figures are best of a few
repeats (time.perf_counter); nothing here is asserted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sliplib
from _common import best, random_frames
from netdrv_serial.codecs import SlipDecoder, SlipEncoder  # importable once _common ran

COMMAND = "python benchmarks/bench_slip.py"
FRAME = 1500


def _frames(n: int, size: int = FRAME, seed: int = 1) -> list[bytes]:
    return random_frames(n, size, seed=seed, stride=977)


def _wire(frames: list[bytes]) -> bytes:
    enc = SlipEncoder(mtu=FRAME)
    return b"".join(enc.encode(f) for f in frames)


def _ours_feed(chunks: list[bytes], expect: int) -> Callable[[], None]:
    def run() -> None:
        dec = SlipDecoder(mtu=FRAME)
        feed = dec.feed
        n = 0
        for c in chunks:
            n += len(feed(c))
        assert n == expect, (n, expect)

    return run


def _sliplib_feed(chunks: list[bytes], expect: int) -> Callable[[], None]:
    def run() -> None:
        drv = sliplib.Driver()
        receive, get = drv.receive, drv.get
        n = 0
        for c in chunks:
            receive(c)
            while get(block=False) is not None:
                n += 1
        assert n == expect, (n, expect)

    return run


def _row(name: str, figure: float, unit: str, baseline: float, baseline_name: str, ratio: float,
         target: str, passed: bool) -> dict:  # fmt: skip
    return {
        "name": name,
        "figure": round(figure, 3),
        "unit": unit,
        "baseline": round(baseline, 3),
        "baseline_name": baseline_name,
        "ratio": round(ratio, 2),
        "target": target,
        "passed": passed,
        "command": COMMAND,
    }


def bench_bytewise(quick: bool) -> dict:
    ours_n, theirs_n = (40, 4) if quick else (300, 20)
    frames = _frames(ours_n)
    wire = _wire(frames)
    ours = best(_ours_feed([wire[i : i + 1] for i in range(len(wire))], ours_n), 3) / ours_n
    wire = _wire(frames[:theirs_n])
    theirs = best(
        _sliplib_feed([wire[i : i + 1] for i in range(len(wire))], theirs_n), 2 if quick else 3
    )
    theirs /= theirs_n
    ratio = theirs / ours
    return _row(f"decode {FRAME}-byte frames fed 1 byte at a time", ours * 1e3, "ms/frame", theirs * 1e3,
                f"sliplib {sliplib_version()} Driver", ratio, ">= 10x", ratio >= 10)  # fmt: skip


def bench_whole(quick: bool) -> dict:
    n = 2000 if quick else 10_000
    wire = _wire(_frames(n))
    ours = best(_ours_feed([wire], n), 3 if quick else 5)
    theirs = best(_sliplib_feed([wire], n), 3 if quick else 5)
    ratio = theirs / ours
    return _row(f"decode {n}x{FRAME}-byte frames in one buffer", ours * 1e3, "ms", theirs * 1e3,
                f"sliplib {sliplib_version()} Driver", ratio, ">= 1.5x", ratio >= 1.5)  # fmt: skip


def bench_scaling(quick: bool) -> list[dict]:
    size = 256
    counts = (1000, 10_000, 100_000)
    per_frame = {}
    for n in counts:
        wire = _wire(_frames(n, size))
        chunks = [wire[i : i + 4096] for i in range(0, len(wire), 4096)]
        repeats = 3 if (quick or n == counts[-1]) else 5
        if n == counts[0]:
            repeats *= 4  # short run: more repeats to tame noise
        per_frame[n] = best(_ours_feed(chunks, n), repeats) / n
    rows = []
    base = per_frame[counts[0]]
    for n in counts[1:]:
        ratio = per_frame[n] / base
        rows.append(_row(f"decode time per {size}-byte frame at {n // 1000}k frames (4 KiB reads)",
                         per_frame[n] * 1e6, "us/frame", base * 1e6, "ours at 1k frames", ratio,
                         "<= 1.5x (constant per frame)", ratio <= 1.5))  # fmt: skip
    return rows


def bench_encode(quick: bool) -> dict:
    n = 5000 if quick else 20_000
    frames = _frames(n)
    enc = SlipEncoder(mtu=FRAME)
    with sliplib.use_leading_end_byte(True):
        drv = sliplib.Driver()
    assert drv.send(frames[0]) == enc.encode(frames[0])  # same bytes on the wire

    def ours() -> None:
        e = enc.encode
        for f in frames:
            e(f)

    def theirs() -> None:
        s = drv.send
        for f in frames:
            s(f)

    reps = 5 if quick else 9
    t_ours, t_theirs = [], []
    for _ in range(reps):  # interleaved, so drifting clocks hit both alike
        t_ours.append(best(ours, 1))
        t_theirs.append(best(theirs, 1))
    o, t = min(t_ours), min(t_theirs)
    mbps = n * FRAME / o / 1e6
    ratio = t / o
    return _row(f"encode {n}x{FRAME}-byte frames ({mbps:.0f} MB/s)", o * 1e3, "ms", t * 1e3,
                f"sliplib {sliplib_version()} Driver.send", ratio, ">= 1.0x", ratio >= 1.0)  # fmt: skip


def sliplib_version() -> str:
    try:
        from importlib.metadata import version

        return version("sliplib")
    except Exception:  # pragma: no cover - metadata missing
        return "?"


def run(quick: bool = False) -> list[dict]:
    """Run every measurement; return one dict per row (see the module docstring)."""
    rows = [bench_bytewise(quick), bench_whole(quick)]
    rows += bench_scaling(quick)
    rows.append(bench_encode(quick))
    return rows


def _print(rows: list[dict]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for r in rows:
            ok = "PASS" if r["passed"] else "FAIL"
            print(f"{ok}  {r['name']}: {r['figure']} {r['unit']} vs {r['baseline']} "
                  f"({r['baseline_name']}) ratio {r['ratio']} target {r['target']}")  # fmt: skip
        return
    table = Table(title=f"SLIP codec vs sliplib  ({COMMAND})")
    for col in ("benchmark", "ours", "baseline", "ratio", "target", ""):
        table.add_column(col, justify="left" if col in ("benchmark", "target") else "right")
    for r in rows:
        table.add_row(r["name"], f"{r['figure']} {r['unit']}", f"{r['baseline']} ({r['baseline_name']})",
                      f"{r['ratio']}x", r["target"], "[green]pass" if r["passed"] else "[red]FAIL")  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    t0 = time.perf_counter()
    _print(run(quick="--quick" in sys.argv[1:] or os.environ.get("BENCH_QUICK") == "1"))
    print(f"total {time.perf_counter() - t0:.1f} s")
