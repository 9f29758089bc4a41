"""The daemon's life as several ``netdrv`` commands see it: racing starts, exits, pipes."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import status

pytestmark = pytest.mark.netns


def test_a_daemon_started_by_another_command_first_is_used(netns: NetNamespace) -> None:
    # Two `netdrv load` at once with no daemon: both start one, one of them cannot
    # bind the socket.  Its command must use the daemon that won, not fail.
    netns.netdrv("load snull")
    netns.python("from netdrv_core.cli import start_daemon; start_daemon()")
    netns.netdrv("load loopback")
    assert sorted(d["name"] for d in status(netns)["drivers"]) == ["loopback", "snull"]


def test_two_loads_at_once_both_load(netns: NetNamespace) -> None:
    cmd = [sys.executable, "-m", "netdrv_core.cli", "load"]
    procs = [netns.popen([*cmd, drv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for drv in ("snull", "loopback")]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert sorted(d["name"] for d in status(netns)["drivers"]) == ["loopback", "snull"]


def test_the_last_unload_stops_listening_before_it_answers(netns: NetNamespace) -> None:
    # `netdrv unload X; netdrv load X`: the load must find no daemon and start one,
    # not connect to the exiting daemon and see its connection closed unanswered.
    out = netns.python(
        "from netdrv_core.daemon import Daemon\n"
        "from netdrv_core.control import ControlClient, DaemonNotRunning\n"
        "d = Daemon(watchdog=None)\n"
        "d.listen()\n"
        "d.load('loopback', [])\n"
        "d.unload('loopback')  # the reply would go out now\n"
        "try:\n"
        "    ControlClient(timeout=5).close()\n"
        "    print('the exiting daemon still listens')\n"
        "except DaemonNotRunning:\n"
        "    print('no daemon')\n"
        "d.host.loop.run_until_idle()\n"
        "d.host.close()\n"
    ).stdout
    assert out.strip() == "no daemon"


def test_a_capture_to_a_pipe_ends_quietly_when_the_reader_goes(
    netns: NetNamespace, tmp_path: Path
) -> None:
    netns.netdrv("load snull")
    cap = netns.popen([sys.executable, "-m", "netdrv_core.cli", "capture", "sn0", "-w", "-"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)  # fmt: skip
    try:
        assert cap.stderr is not None and cap.stdout is not None
        assert b"capturing on sn0" in cap.stderr.readline()
        netns.run("ping -c 1 -W 2 198.18.0.2")
        # `netdrv capture sn0 -w - | head -c 100`
        assert select.select([cap.stdout], [], [], 10)[0], "nothing on standard output"
        head = os.read(cap.stdout.fileno(), 100)
        assert head[:4] == b"\xd4\xc3\xb2\xa1"  # a pcap stream on standard output
        cap.stdout.close()
        netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2")  # frames for the closed pipe
        err = cap.stderr.read().decode()
        assert cap.wait(timeout=10) == 0, err
        assert "Traceback" not in err and "wrote standard output" in err
    finally:
        if cap.poll() is None:
            cap.kill()
    assert status(netns)["devices"], "the daemon serves on"


def test_sighup_reopens_the_log_after_rotation(netns: NetNamespace) -> None:
    # logrotate without copytruncate: the log is moved away, the daemon is sent SIGHUP
    # and goes on in a new file of the same name, still serving.
    netns.netdrv("load loopback")
    path = Path(netns.python("from netdrv_core.daemon import log_path; print(log_path())")
                .stdout.strip())  # fmt: skip
    pid = status(netns)["pid"]
    rotated = path.with_name(path.name + ".1")
    path.rename(rotated)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not (path.exists() and "log reopened (SIGHUP)" in path.read_text()):
        assert time.monotonic() < deadline, "the daemon did not reopen its log"
        time.sleep(0.05)
    netns.netdrv("load snull")
    assert status(netns)["pid"] == pid  # the same daemon, serving
    new = path.read_text()
    assert "loaded snull" in new and "loaded loopback" not in new
    old = rotated.read_text().rpartition(f"daemon {pid} listening")[2]  # (the file appends)
    assert "loaded loopback" in old and "loaded snull" not in old
    rotated.unlink()


def test_a_load_after_a_stop_is_refused_not_undone(netns: NetNamespace) -> None:
    # `netdrv stop` and `netdrv load` at once: a load read in the round of the stop must not
    # be answered "loaded" and then unloaded by the shutdown; it is refused as one that
    # meets the last unload (netdrv asks a fresh daemon then).
    out = netns.python(
        "from netdrv_core.daemon import Daemon\n"
        "from netdrv_core.control import DaemonExiting\n"
        "d = Daemon(watchdog=None)\n"
        "d.listen()\n"
        "d.load('snull', [])\n"
        "d.handle({'cmd': 'stop'})\n"
        "try:\n"
        "    print(d.handle({'cmd': 'load', 'driver': 'loopback'}))\n"
        "except DaemonExiting as exc:\n"
        "    print('refused:', exc)\n"
        "d.host.loop.run_until_idle()\n"
        "print(sorted(d.drivers), sorted(d.host.devices))\n"
        "d.host.close()\n"
    ).stdout.splitlines()
    assert out[0].startswith("refused: this netdrv daemon is exiting (netdrv stop"), out
    assert out[1] == "[] []"


@pytest.mark.parametrize("ending", ["stop", "unload snull"])
def test_a_self_test_running_as_the_daemon_exits_is_answered(
    netns: NetNamespace, ending: str
) -> None:
    # `netdrv ethtool -t sn0` while `netdrv stop` (or the last `netdrv unload`) runs: the
    # test ends with its device and the command gets an answer saying so, not a connection
    # closed unanswered.
    cmd, _, drv = ending.partition(" ")
    req = {"cmd": cmd, **({"driver": drv} if drv else {})}
    out = netns.python(
        "import json\n"
        "from netdrv_core.daemon import Daemon\n"
        "from netdrv_core.control import ControlClient, DaemonClosed, encode_message\n"
        "d = Daemon(watchdog=None)\n"
        "d.listen()\n"
        "d.load('snull', [])\n"
        "d.handle({'cmd': 'faults', 'dev': 'sn0', 'set': {'drop': 1.0}})  # the frame is lost\n"
        "c = ControlClient(timeout=20)\n"
        "c.sock.sendall(encode_message({'cmd': 'ethtool', 'dev': 'sn0', 'op': 'test'}))\n"
        "assert d.host.loop.run_until(lambda: any(x.pending for x in d.conns.values()), 10)\n"
        f"print(d.handle({req!r}))\n"
        "d.host.loop.run_until_idle()\n"
        "try:\n"
        "    print(json.dumps(c.read_message()))\n"
        "except DaemonClosed as exc:\n"
        "    print('closed unanswered:', exc)\n"
        "d.host.close()\n"
    ).stdout.splitlines()
    # The last unload says the daemon exits with it (netdrv waits for its process).
    assert out[0] == ("{'ok': True}" if cmd == "stop" else "{'ok': True, 'exiting': True}")
    assert out[1].startswith("{"), out[1]
    reply = json.loads(out[1])
    assert reply["ok"] is False and reply["errno"] == 19  # ENODEV
    assert "before the self-test completed" in reply["error"]


_SECOND_COMMAND = (
    "import sys\n"
    "from click.testing import CliRunner\n"
    "import netdrv_core.cli as cli\n"
    "from netdrv_core.control import ControlClient\n"
    "late = ControlClient()  # connected before the first command's stop is served\n"
    "with ControlClient() as first:\n"
    "    assert first.request('stop')['ok']\n"
    "real = cli._client\n"
    "clients = [late]\n"
    "cli._client = lambda *a, **k: clients.pop() if clients else real(*a, **k)\n"
    "res = CliRunner().invoke(cli.cli, sys.argv[1:])\n"
    "print(res.exit_code)\n"
    "print(res.output)\n"
)


def test_two_stops_at_once_both_succeed(netns: NetNamespace) -> None:
    # Two `netdrv stop` at once: the daemon serves one and closes the other's connection as
    # it exits.  That one has stopped nothing but its daemon is gone all the same: exit 0.
    netns.netdrv("load snull")
    res = netns.run([sys.executable, "-c", _SECOND_COMMAND, "stop"])
    code, _, output = res.stdout.partition("\n")
    assert code == "0", res.stdout
    assert "closed the connection" not in output
    assert netns.netdrv("status --json").stdout.strip().endswith('"daemon": null}')


def test_an_unload_racing_a_stop_says_not_loaded(netns: NetNamespace) -> None:
    # `netdrv unload snull` while `netdrv stop` runs: the stop unloaded it, and the unload
    # says so as when no daemon runs, not "the daemon closed the connection".
    netns.netdrv("load snull")
    res = netns.run([sys.executable, "-c", _SECOND_COMMAND, "unload", "snull"])
    code, _, output = res.stdout.partition("\n")
    assert code == "1", res.stdout
    assert "driver 'snull' is not loaded (no netdrv daemon in this namespace)" in output


def test_a_daemon_whose_starter_was_killed_serves_on(netns: NetNamespace) -> None:
    # `netdrv load` killed (Ctrl-C, kill -9) while the daemon it started gets ready: the
    # daemon's "ready" byte finds no reader.  It must serve on (another netdrv command may
    # already use it), not die of a BrokenPipeError traceback.
    out = netns.python(
        "import os, subprocess, sys, time\n"
        "from netdrv_core.control import ControlClient, DaemonNotRunning\n"
        "from netdrv_core.daemon import log_path\n"
        "r, w = os.pipe()\n"
        "os.close(r)  # the netdrv command that started it is gone\n"
        "p = subprocess.Popen([sys.executable, '-m', 'netdrv_core.daemon', '--ready-fd',\n"
        "                      str(w), '--log-file', log_path()], pass_fds=(w,),\n"
        "                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "os.close(w)\n"
        "while p.poll() is None:\n"
        "    try:\n"
        "        with ControlClient() as c:\n"
        "            print(c.request('ping')['pid'] == p.pid)\n"
        "        break\n"
        "    except DaemonNotRunning:\n"
        "        time.sleep(0.05)\n"
        "else:\n"
        "    print('exited', p.returncode, p.stderr.read().splitlines()[-1:])\n"
        "with ControlClient() as c:\n"
        "    c.request('stop')\n"
        "p.wait(30)\n"
        "print(p.stderr.read().count('Traceback'))\n"
    ).stdout.splitlines()
    assert out == ["True", "0"], out


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has exited: its descriptors are closed)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stop_returns_once_the_daemon_has_exited(netns: NetNamespace) -> None:
    # `netdrv stop && …`: no daemon process, no interface, no control socket left by then.
    netns.netdrv("load snull")
    pid = status(netns)["pid"]
    netns.netdrv("stop")
    assert not _running(pid)
    assert "sn0" not in netns.run("ip -o link").stdout
    assert netns.netdrv("status --json").stdout.strip().endswith('"daemon": null}')


def test_after_a_daemon_is_killed_the_next_commands_find_none(netns: NetNamespace) -> None:
    # kill -9 leaves nothing behind: the control socket is abstract, the interfaces go
    # with the process, a busy file is ignored.  The next load starts a fresh daemon.
    netns.netdrv("load snull")
    pid = status(netns)["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _running(pid):
        assert time.monotonic() < deadline, "the killed daemon still runs"
        time.sleep(0.05)
    assert netns.netdrv("stop").stdout == "no netdrv daemon in this network namespace\n"
    netns.netdrv("load snull")
    assert status(netns)["pid"] not in (None, pid)


def test_a_daemon_started_for_a_command_that_never_came_exits_by_itself(
    netns: NetNamespace,
) -> None:
    # `netdrv load` killed after it started the daemon, before its load was sent.
    netns.python("from netdrv_core.cli import start_daemon; start_daemon()")
    pid = status(netns)["pid"]
    deadline = time.monotonic() + 120
    while _running(pid):
        assert time.monotonic() < deadline, "the unused daemon still runs"
        time.sleep(0.2)
    log = netns.netdrv("log").stdout
    assert "no driver was loaded and no setting made in the 10 s" in log, log
    assert "Traceback" not in log


def test_a_thread_a_driver_left_running_does_not_keep_the_daemon(
    netns: NetNamespace, tmp_path: Path
) -> None:
    # A driver whose init starts a plain thread and whose exit does not end it: Python would
    # wait for that thread at exit, forever, and `netdrv stop` would fail after --timeout.
    (tmp_path / "leavesthread.py").write_text(
        "import threading, time\n"
        "from netdrv_core import Driver, hookimpl\n\n"
        "def sleeper():\n"
        "    time.sleep(3600)\n\n"
        "class LeavesThread(Driver):\n"
        "    name = 'leavesthread'\n"
        "    summary = 'leaves a non-daemon thread behind'\n\n"
        "    def init(self):\n"
        "        threading.Thread(target=sleeper, name='left-sleeper').start()\n\n"
        "    def exit(self):\n"
        "        pass\n\n"
        "@hookimpl\n"
        "def netdrv_drivers():\n"
        "    return [LeavesThread]\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    cli = [sys.executable, "-m", "netdrv_core.cli"]
    netns.run([*cli, "-p", "leavesthread", "load", "leavesthread"], env=env)
    pid = status(netns)["pid"]
    res = netns.run([*cli, "--timeout", "20", "stop"], env=env, check=False)
    assert res.returncode == 0, res.stderr
    assert not _running(pid)
    log = netns.netdrv("log").stdout
    assert "thread 'left-sleeper', started by driver 'leavesthread' (module leavesthread)" in log
    assert "in sleeper" in log and "daemon stopped" in log, log
