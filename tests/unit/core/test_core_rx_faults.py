"""A delivery that raises costs one frame: the backlog, other devices and the counters go on."""

from __future__ import annotations

import socket

import pytest
from fakedev import FakeTunTap

from netdrv_core import CHECKSUM_PARTIAL, NetDeviceOps, alloc_netdev, ether_setup, netif_rx
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.attach.vnet import VnetHeaderError, build_vnet_header
from netdrv_core.host import Host
from netdrv_core.skbuff import SkBuff, netdev_alloc_skb


class _Refusing(MemoryStack):
    """Raises for frames starting 0xBB (as a writer refusing a malformed skb would)."""

    def __init__(self, exc: Exception, direct: bool) -> None:
        super().__init__()
        self.exc = exc
        self.direct_rx = direct

    def receive(self, dev, skb):  # type: ignore[no-untyped-def]
        if skb.buf[skb.data] == 0xBB:
            raise self.exc
        return super().receive(dev, skb)


class _Ops(NetDeviceOps):
    def start_xmit(self, skb, dev):  # type: ignore[no-untyped-def]
        return 0


def _dev(host: Host, name: str):  # type: ignore[no-untyped-def]
    def setup(dev):  # type: ignore[no-untyped-def]
        ether_setup(dev)
        dev.dev_addr = bytes([2, 0, 0, 0, 0, len(host.devices) + 1])
        dev.netdev_ops = _Ops()

    dev = alloc_netdev(None, name, setup)
    host.register_netdev(dev)
    host.attachment.up(dev)  # type: ignore[attr-defined]
    assert host.dev_open(dev) == 0
    return dev


def _rx(dev, bad: bool = False) -> int:  # type: ignore[no-untyped-def]
    skb = netdev_alloc_skb(dev, 60)
    skb.put_data((b"\xbb" if bad else b"\x00") + bytes(59))
    skb.dev = dev
    return netif_rx(skb)


def _accounted(dev) -> bool:  # type: ignore[no-untyped-def]
    c = dev.core_stats
    return c.rx_submitted == c.rx_delivered + c.rx_backlog_drops + c.rx_down_drops


@pytest.mark.parametrize("direct", [False, True], ids=["backlog", "direct"])
@pytest.mark.parametrize(
    ("exc", "faulted"), [(RuntimeError("malformed"), True), (OSError(105, "no buffers"), False)]
)
def test_a_raising_delivery_costs_one_frame(direct: bool, exc: Exception, faulted: bool) -> None:
    host = Host(_Refusing(exc, direct))
    a, b = _dev(host, "fa0"), _dev(host, "fb0")
    with host.as_current():
        _rx(a, bad=True)
        host.loop.run_until_idle()
        for _ in range(5):
            _rx(b)
        _rx(a)
        host.loop.run_until_idle()
    assert len(host.attachment.received(b)) == 5, "the other device's frames are delivered"
    assert not host._backlog_scheduled and not host.backlog
    assert _accounted(a) and _accounted(b)
    # A malformed skb is the driver's bug: its device goes down (so the good frame after it is
    # a drop too); an OSError from the stack costs that frame only.
    assert a.is_up is not faulted
    assert a.core_stats.rx_down_drops == (2 if faulted else 1)
    assert len(host.attachment.received(a)) == (0 if faulted else 1)
    host.close()
    host.loop.close()


def test_offload_fields_no_vnet_header_can_carry_are_refused() -> None:
    skb = SkBuff(100)
    skb.data = skb.mac_header = 20
    skb.tail = 100
    skb.ip_summed = CHECKSUM_PARTIAL  # csum_start left at 0: before the frame
    with pytest.raises(VnetHeaderError, match="outside its 80-byte frame"):
        build_vnet_header(skb, skb.mac_header)
    skb.csum_start, skb.csum_offset = 54, 70_000
    with pytest.raises(VnetHeaderError, match="outside"):
        build_vnet_header(skb, skb.mac_header)
    skb.csum_offset = 16  # a TCP checksum: fine
    assert len(build_vnet_header(skb, skb.mac_header)) == 10


def test_the_kernel_attachment_drops_and_counts_an_skb_it_cannot_describe() -> None:
    host = Host()
    dev = _dev(host, "fv0")
    ks = KernelStack()
    ks.host = host
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        ks.ports["fv0"] = _Port(dev, FakeTunTap(b.fileno(), "fv0", vnet_hdr=True), 1)  # type: ignore[arg-type]
        skb = netdev_alloc_skb(dev, 60)
        skb.put_data(bytes(60))
        skb.mac_header = skb.data
        skb.ip_summed = CHECKSUM_PARTIAL  # csum_start 0: before the frame
        assert ks.receive(dev, skb) is False
        assert ks.counters["bad_offload"] == 1 and dev.core_stats.rx_down_drops == 1
    finally:
        ks.ports.clear()
        a.close()
        b.close()
        host.close()
        host.loop.close()
