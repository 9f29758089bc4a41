"""faulty: a test driver whose start_xmit raises, to prove drivers are isolated."""

from __future__ import annotations

from netdrv_core import Driver, NetDeviceOps, Param, alloc_netdev, ether_setup, hookimpl
from netdrv_core.netdevice import netif_start_queue


class FaultyOps(NetDeviceOps):
    """Opens fine, raises on transmit."""

    def open(self, dev):  # type: ignore[no-untyped-def]
        """Start the queue."""
        netif_start_queue(dev)
        return 0

    def start_xmit(self, skb, dev):  # type: ignore[no-untyped-def]
        """A driver bug."""
        raise RuntimeError("deliberate bug in start_xmit")


def _setup(dev):  # type: ignore[no-untyped-def]
    ether_setup(dev)
    dev.dev_addr = b"\x02\x00\x00\x00\xfa\x01"
    dev.netdev_ops = FaultyOps()


class Faulty(Driver):
    """Raises in start_xmit."""

    name = "netdrv_faulty"
    summary = "a driver that raises in start_xmit (tests)"
    parameters = (Param("fail_init", bool, False, "raise in init"),)

    def init(self) -> None:
        """Register fa0."""
        if self.params["fail_init"]:
            raise RuntimeError("deliberate bug in init")
        self.register(alloc_netdev(None, "fa%d", _setup))


@hookimpl
def netdrv_drivers():  # type: ignore[no-untyped-def]
    """Offer the faulty driver."""
    return [Faulty]
