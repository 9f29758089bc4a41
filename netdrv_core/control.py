"""The control protocol between ``netdrv`` and its per-namespace daemon.

Transport: an *abstract* Unix stream socket, ``@netdrv/control``.  Abstract
sockets belong to the network namespace they were created in, so
``ip netns exec NS netdrv …`` reaches exactly that namespace's daemon, and
nothing is left on disk if the daemon is killed.  Abstract sockets have no file
permissions: the daemon checks every peer's credentials (``SO_PEERCRED``) and
only serves root and its own uid.

Messages: a 4-byte big-endian length, then a UTF-8 JSON object (at most
:data:`MAX_MESSAGE` bytes).  Requests carry ``cmd``; replies carry ``ok`` and
either results or ``error``.  ``capture`` switches the connection to a raw pcap
byte stream after its reply.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

from .errors import NetdrvError

__all__ = [
    "CONTROL_ADDRESS",
    "MAX_MESSAGE",
    "ControlClient",
    "DaemonNotRunning",
    "ProtocolError",
    "decode_message",
    "encode_message",
    "netns_id",
]

CONTROL_ADDRESS = "\0netdrv/control"
MAX_MESSAGE = 1 << 20
_LEN = struct.Struct("!I")
COMMANDS = ("ping", "load", "unload", "status", "capture", "stop", "set")


class ProtocolError(NetdrvError):
    """A malformed control message."""


class DaemonNotRunning(NetdrvError):
    """No daemon listens in this network namespace."""


def netns_id() -> int:
    """Inode of this process's network namespace (names log files per namespace)."""
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return 0


def encode_message(obj: dict[str, Any]) -> bytes:
    """Frame a JSON object."""
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"control message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    return _LEN.pack(len(data)) + data


def decode_message(buf: bytearray) -> dict[str, Any] | None:
    """Take one complete message off the front of ``buf``; None if incomplete.

    Raises :class:`ProtocolError` for an oversized length, bad JSON or a
    non-object — the daemon then closes that connection.
    """
    if len(buf) < _LEN.size:
        return None
    (n,) = _LEN.unpack_from(buf)
    if n > MAX_MESSAGE:
        raise ProtocolError(f"control message length {n} exceeds {MAX_MESSAGE}")
    if len(buf) < _LEN.size + n:
        return None
    raw = bytes(buf[_LEN.size : _LEN.size + n])
    del buf[: _LEN.size + n]
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"control message is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("control message must be a JSON object")
    return obj


def validate_request(req: dict[str, Any]) -> None:
    """Check the shape of a request (types of the fields each command uses)."""
    cmd = req.get("cmd")
    if cmd not in COMMANDS:
        raise ProtocolError(f"unknown command {cmd!r}; expected one of {', '.join(COMMANDS)}")
    if cmd in ("load", "unload") and not isinstance(req.get("driver"), str):
        raise ProtocolError(f"{cmd}: 'driver' must be a string")
    if cmd == "load":
        params = req.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise ProtocolError("load: 'params' must be a list of name=value strings")
        mods = req.get("plugins", [])
        if not isinstance(mods, list) or not all(isinstance(m, str) for m in mods):
            raise ProtocolError("load: 'plugins' must be a list of module names")
    if cmd == "capture":
        if not isinstance(req.get("dev"), str):
            raise ProtocolError("capture: 'dev' must be a string")
        if not isinstance(req.get("count", 0), int):
            raise ProtocolError("capture: 'count' must be an integer")
    if cmd == "set" and not isinstance(req.get("dev"), str):
        raise ProtocolError("set: 'dev' must be a string")


class ControlClient:
    """A connection to this namespace's daemon."""

    def __init__(self, timeout: float | None = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(CONTROL_ADDRESS)
        except (ConnectionRefusedError, FileNotFoundError):
            self.sock.close()
            raise DaemonNotRunning("no netdrv daemon runs in this network namespace") from None
        self._buf = bytearray()

    def request(self, cmd: str, **kw: Any) -> dict[str, Any]:
        """Send one request and wait for its reply."""
        self.sock.sendall(encode_message({"cmd": cmd, **kw}))
        return self.read_message()

    def read_message(self) -> dict[str, Any]:
        """Read one reply."""
        while True:
            msg = decode_message(self._buf)
            if msg is not None:
                return msg
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProtocolError("the daemon closed the connection (see its log)")
            self._buf += chunk

    def read_raw(self, n: int = 65536) -> bytes:
        """After ``capture``: the next bytes of the stream (b"" at the end)."""
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            return data
        return self.sock.recv(n)

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
