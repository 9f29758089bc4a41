"""KISS TNC framing, sans-I/O.

KISS is SLIP's escaping (FEND 0xC0, FESC 0xDB, TFEND 0xDC, TFESC 0xDD) with a
command byte after the opening FEND: ``port << 4 | command``. Command 0 is a
data frame; 1..6 set TNC parameters (TXDELAY, P, SLOTTIME, TXTAIL, FULLDUPLEX,
SETHARDWARE); 0xFF (RETURN) leaves KISS mode. The command byte is escaped like
data (port 12 data frames start with 0xC0).

The decoder is built on :class:`~netdrv_serial.codecs.slip.SlipFramer`, the
frame assembly of :class:`~netdrv_serial.codecs.slip.SlipDecoder`, so it has
the same bounds, linearity and error counting. One deviation from the KISS
spec, which says a bad escape is ignored and assembly continues: like SLIP
here, the frame is counted in ``escape_errors`` and dropped, because handing a
corrupted AX.25 or IP frame on is worse than losing it.
"""

from __future__ import annotations

from typing import NamedTuple

from .base import Buffer, CodecError, CodecStats
from .slip import SlipFramer

__all__ = [
    "CMD_DATA",
    "CMD_FULLDUPLEX",
    "CMD_P",
    "CMD_RETURN",
    "CMD_SETHARDWARE",
    "CMD_SLOTTIME",
    "CMD_TXDELAY",
    "CMD_TXTAIL",
    "DEFAULT_KISS_MTU",
    "FEND",
    "FESC",
    "TFEND",
    "TFESC",
    "KissDecoder",
    "KissEncoder",
    "KissFrame",
]

FEND = 0xC0
FESC = 0xDB
TFEND = 0xDC
TFESC = 0xDD

CMD_DATA = 0
CMD_TXDELAY = 1
CMD_P = 2
CMD_SLOTTIME = 3
CMD_TXTAIL = 4
CMD_FULLDUPLEX = 5
CMD_SETHARDWARE = 6
CMD_RETURN = 0xFF

#: A generous default: AX.25 frames are at most ~330 bytes, IP over KISS often 1500.
DEFAULT_KISS_MTU = 1500

_FEND = b"\xc0"
_FESC = b"\xdb"
_FESC_TFEND = b"\xdb\xdc"
_FESC_TFESC = b"\xdb\xdd"


class KissFrame(NamedTuple):
    """One decoded KISS frame: data frames and commands alike (the caller filters)."""

    #: TNC port 0..15 (0 for RETURN).
    port: int
    #: Command 0..15, or :data:`CMD_RETURN` (0xFF).
    command: int
    #: The payload (data frame) or parameter value(s), unescaped.
    data: bytes


def _command_byte(cmd: int, port: int) -> int:
    if cmd == CMD_RETURN:
        return 0xFF
    if not 0 <= cmd <= 15:
        raise CodecError(f"KISS command must be 0..15 or 0xFF (RETURN), got {cmd}")
    if not 0 <= port <= 15:
        raise CodecError(f"KISS port must be 0..15, got {port}")
    if port == cmd == 15:
        raise CodecError("KISS port 15 command 15 is the byte 0xFF, which means RETURN")
    return port << 4 | cmd


