"""Shared pieces of the USB framing codecs: errors, counters and small helpers.

Nothing here performs I/O.  The error policy of every codec in this package is:

* **Decoders never raise on malformed device input.**  They count the problem in
  their ``stats`` object and return whatever was valid (following Linux usbnet:
  a malformed *header* drops the whole transfer; a malformed *datagram entry*
  drops that entry and whatever follows it in the same table).
* :class:`FramingError` is raised only by *encoders* and parsers whose
  docstrings say so, for caller mistakes (a frame that can never fit, an empty
  frame, a parameter block that is too short to parse).
* :class:`DescriptorError` is raised only by the descriptor parsers in
  :mod:`netdrv_usbnet.codecs.cdc_ecm` (and :func:`parse_mac_string`), because
  a device with broken descriptors cannot be bound at all and the caller must
  refuse it with a clear message.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

__all__ = [
    "ETH_ALEN",
    "ETH_HLEN",
    "BytesLike",
    "CodecStats",
    "DescriptorError",
    "FramingError",
    "UsbCodecError",
    "as_bytes",
    "ether_crc",
    "needs_zlp",
]

ETH_ALEN = 6
"""Length of an Ethernet (MAC) address."""

ETH_HLEN = 14
"""Length of an Ethernet header; no valid frame is shorter."""

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""What decoders accept as a transfer."""


class UsbCodecError(ValueError):
    """Base class of the (few, documented) exceptions raised by the USB codecs."""


class FramingError(UsbCodecError):
    """A framing request that cannot be satisfied (raised by encoders/parsers that document it).

    Examples: an empty frame handed to an encoder, a frame larger than any
    transfer the device accepts, a parameter block shorter than its fixed size.
    Never raised by ``decode()`` methods.
    """


class DescriptorError(UsbCodecError):
    """Malformed or inconsistent USB class descriptors (raised by descriptor parsers)."""


@dataclasses.dataclass
class CodecStats:
    """Counters common to all receive decoders (names follow Linux ``rtnl_link_stats64``).

    ``rx_errors`` is incremented once per error *event* (a dropped transfer or a
    rejected datagram); the more specific counters say why.  Subclasses add
    codec-specific counters.  All fields are plain ``int``.
    """

    rx_transfers: int = 0
    rx_frames: int = 0
    rx_bytes: int = 0
    rx_errors: int = 0
    rx_length_errors: int = 0
    rx_frame_errors: int = 0
    rx_crc_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return all counters as a ``{name: value}`` dict (a copy)."""
        return dict(vars(self))

    def reset(self) -> None:
        """Set every counter back to zero."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, 0)

    def bump(self, *names: str, n: int = 1) -> None:
        """Increment each named counter by *n*."""
        for name in names:
            setattr(self, name, getattr(self, name) + n)


def as_bytes(data: Any) -> bytes:
    """Return *data* (bytes-like or a sequence of ints, e.g. pyusb's ``extra_descriptors``) as bytes."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if data is None:
        return b""
    return bytes(data)  # list[int], array('B'), ...


def needs_zlp(length: int, max_packet: int) -> bool:
    """Return True when a bulk OUT transfer of *length* bytes must be terminated explicitly.

    USB ends a bulk transfer with a *short* packet.  A non-empty transfer whose
    length is an exact multiple of the endpoint's ``wMaxPacketSize`` ends with a
    full packet, so the device keeps waiting and the transfer merges with the
    next one.  The sender must then either send a zero-length packet (pyusb:
    ``dev.write(ep, b"")``) or append one padding byte (what Linux usbnet does
    for drivers without ``FLAG_SEND_ZLP``).  That decision belongs to the
    driver core; this helper only answers the arithmetic question.

    >>> needs_zlp(512, 512), needs_zlp(513, 512), needs_zlp(0, 64)
    (True, False, False)
    """
    if max_packet <= 0:
        raise ValueError("max_packet must be positive")
    return length > 0 and length % max_packet == 0


def _bitrev32(x: int) -> int:
    return int(f"{x & 0xFFFFFFFF:032b}"[::-1], 2)


def ether_crc(data: bytes | Sequence[int]) -> int:
    """Linux ``ether_crc()``: big-endian CRC-32 of *data* without final inversion.

    Equal to ``bitrev32(crc32_le(~0, data))``.  Used by multicast hash filters
    (``ether_crc(ETH_ALEN, addr) >> 26`` selects one of 64 bits).
    """
    crc_le = zlib.crc32(bytes(data)) ^ 0xFFFFFFFF  # crc32_le(~0, ...) without final xor
    return _bitrev32(crc_le)


def is_multicast_ether(addr: bytes | Sequence[int]) -> bool:
    """True if the group bit of the first octet is set (includes broadcast)."""
    return len(addr) >= 1 and bool(addr[0] & 0x01)


def is_broadcast_ether(addr: bytes | Sequence[int]) -> bool:
    """True for ff:ff:ff:ff:ff:ff."""
    return bytes(addr[:6]) == b"\xff" * 6


def chunks(data: bytes, size: int) -> Iterable[bytes]:
    """Yield *data* in pieces of *size* bytes (the last may be shorter)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]
