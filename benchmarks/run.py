"""Run every benchmark, print one table, write results.json and the chart.

Each ``benchmarks/bench_*.py`` runs in a subprocess of its own (its
``run(quick)``), with a timeout, so one that fails or hangs does not stop
the others: it shows up as a failed row with its error.  Namespaces a killed
benchmark left behind are swept after it.

    python benchmarks/run.py                 # everything (~4 minutes; as root)
    python benchmarks/run.py --quick         # shorter runs (~1-2 minutes)
    python benchmarks/run.py --only inprocess,usb,slip,kiss
    python benchmarks/run.py --list
    python benchmarks/run.py --replot        # redraw the chart from results.json
    python benchmarks/run.py --markdown      # results.json as the table of docs/performance.md
    python benchmarks/run.py --markdown --docs docs/performance.md   # ...written into the page

Writes ``benchmarks/results/results.json`` (``--out``) and the bar chart
``docs/assets/performance.png`` (``--png``; needs matplotlib:
``pip install -e '.[bench]'``).  Exit status 1 when a benchmark could not run
(crashed, timed out); missed targets are results, not errors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import NS_PREFIX, ROOT, RUN_TAG, print_rows, sweep_namespaces

HERE = Path(__file__).resolve().parent

# Cheapest first: a slow one at the end cannot hold up the quick ones.
ORDER = ("inprocess", "usb", "slip", "kiss", "cli", "serial_link", "snull_kernel")
TIMEOUT = {"quick": 240, "full": 600}
SCHEMA = 1
MARGIN_MAX = 1000.0  # "met by a factor of 1000 or more" (e.g. no memory growth at all)
CHART_MAX = 10.0  # bars are clipped here so that the near misses stay readable
_RUNNER = """
import json, sys
sys.path.insert(0, {here!r})
import {module} as m
rows = m.run(quick={quick!r})
with open({out!r}, "w") as f:
    json.dump(rows, f)
"""


def available() -> list[str]:
    """Benchmark names (``bench_NAME.py``), in run order."""
    names = sorted(p.stem[len("bench_") :] for p in HERE.glob("bench_*.py"))
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


def run_one(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    """Run ``bench_NAME.run(quick)`` in a subprocess; never raises."""
    script = HERE / f"bench_{name}.py"
    t0 = time.monotonic()
    result: dict[str, Any] = {"name": name, "script": str(script.relative_to(ROOT)),
                              "ok": False, "seconds": 0.0, "error": None, "rows": []}  # fmt: skip
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as tmp:
        out = tmp.name
    code = _RUNNER.format(here=str(HERE), module=f"bench_{name}", quick=quick, out=out)
    env = {**os.environ, "NETDRV_BENCH_TAG": RUN_TAG}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
                            start_new_session=True)  # fmt: skip
    try:
        log, _ = proc.communicate(timeout=timeout)
        if proc.returncode == 0:
            with open(out) as f:
                result["rows"] = json.load(f)
            result["ok"] = True
        else:
            result["error"] = f"exited {proc.returncode}:\n{log[-3000:]}"
    except subprocess.TimeoutExpired:
        _kill(proc)
        result["error"] = f"timed out after {timeout:.0f} s"
    except Exception as exc:  # unreadable output and the like
        _kill(proc)
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        Path(out).unlink(missing_ok=True)
        left = sweep_namespaces(NS_PREFIX)
        if left:
            result["swept_namespaces"] = left
    result["seconds"] = round(time.monotonic() - t0, 1)
    if result["ok"] and any(r.get("error") for r in result["rows"]):
        result["ok"] = False
        result["error"] = "; ".join(r["error"].splitlines()[-1] for r in result["rows"]
                                    if r.get("error"))  # fmt: skip
    if not result["rows"]:
        result["rows"] = [{"name": f"{name}: could not run", "figure": None, "unit": "",
                           "baseline": None, "baseline_name": "", "ratio": None, "target": "",
                           "passed": False, "command": f"python {result['script']}",
                           "error": result["error"] or "no rows"}]  # fmt: skip
    return result


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the benchmark's process group (its cleanup runs), then SIGKILL."""
    import signal

    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.communicate(timeout=wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "loadavg_start": _loadavg()}  # fmt: skip


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# -- targets, for the chart ------------------------------------------------------------------
_TARGET = re.compile(r"(>=|<=|≥|≤)\s*([0-9.]+)")


