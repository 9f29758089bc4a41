"""EEE on the AX88179: Linux's ax88179_get_eee/ax88179_set_eee/ax88179_chk_eee on the simulated
PHY's MMD registers (MDIO_PCS_EEE_ABLE, MDIO_AN_EEE_ADV, MDIO_AN_EEE_LPABLE) and its vendor
page 3 EEE switch."""

from __future__ import annotations

import errno
import threading

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


def _mmd(un, devad: int, function: int, addr: int | None = None) -> None:
    """IEEE 802.3 annex 22D: the address function (MII_MMD_CTRL bits 15:14 = 00) and the
    MMD's address, then ``function`` (01 data, 10 post-increment, 11 on writes only)."""
    info = un.info
    if addr is not None:
        info.write_phy(un, ax.MII_MMD_CTRL, devad)
        info.write_phy(un, ax.MII_MMD_DATA, addr)
    info.write_phy(un, ax.MII_MMD_CTRL, function << 14 | devad)


def test_each_mmd_keeps_its_own_address_register(host: Host, usbnet) -> None:
    """Annex 22D/45.2: the address written goes to the address register of the MMD that
    DEVAD selects; another MMD's stays as it was."""
    _, dev = _up(host, usbnet)
    un = dev.priv
    _mmd(un, ax.MDIO_MMD_PCS, 0, ax.MDIO_PCS_EEE_ABLE)
    _mmd(un, ax.MDIO_MMD_AN, 0, ax.MDIO_AN_EEE_LPABLE)
    _mmd(un, ax.MDIO_MMD_PCS, 1)  # data, PCS: its address is still EEE_ABLE
    assert un.info.read_phy(un, ax.MII_MMD_DATA) == ax.MDIO_EEE_100TX | ax.MDIO_EEE_1000T
    _mmd(un, ax.MDIO_MMD_AN, 0)  # the address function reads the AN MMD's address back
    assert un.info.read_phy(un, ax.MII_MMD_DATA) == ax.MDIO_AN_EEE_LPABLE


def test_post_increment_functions(host: Host, usbnet) -> None:
    """Function 10 increments the MMD's address after each read or write, 11 after each
    write only, 01 never."""
    m, dev = _up(host, usbnet)
    un = dev.priv
    read = lambda: un.info.read_phy(un, ax.MII_MMD_DATA)  # noqa: E731
    m.mmd[(ax.MDIO_MMD_AN, ax.MDIO_AN_EEE_ADV)] = ax.MDIO_EEE_1000T
    _mmd(un, ax.MDIO_MMD_AN, 2, ax.MDIO_AN_EEE_ADV)
    assert [read(), read()] == [ax.MDIO_EEE_1000T, m.peer_eee]  # ADV (60), then LPABLE (61)
    _mmd(un, ax.MDIO_MMD_AN, 3, ax.MDIO_AN_EEE_ADV)
    assert [read(), read()] == [ax.MDIO_EEE_1000T, ax.MDIO_EEE_1000T]  # reads: no increment
    un.info.write_phy(un, ax.MII_MMD_DATA, ax.MDIO_EEE_100TX)  # ADV, then on to 61
    assert m.mmd[(ax.MDIO_MMD_AN, ax.MDIO_AN_EEE_ADV)] == ax.MDIO_EEE_100TX
    assert read() == m.peer_eee
    _mmd(un, ax.MDIO_MMD_AN, 1, ax.MDIO_AN_EEE_ADV)
    assert [read(), read()] == [ax.MDIO_EEE_100TX, ax.MDIO_EEE_100TX]


def test_a_vendor_page_sequence_keeps_other_phy_access_out(
    host: Host, usbnet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ethtool --set-eee (the loop) selects vendor page 3 while link_reset (the kevent
    worker) may read PHYSR: that read must not land on page 3 — a multi-register PHY
    sequence (page select, MMD indirect access) holds the PHY until it is done."""
    _, dev = _up(host, usbnet)
    un = dev.priv
    seen: list[int] = []
    done = threading.Event()
    ctrl_out = un.ctrl_out

    def reader() -> None:
        seen.append(un.info.read_phy(un, ax.GMII_PHY_PHYSR))
        done.set()

    def spy(rtype: int, req: int, value: int, index: int, data: bytes = b"") -> None:
        ctrl_out(rtype, req, value, index, data)
        page3 = index == ax.GMII_PHY_PAGE_SELECT and data[:1] == bytes([ax.GMII_PHY_PGSEL_PAGE3])
        if req == ax.AX_ACCESS_PHY and page3 and not seen and not done.is_set():
            threading.Thread(target=reader, daemon=True).start()
            done.wait(0.5)  # an unserialised read lands now, on page 3

    monkeypatch.setattr(un, "ctrl_out", spy)
    un.info._disable_eee(un)
    assert done.wait(5)
    link, speed, full = ax.decode_physr(seen[0])
    assert (link, speed, full) == (True, 1000, True), f"PHYSR read as {seen[0]:#06x}"
