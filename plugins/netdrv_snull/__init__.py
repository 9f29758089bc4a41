"""snull: the LDD "Simple Network Utility" pair sn0/sn1 that loops traffic back with flipped addresses."""

from __future__ import annotations

from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers() -> list[type]:
    """Offer the snull driver."""
    from .driver import Snull

    return [Snull]
