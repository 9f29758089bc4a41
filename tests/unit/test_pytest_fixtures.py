"""netdrv's pytest plugin fixtures, used as a driver author uses them (docs/driver-model.md)."""

from __future__ import annotations

from typing import Any

import pytest

from netdrv_core import (
    Driver,
    Host,
    NetDevice,
    Param,
    ParameterError,
    PluginError,
    PluginManager,
    alloc_netdev,
    ether_setup,
    hookimpl,
    register_netdev,
)
from tests.unit.core.frames import eth_frame, udp_packet


def test_the_clock_fixture_makes_the_watchdog_due(netdrv_host, netdrv_load, netdrv_clock) -> None:
    drv = netdrv_load("snull", lockup=1, configure=0)
    sn0, _ = drv.devices
    stack: Any = netdrv_host.attachment
    stack.up("sn0")
    stack.up("sn1")
    frame = eth_frame(sn0.dev_addr, "02:00:00:00:00:01", 0x0800,
                      udp_packet("198.18.0.1", "198.18.0.2", 4000, 5000, bytes(32)))  # fmt: skip
    with netdrv_clock.frozen():  # no timer becomes due: the lost TX-done stays lost
        stack.send("sn0", frame)
        netdrv_host.loop.run_until_idle()
        assert sn0.priv.skb is not None and sn0.priv.lockups == 0
    netdrv_clock.advance(1)  # past snull's 5 ms watchdog timeout
    assert netdrv_host.loop.run_until(lambda: sn0.priv.lockups == 1, timeout=1)
    assert sn0.stats.tx_errors == 1 and sn0.priv.skb is None


def test_load_takes_parameters_as_on_the_command_line(netdrv_load) -> None:
    drv = netdrv_load("loopback", name="lbx%d")
    assert [d.name for d in drv.devices] == ["lbx0"]
    snull = netdrv_load("snull", lockup=2, use_napi=True, configure=0)  # numbers become text
    assert snull.params["lockup"] == 2 and snull.params["use_napi"] is True


def test_load_refuses_none_instead_of_naming_an_interface_none(netdrv_load, netdrv_host) -> None:
    with pytest.raises(ParameterError) as ei:
        netdrv_load("loopback", name=None)
    assert str(ei.value).startswith("driver 'loopback': bad value None for name: expected str")
    assert not netdrv_host.devices


class LddStyle(Driver):
    """Registers the LDD way, with bare register_netdev inside init (documented as valid)."""

    name = "fixldd"
    summary = "LDD-style registration"
    parameters = (Param("fail", bool, False, "raise in init after registering"),
                  Param("veto", bool, False, "refused together with fail"))  # fmt: skip

    @classmethod
    def check_params(cls, params: dict) -> None:
        if params["fail"] and params["veto"]:
            raise ParameterError("fail=1 and veto=1 cannot go together")

    def init(self) -> None:
        self.mine: NetDevice = alloc_netdev(None, "ldd%d", ether_setup)
        register_netdev(self.mine)
        if self.params["fail"]:
            raise RuntimeError("probe failed")


class LddPlugin:
    @hookimpl
    def netdrv_drivers(self) -> list[type[Driver]]:
        return [LddStyle]


class TestLoadLikeTheDaemon:
    @pytest.fixture
    def netdrv_plugins(self) -> PluginManager:
        pm = PluginManager(autoload=False)
        pm.register(LddPlugin(), "fixldd")
        return pm

    def test_devices_registered_in_init_belong_to_the_driver(self, netdrv_load) -> None:
        drv = netdrv_load("fixldd")
        assert drv.devices == [drv.mine] and drv.mine.driver is drv  # so exit() removes it

    def test_a_failed_init_leaves_nothing_registered(self, netdrv_load, netdrv_host) -> None:
        with pytest.raises(RuntimeError, match="probe failed"):
            netdrv_load("fixldd", fail=1)
        assert not netdrv_host.devices

    def test_parameters_are_checked_against_each_other_as_netdrv_load_does(
        self, netdrv_load, netdrv_host
    ) -> None:
        with pytest.raises(ParameterError) as ei:
            netdrv_load("fixldd", fail=1, veto=1)
        # The driver's words, named like the core's own parameter errors.
        assert str(ei.value) == "driver 'fixldd': fail=1 and veto=1 cannot go together"
        assert not netdrv_host.devices


def test_net_ratelimit_starts_fresh_in_each_test_on_the_test_clock(
    netdrv_host, netdrv_clock
) -> None:
    # A flood in an earlier test does not silence this one; netdrv_clock moves the interval.
    from netdrv_core import net_ratelimit

    assert sum(net_ratelimit() for _ in range(11)) == 10
    netdrv_clock.advance(6)
    assert net_ratelimit()


def test_the_daemon_names_the_driver_in_its_check_params_refusal() -> None:
    # netdrv load and the daemon report a check_params refusal like the core's own
    # parameter errors: with the driver it is about.
    from netdrv_core.daemon import Daemon

    pm = PluginManager(autoload=False)
    pm.register(LddPlugin(), "fixldd")
    host = Host()
    d = Daemon(host=host, pm=pm, exit_when_empty=False, watchdog=None)
    try:
        with pytest.raises(ParameterError) as ei:
            d.load("fixldd", ["fail=1", "veto=1"])
        assert str(ei.value) == "driver 'fixldd': fail=1 and veto=1 cannot go together"
        assert not host.devices and not d.drivers
    finally:
        host.close()
        host.loop.close()


def test_load_of_a_driver_not_installed_says_how_to_install_it(netdrv_load) -> None:
    # A project fresh from `netdrv new-driver`, tested before `pip install -e .`: the error
    # says what to do, not only which drivers are installed.
    with pytest.raises(PluginError) as ei:
        netdrv_load("kitnotinstalled")
    assert str(ei.value).startswith("unknown driver 'kitnotinstalled'.")
    assert "pip install -e ." in str(ei.value)
