"""SLIP framing (RFC 1055), sans-I/O.

Wire format: each frame is its bytes with ``END`` (0xC0) sent as ``ESC ESC_END``
(0xDB 0xDC) and ``ESC`` (0xDB) as ``ESC ESC_ESC`` (0xDB 0xDD), followed by
``END``. Like Linux ``slip.c`` the encoder also sends an ``END`` *before*
each frame by default, which flushes any line noise into an (empty or bad)
frame of its own.

The decoder never unescapes byte by byte: it keeps the still-escaped bytes of
the current frame in a ``bytearray`` (appending is O(1) amortised), splits
input chunks on ``END`` in C, and unescapes a completed frame with two
``bytes.replace`` calls. That keeps single-byte feeding linear, where a
decoder that re-scans its buffer on every call (sliplib) is quadratic.

Errors (each counted once per frame, the frame dropped):

* an ``ESC`` not followed by ``ESC_END``/``ESC_ESC`` (including an ``ESC``
  just before ``END``) -> ``escape_errors`` and ``framing_errors``. This is
  stricter than Linux ``slip.c``, which silently keeps the byte after a bad
  escape; a corrupted frame is better dropped here than handed to IP.
* a decoded frame longer than ``max_frame`` -> ``overruns``. Once the
  still-escaped bytes of a frame exceed ``2 * max_frame`` (so the frame is
  certainly too long) the rest of it is skipped without buffering until the
  next ``END``; this is what bounds the buffer. ``max_frame`` defaults to the
  MTU; Linux ``slip.c`` receives into a buffer of :func:`rx_buffer_size`
  bytes (``max(2 * mtu, 1152)``), which the link driver passes instead.

Empty frames (back-to-back ``END`` bytes) are skipped silently, and so are frames
shorter than ``min_frame`` (default 1). Linux ``slip.c`` hands a frame on only when
``rcount > 2``: the one or two bytes of line noise between two frames (each starts
with an ``END`` to flush them) are no packet and no error. The link driver passes
``min_frame=3`` (:data:`LINUX_MIN_FRAME`) for the same.

:meth:`SlipFramer.adopt` takes over another decoder's partial frame, as
``sl_realloc_bufs`` keeps the bytes received so far when the MTU changes.
"""

from __future__ import annotations

from .base import Buffer, CodecError, CodecStats

__all__ = [
    "DEFAULT_MTU",
    "END",
    "ESC",
    "ESC_END",
    "ESC_ESC",
    "LINUX_MIN_FRAME",
    "RX_BUFFER_MIN",
    "SlipDecoder",
    "SlipEncoder",
    "SlipFramer",
    "decode_stream",
    "encode",
    "rx_buffer_size",
]

#: Linux ``slip.c`` default MTU.
DEFAULT_MTU = 296
#: The smallest receive buffer of Linux ``slip.c`` and ``mkiss.c`` (576 * 2 bytes).
RX_BUFFER_MIN = 576 * 2
#: The shortest frame Linux ``slip.c`` and ``mkiss.c`` hand on (``rcount > 2`` at END).
LINUX_MIN_FRAME = 3

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

_END = b"\xc0"
_ESC = b"\xdb"
_ESC_END_SEQ = b"\xdb\xdc"
_ESC_ESC_SEQ = b"\xdb\xdd"


def rx_buffer_size(mtu: int) -> int:
    """The receive buffer of Linux ``slip.c`` (and ``mkiss.c``) for ``mtu``: the longest frame it takes.

    ``sl_alloc_bufs``/``sl_realloc_bufs`` allocate ``mtu * 2`` bytes, at least
    ``576 * 2`` ("allow for arrival of larger UDP packets, even if we say not
    to"); ``slip_unesc`` stores unescaped bytes while ``rcount < buffsize`` and
    counts ``rx_over_errors`` beyond. So a frame of up to this many bytes is
    delivered, and a peer with a larger MTU still gets through.
    """
    return max(2 * mtu, RX_BUFFER_MIN)


def _escape(frame: bytes) -> bytes:
    return frame.replace(_ESC, _ESC_ESC_SEQ).replace(_END, _ESC_END_SEQ)


