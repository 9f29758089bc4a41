"""The command line and the daemon: start-up time, memory, and no growth under traffic.

Rows:

* ``netdrv drivers`` wall time with every plugin installed: target <= 0.3 s;
  baseline: ``python -c pass`` (the interpreter's own start-up), same run,
  best of several;
* the daemon's resident memory (VmRSS of the pid ``netdrv status --json``
  reports) with snull loaded, after a warm-up of traffic: target <= 60 MB;
  baseline: a bare interpreter's VmRSS;
* its growth while a million packets go through snull (UDP datagrams
  198.18.0.1 -> 198.18.0.2, i.e. out sn0 and in sn1, sent with a window so
  that none is dropped before snull sees it): target <= 1 MB.  ``--quick``
  sends 200 000;
* informational: ``netdrv load snull`` wall time until it returns (the
  interfaces exist, up, with their addresses) in a fresh namespace, the
  daemon's start included, and again with the daemon running; baseline: the
  same two interfaces made by ``ip`` commands (a veth pair, addresses, up);
* informational: what an idle daemon with snull loaded costs — wake-ups per
  second (context switches of all its threads) and CPU over a few seconds.

Run as root: ``python benchmarks/bench_cli.py [--quick]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PY,
    check,
    cpu_seconds,
    daemon_pid,
    error_row,
    have_netns,
    main,
    median,
    namespace,
    netdrv_status,
    row,
    vm_rss_kb,
)

COMMAND = "python benchmarks/bench_cli.py"
PACKETS = 1_000_000
WARMUP = 20_000

# Sends `count` 64-byte datagrams 198.18.0.1 -> 198.18.0.2 (out sn0, back in sn1 as
# 198.18.1.1 -> 198.18.1.2) with at most `window` in flight, so the TUN queue never
# overflows and every one of them passes through snull.
FLOOD = r"""
import socket, sys
count, window = int(sys.argv[1]), int(sys.argv[2])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
rx.bind(("198.18.1.2", 9100))
rx.settimeout(1.0)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.bind(("198.18.0.1", 0))
tx.connect(("198.18.0.2", 9100))
payload = bytes(64)
buf = bytearray(2048)
sent = got = lost = 0
send, recv_into = tx.send, rx.recv_into
while got + lost < count:
    while sent < count and sent - got - lost < window:
        send(payload)
        sent += 1
    try:
        recv_into(buf)
        got += 1
    except TimeoutError:
        lost += sent - got - lost
