"""``ethtool -p`` through the daemon's control socket: answered when it ends, and a client
that goes away (Ctrl-C on ``netdrv ethtool -p``) ends it, the driver told INACTIVE."""

from __future__ import annotations

import errno
import json
import os
import socket
from collections.abc import Iterator

import pytest
from fakedev import FakeClock, make_dev

from netdrv_core import Host, NetDevice
from netdrv_core.control import decode_message, encode_message
from netdrv_core.daemon import Daemon
from netdrv_core.driver import Driver
from netdrv_core.ethtool import ETHTOOL_ID_ACTIVE, ETHTOOL_ID_INACTIVE, EthtoolOps


class Led(EthtoolOps):
    def __init__(self) -> None:
        self.states: list[int] = []

    def set_phys_id(self, dev: NetDevice, state: int) -> int:
        self.states.append(state)
        return 0  # blinks by itself


@pytest.fixture
def daemon(host: Host) -> Iterator[Daemon]:
    """A daemon on the fake-clock host, on an abstract address of its own."""
    address = f"\0netdrv-test-identify/{os.getpid()}/{id(host)}"
    d = Daemon(host=host, watchdog=None, exit_when_empty=False)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    s.bind(address)
    s.listen(4)
    d.listener = s
    host.loop.add_reader(s.fileno(), d._accept)
    d.address = address  # type: ignore[attr-defined]
    yield d
    for conn in list(d.conns.values()):
        d._close_conn(conn)
    d._close_listener()


def _ask(d: Daemon, seconds: int) -> socket.socket:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(d.address)  # type: ignore[attr-defined]
    c.sendall(encode_message({"cmd": "ethtool", "dev": "t0", "op": "identify",
                              "args": {"seconds": seconds}}))  # fmt: skip
    return c


def _reply(d: Daemon, c: socket.socket) -> dict:
    buf = bytearray()
    c.setblocking(False)

    def got() -> bool:
        try:
            buf.extend(c.recv(4096))
        except BlockingIOError:
            pass
        return decode_message(bytearray(buf)) is not None

    assert d.host.loop.run_until(got, timeout=5)
    msg = decode_message(buf)
    assert msg is not None
    return json.loads(json.dumps(msg))


def test_answered_when_it_ends(daemon: Daemon, host: Host, clock: FakeClock) -> None:
    dev, _ = make_dev(host)
    dev.ethtool_ops = ops = Led()
    c = _ask(daemon, 2)
    assert host.loop.run_until(lambda: ops.states == [ETHTOOL_ID_ACTIVE], timeout=5)
    clock.advance(2.5)
    assert _reply(daemon, c) == {"ok": True, "result": {}}
    assert ops.states == [ETHTOOL_ID_ACTIVE, ETHTOOL_ID_INACTIVE]
    c.close()


def test_a_client_that_goes_away_ends_it_inactive(
    daemon: Daemon, host: Host, clock: FakeClock
) -> None:
    dev, _ = make_dev(host)
    dev.ethtool_ops = ops = Led()
    c = _ask(daemon, 0)  # until interrupted
    assert host.loop.run_until(lambda: ops.states == [ETHTOOL_ID_ACTIVE], timeout=5)
    clock.advance(60)
    host.loop.run_until_idle()
    assert ops.states == [ETHTOOL_ID_ACTIVE], "still identifying"
    c.close()  # Ctrl-C
    assert host.loop.run_until(lambda: ops.states[-1] == ETHTOOL_ID_INACTIVE, timeout=5)
    assert ops.states == [ETHTOOL_ID_ACTIVE, ETHTOOL_ID_INACTIVE]
    assert host.loop.run_until(lambda: not daemon.conns, timeout=5)


class Refusing(EthtoolOps):
    """Asks the core to blink (1 Hz), then refuses the first ON."""

    def __init__(self) -> None:
        self.states: list[int] = []

    def set_phys_id(self, dev: NetDevice, state: int) -> int:
        self.states.append(state)
        return 1 if state == ETHTOOL_ID_ACTIVE else -errno.EIO


def test_an_identify_that_ends_at_once_leaves_nothing_owed(
    daemon: Daemon, host: Host, clock: FakeClock
) -> None:
    """Its first ON refused, it is over before the request returns: the client is answered
    once, and its connection is not left waiting for an answer (a next request on it is
    served, not taken for a client that did not wait)."""
    dev, _ = make_dev(host)
    dev.ethtool_ops = Refusing()
    c = _ask(daemon, 0)
    reply = _reply(daemon, c)
    assert reply["ok"] is False and reply["errno"] == errno.EIO
    (conn,) = daemon.conns.values()
    assert not conn.pending and conn.on_close is None
    c.setblocking(True)
    c.sendall(encode_message({"cmd": "ethtool", "dev": "t0", "op": "drvinfo"}))
    assert _reply(daemon, c)["ok"] is True
    c.close()


def test_in_process_from_a_loop_callback_is_refused(daemon: Daemon, host: Host) -> None:
    """An in-process request cannot wait inside a loop callback (it would run the loop
    inside itself): EDEADLK, and nothing left identifying."""
    dev, _ = make_dev(host)
    dev.ethtool_ops = ops = Led()
    got: list[dict | None] = []
    req = {"cmd": "ethtool", "dev": "t0", "op": "identify", "args": {"seconds": 1}}
    host.loop.call_soon(lambda: got.append(daemon.handle(req, None)))
    assert host.loop.run_until(lambda: bool(got), timeout=5)
    assert got[0] is not None
    assert got[0]["ok"] is False and got[0]["errno"] == errno.EDEADLK
    assert ops.states == []


class _Drv(Driver):
    name = "ledtest"
    summary = "a driver with an LED"

    def init(self) -> None:  # pragma: no cover - registered by the test
        pass

    def exit(self) -> None:
        self.exit_saw = list(ops_of(self).states)
        super().exit()


def ops_of(drv: Driver) -> Led:
    ops = drv.devices[0].ethtool_ops
    assert isinstance(ops, Led)
    return ops


def test_an_unload_ends_it_inactive_before_the_driver_exits(
    daemon: Daemon, host: Host, clock: FakeClock
) -> None:
    """``netdrv unload`` during ``ethtool -p``: the driver hears INACTIVE while its device is
    there (before its exit), and the waiting client is told why (ENODEV)."""
    drv = _Drv(host, {})
    dev, _ = make_dev(None)
    dev.ethtool_ops = ops = Led()
    drv.register(dev)
    daemon.drivers["ledtest"] = drv
    c = _ask(daemon, 0)
    assert host.loop.run_until(lambda: ops.states == [ETHTOOL_ID_ACTIVE], timeout=5)
    daemon.unload("ledtest")
    assert drv.exit_saw == [ETHTOOL_ID_ACTIVE, ETHTOOL_ID_INACTIVE]
    reply = _reply(daemon, c)
    assert reply["ok"] is False and reply["errno"] == errno.ENODEV
    assert "unload" in reply["error"]
    c.close()
