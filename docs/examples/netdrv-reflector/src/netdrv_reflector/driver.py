"""The reflector driver: one Ethernet interface whose "wire" answers what it is sent.

Load it and the interface ``refl0`` gets 198.51.100.1/24; every other address
of that network then seems to be a host that answers ARP, ping and UDP:

    netdrv load reflector
    ping 198.51.100.2          # answered by the driver
    netdrv status              # tx and rx counters move together

What it shows a driver author:

* ``start_xmit`` owns the skb it accepts: here it rewrites the frame in place
  (:func:`~netdrv_reflector.reflect.reflect`) and hands the *same* skb back up
  with ``eth_type_trans`` + ``netif_rx``, or frees it — every skb ends exactly
  once, and is counted (``tx_packets``, ``tx_dropped``, ``rx_packets``);
* a typed, documented parameter with limits (``rate=``) enforced with the
  host's clock (a token bucket), so tests can drive time;
* ``configure()``: what happens after ``init()`` on the kernel attachment —
  an address, the link brought up;
* private counters through ethtool (``get_strings``/``get_ethtool_stats``);
* Byte Queue Limits, as most Linux Ethernet drivers use them: the bytes
  handed to the wire are reported with ``netdev_sent_queue`` and, once the
  wire is done with them, ``netdev_completed_queue``; ``stop`` forgets them
  with ``netdev_reset_queue``.  This wire is done at once, so the limit stays
  about one frame; ``netdrv status --json`` shows it (``bql``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netdrv_core import (
    NET_RX_SUCCESS,
    NETDEV_TX_OK,
    Driver,
    NetDevice,
    NetDeviceOps,
    Param,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    eth_hw_addr_set,
    eth_type_trans,
    ether_setup,
    netdev_completed_queue,
    netdev_reset_queue,
    netdev_sent_queue,
    netif_rx,
    netif_start_queue,
    netif_stop_queue,
)
from netdrv_core.ether import parse_mac
from netdrv_core.ethtool import DrvInfo, EthtoolOps

from .reflect import reflect

REFLECTOR_MAC = b"\x02RFL\x00\x01"  # locally administered (02:52:46:4c:00:01)


def _cidr(text: str) -> str:
    """Validate ADDRESS/PREFIX (an IPv4 interface address)."""
    iface = ipaddress.ip_interface(text)
    if iface.version != 4 or iface.network.prefixlen > 30:
        raise ValueError("give an IPv4 address with a prefix of /30 or shorter")
    return text


def _mac(text: str) -> str:
    """Validate a unicast MAC address."""
    if parse_mac(text)[0] & 1:
        raise ValueError("must be a unicast MAC address")
    return text.lower()


@dataclass
class ReflectorPriv:
    """Per-device state (``netdev_priv``)."""

    peer_mac: bytes = b""
    udp: bool = True
    rate: int = 0
    tokens: float = 0.0
    last: float = 0.0
    counts: dict[str, int] = field(
        default_factory=lambda: {"arp": 0, "icmp": 0, "udp": 0, "ignored": 0, "ratelimited": 0}
    )


def _priv(dev: NetDevice) -> ReflectorPriv:
    return dev.priv  # type: ignore[no-any-return]


class ReflectorOps(NetDeviceOps):
    """``net_device_ops`` of the reflector."""

    def open(self, dev: NetDevice) -> int:
        """Refill the token bucket and start the queue."""
        p = _priv(dev)
        p.tokens = float(p.rate)
        p.last = dev.host.loop.clock() if dev.host is not None else 0.0
        netif_start_queue(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        """Stop the queue; nothing is on the wire any more (BQL forgets it)."""
        netif_stop_queue(dev)
        netdev_reset_queue(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """Answer the frame in place and hand it back up, or free it — counted either way."""
        p = _priv(dev)
        if skb.mac_header >= 0 and skb.mac_header < skb.data:
            skb.data = skb.mac_header  # the frame from its link header on
        length = skb.len
        if p.rate and not self._take_token(dev, p):
            p.counts["ratelimited"] += 1
            dev.stats.tx_dropped += 1
            dev_kfree_skb(skb)
            return NETDEV_TX_OK
        netdev_sent_queue(dev, length)  # the "wire" took it...
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += length
        netdev_completed_queue(dev, 1, length)  # ...and is done with it: the TX completion
        kind = reflect(skb.view(), p.peer_mac, udp=p.udp)
        if kind is None:
            p.counts["ignored"] += 1
            dev_kfree_skb(skb)
            return NETDEV_TX_OK
        p.counts[kind] += 1
        eth_type_trans(skb, dev)
        if netif_rx(skb) == NET_RX_SUCCESS:  # the core counts what it drops itself
            dev.stats.rx_packets += 1
            dev.stats.rx_bytes += length
        return NETDEV_TX_OK

    @staticmethod
    def _take_token(dev: NetDevice, p: ReflectorPriv) -> bool:
        now = dev.host.loop.clock() if dev.host is not None else 0.0
        p.tokens = min(float(p.rate), p.tokens + (now - p.last) * p.rate)
        p.last = now
        if p.tokens < 1.0:
            return False
        p.tokens -= 1.0
        return True


class ReflectorEthtool(EthtoolOps):
    """``ethtool -i`` and ``ethtool -S`` for the reflector."""

    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        """Driver name and version."""
        return DrvInfo(driver="reflector", version=Reflector.version, bus_info="virtual")

    def get_strings(self, dev: NetDevice) -> list[str]:
        """Names of the private counters."""
        return [f"reflected_{k}" if k in ("arp", "icmp", "udp") else k for k in _priv(dev).counts]

    def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
        """Values of the private counters."""
        return list(_priv(dev).counts.values())


def reflector_setup(dev: NetDevice) -> None:
    """Ethernet, our MAC, IPv6 off (its router solicitations would only be ignored)."""
    ether_setup(dev)
    eth_hw_addr_set(dev, REFLECTOR_MAC)  # dev_addr is const, as in Linux 5.15+
    dev.netdev_ops = ReflectorOps()
    dev.ethtool_ops = ReflectorEthtool()
    dev.disable_ipv6 = True


class Reflector(Driver):
    """A wire that answers: ARP, ping and UDP come back from the address they were sent to."""

    name = "reflector"
    summary = "a wire that answers ARP and ping and echoes UDP back to the sender"
    version = "1.0.0"
    parameters = (
        Param("name", str, "refl%d", "interface name (%d picks the lowest free number)"),
        Param("addr", _cidr, "198.51.100.1/24", "address of the interface; every other "
              "address of its network answers"),
        Param("peer_mac", _mac, "02:52:46:4c:00:fe", "MAC address the answers come from"),
        Param("udp", bool, True, "echo UDP datagrams (ARP and ping are always answered)"),
        Param("rate", int, 0, "frames per second the wire takes; more are dropped (0: no limit)",
              min=0, max=1_000_000, unit="frames/s"),
        Param("configure", bool, True, "assign the address and bring the link up on load"),
    )  # fmt: skip

    def init(self) -> None:
        """Allocate and register the interface."""
        dev = alloc_netdev(ReflectorPriv, self.params["name"], reflector_setup)
        p = _priv(dev)
        p.peer_mac = parse_mac(self.params["peer_mac"])
        p.udp = self.params["udp"]
        p.rate = self.params["rate"]
        self.register(dev)

    def configure(self) -> None:
        """Give the interface its address and bring it up (``configure=0`` skips this)."""
        if not self.params["configure"]:
            return
        att = self.host.attachment
        for dev in self.devices:
            att.add_address(dev, self.params["addr"])
            ret = att.set_link_up(dev)
            if ret:
                raise OSError(-ret, f"{dev.name}: open failed")

    def describe(self) -> str:
        """What to ping."""
        iface = ipaddress.ip_interface(self.params["addr"])
        other = next(h for h in iface.network.hosts() if h != iface.ip)
        names = ", ".join(d.name for d in self.devices)
        return f"{names} {iface}: ping {other} (or any address of {iface.network}) — it answers"
