"""The kernel attachment: each registered device is a TUN/TAP interface of the same name.

Ethernet-type devices get a TAP (frames with an Ethernet header), devices
without a link header (SLIP-like, ``hard_header_len == 0``) get a TUN without
packet info.  Frames the kernel sends are read from the fd and handed to the
driver's ``start_xmit`` through the core; ``netif_rx`` ends in a write to the fd.

* Back-pressure: while a device's queue is stopped its fd is not read, so the
  kernel's TUN/TAP queue (``txqueuelen`` frames) fills and then drops, counted as
  TX dropped in ``ip -s link`` (a TAP never stops its qdisc).
* Offloads: a driver declaring NETIF_F_HW_CSUM/NETIF_F_TSO* gets IFF_VNET_HDR
  and TUNSETOFFLOAD; the header maps to ``ip_summed``/``gso_*`` both ways.
  Without them, plain frames: an offload job a driver hands up is done first (a
  partial checksum finished, a super-frame segmented).
* Kept in step through netlink both ways (see :mod:`.netlink`); link events the
  kernel drops (a full receive buffer) are made up for by re-reading the links.
  The kernel's ``ethtool -K`` on the link too: its features event makes netdrv read
  the link's features (``SIOCETHTOOL``) and hand the change to the driver.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import ipaddress
import logging
import os
import socket
import struct
from typing import TYPE_CHECKING, TypeVar

from ..checksum import skb_checksum_help
from ..errors import DriverError, NameInUseError, NotPermittedError
from ..ether import ETH_ALEN, ETH_P_IP, ETH_P_IPV6
from ..gso import (
    GSO_FEATURES_NEEDED,
    can_checksum_protocol,
    skb_gso_ok,
    skb_gso_segment,
    validate_xmit_skb,
)
from ..linktypes import is_l2
from ..netdev_queue import all_txqs_blocked
from ..netdevice import (
    GSO_MAX_SIZE,
    IFF_ALLMULTI,
    IFF_DEBUG,
    IFF_DYNAMIC,
    IFF_LIVE_ADDR_CHANGE,
    IFF_MULTICAST,
    IFF_NOARP,
    IFF_PROMISC,
    IFF_UP,
    NETIF_F_ALL_TSO,
    NETIF_F_CSUM_MASK,
    NETIF_F_GRO,
    NETIF_F_GSO,
    NETIF_F_GSO_UDP_L4,
    NETIF_F_HW_CSUM,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_IP_CSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NETIF_F_TSO_ECN,
    NETIF_F_TSO_MANGLEID,
)
from ..skbuff import CHECKSUM_PARTIAL, SkBuff, skb_from_frame
from ..vlan import ETH_P_8021Q, VLAN_ETH_HLEN, skb_vlan_untag, vlan_hwaccel_push_inside
from . import ioctl
from .base import Attachment
from .netlink import LinkConfig, LinkEvent, LinkMonitor
from .vnet import (
    DATA_VALID_HDR,
    PLAIN_HDR,
    VNET_HDR_LEN,
    VnetHeaderError,
    apply_vnet_header,
    build_vnet_header,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..host import Host
    from ..loop import Timer
    from ..netdevice import NetDevice

__all__ = ["KernelStack", "TunTap"]

log = logging.getLogger("netdrv.attach.tap")
_T = TypeVar("_T")

IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08
TUN_F_USO4 = 0x20
TUN_F_USO6 = 0x40
TUN_F_USO = TUN_F_USO4 | TUN_F_USO6  # Linux (6.2+) takes both or neither
MAX_FRAME = 65536 + 14 + VNET_HDR_LEN
# Headroom of a received skb: room to push a header without reallocating, and
# (NET_SKB_PAD + NET_IP_ALIGN, like netdev_alloc_skb_ip_align) an IP header on
# a 4-byte boundary after the 14-byte Ethernet header of a TAP frame.
RX_HEADROOM = 34
# A frame up to this size is copied out of the read buffer into an skb of its
# own size; a larger one (a TSO super-frame) keeps the read buffer itself, and
# the port reads into a fresh one: no copy of 64 KiB in Python.
RX_COPYBREAK = 4096
# Seconds before asking again for the links' state when a dump after lost events failed,
# doubling while it keeps failing, up to DUMP_RETRY_MAX.
DUMP_RETRY = 1.0
DUMP_RETRY_MAX = 60.0
# The flags rtnetlink lets a user (and netdrv, at setup) set on a link without a driver op.
USER_FLAGS = IFF_NOARP | IFF_MULTICAST | IFF_DEBUG | IFF_DYNAMIC
# The link features kept in step with the device's (``ethtool -K`` on either side): the
# kernel's name, the device's bits, and whether the TUN/TAP masks the link's request by
# what netdrv offers it (TUNSETOFFLOAD; for the others the link does what is requested).
# A TUN/TAP has one checksum offload, the generic one: it stands for all of the device's.
# tx-tcp-mangleid-segmentation has no TUN_F_* flag (tun does not declare it; Linux's
# register_netdevice adds it to the link's hw_features with TSO), yet it is kept in step:
# with it on, the link's kernel hands a fixed-ID super-frame whole, and the virtio-net
# header cannot say "fixed ID", so netdrv reads plain TCPV4 and the device counts the IDs
# up.  That must happen only when the device allows it; without it the kernel segments
# such a frame keeping the ID.  Not masked: the link requests it when the device has it on,
# so the link never has it on while the device has it off.
# tx-generic-segmentation (GSO, as on every device) is requested as the device's request:
# the link's kernel drops it without scatter-gather as netdrv does.  With it off there the
# kernel's TCP and UDP segment for the TAP themselves (Linux's sk_can_gso) rather than
# the link's GSO just before it: the driver gets the same frames.
KERNEL_FEATURES: tuple[tuple[str, int, bool], ...] = (
    ("tx-scatter-gather", NETIF_F_SG, False),
    ("tx-generic-segmentation", NETIF_F_GSO, True),
    ("tx-checksum-ip-generic", NETIF_F_CSUM_MASK, True),
    ("tx-tcp-segmentation", NETIF_F_TSO, True),
    ("tx-tcp-ecn-segmentation", NETIF_F_TSO_ECN, True),
    ("tx-tcp-mangleid-segmentation", NETIF_F_TSO_MANGLEID, False),
    ("tx-tcp6-segmentation", NETIF_F_TSO6, True),
    ("tx-udp-segmentation", NETIF_F_GSO_UDP_L4, True),
    ("rx-gro", NETIF_F_GRO, False),
)


class TunTap:
    """One open ``/dev/net/tun`` queue bound to an interface."""

    def __init__(self, name: str, *, tap: bool, vnet_hdr: bool, offloads: int) -> None:
        self.name = name
        self.tap = tap
        self.vnet_hdr = vnet_hdr
        self.offloads = 0
        try:
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError:
            raise NotPermittedError(
                "cannot open /dev/net/tun: permission denied. Run as root or give the daemon "
                "CAP_NET_ADMIN (see docs: troubleshooting)"
            ) from None
        except FileNotFoundError:
            raise NotPermittedError(
                "/dev/net/tun does not exist: load the tun module (modprobe tun) or, in a "
                "container, pass --device /dev/net/tun"
            ) from None
        flags = (IFF_TAP if tap else IFF_TUN) | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        ifr = struct.pack("16sH22x", name.encode(), flags)
        try:
            fcntl.ioctl(self.fd, ioctl.TUNSETIFF, ifr)
            if vnet_hdr:
                fcntl.ioctl(self.fd, ioctl.TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR_LEN))
                if TunTap.uso_refused is None:  # the first header: does the kernel have USO?
                    self.set_offloads(TUN_F_CSUM | TUN_F_USO)
                self.offloads = self.set_offloads(offloads)
        except OSError as exc:
            os.close(self.fd)
            if exc.errno == errno.EPERM:
                raise NotPermittedError(
                    f"creating interface {name!r} needs CAP_NET_ADMIN: run as root, or give "
                    "the daemon that capability (docs/troubleshooting.md: running the daemon "
                    "with only CAP_NET_ADMIN)"
                ) from None
            if exc.errno in (errno.EBUSY, errno.EEXIST):
                raise NameInUseError(
                    f"interface {name!r} already exists and is not a free TUN/TAP; "
                    f"delete it (ip link del {name}) or choose another name"
                ) from None
            if exc.errno == errno.EINVAL:
                raise NameInUseError(
                    f"the kernel refused interface {name!r} (EINVAL): an interface of another "
                    f"type may have this name; choose another name"
                ) from None
            raise

    # Whether the kernel refused UDP segmentation (TUN_F_USO*: Linux before 6.2); None
    # until the first TAP with a vnet header asks.
    uso_refused: bool | None = None

    def set_offloads(self, offloads: int) -> int:
        """TUNSETOFFLOAD: what the kernel may hand over unfinished (needs the vnet header).

        Returns the flags set: without UDP segmentation on a kernel that has none (it
        refuses the whole call, EINVAL, for a flag it does not know).
        """
        if TunTap.uso_refused:
            offloads &= ~TUN_F_USO
        try:
            fcntl.ioctl(self.fd, ioctl.TUNSETOFFLOAD, offloads)
        except OSError as exc:
            if exc.errno != errno.EINVAL or not offloads & TUN_F_USO:
                raise
            TunTap.uso_refused = True
            offloads &= ~TUN_F_USO
            fcntl.ioctl(self.fd, ioctl.TUNSETOFFLOAD, offloads)
        else:
            if offloads & TUN_F_USO:
                TunTap.uso_refused = False
        return offloads

    def set_carrier(self, on: bool) -> bool:
        """TUNSETCARRIER; False when the kernel is too old to support it."""
        try:
            fcntl.ioctl(self.fd, ioctl.TUNSETCARRIER, struct.pack("i", 1 if on else 0))
            return True
        except OSError as exc:
            log.debug("%s: TUNSETCARRIER failed: %s", self.name, exc)
            return False

    def close(self) -> None:
        """Close the fd: the (non-persistent) interface disappears."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Port:
    """Per-device state of the kernel attachment, with its read buffer."""

    __slots__ = ("addr", "addr_sync", "dev", "drain", "fd", "head", "hlen", "index", "iov",
                 "k_addr", "k_avail", "k_feat", "k_mtu", "k_name", "k_off", "k_txqlen", "k_up",
                 "minlen", "p_addr", "p_mtu", "p_up", "reading", "scratch", "start", "tap", "tt",
                 "unprobed")  # fmt: skip

    def __init__(self, dev: NetDevice, tt: TunTap, index: int) -> None:
        self.dev = dev
        self.tt = tt
        self.fd = tt.fd  # the port leaves ``ports`` before the TunTap closes
        self.tap = tt.tap
        self.index = index
        self.reading = False
        # Read until EAGAIN (``drain``), or one frame per wake-up; see _on_readable.
        self.drain = True
        self.unprobed = -2  # loop iteration of the last wake-up that did not read to EAGAIN
        # A read lands at ``start``: the virtio-net header (if any), then the frame
        # at ``head``, so the bytes need not move to become an skb.
        self.hlen = VNET_HDR_LEN if tt.vnet_hdr else 0
        self.head = RX_HEADROOM if tt.tap else RX_HEADROOM - 2  # TUN: the IP header first
        self.start = self.head - self.hlen
        self.minlen = 14 if tt.tap else 1  # a TAP frame needs its Ethernet header (protocol)
        self.scratch = bytearray()
        self.iov: list[memoryview] = []
        self.new_scratch()
        # The kernel link as the last RTM_NEWLINK showed it (at first: a new TAP, down,
        # with what _sync_to_kernel writes).  An event is applied as the difference from
        # the one before, so events queued before a change netdrv made cannot undo it.
        self.k_up = False
        self.k_mtu = _kernel_mtu(self)
        self.k_addr = bytes(dev.dev_addr)
        # Whether the link's address is the device's, kept in step both ways: a TAP's are
        # Ethernet's (6 bytes, whatever its ARPHRD type), a TUN has none.
        self.addr = tt.tap and dev.addr_len == ETH_ALEN
        # The driver set dev_addr itself and the write to the link is queued (_dev_addr_sync):
        # until it runs, the link's old address is no user's change (see _resync).
        self.addr_sync = False
        self.k_txqlen = dev.tx_queue_len  # a 0 is written as 1: the first event says so
        self.k_name = dev.name  # ``ip link set DEV name NEW``: followed by index, then renamed
        # The link's features (KERNEL_FEATURES names): those ``ethtool -K`` may change on it
        # (read once), those requested as netdrv last wrote or read them (None: unknown),
        # and the TUNSETOFFLOAD flags written.  Features events carry no state: the link's
        # is read, and a change from ``k_feat`` is the user's (netdrv's own writes, and any
        # event queued before them, read as ``k_feat``).
        self.k_avail: frozenset[str] = frozenset()
        self.k_feat: frozenset[str] | None = None
        self.k_off = 0
        # What netdrv wrote to the link and no event has shown yet, oldest first, each with
        # the order (LinkEvent.order) of the first event that can show it: the link already
        # has it, so an event of another value is older than the write (see _echo).
        self.p_up: list[tuple[bool, int]] = []
        self.p_mtu: list[tuple[int, int]] = []
        self.p_addr: list[tuple[bytes, int]] = []

    def new_scratch(self) -> None:
        """A fresh read buffer (the old one became an skb's)."""
        self.scratch = bytearray(MAX_FRAME + RX_HEADROOM)
        self.iov = [memoryview(self.scratch)[self.start :]]


