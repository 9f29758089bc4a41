"""The far end of a simulated adapter's Ethernet cable.

On the kernel attachment the cable ends in a plain TAP interface (not a netdrv
device) named by ``sim_wire=`` (default ``usbsim0``): frames the kernel sends
into that TAP arrive at the adapter (``model.wire_rx``), frames the adapter
puts on the wire (``model.on_wire_tx``, called in the usbnet writer thread) are
written to the TAP (no copy is kept in ``model.wire_tx_log``).  The TAP can be
moved into another network namespace (``ip link set usbsim0 netns B``); it
keeps working there, so a test answers real traffic from B.  The TAP lives as
long as the driver is loaded: replugging the adapter does not touch it.  Deleted
(``ip link del``, or its namespace deleted), the cable is cut: a warning says
so once, the adapter reports its link down (the carrier goes off), and it stays
so until the driver is reloaded.

On any other attachment (the memory stack of unit tests and the conformance
kit) there is no kernel: the cable stays in-process.  What the adapter
transmits is counted by the model (``model.stats.wire_tx_*``, the bounded
``model.wire_tx_log``); tests inject received frames with ``model.wire_rx``
or set ``model.on_wire_tx`` themselves.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netdrv_core import Host

__all__ = ["SimWire"]

log = logging.getLogger("netdrv.usbnet.simwire")

READ_BUDGET = 64
MAX_FRAME = 65536
# Read errors that mean the TAP is gone: EBADFD is tun's answer once its interface is
# deleted (tun_chr_read_iter finds no tun); EIO older kernels' while it is unregistered;
# EBADF, ENODEV and ENXIO an fd or device that is no more.  Any other error fails the
# one frame (tun_do_read frees it) and the next read goes on.
TAP_GONE = frozenset({errno.EBADFD, errno.EIO, errno.EBADF, errno.ENODEV, errno.ENXIO})


class SimWire:
    """A simulated adapter's cable: a kernel TAP, or nothing (in-process)."""

    def __init__(self, host: Host, model: Any, name: str) -> None:
        self.host = host
        self.model = model
        self.name = name
        self.tap: Any = None
        self.cut = ""  # why the cable was cut (TAP deleted or unreadable); "" while it works
        self.counters = {"to_adapter": 0, "from_adapter": 0, "write_dropped": 0,
                         "write_errors": 0, "read_errors": 0}  # fmt: skip
        self._failing = 0  # read errors in a row, no frame between them

    @property
    def is_kernel(self) -> bool:
        """True when the cable ends in a kernel TAP."""
        return self.tap is not None

    def open(self) -> None:
        """Create the TAP (kernel attachment only) and connect the model's cable to it."""
        if not getattr(self.host.attachment, "is_kernel", False):
            return
        from netdrv_core.attach.tap import TunTap
        from netdrv_core.errors import NameInUseError

        try:
            tt = TunTap(self.name, tap=True, vnet_hdr=False, offloads=0)
        except NameInUseError as exc:  # say which parameter named it
            raise NameInUseError(f"sim_wire={self.name}: {exc}") from None
        try:
            cfg = getattr(self.host.attachment, "cfg", None)
            if cfg is not None:
                index = cfg.index(self.name)
                if index is not None:
                    cfg.set(index, state="up")
        except Exception as exc:  # the test may still set it up (or move it) itself
            log.debug("%s: could not set the link up: %s", self.name, exc)
        self.tap = tt
        self.host.loop.add_reader(tt.fd, self._readable)
        self.model.on_wire_tx = self._write
        self.model.keep_wire_tx(0)  # the TAP gets the frames: no copy kept in the daemon
        log.info("simulated adapter's cable ends in TAP %s", self.name)

    def _readable(self) -> None:
        """Frames the kernel sent into the TAP reach the adapter."""
        tt = self.tap
        if tt is None:
            return
        for _ in range(READ_BUDGET):
            try:
                frame = os.read(tt.fd, MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if not self._read_error(exc):
                    return
                continue
            self._failing = 0
            if frame:
                self.counters["to_adapter"] += 1
                self.model.wire_rx(frame)

    def _read_error(self, exc: OSError) -> bool:
        """A read failed: whether to read on (the TAP is still there) or not (cable cut).

        The TAP gone (:data:`TAP_GONE`: deleted, or its namespace was), the fd stays
        readable with that error: reading on would spin the loop and flood the log, so
        the cable is cut.  Another error lost one frame: counted, said once, and reading
        goes on, like a driver's rx error; unless a whole budget of reads fails in a row,
        which is no TAP to read either.
        """
        if exc.errno in TAP_GONE:
            self._cut(exc)
            return False
        self.counters["read_errors"] += 1
        self._failing += 1
        if self.counters["read_errors"] == 1:
            log.warning("%s: reading the TAP failed (%s): that frame is lost; further read "
                        "errors are counted silently", self.name, exc)  # fmt: skip
        if self._failing >= READ_BUDGET:
            self._cut(exc)
            return False
        return True

    def _cut(self, exc: OSError) -> None:
        """The TAP is gone, or fails every read (loop): stop reading it and take the cable's
        link down, once.

        The fd stays open until :meth:`close` (unload): the writer thread may be writing
        to it, and a closed fd's number could be reused by another file meanwhile."""
        tt = self.tap
        if self.cut or tt is None:
            return
        if exc.errno in TAP_GONE:
            self.cut = f"TAP {self.name} is gone ({exc.strerror or exc})"
            why = f"its TAP is gone ({exc}; deleted, or its network namespace was)"
        else:
            self.cut = f"TAP {self.name} fails every read ({exc.strerror or exc})"
            why = f"every read of its TAP fails ({exc})"
        with contextlib.suppress(Exception):
            self.host.loop.remove_reader(tt.fd)
        log.warning("%s: the simulated adapter's cable is cut: %s: the adapter reports link "
                    "down until the driver is reloaded", self.name, why)  # fmt: skip
        with contextlib.suppress(Exception):
            self.model.set_link(False)

    def _write(self, frame: bytes) -> None:
        """The adapter transmitted ``frame`` (called in the writer thread)."""
        tt = self.tap
        fd = tt.fd if tt is not None and not self.cut else -1
        if fd < 0:
            return
        try:
            os.write(fd, frame)
            self.counters["from_adapter"] += 1
        except BlockingIOError:
            self.counters["write_dropped"] += 1
        except OSError as exc:
            self.counters["write_errors"] += 1  # EIO while the TAP is down
            if exc.errno not in (errno.EIO, errno.EINVAL):
                log.debug("%s: write failed: %s", self.name, exc)

    def close(self) -> None:
        """Disconnect the cable and close the TAP (the interface disappears, wherever it is)."""
        if self.model.on_wire_tx == self._write:
            self.model.on_wire_tx = None
            self.model.keep_wire_tx()
        tt, self.tap = self.tap, None
        if tt is not None:
            with contextlib.suppress(Exception):
                self.host.loop.remove_reader(tt.fd)
            tt.close()
