"""A cable tester's walk through ``netdrv ethtool -t DEV external_lb``: what the numbers
say about a plug that loses a byte, and what the far end of a cable (a peer, not a plug)
makes of the test's pattern."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from netdrv_serial.codecs import make_cslip
from slip_helpers import load_slip
from test_slip_self_test import EXTERNAL_LB, Plug, _exit, _link
from test_walk_counters import _line, _stream

from netdrv_core import Host
from netdrv_core.ethtool import ethtool_self_test


def _loses_byte(at: int) -> Callable[[bytes], bytes]:
    """A plug that loses the ``at``-th byte it carries (an overrun), once."""
    seen = 0

    def change(data: bytes) -> bytes:
        nonlocal seen
        start, seen = seen, seen + len(data)
        if start <= at < seen:
            return data[: at - start] + data[at - start + 1 :]
        return data

    return change


@pytest.mark.parametrize("at", [3, 100], ids=["in-the-marker", "in-the-count"])
def test_a_lost_byte_is_one_loopback_error(host: Host, at: int) -> None:
    # One byte lost on the way shifts every byte after it; counted position by position,
    # a single overrun read as 150..253 corrupted bytes — a noisy cable, to a tester.
    p = Plug(change=_loses_byte(at))
    drv, dev = _link(host, p.path)
    try:
        r = ethtool_self_test(host, dev, EXTERNAL_LB)
        assert not r["passed"], r
        assert r["results"]["Loopback errors (external_lb)"] == 1, r
        assert r["results"]["Loopback bytes received"] == 255, r
    finally:
        _exit(host, drv)
        p.close()


def test_a_peer_that_gets_the_loopback_pattern_says_so(host: Host, caplog: Any) -> None:
    # external_lb run on a cable with a peer on it (not a plug): the peer decodes the
    # pattern as frames.  Its log must not blame a mode mismatch ("looks like CSLIP"), and
    # its one warning about another mode must still be there for a real one later.
    drv = load_slip(host, port="loop://", mode="slip")
    dev = drv.devices[0]
    try:
        caplog.set_level("INFO", logger="netdrv.serial")
        marker = bytes.fromhex("9a1b2c3d4e5f6071")  # random in the driver; not IP here
        _line(host, dev, marker + bytes(range(248)) + b"\xc0")
        host.loop.run_until_idle()
        assert dev.stats.rx_packets == 0 and dev.stats.rx_frame_errors == 2
        said = [r.getMessage() for r in caplog.records if "not an IP packet" in r.getMessage()]
        assert len(said) == 1, said
        assert "external_lb" in said[0] and "mode=cslip" not in said[0], said
        peer, _ = make_cslip()
        for pkt in _stream(2):  # now a real CSLIP peer
            _line(host, dev, peer.encode(pkt))
        host.loop.run_until_idle()
        said = [r.getMessage() for r in caplog.records if "not an IP packet" in r.getMessage()]
        assert len(said) == 2 and "mode=cslip" in said[1], said
    finally:
        _exit(host, drv)


@pytest.mark.parametrize(
    ("mode", "marker"),
    [
        ("slip", "4511223344556677"),
        ("slip", "6011223344556677"),
        ("slip", "12c0451122334455"),  # after the END in it: 45 11 22 ...
        ("cslip", "4511223344556677"),
        ("kiss", "0045112233445566"),  # a KISS data frame on port 0 holding 45 11 ...
    ],
    ids=["ipv4", "ipv6", "end-in-marker", "cslip", "kiss-data"],
)
def test_the_pattern_never_reaches_a_peer_as_an_ip_packet(
    host: Host, monkeypatch: Any, mode: str, marker: str
) -> None:
    # The marker is random: one that looked like the start of an IP packet (1 run in 8)
    # went up the peer's stack as a 200-byte packet (rx_packets; no frame error, no log).
    import os

    from netdrv_serial import driver as slip_driver

    real = os.urandom
    draws = iter([bytes.fromhex(marker)])
    monkeypatch.setattr(slip_driver.os, "urandom", lambda n: next(draws, None) or real(n))
    drv = load_slip(host, port="loop://", mode=mode)
    dev = drv.devices[0]
    try:
        lb = slip_driver.SerialLoopback(dev, None, [0, 0, 0, 0])  # type: ignore[arg-type]
        monkeypatch.undo()
        _line(host, dev, lb.pattern + b"\xc0")  # the next frame's leading END ends the tail
        host.loop.run_until_idle()
        assert dev.stats.rx_packets == 0, lb.marker.hex()
    finally:
        _exit(host, drv)


def test_two_tests_in_a_row_are_not_taken_for_another_mode(host: Host, caplog: Any) -> None:
    # The pattern ends without an END: its tail waits in the peer's decoder.  A second
    # test right after it (no packet in between to flush it) ran the tail into the next
    # pattern's marker: a frame starting 0xC1, which the peer blamed on a CSLIP peer.
    from netdrv_serial import driver as slip_driver

    drv = load_slip(host, port="loop://", mode="slip")
    dev = drv.devices[0]
    try:
        caplog.set_level("INFO", logger="netdrv.serial")
        a, b = (slip_driver.SerialLoopback(dev, None, [0] * 4).pattern for _ in range(2))  # type: ignore[arg-type]
        _line(host, dev, a + b + b"\xc0")
        host.loop.run_until_idle()
        said = [r.getMessage() for r in caplog.records if "not an IP packet" in r.getMessage()]
        assert len(said) == 1 and "external_lb" in said[0], said
        assert dev.stats.rx_packets == 0 and dev.stats.rx_frame_errors == 4
    finally:
        _exit(host, drv)
