"""Exceptions with messages a user can act on."""

from __future__ import annotations

import errno as _errno

__all__ = [
    "DriverError",
    "NameInUseError",
    "NetdrvError",
    "NotPermittedError",
    "ParameterError",
    "PluginError",
]


class NetdrvError(Exception):
    """Base class of every error netdrv raises on purpose."""

    errno: int = _errno.EINVAL


class NameInUseError(NetdrvError):
    """An interface name is already taken (the kernel's EEXIST/EBUSY)."""

    errno = _errno.EEXIST


class NotPermittedError(NetdrvError):
    """The operation needs CAP_NET_ADMIN (or access to a port/device)."""

    errno = _errno.EPERM


class ParameterError(NetdrvError):
    """A driver parameter is unknown or ill-typed."""


class PluginError(NetdrvError):
    """A plugin failed to load or misbehaved; the message names the distribution."""


class DriverError(NetdrvError):
    """A driver operation failed (its errno is kept in ``errno``)."""

    def __init__(self, message: str, err: int = _errno.EIO) -> None:
        super().__init__(message)
        self.errno = err
