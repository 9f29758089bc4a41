"""A link the user renames (``ip link set DEV name NEW``) renames the device; a gone link
gives a clear error to whoever configures it."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator

import pytest
from fakedev import FakeTunTap

from netdrv_core import NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.attach.base import Attachment
from netdrv_core.attach.netlink import RTM_NEWLINK, LinkEvent
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.errors import DriverError, NameInUseError
from netdrv_core.host import Host
from netdrv_core.netdevice import NetDevice


def _setup(dev: NetDevice) -> None:
    ether_setup(dev)
    dev.dev_addr = b"\x02\x00\x00\x00\x00\x01"
    dev.netdev_ops = NetDeviceOps()


def _dev(host: Host, name: str) -> NetDevice:
    dev = alloc_netdev(None, name, _setup)
    host.register_netdev(dev)
    return dev


def test_dev_rename_rekeys_the_registry_and_notifies(host: Host) -> None:
    a, b = _dev(host, "sn0"), _dev(host, "sn1")
    events: list[tuple[str, str]] = []
    host.notify = lambda ev, d: events.append((ev, d.name))
    host.dev_rename(a, "foo0")
    assert a.name == "foo0"
    assert host.dev_get_by_name("foo0") is a
    assert host.dev_get_by_name("sn0") is None
    assert list(host.devices) == ["foo0", "sn1"]  # the order of registration is kept
    assert events == [("renamed", "foo0")]
    with pytest.raises(NameInUseError):
        host.dev_rename(a, "sn1")
    with pytest.raises(ValueError):
        host.dev_rename(a, "no spaces")
    assert a.name == "foo0" and host.devices["sn1"] is b
    host.dev_rename(a, "foo0")  # no change: nothing to do, nothing told
    assert events == [("renamed", "foo0")]
    host.unregister_netdev(a)
    with pytest.raises(DriverError):
        host.dev_rename(a, "bar0")


def test_a_capture_follows_the_renamed_device(host: Host) -> None:
    from netdrv_core.skbuff import alloc_skb

    dev = _dev(host, "sn0")
    seen: list[str] = []
    gone: list[str] = []
    remove = host.add_tap(dev, lambda d, skb, direction: seen.append(d.name),
                          gone=lambda: gone.append("gone"))  # fmt: skip
    host.dev_rename(dev, "foo0")
    assert "sn0" not in host._taps and "sn0" not in host._tap_gone
    host._run_taps(host._taps["foo0"], dev, alloc_skb(64), "rx")
    assert seen == ["foo0"]
    remove()  # the remover knows the new name
    assert "foo0" not in host._taps and "foo0" not in host._tap_gone
    remove2 = host.add_tap(dev, lambda d, skb, direction: None, gone=lambda: gone.append("g2"))
    host.dev_rename(dev, "bar0")
    host.unregister_netdev(dev)  # a capture running at unregister still hears of it
    assert gone == ["g2"]
    remove2()


class _FakeLinkConfig:
    """No netlink: these tests run in the root namespace, whose links are not to be touched."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, object]]] = []
        self.kernel_flags = 0

    def set(self, index: int, **kw: object) -> None:
        self.calls.append((index, kw))

    def flags(self, index: int) -> int:
        return self.kernel_flags

    def close(self) -> None:
        pass


@pytest.fixture
def kstack(host: Host) -> Iterator[tuple[KernelStack, NetDevice, _Port]]:
    """A KernelStack with one port on a socketpair (no kernel), bound to ``host``."""
    dev = _dev(host, "sn0")
    ks = KernelStack()
    ks.bind(host)
    ks._cfg = _FakeLinkConfig()  # type: ignore[assignment]
    host.attachment = ks
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    port = _Port(dev, FakeTunTap(b.fileno(), "sn0"), 7)  # type: ignore[arg-type]
    ks.ports["sn0"] = port
    ks._by_index[7] = port
    yield ks, dev, port
    ks._stop_reading(port)
    ks.ports.clear()
    ks._by_index.clear()
    ks._cfg = None
    a.close()
    b.close()


def _event(port: _Port, name: str) -> LinkEvent:
    return LinkEvent(kind=RTM_NEWLINK, index=port.index, flags=0, change=0, name=name,
                     mtu=port.k_mtu, address=port.k_addr, txqlen=port.k_txqlen)  # fmt: skip


def test_a_kernel_rename_renames_the_device(host: Host, kstack) -> None:
    ks, dev, port = kstack
    ks._handle_events([_event(port, "foo0")])
    assert dev.name == "foo0" and port.k_name == "foo0"
    assert ks.ports == {"foo0": port} and host.devices == {"foo0": dev}
    assert host.dev_get_by_name("sn0") is None
    # The same name again (any later event of the link): nothing changes.
    ks._handle_events([_event(port, "foo0")])
    assert dev.name == "foo0" and ks.ports == {"foo0": port}