print(got, lost, flush=True)
"""


def _wall(cmd: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def _netdrv_argv() -> list[str]:
    script = Path(PY).parent / "netdrv"
    return [str(script)] if script.exists() else [PY, "-m", "netdrv_core.cli"]


def startup_rows(quick: bool) -> list[dict]:
    """``netdrv drivers`` against ``python -c pass``, interleaved."""
    repeats = 5 if quick else 11
    argv = _netdrv_argv()
    drivers = json.loads(subprocess.run([*argv, "drivers", "--json"], capture_output=True,
                                        text=True, check=True).stdout)  # fmt: skip
    t_cli, t_py = [], []
    for _ in range(repeats):
        t_cli += _wall([*argv, "drivers"], 1)
        t_py += _wall([PY, "-c", "pass"], 1)
    fig, base = min(t_cli), min(t_py)
    names = ", ".join(d.get("name", "?") for d in drivers) if isinstance(drivers, list) else "?"
    return [row(f"`netdrv drivers` wall time ({len(drivers)} plugins: {names})", fig, "s", base,
                "python -c pass", fig / base, "<= 0.3 s", check(fig, "<=", 0.3), COMMAND,
                target_value=0.3, target_op="<=", target_on="figure",
                note=f"best of {repeats}; median {median(t_cli):.3f} s (python -c pass: "
                f"{median(t_py):.3f} s); command: {' '.join(Path(a).name for a in argv)} drivers")]  # fmt: skip


def _bare_rss_mb() -> float:
    out = subprocess.run([PY, "-c", "print(open('/proc/self/status').read())"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    line = next(ln for ln in out.splitlines() if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def memory_rows(quick: bool) -> list[dict]:
    """Daemon VmRSS with snull loaded, and its growth over a million packets."""
    count = 200_000 if quick else PACKETS
    names = ("daemon RSS with snull loaded", f"daemon RSS growth over {count} packets")
    ok, why = have_netns()
    if not ok:
        return [error_row(n, COMMAND, why) for n in names]
    bare = _bare_rss_mb()
    with namespace("m") as ns:
        ns.netdrv("load snull")
        pid = daemon_pid(ns)
        loaded = vm_rss_kb(pid) / 1024

        def flood(n: int) -> tuple[int, int, float]:
            t0 = time.monotonic()
            res = ns.run([PY, "-c", FLOOD, str(n), "256"], timeout=600)
            got, lost = (int(x) for x in res.stdout.split())
            return got, lost, time.monotonic() - t0

        def sn0_tx() -> int:
            d = next(x for x in netdrv_status(ns)["devices"] if x["name"] == "sn0")
            return int(d["stats"]["tx_packets"])

        flood(WARMUP)
        before = vm_rss_kb(pid) / 1024
        tx0 = sn0_tx()
        got, lost, secs = flood(count)
        through = sn0_tx() - tx0
        after = vm_rss_kb(pid) / 1024
        peak = _vm_hwm_kb(pid) / 1024
    growth = after - before
    return [
        row("daemon RSS with snull loaded (after a warm-up of 20 000 packets)", before, "MB", bare,
            "a bare python interpreter", before / bare, "<= 60 MB", check(before, "<=", 60),
            COMMAND, target_value=60.0, target_op="<=", target_on="figure",
            note=f"{loaded:.1f} MB right after `netdrv load snull`; peak (VmHWM) {peak:.1f} MB"),
        row(f"daemon RSS growth over {through} packets through snull", growth, "MB", before,
            "RSS before", after / before, "<= 1 MB", check(growth, "<=", 1.0), COMMAND,
            target_value=1.0, target_op="<=", target_on="figure",
            note=f"{got} UDP datagrams delivered, {lost} lost, in {secs:.1f} s "
            f"({got / secs / 1000:.0f} kpps with a 256-packet window); RSS {before:.2f} -> "
            f"{after:.2f} MB"),
    ]  # fmt: skip


IP_PAIR = ("ip link add vb0 type veth peer name vb1 && ip addr add 198.18.40.1/24 dev vb0 && "
           "ip addr add 198.18.41.2/24 dev vb1 && ip link set vb0 up && ip link set vb1 up && "
           "ip link del vb0")  # fmt: skip


def load_rows(quick: bool) -> list[dict]:
    """``netdrv load snull`` wall time (cold and warm) against ip commands, and the idle cost."""
    ok, why = have_netns()
    if not ok:
        return [error_row("`netdrv load snull` wall time", COMMAND, why)]
    repeats = 3 if quick else 5
    argv = _netdrv_argv()
    cold, warm, base = [], [], []
    for _ in range(repeats):
        with namespace("l") as ns:
            t0 = time.perf_counter()
            ns.run([*argv, "load", "snull"])
            cold.append(time.perf_counter() - t0)
            ns.run([*argv, "unload", "snull"])
            ns.run([*argv, "load", "loopback"])  # keeps the daemon running
            t0 = time.perf_counter()
            ns.run([*argv, "load", "snull"])
            warm.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ns.run(["sh", "-c", IP_PAIR])
            base.append(time.perf_counter() - t0)
    with namespace("i") as ns:
        ns.run([*argv, "load", "snull"])
        pid = daemon_pid(ns)
        time.sleep(0.5)
        secs = 2.0 if quick else 5.0
        sw0, cpu0 = _switches(pid), cpu_seconds(pid)
        time.sleep(secs)
        sw1, cpu1 = _switches(pid), cpu_seconds(pid)
    c, w, b = min(cold), min(warm), min(base)
    wakeups = (sw1 - sw0) / secs
    return [
        row("`netdrv load snull` wall time, daemon started on demand", c, "s", b,
            "ip: a veth pair with addresses, up", c / b, "—", None, COMMAND,
            note=f"best of {repeats}; returns once sn0/sn1 are up with their addresses"),
        row("`netdrv load snull` wall time, daemon already running", w, "s", b,
            "ip: a veth pair with addresses, up", w / b, "—", None, COMMAND,
            note=f"best of {repeats}"),
        row("idle daemon with snull loaded: wake-ups per second", wakeups, "/s", None, "", None,
            "—", None, COMMAND,
            note=f"context switches of all its threads over {secs:g} s; CPU "
            f"{(cpu1 - cpu0) / secs * 100:.3f} % of a CPU"),
    ]  # fmt: skip


def _switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def _vm_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run(quick: bool = False) -> list[dict]:
    """Measure the rows described in the module docstring."""
    rows: list[dict] = []
    try:
        rows += startup_rows(quick)
    except Exception as exc:
        rows.append(error_row("`netdrv drivers` wall time", COMMAND, exc))
    try:
        rows += memory_rows(quick)
    except Exception as exc:
        rows.append(error_row("daemon RSS", COMMAND, f"{type(exc).__name__}: {exc}"))
    try:
        rows += load_rows(quick)
    except Exception as exc:
        rows.append(
            error_row("`netdrv load snull` wall time", COMMAND, f"{type(exc).__name__}: {exc}")
        )
    return rows


if __name__ == "__main__":
    main(run, f"CLI start-up and daemon memory  ({COMMAND})")
