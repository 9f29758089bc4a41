"""An ioctl by name that races a rename of the link is not the link's deletion."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest
from fakedev import FakeTunTap

from netdrv_core import NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.host import Host


class RacedConfig:
    """LinkConfig whose SIOCGIFFLAGS finds the link's name gone: it was looked up by index
    just before ``ip link set DEV name NEW`` renamed the link."""

    def flags(self, index: int) -> int:
        raise OSError(errno.ENODEV, "No such device")

    def set(self, index: int, **kw: object) -> None:
        pass


@pytest.fixture
def kernel(request: pytest.FixtureRequest) -> Iterator[tuple[KernelStack, _Port]]:
    host = Host()
    dev = alloc_netdev(None, "rr0", ether_setup)
    dev.netdev_ops = NetDeviceOps()
    host.register_netdev(dev)
    ks = KernelStack()
    ks.host = host
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    port = _Port(dev, FakeTunTap(b.fileno(), "rr0"), request.param)  # type: ignore[arg-type]
    ks.ports[dev.name] = port
    ks._by_index[port.index] = port
    ks._cfg = RacedConfig()  # type: ignore[assignment]
    yield ks, port
    a.close()
    b.close()
    host.close()
    host.loop.close()


@pytest.mark.parametrize("kernel", [socket.if_nametoindex("lo")], indirect=True)
def test_enodev_from_an_ioctl_by_name_keeps_a_link_that_is_still_there(kernel) -> None:
    ks, port = kernel
    dev = port.dev
    ks.host.dev_open(dev)
    ks.state_changed(dev)  # mirrors the open: SIOCGIFFLAGS by name raises ENODEV
    ks.host.loop.run_until_idle()
    assert ks.ports.get(dev.name) is port and ks._by_index.get(port.index) is port
    assert dev.is_up and dev.operstate != "notpresent"


@pytest.mark.parametrize("kernel", [0x7FFFFFF0], indirect=True)  # no such ifindex
def test_enodev_for_a_link_that_is_gone_lets_it_go(kernel) -> None:
    ks, port = kernel
    dev = port.dev
    ks.host.dev_open(dev)
    ks.state_changed(dev)
    ks.host.loop.run_until_idle()
    assert dev.name not in ks.ports and not dev.is_up and dev.operstate == "notpresent"
