"""Setup helpers for device types (``ether_setup`` and family) and ARPHRD values.

Each helper fills in the fields the kernel's own helper does (seed 004, "The
Device Methods"/"Utility Fields"): type, header length, MTU, address length,
queue length, flags and the broadcast address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .netdevice import (
    IFF_BROADCAST,
    IFF_MULTICAST,
    IFF_NOARP,
    IFF_POINTOPOINT,
)

if TYPE_CHECKING:
    from .netdevice import NetDevice

__all__ = [
    "ARPHRD_APPLETLK",
    "ARPHRD_AX25",
    "ARPHRD_CSLIP",
    "ARPHRD_ETHER",
    "ARPHRD_FCPP",
    "ARPHRD_FDDI",
    "ARPHRD_HIPPI",
    "ARPHRD_IEEE802",
    "ARPHRD_IEEE802_TR",
    "ARPHRD_LOCALTLK",
    "ARPHRD_LOOPBACK",
    "ARPHRD_NONE",
    "ARPHRD_PPP",
    "ARPHRD_SLIP",
    "ether_setup",
    "fc_setup",
    "fddi_setup",
    "hippi_setup",
    "is_l2",
    "ltalk_setup",
    "ptp_setup",
    "slip_setup",
    "tr_setup",
]

ARPHRD_NETROM = 0
ARPHRD_ETHER = 1
ARPHRD_AX25 = 3
ARPHRD_IEEE802 = 6
ARPHRD_APPLETLK = 8
ARPHRD_SLIP = 256
ARPHRD_CSLIP = 257
ARPHRD_PPP = 512
ARPHRD_HIPPI = 780
ARPHRD_LOOPBACK = 772
ARPHRD_LOCALTLK = 773
ARPHRD_FCPP = 784
ARPHRD_FDDI = 774
ARPHRD_IEEE802_TR = 800
ARPHRD_NONE = 0xFFFE

ETH_ALEN = 6
ETH_HLEN = 14
ETH_DATA_LEN = 1500
ETH_MIN_MTU = 68
ETH_MAX_MTU = 0xFFFF


def _link_setup(
    dev: NetDevice, type_: int, hard_header_len: int, mtu: int, min_mtu: int, addr_len: int,
    tx_queue_len: int, flags: int, broadcast: bytes,
) -> None:  # fmt: skip
    """The fields every *_setup helper fills in, like the kernel's (MTU is also max_mtu)."""
    dev.type = type_
    dev.hard_header_len = hard_header_len
    dev.mtu = dev.max_mtu = mtu
    dev.min_mtu = min_mtu
    dev.addr_len = addr_len
    dev.tx_queue_len = tx_queue_len
    dev.flags = flags
    dev.broadcast = broadcast
    dev.dev_addr = bytes(addr_len)


def ether_setup(dev: NetDevice) -> None:
    """Ethernet: 14-byte header, 6-byte addresses, MTU 1500, queue 1000, broadcast ff:…:ff."""
    from .ether import ETH_HEADER_OPS

    _link_setup(dev, ARPHRD_ETHER, ETH_HLEN, ETH_DATA_LEN, ETH_MIN_MTU, ETH_ALEN, 1000,
                IFF_BROADCAST | IFF_MULTICAST, b"\xff" * ETH_ALEN)  # fmt: skip
    dev.header_ops = ETH_HEADER_OPS


def ltalk_setup(dev: NetDevice) -> None:
    """LocalTalk: ARPHRD_LOCALTLK, 1-byte addresses, LTALK_HLEN 1, MTU 600, no ARP."""
    _link_setup(dev, ARPHRD_LOCALTLK, 1, 600, 1, 1, 10,
                IFF_BROADCAST | IFF_MULTICAST | IFF_NOARP, b"\xff")  # fmt: skip


def fddi_setup(dev: NetDevice) -> None:
    """FDDI: 802.2 SNAP header + 3 pad bytes (24), MTU 4470 (FDDI_K_SNAP_DLEN), 6-byte addresses."""
    _link_setup(dev, ARPHRD_FDDI, 21 + 3, 4470, 21, ETH_ALEN, 100,
                IFF_BROADCAST | IFF_MULTICAST, b"\xff" * ETH_ALEN)  # fmt: skip


def hippi_setup(dev: NetDevice) -> None:
    """HIPPI: 40-byte header (HIPPI-FP 8 + LE 24 + SNAP 8), MTU 65280, 6-byte addresses."""
    _link_setup(dev, ARPHRD_HIPPI, 8 + 24 + 8, 65280, 68, ETH_ALEN, 25, 0,
                b"\xff" * ETH_ALEN)  # fmt: skip


def tr_setup(dev: NetDevice) -> None:
    """Token Ring: TR_HLEN 40 (MAC header with routing 32 + LLC/SNAP 8), MTU 2000."""
    _link_setup(dev, ARPHRD_IEEE802_TR, 32 + 8, 2000, 68, ETH_ALEN, 100,
                IFF_BROADCAST | IFF_MULTICAST, b"\xff" * ETH_ALEN)  # fmt: skip


def fc_setup(dev: NetDevice) -> None:
    """Fibre Channel (IP over FC): ARPHRD_IEEE802, FC_HLEN 20 (addresses 12 + LLC/SNAP 8)."""
    _link_setup(dev, ARPHRD_IEEE802, 12 + 8, 2024, 68, ETH_ALEN, 100, IFF_BROADCAST,
                b"\xff" * ETH_ALEN)  # fmt: skip


def ptp_setup(dev: NetDevice, type_: int = ARPHRD_SLIP, mtu: int = 296) -> None:
    """Point-to-point L3 link (SLIP/PPP-like): no link header, no addresses, NOARP.

    Like Linux ``sl_setup``: MTU 296 (SLIP's default), queue length 10 (a slow
    line holds seconds of data in 10 frames — seed 000), IFF_NOARP|IFF_POINTOPOINT.
    """
    dev.type = type_
    dev.hard_header_len = 0
    dev.mtu = mtu
    dev.min_mtu = 68
    dev.max_mtu = 65534
    dev.addr_len = 0
    dev.tx_queue_len = 10
    dev.flags = IFF_NOARP | IFF_POINTOPOINT | IFF_MULTICAST
    dev.broadcast = b""
    dev.dev_addr = b""
    dev.header_ops = None


slip_setup = ptp_setup


def is_l2(dev: NetDevice) -> bool:
    """True for devices that carry a link-layer header the stack builds (Ethernet-like)."""
    return dev.type in (ARPHRD_ETHER, ARPHRD_LOOPBACK) or dev.hard_header_len > 0
