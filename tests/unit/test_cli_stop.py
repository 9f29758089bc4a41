"""``netdrv stop`` (and the ``netdrv unload`` that ends the daemon) return once the daemon
process has exited, not when its control socket is gone: ``netdrv stop && X`` must not
race a daemon still closing its interfaces.

The daemons here are stand-ins in a process of their own (their pid is what ``netdrv``
waits for), on a control socket of this test: never a real daemon.
"""

from __future__ import annotations

import errno
import json
import os
import socket
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


class _PeerSocket:
    """A connected socket's stand-in: its ``SO_PEERPIDFD`` fails with ``errno`` (records
    the options asked for)."""

    def __init__(self, err: int) -> None:
        self.err = err
        self.asked: list[tuple[int, int]] = []

    def getsockopt(self, level: int, opt: int, *args: Any) -> int:
        self.asked.append((level, opt))
        raise OSError(self.err, os.strerror(self.err))


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    yield p
    p.kill()
    p.wait(30)


@pytest.mark.parametrize("err", [errno.ESRCH, errno.EINVAL], ids=["ESRCH", "EINVAL"])
def test_a_peer_reaped_before_its_pidfd_was_taken_has_exited(
    err: int, live_process: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Linux 6.5-6.15 fail SO_PEERPIDFD of a reaped peer with EINVAL, later ones with ESRCH:
    # the daemon has exited, and its pid, free now, may be another process's (this live one).
    opened: list[int] = []
    monkeypatch.setattr(control_mod.os, "pidfd_open", lambda pid, *a: opened.append(pid) or -1)
    monkeypatch.setattr(control_mod.platform, "machine", lambda: "x86_64")
    proc = control_mod.DaemonProcess(_PeerSocket(err), live_process.pid)  # type: ignore[arg-type]
    assert opened == [], "pidfd_open of a pid that may have been reused"
    assert proc.wait(0) is True
    proc.close()


@pytest.mark.parametrize(
    ("machine", "opt"),
    [("x86_64", 77), ("aarch64", 77), ("mips64", 77), ("alpha", 77), ("sparc64", 0x56),
     ("parisc64", 0x404B), ("some-new-arch", None)],
)  # fmt: skip
def test_the_peer_pidfd_option_is_the_architecture_s(
    machine: str, opt: int | None, live_process: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Python names SO_PEERPIDFD from 3.13 on; before, its number is the kernel's for this
    # architecture (asm-generic's 77 is not sparc's or parisc's), or unknown: not asked.
    monkeypatch.delattr(socket, "SO_PEERPIDFD", raising=False)
    monkeypatch.setattr(control_mod.platform, "machine", lambda: machine)
    sock = _PeerSocket(errno.ENOPROTOOPT)  # an older kernel: pidfd_open of the pid instead
    with control_mod.DaemonProcess(sock, live_process.pid) as proc:  # type: ignore[arg-type]
        assert sock.asked == ([] if opt is None else [(socket.SOL_SOCKET, opt)])
        assert proc.wait(0) is False  # it runs, found through pidfd_open


def _pidfds() -> int:
    """The pidfds this process holds."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[pidfd]"
        except OSError:
            pass
    return n


@pytest.mark.parametrize(
    ("argv", "reply"),
    [(["stop"], {"ok": False, "error": "refused", "kind": "NetdrvError"}),
     (["--timeout", "0.5", "stop"], {"ok": True}),
     (["--timeout", "0.5", "unload", "snull"], {"ok": True, "exiting": True})],
    ids=["stop-refused", "stop-timeout", "unload-timeout"],
)  # fmt: skip
def test_no_pidfd_is_left_open_when_stop_or_unload_fails(
    argv: list[str], reply: dict[str, Any], stand_in: Callable[..., Any]
) -> None:
    stand_in(reply, -1)
    before = _pidfds()
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 1, res.output
    assert _pidfds() == before


def test_a_daemon_whose_pid_is_unknown_is_not_named_kill_question_mark(
    stand_in: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon in another pid namespace: SO_PEERCRED says pid 0.
    real = control_mod.ControlClient.process

    def no_pid(self: control_mod.ControlClient) -> control_mod.DaemonProcess:
        proc = real(self)
        proc.pid = None
        return proc

    monkeypatch.setattr(control_mod.ControlClient, "process", no_pid)
    stand_in({"ok": True}, -1)
    res = CliRunner().invoke(cli, ["--timeout", "3", "stop"])  # also the wait for the reply
    assert res.exit_code == 1, res.output
    assert "the daemon took the stop but still runs after 3 s" in res.output
    assert "?" not in res.output
    assert "`kill -9` the `netdrv_core.daemon` process" in res.output


_LEAVES_A_THREAD = r"""
import sys
from netdrv_core import daemon

class Daemon:  # what a driver did: its init started a plain (non-daemon) thread, never ended
    def __init__(self, **kw): pass
    def listen(self): pass
    def check_log_size(self): return False
    def defer(self, fn): pass
    def run(self):
        import leaky_plugin
        leaky_plugin.start()

daemon.Daemon = Daemon
daemon.PluginManager = lambda **kw: None
daemon.busy_path = lambda: sys.argv[1] + "/daemon.busy"
print("exit", daemon._exit_process(daemon.main(["--watchdog", "0"])))
"""


def test_a_thread_a_driver_left_running_does_not_keep_the_daemon_alive(tmp_path: Any) -> None:
    # Python waits for every non-daemon thread as it exits: the daemon would outlive its
    # `netdrv stop` forever.  It exits anyway, saying in its log which thread it left.
    (tmp_path / "leaky_plugin.py").write_text(
        "import threading, time\n"
        "def sleeper():\n"
        "    time.sleep(3600)\n"
        "def start():\n"
        "    threading.Thread(target=sleeper, name='leaky-sleeper').start()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    p = subprocess.run([sys.executable, "-c", _LEAVES_A_THREAD, str(tmp_path)], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "exit" not in p.stdout  # os._exit: not back from it
    assert "'leaky-sleeper'" in p.stderr and "leaky_plugin" in p.stderr, p.stderr
    assert "in sleeper" in p.stderr, p.stderr  # its stack
