"""The conformance kit, checked against what a driver author writes: mistakes and legal variants.

Found by following the docs as a third-party driver author: the kit passed a
``change_mtu``/``open`` that returned a positive errno (and then blamed
something else), failed a driver that refuses an MTU change while up as
Linux's ``can_change_mtu`` does, crashed with an ``AttributeError`` on a
``get_stats`` that returned None, waited seconds on a driver that counts every
skb twice, and never asked ``set_mac_address``, ``set_rx_mode`` or the
ethtool ops at all.
"""

from __future__ import annotations

import errno
from typing import Any

import pytest
from test_conformance import KIT_TESTS, GoodOps

from netdrv_core import (
    Driver,
    DrvInfo,
    EthtoolOps,
    LinkSettings,
    NetDevice,
    NetDeviceOps,
    NetDeviceStats,
    Param,
    RingParam,
    SkBuff,
    alloc_netdev,
    eth_mac_addr,
    ether_setup,
    netif_running,
)
from netdrv_core.ethtool import DUPLEX_FULL
from netdrv_core.netdevice import IFF_ALLMULTI, IFF_LIVE_ADDR_CHANGE, IFF_PROMISC
from netdrv_core.testing.conformance import (
    DriverConformance,
    DriverHarness,
    bad_op_return,
    checked_stats,
)


class DummyOps(GoodOps):
    """dummy.c with the ops an author adds: MAC change while up, rx mode, MTU."""

    def __init__(self) -> None:
        self.rx_mode: list[tuple[bool, bool, int]] = []

    def set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        return eth_mac_addr(dev, addr)

    def set_rx_mode(self, dev: NetDevice) -> None:
        self.rx_mode.append(
            (bool(dev.flags & IFF_PROMISC), bool(dev.flags & IFF_ALLMULTI), len(dev.mc_list))
        )


class DummyEthtool(EthtoolOps):
    """ethtool -i, -S, the link, a ring."""

    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        return DrvInfo(driver="authdummy", version="1.0", bus_info="virtual")

    def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
        return LinkSettings(speed=10000, duplex=DUPLEX_FULL)

    def get_strings(self, dev: NetDevice) -> list[str]:
        return ["rx_mode_changes", "tx_ring"]

    def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
        return [len(dev.netdev_ops.rx_mode), 256]  # type: ignore[attr-defined]

    def get_ringparam(self, dev: NetDevice) -> RingParam:
        return RingParam(tx_max_pending=4096, tx_pending=256)

    def set_ringparam(self, dev: NetDevice, ring: RingParam) -> int:
        return 0


class AuthDummy(Driver):
    name = "authdummy"
    summary = "a dummy driver with ethtool, MAC and rx-mode ops"
    parameters = (Param("count", int, 1, "number of interfaces", min=1, max=4),)
    ops_class: type[NetDeviceOps] = DummyOps
    ethtool_class: type[EthtoolOps] = DummyEthtool

    def init(self) -> None:
        for i in range(self.params["count"]):
            dev = alloc_netdev(None, "ad%d", ether_setup)
            dev.dev_addr = bytes([2, 0, 0, 0, 0x4D, i + 1])
            dev.max_mtu = 9000
            dev.priv_flags |= IFF_LIVE_ADDR_CHANGE
            dev.netdev_ops = self.ops_class()
            dev.ethtool_ops = self.ethtool_class()
            self.register(dev)


def _variant(name: str, **attrs: Any) -> type[Driver]:
    return type(name.title(), (AuthDummy,), {"name": name, **attrs})


def check(cls: type[Driver], test: str, **params: Any) -> None:
    """Run one check of the kit on ``cls`` (not installed: driver_class)."""
    h = DriverHarness(cls.name, params, driver_class=cls, settle_timeout=0.5)
    try:
        getattr(DriverConformance(), test)(h)
    finally:
        h.close()


# -- legal drivers pass -------------------------------------------------------------------------
class BusyMtuOps(DummyOps):
    """Linux's can_change_mtu: no MTU change while the device runs."""

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        if netif_running(dev):
            return -errno.EBUSY
        return super().change_mtu(dev, new_mtu)


