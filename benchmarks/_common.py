"""Helpers shared by the benchmark scripts: result rows, the table, namespaces, timing.

Every benchmark script exposes ``run(quick: bool = False) -> list[dict]``; each
dict is one row with the keys of :data:`ROW_KEYS`.  The optional keys
``target_value``/``target_op``/``target_on`` make the target machine-readable
(``run.py`` draws the chart from them); ``note`` carries what a reader needs to
judge the figure (e.g. the average frame size that proves TSO happened).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
try:
    import netdrv_core  # noqa: F401
except ImportError:  # running from a checkout without an editable install
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

ROW_KEYS = ("name", "figure", "unit", "baseline", "baseline_name", "ratio", "target", "passed",
            "command")  # fmt: skip
PY = sys.executable
# Namespaces made by one run of the benchmarks share this tag, so run.py can sweep
# away whatever a killed benchmark left behind.
RUN_TAG = os.environ.setdefault("NETDRV_BENCH_TAG", uuid.uuid4().hex[:4])
NS_PREFIX = f"ndb{RUN_TAG}"


def row(
    name: str, figure: float, unit: str, baseline: float | None, baseline_name: str,
    ratio: float | None, target: str, passed: bool | None, command: str, *,
    target_value: float | None = None, target_op: str | None = None, target_on: str = "ratio",
    note: str = "", digits: int = 3,
) -> dict[str, Any]:  # fmt: skip
    """One result row (``passed`` None: informational, no target)."""
    r: dict[str, Any] = {
        "name": name,
        "figure": _round(figure, digits),
        "unit": unit,
        "baseline": _round(baseline, digits),
        "baseline_name": baseline_name,
        "ratio": _round(ratio, 3),
        "target": target,
        "passed": passed,
        "command": command,
    }
    if target_value is not None:
        r["target_value"] = target_value
        r["target_op"] = target_op
        r["target_on"] = target_on
    if note:
        r["note"] = note
    return r


def _round(v: float | None, digits: int) -> float | None:
    if v is None:
        return None
    if v == 0 or abs(v) >= 10 ** (digits - 1):
        return round(v, 1) if abs(v) < 1e6 else round(v)
    from math import floor, log10

    return round(v, max(0, digits - 1 - floor(log10(abs(v)))))


def check(value: float, op: str, target: float) -> bool:
    """``value op target`` for op in '>=', '<='."""
    return value >= target if op == ">=" else value <= target


def error_row(name: str, command: str, exc: BaseException | str) -> dict[str, Any]:
    """A row for a measurement that could not be made (counted as failed)."""
    r = row(name, float("nan"), "", None, "", None, "", False, command)
    r["figure"] = None
    r["error"] = str(exc)[-2000:]
    return r


def best(fn: Callable[[], Any], repeats: int) -> float:
    """Fastest of ``repeats`` timed calls, in seconds."""
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def random_frames(n: int, size: int, seed: int, stride: int) -> list[bytes]:
    """``n`` reproducible random payloads of ``size`` bytes, cut from one pool at ``stride``.

    About one byte in 128 is a SLIP/KISS END or ESC, so the codecs' escapes are exercised.
    """
    import random

    pool = random.Random(seed).randbytes(size * 64)
    return [pool[(i * stride) % (size * 63) :][:size] for i in range(n)]


def median(values: list[float]) -> float:
    """The median (robust against a noisy neighbour)."""
    return statistics.median(values)


# -- output ---------------------------------------------------------------------------------
def fmt(v: Any) -> str:
    """A number for the table."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def print_rows(rows: list[dict[str, Any]], title: str) -> None:
    """Print the rows as a table (rich when available)."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        for r in rows:
            ok = {True: "PASS", False: "FAIL", None: "info"}[r["passed"]]
            print(f"{ok}  {r['name']}: {fmt(r['figure'])} {r['unit']} vs {fmt(r['baseline'])} "
                  f"({r['baseline_name']}) ratio {fmt(r['ratio'])} target {r['target']}")  # fmt: skip
        return
    from rich.markup import escape

    table = Table(title=title, show_lines=True)
    table.add_column("benchmark", ratio=3, overflow="fold")
    table.add_column("figure", justify="right", ratio=1)
    table.add_column("baseline", justify="right", ratio=1)
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column("target", ratio=1)
    table.add_column("", no_wrap=True)
    for r in rows:
        status = {True: "[green]pass", False: "[red]FAIL", None: "[dim]info"}[r["passed"]]
        base = (f"{fmt(r['baseline'])} ({escape(r['baseline_name'])})" if r["baseline_name"]
                else "—")  # fmt: skip
        name = escape(r["name"]) + (f"\n[dim]{escape(r['note'])}" if r.get("note") else "")
        if r.get("error"):
            name += f"\n[red]{escape(r['error'].strip().splitlines()[-1][:300])}"
        ratio = f"{fmt(r['ratio'])}x" if r["ratio"] is not None else "—"
        table.add_row(name, f"{fmt(r['figure'])} {escape(r['unit'])}", base, ratio,
                      escape(r["target"]), status)  # fmt: skip
    Console(width=max(150, Console().width)).print(table)


def main(run: Callable[[bool], list[dict[str, Any]]], title: str) -> None:
    """``__main__`` of a benchmark: ``[--quick] [--json PATH]``; prints the table."""
    args = sys.argv[1:]
    quick = "--quick" in args or os.environ.get("BENCH_QUICK") == "1"
    out = args[args.index("--json") + 1] if "--json" in args else None
    t0 = time.perf_counter()
    rows = run(quick)
    if out:
        Path(out).write_text(json.dumps(rows, indent=2))
    print_rows(rows, title)
    print(f"total {time.perf_counter() - t0:.1f} s")


# -- namespaces and processes -------------------------------------------------------------
_cleanups: list[Callable[[], None]] = []


def _run_cleanups() -> None:
    while _cleanups:
        fn = _cleanups.pop()
        with contextlib.suppress(Exception):
            fn()


def _on_signal(signum: int, _frame: Any) -> None:
    _run_cleanups()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_handlers_installed = False


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_run_cleanups)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(sig, _on_signal)


def on_cleanup(fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn`` at exit or on SIGTERM even if the benchmark fails; returns a canceller."""
    _install_handlers()
    _cleanups.append(fn)

    def cancel() -> None:
        with contextlib.suppress(ValueError):
            _cleanups.remove(fn)

    return cancel


