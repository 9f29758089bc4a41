"""Helpers of the core unit tests: a scriptable test device, a fake clock, driver loading."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

from netdrv_core import (
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    Host,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    eth_type_trans,
    ether_setup,
    netif_start_queue,
    netif_stop_queue,
)
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.driver import Driver
from netdrv_core.params import parse_params
from netdrv_core.skbuff import CHECKSUM_UNNECESSARY

Run = Callable[..., None]
"""The ``run`` fixture: ``run(seconds, step=0.001)`` lets fake time pass."""


class LoadSnull(Protocol):
    """The ``snull`` fixture: load snull (``configure=0``), bring the pair up."""

    def __call__(self, up: bool = True, **params: Any) -> Driver: ...


class ScriptedOps(NetDeviceOps):
    """Records every call; ``start_xmit`` behaviour is chosen by :attr:`mode`.

    Modes: ``"ok"`` (send and count tx_packets), ``"busy"`` (stop the queue and
    return NETDEV_TX_BUSY), ``"raise"`` (raise RuntimeError), ``"hold"`` (keep the
    skb in :attr:`held` and stop the queue — like a full ring; complete later
    with :meth:`complete`).
    """

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls: list[str] = []
        self.sent: list[SkBuff] = []
        self.sent_bytes: list[bytes] = []
        self.held: list[SkBuff] = []
        self.timeouts = 0
        self.rx_mode_calls = 0
        self.mtu_refuse = False
        self.open_ret: int = 0
        self.start_queue_on_open = True
        self.on_xmit: Callable[[SkBuff, NetDevice], None] | None = None

    def open(self, dev: NetDevice) -> int:
        self.calls.append("open")
        if self.open_ret:
            return self.open_ret
        if self.start_queue_on_open:
            netif_start_queue(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        self.calls.append("stop")
        netif_stop_queue(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        self.calls.append("start_xmit")
        if self.on_xmit is not None:
            self.on_xmit(skb, dev)
        if self.mode == "raise":
            raise RuntimeError("driver bug in start_xmit")
        if self.mode == "busy":
            netif_stop_queue(dev)
            return NETDEV_TX_BUSY
        if self.mode == "hold":
            self.held.append(skb)
            netif_stop_queue(dev)
            return NETDEV_TX_OK
        self.sent.append(skb)
        self.sent_bytes.append(skb.tobytes())
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len
        dev_kfree_skb(skb)
        return NETDEV_TX_OK

    def complete(self, dev: NetDevice, error: bool = False) -> None:
        """The "TX done" interrupt for held skbs."""
        while self.held:
            skb = self.held.pop(0)
            if error:
                dev.stats.tx_errors += 1
            else:
                dev.stats.tx_packets += 1
                dev.stats.tx_bytes += skb.len
            dev_kfree_skb(skb)

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        self.calls.append("tx_timeout")
        self.timeouts += 1

    def set_rx_mode(self, dev: NetDevice) -> None:
        self.rx_mode_calls += 1

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        if self.mtu_refuse:
            return -errno.EINVAL
        dev.mtu = new_mtu
        return 0

    def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
        return super().set_config(dev, ifmap)  # type: ignore[return-value]


def make_dev(
    host: Host | None = None, name: str = "t%d", *, up: bool = True, mac: bytes | None = None,
    **attrs: Any,
) -> tuple[NetDevice, ScriptedOps]:  # fmt: skip
    """An Ethernet test device (registered and up when ``host`` is given)."""
    dev = alloc_netdev(None, name, ether_setup)
    ops = ScriptedOps()
    dev.netdev_ops = ops
    dev.dev_addr = mac or b"\x02\x00\x00\x00\x00\x10"
    for k, v in attrs.items():
        setattr(dev, k, v)
    if host is not None:
        host.register_netdev(dev)
        if up:
            assert host.dev_open(dev) == 0
    return dev, ops


def get(host: Host, name: str) -> NetDevice:
    """The registered device called ``name`` (asserted to exist)."""
    dev = host.dev_get_by_name(name)
    assert dev is not None, f"no device {name!r}"
    return dev


def mem(host: Host) -> MemoryStack:
    """The host's memory attachment (typed)."""
    return cast(MemoryStack, host.attachment)


