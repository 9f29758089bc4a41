"""The slip driver's ``ethtool -t``: the port test, and with ``external_lb`` a pattern out
of TX that must come back on RX — through pyserial's ``loop://`` and through a pty whose
other end is a loopback plug (echoes), a noisy one (changes a byte) or no plug at all."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from netdrv_serial.driver import SERIAL_TEST_STRINGS
from slip_helpers import IP, load_slip

from netdrv_core import (
    ETH_TEST_FL_EXTERNAL_LB,
    ETH_TEST_FL_OFFLINE,
    Host,
    netif_carrier_ok,
    netif_queue_stopped,
)
from netdrv_core.ethtool import ethtool_self_test, ethtool_self_test_begin

PORT, ERRORS, SENT, RECEIVED = SERIAL_TEST_STRINGS
EXTERNAL_LB = ETH_TEST_FL_OFFLINE | ETH_TEST_FL_EXTERNAL_LB


class Plug:
    """The far end of a pty: echoes what the link sends (``change`` may alter it), or,
    with ``echo=False``, reads it and sends nothing back (no plug fitted)."""

    def __init__(self, echo: bool = True, change: Callable[[bytes], bytes] = bytes) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.echo, self.change = echo, change
        self.seen = bytearray()  # every byte the link sent, in order
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import select

        while not self.stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            self.seen += data
            if self.echo:
                os.write(self.master, self.change(data))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def plug() -> Iterator[Callable[..., Plug]]:
    made: list[Plug] = []

    def make(**kw: Any) -> Plug:
        made.append(Plug(**kw))
        return made[-1]

    yield make
    for p in made:
        p.close()


def _link(host: Host, port: str) -> tuple[Any, Any]:
    drv = load_slip(host, port=port, name="st%d")
    return drv, drv.devices[0]


def _exit(host: Host, drv: Any) -> None:
    with host.as_current():
        drv.exit()


def _sends_after(host: Host, dev: Any, n: int = 1) -> None:
    """The link carries packets again: ``n`` more are written to the line."""
    before = dev.stats.tx_packets
    for _ in range(n):
        host.attachment.send(dev, IP)
    assert host.loop.run_until(lambda: dev.stats.tx_packets == before + n, timeout=5)


def test_loop_port_passes_the_external_loopback_test(host: Host) -> None:
    drv, dev = _link(host, "loop://")
    try:
        r = ethtool_self_test(host, dev, EXTERNAL_LB)
        assert r["passed"] and r["external_lb_done"], r
        assert r["results"] == {PORT: 0, ERRORS: 0, SENT: 256, RECEIVED: 256}
        assert dev.operstate == "up" and not netif_queue_stopped(dev)
        assert dev.stats.tx_packets == 0 and dev.stats.rx_errors == 0  # the pattern: no packet
        # Without external_lb only the port is tested: nothing is sent.
        out = dev.priv.line_bytes_out
        r = ethtool_self_test(host, dev, ETH_TEST_FL_OFFLINE)
        assert r["passed"] and r["results"] == {PORT: 0, ERRORS: 0, SENT: 0, RECEIVED: 0}
        assert dev.priv.line_bytes_out == out
        rx = dev.stats.rx_packets
        _sends_after(host, dev)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == rx + 1, timeout=5)
    finally:
        _exit(host, drv)


def test_a_loopback_plug_passes_and_packets_wait_for_the_test(
    host: Host, plug: Callable[..., Plug]
) -> None:
    p = plug()
    drv, dev = _link(host, p.path)
    try:
        got: list[Any] = []
        assert ethtool_self_test_begin(host, dev, EXTERNAL_LB, got.append) is None
        assert netif_queue_stopped(dev) and dev.operstate == "testing"
        host.attachment.send(dev, IP)  # the kernel's packet waits in the qdisc
        assert host.loop.run_until(lambda: bool(got), timeout=5)
        assert got[0]["passed"] and got[0]["results"][ERRORS] == 0, got
        # The packet went out after the test, came back through the plug, decoded cleanly.
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 1, timeout=5)
        # Counted sent when the writer thread reports it: that can come after the echo.
        assert host.loop.run_until(lambda: dev.stats.tx_packets == 1, timeout=5)
        host.loop.run_until_idle()
        assert dev.stats.rx_errors == 0
        assert host.attachment.received(dev) == [IP]
        # On the wire: the whole pattern (8 marker bytes, then 0, 1, 2, ...), then the packet.
        assert p.seen[8:256] == bytes(range(248)) and p.seen[256:257] == b"\xc0"
    finally:
        _exit(host, drv)


def test_without_a_plug_it_fails_and_the_link_resumes(
    host: Host, plug: Callable[..., Plug]
) -> None:
    p = plug(echo=False)
    drv, dev = _link(host, p.path)
    try:
        r = ethtool_self_test(host, dev, EXTERNAL_LB)
        assert not r["passed"] and r["external_lb_done"]
        assert r["results"] == {PORT: 0, ERRORS: 256, SENT: 256, RECEIVED: 0}
        assert not netif_queue_stopped(dev) and dev.operstate == "up"
        _sends_after(host, dev, 3)
    finally:
        _exit(host, drv)


def test_a_noisy_line_counts_the_changed_bytes(host: Host, plug: Callable[..., Plug]) -> None:
    def one_bit_off(data: bytes) -> bytes:
        b = bytearray(data)
        if len(b) > 100:
            b[100] ^= 0x10
        return bytes(b)

    p = plug(change=one_bit_off)
    drv, dev = _link(host, p.path)
    try:
        r = ethtool_self_test(host, dev, EXTERNAL_LB)
        assert not r["passed"] and r["results"][ERRORS] == 1, r
        assert r["results"][RECEIVED] == 256
    finally:
        _exit(host, drv)


def test_a_port_that_is_not_open_fails_the_port_test(host: Host) -> None:
    drv = load_slip(host, port="/dev/netdrv-no-such-tty", wait="1", name="st%d")
    dev = drv.devices[0]
    try:
        r = ethtool_self_test(host, dev, EXTERNAL_LB)
        assert not r["passed"] and not r["external_lb_done"]
        assert r["results"] == {PORT: 1, ERRORS: 0, SENT: 0, RECEIVED: 0}
    finally:
        _exit(host, drv)


def test_link_down_during_the_test_ends_it(host: Host, plug: Callable[..., Plug]) -> None:
    p = plug(echo=False)
    drv, dev = _link(host, p.path)
    try:
        got: list[Any] = []
        ethtool_self_test_begin(host, dev, EXTERNAL_LB, got.append)
        host.dev_close(dev)
        assert host.loop.run_until(lambda: bool(got), timeout=5)
        assert got[0]["results"][ERRORS] == 256 and dev.priv.selftest is None
        assert dev.stats.tx_dropped == 0  # the pattern is no packet
    finally:
        _exit(host, drv)


def test_a_port_lost_during_the_test_ends_it(host: Host, plug: Callable[..., Plug]) -> None:
    # As a link taken down: the port is closed, what the test sent will not come back (and
    # the writer's report of the pattern is that of a closed open of the port: dropped).
    p = plug(echo=False)
    drv, dev = _link(host, p.path)
    priv = dev.priv
    try:
        got: list[Any] = []
        ethtool_self_test_begin(host, dev, EXTERNAL_LB, got.append)
        port = priv.port
        port._lost(port.generation, OSError(5, "I/O error"))  # the adapter was unplugged
        assert host.loop.run_until(lambda: priv.port_losses == 1, timeout=5)
        host.loop.run_until_idle()
        assert got, "the test outlived the port it was testing"
        assert got[0]["results"][ERRORS] == 256 and got[0]["results"][RECEIVED] == 0, got
        assert priv.selftest is None and priv.lb_drain is None
        # The port is reopened, and the link's traffic resumes.
        assert host.loop.run_until(lambda: netif_carrier_ok(dev) and priv.reconnects == 1, 5)
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.tx_packets == 1, timeout=5)
        assert dev.core_stats.tx_submitted == 1 and dev.stats.tx_dropped == 0
    finally:
        _exit(host, drv)


def test_the_wait_for_the_pattern_counts_from_when_the_writer_wrote_it(host: Host) -> None:
    # A busy writer (packets queued ahead, a slow line) gets the pattern out late: the test
    # waits its line time from the write, not from the start (it failed such a line before).
    drv, dev = _link(host, "loop://")
    try:
        port = dev.priv.port
        write = port.write

        def late_write(data: bytes, token: Any = None) -> None:
            threading.Timer(1.2, write, (data, token)).start()  # > 1.04 s at 115200 bit/s

        port.write = late_write
        r = ethtool_self_test(host, dev, EXTERNAL_LB)
        assert r["passed"], r
        assert r["results"] == {PORT: 0, ERRORS: 0, SENT: 256, RECEIVED: 256}
    finally:
        _exit(host, drv)
