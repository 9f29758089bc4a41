"""Process faults on the kernel attachment (issue 10): raising and hanging driver code.

A driver that raises in a callback reached from the kernel (``ip link``), a
timer, a thread or the watchdog loses its device — link down, error in the
daemon's log naming the driver — while snull next to it keeps pinging.  A
driver or plugin that *hangs* cannot wedge ``netdrv``: the CLI gives up after
``--timeout`` saying what the daemon is busy with, the daemon's log has a
stack dump, and SIGTERM aborts the stuck call and unloads everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, status, wait_for

pytestmark = pytest.mark.netns

PLUGINS = str(Path(__file__).resolve().parent.parent / "plugins")


def daemon_log(ns: NetNamespace) -> Path:
    """The log of ``ns``'s background daemon (named after the namespace's inode)."""
    return Path(f"/run/netdrv/daemon-{os.stat(f'/run/netns/{ns.name}').st_ino}.log")


class LogTail:
    """What the daemon of ``ns`` logs from now on (inodes, hence log names, are reused)."""

    def __init__(self, ns: NetNamespace) -> None:
        self.path = daemon_log(ns)
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def text(self) -> str:
        """The log written since this object was made."""
        if not self.path.exists():
            return ""
        with open(self.path, errors="replace") as f:
            f.seek(self.start)
            return f.read()


@pytest.fixture
def faulty_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """netdrv_faulty importable by the CLI and the daemon it starts."""
    monkeypatch.setenv("PYTHONPATH", PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", ""))


TRIGGERS = {
    "open": None,  # `ip link set fa0 up` itself
    "change_mtu": "ip link set fa0 mtu 1400",
    "set_rx_mode": "ip link set fa0 promisc on",
    "timer": None,
    "thread": None,
    "fd_reader": None,  # the driver's own fd: open signals it
    "tx_timeout": "ping -c 1 -W 1 198.19.0.2",
    "tx_done": "ping -c 1 -W 1 198.19.0.2",
    "call_soon": "ping -c 1 -W 1 198.19.0.2",
    "napi": "ping -c 1 -W 1 198.19.0.2",
}


@pytest.mark.parametrize("fail_in", list(TRIGGERS))
def test_a_raising_callback_is_isolated_on_the_kernel(
    netns: NetNamespace, faulty_env: None, fail_in: str
) -> None:
    log = LogTail(netns)
    netns.netdrv("load snull")
    netns.netdrv(f"-p netdrv_faulty load netdrv_faulty fail_in={fail_in}")
    netns.run("ip addr add 198.19.0.1/24 dev fa0")
    netns.run("ip link set fa0 up", check=fail_in != "open")
    if TRIGGERS[fail_in]:
        netns.run(TRIGGERS[fail_in], check=False)
    # The device goes down, in netdrv and in the kernel (the link is set down again).
    assert wait_for(lambda: device(netns, "fa0")["state"] == "down", timeout=5)
    assert wait_for(lambda: ",UP" not in netns.run("ip link show fa0").stdout.split(">")[0]
                    and "<UP" not in netns.run("ip link show fa0").stdout, timeout=5)  # fmt: skip
    text = log.text()
    assert "netdrv_faulty raised in" in text and f"deliberate bug in {fail_in}" in text

    # Counted on the driver and named in `netdrv status`; once: the fault does not repeat.
    def faulty() -> dict:
        return next(d for d in status(netns)["drivers"] if d["name"] == "netdrv_faulty")

    drv = faulty()
    assert drv["faults"] >= 1 and f"deliberate bug in {fail_in}" in drv["last_fault"], drv
    if fail_in not in ("tx_done", "call_soon"):  # (a frame the kernel retransmits may fault again)
        time.sleep(0.3)
        assert faulty()["faults"] == 1
    shown = netns.netdrv("status").stdout  # the table says which driver faulted, and why
    assert "fault(s), last:" in shown and f"deliberate bug in {fail_in}" in shown, shown
    # The daemon and the other driver are fine.
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
    s = device(netns, "sn0")
    assert s["core"]["tx_submitted"] == (s["stats"]["tx_packets"] + s["stats"]["tx_dropped"]
                                         + s["stats"]["tx_errors"])  # fmt: skip


def test_a_hanging_init_does_not_wedge_the_cli(
    netns: NetNamespace, faulty_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETDRV_WATCHDOG", "1")  # the daemon reports after 1 s
    log = LogTail(netns)
    netns.netdrv("load snull")
    t0 = time.monotonic()
    res = netns.netdrv("--timeout 3 -p netdrv_faulty load netdrv_faulty hang_in=init fail_in=",
                       check=False)  # fmt: skip
    took = time.monotonic() - t0
    assert res.returncode != 0 and took < 15, (took, res.stderr)
    err = res.stderr
    assert "did not answer 'load' within 3 s" in err, err
    assert "busy in driver 'netdrv_faulty' init" in err, err
    assert "kill " in err and "SIGTERM aborts" in err
    # Other requests get the same answer quickly instead of hanging.
    res = netns.netdrv("--timeout 1 status", check=False)
    assert res.returncode != 0 and "busy in driver 'netdrv_faulty' init" in res.stderr
    # The log names the hang and has a stack dump through the driver's code.
    assert wait_for(lambda: "netdrv_faulty.py" in log.text(), timeout=5)
    text = log.text()
    assert "driver 'netdrv_faulty' init has been running for" in text
    assert "Thread 0x" in text or "Current thread" in text
    # SIGTERM aborts the stuck init and unloads every driver.
    pid = int(err.split("(pid ")[1].split(")")[0])
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not netns.pids(), timeout=10), "the daemon exits"
    links = netns.run("ip -o link").stdout
    assert "fa0" not in links and "sn0" not in links
    assert "aborted by SIGTERM" in log.text()


def test_stop_says_so_when_a_hanging_exit_keeps_the_daemon(
    netns: NetNamespace, faulty_env: None
) -> None:
    # The daemon takes the stop, then hangs in the driver's exit: `netdrv stop` must not
    # report success (a load right after would meet the old daemon, still unloading).
    netns.netdrv("-p netdrv_faulty load netdrv_faulty hang_in=exit hang_s=12 fail_in=")
    pid = status(netns)["pid"]
    res = netns.netdrv("--timeout 5 stop", check=False)  # waits up to --timeout for the exit
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert f"the daemon (pid {pid}) took the stop but still runs after 5 s" in res.stderr
    assert f"`kill {pid}` (SIGTERM) aborts a hung driver call and exits" in res.stderr
    os.kill(pid, signal.SIGTERM)  # as the message says
    assert wait_for(lambda: not netns.pids(), timeout=10), "SIGTERM ends the daemon"


def test_a_hanging_hook_is_reported_and_the_daemon_recovers(
    netns: NetNamespace, faulty_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETDRV_WATCHDOG", "0.5")
    log = LogTail(netns)
    netns.netdrv("-p netdrv_faulty load netdrv_faulty hang_in=hook hang_s=6 fail_in=")
    netns.run("ip link set fa0 up")  # the daemon runs the device_up hook: it sleeps 6 s
    seen: list[subprocess.CompletedProcess[str]] = []

    def reported() -> bool:
        # The daemon sees the link go up a moment later, and the watchdog needs 0.5 s more:
        # on a loaded runner that can take a while, so ask until the report appears.
        seen.append(netns.netdrv("--timeout 1 status", check=False))
        return seen[-1].returncode != 0 and "busy in plugin hooks for up of fa0" in seen[-1].stderr

    assert wait_for(reported, timeout=4.5, interval=0.2), (
        seen[-1].stdout, seen[-1].stderr, netns.pids(), log.text()[-3000:])  # fmt: skip
    # When the hook returns the daemon serves again and the busy report is gone.
    assert wait_for(lambda: netns.netdrv("--timeout 1 status --json", check=False).returncode == 0,
                    timeout=10)  # fmt: skip
    assert device(netns, "fa0")["state"] == "up"
    assert "returned after" in log.text()
    assert status(netns)["drivers"][0]["name"] == "netdrv_faulty"


def test_a_plugin_hanging_at_import_cannot_wedge_the_cli(
    netns: NetNamespace, faulty_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETDRV_FAULTY_HANG_IMPORT", "60")
    t0 = time.monotonic()
    res = netns.netdrv("--timeout 2 -p netdrv_faulty load netdrv_faulty fail_in=", check=False)
    assert time.monotonic() - t0 < 15
    assert res.returncode == 2
    assert "importing plugin 'netdrv_faulty' did not finish within 2 s" in res.stderr, res.stderr
    assert not netns.pids(), "no daemon was started"


def test_a_driver_stuck_in_start_xmit_is_reported_and_sigterm_aborts_it(
    netns: NetNamespace, faulty_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The soft-lockup watchdog: driver code the event loop runs (no guard around it) hangs."""
    monkeypatch.setenv("NETDRV_WATCHDOG", "0.5")
    log = LogTail(netns)
    netns.netdrv("load snull")
    netns.netdrv("-p netdrv_faulty load netdrv_faulty hang_in=start_xmit hang_s=3 fail_in=")
    netns.run("ip addr add 198.19.0.1/24 dev fa0")
    netns.run("ip link set fa0 up")
    netns.run("ping -c 1 -W 1 198.19.0.2", check=False)  # the first frame: start_xmit sleeps 3 s
    seen: list[subprocess.CompletedProcess[str]] = []

    def reported() -> bool:
        seen.append(netns.netdrv("--timeout 1 status", check=False))
        return (
            seen[-1].returncode != 0 and "busy in driver code netdrv_faulty._bug" in seen[-1].stderr
        )

    assert wait_for(reported, timeout=2.5, interval=0.1), (seen[-1].stderr, log.text()[-3000:])
    # The log names the stuck code, with every thread's stack.
    text = log.text()
    assert "the event loop has been stuck in driver code netdrv_faulty._bug" in text, text[-3000:]
    assert "netdrv_faulty.py" in text and ("Current thread" in text or "Thread 0x" in text)
    # When start_xmit returns, everything runs on: nothing was lost or double-counted.
    assert wait_for(lambda: netns.netdrv("--timeout 1 status", check=False).returncode == 0,
                    timeout=10)  # fmt: skip
    assert wait_for(lambda: "returned after" in log.text(), timeout=3)
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
    # Stuck for good this time: SIGTERM aborts the driver code and unloads.
    pid = status(netns)["pid"]
    netns.netdrv("unload netdrv_faulty")
    netns.netdrv("-p netdrv_faulty load netdrv_faulty hang_in=start_xmit hang_s=3600 fail_in=")
    netns.run("ip addr add 198.19.0.1/24 dev fa0")
    netns.run("ip link set fa0 up")
    netns.run("ping -c 1 -W 1 198.19.0.2", check=False)
    assert wait_for(lambda: log.text().count("the event loop has been stuck") == 2, timeout=5)
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not netns.pids(), timeout=10), "the daemon exits"
    links = netns.run("ip -o link").stdout
    assert "fa0" not in links and "sn0" not in links
    assert "aborted by SIGTERM" in log.text()
