"""snull through the kernel against a kernel veth pair, measured in the same run.

Setup (all in namespaces made here, 198.18.0.0/15 addresses only):

* veth: two namespaces joined by a veth pair, 198.18.20.1 <-> 198.18.20.2,
  iperf3 server in the second;
* snull: a namespace with ``netdrv load snull`` (sn0 198.18.0.1, sn1
  198.18.1.2; 198.18.0.2 goes out sn0 and comes back in sn1 as 198.18.1.2):
  iperf3 server bound to 198.18.1.2, the client bound to 198.18.0.1 sends to
  198.18.0.2.

Rows (veth, snull and the floor take turns, ``rounds`` times; the best round
of each is kept, so a busy neighbour costs every side alike):

* TCP bulk, snull with offloads (``offload=1``, the default: TSO/checksum
  through the virtio-net header): target >= 0.8x veth.  The note shows the
  average frame snull forwarded (~64 KiB proves the kernel handed over TSO
  super-frames) and the daemon's CPU per 64 KiB;
* TCP bulk without offloads (``offload=0``): informational;
* TCP bulk through snull's NAPI receive (``use_napi=1 offload=0``) with GRO
  on against GRO off (``netdrv ethtool -K sn1 gro off``), informational;
* UDP, 64-byte payload, packets delivered per second, snull ``offload=0``:
  target >= 0.5x veth;
* ping RTT (median of 100 at 10 ms intervals), snull ``offload=0``:
  target <= 2.5x veth;
* ping RTT at 0.5 ms intervals, informational: the idle gaps are too short
  for the caches to cool — the difference to veth is what the daemon's two
  passes cost, the rest of the 10 ms figure is waking from idle;
* UDP and ping again with the daemon busy polling (``netdrv sysctl
  busy_poll=50000``): it spins on ``epoll_wait`` instead of sleeping between
  frames, trading a busy CPU for the wake-up latency (the note shows the CPU);
* the floor, informational: the same three measurements, in the same
  rounds, through ``benchmarks/_forwarder.py``, a minimal Python TAP forwarder
  doing snull's per-frame work (MAC rewrite, address flip, checksums) with
  nothing of netdrv around it — what any Python process in the path costs;
* the floor of another attachment, informational: the same forwarder on
  veth pairs whose peers it reads and writes through AF_PACKET rings
  (``benchmarks/_forwarder_packet.py``: TPACKET_V2 receive ring, a transmit
  ring kicked once per batch) — what replacing TAP would buy.

Run as root: ``python benchmarks/bench_snull_kernel.py [--quick]``.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
    stop_proc,
)

COMMAND = "python benchmarks/bench_snull_kernel.py"
VETH_A, VETH_B = "198.18.20.1", "198.18.20.2"
SN_LOCAL, SN_REMOTE, SN_SERVER = "198.18.0.1", "198.18.0.2", "198.18.1.2"
PING_COUNT = 100
PING_INTERVAL = 0.01
WARM_INTERVAL = 0.0005  # pings close enough that the caches stay warm in between (root only)
WARM_COUNT = 1000


class Side:
    """One path under test: where the client runs and where it sends."""

    def __init__(self, name: str, client_ns: Any, server_ns: Any, server: str, dest: str,
                 bind: str | None) -> None:  # fmt: skip
        self.name = name
        self.client_ns = client_ns
        self.server_ns = server_ns
        self.server = server
        self.dest = dest
        self.bind = bind
        self.proc: subprocess.Popen[str] | None = None

    def start_server(self) -> None:
        self.proc = self.server_ns.popen(["iperf3", "-s", "-B", self.server],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 5
        while ":5201" not in self.server_ns.run("ss -ltn").stdout:
            if time.monotonic() > deadline:
                raise RuntimeError(f"iperf3 server on {self.server} did not start")
            time.sleep(0.05)

    def stop_server(self) -> None:
        if self.proc is not None:
            stop_proc(self.proc)
            self.proc = None

    def iperf(self, seconds: float, *extra: str) -> dict[str, Any]:
        cmd = ["iperf3", "-c", self.dest, "-t", str(seconds), "--json", *extra]
        if self.bind:
            cmd += ["-B", self.bind]
        for attempt in range(3):
            res = self.client_ns.run(cmd, check=False, timeout=seconds + 30)
            try:
                out = json.loads(res.stdout)
            except json.JSONDecodeError:
                out = {"error": res.stderr or res.stdout}
            if "error" not in out:
                return out
            if "busy" not in str(out["error"]) or attempt == 2:
                raise RuntimeError(f"iperf3 on {self.name}: {out['error']}")
            time.sleep(0.5)  # the server is still finishing the previous test
        raise AssertionError("unreachable")

    def tcp_gbps(self, seconds: float) -> float:
        end = self.iperf(seconds)["end"]
        return float(end["sum_received"]["bits_per_second"]) / 1e9

    def udp_kpps(self, seconds: float) -> float:
        s = self.iperf(seconds, "-u", "-b", "0", "-l", "64")["end"]["sum"]
        return (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3

    def ping_ms(
        self, interval: float = PING_INTERVAL, count: int = PING_COUNT
    ) -> tuple[float, float]:
        """(median, min) RTT in ms."""
        cmd = ["ping", "-n", "-c", str(count), "-i", str(interval), "-W", "2", self.dest]
        res = self.client_ns.run(cmd, check=False, timeout=60)
        times = [float(t) for t in re.findall(r"time=([\d.]+) ms", res.stdout)]
        if len(times) < count // 2:
            raise RuntimeError(f"ping {self.dest} on {self.name}: {res.stdout[-300:]}{res.stderr}")
        return median(times), min(times)


def _veth(a: Any, b: Any) -> Side:
    tag = a.name[-6:]
    va, vb = f"va{tag}", f"vb{tag}"
    a.run(f"ip link add {va} type veth peer name {vb}")
    a.run(f"ip link set {vb} netns {b.name}")
    a.run(f"ip addr add {VETH_A}/24 dev {va}")
    b.run(f"ip addr add {VETH_B}/24 dev {vb}")
    a.run(f"ip link set {va} up")
    b.run(f"ip link set {vb} up")
    return Side("veth", a, b, VETH_B, VETH_B, None)


def _snull(ns: Any, offload: int, extra: str = "") -> Side:
    ns.netdrv(f"load snull offload={offload} {extra}".strip())
    return Side(f"snull offload={offload}", ns, ns, SN_SERVER, SN_REMOTE, SN_LOCAL)


BUSY_POLL_US = 50_000  # longer than the ping interval, so the daemon never sleeps between pings


def _busy(ns: Any, fn: Any) -> Any:
    """``fn()`` with the daemon busy polling (``netdrv sysctl busy_poll=...``), then back to 0."""

    def measure() -> Any:
        ns.netdrv(f"sysctl busy_poll={BUSY_POLL_US}")
        try:
            return fn()
        finally:
            ns.netdrv("sysctl busy_poll=0")

    return measure


def _sn0(ns: Any) -> dict[str, int]:
    d = next(x for x in netdrv_status(ns)["devices"] if x["name"] == "sn0")
    return d["stats"]


def _rotate(rounds: int, fns: dict[str, Any]) -> dict[str, list[Any]]:
    """Call each measurement once per round, rotating who goes first; results by name.

    Interleaving means a busy neighbour during one round costs every side alike;
    the best round of each is what is compared.
    """
    out: dict[str, list[Any]] = {k: [] for k in fns}
    keys = list(fns)
    for i in range(rounds):
        for k in keys[i % len(keys) :] + keys[: i % len(keys)]:
            out[k].append(fns[k]())
    return out


class _Forwarder:
    """A floor forwarder (``script``: benchmarks/_forwarder.py) in a namespace of its own."""

    def __init__(self, ns: Any, offload: bool, script: str | None = None) -> None:
        self.proc = ns.popen([PY, script or FORWARDER, *(["--offload"] if offload else [])],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            err = self.proc.stderr.read() if self.proc.stderr else ""
            stop_proc(self.proc)
            raise RuntimeError(f"the minimal forwarder did not start: {err}")
        self.side = Side("forwarder", ns, ns, SN_SERVER, SN_REMOTE, SN_LOCAL)
        self.side.start_server()

    def busy(self, fn: Any) -> Any:
        """``fn()`` with the forwarder busy polling, as ``netdrv sysctl busy_poll`` does."""

        def measure() -> Any:
            self.proc.send_signal(signal.SIGUSR1)
            try:
                return fn()
            finally:
                self.proc.send_signal(signal.SIGUSR2)

        return measure

    def close(self) -> None:
        self.side.stop_server()
        stop_proc(self.proc)


FORWARDER = str(Path(__file__).resolve().parent / "_forwarder.py")
FLOOR = "floor: a minimal Python TAP forwarder (benchmarks/_forwarder.py, no netdrv), "
PACKET_FORWARDER = str(Path(__file__).resolve().parent / "_forwarder_packet.py")
PACKET_FLOOR = ("floor, another attachment: veth pairs + AF_PACKET rings "
                "(benchmarks/_forwarder_packet.py), ")  # fmt: skip


def _rounds(xs: list[float], fmt: str) -> str:
    return ", ".join(format(x, fmt) for x in xs)


def _vs_veth(name: str, figure: float, unit: str, veth: float, op: str | None = None,
             target: float | None = None, note: str = "") -> dict[str, Any]:  # fmt: skip
    """A row compared with the veth pair of the same rounds; ``op``/``target`` for a target."""
    ratio = figure / veth
    if op is None or target is None:
        return row(name, figure, unit, veth, "kernel veth pair", ratio, "—", None, COMMAND,
                   note=note)  # fmt: skip
    return row(name, figure, unit, veth, "kernel veth pair", ratio, f"{op} {target}x veth",
               check(ratio, op, target), COMMAND, target_value=target, target_op=op, note=note)  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    """Measure the rows described in the module docstring."""
    ok, why = have_netns()
    names = ["TCP bulk, snull offload=1 vs veth", "UDP 64-byte pps, snull offload=0 vs veth",
             "ping RTT, snull offload=0 vs veth"]  # fmt: skip
    if not ok or shutil.which("iperf3") is None:
        why = why or "iperf3 is not installed (apt-get install iperf3)"
        return [error_row(n, COMMAND, why) for n in names]
    rounds = 1 if quick else 3
    secs = 2 if quick else 4
    rows: list[dict] = []
    with namespace("v") as va, namespace("v") as vb:
        veth = _veth(va, vb)
        veth.start_server()
        try:
            rows += _with_offload(veth, rounds, secs)
            rows += _without_offload(veth, rounds, secs)
        finally:
            veth.stop_server()
    return rows


def _with_offload(veth: Side, rounds: int, secs: float) -> list[dict]:
    name = "TCP bulk (iperf3), snull offload=1 (TSO + checksum offload)"
    try:
        with namespace("s") as ns, namespace("f") as nf, namespace("p") as np_:
            sn = _snull(ns, 1)
            sn.start_server()
            fw = _Forwarder(nf, offload=True)
            pf = _Forwarder(np_, offload=True, script=PACKET_FORWARDER)
            try:
                pid = daemon_pid(ns)
                st0, cpu0 = _sn0(ns), cpu_seconds(pid)
                got = _rotate(rounds, {"veth": lambda: veth.tcp_gbps(secs),
                                       "snull": lambda: sn.tcp_gbps(secs),
                                       "floor": lambda: fw.side.tcp_gbps(secs),
                                       "packet": lambda: pf.side.tcp_gbps(secs)})  # fmt: skip
                st1, cpu1 = _sn0(ns), cpu_seconds(pid)
            finally:
                pf.close()
                fw.close()
                sn.stop_server()
    except Exception as exc:
        return [error_row(name, COMMAND, exc)]
    frames = st1["tx_packets"] - st0["tx_packets"]
    nbytes = st1["tx_bytes"] - st0["tx_bytes"]
    avg = nbytes / max(frames, 1)
    cpu_per_64k = (cpu1 - cpu0) / max(nbytes, 1) * 65536 * 1e6
    v, s, f, pk = (max(got[k]) for k in ("veth", "snull", "floor", "packet"))
    return [
        _vs_veth(name, s, "Gbit/s", v, ">=", 0.8,
            note=f"average frame through snull {avg / 1024:.1f} KiB (TSO super-frames); daemon "
            f"CPU {cpu_per_64k:.0f} us per 64 KiB; rounds (Gbit/s): snull "
            f"{_rounds(got['snull'], '.2f')}; veth {_rounds(got['veth'], '.2f')}"),
        _vs_veth(FLOOR + "TCP with TSO/checksum offload", f, "Gbit/s", v,
                 note=f"rounds: {_rounds(got['floor'], '.2f')} Gbit/s"),
        _vs_veth(PACKET_FLOOR + "TCP with TSO/checksum offload", pk, "Gbit/s", v,
                 note=f"rounds: {_rounds(got['packet'], '.2f')} Gbit/s"),
    ]  # fmt: skip


def _without_offload(veth: Side, rounds: int, secs: float) -> list[dict]:
    rows: list[dict] = []
    # Closed in reverse order whatever happens: the forwarders, then the namespaces.
    with contextlib.ExitStack() as stack:
        try:
            ns, nf, np_ = (stack.enter_context(namespace(tag)) for tag in ("n", "f", "p"))
            sn = _snull(ns, 0)
            sn.start_server()
            fw = _Forwarder(nf, offload=False)
            stack.callback(fw.close)
            pf = _Forwarder(np_, offload=False, script=PACKET_FORWARDER)
            stack.callback(pf.close)
            pid = daemon_pid(ns)
        except Exception as exc:
            return [error_row("snull offload=0 / the minimal forwarder", COMMAND, exc)]
        # TCP without offloads: every 1500-byte frame is a trip through Python.
        name = "TCP bulk (iperf3), snull offload=0 (1500-byte frames)"
        try:
            cpu0, st0 = cpu_seconds(pid), _sn0(ns)
            s = sn.tcp_gbps(secs)
            cpu1, st1 = cpu_seconds(pid), _sn0(ns)
            v = veth.tcp_gbps(secs)
            frames = st1["tx_packets"] - st0["tx_packets"]
            us = (cpu1 - cpu0) / max(frames, 1) * 1e6
            rows.append(_vs_veth(name, s, "Gbit/s", v, note=f"daemon CPU {us:.1f} us per frame"))
        except Exception as exc:
            rows.append(error_row(name, COMMAND, exc))
        busy = f", busy_poll={BUSY_POLL_US} (netdrv sysctl)"
        name = "UDP, 64-byte payload, packets delivered (iperf3 -u -b 0 -l 64), snull offload=0"
        try:
            cpu0, st0 = cpu_seconds(pid), _sn0(ns)
            got = _rotate(rounds, {"veth": lambda: veth.udp_kpps(secs),
                                   "snull": lambda: sn.udp_kpps(secs),
                                   "busy": _busy(ns, lambda: sn.udp_kpps(secs)),
                                   "floor": lambda: fw.side.udp_kpps(secs),
                                   "floor_busy": fw.busy(lambda: fw.side.udp_kpps(secs)),
                                   "packet": lambda: pf.side.udp_kpps(secs)})  # fmt: skip
            cpu1, st1 = cpu_seconds(pid), _sn0(ns)
            frames = st1["tx_packets"] - st0["tx_packets"]
            us = (cpu1 - cpu0) / max(frames, 1) * 1e6
            v, s, b, f, fb = (max(got[k]) for k in ("veth", "snull", "busy", "floor", "floor_busy"))
            rows.append(_vs_veth(name, s, "kpps", v, ">=", 0.5,
                                 note=f"daemon CPU {us:.1f} us per packet (all rounds); "
                                 f"rounds (kpps): snull {_rounds(got['snull'], '.0f')}; veth {_rounds(got['veth'], '.0f')}"))  # fmt: skip
            rows.append(_vs_veth(name + busy, b, "kpps", v, ">=", 0.5,
                                 note=f"the daemon polls instead of sleeping: one CPU busy "
                                 f"while traffic flows; rounds (kpps): {_rounds(got['busy'], '.0f')}"))  # fmt: skip
            rows.append(_vs_veth(FLOOR + "UDP 64-byte pps", f, "kpps", v,
                                 note=f"rounds: {_rounds(got['floor'], '.0f')} kpps"))  # fmt: skip
            rows.append(_vs_veth(FLOOR + "UDP 64-byte pps, busy polling", fb, "kpps", v,
                                 note=f"rounds: {_rounds(got['floor_busy'], '.0f')} kpps"))  # fmt: skip
            pk = max(got["packet"])
            rows.append(_vs_veth(PACKET_FLOOR + "UDP 64-byte pps", pk, "kpps", v,
                                 note=f"{pk / f:.2f}x the TAP floor; rounds: "
                                 f"{_rounds(got['packet'], '.0f')} kpps"))  # fmt: skip
        except Exception as exc:
            rows.append(error_row(name, COMMAND, exc))
        sn.stop_server()
        name = f"ping RTT (median of {PING_COUNT}, -i {PING_INTERVAL}), snull offload=0"
        try:
            cpu = {"busy": 0.0}

            def busy_ping() -> tuple[float, float]:
                c0 = cpu_seconds(pid)
                t0 = time.monotonic()
                out = sn.ping_ms()
                cpu["busy"] = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
                return out

            got = _rotate(rounds, {"veth": veth.ping_ms, "snull": sn.ping_ms,
                                   "busy": _busy(ns, busy_ping), "floor": fw.side.ping_ms,
                                   "floor_busy": fw.busy(fw.side.ping_ms),
                                   "packet": pf.side.ping_ms, "packet_busy": pf.busy(pf.side.ping_ms),
                                   "veth_warm": lambda: veth.ping_ms(WARM_INTERVAL, WARM_COUNT),
                                   "snull_warm": lambda: sn.ping_ms(WARM_INTERVAL, WARM_COUNT)})  # fmt: skip
            keys = ("veth", "snull", "busy", "floor", "floor_busy")
            v, s, b, f, fb = (min(x[0] for x in got[k]) for k in keys)
            vmin, smin, bmin, fmin, fbmin = (min(x[1] for x in got[k]) for k in keys)
            rows.append(_vs_veth(name, s, "ms", v, "<=", 2.5,
                                 note=f"the daemon sleeps in epoll between pings; minimum RTT "
                                 f"snull {smin:.3f} ms, veth {vmin:.3f} ms"))  # fmt: skip
            rows.append(_vs_veth(name + busy, b, "ms", v, "<=", 2.5,
                                 note=f"the daemon polls instead of sleeping: it used "
                                 f"{cpu['busy'] * 100:.0f} % of a CPU during the pings; "
                                 f"minimum RTT {bmin:.3f} ms"))  # fmt: skip
            vw, sw = (min(x[0] for x in got[k]) for k in ("veth_warm", "snull_warm"))
            rows.append(_vs_veth(f"ping RTT (median of {WARM_COUNT}, -i {WARM_INTERVAL}: idle gaps "
                                 "too short to cool the caches), snull offload=0", sw, "ms", vw,
                                 note=f"what netdrv adds per round trip with warm caches: "
                                 f"{(sw - vw) * 1000:.0f} us for two passes through the daemon; "
                                 f"the rest of the RTT at -i {PING_INTERVAL} is waking from idle, with cold caches"))  # fmt: skip
            rows.append(_vs_veth(FLOOR + "ping RTT (median)", f, "ms", v,
                                 note=f"minimum {fmin:.3f} ms"))  # fmt: skip
            rows.append(_vs_veth(FLOOR + "ping RTT (median), busy polling", fb, "ms", v,
                                 note=f"minimum {fbmin:.3f} ms"))  # fmt: skip
            pk, pkb = (min(x[0] for x in got[k]) for k in ("packet", "packet_busy"))
            rows.append(_vs_veth(PACKET_FLOOR + "ping RTT (median)", pk, "ms", v))
            rows.append(_vs_veth(PACKET_FLOOR + "ping RTT (median), busy polling", pkb, "ms", v))
        except Exception as exc:
            rows.append(error_row(name, COMMAND, exc))
        rows.append(_gro(ns, rounds, secs))
    return rows


def _gro(ns: Any, rounds: int, secs: float) -> dict[str, Any]:
    """TCP through snull's NAPI receive with GRO on against GRO off, in the same rounds."""
    name = "TCP bulk (iperf3), snull use_napi=1 offload=0: GRO merges sn1's received segments"
    try:
        ns.netdrv("unload snull")
        sn = _snull(ns, 0, "use_napi=1")
        sn.start_server()
        try:

            def tcp(gro: str) -> float:
                ns.netdrv(f"ethtool -K sn1 gro {gro}")
                return sn.tcp_gbps(secs)

            got = _rotate(rounds, {"on": lambda: tcp("on"), "off": lambda: tcp("off")})
        finally:
            sn.stop_server()
        on, off = max(got["on"]), max(got["off"])
        return row(name, on, "Gbit/s", off, "GRO off (netdrv ethtool -K sn1 gro off)", on / off,
                   "—", None, COMMAND, note=f"rounds (Gbit/s): GRO on {_rounds(got['on'], '.2f')}; "
                   f"off {_rounds(got['off'], '.2f')}: the kernel takes super-frames from sn1's "
                   "TAP instead of 1500-byte frames")  # fmt: skip
    except Exception as exc:
        return error_row(name, COMMAND, exc)


if __name__ == "__main__":
    main(run, f"snull through the kernel vs a veth pair  ({COMMAND})")
