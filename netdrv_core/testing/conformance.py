"""The driver conformance kit: one contract every netdrv driver must meet.

It runs on the in-process memory attachment (no privileges, no kernel
interfaces) and checks a driver the way the kernel's expectations of a network
driver would:

* registration and naming — devices registered with ``Driver.register`` or,
  as the daemon accepts, bare ``register_netdev`` inside ``init`` (none later
  or behind the driver's back), ``%d`` patterns resolved to the lowest free name,
  a clash with a fixed name refused with a clear error, names freed again by
  ``exit()``;
* ``open``/``stop`` cycles — the queue is started on open, the core never
  calls ``start_xmit`` on a device that is down, ``stop`` with transmissions
  in flight completes or drops them (counted) and frees them;
* every skb accounted for — after the loop is idle,
  ``core_stats.tx_submitted == tx_packets + tx_dropped + tx_errors`` on every
  device (an skb ``start_xmit`` handed back with ``netif_rx`` that the core
  dropped is counted once, in ``rx_dropped``, as Linux's loopback counts it),
  nothing left in the qdisc, no double free, no exception;
* every skb released — an skb ``start_xmit`` accepted is freed
  (``dev_kfree_skb``) or handed back to the core (``netif_rx``…), at the
  latest by ``stop`` and ``exit()``: counted but never freed is a leak;
* queue stop/wake — no ``start_xmit`` while the queue is stopped, the held
  frames go out after ``netif_wake_queue``, ``NETDEV_TX_BUSY`` only with the
  queue stopped and the skb not freed; ``start_xmit`` returns ``NETDEV_TX_OK``
  or ``NETDEV_TX_BUSY`` and nothing else (not None, True or an errno);
* several TX queues — every queue in use started on open; frames of many flows
  each transmitted or dropped and counted, whatever queue they map to; a queue
  stopped with ``netif_stop_subqueue`` holds only its own frames and sends them
  once woken; nothing left in any queue's qdisc, nor in flight on any queue's
  Byte Queue Limits;
* the watchdog — armed with ``watchdog_timeo > 0`` when the driver implements
  ``tx_timeout``, which is called on a stalled queue without breaking the device;
* the receive contract, on whatever the driver hands up during the checks
  (``netif_rx``/``netif_receive_skb``/``napi_gro_receive``; the traffic includes a
  TCP flow, so GRO holds and merges) — a live skb of one of its registered
  devices, ``skb.protocol`` set and, on Ethernet, the header pulled
  (``eth_type_trans``); each delivered frame counted in ``rx_packets`` and
  ``rx_bytes``; every NAPI context enabled while the device is up
  (``napi_enable`` in ``open``), and no ``open`` adding them again while ``stop``
  keeps them (``dev.napi_list`` would grow on every up); a NAPI poll does at most
  its budget, returns what it received (not its budget whatever it did) and one
  that does less calls ``napi_complete_done`` (or it is never polled again);
* carrier — ``netif_carrier_off``/``on`` reflected in operstate and LOWER_UP;
  frames sent without carrier dropped and counted by the core, never given to
  ``start_xmit`` (Linux's ``noop_qdisc``), and sent again once it is back;
* MTU — ``min_mtu``/``max_mtu`` enforced, ``change_mtu`` accepting the range
  (while up it may refuse with ``-EBUSY``, as Linux's ``can_change_mtu`` does);
* return values — ``open``, ``stop``, ``change_mtu``, ``set_mac_address``… return
  0/None or a negative errno, never a positive one (``return errno.EINVAL``);
* statistics — ``get_stats`` returns a ``NetDeviceStats``, no negative counter,
  bytes >= packets * the minimum frame size and no more than the frames sent and
  received (each counted once), counters never go back, not across down and up either;
* MAC address and receive mode — ``set_mac_address`` stores a valid unicast
  address or refuses it, refuses a multicast or zero one; ``set_rx_mode`` follows
  promiscuous, all-multicast and multicast joins without raising;
* ethtool — what ``netdrv ethtool`` and ``netdrv status --json`` ask the
  ``ethtool_ops`` is well-formed, ``get_link`` a bool (or an int), one
  ``get_ethtool_stats`` value per ``get_strings`` name; an EEPROM read in pieces
  gives what a whole read does, and ``set_eeprom`` refuses a wrong magic (``EINVAL``/``EFAULT``) without writing;
  a ``self_test`` (``ethtool -t``, online, offline and external loopback) gives one
  result per ``get_test_strings`` name, adds no flag but ``ETH_TEST_FL_FAILED`` and
  ``ETH_TEST_FL_EXTERNAL_LB_DONE``, completes, and leaves the device working;
* parameters — declared, documented, defaults of their type, unknown names
  and ill-typed values refused;
* clean unload — after ``exit()`` none of the driver's devices is registered,
  and no file descriptor, thread, loop reader or timer it started is left.

A third party uses it by subclassing :class:`DriverConformance` in a test file::

    from netdrv_core.testing.conformance import DriverConformance

    class TestMyDriverConformance(DriverConformance):
        driver_name = "mydrv"                 # the entry-point name
        driver_params = {"speed": "100"}      # optional, like `netdrv load mydrv speed=100`

or, without writing a test, with ``pytest --netdrv-conformance=mydrv[,other…]``
(``--netdrv-conformance=all`` checks every installed driver).

A driver that needs an external resource (a serial port, a USB adapter)
declares ``conformance_params`` on its :class:`~netdrv_core.Driver` class to
point the kit at a simulated one.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from ..driver import Driver
from ..driver_errors import driver_code_location, driver_traceback
from ..errors import NameInUseError, ParameterError, PluginError
from ..ether import (
    ETH_ALEN,
    ETH_HLEN,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_ZLEN,
    is_valid_ether_addr,
)
from ..host import Host, bad_xmit_return
from ..linktypes import ARPHRD_ETHER, ARPHRD_LOOPBACK, ether_setup
from ..loop import EventLoop
from ..netdev_queue import (
    NetdevQueue,
    netdev_core_pick_tx,
    netdev_get_tx_queue,
    netif_stop_subqueue,
    netif_tx_queue_stopped,
    netif_tx_stop_all_queues,
    netif_tx_wake_all_queues,
    netif_wake_subqueue,
)
from ..netdevice import (
    IFF_LOWER_UP,
    IFF_UP,
    IFNAMSIZ,
    NET_RX_DROP,
    NET_XMIT_CN,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETREG_REGISTERED,
    NETREG_UNREGISTERED,
    NetDevice,
    NetDeviceOps,
    NetDeviceStats,
    alloc_netdev,
    dev_get_stats,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_queue_stopped,
    netif_stop_queue,
    netif_trans_update,
    netif_wake_queue,
)
from ..params import Param, parse_params
from ..plugins import PluginManager
from ..skbuff import SkBuff, set_skb_debug, skb_not_owned
from ..vlan import ETH_P_8021Q

__all__ = [
    "ConformanceClock",
    "DriverConformance",
    "DriverHarness",
    "DriverOpFailure",
    "Violation",
    "arp_request",
    "command_line_values",
    "default_frames",
    "ethernet_frame",
    "ipv4_icmp_echo",
    "ipv4_tcp",
    "ipv4_udp",
    "min_frame_size",
]

# The module of the tests ``--netdrv-conformance`` adds (no test class of the author's).
_SUITE_MODULE = "netdrv_core.testing._conformance_suite"

_STAT_BASE = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes")


# -- frames --------------------------------------------------------------------------------
def _csum(data: bytes | bytearray) -> int:
    from ..checksum import ip_compute_csum

    return ip_compute_csum(data)


def _ipv4_header(src: bytes, dst: bytes, proto: int, payload_len: int, ident: int) -> bytearray:
    total = 20 + payload_len
    h = bytearray(20)
    h[0] = 0x45
    h[2:4] = total.to_bytes(2, "big")
    h[4:6] = (ident & 0xFFFF).to_bytes(2, "big")
    h[6] = 0x40  # DF
    h[8] = 64
    h[9] = proto
    h[12:16] = src
    h[16:20] = dst
    h[10:12] = _csum(h).to_bytes(2, "big")
    return h


def ipv4_udp(src: bytes, dst: bytes, size: int, *, ident: int = 0, dport: int = 9) -> bytes:
    """A valid IPv4/UDP packet of ``size`` bytes in all (at least 28), checksums filled in."""
    from ..checksum import csum_partial, csum_tcpudp_magic

    size = max(size, 28)
    plen = size - 28
    payload = bytes((ident + i) & 0xFF for i in range(plen))
    udp = bytearray(8)
    udp[0:2] = (40000 + ident % 1000).to_bytes(2, "big")
    udp[2:4] = dport.to_bytes(2, "big")
    udp[4:6] = (8 + plen).to_bytes(2, "big")
    check = csum_tcpudp_magic(src, dst, 8 + plen, 17, csum_partial(bytes(udp) + payload))
    udp[6:8] = (check or 0xFFFF).to_bytes(2, "big")
    return bytes(_ipv4_header(src, dst, 17, 8 + plen, ident)) + bytes(udp) + payload


def ipv4_tcp(
    src: bytes, dst: bytes, size: int, *, seq: int = 1, ident: int = 0, flags: int = 0x10
) -> bytes:
    """A valid IPv4/TCP segment of ``size`` bytes in all (at least 40), DF set, checksums
    filled in; port 40000 to 5201, ACK by default.  Segments of consecutive ``seq`` and
    payload size are what GRO merges."""
    from ..checksum import csum_partial, csum_tcpudp_magic

    size = max(size, 40)
    plen = size - 40
    payload = bytes((seq + i) & 0xFF for i in range(plen))
    tcp = bytearray(20)
    tcp[0:4] = (40000).to_bytes(2, "big") + (5201).to_bytes(2, "big")
    tcp[4:8] = (seq & 0xFFFFFFFF).to_bytes(4, "big")
    tcp[8:12] = (1).to_bytes(4, "big")
    tcp[12] = 5 << 4
    tcp[13] = flags
    tcp[14:16] = (65535).to_bytes(2, "big")
    check = csum_tcpudp_magic(src, dst, 20 + plen, 6, csum_partial(bytes(tcp) + payload))
    tcp[16:18] = check.to_bytes(2, "big")
    return bytes(_ipv4_header(src, dst, 6, 20 + plen, ident)) + bytes(tcp) + payload


def ipv4_icmp_echo(src: bytes, dst: bytes, size: int, *, ident: int = 0, seq: int = 0) -> bytes:
    """A valid IPv4 ICMP echo request of ``size`` bytes in all (at least 28)."""
    size = max(size, 28)
    payload = bytes((seq + i) & 0xFF for i in range(size - 28))
    icmp = bytearray(8)
    icmp[0] = 8
    icmp[4:6] = (ident & 0xFFFF).to_bytes(2, "big")
    icmp[6:8] = (seq & 0xFFFF).to_bytes(2, "big")
    icmp[2:4] = _csum(bytes(icmp) + payload).to_bytes(2, "big")
    return bytes(_ipv4_header(src, dst, 1, 8 + len(payload), ident)) + bytes(icmp) + payload


def ethernet_frame(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet II frame (no FCS)."""
    return bytes(dst) + bytes(src) + ethertype.to_bytes(2, "big") + payload


def arp_request(src_mac: bytes, src_ip: bytes, target_ip: bytes) -> bytes:
    """A broadcast ARP request "who has ``target_ip``? tell ``src_ip``"."""
    arp = (
        b"\x00\x01\x08\x00\x06\x04\x00\x01"
        + bytes(src_mac) + bytes(src_ip) + b"\x00" * 6 + bytes(target_ip)
    )  # fmt: skip
    return ethernet_frame(b"\xff" * 6, src_mac, ETH_P_ARP, arp)


