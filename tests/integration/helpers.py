"""Helpers for integration tests: JSON status, traffic generators run inside namespaces."""

from __future__ import annotations

import json
import struct
import time
from typing import Any

from netdrv_core.testing import NetNamespace

TCP_SERVER = r"""
import hashlib, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(1)
print("ready", flush=True)
c, peer = s.accept()
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b); n += len(b)
c.sendall(h.hexdigest().encode()); c.close()
print(n, h.hexdigest(), peer[0], flush=True)
"""

TCP_CLIENT = r"""
import hashlib, os, socket, sys
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(1 << 20)
h = hashlib.sha256()
c = socket.create_connection((host, port), timeout=60)
sent = 0
while sent < size:
    chunk = data[: min(len(data), size - sent)]
    c.sendall(chunk); h.update(chunk); sent += len(chunk)
c.shutdown(socket.SHUT_WR)
remote = c.recv(100).decode()
print(sent, h.hexdigest(), remote, flush=True)
"""


def status(ns: NetNamespace) -> dict[str, Any]:
    """``netdrv status --json`` in ``ns``."""
    return json.loads(ns.netdrv("status --json").stdout)


def device(ns: NetNamespace, name: str) -> dict[str, Any]:
    """One device of ``netdrv status --json``."""
    for d in status(ns)["devices"]:
        if d["name"] == name:
            return d
    raise AssertionError(f"no device {name} in netdrv status")


def link_pair(
    a: NetNamespace, b: NetNamespace, name: str, timeout: float = 10.0
) -> tuple[dict, dict]:
    """Both ends of a link once the frames still on the wire have arrived.

    The two ends live in two daemons, so their counters are read at two moments;
    a late TCP ACK or FIN on the cable in between would make them differ by one.
    Poll until each side's tx equals the other side's rx (or ``timeout``) and
    return the last reading, which the caller asserts on.
    """
    deadline = time.monotonic() + timeout
    while True:
        da, db = device(a, name), device(b, name)
        sa, sb = da["stats"], db["stats"]
        if (sa["tx_packets"] == sb["rx_packets"] and sb["tx_packets"] == sa["rx_packets"]) or (
            time.monotonic() > deadline
        ):
            return da, db
        time.sleep(0.1)


def tcp_transfer(
    server_ns: NetNamespace, client_ns: NetNamespace, bind: str, connect: str,
    size: int, port: int = 5201, timeout: float = 120,
) -> tuple[str, str, str]:  # fmt: skip
    """Send ``size`` random bytes; return (client hash, server hash, peer seen by server)."""
    import subprocess
    import sys

    srv = server_ns.popen([sys.executable, "-c", TCP_SERVER, bind, str(port)],
                          stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert srv.stdout is not None
        assert srv.stdout.readline().strip() == "ready"
        cli = client_ns.run([sys.executable, "-c", TCP_CLIENT, connect, str(port), str(size)],
                            timeout=timeout)  # fmt: skip
        out, _ = srv.communicate(timeout=timeout)
    finally:
        if srv.poll() is None:
            srv.kill()
    sent, chash, remote = cli.stdout.split()
    n, shash, peer = out.split()
    assert int(sent) == size and int(n) == size, (sent, n)
    assert remote == shash
    return chash, shash, peer


def read_pcap(path: str) -> tuple[int, list[bytes]]:
    """(linktype, frames) of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    frames = []
    while off + 16 <= len(data):
        _s, _us, incl, _orig = struct.unpack(endian + "IIII", data[off : off + 16])
        frames.append(data[off + 16 : off + 16 + incl])
        off += 16 + incl
    return linktype, frames


def wait_for(pred: Any, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll ``pred()`` until true or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


# The start of in-process scripts: snull on the kernel attachment in this process, sn0 up.
SNULL_ON_KERNEL = r"""
import json, socket, subprocess, sys
from netdrv_core.attach.tap import KernelStack
from netdrv_core.host import Host
from netdrv_core.params import parse_params
from netdrv_core.plugins import PluginManager

host = Host(KernelStack())
ks = host.attachment
pm = PluginManager()
drv = pm.get_driver("snull")(host, parse_params("snull", pm.driver_parameters("snull"), {}))
with host.as_current():
    drv.init()
dev = host.devices["sn0"]
ks.set_link_up(dev)
"""
