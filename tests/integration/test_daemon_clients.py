"""The daemon's life as several ``netdrv`` commands see it: racing starts, exits, pipes."""

from __future__ import annotations

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