def command_line_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as ``netdrv load`` would get them: numbers and booleans as text.

    ``{"lockup": 5, "use_napi": 1}`` is ``lockup=5 use_napi=1`` (an int for a
    bool parameter, as on the command line).  Other values are left for
    :func:`~netdrv_core.params.parse_params` to check: text is converted, anything
    else refused — None is not the text ``"None"``.
    """
    return {k: str(v) if isinstance(v, int | float) else v for k, v in params.items()}


def not_installed_hint(plugins: PluginManager, name: str) -> str:
    """What to do when ``name`` is no installed driver ("" when it is one, broken or not).

    A project fresh from ``netdrv new-driver`` is tested before ``pip install -e .``
    more often than not: its driver is then unknown, and the list of the installed
    ones alone does not say why.
    """
    if name in plugins.driver_names():
        return ""
    return (
        " — not installed? netdrv finds a driver by its netdrv.drivers entry point: run "
        "`pip install -e .` in the driver's project (again after changing its entry points)"
    )


def _driver_code_location(exc: BaseException) -> str:
    """Where the driver's own code raised what ``exc`` wraps, unless its message says so
    already (a :class:`~netdrv_core.PluginError` of the plugin manager does): see
    :func:`netdrv_core.driver_errors.driver_code_location`."""
    where = driver_code_location(exc, skip=(os.path.dirname(pytest.__file__ or ""),))
    return "" if where in str(exc) else where


def is_ethernet_like(dev: NetDevice) -> bool:
    """True for devices that carry Ethernet II headers (what the kit then sends)."""
    return dev.type in (ARPHRD_ETHER, ARPHRD_LOOPBACK) or (
        dev.hard_header_len == ETH_HLEN and dev.addr_len == ETH_ALEN
    )


def is_raw_l3(dev: NetDevice) -> bool:
    """True for point-to-point L3 devices (no link header): raw IP packets."""
    return dev.hard_header_len == 0


def min_frame_size(dev: NetDevice) -> int:
    """The smallest frame a device can count: a link header, or an IPv4 header on L3 links."""
    if is_ethernet_like(dev):
        return ETH_HLEN
    if is_raw_l3(dev):
        return 20
    return max(dev.hard_header_len, 1)


def default_frames(dev: NetDevice, index: int = 0) -> list[bytes]:
    """Frames the kit sends on ``dev``: Ethernet/IPv4 (and ARP) or raw IPv4, small to MTU,
    with UDP, an ICMP echo and three segments of one TCP flow.

    Addresses are from the benchmarking range 198.18.0.0/15, network
    ``198.18.<2*index>.0/24``; sizes go from the smallest UDP packet to a full
    MTU.  Link types other than Ethernet and raw L3 return ``[]``: a test
    class must then override :meth:`DriverConformance.conformance_frames`.
    """
    net = (2 * index) & 0xFF
    src = bytes([198, 18, net, 1])
    dst = bytes([198, 18, net, 2])
    mtu = max(28, min(dev.mtu, 65535))
    sizes = sorted({28, min(100, mtu), min(576, mtu), mtu})
    packets = [ipv4_udp(src, dst, s, ident=i) for i, s in enumerate(sizes)]
    packets.append(ipv4_icmp_echo(src, dst, min(84, mtu), ident=index, seq=1))
    # Three full segments of one TCP flow (the last with PSH): a NAPI driver's
    # napi_gro_receive holds and merges them, as the kernel's TCP would make it.
    tsize = min(mtu, 1500)
    flow = [ipv4_tcp(src, dst, tsize, seq=1 + k * (tsize - 40), ident=index + k,
                     flags=0x18 if k == 2 else 0x10) for k in range(3) if mtu > 40]  # fmt: skip
    if is_ethernet_like(dev):
        me = bytes(dev.dev_addr) if len(dev.dev_addr) == ETH_ALEN else b"\x02\x00\x00\x00\x00\x01"
        peers = (me, b"\xff" * 6, b"\x02\x00\x5e\x00\x53\x02")
        frames = [ethernet_frame(peers[i % 3], me, ETH_P_IP, p) for i, p in enumerate(packets)]
        frames += [ethernet_frame(me, me, ETH_P_IP, p) for p in flow]  # one MAC header: GRO
        frames.append(arp_request(me, src, dst))
        return frames
    if is_raw_l3(dev):
        return packets + flow
    return []


def udp_flows(dev: NetDevice, index: int = 0, count: int = 16) -> list[bytes]:
    """``count`` frames of as many UDP flows (distinct ports) on ``dev``'s link, one each:
    what spreads over the TX queues of a multi-queue device (the core hashes the flow).

    Addresses as :func:`default_frames`; Ethernet II or raw IPv4, ``[]`` for other links.
    """
    net = (2 * index) & 0xFF
    src, dst = bytes([198, 18, net, 1]), bytes([198, 18, net, 2])
    size = max(28, min(dev.mtu, 100))
    packets = [ipv4_udp(src, dst, size, ident=k, dport=1024 + k) for k in range(count)]
    if is_ethernet_like(dev):
        me = bytes(dev.dev_addr) if len(dev.dev_addr) == ETH_ALEN else b"\x02\x00\x00\x00\x00\x01"
        peer = b"\x02\x00\x5e\x00\x53\x02"
        return [ethernet_frame(peer, me, ETH_P_IP, p) for p in packets]
    if is_raw_l3(dev):
        return packets
    return []


def checked_stats(dev: NetDevice) -> NetDeviceStats:
    """``dev_get_stats(dev)``, failing with what is wrong when the driver's ``get_stats`` is.

    ``get_stats`` must return a :class:`~netdrv_core.NetDeviceStats` (``dev.stats``
    by default); anything else would surface as an ``AttributeError`` deep inside the
    core (and, in the daemon, as a fault that takes the device down).
    """
    try:
        raw = dev.netdev_ops.get_stats(dev)
    except Exception as exc:
        raise AssertionError(
            f"{dev.name}: get_stats raised {type(exc).__name__}: {exc} (netdrv status would "
            f"take the device down)"
        ) from exc
    if not isinstance(raw, NetDeviceStats):
        raise AssertionError(
            f"{dev.name}: get_stats returned {raw!r:.80}, not a NetDeviceStats: return "
            f"dev.stats (or leave get_stats out: the default returns dev.stats)"
        )
    return dev_get_stats(dev)


# -- the TX queues, read without making queue 0's NetdevQueue (that marks BQL as used) -----------
def _subqueues(dev: NetDevice) -> list[NetdevQueue]:
    """TX queues 1 and above of ``dev``, in use or not (none on a single-queue device)."""
    return [netdev_get_tx_queue(dev, i) for i in range(1, dev.num_tx_queues)]


def _txq_stopped(dev: NetDevice, index: int) -> bool:
    """The driver's stop of TX queue ``index`` (``netif_tx_queue_stopped``)."""
    if index == 0:
        return netif_queue_stopped(dev)
    return netif_tx_queue_stopped(netdev_get_tx_queue(dev, index))


def _stopped_queues(dev: NetDevice) -> list[int]:
    """The TX queues in use that the driver keeps stopped."""
    return [i for i in range(dev.real_num_tx_queues) if _txq_stopped(dev, i)]


def _waiting(dev: NetDevice) -> dict[int, int]:
    """Frames waiting in each TX queue's qdisc backlog, by queue (empty ones left out)."""
    counts = {0: len(dev.qdisc)} | {q.index: len(q.qdisc) for q in _subqueues(dev)}
    return {i: n for i, n in counts.items() if n}


def _tx_idle(dev: NetDevice) -> bool:
    """Nothing waits in a qdisc of ``dev`` but behind the driver's stop (or it is down)."""
    return not dev.is_up or all(_txq_stopped(dev, i) for i in _waiting(dev))


def _xmit_queue(dev: NetDevice, skb: SkBuff) -> int:
    """The TX queue ``start_xmit`` got ``skb`` on (the core maps only with several in use)."""
    return skb.queue_mapping if dev.real_num_tx_queues > 1 else 0


def _dql_queues(dev: NetDevice) -> list[NetdevQueue]:
    """``dev``'s TX queues that have a dql: all of a multi-queue device, queue 0 of a
    single-queue one once its driver (or ``bql_set``) used Byte Queue Limits."""
    if dev.num_tx_queues > 1:
        return [netdev_get_tx_queue(dev, i) for i in range(dev.num_tx_queues)]
    return [] if dev._tx_queue is None else [dev._tx_queue]


def _uses_bql(dev: NetDevice) -> bool:
    """True once ``dev``'s driver used Byte Queue Limits (a multi-queue device: reported bytes)."""
    queues = _dql_queues(dev)
    return bool(queues) and (dev.num_tx_queues == 1 or any(q.dql.num_queued for q in queues))


# What a driver calls to report its TX bytes, with one TX queue (False) or several (True).
_BQL_CALLS = {
    False: ("netdev_sent_queue", "netdev_completed_queue",
            "netdev_reset_queue in stop() where the ring is freed"),
    True: ("netdev_tx_sent_queue", "netdev_tx_completed_queue on its queue",
           "netdev_tx_reset_queue(netdev_get_tx_queue(dev, i)) for every queue i in stop() "
           "where the rings are freed (netdev_reset_queue is queue 0's)"),
}  # fmt: skip


def _bql_held(dev: NetDevice, index: int = 0) -> str:
    """Why TX queue ``index``'s qdisc still holds frames, when Byte Queue Limits stopped it."""
    txq = dev._tx_queue if index == 0 else netdev_get_tx_queue(dev, index)
    if txq is None or not txq.stack_xoff:
        return ""
    completed = _BQL_CALLS[dev.num_tx_queues > 1][1]
    return (
        f" — here byte queue limits stopped it ({txq.dql.inflight} bytes in flight, limit "
        f"{txq.dql.limit}): {completed} for what the hardware sent restarts it"
    )


def bad_op_return(op: str, rc: object) -> str | None:
    """What is wrong with ``rc`` returned by the administrative op ``op`` (None: nothing).

    ``open``, ``stop``, ``change_mtu``, ``set_mac_address``… return 0 (or None) or a
    negative errno.  Linux takes any other non-zero value for a failure; netdrv's core
    takes a positive int for the errno whose minus sign was forgotten, and anything else
    for success — either way the driver did not say what it meant.
    """
    if rc is None or (isinstance(rc, int) and not isinstance(rc, bool) and rc <= 0):
        return None
    if isinstance(rc, int) and not isinstance(rc, bool) and rc in errno.errorcode:
        fix = f"a positive errno: write return -errno.{errno.errorcode[rc]}"
    else:
        fix = "return 0 (or None) for success or a negative errno such as -errno.EINVAL"
    return f"{op} returned {rc!r:.60}: {fix}"


_UNSET = object()

# Bytes a driver may count per frame beyond the frame itself — padding to ETH_ZLEN, an FCS,
# a device's own framing (a USB adapter's header) — before it is counting a frame twice.
_FRAME_SLACK = ETH_ZLEN + 64

# Administrative ops whose return value the spy checks (0/None or a negative errno).
_ADMIN_OPS = ("open", "stop", "change_mtu", "set_mac_address", "validate_addr", "set_config",
              "set_features")  # fmt: skip


# -- the harness -----------------------------------------------------------------------------
class ConformanceClock:
    """Real monotonic time plus an offset a test can jump forward.

    Drivers that use threads keep working in real time, and a watchdog or
    keepalive can still be made due at once with :meth:`advance`.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self._frozen: float | None = None

    def __call__(self) -> float:
        if self._frozen is not None:
            return self._frozen
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        if self._frozen is not None:
            self._frozen += seconds
        else:
            self.offset += seconds

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Stop the clock (no timer, e.g. the watchdog, becomes due); it resumes where it stopped."""
        self._frozen = self()
        try:
            yield
        finally:
            self.offset = self._frozen - time.monotonic()
            self._frozen = None


@dataclass
class Violation:
    """One breach of the contract seen while it happened (by a spy on the driver's ops)."""

    dev: str
    what: str


class _XmitCall:
    """A start_xmit call of the spy's running: the device, its tx total before the call
    (None: its get_stats failed), the skbs of it handed up during the call and of those
    the ones the core dropped."""

    __slots__ = ("before", "dev", "dropped", "handed")

    def __init__(self, dev: NetDevice, before: int | None) -> None:
        self.dev = dev
        self.before = before
        self.handed = 0
        self.dropped = 0


@dataclass
class _XmitSpy:
    calls: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    wrapped: list[NetDeviceOps] = field(default_factory=list)
    # skbs start_xmit accepted and the driver still owns: not freed, not handed back to
    # the core (netif_rx, netif_receive_skb, dev_queue_xmit).  id -> (device name, skb,
    # device); the strong references keep ids unique.
    held: dict[int, tuple[str, SkBuff, NetDevice]] = field(default_factory=dict)
    # What the driver handed up (netif_rx, netif_receive_skb): device name -> [skbs, bytes].
    rx: dict[str, list[int]] = field(default_factory=dict)
    # What start_xmit accepted (NETDEV_TX_OK): device name -> [skbs, bytes when handed over].
    tx: dict[str, list[int]] = field(default_factory=dict)
    # skbs start_xmit accepted and handed back up (netif_rx...) that the core then dropped and
    # counted in rx_dropped (backlog full, device down), as Linux's loopback_xmit counts them:
    # in no tx counter.  Per device object (a reloaded device of the same name starts at 0).
    # Handed back inside their start_xmit call, when the driver's tx counters did not grow
    # for them: credited one by one.
    returned_dropped: dict[NetDevice, int] = field(default_factory=dict)
    # Handed back later (a timer, a thread): credited only all together (see _tx_total).
    returned_later: dict[NetDevice, int] = field(default_factory=dict)
    # Per thread, the start_xmit calls running (``calls``: a list of _XmitCall).
    running: threading.local = field(default_factory=threading.local)
    # (ops, attribute, what the instance had before: _UNSET when nothing) to undo the spy.
    patched: list[tuple[Any, str, Any]] = field(default_factory=list)

    def owned_by_driver(self, names: set[str]) -> list[tuple[str, SkBuff]]:
        """The skbs the driver of ``names`` still holds (freed ones are forgotten)."""
        for key in [k for k, (_, skb, _dev) in self.held.items() if skb.freed]:
            del self.held[key]
        return [(n, skb) for n, skb, _dev in self.held.values() if n in names]

    def handed_up(self, owner: tuple[str, SkBuff, NetDevice], dropped: bool) -> None:
        """The driver handed up (netif_rx...) an skb start_xmit accepted; the core ``dropped`` it."""
        calls = getattr(self.running, "calls", None)
        call: _XmitCall | None = calls[-1] if calls else None
        if call is not None and call.dev is owner[2]:
            call.handed += 1
            call.dropped += dropped
        elif dropped:
            self.returned_later[owner[2]] = self.returned_later.get(owner[2], 0) + 1


def _driver_tx_total(dev: NetDevice) -> int | None:
    """The driver's tx counters (None when its get_stats fails: the checks say so later)."""
    try:
        s = dev_get_stats(dev)
    except Exception:
        return None
    return s.tx_packets + s.tx_dropped + s.tx_errors


def _fd_table() -> dict[int, str]:
    out: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return out


