"""Smoke test of the benchmark runner: it runs, isolates benchmarks, writes its JSON.

Benchmarks are not timed tests: only the shape of the results is checked here,
never a figure.  The cheap in-process benchmarks are run with ``--quick``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHEAP = ("inprocess", "usb", "slip", "kiss")
ROW_KEYS = {"name", "figure", "unit", "baseline", "baseline_name", "ratio", "target", "passed",
            "command"}  # fmt: skip


def test_run_quick_writes_results_with_the_expected_keys(tmp_path: Path) -> None:
    out, png = tmp_path / "results.json", tmp_path / "performance.png"
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only",
         ",".join(CHEAP), "--out", str(out), "--png", str(png)],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )  # fmt: skip
    assert out.exists(), f"no results.json\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    data = json.loads(out.read_text())
    # 1 means a benchmark could not run (its rows say why): the JSON must be complete anyway.
    assert res.returncode in (0, 1), res.stderr[-3000:]
    assert {"schema", "started", "finished", "quick", "command", "machine", "benchmarks", "rows",
            "summary", "png", "seconds"} <= data.keys()  # fmt: skip
    assert data["quick"] is True
    assert [b["name"] for b in data["benchmarks"]] == list(CHEAP)
    for b in data["benchmarks"]:
        assert {"name", "script", "ok", "seconds", "error", "rows"} <= b.keys()
        assert b["rows"] and (b["ok"] or b["error"]), b
    assert len(data["rows"]) == sum(len(b["rows"]) for b in data["benchmarks"])
    for r in data["rows"]:
        assert ROW_KEYS | {"benchmark", "margin"} <= r.keys(), r
        assert r["passed"] in (True, False, None)
        assert r["benchmark"] in CHEAP and r["command"].startswith("python benchmarks/")
    # Every row of the target benchmarks has a target the chart can read.
    targeted = [r for r in data["rows"] if r["passed"] is not None and not r.get("error")]
    assert targeted and all(r["margin"] is not None for r in targeted)
    s = data["summary"]
    assert s["passed"] + s["failed"] + s["info"] == len(data["rows"])
    assert s["errors"] == sum(not b["ok"] for b in data["benchmarks"])
    assert (s["errors"] > 0) == (res.returncode == 1)
    # The chart is drawn when matplotlib is installed (the `bench` extra), else skipped with a reason.
    assert (data["png"] is not None and png.stat().st_size > 0) or "matplotlib" in data["png_error"]
    # The docs' table comes from the same file: one line per row, with its script and verdict.
    md = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--markdown", "--out",
                         str(out)], capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    lines = md.stdout.splitlines()
    assert len(lines) == 2 + len(data["rows"])
    for line, r in zip(lines[2:], data["rows"], strict=True):
        assert line.startswith(f"| `bench_{r['benchmark']}.py`: ")
        assert line.endswith(
            {True: "| **yes** |", False: "| **no** |", None: "| info |"}[r["passed"]]
        )
    page = tmp_path / "page.md"
    page.write_text("before\n<!-- figures:start -->\nold\n<!-- figures:end -->\nafter\n")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--markdown", "--out",
                    str(out), "--docs", str(page)], timeout=60, check=True)  # fmt: skip
    assert page.read_text() == (
        f"before\n<!-- figures:start -->\n{md.stdout.rstrip()}\n<!-- figures:end -->\nafter\n"
    )


def test_a_failing_benchmark_does_not_stop_the_others() -> None:
    spec = importlib.util.spec_from_file_location(
        "netdrv_bench_run", ROOT / "benchmarks" / "run.py"
    )
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    bad = runner.run_one("does_not_exist", quick=True, timeout=60)
    assert not bad["ok"] and bad["error"] and bad["rows"][0]["passed"] is False
    good = runner.run_one("inprocess", quick=True, timeout=120)
    assert good["ok"] and good["rows"]