class SlipEncoder:
    """Encode frames as SLIP.

    :param mtu: the largest frame accepted by :meth:`encode`.
    :param leading_end: send an ``END`` before each frame too (Linux does).
    """

    __slots__ = ("_fmt", "leading_end", "mtu", "stats")

    def __init__(self, mtu: int = DEFAULT_MTU, leading_end: bool = True) -> None:
        if mtu < 1:
            raise CodecError(f"SLIP MTU must be at least 1 byte, got {mtu}")
        self.mtu = mtu
        self.leading_end = leading_end
        # One %-format builds END + body + END with a single copy.
        self._fmt = b"\xc0%b\xc0" if leading_end else b"%b\xc0"
        self.stats = CodecStats()

    def encode(self, frame: Buffer) -> bytes:
        """Return the SLIP wire bytes of ``frame``.

        :raises CodecError: ``frame`` is empty (SLIP cannot carry it: the
            receiver skips empty frames) or longer than :attr:`mtu`.
        """
        n = len(frame)
        if not 0 < n <= self.mtu:
            raise CodecError(
                f"cannot SLIP-encode a {n}-byte frame: frames must be 1..{self.mtu} bytes "
                "(raise the MTU or fragment at the IP layer)"
            )
        try:
            # ESC first, otherwise the ESC bytes introduced for END would be doubled.
            out = self._fmt % frame.replace(_ESC, _ESC_ESC_SEQ).replace(_END, _ESC_END_SEQ)  # type: ignore[union-attr]  # memoryview: below
        except AttributeError:  # memoryview has no replace()
            out = self._fmt % _escape(bytes(frame))
        st = self.stats
        st.frames += 1
        st.bytes += n
        st.wire_bytes += len(out)
        return out


class SlipFramer:
    """Frame assembly for SLIP-escaped streams, the part :class:`SlipDecoder` and
    :class:`~netdrv_serial.codecs.kiss.KissDecoder` share; each adds its own ``feed``.

    :param mtu: the largest frame expected.
    :param max_frame: the largest decoded frame delivered; defaults to ``mtu``.
    :param stats: counters to add to (lets a wrapper share one object).
    :param min_frame: shorter frames are skipped silently (no frame, no error).

    The protected API a subclass's ``feed`` builds on; the buffer stays bounded
    and the counters right only if every ``feed`` does this:

    * count the chunk in ``stats.wire_bytes``;
    * a chunk without ``END``: unless ``_discard`` is set (an overrun frame is
      being skipped up to the next ``END``), append it to ``_buf`` in place and
      call ``_start_discard(None)`` once ``len(_buf) > _limit``.  Inline, not a
      method: that is the cost of every byte fed one at a time, and a call
      would double it;
    * a chunk with an ``END``: ``_frames(data, None)`` returns the unescaped
      frames it completed, already counted in ``stats.frames``/``stats.bytes``.
    """

    __slots__ = ("_buf", "_discard", "_limit", "max_frame", "min_frame", "mtu", "stats")

    def __init__(
        self,
        mtu: int = DEFAULT_MTU,
        *,
        max_frame: int | None = None,
        stats: CodecStats | None = None,
        min_frame: int = 1,
    ) -> None:
        if mtu < 1:
            raise CodecError(f"SLIP MTU must be at least 1 byte, got {mtu}")
        self.mtu = mtu
        self.min_frame = max(1, min_frame)
        self.max_frame = mtu if max_frame is None else max_frame
        if self.max_frame < 1:
            raise CodecError(f"max_frame must be at least 1 byte, got {self.max_frame}")
        # A valid escaped frame is at most twice its decoded length, so more raw
        # bytes than this can only be an overrun.
        self._limit = 2 * self.max_frame
        self._buf = bytearray()
        self._discard = False
        self.stats = stats if stats is not None else CodecStats()

    @property
    def buffered(self) -> int:
        """Bytes of the current partial frame held in the buffer (still escaped)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget the partial frame (counters are kept)."""
        self._buf.clear()
        self._discard = False

    @property
    def partial(self) -> bytes | None:
        """The current partial frame, still escaped; ``None`` while an overrun frame is
        being skipped up to the next ``END``."""
        return None if self._discard else bytes(self._buf)

    def adopt(self, old: SlipFramer) -> bool:
        """Take over ``old``'s :attr:`partial` frame (this decoder replaces it: an MTU change).

        As ``sl_realloc_bufs``: the bytes received so far are kept when they fit this
        decoder's buffer, else the frame is an overrun, skipped up to the next ``END``.
        Returns True when the partial frame was lost that way.
        """
        part = old.partial
        self._buf.clear()
        self._discard = part is None
        if part is None:
            return False
        self._buf += part
        if len(part) > self._limit:
            self._start_discard(None)
            return True
        return False

    def _start_discard(self, marks: list | None) -> None:
        # The frame is certainly too long: count it now, skip to the next END.
        st = self.stats
        st.overruns += 1
        st.dropped += 1
        self._buf.clear()
        self._discard = True
        if marks is not None:
            marks.append(None)

    def _frames(self, data: bytes, marks: list | None) -> list:
        # ``data`` holds an END. ``marks``: also append a None per dropped frame.
        parts = data.split(_END)
        out: list = marks if marks is not None else []
        # The first part ends the frame already in progress.
        first = parts[0]
        if self._discard:
            self._discard = False
            todo = parts[1:-1]
        elif self._buf:
            buf = self._buf
            if len(buf) + len(first) > self._limit:
                buf.clear()
                self._count_overrun(out, marks)
                todo = parts[1:-1]
            else:
                buf += first
                todo = parts[1:-1]
                todo.insert(0, bytes(buf))
                buf.clear()
        else:
            todo = parts[:-1]

        limit = self._limit
        max_frame = self.max_frame
        min_frame = self.min_frame
        st = self.stats
        append = out.append
        delivered = 0
        nbytes = 0
        for raw in todo:
            n = len(raw)
            if n < min_frame:
                continue  # back-to-back ENDs, or noise too short to be a frame: not an error
            if n > limit:
                self._count_overrun(out, marks)
                continue
            if _ESC in raw:
                frame = raw.replace(_ESC_END_SEQ, _END).replace(_ESC_ESC_SEQ, _ESC)
                # Each valid escape shortens the frame by one byte; any other ESC is bad.
                if n - len(frame) != raw.count(_ESC):
                    st.escape_errors += 1
                    st.framing_errors += 1
                    st.dropped += 1
                    if marks is not None:
                        append(None)
                    continue
                n = len(frame)
                if n < min_frame:
                    continue
            else:
                frame = raw
            if n > max_frame:
                self._count_overrun(out, marks)
                continue
            append(frame)
            delivered += 1
            nbytes += n
        st.frames += delivered
        st.bytes += nbytes

        last = parts[-1]
        if last:
            if len(last) > limit:
                self._start_discard(marks)
            else:
                self._buf += last
        return out

    def _count_overrun(self, out: list, marks: list | None) -> None:
        st = self.stats
        st.overruns += 1
        st.dropped += 1
        if marks is not None:
            out.append(None)


