"""USB-level behaviour shared by all simulated adapters: endpoints, transfers, faults.

A :class:`SimDevice` is the device side of the bus.  :class:`~netdrv_usbnet.sim.SimBackend`
forwards pyusb backend calls to it.  All state is protected by one lock
(``_cond``); a host read blocks on its endpoint's condition (up to its
timeout) and is woken by data for that endpoint, faults, ``unplug()`` and
``replug()`` — data for one endpoint does not wake readers of the others.

Transfer semantics (deliberately close to real USB):

* IN endpoints hold a queue of device-side transfers.  A host read of *N*
  bytes receives whole packets until a short packet/ZLP ends the transfer or
  the buffer is full.  On bulk endpoints a transfer that is a multiple of
  wMaxPacketSize is followed by a ZLP unless ``in_zlp`` is False (then it
  merges with the next transfer, as on hardware that omits ZLPs); if the host
  buffer fills exactly at such a transfer the ZLP arrives as a separate 0-byte
  read.  Interrupt endpoints never send ZLPs: read them with a buffer of
  exactly wMaxPacketSize (as Linux does), or full-size notifications merge.  If the next
  packet does not fit in the remaining space (a buffer that is not a multiple
  of wMaxPacketSize) the read fails with EOVERFLOW and that transfer is lost
  (babble).  On timeout, data already received from an unterminated transfer
  is returned (pyusb returns partial data without raising, like libusb).
* OUT endpoints: by default (``drop_zlp = False``) every ``write()`` is one
  complete transfer.  With ``drop_zlp = True`` the device behaves like real
  hardware when the host omits the ZLP: a write whose length is a non-zero
  multiple of wMaxPacketSize does not end the transfer, it merges with the
  following write(s) until a short packet or an explicit zero-length write,
  or until it reaches the most the device takes in one transfer
  (:meth:`SimDevice._out_transfer_max`: a CDC-NCM function's
  dwNtbOutMaxSize), where the device ends it.  Every zero-length write
  counts in ``zlps_received``.
* Timeout 0 means "wait forever" (libusb semantics).

Errors are the real ``usb.core.USBError``/``USBTimeoutError`` with libusb's
error code and errno: ETIMEDOUT, EPIPE (stall), ENODEV (unplugged or a handle
from before a replug), EOVERFLOW, ENOENT (endpoint not in the current
configuration/alternate setting), EBUSY (kernel driver bound), EINVAL.
"""

from __future__ import annotations

import array
import dataclasses
import errno
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import usb.core

from .descriptors import (
    DT_CONFIG,
    DT_DEVICE,
    DT_STRING,
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    langid_descriptor,
    string_descriptor,
)

__all__ = ["SimDevice", "SimDeviceStats", "Stall", "usb_error"]

SPEED_FULL = 2
SPEED_HIGH = 3
SPEED_SUPER = 4
SPEEDS = {"full": SPEED_FULL, "high": SPEED_HIGH, "super": SPEED_SUPER}
BULK_MPS = {SPEED_FULL: 64, SPEED_HIGH: 512, SPEED_SUPER: 1024}

_LIBUSB_ERRORS = {
    errno.EIO: (-1, "Input/Output Error"),
    errno.EINVAL: (-2, "Invalid parameter"),
    errno.EACCES: (-3, "Access denied (insufficient permissions)"),
    errno.ENODEV: (-4, "No such device (it may have been disconnected)"),
    errno.ENOENT: (-5, "Entity not found"),
    errno.EBUSY: (-6, "Resource busy"),
    errno.ETIMEDOUT: (-7, "Operation timed out"),
    errno.EOVERFLOW: (-8, "Overflow"),
    errno.EPIPE: (-9, "Pipe error"),
}


def usb_error(err: int, detail: str = "") -> usb.core.USBError:
    """Build the exception libusb1's backend would raise for *err* (an errno value)."""
    code, msg = _LIBUSB_ERRORS.get(err, (-99, "Other error"))
    if detail:
        msg = f"{msg} ({detail})"
    cls = usb.core.USBTimeoutError if err == errno.ETIMEDOUT else usb.core.USBError
    return cls(msg, code, err)


