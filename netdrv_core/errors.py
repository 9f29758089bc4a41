"""Exceptions with messages a user can act on."""

from __future__ import annotations

import errno as _errno
import os as _os

__all__ = [
    "DriverError",
    "InvalidNameError",
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


class InvalidNameError(NetdrvError, ValueError):
    """An interface name the kernel would refuse (too long, a space, '/' or ':')."""


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


def strerror(err: int) -> str:
    """``os.strerror`` for any number a driver may return (``error N`` for one it has no text for)."""
    try:
        return _os.strerror(err)
    except (ValueError, OverflowError):
        return f"error {err}"


def oserror_errno(exc: OSError) -> int:
    """The positive errno of a driver's ``OSError``: ``OSError(-errno.EBUSY, …)`` (the sign
    of a C return kept) is EBUSY too; EIO when it carries none."""
    return abs(exc.errno) if isinstance(exc.errno, int) and exc.errno else _errno.EIO


def refusal_message(exc: OSError) -> str | None:
    """The driver's own words in ``OSError(errno, "why")``: Linux's extended ack.

    A driver refusing a request can say why, as a kernel driver does with
    ``NL_SET_ERR_MSG``; None when the exception carries only the errno's
    standard text (or no text).
    """
    text = exc.strerror
    if text is None and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]  # OSError("why"): words without an errno
    if not text or (isinstance(exc.errno, int) and text == strerror(abs(exc.errno))):
        return None
    return text


def refusal_text(err: int, message: str | None) -> str:
    """``Device or resource busy`` and, when the driver said why, its words after it."""
    return f"{strerror(err)}: {message}" if message else strerror(err)
