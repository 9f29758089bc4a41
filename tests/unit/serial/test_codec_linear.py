"""Linear time, checked by counting work rather than timing it.

Two counts, while feeding one byte at a time (the case sliplib makes quadratic):

* Python lines executed inside the codec package per byte fed must not grow
  with the frame size;
* bytes examined by C-level scans of the decoder's internal buffer (find,
  count, split, ...) must stay proportional to the input: the buffer is
  swapped for an instrumented ``bytearray`` subclass that tallies them.
"""

from __future__ import annotations

import os
import sys

import pytest
from netdrv_serial import codecs
from netdrv_serial.codecs import (
    KissDecoder,
    KissEncoder,
    PlipDecoder,
    PlipEncoder,
    SlipDecoder,
    SlipEncoder,
)

CODEC_DIR = os.path.dirname(codecs.__file__)


class ScanCountingBuffer(bytearray):
    """A bytearray that tallies how many bytes its searching methods look at."""

    scanned = 0

    def find(self, sub, start=0, end=None):  # type: ignore[override]
        i = super().find(sub, start, len(self) if end is None else end)
        ScanCountingBuffer.scanned += (i + len(sub) - start) if i >= 0 else (len(self) - start)
        return i


def _scans_whole_buffer(name: str):
    base = getattr(bytearray, name)

    def method(self, *a, **k):
        ScanCountingBuffer.scanned += len(self)
        return base(self, *a, **k)

    return method


for _name in ("rfind", "index", "rindex", "count", "split", "replace", "startswith", "endswith",
              "__contains__", "strip", "lstrip", "rstrip", "partition", "rpartition"):  # fmt: skip
    setattr(ScanCountingBuffer, _name, _scans_whole_buffer(_name))


def _slip(n: int):
    dec = SlipDecoder(mtu=n)
    dec._buf = ScanCountingBuffer()
    return dec, SlipEncoder(mtu=n).encode(bytes(range(1, 192)) * (n // 191) + b"\x01" * (n % 191))


def _kiss(n: int):
    dec = KissDecoder(mtu=n)
    dec._buf = ScanCountingBuffer()
    return dec, KissEncoder(mtu=n).encode(b"\x42" * n)


def _plip(n: int):
    dec = PlipDecoder(max_frame=n)
    dec._buf = ScanCountingBuffer()
    return dec, PlipEncoder(max_frame=n).encode(
        bytes(range(256)) * (n // 256) + b"\x16" * (n % 256)
    )


SETUPS = {"slip": _slip, "kiss": _kiss, "plip": _plip}


def _feed_bytewise(dec, wire: bytes, trace: bool) -> int:
    chunks = [wire[i : i + 1] for i in range(len(wire))]
    lines = 0

    def tracer(frame, event, arg):
        nonlocal lines
        if frame.f_code.co_filename.startswith(CODEC_DIR):
            if event == "line":
                lines += 1
            return tracer
        return None

    out = []
    previous = sys.gettrace()  # e.g. coverage's tracer: put it back afterwards
    if trace:
        sys.settrace(tracer)
    try:
        for c in chunks:
            out += dec.feed(c)
    finally:
        sys.settrace(previous)
    assert len(out) == 1 and dec.stats.frames == 1
    return lines


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_python_work_per_byte_is_constant(name):
    per_byte = []
    for n in (300, 30_000):
        dec, wire = SETUPS[name](n)
        per_byte.append(_feed_bytewise(dec, wire, trace=True) / len(wire))
    assert per_byte[1] <= per_byte[0] * 1.05


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_buffer_scans_are_proportional_to_the_input(name):
    dec, wire = SETUPS[name](50_000)
    ScanCountingBuffer.scanned = 0
    _feed_bytewise(dec, wire, trace=False)
    # A decoder that re-scanned its buffer on each byte would look at ~n**2/2 bytes.
    assert ScanCountingBuffer.scanned <= 4 * len(wire)


def test_the_instrument_detects_a_quadratic_decoder():
    # Guard against the counter silently counting nothing.
    class Rescanning:
        def __init__(self):
            self.buf = ScanCountingBuffer()

        def feed(self, b):
            self.buf += b
            return [] if self.buf.find(b"\xc0") < 0 else [b""]

    ScanCountingBuffer.scanned = 0
    dec = Rescanning()
    for _ in range(2000):
        dec.feed(b"x")
    assert ScanCountingBuffer.scanned > 1_000_000
