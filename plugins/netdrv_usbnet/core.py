"""The usbnet core: one bound USB Ethernet adapter, after Linux ``drivers/net/usb/usbnet.c``.

A :class:`UsbNet` is Linux's ``struct usbnet``: it owns the pyusb device, the
claimed interfaces, the endpoints, one network device and the threads that
move bytes.  What differs between adapter families lives in a
:class:`MiniDriver` (Linux's ``struct driver_info``): ``bind``/``unbind``,
``status`` (interrupt data), ``link_reset``, ``rx_fixup`` (one transfer →
frames), ``tx_fixup`` (frames → transfers), ``set_rx_mode`` and ``flags``.

Threads (pyusb transfers block; the event loop must not):

* **bulk IN reader** — reads ``rx_buf_size`` bytes at a time while the
  interface is up, straight into a reusable buffer, and hands the filled
  buffer to the loop (like an RX URB that completes and is resubmitted at
  once).  At most ``rx_pool`` buffers exist (:data:`RX_POOL_MEMORY`); when all
  of them wait for the loop the reader pauses (back-pressure: the device
  buffers or drops).  The loop is woken once per batch, not per transfer: a
  NAPI poll (:data:`RX_NAPI_WEIGHT` frames per round) runs ``rx_fixup`` on
  each waiting buffer, delivers the frames with ``netif_receive_skb`` and
  gives the buffer back to the reader.  Each hand-over between threads costs a
  thread switch, so the fewer the better.
* **interrupt IN reader** — while the interface is up (Linux submits the
  interrupt URB in ``usbnet_open`` and kills it in ``usbnet_stop``), reads
  ``wMaxPacketSize`` bytes and calls the minidriver's ``status``, which
  reports link changes and speeds.  The carrier is off from bind until the
  first link-up report after open.
* **bulk OUT writer** — takes batches of frames from a queue, runs
  ``tx_fixup`` (NCM packs a whole batch into one NTB), terminates transfers
  that end on a full packet (ZLP or a pad byte; a FLAG_MULTI_PACKET
  minidriver's framing does it itself) and reports completions to the loop.
  ``start_xmit`` only queues: it never blocks, and it stops the netdev queue
  when ``tx_qlen`` frames are in flight (woken at half).
* **kevent worker** — Linux's deferred ``kevent``: control transfers asked for
  from the loop or the interrupt thread (``link_reset``, rx mode, MTU, MAC)
  run here, in order.  When the adapter goes away it joins the other threads,
  releases the interfaces and closes the device.

Faults, as usbnet takes them: a stall (EPIPE) is cleared with ``clear_halt``
and counted; a timeout is counted and the transfer retried; a babble
(EOVERFLOW) counts ``rx_over_errors``; other RX errors throttle the reader
for 125 ms so a sick device cannot make it spin; ENODEV (unplugged) on any
transfer turns the carrier off, unregisters the interface and releases the
adapter, and the rest of the daemon runs on.  Every skb handed to
``start_xmit`` ends exactly once as ``tx_packets``, ``tx_dropped`` or
``tx_errors``.
"""

from __future__ import annotations

import array
import contextlib
import errno
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import usb.core
import usb.util

from netdrv_core import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    NET_ADDR_RANDOM,
    NETDEV_TX_OK,
    PACKET_MULTICAST,
    DriverError,
    EthtoolOps,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    eth_type_trans,
    ether_setup,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_schedule,
    netdev_alloc_skb_ip_align,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_device_detach,
    netif_napi_add,
    netif_queue_stopped,
    netif_set_gso_max_size,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
)
from netdrv_core.ether import eth_mac_addr, is_valid_ether_addr
from netdrv_core.ethtool import (
    DUPLEX_FULL,
    DUPLEX_UNKNOWN,
    SPEED_UNKNOWN,
    DrvInfo,
    LinkSettings,
    TsInfo,
    ethtool_op_get_ts_info,
)
from netdrv_core.napi import NapiStruct
from netdrv_core.netdevice import IFF_ALLMULTI, IFF_PROMISC, SIOCDEVPRIVATE
from netdrv_core.printk import NETIF_MSG_DRV, NETIF_MSG_LINK, NETIF_MSG_PROBE

from .codecs import CodecStats, needs_zlp

if TYPE_CHECKING:
    from .ids import Match

__all__ = [
    "FLAG_ETHER",
    "FLAG_LINK_INTR",
    "FLAG_MULTI_PACKET",
    "FLAG_NO_SETINT",
    "FLAG_POINTTOPOINT",
    "FLAG_SEND_ZLP",
    "USBNET_IOC_GETSTATE",
    "USBNET_IOC_SIM_LINK",
    "USBNET_IOC_SIM_STALL",
    "USBNET_IOC_SIM_UNPLUG",
    "BindError",
    "MiniDriver",
    "RxMode",
    "TxFrame",
    "TxTransfer",
    "UsbNet",
    "usb_errno",
]

log = logging.getLogger("netdrv.usbnet")


# driver_info flags (include/linux/usb/usbnet.h); the core acts on SEND_ZLP,
# MULTI_PACKET and LINK_INTR, the others document the adapter like in Linux.
FLAG_NO_SETINT = 0x0010
FLAG_ETHER = 0x0020
FLAG_SEND_ZLP = 0x0200
FLAG_LINK_INTR = 0x0800
FLAG_POINTTOPOINT = 0x1000
FLAG_FRAMING_AX = 0x4000
FLAG_MULTI_PACKET = 0x8000

# Private ioctls (``netdrv set usb0 ioctl=N[:VALUE]``).
USBNET_IOC_GETSTATE = SIOCDEVPRIVATE
"""Return the adapter's state as a dict (USB ids, bus, endpoints, queues, counters)."""
USBNET_IOC_SIM_UNPLUG = SIOCDEVPRIVATE + 1
"""Simulated adapters only: pull the plug; VALUE > 0 plugs it back after VALUE ms."""
USBNET_IOC_SIM_LINK = SIOCDEVPRIVATE + 2
"""Simulated adapters only: cable link down (VALUE 0) or up (VALUE 1)."""
USBNET_IOC_SIM_STALL = SIOCDEVPRIVATE + 3
"""Simulated adapters only: halt endpoint VALUE (e.g. 0x81), as a STALL handshake would;
0 makes the next control request STALL.  The driver recovers with ``clear_halt``."""

# libusb speed codes (usb.core.Device.speed).
SPEED_LOW, SPEED_FULL, SPEED_HIGH, SPEED_SUPER, SPEED_SUPER_PLUS = 1, 2, 3, 4, 5
USB_SPEED_NAMES = {0: "unknown", SPEED_LOW: "low", SPEED_FULL: "full", SPEED_HIGH: "high",
                   SPEED_SUPER: "super", SPEED_SUPER_PLUS: "super+"}  # fmt: skip

MAX_QUEUE_MEMORY = 60 * 1518
"""Linux usbnet: the bytes of RX/TX in flight that ~5 ms at high speed need."""
RX_POOL_MEMORY = 5 * MAX_QUEUE_MEMORY
"""Bytes of receive buffers per adapter.  Linux resubmits an RX URB as soon as it completes
and the completed ones wait for the bottom half on a list ``rx_qlen`` does not bound; here a
buffer is reused once the loop has copied its frames out, so the pool bounds both together:
as much as usbnet keeps in flight at super speed (and at least ``rx_qlen`` buffers)."""
RX_POLL_MS = 100
"""A reader's transfer timeout: how often an idle reader looks at its stop flag."""
TX_TIMEOUT_MS = 1000
CTRL_TIMEOUT_MS = 1000
THROTTLE_S = 0.125
"""Linux THROTTLE_JIFFIES (HZ/8): pause after an RX error so a sick device cannot spin us."""
HALT_WARN_INTERVAL_S = 10.0
"""A clear_halt that keeps failing (retried every THROTTLE_S) is logged at most this often."""
ERROR_BURST = 8
"""Consecutive errors of any kind after which a reader throttles too."""
RX_NAPI_WEIGHT = 64
"""Frames delivered per NAPI poll before the loop's other work gets its turn."""
JOIN_TIMEOUT = 3.0
ETH_HLEN = 14


class BindError(DriverError):
    """An adapter could not be bound; the message says which and why."""


def usb_errno(exc: BaseException) -> int:
    """The errno of a pyusb error (ETIMEDOUT for timeouts, EIO when unknown)."""
    if isinstance(exc, usb.core.USBTimeoutError):
        return errno.ETIMEDOUT
    err = getattr(exc, "errno", None)
    return err if isinstance(err, int) and err > 0 else errno.EIO


@dataclass(frozen=True)
class RxMode:
    """What ``set_rx_mode`` must program: a snapshot taken on the loop."""

    promisc: bool = False
    allmulti: bool = False
    mc_list: tuple[bytes, ...] = ()


TxTransfer = tuple[bytes, int, int]
"""One bulk OUT transfer built by ``tx_fixup``: (data, frames in it, the bytes ``tx_bytes``
counts for them once it is sent).  A frame is one skb handed to ``start_xmit``: one that spans
several transfers (a super-frame segmented in software) counts in the transfer carrying its
end.  The bytes are what Linux's usbnet counts: for a minidriver without
``FLAG_MULTI_PACKET`` the whole bulk transfer of each skb, its USB framing and the pad byte
``usbnet_start_xmit`` appends (``length++``, see :meth:`UsbNet.tx_pad`) included; a
``FLAG_MULTI_PACKET`` minidriver says what it counts (cdc_ncm: the datagrams, without the
NTB's framing)."""


