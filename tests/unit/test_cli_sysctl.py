"""`netdrv sysctl`: shows every tunable, sets ``NAME=VALUE``, and says what is wrong.

A name that is no tunable is refused naming the ones there are; a tunable's
name without a value shows that value, as sysctl(8) does.  The requests go to a
real :class:`~netdrv_core.daemon.Daemon` object of the test, in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import netdrv_core.cli as cli_mod
from netdrv_core import Host
from netdrv_core.cli import cli
from netdrv_core.daemon import Daemon


class _InProcessClient:
    """A control client whose requests a Daemon object of this test answers."""

    def __init__(self, daemon: Daemon, asked: list[dict[str, Any]]) -> None:
        self.daemon, self.asked = daemon, asked

    def __enter__(self) -> _InProcessClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def request(self, cmd: str, **req: Any) -> dict[str, Any]:
        self.asked.append({"cmd": cmd, **req})
        reply = self.daemon.handle({"cmd": cmd, **req})
        assert reply is not None
        return reply


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The requests `netdrv sysctl` sent, to a Daemon object with busy_poll=25 set."""
    level = logging.getLogger("netdrv").level  # loglevel= sets it: given back after
    host = Host()
    daemon = Daemon(host=host, watchdog=None)
    requests: list[dict[str, Any]] = []
    monkeypatch.setattr(cli_mod, "_client", lambda start=False: _InProcessClient(daemon, requests))
    try:
        daemon.sysctl({"busy_poll": 25, "loglevel": 7})
        yield requests
    finally:
        logging.getLogger("netdrv").setLevel(level)
        host.loop.run_until_idle()
        host.close()
        host.loop.close()


def test_a_name_alone_shows_that_value_as_sysctl_does(asked: list[dict[str, Any]]) -> None:
    res = CliRunner().invoke(cli, ["sysctl", "loglevel"])
    assert res.exit_code == 0, res.output
    assert res.output == "loglevel = 7\n"
    # Names given with settings: those, in their order, as `sysctl -w a=1 b` prints them.
    res = CliRunner().invoke(cli, ["sysctl", "loglevel", "busy_poll=40"])
    assert res.exit_code == 0, res.output
    assert res.output == "loglevel = 7\nbusy_poll = 40\n"
    assert [r["values"] for r in asked] == [{}, {"busy_poll": 40}]


def test_no_argument_shows_every_value_and_a_setting_shows_them_all(
    asked: list[dict[str, Any]],
) -> None:
    assert CliRunner().invoke(cli, ["sysctl"]).output == "busy_poll = 25\nloglevel = 7\n"
    res = CliRunner().invoke(cli, ["sysctl", "busy_poll=50"])
    assert res.exit_code == 0, res.output
    assert res.output == "busy_poll = 50\nloglevel = 7\n"
    assert [r["values"] for r in asked] == [{}, {"busy_poll": 50}]


@pytest.mark.parametrize("arg", ["busy_pol", "busy_pol=5", "=5"])
def test_an_unknown_name_is_refused_with_the_names_there_are(
    asked: list[dict[str, Any]], arg: str
) -> None:
    res = CliRunner().invoke(cli, ["sysctl", arg])
    assert res.exit_code == 1, res.output
    name = arg.partition("=")[0]
    assert res.output == (
        f"netdrv: unknown tunable {name!r}: give NAME or NAME=VALUE with NAME one of: "
        "busy_poll, loglevel\n"
    )
    assert asked == []  # refused before the daemon is asked
