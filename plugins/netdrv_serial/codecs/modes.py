"""Line modes for the serial link driver: IP packets in and out of each framing.

Each factory returns ``(encoder, decoder)``: ``encoder.encode(ip_packet) ->
bytes`` and ``decoder.feed(data) -> list[bytes]`` (IP packets), each with a
``stats`` :class:`~netdrv_serial.codecs.base.CodecStats` and the decoder with
``reset()``. For single-layer modes these are the framing codecs themselves
(their ``stats`` object is live); stacked modes (cslip, adaptive, kiss) return
a summary snapshot from ``stats`` on each access, with ``frames``/``bytes``
counting IP packets.

By default a decoder takes frames up to the MTU. :func:`linux_rx` gives the
options under which it takes what Linux's receive path takes instead — the
link driver uses them: ``slip.c`` and ``mkiss.c`` receive frames of up to
``max(2 * mtu, 1152)`` bytes, so a peer with a larger MTU still gets through.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from .base import Buffer, CodecError, CodecStats, PacketDecoder, PacketEncoder
from .cslip import (
    AdaptiveMode,
    VJCompressor,
    VJDecompressor,
    cslip_decode_packet,
    cslip_encode_packet,
)
from .kiss import CMD_DATA, KissDecoder, KissEncoder
from .plip import PlipDecoder, PlipEncoder
from .slip import DEFAULT_MTU, LINUX_MIN_FRAME, SlipDecoder, SlipEncoder, rx_buffer_size

__all__ = [
    "DEFAULT_MTUS",
    "MODES",
    "VJ_ROOM",
    "CslipPacketDecoder",
    "CslipPacketEncoder",
    "KissPacketDecoder",
    "KissPacketEncoder",
    "ModeFactory",
    "linux_rx",
    "make_adaptive",
    "make_cslip",
    "make_kiss",
    "make_plip",
    "make_slip",
]

#: Default MTU per mode (Linux: slip.c 296, plip.c 1500, mkiss/AX.25 256).
DEFAULT_MTUS = {
    "slip": DEFAULT_MTU,
    "cslip": DEFAULT_MTU,
    "adaptive": DEFAULT_MTU,
    "plip": 1500,
    "kiss": 256,
}

ModeFactory = Callable[..., tuple[PacketEncoder, PacketDecoder]]

#: Bytes of the receive buffer ``slip.c`` keeps free to decompress a VJ packet into:
#: ``sl_bump`` counts a COMPRESSED_TCP frame with ``count + 80 > buffsize`` as an overrun.
VJ_ROOM = 80


def _check_ip(ip_packet: Buffer, mtu: int) -> None:
    n = len(ip_packet)
    if not 0 < n <= mtu:
        raise CodecError(f"cannot send a {n}-byte packet: packets must be 1..{mtu} bytes (the MTU)")
    if ip_packet[0] >= 0x70:
        raise CodecError(
            f"CSLIP can only carry IP packets (first byte < 0x70), got {ip_packet[0]:#x}"
        )


class CslipPacketEncoder:
    """SLIP framing over VJ compression; with an :class:`AdaptiveMode`, plain SLIP until it switches."""

    __slots__ = ("adaptive", "mtu", "slip", "vj")

    def __init__(
        self,
        mtu: int = DEFAULT_MTU,
        *,
        slots: int = 16,
        compress_slot_id: bool = True,
        adaptive: AdaptiveMode | None = None,
        leading_end: bool = True,
    ) -> None:
        self.mtu = mtu
        self.slip = SlipEncoder(mtu, leading_end=leading_end)
        self.vj = VJCompressor(slots, compress_slot_id)
        self.adaptive = adaptive

    def encode(self, ip_packet: Buffer) -> bytes:
        """Return the wire bytes of ``ip_packet``.

        :raises CodecError: empty, larger than the MTU, or not an IP packet.
        """
        # Checked before compressing: a packet compressed but never sent would
        # desynchronise the peer's decompressor.
        _check_ip(ip_packet, self.mtu)
        if self.adaptive is None or self.adaptive.compressing:
            return self.slip.encode(cslip_encode_packet(self.vj, ip_packet))
        return self.slip.encode(ip_packet)

    @property
    def stats(self) -> CodecStats:
        """Snapshot: SLIP counters, IP bytes, VJ compressed/uncompressed counts."""
        s = copy.copy(self.slip.stats)
        # SLIP saw compressed sizes; the IP size is what went into the compressor.
        s.bytes += self.vj.stats.bytes - self.vj.stats.wire_bytes
        s.compressed = self.vj.stats.compressed
        s.uncompressed = self.vj.stats.uncompressed
        return s


class CslipPacketDecoder:
    """SLIP deframing, then VJ decompression; a lost SLIP frame makes VJ toss until resync.

    :param max_frame: the largest SLIP frame taken (default: the MTU), see
        :class:`~netdrv_serial.codecs.slip.SlipDecoder`.
    :param decompress_room: a COMPRESSED_TCP frame must leave this many bytes of
        ``max_frame`` free, or it counts as an overrun (and VJ tosses until
        resync): ``slip.c``'s ``sl_bump`` keeps :data:`VJ_ROOM` of its receive
        buffer to decompress into. 0 (the default): no such check.
    :param min_frame: shorter SLIP frames are skipped silently, no loss for VJ.
    """

    __slots__ = ("_ignored", "_overruns", "adaptive", "decompress_room", "slip", "vj")

    def __init__(
        self,
        mtu: int = DEFAULT_MTU,
        *,
        slots: int = 16,
        adaptive: AdaptiveMode | None = None,
        verify_tcp_checksum: bool = False,
        max_frame: int | None = None,
        decompress_room: int = 0,
        min_frame: int = 1,
    ) -> None:
        self.slip = SlipDecoder(mtu, max_frame=max_frame, min_frame=min_frame)
        self.vj = VJDecompressor(slots, verify_tcp_checksum=verify_tcp_checksum)
        self.adaptive = adaptive
        self.decompress_room = decompress_room
        self._ignored = 0
        self._overruns = 0

    def reset(self) -> None:
        """Forget the partial frame and all VJ state."""
        self.slip.reset()
        self.vj.reset()

    def adopt(self, old: CslipPacketDecoder) -> None:
        """Take over ``old``'s partial frame (see :meth:`SlipFramer.adopt`); one lost
        to an overrun makes VJ toss until resync, as any lost frame does."""
        if self.slip.adopt(old.slip):
            self.vj.toss()

    @property
    def buffered(self) -> int:
        """Bytes of the current partial SLIP frame."""
        return self.slip.buffered

    def feed(self, data: Buffer) -> list[bytes]:
        """Consume line bytes; return the IP packets they completed."""
        out = []
        vj = self.vj
        adaptive = self.adaptive
        room = self.decompress_room
        for wire in self.slip.feed_with_drops(data):
            if wire is None:
                vj.toss()
                continue
            if adaptive is not None:
                adaptive.observe(wire)
                if not adaptive.accepts(wire):
                    # Linux ignores compressed packets until the peer sent an uncompressed one.
                    self._ignored += 1
                    continue
            if room and wire[0] & 0x80 and len(wire) + room > self.slip.max_frame:
                # sl_bump: no room left to decompress into. A lost packet for VJ: toss.
                self._overruns += 1
                vj.toss()
                continue
            pkt = cslip_decode_packet(vj, wire)
            if pkt is not None:
                out.append(pkt)
        return out

    @property
    def stats(self) -> CodecStats:
        """Snapshot: SLIP framing errors plus VJ counters; ``frames``/``bytes`` are IP packets."""
        s = self.slip.stats + self.vj.stats
        s.frames = self.vj.stats.frames
        s.bytes = self.vj.stats.bytes
        s.wire_bytes = self.slip.stats.wire_bytes
        s.overruns += self._overruns
        s.dropped += self._ignored + self._overruns
        return s


class KissPacketEncoder:
    """IP packets as KISS data frames on one TNC port."""

    __slots__ = ("kiss", "port")

    def __init__(self, mtu: int = 256, *, port: int = 0, leading_fend: bool = True) -> None:
        self.kiss = KissEncoder(mtu, leading_fend=leading_fend)
        self.port = port

    def encode(self, ip_packet: Buffer) -> bytes:
        """Return the wire bytes of ``ip_packet``; :class:`CodecError` if empty or over the MTU."""
        if not ip_packet:
            raise CodecError("cannot send an empty packet")
        return self.kiss.encode(ip_packet, port=self.port)

    @property
    def stats(self) -> CodecStats:
        """The KISS encoder's counters (a copy)."""
        return copy.copy(self.kiss.stats)


