"""Control connections that never finish a request cannot use up the daemon's descriptors:
an idle timeout closes them, and a limit refuses more than the daemon serves at once."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator

import pytest
from fakedev import FakeClock

import netdrv_core.control as control_mod
from netdrv_core import Host, alloc_etherdev
from netdrv_core.control import ControlClient, decode_message, encode_message
from netdrv_core.daemon import Daemon


@pytest.fixture
def daemon(host: Host, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A daemon on the fake-clock host, listening on an abstract address of its own (not
    the namespace's control socket: no real daemon is disturbed)."""
    address = f"\0netdrv-test/{os.getpid()}/{id(host)}"
    d = Daemon(host=host, watchdog=None, exit_when_empty=False)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    s.bind(address)
    s.listen(16)
    d.listener = s
    host.loop.add_reader(s.fileno(), d._accept)
    monkeypatch.setattr(control_mod, "CONTROL_ADDRESS", address)
    d.address = address  # type: ignore[attr-defined]
    yield d
    for conn in list(d.conns.values()):
        d._close_conn(conn)
    d._close_listener()


def _client(d: Daemon) -> socket.socket:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(d.address)  # type: ignore[attr-defined]
    d.host.loop.run_until(lambda: len(d.conns) >= 1, timeout=5)
    return c


def _accepted(d: Daemon, n: int) -> None:
    assert d.host.loop.run_until(lambda: len(d.conns) == n, timeout=5), len(d.conns)


def _closed_by_daemon(c: socket.socket) -> bool:
    c.settimeout(5)
    try:
        return c.recv(100) == b""
    except ConnectionResetError:
        return True


def test_a_client_that_sends_nothing_or_half_a_request_is_closed_after_the_idle_timeout(
    daemon: Daemon, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="netdrv.daemon")
    silent = _client(daemon)
    _accepted(daemon, 1)
    half = _client(daemon)
    _accepted(daemon, 2)
    half.sendall(encode_message({"cmd": "ping"})[:6])  # the length and two bytes of JSON
    daemon.host.loop.run_once(0)
    clock.advance(daemon.idle_timeout - 1)
    daemon.host.loop.run_once(0)
    assert len(daemon.conns) == 2  # not idle for long enough yet
    clock.advance(1)
    assert daemon.host.loop.run_until(lambda: not daemon.conns, timeout=5)
    assert _closed_by_daemon(silent) and _closed_by_daemon(half)
    msgs = [r.getMessage() for r in caplog.records]
    assert any(f"closed 2 control connection(s) that sent no request for "
               f"{daemon.idle_timeout:g} s (pid {os.getpid()})" in m for m in msgs), msgs  # fmt: skip
    silent.close()
    half.close()


def test_the_idle_check_closes_at_the_time_it_was_armed_for(
    daemon: Daemon, clock: FakeClock
) -> None:
    """At 1000.1 + 60 the float ``now - since`` is 59.99999999999989: a check comparing that
    with the timeout finds nothing idle and re-arms for the same instant, over and over,
    until the clock moves on."""
    clock.now = 1000.1
    assert (clock.now + daemon.idle_timeout) - clock.now < daemon.idle_timeout
    c = _client(daemon)
    _accepted(daemon, 1)
    clock.advance(daemon.idle_timeout)
    for _ in range(5):
        daemon.host.loop.run_once(0)
    assert not daemon.conns
    assert _closed_by_daemon(c)
    c.close()


def test_a_client_that_keeps_asking_is_not_idle(daemon: Daemon, clock: FakeClock) -> None:
    """The idle time counts from the connect or the last reply, not from the connect only."""
    c = _client(daemon)
    _accepted(daemon, 1)
    buf = bytearray()
    for _ in range(3):
        clock.advance(daemon.idle_timeout - 1)
        c.sendall(encode_message({"cmd": "ping"}))
        while (reply := decode_message(buf)) is None:
            daemon.host.loop.run_once(0.05)
            c.setblocking(False)
            try:
                buf += c.recv(65536)
            except BlockingIOError:
                pass
        assert reply["ok"]
        assert len(daemon.conns) == 1
    c.close()


def test_a_capture_waiting_for_frames_is_not_idle(daemon: Daemon, clock: FakeClock) -> None:
    """A capture of a quiet device streams nothing for minutes: it is not a stuck client."""
    dev = alloc_etherdev()
    daemon.host.register_netdev(dev)
    c = _client(daemon)
    _accepted(daemon, 1)
    c.sendall(encode_message({"cmd": "capture", "dev": dev.name}))
    conn = next(iter(daemon.conns.values()))
    assert daemon.host.loop.run_until(lambda: conn.capture_remove is not None, timeout=5)
    other = _client(daemon)
    _accepted(daemon, 2)
    clock.advance(10 * daemon.idle_timeout)
    assert daemon.host.loop.run_until(lambda: len(daemon.conns) == 1, timeout=5)
    assert conn in daemon.conns.values() and conn.capture_remove is not None
    assert _closed_by_daemon(other)
    other.close()
    c.close()


def test_more_connections_than_the_limit_are_refused_with_a_reason(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="netdrv.daemon")
    daemon.max_connections = 3
    held = []
    for n in range(1, 4):
        held.append(_client(daemon))
        _accepted(daemon, n)
    # A netdrv command past the limit gets the daemon's reason, not a bare hang-up.
    c = ControlClient(timeout=5)
    for _ in range(20):
        daemon.host.loop.run_once(0.01)
    reply = c.request("ping")
    c.close()
    assert not reply["ok"] and "3 control connections open, its limit" in reply["error"]
    assert len(daemon.conns) == 3
    msgs = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(msgs) == 1 and f"pid {os.getpid()}: 3" in msgs[0], msgs
    # One connection gone: the next client is served.
    held.pop().close()
    assert daemon.host.loop.run_until(lambda: len(daemon.conns) == 2, timeout=5)
    c2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c2.connect(daemon.address)  # type: ignore[attr-defined]
    _accepted(daemon, 3)
    for s in (*held, c2):
        s.close()


def test_a_connection_that_cannot_be_set_up_does_not_cost_the_listener(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer gone before its credentials were read: that connection is dropped, and the
    listener stays watched (a raising reader is removed from the loop)."""
    import netdrv_core.daemon as daemon_mod

    def gone(sock: socket.socket) -> tuple[int, int]:
        raise OSError(107, "Transport endpoint is not connected")

    monkeypatch.setattr(daemon_mod, "_peer_creds", gone)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(daemon.address)  # type: ignore[attr-defined]
    for _ in range(5):
        daemon.host.loop.run_once(0.01)
    assert daemon.listener is not None
    assert daemon.listener.fileno() in daemon.host.loop.reader_fds() and not daemon.conns
    assert _closed_by_daemon(c)
    c.close()
