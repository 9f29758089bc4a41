"""KISS codec benchmark against kiss3, the peer library, measured in the same run.

netdrv's serial driver speaks KISS (``mode=kiss``) as well as SLIP; kiss3 is
the KISS library a Python user would otherwise pick.  Rows (ratio = kiss3
time / our time; informational: no target is set for KISS):

* decode, fed one byte at a time (what a serial port read with a short
  timeout delivers at low speed): time per 256-byte frame (AX.25-sized) and
  per 1500-byte frame (an IP packet on netdrv's link);
* decode, fed in 4 KiB reads (a busy port): time per 256-byte frame;
* decode, one buffer of 10 000 frames;
* encode, 20 000 frames (kiss3's ``KISSProtocol.write`` into a transport
  that keeps the bytes, against ``KissEncoder.encode``: the same bytes).

Frames are random payloads (256 bytes unless stated) with about one byte in
128 needing an escape.  Run: ``python benchmarks/bench_kiss.py [--quick]`` (no privileges;
kiss3 comes with the ``test`` extra).  Best of a few repeats, wall time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best, error_row, main, random_frames, row
from netdrv_serial.codecs.kiss import KissDecoder, KissEncoder  # importable once _common ran

COMMAND = "python benchmarks/bench_kiss.py"
SIZE = 256


def _frames(n: int, size: int = SIZE) -> list[bytes]:
    return random_frames(n, size, seed=7, stride=331)


def _wire(frames: list[bytes]) -> bytes:
    enc = KissEncoder(mtu=max(len(f) for f in frames))
    return b"".join(enc.encode(f) for f in frames)


def _chunks(wire: bytes, size: int) -> list[bytes]:
    return [wire[i : i + size] for i in range(0, len(wire), size)]


def _ours(chunks: list[bytes], expect: int, mtu: int = SIZE) -> Callable[[], None]:
    def run() -> None:
        feed = KissDecoder(mtu=mtu).feed
        n = 0
        for c in chunks:
            n += len(feed(c))
        assert n == expect, (n, expect)

    return run


def _kiss3(chunks: list[bytes], expect: int) -> Callable[[], None]:
    import kiss

    def run() -> None:
        update = kiss.KISSDecode(strip_df_start=False).update
        n = 0
        for c in chunks:
            for _ in update(c):
                n += 1
        assert n == expect, (n, expect)

    return run


def _vs_kiss3(name: str, ours: float, theirs: float, unit: str, scale: float,
              note: str = "") -> dict:  # fmt: skip
    """A row comparing our time with kiss3's (informational)."""
    return row(name, ours * scale, unit, theirs * scale, f"kiss3 {_kiss3_version()}",
               theirs / ours, "—", None, COMMAND, note=note)  # fmt: skip


def _kiss3_version() -> str:
    from importlib.metadata import version

    return version("kiss3")


def _decode_rows(quick: bool) -> list[dict]:
    reps = 3 if quick else 5
    rows = []
    # Byte by byte: kiss3 keeps the partial frame as bytes and appends to it, so a
    # frame costs it time proportional to its length squared.
    n = 20 if quick else 100
    for size in (SIZE, 1500):
        wire = _wire(_frames(n, size))
        ours = best(_ours(_chunks(wire, 1), n, size), reps) / n
        theirs = best(_kiss3(_chunks(wire, 1), n), reps) / n
        rows.append(_vs_kiss3(f"decode {size}-byte frames fed 1 byte at a time", ours, theirs,
                              "us/frame", 1e6))  # fmt: skip
    n = 2000 if quick else 10_000
    wire = _wire(_frames(n))
    ours = best(_ours(_chunks(wire, 4096), n), reps) / n
    theirs = best(_kiss3(_chunks(wire, 4096), n), reps) / n
    rows.append(_vs_kiss3(f"decode {SIZE}-byte frames fed in 4 KiB reads", ours, theirs,
                          "us/frame", 1e6))  # fmt: skip
    ours = best(_ours([wire], n), reps)
    theirs = best(_kiss3([wire], n), reps)
    rows.append(_vs_kiss3(f"decode {n}x{SIZE}-byte frames in one buffer", ours, theirs, "ms", 1e3))
    return rows


def _encode_row(quick: bool) -> dict:
    import kiss

    n = 5000 if quick else 20_000
    frames = _frames(n)
    enc = KissEncoder(mtu=SIZE)

    class Sink:
        def __init__(self) -> None:
            self.parts: list[bytes] = []
            self.write = self.parts.append

    proto = kiss.KISSProtocol(transport=Sink())
    proto.write(frames[0])
    assert proto.transport.parts.pop() == enc.encode(frames[0]), "not the same bytes on the wire"

    def ours() -> None:
        e = enc.encode
        for f in frames:
            e(f)

    def theirs() -> None:
        w = proto.write
        for f in frames:
            w(f)
        proto.transport.parts.clear()

    t_ours, t_theirs = [], []
    for _ in range(5 if quick else 9):  # interleaved: a drifting clock hits both alike
        t_ours.append(best(ours, 1))
        t_theirs.append(best(theirs, 1))
    o, t = min(t_ours), min(t_theirs)
    return _vs_kiss3(f"encode {n}x{SIZE}-byte frames", o, t, "ms", 1e3,
                     note=f"{n * SIZE / o / 1e6:.0f} MB/s")  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    """Measure the rows described in the module docstring."""
    try:
        import kiss  # noqa: F401
    except ImportError:
        return [error_row("KISS codec vs kiss3", COMMAND,
                          "kiss3 is not installed (pip install -e '.[test]')")]  # fmt: skip
    return [*_decode_rows(quick), _encode_row(quick)]


if __name__ == "__main__":
    main(run, f"KISS codec vs kiss3  ({COMMAND})")
