"""Transmit queues: ``struct netdev_queue`` and the multi-queue API of ``include/linux/netdevice.h``.

A device allocated with :func:`~netdrv_core.netdevice.alloc_netdev_mqs` (or
``alloc_etherdev_mq``) has ``num_tx_queues`` transmit queues, of which the first
``real_num_tx_queues`` are in use (:func:`netif_set_real_num_tx_queues`).  Each
queue has its own stop bits — the driver's (``netif_tx_stop_queue``) and the
stack's (Byte Queue Limits, with a :class:`~netdrv_core.dql.Dql` per queue) —
its own ``trans_start`` for the TX watchdog, and its own qdisc backlog: as
Linux's default ``mq`` qdisc (one ``pfifo_fast`` per queue, each
``tx_queue_len`` long), a stopped queue holds only its own frames.

The core picks the queue of each frame (``netdev_core_pick_tx``): the driver's
``ndo_select_queue`` when it has one, else :func:`skb_tx_hash` over the flow, so
one flow always uses one queue; the choice is in ``skb.queue_mapping``.

Queue 0's state is the device's own fields (``dev._queue_stopped``,
``dev.qdisc``, ``dev.trans_start``): the single-queue functions
(``netif_stop_queue`` and the rest, on queue 0 as in Linux) and the transmit
path of a device with one queue in use are what they were, at the same cost.
"""

from __future__ import annotations

import errno
import logging
import time
import weakref
import zlib
from collections import deque
from typing import TYPE_CHECKING

from .dql import Dql

if TYPE_CHECKING:
    from .netdevice import NetDevice
    from .skbuff import SkBuff

__all__ = [
    "BQL_HOLD_TIME",
    "QUEUE_STATE_ANY_XOFF",
    "QUEUE_STATE_DRV_XOFF",
    "QUEUE_STATE_STACK_XOFF",
    "NetdevQueue",
    "__netif_subqueue_stopped",
    "netdev_cap_txqueue",
    "netdev_core_pick_tx",
    "netdev_get_tx_queue",
    "netdev_pick_tx",
    "netif_set_real_num_rx_queues",
    "netif_set_real_num_tx_queues",
    "netif_start_subqueue",
    "netif_stop_subqueue",
    "netif_subqueue_stopped",
    "netif_tx_disable",
    "netif_tx_queue_stopped",
    "netif_tx_start_all_queues",
    "netif_tx_start_queue",
    "netif_tx_stop_all_queues",
    "netif_tx_stop_queue",
    "netif_tx_wake_all_queues",
    "netif_tx_wake_queue",
    "netif_wake_subqueue",
    "skb_get_hash",
    "skb_get_queue_mapping",
    "skb_set_queue_mapping",
    "skb_tx_hash",
]

log = logging.getLogger("netdrv.netdevice")

QUEUE_STATE_DRV_XOFF = 1 << 0
"""The driver stopped the queue (``netif_stop_queue``, ``netif_tx_stop_queue``)."""
QUEUE_STATE_STACK_XOFF = 1 << 1
"""Byte Queue Limits stopped the queue: more bytes in flight than the limit."""
QUEUE_STATE_ANY_XOFF = QUEUE_STATE_DRV_XOFF | QUEUE_STATE_STACK_XOFF
BQL_HOLD_TIME = 1.0
"""Seconds of slack before the limit shrinks (Linux: ``dql_init(&q->dql, HZ)``)."""


