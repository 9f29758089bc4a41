"""The slip driver loaded on a host as the daemon loads it (init, then configure)."""

from __future__ import annotations

from typing import Any

from netdrv_core import Host, PluginManager
from netdrv_core.params import parse_params


def load_slip(host: Host, **params: str) -> Any:
    """``netdrv load slip`` with ``params`` on ``host``; the driver."""
    pm = PluginManager()
    cls = pm.get_driver("slip")
    drv = cls(host, parse_params("slip", pm.driver_parameters("slip"), params))
    with host.as_current():
        drv.init()
        drv.configure()
    return drv
