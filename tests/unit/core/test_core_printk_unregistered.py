"""Messages about a device its driver has not registered yet go to that driver's logger,
worded as Linux's netdev_printk words them: ``(unnamed net_device) (uninitialized): …``."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from netdrv_core import Host, alloc_etherdev, netdev_info, netdev_warn
from netdrv_core.driver import Driver
from netdrv_core.host import register_netdev
from netdrv_core.linktypes import ether_setup
from netdrv_core.netdevice import NetDevice, alloc_netdev


def _probe(dev: NetDevice) -> None:
    """A helper of the driver's module, as probe code calls from init."""
    netdev_info(dev, "found at %#x", 0x300)


class _Prober(Driver):
    name = "prober"

    def init(self) -> None:
        dev = alloc_etherdev()
        _probe(dev)
        self.register(dev)
        netdev_info(dev, "registered")
        named = alloc_netdev(None, "pr7", ether_setup)
        netdev_warn(named, "no link yet")
        register_netdev(named)  # the LDD way: the driver is recorded only after init
        netdev_info(named, "up")

    def exit(self) -> None:
        for dev in list(self.devices):
            self.unregister(dev)
            netdev_info(dev, "gone")


def _records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.name, r.getMessage()) for r in caplog.records if r.name.startswith("netdrv.pr")
            or r.name == "netdrv"]  # fmt: skip


def test_messages_before_registration_go_to_the_drivers_logger(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    drv = _Prober(host, {})
    with host.as_current():
        drv.init()
    drv.adopt(set())
    assert _records(caplog) == [
        ("netdrv.prober", "(unnamed net_device) (uninitialized): found at 0x300"),
        ("netdrv.prober", "eth0: registered"),
        ("netdrv.prober", "pr7 (uninitialized): no link yet"),
        ("netdrv.prober", "pr7: up"),
    ]
    caplog.clear()
    with host.as_current():
        drv.exit()
    assert _records(caplog) == [
        ("netdrv.prober", "eth0 (unregistered): gone"),
        ("netdrv.prober", "pr7 (unregistered): gone"),
    ]


def test_a_device_of_no_driver_outside_any_driver_logs_to_netdrv(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    def application(dev: Any) -> None:
        netdev_info(dev, "made by the application")

    application(alloc_etherdev())
    assert _records(caplog) == [
        ("netdrv", "(unnamed net_device) (uninitialized): made by the application")
    ]