class NetdevQueue:
    """``struct netdev_queue``: one transmit queue of a device, with its :class:`~netdrv_core.dql.Dql`.

    Get it with :func:`netdev_get_tx_queue`; ``index`` is its number, ``state``
    the ``QUEUE_STATE_*`` bits, ``dql`` its byte limit, ``qdisc`` the frames
    waiting for it, ``trans_start`` when it last sent (the watchdog's clock).
    """

    __slots__ = (
        "bql_reset", "dev", "dql", "drv_xoff", "index", "qdisc", "stack_xoff", "stopped",
        "trans_start",
    )  # fmt: skip

    def __init__(self, dev: NetDevice, index: int) -> None:
        self.dev = dev
        self.index = index
        self.dql = Dql(BQL_HOLD_TIME, self._clock)
        self.bql_reset = False  # netdev_tx_reset_queue called: its driver uses BQL (status)
        # Queues 1 and above; queue 0 (_DevTxQueue) has the device's fields instead.
        # Not stopped, as queue 0 (Linux zeroes the state at alloc_netdev_mqs).
        self.drv_xoff = self.stopped = False  # stopped: drv_xoff or stack_xoff, kept in step
        self.stack_xoff = False
        self.trans_start = 0.0
        self.qdisc: deque[SkBuff] = deque()

    def _clock(self) -> float:
        host = self.dev.host
        return host.loop.clock() if host is not None else time.monotonic()

    @property
    def state(self) -> int:
        """``QUEUE_STATE_DRV_XOFF`` and/or ``QUEUE_STATE_STACK_XOFF``; 0 while it may send."""
        return (QUEUE_STATE_DRV_XOFF if self.drv_xoff else 0) | (
            QUEUE_STATE_STACK_XOFF if self.stack_xoff else 0
        )

    def __repr__(self) -> str:
        return f"<NetdevQueue {self.dev.name} tx-{self.index} state={self.state} {self.dql!r}>"


class _DevTxQueue(NetdevQueue):
    """Queue 0: its state is the device's fields, which the single-queue fast path reads."""

    __slots__ = ()

    def __init__(self, dev: NetDevice) -> None:
        self.dev = dev
        self.index = 0
        self.dql = Dql(BQL_HOLD_TIME, self._clock)
        self.bql_reset = False

    @property
    def drv_xoff(self) -> bool:
        return self.dev._drv_xoff

    @drv_xoff.setter
    def drv_xoff(self, value: bool) -> None:
        self.dev._drv_xoff = value

    @property
    def stack_xoff(self) -> bool:
        return self.dev._stack_xoff

    @stack_xoff.setter
    def stack_xoff(self, value: bool) -> None:
        self.dev._stack_xoff = value

    @property
    def stopped(self) -> bool:
        dev = self.dev
        if dev._deactivated:  # the fast path's flag is forced on: the XOFF bits tell
            return dev._drv_xoff or dev._stack_xoff
        return dev._queue_stopped

    @stopped.setter
    def stopped(self, value: bool) -> None:
        dev = self.dev
        dev._queue_stopped = value or dev._deactivated  # still nothing sent without carrier

    @property
    def trans_start(self) -> float:
        return self.dev.trans_start

    @trans_start.setter
    def trans_start(self, value: float) -> None:
        self.dev.trans_start = value

    @property
    def qdisc(self) -> deque[SkBuff]:
        return self.dev.qdisc

    @qdisc.setter
    def qdisc(self, value: deque[SkBuff]) -> None:
        self.dev.qdisc = value


def alloc_tx_queues(dev: NetDevice, count: int) -> None:
    """Give ``dev`` ``count`` TX queues (``alloc_netdev_mqs``; queue 0 is made on first use)."""
    dev.num_tx_queues = dev.real_num_tx_queues = count
    if count > 1:
        dev._tx_queues = [_DevTxQueue(dev)] + [NetdevQueue(dev, i) for i in range(1, count)]
        dev._tx_queue = dev._tx_queues[0]


def netdev_get_tx_queue(dev: NetDevice, index: int) -> NetdevQueue:
    """``dev``'s transmit queue ``index`` (0..``num_tx_queues`` - 1); IndexError beyond."""
    if index == 0:
        txq = dev._tx_queue
        if txq is None:
            txq = dev._tx_queue = _DevTxQueue(dev)
        return txq
    if not 0 < index < dev.num_tx_queues or dev._tx_queues is None:
        raise IndexError(
            f"{dev.name}: no TX queue {index}: dev.num_tx_queues is {dev.num_tx_queues} "
            f"(allocate more with alloc_netdev_mqs / alloc_etherdev_mq)"
        )
    return dev._tx_queues[index]


def _subqueues(dev: NetDevice) -> list[NetdevQueue]:
    """Queues 1..real_num_tx_queues - 1 (none on a single-queue device)."""
    txqs = dev._tx_queues
    return [] if txqs is None else txqs[1 : dev.real_num_tx_queues]


