"""``ethtool -s`` on usbnet: the AX88179 forces its PHY (MII BMCR) and the simulated chip follows."""

from __future__ import annotations

import errno

import pytest
from netdrv_usbnet.codecs import ax88179 as ax
from usbnet_helpers import BCAST, frame, received, up, wait

from netdrv_core import Host
from netdrv_core.ethtool import (
    DUPLEX_FULL,
    DUPLEX_HALF,
    EthtoolError,
    ethtool_request,
    ethtool_set_link_ksettings,
)


def _settings(host: Host, dev) -> tuple[int, str, bool]:
    r, _ = ethtool_request(host, dev, "settings")
    return r["speed"], r["duplex"], r["autoneg"]


def test_ax88179_forces_speed_and_duplex_through_the_phy(host, usbnet):
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    un = dev.priv
    up(host, dev)
    assert _settings(host, dev) == (1000, "full", True)
    changes = un.counters["link_changes"]

    forced = {"speed": 100, "duplex": DUPLEX_HALF, "autoneg": False}
    assert ethtool_set_link_ksettings(host, dev, forced) is True
    # Reported at once from BMCR, as mii_ethtool_get_link_ksettings does.
    assert _settings(host, dev) == (100, "half", False)
    # The PHY renegotiates (link down, up); link_reset programs the medium for 100/half.
    assert wait(host, lambda: un.speed_bps == 100_000_000 and un.duplex == DUPLEX_HALF
                and dev._carrier)  # fmt: skip
    assert m.phy[ax.MII_BMCR] == ax.BMCR_SPEED100
    assert m.link_mode() == (100, False)
    assert m.medium_mode == ax.medium_mode(100, False)
    assert un.counters["link_changes"] == changes + 2
    m.wire_rx(frame(BCAST, 100, tag=7))  # still receiving in the forced mode
    assert [f[14] for f in received(host, dev, 1)] == [7]

    # Only the field given changes: still forced, 100 Mbit/s, now full duplex.
    assert ethtool_set_link_ksettings(host, dev, {"duplex": DUPLEX_FULL}) is True
    assert _settings(host, dev) == (100, "full", False)
    assert wait(host, lambda: un.duplex == DUPLEX_FULL and dev._carrier)
    assert m.phy[ax.MII_BMCR] == ax.BMCR_SPEED100 | ax.BMCR_FULLDPLX
    assert m.medium_mode == ax.medium_mode(100, True)

    # Back to autonegotiation: the cable's gigabit again.
    assert ethtool_set_link_ksettings(host, dev, {"autoneg": True}) is True
    assert wait(host, lambda: un.speed_bps == 1_000_000_000 and dev._carrier)
    assert _settings(host, dev) == (1000, "full", True)
    assert m.phy[ax.MII_BMCR] & ax.BMCR_ANENABLE
    assert m.medium_mode & ax.AX_MEDIUM_GIGAMODE
    assert ethtool_set_link_ksettings(host, dev, {"autoneg": True}) is False  # nothing to do


@pytest.mark.parametrize(
    ("changes", "shown"),
    [({"speed": 2500, "autoneg": False}, "speed 2500Mb/s, duplex full, autoneg off"),
     ({"speed": 1000, "duplex": DUPLEX_HALF, "autoneg": False}, None)],
)  # fmt: skip
def test_ax88179_refuses_what_mii_cannot_force(host, usbnet, changes, shown):
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    if shown is None:  # mii lets a GMII PHY be forced to 1000 (half, even)
        assert ethtool_set_link_ksettings(host, dev, changes) is True
        assert wait(host, lambda: m.phy[ax.MII_BMCR] == ax.BMCR_SPEED1000)
        return
    with pytest.raises(EthtoolError) as info:
        ethtool_set_link_ksettings(host, dev, changes)
    assert info.value.errno == errno.EINVAL
    assert str(info.value) == f"usb0: cannot set link settings ({shown}): Invalid argument"
    assert _settings(host, dev) == (1000, "full", True)
    assert m.phy[ax.MII_BMCR] & ax.BMCR_ANENABLE


def test_a_minidriver_without_phy_control_has_no_set_link_ksettings(host, usbnet):
    drv = usbnet(sim="cdc_ether")
    (dev,) = drv.devices
    up(host, dev)
    with pytest.raises(EthtoolError, match="usb0 does not support changing link settings") as e:
        ethtool_set_link_ksettings(host, dev, {"speed": 100, "autoneg": False})
    assert e.value.errno == errno.EOPNOTSUPP


def test_ax88179_restarts_autonegotiation(host, usbnet):
    """``ethtool -r``: Linux's ax88179_ethtool_ops has ``usbnet_nway_reset`` →
    ``mii_nway_restart``: BMCR_ANRESTART written when autoneg is on, EINVAL when it is off."""
    from netdrv_core.ethtool import ethtool_nway_reset

    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    before = m.autoneg_restarts
    ethtool_nway_reset(host, dev)
    assert wait(host, lambda: m.autoneg_restarts == before + 1), "ANRESTART reached the PHY"
    assert m.phy[ax.MII_BMCR] & ax.BMCR_ANENABLE

    assert ethtool_set_link_ksettings(host, dev, {"speed": 100, "duplex": DUPLEX_FULL,
                                                  "autoneg": False}) is True  # fmt: skip
    assert wait(host, lambda: m.phy[ax.MII_BMCR] == ax.BMCR_SPEED100 | ax.BMCR_FULLDPLX)
    with pytest.raises(EthtoolError) as e:
        ethtool_nway_reset(host, dev)
    assert e.value.errno == errno.EINVAL
    assert str(e.value) == "usb0: cannot restart autonegotiation: Invalid argument"
    assert m.autoneg_restarts == before + 1


def test_cdc_functions_cannot_restart_autonegotiation(host, usbnet):
    """``usbnet_nway_reset`` without an MII: EOPNOTSUPP."""
    from netdrv_core.ethtool import ethtool_nway_reset

    drv = usbnet(sim="cdc_ncm")
    (dev,) = drv.devices
    with pytest.raises(EthtoolError, match="usb0 does not support restarting autoneg") as e:
        ethtool_nway_reset(host, dev)
    assert e.value.errno == errno.EOPNOTSUPP
