"""``net_device``: :class:`NetDevice`, its operations, flags, statistics, queue and carrier.

Names follow the kernel (seed 004, LDD "Network Drivers") so a driver author
who knows ``struct net_device`` finds every field where they expect it.
Differences, because this is Python:

* time is in seconds (``float``, from the host's loop clock) — ``trans_start``,
  ``watchdog_timeo``;
* operations return ``0``/``None`` on success and a negative errno (or raise
  ``OSError``) on failure;
* a device belongs to a :class:`~netdrv_core.host.Host` once registered; the
  host is the "kernel" it is registered with.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import InvalidNameError
from .netdev_queue import alloc_tx_queues, freeze_tx_queues, netif_tx_wake_all_queues
from .skbuff import SkBuff, kfree_skb

if TYPE_CHECKING:
    from .ethtool import EthtoolOps
    from .host import Host
    from .napi import NapiStruct

__all__ = [
    "GSO_MAX_SIZE",
    "IFF_ALLMULTI",
    "IFF_BROADCAST",
    "IFF_DEBUG",
    "IFF_DORMANT",
    "IFF_DYNAMIC",
    "IFF_LIVE_ADDR_CHANGE",
    "IFF_LOOPBACK",
    "IFF_LOWER_UP",
    "IFF_MULTICAST",
    "IFF_NOARP",
    "IFF_POINTOPOINT",
    "IFF_PROMISC",
    "IFF_RUNNING",
    "IFF_UP",
    "IFNAMSIZ",
    "NETDEV_TX_BUSY",
    "NETDEV_TX_OK",
    "NET_ADDR_PERM",
    "NET_ADDR_RANDOM",
    "NET_ADDR_SET",
    "NET_ADDR_STOLEN",
    "NET_RX_DROP",
    "NET_RX_SUCCESS",
    "NET_XMIT_CN",
    "NET_XMIT_DROP",
    "NET_XMIT_SUCCESS",
    "SIOCDEVPRIVATE",
    "CoreStats",
    "HeaderOps",
    "NetDevice",
    "NetDeviceOps",
    "NetDeviceStats",
    "alloc_etherdev",
    "alloc_etherdev_mq",
    "alloc_etherdev_mqs",
    "alloc_netdev",
    "alloc_netdev_mqs",
    "dev_addr_mod",
    "dev_addr_set",
    "dev_get_stats",
    "netdev_intersect_features",
    "netdev_priv",
    "netif_carrier_off",
    "netif_carrier_ok",
    "netif_carrier_on",
    "netif_device_attach",
    "netif_device_detach",
    "netif_device_present",
    "netif_queue_stopped",
    "netif_running",
    "netif_set_gso_max_size",
    "netif_start_queue",
    "netif_stop_queue",
    "netif_trans_update",
    "netif_wake_queue",
]

log = logging.getLogger("netdrv.netdevice")

IFNAMSIZ = 16

# Interface flags (include/uapi/linux/if.h).
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_DEBUG = 0x4
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_NOTRAILERS = 0x20
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200
IFF_MASTER = 0x400
IFF_SLAVE = 0x800
IFF_MULTICAST = 0x1000
IFF_PORTSEL = 0x2000
IFF_AUTOMEDIA = 0x4000
IFF_DYNAMIC = 0x8000
IFF_LOWER_UP = 0x10000
IFF_DORMANT = 0x20000
IFF_ECHO = 0x40000

# priv_flags
IFF_LIVE_ADDR_CHANGE = 0x1

# Feature bits a driver declares in ``features``/``hw_features`` (subset of netdev_features.h),
# with Linux's numbers: the NETIF_F_*_BIT enum of 6.x.  6.12 made LLTX (12) and NETNS_LOCAL
# (13) device fields but kept their places (__UNUSED_NETIF_F_12, _13): no bit moved.
NETIF_F_SG = 1 << 0
NETIF_F_IP_CSUM = 1 << 1
NETIF_F_HW_CSUM = 1 << 3
NETIF_F_IPV6_CSUM = 1 << 4
NETIF_F_HIGHDMA = 1 << 5
# VLAN acceleration (netdrv_core.vlan): the device inserts the 802.1Q tag from the skb's
# metadata on transmit, strips it into the metadata on receive, filters by VLAN ID.
NETIF_F_HW_VLAN_CTAG_TX = 1 << 7
NETIF_F_HW_VLAN_CTAG_RX = 1 << 8
NETIF_F_HW_VLAN_CTAG_FILTER = 1 << 9
# Generic segmentation offload ("tx-generic-segmentation", ``gso``), a software feature of
# every device: the stack builds super-frames for it and segments them just before it
# (the kernel behind the TAP, which follows this bit). Needs SG, as in Linux.
NETIF_F_GSO = 1 << 11
NETIF_F_LLTX = 1 << 12
NETIF_F_GRO = 1 << 14
# Offloads netdrv's core does nothing for, named so that ``ethtool -k`` lists them, as
# ethtool does on any device, ``off [fixed]`` unless a driver declares them.
NETIF_F_LRO = 1 << 15
NETIF_F_TSO = 1 << 16
NETIF_F_TSO_ECN = 1 << 18
# TSO that may give the segments of a fixed-ID super-frame (SKB_GSO_TCP_FIXEDID) IPv4 IDs
# counting up, as TSO does for any other ("tx-tcp-mangleid-segmentation"); the bit Linux uses.
NETIF_F_TSO_MANGLEID = 1 << 19
NETIF_F_TSO6 = 1 << 20
# The GSO bits are SKB_GSO_* << NETIF_F_GSO_SHIFT (16): SKB_GSO_UDP_L4 is 1 << 17.
NETIF_F_GSO_UDP_L4 = 1 << 33
# As NETIF_F_LRO: named for ethtool -k ("ntuple-filters", "receive-hashing") only.
NETIF_F_NTUPLE = 1 << 38
NETIF_F_RXHASH = 1 << 39
NETIF_F_RXCSUM = 1 << 40
NETIF_F_LOOPBACK = 1 << 42
NETIF_F_CSUM_MASK = NETIF_F_IP_CSUM | NETIF_F_HW_CSUM | NETIF_F_IPV6_CSUM
NETIF_F_ALL_TSO = NETIF_F_TSO | NETIF_F_TSO_ECN | NETIF_F_TSO_MANGLEID | NETIF_F_TSO6
# What register_netdevice gives every device, changeable (Linux's NETIF_F_SOFT_FEATURES).
NETIF_F_SOFT_FEATURES = NETIF_F_GSO | NETIF_F_GRO


def netdev_intersect_features(f1: int, f2: int) -> int:
    """The features in both ``f1`` and ``f2`` (Linux's ``netdev_intersect_features``), where
    ``NETIF_F_HW_CSUM`` in one counts as ``NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM`` in the other."""
    if (f1 ^ f2) & NETIF_F_HW_CSUM:
        if f1 & NETIF_F_HW_CSUM:
            f1 |= NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM
        else:
            f2 |= NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM
    return f1 & f2


# Return values.
NETDEV_TX_OK = 0x00
NETDEV_TX_BUSY = 0x10
NET_RX_SUCCESS = 0
NET_RX_DROP = 1
NET_XMIT_SUCCESS = 0x00
NET_XMIT_DROP = 0x01
"""Dropped: the qdisc was full (Linux's ``qdisc_drop``), or the frame could not be made
right for the device before it was queued (a tag it had no room for)."""
NET_XMIT_CN = 0x02
"""Congestion notification (Linux's value): the frame was dropped by ``noop_qdisc``, every
TX queue's qdisc while the device is down or has no carrier (``noop_enqueue``).  Like
Linux's ``net_xmit_eval``, a caller may take it as no error."""

SIOCDEVPRIVATE = 0x89F0  # ..+15 are the driver's private ioctls

# reg_state
NETREG_UNINITIALIZED = 0
NETREG_REGISTERED = 1
NETREG_UNREGISTERED = 3

GSO_MAX_SIZE = 65536
"""The longest super-frame a device takes by default (``dev->gso_max_size``)."""

# addr_assign_type: where dev_addr came from (sysfs addr_assign_type)
NET_ADDR_PERM = 0
"""The hardware's own address (the default): ``register_netdev`` copies it to ``perm_addr``."""
NET_ADDR_RANDOM = 1
"""Made up (:func:`~netdrv_core.ether.eth_hw_addr_random`): no permanent address."""
NET_ADDR_STOLEN = 2
"""Borrowed from another device."""
NET_ADDR_SET = 3
"""Set by ``dev_set_mac_address`` (``ip link set DEV address``)."""

_STAT_FIELDS = (
    "rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors",
    "rx_dropped", "tx_dropped", "multicast", "collisions", "rx_length_errors",
    "rx_over_errors", "rx_crc_errors", "rx_frame_errors", "rx_fifo_errors",
    "rx_missed_errors", "tx_aborted_errors", "tx_carrier_errors", "tx_fifo_errors",
    "tx_heartbeat_errors", "tx_window_errors", "rx_compressed", "tx_compressed",
    "rx_nohandler",
)  # fmt: skip


class NetDeviceStats:
    """The full ``rtnl_link_stats64`` counter set; drivers increment these."""

    __slots__ = _STAT_FIELDS
    # Declared for the type checker only (no class attributes: they would clash with the slots).
    rx_packets: int
    tx_packets: int
    rx_bytes: int
    tx_bytes: int
    rx_errors: int
    tx_errors: int
    rx_dropped: int
    tx_dropped: int
    multicast: int
    collisions: int
    rx_length_errors: int
    rx_over_errors: int
    rx_crc_errors: int
    rx_frame_errors: int
    rx_fifo_errors: int
    rx_missed_errors: int
    tx_aborted_errors: int
    tx_carrier_errors: int
    tx_fifo_errors: int
    tx_heartbeat_errors: int
    tx_window_errors: int
    rx_compressed: int
    tx_compressed: int
    rx_nohandler: int

    def __init__(self) -> None:
        for f in _STAT_FIELDS:
            setattr(self, f, 0)

    def as_dict(self) -> dict[str, int]:
        """All counters by name."""
        return {f: getattr(self, f) for f in _STAT_FIELDS}

    def copy(self) -> NetDeviceStats:
        """A snapshot."""
        s = NetDeviceStats()
        for f in _STAT_FIELDS:
            setattr(s, f, getattr(self, f))
        return s

    def __repr__(self) -> str:
        nz = {k: v for k, v in self.as_dict().items() if v}
        return f"NetDeviceStats({nz})"


class CoreStats:
    """What the core counted about a device, independently of the driver.

    These make the transmit contract checkable: every skb for which
    ``start_xmit`` returned ``NETDEV_TX_OK`` is in ``tx_submitted`` and must end
    up in the driver's ``tx_packets + tx_dropped + tx_errors``.
    """

    __slots__ = (
        "rx_backlog_drops", "rx_delivered", "rx_down_drops", "rx_submitted", "tx_busy",
        "tx_driver_faults", "tx_qdisc_drops", "tx_submitted", "tx_timeouts",
    )  # fmt: skip
    rx_backlog_drops: int
    rx_delivered: int
    rx_down_drops: int
    rx_submitted: int
    tx_busy: int
    tx_driver_faults: int
    tx_qdisc_drops: int
    tx_submitted: int
    tx_timeouts: int

    def __init__(self) -> None:
        for f in self.__slots__:
            setattr(self, f, 0)

    def as_dict(self) -> dict[str, int]:
        """All counters by name."""
        return {f: getattr(self, f) for f in self.__slots__}


class NetDeviceOps:
    """``net_device_ops``: subclass and override what your device supports.

    Every method receives the device first, as in C.  Return ``0``/``None``
    for success or a negative errno; raising ``OSError`` works too.
    """

    def init(self, dev: NetDevice) -> int | None:
        """Called by ``register_netdev`` before the device is visible (``ndo_init``)."""
        return 0

    def uninit(self, dev: NetDevice) -> None:
        """Called by ``unregister_netdev`` (``ndo_uninit``)."""

    def open(self, dev: NetDevice) -> int | None:
        """The interface is brought up (``ip link set DEV up``)."""
        return 0

    def stop(self, dev: NetDevice) -> int | None:
        """The interface is brought down."""
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """Transmit ``skb``: return NETDEV_TX_OK (you own it) or NETDEV_TX_BUSY (core keeps it)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement start_xmit")

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        """The watchdog saw queue ``txqueue`` stopped for longer than ``watchdog_timeo``."""

    select_queue: Callable[[NetDevice, SkBuff, NetDevice | None], int] | None = None
    """``ndo_select_queue(dev, skb, sb_dev)``: the TX queue of ``skb`` on a device with
    more than one in use; None (the default): the core hashes the flow
    (:func:`~netdrv_core.netdev_queue.netdev_pick_tx`, which an override may call)."""

    def get_stats(self, dev: NetDevice) -> NetDeviceStats:
        """Return the device statistics (default: ``dev.stats``)."""
        return dev.stats

    def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int | None:
        """Change bus resources (``irq``, ``base_addr``, ``mem_start``, ...); see LDD."""
        return -errno.EOPNOTSUPP

    def do_ioctl(self, dev: NetDevice, request: int, data: Any) -> Any:
        """Device-specific ioctls, SIOCDEVPRIVATE..SIOCDEVPRIVATE+15."""
        return -errno.EOPNOTSUPP

    def set_rx_mode(self, dev: NetDevice) -> None:
        """Flags IFF_PROMISC/IFF_ALLMULTI or ``mc_list`` changed: program the filter."""

    def set_mac_address(self, dev: NetDevice, addr: bytes) -> int | None:
        """Change the hardware address (default: :func:`~netdrv_core.ether.eth_mac_addr`)."""
        from .ether import eth_mac_addr

        return eth_mac_addr(dev, addr)

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int | None:
        """Accept a new MTU (limits ``min_mtu``/``max_mtu`` are checked by the core)."""
        dev.mtu = new_mtu
        return 0

    def validate_addr(self, dev: NetDevice) -> int | None:
        """Check ``dev_addr`` before open (default: accept)."""
        return 0

    def fix_features(self, dev: NetDevice, features: int) -> int:
        """Adjust a requested feature set to what the device can do now (``ndo_fix_features``).

        Called by :meth:`~netdrv_core.host.Host.netdev_update_features` after the core's
        own rules (TSO needs scatter-gather and a checksum offload); return the features
        to use.  Default: unchanged.
        """
        return features

    def set_features(self, dev: NetDevice, features: int) -> int | None:
        """Switch the hardware to ``features`` (``ndo_set_features``); ``dev.features`` is
        still the old set here, and becomes ``features`` on success.  Default: accept."""
        return 0


class HeaderOps:
    """``header_ops``: build and parse the link-layer header."""

    def create(
        self, skb: SkBuff, dev: NetDevice, type_: int, daddr: bytes | None,
        saddr: bytes | None, length: int,
    ) -> int:  # fmt: skip
        """Push a header; return its length, negative when it is incomplete."""
        return 0

    def parse(self, skb: SkBuff) -> bytes:
        """Return the source hardware address of a received frame."""
        return b""

    def rebuild(self, skb: SkBuff) -> int:
        """Complete a header created with an unknown destination."""
        return 0

    def cache(self, *args: Any) -> int:
        """Fill a hardware header cache entry (unused by most drivers)."""
        return -errno.EOPNOTSUPP


class NetDevice:
    """A network interface.

    Allocate it with :func:`alloc_netdev` or :func:`alloc_etherdev`, fill in
    ``netdev_ops`` (alias ``ops``), then register it with the host.

    Every field ``__init__`` sets is a slot: the transmit and receive paths load
    some twenty of them per packet, and on CPython 3.11 a slot load is cheaper
    than a load from an instance dict this large (over the 30 keys a shared-key
    dict holds).  A driver may still set fields of its own on a device (the
    ``__dict__`` slot); the core never does.  A field added to ``__init__`` must
    be added here too (``tests/unit/core/test_netdevice_layout.py`` checks).
    """

    __slots__ = (
        "__dict__", "__weakref__",  # drivers' own fields; the host's weak sets of devices
        "_carrier", "_deactivated", "_drv_xoff", "_present", "_queue_stopped", "_stack_xoff",
        "_tx_queue",
        "_tx_queues", "_watchdog",
        "_watchdog_on", "addr_assign_type", "addr_len", "allmulti", "base_addr",
        "broadcast", "core_stats", "dev_addr", "disable_ipv6", "dma", "driver",
        "ethtool_ops", "features", "flags", "gso_max_size", "hard_header_len", "header_ops",
        "host", "hw_features", "if_port", "ifindex", "irq", "last_rx", "max_mtu", "mc_list",
        "mem_end", "mem_start", "min_mtu", "mtu", "name", "napi_list", "needed_headroom",
        "netdev_ops", "num_rx_queues", "num_tx_queues", "operstate", "perm_addr", "priv",
        "priv_flags", "promiscuity", "qdisc", "real_num_rx_queues", "real_num_tx_queues",
        "reg_state", "rx_csum_unnecessary", "rx_hook", "stats",
        "trans_start", "tx_queue_len", "type", "vlan_features", "wanted_features",
        "watchdog_fired", "watchdog_timeo", "xmit_hook",
    )  # fmt: skip

    def __init__(self, name: str = "eth%d") -> None:
        self.name = name
        self.ifindex = 0
        self.type = 0
        self.flags = 0
        self.priv_flags = 0
        self.features = 0
        # The features the user may turn on and off (``ethtool -K``), and those asked
        # for: netdev_update_features() makes ``features`` from them.
        self.hw_features = 0
        self.wanted_features = 0
        # What the device still offloads behind a VLAN tag (``dev->vlan_features``): 0, as
        # ether_setup leaves it, means a tagged frame gets no checksum or segmentation
        # offload (netif_skb_features); a driver whose hardware parses past the tag sets it.
        self.vlan_features = 0
        self.mtu = 1500
        self.min_mtu = 68
        self.max_mtu = 1500
        self.hard_header_len = 0
        self.needed_headroom = 0
        self.addr_len = 0
        self.dev_addr = b""
        self.perm_addr = b""
        self.addr_assign_type = NET_ADDR_PERM
        self.gso_max_size = GSO_MAX_SIZE
        """The longest super-frame (GSO/TSO) the device takes; set with
        :func:`netif_set_gso_max_size` before registering."""
        self.broadcast = b""
        self.tx_queue_len = 1000
        # TX queues allocated and in use (alloc_netdev_mqs, netif_set_real_num_tx_queues);
        # the transmit path picks a queue per frame only while more than one is in use.
        self.num_tx_queues = self.real_num_tx_queues = 1
        self.num_rx_queues = self.real_num_rx_queues = 1
        self.watchdog_timeo = 0.0
        self.trans_start = 0.0
        self.last_rx = 0.0
        # Bus resources (ifmap) — LDD "set_config".
        self.irq = 0
        self.base_addr = 0
        self.mem_start = 0
        self.mem_end = 0
        self.dma = 0
        self.if_port = 0
        self.mc_list: list[bytes] = []
        self.priv: Any = None
        self.stats = NetDeviceStats()
        self.core_stats = CoreStats()
        self.netdev_ops: NetDeviceOps = NetDeviceOps()
        self.header_ops: HeaderOps | None = None
        self.ethtool_ops: EthtoolOps | None = None
        self.driver: Any = None
        self.host: Host | None = None
        self.reg_state = NETREG_UNINITIALIZED
        self.napi_list: list[NapiStruct] = []
        self.qdisc: deque[SkBuff] = deque()
        self.promiscuity = 0
        self.allmulti = 0
        self.operstate = "down"
        # The transmit path reads one flag, _queue_stopped: the driver's XOFF
        # (netif_stop_queue), the stack's (BQL's netdev_tx_sent_queue) or _deactivated,
        # kept in step by whoever changes any, so a device without BQL, with its
        # carrier, costs no extra check.
        # Not stopped: Linux's alloc_netdev_mqs zeroes the queue state (no DRV_XOFF), and
        # dev_queue_xmit drops every frame while the device is down anyway.
        self._queue_stopped = False
        self._drv_xoff = False
        self._stack_xoff = False
        # Between dev_deactivate and dev_activate (up without carrier): the qdiscs are
        # Linux's noop_qdisc, every frame is dropped before start_xmit (Host.carrier_changed).
        self._deactivated = False
        self._tx_queue: Any = None  # queue 0's NetdevQueue, made by netdev_get_tx_queue
        self._tx_queues: Any = None  # all NetdevQueues, with more than one (netdev_queue.py)
        self._carrier = True
        self._present = True  # __LINK_STATE_PRESENT: set by alloc_netdev, as in Linux
        self._watchdog: Any = None  # the pending watchdog check (a loop Timer), if any
        self._watchdog_on = False  # up, with a tx_timeout: the core watches a stopped queue
        self.watchdog_fired = 0
        # Kernel-attachment hints: disable IPv6 on the interface (snull does), and
        # mark received frames DATA_VALID through a virtio-net header.
        self.disable_ipv6 = False
        self.rx_csum_unnecessary = False
        self.xmit_hook: Callable[[SkBuff], bool] | None = None  # phy middleware (tx)
        self.rx_hook: Callable[[SkBuff], bool] | None = None  # phy middleware (rx)

    # ops is the name LDD uses; netdev_ops the modern one.
    @property
    def ops(self) -> NetDeviceOps:
        """Alias of :attr:`netdev_ops`."""
        return self.netdev_ops

    @ops.setter
    def ops(self, value: NetDeviceOps) -> None:
        self.netdev_ops = value

    @property
    def is_up(self) -> bool:
        """True while IFF_UP is set."""
        return bool(self.flags & IFF_UP)

    def __repr__(self) -> str:
        return f"<NetDevice {self.name} type={self.type} flags=0x{self.flags:x} mtu={self.mtu}>"


def alloc_netdev(
    sizeof_priv: int | Callable[[], Any] | type | None,
    name: str,
    setup: Callable[[NetDevice], None],
) -> NetDevice:
    """Allocate a device, its private area, and run ``setup(dev)`` on it.

    ``sizeof_priv`` is a byte count (a zeroed ``bytearray``, as in C) or,
    better in Python, a class/factory whose instance becomes ``dev.priv``.
    ``name`` may hold ``%d``: the lowest free number is chosen at registration.
    """
    return alloc_netdev_mqs(sizeof_priv, name, setup, 1, 1)


def alloc_netdev_mqs(
    sizeof_priv: int | Callable[[], Any] | type | None,
    name: str,
    setup: Callable[[NetDevice], None],
    txqs: int,
    rxqs: int,
) -> NetDevice:
    """:func:`alloc_netdev` with ``txqs`` TX queues and ``rxqs`` RX queues, all in use
    at first (``real_num_tx_queues``); see :mod:`netdrv_core.netdev_queue`."""
    if not name or len(name) >= IFNAMSIZ:
        raise InvalidNameError(f"invalid interface name {name!r}: 1..{IFNAMSIZ - 1} characters")
    for what, n in (("txqs", txqs), ("rxqs", rxqs)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"alloc_netdev_mqs: {what} {n!r}: at least one queue is needed")
    dev = NetDevice(name)
    alloc_tx_queues(dev, txqs)
    dev.num_rx_queues = dev.real_num_rx_queues = rxqs
    if isinstance(sizeof_priv, int):
        dev.priv = bytearray(sizeof_priv)
    elif sizeof_priv is not None:
        dev.priv = sizeof_priv()
    setup(dev)
    return dev


def alloc_etherdev(sizeof_priv: int | Callable[[], Any] | type | None = None) -> NetDevice:
    """Allocate an Ethernet device named ``eth%d`` (``ether_setup`` applied)."""
    from .linktypes import ether_setup

    return alloc_netdev(sizeof_priv, "eth%d", ether_setup)


def alloc_etherdev_mqs(
    sizeof_priv: int | Callable[[], Any] | type | None, txqs: int, rxqs: int
) -> NetDevice:
    """:func:`alloc_etherdev` with ``txqs`` TX and ``rxqs`` RX queues."""
    from .linktypes import ether_setup

    return alloc_netdev_mqs(sizeof_priv, "eth%d", ether_setup, txqs, rxqs)


def alloc_etherdev_mq(sizeof_priv: int | Callable[[], Any] | type | None, count: int) -> NetDevice:
    """:func:`alloc_etherdev` with ``count`` TX and ``count`` RX queues."""
    return alloc_etherdev_mqs(sizeof_priv, count, count)


def netdev_priv(dev: NetDevice) -> Any:
    """The driver's private data of ``dev``."""
    return dev.priv


# -- queue ----------------------------------------------------------------------------
def netif_start_queue(dev: NetDevice) -> None:
    """Allow the core to call ``start_xmit`` (at open time).

    To restart a queue stopped while the device runs, Linux drivers call
    :func:`netif_wake_queue`, which also reschedules the qdisc; some call this instead,
    and Linux sends what waits at the next packet from the stack.  The stack here
    (the TAP reader) stopped reading when the queue stopped, so there would be no next
    packet: on a running device this restarts it as a wake does.
    """
    if dev.flags & IFF_UP:
        netif_wake_queue(dev)
        return
    dev._drv_xoff = False
    dev._queue_stopped = dev._stack_xoff or dev._deactivated


def netif_stop_queue(dev: NetDevice) -> None:
    """Tell the core not to call ``start_xmit`` until :func:`netif_wake_queue`.

    As Linux since 6.12, the watchdog counts from the stop (``trans_start``): a queue
    stopped outside ``start_xmit`` after an idle spell is not timed out at once."""
    if dev._watchdog_on and dev.host is not None:  # only the watchdog reads trans_start
        dev.trans_start = dev.host.loop.clock()
    dev._drv_xoff = True
    if not dev._queue_stopped:
        dev._queue_stopped = True
        if dev._watchdog_on and dev._watchdog is None and dev.host is not None:
            dev.host.arm_watchdog(dev)  # only a stopped queue can time out


def netif_wake_queue(dev: NetDevice) -> None:
    """Restart a stopped queue and let the core send what it holds.

    Clears only the driver's stop: while Byte Queue Limits hold the queue
    (:func:`~netdrv_core.bql.netif_xmit_stopped`) it stays stopped until
    ``netdev_completed_queue``.
    """
    was = dev._queue_stopped
    dev._drv_xoff = False
    dev._queue_stopped = stopped = dev._stack_xoff or dev._deactivated
    if was and not stopped and dev.host is not None:
        dev.host.queue_woken(dev)


def netif_queue_stopped(dev: NetDevice) -> bool:
    """True while the driver has stopped the transmit queue (:func:`netif_stop_queue`).

    As in Linux this is the driver's stop only; the core sends nothing either
    while Byte Queue Limits hold the queue (:func:`~netdrv_core.bql.netif_xmit_stopped`).
    """
    return dev._drv_xoff


def netif_trans_update(dev: NetDevice) -> None:
    """Record that a transmission started now (resets the watchdog's clock)."""
    dev.trans_start = dev.host.loop.clock() if dev.host is not None else 0.0


def netif_running(dev: NetDevice) -> bool:
    """True while the device is up."""
    return bool(dev.flags & IFF_UP)


# -- device presence (suspend, unplug) ------------------------------------------------
def netif_device_present(dev: NetDevice) -> bool:
    """False between :func:`netif_device_detach` and :func:`netif_device_attach`
    (``netif_device_present``, Linux's ``__LINK_STATE_PRESENT``)."""
    return dev._present


def netif_device_detach(dev: NetDevice) -> None:
    """The hardware is gone for now: suspended, or unplugged (``netif_device_detach``).

    The device is marked not present and, if up, its transmit queue stopped
    (``netif_tx_stop_all_queues``): frames wait in the qdisc, or are dropped once
    it is full, as for any stopped queue.  The watchdog leaves a device that is
    not present alone, and ``dev_open``, ``dev_set_mtu`` and
    ``dev_set_mac_address`` refuse it with ``-ENODEV``.
    """
    if dev._present:
        dev._present = False
        if dev.flags & IFF_UP:
            freeze_tx_queues(dev)  # no watchdog: it ignores the device


def netif_device_attach(dev: NetDevice) -> None:
    """The hardware is back (resume): the device is present again and, if up, its
    transmit queue woken and the watchdog restarted (``netif_device_attach``)."""
    if dev._present:
        return
    dev._present = True
    if dev.flags & IFF_UP:
        if dev._tx_queues is None:
            netif_wake_queue(dev)
        else:
            netif_tx_wake_all_queues(dev)
        if dev.host is not None:
            dev.host.watchdog_up(dev)


# -- carrier --------------------------------------------------------------------------
def netif_carrier_on(dev: NetDevice) -> None:
    """The link is up: the kernel shows LOWER_UP and sends traffic.

    On an up device the core sends again (Linux's linkwatch calls ``dev_activate``):
    every queue the driver has not stopped sends, and the stack may send again.
    """
    if not dev._carrier:
        dev._carrier = True
        if dev.host is not None:
            dev.host.carrier_changed(dev)


def netif_set_gso_max_size(dev: NetDevice, size: int) -> None:
    """Linux's ``netif_set_gso_max_size``: super-frames for ``dev`` are at most ``size``
    bytes (hardware whose TSO takes less than 64 KiB: the AX88179's 16 KiB).

    Call it before registering: on the kernel attachment the link's ``gso_max_size``
    is set from it, so the kernel's TCP builds none longer; one longer all the same (queued
    earlier) is segmented in software before ``start_xmit``.
    """
    if not 0 < size <= GSO_MAX_SIZE:
        raise ValueError(f"{dev.name}: gso_max_size {size} outside 1..{GSO_MAX_SIZE}")
    dev.gso_max_size = size


def netif_carrier_off(dev: NetDevice) -> None:
    """The link is down: the kernel shows NO-CARRIER.

    On an up device the core sends nothing more until :func:`netif_carrier_on`
    (Linux's linkwatch calls ``dev_deactivate``: the qdiscs become ``noop_qdisc``):
    what the qdiscs hold and every frame sent meanwhile is dropped, freed and counted
    in ``core_stats.tx_qdisc_drops``, never given to ``start_xmit``.  The driver's
    queue state (:func:`netif_queue_stopped`) does not change.
    """
    if dev._carrier:
        dev._carrier = False
        if dev.host is not None:
            dev.host.carrier_changed(dev)


def netif_carrier_ok(dev: NetDevice) -> bool:
    """True while the carrier is on."""
    return dev._carrier


# -- hardware address -------------------------------------------------------------------
def dev_addr_set(dev: NetDevice, addr: bytes | bytearray | memoryview) -> None:
    """Set the whole hardware address of ``dev``: ``addr_len`` bytes (``dev_addr_set``).

    Since Linux 5.15 ``dev->dev_addr`` is ``const`` and drivers set it with this,
    :func:`dev_addr_mod` or :func:`~netdrv_core.ether.eth_hw_addr_set`.  As in Linux
    no notifier is called: the stack hears of an address change made through
    ``dev_set_mac_address`` (``ip link set DEV address``), whose ``set_mac_address``
    calls these.  But ``ip link`` shows ``dev_addr``: on a registered device the kernel
    attachment writes the new address to the interface at once (on the loop's next
    round).  Raises ``ValueError`` when ``addr`` is not ``addr_len`` bytes.
    """
    if len(addr) != dev.addr_len:
        raise ValueError(f"{dev.name}: dev_addr_set of {len(addr)} bytes, but the device's "
                         f"addresses are {dev.addr_len} bytes (addr_len)")  # fmt: skip
    dev.dev_addr = bytes(addr)
    _dev_addr_changed(dev)


def _dev_addr_changed(dev: NetDevice) -> None:
    """``ip link`` shows a registered device's new ``dev_addr`` at once (no notifier): the
    attachment mirrors it (the kernel attachment on the TAP).  Not per packet."""
    host = dev.host
    if host is not None and dev.reg_state == NETREG_REGISTERED:
        host.attachment.dev_addr_changed(dev)


def dev_addr_mod(
    dev: NetDevice, offset: int, addr: bytes | bytearray | memoryview, length: int | None = None
) -> None:
    """Overwrite part of the hardware address of ``dev``: the first ``length`` bytes of
    ``addr`` (all of it by default) at ``offset`` (``dev_addr_mod``).

    Raises ``ValueError`` when they would not fit in ``addr_len`` bytes.
    """
    part = bytes(addr if length is None else addr[:length])
    if (length is not None and len(part) != length) or offset < 0:
        raise ValueError(f"{dev.name}: dev_addr_mod of {length} bytes at {offset} from "
                         f"{len(addr)} bytes")  # fmt: skip
    n = dev.addr_len
    if offset + len(part) > n:
        raise ValueError(f"{dev.name}: dev_addr_mod of {len(part)} bytes at offset {offset} "
                         f"does not fit the device's {n}-byte addresses (addr_len)")  # fmt: skip
    old = bytes(dev.dev_addr).ljust(n, b"\0")  # Linux's dev_addr is addr_len zeros at first
    dev.dev_addr = old[:offset] + part + old[offset + len(part) : n]
    _dev_addr_changed(dev)


def dev_get_stats(dev: NetDevice) -> NetDeviceStats:
    """The driver's statistics plus what the core dropped on its behalf (like the kernel)."""
    s = dev.netdev_ops.get_stats(dev).copy()
    cs = dev.core_stats
    s.rx_dropped += cs.rx_backlog_drops + cs.rx_down_drops
    s.tx_dropped += cs.tx_driver_faults
    return s


def kfree_tx(skb: SkBuff) -> None:
    """Free an skb the core could not hand to the driver."""
    if not skb.freed:
        kfree_skb(skb)
