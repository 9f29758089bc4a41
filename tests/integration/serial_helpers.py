"""A cable between two test "machines": the pacing pty relay or socat, restartable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid


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