class TxFrame(bytes):
    """A frame whose checksum or segmentation the adapter is to finish: the bytes of an skb
    ``start_xmit`` got with ``CHECKSUM_PARTIAL`` or as a GSO super-frame, and that skb's
    offload fields (offsets from the frame's start).  The writer hands it to ``tx_fixup``
    like any frame (it *is* the frame's bytes); a minidriver that offloads looks for it
    (``type(frame) is TxFrame``).  Only an adapter whose features take the job gets one:
    the core finishes the others before ``start_xmit`` (``validate_xmit_skb``)."""

    gso_size: int
    """``skb.gso_size``: the MSS of a super-frame, 0 for a single frame."""
    gso_type: int
    """``skb.gso_type`` (``SKB_GSO_TCPV4`` …)."""
    csum_start: int
    """Where the checksummed part starts (``CHECKSUM_PARTIAL``), -1 when the checksum is done."""
    csum_offset: int
    """The checksum field's offset from ``csum_start``."""

    @classmethod
    def from_skb(cls, skb: SkBuff) -> TxFrame:
        """The frame of ``skb`` (from ``skb.data``) with its offload fields."""
        d = skb.data
        f = cls(skb.buf[d : skb.tail])
        f.gso_size = skb.gso_size
        f.gso_type = skb.gso_type
        partial = skb.ip_summed == CHECKSUM_PARTIAL
        f.csum_start = skb.csum_start - d if partial else -1
        f.csum_offset = skb.csum_offset if partial else 0
        return f

    def segment(self, features: int) -> list[bytes]:
        """This super-frame's segments, cut in software as Linux's ``skb_gso_segment`` does
        for a device that cannot take it whole (netdrv_core's implementation): each
        segment's checksum is left to an adapter whose ``features`` offload it for the
        frame's IP version, finished here otherwise.

        :raises netdrv_core.gso.GsoError: headers that are not what ``gso_type`` says.
        """
        from netdrv_core.gso import skb_gso_segment

        n = len(self)
        skb = SkBuff(n)
        skb.put_data(self)
        skb.mac_header = 0
        skb.protocol = self[12] << 8 | self[13] if n >= ETH_HLEN else 0
        skb.network_header = ETH_HLEN  # skb_gso_segment looks behind VLAN tags itself
        skb.gso_size, skb.gso_type = self.gso_size, self.gso_type
        if self.csum_start >= 0:
            skb.ip_summed = CHECKSUM_PARTIAL
            skb.csum_start, skb.csum_offset = self.csum_start, self.csum_offset
        return [bytes(seg.buf[seg.data : seg.tail]) for seg in skb_gso_segment(skb, features)]


class MiniDriver:
    """Linux's ``driver_info``: what one adapter family does differently.

    One instance per bound adapter (it holds that adapter's codec state).
    Where each method runs matters:

    * :meth:`bind`, :meth:`unbind`: the thread that binds (init or the
      hotplug watcher) / the kevent worker; may do control transfers;
    * :meth:`reset`, :meth:`stop`: the loop, in ``open`` / ``stop`` (Linux's
      ``usbnet_open`` / ``usbnet_stop``); a few control transfers;
    * :meth:`status`: the interrupt thread; reports through
      :meth:`UsbNet.link_change` and :meth:`UsbNet.set_link_speed`;
    * :meth:`link_reset`, :meth:`set_rx_mode`: the kevent worker;
    * :meth:`rx_fixup`: the event loop;
    * :meth:`tx_fixup`: the writer thread;
    * :meth:`change_mtu`, :meth:`set_mac_address`: the loop (defer control
      transfers with :meth:`UsbNet.defer`).
    """

    name: ClassVar[str] = ""
    """Driver name shown by ethtool (``cdc_ether``, ``cdc_ncm``, ``ax88179_178a``)."""
    description: ClassVar[str] = ""
    flags: ClassVar[int] = FLAG_ETHER
    ethtool_ops: ClassVar[type[UsbNetEthtool] | None] = None
    """The minidriver's own ethtool_ops (Linux's ``dev->net->ethtool_ops = &ax88179_ethtool_ops``
    in bind); None: usbnet's."""

    rx_stats: CodecStats
    """The receive decoder's counters (rx_errors and friends are folded into dev.stats)."""

    def bind(self, un: UsbNet, intf: Any) -> None:
        """Claim interfaces, pick endpoints, read the MAC, program the adapter (raise BindError)."""
        raise NotImplementedError

    def unbind(self, un: UsbNet) -> None:
        """Undo what :meth:`bind` programmed (the device may be gone already)."""

    def status(self, un: UsbNet, data: bytes) -> None:
        """One interrupt transfer arrived."""

    def status_reset(self) -> None:
        """The interrupt endpoint stalled: forget partial notifications."""

    def reset(self, un: UsbNet) -> int:
        """``info->reset``, which ``usbnet_open`` calls first: put the adapter in a known safe
        state before the interface comes up (the loop, before the reader and the interrupt
        endpoint are started; keep it to a few control transfers, defer longer work with
        :meth:`UsbNet.defer`).  0, or a negative errno: the open fails with it (Linux's
        "open reset fail").  Default: nothing to do."""
        return 0

    def stop(self, un: UsbNet) -> int:
        """``info->stop``, which ``usbnet_stop`` calls as the interface goes down (the loop;
        not once the adapter is gone): e.g. stop the adapter receiving, so that it buffers
        nothing for a down interface.  A negative errno is logged, the interface goes down
        all the same.  Default: nothing to do."""
        return 0

    def link_reset(self, un: UsbNet) -> bool:
        """After a link-up report: reprogram for the new speed; return True if the link is up."""
        return True

    def rx_fixup(
        self, un: UsbNet, transfer: bytes | bytearray | memoryview
    ) -> list[tuple[bytes | memoryview, bool]]:
        """Split one bulk IN transfer into (frame, checksum verified) pairs."""
        raise NotImplementedError

    def tx_fixup(self, un: UsbNet, frames: list[bytes]) -> tuple[list[TxTransfer], int]:
        """Turn frames into bulk OUT transfers; also return how many frames were dropped.

        Default: one frame per transfer, as it is; ``tx_bytes`` counts the transfer with the
        pad byte the core appends to one that ends on a full packet, as Linux's
        ``usbnet_start_xmit`` counts ``length`` after its ``length++``."""
        pad = un.tx_pad
        return [(f, 1, len(f) + pad(len(f))) for f in frames], 0

    def set_rx_mode(self, un: UsbNet, mode: RxMode) -> None:
        """Program promiscuous/all-multicast/multicast filters."""

    def set_features(self, un: UsbNet, dev: NetDevice, features: int) -> int:
        """``ethtool -K``: switch the adapter's offloads to ``features`` (the loop; defer
        control transfers with :meth:`UsbNet.defer`); ``dev.features`` is still the old set.
        0 or a negative errno.  Default: nothing to program."""
        return 0

    def change_mtu(self, un: UsbNet, dev: NetDevice, new_mtu: int) -> int:
        """``usbnet_change_mtu`` (the core already checked min_mtu..max_mtu): ``EDOM`` for an
        MTU whose largest frame fills whole bulk packets (Linux: "no second zero-length
        packet read wanted after mtu-sized packets"), else accept it."""
        if (new_mtu + dev.hard_header_len) % un.out_mps == 0:
            return -errno.EDOM
        dev.mtu = new_mtu
        return 0

    def set_mac_address(self, un: UsbNet, dev: NetDevice, addr: bytes) -> int:
        """Change the station address; the default refuses (the adapter filters on its own)."""
        return -errno.EOPNOTSUPP

    def private_stats(self) -> list[tuple[str, int]]:
        """Codec counters for ``ethtool -S``."""
        return []

    def get_link_ksettings(self, un: UsbNet, ks: LinkSettings) -> LinkSettings:
        """``ethtool DEV`` (the loop): ``ks`` is what the usbnet core knows — the speed and
        duplex the adapter last reported; the default returns it unchanged."""
        return ks

    def set_link_ksettings(self, un: UsbNet, ks: LinkSettings) -> int:
        """``ethtool -s DEV speed N duplex D autoneg A`` (the loop: defer control transfers
        with :meth:`UsbNet.defer`); 0 or a negative errno.  A minidriver that does not
        override it has no such op: the core answers ``EOPNOTSUPP``."""
        return -errno.EOPNOTSUPP

    def nway_reset(self, un: UsbNet) -> int:
        """``ethtool -r DEV`` (the loop): restart autonegotiation, Linux's ``usbnet_nway_reset``
        → ``mii_nway_restart`` (``EINVAL`` while it is off); 0 or a negative errno.  Reached
        only on a minidriver that overrides :meth:`set_link_ksettings` (one with an MII); the
        default answers ``EOPNOTSUPP``, as ``usbnet_nway_reset`` does without one."""
        return -errno.EOPNOTSUPP


