"""ethtool: the driver-information and link-settings interface.

A driver sets ``dev.ethtool_ops`` to an :class:`EthtoolOps` subclass; netdrv's
``status``/``ethtool`` views call these.  Defaults derive what they can from
the device so a minimal driver still answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .netdevice import NetDevice

__all__ = ["DUPLEX_FULL", "DUPLEX_HALF", "SPEED_UNKNOWN", "DrvInfo", "EthtoolOps", "LinkSettings"]

SPEED_UNKNOWN = -1
DUPLEX_HALF = 0
DUPLEX_FULL = 1
DUPLEX_UNKNOWN = 0xFF


@dataclass
class DrvInfo:
    """``ethtool -i``."""

    driver: str
    version: str = ""
    fw_version: str = ""
    bus_info: str = ""


@dataclass
class LinkSettings:
    """``ethtool DEV``: speed in Mbit/s, duplex, autoneg, port."""

    speed: int = SPEED_UNKNOWN
    duplex: int = DUPLEX_UNKNOWN
    autoneg: bool = False
    port: str = "other"
    extra: dict[str, object] = field(default_factory=dict)


class EthtoolOps:
    """``ethtool_ops``: override what the device can report."""

    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        """Driver name/version/bus."""
        drv = dev.driver
        return DrvInfo(driver=getattr(drv, "name", "unknown"), version=getattr(drv, "version", ""))

    def get_link(self, dev: NetDevice) -> bool:
        """Link detected (default: the carrier)."""
        from .netdevice import netif_carrier_ok

        return netif_carrier_ok(dev)

    def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
        """Speed/duplex."""
        return LinkSettings()

    def get_strings(self, dev: NetDevice) -> list[str]:
        """Names of the driver's private statistics (``ethtool -S``)."""
        return []

    def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
        """Values of the private statistics, in :meth:`get_strings` order."""
        return []

    def get_msglevel(self, dev: NetDevice) -> int:
        """Debug message level."""
        return 0


def ethtool_report(dev: NetDevice) -> dict[str, object]:
    """Everything ethtool knows about ``dev`` as a dict (for ``netdrv status --json``)."""
    ops = dev.ethtool_ops or EthtoolOps()
    info = ops.get_drvinfo(dev)
    ks = ops.get_link_ksettings(dev)
    return {
        "driver": info.driver,
        "version": info.version,
        "bus_info": info.bus_info,
        "link": ops.get_link(dev),
        "speed": ks.speed,
        "duplex": {DUPLEX_FULL: "full", DUPLEX_HALF: "half"}.get(ks.duplex, "unknown"),
        "stats": dict(zip(ops.get_strings(dev), ops.get_ethtool_stats(dev), strict=False)),
    }
