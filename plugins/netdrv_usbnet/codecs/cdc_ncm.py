"""CDC-NCM NTB16 and NTB32 framing: parameters, a batching encoder and a validating decoder.

Sans-I/O.  Layout of an NTB16 (all fields little endian)::

    NTH16  "NCMH" wHeaderLength=12 wSequence wBlockLength wNdpIndex
    NDP16  "NCM0" wLength wNextNdpIndex (wDatagramIndex, wDatagramLength)* (0, 0)
    datagrams, each starting at an offset with offset % divisor == remainder

and of an NTB32 (the same with 32-bit block length, pointers and entries)::

    NTH32  "ncmh" wHeaderLength=16 wSequence dwBlockLength dwNdpIndex
    NDP32  "ncm0" wLength wReserved6 dwNextNdpIndex dwReserved12
           (dwDatagramIndex, dwDatagramLength)* (0, 0)

One coder handles one format, the one negotiated with SET_NTB_FORMAT
(``ntb32=False``: NTB16, the default; ``ntb32=True``: NTB32); a transfer in
the other format is refused as ``unsupported``, as Linux's ``cdc_ncm`` only
parses the format it chose (NTB16 whenever the device offers it, see
:func:`select_ntb_format`).

References: USB NCM 1.0 §3, Linux ``drivers/net/usb/cdc_ncm.c``
(``cdc_ncm_fill_tx_frame``, ``cdc_ncm_rx_verify_nth16``/``_nth32``,
``cdc_ncm_rx_verify_ndp16``/``_ndp32``, ``cdc_ncm_rx_fixup``).

Error policy: :class:`NtbDecoder` never raises on device data.  A malformed
NTH (signature, header length, block length) or a malformed *first* NDP
drops the whole transfer; a malformed datagram entry ends processing of its
NDP (frames already extracted are kept, as Linux does); a broken NDP chain
(loop, too many NDPs, bad later NDP) stops there and keeps what was valid.
Everything is counted in ``stats``.  :class:`NtbEncoder` raises
:class:`~netdrv_usbnet.codecs.FramingError` only for an empty frame, a frame
that cannot fit in an empty NTB, or :meth:`NtbEncoder.build` with nothing
queued; :meth:`NtbParameters.parse` raises it for fewer than 28 bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

from ._common import ETH_HLEN, CodecStats, FramingError
from .cdc_ecm import (  # re-exported for convenience
    GET_NTB_PARAMETERS,
    SET_NTB_INPUT_SIZE,
    USB_CDC_NCM_PROTO_NTB,
    USB_CDC_SUBCLASS_NCM,
)

__all__ = [
    "GET_NTB_PARAMETERS",
    "NCM_NDP16_MIN_LENGTH",
    "NCM_NDP32_MIN_LENGTH",
    "NTB_FORMAT_NTB16",
    "NTB_FORMAT_NTB32",
    "NTH16_LENGTH",
    "NTH32_LENGTH",
    "SET_NTB_INPUT_SIZE",
    "USB_CDC_NCM_PROTO_NTB",
    "USB_CDC_SUBCLASS_NCM",
    "NtbDecoder",
    "NtbDecoderStats",
    "NtbEncoder",
    "NtbParameters",
    "encode_ntb",
    "select_ntb_format",
]

NTH16_SIGNATURE = b"NCMH"
NTH32_SIGNATURE = b"ncmh"
NDP16_NOCRC_SIGNATURE = b"NCM0"
NDP16_CRC_SIGNATURE = b"NCM1"
NDP32_NOCRC_SIGNATURE = b"ncm0"
NDP32_CRC_SIGNATURE = b"ncm1"

NTH16_LENGTH = 12
"""Size of the NTH16 header (the only valid wHeaderLength)."""
NDP16_HEADER_LENGTH = 8
"""Signature + wLength + wNextNdpIndex."""
DPE16_LENGTH = 4
NCM_NDP16_MIN_LENGTH = 16
"""Smallest valid NDP16: header + one entry + the terminating zero pair."""
NTB16_MAX_SIZE = 0xFFFF
NTH32_LENGTH = 16
"""Size of the NTH32 header (the only valid wHeaderLength of an NTB32)."""
NDP32_HEADER_LENGTH = 16
"""Signature + wLength + wReserved6 + dwNextNdpIndex + dwReserved12."""
DPE32_LENGTH = 8
NCM_NDP32_MIN_LENGTH = 32
"""Smallest valid NDP32 (USB_CDC_NCM_NDP32_LENGTH_MIN): header + one entry + the zero pair."""
NTB32_MAX_SIZE = 0xFFFFFFFF
"""dwBlockLength is 32 bits: the only bound of an NTB32 is the negotiated size."""
NTB_MIN_SIZE = 2048
"""USB_CDC_NCM_NTB_MIN_IN_SIZE / _OUT_SIZE: every device must accept this much."""
NDP_ALIGN_MIN = 4
"""USB_CDC_NCM_NDP_ALIGN_MIN_SIZE."""
DEFAULT_TX_DATAGRAMS = 40
"""Linux CDC_NCM_DPT_DATAGRAMS_MAX: datagrams batched per TX NTB."""


class _NtbFormat(NamedTuple):
    """What the decoder needs to know of one NTB format (NTB16 or NTB32)."""

    nth_sig: bytes
    other_nth_sig: bytes  # the other format's: counted as unsupported, not as garbage
    nth_len: int
    nth_fields: str  # wHeaderLength, wSequence, block length, first NDP index
    ndp_sig: bytes
    unsupported_ndp_sigs: tuple[bytes, ...]
    ndp_min: int
    ndp_fields: str  # wLength, next NDP index (from offset 4 of the NDP)
    ndp_header_len: int
    dpe_len: int
    dpe_code: str  # struct code of one datagram index/length field


_NTB16_FORMAT = _NtbFormat(
    NTH16_SIGNATURE, NTH32_SIGNATURE, NTH16_LENGTH, "<HHHH", NDP16_NOCRC_SIGNATURE,
    (NDP16_CRC_SIGNATURE, NDP32_NOCRC_SIGNATURE, NDP32_CRC_SIGNATURE), NCM_NDP16_MIN_LENGTH,
    "<HH", NDP16_HEADER_LENGTH, DPE16_LENGTH, "H",
)  # fmt: skip
_NTB32_FORMAT = _NtbFormat(
    NTH32_SIGNATURE, NTH16_SIGNATURE, NTH32_LENGTH, "<HHII", NDP32_NOCRC_SIGNATURE,
    (NDP32_CRC_SIGNATURE, NDP16_NOCRC_SIGNATURE, NDP16_CRC_SIGNATURE), NCM_NDP32_MIN_LENGTH,
    "<H2xI", NDP32_HEADER_LENGTH, DPE32_LENGTH, "I",
)  # fmt: skip

NTB_FORMAT_NTB16 = 0x0001
"""bmNtbFormatsSupported bit 0 (SET_NTB_FORMAT wValue 0 selects it)."""
NTB_FORMAT_NTB32 = 0x0002
"""bmNtbFormatsSupported bit 1 (SET_NTB_FORMAT wValue 1 selects it)."""

_PARAMS = struct.Struct("<HHIHHHHIHHHH")
assert _PARAMS.size == 28


def _pow2(v: int) -> bool:
    return v > 0 and (v & (v - 1)) == 0


def select_ntb_format(formats: int) -> bool | None:
    """The format a host uses for *bmNtbFormatsSupported*: False for NTB16, True for NTB32.

    NTB16 whenever it is offered (Linux ``cdc_ncm`` prefers it: smaller headers), NTB32 only
    when it is the only one (Linux >= 5.10); None if neither bit is set.  The result is what
    the ``ntb32`` argument of :class:`NtbEncoder`/:class:`NtbDecoder` and
    :meth:`NtbParameters.sanitized` expects.
    """
    if formats & NTB_FORMAT_NTB16:
        return False
    if formats & NTB_FORMAT_NTB32:
        return True
    return None


@dataclasses.dataclass(frozen=True)
class NtbParameters:
    """The 28-byte answer to GET_NTB_PARAMETERS (NCM 1.0 table 6-3)."""

    bmNtbFormatsSupported: int = NTB_FORMAT_NTB16
    dwNtbInMaxSize: int = 16384
    wNdpInDivisor: int = 4
    wNdpInPayloadRemainder: int = 0
    wNdpInAlignment: int = 4
    dwNtbOutMaxSize: int = 16384
    wNdpOutDivisor: int = 4
    wNdpOutPayloadRemainder: int = 0
    wNdpOutAlignment: int = 4
    wNtbOutMaxDatagrams: int = 0
    wLength: int = 28
    reserved: int = 0

    SIZE = 28

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview | Sequence[int]) -> NtbParameters:
        """Parse the GET_NTB_PARAMETERS data stage.

        Raises :class:`FramingError` if fewer than 28 bytes are given (extra
        bytes are ignored).  Values are returned as the device sent them; use
        :meth:`sanitized` before relying on them.
        """
        buf = bytes(data)
        if len(buf) < cls.SIZE:
            raise FramingError(f"NTB parameters need {cls.SIZE} bytes, got {len(buf)}")
        (
            wlen,
            fmts,
            in_max,
            in_div,
            in_rem,
            in_align,
            reserved,
            out_max,
            out_div,
            out_rem,
            out_align,
            out_dg,
        ) = _PARAMS.unpack_from(buf, 0)
        return cls(
            bmNtbFormatsSupported=fmts,
            dwNtbInMaxSize=in_max,
            wNdpInDivisor=in_div,
            wNdpInPayloadRemainder=in_rem,
            wNdpInAlignment=in_align,
            dwNtbOutMaxSize=out_max,
            wNdpOutDivisor=out_div,
            wNdpOutPayloadRemainder=out_rem,
            wNdpOutAlignment=out_align,
            wNtbOutMaxDatagrams=out_dg,
            wLength=wlen,
            reserved=reserved,
        )

    def pack(self) -> bytes:
        """Serialize to the 28-byte wire form."""
        return _PARAMS.pack(
            self.wLength,
            self.bmNtbFormatsSupported,
            self.dwNtbInMaxSize,
            self.wNdpInDivisor,
            self.wNdpInPayloadRemainder,
            self.wNdpInAlignment,
            self.reserved,
            self.dwNtbOutMaxSize,
            self.wNdpOutDivisor,
            self.wNdpOutPayloadRemainder,
            self.wNdpOutAlignment,
            self.wNtbOutMaxDatagrams,
        )

    def sanitized(self, *, ntb32: bool = False) -> NtbParameters:
        """Return a copy with Linux's fallbacks applied (``cdc_ncm_setup``).

        dwNtbInMaxSize is clamped to [2048, 65535] for NTB16 (Linux's
        ``cdc_ncm_check_rx_max`` raises a too small one, 0 included, to the
        spec's minimum); with *ntb32* only raised to 2048, the 32-bit fields
        have no other bound.  dwNtbOutMaxSize is capped at 65535 for NTB16 (not
        at all for NTB32) but a smaller one is kept, as Linux's bind keeps it:
        the device cannot take a larger NTB, whatever the spec's minimum says.
        0 (not set) means 2048, what every device must take.  Linux's
        ``cdc_ncm_check_tx_max`` takes 0 as "no limit" (CDC_NCM_NTB_MAX_SIZE_TX),
        but its bind asks for ``min(16384, 0)``, which the clamp raises only to
        the NTB headers (184 bytes for NTB16): no frame would fit.  Divisors
        and alignments that are not powers of two >= 4, or not smaller than
        their direction's max size, become 4 (``cdc_ncm_fix_modulus``); a
        remainder >= its divisor becomes 0.
        """
        cap = NTB32_MAX_SIZE if ntb32 else NTB16_MAX_SIZE
        in_max = min(max(self.dwNtbInMaxSize, NTB_MIN_SIZE), cap)
        out_max = min(self.dwNtbOutMaxSize or NTB_MIN_SIZE, cap)
        in_div, in_rem, in_align = _fix_modulus(
            self.wNdpInDivisor, self.wNdpInPayloadRemainder, self.wNdpInAlignment, in_max
        )
        out_div, out_rem, out_align = _fix_modulus(
            self.wNdpOutDivisor, self.wNdpOutPayloadRemainder, self.wNdpOutAlignment, out_max
        )
        return dataclasses.replace(
            self,
            dwNtbInMaxSize=in_max,
            dwNtbOutMaxSize=out_max,
            wNdpInDivisor=in_div,
            wNdpOutDivisor=out_div,
            wNdpInPayloadRemainder=in_rem,
            wNdpOutPayloadRemainder=out_rem,
            wNdpInAlignment=in_align,
            wNdpOutAlignment=out_align,
        )


def _fix_modulus(divisor: int, remainder: int, alignment: int, limit: int) -> tuple[int, int, int]:
    """(divisor, remainder, NDP alignment) after the fallbacks of Linux's ``cdc_ncm_fix_modulus``,
    a little stricter: a value that leaves less than an Ethernet header after it is refused
    too (Linux only one above the NTB size).

    A divisor or an alignment as large as the NTB itself would push the first
    datagram (or the NDP) past its end: nothing would ever fit.  So would one
    a byte short of it (a tx_max of 16385, one past a packet multiple).
    """

    def ok(v: int) -> bool:
        return v >= NDP_ALIGN_MIN and v + ETH_HLEN <= limit and _pow2(v)

    divisor = divisor if ok(divisor) else NDP_ALIGN_MIN
    alignment = alignment if ok(alignment) else NDP_ALIGN_MIN
    return divisor, remainder if remainder < divisor else 0, alignment


_SIZES16 = (NTH16_LENGTH, NDP16_HEADER_LENGTH, DPE16_LENGTH)
_SIZES32 = (NTH32_LENGTH, NDP32_HEADER_LENGTH, DPE32_LENGTH)

_ZEROS = bytes(1 << 16)
"""Padding source (a slice of it is at most one divisor or alignment long)."""


def _align_up(pos: int, align: int) -> int:
    return (pos + align - 1) // align * align


def _align_payload(pos: int, divisor: int, remainder: int) -> int:
    """Smallest offset >= pos with offset % divisor == remainder."""
    return pos + ((remainder - pos) % divisor)


class NtbEncoder:
    """Batching NTB16/NTB32 builder (the host's TX path, or a device's IN path).

    Usage::

        enc = NtbEncoder(params)            # params from GET_NTB_PARAMETERS
        for frame in frames:
            if not enc.add(frame):          # NTB full: flush and retry
                send(enc.build())
                enc.add(frame)
        if enc.pending:
            send(enc.build())

    Layout: NTH16 at 0, the NDP16 right after it (aligned to wNdpOutAlignment,
    sized for exactly the queued datagrams), then the datagrams, each at an
    offset with ``offset % wNdpOutDivisor == wNdpOutPayloadRemainder``.  With
    ``ndp_at_end=True`` the NDP follows the last datagram instead (what Linux
    does for devices flagged ``CDC_NCM_FLAG_NDP_TO_END``).  The block never
    exceeds the (sanitized) dwNtbOutMaxSize nor *max_size*, and never holds
    more than ``min(max_datagrams, wNtbOutMaxDatagrams)`` datagrams (0 in the
    parameters means "no limit").  A divisor or NDP alignment not smaller than
    *max_size* becomes 4, as :meth:`NtbParameters.sanitized` does for the
    device's own maximum.  wSequence starts at *sequence* and
    increments (mod 2**16) per :meth:`build`.

    Transfer termination (Linux ``cdc_ncm_fill_tx_frame``), once per NTB, the
    zero bytes counted in the block length: with *min_tx_pkt* set, an NTB
    longer than it is padded to ``max_size`` (tx_max; a device with DMA takes
    a full-size NTB better than a short packet); otherwise, with
    *max_packet* (the bulk OUT wMaxPacketSize) set, an NTB shorter than
    ``max_size`` that is a multiple of it gets one zero byte, so a short
    packet ends it and no ZLP is needed.  A caller whose ``max_size`` is
    either the device's dwNtbOutMaxSize or no multiple of *max_packet* (see
    ``cdc_ncm_update_rxtx_max``) then never needs a ZLP.  Both default to
    off: the NTB ends where its last datagram (or NDP) does, see
    :func:`~netdrv_usbnet.codecs.needs_zlp`.

    ``direction="in"`` uses the IN fields of *params* (for device simulators).

    ``ntb32=True`` builds NTB32s instead: NTH32 (16 bytes), NDP32 (16-byte
    header, 8-byte entries); the block may then exceed 65535 bytes if the
    parameters and *max_size* allow it.
    """

    def __init__(
        self,
        params: NtbParameters | None = None,
        *,
        max_datagrams: int = DEFAULT_TX_DATAGRAMS,
        max_size: int | None = None,
        direction: Literal["out", "in"] = "out",
        ndp_at_end: bool = False,
        sequence: int = 0,
        ntb32: bool = False,
        max_packet: int = 0,
        min_tx_pkt: int | None = None,
    ) -> None:
        """See the class docstring; *max_size* further limits the block size."""
        p = (params or NtbParameters()).sanitized(ntb32=ntb32)
        if direction == "out":
            limit, div, rem, align = (
                p.dwNtbOutMaxSize,
                p.wNdpOutDivisor,
                p.wNdpOutPayloadRemainder,
                p.wNdpOutAlignment,
            )
            dev_max_dg = p.wNtbOutMaxDatagrams
        elif direction == "in":
            limit, div, rem, align = (
                p.dwNtbInMaxSize,
                p.wNdpInDivisor,
                p.wNdpInPayloadRemainder,
                p.wNdpInAlignment,
            )
            dev_max_dg = 0
        else:
            raise ValueError(f"direction must be 'out' or 'in', not {direction!r}")
        if max_size is not None:
            limit = min(limit, max_size)
            # The caller's cap may be below the device's max: check the modulus against it too.
            div, rem, align = _fix_modulus(div, rem, align, limit)
        if max_datagrams < 1:
            raise ValueError("max_datagrams must be >= 1")
        self.params = p
        self.ntb32 = ntb32
        # NTH size, NDP header size, NDP entry size.
        self._nth_len, self._ndp_hdr, self._dpe = _SIZES32 if ntb32 else _SIZES16
        self.max_size = min(limit, NTB32_MAX_SIZE if ntb32 else NTB16_MAX_SIZE)
        self.divisor = div
        self.remainder = rem
        self.ndp_alignment = align
        self.max_datagrams = min(max_datagrams, dev_max_dg) if dev_max_dg else max_datagrams
        self.ndp_at_end = ndp_at_end
        self.sequence = sequence & 0xFFFF
        if max_packet < 0:
            raise ValueError("max_packet must be >= 0")
        self.max_packet = max_packet
        self.min_tx_pkt = min_tx_pkt
        # An NTB longer than this is padded to max_size (never, without min_tx_pkt).
        self._pad_over = self.max_size if min_tx_pkt is None else min_tx_pkt
        self._frames: list[bytes] = []
        # Adding a datagram grows the NDP by one entry (4 bytes, 8 for NTB32), which moves
        # every datagram behind it by as much: when the divisor divides that their padding
        # stays the same and the new block length follows from the old one (O(1) per add
        # instead of a relayout).
        self._shift_free = ndp_at_end or self._dpe % div == 0
        self._inline = self._shift_free and not ndp_at_end  # add()'s hot path applies
        self._end = 0  # end of the last datagram (the block length with the NDP first)
        self.discard()

    # -- layout -----------------------------------------------------------

    def _layout(self, lengths: Sequence[int]) -> tuple[int, list[int], int]:
        """Return (ndp_offset, datagram_offsets, block_length) for *lengths*."""
        ndp_len = self._ndp_hdr + self._dpe * (len(lengths) + 1)
        offsets: list[int] = []
        if not self.ndp_at_end:
            ndp_off = _align_up(self._nth_len, self.ndp_alignment)
            pos = ndp_off + ndp_len
            for n in lengths:
                pos = _align_payload(pos, self.divisor, self.remainder)
                offsets.append(pos)
                pos += n
            return ndp_off, offsets, pos
        pos = self._nth_len
        for n in lengths:
            pos = _align_payload(pos, self.divisor, self.remainder)
            offsets.append(pos)
            pos += n
        ndp_off = _align_up(pos, self.ndp_alignment)
        return ndp_off, offsets, ndp_off + ndp_len

    def _layout_size(self, lengths: Sequence[int]) -> int:
        return self._layout(lengths)[2]

    @functools.cached_property
    def max_frame_size(self) -> int:
        """Largest frame that fits alone in an NTB with these parameters."""
        lo, hi = 0, self.max_size
        while lo < hi:  # binary search; the layout size is monotonic in the length
            mid = (lo + hi + 1) // 2
            if self._layout_size([mid]) <= self.max_size:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # -- batching ---------------------------------------------------------

    @property
    def pending(self) -> int:
        """Number of datagrams queued for the next :meth:`build`."""
        return len(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size(self) -> int:
        """Block length the NTB would have if built now, before its termination padding."""
        return self._layout_size([len(f) for f in self._frames])

    def discard(self) -> None:
        """Drop the queued datagrams without building (the sequence number stays)."""
        self._frames = []
        if self.ndp_at_end:
            self._end = self._nth_len
        else:  # the NDP of an empty NTB: header and the terminating entry
            self._end = _align_up(self._nth_len, self.ndp_alignment) + self._ndp_hdr + self._dpe

    def _size_with(self, n: int) -> tuple[int, int]:
        """(end of the datagrams, block length) once an *n*-byte datagram is added."""
        if not self._shift_free:
            lengths = [len(f) for f in self._frames]
            lengths.append(n)
            _ndp, offsets, total = self._layout(lengths)
            return offsets[-1] + n, total
        if self.ndp_at_end:
            end = _align_payload(self._end, self.divisor, self.remainder) + n
            ndp_len = self._ndp_hdr + self._dpe * (len(self._frames) + 2)
            return end, _align_up(end, self.ndp_alignment) + ndp_len
        end = _align_payload(self._end + self._dpe, self.divisor, self.remainder) + n
        return end, end

    def _tx_padding(self, length: int) -> int:
        """Zero bytes that end an NTB of *length* bytes (see the class docstring)."""
        if length > self._pad_over:
            return self.max_size - length
        mps = self.max_packet
        if mps and length % mps == 0 and length < self.max_size:
            return 1  # force a short packet
        return 0

    def add(self, frame: bytes | bytearray | memoryview) -> bool:
        """Queue *frame*; return False (queue unchanged) if the NTB is full.

        Raises :class:`FramingError` for an empty frame or one that could not
        fit even in an empty NTB (so a caller's flush-and-retry loop always
        terminates).
        """
        n = len(frame)
        if not 0 < n <= self.max_frame_size:
            if n == 0:
                raise FramingError("cannot put an empty datagram in an NTB")
            raise FramingError(
                f"a {n}-byte frame does not fit in an NTB of at most {self.max_size} bytes"
            )
        frames = self._frames
        if len(frames) >= self.max_datagrams:
            return False
        if self._inline:  # the usual layout, inline: hot path
            end = self._end + self._dpe
            end += (self.remainder - end) % self.divisor
            end += n
            total = end
        else:
            end, total = self._size_with(n)
        if total > self.max_size:
            return False
        self._end = end
        frames.append(frame if type(frame) is bytes else bytes(frame))
        return True

    def fill(
        self, frames: Sequence[bytes | bytearray | memoryview], start: int = 0
    ) -> tuple[int, int]:
        """Queue ``frames[start:]`` in order, as :meth:`add` would one by one, until one is
        not taken: ``(index of the first frame not queued, bytes queued)`` — the index is
        ``len(frames)`` when all were.  The frame there either does not fit this NTB any
        more, or fits none (empty, too long): :meth:`add` on it says which (False, or
        :class:`FramingError`).  One call per NTB instead of one per datagram, as Linux's
        ``cdc_ncm_fill_tx_frame`` takes the queued skbs in one loop."""
        q = self._frames
        stop = min(len(frames), start + self.max_datagrams - len(q))
        i = start
        nbytes = 0
        if not self._inline:  # the general layout: add() works it out per datagram
            while i < stop:
                f = frames[i]
                n = len(f)
                if not 0 < n <= self.max_frame_size or not self.add(f):
                    break
                nbytes += n
                i += 1
            return i, nbytes
        # add()'s hot path, with the encoder's fields in locals.
        end, dpe, rem, div = self._end, self._dpe, self.remainder, self.divisor
        limit, biggest = self.max_size, self.max_frame_size
        while i < stop:
            f = frames[i]
            n = len(f)
            if not 0 < n <= biggest:
                break
            e = end + dpe
            e += (rem - e) % div
            e += n
            if e > limit:
                break
            end = e
            q.append(f if type(f) is bytes else bytes(f))
            nbytes += n
            i += 1
        self._end = end
        return i, nbytes

    def build(self) -> bytes:
        """Serialize the queued datagrams into one NTB and clear the queue.

        Raises :class:`FramingError` if nothing is queued.
        """
        if not self._frames:
            raise FramingError("no datagrams queued")
        frames = self._frames
        self.discard()
        count = len(frames)
        nth_len = self._nth_len
        ndp_len = self._ndp_hdr + self._dpe * (count + 1)
        div, rem = self.divisor, self.remainder
        # One join copies every byte once: NTH, NDP, each datagram after its padding (the
        # NTH and NDP slots are filled once the offsets are known).
        entries: list[int] = []
        if self.ndp_at_end:
            parts: list[bytes] = [b""]
            pos = nth_len
        else:
            ndp_off = _align_up(nth_len, self.ndp_alignment)
            parts = [b"", _ZEROS[: ndp_off - nth_len], b""]
            pos = ndp_off + ndp_len
        for f in frames:
            pad = (rem - pos) % div
            if pad:
                parts.append(_ZEROS[:pad])
                pos += pad
            n = len(f)
            entries += (pos, n)
            parts.append(f)
            pos += n
        if self.ndp_at_end:
            ndp_off = _align_up(pos, self.ndp_alignment)
            parts += (_ZEROS[: ndp_off - pos], b"")
            ndp_slot = len(parts) - 1
            total = ndp_off + ndp_len
        else:
            ndp_slot = 2
            total = pos
        pad = self._tx_padding(total)
        if pad:
            parts.append(_ZEROS[:pad] if pad <= len(_ZEROS) else bytes(pad))
            total += pad
        if self.ntb32:
            ndp = struct.pack(f"<4sHHII{len(entries) + 2}I", NDP32_NOCRC_SIGNATURE, ndp_len, 0, 0,
                              0, *entries, 0, 0)  # fmt: skip
            nth = struct.pack("<4sHHII", NTH32_SIGNATURE, nth_len, self.sequence, total, ndp_off)
        else:
            ndp = struct.pack(f"<4sHH{len(entries) + 2}H", NDP16_NOCRC_SIGNATURE, ndp_len, 0,
                              *entries, 0, 0)  # fmt: skip
            nth = struct.pack("<4sHHHH", NTH16_SIGNATURE, nth_len, self.sequence, total, ndp_off)
        parts[ndp_slot] = ndp
        parts[0] = nth
        self.sequence = (self.sequence + 1) & 0xFFFF
        return b"".join(parts)


def encode_ntb(
    frames: Iterable[bytes | bytearray | memoryview],
    params: NtbParameters | None = None,
    **kwargs: object,
) -> list[bytes]:
    """One-shot: pack *frames* (in order) into as few NTBs as the limits allow.

    Keyword arguments go to :class:`NtbEncoder`.  Raises :class:`FramingError`
    for frames that can never fit (see :meth:`NtbEncoder.add`).
    """
    enc = NtbEncoder(params, **kwargs)  # type: ignore[arg-type]
    out: list[bytes] = []
    for f in frames:
        if not enc.add(f):
            out.append(enc.build())
            if not enc.add(f):  # pragma: no cover - add() raises instead
                raise FramingError("frame does not fit in an empty NTB")
    if enc.pending:
        out.append(enc.build())
    return out


@dataclasses.dataclass
class NtbDecoderStats(CodecStats):
    """Counters of :class:`NtbDecoder` (each error also bumps ``rx_errors`` once).

    Whole-transfer drops: ``too_short``, ``bad_nth_signature``, ``unsupported``
    (an NTH or NDP of the format not negotiated, CRC NDPs), ``bad_header_length``, ``bad_block_length`` (beyond the
    transfer or above ``max_size``), ``bad_ndp_index`` (inside the NTH, or its
    header beyond the block), ``bad_ndp_length`` (too short, or its entries
    beyond the block).
    Partial: ``bad_ndp_signature``, ``bad_datagram`` (index/length out of the
    block or inside the NTH), ``overlapping_datagram`` (inside its NDP),
    ``short_datagram`` (< 14 bytes), ``long_datagram``, ``missing_terminator``,
    ``ndp_loop`` (an NDP visited twice), ``too_many_ndps``,
    ``too_many_datagrams``, ``empty_ndp`` (first entry is the zero pair;
    Linux skips such an NDP silently, we count it).  Informational (not an
    error): ``sequence_errors`` (wSequence glitch; Linux only logs it).
    """

    rx_ntbs: int = 0
    too_short: int = 0
    bad_nth_signature: int = 0
    unsupported: int = 0
    bad_header_length: int = 0
    bad_block_length: int = 0
    bad_ndp_index: int = 0
    bad_ndp_signature: int = 0
    bad_ndp_length: int = 0
    bad_datagram: int = 0
    overlapping_datagram: int = 0
    short_datagram: int = 0
    long_datagram: int = 0
    missing_terminator: int = 0
    empty_ndp: int = 0
    ndp_loop: int = 0
    too_many_ndps: int = 0
    too_many_datagrams: int = 0
    sequence_errors: int = 0


class NtbDecoder:
    """Validating NTB16/NTB32 parser: one bulk IN transfer in, Ethernet frames out.

    Checks, in order: transfer >= 28 bytes; "NCMH" signature; wHeaderLength
    == 12; wBlockLength <= transfer length and <= *max_size* (0 means "up to
    the end of the transfer", NCM 1.0 §3.2.1); then for each NDP of the chain,
    as Linux's ``cdc_ncm_rx_verify_ndp16`` and ``cdc_ncm_rx_fixup``: index >= 12
    and the NDP's 8-byte header inside the block, at any offset (Linux does
    not hold a device to its wNdpInAlignment, nor to 4-byte alignment, on
    receive); wLength >= 16, of any value from there (the table is the whole
    entries that fit), with the entries before the last slot inside the block;
    "NCM0" signature; then each (index, length) entry before the last slot,
    until the first zero pair: index >= 12, index+length within the block, not
    overlapping the NDP itself, length >= 14 (and <= *max_datagram* if given).
    The last slot is never a datagram (Linux does not read it): when it is not
    the zero pair, or lies past the block, ``missing_terminator`` is counted
    and the datagrams kept.  The chain is bounded by *max_ndps* (51 by default:
    Linux's first NDP and 50 more) and refuses to revisit an NDP; at most
    *max_datagrams* frames are returned per transfer.

    *copy* True (default) returns ``bytes``; False returns zero-copy
    ``memoryview`` slices of the transfer (valid while the buffer is).

    ``ntb32=True`` (or setting the attribute later, after SET_NTB_FORMAT)
    parses NTB32 instead, with the same checks on its 32-bit fields: transfer
    >= 48 bytes, "ncmh", wHeaderLength == 16, NDP index >= 16 with its
    16-byte header in the block, wLength >= 32, "ncm0", entries from offset
    16 of the NDP, 8 bytes each.  The
    other format's signatures ("NCMH" resp. "ncmh", and the NDP ones) count
    as ``unsupported``.  *max_size* defaults to 65535 for NTB16 and to no
    bound (2**32 - 1) for NTB32.
    """

    def __init__(
        self,
        *,
        max_size: int | None = None,
        max_datagrams: int = 512,
        max_ndps: int = 51,
        max_datagram: int | None = None,
        copy: bool = True,
        ntb32: bool = False,
    ) -> None:
        """See the class docstring for the meaning of each limit."""
        self.ntb32 = ntb32
        if max_size is None:
            max_size = NTB32_MAX_SIZE if ntb32 else NTB16_MAX_SIZE
        self.max_size = max_size
        self.max_datagrams = max_datagrams
        self.max_ndps = max_ndps
        self.max_datagram = max_datagram
        self.copy = copy
        self.stats = NtbDecoderStats()
        self._last_seq: int | None = None

    def reset(self) -> None:
        """Forget the sequence number (after a reset/reconnect); counters are kept."""
        self._last_seq = None

    def _err(self, kind: str, category: str) -> None:
        self.stats.bump(kind, "rx_errors", category)

    def decode(self, transfer: bytes | bytearray | memoryview) -> list[bytes | memoryview]:
        """Return the Ethernet frames in *transfer* (possibly none); never raises on bad data."""
        st = self.stats
        st.rx_transfers += 1
        mv = memoryview(transfer)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        # One unpack of the format's description: a NamedTuple's attributes cost more.
        (nth_sig, other_nth_sig, nth_len, nth_fields, ndp_sig, unsupported_ndp_sigs, ndp_min,
         ndp_fields, ndp_header_len, dpe_len, dpe_code) = _NTB32_FORMAT if self.ntb32 else _NTB16_FORMAT  # fmt: skip
        n = len(mv)
        if n < nth_len + ndp_min:
            self._err("too_short", "rx_length_errors")
            return []
        sig = bytes(mv[0:4])
        if sig != nth_sig:
            if sig == other_nth_sig:
                self._err("unsupported", "rx_frame_errors")
            else:
                self._err("bad_nth_signature", "rx_frame_errors")
            return []
        hlen, seq, blen, ndp = struct.unpack_from(nth_fields, mv, 4)
        if hlen != nth_len:
            self._err("bad_header_length", "rx_frame_errors")
            return []
        if blen == 0:
            blen = n
        if blen > n or blen > self.max_size:
            self._err("bad_block_length", "rx_length_errors")
            return []
        last = self._last_seq
        if last is not None and seq != ((last + 1) & 0xFFFF) and (last or seq):
            st.sequence_errors += 1
        self._last_seq = seq
        st.rx_ntbs += 1

        frames: list[bytes | memoryview] = []
        visited: set[int] = set()
        while ndp:
            if ndp in visited:
                self._err("ndp_loop", "rx_frame_errors")
                break
            if len(visited) >= self.max_ndps:
                self._err("too_many_ndps", "rx_frame_errors")
                break
            visited.add(ndp)
            # cdc_ncm_rx_verify_ndp16/32: the NDP's header in the block (no alignment: Linux
            # does not hold a device to its wNdpInAlignment on receive) ...
            if ndp < nth_len or ndp + ndp_header_len > blen:
                self._err("bad_ndp_index", "rx_frame_errors")
                break
            wlen, nxt = struct.unpack_from(ndp_fields, mv, ndp + 4)
            # ... room for one entry and the zero pair (any wLength from there: the entries
            # are what fits), and the entries before the last slot in the block ...
            entries = (wlen - ndp_header_len) // dpe_len
            if wlen < ndp_min or ndp + ndp_header_len + (entries - 1) * dpe_len > blen:
                self._err("bad_ndp_length", "rx_length_errors")
                break
            nsig = bytes(mv[ndp : ndp + 4])
            if nsig != ndp_sig:
                # ... then the signature, in cdc_ncm_rx_fixup (err_ndp): this NDP is skipped
                # but its next pointer followed.
                if nsig in unsupported_ndp_sigs:
                    self._err("unsupported", "rx_frame_errors")
                else:
                    self._err("bad_ndp_signature", "rx_frame_errors")
                ndp = nxt
                continue
            if not self._datagrams(mv, ndp, entries, blen, frames, ndp_header_len, dpe_len,
                                   dpe_code, nth_len):  # fmt: skip
                break
            ndp = nxt
        return frames

    def _datagrams(
        self,
        mv: memoryview,
        ndp: int,
        entries: int,
        blen: int,
        frames: list[bytes | memoryview],
        hdr: int,
        dpe: int,
        code: str,
        nth: int,
    ) -> bool:
        """Extract one NDP's datagrams into *frames*; False stops the NDP chain.

        *entries* is the number of slots the NDP's wLength makes room for; as Linux, the
        slots before the last are the datagrams (up to the first zero pair), and the last
        is only looked at for the zero pair it must be (``missing_terminator`` when it is
        not, or lies past the block; the datagrams are kept).  *hdr*, *dpe*, *code* and
        *nth* describe the format (NDP header and entry sizes, the struct code of an entry
        field, the NTH size).
        """
        ndp_end = ndp + hdr + entries * dpe
        table = struct.unpack_from(f"<{2 * (entries - 1)}{code}", mv, ndp + hdr)
        max_dg = self.max_datagram if self.max_datagram is not None else blen
        room = self.max_datagrams - len(frames)
        copy = self.copy
        found: list[bytes | memoryview] = []
        nbytes = 0
        try:
            for idx, dlen in zip(table[0::2], table[1::2], strict=True):
                end = idx + dlen
                # The good datagram in one test (idx >= nth and dlen >= ETH_HLEN rule out the
                # zero pair); anything else is classified below, in Linux's order.
                if (nth <= idx and end <= blen and (end <= ndp or idx >= ndp_end)
                        and ETH_HLEN <= dlen <= max_dg and len(found) < room):  # fmt: skip
                    found.append(bytes(mv[idx:end]) if copy else mv[idx:end])
                    nbytes += dlen
                    continue
                if idx == 0 or dlen == 0:
                    if not found:  # the first entry: an NDP must describe one datagram
                        self._err("empty_ndp", "rx_frame_errors")
                    return True
                if len(found) >= room:
                    self._err("too_many_datagrams", "rx_frame_errors")
                    return False
                if idx < nth or end > blen:
                    self._err("bad_datagram", "rx_length_errors")
                    return True
                if idx < ndp_end and end > ndp:
                    self._err("overlapping_datagram", "rx_frame_errors")
                    return True
                if dlen < ETH_HLEN:
                    self._err("short_datagram", "rx_length_errors")
                    return True
                self._err("long_datagram", "rx_length_errors")
                return True
            last = ndp_end - dpe
            if last + dpe > blen or any(struct.unpack_from(f"<2{code}", mv, last)):
                self._err("missing_terminator", "rx_frame_errors")
        finally:  # what was found before an error is kept (and counted) either way
            frames += found
            self.stats.rx_frames += len(found)
            self.stats.rx_bytes += nbytes
        return True
