"""Helpers of the usbnet driver tests: load the driver on a memory host, frames, waiting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from netdrv_usbnet.driver import Usbnet

from netdrv_core import Host, NetDevice
from netdrv_core.netdevice import dev_get_stats
from netdrv_core.params import parse_params

PEER = b"\x02\x11\x22\x33\x44\x55"
BCAST = b"\xff" * 6


def load(host: Host, **params: Any) -> Usbnet:
    """``netdrv load usbnet k=v…`` on ``host``; numbers become text, objects are set as they are.

    An object (a pyusb backend for ``backend``) is no text parse_params would take:
    it replaces the parsed value, as only in-process code can.
    """
    objects = {k: v for k, v in params.items() if not isinstance(v, str | int | float)}
    values = {k: v if isinstance(v, str | bool) else str(v)
              for k, v in params.items() if k not in objects}  # fmt: skip
    values.setdefault("hotplug_interval", "0.05")
    drv = Usbnet(host, {**parse_params("usbnet", Usbnet.parameters, values), **objects})
    try:
        with host.as_current():
            drv.init()
    except BaseException:
        with host.as_current():
            drv.exit()
        raise
    return drv


def unload(host: Host, drv: Usbnet) -> None:
    """``netdrv unload usbnet``, then let posted completions run."""
    with host.as_current():
        drv.exit()
    host.loop.run_until_idle()


def frame(
    dst: bytes, size: int = 60, tag: int = 0, src: bytes = PEER, ethertype: int = 0x88B5
) -> bytes:
    """An Ethernet frame of ``size`` bytes whose payload bytes are ``tag``."""
    return dst + src + ethertype.to_bytes(2, "big") + bytes([tag & 0xFF]) * (size - 14)


def wait(host: Host, pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Run the loop until ``pred()`` (threads hand their work to the loop)."""
    return host.loop.run_until(pred, timeout)


def up(host: Host, dev: NetDevice, carrier: bool = True) -> None:
    """``ip link set DEV up`` and wait for the carrier (the interrupt endpoint reports it)."""
    host.attachment.up(dev)
    if carrier:
        assert wait(host, lambda: dev._carrier), f"{dev.name}: no carrier"


def received(host: Host, dev: NetDevice, n: int, timeout: float = 5.0) -> list[bytes]:
    """Collect ``n`` frames received on ``dev`` (fewer if they do not come)."""
    got: list[bytes] = []

    def enough() -> bool:
        got.extend(host.attachment.received(dev))
        return len(got) >= n

    wait(host, enough, timeout)
    return got


def linux_tx_bytes(sim: str, frames: list[bytes], mps: int) -> int:
    """The ``tx_bytes`` Linux's usbnet counts for ``frames`` sent one skb each: cdc_ncm the
    datagrams (``usbnet_set_skb_tx_stats`` takes the NTB framing off); cdc_ether and the
    AX88179 (no FLAG_MULTI_PACKET) the bulk transfer — its 8-byte AX88179 header, and the pad
    byte ``usbnet_start_xmit`` appends to one that ends on a full packet of ``mps`` bytes."""
    if sim.startswith("cdc_ncm"):
        return sum(map(len, frames))
    header = 8 if sim == "ax88179" else 0
    return sum(n + (n % mps == 0) for n in (len(f) + header for f in frames))


def accounted(dev: NetDevice) -> bool:
    """The transmit contract: every skb handed to start_xmit ended exactly once."""
    s = dev_get_stats(dev)
    return dev.core_stats.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors


def settle_tx(host: Host, dev: NetDevice, timeout: float = 5.0) -> bool:
    """Wait until nothing is queued and every frame is accounted for."""
    return wait(host, lambda: not dev.qdisc and accounted(dev) and dev.priv.tx_inflight == 0,
                timeout)  # fmt: skip


def usbnet_threads() -> list[threading.Thread]:
    """Threads of the usbnet driver still running."""
    return [t for t in threading.enumerate() if t.name.startswith("netdrv-usbnet")]


def open_cdc(model: Any) -> Any:
    """A simulated CDC adapter opened through pyusb as a host driver does: configured, both
    interfaces claimed, the data interface's alternate setting 1 (its endpoints) chosen."""
    import usb.core
    import usb.util
    from netdrv_usbnet.sim import SimBackend

    dev = usb.core.find(backend=SimBackend([model]), idVendor=model.device_descriptor.idVendor)
    dev.set_configuration()
    usb.util.claim_interface(dev, 0)
    usb.util.claim_interface(dev, 1)
    dev.set_interface_altsetting(interface=1, alternate_setting=1)
    return dev
