"""Shared pieces of the sans-I/O serial codecs: counters, the error type, protocols.

Every codec in this package is a pure object: bytes in, frames out. None of
them reads or writes a port; the link driver owns the I/O and hands the bytes
it read to ``feed()`` and writes what ``encode()`` returns.

Decoder contract (see :class:`Decoder`):

* ``feed(data)`` returns every frame completed by ``data`` (maybe none) and
  never raises on garbage: malformed input is counted in :class:`CodecStats`.
* Splitting the same input into chunks differently gives the same frames and
  the same counters.
* The internal buffer is bounded by the frame limit plus a small constant,
  whatever is fed, and the work per fed byte is O(1) amortised.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

__all__ = [
    "Buffer",
    "CodecError",
    "CodecStats",
    "Decoder",
    "Encoder",
    "PacketDecoder",
    "PacketEncoder",
]

#: What ``feed()`` and ``encode()`` accept.
Buffer = bytes | bytearray | memoryview


class CodecError(ValueError):
    """A documented codec error: a request that cannot be encoded (too large, empty, bad field).

    Decoders never raise it for received data; they count problems instead.
    """


@dataclass(slots=True)
class CodecStats:
    """Counters of one codec object (decoder or encoder side).

    Error counters count *frames*, once per bad frame, except ``garbage_bytes``.
    ``dropped`` is the total of frames discarded for any reason, so
    ``frames + dropped`` is every frame the peer attempted to send (as far as
    the framing can tell).
    """

    #: Frames delivered by ``feed()`` (decoder) or produced by ``encode()`` (encoder).
    frames: int = 0
    #: Payload bytes of those frames (after unescaping / before escaping).
    bytes: int = 0
    #: Raw line bytes fed to the decoder or produced by the encoder.
    wire_bytes: int = 0
    #: Malformed frames: bad escape, impossible length, undecodable VJ header.
    framing_errors: int = 0
    #: Frames longer than the configured limit (their rest is skipped).
    overruns: int = 0
    #: Frames whose checksum did not match (PLIP-like framing).
    checksum_errors: int = 0
    #: Frames with an escape byte not followed by a valid escape code.
    escape_errors: int = 0
    #: VJ packets sent or received as COMPRESSED_TCP.
    compressed: int = 0
    #: VJ packets sent or received as UNCOMPRESSED_TCP.
    uncompressed: int = 0
    #: Compressed VJ packets discarded while waiting to resynchronise.
    tossed: int = 0
    #: Frames discarded for any reason (errors, tosses, unwanted ports/commands).
    dropped: int = 0
    #: KISS command (non-data) frames seen.
    commands: int = 0
    #: Bytes skipped while hunting for a frame start (PLIP-like resync).
    garbage_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        """All counters as a plain ``{name: value}`` dict."""
        return {name: getattr(self, name) for name in _FIELDS}

    def reset(self) -> None:
        """Zero every counter."""
        for name in _FIELDS:
            setattr(self, name, 0)

    def __add__(self, other: CodecStats) -> CodecStats:
        """Field-wise sum (used to summarise stacked codecs)."""
        if not isinstance(other, CodecStats):
            return NotImplemented
        return CodecStats(*[getattr(self, n) + getattr(other, n) for n in _FIELDS])


# Computed once: dataclasses.fields() is slow, and stacked codecs sum stats on every read.
_FIELDS = tuple(f.name for f in fields(CodecStats))


@runtime_checkable
class Decoder(Protocol):
    """A framing decoder: raw line bytes in, complete frames out."""

    stats: CodecStats

    def feed(self, data: Buffer) -> list:
        """Consume ``data``; return the frames it completed (possibly an empty list)."""
        ...

    def reset(self) -> None:
        """Forget any partial frame (e.g. after the port was reopened)."""
        ...


@runtime_checkable
class Encoder(Protocol):
    """A framing encoder: one frame in, the bytes to write out."""

    stats: CodecStats

    def encode(self, frame: Buffer) -> bytes:
        """Return the wire bytes of ``frame``; raise :class:`CodecError` if it cannot be sent."""
        ...


@runtime_checkable
class PacketEncoder(Protocol):
    """The link-driver view of a mode's transmit side: IP packet in, wire bytes out."""

    @property
    def stats(self) -> CodecStats:
        """Counters (for stacked codecs a fresh summary snapshot on each access)."""
        ...

    def encode(self, ip_packet: Buffer) -> bytes:
        """Return the wire bytes for ``ip_packet``; raise :class:`CodecError` if it cannot be sent."""
        ...


@runtime_checkable
class PacketDecoder(Protocol):
    """The link-driver view of a mode's receive side: wire bytes in, IP packets out."""

    @property
    def stats(self) -> CodecStats:
        """Counters (for stacked codecs a fresh summary snapshot on each access)."""
        ...

    def feed(self, data: Buffer) -> list[bytes]:
        """Consume line bytes; return the IP packets they completed."""
        ...

    def reset(self) -> None:
        """Forget partial frames and compression state."""
        ...
