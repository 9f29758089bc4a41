"""The Ethernet-cable side shared by the simulated adapters.

Each model has a *cable*:

* frames the host transmits come out of :attr:`SimNetDevice.on_wire_tx`
  (called in the host's writer thread, outside the device lock, after the
  model decoded the host's framing) and are also kept in
  :attr:`SimNetDevice.wire_tx_log` (bounded);
* :meth:`SimNetDevice.wire_rx` injects a frame arriving from the cable.  If the
  adapter would accept it (link up, receive path enabled by the host, packet
  filter matches) it is queued; the model frames queued frames the device way
  (one per transfer for ECM, batched NTBs for NCM, multi-frame transfers with
  a trailer for the AX88179) when the host reads the bulk IN endpoint, so
  frames injected before a read are batched together.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from netdrv_usbnet.codecs._common import is_broadcast_ether, is_multicast_ether

from .device import SimDevice

__all__ = ["SimNetDevice"]


class SimNetDevice(SimDevice):
    """A :class:`SimDevice` with a MAC address, a link and a cable.

    Subclasses implement :meth:`_rx_enabled`, :meth:`_rx_accepts`,
    :meth:`_frame_rx_batch` and :meth:`_link_notifications`.
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
        self.wire_tx_log: deque[bytes] = deque(maxlen=10000)
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
        (more than :attr:`rx_backlog_limit` frames waiting for the host).
        """
        frame = bytes(frame)
        with self._cond:
            st = self.stats
            if not self.link_up:
                st.wire_rx_dropped_link_down += 1
                return False
            if not self.plugged or not self._rx_enabled():
                st.wire_rx_dropped_inactive += 1
                return False
            if not 14 <= len(frame) <= self._max_rx_frame():
                st.wire_rx_dropped_size += 1
                return False
            if not self._rx_accepts(frame):
                st.wire_rx_filtered += 1
                return False
            if (
                len(self._rx_pending) + self.pending_in_transfers(self.BULK_IN)
                >= self.rx_backlog_limit
            ):
                st.wire_rx_dropped_overrun += 1
                return False
            st.wire_rx_frames += 1
            st.wire_rx_bytes += len(frame)
            self._rx_pending.append(frame)
            self._after_rx_queued()
            self._cond.notify_all()
            return True

    def wire_rx_many(self, frames: Iterable[bytes]) -> int:
        """Inject several frames at once (they end up batched together); return how many were accepted."""
        with self._cond:
            return sum(1 for f in frames if self.wire_rx(f))

    def flush_rx(self) -> None:
        """Frame whatever is pending now instead of waiting for the host's next read."""
        with self._cond:
            self._frame_pending()

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

    @staticmethod
    def _classify(dst: bytes) -> str:
        if is_broadcast_ether(dst):
            return "broadcast"
        if is_multicast_ether(dst):
            return "multicast"
        return "unicast"

    def _deliver_to_wire(self, frames: list[bytes]) -> list[bytes]:
        """Account frames decoded from the host (lock held); return those that go out."""
        out = []
        for f in frames:
            if not self.link_up:
                self.stats.wire_tx_dropped_link_down += 1
                continue
            self.stats.wire_tx_frames += 1
            self.stats.wire_tx_bytes += len(f)
            self.wire_tx_log.append(f)
            out.append(f)
        return out

    def _wire_callback(self) -> Callable[[bytes], None] | None:
        return self.on_wire_tx

    def _refill_in(self, ep: int) -> None:
        if ep == self.BULK_IN and self._rx_pending:
            self._frame_pending()

    def _frame_pending(self) -> None:
        if not self._rx_pending:
            return
        batch, self._rx_pending = self._rx_pending, []
        for transfer in self._frame_rx_batch(batch):
            if self._malformed:
                transfer = self._corrupt(self._malformed.popleft(), transfer)
                self.stats.malformed_injected += 1
            self._push_in(self.BULK_IN, transfer, terminated=self._in_terminated(transfer))

    def _in_terminated(self, transfer: bytes) -> bool | None:
        return None  # default ZLP rule

    def _after_rx_queued(self) -> None:
        """Hook: e.g. frame immediately (ECM) or when a batch is full."""

    def _on_link_change(self) -> None:
        """Hook: update PHY registers etc."""

    def _on_replug(self) -> None:
        self._rx_pending = []
        self._malformed.clear()

    # abstract-ish
    def _max_rx_frame(self) -> int:
        return 1518

    def _rx_enabled(self) -> bool:
        raise NotImplementedError

    def _rx_accepts(self, frame: bytes) -> bool:
        raise NotImplementedError

    def _frame_rx_batch(self, frames: list[bytes]) -> list[bytes]:
        raise NotImplementedError

    def _link_notifications(self) -> list[bytes]:
        raise NotImplementedError

    def _corrupt(self, kind: str, transfer: bytes) -> bytes:
        return transfer
