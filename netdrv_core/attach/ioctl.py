"""ioctl request numbers computed for the running architecture (``_IOC`` encoding).

x86, ARM, RISC-V and most others use the generic layout (2 direction bits, 14
size bits, WRITE=1, READ=2); Alpha, MIPS, PowerPC and SPARC use 3 direction
bits, 13 size bits, NONE=1, READ=2, WRITE=4.
"""

from __future__ import annotations

import platform

__all__ = ["IOC", "IOR", "IOW"]

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
