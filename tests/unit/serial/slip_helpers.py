"""The slip driver loaded on a host as the daemon loads it (init, then configure)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
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
        try:
            c.sendall(b)
        except OSError:  # closed by the test's teardown between the read and the echo
            return


REASON = b"Device open failure: Value or file not found\r\n"
"""What ser2net says before it hangs up when its serial device cannot be opened."""


def serve_rfc2217(c: socket.socket) -> None:
    """An RFC 2217 server's connection (pyserial's ``PortManager``) to a ``loop://`` port:
    it negotiates the port's settings as ser2net does with its device open, then echoes."""
    import serial
    import serial.rfc2217

    ser = serial.serial_for_url("loop://", timeout=0.05)

    class Conn:
        def write(self, data: bytes) -> None:
            with contextlib.suppress(OSError):
                c.sendall(data)

    pm = serial.rfc2217.PortManager(ser, Conn())

    def to_net() -> None:
        while ser.is_open:
            try:
                data = ser.read(4096)
            except Exception:
                return
            if data:
                Conn().write(b"".join(pm.escape(data)))

    threading.Thread(target=to_net, daemon=True).start()
    try:
        while True:
            try:
                b = c.recv(4096)
            except OSError:
                return
            if not b:
                return
            for data in pm.filter(b):
                ser.write(data)
    finally:
        ser.close()
        c.close()


class Ser2netLike:
    """A serial server on one TCP port: while ``missing`` (its device is missing) it sends
    ``hello + REASON`` on each connection and hangs up, else it echoes — with RFC 2217
    (``rfc2217=True``: the settings negotiated first, as ser2net's ``telnet(rfc2217)``
    accepter does once its device is open) or raw.  ``stop()`` takes it away (connections
    closed, new ones refused); ``start()`` brings it back on the same port."""

    def __init__(self, hello: bytes = b"", missing: bool = True, rfc2217: bool = False) -> None:
        self.hello = hello
        self.missing = missing
        self.rfc2217 = rfc2217
        self.port = 0
        self.accepted = 0
        self.sock: socket.socket | None = None
        self.conns: list[socket.socket] = []
        self.start()

    def start(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(8)
        self.port = s.getsockname()[1]
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            self.accepted += 1
            if self.missing:
                if not self.hello:
                    # ser2net tries its device first (~40 ms): the reason comes after
                    # pyserial's open() has flushed what was waiting.
                    time.sleep(0.05)
                c.sendall(self.hello + REASON)
                c.close()
                continue
            self.conns.append(c)
            serve = serve_rfc2217 if self.rfc2217 else echo_until_closed
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    def stop(self) -> None:
        """The server goes away: connections closed, new ones refused."""
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.conns.clear()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    close = stop


# A small IPv4/ICMP packet the echoing servers send back.
IP = bytes.fromhex("4500001c000100004001f7c9c6120501c6120502") + bytes.fromhex("0800f7ff00000000")


@contextlib.contextmanager
def linked_through_server(
    host: Host, unload: Any, *, rfc2217: bool = False, **params: str
) -> Iterator[tuple[Ser2netLike, Any, Any]]:
    """A slip link through an echoing :class:`Ser2netLike` (``socket://``, or
    ``rfc2217://``) that reconnects fast (``retry_max=0.2``), one frame already echoed:
    ``(server, driver, device)``; the server is stopped at the end."""
    far = Ser2netLike(missing=False, rfc2217=rfc2217)
    try:
        scheme = "rfc2217" if rfc2217 else "socket"
        drv = load_slip(host, port=f"{scheme}://127.0.0.1:{far.port}", retry_max="0.2", **params)
        unload(drv)
        dev = drv.devices[0]
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 1, timeout=5)
        yield far, drv, dev
    finally:
        far.stop()
