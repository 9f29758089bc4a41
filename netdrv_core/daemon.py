"""The netdrv daemon: one per network namespace, hosting loaded drivers.

``netdrv load`` starts it on demand (``python -m netdrv_core.daemon``) and
talks to it over the control socket (:mod:`netdrv_core.control`).  It runs one
event loop for every device, timer and connection.  SIGTERM/SIGINT unload
every driver (interfaces gone, ports and USB interfaces released) and exit; the
daemon also exits by itself when its last driver is unloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from .control import (
    CONTROL_ADDRESS,
    ProtocolError,
    decode_message,
    encode_message,
    validate_request,
)
from .driver import Driver
from .errors import NetdrvError, NotPermittedError, PluginError
from .host import Host
from .params import parse_params
from .plugins import PluginManager
from .status import host_status

__all__ = ["Daemon", "main"]

log = logging.getLogger("netdrv.daemon")


def _peer_uid(sock: socket.socket) -> int:
    import struct

    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class _Conn:
    """One client connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.out = bytearray()
        self.capture_remove: Callable[[], None] | None = None
        self.capture_left = 0


class Daemon:
    """Hosts drivers on a :class:`Host`, serves the control socket."""

    def __init__(
        self,
        host: Host | None = None,
        pm: PluginManager | None = None,
        *,
        exit_when_empty: bool = True,
    ) -> None:
        if host is None:
            from .attach.tap import KernelStack

            host = Host(KernelStack())
        self.host = host
        self.pm = pm or PluginManager()
        host.notify = self.pm.notify
        self.drivers: dict[str, Driver] = {}
        self.exit_when_empty = exit_when_empty
        self.uid = os.geteuid()
        self.listener: socket.socket | None = None
        self.conns: dict[int, _Conn] = {}
        self._stopping = False

    # -- control socket ------------------------------------------------------------
    def listen(self) -> None:
        """Bind the namespace's control socket; a clear error if a daemon already runs."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK
                          | socket.SOCK_CLOEXEC)  # fmt: skip
        try:
            s.bind(CONTROL_ADDRESS)
        except OSError as exc:
            s.close()
            if exc.errno == errno.EADDRINUSE:
                raise NetdrvError(
                    "a netdrv daemon already runs in this network namespace "
                    "(netdrv status shows it; netdrv stop ends it)"
                ) from None
            raise
        s.listen(16)
        self.listener = s
        self.host.loop.add_reader(s.fileno(), self._accept)

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            uid = _peer_uid(sock)
            if uid not in (0, self.uid):
                log.warning("refused control connection from uid %d", uid)
                with contextlib.suppress(OSError):
                    sock.sendall(encode_message({
                        "ok": False,
                        "error": f"permission denied: the netdrv daemon serves root and uid "
                                 f"{self.uid} only (you are uid {uid})",
                    }))  # fmt: skip
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Conn(sock)
            self.conns[sock.fileno()] = conn
            self.host.loop.add_reader(sock.fileno(), lambda c=conn: self._on_readable(c))

    def _close_conn(self, conn: _Conn) -> None:
        if conn.capture_remove is not None:
            conn.capture_remove()
            conn.capture_remove = None
        fd = conn.sock.fileno()
        if fd >= 0:
            self.host.loop.remove_reader(fd)
            self.conns.pop(fd, None)
        conn.sock.close()

    def _on_readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_conn(conn)
            return
        conn.buf += data
        while True:
            try:
                req = decode_message(conn.buf)
            except ProtocolError as exc:
                self._send(conn, {"ok": False, "error": str(exc)})
                self._close_conn(conn)
                return
            if req is None:
                return
            try:
                validate_request(req)
                reply = self.handle(req, conn)
            except NetdrvError as exc:
                reply = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
            except Exception as exc:
                log.exception("request %r failed", req.get("cmd"))
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "internal"}
            if reply is not None:  # capture answered itself and now streams raw bytes
                self._send(conn, reply)

    def _send(self, conn: _Conn, obj: dict[str, Any]) -> None:
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(5)
            conn.sock.sendall(encode_message(obj))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.sock.setblocking(False)

    # -- commands ------------------------------------------------------------------------
    def handle(self, req: dict[str, Any], conn: _Conn | None = None) -> dict[str, Any] | None:
        """Execute one request."""
        cmd = req["cmd"]
        if cmd == "ping":
            return {"ok": True, "pid": os.getpid(), "drivers": list(self.drivers)}
        if cmd == "load":
            for mod in req.get("plugins", []):
                if mod not in self.pm.extra:
                    self.pm.extra.append(mod)
            return self.load(req["driver"], req.get("params", []))
        if cmd == "unload":
            self.unload(req["driver"])
            return {"ok": True}
        if cmd == "status":
            return {"ok": True, "pid": os.getpid(), **host_status(self.host, self.drivers)}
        if cmd == "stop":
            self.host.loop.call_soon(self.shutdown)
            return {"ok": True}
        if cmd == "capture":
            assert conn is not None
            return self.start_capture(conn, req["dev"], int(req.get("count", 0)))
        if cmd == "set":
            return self.set_device(req)
        raise ProtocolError(f"unhandled command {cmd!r}")

    def load(self, name: str, args: list[str]) -> dict[str, Any]:
        """Load driver ``name`` with ``args``; on any failure nothing stays registered."""
        if name in self.drivers:
            raise NetdrvError(f"driver {name!r} is already loaded (netdrv unload {name} first)")
        cls = self.pm.get_driver(name)
        params = parse_params(name, self.pm.driver_parameters(name), args)
        drv = cls(self.host, params)
        try:
            with self.host.as_current():
                drv.init()
                drv.configure()
        except BaseException as exc:
            for dev in list(self.host.devices.values()):
                if dev.driver is drv:
                    with contextlib.suppress(Exception):
                        self.host.unregister_netdev(dev)
            with contextlib.suppress(Exception):
                drv.exit()
            if not self.drivers and self.exit_when_empty:
                self.host.loop.call_soon(self.shutdown)
            if isinstance(exc, NetdrvError):
                raise
            if isinstance(exc, PermissionError):
                raise NotPermittedError(f"loading {name}: {exc}") from exc
            raise PluginError(
                f"driver {name!r} failed to initialise: {type(exc).__name__}: {exc}"
            ) from exc
        self.drivers[name] = drv
        log.info("loaded %s %s", name, " ".join(args))
        return {
            "ok": True,
            "devices": [d.name for d in drv.devices],
            "description": drv.describe(),
        }

    def unload(self, name: str) -> None:
        """Unload driver ``name``: its devices are unregistered, its resources released."""
        drv = self.drivers.pop(name, None)
        if drv is None:
            loaded = ", ".join(self.drivers) or "none"
            raise NetdrvError(f"driver {name!r} is not loaded (loaded: {loaded})")
        try:
            with self.host.as_current():
                drv.exit()
        except Exception:
            log.exception("driver %s raised in exit; unregistering its devices anyway", name)
        for dev in list(self.host.devices.values()):
            if dev.driver is drv:
                with contextlib.suppress(Exception):
                    self.host.unregister_netdev(dev)
        log.info("unloaded %s", name)
        if not self.drivers and self.exit_when_empty:
            self.host.loop.call_soon(self.shutdown)

    def set_device(self, req: dict[str, Any]) -> dict[str, Any]:
        """Driver-level settings that have no ip-link equivalent (ioctl, set_config)."""
        dev = self.host.dev_get_by_name(req["dev"])
        if dev is None:
            raise NetdrvError(f"no netdrv device named {req['dev']!r}")
        if "ifmap" in req:
            ret = self.host.dev_set_config(dev, dict(req["ifmap"]))
            return {"ok": ret == 0, "result": ret, "error": os.strerror(-ret) if ret else None}
        if "ioctl" in req:
            res = self.host.dev_ioctl(dev, int(req["ioctl"]), req.get("data"))
            return {"ok": not (isinstance(res, int) and res < 0), "result": res}
        raise ProtocolError("set: give 'ifmap' or 'ioctl'")

    def start_capture(self, conn: _Conn, devname: str, count: int) -> None:
        """Stream pcap records of ``devname`` to this connection."""
        from .phy.pcap import PcapWriter

        dev = self.host.dev_get_by_name(devname)
        if dev is None:
            raise NetdrvError(f"no netdrv device named {devname!r}")
        writer = PcapWriter.for_device(dev)
        conn.capture_left = count
        self._send(conn, {"ok": True, "linktype": writer.linktype})
        self._raw(conn, writer.header())

        def tap(d: Any, skb: Any, direction: str) -> None:
            start = skb.mac_header if 0 <= skb.mac_header <= skb.data else skb.data
            self._raw(conn, writer.record(memoryview(skb.buf)[start : skb.tail]))
            if conn.capture_left:
                conn.capture_left -= 1
                if conn.capture_left == 0:
                    self.host.loop.call_soon(self._close_conn, conn)

        conn.capture_remove = self.host.add_tap(dev, tap)

    def _raw(self, conn: _Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)
        except (BlockingIOError, OSError):
            pass  # a slow reader loses frames rather than stalling every device

    # -- lifecycle ----------------------------------------------------------------------
    def shutdown(self) -> None:
        """Unload everything and stop the loop."""
        if self._stopping:
            return
        self._stopping = True
        for name in list(self.drivers):
            with contextlib.suppress(Exception):
                self.exit_when_empty = False
                self.unload(name)
        for conn in list(self.conns.values()):
            self._close_conn(conn)
        if self.listener is not None:
            self.host.loop.remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None
        self.host.loop.stop()

    def run(self) -> None:
        """Serve until stopped; SIGTERM and SIGINT shut down cleanly."""
        loop = self.host.loop
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self.shutdown))
        try:
            loop.run_forever()
        finally:
            self.shutdown()
            self.host.close()
            log.info("daemon stopped")


def log_path() -> str:
    """Where a background daemon of this namespace logs."""
    from .control import netns_id

    base = "/run/netdrv" if os.geteuid() == 0 else os.path.join(
        os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "netdrv")  # fmt: skip
    os.makedirs(base, mode=0o755, exist_ok=True)
    return os.path.join(base, f"daemon-{netns_id()}.log")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m netdrv_core.daemon``."""
    ap = argparse.ArgumentParser(prog="netdrv-daemon", description=__doc__)
    ap.add_argument("--log-level", default="INFO")
    ap.add_argument("--ready-fd", type=int, default=-1, help="write one byte here once listening")
    ap.add_argument("-p", dest="plugins", action="append", default=[],
                    help="no:NAME disables a plugin; MODULE adds one")  # fmt: skip
    ns = ap.parse_args(argv)
    logging.basicConfig(
        level=ns.log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    disabled = [p[3:] for p in ns.plugins if p.startswith("no:")]
    extra = [p for p in ns.plugins if not p.startswith("no:")]
    try:
        d = Daemon(pm=PluginManager(disabled=disabled, extra=extra))
        d.listen()
    except NetdrvError as exc:
        print(f"netdrv-daemon: {exc}", file=sys.stderr)
        return 1
    if ns.ready_fd >= 0:
        os.write(ns.ready_fd, b"1")
        os.close(ns.ready_fd)
    log.info("daemon %d listening (netns %s)", os.getpid(), os.readlink("/proc/self/ns/net"))
    d.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
