"""loopback: every transmitted frame comes back in (Linux loopback.c), as nlo%d."""

from __future__ import annotations

from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers() -> list[type]:
    """Offer the loopback driver."""
    from .driver import Loopback

    return [Loopback]
