"""The slip driver on the memory attachment: real pyserial ports (loop://, socket://), no root."""

from __future__ import annotations

import itertools
import logging
import os
import select
import socket
import threading
import time

import pytest
from slip_helpers import IP, echo_until_closed, load_slip

from netdrv_core import Host, netif_carrier_ok


def test_loop_port_sends_and_receives_in_every_mode(host: Host) -> None:
    for mode in ("slip", "cslip", "plip", "kiss"):
        drv = load_slip(host, port="loop://", mode=mode, name=f"lp{mode}%d")
        dev = drv.devices[0]
        assert netif_carrier_ok(dev) and dev.is_up
        for _ in range(5):
            host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda d=dev: d.stats.rx_packets == 5, timeout=5)
        host.loop.run_until_idle()
        assert host.attachment.received(dev) == [IP] * 5
        assert dev.stats.tx_packets == 5 and dev.core_stats.tx_submitted == 5
        with host.as_current():
            drv.exit()


def test_oversized_packet_is_dropped_and_counted(host: Host) -> None:
    drv = load_slip(host, port="loop://", mtu="296")
    dev = drv.devices[0]
    dev.mtu = 1500  # the kernel would not do this; the codec still refuses
    host.attachment.send(dev, IP + bytes(1400))
    host.loop.run_until_idle()
    assert dev.stats.tx_dropped == 1 and dev.stats.tx_packets == 0
    with host.as_current():
        drv.exit()


def test_keepalive_drops_carrier_and_outfill_keeps_it(host: Host) -> None:
    quiet = load_slip(host, port="loop://", keepalive="1", name="ka%d")
    dev = quiet.devices[0]
    assert host.loop.run_until(lambda: not netif_carrier_ok(dev), timeout=4)
    # A packet on the line brings the carrier back.
    lively = load_slip(host, port="loop://", keepalive="2", outfill="1", name="of%d")
    dev2 = lively.devices[0]
    host.loop.run_until(lambda: False, timeout=3.5)
    assert netif_carrier_ok(dev2), "outfill ENDs echoed by loop:// keep the line alive"
    assert dev2.ethtool_ops is not None
    stats = dict(
        zip(
            dev2.ethtool_ops.get_strings(dev2),
            dev2.ethtool_ops.get_ethtool_stats(dev2),
            strict=True,
        )
    )
    assert stats["line_bytes_out"] >= 2 and stats["line_bytes_in"] >= 2
    with host.as_current():
        quiet.exit()
        lively.exit()


class _Server:
    """A TCP "serial server" that can vanish and come back on the same port.

    It echoes; a ``deaf`` one never reads (a stuck serial server).  ``conns`` are the
    connections it accepted.
    """

    deaf = False

    def __init__(self, deaf: bool = False) -> None:
        self.deaf = deaf
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(1)
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if not self.deaf:
                threading.Thread(target=echo_until_closed, args=(c,), daemon=True).start()

    def close(self) -> None:
        for c in self.conns:
            c.shutdown(socket.SHUT_RDWR)  # close() alone sends no FIN while recv() blocks
            c.close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.sock.close()


def test_port_vanishing_turns_carrier_off_and_it_comes_back(host: Host) -> None:
    srv = _Server()
    drv = load_slip(host, port=f"socket://127.0.0.1:{srv.port}", retry_max="0.3")
    dev = drv.devices[0]
    host.attachment.send(dev, IP)
    assert host.loop.run_until(lambda: dev.stats.rx_packets == 1, timeout=5)
    port = srv.port
    srv.close()
    assert host.loop.run_until(lambda: not netif_carrier_ok(dev), timeout=5)
    # While the carrier is off, what the stack sends is dropped and counted.
    host.attachment.send(dev, IP)
    host.loop.run_until_idle()
    assert dev.stats.rx_packets == 1, "counters survive the outage"
    time.sleep(0.2)
    srv2 = _Server.__new__(_Server)
    srv2.sock = socket.socket()
    srv2.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv2.sock.bind(("127.0.0.1", port))
    srv2.sock.listen(1)
    srv2.conns = []
    srv2.thread = threading.Thread(target=srv2._accept, daemon=True)
    srv2.thread.start()
    try:
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=5)
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 2, timeout=5)
        s, c = dev.stats, dev.core_stats
        # The writer's completion reaches the loop on its own: the echo may come first.
        assert host.loop.run_until(
            lambda: c.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors, timeout=5
        )
        stats = dict(
            zip(
                dev.ethtool_ops.get_strings(dev),
                dev.ethtool_ops.get_ethtool_stats(dev),
                strict=True,
            )
        )
        assert stats["port_losses"] == 1 and stats["reconnects"] >= 1
    finally:
        with host.as_current():
            drv.exit()
        srv2.close()