if TYPE_CHECKING:  # what mypy needs of pytest.fail.Exception, without its private module

    class _Failed(BaseException):
        def __init__(self, msg: str | None = None, pytrace: bool = True) -> None: ...

else:
    # pytest.fail.Exception is public (documented with pytest.fail); the module that defines
    # it, _pytest.outcomes, is not, and pyproject allows any pytest >= 7.4.
    _Failed = pytest.fail.Exception


class DriverOpFailure(_Failed, AssertionError):
    """A device op (``open``, ``stop``) failed: an ``AssertionError`` shown as pytest shows
    ``pytest.fail(..., pytrace=False)`` — its message, which says what the driver raised
    and ends with the driver's own frames, without a traceback through the kit."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg, pytrace=False)


class DriverHarness:
    """Load a driver on a memory-attached :class:`~netdrv_core.Host` and watch it.

    The host's loop runs on a :class:`ConformanceClock`; driver faults (an
    exception in an op), loop callback errors and contract violations seen by
    the ``start_xmit`` spy are collected in :attr:`faults` and
    :attr:`violations`.
    """

    def __init__(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        driver_class: type[Driver] | None = None,
        plugins: PluginManager | None = None,
        frames: Callable[[NetDevice, int], list[bytes]] | None = None,
        settle_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.pm = plugins or PluginManager()
        # Raises PluginError (distribution, version, cause) when the driver cannot load.
        self.cls: type[Driver] = driver_class or self.pm.get_driver(name)
        self._installed = driver_class is None
        self.extra_params = dict(params or {})
        self.frame_factory = frames or default_frames
        self.settle_timeout = settle_timeout
        # settle() fails at the first fault or violation; off to provoke faults on purpose.
        self.fail_fast = True
        # A use after free or a double free names the line that freed the skb.
        self._skb_debug = set_skb_debug(True)
        self.clock = ConformanceClock()
        self.loop = EventLoop(clock=self.clock)
        self.host = Host(loop=self.loop)
        self.stack: Any = self.host.attachment
        self.faults: list[str] = []
        # What the driver raised, by its index in faults: check_op shows the driver's frames.
        self._fault_excs: dict[int, BaseException] = {}
        self.events: list[tuple[str, str]] = []
        self.spy = _XmitSpy()
        self.drivers: list[Driver] = []
        # Per device whose open added NAPI contexts: how many it had before (see up()).
        self._napi_before_open: dict[str, int] = {}
        # The host's handler attributes a driver's raising callbacks (its device goes
        # down through driver_fault, recorded below); anything else is recorded here.
        self._host_loop_error = self.loop.error_handler
        self.loop.error_handler = self._loop_error
        orig_fault = self.host.driver_fault

        def driver_fault(dev: NetDevice, where: str, exc: BaseException) -> None:
            self._fault_excs[len(self.faults)] = exc
            self.faults.append(f"{dev.name}: {where} raised {type(exc).__name__}: {exc}"
                               f"{_driver_code_location(exc)}")  # fmt: skip
            orig_fault(dev, where, exc)

        self.host.driver_fault = driver_fault  # type: ignore[method-assign]
        self.host.notify = lambda event, dev: self.events.append((event, dev.name))
        # An skb the driver hands back to the core is no longer the driver's to free; one it
        # hands up must be a received frame as the stack expects it (see _check_rx).
        for meth in ("netif_rx", "netif_receive_skb", "dev_queue_xmit"):
            orig_meth = getattr(self.host, meth)

            def handed_back(
                skb: SkBuff, _orig: Any = orig_meth, held: dict[int, Any] = self.spy.held,
                _rx: bool = meth != "dev_queue_xmit", _name: str = meth,
            ) -> int:  # fmt: skip
                owner = held.pop(id(skb), None)
                if _rx:
                    self._check_rx(_name, skb)
                rc = _orig(skb)
                if owner is not None and _rx:
                    self.spy.handed_up(owner, rc == NET_RX_DROP)
                return rc

            setattr(self.host, meth, handed_back)
        orig_gro = self.host.napi_gro_receive

        def gro_handed_up(napi: Any, skb: SkBuff, _held: dict[int, Any] = self.spy.held) -> int:
            _held.pop(id(skb), None)
            self._check_rx("napi_gro_receive", skb)
            return orig_gro(napi, skb)

        self.host.napi_gro_receive = gro_handed_up  # type: ignore[method-assign]
        self._excepthook = threading.excepthook

        def excepthook(args: Any) -> None:
            name = args.thread.name if args.thread is not None else "?"
            self.faults.append(f"thread {name} died: {args.exc_type.__name__}: {args.exc_value}")
            self._excepthook(args)
            if args.exc_value is not None:
                # As in the daemon: a driver's thread that dies takes its device(s) down.
                with contextlib.suppress(Exception):
                    self.loop.call_soon_threadsafe(self.host.thread_fault, args.exc_value,
                                                   args.thread)  # fmt: skip

        threading.excepthook = excepthook

    # -- parameters and loading ---------------------------------------------------------------
    def parameters(self) -> tuple[Param, ...]:
        """The driver's declared parameters plus those other plugins add."""
        if self._installed:
            return self.pm.driver_parameters(self.name)
        return tuple(self.cls.parameters)

    def param_values(self) -> dict[str, Any]:
        """``conformance_params`` of the driver overridden by the test's ``driver_params``."""
        given = {**getattr(self.cls, "conformance_params", {}), **self.extra_params}
        return parse_params(self.name, self.parameters(), command_line_values(given))

    def load(self, *, configure: bool = True) -> Driver:
        """``init()`` then ``configure()`` as the daemon does; on failure nothing stays registered."""
        values = self.param_values()
        self.cls.check_params(values)  # as netdrv load and the daemon do
        drv = self.cls(self.host, values)
        before = set(self.host.devices.values())
        try:
            with self.host.as_current():
                drv.init()
                if configure:
                    drv.configure()
        except BaseException:
            drv.adopt(before)  # as the daemon does: LDD-style register_netdev in init
            self._force_remove(drv)
            raise
        drv.adopt(before)
        self.drivers.append(drv)
        self.settle()
        self._spy_on(drv)
        return drv

    def unload(self, drv: Driver) -> None:
        """``exit()`` (the kit checks afterwards that nothing of the driver is left)."""
        if drv in self.drivers:
            self.drivers.remove(drv)
        with self.host.as_current():
            drv.exit()
        self._unspy()
        self.settle()

    def _force_remove(self, drv: Driver) -> None:
        """What the daemon does when init fails: unregister the driver's devices, call exit."""
        self.host.unregister_driver_devices(drv)
        with contextlib.suppress(Exception), self.host.as_current():
            drv.exit()

    def owned(self, drv: Driver) -> list[NetDevice]:
        """Devices registered on the host that belong to ``drv``."""
        return [d for d in self.host.devices.values() if d.driver is drv]

    def close(self) -> None:
        """Unload whatever is still loaded and release the host."""
        for drv in list(self.drivers):
            self.drivers.remove(drv)
            self._force_remove(drv)
        self._unspy()
        set_skb_debug(self._skb_debug)
        threading.excepthook = self._excepthook
        with contextlib.suppress(Exception):
            self.host.close()
        with contextlib.suppress(Exception):
            self.loop.close()

    # -- the start_xmit spy -------------------------------------------------------------------
    def _spy_on(self, drv: Driver) -> None:
        for dev in self.owned(drv):
            ops = dev.netdev_ops
            if any(o is ops for o in self.spy.wrapped):
                continue
            orig = ops.start_xmit
            spy = self.spy

            def start_xmit(
                skb: SkBuff, dev: NetDevice, _orig: Any = orig, spy: _XmitSpy = spy
            ) -> int:
                name = dev.name
                spy.calls[name] = spy.calls.get(name, 0) + 1
                index = _xmit_queue(dev, skb)
                if _txq_stopped(dev, index):
                    where = f" (TX queue {index})" if dev.real_num_tx_queues > 1 else ""
                    spy.violations.append(Violation(name, "start_xmit called while the queue "
                                                          f"was stopped{where}"))  # fmt: skip
                if not dev.flags & IFF_UP:
                    spy.violations.append(Violation(name, "start_xmit called while down"))
                if skb.freed:
                    spy.violations.append(Violation(name, "start_xmit got a freed skb "
                                                          "(freed before NETDEV_TX_BUSY?)"))  # fmt: skip
                # Recorded before the call: a driver may hand the skb up (netif_rx) inside it.
                spy.held[id(skb)] = (name, skb, dev)
                length = skb.len  # before the driver pads, pushes or frees it
                call = _XmitCall(dev, _driver_tx_total(dev))
                calls = spy.running.__dict__.setdefault("calls", [])
                calls.append(call)
                try:
                    rc = _orig(skb, dev)
                except BaseException:
                    spy.held.pop(id(skb), None)  # the core frees it
                    raise
                finally:
                    calls.pop()
                if call.dropped and call.before is not None:
                    # Credit the drops of the core's only when the driver's counters grew by
                    # no more than the skbs the core took: it did not count the drops itself.
                    after = _driver_tx_total(dev)
                    if after is not None and after - call.before <= call.handed - call.dropped:
                        credit = spy.returned_dropped
                        credit[dev] = credit.get(dev, 0) + call.dropped
                if isinstance(rc, bool) or rc not in (NETDEV_TX_OK, NETDEV_TX_BUSY):
                    # The core takes anything but BUSY for OK; the kernel's contract has two values.
                    spy.violations.append(Violation(name, bad_xmit_return(rc)))
                if rc != NETDEV_TX_BUSY:
                    accepted = spy.tx.setdefault(name, [0, 0])
                    accepted[0] += 1
                    accepted[1] += length
                if rc == NETDEV_TX_BUSY:
                    spy.held.pop(id(skb), None)  # the core keeps it
                    if skb.freed:
                        spy.violations.append(Violation(
                            name, "returned NETDEV_TX_BUSY after freeing the skb: on BUSY "
                                  "the core keeps the skb, the driver must not free it"))  # fmt: skip
                    if not _txq_stopped(dev, index):
                        stop = (
                            "netif_stop_subqueue(dev, skb_get_queue_mapping(skb))"
                            if dev.real_num_tx_queues > 1
                            else "netif_stop_queue"
                        )
                        spy.violations.append(Violation(
                            name, "returned NETDEV_TX_BUSY without stopping the queue "
                                  f"(call {stop} before returning BUSY)"))  # fmt: skip
                return rc

            own = vars(ops) if hasattr(ops, "__dict__") else {}
            try:
                ops.start_xmit = start_xmit  # type: ignore[method-assign]
            except AttributeError:  # ops with __slots__: no spy, the counters still tell
                continue
            self.spy.wrapped.append(ops)
            self.spy.patched.append((ops, "start_xmit", own.get("start_xmit", _UNSET)))
            for op in _ADMIN_OPS:
                orig_op = getattr(ops, op, None)
                if orig_op is None:
                    continue

                def admin(
                    *args: Any, _orig: Any = orig_op, _op: str = op, spy: _XmitSpy = spy
                ) -> Any:
                    rc = _orig(*args)
                    why = bad_op_return(_op, rc)
                    if why is not None:
                        d = args[0] if args else None
                        spy.violations.append(Violation(getattr(d, "name", "?"), why))
                    return rc

                self.spy.patched.append((ops, op, own.get(op, _UNSET)))
                setattr(ops, op, admin)

    def _unspy(self) -> None:
        for ops, op, before in reversed(self.spy.patched):
            with contextlib.suppress(AttributeError):
                if before is _UNSET:
                    delattr(ops, op)
                else:
                    setattr(ops, op, before)  # the driver's own instance attribute
        self.spy.patched.clear()
        self.spy.wrapped.clear()

    def xmit_calls(self, dev: NetDevice) -> int:
        """How many times the core called ``dev``'s ``start_xmit`` (when spied on)."""
        return self.spy.calls.get(dev.name, 0)

    @property
    def spying(self) -> bool:
        """True when ``start_xmit`` calls are being counted."""
        return bool(self.spy.wrapped)

    @property
    def violations(self) -> list[Violation]:
        """Contract breaches the spy saw."""
        return self.spy.violations

    def _loop_error(self, exc: BaseException, cb: Callable[..., Any]) -> None:
        seen = len(self.faults)
        self._host_loop_error(exc, cb)
        if len(self.faults) == seen:  # no driver to blame, still a fault of this run
            name = getattr(cb, "__qualname__", type(cb).__qualname__)
            self.faults.append(f"loop callback {name} raised {type(exc).__name__}: {exc}"
                               f"{_driver_code_location(exc)}")  # fmt: skip

    # -- the receive side ----------------------------------------------------------------------
    def _check_rx(self, how: str, skb: SkBuff) -> None:
        """Record a received skb the driver hands up, and what is wrong with it."""
        dev = skb.dev
        name = dev.name if dev is not None else "?"
        bad: list[str] = []
        if skb.freed:  # the core's own words: freed, dropped, or still held by GRO
            bad.append(str(skb_not_owned(how, skb)))
        elif dev is not None:
            if self.host.devices.get(dev.name) is not dev:
                bad.append(f"{how} of an skb whose skb.dev is not a registered device")
            if not skb.protocol:
                fix = ("call skb.protocol = eth_type_trans(skb, dev) before handing it up"
                       if is_ethernet_like(dev) else "set skb.protocol (ETH_P_IP, ETH_P_IPV6…)")  # fmt: skip
                bad.append(f"{how} of an skb with protocol 0: {fix}")
            elif dev.type == ARPHRD_ETHER and (
                skb.mac_header < 0 or skb.data < skb.mac_header + ETH_HLEN
            ):  # Ethernet proper: a radiotap monitor device looks alike and pulls nothing
                bad.append(f"{how} of an skb whose Ethernet header was not pulled (mac_header "
                           f"{skb.mac_header}, data {skb.data}): eth_type_trans(skb, dev) sets "
                           f"the mac header and pulls it; the stack reads from skb.data")  # fmt: skip
            count = self.spy.rx.setdefault(name, [0, 0])
            count[0] += 1
            count[1] += skb.tail - skb.data
        self.spy.violations.extend(Violation(name, what) for what in bad)

    def assert_rx_counted(self, devs: list[NetDevice]) -> None:
        """What the driver handed up is counted, and no NAPI instance is stuck.

        ``rx_packets`` must cover every frame the core delivered and ``rx_bytes``
        their length at least; a NAPI instance still scheduled on an idle loop
        returned less than its budget without ``napi_complete_done`` — it is never
        polled again, and the device stops receiving.
        """
        self.assert_clean()

        def counted() -> bool:  # a driver may copy hardware counters on a timer
            return all(checked_stats(d).rx_packets >= d.core_stats.rx_delivered for d in devs)

        self.settle(counted, timeout=min(self.settle_timeout, 1.0))
        for dev in devs:
            s = checked_stats(dev)
            delivered = dev.core_stats.rx_delivered
            handed, nbytes = self.spy.rx.get(dev.name, [0, 0])
            assert s.rx_packets >= delivered, (
                f"{dev.name}: the core delivered {delivered} frames the driver handed up, but "
                f"rx_packets is {s.rx_packets}: count every received frame (rx_packets += 1, "
                f"rx_bytes += its length) when you hand it up"
            )
            if handed and delivered == handed:
                assert s.rx_bytes >= nbytes, (
                    f"{dev.name}: rx_bytes {s.rx_bytes} < the {nbytes} bytes of the {handed} "
                    f"frames handed up: count each frame's length in rx_bytes"
                )
            for napi in dev.napi_list:
                assert not (napi.queued and napi.enabled), (
                    f"{dev.name}: a NAPI poll returns its whole budget ({napi.weight}) whatever "
                    f"it received ({napi.polls} polls so far), so it is polled again and again "
                    f"and the loop never goes idle: return the number of frames the poll "
                    f"received, and call napi_complete_done when that is less than the budget"
                )
                assert not napi.over_budget, (
                    f"{dev.name}: a NAPI poll received more than its budget ({napi.over_budget}"
                    f" times): receive at most `budget` frames per poll and return the count"
                )
                assert not napi.completed_at_budget, (
                    f"{dev.name}: a NAPI poll called napi_complete_done and still returned its "
                    f"whole budget ({napi.completed_at_budget} times): complete only when it "
                    f"received less than the budget, and return the count"
                )
                assert not (napi.scheduled and napi.enabled), (
                    f"{dev.name}: a NAPI instance is still scheduled with the loop idle: its "
                    f"poll returned less than the budget without calling "
                    f"napi_complete_done(napi, work_done), so it is never polled again"
                )

    def byte_counts(self, devs: list[NetDevice]) -> dict[str, tuple[int, ...]]:
        """Per device: its ``tx_bytes`` and ``rx_bytes``, the skbs and bytes ``start_xmit``
        accepted, the frames and bytes handed up, and the core's ``tx_submitted`` and
        ``rx_submitted`` (what :meth:`assert_bytes_counted_once` compares)."""
        out: dict[str, tuple[int, ...]] = {}
        for dev in devs:
            s, cs = checked_stats(dev), dev.core_stats
            tx = self.spy.tx.get(dev.name, [0, 0])
            rx = self.spy.rx.get(dev.name, [0, 0])
            out[dev.name] = (s.tx_bytes, s.rx_bytes, *tx, *rx, cs.tx_submitted, cs.rx_submitted)
        return out

    def assert_bytes_counted_once(
        self, devs: list[NetDevice], before: dict[str, tuple[int, ...]]
    ) -> None:
        """Since ``before`` (:meth:`byte_counts`), ``tx_bytes`` and ``rx_bytes`` grew by no more
        than the frames the driver sent and received, plus :data:`_FRAME_SLACK` each.

        A byte counter counted twice (in ``start_xmit`` and again in the TX completion)
        or in the wrong unit balances every packet counter, so nothing else notices it.
        Only what the spies saw all of is checked: ops with ``__slots__`` cannot be spied
        on, and a receive path that bypasses them is not compared.
        """
        now = self.byte_counts(devs)
        for dev in devs:
            tx_b, rx_b, tx_n, tx_len, rx_n, rx_len, tx_sub, rx_sub = (
                a - b for a, b in zip(now[dev.name], before[dev.name], strict=True)
            )
            spied = any(o is dev.netdev_ops for o in self.spy.wrapped)
            if spied and tx_n == tx_sub and tx_b > tx_len + tx_n * _FRAME_SLACK:
                raise AssertionError(
                    f"{dev.name}: tx_bytes grew by {tx_b} while start_xmit accepted {tx_n} skbs "
                    f"of {tx_len} bytes in all: count each transmitted skb's length (skb.len) "
                    f"once — in start_xmit or in the TX completion, not both"
                )
            header = max(dev.hard_header_len, 0)
            if rx_n and rx_n == rx_sub and rx_b > rx_len + rx_n * (header + _FRAME_SLACK):
                raise AssertionError(
                    f"{dev.name}: rx_bytes grew by {rx_b} while the driver handed up {rx_n} "
                    f"frames of {rx_len} bytes (after eth_type_trans pulled their {header}-byte "
                    f"headers): count each received frame's length once, when you hand it up"
                )

    # -- running -----------------------------------------------------------------------------
    def settle(self, pred: Callable[[], bool] | None = None, timeout: float | None = None) -> bool:
        """Run the loop until it is idle and ``pred()`` holds (or ``timeout`` real seconds).

        With :attr:`fail_fast` (the default) a driver fault or a contract violation
        fails at once (:meth:`assert_clean`): waiting cannot mend it, and whatever
        a check asserts next would only be its consequence (a device taken down).
        """
        deadline = time.monotonic() + (self.settle_timeout if timeout is None else timeout)
        while True:
            self.loop.run_until_idle()
            self._drain_rx()
            if self.fail_fast and (self.faults or self.spy.violations):
                self.assert_clean()
            if not self.host.backlog and (pred is None or pred()):
                return True
            if time.monotonic() >= deadline:
                return False
            self.loop.run_once(0.005)

    def _drain_rx(self) -> None:
        rx = getattr(self.stack, "rx", None)
        if isinstance(rx, dict):
            for q in rx.values():
                q.clear()

    def up(self, dev: NetDevice) -> None:
        """``ip link set DEV up``; fails the test when ``open`` fails, resets the device's
        counters, leaves a NAPI context disabled or adds NAPI contexts on every up."""
        seen = len(self.faults)
        before = checked_stats(dev).as_dict()
        napis = len(dev.napi_list)
        self.check_op(dev, "open", self.host.dev_open(dev), seen)
        self._check_napi_added(dev, napis)
        after = checked_stats(dev).as_dict()
        back = [f"{k} {v} -> {after[k]}" for k, v in before.items() if after[k] < v]
        if back:
            self.spy.violations.append(Violation(
                dev.name, f"counters went back across stop and open ({', '.join(back)}): keep "
                          f"dev.stats across down and up (don't reset them in open), as "
                          f"ip -s link expects: they last until the device is unregistered"))  # fmt: skip
        self.settle()
        self._check_napi(dev)

    def down(self, dev: NetDevice) -> None:
        """``ip link set DEV down``; fails the test when ``stop`` fails."""
        seen = len(self.faults)
        self.check_op(dev, "stop", self.host.dev_close(dev), seen)
        self.settle()

    def _check_napi_added(self, dev: NetDevice, before: int) -> None:
        """An ``open`` that adds NAPI contexts again while those of the last one are still
        there (stop kept them): ``dev.napi_list`` grows on every up.  Adding them in the
        first open only, or in every open and deleting them in ``stop``, is fine."""
        after = len(dev.napi_list)
        if after <= before:
            return
        last = self._napi_before_open.get(dev.name)
        self._napi_before_open[dev.name] = before
        if last is not None and before > last:
            self.spy.violations.append(Violation(
                dev.name, f"open adds NAPI contexts on every up and stop keeps them ({before} "
                          f"before this open, {after} after): call netif_napi_add once, in "
                          f"probe/init, or netif_napi_del them in stop"))  # fmt: skip

    def _check_napi(self, dev: NetDevice) -> None:
        """Every NAPI context of ``dev`` is enabled once it is up (the core's ``dev_close``
        disables them before ``stop``, so a forgotten ``napi_disable`` does no harm here)."""
        if dev.is_up and not all(napi.enabled for napi in dev.napi_list):
            self.spy.violations.append(Violation(
                dev.name, "a NAPI context is not enabled while the device is up: call "
                          "napi_enable(napi) in open (netif_napi_add leaves it disabled, and a "
                          "disabled context is never polled: the device receives nothing)"))  # fmt: skip
        if self.fail_fast and self.spy.violations:
            self.assert_clean()

    def check_op(self, dev: NetDevice, op: str, ret: int, seen: int = 0) -> None:
        """Fail the test when ``op`` returned an error, with what the driver raised since ``seen``.

        The core turns an exception in ``open``/``stop`` into ``-EIO``: the
        exception, not the errno, is what the author needs to see.
        """
        if ret == 0:
            return
        msg = f"{dev.name}: {op} failed: {errno.errorcode.get(-ret, ret)}"
        raised = self.faults[seen:]
        ops_named = ("validate_addr", "open") if op == "open" else (op,)
        positive = [v.what for v in self.spy.violations
                    if v.dev == dev.name and v.what.startswith(tuple(f"{o} returned" for o in ops_named))]  # fmt: skip
        if raised:
            msg += " because the driver raised:\n  " + "\n  ".join(raised)
            skip = (os.path.dirname(pytest.__file__ or ""),)
            tbs = [driver_traceback(self._fault_excs[i], skip)
                   for i in range(seen, len(self.faults)) if i in self._fault_excs]  # fmt: skip
            msg += "".join(f"\n\n{tb}" for tb in tbs if tb)
        elif positive:
            raise DriverOpFailure(f"{dev.name}: {positive[-1]}")
        else:
            ops = "validate_addr or open" if op == "open" else op  # dev_open calls both
            msg += f" (the driver's {ops} returned {ret}: return 0 on success)"
        raise DriverOpFailure(msg)

    def frames(self, dev: NetDevice) -> list[bytes]:
        """The frames to send on ``dev`` (from the test class's ``conformance_frames``)."""
        devs = list(self.host.devices.values())
        index = devs.index(dev) if dev in devs else 0
        out = self.frame_factory(dev, index)
        if not out:
            pytest.fail(
                f"{dev.name}: the kit cannot build frames for link type {dev.type} "
                f"(hard_header_len {dev.hard_header_len}); override conformance_frames() in "
                f"your DriverConformance subclass",
                pytrace=False,
            )
        return out

    def xmit(self, dev: NetDevice, frame: bytes, *, vlan_tci: int | None = None) -> int:
        """Hand ``frame`` to the core as the stack would (``dev_queue_xmit``); with
        ``vlan_tci``, 802.1Q-tagged in the skb's metadata, as a VLAN device sends."""
        return self.host.dev_queue_xmit(self.make_skb(dev, frame, vlan_tci=vlan_tci))

    @staticmethod
    def make_skb(dev: NetDevice, frame: bytes, *, vlan_tci: int | None = None) -> SkBuff:
        """An skb of ``frame`` for ``dev`` as the stack builds it (protocol and headers set)."""
        headroom = max(dev.needed_headroom, 0) + 32
        skb = SkBuff(headroom + len(frame))
        skb.data = skb.tail = headroom
        skb.put_data(frame)
        skb.dev = dev
        skb.mac_header = headroom
        if is_ethernet_like(dev) and len(frame) >= ETH_HLEN:
            skb.protocol = int.from_bytes(frame[12:14], "big")
            skb.network_header = headroom + ETH_HLEN
        else:
            v = frame[0] >> 4 if frame else 0
            skb.protocol = ETH_P_IP if v == 4 else ETH_P_IPV6 if v == 6 else 0
            skb.network_header = headroom
        if vlan_tci is not None:
            skb.vlan_all = ETH_P_8021Q << 16 | vlan_tci
        return skb

    def flows_by_queue(self, dev: NetDevice, count: int = 16) -> dict[int, list[bytes]]:
        """Frames of ``count`` UDP flows (:func:`udp_flows`; the kit's frames on other links)
        by the TX queue the core maps each to (the driver's ``select_queue`` or the hash)."""
        devs = list(self.host.devices.values())
        frames = udp_flows(dev, devs.index(dev) if dev in devs else 0, count) or self.frames(dev)
        out: dict[int, list[bytes]] = {}
        for frame in frames:
            skb = self.make_skb(dev, frame)
            try:
                index = netdev_core_pick_tx(dev, skb).index
            except Exception as exc:
                raise AssertionError(
                    f"{dev.name}: select_queue raised {type(exc).__name__}: {exc} (the core "
                    f"drops the frame and takes the device down)"
                ) from exc
            out.setdefault(index, []).append(frame)
        return out

    def traffic(self, devs: list[NetDevice], count: int) -> None:
        """Send ``count`` frames on each device (cycling through its frames) and settle."""
        for dev in devs:
            frames = self.frames(dev)
            for i in range(count):
                self.xmit(dev, frames[i % len(frames)])
                if i % 8 == 7:
                    self.loop.run_until_idle()
        self.settle_accounted(devs)

    def stop_in_flight(self, devs: list[NetDevice], count: int = 8) -> None:
        """``ip link set DEV down`` under load: bring ``devs`` up, hand each ``count`` frames
        without running the loop, and close them.  ``stop`` finds transmissions still in
        flight and must complete or drop them — counted — release their skbs and, with
        Byte Queue Limits, forget their bytes; all that is asserted here."""
        for dev in devs:
            self.up(dev)
        for dev in devs:
            frames = self.frames(dev)
            for i in range(count):
                self.xmit(dev, frames[i % len(frames)])
        for dev in devs:
            seen = len(self.faults)
            self.check_op(dev, "stop", self.host.dev_close(dev), seen)
        self.settle_accounted(devs)
        self.assert_accounted(devs)

    # -- accounting ---------------------------------------------------------------------------
    def accounted(self, dev: NetDevice) -> bool:
        """``tx_submitted == tx_packets + tx_dropped + tx_errors`` (driver counters + core drops)."""
        return dev.core_stats.tx_submitted == self._tx_total(dev)

    def settle_accounted(self, devs: list[NetDevice]) -> bool:
        """Settle until every device of ``devs`` balances and each of its TX queues has an
        empty qdisc or is stopped by the driver."""

        def done() -> bool:
            for d in devs:
                self._assert_not_overcounted(d)  # waiting cannot mend that
            return all(_tx_idle(d) and self.accounted(d) for d in devs)

        return self.settle(done)

    @classmethod
    def _assert_not_overcounted(cls, dev: NetDevice) -> None:
        """Fail when the driver counted more skbs than ``start_xmit`` accepted.

        Checked between loop callbacks, never inside ``start_xmit``: the core counts
        ``tx_submitted`` as soon as it returns, so a surplus then is never transient.
        """
        submitted = dev.core_stats.tx_submitted
        s = checked_stats(dev)
        total = s.tx_packets + s.tx_dropped + s.tx_errors
        assert total <= submitted, (
            f"{dev.name}: the driver counted {total - submitted} skbs more (tx_packets "
            f"{s.tx_packets} + tx_dropped {s.tx_dropped} + tx_errors {s.tx_errors} = {total}) "
            f"than the {submitted} start_xmit accepted with NETDEV_TX_OK: count each skb once, "
            f"and none you return NETDEV_TX_BUSY for"
        )

    def _tx_total(self, dev: NetDevice) -> int:
        """The driver's tx counters, plus the skbs it handed back up (``netif_rx``) that the
        core dropped and counted in ``rx_dropped`` and the driver did not count again (Linux's
        loopback_xmit counts a frame only when ``__netif_rx`` returns NET_RX_SUCCESS).

        An skb handed back inside its ``start_xmit`` call is credited when the driver's
        counters did not grow for it; those handed back later (a timer, a thread) only all
        together, when they are exactly what is missing: never a part, which would hide
        skbs freed uncounted."""
        s = checked_stats(dev)
        total = s.tx_packets + s.tx_dropped + s.tx_errors + self.spy.returned_dropped.get(dev, 0)
        later = self.spy.returned_later.get(dev, 0)
        if later and total + later == dev.core_stats.tx_submitted:
            return total + later
        return total

    def assert_accounted(self, devs: list[NetDevice], *, pending_ok: bool = False) -> None:
        """Assert the transmit contract on ``devs`` (call after :meth:`settle_accounted`).

        Besides the counters: a device that is down holds no skb it accepted —
        each was freed (``dev_kfree_skb``) or handed back to the core
        (``netif_rx``…).  A device that is up may keep completed skbs until its
        next transmission (lazy TX reclaim); :meth:`assert_released` checks
        after ``exit()``.
        """
        self.assert_clean()  # a fault or a violation is the cause of whatever follows
        for dev in devs:
            cs = dev.core_stats
            total = self._tx_total(dev)
            if cs.tx_submitted != total:
                # Slow (a watchdog recovering every few frames) or stuck? Look a little longer.
                self.settle(functools.partial(self.accounted, dev), timeout=1.0)
                later = self._tx_total(dev)
                if later != total and cs.tx_submitted != later:
                    raise AssertionError(
                        f"{dev.name}: the core handed {cs.tx_submitted} skbs to start_xmit that "
                        f"returned NETDEV_TX_OK and the driver accounted for {total} "
                        f"{self.settle_timeout:g} s later, still progressing ({later} a second "
                        f"after that; {sum(_waiting(dev).values())} frames still wait in the "
                        f"qdisc): the driver completes transmissions more slowly than the kit "
                        f"waits — set "
                        f"settle_timeout in your DriverConformance subclass, or use parameters "
                        f"that recover faster"
                    )
            total = self._tx_total(dev)
            s = checked_stats(dev)
            self._assert_not_overcounted(dev)
            assert cs.tx_submitted == total, (
                f"{dev.name}: the core handed {cs.tx_submitted} skbs to start_xmit that returned "
                f"NETDEV_TX_OK, but the driver accounted for {total} (tx_packets {s.tx_packets} "
                f"+ tx_dropped {s.tx_dropped} + tx_errors {s.tx_errors}) "
                f"{self.settle_timeout:g} s later: every skb handed to a driver must end exactly "
                f"once — transmitted, dropped or errored — and be counted"
            )
            if not pending_ok:
                self._assert_nothing_pending(dev)
        down = [d for d in devs if not d.is_up]
        if not pending_ok and down:
            self.assert_released(down, when="while the device is down (after stop)")
        if not pending_ok:
            self.assert_bql_settled(devs)

    @staticmethod
    def _assert_nothing_pending(dev: NetDevice) -> None:
        """No frame waits in the qdisc of any TX queue of ``dev`` (the loop is idle)."""
        for index, n in _waiting(dev).items():
            state = "stopped" if _txq_stopped(dev, index) else "awake"
            if dev.num_tx_queues == 1:
                where, wake = "", "wake it"
            else:
                where, wake = (
                    f" of TX queue {index}",
                    f"wake it (netif_wake_subqueue(dev, {index}))",
                )
            raise AssertionError(
                f"{dev.name}: {n} frames still pending in the qdisc{where} after the loop went "
                f"idle (queue {state}): a driver that stops its queue must {wake} when it can "
                f"send again" + _bql_held(dev, index)
            )

    def assert_bql_settled(self, devs: list[NetDevice]) -> None:
        """A driver using Byte Queue Limits left no byte in flight on any TX queue: every byte
        it reported with ``netdev_sent_queue`` (``netdev_tx_sent_queue`` on a queue) was
        completed (``netdev_completed_queue``) or, once the device is down, forgotten
        (``netdev_reset_queue`` in ``stop``, for every queue).  Drivers that do not use BQL
        pass.  (Completing more than was sent raises in the driver: a fault.)
        """
        queues = [q for d in devs for q in _dql_queues(d)]
        self.settle(lambda: not any(q.dql.inflight for q in queues))
        for txq in queues:
            dql, dev = txq.dql, txq.dev
            when = "after the traffic completed" if dev.is_up else "after stop"
            sent, completed, reset = _BQL_CALLS[dev.num_tx_queues > 1]
            where = f" on TX queue {txq.index}" if dev.num_tx_queues > 1 else ""
            assert not dql.inflight, (
                f"{dev.name}: {dql.inflight} bytes reported to {sent}{where} are still in "
                f"flight {when} ({dql.num_queued} sent, {dql.num_completed} completed since the "
                f"last reset): report each transmitted skb's bytes with {completed} in the TX "
                f"completion, and call {reset}"
            )

    def assert_released(self, devs: list[NetDevice], *, when: str) -> None:
        """No skb ``start_xmit`` accepted on ``devs`` is still held by the driver.

        Each must have been freed (``dev_kfree_skb`` and its aliases) or handed
        back to the core (``netif_rx``, ``netif_receive_skb``,
        ``dev_queue_xmit``).  Counting an skb is not freeing it: in the kernel
        the memory would leak.
        """
        names = {d.name for d in devs}
        self.settle(lambda: not self.spy.owned_by_driver(names))
        held = self.spy.owned_by_driver(names)
        if held:
            per_dev: dict[str, int] = {}
            for n, _ in held:
                per_dev[n] = per_dev.get(n, 0) + 1
            where = ", ".join(f"{n}: {c}" for n, c in sorted(per_dev.items()))
            raise AssertionError(
                f"skbs accepted by start_xmit (NETDEV_TX_OK) still held by the driver {when}, "
                f"neither freed nor handed back to the core ({where}; e.g. {held[0][1]!r}): "
                f"counting an skb is not freeing it — call dev_kfree_skb(skb) once it is sent "
                f"or dropped, and free what is left in your TX ring in stop()"
            )

    def assert_clean(self) -> None:
        """No driver fault, no loop error, no violation seen by the spy."""
        faults = list(self.faults)
        for d in self.host.devices.values():
            if d.core_stats.tx_driver_faults:
                faults.append(f"{d.name}: {d.core_stats.tx_driver_faults} start_xmit faults")
        broken = [f"{v.dev}: {v.what}" for v in self.violations]
        msg = ""
        if broken:
            msg += "driver contract broken:\n  " + "\n  ".join(dict.fromkeys(broken)) + "\n"
        if faults:
            more = f"\n  … and {len(faults) - 10} more" if len(faults) > 10 else ""
            msg += "the driver raised:\n  " + "\n  ".join(faults[:10]) + more
        assert not msg, msg


