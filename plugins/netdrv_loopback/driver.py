"""The loopback driver, after Linux ``drivers/net/loopback.c``.

Every skb handed to ``start_xmit`` is counted and given straight back to the
stack with ``netif_rx``: IFF_LOOPBACK, no ARP, MTU 64 KiB, the checksum is
trusted (``CHECKSUM_UNNECESSARY``).  On the kernel attachment it is a TAP
interface named ``nlo0`` (the kernel's own ``lo`` name is taken).
"""

from __future__ import annotations

from netdrv_core import (
    CHECKSUM_UNNECESSARY,
    ETH_HLEN,
    IFF_LOOPBACK,
    IFF_NOARP,
    NETDEV_TX_OK,
    Driver,
    NetDevice,
    NetDeviceOps,
    Param,
    SkBuff,
    alloc_netdev,
    eth_type_trans,
    ether_setup,
    netif_rx,
)
from netdrv_core.ethtool import DrvInfo, EthtoolOps

LOOPBACK_MTU = 65536


class LoopbackOps(NetDeviceOps):
    """``loopback_ops``: no ``open`` or ``stop``, as in Linux — the queue keeps the state
    ``alloc_netdev_mqs`` gave it (awake), and a device that is down sends nothing anyway."""

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """Count the frame as sent and received, and hand it back."""
        if skb.mac_header >= 0 and skb.mac_header < skb.data:
            skb.data = skb.mac_header  # the stack gave us the frame from its link header
        skb.ip_summed = CHECKSUM_UNNECESSARY
        eth_type_trans(skb, dev)  # sets pkt_type (PACKET_HOST for our own address), as Linux's
        length = skb.len  # as loopback_xmit: after eth_type_trans, without the link header
        if netif_rx(skb) == 0:
            s = dev.stats
            s.tx_packets += 1
            s.tx_bytes += length
            s.rx_packets += 1
            s.rx_bytes += length
        # else: dropped by the core (device down, backlog full) and counted there, once, in
        # rx_dropped -- loopback_xmit counts a frame only `if (__netif_rx(skb) == NET_RX_SUCCESS)`.
        return NETDEV_TX_OK

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        """Any MTU within 68..65536."""
        dev.mtu = new_mtu
        return 0


class LoopbackEthtool(EthtoolOps):
    """ethtool: link always up (``loopback_ethtool_ops``: ``get_link`` and no link settings,
    so ``netdrv ethtool nlo0`` shows only ``Link detected: yes``, as ``ethtool lo``)."""

    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        """Driver name."""
        return DrvInfo(driver="loopback", version=Loopback.version)

    def get_link(self, dev: NetDevice) -> bool:
        """Always linked."""
        return True


def loopback_setup(dev: NetDevice) -> None:
    """``loopback_setup``: Ethernet framing, loopback flags, 64 KiB MTU."""
    ether_setup(dev)
    dev.mtu = dev.max_mtu = LOOPBACK_MTU
    dev.hard_header_len = ETH_HLEN
    dev.flags = IFF_LOOPBACK | IFF_NOARP
    dev.tx_queue_len = 1000  # like today's lo; a TUN/TAP with 0 cannot queue anything
    dev.dev_addr = b"\x02\x00\x00\x00\x00\x01"  # a TAP needs a unicast address of its own
    dev.netdev_ops = LoopbackOps()
    dev.ethtool_ops = LoopbackEthtool()


class Loopback(Driver):
    """A loopback interface: what you send comes back."""

    name = "loopback"
    _SAYS = "every transmitted frame comes back in (Linux loopback.c)"
    summary = _SAYS + ", as nlo%d"
    version = "1.0"
    multiple_instances = True  # netdrv load loopback:b name=lb%d
    parameters = (Param("name", str, "nlo%d", "interface name (%d picks the lowest free number)"),)

    def init(self) -> None:
        """Register one loopback device."""
        dev = alloc_netdev(None, self.params["name"], loopback_setup)
        self.register(dev)

    def describe(self) -> str:
        """``netdrv status``: the interface it made (``name=`` may have named it)."""
        names = ", ".join(dev.name for dev in self.devices)
        return f"{self._SAYS}, as {names}" if names else self.summary