def test_a_kernel_rename_to_a_name_netdrv_still_uses_keeps_the_name(
    host: Host, kstack, caplog: pytest.LogCaptureFixture
) -> None:
    # A device whose link is gone keeps its name in netdrv; the kernel may give it to
    # another of our links: that device keeps its own name (logged), nothing breaks.
    ks, dev, port = kstack
    other = alloc_netdev(None, "gone0", _setup)
    host.attachment = Attachment()  # no kernel
    host.attachment.bind(host)
    host.register_netdev(other)
    host.attachment = ks
    with caplog.at_level(logging.WARNING, logger="netdrv"):
        ks._handle_events([_event(port, "gone0")])
    assert dev.name == "sn0" and ks.ports == {"sn0": port} and port.k_name == "gone0"
    assert host.devices["gone0"] is other
    assert any("gone0" in r.getMessage() and "keeps" in r.getMessage() for r in caplog.records)
    host.unregister_netdev(other)


def test_configuring_a_device_whose_link_is_gone_is_a_clear_error(host: Host, kstack) -> None:
    ks, dev, _port = kstack
    del ks.ports["sn0"]
    del ks._by_index[7]
    for call in (
        lambda: ks.add_address(dev, "10.0.0.1/24"),
        lambda: ks.add_route(dev, "10.1.0.0/16"),
    ):
        with pytest.raises(DriverError) as info:
            call()
        assert info.value.errno == errno.ENODEV
        assert "deleted" in str(info.value) and "reload" in str(info.value)


def test_a_link_deleted_before_its_event_is_read_is_a_clear_error(host: Host, kstack) -> None:
    # The kernel answers ENODEV (the event saying so is still unread): the same error.
    ks, dev, _port = kstack

    class NetlinkError(Exception):
        code = errno.ENODEV

    class Cfg:
        def add_address(self, *a: object) -> None:
            raise NetlinkError(errno.ENODEV, "No such device")

        def add_route(self, *a: object) -> None:
            raise NetlinkError(errno.ENODEV, "No such device")

        def close(self) -> None:
            pass

    ks._cfg = Cfg()  # type: ignore[assignment]
    for call in (
        lambda: ks.add_address(dev, "10.0.0.1/24"),
        lambda: ks.add_route(dev, "10.1.0.0/16"),
    ):
        with pytest.raises(DriverError) as info:
            call()
        assert info.value.errno == errno.ENODEV and "deleted" in str(info.value)


def test_a_rename_batched_with_other_changes_applies_them_all(host: Host, kstack) -> None:
    # `ip -batch`: name foo0, then up and mtu 1400: the events of both are read at once.
    from netdrv_core.netdevice import IFF_UP

    ks, dev, port = kstack
    up = _event(port, "foo0")
    up.flags, up.mtu = IFF_UP, 1400
    ks._handle_events([_event(port, "foo0"), up])
    assert dev.name == "foo0" and dev.is_up and dev.mtu == 1400
    assert ks.ports == {"foo0": port} and host.dev_get_by_name("foo0") is dev
    host.dev_close(dev)


def test_a_kernel_stack_that_is_not_the_hosts_attachment_rekeys_its_ports(
    host: Host, kstack
) -> None:
    ks, dev, port = kstack
    host.attachment = Attachment()
    host.attachment.bind(host)
    ks._handle_events([_event(port, "foo0")])
    assert dev.name == "foo0" and ks.ports == {"foo0": port}
    host.attachment = ks


def test_the_memory_stack_follows_a_rename() -> None:
    from netdrv_core import Host, NetDeviceOps, alloc_etherdev, register_netdev
    from netdrv_core.attach.memory import MemoryStack

    host = Host(MemoryStack())
    try:
        a, b = alloc_etherdev(), alloc_etherdev()
        for dev in (a, b):
            dev.netdev_ops = NetDeviceOps()
            register_netdev(dev, host)
        stack = host.attachment
        stack.wire(a, b)
        host.dev_rename(a, "wired0")
        assert set(stack.rx) == {"wired0", b.name} and stack.wires[b.name] is a
        assert stack.wires["wired0"] is b
        stack.up(a)
        skb_frame = b"\xff" * 6 + a.dev_addr + b"\x08\x00" + bytes(46)
        from netdrv_core import SkBuff

        skb = SkBuff(64)
        skb.put_data(skb_frame)
        skb.dev, skb.mac_header, skb.data = a, 0, 14
        host.netif_rx(skb)
        host.loop.run_until_idle()
        # Received on wired0, it is sent on through its wire (b is down: dropped and counted).
        assert a.core_stats.rx_delivered == 1 and b.core_stats.tx_qdisc_drops == 1
    finally:
        host.close()
        host.loop.close()
