"""A daemon started on demand that is never used — its ``netdrv load`` was killed before
the load reached it, or the load failed — exits by itself after ``unused_exit`` seconds,
instead of running empty until ``netdrv stop``.  One that loaded a driver, or took a
``netdrv sysctl`` setting (which keeps a daemon without drivers, on purpose), stays."""

from __future__ import annotations

import logging
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from netdrv_core import Host
from netdrv_core.control import encode_message
from netdrv_core.daemon import Daemon
from netdrv_core.errors import NetdrvError
from netdrv_core.loop import EventLoop


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    """A daemon on the memory attachment that exits 0.2 s after its start if unused."""
    host = Host()
    d = Daemon(host=host, watchdog=None, unused_exit=0.2)
    yield d
    d.shutdown()
    host.loop.run_until_idle()
    host.close()
    host.loop.close()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Daemon], None]]:
    """``serve(d)``: ``d.run()`` until it stops (at most 60 s), its signal handlers and
    ``threading.excepthook`` put back afterwards."""
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT,
                                                       signal.SIGHUP)}  # fmt: skip

    def serve(d: Daemon) -> None:
        d.host.loop.call_later(60, d.host.loop.stop)  # a test that fails, not one that hangs
        d.run()

    yield serve
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_an_unused_daemon_exits_by_itself(
    daemon: Daemon, serve: Callable[[Daemon], None], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "netdrv.daemon"):
        serve(daemon)
    assert "no driver was loaded and no setting made in the 0.2 s" in caplog.text


def test_the_unused_time_counts_from_when_the_daemon_serves(
    serve: Callable[[Daemon], None],
) -> None:
    # A start-up slower than unused_exit (imports, a log to rotate, a host with many
    # processes to prune logs for) must not end the daemon before its starter's load,
    # which can only come once the daemon serves, had its chance.
    offset = [0.0]
    host = Host(loop=EventLoop(clock=lambda: time.monotonic() + offset[0]))
    d = Daemon(host=host, watchdog=None, unused_exit=0.2)
    offset[0] += 1.0  # the start-up took a second
    seen: list[bool] = []
    host.loop.call_later(0.1, lambda: seen.append(d._exiting or d._stopping))
    host.loop.call_later(0.1, host.loop.stop)  # before the daemon's 0.2 s are up
    try:
        serve(d)
    finally:
        host.loop.close()
    assert seen == [False], "the daemon exited before it had served for unused_exit seconds"


def test_deferred_housekeeping_runs_after_the_first_request_is_answered(
    serve: Callable[[Daemon], None],
) -> None:
    # Log pruning reads every process's fds: the load waiting as the daemon starts to
    # serve is answered first.
    host = Host()
    d = Daemon(host=host, watchdog=None)
    ours, theirs = socket.socketpair()
    answered: list[bool] = []

    def housekeeping() -> None:
        answered.append(bool(select.select([theirs], [], [], 0)[0]))
        host.loop.stop()

    d.defer(housekeeping)
    d._admit(ours)
    theirs.sendall(encode_message({"cmd": "sysctl", "values": {}}))
    try:
        serve(d)
        assert answered == [True]
    finally:
        theirs.close()
        host.loop.close()


def test_deferred_housekeeping_runs_without_a_request_too(
    serve: Callable[[Daemon], None],
) -> None:
    host = Host()
    d = Daemon(host=host, watchdog=None)
    ran: list[bool] = []
    d.defer(lambda: (ran.append(True), host.loop.stop()))
    try:
        serve(d)  # returns once the housekeeping ran, or after 60 s: then it failed
    finally:
        host.loop.close()
    assert ran == [True]


def test_a_daemon_whose_load_failed_exits_by_itself(
    daemon: Daemon, serve: Callable[[Daemon], None], caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(NetdrvError):
        daemon.handle({"cmd": "load", "driver": "no_such_driver"})
    with caplog.at_level(logging.INFO, "netdrv.daemon"):
        serve(daemon)
    assert "no driver was loaded and no setting made in the 0.2 s" in caplog.text


@pytest.mark.parametrize(
    "req",
    [{"cmd": "load", "driver": "loopback"}, {"cmd": "sysctl", "values": {"busy_poll": 0}}],
    ids=["load", "sysctl"],
)
def test_a_used_daemon_stays(daemon: Daemon, req: dict) -> None:
    assert daemon.handle(req)["ok"]  # type: ignore[index]
    daemon._exit_if_unused()  # what the timer runs
    daemon.host.loop.run_until_idle()
    assert not daemon._stopping and not daemon._exiting


def test_a_failed_load_does_not_end_a_daemon_a_setting_started(daemon: Daemon) -> None:
    # `netdrv sysctl busy_poll=1` keeps a daemon without drivers until `netdrv stop`: a
    # later load that fails (a missing serial port) must not take it, and the setting, away.
    assert daemon.handle({"cmd": "sysctl", "values": {"busy_poll": 50}})["ok"]  # type: ignore[index]
    with pytest.raises(NetdrvError, match="does not exist"):
        daemon.handle({"cmd": "load", "driver": "slip", "params": ["port=/dev/netdrv-nosuch"]})
    daemon.host.loop.run_until_idle()
    assert not daemon._stopping and not daemon._exiting
    assert daemon.host.loop.busy_poll == 50e-6


def test_a_connection_open_at_the_deadline_postpones_it(daemon: Daemon) -> None:
    # A command connected (its load may be on its way): the daemon waits for it.
    ours, theirs = socket.socketpair()
    with theirs:
        daemon._admit(ours)
        daemon._exit_if_unused()
        assert not daemon._exiting
    assert daemon.host.loop.run_until(lambda: daemon._stopping, 30)  # it hung up: unused


def test_a_daemon_of_its_own_has_no_deadline() -> None:
    host = Host()
    d = Daemon(host=host, watchdog=None)  # a test's, an application's, `netdrv load -f`
    try:
        assert d.unused_exit is None
        d._exit_if_unused()
        assert not d._exiting
    finally:
        host.close()
        host.loop.close()
