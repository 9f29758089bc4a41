"""reflector: a wire that answers ARP and ping and echoes UDP back to the sender (example plugin).

This module is the plugin.  Its docstring's first line is the summary
``netdrv drivers`` shows, read from the source without importing anything;
``netdrv_drivers`` imports the driver only when it is loaded.
"""

from __future__ import annotations

from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers() -> list[type]:
    """Offer the reflector driver."""
    from .driver import Reflector

    return [Reflector]