def test_load_fails_clearly_without_a_port(host: Host) -> None:
    from netdrv_serial.port import PortError

    with pytest.raises(PortError, match="needs port=PORT"):
        load_slip(host)
    with pytest.raises(PortError, match="does not exist"):
        load_slip(host, port="/dev/ttyDOESNOTEXIST9")
    assert not host.devices


def _slow_line(dev, fail: bool = False) -> None:
    """Every write takes 0.3 s (a slow line); with ``fail``, it then fails (an unplugged adapter)."""
    ser = dev.priv.port.ser
    real = ser.write

    def write(data: bytes) -> int:
        time.sleep(0.3)
        if fail:
            raise OSError(5, "I/O error (adapter unplugged)")
        return real(data)

    ser.write = write


def _ended(dev) -> int:
    s = dev.stats
    return s.tx_packets + s.tx_dropped + s.tx_errors


@pytest.mark.parametrize("how", ["down", "lost"])
def test_an_outfill_end_is_not_counted_as_a_packet(host: Host, how: str) -> None:
    from netdrv_serial import driver as sd

    drv = load_slip(host, port="loop://", outfill="1", retry_max="100")
    dev = drv.devices[0]
    _slow_line(dev, fail=how == "lost")
    host.attachment.send(dev, IP)  # the writer is busy with it...
    host.loop.run_until(lambda: False, 0.05)
    dev.priv.last_tx = -1e9
    sd._outfill(dev)  # ...and an outfill END queues behind it
    if how == "down":
        host.dev_close(dev)
    else:
        assert host.loop.run_until(lambda: dev.priv.port_losses > 0, 3)
    host.loop.run_until(lambda: False, 0.4)
    assert dev.core_stats.tx_submitted == 1 and _ended(dev) == 1, dev.stats.as_dict()
    with host.as_current():
        drv.exit()


def test_unloading_counts_what_the_line_had_not_sent(host: Host) -> None:
    drv = load_slip(host, port="loop://")
    dev = drv.devices[0]
    _slow_line(dev)
    host.attachment.send(dev, IP)
    host.attachment.send(dev, IP)
    host.loop.run_until(lambda: False, 0.05)
    with host.as_current():
        drv.exit()  # netdrv unload slip while the second packet waits for the line
    host.loop.run_until(lambda: False, 0.4)
    assert dev.core_stats.tx_submitted == 2 and _ended(dev) == 2, dev.stats.as_dict()
    assert dev.stats.tx_dropped >= 1


def test_an_mtu_the_interface_refuses_is_refused_at_load(host: Host) -> None:
    from netdrv_core import ParameterError

    with pytest.raises(ParameterError, match=r"mtu=20: must be 0 \(the mode's default\) or 68"):
        load_slip(host, port="loop://", mtu="20")
    assert not host.devices
    drv = load_slip(host, port="loop://", mtu="68")
    assert drv.devices[0].mtu == 68


# -- the port going away and coming back (the daemon keeps serving meanwhile) ---------------
def _serial_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("netdrv-serial")]


def test_a_port_in_use_by_another_program_is_refused(host: Host) -> None:
    # Two programs on one port split its bytes between them: neither link works.
    import fcntl
    import os

    from netdrv_serial.port import PortError

    master, slave = os.openpty()
    path = os.ttyname(slave)
    # The other program locks the port as pyserial's exclusive=True does (one of this
    # daemon's own lines is named instead: test_walk_cable_user).
    other = os.open(path, os.O_RDWR | os.O_NOCTTY)
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(PortError, match=f"{path} is in use by another program"):
            load_slip(host, port=path, name="ey%d")
        assert not host.devices
    finally:
        os.close(other)
        os.close(master)
        os.close(slave)


