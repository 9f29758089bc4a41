"""A cable between two test "machines": the pacing pty relay or socat, restartable."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import wait_for


class Cable:
    """Two pty ends at ``a`` and ``b``, joined by netdrv's pacing relay (or socat)."""

    def __init__(self, baud: int = 0, *, use_socat: bool = False) -> None:
        d = tempfile.mkdtemp(prefix="netdrv-cable-")
        tag = uuid.uuid4().hex[:6]
        self.dir = d
        self.a = os.path.join(d, f"ttyA-{tag}")
        self.b = os.path.join(d, f"ttyB-{tag}")
        self.baud = baud
        self.use_socat = use_socat
        self.proc: subprocess.Popen[str] | None = None
        self.plug()

    def plug(self) -> None:
        """Connect (start the relay); returns once both ends exist."""
        if self.use_socat:
            cmd = ["socat", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"]
        else:
            cmd = [sys.executable, "-m", "netdrv_serial.relay", "--baud", str(self.baud),
                   self.a, self.b]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)  # fmt: skip
        deadline = time.monotonic() + 5
        while not (os.path.exists(self.a) and os.path.exists(self.b)):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(
                    f"cable did not come up: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            time.sleep(0.02)

    def pull(self) -> str:
        """Disconnect (stop the relay); returns its report."""
        if self.proc is None:
            return ""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.proc = None
        for p in (self.a, self.b):
            if os.path.islink(p):
                os.unlink(p)
        return out

    def noise(self) -> None:
        """Inject a burst of random bytes both ways (relay only)."""
        assert self.proc is not None and not self.use_socat
        self.proc.send_signal(signal.SIGUSR1)

    def close(self) -> None:
        """Pull and clean up."""
        self.pull()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def ser2net(ns: Any, conf: Path, port: int) -> Iterator[None]:
    """ser2net running in namespace ``ns`` with the config file ``conf``, from the moment
    it listens on ``port`` until the block ends."""
    if shutil.which("ser2net") is None:
        pytest.fail("ser2net is not installed (CI installs it: apt-get install ser2net)")
    # gensio resolves the accepter with AI_ADDRCONFIG, which finds nothing in a
    # namespace whose only address is on lo: give it a non-loopback address.
    ns.run("ip link add v0 type veth peer name v1")
    ns.run("ip addr add 198.18.9.1/24 dev v0")
    ns.run("ip link set v0 up")
    proc = ns.popen(["ser2net", "-n", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert wait_for(lambda: f":{port}" in ns.run("ss -ltn").stdout, timeout=5)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
