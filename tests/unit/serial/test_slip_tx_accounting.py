"""The frames in flight to the writer thread, across closes and reopens of the port.

At most ``TX_INFLIGHT`` frames are queued to the writer of the open port (besides one
the transmit timeout gave up whose write cannot be cut short), whatever wakes the queue —
a frame written, the carrier coming back, a reconnect settling; a report
that a frame was written which comes from an earlier open (posted before that open
closed, run after the port was reopened) counts the frame as sent, and changes
nothing of the current open's accounting.  Every frame handed to the driver is sent,
or dropped and counted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from netdrv_serial.driver import TX_INFLIGHT
from slip_helpers import IP, linked_through_server, load_slip

from netdrv_core import Host, netif_carrier_ok, netif_queue_stopped


def _ended(dev: Any) -> int:
    s = dev.stats
    return s.tx_packets + s.tx_dropped + s.tx_errors


class _HeldPosts:
    """Holds back the port's posts of ``fn`` to the loop until :meth:`release`."""

    def __init__(self, port: Any, fn: Any) -> None:
        self.port, self.fn = port, fn
        self.real = port._post
        self.held: list[tuple[Any, tuple[Any, ...]]] = []
        self.holding = True
        port._post = self.post

    def post(self, fn: Any, *args: Any) -> None:
        if self.holding and fn == self.fn:
            self.held.append((fn, args))
            return
        self.real(fn, *args)

    def release(self) -> None:
        self.holding = False
        self.port._post = self.real
        for fn, args in self.held:
            self.real(fn, *args)
        self.held.clear()


def test_a_late_write_report_from_an_earlier_open_does_not_overfill_the_line(
    host: Host, unload
) -> None:

    drv = load_slip(host, port="loop://", txqueuelen="20")
    unload(drv)
    dev = drv.devices[0]
    port = dev.priv.port
    late = _HeldPosts(port, port._written)
    # A frame is written, and the report of it is still on its way to the loop...
    host.attachment.send(dev, IP)
    assert host.loop.run_until(lambda: late.held, 5)
    # ... when the link goes down and up again (ip link set sl0 down; up).
    host.dev_close(dev)
    assert dev.stats.tx_dropped == 0  # it was written: close() has nothing to give back
    host.dev_open(dev)
    assert port.is_open
    # The reopened line takes nothing for now; what the driver hands it is counted.
    go = threading.Event()
    handed: list[bytes] = []
    real_write = port.ser.write

    def write(data: bytes) -> int:
        go.wait(10)
        return real_write(data)

    port.ser.write = write
    real_queue = port.write

    def queue(data: bytes, token: Any = None) -> None:
        handed.append(data)
        real_queue(data, token)

    port.write = queue
    try:
        for _ in range(6):
            host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: netif_queue_stopped(dev), 5)
        assert len(handed) == TX_INFLIGHT
        late.release()  # the earlier open's report lands now
        host.loop.run_until(lambda: dev.stats.tx_packets == 1, 5)
        host.loop.run_until_idle()
        assert dev.stats.tx_packets == 1  # the frame the earlier open wrote: sent
        assert len(handed) == TX_INFLIGHT, "a report of the earlier open let another frame in"
        assert netif_queue_stopped(dev)
    finally:
        go.set()
    # The line moves again: everything goes out, and each frame is counted once.
    assert host.loop.run_until(lambda: dev.stats.tx_packets == 7, 10), dev.stats.as_dict()
    # (loop:// echoes: the six come back, and the first one too unless the close beat it.)
    assert host.loop.run_until(lambda: dev.stats.rx_packets >= 6, 5), dev.stats.rx_packets
    assert dev.core_stats.tx_submitted == _ended(dev) == 7
    assert dev.stats.tx_dropped == dev.stats.tx_errors == 0


def test_a_loss_reported_as_the_link_goes_down_is_no_port_loss(host: Host, unload, caplog) -> None:
    # The reader saw the port fail just before `ip link set sl0 down`; its report runs on
    # the loop after the close: the link was taken down, nothing was lost.
    caplog.set_level(logging.WARNING, logger="netdrv.serial")
    drv = load_slip(host, port="loop://")
    unload(drv)
    dev = drv.devices[0]
    port = dev.priv.port
    port._lost(port.generation, OSError(5, "I/O error"))  # posted, not yet run
    host.dev_close(dev)
    host.loop.run_until_idle()
    assert dev.priv.port_losses == 0
    assert not [r for r in caplog.records if "lost" in r.getMessage()], caplog.text
    host.dev_open(dev)
    host.attachment.send(dev, IP)
    assert host.loop.run_until(lambda: dev.stats.rx_packets == 1, 5)
    assert dev.priv.port_losses == 0 and dev.priv.reopen_timer is None


