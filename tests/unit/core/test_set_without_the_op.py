"""``netdrv set DEV irq=…`` / ``ioctl=…`` on a driver that lacks the op says which op is missing.

``Operation not supported`` alone leaves a driver author guessing whether the SDK, the
device state or the driver refused; Linux's ``SIOCSIFMAP`` on a driver without
``ndo_set_config`` gives ``EOPNOTSUPP`` too, but the user here is the driver's author.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import pytest
from fakedev import make_dev

from netdrv_core import Host, NetDevice, NetDeviceOps
from netdrv_core.daemon import Daemon


@pytest.fixture
def host_daemon() -> Iterator[tuple[Host, Daemon]]:
    host = Host()
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    yield host, daemon
    host.close()
    host.loop.close()


def test_a_driver_without_set_config_is_named(host_daemon: tuple[Host, Daemon]) -> None:
    host, daemon = host_daemon
    dev, _ = make_dev(host)
    dev.netdev_ops = NetDeviceOps()
    reply = daemon.set_device({"dev": dev.name, "ifmap": {"irq": 5}})
    assert reply["result"] == -errno.EOPNOTSUPP and not reply["ok"]
    assert reply["error"].startswith("Operation not supported")
    assert "no set_config" in reply["error"] and "ndo_set_config" in reply["error"]


def test_a_driver_without_do_ioctl_is_named(host_daemon: tuple[Host, Daemon]) -> None:
    host, daemon = host_daemon
    dev, _ = make_dev(host)
    dev.netdev_ops = NetDeviceOps()
    reply = daemon.set_device({"dev": dev.name, "ioctl": 0x89F0})
    assert reply["result"] == -errno.EOPNOTSUPP and not reply["ok"]
    assert "no do_ioctl" in reply["error"]


def test_a_driver_that_has_the_op_and_refuses_is_not_told_it_lacks_it(
    host_daemon: tuple[Host, Daemon],
) -> None:
    host, daemon = host_daemon
    dev, _ = make_dev(host)

    class Refuses(NetDeviceOps):
        def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
            return -errno.EOPNOTSUPP  # the I/O address cannot change, as snull's

        def do_ioctl(self, dev: NetDevice, request: int, data: Any) -> Any:
            return -errno.EOPNOTSUPP  # an ioctl number it does not know

    dev.netdev_ops = Refuses()
    reply = daemon.set_device({"dev": dev.name, "ifmap": {"base_addr": 5}})
    assert reply["error"] == "Operation not supported"
    reply = daemon.set_device({"dev": dev.name, "ioctl": 0x89F3})
    assert reply["error"] == "Operation not supported"