def any_txq_stopped(dev: NetDevice) -> bool:
    """True while some queue in use is stopped: the watchdog has something to watch."""
    if dev._queue_stopped:
        return True
    return dev.real_num_tx_queues > 1 and any(q.stopped for q in _subqueues(dev))


def all_txqs_blocked(dev: NetDevice) -> bool:
    """True while no queue in use takes a frame at once (each stopped or backlogged):
    back-pressure on the single TAP fd; with one queue, always (queue 0 is blocked)."""
    return dev.real_num_tx_queues == 1 or all(q.stopped or q.qdisc for q in _subqueues(dev))


# -- the driver's stop and wake ------------------------------------------------------------------
def netif_tx_start_queue(txq: NetdevQueue) -> None:
    """Allow the core to send on ``txq`` (at open time); on a running device, a
    stopped queue restarts as with :func:`netif_tx_wake_queue` (see
    :func:`~netdrv_core.netdevice.netif_start_queue`)."""
    if txq.dev.is_up:
        netif_tx_wake_queue(txq)
        return
    txq.drv_xoff = False
    txq.stopped = txq.stack_xoff


def netif_tx_stop_queue(txq: NetdevQueue) -> None:
    """Send nothing on ``txq`` until :func:`netif_tx_wake_queue`; the other queues go on.

    As Linux since 6.12, the watchdog counts from the stop (``trans_start``): a queue
    stopped outside ``start_xmit`` after an idle spell is not timed out at once."""
    dev = txq.dev
    if dev._watchdog_on and dev.host is not None:  # only the watchdog reads trans_start
        txq.trans_start = dev.host.loop.clock()
    txq.drv_xoff = True
    if not txq.stopped:
        txq.stopped = True
        arm_watchdog(txq.dev)


def arm_watchdog(dev: NetDevice) -> None:
    """A queue stopped: watch it (only a stopped queue can time out)."""
    if dev._watchdog_on and dev._watchdog is None and dev.host is not None:
        dev.host.arm_watchdog(dev)


def netif_tx_wake_queue(txq: NetdevQueue) -> None:
    """Restart ``txq`` and send what its qdisc holds (unless BQL still holds it)."""
    was = txq.stopped
    txq.drv_xoff = False
    txq.stopped = stopped = txq.stack_xoff
    if was and not stopped:
        txq_woken(txq)


def txq_woken(txq: NetdevQueue) -> None:
    """``txq`` may send again: drain its qdisc (Linux's ``netif_schedule_queue``)."""
    host = txq.dev.host
    if host is not None:
        if txq.index:
            host.txq_woken(txq)
        else:
            host.queue_woken(txq.dev)


def netif_tx_queue_stopped(txq: NetdevQueue) -> bool:
    """True while the driver has stopped ``txq`` (its own stop only, as in Linux)."""
    return txq.drv_xoff


def _queues(dev: NetDevice) -> list[NetdevQueue]:
    txqs = dev._tx_queues
    return [netdev_get_tx_queue(dev, 0)] if txqs is None else txqs


def netif_tx_start_all_queues(dev: NetDevice) -> None:
    """:func:`netif_tx_start_queue` on every TX queue of ``dev`` (at open)."""
    for txq in _queues(dev):
        netif_tx_start_queue(txq)


def netif_tx_stop_all_queues(dev: NetDevice) -> None:
    """:func:`netif_tx_stop_queue` on every TX queue of ``dev``."""
    for txq in _queues(dev):
        netif_tx_stop_queue(txq)


def netif_tx_wake_all_queues(dev: NetDevice) -> None:
    """:func:`netif_tx_wake_queue` on every TX queue of ``dev``."""
    for txq in _queues(dev):
        netif_tx_wake_queue(txq)


def netif_tx_disable(dev: NetDevice) -> None:
    """Stop every TX queue of ``dev`` (in ``stop``, before freeing the rings)."""
    netif_tx_stop_all_queues(dev)


def netif_start_subqueue(dev: NetDevice, index: int) -> None:
    """:func:`netif_tx_start_queue` on queue ``index``."""
    netif_tx_start_queue(netdev_get_tx_queue(dev, index))


def netif_stop_subqueue(dev: NetDevice, index: int) -> None:
    """:func:`netif_tx_stop_queue` on queue ``index`` (in ``start_xmit``: the ring of
    ``skb_get_queue_mapping(skb)`` is full)."""
    netif_tx_stop_queue(netdev_get_tx_queue(dev, index))