def test_load_opens_the_port_once(host: Host) -> None:
    # A serial server that serves one client (socat without fork) would be used up by an
    # open-to-check-then-close, and a real tty would toggle DTR (resetting an Arduino).
    srv = _Server()
    drv = load_slip(host, port=f"socket://127.0.0.1:{srv.port}")
    dev = drv.devices[0]
    try:
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 1, timeout=5)
        assert len(srv.conns) == 1
    finally:
        with host.as_current():
            drv.exit()
        srv.close()


def _max_loop_gap(host: Host, seconds: float) -> float:
    """Run the loop for ``seconds`` with a 20 ms ticker; the longest gap between ticks."""
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(time.monotonic())
        host.loop.call_later(0.02, tick)

    tick()
    host.loop.run_until(lambda: False, timeout=seconds)
    return max(b - a for a, b in itertools.pairwise(ticks))


def _slow_opens(monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
    """Every port open takes ``delay`` seconds first (a network connect that hangs)."""
    from netdrv_serial import port as sp

    real = sp.open_serial

    def slow(url: str, *a: object, **kw: object) -> object:
        time.sleep(delay)
        return real(url, *a, **kw)

    monkeypatch.setattr(sp, "open_serial", slow)


def test_reopening_a_slow_network_port_does_not_block_the_daemon(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A ser2net host that is down (no RST, no answer) takes pyserial 5 s to give up per
    # attempt: done on the event loop, `netdrv status` and every other device waited.
    srv = _Server()
    drv = load_slip(host, port=f"socket://127.0.0.1:{srv.port}", retry_max="0.2")
    dev = drv.devices[0]
    _slow_opens(monkeypatch, 1.0)
    srv.close()
    assert host.loop.run_until(lambda: not netif_carrier_ok(dev), timeout=5)
    assert _max_loop_gap(host, 2.5) < 0.5, "the loop waited for a connect"
    t0 = time.monotonic()
    with host.as_current():
        drv.exit()  # `netdrv unload slip` while a connect hangs
    assert time.monotonic() - t0 < 0.5
    assert not host.devices
    # The connect still in progress ends on its own and leaves nothing open.
    deadline = time.monotonic() + 5
    while _serial_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _serial_threads()


def test_a_slow_network_port_comes_back(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = _Server()
    drv = load_slip(host, port=f"socket://127.0.0.1:{srv.port}", retry_max="0.2")
    dev = drv.devices[0]
    _slow_opens(monkeypatch, 0.3)
    for c in srv.conns:
        c.shutdown(socket.SHUT_RDWR)  # the server drops the client and stays up
        c.close()
    srv.conns.clear()
    try:
        assert host.loop.run_until(lambda: dev.priv.port_losses == 1, timeout=5)
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=5)
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 1, timeout=5)
        assert dev.priv.reconnects == 1
    finally:
        with host.as_current():
            drv.exit()
        srv.close()


def test_closing_a_port_whose_server_stopped_reading_is_prompt(host: Host) -> None:
    # The writer is blocked in send() (the server's window is full): close() must wake it,
    # not wait out its join timeout on the event loop.  A writer left blocked would still be
    # alive after close() (the deaf server never reads), so the thread check proves it.
    from netdrv_serial.port import LinePort

    srv = _Server(deaf=True)
    lost: list[BaseException] = []
    port = LinePort(f"socket://127.0.0.1:{srv.port}", 115200, host.loop.call_soon_threadsafe,
                    lambda d: None, lambda t: None, lost.append)  # fmt: skip
    port.open()
    try:
        port.write(bytes(32 << 20), "big")
        host.loop.run_until(lambda: False, timeout=0.5)
        unsent = port.close()
        assert unsent == ["big"] and not lost
        assert not _serial_threads()
    finally:
        port.close()
        srv.close()


# -- wait=1: wait for a port that is not there yet, refuse one that can never be a port ------
def _not_a_port(tmp_path, kind: str) -> str:
    if kind == "devnull":
        return "/dev/null"
    path = tmp_path / "ttyUSB0"
    if kind == "file":
        path.write_bytes(b"")  # e.g. `echo > /dev/ttyUSB0` while the adapter was unplugged
    elif kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        other = tmp_path / "ttyUSB1"
        other.symlink_to(path)
        path.symlink_to(other)
    return str(path)


@pytest.mark.parametrize(
    "kind,says",
    [
        ("file", "is a regular file"),
        ("dir", "is a directory"),
        ("fifo", "is a FIFO"),
        ("devnull", "is a character device but not a terminal"),
        ("loop", ": too many levels of symbolic links"),
    ],
)
def test_wait_refuses_a_path_that_can_never_be_a_serial_port(
    host: Host, tmp_path, kind: str, says: str
) -> None:
    # It would never open: retrying it forever, carrier off, hid the mistake.
    from netdrv_serial.port import PortError

    path = _not_a_port(tmp_path, kind)
    with pytest.raises(PortError) as err:
        load_slip(host, port=path, wait="1")
    msg = str(err.value)
    assert f"{path}{says}" in msg or f"{path} {says}" in msg, msg
    if kind != "loop":  # (that one says to point port= at the device itself)
        assert "pty" in msg and "socket://host:port" in msg and "rfc2217://" in msg, msg
    assert not host.devices and not _serial_threads()


def test_wait_waits_for_a_port_that_does_not_exist_yet(host: Host, tmp_path) -> None:
    # A USB-serial adapter not plugged in yet: the interface comes up without carrier and
    # gets it when the port appears.
    path = tmp_path / "ttyUSB0"
    drv = load_slip(host, port=str(path), wait="1", retry_max="0.2")
    dev = drv.devices[0]
    master, slave = os.openpty()
    try:
        assert dev.is_up and not netif_carrier_ok(dev)
        path.symlink_to(os.ttyname(slave))  # plugged in
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=5)
    finally:
        with host.as_current():
            drv.exit()
        os.close(master)
        os.close(slave)