class Stall(Exception):
    """Raised by request handlers to STALL a control request (becomes EPIPE)."""


@dataclasses.dataclass
class SimDeviceStats:
    """USB-level and cable-level counters of a simulated device (``as_dict()`` for a copy).

    ``wire_*`` count the cable side: ``wire_tx_*`` frames the device put on
    the wire (decoded from host OUT transfers), ``wire_rx_*`` frames that
    arrived from the cable and what happened to them.
    """

    control_requests: int = 0
    control_stalls: int = 0
    in_transfers: int = 0
    in_bytes: int = 0
    out_transfers: int = 0
    out_bytes: int = 0
    zlps_received: int = 0
    out_unterminated: int = 0
    overflows: int = 0
    timeouts_injected: int = 0
    notifications_queued: int = 0
    wire_tx_frames: int = 0
    wire_tx_bytes: int = 0
    wire_tx_errors: int = 0
    wire_tx_dropped_link_down: int = 0
    wire_rx_frames: int = 0
    wire_rx_bytes: int = 0
    wire_rx_filtered: int = 0
    wire_rx_dropped_size: int = 0
    wire_rx_dropped_inactive: int = 0
    wire_rx_dropped_link_down: int = 0
    wire_rx_dropped_overrun: int = 0
    malformed_injected: int = 0

    def as_dict(self) -> dict[str, int]:
        """All counters as a dict (a copy)."""
        return dataclasses.asdict(self)


class _Seg:
    """One device-side IN transfer (or the rest of one)."""

    __slots__ = ("data", "terminated", "zlp")

    def __init__(self, data: bytes, terminated: bool, zlp: bool = False) -> None:
        self.data = data  # immutable: a read that splits it keeps the rest as a new slice
        self.terminated = terminated  # ends with a short packet or a ZLP
        self.zlp = zlp  # ends with a ZLP (a full last packet followed by a zero-length one)


