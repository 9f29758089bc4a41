"""Writes the line does not take: every packet handed to the driver is sent, or dropped
and counted — once — however long its write hangs and however it ends.

* ``close()`` waits 2 s for the writer; a write still stuck then is counted as not
  sent, and what it does later (complete, raise) is not counted again.
* A queue stopped for ``watchdog_timeo`` (the line took nothing: flow control held
  off, nobody reading) times out as in Linux ``sl_tx_timeout``: the frame the writer
  is stuck on is given up and counted in ``tx_errors``, and the queue is woken.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time

import pytest
from slip_helpers import IP, load_slip

from netdrv_core import Host, netif_queue_stopped


def _ended(dev) -> int:
    s = dev.stats
    return s.tx_packets + s.tx_dropped + s.tx_errors


def _stuck_write(dev, seconds: float, fail: bool) -> threading.Event:
    """The port's next write hangs ``seconds`` (past close()'s 2 s wait for the writer,
    ignoring its cancel), then raises (``fail``) or completes; the event is set once it
    has ended."""
    ser = dev.priv.port.ser
    real = ser.write
    ended = threading.Event()

    def write(data: bytes) -> int:
        try:
            time.sleep(seconds)
            if fail:
                raise OSError(5, "I/O error (the adapter gave up)")
            return real(data)
        finally:
            ended.set()

    ser.write = write
    return ended


@pytest.mark.parametrize("fail", [True, False], ids=["raises", "completes"])
@pytest.mark.parametrize("how", ["down", "unload"])
def test_a_write_stuck_past_close_is_counted_once(host: Host, unload, how: str,
                                                  fail: bool) -> None:  # fmt: skip
    drv = load_slip(host, port="loop://")
    unload(drv)
    dev = drv.devices[0]
    ended = _stuck_write(dev, 2.6, fail)
    host.attachment.send(dev, IP)
    host.loop.run_until(lambda: False, 0.05)  # the writer is in its write
    if how == "down":
        host.dev_close(dev)
    else:
        with host.as_current():
            drv.exit()
    s = dev.stats
    # close() gave up waiting: the frame is not sent, counted as dropped.
    assert (s.tx_packets, s.tx_dropped, s.tx_errors) == (0, 1, 0), s.as_dict()
    assert ended.wait(5)
    host.loop.run_until(lambda: False, 0.3)  # a late on_written / on_lost would land here
    assert (s.tx_packets, s.tx_dropped, s.tx_errors) == (0, 1, 0), s.as_dict()
    assert dev.core_stats.tx_submitted == _ended(dev) == 1


def test_a_write_stuck_past_a_port_loss_is_counted_once(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://", retry_max="100")
    unload(drv)
    dev = drv.devices[0]
    priv = dev.priv
    ended = _stuck_write(dev, 2.6, True)
    host.attachment.send(dev, IP)
    host.loop.run_until(lambda: False, 0.05)
    # The reader sees the port fail (the adapter unplugged) while the writer hangs.
    priv.port._lost(priv.port.generation, OSError(5, "I/O error"))
    assert host.loop.run_until(lambda: priv.port_losses == 1, 5)
    s = dev.stats
    assert (s.tx_packets, s.tx_errors, s.tx_carrier_errors) == (0, 1, 1), s.as_dict()
    assert ended.wait(5)
    host.loop.run_until(lambda: False, 0.3)
    assert (s.tx_packets, s.tx_dropped, s.tx_errors) == (0, 0, 1), s.as_dict()
    assert dev.core_stats.tx_submitted == _ended(dev) == 1


# -- the transmit timeout (sl_tx_timeout) ------------------------------------------------------
def _drain(fd: int, seconds: float) -> bytes:
    out = bytearray()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            out += os.read(fd, 65536)
        elif out:
            break
    return bytes(out)


def test_a_line_that_takes_nothing_times_out_and_the_queue_restarts(
    host: Host, unload, caplog
) -> None:
    # Nobody reads the pty: it takes some KB, then the writer hangs mid-frame.
    caplog.set_level(logging.WARNING, logger="netdrv.serial")
    master, slave = os.openpty()
    drv = load_slip(host, port=os.ttyname(slave), mtu="65534")
    unload(drv)
    dev = drv.devices[0]
    assert dev.watchdog_timeo >= 20  # slip.c's 20 s (longer for a slow line)
    dev.watchdog_timeo = 0.5  # (not to wait 20 s here)
    try:
        big = IP[:2] + (20 + 8 + 60_000).to_bytes(2, "big") + IP[4:] + bytes(60_000)
        host.attachment.send(dev, big)
        host.attachment.send(dev, IP)  # two in flight: the queue stops
        assert select.select([master], [], [], 5)[0], "the writer never started"
        assert host.loop.run_until(lambda: netif_queue_stopped(dev), 5)
        assert host.loop.run_until(lambda: dev.stats.tx_errors == 1, 5)
        assert dev.core_stats.tx_timeouts >= 1
        # The frame stuck is given up; the queue is woken, the port stays open.
        assert not netif_queue_stopped(dev)
        assert dev.priv.port.is_open and dev.priv.port_losses == 0
        warned = [r.getMessage() for r in caplog.records if "transmit timed out" in r.getMessage()]
        assert warned and "counted in tx_errors" in warned[0], warned
        # The line moves again: the next frame goes out whole, after what the kernel held.
        got = _drain(master, 3)
        host.loop.run_until(lambda: dev.stats.tx_packets == 1, 5)
        assert got.endswith(b"\xc0" + IP + b"\xc0"), got[-64:]
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.tx_packets == 2, 5)
        assert _drain(master, 3) == b"\xc0" + IP + b"\xc0"
        s = dev.stats
        assert (s.tx_packets, s.tx_errors, s.tx_dropped) == (2, 1, 0), s.as_dict()
        assert dev.core_stats.tx_submitted == _ended(dev) == 3
        assert dev.priv.port_losses == 0
    finally:
        host.dev_close(dev)
        os.close(master)
        os.close(slave)


def test_a_timeout_with_nothing_in_flight_only_wakes_the_queue(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://")
    unload(drv)
    dev = drv.devices[0]
    from netdrv_core import netif_stop_queue

    netif_stop_queue(dev)  # stopped, with no frame at the writer (Linux: "driver error")
    dev.netdev_ops.tx_timeout(dev, 0)
    assert not netif_queue_stopped(dev)
    assert dev.stats.tx_errors == 0
    host.attachment.send(dev, IP)
    assert host.loop.run_until(lambda: dev.stats.rx_packets == 1, 5)


def test_a_frame_given_up_as_its_write_completes_leaves_the_next_write_whole(
    host: Host,
) -> None:
    # The timeout gives the frame up just as its write ends: the cancel then finds no write
    # to cut short, and must not cut the next one short instead (pyserial keeps it in a
    # pipe that its next write looks at).
    from netdrv_serial.port import LinePort

    master, slave = os.openpty()
    written: list[object] = []
    lost: list[BaseException] = []
    port = LinePort(os.ttyname(slave), 115200, host.loop.call_soon_threadsafe,
                    lambda d: None, written.append, lost.append)  # fmt: skip
    port.open()
    real = port.ser.write
    done, go_on = threading.Event(), threading.Event()

    def write(data: bytes) -> int:
        n = real(data)
        if data == b"first":
            done.set()
            go_on.wait(5)  # written, not yet reported
        return n

    port.ser.write = write
    try:
        port.write(b"first", "first")
        assert done.wait(5)
        assert port.abandon_write() == (True, "first")
        go_on.set()
        port.write(b"second", "second")
        assert host.loop.run_until(lambda: written == ["second"], 5), (written, lost)
        assert not lost
        assert _drain(master, 2) == b"firstsecond"
        assert port.abandon_write() == (False, None)  # nothing at the writer now
    finally:
        assert port.close() == []
        os.close(master)
        os.close(slave)
