"""``netdrv ethtool usb0`` on the AX88179 reports what Linux's ``mii_ethtool_get_link_ksettings``
(its ``get_link_ksettings``) does: ``Port: MII`` (``PORT_MII``), and with autonegotiation on
but no link (no ``BMSR_ANEGCOMPLETE``: nothing negotiated) 10 Mbit/s half duplex — not the
speed of a link that is gone."""

from __future__ import annotations

from typing import Any

from usbnet_helpers import up, wait

from netdrv_core.ethtool import ethtool_request


def _link(host: Any, dev: Any) -> tuple[Any, ...]:
    s = ethtool_request(host, dev, "settings")[0]
    return (s["port"], s["autoneg"], s["speed"], s["duplex"])


def test_the_port_is_mii_and_a_link_that_went_down_has_no_negotiated_speed(
    host: Any, usbnet: Any
) -> None:
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    up(host, dev)
    assert _link(host, dev) == ("mii", True, 1000, "full")
    drv.sim_model.set_link(False)  # the cable pulled out
    assert wait(host, lambda: not dev._carrier)
    assert _link(host, dev) == ("mii", True, 10, "half")
    drv.sim_model.set_link(True)
    assert wait(host, lambda: dev._carrier)
    assert _link(host, dev) == ("mii", True, 1000, "full")


def test_cdc_functions_keep_the_zeroed_port(host: Any, usbnet: Any) -> None:
    drv = usbnet(sim="cdc_ncm")
    (dev,) = drv.devices
    assert _link(host, dev)[0] == "other"
