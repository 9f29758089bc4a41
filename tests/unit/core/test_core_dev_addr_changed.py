"""Every change of a registered device's ``dev_addr`` the driver makes itself reaches the
attachment (``dev_addr_changed``): ``ip link`` shows ``dev->dev_addr`` in Linux, and on the
kernel attachment the TAP's address is its own, written by netdrv."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netdrv_core import NetDevice, alloc_netdev, dev_addr_set, ether_setup
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.ether import eth_hw_addr_random
from netdrv_core.host import Host

NEW = bytes.fromhex("021122334455")


class Recording(MemoryStack):
    """Records each dev_addr_changed with the address the device had then."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: list[tuple[str, bytes]] = []
        self.during_attach: bytes | None = None

    def attach(self, dev: NetDevice) -> None:
        super().attach(dev)
        if self.during_attach is not None:
            # A driver thread's dev_addr_set landing after attach read the address and
            # before the device is registered (reg_state still NETREG_UNINITIALIZED).
            dev_addr_set(dev, self.during_attach)

    def dev_addr_changed(self, dev: NetDevice) -> None:
        self.changed.append((dev.name, bytes(dev.dev_addr)))


@pytest.fixture
def rec() -> Iterator[Recording]:
    stack = Recording()
    host = Host(stack)
    try:
        yield stack
    finally:
        host.close()
        host.loop.close()


def _dev(host: Host) -> NetDevice:
    dev = alloc_netdev(None, "ad%d", ether_setup)
    dev.dev_addr = bytes.fromhex("020000000001")
    return dev


def test_a_dev_addr_set_during_register_is_not_missed(rec: Recording) -> None:
    host = rec.host
    dev = _dev(host)
    rec.during_attach = NEW
    with host.as_current():
        host.register_netdev(dev)
    assert dev.dev_addr == NEW
    assert rec.changed and rec.changed[-1] == (dev.name, NEW)


def test_eth_hw_addr_random_at_run_time_reaches_the_attachment(rec: Recording) -> None:
    host = rec.host
    dev = _dev(host)
    eth_hw_addr_random(dev)  # before registration: register_netdev's attach reads it
    with host.as_current():
        host.register_netdev(dev)
    rec.changed.clear()
    eth_hw_addr_random(dev)
    assert rec.changed == [(dev.name, bytes(dev.dev_addr))]
