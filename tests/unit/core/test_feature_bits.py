"""Feature and GSO-type bits are Linux's numbers, so a mask a driver author copies from a
Linux driver means the same here (include/linux/netdev_features.h, the NETIF_F_*_BIT enum
of Linux 6.x: LLTX is 12, which 6.12 left unused rather than renumber; and the SKB_GSO_*
enum of include/linux/skbuff.h)."""

from __future__ import annotations

import pytest

from netdrv_core import netdevice, skbuff
from netdrv_core.ethtool import NETDEV_FEATURE_NAMES

# NETIF_F_*_BIT: the enum's position of every feature netdrv names.
_LINUX_FEATURE_BITS = {
    "SG": 0, "IP_CSUM": 1, "HW_CSUM": 3, "IPV6_CSUM": 4, "HIGHDMA": 5,
    "HW_VLAN_CTAG_TX": 7, "HW_VLAN_CTAG_RX": 8, "HW_VLAN_CTAG_FILTER": 9,
    "GSO": 11, "LLTX": 12, "GRO": 14, "LRO": 15,
    "TSO": 16, "TSO_ECN": 18, "TSO_MANGLEID": 19, "TSO6": 20, "GSO_UDP_L4": 33,
    "NTUPLE": 38, "RXHASH": 39, "RXCSUM": 40, "LOOPBACK": 42,
}  # fmt: skip
# SKB_GSO_* and the feature each maps to (NETIF_F_GSO_SHIFT: "keep the order of SKB_GSO_*").
_LINUX_GSO_BITS = {"TCPV4": (0, "TSO"), "TCP_ECN": (2, "TSO_ECN"),
                   "TCP_FIXEDID": (3, "TSO_MANGLEID"), "TCPV6": (4, "TSO6"),
                   "UDP_L4": (17, "GSO_UDP_L4")}  # fmt: skip
NETIF_F_GSO_SHIFT = 16


@pytest.mark.parametrize(("name", "bit"), _LINUX_FEATURE_BITS.items())
def test_each_feature_is_linuxs_bit(name: str, bit: int) -> None:
    assert getattr(netdevice, f"NETIF_F_{name}") == 1 << bit


def test_every_named_feature_is_checked() -> None:
    named = {n.removeprefix("NETIF_F_") for n, v in vars(netdevice).items()
             if n.startswith("NETIF_F_") and isinstance(v, int) and v.bit_count() == 1}  # fmt: skip
    assert named == set(_LINUX_FEATURE_BITS)


@pytest.mark.parametrize(("name", "bit_feature"), _LINUX_GSO_BITS.items())
def test_each_gso_type_is_linuxs_bit_and_its_feature_sits_above_it(
    name: str, bit_feature: tuple[int, str]
) -> None:
    bit, feature = bit_feature
    gso = getattr(skbuff, f"SKB_GSO_{name}")
    assert gso == 1 << bit
    assert gso << NETIF_F_GSO_SHIFT == getattr(netdevice, f"NETIF_F_{feature}")


def test_ethtool_lists_the_features_in_linuxs_bit_order() -> None:
    assert list(NETDEV_FEATURE_NAMES) == sorted(NETDEV_FEATURE_NAMES)
