"""The Ethernet-cable side shared by the simulated adapters.

Each model has a *cable*:

* frames the host transmits come out of :attr:`SimNetDevice.on_wire_tx`
  (called in the host's writer thread, outside the device lock, after the
  model decoded the host's framing) and are also kept in
  :attr:`SimNetDevice.wire_tx_log` (the last :data:`WIRE_TX_LOG_FRAMES`; none while
  :meth:`SimNetDevice.keep_wire_tx` says so, as the kernel TAP of ``sim_wire=`` does);
* :meth:`SimNetDevice.wire_rx` (or :meth:`SimNetDevice.wire_rx_many`)
  injects frames arriving from the cable.  If the adapter would accept them
  (link up, receive path enabled by the host, packet filter matches) they go
  into the transfer the device is filling, framed the device way (one frame
  per transfer for ECM, an NTB for NCM, a multi-frame transfer with a trailer
  for the AX88179).  Like the real chips, a transfer is closed when the next
  frame does not fit (or it reached the model's frame limit), and a partly
  filled one is closed when the host reads the bulk IN endpoint and nothing
  else is waiting: frames that arrive between two host reads travel together.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable

from netdrv_usbnet.codecs._common import FramingError

from .descriptors import DeviceDescriptor
from .device import BULK_MPS, SPEED_SUPER, SPEEDS, SimDevice

__all__ = ["SimNetDevice", "default_mac", "device_descriptor", "usb_speed"]

BROADCAST = b"\xff" * 6
_mac_counter = itertools.count(1)


def default_mac(prefix: bytes = b"\x02\x53\x49") -> bytes:
    """A fresh unicast MAC: *prefix* (3 bytes) and a per-process counter (02:53:49:xx:xx:xx)."""
    n = next(_mac_counter)
    return prefix + n.to_bytes(3, "big")


def usb_speed(speed: str) -> tuple[int, int, bool]:
    """(libusb speed code, bulk wMaxPacketSize, super speed) for "full", "high" or "super"."""
    code = SPEEDS[speed]
    return code, BULK_MPS[code], code >= SPEED_SUPER


def device_descriptor(
    vid: int, pid: int, *, ss: bool, usb2: int, device_class: tuple[int, int, int],
    bcd_device: int, strings: tuple[int, int, int],
) -> DeviceDescriptor:  # fmt: skip
    """An adapter's device descriptor: USB 3.0 (9 = 512-byte ep0) at super speed, else *usb2*.

    *device_class* is (class, subclass, protocol); *strings* the manufacturer,
    product and serial number string indexes.
    """
    cls, sub, proto = device_class
    manufacturer, product, serial = strings
    return DeviceDescriptor(vid, pid, bcdUSB=0x0300 if ss else usb2, bDeviceClass=cls,
                            bDeviceSubClass=sub, bDeviceProtocol=proto,
                            bMaxPacketSize0=9 if ss else 64, bcdDevice=bcd_device,
                            iManufacturer=manufacturer, iProduct=product,
                            iSerialNumber=serial)  # fmt: skip


WIRE_TX_LOG_FRAMES = 10000
"""Frames :attr:`SimNetDevice.wire_tx_log` keeps by default (the last ones)."""


def _accept_all(frame: bytes) -> bool:
    return True


class SimNetDevice(SimDevice):
    """A :class:`SimDevice` with a MAC address, a link and a cable.

    Subclasses implement :meth:`_rx_enabled`, :meth:`_filter_policy`, the
    receive aggregation (:meth:`_rx_adder`, :meth:`_rx_max_frames`, :meth:`_rx_build`),
    :meth:`_decode_out` and :meth:`_link_notifications`.
    """

    BULK_IN = 0x82
    BULK_OUT = 0x01
    INTR_IN = 0x81

    rx_backlog_limit = 4096
    """Frames the device buffers for the host before dropping (wire_rx_dropped_overrun)."""

    def __init__(
        self, *args: object, mac: bytes, link_up: bool, speed_bps: int, **kwargs: object
    ) -> None:
        """*mac* is the adapter's factory address; *speed_bps* the initial link speed."""
        self._mac = bytes(mac)
        self.permanent_mac = bytes(mac)
        self.link_up = link_up
        self.speed_bps = speed_bps
        self.on_wire_tx: Callable[[bytes], None] | None = None
        self.wire_tx_log: deque[bytes] = deque(maxlen=WIRE_TX_LOG_FRAMES)
        self._rx_pending: list[bytes] = []
        self._malformed: deque[str] = deque()
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------
    # public cable API
    # ------------------------------------------------------------------

    @property
    def mac(self) -> bytes:
        """Current station address (the host may change it, e.g. NODE_ID / SET_NET_ADDRESS)."""
        return self._mac

    def wire_rx(self, frame: bytes) -> bool:
        """Inject *frame* from the cable; return True if the adapter accepted it.

        Dropped frames are counted: ``wire_rx_dropped_link_down``,
        ``wire_rx_dropped_inactive`` (host has not enabled receiving; unplugged),
        ``wire_rx_dropped_size`` (runt or above the model's maximum frame),
        ``wire_rx_filtered`` (address/packet filter), ``wire_rx_dropped_overrun``
        (more than :attr:`rx_backlog_limit` frames and transfers waiting for the host).
        """
        return self.wire_rx_many((frame,)) == 1

    def wire_rx_many(self, frames: Iterable[bytes]) -> int:
        """Inject several frames at once (they end up batched together); return how many were accepted.

        Each frame is judged as :meth:`wire_rx` would; the device state (link,
        filters, limits) is read once and the host is woken once, as a burst
        arriving on the cable between two host reads.
        """
        with self._cond:
            st = self.stats
            if not self.link_up or not self.plugged or not self._rx_enabled():
                n = sum(1 for _ in frames)
                if not self.link_up:
                    st.wire_rx_dropped_link_down += n
                else:
                    st.wire_rx_dropped_inactive += n
                return 0
            max_len = self._max_rx_frame()
            accepts, mac = self._rx_filter()
            inq = self._in_queue(self.BULK_IN)
            limit = self.rx_backlog_limit
            add = self._rx_adder()
            max_frames = self._rx_max_frames()
            pending = self._rx_pending
            accepted = nbytes = 0
            for frame in frames:
                if type(frame) is not bytes:
                    frame = bytes(frame)  # the device keeps its own copy
                n = len(frame)
                if not 14 <= n <= max_len:
                    st.wire_rx_dropped_size += 1
                elif not ((mac is not None and frame.startswith(mac)) or accepts(frame)):
                    st.wire_rx_filtered += 1
                elif len(pending) + len(inq) >= limit:
                    st.wire_rx_dropped_overrun += 1
                else:
                    # Into the transfer being filled; one that is full is closed first.
                    if not add(frame):
                        self._frame_pending()
                        pending = self._rx_pending
                        if not add(frame):  # pragma: no cover - sizes were checked above
                            raise FramingError(f"a {n}-byte frame does not fit a transfer")
                    pending.append(frame)
                    if len(pending) >= max_frames:
                        self._frame_pending()
                        pending = self._rx_pending
                    accepted += 1
                    nbytes += n
            if accepted:
                st.wire_rx_frames += accepted
                st.wire_rx_bytes += nbytes
                self._wake(self.BULK_IN)  # the host may read (and close) the open transfer
            return accepted

    def flush_rx(self) -> None:
        """Frame whatever is pending now instead of waiting for the host's next read."""
        with self._cond:
            self._frame_pending()

    def keep_wire_tx(self, frames: int = WIRE_TX_LOG_FRAMES) -> None:
        """Keep the last *frames* transmitted frames in :attr:`wire_tx_log` (0: none).

        A cable that takes the frames elsewhere keeps none (the kernel TAP of
        ``sim_wire=``): nobody reads the log there, and it would hold 10 000 frames, up to
        15 MB, in the daemon for good."""
        with self._cond:
            self.wire_tx_log = deque(self.wire_tx_log, maxlen=frames)

    def take_wire_tx(self) -> list[bytes]:
        """Return and clear :attr:`wire_tx_log`."""
        with self._cond:
            out = list(self.wire_tx_log)
            self.wire_tx_log.clear()
            return out

    def set_link(self, up: bool, speed_bps: int | None = None) -> None:
        """Change the cable state and queue the model's interrupt notification(s)."""
        with self._cond:
            self.link_up = up
            if speed_bps is not None:
                self.speed_bps = speed_bps
            self._on_link_change()
            if self.configuration:
                for pkt in self._link_notifications():
                    self._push_in(self.INTR_IN, pkt)
                    self.stats.notifications_queued += 1

    def malformed_next(self, kind: str) -> None:
        """Corrupt the next bulk IN transfer the model builds in the given way (see the model)."""
        if kind not in self.MALFORMED_KINDS:
            raise ValueError(
                f"unknown malformation {kind!r}; choose from {sorted(self.MALFORMED_KINDS)}"
            )
        with self._cond:
            self._malformed.append(kind)

    MALFORMED_KINDS: frozenset[str] = frozenset()

    # ------------------------------------------------------------------
    # helpers for subclasses
    # ------------------------------------------------------------------

    def _rx_filter(self) -> tuple[Callable[[bytes], bool], bytes | None]:
        """The packet filter as it stands (lock held): (frame -> accepted, and the MAC when
        frames to it are accepted: the common case, which the caller checks first)."""
        promisc, broadcast, multicast, directed = self._filter_policy()
        if promisc:
            return _accept_all, None
        mac = self.mac

        def accepts(frame: bytes) -> bool:
            if frame[0] & 1:  # group address
                dst = frame[:6]
                return broadcast if dst == BROADCAST else multicast(dst)
            return directed and frame.startswith(mac)

        return accepts, mac if directed else None

    def _rx_accepts(self, frame: bytes) -> bool:
        """Would the packet filter pass *frame* now (lock held)?"""
        return self._rx_filter()[0](frame)

    def _rx_discard(self) -> None:
        """Forget the transfer being filled (reconfigured, replugged)."""
        self._rx_pending = []
        self._rx_reset()

    def _decode_with(self, decoder: object, data: bytes) -> list[bytes]:
        """Frames of a host OUT transfer by a codec decoder; its errors are wire_tx_errors."""
        stats = decoder.stats  # type: ignore[attr-defined]
        before = stats.rx_errors
        frames: list[bytes] = decoder.decode(data)  # type: ignore[attr-defined]
        self.stats.wire_tx_errors += stats.rx_errors - before
        return frames

    def _on_out_transfer(self, ep: int, data: bytes) -> list[bytes]:
        """A complete bulk OUT transfer: decode the host's framing, account what goes out."""
        if ep != self.BULK_OUT:
            return []
        return self._deliver_to_wire(self._decode_out(data))

    def _deliver_to_wire(self, frames: list[bytes]) -> list[bytes]:
        """Account frames decoded from the host (lock held); return those that go out."""
        st = self.stats
        if not self.link_up:
            st.wire_tx_dropped_link_down += len(frames)
            return []
        st.wire_tx_frames += len(frames)
        st.wire_tx_bytes += sum(map(len, frames))
        self.wire_tx_log.extend(frames)
        return frames

    def _wire_callback(self) -> Callable[[bytes], None] | None:
        return self.on_wire_tx

    def _refill_in(self, ep: int) -> None:
        if ep == self.BULK_IN and self._rx_pending:
            self._frame_pending()

    def _frame_pending(self) -> None:
        """Close the transfer being filled and queue it on bulk IN (lock held)."""
        if not self._rx_pending:
            return
        batch, self._rx_pending = self._rx_pending, []
        transfer = self._rx_build(batch)
        if self._malformed:
            transfer = self._corrupt(self._malformed.popleft(), transfer)
            self.stats.malformed_injected += 1
        self._push_in(self.BULK_IN, transfer, terminated=self._in_terminated(transfer))

    def _in_terminated(self, transfer: bytes) -> bool | None:
        return None  # default ZLP rule

    def _on_link_change(self) -> None:
        """Hook: update PHY registers etc."""

    def _on_replug(self) -> None:
        self._rx_discard()
        self._malformed.clear()

    # -- model hooks ---------------------------------------------------------------------
    def _max_rx_frame(self) -> int:
        return 1518

    def _rx_enabled(self) -> bool:
        raise NotImplementedError

    def _filter_policy(self) -> tuple[bool, bool, Callable[[bytes], bool], bool]:
        """(promiscuous, broadcast accepted, multicast dst -> accepted, unicast to the MAC)."""
        raise NotImplementedError

    def _rx_adder(self) -> Callable[[bytes], bool]:
        """frame -> accounted in the transfer being filled, False if it does not fit (lock held).

        A frame always fits an empty transfer (``wire_rx`` checked its size).
        """
        raise NotImplementedError

    def _rx_max_frames(self) -> int:
        """Frames after which the transfer being filled is closed at once."""
        return 1 << 30

    def _rx_build(self, frames: list[bytes]) -> bytes:
        """Frame the transfer being filled (*frames*, as accounted by the adder)."""
        raise NotImplementedError

    def _rx_reset(self) -> None:
        """Forget the accounting of the transfer being filled."""

    def _decode_out(self, data: bytes) -> list[bytes]:
        """Frames of one host bulk OUT transfer; malformed ones count as wire_tx_errors."""
        raise NotImplementedError

    def _link_notifications(self) -> list[bytes]:
        raise NotImplementedError

    def _corrupt(self, kind: str, transfer: bytes) -> bytes:
        return transfer
