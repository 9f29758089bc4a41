"""usbnet: USB Ethernet adapters (CDC-ECM, CDC-NCM, ASIX AX88179) over pyusb, with hotplug and a simulator.

The usbnet core (:mod:`.core`), its minidrivers (:mod:`.cdc_ether`,
:mod:`.cdc_ncm`, :mod:`.ax88179`), the id table (:mod:`.ids`), the driver
(:mod:`.driver`, parameters and hotplug), the sans-I/O codecs
(:mod:`.codecs`) and the simulated adapters behind a pyusb backend
(:mod:`.sim`, their cable's kernel end in :mod:`.simwire`).  Nothing heavy is
imported until the driver is loaded.
"""

from __future__ import annotations

from typing import Any

from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers() -> list[type]:
    """Offer the usbnet driver."""
    from .driver import Usbnet

    return [Usbnet]


@hookimpl
def netdrv_probe(bus: str, device: Any) -> Any:
    """USB id-table match for a pyusb device: the minidriver class, or None (deny / no match)."""
    if bus != "usb":
        return None
    from .ids import match_device

    try:
        m = match_device(device)
    except Exception:
        return None
    return m.info if m is not None else None