class SlipDecoder(SlipFramer):
    """Decode a SLIP byte stream into frames.

    :param mtu: the largest frame expected (Linux default 296).
    :param max_frame: the largest decoded frame delivered; defaults to ``mtu``.
        (Linux ``slip.c`` accepts up to ``max(2 * mtu, 1152)``; pass
        :func:`rx_buffer_size` ``(mtu)`` for the same leniency, as the link driver does.)
    :param stats: counters to add to (lets a wrapper share one object).
    :param min_frame: shorter frames are skipped silently (Linux: :data:`LINUX_MIN_FRAME`).

    ``feed()`` returns ``list[bytes]``. The buffer never holds more than
    ``2 * max_frame`` bytes (see :attr:`buffered`).
    """

    __slots__ = ()

    def feed(self, data: Buffer) -> list[bytes]:
        """Consume line bytes; return the frames they completed, oldest first."""
        if type(data) is not bytes:
            data = bytes(data)
        self.stats.wire_bytes += len(data)
        if _END not in data:
            # Hot path for byte-at-a-time feeding: append and check the bound.
            if not self._discard:
                buf = self._buf
                buf += data
                if len(buf) > self._limit:
                    self._start_discard(None)
            return []
        return self._frames(data, None)

    def feed_with_drops(self, data: Buffer) -> list[bytes | None]:
        """Like :meth:`feed`, but a ``None`` marks, in stream order, each frame dropped for an error.

        CSLIP uses the marks to make its VJ decompressor toss until resync.
        """
        if type(data) is not bytes:
            data = bytes(data)
        self.stats.wire_bytes += len(data)
        marks: list[bytes | None] = []
        if _END not in data:
            if not self._discard:
                buf = self._buf
                buf += data
                if len(buf) > self._limit:
                    self._start_discard(marks)
            return marks
        return self._frames(data, marks)


def encode(frame: Buffer, leading_end: bool = True) -> bytes:
    """SLIP-encode one frame of any length (no MTU check); see :class:`SlipEncoder`."""
    body = _escape(bytes(frame)) + _END
    return _END + body if leading_end else body


def decode_stream(data: Buffer, mtu: int = 65535) -> list[bytes]:
    """Decode a complete SLIP byte string in one go; a trailing unterminated frame is ignored."""
    return SlipDecoder(mtu).feed(data)
