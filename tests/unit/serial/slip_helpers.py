"""The slip driver loaded on a host as the daemon loads it (init, then configure)."""

from __future__ import annotations

import socket
import struct
from typing import Any

from netdrv_core import Host, PluginManager
from netdrv_core.params import parse_params


def load_slip(host: Host, **params: str) -> Any:
    """``netdrv load slip`` with ``params`` on ``host``; the driver."""
    pm = PluginManager()
    cls = pm.get_driver("slip")
    drv = cls(host, parse_params("slip", pm.driver_parameters("slip"), params))
    with host.as_current():
        drv.init()
        drv.configure()
    return drv


def inet_csum(data: bytes) -> int:
    """RFC 1071, the textbook way (independent of the codecs' implementation)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def echo_until_closed(c: socket.socket) -> None:
    """A fake serial server's echo: send back what arrives until the peer closes."""
    while True:
        try:
            b = c.recv(4096)
        except OSError:
            return
        if not b:
            return
        c.sendall(b)