class OSErrorMacOps(DummyOps):
    """Refuses address changes by raising OSError, which the docs allow."""

    def set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        raise OSError(errno.EOPNOTSUPP, "the address is burnt in")


@pytest.mark.parametrize("test", KIT_TESTS)
@pytest.mark.parametrize(
    "cls",
    [AuthDummy, _variant("authbusymtu", ops_class=BusyMtuOps),
     _variant("authfixedmac", ops_class=OSErrorMacOps)],
    ids=lambda c: c.name,
)  # fmt: skip
def test_a_correct_driver_passes(cls: type[Driver], test: str) -> None:
    check(cls, test, count="2")


def test_the_new_checks_really_ask_the_driver() -> None:
    """test_mac_address_and_rx_mode reaches set_mac_address and set_rx_mode."""
    h = DriverHarness("authdummy", {}, driver_class=AuthDummy, settle_timeout=0.5)
    try:
        DriverConformance().test_mac_address_and_rx_mode(h)
        # The harness unloaded nothing yet: the device is still there to look at.
        (dev,) = h.owned(h.drivers[0])
        modes = dev.netdev_ops.rx_mode
        assert (True, False, 0) in modes and (True, True, 0) in modes and (False, False, 1) in modes
        assert modes[-1] == (False, False, 0)
        assert bytes(dev.dev_addr) == bytes([2, 0, 0, 0, 0x4D, 1])  # restored
    finally:
        h.close()


# -- mistakes fail with a message that says what to do ------------------------------------------
class PositiveOpenOps(DummyOps):
    def open(self, dev: NetDevice) -> int:
        return errno.ENODEV  # the minus sign forgotten: Linux takes it for a failure


class PositiveMtuOps(DummyOps):
    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        return errno.EINVAL if new_mtu < 100 else super().change_mtu(dev, new_mtu)


class ForgetfulMtuOps(DummyOps):
    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        return 0  # "accepted", but dev.mtu never set


class BusyButChangedMtuOps(DummyOps):
    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        dev.mtu = new_mtu
        return -errno.EBUSY if netif_running(dev) else 0


class StatsNoneOps(DummyOps):
    def get_stats(self, dev: NetDevice) -> NetDeviceStats:
        return None  # type: ignore[return-value]  # forgot `return dev.stats`


class DoubleCountOps(DummyOps):
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev.stats.tx_packets += 1
        return super().start_xmit(skb, dev)


class MacNotStoredOps(DummyOps):
    def set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        return 0  # "done", without eth_mac_addr


class MacUncheckedOps(DummyOps):
    def set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        dev.dev_addr = bytes(addr)  # a multicast or zero address too
        return 0


class MacPositiveOps(DummyOps):
    def set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        ret = eth_mac_addr(dev, addr)
        return -ret  # a positive errno on refusal


class RxModeRaisesOps(DummyOps):
    def set_rx_mode(self, dev: NetDevice) -> None:
        if dev.flags & IFF_PROMISC:
            raise RuntimeError("filter table full")


class MismatchedStatsEthtool(DummyEthtool):
    def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
        return [1]  # two names, one value


class GarbageRingEthtool(DummyEthtool):
    def get_ringparam(self, dev: NetDevice) -> RingParam:
        return RingParam(tx_max_pending="4096", tx_pending=256)  # type: ignore[arg-type]


class RaisingDrvinfoEthtool(DummyEthtool):
    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        raise KeyError("firmware version")