def have_netns() -> tuple[bool, str]:
    """Whether namespaces can be made here (root, ip, /dev/net/tun)."""
    from netdrv_core.testing import netns_available

    return netns_available()


@contextlib.contextmanager
def namespace(tag: str = "") -> Iterator[Any]:
    """A fresh network namespace (with loopback up), deleted with everything in it."""
    from netdrv_core.testing import NetNamespace

    ns = NetNamespace(prefix=f"{NS_PREFIX}{tag}")
    cancel = on_cleanup(ns.delete)
    try:
        yield ns
    finally:
        cancel()
        ns.delete()


def sweep_namespaces(prefix: str = NS_PREFIX) -> list[str]:
    """Delete namespaces (and what runs in them) left behind by a killed benchmark."""
    res = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    gone = []
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(prefix):
            continue
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
        for p in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(p), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        gone.append(name)
    return gone


def daemon_pid(ns: Any) -> int:
    """pid of the netdrv daemon of ``ns`` (from ``netdrv status --json``)."""
    return int(json.loads(ns.netdrv("status --json").stdout)["pid"])


def cpu_seconds(pid: int) -> float:
    """CPU seconds of all the process's threads (schedstat: nanoseconds, not 10 ms ticks)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def vm_rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def netdrv_status(ns: Any) -> dict[str, Any]:
    """``netdrv status --json`` in ``ns``."""
    return json.loads(ns.netdrv("status --json").stdout)


def stop_proc(p: subprocess.Popen[Any], timeout: float = 5) -> None:
    """Terminate a child we started, then kill it if it lingers."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