class KissPacketDecoder:
    """KISS data frames on one port are IP packets; commands are counted and ignored.

    Data frames for other ports, and empty ones, count as ``dropped``. ``max_frame``:
    the largest KISS frame taken, command byte included (default ``mtu + 1``);
    ``min_frame``: shorter ones are skipped silently.
    """

    __slots__ = ("_bytes", "_dropped", "_frames", "kiss", "port")

    def __init__(
        self, mtu: int = 256, *, port: int = 0, max_frame: int | None = None, min_frame: int = 1
    ) -> None:
        self.kiss = KissDecoder(mtu, max_frame=max_frame, min_frame=min_frame)
        self.port = port
        self._dropped = 0
        self._frames = 0
        self._bytes = 0

    def reset(self) -> None:
        """Forget the partial frame."""
        self.kiss.reset()

    def adopt(self, old: KissPacketDecoder) -> None:
        """Take over ``old``'s partial frame (see :meth:`SlipFramer.adopt`)."""
        self.kiss.adopt(old.kiss)

    @property
    def buffered(self) -> int:
        """Bytes of the current partial KISS frame."""
        return self.kiss.buffered

    def feed(self, data: Buffer) -> list[bytes]:
        """Consume line bytes; return the IP packets they completed."""
        out = []
        for f in self.kiss.feed(data):
            if f.command == CMD_DATA:
                if f.port == self.port and f.data:
                    out.append(f.data)
                else:
                    self._dropped += 1
        self._frames += len(out)
        self._bytes += sum(map(len, out))
        return out

    @property
    def stats(self) -> CodecStats:
        """Snapshot: KISS counters; ``frames`` = IP packets delivered, ``bytes`` their size."""
        s = copy.copy(self.kiss.stats)
        s.frames = self._frames
        s.bytes = self._bytes
        s.dropped += self._dropped
        return s