class KissEncoder:
    """Encode KISS frames.

    :param mtu: the largest data payload accepted.
    :param leading_fend: send a FEND before each frame too (flushes line noise).
    """

    __slots__ = ("_data_head", "_prefix", "leading_fend", "mtu", "stats")

    def __init__(self, mtu: int = DEFAULT_KISS_MTU, leading_fend: bool = True) -> None:
        if mtu < 1:
            raise CodecError(f"KISS MTU must be at least 1 byte, got {mtu}")
        self.mtu = mtu
        self.leading_fend = leading_fend
        self._prefix = _FEND if leading_fend else b""
        self._data_head = self._prefix + b"\x00"  # a data frame on port 0: the usual frame
        self.stats = CodecStats()

    def encode(self, data: Buffer, port: int = 0, cmd: int = CMD_DATA) -> bytes:
        """Return the wire bytes of a frame with command ``cmd`` on ``port`` carrying ``data``.

        :raises CodecError: ``data`` longer than :attr:`mtu`, or port/command out of range.
        """
        n = len(data)
        if n > self.mtu:
            raise CodecError(
                f"cannot KISS-encode a {n}-byte frame: the limit is {self.mtu} bytes "
                "(raise the MTU or fragment at a higher layer)"
            )
        if port or cmd:
            c = bytes((_command_byte(cmd, port),))  # port 12 makes it FEND: escaped too
            head = self._prefix + c.replace(_FESC, _FESC_TFESC).replace(_FEND, _FESC_TFEND)
        else:
            head = self._data_head
        if type(data) is not bytes:
            data = bytes(data)
        out = head + data.replace(_FESC, _FESC_TFESC).replace(_FEND, _FESC_TFEND) + _FEND
        st = self.stats
        st.frames += 1
        st.bytes += n
        st.wire_bytes += len(out)
        if cmd != CMD_DATA:
            st.commands += 1
        return out

    def encode_command(self, cmd: int, value: int | Buffer = b"", port: int = 0) -> bytes:
        """Return a parameter command frame (e.g. ``encode_command(CMD_TXDELAY, 50)``).

        ``value`` is one byte as an int, or bytes (SETHARDWARE may carry several).
        RETURN (0xFF) ignores ``port``.

        :raises CodecError: ``cmd`` is the data command, or a value/port is out of range.
        """
        if cmd == CMD_DATA:
            raise CodecError("encode_command() is for parameter commands; use encode() for data")
        if isinstance(value, int):
            if not 0 <= value <= 255:
                raise CodecError(f"KISS parameter value must be 0..255, got {value}")
            value = bytes((value,))
        return self.encode(value, port=port, cmd=cmd)


class KissDecoder(SlipFramer):
    """Decode a KISS byte stream into :class:`KissFrame` tuples.

    :param mtu: the largest data payload expected (the command byte is extra).
    :param max_frame: the largest frame delivered, command byte included; defaults
        to ``mtu + 1``. (Linux ``mkiss.c`` receives frames of up to
        ``max(2 * mtu, 1152)`` bytes, command byte included, as ``slip.c`` does:
        pass :func:`~netdrv_serial.codecs.slip.rx_buffer_size` ``(mtu)``.)
    :param stats: counters to add to.
    :param min_frame: shorter frames, command byte included, are skipped silently
        (``mkiss.c`` hands a frame on only when ``rcount > 2``).

    ``stats.frames`` counts every frame returned (data and commands),
    ``stats.commands`` the non-data ones, ``stats.bytes`` payload bytes.
    """

    __slots__ = ()

    def __init__(
        self,
        mtu: int = DEFAULT_KISS_MTU,
        *,
        max_frame: int | None = None,
        stats: CodecStats | None = None,
        min_frame: int = 1,
    ) -> None:
        if mtu < 1:
            raise CodecError(f"KISS MTU must be at least 1 byte, got {mtu}")
        super().__init__(mtu, max_frame=mtu + 1 if max_frame is None else max_frame, stats=stats,
                         min_frame=min_frame)  # fmt: skip

    def feed(self, data: Buffer) -> list[KissFrame]:
        """Consume line bytes; return the KISS frames they completed, oldest first."""
        if type(data) is not bytes:
            data = bytes(data)
        st = self.stats
        st.wire_bytes += len(data)
        if _FEND not in data:
            # Byte-at-a-time hot path, as SlipFramer prescribes.
            if not self._discard:
                buf = self._buf
                buf += data
                if len(buf) > self._limit:
                    self._start_discard(None)
            return []
        raws = self._frames(data, None)
        if not raws:
            return []
        out = []
        commands = 0
        for raw in raws:
            c = raw[0]
            if c == 0xFF:
                out.append(KissFrame(0, CMD_RETURN, raw[1:]))
                commands += 1
            else:
                cmd = c & 0x0F
                out.append(KissFrame(c >> 4, cmd, raw[1:]))
                if cmd:
                    commands += 1
        st.commands += commands
        st.bytes -= len(raws)  # _frames counted the command bytes as payload
        return out