@pytest.mark.parametrize(
    ("cls", "test", "message"),
    [
        (_variant("authposopen", ops_class=PositiveOpenOps), "test_open_stop_cycles",
         r"ad0: open returned 19: a positive errno: write return -errno.ENODEV"),
        (_variant("authposmtu", ops_class=PositiveMtuOps), "test_mtu_limits",
         r"ad0: change_mtu returned 22: a positive errno: write return -errno.EINVAL"),
        (_variant("authforgetmtu", ops_class=ForgetfulMtuOps), "test_mtu_limits",
         r"change_mtu\(68\) returned success but left mtu at 1500: set dev.mtu = new_mtu"),
        (_variant("authbusychanged", ops_class=BusyButChangedMtuOps), "test_mtu_limits",
         r"returned -EBUSY but changed mtu"),
        (_variant("authstatsnone", ops_class=StatsNoneOps), "test_every_skb_accounted",
         r"ad0: get_stats returned None, not a NetDeviceStats: return dev.stats"),
        (_variant("authstatsnone", ops_class=StatsNoneOps), "test_stats_consistency",
         r"get_stats returned None"),
        (_variant("authdoublecount", ops_class=DoubleCountOps), "test_every_skb_accounted",
         r"ad0: the driver counted \d+ skbs more .* count each skb once"),
        (_variant("authmacnotstored", ops_class=MacNotStoredOps), "test_mac_address_and_rx_mode",
         r"returned 0 but dev_addr is 02:00:00:00:4d:01: store the address"),
        (_variant("authmacunchecked", ops_class=MacUncheckedOps), "test_mac_address_and_rx_mode",
         r"accepted 01:00:5e:00:00:01, which is not a valid unicast address"),
        (_variant("authmacpositive", ops_class=MacPositiveOps), "test_mac_address_and_rx_mode",
         r"set_mac_address returned 99: a positive errno: write return -errno.EADDRNOTAVAIL"),
        (_variant("authrxmode", ops_class=RxModeRaisesOps), "test_mac_address_and_rx_mode",
         r"set_rx_mode raised RuntimeError: filter table full"),
        (_variant("authstatsmismatch", ethtool_class=MismatchedStatsEthtool), "test_ethtool_ops",
         r"get_ethtool_stats returned 1 values for the 2 names of get_strings"),
        (_variant("authgarbagering", ethtool_class=GarbageRingEthtool), "test_ethtool_ops",
         r"ad0: the ethtool ringparam request fails: .*get_ringparam returned "
         r"tx_max_pending='4096'"),
        (_variant("authraisinginfo", ethtool_class=RaisingDrvinfoEthtool), "test_ethtool_ops",
         r"get_drvinfo raised KeyError"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("test_") else None,
)  # fmt: skip
def test_the_kit_says_what_is_wrong(cls: type[Driver], test: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(cls, test)


def test_an_overcounting_driver_fails_without_waiting_out_the_settle_timeout() -> None:
    import time

    h = DriverHarness("authdoublecount", {}, driver_class=_variant(
        "authdoublecount", ops_class=DoubleCountOps), settle_timeout=30.0)  # fmt: skip
    try:
        t0 = time.monotonic()
        with pytest.raises(AssertionError, match=r"counted .* more"):
            DriverConformance().test_every_skb_accounted(h)
        # Not a timing assertion on the driver: only that the kit does not sit out its
        # 30 s settle_timeout on a surplus that waiting can never mend.
        assert time.monotonic() - t0 < 20
    finally:
        h.close()


@pytest.mark.parametrize(
    ("op", "rc", "expected"),
    [
        ("open", None, None), ("open", 0, None), ("stop", -22, None),
        ("open", 19, "open returned 19: a positive errno: write return -errno.ENODEV"),
        ("change_mtu", True, "change_mtu returned True: return 0 (or None) for success"),
        ("set_config", "ok", "set_config returned 'ok': return 0"),
        ("validate_addr", 10**9, "validate_addr returned 1000000000: return 0"),
    ],
)  # fmt: skip
def test_bad_op_return(op: str, rc: object, expected: str | None) -> None:
    got = bad_op_return(op, rc)
    assert got == expected if expected is None else got is not None and got.startswith(expected)


def test_checked_stats_names_a_raising_get_stats() -> None:
    class Raising(NetDeviceOps):
        def get_stats(self, dev: NetDevice) -> NetDeviceStats:
            raise ValueError("counter read failed")

    dev = alloc_netdev(None, "x0", ether_setup)
    dev.netdev_ops = Raising()
    with pytest.raises(
        AssertionError, match="x0: get_stats raised ValueError: counter read failed"
    ):
        checked_stats(dev)
