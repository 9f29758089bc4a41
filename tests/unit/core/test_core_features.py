"""Offload features: hw_features/wanted_features, netdev_update_features, ethtool -k/-K."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from fakedev import make_dev

from netdrv_core import Host, NetDevice, NetDeviceOps, netdev_update_features
from netdrv_core.ethtool import EthtoolError, ethtool_features, ethtool_request
from netdrv_core.host import netdev_fix_features
from netdrv_core.netdevice import (
    NETIF_F_HW_CSUM,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_LLTX,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NETIF_F_TSO_ECN,
)

OFFLOADS = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_TSO6


class FeatureOps(NetDeviceOps):
    """Records set_features; ``ret``/``raise_in``/``no_tso6`` script it."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.ret: int | None = 0
        self.raise_in = ""
        self.no_tso6 = False

    def start_xmit(self, skb: Any, dev: NetDevice) -> int:
        return 0

    def fix_features(self, dev: NetDevice, features: int) -> int:
        if self.raise_in == "fix_features":
            raise RuntimeError("bug in fix_features")
        return features & ~NETIF_F_TSO6 if self.no_tso6 else features

    def set_features(self, dev: NetDevice, features: int) -> int | None:
        if self.raise_in == "set_features":
            raise RuntimeError("bug in set_features")
        self.calls.append(features)
        return self.ret


def _dev(host: Host, features: int = OFFLOADS, hw: int = OFFLOADS) -> tuple[NetDevice, FeatureOps]:
    dev, _ = make_dev(None, features=features | NETIF_F_LLTX, hw_features=hw)
    ops = FeatureOps()
    dev.netdev_ops = ops
    host.register_netdev(dev)
    return dev, ops


def _active(host: Host, dev: NetDevice) -> dict[str, bool]:
    res, _ = ethtool_request(host, dev, "features")
    return {k: v["active"] for k, v in res["features"].items()}


def test_registration_wants_what_the_driver_turned_on(host: Host) -> None:
    dev, _ = _dev(host, features=NETIF_F_SG | NETIF_F_HW_CSUM)
    assert dev.wanted_features == NETIF_F_SG | NETIF_F_HW_CSUM  # LLTX is not changeable
    f = ethtool_features(dev)
    assert f["tx-lockless"] == {"active": True, "fixed": True, "requested": True}
    assert f["tx-tcp-segmentation"] == {"active": False, "fixed": False, "requested": False}


def test_turning_a_feature_off_and_on_calls_set_features(host: Host) -> None:
    dev, ops = _dev(host)
    res, changed = ethtool_request(host, dev, "features", {"tso": False})
    assert changed is True and ops.calls == [NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_LLTX]
    assert dev.features == NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_LLTX
    assert res["features"]["tx-tcp6-segmentation"]["active"] is False
    # The same again changes nothing and does not bother the driver.
    assert ethtool_request(host, dev, "features", {"tx-tcp-segmentation": False})[1] is False
    assert len(ops.calls) == 1
    assert ethtool_request(host, dev, "features", {"tso": True})[1] is True
    assert dev.features == OFFLOADS | NETIF_F_LLTX


def test_tso_needs_checksum_offload_and_scatter_gather(host: Host) -> None:
    dev, _ = _dev(host)
    ethtool_request(host, dev, "features", {"tx": False})
    f = ethtool_features(dev)
    # Requested still, but off: it comes back with checksum offload.
    assert f["tx-tcp-segmentation"] == {"active": False, "fixed": False, "requested": True}
    assert ethtool_request(host, dev, "features", {"tso": True})[1] is False
    ethtool_request(host, dev, "features", {"tx": True})
    assert _active(host, dev)["tx-tcp-segmentation"] is True
    ethtool_request(host, dev, "features", {"sg": False})
    assert not dev.features & (NETIF_F_TSO | NETIF_F_TSO6)


def test_the_core_rules() -> None:
    dev = NetDevice()
    both = NETIF_F_HW_CSUM | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM | NETIF_F_SG
    assert netdev_fix_features(dev, both) == NETIF_F_HW_CSUM | NETIF_F_SG
    v4 = NETIF_F_IP_CSUM | NETIF_F_SG | NETIF_F_TSO | NETIF_F_TSO6
    assert netdev_fix_features(dev, v4) == NETIF_F_IP_CSUM | NETIF_F_SG | NETIF_F_TSO
    ecn = NETIF_F_HW_CSUM | NETIF_F_SG | NETIF_F_TSO_ECN
    assert netdev_fix_features(dev, ecn) == NETIF_F_HW_CSUM | NETIF_F_SG


def test_the_drivers_fix_features_has_the_last_word(host: Host) -> None:
    dev, ops = _dev(host)
    ops.no_tso6 = True  # e.g. the hardware lost a capability after a firmware reload
    assert netdev_update_features(dev) == 1
    assert not dev.features & NETIF_F_TSO6 and dev.features & NETIF_F_TSO
    assert netdev_update_features(dev) == 0


def test_a_refusing_set_features_leaves_the_features(host: Host) -> None:
    dev, ops = _dev(host)
    ops.ret = -errno.EBUSY
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"sg": False})
    assert e.value.errno == errno.EBUSY and "Device or resource busy" in str(e.value)
    assert dev.features == OFFLOADS | NETIF_F_LLTX
    assert ethtool_features(dev)["tx-scatter-gather"]["requested"] is False  # as Linux keeps it


@pytest.mark.parametrize("where", ["fix_features", "set_features"])
def test_a_raising_op_is_a_driver_fault(host: Host, where: str) -> None:
    dev, ops = _dev(host)
    host.dev_open(dev)
    ops.raise_in = where
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"sg": False})
    assert e.value.errno == errno.EIO
    host.loop.run_until_idle()
    assert not dev.is_up  # taken down, as any op that raises
    assert dev.features == OFFLOADS | NETIF_F_LLTX


def test_refusals_name_what_was_wrong(host: Host) -> None:
    dev, ops = _dev(host, hw=NETIF_F_SG)
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"tso": False})
    assert e.value.errno == errno.EOPNOTSUPP
    assert str(e.value).startswith("t0: tso is fixed on: ")
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"gro": False})
    assert e.value.errno == errno.EINVAL and "unknown feature 'gro'; features: rx, tx" in str(
        e.value
    )
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"sg": 1})
    assert e.value.errno == errno.EINVAL and "must be true or false" in str(e.value)
    assert ops.calls == []


def test_without_a_virtio_net_header_a_tap_keeps_offloads_off() -> None:
    from netdrv_core.attach.tap import KernelStack

    class Port:
        hlen = 0

    ks = KernelStack()
    dev = NetDevice("k0")
    ks.ports["k0"] = Port()  # type: ignore[assignment]
    assert ks.fix_features(dev, OFFLOADS | NETIF_F_LLTX) == NETIF_F_SG | NETIF_F_LLTX
    Port.hlen = 10
    assert ks.fix_features(dev, OFFLOADS) == OFFLOADS