class UsbNet:
    """One bound adapter: ``struct usbnet``.

    Created by :meth:`probe` (binding, in whichever thread scans the bus),
    turned into a network interface by :meth:`register` on the loop, torn
    down by :meth:`disconnect` (ENODEV, removal or unload).
    """

    def __init__(self, owner: Any, udev: Any, info: MiniDriver, match: Match) -> None:
        self.owner = owner
        self.host = owner.host
        self.loop = owner.host.loop
        self.udev = udev
        self.info = info
        self.match = match
        self.bus = int(udev.bus or 0)
        self.address = int(udev.address or 0)
        try:
            ports = tuple(int(p) for p in (udev.port_numbers or ()))
        except Exception:
            ports = ()
        self.port_numbers = ports or ((int(udev.port_number),) if udev.port_number else ())
        self.speed = int(udev.speed or 0)
        self.vid = int(udev.idVendor)
        self.pid = int(udev.idProduct)
        self.key = (self.bus, self.address)
        self.simulated = _is_simulated(udev)
        self.dev: NetDevice | None = None
        self.state = "probing"  # -> bound -> gone -> released
        # Set by the minidriver's bind.
        self.claimed: list[int] = []
        self.detached: list[int] = []
        self.ep_in = 0
        self.ep_out = 0
        self.ep_int: int | None = None
        self.bad_endpoints: list[str] = []  # skipped by use_endpoints, named in bind errors
        self.in_mps = 512
        self.out_mps = 512
        self.int_mps = 16
        self.mac = b""
        self.mac_random = False
        self.msg_enable = NETIF_MSG_DRV | NETIF_MSG_PROBE | NETIF_MSG_LINK  # ethtool msglvl
        self.hard_mtu = 1514
        """Linux's ``dev->hard_mtu``: the largest frame the adapter takes, Ethernet header
        included (what ``tx_qlen`` is sized for); the MTU plus 14 unless bind says otherwise
        (cdc_ether: wMaxSegmentSize), and so again after every MTU change."""
        self.max_mtu = 0
        """The largest MTU ``ip link set … mtu`` may set; 0 (not set by bind): ``hard_mtu``
        less the Ethernet header, as Linux's usbnet_probe bounds it."""
        self.rx_urb_size = 0
        """Linux's ``dev->rx_urb_size`` (what ``rx_qlen`` is sized for); 0 after bind: one
        ``hard_mtu`` frame rounded up to whole bulk IN packets, which then follows
        ``hard_mtu`` through MTU changes, as ``usbnet_change_mtu`` has it."""
        self.rx_buf_size = 0
        """Bytes read per bulk IN transfer: ``rx_urb_size``, or more if bind asks for more."""
        self._rx_urb_auto = False  # rx_urb_size is the core's, from hard_mtu
        self._rx_buf_bind = 0  # rx_buf_size as bind left it
        self.features = 0
        self.hw_features = 0  # what ethtool -K may change (Linux dev->net->hw_features)
        self.gso_max_size = 0  # the adapter's longest super-frame (0: the core's default)
        self.rx_csum = False
        self.port_type = "other"
        # Link.
        self.speed_bps = 0
        self.uplink_bps = 0
        self.duplex = DUPLEX_UNKNOWN
        self._link_seq = 0
        self._link_up = False
        # Queues.
        self.rx_qlen = 4
        self.tx_qlen = 4
        self.rx_pool = 4  # receive buffers: those being filled and those waiting for the loop
        self.rxq: deque[tuple[array.array[int], int]] = deque()  # (buffer, bytes) for the loop
        self.rx_free: deque[array.array[int]] = deque()  # buffers the reader may fill
        self.rx_cond = threading.Condition()  # the reader waits here for a free buffer
        self.rx_scheduled = False  # a NAPI poll is due: the reader need not wake the loop
        self.napi: NapiStruct | None = None
        self._rx_frames: list[tuple[bytes | memoryview, bool]] = []  # decoded, not yet delivered
        self._rx_next = 0
        self._rx_buf: array.array[int] | None = None  # the buffer _rx_frames point into
        self._rx_nbufs = 0  # buffers in use by the reader, the loop or the free list
        self.txq: deque[list[bytes]] = deque()
        self.tx_cond = threading.Condition()
        self.tx_pending: list[bytes] = []
        self.tx_flush_scheduled = False
        self.tx_inflight = 0
        self.tx_stopped = False
        self.tx_gen = 0  # bumped by tx_timeout: the writer abandons the rest of its batch
        self.kq: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self.k_cond = threading.Condition()
        # Threads.
        self.stopping = threading.Event()
        self.rx_gate = threading.Event()
        # Set from open to stop: Linux submits the interrupt URB in usbnet_open and kills it
        # in usbnet_stop, so a down interface hears no link reports.
        self.intr_gate = threading.Event()
        self.intr_polling = False  # the interrupt reader is reading (or about to): state_dict
        # Cleared by data_paused (the bulk endpoints may be gone): the reader and writer wait.
        self.data_ready = threading.Event()
        self.data_ready.set()
        self.data_pauses = 0  # data_paused entries: a read they cut short is no error
        self.threads: list[threading.Thread] = []
        self.kevent_thread: threading.Thread | None = None
        self._lost_reported = False
        self._released = False
        # Counters: each is written by one thread only (ethtool -S).
        self.counters: dict[str, int] = dict.fromkeys(
            ("rx_transfers", "tx_transfers", "rx_stalls", "tx_stalls", "intr_stalls",
             "rx_timeouts", "tx_timeouts", "intr_timeouts", "rx_overflows", "rx_throttled",
             "intr_errors", "kevent_errors", "tx_zlps", "tx_pad_bytes", "link_changes",
             "watchdog_timeouts", "notifications", "clear_halt_errors"), 0)  # fmt: skip
        self._halt_warned = 0.0  # when a failed clear_halt was last logged (rate limit)
        self._bind_log: list[tuple[int, str]] = []  # netdev_log while binding (no name yet)

    # -- identity --------------------------------------------------------------------------
    @property
    def port_path(self) -> str:
        """Root-hub port path like ``1.4`` (empty when the backend does not tell)."""
        return ".".join(str(p) for p in self.port_numbers)

    @property
    def bus_info(self) -> str:
        """``usb-BUS-PORT`` (ethtool ``bus-info``, like Linux ``usb_make_path``)."""
        return f"usb-{self.bus}-{self.port_path or self.address}"

    def __repr__(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x} at {self.bus_info} ({self.info.name})"

    def __str__(self) -> str:
        """How messages name the adapter: ``usb0: 0525:a4a1 at usb-1-1 (cdc_ether)`` once its
        interface exists (as Linux's ``netdev_warn`` prefixes the interface), else the
        adapter alone."""
        dev = self.dev
        return f"{dev.name}: {self!r}" if dev is not None else repr(self)

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    # -- probing (binding thread) --------------------------------------------------------------
    @classmethod
    def probe(cls, owner: Any, udev: Any, match: Match) -> UsbNet:
        """Select the configuration, bind the minidriver; BindError (interfaces released) on failure."""
        un = cls(owner, udev, match.info(), match)
        try:
            un._select_configuration(match.config_value)
            intf = un.interface(match.interface, 0)
            un.info.bind(un, intf)
            if not un.ep_in or not un.ep_out:
                missing = " and ".join(what for what, ep in (("IN", un.ep_in), ("OUT", un.ep_out))
                                       if not ep)  # fmt: skip
                bad = f" ({'; '.join(un.bad_endpoints)})" if un.bad_endpoints else ""
                raise BindError(f"{un}: no usable bulk {missing} endpoint{bad}: not a "
                                f"{un.info.description or un.info.name}, or broken "
                                f"descriptors (check `lsusb -v`)")  # fmt: skip
            if not is_valid_ether_addr(un.mac):
                raise BindError(f"{un}: no valid MAC address")
            if not un.rx_urb_size:
                un._rx_urb_auto = True
                un.rx_urb_size = round_up(un.hard_mtu, un.in_mps)
            un._rx_buf_bind = un.rx_buf_size
            un.rx_buf_size = max(un.rx_buf_size, un.rx_urb_size)
            un.update_max_qlen()
        except BindError:
            un._flush_bind_log()
            un._release_usb()
            raise
        except usb.core.USBError as exc:
            un._flush_bind_log()
            un._release_usb()
            raise BindError(_usb_error_message(un, "binding", exc), usb_errno(exc)) from exc
        except Exception as exc:
            un._flush_bind_log()
            un._release_usb()
            raise BindError(f"{un}: bind failed: {type(exc).__name__}: {exc}") from exc
        return un

    def _select_configuration(self, value: int) -> None:
        udev = self.udev
        try:
            current = udev.get_active_configuration().bConfigurationValue
        except usb.core.USBError as exc:
            if usb_errno(exc) in (errno.EACCES, errno.ENODEV):
                raise
            current = 0
        if current == value:
            return
        if current:
            for intf in udev.get_active_configuration():
                if intf.bAlternateSetting == 0:
                    self._detach_kernel_driver(intf.bInterfaceNumber)
        udev.set_configuration(value)

    def _detach_kernel_driver(self, number: int) -> None:
        try:
            if self.udev.is_kernel_driver_active(number):
                self.udev.detach_kernel_driver(number)
                self.detached.append(number)
                log.info("%s: detached the kernel driver from interface %d", self, number)
        except NotImplementedError:
            pass
        except usb.core.USBError as exc:
            if usb_errno(exc) in (errno.EACCES, errno.ENODEV):
                raise
            log.debug("%s: kernel driver check on interface %d: %s", self, number, exc)

    def interface(self, number: int, alt: int = 0) -> Any:
        """The pyusb Interface ``number``/``alt`` of the active configuration."""
        cfg = self.udev.get_active_configuration()
        found = usb.util.find_descriptor(cfg, bInterfaceNumber=number, bAlternateSetting=alt)
        if found is None:
            raise BindError(f"{self}: no interface {number} alternate setting {alt}")
        return found

    def interfaces(self, number: int) -> list[Any]:
        """Every alternate setting of interface ``number``."""
        cfg = self.udev.get_active_configuration()
        return [i for i in cfg if i.bInterfaceNumber == number]

    def claim(self, number: int) -> None:
        """Claim interface ``number`` (detaching a kernel driver first); clear errors on failure."""
        if number in self.claimed:
            return
        self._detach_kernel_driver(number)
        try:
            usb.util.claim_interface(self.udev, number)
        except usb.core.USBError as exc:
            if usb_errno(exc) == errno.EBUSY:
                raise BindError(
                    f"{self}: interface {number} is busy: another program or a kernel driver "
                    f"holds it (check `lsusb -t`; unbind the kernel driver or stop the other "
                    f"program)", errno.EBUSY) from exc  # fmt: skip
            raise
        self.claimed.append(number)

    def set_altsetting(self, number: int, alt: int) -> None:
        """SET_INTERFACE (the CDC data interface's bulk endpoints exist only in alt 1)."""
        self.udev.set_interface_altsetting(interface=number, alternate_setting=alt)

    def use_endpoints(self, intf: Any, int_intf: Any | None = None) -> None:
        """Take bulk IN/OUT from ``intf`` and an interrupt IN from ``int_intf`` (default ``intf``).

        Endpoints with wMaxPacketSize 0 are skipped, as Linux's ``usb_parse_endpoint`` does:
        nothing can be transferred on them (and ZLP arithmetic would divide by zero).
        """
        for ep in intf.endpoints():
            addr = ep.bEndpointAddress
            kind = usb.util.endpoint_type(ep.bmAttributes)
            is_in = usb.util.endpoint_direction(addr) == usb.util.ENDPOINT_IN
            mps = ep.wMaxPacketSize & 0x7FF
            if kind != usb.util.ENDPOINT_TYPE_BULK or (self.ep_in if is_in else self.ep_out):
                continue
            if not mps:
                self._bad_endpoint(addr)
            elif is_in:
                self.ep_in, self.in_mps = addr, mps
            else:
                self.ep_out, self.out_mps = addr, mps
        for ep in (int_intf if int_intf is not None else intf).endpoints():
            addr = ep.bEndpointAddress
            if (usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
                    and usb.util.endpoint_direction(addr) == usb.util.ENDPOINT_IN):  # fmt: skip
                if not ep.wMaxPacketSize & 0x7FF:
                    self._bad_endpoint(addr)
                    continue
                self.ep_int, self.int_mps = addr, ep.wMaxPacketSize & 0x7FF
                break

    def _bad_endpoint(self, addr: int) -> None:
        why = f"endpoint 0x{addr:02x} has wMaxPacketSize 0"
        self.bad_endpoints.append(why)
        log.warning("%s: %s (invalid descriptor): ignored", self, why)

    def random_mac(self, why: str) -> bytes:
        """A random locally administered MAC, with the warning Linux prints."""
        from netdrv_core import eth_random_addr

        mac = eth_random_addr()
        self.mac_random = True
        self.netdev_log(logging.WARNING, f"{why}; using random MAC {mac.hex(':')}")
        return mac

    def netdev_log(self, level: int, msg: str) -> None:
        """Log ``msg`` naming the interface, as Linux's ``netdev_warn`` and friends do.  While
        binding the interface has no name yet: the message waits for :meth:`register` (or is
        logged with the adapter's name when the bind fails)."""
        if self.dev is None and self.state == "probing":
            self._bind_log.append((level, msg))
        else:
            log.log(level, "%s: %s", self, msg)

    def _flush_bind_log(self) -> None:
        pending, self._bind_log = self._bind_log, []
        for level, msg in pending:
            log.log(level, "%s: %s", self, msg)

    @contextlib.contextmanager
    def data_paused(self) -> Iterator[None]:
        """For a minidriver that takes the data interface out of its data alternate setting at
        runtime (kevent worker; e.g. NCM's SET_NET_ADDRESS in alt 0): the bulk reader and the
        writer wait meanwhile, and a transfer cut short by it is no error."""
        self.data_pauses += 1
        self.data_ready.clear()
        try:
            yield
        finally:
            self.data_ready.set()

    def minidriver_call(self, hook: str) -> int:
        """The minidriver's ``reset`` or ``stop`` (loop): its return value, or the negative
        errno of a USB error it raised (ENODEV also reports the adapter lost)."""
        try:
            return int(getattr(self.info, hook)(self))
        except usb.core.USBError as exc:
            err = usb_errno(exc)
            if err == errno.ENODEV:
                self._lost(exc)
            return -err
        except Exception:
            log.exception("%s: %s raised", self, hook)
            return -errno.EIO

    # -- control transfers (binding thread, kevent worker, or the loop's ethtool ops) -----------
    def ctrl_in(
        self, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes:
        """A control IN transfer; returns the data stage.  ``ENODEV`` on a bound adapter
        also reports it lost (:meth:`_ctrl_failed`)."""
        try:
            data = self.udev.ctrl_transfer(request_type, request, value, index, length,
                                           CTRL_TIMEOUT_MS)  # fmt: skip
        except usb.core.USBError as exc:
            self._ctrl_failed(exc)
            raise
        return bytes(data)

    def ctrl_out(
        self, request_type: int, request: int, value: int, index: int, data: bytes = b""
    ) -> None:
        """A control OUT transfer (``ENODEV`` as in :meth:`ctrl_in`)."""
        try:
            self.udev.ctrl_transfer(request_type, request, value, index, data, CTRL_TIMEOUT_MS)
        except usb.core.USBError as exc:
            self._ctrl_failed(exc)
            raise

    def _ctrl_failed(self, exc: usb.core.USBError) -> None:
        """A control transfer of a bound adapter failing with ``ENODEV`` unbinds it, as one on
        any other endpoint does: a down interface runs no other transfer, and with hotplug
        off no scan runs, so an ethtool op (``get_wol``, ``--show-eee``, ``-e``) may be the
        first to find the adapter gone.  (Linux never gets there: the USB core's disconnect
        unregisters the interface at once.)  Binding reports its own failures."""
        if self.state == "bound" and usb_errno(exc) == errno.ENODEV:
            self._lost(exc)

    # -- queue sizing ---------------------------------------------------------------------------
    def mtu_changed(self, dev: NetDevice) -> None:
        """After an MTU change (loop), as ``usbnet_change_mtu`` does: ``hard_mtu`` is the MTU
        plus the Ethernet header; a receive size the core derived from ``hard_mtu`` follows
        it (the reader reads the new size from its next transfer on; Linux unlinks its RX
        URBs to the same end); the queue lengths are sized again."""
        self.hard_mtu = dev.mtu + dev.hard_header_len
        if self._rx_urb_auto:
            self.rx_urb_size = round_up(self.hard_mtu, self.in_mps)
            self.rx_buf_size = max(self._rx_buf_bind, self.rx_urb_size)
        self.update_max_qlen()

    def update_max_qlen(self) -> None:
        """``usbnet_update_max_qlen``: RX/TX queue lengths from the USB speed and transfer sizes."""
        rx_size = max(self.rx_urb_size, 1)
        mtu = max(self.hard_mtu, 1)
        if self.speed == SPEED_HIGH:
            rx, tx = MAX_QUEUE_MEMORY // rx_size, MAX_QUEUE_MEMORY // mtu
        elif self.speed in (SPEED_SUPER, SPEED_SUPER_PLUS):
            rx, tx = 5 * MAX_QUEUE_MEMORY // rx_size, 5 * MAX_QUEUE_MEMORY // mtu
        else:
            rx = tx = 4
        self.rx_qlen, self.tx_qlen = max(rx, 2), max(tx, 2)
        self.rx_pool = max(self.rx_qlen, RX_POOL_MEMORY // max(self.rx_buf_size, 1))

    # -- the network interface (loop) -------------------------------------------------------------
    def register(self) -> NetDevice:
        """Create and register the network interface, then start the I/O threads."""
        dev = alloc_netdev(None, self.owner.params["name"], ether_setup)
        dev.priv = self
        dev.netdev_ops = UsbNetOps()
        overrides = type(self.info).set_link_ksettings is not MiniDriver.set_link_ksettings
        own = self.info.ethtool_ops
        if own is not None:
            dev.ethtool_ops = own()
        else:
            dev.ethtool_ops = UsbNetMiiEthtool() if overrides else UsbNetEthtool()
        dev.dev_addr = self.mac
        if self.mac_random:  # eth_hw_addr_random(): no permanent address (ethtool -P: zeros)
            dev.addr_assign_type = NET_ADDR_RANDOM
        else:
            dev.perm_addr = self.mac
        # usbnet_probe: the MTU no larger than the adapter takes ("maybe the remote can't
        # receive an Ethernet MTU"); max_mtu as bind set it, else bounded by hard_mtu too.
        # (Linux's usbnet_probe of 2026 caps every minidriver's max_mtu at hard_mtu less the
        # header, contested as a regression since: the AX88179's 4088 would become 1500.)
        largest = self.hard_mtu - dev.hard_header_len
        dev.max_mtu = max(self.max_mtu or largest, 68)
        dev.mtu = max(min(1500, dev.max_mtu, largest), 68)
        dev.watchdog_timeo = 5.0  # TX_TIMEOUT_JIFFIES
        dev.features |= self.features
        dev.hw_features |= self.hw_features
        if self.gso_max_size:
            netif_set_gso_max_size(dev, self.gso_max_size)
        dev.rx_csum_unnecessary = self.rx_csum
        if self.info.flags & FLAG_LINK_INTR and self.ep_int is not None:
            netif_carrier_off(dev)  # until the interrupt endpoint reports the link
        self.napi = netif_napi_add(dev, self._napi_poll, RX_NAPI_WEIGHT)
        self.dev = dev
        self.owner.register(dev)
        self.state = "bound"
        self._flush_bind_log()
        self._start_threads()
        return dev

    def _start_threads(self) -> None:
        name = f"{self.dev.name if self.dev else '?'} {self.bus_info}"
        specs: list[tuple[str, Callable[[], None]]] = [("rx", self._rx_thread),
                                                       ("tx", self._tx_thread)]  # fmt: skip
        if self.ep_int is not None:
            specs.append(("intr", self._intr_thread))
        for what, fn in specs:
            t = threading.Thread(target=self._guard, args=(fn,), daemon=True,
                                 name=f"netdrv-usbnet-{what} {name}")  # fmt: skip
            self.threads.append(t)
            t.start()
        self.kevent_thread = threading.Thread(target=self._guard, args=(self._kevent_thread,),
                                              daemon=True, name=f"netdrv-usbnet-kevent {name}")  # fmt: skip
        self.kevent_thread.start()

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("%s: %s crashed", self, threading.current_thread().name)

    def disconnect(self, reason: str, *, quiet: bool = False) -> None:
        """The adapter is gone (or being unbound): carrier off, interface unregistered, I/O stopped.

        Idempotent; runs on the loop.  The kevent worker then releases the
        interfaces and closes the device once the other threads ended.
        """
        if self.state in ("gone", "released"):
            return
        registered = self.state == "bound"
        self.state = "gone"
        (log.info if quiet else log.warning)(
            "%s: %r: %s", self.dev.name if self.dev else "usbnet", self, reason
        )
        dev = self.dev
        if dev is not None:
            netif_carrier_off(dev)
            netif_device_detach(dev)  # gone: no open, no watchdog; a running one's queue stops
        self.stop_io()
        if dev is not None and registered:
            try:
                self.owner.unregister(dev)
            except Exception:
                log.exception("%s: unregister failed", dev.name)
        if self.kevent_thread is None:  # never registered: no worker to do it
            self._release_usb()
            self.state = "released"
            self.owner.unit_released(self)

    def stop_io(self) -> None:
        """Stop every thread (they end on their own) and count what never left as dropped."""
        self.stopping.set()
        with self.tx_cond:
            queued = sum(len(b) for b in self.txq)
            self.txq.clear()
            self.tx_cond.notify_all()
        queued += len(self.tx_pending)
        self.tx_pending = []
        if queued:
            self._account_tx(0, 0, 0, queued)
        with self.k_cond:
            self.k_cond.notify_all()
        with self.rx_cond:
            self.rx_cond.notify_all()

    def join(self, timeout: float = JOIN_TIMEOUT) -> list[str]:
        """Wait for the threads (after :meth:`disconnect`); names of those still running."""
        deadline = time.monotonic() + timeout
        for t in [self.kevent_thread, *self.threads]:
            if t is not None and t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        return [
            t.name for t in [self.kevent_thread, *self.threads] if t is not None and t.is_alive()
        ]

    def _release_usb(self) -> None:
        """Unbind, release the interfaces, give detached interfaces back to the kernel, close."""
        if self._released:
            return
        self._released = True
        with contextlib.suppress(Exception):
            self.info.unbind(self)
        for number in reversed(self.claimed):
            try:
                usb.util.release_interface(self.udev, number)
            except (usb.core.USBError, ValueError) as exc:
                log.debug("%s: release interface %d: %s", self, number, exc)
        for number in self.detached:
            with contextlib.suppress(Exception):
                self.udev.attach_kernel_driver(number)
        self.claimed = []
        with contextlib.suppress(Exception):
            usb.util.dispose_resources(self.udev)

    def _lost(self, exc: BaseException) -> None:
        """ENODEV seen by a thread: report it to the loop once."""
        if not self._lost_reported and not self.stopping.is_set():
            self._lost_reported = True
            self._post(self.disconnect, f"disconnected ({exc})")

    def _clear_halt(self, ep: int) -> bool:
        """CLEAR_FEATURE(HALT) after a stall; False when the device is gone."""
        try:
            self.udev.clear_halt(ep)
        except usb.core.USBError as exc:
            if usb_errno(exc) == errno.ENODEV:
                self._lost(exc)
                return False
            self.counters["clear_halt_errors"] += 1
            now = time.monotonic()
            if now - self._halt_warned >= HALT_WARN_INTERVAL_S:
                # Retried every THROTTLE_S while it keeps failing: one line per interval.
                self._halt_warned = now
                log.warning("%s: clear_halt(0x%02x) failed: %s (%d so far; retrying)", self, ep,
                            exc, self.counters["clear_halt_errors"])  # fmt: skip
            self.stopping.wait(THROTTLE_S)
        return True

    def _throttle(self, counter: str | None = None) -> None:
        if counter:
            self.counters[counter] += 1
        self.stopping.wait(THROTTLE_S)

    # -- link (any thread) ---------------------------------------------------------------------
    def link_change(self, link: bool, need_reset: bool) -> None:
        """``usbnet_link_change``: carrier now, or after ``link_reset`` when it must reprogram."""
        self._link_seq += 1
        self._link_up = link
        seq = self._link_seq
        self._post(self._set_carrier, link and not need_reset, seq)
        if link and need_reset:
            self.defer(self._link_reset, seq)

    def set_link_speed(self, downlink_bps: int, uplink_bps: int | None = None) -> None:
        """The adapter reported its link rate (ethtool speed)."""
        self.speed_bps = int(downlink_bps)
        self.uplink_bps = int(uplink_bps if uplink_bps is not None else downlink_bps)

    def _link_reset(self, seq: int) -> None:
        if seq != self._link_seq:
            return  # superseded by a newer link report
        up = self.info.link_reset(self)
        self.update_max_qlen()
        if up:
            self._post(self._set_carrier, True, seq)

    def _set_carrier(self, on: bool, seq: int) -> None:
        dev = self.dev
        if dev is None or self.state != "bound" or seq != self._link_seq:
            return
        if on != netif_carrier_ok(dev):
            self.counters["link_changes"] += 1
            if self.msg_enable & NETIF_MSG_LINK:
                log.info("%s: link %s%s", dev.name, "up" if on else "down",
                         f" at {self.speed_bps // 1_000_000} Mbit/s" if on and self.speed_bps
                         else "")  # fmt: skip
        (netif_carrier_on if on else netif_carrier_off)(dev)

    # -- kevent ---------------------------------------------------------------------------------
    def defer(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in the kevent worker (control transfers off the loop)."""
        if self.kevent_thread is None and self.state == "probing":
            fn(*args)  # still binding: we are in the binding thread already
            return
        with self.k_cond:
            if self.stopping.is_set():
                return
            self.kq.append((fn, args))
            self.k_cond.notify()

    def _kevent_thread(self) -> None:
        try:
            while True:
                with self.k_cond:
                    while not self.kq and not self.stopping.is_set():
                        self.k_cond.wait()
                    if self.stopping.is_set():
                        break
                    fn, args = self.kq.popleft()
                try:
                    fn(*args)
                except usb.core.USBError as exc:
                    if usb_errno(exc) == errno.ENODEV:
                        self._lost(exc)
                    else:
                        self.counters["kevent_errors"] += 1
                        log.warning("%s: %s failed: %s", self, getattr(fn, "__name__", fn), exc)
                except Exception:
                    self.counters["kevent_errors"] += 1
                    log.exception("%s: %s raised", self, getattr(fn, "__name__", fn))
        finally:
            for t in self.threads:
                t.join(JOIN_TIMEOUT)
            self._release_usb()
            self.state = "released"
            self._post(self.owner.unit_released, self)

    # -- receive ------------------------------------------------------------------------------------
    def _rx_buffer(self) -> array.array[int] | None:
        """A buffer to read into (reader): a free one, a new one while fewer than ``rx_pool``
        exist, else None after waiting a little for the loop to give one back."""
        free = self.rx_free
        size = self.rx_buf_size
        while free:
            buf = free.popleft()
            if len(buf) == size and self._rx_nbufs <= self.rx_pool:
                return buf
            self._rx_nbufs -= 1  # the size or the pool size changed: let it go
        if self._rx_nbufs < self.rx_pool:
            self._rx_nbufs += 1
            return array.array("B", bytes(size))
        with self.rx_cond:  # back-pressure: every buffer waits for the loop
            if not free and not self.stopping.is_set():
                self.rx_cond.wait(0.1)
        return None

    def _rx_thread(self) -> None:
        stop = self.stopping
        gate = self.rx_gate
        poll = RX_POLL_MS
        burst = 0
        buf: array.array[int] | None = None
        while not stop.is_set():
            if not gate.is_set() and not gate.wait(0.1):
                continue  # interface down: leave the data in the adapter
            if not self.data_ready.is_set():
                self.data_ready.wait(0.1)  # the data interface is not in its data setting
                continue
            if buf is None:
                buf = self._rx_buffer()
                if buf is None:
                    continue
            t0 = time.monotonic()
            pauses = self.data_pauses
            try:
                n = self.udev.read(self.ep_in, buf, poll)
            except usb.core.USBTimeoutError:
                if time.monotonic() - t0 < poll / 2000:  # failed early: the device timed out
                    burst += 1
                    self._post(self._rx_error, "timeout")
                    self._throttle("rx_throttled")
                continue
            except usb.core.USBError as exc:
                err = usb_errno(exc)
                if err == errno.ENODEV:
                    self._lost(exc)
                    return
                if not gate.is_set() or pauses != self.data_pauses:
                    continue  # went down (an unlinked URB), or data_paused: no error
                burst += 1
                if err == errno.EPIPE:
                    self._post(self._rx_error, "stall")
                    if not self._clear_halt(self.ep_in):
                        return
                elif err == errno.EOVERFLOW:
                    self._post(self._rx_error, "overflow")
                else:
                    self._post(self._rx_error, "error")
                    log.debug("%s: bulk IN error: %s", self, exc)
                    self._throttle("rx_throttled")
                    burst = 0
                if burst >= ERROR_BURST:
                    self._throttle("rx_throttled")
                    burst = 0
                continue
            except Exception:  # a backend bug must not end the reader: RX would stop for good
                log.exception("%s: bulk IN read raised", self)
                self._post(self._rx_error, "error")
                self._throttle("rx_throttled")
                continue
            burst = 0
            if not gate.is_set():
                continue  # went down while reading: like an unlinked URB
            self.counters["rx_transfers"] += 1
            self.rxq.append((buf, n))
            buf = None
            if not self.rx_scheduled:  # one wake-up per batch: the poll takes all that waits
                self.rx_scheduled = True
                self._post(self._rx_kick)

    def _rx_error(self, kind: str) -> None:
        """A bulk IN transfer failed (loop): rx_errors, and the specific counter."""
        dev = self.dev
        if dev is None:
            return
        dev.stats.rx_errors += 1
        if kind == "overflow":
            dev.stats.rx_over_errors += 1
            self.counters["rx_overflows"] += 1
        elif kind == "stall":
            self.counters["rx_stalls"] += 1
        elif kind == "timeout":
            self.counters["rx_timeouts"] += 1

    def _rx_kick(self) -> None:
        """The reader handed over transfers (loop): schedule the NAPI poll."""
        napi = self.napi
        if napi is not None and (napi_schedule(napi) or napi.scheduled):
            return
        self.rx_discard()  # NAPI is off (interface down): like URBs unlinked by stop
        self.rx_scheduled = False

    def rx_discard(self) -> None:
        """Drop the transfers waiting for the loop and give their buffers back (loop)."""
        self._rx_frames = []
        self._rx_next = 0
        with self.rx_cond:
            if self._rx_buf is not None:
                self.rx_free.append(self._rx_buf)
                self._rx_buf = None
            while self.rxq:
                self.rx_free.append(self.rxq.popleft()[0])
            self.rx_cond.notify_all()

    def _napi_poll(self, napi: NapiStruct, budget: int) -> int:
        """NAPI poll (loop): ``rx_fixup`` each waiting buffer, deliver up to *budget* frames.

        A transfer larger than what is left of the budget is finished by the next
        poll; a buffer goes back to the reader once all its frames are delivered
        (they are copied into skbs).
        """
        dev = self.dev
        if dev is None or not dev.is_up or self.state != "bound":
            self.rx_discard()
            napi_complete_done(napi, 0)
            self.rx_scheduled = False
            return 0
        done = 0
        released = False
        rxq = self.rxq
        while done < budget:
            frames, i = self._rx_frames, self._rx_next
            if i >= len(frames):
                if self._rx_buf is not None:
                    self.rx_free.append(self._rx_buf)
                    self._rx_buf = None
                    self._rx_frames = []
                    released = True
                if not rxq:
                    break
                buf, n = rxq.popleft()
                self._rx_buf = buf
                self._rx_frames = self._rx_fixup(memoryview(buf)[:n])
                self._rx_next = 0
                continue
            k = min(len(frames) - i, budget - done)
            self._rx_next = i + k
            self._rx_deliver(frames if k == len(frames) else frames[i : i + k])
            done += k
        if released and (not rxq or 2 * len(self.rx_free) >= self._rx_nbufs):
            # The reader may wait for a buffer: wake it for several at once (or when the
            # loop runs dry), as each wake-up costs a thread switch.
            with self.rx_cond:
                self.rx_cond.notify()
        # Linux's idiom: done only when napi_complete_done agrees; after a schedule that
        # came during the poll (MISSED) the core polls again, and a poll is still due.
        if done < budget and napi_complete_done(napi, done):
            self.rx_scheduled = False
            if rxq:  # handed over while we were finishing
                self.rx_scheduled = True
                napi_schedule(napi)
        return done

    def _rx_fixup(
        self, transfer: bytes | bytearray | memoryview
    ) -> list[tuple[bytes | memoryview, bool]]:
        """Minidriver ``rx_fixup``, its decoder's errors folded into the device stats."""
        dev = self.dev
        st = self.info.rx_stats
        before = (st.rx_errors, st.rx_length_errors, st.rx_frame_errors, st.rx_crc_errors)
        try:
            frames = self.info.rx_fixup(self, transfer)
        except Exception:  # a decoder must not raise on device data: count it, go on
            log.exception("%s: rx_fixup raised; transfer dropped", self)
            st.rx_errors += 1
            frames = []
        after = (st.rx_errors, st.rx_length_errors, st.rx_frame_errors, st.rx_crc_errors)
        if after != before and dev is not None:
            s = dev.stats
            s.rx_errors += after[0] - before[0]
            s.rx_length_errors += after[1] - before[1]
            s.rx_frame_errors += after[2] - before[2]
            s.rx_crc_errors += after[3] - before[3]
        return frames

    def _rx_deliver(self, frames: list[tuple[bytes | memoryview, bool]]) -> None:
        """Frames up the stack (``usbnet_skb_return``); counted as they are handed over."""
        dev = self.dev
        assert dev is not None
        # From the NAPI poll, through GRO (a TCP flow's segments go up merged); the
        # non-NAPI path hands each up as it is.
        napi = self.napi
        host = self.host
        gro = host.napi_gro_receive
        receive = host.netif_receive_skb
        alloc = netdev_alloc_skb_ip_align
        count = nbytes = mcast = 0
        try:
            for frame, csum_ok in frames:
                n = len(frame)
                skb = alloc(dev, n)
                d = skb.data  # skb_put_data, inline: the buffer is new and n bytes long
                skb.buf[d : d + n] = frame
                skb.tail = d + n
                if csum_ok:
                    skb.ip_summed = CHECKSUM_UNNECESSARY
                eth_type_trans(skb, dev)
                if skb.pkt_type == PACKET_MULTICAST:
                    mcast += 1
                count += 1
                nbytes += n - ETH_HLEN  # usbnet_skb_return: skb->len after eth_type_trans
                if napi is not None:
                    gro(napi, skb)
                else:
                    receive(skb)
        finally:  # one update per batch, exact even if delivery raised
            stats = dev.stats
            stats.rx_packets += count
            stats.rx_bytes += nbytes
            stats.multicast += mcast

    def rx_process(self, transfer: bytes | bytearray | memoryview) -> None:
        """``rx_process``: minidriver ``rx_fixup``, errors counted, frames up the stack now."""
        dev = self.dev
        if dev is None or not dev.is_up or self.state != "bound":
            return
        self._rx_deliver(self._rx_fixup(transfer))

    # -- interrupt --------------------------------------------------------------------------------
    def _intr_thread(self) -> None:
        stop = self.stopping
        gate = self.intr_gate
        poll = RX_POLL_MS
        assert self.ep_int is not None
        buf = array.array("B", bytes(self.int_mps))
        burst = 0
        while not stop.is_set():
            if not gate.is_set():
                self.intr_polling = False  # interface down: the adapter keeps its notifications
                if not gate.wait(0.1):
                    continue
            self.intr_polling = True
            t0 = time.monotonic()
            try:
                n = self.udev.read(self.ep_int, buf, poll)
            except usb.core.USBTimeoutError:
                if time.monotonic() - t0 < poll / 2000:
                    self.counters["intr_timeouts"] += 1
                    self._throttle()
                continue
            except usb.core.USBError as exc:
                err = usb_errno(exc)
                if err == errno.ENODEV:
                    self._lost(exc)
                    return
                burst += 1
                if err == errno.EPIPE:
                    self.counters["intr_stalls"] += 1
                    self.info.status_reset()
                    if not self._clear_halt(self.ep_int):
                        return
                else:
                    self.counters["intr_errors"] += 1
                    log.debug("%s: interrupt IN error: %s", self, exc)
                    self._throttle()
                if burst >= ERROR_BURST:
                    self._throttle()
                    burst = 0
                continue
            except Exception:  # a backend bug must not end the reader: the link would freeze
                log.exception("%s: interrupt IN read raised", self)
                self.counters["intr_errors"] += 1
                self._throttle()
                continue
            burst = 0
            self.counters["notifications"] += 1
            try:
                self.info.status(self, memoryview(buf)[:n].tobytes())
            except Exception:
                log.exception("%s: status() raised", self)

    # -- transmit -----------------------------------------------------------------------------------
    def queue_tx(self, frame: bytes) -> None:
        """Hand one frame to the writer (loop; never blocks); stop the queue when full."""
        self.tx_pending.append(frame)
        self.tx_inflight += 1
        if not self.tx_flush_scheduled:
            self.tx_flush_scheduled = True
            self.loop.call_soon(self._tx_flush)
        dev = self.dev
        if self.tx_inflight >= self.tx_qlen and dev is not None and not netif_queue_stopped(dev):
            netif_stop_queue(dev)
            self.tx_stopped = True

    def _tx_flush(self) -> None:
        """Everything ``start_xmit`` queued in this loop pass goes to the writer as one batch."""
        self.tx_flush_scheduled = False
        frames, self.tx_pending = self.tx_pending, []
        if not frames:
            return
        if self.state != "bound" or self.stopping.is_set():
            self._account_tx(0, 0, 0, len(frames))
            return
        with self.tx_cond:
            self.txq.append(frames)
            self.tx_cond.notify()

    def _tx_thread(self) -> None:
        stop = self.stopping
        while True:
            with self.tx_cond:
                while not self.txq and not stop.is_set():
                    self.tx_cond.wait()
                if stop.is_set():
                    return  # what is still queued is counted by stop_io
                frames: list[bytes] = []
                while self.txq:
                    frames.extend(self.txq.popleft())
            self._tx_batch(frames)
            if stop.is_set():
                return

    def _tx_batch(self, frames: list[bytes]) -> None:
        ok = ok_bytes = errors = 0
        try:
            transfers, dropped = self.info.tx_fixup(self, frames)
        except Exception:
            log.exception("%s: tx_fixup raised; dropping %d frames", self, len(frames))
            self._post(self._account_tx, 0, 0, 0, len(frames))
            return
        gen = self.tx_gen
        for i, (data, npk, nbytes) in enumerate(transfers):
            if self.stopping.is_set() or self._lost_reported:
                # Unloading, or the adapter is gone: never submitted, so dropped (Linux's
                # usbnet_start_xmit counts a frame usb_submit_urb refuses as tx_dropped).
                dropped += sum(t[1] for t in transfers[i:])
                break
            if gen != self.tx_gen:  # tx_timeout: the rest is given up, like unlinked URBs
                errors += sum(t[1] for t in transfers[i:])
                break
            if not self.data_ready.is_set() and not self.data_ready.wait(TX_TIMEOUT_MS / 1000):
                # data_paused longer than a transfer may take (alt 0 during a MAC change: the
                # endpoints are gone): the rest is never submitted, so dropped, as above.
                dropped += sum(t[1] for t in transfers[i:])
                break
            try:
                err = self._bulk_out(data)
            except Exception:  # a backend bug must not end the writer: the queue would stall
                log.exception("%s: bulk OUT transfer raised", self)
                err = errno.EIO
            if not err:
                ok += npk
                ok_bytes += nbytes
                continue
            errors += npk  # in flight when it failed: tx_errors, as Linux's tx_complete
            if err == errno.ENODEV:
                dropped += sum(t[1] for t in transfers[i + 1 :])  # never submitted
                break
        self._post(self._account_tx, ok, ok_bytes, errors, dropped)

    def tx_pad(self, length: int) -> int:
        """1 if :meth:`_bulk_out` appends a pad byte to a transfer of ``length`` bytes, else 0:
        one that ends on a full packet, from a minidriver with neither FLAG_SEND_ZLP (a ZLP
        ends it) nor FLAG_MULTI_PACKET (its framing does) — ``usbnet_start_xmit``'s
        ``length++``, which Linux counts in ``tx_bytes``."""
        if self.info.flags & (FLAG_SEND_ZLP | FLAG_MULTI_PACKET):
            return 0
        return 1 if needs_zlp(length, self.out_mps) else 0

    def _bulk_out(self, data: bytes) -> int:
        """One bulk OUT transfer, terminated like ``usbnet_start_xmit``; 0 or the errno.

        A transfer that ends on a full packet gets a ZLP with FLAG_SEND_ZLP, else one pad
        byte (:meth:`tx_pad`), except from a FLAG_MULTI_PACKET minidriver: its framing ends
        its transfers itself (cdc_ncm: a full-size NTB of dwNtbOutMaxSize needs no
        terminator).
        """
        zlp = False
        if needs_zlp(len(data), self.out_mps):
            if self.info.flags & FLAG_SEND_ZLP:
                zlp = True
            elif self.tx_pad(len(data)):
                data += b"\x00"  # the 1-byte pad usbnet adds instead of a ZLP
                self.counters["tx_pad_bytes"] += 1
        try:
            # pyusb wants an array; handing it one skips its conversion by trial and error.
            self.udev.write(self.ep_out, array.array("B", data), TX_TIMEOUT_MS)
            if zlp:
                self.udev.write(self.ep_out, b"", TX_TIMEOUT_MS)
                self.counters["tx_zlps"] += 1
        except usb.core.USBTimeoutError:
            self.counters["tx_timeouts"] += 1
            return errno.ETIMEDOUT
        except usb.core.USBError as exc:
            err = usb_errno(exc)
            if err == errno.ENODEV:
                self._lost(exc)
            elif err == errno.EPIPE:
                self.counters["tx_stalls"] += 1
                self._clear_halt(self.ep_out)
            else:
                log.debug("%s: bulk OUT error: %s", self, exc)
            return err
        self.counters["tx_transfers"] += 1
        return 0

    def _account_tx(self, ok: int, ok_bytes: int, errors: int, dropped: int) -> None:
        """Writer completions (loop): every frame ends here exactly once."""
        dev = self.dev
        if dev is not None:
            st = dev.stats
            st.tx_packets += ok
            st.tx_bytes += ok_bytes
            st.tx_errors += errors
            st.tx_dropped += dropped
        self.tx_inflight -= ok + errors + dropped
        if (self.tx_stopped and self.tx_inflight <= self.tx_qlen // 2 and dev is not None
                and self.state == "bound" and dev.is_up):  # fmt: skip
            self.tx_stopped = False
            netif_wake_queue(dev)

    def purge_tx(self) -> int:
        """Give up on what the writer has not sent yet (loop); it counts as tx_errors.

        Frames still queued are taken back now; the writer abandons the rest of
        the batch it is working on after its current transfer.
        """
        self.tx_gen += 1
        with self.tx_cond:
            n = sum(len(b) for b in self.txq)
            self.txq.clear()
        if n:
            self._account_tx(0, 0, n, 0)
        return n

    # -- state for ioctl/ethtool ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything worth knowing about the adapter, JSON-friendly."""
        return {
            "minidriver": self.info.name,
            "vid": f"{self.vid:04x}",
            "pid": f"{self.pid:04x}",
            "bus": self.bus,
            "address": self.address,
            "port": self.port_path,
            "bus_info": self.bus_info,
            "usb_speed": USB_SPEED_NAMES.get(self.speed, str(self.speed)),
            "simulated": self.simulated,
            "state": self.state,
            "interfaces": list(self.claimed),
            "endpoints": {
                "in": self.ep_in,
                "out": self.ep_out,
                "int": self.ep_int,
                "in_mps": self.in_mps,
                "out_mps": self.out_mps,
                "int_mps": self.int_mps,
            },
            "hard_mtu": self.hard_mtu,
            "rx_urb_size": self.rx_urb_size,
            "rx_qlen": self.rx_qlen,
            "rx_pool": self.rx_pool,
            "rx_buffers": self._rx_nbufs,
            "tx_qlen": self.tx_qlen,
            "tx_inflight": self.tx_inflight,
            "intr_polling": self.intr_polling,
            "speed_bps": self.speed_bps,
            "mac_random": self.mac_random,
            "counters": dict(self.counters),
            "codec": dict(self.info.private_stats()),
        }


def round_up(n: int, m: int) -> int:
    """``n`` rounded up to a multiple of ``m`` (a transfer size to whole USB packets)."""
    m = max(m, 1)
    return (n + m - 1) // m * m


def _is_simulated(udev: Any) -> bool:
    try:
        from .sim import SimBackend

        return isinstance(udev.backend, SimBackend)
    except Exception:
        return False


USBFS_PATH = "/dev/bus/usb"
"""Where libusb opens adapters (``/dev/bus/usb/BBB/DDD``, the devtmpfs nodes udev names)."""
USB_DEVICES_SYSFS = "/sys/bus/usb/devices"
"""Where the kernel lists the devices on the bus (``BUS-PORT.PORT``), which libusb enumerates."""


def _missing_node(un: UsbNet) -> str | None:
    """The adapter's ``/dev/bus/usb`` node when it does not exist though the adapter is still
    on the bus (sysfs lists it; real adapters only): libusb then answers opens with
    ``LIBUSB_ERROR_NO_DEVICE``, as for an adapter that went away."""
    if un.simulated or not un.bus or not un.address or not un.port_numbers:
        return None
    node = f"{USBFS_PATH}/{un.bus:03d}/{un.address:03d}"
    return node if _still_listed(un) and not os.path.exists(node) else None


def _still_listed(un: UsbNet) -> bool:
    """Sysfs lists the adapter at its port *with its address* (``devnum``): a device that
    re-enumerated (a reset, a replug) has a new address there, and the old node is gone
    because the old device is, on a host as in a container."""
    try:
        with open(f"{USB_DEVICES_SYSFS}/{un.bus}-{un.port_path}/devnum") as f:
            return int(f.read().strip()) == un.address
    except (OSError, ValueError):
        return False


def _usb_error_message(un: UsbNet, what: str, exc: BaseException) -> str:
    err = usb_errno(exc)
    node = _missing_node(un) if err == errno.ENODEV else None
    if node is not None:  # sysfs shows the bus, /dev does not: a container, mostly
        return (
            f"cannot open USB adapter {un}: its device node {node} does not exist (libusb "
            f"opens adapters there): in a container, pass it in (docker run --device {node}, "
            f"or the whole {USBFS_PATH} for hotplug); on a host, check that devtmpfs is "
            f"mounted on /dev"
        )
    if err == errno.EACCES:
        return (
            f"permission denied {what} USB adapter {un}: run the netdrv daemon as root, or "
            f'add a udev rule giving its user access, e.g. SUBSYSTEM=="usb", '
            f'ATTR{{idVendor}}=="{un.vid:04x}", MODE="0660", GROUP="plugdev" '
            f"(see the troubleshooting docs: USB permissions)"
        )
    if err == errno.ENODEV:
        return f"USB adapter {un} disappeared while {what} it"
    return f"{what} USB adapter {un} failed: {exc}"


# -- net_device_ops and ethtool_ops ---------------------------------------------------------------
def _un(dev: NetDevice) -> UsbNet:
    return dev.priv


class UsbNetOps(NetDeviceOps):
    """``usbnet_netdev_ops``."""

    def open(self, dev: NetDevice) -> int:
        """Start receiving; carrier from the interrupt endpoint (or on, without one)."""
        un = _un(dev)
        if un.state != "bound":
            return -errno.ENODEV
        ret = un.minidriver_call("reset")  # usbnet_open: "put into known safe state"
        if ret < 0:
            log.info("%s: open reset fail (%d) usbnet %s, %s", dev.name, ret, un.bus_info,
                     un.info.description)  # fmt: skip
            return ret
        if un.napi is not None:
            napi_enable(un.napi)
        un.rx_scheduled = False
        un.rx_discard()  # nothing from before the interface went down
        un.rx_gate.set()
        un.intr_gate.set()  # usbnet_open submits the interrupt URB: link reports from now
        un.tx_stopped = False
        netif_start_queue(dev)
        if un.ep_int is None or not un.info.flags & FLAG_LINK_INTR:
            netif_carrier_on(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        """Stop receiving and polling the interrupt endpoint (``usb_kill_urb(dev->interrupt)``);
        frames already handed to the writer still complete.  The carrier stays as the adapter
        last reported it, as in Linux."""
        un = _un(dev)
        if un.state == "bound":  # usbnet_stop: the minidriver stops the adapter first
            ret = un.minidriver_call("stop")
            if ret < 0:
                log.info("%s: stop fail (%d) usbnet %s, %s", dev.name, ret, un.bus_info,
                         un.info.description)  # fmt: skip
        un.rx_gate.clear()
        un.intr_gate.clear()
        if un.napi is not None:
            napi_disable(un.napi)
        un.rx_discard()
        un.tx_stopped = False
        netif_stop_queue(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """Queue the frame to the writer thread (``usbnet_start_xmit``)."""
        un: UsbNet = dev.priv
        if un.state != "bound":
            dev.stats.tx_dropped += 1
            dev_kfree_skb(skb)
            return NETDEV_TX_OK
        if skb.ip_summed == CHECKSUM_PARTIAL or skb.gso_size:
            frame: bytes = TxFrame.from_skb(skb)  # the adapter finishes it (its features)
        else:
            # One copy of the frame (skb.tobytes() makes two: a bytearray slice, then bytes).
            frame = bytes(memoryview(skb.buf)[skb.data : skb.tail])
        dev_kfree_skb(skb)
        un.queue_tx(frame)
        return NETDEV_TX_OK

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        """``usbnet_tx_timeout``: give up on what the writer has not started, wake the queue."""
        un = _un(dev)
        un.counters["watchdog_timeouts"] += 1
        n = un.purge_tx()
        log.warning("%s: transmit timed out; %d queued frames dropped, the transfer in "
                    "progress is the last of its batch", dev.name, n)  # fmt: skip
        if un.state == "bound" and netif_queue_stopped(dev) and un.tx_inflight < un.tx_qlen:
            un.tx_stopped = False
            netif_wake_queue(dev)

    def set_rx_mode(self, dev: NetDevice) -> None:
        """Promiscuous/all-multicast/multicast list: programmed by the kevent worker."""
        un = _un(dev)
        if un.state != "bound":
            return
        mode = RxMode(promisc=bool(dev.flags & IFF_PROMISC),
                      allmulti=bool(dev.flags & IFF_ALLMULTI), mc_list=tuple(dev.mc_list))  # fmt: skip
        un.defer(un.info.set_rx_mode, un, mode)

    def set_features(self, dev: NetDevice, features: int) -> int:
        """``ethtool -K``: the minidriver programs the adapter's offloads (the AX88179's
        checksum engines); 0 or a negative errno."""
        un = _un(dev)
        if un.state in ("gone", "released"):
            return -errno.ENODEV
        return un.info.set_features(un, dev, features)

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        """The minidriver decides (:meth:`MiniDriver.change_mtu`: ``usbnet_change_mtu``,
        AX88179 switches jumbo mode); then ``hard_mtu`` follows the MTU and the queues are
        sized again (:meth:`UsbNet.mtu_changed`)."""
        un = _un(dev)
        ret = un.info.change_mtu(un, dev, new_mtu)
        if ret == 0:
            un.mtu_changed(dev)
        return ret

    def set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        """The minidriver decides (the adapter filters unicast on its own address)."""
        un = _un(dev)
        if un.state != "bound":
            return -errno.ENODEV
        return un.info.set_mac_address(un, dev, bytes(addr))

    def do_ioctl(self, dev: NetDevice, request: int, data: Any) -> Any:
        """SIOCDEVPRIVATE: state; on a simulated adapter +1: unplug, +2: cable link, +3: stall."""
        un = _un(dev)
        if request == USBNET_IOC_GETSTATE:
            return un.state_dict()
        if request in (USBNET_IOC_SIM_UNPLUG, USBNET_IOC_SIM_LINK, USBNET_IOC_SIM_STALL):
            return un.owner.sim_ioctl(un, request, data)
        return -errno.EOPNOTSUPP


def default_set_mac_address(un: UsbNet, dev: NetDevice, addr: bytes) -> int:
    """``eth_mac_addr`` (refused while up), for minidrivers that then reprogram the adapter."""
    return eth_mac_addr(dev, addr)


class UsbNetEthtool(EthtoolOps):
    """``usbnet_get_drvinfo``, link settings from the adapter's reports, private counters."""

    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        """Minidriver name, driver version, description and ``usb-BUS-PORT``."""
        un = _un(dev)
        return DrvInfo(driver=un.info.name, version=getattr(un.owner, "version", ""),
                       fw_version=un.info.description, bus_info=un.bus_info)  # fmt: skip

    def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
        """Speed (Mbit/s) as the adapter reported it; USB speed and queues in ``extra``."""
        un = _un(dev)
        speed = un.speed_bps // 1_000_000 if un.speed_bps else SPEED_UNKNOWN
        return un.info.get_link_ksettings(un, LinkSettings(
            speed=speed, duplex=un.duplex,
            autoneg=un.duplex == DUPLEX_FULL, port=un.port_type,
            extra={"usb_speed": USB_SPEED_NAMES.get(un.speed, str(un.speed)),
                   "downlink_bps": un.speed_bps, "uplink_bps": un.uplink_bps,
                   "rx_qlen": un.rx_qlen, "tx_qlen": un.tx_qlen},
        ))  # fmt: skip

    def get_ts_info(self, dev: NetDevice, info: TsInfo) -> int:
        """``.get_ts_info = ethtool_op_get_ts_info`` (usbnet's, cdc_ncm's and ax88179's ops):
        software time stamps, as ``usbnet_start_xmit``'s ``skb_tx_timestamp`` and the stack
        give them (on a TAP, the kernel's tun driver and stack make them)."""
        return ethtool_op_get_ts_info(dev, info)

    def get_msglevel(self, dev: NetDevice) -> int:
        """``usbnet_get_msglevel``: ``msg_enable`` (drv, probe, link at first)."""
        return _un(dev).msg_enable

    def set_msglevel(self, dev: NetDevice, value: int) -> int:
        """``usbnet_set_msglevel`` (``link`` gates the link up/down messages)."""
        _un(dev).msg_enable = value
        return 0

    def get_strings(self, dev: NetDevice) -> list[str]:
        """Core counters, queue sizes and codec counters."""
        return [name for name, _ in _private_stats(_un(dev))]

    def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
        """Values in :meth:`get_strings` order."""
        return [value for _, value in _private_stats(_un(dev))]


class UsbNetMiiEthtool(UsbNetEthtool):
    """For a minidriver that can force the PHY's mode: ``set_link_ksettings`` as well
    (Linux: ``usbnet_set_link_ksettings_mii`` / the minidriver's own ethtool_ops)."""

    def set_link_ksettings(self, dev: NetDevice, ks: LinkSettings) -> int:
        """The minidriver's :meth:`MiniDriver.set_link_ksettings` (``ENODEV`` once unplugged)."""
        un = _un(dev)
        if un.state != "bound":
            return -errno.ENODEV
        return un.info.set_link_ksettings(un, ks)

    def nway_reset(self, dev: NetDevice) -> int:
        """``usbnet_nway_reset``: the minidriver's :meth:`MiniDriver.nway_reset` (``ENODEV``
        once unplugged)."""
        un = _un(dev)
        if un.state != "bound":
            return -errno.ENODEV
        return un.info.nway_reset(un)


def _private_stats(un: UsbNet) -> list[tuple[str, int]]:
    out = list(un.counters.items())
    out += [("rx_qlen", un.rx_qlen), ("tx_qlen", un.tx_qlen), ("rx_urb_size", un.rx_urb_size),
            ("tx_inflight", un.tx_inflight)]  # fmt: skip
    out += un.info.private_stats()
    return out


def codec_stats(prefix: str, *stats: CodecStats) -> list[tuple[str, int]]:
    """``(prefix_name, value)`` for every counter of codec stats objects (for ethtool -S)."""
    out: list[tuple[str, int]] = []
    for s in stats:
        out += [(f"{prefix}_{k}", int(v)) for k, v in s.as_dict().items()]
    return out