def make_slip(
    mtu: int = DEFAULT_MTU,
    *,
    leading_end: bool = True,
    max_frame: int | None = None,
    min_frame: int = 1,
) -> tuple[SlipEncoder, SlipDecoder]:
    """Plain SLIP (RFC 1055)."""
    return SlipEncoder(mtu, leading_end=leading_end), SlipDecoder(
        mtu, max_frame=max_frame, min_frame=min_frame
    )


def make_cslip(
    mtu: int = DEFAULT_MTU,
    *,
    slots: int = 16,
    compress_slot_id: bool = True,
    verify_tcp_checksum: bool = False,
    leading_end: bool = True,
    max_frame: int | None = None,
    decompress_room: int = 0,
    min_frame: int = 1,
) -> tuple[CslipPacketEncoder, CslipPacketDecoder]:
    """SLIP with Van Jacobson header compression (RFC 1144) always on."""
    return (
        CslipPacketEncoder(
            mtu, slots=slots, compress_slot_id=compress_slot_id, leading_end=leading_end
        ),
        CslipPacketDecoder(
            mtu,
            slots=slots,
            verify_tcp_checksum=verify_tcp_checksum,
            max_frame=max_frame,
            decompress_room=decompress_room,
            min_frame=min_frame,
        ),
    )


def make_adaptive(
    mtu: int = DEFAULT_MTU,
    *,
    slots: int = 16,
    compress_slot_id: bool = True,
    verify_tcp_checksum: bool = False,
    leading_end: bool = True,
    max_frame: int | None = None,
    decompress_room: int = 0,
    min_frame: int = 1,
) -> tuple[CslipPacketEncoder, CslipPacketDecoder]:
    """Linux SL_MODE_ADAPTIVE: plain SLIP until the peer sends a VJ packet, then CSLIP.

    Both objects share one :class:`AdaptiveMode`, reachable as ``.adaptive``.
    """
    mode = AdaptiveMode()
    return (
        CslipPacketEncoder(
            mtu,
            slots=slots,
            compress_slot_id=compress_slot_id,
            adaptive=mode,
            leading_end=leading_end,
        ),
        CslipPacketDecoder(
            mtu,
            slots=slots,
            adaptive=mode,
            verify_tcp_checksum=verify_tcp_checksum,
            max_frame=max_frame,
            decompress_room=decompress_room,
            min_frame=min_frame,
        ),
    )


def make_plip(mtu: int = 1500) -> tuple[PlipEncoder, PlipDecoder]:
    """The PLIP-like framing (sync pair, length, data, additive checksum)."""
    return PlipEncoder(mtu), PlipDecoder(mtu)


def make_kiss(
    mtu: int = 256,
    *,
    port: int = 0,
    leading_fend: bool = True,
    max_frame: int | None = None,
    min_frame: int = 1,
) -> tuple[KissPacketEncoder, KissPacketDecoder]:
    """IP packets in KISS data frames on ``port``."""
    return KissPacketEncoder(mtu, port=port, leading_fend=leading_fend), KissPacketDecoder(
        mtu, port=port, max_frame=max_frame, min_frame=min_frame
    )


#: Mode name -> factory ``(mtu=..., **options) -> (encoder, decoder)``.
MODES: dict[str, ModeFactory] = {
    "slip": make_slip,
    "cslip": make_cslip,
    "adaptive": make_adaptive,
    "plip": make_plip,
    "kiss": make_kiss,
}


def linux_rx(mode: str, mtu: int) -> dict[str, int]:
    """Decoder options of ``MODES[mode]`` under which it takes what Linux's receive path takes.

    ``slip.c`` (slip, cslip, adaptive) and ``mkiss.c`` (kiss) receive into a buffer of
    :func:`~netdrv_serial.codecs.slip.rx_buffer_size` ``(mtu)`` bytes — ``max(2 * mtu,
    1152)``, the KISS command byte included — and count a longer frame in
    ``rx_over_errors``; ``slip.c`` takes a VJ-compressed frame only with :data:`VJ_ROOM`
    bytes of that buffer to spare; both hand a frame on only when it has more than two
    bytes (:data:`~netdrv_serial.codecs.slip.LINUX_MIN_FRAME`), so the noise between
    two frames is neither a packet nor an error.  ``plip.c`` refuses a length above the
    MTU (plus the Ethernet header, which this framing does not carry): the default already.
    """
    if mode == "plip":
        return {}
    size = rx_buffer_size(mtu)
    if mode in ("cslip", "adaptive"):
        return {"max_frame": size, "decompress_room": VJ_ROOM, "min_frame": LINUX_MIN_FRAME}
    return {"max_frame": size, "min_frame": LINUX_MIN_FRAME}
