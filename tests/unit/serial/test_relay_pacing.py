"""The pacing relay's line model: bytes go at the line rate, and idle time is not saved up."""

from __future__ import annotations

import pytest
from netdrv_serial.relay import MAX_LATE, _Direction

RATE = 11520.0  # 115200 baud, 8N1: bytes per second


def _send_all(d: _Direction, now: float) -> int:
    n = d.allowed(now)
    d.consume(n, now)
    return n


def test_a_burst_after_a_short_pause_goes_at_the_line_rate() -> None:
    d = _Direction(0, 0, RATE)
    d.receive(b"x" * 10, 100.0)
    assert _send_all(d, 100.001) == 10  # well within 1 ms of line time: all out
    # 30 ms of silence — shorter than MAX_LATE — then a packet: the line saved nothing.
    d.receive(b"y" * 1000, 100.031)
    assert d.allowed(100.031) == 1  # the first byte starts at once
    assert d.allowed(100.031 + 0.010) == pytest.approx(1 + 0.010 * RATE, abs=1)


def test_a_continuous_transfer_keeps_the_line_full() -> None:
    d = _Direction(0, 0, RATE)
    t = 0.0
    sent = 0
    d.receive(b"z" * 4096, t)
    while t < 1.0:
        t += 0.003  # the relay wakes every 3 ms
        sent += _send_all(d, t)
        if len(d.buf) < 2048:
            d.receive(b"z" * 2048, t)  # the sender keeps it fed
    assert sent == pytest.approx(t * RATE, rel=0.01)
    assert d.busy_time == pytest.approx(sent / RATE)


def test_a_late_wake_up_sends_at_most_max_late_of_line_time_at_once() -> None:
    d = _Direction(0, 0, RATE)
    d.receive(b"w" * 4096, 10.0)
    _send_all(d, 10.0)
    assert d.allowed(10.0 + 1.0) == int(MAX_LATE * RATE)  # descheduled for a second


def test_unpaced_sends_everything() -> None:
    d = _Direction(0, 0, 0)
    d.receive(b"q" * 5000, 1.0)
    assert d.allowed(1.0) == 5000