def netif_wake_subqueue(dev: NetDevice, index: int) -> None:
    """:func:`netif_tx_wake_queue` on queue ``index`` (its TX completion freed room)."""
    netif_tx_wake_queue(netdev_get_tx_queue(dev, index))


def __netif_subqueue_stopped(dev: NetDevice, index: int) -> bool:
    """True while queue ``index`` sends nothing (stopped by the driver or by BQL)."""
    return netdev_get_tx_queue(dev, index).stopped


def netif_subqueue_stopped(dev: NetDevice, skb: SkBuff | int) -> bool:
    """``__netif_subqueue_stopped`` for the queue of ``skb`` (Linux's) or of an index:
    the name to use inside a class body, where ``__netif_...`` would be mangled."""
    index = skb if isinstance(skb, int) else skb.queue_mapping
    return __netif_subqueue_stopped(dev, index)


def freeze_tx_queues(dev: NetDevice) -> None:
    """Stop every queue without arming the watchdog (a detached or faulted device)."""
    dev._drv_xoff = dev._queue_stopped = True
    for txq in _subqueues(dev):
        txq.drv_xoff = txq.stopped = True


def purge_tx_queues(dev: NetDevice) -> None:
    """Drop and free what every qdisc of ``dev`` holds, counted in ``tx_qdisc_drops``
    (at close, or when an unplugged device goes)."""
    from .netdevice import kfree_tx

    for q in [dev.qdisc] + [txq.qdisc for txq in (dev._tx_queues or ())[1:]]:
        while q:
            dev.core_stats.tx_qdisc_drops += 1
            kfree_tx(q.popleft())


# -- the number of queues in use -----------------------------------------------------------------
def netif_set_real_num_tx_queues(dev: NetDevice, count: int) -> int:
    """Use the first ``count`` TX queues (1..``num_tx_queues``); 0 or ``-EINVAL``.

    On a registered device, frames waiting for a queue taken out of use are
    dropped and freed (``qdisc_reset_all_tx_gt``), counted in ``tx_qdisc_drops``.
    On a running device, an awake queue taken into use lets the stack send again,
    as a wake does.  A driver's ``set_channels`` (``ethtool -L``) calls this.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= dev.num_tx_queues:
        log.warning("%s: netif_set_real_num_tx_queues(%r): outside 1..%d (num_tx_queues)",
                    dev.name, count, dev.num_tx_queues)  # fmt: skip
        return -errno.EINVAL
    from .netdevice import NETREG_REGISTERED, kfree_tx

    old = dev.real_num_tx_queues
    dev.real_num_tx_queues = count
    if dev.reg_state != NETREG_REGISTERED or dev._tx_queues is None:
        return 0
    for txq in dev._tx_queues[count:old]:
        q = txq.qdisc
        while q:
            dev.core_stats.tx_qdisc_drops += 1
            kfree_tx(q.popleft())
    if dev.is_up:
        # A reader held back while every old queue was blocked waits for a wake that an
        # awake new queue never sends: wake as netif_tx_wake_queue would.
        awake = next((txq for txq in dev._tx_queues[old:count] if not txq.stopped), None)
        if awake is not None:
            txq_woken(awake)
    return 0


def netif_set_real_num_rx_queues(dev: NetDevice, count: int) -> int:
    """Record that ``count`` RX queues (1..``num_rx_queues``) are in use; 0 or ``-EINVAL``."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= dev.num_rx_queues:
        return -errno.EINVAL
    dev.real_num_rx_queues = count
    return 0


# -- queue selection ------------------------------------------------------------------------------
def skb_get_queue_mapping(skb: SkBuff) -> int:
    """The TX queue the core chose for ``skb``."""
    return skb.queue_mapping


def skb_set_queue_mapping(skb: SkBuff, queue_mapping: int) -> None:
    """Record the TX queue of ``skb`` (``ndo_select_queue`` may, the core does)."""
    skb.queue_mapping = queue_mapping


_PORTS = frozenset((6, 17, 33, 132, 136))  # TCP, UDP, DCCP, SCTP, UDP-Lite: ports after the header