class KernelStack(Attachment):
    """Attach devices to the host kernel through TUN/TAP, kept in step through netlink."""

    budget = 64  # frames read per fd wake-up, like a NAPI weight
    is_kernel = True
    direct_rx = True  # receive() only writes to an fd: netif_rx may deliver at once

    def __init__(self) -> None:
        self.ports: dict[str, _Port] = {}
        self._by_index: dict[int, _Port] = {}
        self._cfg: LinkConfig | None = None
        self._mon: LinkMonitor | None = None
        self._mcast_timer: Timer | None = None
        # Links a dump was asked for (see _resync), and the timer asking again for one the
        # kernel refused or could not be sent.
        self._dump_ports: set[int] = set()
        self._dump_retry: Timer | None = None
        self._dump_failures = 0
        # Events read but not applied yet: at attach (the other ports'), and before each
        # write of netdrv's (_catch_up), which must be known to come after them.
        self._backlog: list[LinkEvent] = []
        # The batch being applied (_handle_events) and how far: a write made meanwhile (a
        # driver changing another of its devices) comes after the rest of it too.
        self._batch: list[LinkEvent] = []
        self._batch_at = 0
        self._nread = 0  # events read so far: the next one's LinkEvent.order
        self._catching_up = False  # _on_netlink is due for the backlog
        self._applying: _Port | None = None  # a kernel event is being applied to this port
        # Feature name -> bit of the kernel's SIOCETHTOOL masks, and their word count (read
        # once; None until then, empty if the kernel cannot tell: features not kept in step).
        self._kfeat_bits: dict[str, int] | None = None
        self._kfeat_words = 0
        self.counters = {"eio": 0, "eagain": 0, "short": 0, "bad_vnet": 0, "rejected": 0,
                         "runt": 0, "bad_offload": 0, "netlink_overflows": 0,
                         "stale_offload": 0}  # fmt: skip

    # -- setup ----------------------------------------------------------------------------
    @property
    def cfg(self) -> LinkConfig:
        """pyroute2 link configuration (opened on first use)."""
        if self._cfg is None:
            self._cfg = LinkConfig()
        return self._cfg

    def names_in_use(self) -> set[str]:
        """Interfaces of this network namespace."""
        try:
            return set(os.listdir("/sys/class/net"))
        except OSError:
            return set()

    def _ensure_monitor(self) -> None:
        if self._mon is None:
            self._mon = LinkMonitor()
            self.host.loop.add_reader(self._mon.fileno(), self._on_netlink)
            self._mcast_timer = self.host.loop.call_later(1.0, self._poll_mcast)

    @staticmethod
    def _offloads(f: int) -> int:
        """TUN_F_* flags for features ``f``: what the kernel may hand the reader unfinished."""
        off = 0
        if f & (NETIF_F_HW_CSUM | NETIF_F_IP_CSUM):
            off |= TUN_F_CSUM
            if f & NETIF_F_TSO:
                off |= TUN_F_TSO4
            if f & NETIF_F_TSO6:
                off |= TUN_F_TSO6
            if f & NETIF_F_TSO_ECN:
                off |= TUN_F_TSO_ECN
            if f & NETIF_F_GSO_UDP_L4 and not TunTap.uso_refused:
                off |= TUN_F_USO
        return off

    @classmethod
    def _offer(cls, dev: NetDevice) -> int:
        """TUNSETOFFLOAD flags: the device's features, and those the user turned off and may
        turn on again: the link's request (written to match the device's) masks those, and
        ``ethtool -K`` on the link can then turn them on (an event; not so for a feature
        the TAP is not offered).  A feature requested but off (the driver cannot do it
        now) is not offered, so the link shows it off, as the device does."""
        return cls._offloads(dev.features | (dev.hw_features & ~dev.wanted_features))

    def attach(self, dev: NetDevice) -> None:
        """Create the interface and mirror the device's settings onto it."""
        self._ensure_monitor()
        # Only what the device does until the link's request can be set (_write_features).
        offloads = self._offloads(dev.features)
        # A VNET header also lets us mark received frames DATA_VALID (LDD's
        # CHECKSUM_UNNECESSARY), so use it whenever the driver asks for any offload, or
        # may be asked for one later (``ethtool -K``: only a new TAP can get the header),
        # and for a NAPI driver: GRO's super-frames need it.
        vnet = (bool(offloads) or bool(self._offloads(dev.hw_features))
                or bool(getattr(dev, "rx_csum_unnecessary", False)) or bool(dev.napi_list))  # fmt: skip
        tt = TunTap(dev.name, tap=is_l2(dev), vnet_hdr=vnet, offloads=offloads)
        try:
            index = self.cfg.index(dev.name)
            if index is None:
                raise NameInUseError(f"interface {dev.name!r} vanished right after creation")
            port = _Port(dev, tt, index)
            port.k_off = tt.offloads
            self.ports[dev.name] = port
            self._sync_to_kernel(port)
            self._skip_setup_events(index)
            self._by_index[index] = port
        except BaseException:
            self.ports.pop(dev.name, None)
            tt.close()
            raise
        self._start_reading(port)

    def _sync_to_kernel(self, port: _Port) -> None:
        dev = port.dev
        # A TUN/TAP sizes its ring by txqueuelen: 0 would drop every frame (ENOBUFS).
        kw: dict[str, object] = {"mtu": dev.mtu, "txqlen": max(dev.tx_queue_len, 1)}
        if port.addr and any(dev.dev_addr):
            kw["address"] = ":".join(f"{b:02x}" for b in dev.dev_addr)
        kw["flags"] = dev.flags & USER_FLAGS
        kw["change"] = USER_FLAGS
        kw["mtu"] = _kernel_mtu(port)
        if port.hlen and dev.gso_max_size < GSO_MAX_SIZE:
            # netif_set_gso_max_size(): the kernel's TCP builds super-frames no longer
            # (ip -d link show DEV: gso_max_size).
            kw["gso_max_size"] = dev.gso_max_size
        self.cfg.set(port.index, **kw)
        if port.addr and "address" not in kw:
            # No address of the device's (all zeros: a TAP refuses it): the link keeps the
            # random one the TAP was created with, which is not a change of the user's.
            port.k_addr = _link_address(port)
        elif port.tt.tap and not port.addr and dev.addr_len:
            log.info("%s: its %d-byte hardware address cannot be the kernel link's (a TAP's "
                     "are 6 bytes): the link keeps one of its own, and an address set on it "
                     "does not reach the driver", dev.name, dev.addr_len)  # fmt: skip
        if getattr(dev, "disable_ipv6", False):
            _write_sysctl(f"/proc/sys/net/ipv6/conf/{dev.name}/disable_ipv6", "1")
        port.tt.set_carrier(dev._carrier)
        state = self._read_features(port)
        if state is not None:
            port.k_avail = state[0]
            self._write_features(port)

    def _skip_setup_events(self, index: int) -> None:
        """Drop the new link's events so far: its creation (a random address) and our setup.

        Applied as changes they would hand the driver the TAP's own address.  They are
        all queued by now (rtnetlink notifies as it changes the link); other links'
        events read with them wait in the backlog for :meth:`_on_netlink`.
        """
        self._backlog = [ev for ev in self._backlog if ev.index != index]
        other = [ev for ev in self._read_netlink() if ev.index != index]
        self._backlog.extend(other)
        assert self._mon is not None
        if other or self._mon.dump_wanted:  # events lost: _on_netlink asks for the links
            self.host.loop.call_soon(self._on_netlink)

    def detach(self, dev: NetDevice) -> None:
        """Close the fd; the interface disappears."""
        port = self.ports.get(dev.name)
        if port is not None:
            self._drop_port(port)

    def _drop_port(self, port: _Port) -> None:
        if self.ports.get(port.dev.name) is port:
            del self.ports[port.dev.name]
        if self._by_index.get(port.index) is port:
            del self._by_index[port.index]
        port.reading = False
        self.host.loop.remove_reader(port.tt.fd)
        port.tt.close()

    def dev_renamed(self, dev: NetDevice, old: str) -> None:
        """Re-key the device's port: the host renamed it after its link (:meth:`_apply_event`)."""
        super().dev_renamed(dev, old)
        port = self.ports.get(old)
        if port is not None and port.dev is dev:
            del self.ports[old]
            self.ports[dev.name] = port
            port.tt.name = dev.name

    def _link_gone(self, port: _Port) -> None:
        """The kernel link left this namespace (``ip link delete``, ``ip link set netns``).

        netdrv cannot follow it: the device is closed, as the kernel closed the link first,
        and stays off the kernel (its frames are dropped, its changes mirror to nothing)
        until its driver unregisters it.  Its TUN/TAP fd is closed: a link moved to another
        namespace disappears there too.
        """
        if self.ports.get(port.dev.name) is not port:
            return
        dev = port.dev
        log.warning("%s: its kernel link (ifindex %d) is no longer in this network namespace "
                    "(deleted, or moved to another); the device is closed and detached from "
                    "the kernel until its driver unregisters it", dev.name, port.index)  # fmt: skip
        self._drop_port(port)
        if dev.is_up and dev.host is self.host and self.host.devices.get(dev.name) is dev:
            self.host.dev_close(dev)
        dev.operstate = "notpresent"  # IF_OPER_NOTPRESENT: `netdrv status` says "detached"

    def _gone_soon(self, port: _Port, exc: BaseException) -> bool:
        """Whether ``exc`` (a netlink write's or an fd's) says the link is gone; if so the
        port is let go of once the current call is done (not inside a driver's open)."""
        code = getattr(exc, "code", None) or getattr(exc, "errno", None)
        if code not in (errno.ENODEV, errno.EBADFD):
            return False
        if code == errno.ENODEV and _index_exists(port.index):
            # An ioctl by name (SIOCGIFFLAGS, SIOCETHTOOL) raced a rename (``ip link set
            # DEV name NEW``) after the name was looked up: the link is still here.
            return False
        log.debug("%s: the kernel link is gone (%s)", port.dev.name, exc)
        self._stop_reading(port)
        self.host.loop.call_soon(self._link_gone, port)
        return True

    def close(self) -> None:
        """Release every interface and the netlink sockets."""
        for name in list(self.ports):
            self.detach(self.ports[name].dev)
        if self._mon is not None:
            self.host.loop.remove_reader(self._mon.fileno())
            self._mon.close()
            self._mon = None
        if self._mcast_timer is not None:
            self._mcast_timer.cancel()
            self._mcast_timer = None
        if self._dump_retry is not None:
            self._dump_retry.cancel()
            self._dump_retry = None
        if self._cfg is not None:
            self._cfg.close()
            self._cfg = None

    # -- kernel → driver ------------------------------------------------------------------
    def _start_reading(self, port: _Port) -> None:
        if not port.reading and port.tt.fd >= 0:
            port.reading = True
            # A partial, not a lambda: one Python frame less per wake-up.
            self.host.loop.add_reader(port.tt.fd, functools.partial(self._on_readable, port))

    def _stop_reading(self, port: _Port) -> None:
        if port.reading:
            port.reading = False
            self.host.loop.remove_reader(port.tt.fd)

    def _on_readable(self, port: _Port) -> None:
        # Up to ``budget`` frames per wake-up; everything per frame is inline.
        #
        # Reading until EAGAIN costs a read that finds nothing, and when frames
        # come one at a time (a ping, request/response) that read is on the
        # critical path of every packet: the reply the kernel queued on the other
        # TAP while we wrote waits for it.  So a port whose last drain found a
        # single frame reads one frame per wake-up and leaves it to epoll (level-
        # triggered) to report whether more are queued; woken again in the very
        # next loop iteration, frames are queueing up, and it drains again.
        dev = port.dev
        host = self.host
        it = host.loop.iterations
        if port.drain:
            budget = self.budget
        elif it == port.unprobed + 1:
            port.drain = True
            budget = self.budget
        else:
            budget = 1
        xmit = host.dev_queue_xmit
        fd = port.fd
        iov = port.iov
        hlen = port.hlen
        head = port.head
        readv = os.readv
        for i in range(budget):
            if (dev._queue_stopped or dev.qdisc) and (
                not dev._deactivated and all_txqs_blocked(dev)
            ):
                # Back-pressure: leave frames in the kernel's qdisc until netif_wake_queue
                # (with several TX queues, until one of them takes frames again).  Not
                # without carrier: what the kernel queued is read and dropped (noop_qdisc).
                self._stop_reading(port)
                return
            try:
                n = readv(fd, iov)
            except BlockingIOError:
                if i == 1:
                    port.drain = False  # one frame per wake-up: stop probing for a second
                return
            except OSError as exc:
                if not self._gone_soon(port, exc):  # EBADFD: the link was deleted
                    log.warning("%s: read from TUN/TAP failed: %s", dev.name, exc)
                return
            plen = n - hlen
            if plen < port.minlen:
                self.counters["runt"] += 1  # nothing a driver could send: counted, not read past
                continue
            scratch = port.scratch
            end = head + plen
            if port.tap:
                protocol = (scratch[head + 12] << 8) | scratch[head + 13]
                nh = head + 14
            else:
                v = scratch[head] >> 4
                protocol = ETH_P_IP if v == 4 else ETH_P_IPV6 if v == 6 else 0
                nh = head
            if plen > RX_COPYBREAK:
                # The read buffer becomes the skb's; read into a fresh one.
                skb = skb_from_frame(scratch, head, end, dev, protocol, nh)
                port.new_scratch()
                iov = port.iov
            else:  # one allocation, one copy, no zeroing
                skb = skb_from_frame(scratch[:end], head, end, dev, protocol, nh)
            if hlen:
                start = port.start
                if scratch[start] or scratch[start + 1]:  # flags or GSO: not a plain frame
                    try:
                        apply_vnet_header(memoryview(scratch)[start:head], skb)
                    except VnetHeaderError as exc:
                        self.counters["bad_vnet"] += 1
                        log.debug("%s: %s", dev.name, exc)
                        continue
                    if protocol in (0x8100, 0x88A8):  # ETH_P_8021Q/8021AD: tagged
                        for seg in self._vlan_offload(dev, skb):
                            xmit(seg)
                        continue
                    if (skb.gso_size or skb.ip_summed == CHECKSUM_PARTIAL) and not (
                        self._offloads_fit(dev, skb)
                    ):
                        for seg in self._stale_offload(dev, skb):
                            xmit(seg)
                        continue
            if protocol == ETH_P_8021Q and dev.features & NETIF_F_HW_VLAN_CTAG_TX:
                self._vlan_hwaccel(skb)
            xmit(skb)
        if budget == 1:
            port.unprobed = it

    def _vlan_hwaccel(self, skb: SkBuff) -> int:
        """An 802.1Q frame for a device that inserts tags itself: the tag goes to the metadata,
        as the kernel's VLAN device hands it to such a device; returns ``skb.protocol``."""
        if skb.tail - skb.data >= VLAN_ETH_HLEN:  # else a runt: it goes as read
            skb_vlan_untag(skb)
        return skb.protocol

    def _vlan_offload(self, dev: NetDevice, skb: SkBuff) -> list[SkBuff]:
        """A tagged frame with an offload job, as the device is to get it: the 802.1Q tag in
        the metadata for a device that inserts it, then what it does behind a tag (its
        ``vlan_features``, Linux's ``netif_skb_features``) decided by validate_xmit_skb —
        the kernel's TAP takes tagged super-frames whole, most devices cannot.  A
        super-frame its own features no longer take counts in ``stale_offload``."""
        if skb.protocol == ETH_P_8021Q and dev.features & NETIF_F_HW_VLAN_CTAG_TX:
            self._vlan_hwaccel(skb)
        if skb.gso_size and not skb_gso_ok(skb, dev.features):
            self.counters["stale_offload"] += 1
        return validate_xmit_skb(skb, dev)

    @staticmethod
    def _offloads_fit(dev: NetDevice, skb: SkBuff) -> bool:
        """True when the device takes this offload job of an untagged frame as it is (the
        common case; a tagged one goes to :meth:`_vlan_offload`)."""
        f = dev.features
        if skb.gso_size:
            need = GSO_FEATURES_NEEDED.get(skb.gso_type)  # skb_gso_ok(), inline
            if need is None or need & f != need:
                return False
        return (
            skb.ip_summed != CHECKSUM_PARTIAL
            or bool(f & NETIF_F_HW_CSUM)
            or can_checksum_protocol(f, skb.protocol)
        )

    def _stale_offload(self, dev: NetDevice, skb: SkBuff) -> list[SkBuff]:
        """An offload job the device no longer takes, made right (Linux's validate_xmit_skb).

        The kernel queued it before ``ethtool -K`` turned the feature off: a
        super-frame is segmented in software (counted in ``stale_offload``), a partial
        checksum is finished; one that cannot be made right is dropped and counted in
        the device's ``tx_qdisc_drops``.
        """
        if skb.gso_size:
            self.counters["stale_offload"] += 1
        return validate_xmit_skb(skb, dev)

    def queue_woken(self, dev: NetDevice) -> None:
        """Read from the kernel again.

        Only a reader that back-pressure stopped reads at once.  One still on may be
        the caller: a driver waking its queue inside ``start_xmit`` (snull with a
        one-buffer pool, or a peer that is down) would otherwise read and transmit
        the next frame from within that ``start_xmit`` — nested once per queued
        frame until the recursion limit, and into the read buffer the outer read
        still uses.  The running read loop goes on by itself (epoll is level-triggered).
        """
        port = self.ports.get(dev.name)
        if port is not None and not port.reading:
            self._start_reading(port)
            self._on_readable(port)

    # -- driver → kernel ------------------------------------------------------------------
    def receive(self, dev: NetDevice, skb: SkBuff) -> bool:
        """Write a received frame (from its mac header, for TAP) to the fd; False if dropped."""
        port = self.ports.get(dev.name)
        if port is None:  # its link is gone: dropped, and counted like every refusal here
            dev.core_stats.rx_down_drops += 1
            return False
        if skb.vlan_all and port.tap:  # no VLAN field in a virtio-net header: into the frame
            try:
                vlan_hwaccel_push_inside(skb)
            except ValueError as exc:
                self.counters["bad_offload"] += 1
                dev.core_stats.rx_down_drops += 1
                log.warning("%s: dropping a received skb: %s", dev.name, exc)
                return False
        mac = skb.mac_header
        start = mac if (port.tap and 0 <= mac <= skb.data) else skb.data
        frame = memoryview(skb.buf)[start : skb.tail]
        try:
            if port.hlen:
                # build_vnet_header raises VnetHeaderError for offload fields no header can
                # carry (a driver's bug): that frame is dropped, like one the kernel refuses.
                if skb.gso_size:
                    hdr = build_vnet_header(skb, start)
                elif skb.ip_summed == 1:  # CHECKSUM_UNNECESSARY
                    hdr = DATA_VALID_HDR
                elif skb.ip_summed == 0:
                    hdr = PLAIN_HDR
                else:
                    hdr = build_vnet_header(skb, start)
                n = os.writev(port.fd, (hdr, frame)) - VNET_HDR_LEN
            elif skb.gso_size or skb.ip_summed == CHECKSUM_PARTIAL:
                n = len(frame) - self._write_finished(port, skb, frame)
            else:
                n = os.write(port.fd, frame)
        except ValueError as exc:  # VnetHeaderError, GsoError, a checksum outside the frame
            self.counters["bad_offload"] += 1
            dev.core_stats.rx_down_drops += 1
            log.warning("%s: dropping a received skb: %s", dev.name, exc)
            return False
        except BlockingIOError:
            self.counters["eagain"] += 1
            dev.core_stats.rx_backlog_drops += 1
            return False
        except OSError as exc:
            if exc.errno == errno.EBADFD and self._gone_soon(port, exc):  # link deleted
                dev.core_stats.rx_down_drops += 1
                return False
            if exc.errno == errno.EIO:  # the kernel side of the interface is down
                self.counters["eio"] += 1
                dev.core_stats.rx_down_drops += 1
                return False
            if exc.errno == errno.EINVAL:
                # The kernel refused the frame: longer than the link takes, a virtio-net
                # header it cannot use, or on a TUN a packet that is not IPv4/IPv6.
                self.counters["rejected"] += 1
                dev.core_stats.rx_down_drops += 1
                return False
            raise
        if n != len(frame):
            self.counters["short"] += 1
            dev.core_stats.rx_backlog_drops += 1
            return False
        return True

    @staticmethod
    def _write_finished(port: _Port, skb: SkBuff, frame: memoryview) -> int:
        """Write an skb with an offload job to a TUN/TAP without a virtio-net header, which
        cannot pass the job on (the kernel would take the frame as it is); returns the bytes
        not written (0: all were).

        As Linux before a device that takes no offloads (``validate_xmit_skb``): a
        super-frame is segmented in software, each segment's checksum finished, and a
        partial checksum is finished (``skb_checksum_help``).  ValueError (GsoError) for a
        job that cannot be done: the frame is dropped.  A write that fails part-way through
        the segments counts the skb once, as a drop, though the segments before it went up.
        """
        if not skb.gso_size:
            skb_checksum_help(skb)  # in place: ``frame`` shows the finished checksum
            return len(frame) - os.write(port.fd, frame)
        short = 0
        for seg in skb_gso_segment(skb, 0):
            mac = seg.mac_header
            start = mac if (port.tap and 0 <= mac <= seg.data) else seg.data  # as receive()
            piece = memoryview(seg.buf)[start : seg.tail]
            short += len(piece) - os.write(port.fd, piece)
        return short

    def fix_features(self, dev: NetDevice, features: int) -> int:
        """Without a virtio-net header a TAP cannot pass on a checksum or segmentation job,
        nor take a super-frame GRO built (which only a NAPI driver's receive builds)."""
        port = self.ports.get(dev.name)
        if port is not None and not port.hlen:
            features &= ~(NETIF_F_CSUM_MASK | NETIF_F_ALL_TSO | NETIF_F_GSO_UDP_L4)
            if dev.napi_list:
                features &= ~NETIF_F_GRO
        elif port is not None and TunTap.uso_refused:
            features &= ~NETIF_F_GSO_UDP_L4  # a kernel before 6.2 passes no UDP GSO job on
        return features

    def features_changed(self, dev: NetDevice) -> None:
        """Tell the kernel what it may now hand over unfinished, and set the link's features
        to the device's (``ethtool -k`` there agrees); see :meth:`_write_features`."""
        port = self.ports.get(dev.name)
        if port is None or port.tt.fd < 0 or port is self._applying:
            return  # a kernel change being applied: _apply_features writes once it is done
        self._write_features(port)

    def _feature_target(self, port: _Port) -> tuple[int, frozenset[str]]:
        """The TUNSETOFFLOAD flags and the link's requested features that show the device's.

        A feature the link masks by the offer is requested as the device's request (as
        ``netdrv ethtool -k`` shows it, fixed ones as they are): the offer leaves it off
        where the device has it off.  The others are requested as the device has them.
        """
        dev = port.dev
        active = dev.features
        wanted = (dev.wanted_features & dev.hw_features) | (active & ~dev.hw_features)
        req = frozenset(name for name, bits, masked in KERNEL_FEATURES
                        if name in port.k_avail and (wanted if masked else active) & bits)  # fmt: skip
        if not port.hlen:
            return 0, req
        # Unless the link's request can be set, offer only what the device does.
        return (self._offer(dev) if port.k_avail else self._offloads(dev.features)), req

    def _write_features(self, port: _Port) -> None:
        """Make the link's features show the device's, writing only what differs.

        TUNSETOFFLOAD first: Linux's ``set_offload`` also sets the link's request for
        what it offers (older kernels leave it), so the request is written after it.
        The events of these writes read as ``k_feat``: no change to apply.
        """
        offer, req = self._feature_target(port)
        dev = port.dev
        try:
            if port.hlen and offer != port.k_off:
                port.k_off = offer = port.tt.set_offloads(offer)
                port.k_feat = None  # the kernel may have changed its request
            if port.k_avail and req != port.k_feat:
                bits = self._kfeat_bits or {}
                valid = requested = 0
                for name in port.k_avail:
                    valid |= 1 << bits[name]
                    if name in req:
                        requested |= 1 << bits[name]
                _siocethtool(socket.if_indextoname(port.index),
                             ioctl.pack_sfeatures(self._kfeat_words, valid, requested))  # fmt: skip
                port.k_feat = req
        except OSError as exc:
            if not self._gone_soon(port, exc):
                log.warning("%s: could not set the kernel link's features: %s", dev.name, exc)

    def _feature_bits(self, ifname: str) -> dict[str, int]:
        """KERNEL_FEATURES names the kernel knows -> their bit (``ETH_SS_FEATURES`` strings,
        the same for every link: read once, on the first link)."""
        if self._kfeat_bits is None:
            self._kfeat_bits = {}
            try:
                info = _siocethtool(ifname, ioctl.pack_sset_info(ioctl.ETH_SS_FEATURES))
                count = ioctl.parse_sset_info(info, ioctl.ETH_SS_FEATURES)
                if count:
                    out = _siocethtool(ifname, ioctl.pack_gstrings(ioctl.ETH_SS_FEATURES, count))
                    names = ioctl.parse_gstrings(out)
                    ours = {name for name, _bits, _masked in KERNEL_FEATURES}
                    self._kfeat_bits = {n: i for i, n in enumerate(names) if n in ours}
                    self._kfeat_words = (len(names) + 31) // 32
            except (OSError, ValueError) as exc:
                if isinstance(exc, OSError) and exc.errno == errno.ENODEV:
                    self._kfeat_bits = None  # that link went: ask on the next one
                    return {}
                log.warning("cannot read the kernel's feature names (%s): a link's features "
                            "changed with ethtool -K do not reach the drivers", exc)  # fmt: skip
        return self._kfeat_bits

    def _read_features(self, port: _Port) -> tuple[frozenset[str], frozenset[str]] | None:
        """The KERNEL_FEATURES the link lets ``ethtool -K`` change, and those requested on it;
        None when they cannot be read (the link gone, or no SIOCETHTOOL)."""
        try:
            name = socket.if_indextoname(port.index)  # its name now (renamed, events unread)
            bits = self._feature_bits(name)
            if not bits:
                return None
            got = ioctl.parse_gfeatures(_siocethtool(name, ioctl.pack_gfeatures(self._kfeat_words)))
        except (OSError, ValueError) as exc:
            if not (isinstance(exc, OSError) and self._gone_soon(port, exc)):
                log.warning("%s: could not read the kernel link's features: %s", port.dev.name,
                            exc)  # fmt: skip
            return None
        if got.words != self._kfeat_words:
            self._kfeat_words = got.words
        avail = frozenset(n for n, b in bits.items() if got.available >> b & 1)
        return avail, frozenset(n for n in avail if got.requested >> bits[n] & 1)

    def _apply_features(self, port: _Port) -> None:
        """The link's features changed (``ethtool -K`` on it): hand the driver the change.

        As ``netdrv ethtool -K``: ``dev.wanted_features`` then ``netdev_update_features``,
        so the driver's ``fix_features``/``set_features`` run.  A feature the driver keeps
        fixed, or a ``set_features`` refusal, is logged and the link's request put back
        (the device's ``wanted_features`` too); then the link is made to show the device's
        features (:meth:`_write_features`), which settles a request the device took only
        in part (TSO with checksumming off) the same way on both sides.
        """
        dev = port.dev
        host = self.host
        if dev.host is not host or host.devices.get(dev.name) is not dev or not port.k_avail:
            return
        state = self._read_features(port)
        if state is None:
            return
        req = state[1]
        if port.k_feat is None:  # not known what netdrv wrote last: the device's state wins
            changed: frozenset[str] = frozenset()
        else:
            changed = req ^ port.k_feat
        port.k_feat = req
        on = off = 0
        fixed = []
        for name, bits, _masked in KERNEL_FEATURES:
            if name not in changed:
                continue
            settable = bits & dev.hw_features
            if not settable:
                fixed.append(name)
            elif name in req:
                on |= settable
            else:
                off |= settable
        if fixed:
            # Info, not a warning: Linux ignores such bits of a request without a word, and
            # ``ethtool -K DEV tso on`` requests tx-tcp-ecn-segmentation with the others.
            log.info("%s: %s cannot be changed (fixed by the driver: not in hw_features); "
                        "putting the link's features back", dev.name, ", ".join(fixed))  # fmt: skip
        if on or off:
            old = dev.wanted_features
            dev.wanted_features = (old | on) & ~off
            self._applying = port
            try:
                ret = host.netdev_update_features(dev)
            finally:
                self._applying = None
            if ret < 0:
                dev.wanted_features = old
                log.warning("%s: driver refused the features change (%s); putting the link's "
                            "features back", dev.name, errno.errorcode.get(-ret, ret))  # fmt: skip
        if self.ports.get(dev.name) is port:
            self._write_features(port)

    # -- kept in step: netdrv → kernel ----------------------------------------------------
    def state_changed(self, dev: NetDevice) -> None:
        """Mirror IFF_UP to the kernel link (no-op when the kernel caused it).

        Coming up also resumes reading the fd: a reader stopped by back-pressure
        before the device went down would otherwise never restart, because
        ``open`` starts the queue with ``netif_start_queue``, not a wake.  Going
        down drops what the TAP still holds (:meth:`_drop_queued`).
        """
        port = self.ports.get(dev.name)
        if port is None:
            return
        if dev.is_up:
            self._start_reading(port)  # a no-op when reading; the loop reads what is queued
        if port is not self._applying:  # else the kernel did it; _reconcile mirrors the outcome
            self._mirror_state(port)
        if not dev.is_up:
            self._drop_queued(port)

    def _drop_queued(self, port: _Port) -> None:
        """Read and drop what the TAP still holds, counted in ``tx_qdisc_drops``: Linux drops
        what a device's qdisc holds when it goes down (``dev_deactivate`` → ``qdisc_reset``)
        and never sends it after the next up, but a TAP's ring outlives its link's down.
        The kernel link is down by now and queues nothing more (at most its ring's size,
        txqueuelen, is read)."""
        dev = port.dev
        fd, iov = port.fd, port.iov
        for _ in range(max(port.k_txqlen, 1)):
            try:
                os.readv(fd, iov)
            except OSError:  # empty (EAGAIN), or the link is gone
                return
            dev.core_stats.tx_qdisc_drops += 1

    def _mirror_state(self, port: _Port) -> None:
        """Write the device's IFF_UP to the kernel link, unless a user's change did it."""
        dev = port.dev
        try:
            self._catch_up()
            kflags = self.cfg.flags(port.index)
            if bool(kflags & IFF_UP) != dev.is_up:
                self._write_state(port)
            else:
                # A user's change not applied yet did it already: its event shows the
                # driver's state, as an echo would (else _reconcile, after the events
                # before it, would write the state again over the user's later change).
                self._expect_shown(port, port.p_up, dev.is_up, _up_of, port.k_up)
        except Exception as exc:
            if not self._gone_soon(port, exc):
                log.warning("%s: could not set the kernel link state: %s", dev.name, exc)

    def carrier_changed(self, dev: NetDevice) -> None:
        """TUNSETCARRIER: NO-CARRIER / LOWER_UP in ``ip link``."""
        port = self.ports.get(dev.name)
        if port is not None:
            port.tt.set_carrier(dev._carrier)

    def testing_changed(self, dev: NetDevice) -> None:
        """IF_OPER_TESTING on the kernel link while a self-test runs (``ip link``: state
        TESTING), then IF_OPER_UP, as Linux's linkwatch sets it after ``netif_testing_off``.

        UP also on a link that showed UNKNOWN before (a TAP's state until a linkwatch event):
        Linux's rfc2863_policy gives UP there too, and the kernel takes no UNKNOWN from
        userspace (IFLA_OPERSTATE moves only to UP, DORMANT or TESTING)."""
        port = self.ports.get(dev.name)
        if port is None or not dev.is_up:
            return
        try:
            self.cfg.set(port.index, operstate="TESTING" if dev.operstate == "testing" else "UP")
        except Exception as exc:
            if not self._gone_soon(port, exc):
                log.warning("%s: could not set the kernel link's operstate: %s", dev.name, exc)

    def mtu_changed(self, dev: NetDevice) -> None:
        """Mirror the accepted MTU (unless a kernel event asked for it)."""
        port = self.ports.get(dev.name)
        if port is not None and port is not self._applying:
            try:
                self._write_mtu(port)
            except Exception as exc:
                if not self._gone_soon(port, exc):
                    log.warning("%s: could not set the kernel link's mtu: %s", dev.name, exc)

    def address_changed(self, dev: NetDevice) -> None:
        """Mirror the accepted MAC (unless a kernel event asked for it)."""
        port = self.ports.get(dev.name)
        if port is not None and port.addr and port is not self._applying:
            try:
                self._write_address(port)
            except Exception as exc:
                if not self._gone_soon(port, exc):
                    log.warning("%s: could not set the kernel link's address: %s", dev.name,
                                exc)  # fmt: skip

    def dev_addr_changed(self, dev: NetDevice) -> None:
        """Show the address the driver set itself (``dev_addr_set``) on the link, as Linux's
        ``ip link`` shows ``dev->dev_addr`` at once: the TAP's address is its own.

        On the loop (the driver may call from a thread of its own), through
        :meth:`_reconcile`: not while events for the link or a write of netdrv's are still
        to be seen, and not again when ``set_mac_address`` made the change (the core's
        :meth:`address_changed` has written it).
        """
        port = self.ports.get(dev.name)
        if port is not None and port.addr:
            port.addr_sync = True  # a plain write: safe from a driver's thread
            self.host.loop.call_soon_threadsafe(self._dev_addr_sync, port)

    def _dev_addr_sync(self, port: _Port) -> None:
        port.addr_sync = False
        if port.k_addr == port.dev.dev_addr and not port.p_addr:
            return  # the link has it (register_netdev asks after its attach, in case)
        if self.ports.get(port.dev.name) is port and port is not self._applying:
            self._reconcile(port)

    # Each write is remembered until an event shows it (_echo), and ordered after the
    # events queued before it: those are read first (_catch_up), and only an event read
    # after the write can be its echo.  A user's earlier event of the same value is not.
    # The kernel queues no event for a state or MTU the link already has (a user's change
    # read by the catch-up may have set it): then the event that set it shows it
    # (_expect_shown).
    def _write_state(self, port: _Port) -> None:
        up = port.dev.is_up
        asked = self._catch_up()
        self.cfg.set(port.index, state="up" if up else "down")
        self._expect_written(port, port.p_up, up, _up_of, port.k_up, asked)

    def _write_mtu(self, port: _Port) -> None:
        mtu = _kernel_mtu(port)
        asked = self._catch_up()
        self.cfg.set(port.index, mtu=mtu)
        self._expect_written(port, port.p_mtu, mtu, _mtu_of, port.k_mtu, asked)

    def _write_address(self, port: _Port) -> None:
        addr = bytes(port.dev.dev_addr)
        asked = self._catch_up()
        self.cfg.set(port.index, address=addr.hex(":"))
        self._expect_written(port, port.p_addr, addr, _address_of, port.k_addr, asked)

    def _expect_written(self, port: _Port, pending: list[tuple[_T, int]], value: _T,
                        field: Callable[[LinkEvent], _T | None], known: _T,
                        asked: bool) -> None:  # fmt: skip
        """Remember ``value``, just written: an echo comes if the link had another.

        Right after the links were ``asked`` for (events lost), netdrv knows only the
        driver's state, which has the value already: the answer, queued before the
        write, shows the link's (the value, or another that the echo follows)."""
        if asked:
            pending.append((value, self._nread))
            return
        latest = _latest(self._unapplied(), port.index, field)
        if latest is None:
            latest = pending[-1][0] if pending else known
        if value != latest:
            pending.append((value, self._nread))
        else:
            self._expect_shown(port, pending, value, field, known)

    def _expect_shown(self, port: _Port, pending: list[tuple[_T, int]], value: _T,
                      field: Callable[[LinkEvent], _T | None], known: _T) -> None:  # fmt: skip
        """Remember ``value``, which the link has with no write's echo to come: it is shown
        by the latest events read (from the first of them with it on), or, if none was
        read, by one still to come, unless netdrv knew the link had it already."""
        first = None
        seen = False
        for ev in reversed(self._unapplied()):
            shown = field(ev) if ev.index == port.index and not ev.deleted else None
            if shown is None:
                continue
            seen = True
            if shown != value:
                break
            first = ev.order
        if first is None:
            if not seen and value == (pending[-1][0] if pending else known):
                return  # no event to wait for: nothing changed since netdrv last saw it
            first = self._nread
        pending.append((value, first))

    def _unapplied(self) -> list[LinkEvent]:
        """The events read and not applied yet: the rest of the batch, then the backlog."""
        return self._batch[self._batch_at :] + self._backlog

    def _catch_up(self) -> bool:
        """Read the events queued so far into the backlog, to be applied by _on_netlink
        (due soon): a write of netdrv's made next is known to come after each of them.
        True if events were lost and the links asked for (see _resync)."""
        mon = self._mon
        if mon is None:
            return False
        while events := self._read_netlink():
            self._backlog += events
        # Events were lost: the links are asked for at once, as _on_netlink would (a user's
        # event queued in between would be applied as a change, showing lost ones), unless
        # an earlier dump is still to be judged there.
        asked = bool(mon.dump_wanted and not self._dump_ports and self._resync())
        if asked:
            self._backlog = []  # all older than the links' state now asked for
        if (self._backlog or mon.dump_wanted) and not self._catching_up:
            self._catching_up = True
            self.host.loop.call_soon(self._caught_up)
        return asked

    def _caught_up(self) -> None:
        self._catching_up = False
        self._on_netlink()

    # -- kept in step: kernel → netdrv ----------------------------------------------------
    def _on_netlink(self) -> None:
        mon = self._mon
        if mon is None:
            return  # closed
        events, self._backlog = self._backlog, []
        events += self._read_netlink()
        # A dump that ended in this read is judged against the ports it was asked about:
        # _resync may ask for the next one, about the ports of now.
        done, asked = mon.take_dump(), self._dump_ports
        if self._resync():
            events = []  # all older than the links' state now asked for
        self._handle_events(events)
        if done is not None:
            # A link the dump did not show was deleted (or moved away) with its DELLINK lost.
            for index in asked - done:
                port = self._by_index.get(index)
                if port is not None:
                    self._link_gone(port)
            if self._dump_ports is asked:
                self._dump_ports = set()
        if not mon.dump_wanted:
            self._dump_failures = 0
        elif self._dump_retry is None:
            # The dump could not be asked for, or failed: ask again, not only after the
            # next lost event (there may be none) — backing off, so a kernel that keeps
            # refusing is not asked (and logged) every second.
            delay = min(DUMP_RETRY * 2**self._dump_failures, DUMP_RETRY_MAX)
            self._dump_failures += 1
            self._dump_retry = self.host.loop.call_later(delay, self._retry_dump)

    def _retry_dump(self) -> None:
        self._dump_retry = None
        self._on_netlink()

    def _read_netlink(self) -> list[LinkEvent]:
        """The monitor's events; an overflow is counted (the monitor re-reads the links)."""
        mon = self._mon
        assert mon is not None
        before = mon.overflows
        events = mon.read()
        for ev in events:
            ev.order = self._nread
            self._nread += 1
        if mon.overflows != before:
            self.counters["netlink_overflows"] += mon.overflows - before
            log.warning("link events lost (netlink receive buffer full); re-reading the links")
        return events

    def _resync(self) -> bool:
        """After lost events, ask for every link's state (``resync`` events); True if asked.

        Asked once the socket is read to the end: what was read is older than the answer
        and is dropped (applied, an event older than a change of netdrv's whose echo was
        lost would undo it for good).  The answer is applied as the difference from the
        link as netdrv knows it now, which is the driver's state: netdrv writes its own
        changes at once and reverted every refusal after the last batch.  So it changes
        only what the lost and dropped events changed, and a change netdrv makes after
        asking (its echo queues behind the answer) is left alone.

        The writes netdrv is still waiting to see are forgotten: the answer shows them (or
        what the user changed after them), and their echoes were read and dropped, or lost.
        """
        mon = self._mon
        if mon is None or not mon.request_dump():
            return False
        self._dump_ports = set(self._by_index)
        for port in self.ports.values():
            port.k_up = port.dev.is_up
            port.k_mtu = _kernel_mtu(port)
            if not port.addr or not any(port.dev.dev_addr):
                pass  # the link keeps its own
            elif not port.addr_sync:
                port.k_addr = bytes(port.dev.dev_addr)
            elif port.p_addr:
                # The driver set dev_addr and its write to the link is still queued
                # (_dev_addr_sync): the link has what netdrv wrote last, no user's change.
                port.k_addr = port.p_addr[-1][0]
            port.p_up.clear()
            port.p_mtu.clear()
            port.p_addr.clear()
        return True

    def _handle_events(self, events: list[LinkEvent]) -> None:
        """Apply each event in order, then make every link touched agree with its driver.

        Every event must count: ``ip -batch`` (down; address A; up) queues three at
        once, and only the first tells the driver to stop before the address changes.
        """
        touched: dict[int, _Port] = {}
        features: dict[int, _Port] = {}  # a features event: read once, after the batch
        self._batch = events
        try:
            for self._batch_at, ev in enumerate(events, 1):
                port = self._by_index.get(ev.index)
                if port is None:
                    continue
                if ev.deleted:
                    touched.pop(ev.index, None)
                    features.pop(ev.index, None)
                    self._link_gone(port)
                else:
                    self._apply_event(port, ev)
                    touched[ev.index] = port
                    if ev.features_changed or ev.resync:
                        features[ev.index] = port
        finally:
            self._batch = []
        for port in features.values():
            if self.ports.get(port.dev.name) is port:
                self._apply_features(port)
        for port in touched.values():
            if self.ports.get(port.dev.name) is port:
                self._reconcile(port)

    def _apply_event(self, port: _Port, ev: LinkEvent) -> None:
        """Hand the driver what changed on the kernel link since the previous event.

        Compared with the previous event, not with the driver: the echo of a change
        netdrv made is then a no-op, and an event queued before it cannot undo it.  While
        a write of netdrv's is still to be seen (``p_*``, see :func:`_echo`), that value
        shows nothing to apply: the event is the write's echo, or older than the write.
        Refusals are not reverted here; :meth:`_reconcile` does it once the batch is done.

        A ``resync`` event (the link read back after lost events, see :meth:`_resync`) is
        applied the same way.  The events lost may have taken the link down and up around
        a new address (``ip link set down; address; up``), which a driver refuses while
        up: so the driver is closed around it, as it would have been.
        """
        dev = port.dev
        host = self.host
        if dev.host is not host or host.devices.get(dev.name) is not dev:
            return
        if ev.name and ev.name != port.k_name:
            self._follow_rename(port, ev.name)
        up = bool(ev.flags & IFF_UP)
        # An event showing the previous one's value changes nothing; while a write of
        # netdrv's is pending it is still checked against it: it may show the write (the
        # links read back after lost events show it with no change), which is then seen.
        changed = (up != port.k_up or port.p_up) and not _echo(port.p_up, up, ev.order)
        went_down = changed and not up
        went_up = changed and up
        mtu: int | None = None
        addr: bytes | None = None
        if (ev.mtu is not None and (ev.mtu != port.k_mtu or port.p_mtu)
                and not _echo(port.p_mtu, ev.mtu, ev.order)):  # fmt: skip
            mtu = ev.mtu
        if (port.addr and ev.address is not None and (ev.address != port.k_addr or port.p_addr)
                and not _echo(port.p_addr, ev.address, ev.order)):  # fmt: skip
            addr = ev.address
        txqlen = ev.txqlen if ev.txqlen is not None and ev.txqlen != port.k_txqlen else None
        if (ev.resync and up and dev.is_up and addr is not None and addr != dev.dev_addr
                and not dev.priv_flags & IFF_LIVE_ADDR_CHANGE):  # fmt: skip
            log.info("%s: events were lost and the address changed: closing the device to "
                     "apply it", dev.name)  # fmt: skip
            went_down = went_up = True
        port.k_up = up
        if ev.mtu is not None:
            if (ev.mtu >= IPV6_MIN_MTU and (port.k_mtu < IPV6_MIN_MTU or ev.resync)
                    and getattr(dev, "disable_ipv6", False)):  # fmt: skip
                # Below 1280 the kernel dropped the link's IPv6 state (addrconf_ifdown); back
                # above, it made it afresh with the default disable_ipv6=0: write it again.
                # After lost events (a resync) a dip may have been among them: written anyway.
                _write_sysctl(f"/proc/sys/net/ipv6/conf/{port.k_name}/disable_ipv6", "1")
            port.k_mtu = ev.mtu
        if port.addr and ev.address is not None:
            port.k_addr = ev.address
        if ev.txqlen is not None:
            port.k_txqlen = ev.txqlen
        self._applying = port
        try:
            # The kernel's order: `ip link set DEV address A up` changes the address while
            # the link is still down, then brings it up; a driver refuses a new address
            # while up (eth_mac_addr: EBUSY). So: close, then MTU and address, then open.
            if went_down:
                host.dev_close(dev)
            if mtu is not None and mtu != _kernel_mtu(port):
                host.extack = None
                ret = host.dev_set_mtu(dev, mtu)
                if ret:
                    log.warning("%s: driver refused mtu %d (%s%s); reverting to %d", dev.name,
                                mtu, errno.errorcode.get(-ret, ret), _said(host), dev.mtu)  # fmt: skip
            if addr is not None and addr != dev.dev_addr:
                host.extack = None
                ret = host.dev_set_mac_address(dev, addr)
                if ret:
                    log.warning("%s: driver refused address change (%s%s); reverting",
                                dev.name, errno.errorcode.get(-ret, ret), _said(host))  # fmt: skip
            if txqlen == 0:
                # Linux takes it (only the qdisc shrinks), a TUN/TAP cannot: its ring of
                # frames for the reader is txqueuelen long, and would drop every frame.
                log.warning("%s: txqueuelen 0 refused: the TUN/TAP would drop every frame "
                            "the kernel sends; reverting to %d", dev.name,
                            max(dev.tx_queue_len, 1))  # fmt: skip
            elif txqlen is not None:
                dev.tx_queue_len = txqlen
            # `ip link set DEV arp on` (multicast, debug, dynamic): no driver op, the flag
            # is the device's (dev_change_flags), and netdrv writes none of them after setup.
            if flip := (dev.flags ^ ev.flags) & USER_FLAGS:
                dev.flags ^= flip
            if went_up and not dev.is_up:
                host.extack = None
                ret = host.dev_open(dev)
                if ret:
                    log.warning("%s: open failed in %s (%s%s); setting the link down again",
                                dev.name, host._owner(dev), errno.errorcode.get(-ret, ret),
                                _said(host))  # fmt: skip
                    return
            # tcpdump's promiscuous mode shows only in the promiscuity count, not the flag; a
            # bridge port's allmulti only in the allmulti count (dev_set_allmulti).
            promisc = bool(ev.flags & IFF_PROMISC) or bool(ev.promiscuity)
            allmulti = bool(ev.flags & IFF_ALLMULTI) or bool(ev.allmulti)
            host.dev_set_rx_mode(dev, promisc=promisc, allmulti=allmulti)
        finally:
            self._applying = None

    def _follow_rename(self, port: _Port, name: str) -> None:
        """``ip link set DEV name NEW``: the device is renamed too (NETDEV_CHANGENAME).

        Only a name this host still gives a device whose link is gone (it keeps its name
        until its driver unregisters it) cannot be taken: that device keeps its own name.
        """
        dev = port.dev
        old = dev.name
        port.k_name = name
        if old == name:
            return
        try:
            self.host.dev_rename(dev, name)
        except (NameInUseError, ValueError) as exc:
            log.warning("%s: its kernel link was renamed %s; the device keeps its name (%s)",
                        old, name, exc)  # fmt: skip
            return
        if self.ports.get(old) is port:  # the host's attachment is another (tests): re-key
            self.dev_renamed(dev, old)

    def _reconcile(self, port: _Port) -> None:
        """Set the kernel link to the driver's state where the last event showed otherwise.

        That is a refusal (revert) or an open that failed.  Not while a write of netdrv's
        is still to be seen: the link has it, or a change made since, whose event is yet
        to come and must reach the driver (written again, the driver's value would undo a
        user's later change).  The echo of what is written here agrees with the driver,
        so applying it changes nothing: no ping-pong.  Nor while events for the link are
        still to be applied (read by _catch_up): the reconcile after them decides.
        """
        dev = port.dev
        try:
            self._catch_up()
            if any(ev.index == port.index for ev in self._backlog):
                return
            if not port.p_mtu and port.k_mtu != _kernel_mtu(port):
                self._write_mtu(port)
            if (port.addr and not port.p_addr and port.k_addr != dev.dev_addr
                    and any(dev.dev_addr)):  # fmt: skip
                self._write_address(port)
            if not port.p_up and port.k_up != dev.is_up:
                self._write_state(port)
                if not dev.is_up:
                    # The link was up with the device down (its open failed): what the
                    # kernel queued meanwhile is not sent at the next open (Linux never
                    # opened the device, so never queued it).
                    self._drop_queued(port)
            if port.k_txqlen == 0:  # refused in _apply_event
                self.cfg.set(port.index, txqlen=max(dev.tx_queue_len, 1))
        except Exception as exc:
            if not self._gone_soon(port, exc):
                log.warning("%s: could not set the kernel link to the driver's state: %s",
                            dev.name, exc)  # fmt: skip

    def _poll_mcast(self) -> None:
        """Link-layer multicast joins have no netlink event: read /proc/net/dev_mcast."""
        try:
            with open("/proc/net/dev_mcast") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        # By ifindex: a link the user renamed keeps its device, and one that took its old
        # name is another link.
        lists: dict[int, list[bytes]] = {index: [] for index in self._by_index}
        for line in lines:
            parts = line.split()
            if len(parts) >= 5 and parts[0].isdigit() and int(parts[0]) in lists:
                lists[int(parts[0])].append(bytes.fromhex(parts[4]))
        for index, addrs in lists.items():
            port = self._by_index.get(index)
            if port is None:
                continue
            dev = port.dev
            mc = addrs if sorted(addrs) != sorted(dev.mc_list) else None
            # Nor does a unicast address an upper device (macvlan) adds to a link without
            # unicast filtering, which makes it promiscuous (uc_promisc, unnotified).
            raw = _raw_flags(port)
            promisc = allmulti = None
            if raw is not None and (raw ^ dev.flags) & (IFF_PROMISC | IFF_ALLMULTI):
                promisc, allmulti = bool(raw & IFF_PROMISC), bool(raw & IFF_ALLMULTI)
            if mc is not None or promisc is not None:
                self.host.dev_set_rx_mode(dev, promisc=promisc, allmulti=allmulti, mc_list=mc)
        self._mcast_timer = self.host.loop.call_later(1.0, self._poll_mcast)

    # -- configuration helpers for drivers ------------------------------------------------
    def add_address(self, dev: NetDevice, cidr: str, peer: str | None = None) -> None:
        """``ip addr add CIDR [peer PEER] dev DEV``; DriverError (ENODEV) if the link is gone."""
        port = self._live_port(dev)
        iface = ipaddress.ip_interface(cidr)
        try:
            self.cfg.add_address(port.index, str(iface.ip), iface.network.prefixlen, peer)
        except Exception as exc:
            if self._gone_soon(port, exc):
                raise self._gone_error(dev) from None
            raise

    def add_route(self, dev: NetDevice, dst: str, gateway: str | None = None) -> None:
        """``ip route add DST dev DEV``; DriverError (ENODEV) if the link is gone."""
        port = self._live_port(dev)
        try:
            self.cfg.add_route(dst, port.index, gateway)
        except Exception as exc:
            if self._gone_soon(port, exc):
                raise self._gone_error(dev) from None
            raise

    def _live_port(self, dev: NetDevice) -> _Port:
        """The device's port; DriverError (ENODEV) once its link is gone (see _link_gone)."""
        port = self.ports.get(dev.name)
        if port is None or port.dev is not dev:
            if dev.host is not self.host or self.host.devices.get(dev.name) is not dev:
                raise DriverError(f"{dev.name}: not registered with this host", errno.ENODEV)
            raise self._gone_error(dev)
        return port

    @staticmethod
    def _gone_error(dev: NetDevice) -> DriverError:
        return DriverError(
            f"{dev.name}: its kernel link was deleted by the user (ip link delete, or moved "
            f"to another network namespace); the device is detached from the kernel: "
            f"reload the driver to recreate it",
            errno.ENODEV,
        )

    def set_link_up(self, dev: NetDevice) -> int:
        """Open the device and set the kernel link up."""
        ret = self.host.dev_open(dev)
        return ret