# -- the test class ---------------------------------------------------------------------------
_START = "open must netif_start_queue (netif_tx_start_all_queues with several TX queues)"


def _stopped_names(devs: list[NetDevice]) -> list[str]:
    """``dev`` (queue 0) or ``dev tx-N`` for each TX queue in use the driver keeps stopped."""
    return [d.name if d.num_tx_queues == 1 else f"{d.name} tx-{i}"
            for d in devs for i in _stopped_queues(d)]  # fmt: skip


_BAD_VALUES: dict[Any, str] = {int: "not-a-number", float: "not-a-number", bool: "maybe"}


class DriverConformance:
    """The conformance tests; subclass it as ``Test…`` and set :attr:`driver_name`.

    Class attributes a subclass may set:

    ``driver_name``
        The driver to check (its ``netdrv.drivers`` entry-point name).
    ``driver_params``
        Parameter values as on ``netdrv load`` (text; numbers and booleans are
        turned into text, see :func:`command_line_values`), applied over the
        driver's own ``conformance_params``.
    ``driver_class``
        Check this :class:`~netdrv_core.Driver` subclass directly instead of
        loading ``driver_name`` from the installed plugins (for a driver that is
        not installed yet).
    ``settle_timeout``
        Real seconds the kit waits for a threaded driver to finish its work.
    ``frames_per_device``
        Frames sent on each device in the traffic checks.

    Override :meth:`conformance_frames` for link types other than Ethernet and
    raw IP.  The ``netdrv_conformance`` fixture is the :class:`DriverHarness`.
    """

    driver_name: ClassVar[str] = ""
    driver_params: ClassVar[Mapping[str, Any]] = {}
    driver_class: ClassVar[type[Driver] | None] = None
    settle_timeout: ClassVar[float] = 5.0
    frames_per_device: ClassVar[int] = 48

    # -- fixtures ---------------------------------------------------------------------------------
    @pytest.fixture
    def netdrv_conformance_driver(self) -> str:
        """The driver under test (the ``--netdrv-conformance`` suite parametrizes this)."""
        name = self.driver_name or (self.driver_class.name if self.driver_class else "")
        if not name:
            pytest.fail(f"{type(self).__name__}: set driver_name = 'yourdriver'", pytrace=False)
        return name

    @pytest.fixture
    def netdrv_conformance(self, netdrv_conformance_driver: str) -> Iterator[DriverHarness]:
        """A :class:`DriverHarness` for the driver under test; everything is unloaded afterwards.

        A driver that cannot be loaded (unknown, its plugin broken) fails every check
        with the :class:`~netdrv_core.PluginError`'s message, which says why, without a
        traceback through netdrv's plugin manager — but with the traceback of the
        plugin's own lines when its code raised.
        """
        failure = ""
        try:
            h = self.make_harness(netdrv_conformance_driver)
        except PluginError as exc:
            hint = not_installed_hint(PluginManager(), netdrv_conformance_driver)
            if hint and type(self).__module__ != _SUITE_MODULE:  # a test class of the author's
                hint += ", or set driver_class = YourDriver to check it without installing it"
            # What the driver's code raised, with its lines only (the kit's and importlib's
            # would bury them).
            tb = driver_traceback(exc, skip=(os.path.dirname(pytest.__file__ or ""),))
            failure = (f"cannot load driver {netdrv_conformance_driver!r}: {exc}"
                       f"{_driver_code_location(exc)}{hint}" + (f"\n\n{tb}" if tb else ""))  # fmt: skip
        if failure:  # outside the except: no "during handling" chain of netdrv's exceptions
            pytest.fail(failure, pytrace=False)
        try:
            why = self._params_problem(h)
            if why:
                pytest.fail(why, pytrace=False)
            yield h
        finally:
            h.close()

    def _params_problem(self, h: DriverHarness) -> str:
        """Why the kit cannot load the driver with its parameters — a name the driver does
        not declare, a bad value — and where they come from (the test class's
        ``driver_params`` or the driver's ``conformance_params``); ``""`` when they parse.
        One message, without a traceback through the kit, instead of the same error
        raised inside every check."""
        try:
            h.param_values()
        except ParameterError as exc:
            own = getattr(h.cls, "conformance_params", {}) or {}
            try:
                parse_params(h.name, h.parameters(), command_line_values(own))
            except ParameterError:
                where = f"{h.cls.__name__}.conformance_params {dict(own)!r}"
            else:
                where = f"{type(self).__name__}.driver_params {dict(h.extra_params)!r}"
            return (
                f"the kit loads driver {h.name!r} with {where}, which it refuses — change "
                f"them to what the driver declares:\n{exc}"
            )
        return ""

    def make_harness(self, name: str) -> DriverHarness:
        """Build the harness (raises :class:`~netdrv_core.PluginError` if the driver cannot load)."""
        cls = self.driver_class if self.driver_class and self.driver_class.name == name else None
        return DriverHarness(
            name,
            self.driver_params,
            driver_class=cls,
            frames=self.conformance_frames,
            settle_timeout=self.settle_timeout,
        )

    def conformance_frames(self, dev: NetDevice, index: int) -> list[bytes]:
        """Frames (with link header, if any) the kit transmits on ``dev``: see :func:`default_frames`."""
        return default_frames(dev, index)

    # -- helpers ------------------------------------------------------------------------------------
    def _loaded(self, h: DriverHarness, *, up: bool = True) -> tuple[Driver, list[NetDevice]]:
        drv = h.load()
        devs = h.owned(drv)
        assert devs, f"driver {h.name!r}: init() registered no device"
        for dev in devs:
            if up and not dev.is_up:
                h.up(dev)
        if up:
            ok = h.settle(lambda: not any(_stopped_queues(d) for d in devs))
            assert ok, f"queue still stopped after open on {_stopped_names(devs)}: " + _START
            # A device that reports its link itself (usbnet: its interrupt endpoint) sends
            # nothing until then: without carrier the core drops every frame, as Linux does.
            ok = h.settle(lambda: all(netif_carrier_ok(d) for d in devs))
            off = ", ".join(d.name for d in devs if not netif_carrier_ok(d))
            assert ok, (f"no carrier after open on {off}: the core drops every frame of a "
                        f"device without carrier; call netif_carrier_on once the link is up")  # fmt: skip
        return drv, devs

    # -- the tests ----------------------------------------------------------------------------------
    def test_driver_loads(self, netdrv_conformance: DriverHarness) -> None:
        """The plugin offers a Driver subclass with this name, a summary, and init registers devices."""
        h = netdrv_conformance
        cls = h.cls
        assert issubclass(cls, Driver)
        assert cls.name == h.name, f"{cls.__name__}.name is {cls.name!r}, expected {h.name!r}"
        assert isinstance(cls.summary, str) and cls.summary.strip(), (
            f"{cls.__name__}.summary is empty: give one line for `netdrv status`"
        )
        drv = h.load()
        assert h.owned(drv), f"driver {h.name!r}: init() registered no device"
        h.assert_clean()

    def test_parameters_declared_and_documented(self, netdrv_conformance: DriverHarness) -> None:
        """Every Param has a unique identifier name, help text, and a default of its type."""
        h = netdrv_conformance
        # What a driver declared, not what its annotation promises: a stray string or
        # tuple in ``parameters`` is reported below, not an AttributeError here.
        params: tuple[object, ...] = tuple(h.cls.parameters)
        names = [p.name for p in params if isinstance(p, Param)]
        assert len(set(names)) == len(names), f"duplicate parameter names in {names}"
        problems = []
        for p in params:
            if not isinstance(p, Param):
                problems.append(f"{p!r} is not a netdrv_core.Param")
                continue
            if not p.name.isidentifier():
                problems.append(f"{p.name!r} is not an identifier")
            if not (isinstance(p.help, str) and p.help.strip()):
                problems.append(f"{p.name}: no help text")
            why = p.default_problem()
            if why:
                problems.append(f"{p.name}: {why}")
            assert isinstance(p.describe(), str)
        assert not problems, f"driver {h.name!r} parameters:\n  " + "\n  ".join(problems)
        cp = getattr(h.cls, "conformance_params", {})
        unknown = sorted(set(cp) - set(names))
        assert not unknown, f"conformance_params names undeclared parameters {unknown}"
        h.param_values()  # the conformance values themselves parse

    def test_unknown_and_ill_typed_parameters_rejected(
        self, netdrv_conformance: DriverHarness
    ) -> None:
        """``name=value`` words naming no parameter, or of the wrong type, are refused up front."""
        h = netdrv_conformance
        params = h.parameters()
        bogus = "netdrv_conformance_no_such_parameter"
        with pytest.raises(ParameterError, match=bogus):
            parse_params(h.name, params, [f"{bogus}=1"])
        for p in params:
            bad = _BAD_VALUES.get(p.type)
            if bad is None and p.choices is not None and p.type is str:
                bad = "netdrv-conformance-not-a-choice"
            if bad is not None:
                with pytest.raises(ParameterError, match=p.name):
                    parse_params(h.name, params, [f"{p.name}={bad}"])

    def test_registration_and_naming(self, netdrv_conformance: DriverHarness) -> None:
        """Devices are registered with resolved, unique names; exit() frees them for reuse."""
        h = netdrv_conformance
        before = set(h.host.devices.values())
        drv = h.load()
        devs = h.owned(drv)
        assert devs, f"driver {h.name!r}: init() registered no device"
        names = [d.name for d in devs]
        assert len(set(names)) == len(names), f"duplicate names {names}"
        # Bare register_netdev inside init was adopted by load(); what is still not in
        # drv.devices was registered later (a timer, a thread) or with a hand-set dev.driver,
        # and neither exit() nor the daemon's unload would find it.
        new = sorted(d.name for d in h.host.devices.values() if d not in before)
        assert sorted(d.name for d in drv.devices) == new, (
            "devices registered on the host by the driver must be registered through "
            "Driver.register, or with register_netdev inside init() (so exit() finds them): "
            f"host has {new}, driver.devices has {sorted(d.name for d in drv.devices)}"
        )
        ifindexes = [d.ifindex for d in devs]
        assert all(i > 0 for i in ifindexes) and len(set(ifindexes)) == len(ifindexes)
        for dev in devs:
            assert "%" not in dev.name and 0 < len(dev.name) < IFNAMSIZ, dev.name
            assert h.host.dev_get_by_name(dev.name) is dev
            assert dev.reg_state == NETREG_REGISTERED and dev.host is h.host
            assert ("registered", dev.name) in h.events
            assert dev.min_mtu <= dev.mtu <= dev.max_mtu, (
                f"{dev.name}: mtu {dev.mtu} outside {dev.min_mtu}..{dev.max_mtu}"
            )
            if is_ethernet_like(dev):
                assert is_valid_ether_addr(bytes(dev.dev_addr)), (
                    f"{dev.name}: dev_addr {bytes(dev.dev_addr).hex(':')} is not a valid unicast "
                    f"MAC (use eth_random_addr() or a locally administered 02:… address)"
                )
        h.unload(drv)
        left = sorted({d.name for d in h.host.devices.values() if d not in before})
        assert not left, f"still registered after exit(): {left}"
        for dev in devs:
            assert dev.reg_state == NETREG_UNREGISTERED
        drv2 = h.load()
        names2 = [d.name for d in h.owned(drv2)]
        assert sorted(names2) == sorted(names), (
            f"reloading gave {names2}, the first load {names}: exit() must free the names "
            f"and %d must resolve to the lowest free number"
        )
        h.unload(drv2)
        h.assert_clean()

    def test_name_clash_resolved_or_refused(self, netdrv_conformance: DriverHarness) -> None:
        """With its first name taken, a driver picks the next %d or fails with a clear error."""
        h = netdrv_conformance
        drv = h.load()
        names = [d.name for d in h.owned(drv)]
        h.unload(drv)
        squatter = alloc_netdev(None, names[0], ether_setup)
        h.host.register_netdev(squatter)
        try:
            drv2 = h.load()
        except Exception as exc:
            chain: list[BaseException] = []
            e: BaseException | None = exc
            while e is not None and len(chain) < 10:
                chain.append(e)
                e = e.__cause__ or e.__context__
            assert any(isinstance(x, NameInUseError) or names[0] in str(x) for x in chain), (
                f"loading with {names[0]!r} taken failed with an error that does not say so: "
                f"{type(exc).__name__}: {exc}"
            )
            left = [d.name for d in h.host.devices.values() if d is not squatter]
            assert not left, f"a failed init left {left} registered"
        else:
            new = [d.name for d in h.owned(drv2)]
            assert names[0] not in new and len(set(new)) == len(new), new
            h.unload(drv2)
        assert h.host.dev_get_by_name(names[0]) is squatter
        h.host.unregister_netdev(squatter)
        h.assert_clean()

    def test_open_stop_cycles(self, netdrv_conformance: DriverHarness) -> None:
        """open/stop can be repeated, also with frames in flight; nothing reaches a device that is down."""
        h = netdrv_conformance
        _drv, devs = self._loaded(h, up=False)
        for dev in devs:
            if dev.is_up:
                h.down(dev)
            assert not dev.is_up and h.host.dev_close(dev) == 0  # closing twice is harmless
        for _cycle in range(3):
            for dev in devs:
                h.up(dev)
                assert dev.is_up and h.host.dev_open(dev) == 0  # opening twice too
            ok = h.settle(lambda: not any(_stopped_queues(d) for d in devs))
            assert ok, f"queue stopped after open on {_stopped_names(devs)}: " + _START
            h.traffic(devs, 8)
            h.assert_accounted(devs)
            for dev in devs:
                h.down(dev)
                assert not dev.is_up
        h.stop_in_flight(devs)
        for dev in devs:
            before = h.xmit_calls(dev)
            submitted = dev.core_stats.tx_submitted
            assert h.xmit(dev, h.frames(dev)[0]) == NET_XMIT_CN  # noop_qdisc
            h.settle()
            assert h.xmit_calls(dev) == before and dev.core_stats.tx_submitted == submitted
        h.assert_accounted(devs)

    def test_every_skb_accounted(self, netdrv_conformance: DriverHarness) -> None:
        """After the loop is idle, tx_submitted == tx_packets + tx_dropped + tx_errors, nothing pending."""
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        h.traffic(devs, self.frames_per_device)
        h.assert_accounted(devs)
        # Bursts larger than the queue: the qdisc drops are the core's, the rest must balance.
        for dev in devs:
            frames = h.frames(dev)
            for i in range(max(dev.tx_queue_len, 1) + 16):
                h.xmit(dev, frames[i % len(frames)])
        h.settle_accounted(devs)
        h.assert_accounted(devs)
        assert sum(d.core_stats.tx_submitted for d in devs) > 0, "no frame reached the driver"

    def test_vlan_tx_offload(self, netdrv_conformance: DriverHarness) -> None:
        """A device with NETIF_F_HW_VLAN_CTAG_TX is handed tagged skbs with the tag in the
        metadata (``skb_vlan_tag_present``) and accounts for them; others pass."""
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        devs = [d for d in devs if d.features & NETIF_F_HW_VLAN_CTAG_TX]
        tags: list[int] = []
        for dev in devs:
            ops, frame = dev.netdev_ops, h.frames(dev)[0]
            inner = ops.start_xmit

            def start_xmit(skb: SkBuff, d: NetDevice, _inner: Any = inner) -> int:
                tags.append(skb.vlan_all)
                return int(_inner(skb, d))

            try:
                ops.start_xmit = start_xmit  # type: ignore[method-assign, assignment]
            except AttributeError:  # ops with __slots__: only the accounting is checked
                h.xmit(dev, frame, vlan_tci=5)
                continue
            try:
                h.xmit(dev, frame, vlan_tci=5)
                h.settle_accounted([dev])
            finally:
                ops.start_xmit = inner  # type: ignore[method-assign]
            assert tags[-1:] == [ETH_P_8021Q << 16 | 5], (
                f"{dev.name}: advertises NETIF_F_HW_VLAN_CTAG_TX, but start_xmit did not get "
                f"the tag in the skb's metadata")  # fmt: skip
        h.assert_accounted(devs)

    def test_queue_stop_and_wake(self, netdrv_conformance: DriverHarness) -> None:
        """No start_xmit while the queue is stopped; the held frames go out after wake.

        A device with several TX queues has all of them stopped and woken
        (``netif_tx_stop_all_queues``); :meth:`test_tx_queues` stops one.
        """
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        for dev in devs:
            h.settle_accounted([dev])
            frames = h.frames(dev)
            held = min(3, max(dev.tx_queue_len, 1))
            mq = dev.num_tx_queues > 1
            stop, wake = ((netif_tx_stop_all_queues, netif_tx_wake_all_queues) if mq
                          else (netif_stop_queue, netif_wake_queue))  # fmt: skip
            # The clock stands still meanwhile, so the watchdog cannot recover the queue.
            with h.clock.frozen():
                netif_trans_update(dev)  # as a driver does that stops its queue after a
                stop(dev)  # transmission filled its ring
                before = h.xmit_calls(dev)
                submitted = dev.core_stats.tx_submitted
                for i in range(3):
                    h.xmit(dev, frames[i % len(frames)])
                h.settle()
                assert h.xmit_calls(dev) == before, "start_xmit was called with the queue stopped"
                assert len(_stopped_queues(dev)) == dev.real_num_tx_queues, (
                    f"{dev.name}: the queue was woken while idle (nothing was in flight)"
                )
                waiting = sum(_waiting(dev).values())
                assert waiting == held, (waiting, held)
            wake(dev)

            def drained(d: NetDevice = dev) -> bool:
                return not _waiting(d) and h.accounted(d)

            ok = h.settle(drained)
            if not ok:
                h.assert_clean()  # a fault or a violation is the cause: name it first
            missing = dev.core_stats.tx_submitted - h._tx_total(dev)
            waiting = sum(_waiting(dev).values())
            assert ok, (
                f"{dev.name}: {waiting} frames still queued after {wake.__name__}"
                if waiting
                else f"{dev.name}: the held frames went out after {wake.__name__}, but "
                f"{missing} skbs accepted by start_xmit are not accounted for (tx_packets + "
                f"tx_dropped + tx_errors) {h.settle_timeout:g} s later: complete every "
                f"transmission (a TX-done timer or interrupt), do not wait for more traffic"
                if missing > 0
                else f"{dev.name}: the driver counted {-missing} skbs more (tx_packets + "
                f"tx_dropped + tx_errors) than start_xmit accepted with NETDEV_TX_OK: count "
                f"each skb once, and none you return NETDEV_TX_BUSY for"
            )
            got = dev.core_stats.tx_submitted - submitted
            assert got == held, f"{dev.name}: {held} frames were held, {got} went out after wake"
            if h.spying:
                assert h.xmit_calls(dev) - before >= held
        h.assert_accounted(devs)

    def test_tx_queues(self, netdrv_conformance: DriverHarness) -> None:
        """With several TX queues in use, frames of many flows are each transmitted or dropped
        and counted, whatever queue the core maps them to; a stopped queue
        (``netif_stop_subqueue``) holds only its own frames while the others send, and sends
        them once woken (``netif_wake_subqueue``).  Devices with one TX queue in use pass."""
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        devs = [d for d in devs if d.real_num_tx_queues > 1]
        for dev in devs:
            by_queue = h.flows_by_queue(dev, max(16, 4 * dev.real_num_tx_queues))
            for _ in range(3):  # every flow, a few frames each
                for frames in by_queue.values():
                    for frame in frames:
                        h.xmit(dev, frame)
                h.loop.run_until_idle()
            h.settle_accounted([dev])
            h.assert_accounted([dev])
            if len(by_queue) > 1:  # else its select_queue maps every flow to one queue
                self._one_queue_stopped(h, dev, by_queue)
        h.assert_accounted(devs)

    @staticmethod
    def _one_queue_stopped(
        h: DriverHarness, dev: NetDevice, by_queue: dict[int, list[bytes]]
    ) -> None:
        """Stop the highest queue flows map to: the others send, it holds, then sends on wake."""
        index = max(by_queue)
        mine = by_queue[index]
        others = [frames[0] for i, frames in sorted(by_queue.items()) if i != index]
        held = min(3, max(dev.tx_queue_len, 1))
        # The clock stands still, so the watchdog cannot wake the queue; one frame per other
        # queue needs no completion (a timer) to go out, even behind a BQL limit.
        with h.clock.frozen():
            netif_stop_subqueue(dev, index)
            submitted = dev.core_stats.tx_submitted
            for i in range(held):
                h.xmit(dev, mine[i % len(mine)])
            h.settle()
            sent = dev.core_stats.tx_submitted - submitted
            assert not sent and _waiting(dev).get(index) == held, (
                f"{dev.name}: {sent} of {held} frames for TX queue {index} reached start_xmit "
                f"while it was stopped"
            )
            for frame in others:
                h.xmit(dev, frame)
            h.settle()
            blocked = {i: n for i, n in _waiting(dev).items() if i != index}
            assert not blocked, (
                f"{dev.name}: with only TX queue {index} stopped (netif_stop_subqueue), frames "
                f"for other queues wait too ({blocked}, by queue): stop only the queue whose "
                f"ring is full, netif_stop_subqueue(dev, skb_get_queue_mapping(skb)), not "
                f"netif_stop_queue or netif_tx_stop_all_queues"
            )
        netif_wake_subqueue(dev, index)

        def drained() -> bool:
            return not _waiting(dev) and h.accounted(dev)

        h.settle(drained)
        h.assert_clean()  # a fault or a violation is the cause: name it first
        left = _waiting(dev)
        assert not left, (
            f"{dev.name}: {sum(left.values())} frames still queued on TX queues {sorted(left)} "
            f"after netif_wake_subqueue(dev, {index})"
        )
        got = dev.core_stats.tx_submitted - submitted
        assert got == held + len(others), (
            f"{dev.name}: {held} frames were held on TX queue {index} and {len(others)} sent on "
            f"the others, but {got} reached start_xmit"
        )

    def test_byte_queue_limits(self, netdrv_conformance: DriverHarness) -> None:
        """A driver using BQL completes every byte it reports sent, never more, on every TX
        queue, and after stop none is in flight; the queue sends again after the next open.
        Others pass."""
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        h.traffic(devs, self.frames_per_device)
        h.assert_accounted(devs)  # with assert_bql_settled: nothing left in flight
        used = [d for d in devs if _uses_bql(d)]
        if not used:
            return  # no BQL: nothing more to check
        h.stop_in_flight(used)  # with bytes in flight: stop must forget them
        for dev in used:
            h.up(dev)
        # The driver may start its queue a little after open (its link coming up), as
        # _loaded allows.  BQL's own stop cannot outlive stop: assert_bql_settled found no
        # byte in flight, and frames it held would fail the accounting below.
        h.settle(lambda: not any(_stopped_queues(d) for d in used))
        h.traffic(used, 8)
        h.assert_accounted(used)

    def test_watchdog(self, netdrv_conformance: DriverHarness) -> None:
        """A driver with tx_timeout is watched (watchdog_timeo > 0); a stall calls it harmlessly."""
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        for dev in devs:
            has_timeout = type(dev.netdev_ops).tx_timeout is not NetDeviceOps.tx_timeout
            if not has_timeout:
                assert not dev._watchdog_on and dev._watchdog is None
                continue
            assert dev.watchdog_timeo > 0 and dev._watchdog_on, (
                f"{dev.name}: implements tx_timeout but the watchdog is not armed"
            )
            h.settle_accounted([dev])
            if not netif_carrier_ok(dev):
                netif_carrier_on(dev)  # the watchdog only watches a device with carrier
            netif_stop_queue(dev)  # a transmit that never completes
            fired = dev.core_stats.tx_timeouts

            def timed_out(d: NetDevice = dev, f: int = fired) -> bool:
                return d.core_stats.tx_timeouts > f

            h.clock.advance(dev.watchdog_timeo * 1.5 + 0.01)
            h.settle(timed_out)
            h.clock.advance(dev.watchdog_timeo / 2 + 0.01)
            h.settle(timed_out)
            assert dev.core_stats.tx_timeouts > fired, f"{dev.name}: tx_timeout was not called"
            h.assert_clean()
            assert dev.is_up, f"{dev.name}: tx_timeout took the device down"
            if netif_queue_stopped(dev):
                netif_wake_queue(dev)
            h.traffic([dev], 4)
        h.assert_accounted(devs)

    def test_carrier(self, netdrv_conformance: DriverHarness) -> None:
        """netif_carrier_off/on are reflected (operstate, LOWER_UP, notification); traffic still balances."""
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        for dev in devs:
            if not netif_carrier_ok(dev):
                netif_carrier_on(dev)
            netif_carrier_off(dev)
            assert not netif_carrier_ok(dev)
            assert dev.operstate == "lowerlayerdown"
            assert not h.host.link_flags(dev) & IFF_LOWER_UP
            assert ("carrier", dev.name) in h.events
            cs = dev.core_stats
            before = (cs.tx_submitted, cs.tx_busy, cs.tx_qdisc_drops)
            h.traffic([dev], 4)
            if not netif_carrier_ok(dev):  # (unless the driver saw its link come back)
                assert (cs.tx_submitted, cs.tx_busy) == before[:2], (
                    f"{dev.name}: frames sent without carrier reached start_xmit"
                )
                assert cs.tx_qdisc_drops == before[2] + 4, (
                    f"{dev.name}: 4 frames sent without carrier, {cs.tx_qdisc_drops - before[2]} "
                    f"dropped by the core (Linux's noop_qdisc drops each)")  # fmt: skip
            netif_carrier_on(dev)
            assert netif_carrier_ok(dev) and dev.operstate == "up"
            assert h.host.link_flags(dev) & IFF_LOWER_UP
            submitted = cs.tx_submitted
            h.traffic([dev], 4)  # the carrier back: sent again
            assert cs.tx_submitted > submitted, f"{dev.name}: nothing sent after netif_carrier_on"
            h.down(dev)
            h.up(dev)
            assert dev.operstate == ("up" if netif_carrier_ok(dev) else "lowerlayerdown")
        h.settle_accounted(devs)
        h.assert_accounted(devs)

    def test_mtu_limits(self, netdrv_conformance: DriverHarness) -> None:
        """min_mtu/max_mtu are enforced; change_mtu accepts values inside, down or up.

        While the device is up a driver may refuse with ``-EBUSY`` instead (as
        Linux's ``can_change_mtu`` does), leaving the MTU as it was.
        """
        h = netdrv_conformance
        _drv, devs = self._loaded(h, up=False)
        for dev in devs:
            lo, hi, orig = dev.min_mtu, dev.max_mtu, dev.mtu
            assert 0 <= lo <= orig <= hi, f"{dev.name}: mtu {orig} outside {lo}..{hi}"
            for state in ("down", "up"):
                if state == "up" and not dev.is_up:
                    h.up(dev)
                if state == "down" and dev.is_up:
                    h.down(dev)
                assert h.host.dev_set_mtu(dev, hi + 1) == -errno.EINVAL and dev.mtu == orig
                if lo > 0:
                    assert h.host.dev_set_mtu(dev, lo - 1) == -errno.EINVAL and dev.mtu == orig
                for new in [*sorted({lo, (lo + hi) // 2, hi}), orig]:
                    ret = h.host.dev_set_mtu(dev, new)
                    h.assert_clean()  # a raising or ill-returning change_mtu, named first
                    if state == "up" and ret == -errno.EBUSY and new != orig:
                        # Refusing while running is allowed (Linux's can_change_mtu does):
                        # the MTU stays, and the device went through the range while down.
                        assert dev.mtu == orig, (
                            f"{dev.name}: change_mtu({new}) returned -EBUSY but changed mtu "
                            f"to {dev.mtu}: refuse without changing anything"
                        )
                        break
                    assert ret == 0, (
                        f"{dev.name} ({state}): change_mtu({new}) refused "
                        f"({errno.errorcode.get(-ret, ret)}) although min_mtu..max_mtu is "
                        f"{lo}..{hi}: set max_mtu/min_mtu to what the driver accepts"
                    )
                    assert dev.mtu == new, (
                        f"{dev.name}: change_mtu({new}) returned success but left mtu at "
                        f"{dev.mtu}: set dev.mtu = new_mtu before returning 0"
                    )
                    if state == "up" and new in (lo, hi):
                        h.traffic([dev], 4)  # frames of the new size
        h.settle_accounted(devs)
        h.assert_accounted(devs)

    def test_stats_consistency(self, netdrv_conformance: DriverHarness) -> None:
        """No negative counter; bytes >= packets * minimum frame, and no more than the frames
        sent and received (each counted once); counters never go back."""
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        bytes_before = h.byte_counts(devs)
        snaps: list[dict[str, dict[str, int]]] = []
        for _ in range(2):
            h.traffic(devs, 16)
            snap = {}
            for dev in devs:
                s = checked_stats(dev).as_dict()
                for k, v in s.items():
                    assert isinstance(v, int) and v >= 0, f"{dev.name}: {k} = {v!r}"
                m = min_frame_size(dev)
                for kind in ("rx", "tx"):
                    pk, by = s[f"{kind}_packets"], s[f"{kind}_bytes"]
                    if pk:
                        assert by >= pk * m, (
                            f"{dev.name}: {kind}_bytes {by} < {kind}_packets {pk} * {m}: "
                            f"count the bytes of every frame (skb.len) with its packets"
                        )
                snap[dev.name] = s
            snaps.append(snap)
        for name, s in snaps[1].items():
            back = [k for k, v in s.items() if v < snaps[0][name][k]]
            assert not back, f"{name}: counters went back: {back}"
        h.assert_bytes_counted_once(devs, bytes_before)
        h.assert_accounted(devs)

    def test_receive_contract(self, netdrv_conformance: DriverHarness) -> None:
        """What the driver hands up during traffic is a proper, counted received frame.

        Only what the traffic makes the driver receive is checked (a loopback or
        a pair like snull receives what it sends; a driver on a simulated line
        receives what its simulation answers): see :meth:`DriverHarness.assert_rx_counted`.
        """
        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        h.traffic(devs, self.frames_per_device)
        h.assert_rx_counted(devs)

    def test_mac_address_and_rx_mode(self, netdrv_conformance: DriverHarness) -> None:
        """set_mac_address takes a valid unicast address or refuses it, refuses a multicast one;
        set_rx_mode follows promiscuous, all-multicast and multicast joins without raising.

        As ``ip link set DEV address …`` on a device that is down: success (0) means
        ``dev_addr`` is the new address (``eth_mac_addr`` copies it); a refusal is a
        negative errno with the address unchanged.  Only Ethernet-like devices with
        a 6-byte address are asked.
        """
        h = netdrv_conformance
        _drv, devs = self._loaded(h, up=False)
        for dev in devs:
            if not is_ethernet_like(dev) or len(bytes(dev.dev_addr)) != ETH_ALEN:
                continue
            if dev.is_up:
                h.down(dev)
            orig = bytes(dev.dev_addr)
            new = b"\x02\x00\x5e\x4b" + bytes([orig[4] ^ 0x55, orig[5] ^ 0xAA])
            ret = h.host.dev_set_mac_address(dev, new)
            h.assert_clean()  # a raising or ill-returning set_mac_address, named first
            if ret == 0:
                assert bytes(dev.dev_addr) == new, (
                    f"{dev.name}: set_mac_address({new.hex(':')}) returned 0 but dev_addr is "
                    f"{bytes(dev.dev_addr).hex(':')}: store the address (eth_mac_addr(dev, addr) "
                    f"does) or return a negative errno"
                )
            else:
                assert ret < 0 and bytes(dev.dev_addr) == orig, (
                    f"{dev.name}: set_mac_address refused ({errno.errorcode.get(-ret, ret)}) but "
                    f"dev_addr changed to {bytes(dev.dev_addr).hex(':')}"
                )
            current = bytes(dev.dev_addr)
            for bad in (b"\x01\x00\x5e\x00\x00\x01", bytes(ETH_ALEN)):
                ret = h.host.dev_set_mac_address(dev, bad)
                h.assert_clean()
                assert ret < 0 and bytes(dev.dev_addr) == current, (
                    f"{dev.name}: set_mac_address accepted {bad.hex(':')}, which is not a valid "
                    f"unicast address (returned {ret}, dev_addr now {bytes(dev.dev_addr).hex(':')})"
                    f": refuse it with -EADDRNOTAVAIL (eth_mac_addr checks is_valid_ether_addr)"
                )
            if current != orig and is_valid_ether_addr(orig):  # an invalid one: reported
                ret = h.host.dev_set_mac_address(dev, orig)  # by the registration test
                assert ret == 0 and bytes(dev.dev_addr) == orig, (
                    f"{dev.name}: set_mac_address refused its own original address "
                    f"{orig.hex(':')} (returned {ret}): it must accept it back"
                )
            h.up(dev)
            group = b"\x01\x00\x5e\x4b\x00\x01"
            change: dict[str, Any]
            for change in (
                {"promisc": True}, {"allmulti": True}, {"mc_list": [group]},
                {"promisc": False, "allmulti": False}, {"mc_list": []},
            ):  # fmt: skip
                h.host.dev_set_rx_mode(dev, **change)
                h.settle()
                assert dev.is_up, f"{dev.name}: went down after set_rx_mode({change})"
            h.traffic([dev], 4)
        h.settle_accounted(devs)
        h.assert_accounted(devs)

    def test_ethtool_ops(self, netdrv_conformance: DriverHarness) -> None:
        """What ``netdrv ethtool`` and ``netdrv status --json`` ask the driver is well-formed.

        Every request the driver's ``ethtool_ops`` answer (``-i``, ``-S``, the link
        settings, ``-g``/``-c``/``-l``/``-a``, the message level, private flags) gives
        the structure the core expects, without raising; ``get_link`` a bool (or an
        int); ``get_strings`` and ``get_ethtool_stats`` agree on the number of
        counters.  A request the driver does not implement (``EOPNOTSUPP``) is fine.
        With an EEPROM (``-e``): a read at an odd offset gives the bytes and magic of a
        whole read, and ``set_eeprom`` refuses a magic other than the one ``get_eeprom``
        reports, with ``EINVAL`` (or ``EFAULT``, as Intel's drivers do; what it would
        have written is the byte already there).
        """
        from ..ethtool import (
            ETHTOOL_REQUESTS,
            EthtoolError,
            ethtool_report,
            ethtool_request,
            ethtool_supports,
        )

        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        h.traffic(devs, 8)
        for dev in devs:
            for req in ETHTOOL_REQUESTS:
                if req in ("nway_reset", "test"):
                    continue  # actions, not reports (the self-test: test_ethtool_self_test)
                try:
                    ethtool_request(h.host, dev, req)
                except EthtoolError as exc:
                    h.assert_clean()  # the driver raised: that is the message
                    assert exc.errno == errno.EOPNOTSUPP, (
                        f"{dev.name}: the ethtool {req} request fails: {exc} — return what "
                        f"netdrv_core.ethtool documents for the op"
                    )
                h.assert_clean()
            ops = dev.ethtool_ops
            if ops is not None and ethtool_supports(ops, "get_link"):
                link = ops.get_link(dev)
                # The core takes its truth value (Linux's u32 != 0): a string reads as a link.
                assert isinstance(link, int), (
                    f"{dev.name}: get_link returned {link!r:.50}, not a bool: the core takes "
                    f"its truth value, so any non-empty string (even 'no') says link "
                    f"detected; return True or False (an int works too, as Linux's u32)"
                )
            if ops is not None:
                names, values = ops.get_strings(dev), ops.get_ethtool_stats(dev)
                assert len(names) == len(values), (
                    f"{dev.name}: get_strings gives {len(names)} counter names but "
                    f"get_ethtool_stats {len(values)} values: `ethtool -S` pairs them by "
                    f"position, so return one value per name, in the same order"
                )
            self._check_eeprom(h, dev)
            report = ethtool_report(dev)
            broken = {k: v for k, v in report.items() if isinstance(v, dict) and "error" in v}
            assert not broken, f"{dev.name}: netdrv status --json shows ethtool errors: {broken}"
            h.assert_clean()
            assert dev.is_up, f"{dev.name}: went down while its ethtool ops were asked"
        h.assert_accounted(devs)

    def test_ethtool_self_test(self, netdrv_conformance: DriverHarness) -> None:
        """``ethtool -t``, if the driver has ``self_test``: online, offline and external
        loopback, each gives one result per ``get_test_strings`` name (u64s), adds no flag
        but ``ETH_TEST_FL_FAILED`` (and ``ETH_TEST_FL_EXTERNAL_LB_DONE`` for ``external_lb``),
        completes its :class:`~netdrv_core.Completion` within ``settle_timeout`` (a test of
        its own), and leaves the device up, not ``testing``, and passing traffic, every skb
        accounted for.  Whether the tests pass is the hardware's business, not checked."""
        from ..ethtool import (
            ETH_TEST_FL_EXTERNAL_LB,
            ETH_TEST_FL_OFFLINE,
            EthtoolError,
            ethtool_self_test_begin,
            ethtool_supports,
        )

        h = netdrv_conformance
        _drv, devs = self._loaded(h)
        tested = [d for d in devs if ethtool_supports(d.ethtool_ops, "self_test")]
        if not tested:
            return  # no self-test: nothing to check
        for dev in tested:
            ops = dev.ethtool_ops
            assert ops is not None and ethtool_supports(ops, "get_test_strings"), (
                f"{dev.name}: self_test without get_test_strings: ethtool -t needs the names "
                "of the tests (one per result)"
            )
            names = ops.get_test_strings(dev)
            external_lb = ETH_TEST_FL_OFFLINE | ETH_TEST_FL_EXTERNAL_LB
            for mode, flags in (("online", 0), ("offline", ETH_TEST_FL_OFFLINE),
                                ("external_lb", external_lb)):  # fmt: skip
                got: list[Any] = []
                try:
                    result = ethtool_self_test_begin(h.host, dev, flags, got.append)
                except EthtoolError as exc:
                    h.assert_clean()  # the driver raised: that is the message
                    raise AssertionError(f"{dev.name}: ethtool -t {mode} fails: {exc}") from None
                if result is None:
                    done = h.settle(lambda: bool(got))  # noqa: B023 (used in this iteration)
                    assert done, (
                        f"{dev.name}: ethtool -t {mode}: the Completion self_test returned was "
                        f"not completed within {h.settle_timeout:g} s: complete() it when the "
                        "test ends, from a timer of its own if need be"
                    )
                    if isinstance(got[0], EthtoolError):
                        raise AssertionError(f"{dev.name}: ethtool -t {mode} fails: {got[0]}")
                    result = got[0]
                h.assert_clean()
                assert list(result["results"]) == list(names), (
                    f"{dev.name}: ethtool -t {mode}: results for {list(result['results'])}, "
                    f"names {names}"
                )
                assert dev.is_up and dev.operstate != "testing", (
                    f"{dev.name}: ethtool -t {mode} left the device "
                    f"{'testing' if dev.is_up else 'down'}: bring it back as it was"
                )
                h.settle(lambda: not _stopped_queues(dev))  # noqa: B023
                assert not _stopped_queues(dev), (
                    f"{dev.name}: the queue is still stopped after ethtool -t {mode}: wake it "
                    "when the test ends"
                )
                h.traffic([dev], 8)
                h.assert_accounted([dev])

    @staticmethod
    def _check_eeprom(h: DriverHarness, dev: NetDevice) -> None:
        """``ethtool -e`` in pieces agrees with a whole read; ``-E`` checks the magic."""
        from ..ethtool import (
            EthtoolError,
            ethtool_get_eeprom,
            ethtool_set_eeprom,
            ethtool_supports,
        )

        ops = dev.ethtool_ops
        if not (ethtool_supports(ops, "get_eeprom") and ethtool_supports(ops, "get_eeprom_len")):
            return
        try:
            whole, data = ethtool_get_eeprom(h.host, dev)
        except EthtoolError as exc:
            h.assert_clean()
            assert exc.errno == errno.EOPNOTSUPP, f"{dev.name}: ethtool -e fails: {exc}"
            return
        if len(data) >= 2:
            length = min(len(data) - 1, 7)
            part, piece = ethtool_get_eeprom(h.host, dev, 1, length)
            assert (piece, part.magic) == (data[1 : 1 + length], whole.magic), (
                f"{dev.name}: get_eeprom at offset 1, length {length} gave {piece.hex()} (magic "
                f"{part.magic:#x}), a whole read {data[1 : 1 + length].hex()} (magic "
                f"{whole.magic:#x}): use eeprom.offset and eeprom.len as given"
            )
        if ethtool_supports(ops, "set_eeprom"):
            wrong = whole.magic ^ 0xFFFF_FFFF
            try:
                ethtool_set_eeprom(h.host, dev, wrong, 0, data[:1])
            except EthtoolError as exc:
                h.assert_clean()
                # EINVAL as most drivers (ax88179_178a, r8152); EFAULT as Intel's (igb, e1000e).
                assert exc.errno in (errno.EINVAL, errno.EFAULT), (
                    f"{dev.name}: set_eeprom with a wrong magic fails with {exc}; refuse it "
                    "with -EINVAL"
                )
            else:
                raise AssertionError(
                    f"{dev.name}: set_eeprom took magic {wrong:#x}, not the {whole.magic:#x} "
                    "get_eeprom reports: check eeprom.magic and refuse another with -EINVAL, "
                    "as Linux drivers do"
                )
            assert ethtool_get_eeprom(h.host, dev)[1] == data, (
                f"{dev.name}: a refused set_eeprom changed the EEPROM"
            )
        h.assert_clean()

    def test_clean_unload(self, netdrv_conformance: DriverHarness) -> None:
        """After exit(): no device, fd, thread, loop reader or timer of the driver is left.

        One load/unload cycle runs first so that what a library sets up once per
        process (a context, a cache) is not counted; what the measured cycle
        leaves behind is.
        """
        h = netdrv_conformance
        threads0 = set(threading.enumerate())
        before = set(h.host.devices.values())
        drv, devs = self._loaded(h)
        names = sorted(d.name for d in devs)
        h.traffic(devs, 8)
        h.unload(drv)
        # Not only owned(): a device registered without the driver (from a timer) counts too.
        left = [d.name for d in h.host.devices.values() if d not in before]
        assert not left, f"still registered after exit(): {left}"
        self._wait_threads(threads0, h)  # the warm-up cycle's threads may end now
        fds = _fd_table()
        threads = set(threading.enumerate())
        readers = h.loop.reader_fds()
        drv, devs = self._loaded(h)
        assert sorted(d.name for d in devs) == names
        h.traffic(devs, 8)
        h.assert_accounted(devs)
        h.unload(drv)
        left = [d.name for d in h.host.devices.values() if d not in before]
        assert not left, f"still registered after exit(): {left}"
        assert all(d.reg_state == NETREG_UNREGISTERED for d in devs)
        h.assert_released(devs, when="after exit()")
        alive = self._wait_threads(threads, h)
        assert not alive, f"threads started by the driver still run after exit(): {alive}"
        new_fds = {fd: t for fd, t in _fd_table().items() if fds.get(fd) != t}
        assert not new_fds, f"file descriptors opened by the driver still open: {new_fds}"
        new_readers = h.loop.reader_fds() - readers
        assert not new_readers, f"loop readers left registered (fds): {sorted(new_readers)}"
        timers = [
            t.callback for _, _, t in h.loop._timers
            if not t.cancelled and not isinstance(getattr(t.callback, "__self__", None), Host)
        ]  # fmt: skip
        assert not timers, f"timers left scheduled after exit(): {timers}"
        h.assert_clean()

    @staticmethod
    def _wait_threads(before: set[threading.Thread], h: DriverHarness) -> list[str]:
        deadline = time.monotonic() + h.settle_timeout
        while True:
            new = [t for t in threading.enumerate() if t not in before and t.is_alive()]
            if not new or time.monotonic() >= deadline:
                return [t.name for t in new]
            h.loop.run_once(0.01)
            for t in new:
                t.join(0.01)