def skb_get_hash(skb: SkBuff) -> int:
    """A 32-bit hash of ``skb``'s flow: addresses, transport protocol and ports of an
    IPv4/IPv6 packet, the same both ways (Linux's flow dissector is symmetric too);
    the EtherType alone for other frames."""
    buf, nh, end, proto = skb.buf, skb.network_header, skb.tail, skb.protocol
    if nh < 0:
        proto, nh = _network_header(skb)
    if nh >= 0 and proto == 0x0800 and nh + 20 <= end:
        l4, saddr, daddr = buf[nh + 9], buf[nh + 12 : nh + 16], buf[nh + 16 : nh + 20]
        th = nh + (buf[nh] & 0xF) * 4
        fragment = (buf[nh + 6] & 0x3F) | buf[nh + 7]  # MF or an offset: no ports, as Linux
    elif nh >= 0 and proto == 0x86DD and nh + 40 <= end:
        l4, saddr, daddr = buf[nh + 6], buf[nh + 8 : nh + 24], buf[nh + 24 : nh + 40]
        th, fragment = nh + 40, 0
    else:
        return zlib.crc32(proto.to_bytes(2, "big"))
    if l4 in _PORTS and not fragment and th + 4 <= end:
        a, b = saddr + buf[th : th + 2], daddr + buf[th + 2 : th + 4]
    else:
        a, b = saddr, daddr
    return zlib.crc32(bytes((l4,)) + min(a, b) + max(a, b))


def _network_header(skb: SkBuff) -> tuple[int, int]:
    """EtherType and network-header offset of a frame whose sender set neither: read
    from its Ethernet header (one VLAN tag skipped), or the IP version of a raw packet."""
    buf, data, end = skb.buf, skb.data, skb.tail
    dev = skb.dev
    if dev is not None and dev.type == 1 and end - data >= 14:  # ARPHRD_ETHER
        proto, nh = buf[data + 12] << 8 | buf[data + 13], data + 14
        if proto == 0x8100 and end - nh >= 4:
            proto, nh = buf[nh + 2] << 8 | buf[nh + 3], nh + 4
        return proto, nh
    if end > data and dev is not None and not dev.hard_header_len:
        version = buf[data] >> 4
        return (0x0800 if version == 4 else 0x86DD if version == 6 else 0), data
    return skb.protocol, -1


def skb_tx_hash(dev: NetDevice, sb_dev: NetDevice | None, skb: SkBuff) -> int:
    """A queue 0..real_num_tx_queues - 1 for ``skb``'s flow (``reciprocal_scale`` of its hash)."""
    return (skb_get_hash(skb) * dev.real_num_tx_queues) >> 32


def netdev_pick_tx(dev: NetDevice, skb: SkBuff, sb_dev: NetDevice | None = None) -> int:
    """The core's choice of queue (what ``ndo_select_queue`` may fall back to)."""
    return skb_tx_hash(dev, sb_dev, skb) if dev.real_num_tx_queues > 1 else 0


_cap_warned: weakref.WeakSet[NetDevice] = weakref.WeakSet()


def netdev_cap_txqueue(dev: NetDevice, queue_index: int) -> int:
    """``queue_index``, or 0 (warned once per device) when it is not a queue in use."""
    if (isinstance(queue_index, int) and 0 <= queue_index < dev.real_num_tx_queues
            and queue_index is not True):  # a bool is an int to Python, not a queue  # fmt: skip
        return queue_index
    if dev not in _cap_warned:
        _cap_warned.add(dev)
        log.warning("%s: selects TX queue %r, but real_num_tx_queues is %d: queue 0 used",
                    dev.name, queue_index, dev.real_num_tx_queues)  # fmt: skip
    return 0


def netdev_core_pick_tx(
    dev: NetDevice, skb: SkBuff, sb_dev: NetDevice | None = None
) -> NetdevQueue:
    """Choose the TX queue of ``skb`` (``ndo_select_queue`` or :func:`netdev_pick_tx`),
    record it in ``skb.queue_mapping`` and return it."""
    select = dev.netdev_ops.select_queue
    index = netdev_pick_tx(dev, skb, sb_dev) if select is None else select(dev, skb, sb_dev)
    index = netdev_cap_txqueue(dev, index)
    skb.queue_mapping = index
    return netdev_get_tx_queue(dev, index)
