"""The daemon against clients that misbehave, and its exit once its last driver is gone."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from netdrv_core import Driver, Host, alloc_etherdev
from netdrv_core.control import decode_message, encode_message
from netdrv_core.daemon import Daemon, _Conn
from netdrv_core.errors import NetdrvError


class _One(Driver):
    name = "one"
    summary = "one Ethernet device"

    def init(self) -> None:
        self.register(alloc_etherdev())


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    host = Host()
    d = Daemon(host=host, watchdog=None, exit_when_empty=False)
    yield d
    host.close()
    host.loop.close()


def _connect(d: Daemon) -> tuple[_Conn, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    conn = _Conn(a)
    d.conns[a.fileno()] = conn
    return conn, b


def test_a_client_that_never_reads_its_replies_is_dropped_after_the_first_stuck_one(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    send_all = Daemon._send_all

    def short_send_all(conn: _Conn, data: bytes | memoryview, timeout: float) -> bool:
        waits.append(timeout)  # each wait stalls every device and client of the daemon
        return send_all(conn, data, 0.01)

    monkeypatch.setattr(Daemon, "_send_all", staticmethod(short_send_all))
    conn, client = _connect(daemon)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    # Pipelined requests whose replies fill the socket buffers many times over.
    conn.buf += encode_message({"cmd": "sysctl", "values": {}}) * 2000
    client.sendall(encode_message({"cmd": "ping"}))
    daemon._on_readable(conn)
    assert conn.sock.fileno() < 0 and conn not in daemon.conns.values()
    assert len(waits) < 2000 and waits[-1] == 5.0
    # What the client got is whole replies: the stream never carried half of one.
    client.setblocking(False)
    buf = bytearray()
    while True:
        try:
            chunk = client.recv(1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        buf += chunk
    while (msg := decode_message(buf)) is not None:
        assert msg["ok"]
    client.close()


def test_the_last_unload_refuses_a_load_that_its_exit_would_undo(daemon: Daemon) -> None:
    daemon.exit_when_empty = True
    daemon.pm.get_driver = lambda name, **kw: _One  # type: ignore[method-assign]
    daemon.pm.driver_parameters = lambda name, **kw: []  # type: ignore[method-assign]
    assert daemon.handle({"cmd": "load", "driver": "one"})["ok"]
    daemon.handle({"cmd": "unload", "driver": "one"})
    # A second client, connected before the daemon stopped listening, asks for a load
    # in the same loop round: an "ok" would be a lie once the scheduled exit runs.
    with pytest.raises(NetdrvError, match="exiting"):
        daemon.handle({"cmd": "load", "driver": "one"})
    daemon.host.loop.run_until_idle()
    assert not daemon.drivers and not daemon.host.devices


def test_out_of_descriptors_pauses_accepting_instead_of_spinning(daemon: Daemon) -> None:
    # accept() failing with EMFILE leaves the listener readable: handled like any other
    # wake-up it would fire every loop round, at 100 % CPU, logging each time.
    import errno

    from netdrv_core import daemon as daemon_mod

    holder, _peer = socket.socketpair()

    class Listener:
        full = True

        def fileno(self) -> int:
            return holder.fileno()

        def accept(self) -> tuple[socket.socket, object]:
            if self.full:
                raise OSError(errno.EMFILE, "Too many open files")
            raise BlockingIOError

    listener = Listener()
    daemon.listener = listener  # type: ignore[assignment]
    loop = daemon.host.loop
    loop.add_reader(holder.fileno(), daemon._accept)
    _peer.send(b"x")  # readable, as a listener with a connection waiting
    daemon._accept()  # must not raise
    assert holder.fileno() not in loop.reader_fds()
    listener.full = False
    assert loop.run_until(lambda: holder.fileno() in loop.reader_fds(),
                          timeout=daemon_mod.ACCEPT_PAUSE + 1)  # fmt: skip
    daemon.listener = None
    loop.remove_reader(holder.fileno())
    holder.close()
    _peer.close()


def test_plugins_named_by_a_failed_load_are_not_kept(daemon: Daemon) -> None:
    # `netdrv -p os load os`: the load fails (no driver there), and `os` must not stay in
    # the daemon's plugin list, where `netdrv drivers` would show it as installed.
    with pytest.raises(NetdrvError):
        daemon.handle({"cmd": "load", "driver": "os", "plugins": ["os"], "params": []})
    assert "os" not in daemon.pm.extra
    assert "os" not in {d.name for d in daemon.pm.list_drivers()}


def test_a_library_thread_that_keeps_dying_logs_its_traceback_once(caplog) -> None:
    """pyserial's RFC 2217 reader thread dies at every reconnect to a server whose device
    is gone: one traceback, then a line each time, not a traceback every few seconds."""
    import threading

    from netdrv_core.daemon import Daemon
    from netdrv_core.host import Host

    host = Host()
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    try:
        with caplog.at_level("ERROR", logger="netdrv.daemon"):
            for i in range(3):
                t = threading.Thread(name=f"pySerial RFC 2217 reader thread for socket {i}")
                daemon._thread_fault(BrokenPipeError(32, "Broken pipe"), t)
            daemon._thread_fault(ValueError("other"), t)  # another exception: its own traceback
        tracebacks = [r for r in caplog.records if r.exc_info]
        assert len(tracebacks) == 2 and len(caplog.records) == 4
        assert "again" in caplog.records[1].getMessage()
    finally:
        host.close()
        host.loop.close()