def test_a_port_that_stays_missing_is_not_logged_on_every_retry(
    host: Host, tmp_path, caplog
) -> None:
    # An adapter left unplugged fails every retry_max seconds: the reason is logged once,
    # then reminded every OPEN_WARN_EVERY seconds with the count, not 720 times an hour.
    # The loop's clock is a fake one, moved retry_max at a time: what is logged does not
    # depend on how fast a loaded machine runs the test.
    now = [1000.0]
    host.loop.clock = lambda: now[0]
    caplog.set_level(logging.DEBUG, logger="netdrv.serial")
    drv = load_slip(host, port=str(tmp_path / "ttyUSB0"), wait="1", retry_max="5")
    try:
        for _ in range(250):  # 1250 s: attempts at 1000, 1005, … 2250
            now[0] += 5.0
            host.loop.run_once(0)
        retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
        warned = [r.getMessage() for r in retries if r.levelno == logging.WARNING]
        assert len(retries) == 251, [r.getMessage() for r in retries]
        assert len(warned) == 3, warned
        assert "does not exist" in warned[0] and "attempts so far" not in warned[0], warned
        assert warned[1].endswith("(still: 121 attempts so far)"), warned  # 600 s later
        assert warned[2].endswith("(still: 241 attempts so far)"), warned
    finally:
        with host.as_current():
            drv.exit()


# -- a frame the line had partly written when the port closed --------------------------------
@pytest.mark.parametrize("how", ["down", "unload"])
def test_a_frame_cut_short_by_close_is_dropped_not_sent(host: Host, how: str) -> None:
    # Nobody reads the pty, so it takes ~12 KB and the writer blocks mid-frame; close()
    # cancels the write and pyserial returns a short count instead of raising.
    master, slave = os.openpty()
    drv = load_slip(host, port=os.ttyname(slave), mtu="65534")
    dev = drv.devices[0]
    try:
        host.attachment.send(dev, IP + bytes(60_000))
        readable, _, _ = select.select([master], [], [], 5)
        assert readable, "the writer never started"
        host.loop.run_until(lambda: False, 0.2)
        if how == "down":
            host.dev_close(dev)
        else:
            with host.as_current():
                drv.exit()
        host.loop.run_until(lambda: False, 0.3)  # a late on_written would land here
        s = dev.stats
        assert (s.tx_packets, s.tx_bytes, s.tx_dropped) == (0, 0, 1), s.as_dict()
        assert dev.core_stats.tx_submitted == _ended(dev) == 1
    finally:
        if how == "down":
            with host.as_current():
                drv.exit()
        os.close(master)
        os.close(slave)