def _echo(pending: list[tuple[_T, int]], value: _T, order: int) -> bool:
    """Whether a link event's ``value`` is no change to apply, given netdrv's writes not seen yet.

    Events come in order, and each write of netdrv's is seen in a later event (its echo,
    or the event that had set the link to that value already), one read from the order
    remembered with it on.  So while one is pending the event shows it (it and the
    writes before it are seen: forgotten), or is older than it: a change netdrv's own
    later write supersedes.  Only once none is pending is a change a user's, made after
    every write of netdrv's.
    """
    if not pending:
        return False
    for i, (written, first) in enumerate(pending):
        if order < first:
            break  # older than this write and every later one
        if written == value:
            # So is a write of the same value right after it that this event can show (an
            # MTU the link already had, clamped: no echo of its own to wait for).
            for later, since in pending[i + 1 :]:
                if later != value or since > order:
                    break
                i += 1
            del pending[: i + 1]
            break
    return True


def _up_of(ev: LinkEvent) -> bool:
    return bool(ev.flags & IFF_UP)


def _mtu_of(ev: LinkEvent) -> int | None:
    return ev.mtu


def _address_of(ev: LinkEvent) -> bytes | None:
    return ev.address


def _latest(events: list[LinkEvent], index: int,
            field: Callable[[LinkEvent], _T | None]) -> _T | None:  # fmt: skip
    """What the latest of ``events`` about link ``index`` showing ``field`` shows (or None)."""
    for ev in reversed(events):
        if ev.index == index and not ev.deleted and (shown := field(ev)) is not None:
            return shown
    return None


