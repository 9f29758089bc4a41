"""``netdrv stop`` (and the ``netdrv unload`` that ends the daemon) return once the daemon
process has exited, not when its control socket is gone: ``netdrv stop && X`` must not
race a daemon still closing its interfaces.

The daemons here are stand-ins in a process of their own (their pid is what ``netdrv``
waits for), on a control socket of this test: never a real daemon.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import netdrv_core.control as control_mod
from netdrv_core.cli import cli

# Serve one request with the reply given, stop listening (as an exiting daemon does), then
# take LINGER seconds to exit (a negative LINGER: until killed).
_STAND_IN = r"""
import json, socket, struct, sys, time
address, reply, linger = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + address)
s.listen(4)
print("listening", flush=True)
c, _ = s.accept()
n = struct.unpack("!I", c.recv(4, socket.MSG_WAITALL))[0]
sys.stderr.write(c.recv(n, socket.MSG_WAITALL).decode() + "\n")
s.close()
data = json.dumps(reply).encode()
c.sendall(struct.pack("!I", len(data)) + data)
c.close()
time.sleep(linger if linger >= 0 else 3600)
"""


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a stand-in daemon process that answers with a reply and exits after a while."""
    address = f"netdrv-test/{uuid.uuid4().hex}"
    monkeypatch.setattr(control_mod, "CONTROL_ADDRESS", "\0" + address)
    started: list[subprocess.Popen[str]] = []

    def start(reply: dict[str, Any], linger: float) -> subprocess.Popen[str]:
        p = subprocess.Popen([sys.executable, "-c", _STAND_IN, address, json.dumps(reply),
                              str(linger)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
        started.append(p)
        assert p.stdout is not None and p.stdout.readline() == "listening\n"
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=30)


def test_stop_returns_once_the_daemon_process_has_exited(stand_in: Callable[..., Any]) -> None:
    daemon = stand_in({"ok": True}, 0.5)  # stops listening at once, exits half a second later
    res = CliRunner().invoke(cli, ["stop"])
    assert res.exit_code == 0, res.output
    assert daemon.poll() is not None, "netdrv stop returned while the daemon still ran"


def test_a_daemon_that_does_not_exit_within_the_timeout_is_an_error(
    stand_in: Callable[..., Any],
) -> None:
    daemon = stand_in({"ok": True}, -1)
    res = CliRunner().invoke(cli, ["--timeout", "1", "stop"])
    assert res.exit_code == 1, res.output
    assert f"the daemon (pid {daemon.pid}) took the stop but still runs after 1 s" in res.output
    assert f"kill {daemon.pid}" in res.output


def test_the_last_unload_returns_once_the_daemon_has_exited(stand_in: Callable[..., Any]) -> None:
    daemon = stand_in({"ok": True, "exiting": True}, 0.5)  # it held no other driver
    res = CliRunner().invoke(cli, ["unload", "snull"])
    assert res.exit_code == 0, res.output
    assert daemon.poll() is not None, "netdrv unload returned while the daemon still ran"


def test_an_exiting_daemon_that_stays_after_the_last_unload_is_an_error(
    stand_in: Callable[..., Any],
) -> None:
    daemon = stand_in({"ok": True, "exiting": True}, -1)
    res = CliRunner().invoke(cli, ["--timeout", "1", "unload", "snull"])
    assert res.exit_code == 1, res.output
    assert "snull is unloaded, but the daemon" in res.output
    assert f"(pid {daemon.pid})" in res.output and "still runs after 1 s" in res.output


def test_an_unload_that_leaves_the_daemon_running_does_not_wait(
    stand_in: Callable[..., Any],
) -> None:
    daemon = stand_in({"ok": True}, -1)  # other drivers keep it
    res = CliRunner().invoke(cli, ["unload", "snull"])
    assert res.exit_code == 0, res.output
    assert daemon.poll() is None


def test_stop_with_no_daemon_says_so_and_succeeds(stand_in: Callable[..., Any]) -> None:
    res = CliRunner().invoke(cli, ["stop"])  # the fixture's socket, no daemon on it
    assert res.exit_code == 0, res.output
    assert res.output == "no netdrv daemon in this network namespace\n"


def test_the_daemon_says_when_an_unload_ends_it() -> None:
    from netdrv_core import Host
    from netdrv_core.daemon import Daemon

    host = Host()
    d = Daemon(host=host, watchdog=None)
    try:
        d.load("loopback", [])
        d.load("loopback:b", [])
        assert d.handle({"cmd": "unload", "driver": "loopback:b"}) == {"ok": True}
        assert d.handle({"cmd": "unload", "driver": "loopback"}) == {"ok": True, "exiting": True}
    finally:
        host.loop.run_until_idle()
        host.close()
        host.loop.close()
