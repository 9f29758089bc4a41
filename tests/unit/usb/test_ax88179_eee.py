"""EEE on the AX88179: Linux's ax88179_get_eee/ax88179_set_eee/ax88179_chk_eee on the simulated
PHY's MMD registers (MDIO_PCS_EEE_ABLE, MDIO_AN_EEE_ADV, MDIO_AN_EEE_LPABLE) and its vendor
page 3 EEE switch."""

from __future__ import annotations

import errno

import pytest
from netdrv_usbnet.codecs import ax88179 as ax
from usbnet_helpers import up, wait

from netdrv_core import Host
from netdrv_core.ethtool import EthtoolEee, EthtoolError, ethtool_get_eee, ethtool_request

BOTH = ax.ETHTOOL_100BASET_FULL | ax.ETHTOOL_1000BASET_FULL  # 0x28


def _up(host: Host, usbnet):
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    up(host, dev)
    return drv.sim_model, dev


def test_reset_advertises_no_eee_and_disables_it(host: Host, usbnet) -> None:
    m, dev = _up(host, usbnet)
    assert m.mmd[(ax.MDIO_MMD_AN, ax.MDIO_AN_EEE_ADV)] == 0 and not m.eee_enabled
    assert ethtool_get_eee(host, dev) == EthtoolEee(supported=BOTH, lp_advertised=BOTH)
    result, _ = ethtool_request(host, dev, "eee")
    assert result["supported_modes"] == ["100baseT/Full", "1000baseT/Full"]
    assert result["advertised_modes"] == []


def test_advertising_turns_eee_on_after_the_renegotiation(host: Host, usbnet) -> None:
    m, dev = _up(host, usbnet)
    # on while the link negotiated no EEE: ax88179_chk_eee says no (EOPNOTSUPP), nothing written
    with pytest.raises(EthtoolError, match="advertise the modes first") as exc:
        ethtool_request(host, dev, "eee", {"eee_enabled": True})
    assert exc.value.errno == errno.EOPNOTSUPP and not m.eee_enabled
    restarts = m.autoneg_restarts
    assert ethtool_request(host, dev, "eee", {"advertised": BOTH})[1] is True
    assert m.mmd[(ax.MDIO_MMD_AN, ax.MDIO_AN_EEE_ADV)] == ax.MDIO_EEE_100TX | ax.MDIO_EEE_1000T
    # the PHY renegotiates (the link drops and comes back); link_reset finds EEE resolved
    assert wait(host, lambda: ethtool_get_eee(host, dev).eee_active), "EEE never came up"
    assert m.autoneg_restarts == restarts + 1 and dev._carrier
    assert ethtool_get_eee(host, dev) == EthtoolEee(BOTH, BOTH, BOTH, eee_active=True,
                                                    eee_enabled=True)  # fmt: skip
    # off: the PHY's EEE switch off (page 3); on again: it is switched on
    assert ethtool_request(host, dev, "eee", {"eee_enabled": False})[0]["eee_enabled"] is False
    assert not m.eee_enabled and m.paged[(ax.GMII_PHY_PGSEL_PAGE3, ax.MII_PHYADDR)] == 0x3246
    assert ethtool_request(host, dev, "eee", {"eee_enabled": True})[1] is True
    assert m.eee_enabled and m.paged[(ax.GMII_PHY_PGSEL_PAGE5, ax.MII_BMSR)] == 0x0680
    assert m.phy[ax.GMII_PHY_PAGE_SELECT] == 0, "back on page 0"
    assert wait(host, lambda: dev._carrier), "the link is back after the renegotiation"


def test_a_partner_without_eee_leaves_it_inactive(host: Host, usbnet) -> None:
    m, dev = _up(host, usbnet)
    m.peer_eee = 0
    ethtool_request(host, dev, "eee", {"advertised": BOTH})
    assert ethtool_get_eee(host, dev).lp_advertised == 0
    with pytest.raises(EthtoolError) as exc:
        ethtool_request(host, dev, "eee", {"eee_enabled": True})
    assert exc.value.errno == errno.EOPNOTSUPP
    assert not ethtool_get_eee(host, dev).eee_active