TUN_MIN_MTU = 68  # a TUN/TAP's min_mtu (the kernel refuses less: EINVAL)


IPV6_MIN_MTU = 1280  # below it a link has no IPv6 (addrconf_notify, NETDEV_CHANGEMTU)


def _kernel_mtu(port: _Port) -> int:
    """The device MTU clamped to what a TUN/TAP accepts (68 to 65535 minus the link header):
    a link type with a smaller minimum (LocalTalk, FDDI) gets 68 on the kernel link."""
    return max(TUN_MIN_MTU, min(port.dev.mtu, 65535 - (14 if port.tt.tap else 0)))


def _index_exists(index: int) -> bool:
    """Whether this network namespace has a link with ifindex ``index``."""
    try:
        socket.if_indextoname(index)
    except OSError:
        return False
    return True


def _link_address(port: _Port) -> bytes:
    """The TAP link's own hardware address (sysfs); the device's if it cannot be read."""
    try:
        with open(f"/sys/class/net/{port.k_name}/address") as f:
            return bytes.fromhex(f.read().strip().replace(":", ""))
    except (OSError, ValueError):
        return bytes(port.dev.dev_addr)


def _said(host: Host) -> str:
    """``: why`` when the driver said why it refused (``OSError(errno, "why")``)."""
    return f": {host.extack}" if host.extack else ""