def test_an_outfill_end_keeps_to_the_frames_in_flight(host: Host, unload) -> None:
    # slip.c's sl_outfill sends no END while the queue is stopped ("if device busy no
    # outfill"); one END queued counts as one of the frames in flight.
    from netdrv_serial import driver as sd

    drv = load_slip(host, port="loop://", outfill="1", txqueuelen="20")
    unload(drv)
    dev = drv.devices[0]
    go, handed = _stuck_line(dev.priv.port)
    try:
        host.attachment.send(dev, IP)  # the line is stuck on it
        host.loop.run_until_idle()
        dev.priv.last_tx = -1e9  # idle as far as outfill can tell
        sd._outfill(dev)
        assert handed[-1] == b"\xc0"
        for _ in range(3):
            host.attachment.send(dev, IP)
        host.loop.run_until_idle()
        assert netif_queue_stopped(dev)
        sd._outfill(dev)  # the queue is stopped: no END
        assert len(handed) == TX_INFLIGHT, handed
    finally:
        go.set()
    assert host.loop.run_until(lambda: dev.stats.tx_packets == 4, 10), dev.stats.as_dict()
    assert dev.core_stats.tx_submitted == _ended(dev) == 4


def _stuck_line(port: Any) -> tuple[threading.Event, list[bytes]]:
    """The port's writer takes nothing until the event is set; every frame the driver
    hands it is listed."""
    go = threading.Event()
    handed: list[bytes] = []
    real_write, real_queue = port.ser.write, port.write

    def write(data: bytes) -> int:
        go.wait(20)
        return real_write(data)

    def queue(data: bytes, token: Any = None) -> None:
        handed.append(data)
        real_queue(data, token)

    port.ser.write, port.write = write, queue
    return go, handed


def test_a_reconnect_that_settles_keeps_to_the_frames_in_flight(
    host: Host, unload, monkeypatch
) -> None:
    # An rfc2217:// server restarted: its carrier is on at once, the reconnect still watched
    # for NET_SETTLE.  When it settles, the carrier is on already and the writer holds two
    # frames: the queue stays stopped.
    from netdrv_serial import driver as sd

    monkeypatch.setattr(sd, "NET_SETTLE", 60.0)  # settled below, when the line is full
    with linked_through_server(host, unload, rfc2217=True, txqueuelen="20") as (far, _drv, dev):
        priv = dev.priv
        far.stop()
        far.start()
        assert host.loop.run_until(
            lambda: priv.port_losses == 1 and priv.port.is_open and netif_carrier_ok(dev), 10
        )
        assert priv.settle_timer is not None
        go, handed = _stuck_line(priv.port)
        try:
            for _ in range(6):
                host.attachment.send(dev, IP)
            assert host.loop.run_until(lambda: netif_queue_stopped(dev), 5)
            assert len(handed) == TX_INFLIGHT
            sd._settled(dev)  # what the settle timer runs
            host.loop.run_until_idle()
            assert priv.reconnects == 1 and netif_carrier_ok(dev)
            assert len(handed) == TX_INFLIGHT, "the settled reconnect overfilled a stuck line"
            assert netif_queue_stopped(dev)
        finally:
            go.set()
        assert host.loop.run_until(lambda: dev.stats.tx_packets == 7, 10), dev.stats.as_dict()
        assert dev.core_stats.tx_submitted == _ended(dev) == 7


def test_the_peers_first_frame_keeps_to_the_frames_in_flight(host: Host, unload) -> None:
    # A socket:// server back after being out of reach: carrier on at once, watched for
    # NET_SETTLE; the peer's first frame settles it while the writer holds two frames.
    with linked_through_server(host, unload, txqueuelen="20") as (far, _drv, dev):
        priv = dev.priv
        far.stop()
        assert host.loop.run_until(lambda: "refused" in (priv.open_error or ""), timeout=10)
        far.start()
        assert host.loop.run_until(
            lambda: priv.port.is_open and netif_carrier_ok(dev) and far.conns, 10
        )
        assert priv.settle_timer is not None
        go, handed = _stuck_line(priv.port)
        try:
            for _ in range(6):
                host.attachment.send(dev, IP)
            assert host.loop.run_until(lambda: netif_queue_stopped(dev), 5)
            assert len(handed) == TX_INFLIGHT
            far.conns[-1].sendall(b"\xc0" + IP + b"\xc0")  # the peer's first frame
            assert host.loop.run_until(lambda: dev.stats.rx_packets == 2, timeout=5)
            host.loop.run_until_idle()
            assert priv.settle_timer is None and priv.reconnects == 1
            assert len(handed) == TX_INFLIGHT, "the peer's frame overfilled a stuck line"
            assert netif_queue_stopped(dev)
        finally:
            go.set()
        assert host.loop.run_until(lambda: dev.stats.tx_packets == 7, 10), dev.stats.as_dict()
        assert dev.core_stats.tx_submitted == _ended(dev) == 7
