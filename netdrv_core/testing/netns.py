"""Network namespaces made by a test, with helpers to run commands in them."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Sequence
from typing import Any

__all__ = ["NetNamespace", "netns_available"]


def netns_available() -> tuple[bool, str]:
    """Whether this process can create namespaces and TUN/TAP devices, and if not why."""
    if os.geteuid() != 0:
        return False, "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces"
    if shutil.which("ip") is None:
        return False, "needs iproute2 (the `ip` command)"
    if not os.path.exists("/dev/net/tun"):
        return False, "needs /dev/net/tun"
    return True, ""


class NetNamespace:
    """A fresh network namespace, deleted (with its netdrv daemon) on :meth:`delete`."""

    def __init__(self, prefix: str = "nd") -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run("ip link set lo up")

    def argv(self, cmd: str | Sequence[str]) -> list[str]:
        """argv running ``cmd`` inside the namespace."""
        args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        return ["ip", "netns", "exec", self.name, *args]

    def run(
        self, cmd: str | Sequence[str], *, check: bool = True, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` in the namespace; output captured as text."""
        res = subprocess.run(self.argv(cmd), capture_output=True, text=True, timeout=timeout, **kw)
        if check and res.returncode != 0:
            raise AssertionError(
                f"`{cmd}` in {self.name} exited {res.returncode}\n"
                f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}"
            )
        return res

    def popen(self, cmd: str | Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start ``cmd`` in the namespace."""
        return subprocess.Popen(self.argv(cmd), **kw)

    def netdrv(
        self, args: str, *, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the netdrv CLI (this interpreter's) in the namespace."""
        return self.run([sys.executable, "-m", "netdrv_core.cli", *shlex.split(args)],
                        check=check, timeout=timeout)  # fmt: skip

    def python(
        self, code: str, *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run Python code in the namespace."""
        return self.run([sys.executable, "-c", code], check=check, timeout=timeout)

    def pids(self) -> list[int]:
        """Processes running in the namespace."""
        res = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        return [int(p) for p in res.stdout.split()]

    def delete(self) -> None:
        """Stop the netdrv daemon, kill what is left, delete the namespace."""
        subprocess.run(self.argv([sys.executable, "-m", "netdrv_core.cli", "stop"]),
                       capture_output=True, timeout=30)  # fmt: skip
        for pid in self.pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def __enter__(self) -> NetNamespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()
