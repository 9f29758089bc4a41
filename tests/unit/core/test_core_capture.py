"""`netdrv capture` in the daemon: exactly -c N records, and an EOF when the device goes away."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from fakedev import make_dev, mem

from netdrv_core.daemon import Daemon, _Conn
from netdrv_core.host import Host


@pytest.fixture
def capture() -> Iterator[tuple]:
    host = Host()
    dev, _ = make_dev(host)
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    a, b = socket.socketpair()
    a.setblocking(False)
    conn = _Conn(a)
    daemon.conns[a.fileno()] = conn
    yield host, daemon, dev, conn, b
    a.close()
    b.close()
    host.close()
    host.loop.close()


def _records(data: bytes) -> int:
    """pcap records in what the client received: reply, pcap header, then records."""
    n = struct.unpack("!I", data[:4])[0]
    rest, count = data[4 + n + 24 :], 0
    while len(rest) >= 16:
        rest = rest[16 + struct.unpack("<IIII", rest[:16])[2] :]
        count += 1
    return count


def _read_all(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything sent so far, and whether the daemon closed the connection (EOF)."""
    sock.setblocking(False)
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return data, False
        if not chunk:
            return data, True
        data += chunk


@pytest.mark.parametrize("count", [1, 3])
def test_exactly_count_records_even_when_more_frames_come_in_the_same_round(capture, count):
    host, daemon, dev, conn, client = capture
    daemon.start_capture(conn, dev.name, count)
    for _ in range(count + 4):
        mem(host).send(dev, bytes(60))  # all in one loop round
    host.loop.run_until_idle()
    data, eof = _read_all(client)
    assert _records(data) == count and eof
    assert not host._taps, "the tap is gone: frames skip the capture lookups again"


def test_the_capture_ends_with_an_eof_when_its_device_is_unregistered(capture):
    host, daemon, dev, conn, client = capture
    daemon.start_capture(conn, dev.name, 0)
    mem(host).send(dev, bytes(60))
    host.loop.run_until_idle()
    host.unregister_netdev(dev)
    host.loop.run_until_idle()
    data, eof = _read_all(client)
    assert _records(data) == 1 and eof, "netdrv capture would wait forever"
    assert not host._taps and not host._tap_gone


def test_records_larger_than_the_socket_buffer_arrive_whole(capture):
    import threading
    import time

    host, daemon, dev, conn, client = capture
    daemon.start_capture(conn, dev.name, 0)
    got = bytearray()

    def slow_reader() -> None:  # a client that reads, but not at once
        client.settimeout(2.0)
        time.sleep(0.05)
        while True:
            try:
                chunk = client.recv(32768)
            except OSError:
                return
            if not chunk:
                return
            got.extend(chunk)

    t = threading.Thread(target=slow_reader)
    t.start()
    sizes = [120_000, 120_000, 120_000, 60, 60]  # bigger than the socket's send buffer
    for n in sizes:
        mem(host).send(dev, bytes(n))
        # The rest of a half-sent record goes out from a timer, while the devices run on.
        assert host.loop.run_until(lambda: not conn.out, timeout=5)
    daemon._close_conn(conn)
    t.join(5)
    assert _lengths(bytes(got)) == sizes


def _lengths(data: bytes) -> list[int]:
    """The lengths of the pcap records in what the client received (all of them whole)."""
    n = struct.unpack("!I", data[:4])[0]
    rest, lengths = data[4 + n + 24 :], []
    while len(rest) >= 16:
        incl = struct.unpack("<IIII", rest[:16])[2]
        assert len(rest) >= 16 + incl, "a record was cut: the stream lost its sync"
        lengths.append(incl)
        rest = rest[16 + incl :]
    assert not rest, "a partial record header"
    return lengths


