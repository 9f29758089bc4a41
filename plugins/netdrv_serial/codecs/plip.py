"""PLIP-like framing for a serial line, sans-I/O.

Linux ``plip.c`` sends over the parallel port a 2-byte little-endian length,
the data, and a 1-byte additive checksum (sum of the data bytes & 0xFF). Its
handshake lines tell where a frame starts; a serial byte stream has no such
lines, so each frame here is prefixed with a sync pair to resynchronise on::

    0x16 0x16 | len_lo len_hi | data (len bytes) | checksum

0x16 is ASCII SYN, the character BISYNC used for exactly this. A length of 0
or above ``max_frame`` is impossible (``framing_errors``); a checksum mismatch
counts ``checksum_errors``. In both cases the decoder resumes hunting for the
sync pair one byte after the rejected one, so a corrupted length cannot take
the following good frames down with it. Bytes skipped while hunting are
counted in ``garbage_bytes`` (so ``wire_bytes`` equals the bytes of the frames
delivered, plus ``garbage_bytes``, plus :attr:`PlipDecoder.buffered`).

Cost: a decision is only taken once all bytes it depends on are present, so
the output does not depend on how input is chunked. Typical input costs O(1)
per byte; a candidate frame's checksum costs O(its length), so an adversary
who packs fake headers densely can raise the per-byte cost to O(max_frame)
(still linear in the input, with that constant; ``sum()`` runs in C).
"""

from __future__ import annotations

from .base import Buffer, CodecError, CodecStats

__all__ = ["PLIP_OVERHEAD", "SYNC", "PlipDecoder", "PlipEncoder", "checksum"]

#: The sync pair before each frame (ASCII SYN SYN).
SYNC = b"\x16\x16"
_HDR = 4  # sync pair + length
#: Bytes added to each frame: sync pair, length, checksum.
PLIP_OVERHEAD = _HDR + 1
_SYNC_BYTE = 0x16
DEFAULT_PLIP_MTU = 1500


def checksum(data: Buffer) -> int:
    """The ``plip.c`` checksum: the sum of the data bytes, modulo 256."""
    return sum(data) & 0xFF


class PlipEncoder:
    """Encode frames in the PLIP-like serial framing.

    :param max_frame: the largest frame accepted (at most 65535, the length field).
    """

    __slots__ = ("max_frame", "stats")

    def __init__(self, max_frame: int = DEFAULT_PLIP_MTU) -> None:
        if not 1 <= max_frame <= 0xFFFF:
            raise CodecError(f"PLIP max_frame must be 1..65535, got {max_frame}")
        self.max_frame = max_frame
        self.stats = CodecStats()

    def encode(self, frame: Buffer) -> bytes:
        """Return the wire bytes of ``frame``.

        :raises CodecError: ``frame`` is empty or longer than :attr:`max_frame`.
        """
        n = len(frame)
        if not 0 < n <= self.max_frame:
            raise CodecError(
                f"cannot PLIP-encode a {n}-byte frame: frames must be 1..{self.max_frame} bytes"
            )
        frame = bytes(frame)
        out = b"".join((SYNC, n.to_bytes(2, "little"), frame, bytes((sum(frame) & 0xFF,))))
        st = self.stats
        st.frames += 1
        st.bytes += n
        st.wire_bytes += len(out)
        return out


class PlipDecoder:
    """Decode the PLIP-like serial framing.

    :param max_frame: the largest frame accepted (longer lengths are framing errors).
    :param stats: counters to add to.

    The buffer never holds more than one incomplete candidate frame
    (``max_frame + 4`` bytes) once :meth:`feed` returns.
    """

    __slots__ = ("_buf", "max_frame", "stats")

    def __init__(
        self, max_frame: int = DEFAULT_PLIP_MTU, *, stats: CodecStats | None = None
    ) -> None:
        if not 1 <= max_frame <= 0xFFFF:
            raise CodecError(f"PLIP max_frame must be 1..65535, got {max_frame}")
        self.max_frame = max_frame
        self._buf = bytearray()
        self.stats = stats if stats is not None else CodecStats()

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame (or the second sync byte)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial frame (counters are kept)."""
        self._buf.clear()

    @property
    def partial(self) -> bytes:
        """The bytes held while waiting for the rest of a frame (see :attr:`buffered`)."""
        return bytes(self._buf)

    def adopt(self, old: PlipDecoder) -> None:
        """Take over ``old``'s :attr:`partial` frame (this decoder replaces it: an MTU
        change); a length above this decoder's ``max_frame`` is rejected as it completes."""
        self._buf[:] = old.partial

    def feed(self, data: Buffer) -> list[bytes]:
        """Consume line bytes; return the frames they completed, oldest first."""
        st = self.stats
        st.wire_bytes += len(data)
        buf = self._buf
        buf += data
        out: list[bytes] = []
        size = len(buf)
        pos = 0
        max_frame = self.max_frame
        while True:
            i = buf.find(SYNC, pos)
            if i < 0:
                # Keep a trailing lone SYN: it may pair with the next byte.
                keep = 1 if size > pos and buf[-1] == _SYNC_BYTE else 0
                st.garbage_bytes += size - pos - keep
                pos = size - keep
                break
            if i > pos:
                st.garbage_bytes += i - pos
                pos = i
            if size - i < _HDR:
                break
            n = buf[i + 2] | buf[i + 3] << 8
            if n == 0 or n > max_frame:
                st.framing_errors += 1
                st.dropped += 1
                st.garbage_bytes += 1
                pos = i + 1
                continue
            end = i + _HDR + n
            if end >= size:
                break  # the checksum byte has not arrived yet
            frame = bytes(buf[i + _HDR : end])
            if sum(frame) & 0xFF != buf[end]:
                st.checksum_errors += 1
                st.dropped += 1
                st.garbage_bytes += 1
                pos = i + 1
                continue
            out.append(frame)
            st.frames += 1
            st.bytes += n
            pos = end + 1
        if pos:
            # bytearray drops a prefix in O(1) amortised (it moves its start).
            del buf[:pos]
        return out
