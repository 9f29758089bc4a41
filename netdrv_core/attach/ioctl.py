"""ioctl request numbers computed for the running architecture (``_IOC`` encoding).

x86, ARM, RISC-V and most others use the generic layout (2 direction bits, 14
size bits, WRITE=1, READ=2); Alpha, MIPS, PowerPC and SPARC use 3 direction
bits, 13 size bits, NONE=1, READ=2, WRITE=4.

Also the ``SIOCETHTOOL`` structures netdrv uses to read and set a link's features
(``ethtool -k``/``-K`` over the legacy ioctl), packed and parsed here without I/O.
"""

from __future__ import annotations

import platform
import struct
from dataclasses import dataclass

__all__ = [
    "IOC",
    "IOR",
    "IOW",
    "FeatureWords",
    "pack_gfeatures",
    "pack_gstrings",
    "pack_sfeatures",
    "pack_sset_info",
    "parse_gfeatures",
    "parse_gstrings",
    "parse_sset_info",
]

_machine = platform.machine().lower()
if _machine.startswith(("mips", "ppc", "powerpc", "sparc", "alpha")):
    _NONE, _READ, _WRITE, _SIZEBITS = 1, 2, 4, 13
else:
    _NONE, _READ, _WRITE, _SIZEBITS = 0, 2, 1, 14
_NRSHIFT = 0
_TYPESHIFT = 8
_SIZESHIFT = 16
_DIRSHIFT = _SIZESHIFT + _SIZEBITS


def IOC(direction: int, type_: str, nr: int, size: int) -> int:
    """``_IOC(dir, type, nr, size)``."""
    return (
        (direction << _DIRSHIFT)
        | (ord(type_) << _TYPESHIFT)
        | (nr << _NRSHIFT)
        | (size << _SIZESHIFT)
    )


def IOW(type_: str, nr: int, size: int) -> int:
    """``_IOW(type, nr, size)``."""
    return IOC(_WRITE, type_, nr, size)


def IOR(type_: str, nr: int, size: int) -> int:
    """``_IOR(type, nr, size)``."""
    return IOC(_READ, type_, nr, size)


INT = 4
TUNSETIFF = IOW("T", 202, INT)
TUNSETPERSIST = IOW("T", 203, INT)
TUNSETOWNER = IOW("T", 204, INT)
TUNSETOFFLOAD = IOW("T", 208, INT)
TUNGETIFF = IOR("T", 210, INT)
TUNSETSNDBUF = IOW("T", 212, INT)
TUNSETVNETHDRSZ = IOW("T", 216, INT)
TUNSETCARRIER = IOW("T", 226, INT)

# -- SIOCETHTOOL: a link's features (include/uapi/linux/ethtool.h) ---------------------------
SIOCETHTOOL = 0x8946
ETHTOOL_GSTRINGS = 0x1B
ETHTOOL_GSSET_INFO = 0x37
ETHTOOL_GFEATURES = 0x3A
ETHTOOL_SFEATURES = 0x3B
ETH_SS_FEATURES = 4
ETH_GSTRING_LEN = 32
_SSET_INFO = struct.Struct("=IIQ")  # cmd, reserved, sset_mask; then u32 data[]
_GSTRINGS = struct.Struct("=III")  # cmd, string_set, len; then len * 32 bytes
_FEATURES = struct.Struct("=II")  # cmd, size (u32 words); then the blocks
_GET_BLOCK = struct.Struct("=IIII")  # available, requested, active, never_changed
_SET_BLOCK = struct.Struct("=II")  # valid, requested


@dataclass(frozen=True)
class FeatureWords:
    """``ETHTOOL_GFEATURES``: bit ``i`` of each mask is the feature named by string ``i``."""

    words: int  # the kernel's ETHTOOL_DEV_FEATURE_WORDS (what ETHTOOL_SFEATURES must give)
    available: int  # hw_features: what ``ethtool -K`` may change
    requested: int  # wanted_features
    active: int  # features
    never_changed: int


def pack_sset_info(string_set: int) -> bytes:
    """``struct ethtool_sset_info`` asking for the size of one string set."""
    return _SSET_INFO.pack(ETHTOOL_GSSET_INFO, 0, 1 << string_set) + b"\0" * 4


def parse_sset_info(buf: bytes, string_set: int) -> int | None:
    """The string count of :func:`pack_sset_info`'s answer; None if the kernel has no such set."""
    if len(buf) < _SSET_INFO.size + 4:
        raise ValueError(f"ethtool_sset_info of {len(buf)} bytes; expected {_SSET_INFO.size + 4}")
    _cmd, _res, mask = _SSET_INFO.unpack_from(buf)
    if not mask >> string_set & 1:
        return None
    return int(struct.unpack_from("=I", buf, _SSET_INFO.size)[0])


def pack_gstrings(string_set: int, count: int) -> bytes:
    """``struct ethtool_gstrings`` with room for ``count`` names."""
    return _GSTRINGS.pack(ETHTOOL_GSTRINGS, string_set, count) + bytes(count * ETH_GSTRING_LEN)


def parse_gstrings(buf: bytes) -> list[str]:
    """The names of :func:`pack_gstrings`'s answer, in bit order (as many as the buffer holds)."""
    if len(buf) < _GSTRINGS.size:
        raise ValueError(f"ethtool_gstrings of {len(buf)} bytes; expected {_GSTRINGS.size} or more")
    count = _GSTRINGS.unpack_from(buf)[2]
    count = min(count, (len(buf) - _GSTRINGS.size) // ETH_GSTRING_LEN)
    out = []
    for i in range(count):
        off = _GSTRINGS.size + i * ETH_GSTRING_LEN
        raw = buf[off : off + ETH_GSTRING_LEN].split(b"\0", 1)[0]
        out.append(raw.decode("ascii", errors="replace"))
    return out


def pack_gfeatures(words: int) -> bytes:
    """``struct ethtool_gfeatures`` with room for ``words`` blocks."""
    return _FEATURES.pack(ETHTOOL_GFEATURES, words) + bytes(words * _GET_BLOCK.size)


def parse_gfeatures(buf: bytes) -> FeatureWords:
    """:func:`pack_gfeatures`'s answer; ``words`` is the kernel's count (it may exceed the
    blocks the buffer had room for: those bits read as 0)."""
    if len(buf) < _FEATURES.size:
        raise ValueError(f"ethtool_gfeatures of {len(buf)} bytes; expected {_FEATURES.size}+")
    words = _FEATURES.unpack_from(buf)[1]
    masks = [0, 0, 0, 0]
    for i in range(min(words, (len(buf) - _FEATURES.size) // _GET_BLOCK.size)):
        block = _GET_BLOCK.unpack_from(buf, _FEATURES.size + i * _GET_BLOCK.size)
        for j, value in enumerate(block):
            masks[j] |= value << (32 * i)
    return FeatureWords(words, *masks)


def pack_sfeatures(words: int, valid: int, requested: int) -> bytes:
    """``struct ethtool_sfeatures``: set the ``valid`` bits of the link's requested features to
    those of ``requested``; ``words`` must be the kernel's (:attr:`FeatureWords.words`)."""
    if valid >> (32 * words) or requested & ~valid:
        raise ValueError(f"feature masks {valid:#x}/{requested:#x} do not fit {words} words "
                         "(or request bits that are not valid)")  # fmt: skip
    blocks = b"".join(
        _SET_BLOCK.pack(valid >> (32 * i) & 0xFFFFFFFF, requested >> (32 * i) & 0xFFFFFFFF)
        for i in range(words)
    )
    return _FEATURES.pack(ETHTOOL_SFEATURES, words) + blocks