def test_a_record_the_socket_takes_part_of_never_waits_and_later_ones_are_lost(
    capture, monkeypatch
):
    host, daemon, dev, conn, client = capture
    daemon.start_capture(conn, dev.name, 0)
    host.loop.run_until_idle()

    def wait(*_a: object) -> bool:
        raise AssertionError("a capture waited for its reader: every device stalled meanwhile")

    monkeypatch.setattr(daemon, "_send_all", wait)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    sizes = [60, 200_000, 70, 80]  # the second is far bigger than the socket buffer
    for n in sizes:
        mem(host).send(dev, bytes(n))
    assert conn.out, "the rest of the big record was not queued"
    got = b""
    for _ in range(500):  # the reader reads; the timer sends the rest as room comes
        got += _read_all(client)[0]
        if not conn.out:
            break
        host.loop.run_once(0.01)
    got += _read_all(client)[0]
    # Whole records only: 70 and 80 came while the big one was going out, and are lost.
    assert _lengths(got) == [60, 200_000]
    mem(host).send(dev, bytes(90))  # the reader keeps up again: frames are captured again
    assert _lengths(got + _read_all(client)[0]) == [60, 200_000, 90]


def test_a_request_on_a_capturing_connection_ends_it_and_leaves_no_tap(capture):
    from netdrv_core.control import encode_message

    host, daemon, dev, conn, client = capture
    daemon.start_capture(conn, dev.name, 0)
    client.sendall(encode_message({"cmd": "capture", "dev": dev.name}))  # a second capture
    daemon._on_readable(conn)
    host.loop.run_until_idle()
    _, eof = _read_all(client)
    assert eof and not host._taps, "the first capture's tap would be orphaned"


class _FullSocket:
    """A connection's socket whose reader is too slow while ``full``: sends fail, nothing goes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.full = False

    def send(self, data: bytes) -> int:
        if self.full:
            raise BlockingIOError
        return self.sock.send(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


def test_count_counts_the_records_sent_not_those_a_slow_reader_lost(capture):
    host, daemon, dev, conn, client = capture
    sock = conn.sock = _FullSocket(conn.sock)
    daemon.start_capture(conn, dev.name, 2)
    sock.full = True
    for _ in range(3):  # lost: the reader's buffer is full
        mem(host).send(dev, bytes(60))
    host.loop.run_until_idle()
    sock.full = False
    for _ in range(3):
        mem(host).send(dev, bytes(60))
    host.loop.run_until_idle()
    data, eof = _read_all(client)
    assert _records(data) == 2 and eof, "-c 2 wrote fewer than 2 frames"


class _CuttingSocket(_FullSocket):
    """A socket that takes only half of the next record, then nothing (a reader that stalls)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.cut = False

    def send(self, data: bytes) -> int:
        if self.cut:
            self.cut, self.full = False, True
            return self.sock.send(bytes(data)[: len(data) // 2])
        return super().send(data)


def test_a_record_cut_by_a_stalled_reader_is_the_last_of_the_capture(capture):
    host, daemon, dev, conn, client = capture
    sock = conn.sock = _CuttingSocket(conn.sock)
    daemon.capture_stall_timeout = 0.05
    daemon.start_capture(conn, dev.name, 0)
    host.loop.run_until_idle()
    assert host._taps
    sock.cut = True
    mem(host).send(dev, bytes(60))  # cut in the middle, and the reader stalls...
    mem(host).send(dev, bytes(60))  # ...so this one is lost, not sent after half a record
    assert host.loop.run_until(lambda: not host._taps, timeout=5), "a stalled capture went on"
    host.loop.run_until_idle()
    data, eof = _read_all(client)
    reply = 4 + struct.unpack("!I", data[:4])[0]
    # The reply, the pcap header and half of the first record (16 + 60 bytes): no second
    # record after it, which the reader would take for the rest of the first.
    assert eof and len(data) == reply + 24 + (16 + 60) // 2


def test_the_last_record_of_count_goes_out_whole_before_the_eof(capture):
    host, daemon, dev, conn, client = capture
    sock = conn.sock = _CuttingSocket(conn.sock)
    daemon.start_capture(conn, dev.name, 1)
    host.loop.run_until_idle()
    sock.cut = True
    mem(host).send(dev, bytes(60))  # half of the only record goes out, then the reader stalls
    host.loop.run_once(0.005)
    assert conn.sock.fileno() >= 0, "closed with half a record sent"
    sock.full = False  # the reader reads again
    assert host.loop.run_until(lambda: conn.sock.fileno() < 0, timeout=5)
    data, eof = _read_all(client)
    assert eof and _lengths(data) == [60]