def tx(host: Host, dev: NetDevice, payload: bytes = b"x" * 60) -> int:
    """Send one frame through the core as the stack would."""
    return mem(host).send(dev, payload)


class FakeClock:
    """A clock tests move by hand; starts far from 0 so "time 0" bugs show."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, dt: float) -> None:
        self.now += dt


def run_for(host: Host, clock: FakeClock, seconds: float, step: float = 0.001) -> None:
    """Advance the fake clock by ``seconds`` in ``step``s, running due work after each."""
    host.loop.run_until_idle()
    n = round(seconds / step)
    for _ in range(n):
        clock.advance(step)
        host.loop.run_until_idle()


def load_driver(host: Host, cls: type[Driver], **params: Any) -> Driver:
    """Load a driver class on ``host`` with ``name=value`` parameters (strings or values)."""
    words = [f"{k}={v}" for k, v in params.items()]
    drv = cls(host, parse_params(cls.name, cls.parameters, words))
    with host.as_current():
        drv.init()
    return drv


class FakeTunTap:
    """A ``TunTap`` for a kernel attachment ``_Port`` without /dev/net/tun: ``fd`` is any
    descriptor readv/write work on (one end of a datagram socketpair), made non-blocking as
    ``TunTap`` opens /dev/net/tun (O_NONBLOCK)."""

    def __init__(self, fd: int, name: str, *, vnet_hdr: bool = False) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.name = name
        self.tap = True
        self.vnet_hdr = vnet_hdr

    def close(self) -> None:
        self.fd = -1


class CarrierTunTap(FakeTunTap):
    """A :class:`FakeTunTap` that takes carrier changes (``TUNSETCARRIER``)."""

    def set_carrier(self, on: bool) -> bool:
        return True


@contextlib.contextmanager
def kernel_port(
    host: Host, dev: NetDevice, *, vnet_hdr: bool = False, attach: bool = False
) -> Iterator[tuple[Any, Any, socket.socket]]:
    """``dev`` on a kernel attachment whose TAP is one end of a datagram socketpair: yields
    ``(ks, port, a)``, ``a`` the kernel's end.  ``attach``: the host's attachment is the
    kernel one (carrier and queue changes reach it) and the port's reader runs, until the
    block ends."""
    from netdrv_core.attach.tap import KernelStack, _Port

    ks = KernelStack()
    ks.host = host
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    port = _Port(dev, CarrierTunTap(b.fileno(), dev.name, vnet_hdr=vnet_hdr), 1)  # type: ignore[arg-type]
    ks.ports[dev.name] = port
    before = host.attachment
    if attach:
        host.attachment = ks
        ks._start_reading(port)
    try:
        yield ks, port, a
    finally:
        if attach:
            ks._stop_reading(port)
            host.attachment = before
        a.close()
        b.close()


def pump(host: Host) -> None:
    """Run the loop a few rounds: a TAP reader's wake-up, its reads and what they schedule."""
    for _ in range(5):
        host.loop.run_once(0)
        host.loop.run_until_idle()


def rx_skb(dev: NetDevice, frame: bytes) -> SkBuff:
    """A received ``frame`` as a driver hands it up: IP header aligned, protocol set,
    checksum checked (CHECKSUM_UNNECESSARY)."""
    skb = SkBuff(2 + len(frame))
    skb.buf[2:] = frame
    skb.data, skb.tail = 2, 2 + len(frame)
    skb.protocol = eth_type_trans(skb, dev)
    skb.ip_summed = CHECKSUM_UNNECESSARY
    return skb
