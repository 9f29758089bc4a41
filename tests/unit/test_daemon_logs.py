"""The daemons' logs do not pile up: those of network namespaces that are gone are removed
when a daemon starts, and a log larger than ``LOG_MAX_BYTES`` is rotated to ``….log.1``."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import netdrv_core.daemon as daemon_mod
from netdrv_core.control import netns_id
from netdrv_core.daemon import STALE_LOG_AGE, live_netns, open_log, prune_logs

OLD = time.time() - 2 * STALE_LOG_AGE


def _file(path: Path, mtime: float = OLD) -> Path:
    path.write_text("2026-12-06 09:00:00,000 netdrv.daemon INFO daemon stopped\n")
    os.utime(path, (mtime, mtime))
    return path


def test_the_logs_of_namespaces_that_are_gone_are_removed(tmp_path: Path) -> None:
    # Inodes 1 to 4 are no network namespace's: those namespaces are "gone".
    gone = [_file(tmp_path / n) for n in ("daemon-1.log", "daemon-1.log.1", "daemon-1.busy")]
    mine = _file(tmp_path / f"daemon-{netns_id()}.log")  # this namespace exists
    recent = _file(tmp_path / "daemon-2.log", time.time())  # written a moment ago
    in_use = tmp_path / "daemon-3.log"
    fd = open_log(str(in_use))  # as `netdrv load` opens it for the daemon it starts
    os.utime(in_use, (OLD, OLD))
    others = [_file(tmp_path / n) for n in ("daemon-4.log.kept", "notes.txt")]
    victim = _file(tmp_path / "victim")
    (tmp_path / "daemon-4.log").symlink_to(victim)
    try:
        assert prune_logs(str(tmp_path)) == sorted(p.name for p in gone)
        assert not any(p.exists() for p in gone)
        assert all(p.exists() for p in (mine, recent, in_use, *others, victim))
        assert (tmp_path / "daemon-4.log").is_symlink()
    finally:
        os.close(fd)
    assert prune_logs(str(tmp_path)) == ["daemon-3.log"]  # its daemon has gone too


def test_live_namespaces_are_those_of_processes_and_mounts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert netns_id() in live_netns()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "611 25 0:4 net:[4026532999] /run/netns/gone rw shared:5 - nsfs nsfs rw\n"
        "612 25 0:4 mnt:[4026532998] /run/x rw shared:5 - nsfs nsfs rw\n"
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    )
    real_open = open
    monkeypatch.setattr(daemon_mod, "open", lambda p, *a, **k: real_open(
        mountinfo if p == "/proc/self/mountinfo" else p, *a, **k), raising=False)  # fmt: skip
    live = live_netns()
    assert 4026532999 in live and 4026532998 not in live


def test_a_log_larger_than_the_limit_is_rotated(tmp_path: Path) -> None:
    """In a process whose stdout and stderr are the log, as a background daemon's are."""
    log = tmp_path / "daemon-7.log"
    code = textwrap.dedent(f"""
        import logging, os, sys
        import netdrv_core.daemon as d
        from netdrv_core import Host
        d.LOG_MAX_BYTES = 1000
        fd = d.open_log({str(log)!r})
        os.dup2(fd, 1); os.dup2(fd, 2); os.close(fd)
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
        daemon = d.Daemon(host=Host(), log_file={str(log)!r}, watchdog=None)
        print("small: rotated", daemon.check_log_size(), flush=True)
        print("x" * 2000, flush=True)
        print("big: rotated", daemon.check_log_size(), flush=True)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    old = Path(f"{log}.1").read_text()
    assert old.startswith("small: rotated False\n" + "x" * 2000 + "\n")
    assert "more than 1000: it goes on in a new file" in old and f"kept in {log}.1" in old
    new = log.read_text()
    assert new.startswith("log reopened (more than 1000 bytes; the earlier lines are in ")
    assert new.endswith("big: rotated True\n") and "x" * 100 not in new


def test_a_namespace_held_only_by_an_open_fd_keeps_its_log(tmp_path: Path) -> None:
    # A namespace no process is in and nothing mounts, alive as long as a descriptor of it
    # is open (a container runtime holds one, `ip netns` may come back to it): its log stays.
    try:
        proc = subprocess.Popen(
            ["unshare", "-rn", "sh", "-c", "echo ready; exec sleep 600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    except FileNotFoundError:
        pytest.skip("needs unshare (util-linux)")
    assert proc.stdout is not None
    if proc.stdout.readline() != "ready\n":
        _, err = proc.communicate(timeout=30)
        pytest.skip(f"cannot create a network namespace here (user namespaces off?): {err}")
    fd = os.open(f"/proc/{proc.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    proc.kill()
    proc.communicate(timeout=30)
    inode = os.fstat(fd).st_ino
    log = _file(tmp_path / f"daemon-{inode}.log")
    try:
        assert inode in live_netns()
        assert prune_logs(str(tmp_path)) == []
        assert log.exists()
    finally:
        os.close(fd)
    assert prune_logs(str(tmp_path)) == [log.name]  # the last reference went: gone


class _StartedDaemon:
    """Stands in for :class:`~netdrv_core.daemon.Daemon` in ``main``: records when it
    serves and runs what it was given to do once serving, as the real one does."""

    def __init__(self, events: list[str], **kw: object) -> None:
        self.events = events
        self.deferred: list[Callable[[], None]] = []

    def listen(self) -> None:
        pass

    def check_log_size(self) -> bool:
        return False

    def defer(self, fn: Callable[[], None]) -> None:
        self.deferred.append(fn)

    def run(self) -> None:
        self.events.append("serving")
        for fn in self.deferred:
            fn()


def test_the_daemon_prunes_the_logs_only_once_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pruning reads every fd of every process on the host: the load of the command that
    # started the daemon, waiting to be served, must not wait for it.
    events: list[str] = []
    monkeypatch.setattr(daemon_mod, "Daemon", lambda **kw: _StartedDaemon(events, **kw))
    monkeypatch.setattr(daemon_mod, "PluginManager", lambda **kw: None)
    monkeypatch.setattr(daemon_mod, "busy_path", lambda: str(tmp_path / "daemon.busy"))
    monkeypatch.setattr(daemon_mod.logging, "basicConfig", lambda **kw: None)
    monkeypatch.setattr(daemon_mod, "prune_logs", lambda d, **kw: events.append("prune") or [])
    monkeypatch.setattr(sys, "path", list(sys.path))  # main makes its entries absolute
    monkeypatch.chdir(tmp_path)  # main leaves the directory it started in
    old_umask = os.umask(0o022)
    try:
        assert daemon_mod.main(["--watchdog", "0", "--log-file", str(tmp_path / "d.log")]) == 0
    finally:
        os.umask(old_umask)
    assert events == ["serving", "prune"]


def test_a_mount_namespace_whose_first_process_exits_is_read_through_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A network namespace kept only by a mount in a mount namespace of two processes: the
    # first one found exits before its mountinfo was read; the other one's shows the mount.
    mnt = tmp_path / "net"
    mnt.touch()
    script = (f"unshare --net={mnt} true && stat -L -c %i {mnt} && "
              "(sleep 600 & sleep 600 & echo ready; wait)")  # fmt: skip
    try:
        proc = subprocess.Popen(["unshare", "-rm", "--propagation", "private", "sh", "-c", script],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # fmt: skip
    except FileNotFoundError:
        pytest.skip("needs unshare (util-linux)")
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    try:
        if not lines[0].strip().isdigit() or lines[1] != "ready\n":
            os.killpg(proc.pid, 9)
            _, err = proc.communicate(timeout=30)
            pytest.skip(f"cannot make mount and network namespaces here: {err}")
        inode = int(lines[0])
        mnt_ns = daemon_mod._ns_link(f"/proc/{proc.pid}/ns/mnt")
        killed: list[int] = []
        real = daemon_mod._ns_link

        def ns_link(path: str, kind: str = "mnt") -> int | None:
            ino = real(path, kind)
            if kind == "mnt" and ino == mnt_ns and not killed and path != "/proc/self/ns/mnt":
                # The first process of that mount namespace exits as it is found.
                pid = int(path.split("/")[2])
                fd = os.pidfd_open(pid)
                os.kill(pid, 9)
                select.select([fd], [], [], 30)
                os.close(fd)
                killed.append(pid)
            return ino

        monkeypatch.setattr(daemon_mod, "_ns_link", ns_link)
        live = live_netns()
        assert killed, "no process of the mount namespace was found"
        assert inode in live
    finally:
        os.killpg(proc.pid, 9)  # the shell and its sleeps
        proc.communicate(timeout=30)