def target_of(r: dict[str, Any]) -> tuple[str, float, str] | None:
    """(op, value, on) of a row's target, from its explicit fields or its text (on the ratio)."""
    if r.get("target_value") is not None:
        return r["target_op"], float(r["target_value"]), r.get("target_on", "ratio")
    m = _TARGET.search(r.get("target") or "")
    if not m:
        return None
    op = {"≥": ">=", "≤": "<="}.get(m.group(1), m.group(1))
    return op, float(m.group(2)), "ratio"


def margin(r: dict[str, Any]) -> float | None:
    """How far a row is from its target: >= 1 means met (1.25 = 25 % better than needed)."""
    t = target_of(r)
    if t is None:
        return None
    op, value, on = t
    v = r.get("figure") if on == "figure" else r.get("ratio")
    if v is None or value == 0:
        return None
    m = v / value if op == ">=" else (value / v if v > 0 else MARGIN_MAX)
    return min(m, MARGIN_MAX)


def chart(results: dict[str, Any], path: Path) -> str | None:
    """The bar chart: each row's distance to its target; returns an error or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no chart"
    items = []
    for r in results["rows"]:
        m = margin(r)
        if m is None or r.get("passed") is None:
            continue
        items.append((r, m))
    if not items:
        return "no row with a target to chart"
    items.reverse()  # matplotlib draws barh bottom-up; keep the table's order top-down
    height = max(4.0, 0.42 * len(items) + 1.6)
    fig, ax = plt.subplots(figsize=(12, height))
    ys = range(len(items))
    colours = ["#2e7d32" if r["passed"] else "#c62828" for r, _ in items]
    # Bars grow from the target line: right of it the target is met, left of it missed.
    shown_m = [min(m, CHART_MAX) for _, m in items]
    ax.barh(list(ys), [m - 1 for m in shown_m], left=1.0, color=colours, height=0.6, zorder=2)
    ax.axvline(1.0, color="black", linewidth=1.2, zorder=3)
    ax.set_xscale("log")
    lo = min(0.5, min(shown_m) / 1.5)
    hi = max(2.0, max(shown_m)) * 8
    ax.set_xlim(lo, hi)
    ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if lo <= t <= hi]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    labels = []
    for r, _m in items:
        name = r["name"] if len(r["name"]) <= 72 else r["name"][:70] + "…"
        labels.append(f"[{r['benchmark']}] {name}")
    ax.set_yticks(list(ys), labels, fontsize=8)
    for y, (r, m) in zip(ys, items, strict=True):
        op, value, on = target_of(r)  # type: ignore[misc]
        shown = r["figure"] if on == "figure" else r["ratio"]
        unit = r["unit"] if on == "figure" else "x"
        clipped = " »" if m > CHART_MAX else ""
        ax.text(max(min(m, CHART_MAX), 1.0) * 1.06, y,
                f"{shown:g} {unit}{clipped}  (target {op} {value:g} {unit})",
                va="center", fontsize=7.5, zorder=4)  # fmt: skip
    ax.set_xlabel("measured vs target, normalised so that > 1 meets it (log scale)")
    when = results["started"][:16].replace("T", " ")
    m_ = results["machine"]
    ax.set_title(f"netdrv benchmarks{' (quick run)' if results['quick'] else ''}: ratio vs "
                 f"target, baselines measured in the same run\n{when} UTC · {m_['cpus']} CPUs "
                 f"{m_['cpu']} · Linux {m_['kernel']} · Python {m_['python']}",
                 fontsize=10)  # fmt: skip
    ax.grid(axis="x", which="both", alpha=0.3, zorder=0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _num(x: Any) -> str:
    return "—" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def markdown_table(results: dict[str, Any]) -> str:
    """The rows of a results file as the Markdown table of docs/performance.md."""
    out = ["| benchmark (reproduce: `python benchmarks/<script> [--quick]`) | figure | "
           "baseline (same run) | ratio | target | met |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in results["rows"]:
        base = "—" if r.get("baseline") is None else f"{_num(r['baseline'])} ({r['baseline_name']})"
        ratio = "—" if r.get("ratio") is None else f"{_num(r['ratio'])}\u00d7"
        met = {True: "**yes**", False: "**no**", None: "info"}[r["passed"]]
        script = f"bench_{r['benchmark']}.py"
        name = r["name"].replace("|", "\\|")
        out.append(f"| `{script}`: {name} | {_num(r['figure'])} {r['unit']} | {base} | {ratio} | "
                   f"{r.get('target') or '—'} | {met} |")  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="shorter runs (~1-2 minutes in all)")
    ap.add_argument("--only", help="comma-separated benchmark names (see --list)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "results.json")
    ap.add_argument("--png", type=Path, default=ROOT / "docs" / "assets" / "performance.png")
    ap.add_argument("--no-png", action="store_true", help="do not draw the chart")
    ap.add_argument("--timeout", type=float, help="seconds per benchmark (default 240/600)")
    ap.add_argument(
        "--replot", action="store_true", help="only redraw the chart from an existing --out file"
    )
    ap.add_argument(
        "--markdown",
        action="store_true",
        help="print the figures of an existing --out file as the docs' Markdown table",
    )
    ap.add_argument("--docs", type=Path, metavar="PAGE",
                    help="with --markdown: write the table into PAGE between its "
                    "<!-- figures:start --> and <!-- figures:end --> markers")  # fmt: skip
    ns = ap.parse_args(argv)
    if (ns.markdown or ns.replot) and not ns.out.exists():
        ap.error(f"no results in {ns.out} yet: run `python benchmarks/run.py` first")
    if ns.markdown:
        table = markdown_table(json.loads(ns.out.read_text()))
        if ns.docs is None:
            print(table)
            return 0
        page = ns.docs.read_text()
        start, end = "<!-- figures:start -->", "<!-- figures:end -->"
        if start not in page or end not in page:
            ap.error(f"{ns.docs} has no {start} ... {end} markers")
        head, rest = page.split(start, 1)
        ns.docs.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}")
        print(f"table written into {ns.docs}")
        return 0
    names = available()
    if ns.list:
        print("\n".join(names))
        return 0
    if ns.replot:
        results = json.loads(ns.out.read_text())
        for r in results["rows"]:
            r["margin"] = None if (m := margin(r)) is None else round(m, 3)
        err = chart(results, ns.png)
        if err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        ns.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"chart in {ns.png}")
        return 0
    if ns.only:
        wanted = [n.strip().removeprefix("bench_").removesuffix(".py") for n in ns.only.split(",")]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")
        names = [n for n in names if n in wanted]
    timeout = ns.timeout or TIMEOUT["quick" if ns.quick else "full"]
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": ns.quick,
        "command": "python benchmarks/run.py"
        + (" --quick" if ns.quick else "")
        + (f" --only {','.join(names)}" if ns.only else ""),
        "machine": _machine(),
        "benchmarks": [],
        "rows": [],
    }
    t0 = time.monotonic()
    for name in names:
        print(f"== {name} ...", flush=True)
        res = run_one(name, ns.quick, timeout)
        results["benchmarks"].append(res)
        status = "ok" if res["ok"] else f"ERROR: {str(res['error']).splitlines()[-1][:200]}"
        print(f"   {name}: {res['seconds']} s, {status}", flush=True)
        for r in res["rows"]:
            results["rows"].append({"benchmark": name, **r})
    results["seconds"] = round(time.monotonic() - t0, 1)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"]["loadavg_end"] = _loadavg()
    rows = results["rows"]
    for r in rows:
        r["margin"] = None if (m := margin(r)) is None else round(m, 3)
    results["summary"] = {
        "passed": sum(r["passed"] is True for r in rows),
        "failed": sum(r["passed"] is False for r in rows),
        "info": sum(r["passed"] is None for r in rows),
        "errors": sum(not b["ok"] for b in results["benchmarks"]),
    }
    results["png"] = None
    if not ns.no_png:
        err = chart(results, ns.png)
        if err:
            print(f"warning: {err}", file=sys.stderr)
            results["png_error"] = err
        else:
            try:
                results["png"] = str(ns.png.resolve().relative_to(ROOT))
            except ValueError:
                results["png"] = str(ns.png)
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(results, indent=2) + "\n")
    table = [{**r, "name": f"[{r['benchmark']}] {r['name']}"} for r in rows]
    print_rows(table, f"netdrv benchmarks{' (quick)' if ns.quick else ''}  "
                      f"({results['command']})")  # fmt: skip
    s = results["summary"]
    print(
        f"{s['passed']} met, {s['failed']} not met, {s['info']} informational, "
        f"{s['errors']} benchmark(s) with errors; {results['seconds']} s; "
        f"results in {ns.out}" + (f", chart in {results['png']}" if results["png"] else "")
    )
    return 1 if s["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
