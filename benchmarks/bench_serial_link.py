"""The serial link at a real line rate: SLIP at 115200 baud through the pacing relay.

Two namespaces, one cable: ``python -m netdrv_serial.relay --baud 115200 A B``
paces bytes at 11 520 bytes/s each way (8N1), and each namespace runs
``netdrv load slip port=… local=… peer=… mtu=1500 baud=115200`` on its end.
A bulk TCP transfer of random data goes from the first to the second; the
relay's machine-readable ``stats`` lines (SIGUSR2) give how busy the line was
between the first and the last byte the receiver got.

Rows:

* line busy during the bulk transfer (A->B): target >= 95 %;
* TCP goodput (bytes the receiver got after its first chunk, over the time
  until its last one): target within 5 % of the theoretical maximum for the
  mode and MTU (:func:`netdrv_serial.linktest.theoretical_goodput`: the line
  rate times the TCP payload share of a SLIP-framed 1500-byte packet); the
  note shows that maximum and the framing overhead.

Run as root: ``python benchmarks/bench_serial_link.py [--quick]``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PY, check, error_row, have_netns, main, namespace, on_cleanup, row, stop_proc

COMMAND = "python benchmarks/bench_serial_link.py"
BAUD = 115200
MTU = 1500
MODE = "slip"
A, B = "198.18.5.1", "198.18.5.2"
PORT = 5301

SINK = r"""
import json, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
buf = bytearray(65536)
n = c.recv_into(buf)
t_first = time.monotonic()
first = n
print("first", flush=True)
total = n
t_last = t_first
while True:
    k = c.recv_into(buf)
    if not k:
        break
    total += k
    t_last = time.monotonic()
print(json.dumps({"bytes": total, "first_chunk": first, "t_first": t_first, "t_last": t_last}),
      flush=True)
"""

SOURCE = r"""
import os, socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=120)
data = os.urandom(int(sys.argv[3]))
c.sendall(data)
c.shutdown(socket.SHUT_WR)
c.recv(1)
c.close()
"""


class Relay:
    """The pacing relay, with its stats lines."""

    def __init__(self, baud: int) -> None:
        self.dir = tempfile.mkdtemp(prefix="netdrv-bench-cable-")
        tag = uuid.uuid4().hex[:6]
        self.a = os.path.join(self.dir, f"ttyA-{tag}")
        self.b = os.path.join(self.dir, f"ttyB-{tag}")
        self.proc = subprocess.Popen(
            [PY, "-m", "netdrv_serial.relay", "--baud", str(baud), self.a, self.b],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._cancel = on_cleanup(self.close)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"relay did not start: {line}{self.proc.stderr.read()}")  # type: ignore[union-attr]

    def stats(self) -> dict[str, Any]:
        """A ``stats`` snapshot (SIGUSR2)."""
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGUSR2)
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("relay exited")
            if line.startswith("stats "):
                return json.loads(line[6:])

    def close(self) -> None:
        """Pull the cable, remove the links."""
        stop_proc(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        self._cancel()


def run(quick: bool = False) -> list[dict]:
    """Measure the rows described in the module docstring."""
    names = ["line busy during a bulk transfer", "TCP goodput vs the theoretical maximum"]
    ok, why = have_netns()
    if not ok:
        return [error_row(n, COMMAND, why) for n in names]
    try:
        return _measure(quick)
    except Exception as exc:
        return [error_row(n, COMMAND, f"{type(exc).__name__}: {exc}") for n in names]


def _measure(quick: bool) -> list[dict]:
    from netdrv_serial.linktest import theoretical_goodput

    max_goodput, framing = theoretical_goodput(BAUD, MODE, MTU)
    line_rate = BAUD / 10.0
    size = int(max_goodput * (6 if quick else 16))  # seconds of transfer at the maximum
    relay = Relay(BAUD)
    try:
        with namespace("a") as na, namespace("b") as nb:
            common = f"mtu={MTU} baud={BAUD} mode={MODE}"
            na.netdrv(f"load slip port={relay.a} local={A}/32 peer={B} {common}")
            nb.netdrv(f"load slip port={relay.b} local={B}/32 peer={A} {common}")
            sink = nb.popen([PY, "-c", SINK, B, str(PORT)], stdout=subprocess.PIPE, text=True)
            try:
                assert sink.stdout is not None
                if sink.stdout.readline().strip() != "ready":
                    raise RuntimeError("sink did not start")
                src = na.popen([PY, "-c", SOURCE, B, str(PORT), str(size)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
                if sink.stdout.readline().strip() != "first":
                    raise RuntimeError("no data reached the sink")
                s0 = relay.stats()
                result = json.loads(sink.stdout.readline())
                s1 = relay.stats()
                src.wait(timeout=60)
            finally:
                stop_proc(sink)
    finally:
        relay.close()
    window = s1["t"] - s0["t"]
    busy = (s1["A->B"]["busy"] - s0["A->B"]["busy"]) / window * 100
    goodput = (result["bytes"] - result["first_chunk"]) / (result["t_last"] - result["t_first"])
    ratio = goodput / max_goodput
    overhead = (1 - framing) * 100
    rows = [
        row(f"line busy (A->B) during a {size // 1000} kB TCP transfer, SLIP at {BAUD} baud",
            busy, "% of the time", 100.0, "a saturated line", busy / 100, ">= 95 %",
            check(busy, ">=", 95), COMMAND, target_value=95.0, target_op=">=",
            target_on="figure",
            note=f"relay stats over {window:.1f} s: {s1['A->B']['bytes'] - s0['A->B']['bytes']} "
            f"bytes on the line A->B, {s1['B->A']['bytes'] - s0['B->A']['bytes']} B->A (ACKs)"),
        row(f"TCP goodput, SLIP mtu {MTU} at {BAUD} baud", goodput / 1000, "kB/s",
            max_goodput / 1000, "theoretical maximum for the mode and MTU", ratio,
            ">= 0.95x the maximum (within 5 %)", check(ratio, ">=", 0.95), COMMAND,
            target_value=0.95, target_op=">=",
            note=f"line {line_rate / 1000:.2f} kB/s (8N1); framing efficiency "
            f"{framing * 100:.1f} % (SLIP END bytes and escapes), TCP/IP headers "
            f"{52 / MTU * 100:.1f} %: at most {max_goodput / line_rate * 100:.1f} % of the line "
            f"is goodput; framing overhead {overhead:.1f} %"),
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    main(run, f"Serial link at {BAUD} baud through the pacing relay  ({COMMAND})")
