"""``netdrv sysctl loglevel=N`` sets netdrv's loggers, not the process's root logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from netdrv_core import Host
from netdrv_core.daemon import Daemon


@pytest.fixture
def daemon(host: Host) -> Iterator[Daemon]:
    root, netdrv = logging.getLogger(), logging.getLogger("netdrv")
    saved = root.level, netdrv.level
    root.setLevel(logging.INFO)  # an application's choice (or the daemon's --log-level)
    netdrv.setLevel(logging.NOTSET)
    try:
        yield Daemon(host=host, watchdog=None, exit_when_empty=False)
    finally:
        root.setLevel(saved[0])
        netdrv.setLevel(saved[1])


def test_loglevel_leaves_the_root_logger_and_other_libraries_alone(daemon: Daemon) -> None:
    other = logging.getLogger("some.library")
    assert daemon.sysctl({})["loglevel"] == 7  # netdrv follows the root level until set
    assert daemon.sysctl({"loglevel": 4})["loglevel"] == 4
    assert logging.getLogger().level == logging.INFO
    assert other.isEnabledFor(logging.INFO)  # the embedding application still logs its info
    assert not logging.getLogger("netdrv.snull").isEnabledFor(logging.WARNING)
    assert logging.getLogger("netdrv.snull").isEnabledFor(logging.ERROR)
    assert daemon.sysctl({"loglevel": 8})["loglevel"] == 8
    assert logging.getLogger("netdrv.snull").isEnabledFor(logging.DEBUG)  # netdev_dbg
    assert logging.getLogger("netdrv.daemon").isEnabledFor(logging.DEBUG)
    assert logging.getLogger().level == logging.INFO
    assert not other.isEnabledFor(logging.DEBUG)  # no library debug flood in the log


def test_netdrv_debug_messages_still_reach_the_root_handlers(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon's handler is on the root logger: a netdrv record admitted by netdrv's
    level propagates to it whatever the root logger's own level."""
    daemon.sysctl({"loglevel": 8})
    logging.getLogger("netdrv.snull").debug("sn0: simulated lockup")
    assert [r.getMessage() for r in caplog.records if r.name == "netdrv.snull"] == [
        "sn0: simulated lockup"
    ]
