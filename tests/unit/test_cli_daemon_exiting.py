"""``netdrv`` meeting a daemon that exits under it (its last driver was just unloaded).

The daemon stops listening when its last driver is unloaded, then closes every
connection it has not answered yet, and refuses a load that arrives in between
(its exit would undo it).  A command whose connection it closed unanswered, or
whose load it refused that way, asks again — now no daemon, or a fresh one —
instead of failing: ``netdrv status -w`` running next to ``netdrv unload`` must
not end with "the daemon closed the connection", and a ``netdrv load`` racing
the last ``netdrv unload`` must load.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import netdrv_core.cli as cli_mod
import netdrv_core.control as control_mod
from netdrv_core.cli import cli
from netdrv_core.control import decode_message, encode_message


class _FakeDaemon:
    """A control socket of this test only, served by a thread from a script: each
    accepted connection gets the next entry — a reply, or None (closed unanswered);
    after its last one the daemon stops listening, as an exiting daemon does."""

    def __init__(self, address: str, script: list[dict[str, Any] | None]) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(address)
        self.listener.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(5)  # a test that failed early connects no more
        for i, reply in enumerate(self.script):
            try:
                conn, _ = self.listener.accept()
            except OSError:
                break
            if i == len(self.script) - 1:
                # An exiting daemon has stopped listening before it answers (or closes):
                # the command's next connection must not queue on this listener.
                self.listener.close()
            with conn:
                buf = bytearray()
                while (req := decode_message(buf)) is None:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                if req is not None:
                    self.requests.append(req)
                if reply is not None:
                    conn.sendall(encode_message(reply))
        self.listener.close()

    def join(self) -> None:
        self.thread.join(5)


@pytest.fixture
def fake_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., _FakeDaemon]]:
    """Start a :class:`_FakeDaemon` on a socket of this test; never a real daemon."""
    address = f"\0netdrv-test/{uuid.uuid4().hex}"
    monkeypatch.setattr(control_mod, "CONTROL_ADDRESS", address)
    started: list[_FakeDaemon] = []

    def start(script: list[dict[str, Any] | None]) -> _FakeDaemon:
        started.append(_FakeDaemon(address, script))
        return started[-1]

    yield start
    for d in started:
        d.listener.close()
        d.join()


EMPTY = {"ok": True, "pid": 1, "devices": [], "drivers": []}


@pytest.mark.parametrize(
    "args", [["status", "--json"], ["status", "-w", "0.1", "-c", "2", "--json"]]
)
def test_status_of_a_daemon_that_closes_unanswered_as_it_exits_is_no_daemon(
    fake_daemon: Callable[..., _FakeDaemon], args: list[str]
) -> None:
    d = fake_daemon([None])
    res = CliRunner().invoke(cli, args)
    d.join()
    assert res.exit_code == 0, (res.output, res.exception)
    assert "closed the connection" not in res.output
    first = json.loads(res.output.splitlines()[0])
    assert first["devices"] == [] and first["daemon"] is None


def test_status_asks_the_daemon_that_took_over(fake_daemon: Callable[..., _FakeDaemon]) -> None:
    d = fake_daemon([None, EMPTY])  # (a new daemon, in place of the one that exited)
    res = CliRunner().invoke(cli, ["status", "--json"])
    d.join()
    assert res.exit_code == 0, (res.output, res.exception)
    assert json.loads(res.output)["pid"] == 1


def test_a_connection_closed_twice_is_still_an_error(
    fake_daemon: Callable[..., _FakeDaemon],
) -> None:
    d = fake_daemon([None, None])
    res = CliRunner().invoke(cli, ["status", "--json"])
    d.join()
    assert res.exit_code == 1 and "closed the connection" in res.output


@pytest.mark.parametrize(
    "first",
    [
        None,
        {"ok": False, "kind": "DaemonExiting",
         "error": "this netdrv daemon is exiting (its last driver was just unloaded)"},
    ],
    ids=["closed-unanswered", "refused-exiting"],
)  # fmt: skip
def test_a_load_racing_the_last_unload_loads(
    fake_daemon: Callable[..., _FakeDaemon],
    monkeypatch: pytest.MonkeyPatch,
    first: dict[str, Any] | None,
) -> None:
    loaded = {"ok": True, "devices": ["nlo0"], "description": "a loopback"}
    d = fake_daemon([first])
    new: list[_FakeDaemon] = []

    def start_daemon(*a: Any, **kw: Any) -> None:  # the exiting one has gone: a new one
        d.join()
        new.append(fake_daemon([loaded]))

    monkeypatch.setattr(cli_mod, "start_daemon", start_daemon)
    monkeypatch.setattr(cli_mod, "_has_net_admin", lambda: True)
    res = CliRunner().invoke(cli, ["load", "loopback"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "loopback: nlo0" in res.output
    assert len(new) == 1
    new[0].join()
    assert [r["cmd"] for r in d.requests + new[0].requests] == ["load", "load"]


def test_the_daemon_refuses_a_load_as_it_exits_with_its_own_kind() -> None:
    from netdrv_core import Host
    from netdrv_core.daemon import Daemon

    host = Host()
    d = Daemon(host=host, watchdog=None)
    try:
        d.load("loopback", [])
        d.unload("loopback")  # the last one: the daemon exits
        with pytest.raises(control_mod.DaemonExiting, match="exiting"):
            d.handle({"cmd": "load", "driver": "loopback"})
    finally:
        host.loop.run_until_idle()
        host.close()
        host.loop.close()


# The other commands name a device, gone with the daemon that exited under them: asked
# again, they find none, and answer as when no daemon runs — with that case's exit status.
@pytest.mark.parametrize(
    ("args", "said", "status"),
    [
        (["set", "sn0", "irq=9"], "no netdrv daemon in this network namespace", 1),
        (["sysctl"], "no netdrv daemon in this network namespace (setting a value starts", 1),
        (["faults", "sn0"], "no netdrv daemon in this network namespace: no device 'sn0'", 1),
        (["capture", "sn0", "-w", "-"],  # the words of every other command's
         "no netdrv daemon in this network namespace: 'sn0' is not a netdrv device", 1),
        (["ethtool", "sn0"],
         "no netdrv daemon in this network namespace: 'sn0' is not a netdrv device", 75),
        (["ethtool", "-G", "sn0", "tx", "4"],
         "no netdrv daemon in this network namespace: 'sn0' is not a netdrv device", 81),
        (["ethtool", "-K", "sn0", "tso", "off"],
         "no netdrv daemon in this network namespace: 'sn0' is not a netdrv device", 92),
    ],
    ids=["set", "sysctl", "faults", "capture", "ethtool", "ethtool-G", "ethtool-K"],
)  # fmt: skip
def test_a_command_on_a_daemon_that_closes_unanswered_as_it_exits_finds_no_daemon(
    fake_daemon: Callable[..., _FakeDaemon], args: list[str], said: str, status: int
) -> None:
    d = fake_daemon([None])
    res = CliRunner().invoke(cli, args)
    d.join()
    assert "closed the connection" not in res.output
    assert said in res.output, res.output
    assert res.exit_code == status, (res.output, res.exception)
    assert len(d.requests) == 1


@pytest.mark.parametrize(
    ("args", "reply", "out"),
    [
        (["set", "sn0", "ioctl=0x89f0"], {"ok": True, "result": 7}, "7"),
        (["faults", "--json", "sn0"], {"ok": True, "faults": None, "stats": None},
         '"faults": null'),
        (["ethtool", "--json", "-g", "sn0"], {"ok": True, "result": {"tx_pending": 4}},
         '"tx_pending": 4'),
    ],
    ids=["set", "faults", "ethtool"],
)  # fmt: skip
def test_a_command_asks_the_daemon_that_took_over(
    fake_daemon: Callable[..., _FakeDaemon], args: list[str], reply: dict[str, Any], out: str
) -> None:
    d = fake_daemon([None, reply])  # (a new daemon, in place of the one that exited)
    res = CliRunner().invoke(cli, args)
    d.join()
    assert res.exit_code == 0, (res.output, res.exception)
    assert out in res.output
    assert len(d.requests) == 2 and d.requests[0] == d.requests[1]


def test_a_sysctl_setting_racing_the_last_unload_goes_to_a_new_daemon(
    fake_daemon: Callable[..., _FakeDaemon], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = fake_daemon([None])
    new: list[_FakeDaemon] = []

    def start_daemon(*a: Any, **kw: Any) -> None:  # the exiting one has gone: a new one
        d.join()
        new.append(fake_daemon([{"ok": True, "result": {"busy_poll": 50}}]))

    monkeypatch.setattr(cli_mod, "start_daemon", start_daemon)
    res = CliRunner().invoke(cli, ["sysctl", "busy_poll=50"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "busy_poll = 50" in res.output
    assert len(new) == 1
    new[0].join()
    assert [r["cmd"] for r in d.requests + new[0].requests] == ["sysctl", "sysctl"]


def test_a_self_test_is_not_run_twice(fake_daemon: Callable[..., _FakeDaemon]) -> None:
    # An exit that cuts a self-test off answers it (ENODEV); a connection closed unanswered
    # is the daemon's doing, and the test is not started again on another one.
    d = fake_daemon([None])
    res = CliRunner().invoke(cli, ["ethtool", "-t", "sn0"])
    d.join()
    assert res.exit_code == 74 and "closed the connection" in res.output
    assert len(d.requests) == 1