class SimDevice:
    """A simulated USB device: descriptors, endpoint queues, standard requests and fault hooks.

    Subclasses (the adapter models) override :meth:`_class_vendor_request`,
    :meth:`_on_out_transfer`, :meth:`_refill_in` and the ``_on_*`` hooks.

    Fault hooks (all deterministic, all thread-safe):

    * :meth:`stall` - halt an endpoint (EPIPE until ``clear_halt``); endpoint 0
      stalls the next control request only (a protocol stall).
    * :meth:`timeout_next` - the next *n* transfers on an endpoint fail with
      ETIMEDOUT immediately, without consuming/delivering data.
    * :meth:`overflow_next` - the next *n* IN transfers that have data fail
      with EOVERFLOW and that data is lost.
    * :meth:`unplug` / :meth:`replug` - see their docstrings.
    * ``drop_zlp`` / ``in_zlp`` attributes - see the module docstring.
    """

    def __init__(
        self,
        device: DeviceDescriptor,
        configurations: list[ConfigDescriptor],
        strings: dict[int, str],
        *,
        speed: int,
        kernel_driver: bool = False,
    ) -> None:
        """*speed* is a libusb speed code (2 full, 3 high, 4 super)."""
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._ep_conds: dict[int, threading.Condition] = {}  # per IN endpoint, same lock
        self._cancels: dict[int, int] = {}  # per endpoint: SET_INTERFACEs that cancelled reads
        self.device_descriptor = device
        self.device_descriptor.speed = speed
        self.device_descriptor.bNumConfigurations = len(configurations)
        self.configurations = configurations
        self.strings = dict(strings)
        self.speed = speed
        self.langids: tuple[int, ...] = (0x0409,)
        self.stats = SimDeviceStats()
        self.drop_zlp = False
        self.in_zlp = True
        self._kernel_driver_initial = kernel_driver
        self.plugged = True
        self.generation = 0
        self._backend: Any = None
        self._reset_usb_state()

    # ------------------------------------------------------------------
    # state helpers (call with the lock held)
    # ------------------------------------------------------------------

    def _reset_usb_state(self) -> None:
        self.configuration = 0
        self.alt_settings: dict[int, int] = {}
        self.claimed: set[int] = set()
        self._claim_owner: dict[int, object] = {}  # interface -> the handle that claimed it
        self.halted: set[int] = set()
        self.clear_halt_failures = 0  # this many CLEAR_FEATURE(HALT) requests fail first
        self._in: dict[int, deque[_Seg]] = {}
        self._out: dict[int, bytearray] = {}
        self._timeouts: dict[int, int] = {}
        self._overflows: dict[int, int] = {}
        self._ctrl_stalls = 0
        self._forget_endpoints()
        ifaces = {
            alt.bInterfaceNumber for cfg in self.configurations for alt in cfg.all_alt_settings()
        }
        self.kernel_driver = set(ifaces) if self._kernel_driver_initial else set()

    def _active_config(self) -> ConfigDescriptor | None:
        for cfg in self.configurations:
            if cfg.bConfigurationValue == self.configuration and self.configuration:
                return cfg
        return None

    def _ep_cond(self, ep: int) -> threading.Condition:
        cond = self._ep_conds.get(ep)
        if cond is None:
            cond = self._ep_conds[ep] = threading.Condition(self._lock)
        return cond

    def _wake(self, ep: int) -> None:
        """Wake the host reads waiting on *ep* (lock held)."""
        cond = self._ep_conds.get(ep)
        if cond is not None:
            cond.notify_all()

    def _wake_all(self) -> None:
        """Wake every waiting host read: a fault, a plug event or a state change (lock held)."""
        for cond in self._ep_conds.values():
            cond.notify_all()
        self._cond.notify_all()

    def _forget_endpoints(self) -> None:
        """Drop the endpoint look-ups (configuration or alternate setting changed)."""
        self._ep_cache: dict[int, tuple[int, EndpointDescriptor] | None] = {}
        self._mps_cache: dict[int, int] = {}
        self._intr_cache: dict[int, bool] = {}

    def _endpoint(self, ep: int) -> tuple[int, EndpointDescriptor] | None:
        """(interface number, descriptor) of *ep* in the current alternate settings."""
        try:
            return self._ep_cache[ep]  # every transfer asks: searching each time costs more
        except KeyError:
            pass
        cfg = self._active_config()
        alts = [] if cfg is None else [alt for alts in cfg.interfaces for alt in alts]
        found = next(((alt.bInterfaceNumber, e) for alt in alts
                      if self.alt_settings.get(alt.bInterfaceNumber, 0) == alt.bAlternateSetting
                      for e in alt.endpoints if e.bEndpointAddress == ep), None)  # fmt: skip
        self._ep_cache[ep] = found
        return found

    def max_packet(self, ep: int) -> int:
        """wMaxPacketSize of *ep* (searching all alternate settings); 64 for endpoint 0."""
        mps = self._mps_cache.get(ep)
        if mps is not None:
            return mps
        if ep & 0x7F == 0:
            mps = self.device_descriptor.bMaxPacketSize0 if self.speed < SPEED_SUPER else 512
        else:
            mps = next((e.wMaxPacketSize for cfg in self.configurations
                        for alt in cfg.all_alt_settings() for e in alt.endpoints
                        if e.bEndpointAddress == ep), None)  # fmt: skip
            if mps is None:
                raise KeyError(f"no endpoint {ep:#04x}")
        self._mps_cache[ep] = mps
        return mps

    def _check_alive(self, generation: int) -> None:
        if not self.plugged or generation != self.generation:
            raise usb_error(errno.ENODEV)

    def _in_queue(self, ep: int) -> deque[_Seg]:
        q = self._in.get(ep)
        if q is None:
            q = self._in[ep] = deque()
        return q

    def _push_in(self, ep: int, data: bytes, *, terminated: bool | None = None) -> None:
        """Queue a device-side IN transfer on *ep* (lock held).

        By default a transfer ends with a short packet; one that is a non-empty
        multiple of wMaxPacketSize is followed by a ZLP on bulk endpoints when
        ``in_zlp`` is set, and never on interrupt endpoints (notifications are
        single packets; the host reads them with a wMaxPacketSize buffer).
        """
        try:
            mps = self.max_packet(ep)
        except KeyError:
            return  # a model whose descriptors lost the endpoint: nowhere to send it
        if not mps:
            return  # wMaxPacketSize 0: no packet can carry it
        full = len(data) > 0 and len(data) % mps == 0
        if terminated is None:
            terminated = not full or (self.in_zlp and not self._is_interrupt(ep))
        self._in_queue(ep).append(_Seg(bytes(data), terminated, zlp=terminated and full))
        self._wake(ep)

    def _is_interrupt(self, ep: int) -> bool:
        found = self._intr_cache.get(ep)
        if found is None:
            found = self._intr_cache[ep] = next(
                (e.transfer_type == 0x03 for cfg in self.configurations
                 for alt in cfg.all_alt_settings() for e in alt.endpoints
                 if e.bEndpointAddress == ep), False)  # fmt: skip
        return found

    def _flush_endpoint(self, ep: int) -> None:
        self._in.pop(ep, None)
        self._out.pop(ep, None)
        self.halted.discard(ep)

    # ------------------------------------------------------------------
    # fault hooks (public)
    # ------------------------------------------------------------------

    def stall(self, endpoint: int) -> None:
        """Halt *endpoint*: transfers on it fail with EPIPE until the host clears the halt.

        ``stall(0)`` makes only the next control request STALL.  A read blocked
        on the endpoint is woken and fails.
        """
        with self._cond:
            if endpoint & 0x7F == 0:
                self._ctrl_stalls += 1
            else:
                self.halted.add(endpoint)
            self._wake_all()

    def timeout_next(self, endpoint: int, n: int = 1) -> None:
        """Make the next *n* transfers on *endpoint* (0 = control) fail with ETIMEDOUT at once."""
        with self._cond:
            self._timeouts[endpoint] = self._timeouts.get(endpoint, 0) + n
            self._wake_all()

    def overflow_next(self, endpoint: int, n: int = 1) -> None:
        """Make the next *n* IN transfers on *endpoint* that carry data fail with EOVERFLOW (data lost)."""
        with self._cond:
            self._overflows[endpoint] = self._overflows.get(endpoint, 0) + n
            self._wake_all()

    def unplug(self) -> None:
        """Disconnect: every transfer (also one blocked in a read) fails with ENODEV.

        The device disappears from enumeration.  Handles opened before stay
        dead even after :meth:`replug`.
        """
        with self._cond:
            self.plugged = False
            self._wake_all()

    def replug(self) -> None:
        """Reconnect as a fresh device: unconfigured, queues/halts/faults cleared.

        It re-enumerates with a new address (like real hardware); the host
        must find and open it again.  Model state (MAC, link) is kept.
        """
        with self._cond:
            self.generation += 1
            self._reset_usb_state()
            self._on_replug()
            self.plugged = True
            self._wake_all()

    @property
    def is_plugged(self) -> bool:
        """True while connected."""
        return self.plugged

    def pending_out_bytes(self, endpoint: int) -> int:
        """Bytes of an unterminated OUT transfer the device is still waiting to complete."""
        with self._cond:
            return len(self._out.get(endpoint, b""))

    def pending_in_transfers(self, endpoint: int) -> int:
        """Number of device-side IN transfers queued on *endpoint*."""
        with self._cond:
            return len(self._in.get(endpoint, ()))

    # ------------------------------------------------------------------
    # host-facing operations (called by SimBackend)
    # ------------------------------------------------------------------

    def host_open(self) -> int:
        """Return the generation a new handle is bound to (ENODEV if unplugged)."""
        with self._cond:
            if not self.plugged:
                raise usb_error(errno.ENODEV)
            return self.generation

    def host_set_configuration(self, generation: int, value: int) -> None:
        """SET_CONFIGURATION via the backend."""
        with self._cond:
            self._check_alive(generation)
            if value in (0, -1):
                self._set_configuration(0)
                return
            if not any(c.bConfigurationValue == value for c in self.configurations):
                raise usb_error(errno.ENOENT, f"no configuration {value}")
            if self.claimed:
                raise usb_error(errno.EBUSY, "interfaces are claimed")
            self._set_configuration(value)

    def host_get_configuration(self, generation: int) -> int:
        """GET_CONFIGURATION via the backend."""
        with self._cond:
            self._check_alive(generation)
            return self.configuration

    def host_claim(self, generation: int, intf: int, owner: object = None) -> None:
        """Claim an interface (EBUSY while a kernel driver or another handle, ``owner``, has it:
        usbfs lets one open file claim an interface at a time)."""
        with self._cond:
            self._check_alive(generation)
            if intf in self.kernel_driver:
                raise usb_error(errno.EBUSY, f"kernel driver bound to interface {intf}")
            if self._active_config() is not None and not self._interface_exists(intf):
                raise usb_error(errno.ENOENT, f"no interface {intf}")
            if intf in self.claimed and self._claim_owner.get(intf) is not owner:
                raise usb_error(errno.EBUSY, f"interface {intf} is claimed by another handle")
            self.claimed.add(intf)
            self._claim_owner[intf] = owner

    def host_release(self, generation: int, intf: int, owner: object = None) -> None:
        """Release a claimed interface (ENOENT unless ``owner`` claimed it)."""
        with self._cond:
            self._check_alive(generation)
            if intf not in self.claimed or self._claim_owner.get(intf) is not owner:
                raise usb_error(errno.ENOENT, f"interface {intf} not claimed")
            self.claimed.discard(intf)
            self._claim_owner.pop(intf, None)

    def host_set_altsetting(self, generation: int, intf: int, alt: int) -> None:
        """SET_INTERFACE via the backend."""
        with self._cond:
            self._check_alive(generation)
            try:
                self._set_interface(intf, alt)
            except Stall as exc:
                raise usb_error(errno.ENOENT, str(exc)) from None

    def host_kernel_driver(self, generation: int, intf: int, action: str) -> bool:
        """is_kernel_driver_active / detach / attach."""
        with self._cond:
            self._check_alive(generation)
            if action == "active":
                return intf in self.kernel_driver
            if action == "detach":
                if intf not in self.kernel_driver:
                    raise usb_error(errno.ENOENT, "no kernel driver")
                self.kernel_driver.discard(intf)
                return False
            if intf in self.claimed:
                raise usb_error(errno.EBUSY, "interface claimed")
            self.kernel_driver.add(intf)
            return True

    def host_reset(self, generation: int) -> None:
        """USB port reset: keeps the configuration, resets alternate settings and endpoint state."""
        with self._cond:
            self._check_alive(generation)
            cfg = self.configuration
            self._set_configuration(0)
            self._set_configuration(cfg)

    def host_clear_halt(self, generation: int, ep: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT); fails (EPIPE) while ``clear_halt_failures`` lasts."""
        with self._cond:
            self._check_alive(generation)
            if ep & 0x7F and self._endpoint(ep) is None:
                raise usb_error(errno.ENOENT, f"endpoint {ep:#04x} not active")
            if self.clear_halt_failures:
                self.clear_halt_failures -= 1
                raise usb_error(errno.EPIPE, "injected: CLEAR_FEATURE(ENDPOINT_HALT) stalled")
            self.halted.discard(ep)
            self._wake_all()

    def host_control(
        self,
        generation: int,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        buf: array.array | bytes,
        timeout: int,
    ) -> int:
        """A control transfer; IN data is written into *buf*; returns the byte count."""
        with self._cond:
            self._check_alive(generation)
            self.stats.control_requests += 1
            if self._timeouts.get(0):
                self._timeouts[0] -= 1
                self.stats.timeouts_injected += 1
                raise usb_error(errno.ETIMEDOUT)
            if self._ctrl_stalls:
                self._ctrl_stalls -= 1
                self.stats.control_stalls += 1
                raise usb_error(errno.EPIPE, "control request stalled")
            mv = (
                memoryview(buf).cast("B")
                if isinstance(buf, array.array)
                else memoryview(bytearray(buf))
            )
            length = len(mv)
            is_in = bool(bmRequestType & 0x80)
            try:
                result = self._control(
                    bmRequestType & 0xFF,
                    bRequest & 0xFF,
                    wValue & 0xFFFF,
                    wIndex & 0xFFFF,
                    None if is_in else bytes(mv),
                    length,
                )
            except Stall:
                self.stats.control_stalls += 1
                raise usb_error(errno.EPIPE, "control request stalled") from None
            if is_in:
                data = bytes(result or b"")[:length]
                mv[: len(data)] = data
                return len(data)
            return length

    def host_write(self, generation: int, ep: int, data: bytes, timeout: int) -> int:
        """Bulk/interrupt OUT transfer."""
        with self._cond:
            self._check_alive(generation)
            self._check_endpoint(ep, want_in=False)
            if self._timeouts.get(ep):
                self._timeouts[ep] -= 1
                self.stats.timeouts_injected += 1
                raise usb_error(errno.ETIMEDOUT)
            transfers = self._accumulate_out(ep, data)
            frames: list[bytes] = []
            for t in transfers:
                self.stats.out_transfers += 1
                self.stats.out_bytes += len(t)
                frames.extend(self._on_out_transfer(ep, t))
            callback = self._wire_callback()
        if callback is not None:
            for f in frames:  # outside the lock: the callback may call wire_rx()
                callback(f)
        return len(data)

    def host_read(self, generation: int, ep: int, size: int, timeout: int) -> bytes:
        """Bulk/interrupt IN transfer of at most *size* bytes; blocks up to *timeout* ms."""
        deadline = None if timeout <= 0 else time.monotonic() + timeout / 1000.0
        with self._cond:
            cancels = self._cancels.get(ep, 0)
            while True:
                self._check_alive(generation)
                if self._cancels.get(ep, 0) != cancels:
                    raise usb_error(errno.EIO, f"transfer on {ep:#04x} cancelled (SET_INTERFACE)")
                self._check_endpoint(ep, want_in=True)
                if self._timeouts.get(ep):
                    self._timeouts[ep] -= 1
                    self.stats.timeouts_injected += 1
                    raise usb_error(errno.ETIMEDOUT)
                if not self._in.get(ep):
                    self._refill_in(ep)
                data = self._take_in(ep, size, allow_partial=False)
                if data is not None:
                    if self._overflows.get(ep) and data:
                        self._overflows[ep] -= 1
                        self.stats.overflows += 1
                        raise usb_error(errno.EOVERFLOW, "injected babble")
                    self.stats.in_transfers += 1
                    self.stats.in_bytes += len(data)
                    return data
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    partial = self._take_in(ep, size, allow_partial=True)
                    if partial:
                        self.stats.in_transfers += 1
                        self.stats.in_bytes += len(partial)
                        return partial
                    raise usb_error(errno.ETIMEDOUT)
                self._ep_cond(ep).wait(remaining)

    # ------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------

    def _wire_callback(self) -> Callable[[bytes], None] | None:
        return None

    def _interface_exists(self, intf: int) -> bool:
        cfg = self._active_config()
        return cfg is not None and any(
            alt.bInterfaceNumber == intf for alt in cfg.all_alt_settings()
        )

    def _check_endpoint(self, ep: int, *, want_in: bool) -> None:
        if bool(ep & 0x80) != want_in:
            raise usb_error(errno.EINVAL, f"endpoint {ep:#04x} has the wrong direction")
        if self._endpoint(ep) is None:
            raise usb_error(
                errno.ENOENT, f"endpoint {ep:#04x} not in the current configuration/altsetting"
            )
        if ep in self.halted:
            raise usb_error(errno.EPIPE, f"endpoint {ep:#04x} halted")

    def _accumulate_out(self, ep: int, data: bytes) -> list[bytes]:
        if not self.drop_zlp:
            if not data:
                self.stats.zlps_received += 1
                return []
            return [bytes(data)]
        mps = self.max_packet(ep)
        pend = self._out.setdefault(ep, bytearray())
        pend += data
        done: list[bytes] = []
        limit = self._out_transfer_max(ep)
        while limit and len(pend) >= limit:  # the device's buffer is full: the transfer ends
            done.append(bytes(pend[:limit]))
            del pend[:limit]
        if not data or len(data) % mps:
            if not data:
                self.stats.zlps_received += 1
            if pend:
                done.append(bytes(pend))
                pend.clear()
        elif pend:
            self.stats.out_unterminated += 1
        return done

    def _out_transfer_max(self, ep: int) -> int:
        """Hook: the most bytes one OUT transfer on *ep* can hold (0: no limit).  With
        ``drop_zlp`` a transfer that reaches it ends there, with or without a ZLP."""
        return 0

    def _take_in(self, ep: int, size: int, *, allow_partial: bool) -> bytes | None:
        """Remove one host read's worth of data from *ep*'s queue (lock held).

        Returns None if the transfer is still incomplete (and not *allow_partial*).
        Raises EOVERFLOW (after discarding the transfer) on babble.
        """
        q = self._in.get(ep)
        if not q:
            return None
        head = q[0]
        n = len(head.data)
        if head.terminated and (n < size or (n == size and not head.zlp)):
            q.popleft()  # the common case: one whole transfer fits the host's buffer
            return head.data
        mps = self.max_packet(ep)
        total = 0
        n_full = 0
        split = 0
        complete = False
        push_zlp = False
        for seg in q:
            seg_len = len(seg.data)
            room = size - total
            if seg_len <= room:
                total += seg_len
                n_full += 1
                if seg.terminated:
                    complete = True
                    push_zlp = seg.zlp and total == size
                    break
                if total == size:
                    complete = True
                    break
                continue
            if room % mps == 0:
                split = room
                total += room
                complete = True
                break
            for _ in range(n_full + 1):
                q.popleft()
            self.stats.overflows += 1
            raise usb_error(
                errno.EOVERFLOW, f"{size}-byte buffer is not a multiple of wMaxPacketSize {mps}"
            )
        if not complete and (not allow_partial or total == 0):
            return None
        parts = [q.popleft().data for _ in range(n_full)]
        if split:
            head = q[0]
            parts.append(head.data[:split])
            head.data = head.data[split:]
        if push_zlp:
            q.appendleft(_Seg(b"", True))  # the ZLP arrives as its own 0-byte read
        return parts[0] if len(parts) == 1 else b"".join(parts)  # b"" for no parts

    def _set_configuration(self, value: int) -> None:
        self.configuration = value
        self.alt_settings = {}
        self._forget_endpoints()
        self._in.clear()
        self._out.clear()
        self.halted.clear()
        self._on_configured(value)
        self._wake_all()

    def _set_interface(self, intf: int, alt: int) -> None:
        cfg = self._active_config()
        if cfg is None:
            raise Stall("device not configured")
        alts = [a for a in cfg.all_alt_settings() if a.bInterfaceNumber == intf]
        if not alts:
            raise Stall(f"no interface {intf}")
        if not any(a.bAlternateSetting == alt for a in alts):
            raise Stall(f"interface {intf} has no alternate setting {alt}")
        for a in alts:
            for e in a.endpoints:
                self._flush_endpoint(e.bEndpointAddress)
                # As usb_set_interface disables the old setting's endpoints: transfers
                # pending on them are cancelled (a blocked read fails with EIO).
                self._cancels[e.bEndpointAddress] = self._cancels.get(e.bEndpointAddress, 0) + 1
        self.alt_settings[intf] = alt
        self._forget_endpoints()
        self._on_altsetting(intf, alt)
        self._wake_all()

    def _control(
        self, rt: int, req: int, value: int, index: int, data: bytes | None, length: int
    ) -> bytes | None:
        """Dispatch a control request (lock held); raise :class:`Stall` to refuse it."""
        if (rt >> 5) & 3 != 0:
            return self._class_vendor_request(rt, req, value, index, data, length)
        recipient = rt & 0x1F
        if req == 0x06 and rt == 0x80:  # GET_DESCRIPTOR
            dtype, didx = value >> 8, value & 0xFF
            if dtype == DT_DEVICE:
                return self.device_descriptor.serialize()
            if dtype == DT_CONFIG:
                if didx >= len(self.configurations):
                    raise Stall("no such configuration")
                return self.configurations[didx].serialize()
            if dtype == DT_STRING:
                if didx == 0:
                    return langid_descriptor(self.langids)
                text = self._string(didx)
                if text is None:
                    raise Stall(f"no string {didx}")
                return string_descriptor(text)
            raise Stall(f"descriptor type {dtype:#x} not supported")
        if req == 0x00 and rt & 0x80:  # GET_STATUS
            if recipient == 2:
                return bytes([1 if index in self.halted else 0, 0])
            return b"\x00\x00"
        if req in (0x01, 0x03) and not rt & 0x80:  # CLEAR_FEATURE / SET_FEATURE
            if recipient == 2 and value == 0:  # ENDPOINT_HALT
                if self._endpoint(index) is None:
                    raise Stall("endpoint not active")
                if req == 0x01:
                    self.halted.discard(index)
                else:
                    self.halted.add(index)
                self._wake_all()
                return None
            if recipient == 0:
                return None
            raise Stall("unsupported feature")
        if req == 0x08 and rt == 0x80:  # GET_CONFIGURATION
            return bytes([self.configuration])
        if req == 0x09 and rt == 0x00:  # SET_CONFIGURATION
            if value and not any(c.bConfigurationValue == value for c in self.configurations):
                raise Stall("no such configuration")
            self._set_configuration(value)
            return None
        if req == 0x0A and rt == 0x81:  # GET_INTERFACE
            if self._active_config() is None or not self._interface_exists(index):
                raise Stall("no such interface")
            return bytes([self.alt_settings.get(index, 0)])
        if req == 0x0B and rt == 0x01:  # SET_INTERFACE
            self._set_interface(index, value)
            return None
        raise Stall(f"standard request {req:#x} not supported")

    def _string(self, index: int) -> str | None:
        return self.strings.get(index)

    # ------------------------------------------------------------------
    # model hooks
    # ------------------------------------------------------------------

    def _class_vendor_request(
        self, rt: int, req: int, value: int, index: int, data: bytes | None, length: int
    ) -> bytes | None:
        raise Stall(f"request {rt:#04x}/{req:#04x} not supported")

    def _on_out_transfer(self, ep: int, data: bytes) -> list[bytes]:
        """A complete OUT transfer arrived; return frames for the wire (lock held)."""
        return []

    def _refill_in(self, ep: int) -> None:
        """The host reads *ep* and its queue is empty: queue pending data, if any (lock held)."""

    def _on_configured(self, value: int) -> None:
        """Configuration changed (0 = unconfigured)."""

    def _on_altsetting(self, intf: int, alt: int) -> None:
        """An alternate setting was selected."""

    def _on_replug(self) -> None:
        """Called by :meth:`replug` after the USB state was reset."""
