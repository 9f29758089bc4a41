"""A daemon started on demand that is never used — its ``netdrv load`` was killed before
the load reached it, or the load failed — exits by itself after ``unused_exit`` seconds,
instead of running empty until ``netdrv stop``.  One that loaded a driver, or took a
``netdrv sysctl`` setting (which keeps a daemon without drivers, on purpose), stays."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from netdrv_core import Host
from netdrv_core.daemon import Daemon
from netdrv_core.errors import NetdrvError


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


def test_an_unused_daemon_exits_by_itself(daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "netdrv.daemon"):
        assert daemon.host.loop.run_until(lambda: daemon._stopping, 30)
    assert "no driver was loaded and no setting made in the 0.2 s" in caplog.text


def test_a_daemon_whose_load_failed_exits_by_itself(daemon: Daemon) -> None:
    with pytest.raises(NetdrvError):
        daemon.handle({"cmd": "load", "driver": "no_such_driver"})
    assert daemon.host.loop.run_until(lambda: daemon._stopping, 30)


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