def _raw_flags(port: _Port) -> int | None:
    """The link's own flags (sysfs): IFF_PROMISC/IFF_ALLMULTI whenever their counts are not 0,
    which netlink's flags show only when the user set them; None if not this port's link."""
    base = f"/sys/class/net/{port.k_name}/"
    try:
        with open(base + "flags") as f:
            flags = int(f.read(), 16)
        with open(base + "ifindex") as f:
            if int(f.read()) != port.index:
                return None  # renamed, its events not read yet
    except (OSError, ValueError):
        return None
    return flags


def _siocethtool(ifname: str, data: bytes) -> bytes:
    """One ``SIOCETHTOOL`` ioctl on ``ifname`` with ``data`` (an ``ethtool_*`` structure);
    the structure as the kernel left it.  OSError as the kernel refused it."""
    buf = ctypes.create_string_buffer(data, len(data))
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(buf)).ljust(40, b"\0")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        fcntl.ioctl(s, ioctl.SIOCETHTOOL, ifr)
    return buf.raw


def _write_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:  # e.g. no CAP_NET_ADMIN over this namespace's sysctls: not fatal
        level = logging.DEBUG if exc.errno == errno.ENOENT else logging.WARNING  # no IPv6 at all
        log.log(level, "could not write %s to %s (%s); continuing without it", value, path,
                exc.strerror or exc)  # fmt: skip
