"""snull, after *Linux Device Drivers* chapter 14 (2nd edition; 17 in the 3rd), ``snull.c``.

The names follow LDD's: ``snull_rx``, ``snull_poll``, ``snull_setup_pool``,
``snull_release_buffer`` are functions here too; ``snull_open``, ``snull_release``,
``snull_tx`` + ``snull_hw_tx``, ``snull_tx_timeout``, ``snull_config``,
``snull_ioctl`` and ``snull_change_mtu`` are the methods of :class:`SnullOps`
(``snull_netdev_ops``); ``snull_init`` is :func:`snull_setup`, ``snull_init_module``
:meth:`Snull.init`; ``snull_stats`` and ``snull_header`` have no counterpart (see
:class:`SnullOps`).  Where the code differs from the chapter's, a comment says why;
docs/drivers/snull.md lists the differences.

Two interfaces, sn0 and sn1 (``eth=1``: eth%d), wired to each other: what
sn0 transmits arrives on sn1 and vice versa, with the third octet of the
source and destination IPv4 addresses flipped so that the kernel sees it as
coming from another host.  Everything the chapter shows is here: the
"hardware" transmit with its TX-done and RX interrupts, the packet pool
(``pool_size``; empty pool → stop the queue), simulated lockups
(``lockup=N``) recovered by the watchdog's ``tx_timeout``, NAPI reception
(``use_napi=1``), ``set_config`` refusing changes while up, the 68..1500 MTU
rule, private ioctls and full statistics.  ``netdrv ethtool -g/-G`` shows and
resizes the transmit pool (the only ring snull has), also while the interface
is up; ``netdrv ethtool -t`` runs a self-test of the driver's state and of the
wire between the two interfaces.
"""

from __future__ import annotations

import errno
import os
import struct
from collections import deque
from typing import Any

from netdrv_core import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    ETH_HLEN,
    ETH_TEST_FL_FAILED,
    ETH_TEST_FL_OFFLINE,
    ETH_ZLEN,
    IFF_ALLMULTI,
    IFF_NOARP,
    IFF_PROMISC,
    IFF_UP,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    SIOCDEVPRIVATE,
    Completion,
    Driver,
    EthtoolTest,
    NapiStruct,
    NetDevice,
    NetDeviceOps,
    Param,
    ParameterError,
    SkBuff,
    alloc_netdev,
    dev_alloc_skb,
    dev_kfree_skb,
    dev_queue_xmit,
    ether_setup,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_schedule,
    netdev_alloc_skb_ip_align,
    netdev_dbg,
    netdev_info,
    netdev_warn,
    netif_carrier_off,
    netif_carrier_on,
    netif_napi_add,
    netif_queue_stopped,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
)
from netdrv_core.checksum import ip_fast_csum
from netdrv_core.ether import ETH_P_IP
from netdrv_core.ethtool import DUPLEX_FULL, DrvInfo, EthtoolOps, LinkSettings, RingParam
from netdrv_core.netdevice import NETIF_F_HW_CSUM, NETIF_F_SG, NETIF_F_TSO, NETIF_F_TSO6
from netdrv_core.params import ip_interface
from netdrv_core.skbuff import NET_SKB_PAD, PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST

from .ipv4 import FlipError, flip_ipv4

SNULL_MAC = b"\x00SNUL0"
SNULL_IOC_GETSTATE = SIOCDEVPRIVATE
SNULL_IOC_SETLOCKUP = SIOCDEVPRIVATE + 1
SNULL_IOC_SETCARRIER = SIOCDEVPRIVATE + 2  # pull (0) or plug (1) the cable of the pair
# Frames longer than this are received in place instead of copied into a new skb
# (a normal Ethernet frame is copied, as in LDD; a 64 KiB TSO super-frame is not).
SNULL_COPYBREAK = 2048
SNULL_POOL_MAX = 65536  # the pool_size parameter's maximum, and ethtool's tx_max_pending
# The timeout parameter's maximum, in ms: an hour. Linux drivers' watchdog_timeo is a
# few seconds (5 s by default, slip.c's 20 s), and a minute already means "never fires"
# for a test.  A watchdog due later than epoll_wait's longest wait (INT_MAX ms, 24.8
# days) would make the event loop raise OverflowError and the daemon exit.
SNULL_TIMEOUT_MAX = 3_600_000
_BCAST = b"\xff" * 6
_pack_mac = struct.Struct("6s").pack_into  # a MAC address into a frame
_pack_macs = struct.Struct("6s6s").pack_into  # destination and source
_RX_RESERVE = NET_SKB_PAD + 2  # headroom of a received skb: the IP header 16-byte aligned
# ethtool -t: the tests, in the order of their results (e1000's way of naming them).
SNULL_TEST_STRINGS = ("Register test  (on/offline)", "Loopback test  (offline)")
SNULL_TEST_TIMEOUT = 1.0  # seconds the loopback frame has to reach the peer
SNULL_LB_LOST = 1  # loopback result: the frame did not arrive within SNULL_TEST_TIMEOUT
SNULL_LB_CORRUPT = 2  # ... it arrived with other bytes than were sent
SNULL_LB_NOT_SENT = 3  # ... it could not be sent: an interface of the pair is down
_SELFTEST_MAGIC = b"snull self-test:"  # the payload's start, then a nonce, then a pattern


class SnullPriv:
    """``struct snull_priv``.

    LDD's ``status`` word (``SNULL_RX_INTR``, ``SNULL_TX_INTR``) has no field: the two
    "interrupts" are direct calls from :meth:`SnullOps.start_xmit`.  Its ``stats`` are
    ``dev.stats``; ``rx_int_enabled``, ``rx_queue``, ``skb``, ``tx_packetlen`` and
    ``napi`` keep LDD's names.

    The transmit pool (LDD's ``ppool``) is a count of free packet buffers,
    :attr:`pool_free`: the "hardware" hands the transmitted skb itself to the
    peer (see :meth:`SnullOps.start_xmit`), so a buffer holds no data — what is left
    of it is the accounting, and that is kept: a transmission takes a buffer,
    the receiver gives it back once it has received the packet, the queue
    stops when the last one is taken and wakes when one returns.

    ``ethtool -G DEV tx N`` resizes the pool at any time (:func:`snull_resize_pool`);
    buffers still out when it shrinks below them are dropped as they come back
    (:attr:`pool_excess`) instead of returning to the pool.
    """

    __slots__ = (
        "filter_all_multi", "lockup", "lockups", "mc_filter", "napi", "params", "peer",
        "pool_excess", "pool_free", "pool_size", "pool_stops", "rx_int_enabled", "rx_queue",
        "selftest", "skb", "tx_packetlen",
    )  # fmt: skip

    def __init__(self) -> None:
        self.pool_size = 0
        self.pool_free = 0  # free buffers of the transmit pool
        self.pool_excess = 0  # buffers out (at the peer) that a shrunk pool no longer has room for
        self.rx_queue: deque[SkBuff] = deque()  # received, waiting for the NAPI poll
        self.rx_int_enabled = True
        self.tx_packetlen = 0
        self.skb: SkBuff | None = None  # the transmission whose TX-done interrupt is pending
        self.napi: NapiStruct | None = None
        self.peer: NetDevice | None = None
        self.lockup = 0  # params["lockup"], read per packet
        self.lockups = 0
        self.pool_stops = 0
        self.mc_filter: set[bytes] = set()
        self.filter_all_multi = False
        self.params: dict[str, Any] = {}
        self.selftest: SnullLoopback | None = None  # this device's loopback test in flight


def _priv(dev: NetDevice) -> SnullPriv:
    return dev.priv


class SnullOps(NetDeviceOps):
    """``snull_netdev_ops``.

    Not here: ``get_stats`` (LDD's ``snull_stats`` returns ``&priv->stats``; snull counts
    in ``dev.stats``, which the core reads for a driver without one, as Linux's
    ``dev_get_stats`` does) and ``header_ops`` (LDD's ``snull_header`` and
    ``rebuild_header``: the kernel builds the Ethernet header of what it hands a TAP,
    so the header trick is done on the frame in :meth:`start_xmit`; ``rebuild_header``
    left Linux in 4.1).
    """

    def open(self, dev: NetDevice) -> int:
        """``snull_open``: enable NAPI, start the queue (LDD also assigns the ``\\0SNULx``
        MAC here; :meth:`Snull.init` does it once, so the TAP has it from the start)."""
        priv = _priv(dev)
        if priv.napi is not None:
            napi_enable(priv.napi)
        priv.rx_int_enabled = True
        netif_start_queue(dev)
        if not priv.pool_free:
            # Every buffer is still at the peer (its NAPI queue) or held back by a shrunk
            # pool: start_xmit would only answer BUSY.  The first one back wakes the queue.
            priv.pool_stops += 1
            netif_stop_queue(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        """``snull_release``: stop the queue, disable NAPI; a pending transmission is completed
        as an error, what waits for the poll is dropped, a loopback test in flight fails."""
        priv = _priv(dev)
        netif_stop_queue(dev)
        if priv.selftest is not None:
            priv.selftest.finish(SNULL_LB_LOST)
        if priv.napi is not None:
            napi_disable(priv.napi)
        if priv.skb is not None:
            dev.stats.tx_errors += 1
            priv.skb = None  # the skb itself is the peer's by now: see start_xmit
        while priv.rx_queue:
            skb = priv.rx_queue.popleft()
            dev.stats.rx_dropped += 1
            dev_kfree_skb(skb)
            snull_release_buffer(priv.peer)  # type: ignore[arg-type]  # the sender's pool buffer
        return 0

    # This runs for every packet, so it reads fields directly (``dev.priv`` rather
    # than ``netdev_priv(dev)``, ``dev._drv_xoff`` — the driver's own stop — rather than
    # ``netif_queue_stopped(dev)``), the two "interrupts" are direct calls, and
    # LDD's snull_tx, snull_hw_tx and (for the usual frame) snull_rx are this one
    # method: each call saved is some 2 % of the per-packet cost.
    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """LDD's ``snull_tx`` and ``snull_hw_tx``: pad to ETH_ZLEN, rewrite, flip, deliver to
        the peer, complete the transmission.

        Like veth, the "hardware" hands the transmitted skb itself to the peer:
        from here on it is the receiver's (delivered, or dropped and freed there).
        What LDD's two interrupts do happens as direct calls, in LDD's order: the
        peer's RX interrupt (:func:`snull_rx` and ``netif_rx``, or a NAPI schedule),
        then this device's TX-done interrupt (``tx_packets``, ``tx_bytes``, queue
        wake-up) — unless this packet simulates a lockup, which leaves the
        transmission pending (:attr:`SnullPriv.skb`) until ``tx_timeout``.

        LDD3's ``dev->trans_start = jiffies`` is left to the core, which records
        it on NETDEV_TX_OK as Linux's ``txq_trans_update()`` does.
        """
        priv = dev.priv
        if not priv.pool_free:
            return NETDEV_TX_BUSY  # the pool is empty: the queue should have been stopped
        buf = skb.buf
        data = skb.data
        end = skb.tail
        length = end - data
        if length < ETH_ZLEN:
            skb = _pad(skb)
            buf = skb.buf
            data = skb.data
            end = skb.tail
            length = end - data
        # -- LDD's snull_hw_tx(): the "hardware" --
        if buf[data + 12] != 0x08 or buf[data + 13]:  # ETH_P_IP
            # snull routes IPv4 only (IPv6 is disabled on the pair); anything else is dropped.
            dev.stats.tx_dropped += 1
            dev_kfree_skb(skb)
            return NETDEV_TX_OK
        peer = priv.peer
        # The hard_header trick: the kernel addressed the frame to our own MAC
        # (NOARP); rewrite the destination to the peer's, as LDD's header does.
        # (struct's pack_into: a slice assignment of bytes would copy them into a
        # temporary bytearray first, and cost three times as much.)
        multicast = buf[data] & 1  # or broadcast: the group bit of the destination
        if multicast:
            _pack_mac(buf, data + 6, dev.dev_addr)
            if buf[data + 2] == 0x5E and not buf[data + 1] and buf[data] == 1:
                # An IPv4 group's MAC (RFC 1112: 01:00:5e + the group's low 23 bits) holds
                # the third octet the flip changes: it follows, or the peer's filter, which
                # holds the flipped group's MAC, would drop the frame.
                buf[data + 4] ^= 1
        else:
            _pack_macs(buf, data, peer.dev_addr, dev.dev_addr)
        csum_at = skb.csum_start + skb.csum_offset if skb.ip_summed == CHECKSUM_PARTIAL else -1
        nh = data + ETH_HLEN  # the IP header: computed once, used three times
        try:
            flip_ipv4(buf, nh, end, csum_at)
        except FlipError as exc:
            netdev_dbg(dev, "dropping frame: %s", exc)
            dev.stats.tx_dropped += 1
            dev_kfree_skb(skb)
            return NETDEV_TX_OK
        # snull_get_tx_buffer(): start_xmit saw a free buffer; stop the queue on the last one.
        free = priv.pool_free - 1
        priv.pool_free = free
        if not free:
            netdev_dbg(dev, "pool empty")
            priv.pool_stops += 1
            netif_stop_queue(dev)
        # Receive side: the peer's RX interrupt (LDD's snull_enqueue_buf, then
        # snull_regular_interrupt or snull_napi_interrupt).  A buffer the peer is done with at
        # once returns to the pool at once; no wake-up here, the TX-done below does it
        # (LDD: the TX-done interrupt is still pending while the peer receives).
        ppriv = peer.priv
        if not peer.flags & IFF_UP:
            peer.stats.rx_dropped += 1
            dev_kfree_skb(skb)
            priv.pool_free = free + 1
        elif ppriv.napi is None:
            if multicast or nh & 3:
                # Multicast or broadcast (the filter), or a copy to align: snull_rx.
                rskb = snull_rx(peer, skb)
                if rskb is not None:
                    peer.host.netif_rx(rskb)
            else:
                # snull_rx() for a unicast frame whose IP header is aligned (the TAP
                # reader's skbs are): received as it is, eth_type_trans()'s work done.
                skb.dev = peer
                skb.mac_header = data
                skb.data = skb.network_header = nh
                skb.protocol = ETH_P_IP
                skb.pkt_type = PACKET_HOST
                if skb.ip_summed == CHECKSUM_PARTIAL:
                    skb.transport_header = skb.csum_start
                else:
                    skb.ip_summed = CHECKSUM_UNNECESSARY  # we checked (and kept) the checksums
                stats = peer.stats
                stats.rx_packets += 1
                stats.rx_bytes += length
                peer.host.netif_rx(skb)
            priv.pool_free = free + 1
        else:
            ppriv.rx_queue.append(skb)  # the poll gives the buffer back
            if ppriv.rx_int_enabled:
                ppriv.rx_int_enabled = False  # snull_rx_ints(dev, 0)
                napi_schedule(ppriv.napi)
        # Transmit side: the TX-done interrupt (the SNULL_TX_INTR half of LDD's
        # snull_interrupt), unless this is a simulated lockup.  LDD tests
        # (tx_packets + 1) % lockup; a timed-out packet counts in tx_errors only here
        # (see tx_timeout), so adding them keeps "every lockup-th packet".
        stats = dev.stats
        lockup = priv.lockup
        if lockup and (stats.tx_packets + stats.tx_errors + 1) % lockup == 0:
            # Simulate a dropped transmit interrupt.  LDD leaves SNULL_TX_INTR in the
            # status word, so the next RX interrupt quietly completes it; here the
            # interrupt is really lost and only the watchdog's tx_timeout recovers.
            priv.skb = skb
            priv.tx_packetlen = length
            netif_stop_queue(dev)
            netdev_dbg(dev, "simulated lockup")
            return NETDEV_TX_OK
        stats.tx_packets += 1
        stats.tx_bytes += length
        if dev._drv_xoff and priv.pool_free and dev.flags & IFF_UP:
            netif_wake_queue(dev)
        return NETDEV_TX_OK

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        """``snull_tx_timeout``: the TX-done interrupt was lost; complete it as an error.

        ``lockups`` (ethtool -S) counts these calls, whether a simulated lockup or a
        queue stopped too long on an empty pool made the watchdog call it.
        """
        priv = _priv(dev)
        netdev_info(dev, "transmit timeout, recovering")
        priv.lockups += 1
        if priv.skb is not None:
            # LDD counts tx_packets (through the interrupt) *and* tx_errors for this
            # packet; here each skb ends exactly once, so it is an error only.
            dev.stats.tx_errors += 1
            priv.skb = None
        # With every buffer still out (at a NAPI peer, or held back by a shrunk pool) a
        # woken queue would only meet NETDEV_TX_BUSY: the buffer coming back wakes it.
        if priv.pool_free:
            netif_wake_queue(dev)

    def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
        """``snull_config``: refuse while up; base_addr is fixed; irq may change."""
        if dev.is_up:
            return -errno.EBUSY
        if "base_addr" in ifmap and ifmap["base_addr"] != dev.base_addr:
            netdev_warn(dev, "can't change I/O address")
            # -EOPNOTSUPP as LDD's, with its reason for `netdrv set` (extack) as well
            raise OSError(errno.EOPNOTSUPP, f"can't change I/O address (fixed at "
                          f"{dev.base_addr:#x})")  # fmt: skip
        if "irq" in ifmap and ifmap["irq"] != dev.irq:
            dev.irq = ifmap["irq"]
        return 0

    def do_ioctl(self, dev: NetDevice, request: int, data: Any) -> Any:
        """``snull_ioctl`` (LDD's only prints): SIOCDEVPRIVATE reads the driver state, +1
        sets ``lockup``, +2 pulls or plugs the virtual cable."""
        priv = _priv(dev)
        if request == SNULL_IOC_GETSTATE:
            return {
                "pool_free": priv.pool_free,
                "rx_queue": len(priv.rx_queue),
                "lockups": priv.lockups,
                "lockup": priv.params["lockup"],
                "use_napi": priv.napi is not None,
                "tx_pending": priv.skb is not None,
                "pool_stops": priv.pool_stops,
            }
        if request == SNULL_IOC_SETLOCKUP:
            if not isinstance(data, int) or data < 0:
                return -errno.EINVAL
            priv.params["lockup"] = data  # a module parameter: both interfaces
            priv.lockup = data
            if priv.peer is not None:
                priv.peer.priv.lockup = data
            return 0
        if request == SNULL_IOC_SETCARRIER:
            if data not in (0, 1):
                return -errno.EINVAL
            # One cable joins the pair, so both ends sense it, as two NICs wired back to
            # back do; with the carrier off the core sends nothing (Linux's noop qdisc),
            # so no frame crosses a pulled cable.
            carrier = netif_carrier_on if data else netif_carrier_off
            carrier(dev)
            if priv.peer is not None:
                carrier(priv.peer)
            return 0
        return -errno.EOPNOTSUPP

    def set_rx_mode(self, dev: NetDevice) -> None:
        """Program the "hardware" multicast filter."""
        priv = _priv(dev)
        priv.filter_all_multi = bool(dev.flags & (IFF_PROMISC | IFF_ALLMULTI))
        priv.mc_filter = set(dev.mc_list)

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        """``snull_change_mtu``: 68..1500.

        Since Linux 4.10 the core refuses an MTU outside ``min_mtu``..``max_mtu`` before
        calling this (``ether_setup`` sets 68..1500), so LDD's check here is reached only
        if those bounds are widened.
        """
        if new_mtu < 68 or new_mtu > 1500:
            return -errno.EINVAL
        dev.mtu = new_mtu
        return 0


class SnullEthtool(EthtoolOps):
    """ethtool for snull: driver info, private counters and the transmit pool as the TX ring.

    snull has no receive ring: the receiver holds the *sender's* pool buffers
    (until its NAPI poll, or not at all without NAPI), so RX is ``n/a`` and
    the receive side is sized by the peer's TX ring.
    """

    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        """Driver name and version."""
        return DrvInfo(driver="snull", version=Snull.version, bus_info="virtual")

    def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
        """A virtual 10 Gbit/s full-duplex link."""
        return LinkSettings(speed=10000, duplex=DUPLEX_FULL)

    def get_strings(self, dev: NetDevice) -> list[str]:
        """Private counters."""
        return ["lockups", "pool_free", "pool_stops", "rx_queue"]

    def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
        """Values of the private counters."""
        p = _priv(dev)
        return [p.lockups, p.pool_free, p.pool_stops, len(p.rx_queue)]

    def get_ringparam(self, dev: NetDevice) -> RingParam:
        """TX: the pool size, up to the ``pool_size`` parameter's maximum."""
        return RingParam(tx_max_pending=SNULL_POOL_MAX, tx_pending=_priv(dev).pool_size)

    def set_ringparam(self, dev: NetDevice, ring: RingParam) -> int:
        """Resize the pool, at once, also while up; a pool of 0 could never transmit (EINVAL)."""
        if ring.tx_pending < 1:
            return -errno.EINVAL
        snull_resize_pool(dev, ring.tx_pending)
        return 0

    def get_test_strings(self, dev: NetDevice) -> list[str]:
        """The self-tests: the driver's state (always), the wire to the peer (offline)."""
        return list(SNULL_TEST_STRINGS)

    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Completion | None:
        """``ethtool -t``: :func:`snull_check_state` at once; offline, a frame over the wire
        too (:class:`SnullLoopback`), whose result comes later (a :class:`Completion`)."""
        data[0] = snull_check_state(dev)
        if data[0]:
            test.flags |= ETH_TEST_FL_FAILED
        if not test.flags & ETH_TEST_FL_OFFLINE:
            return None  # online: the loopback test sends a frame on the wire, so it is offline
        return SnullLoopback(dev, test, data).start()


# -- the self-test ---------------------------------------------------------------------------
def snull_check_state(dev: NetDevice) -> int:
    """The register test: the driver's bookkeeping agrees with itself; the number of rules
    broken (each is logged), 0 when all hold.

    A real NIC's register test writes patterns into its registers and reads them back;
    snull's "registers" are the fields of :class:`SnullPriv`, and what can be checked is
    that they tell one story: every buffer of the pool is free or at the peer, the
    queue is stopped exactly when the pool is empty, nothing waits for a poll that
    will not come, and the two interfaces are wired to each other.
    """
    priv = _priv(dev)
    peer = priv.peer
    broken = []
    if peer is None or peer.priv.peer is not dev:
        broken.append("the pair is not wired to each other (priv.peer)")
    else:
        out = priv.pool_size + priv.pool_excess - priv.pool_free
        if not 0 <= priv.pool_free <= priv.pool_size or priv.pool_excess < 0:
            broken.append(f"pool_free {priv.pool_free} outside 0..pool_size {priv.pool_size}")
        elif out != len(peer.priv.rx_queue):
            broken.append(f"{out} pool buffers are out, but the peer holds "
                          f"{len(peer.priv.rx_queue)}")  # fmt: skip
        if priv.pool_excess and priv.pool_free:
            broken.append("buffers held back by a shrunk pool while others are free")
    if dev.is_up:
        stopped = netif_queue_stopped(dev)
        if not priv.pool_free and not stopped:
            broken.append("the pool is empty but the queue is awake (start_xmit would say BUSY)")
        if priv.pool_free and priv.skb is None and stopped:
            broken.append("the queue is stopped with free buffers and no transmission pending")
    if priv.rx_queue and (priv.napi is None or priv.rx_int_enabled):
        broken.append(f"{len(priv.rx_queue)} received frames wait for a poll that is not "
                      "scheduled")  # fmt: skip
    for why in broken:
        netdev_warn(dev, "register test: %s", why)
    return len(broken)


class SnullLoopback:
    """The loopback test: one frame through the whole transmit path arrives at the peer.

    The frame — a UDP broadcast whose payload is :data:`_SELFTEST_MAGIC`, a nonce and
    a byte pattern — goes out through the core (``dev_queue_xmit``: qdisc, queue,
    ``start_xmit``, the address flip, the peer's receive path, NAPI or not, as any
    frame).  At the peer, :func:`snull_rx` recognises it and hands it to
    :meth:`received` instead of up the stack, as a NIC in loopback mode keeps its
    test frames from the host.  Traffic goes on meanwhile: the test frame is
    told apart by its contents.  The result, in ``data[1]``: 0, or
    :data:`SNULL_LB_LOST`, :data:`SNULL_LB_CORRUPT`, :data:`SNULL_LB_NOT_SENT`.
    """

    def __init__(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> None:
        self.dev, self.test, self.data = dev, test, data
        self.completion = Completion()
        self.header = _SELFTEST_MAGIC + os.urandom(8)  # which frame is this test's
        self.payload = self.header + bytes(range(64))
        self.timer: Any = None

    def start(self) -> Completion:
        """Send the frame and arm the timeout; the completion follows either."""
        dev = self.dev
        priv = _priv(dev)
        peer = priv.peer
        if not dev.is_up or peer is None or not peer.is_up:
            netdev_info(dev, "loopback test: needs both interfaces up")
            self.finish(SNULL_LB_NOT_SENT)
            return self.completion
        host = dev.host
        assert host is not None  # up, so registered
        priv.selftest = self
        self.timer = host.loop.call_later(SNULL_TEST_TIMEOUT, self.finish, SNULL_LB_LOST)
        if dev_queue_xmit(self.frame()) != 0 and not self.completion.done:
            self.finish(SNULL_LB_NOT_SENT)  # dropped before the driver saw it (a full qdisc)
        return self.completion

    def frame(self) -> SkBuff:
        """The test frame: Ethernet broadcast, IPv4 0.0.0.0 -> 255.255.255.255, UDP to the
        discard port, no UDP checksum (the payload is compared byte for byte)."""
        udp_len = 8 + len(self.payload)
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 1, 17,
                                   0, bytes(4), b"\xff" * 4))  # fmt: skip
        struct.pack_into("!H", ip, 10, ip_fast_csum(ip))
        skb = netdev_alloc_skb_ip_align(self.dev, ETH_HLEN + 20 + udp_len)
        skb.put_data(_BCAST + self.dev.dev_addr + b"\x08\x00" + ip
                     + struct.pack("!HHHH", 9, 9, udp_len, 0) + self.payload)  # fmt: skip
        skb.protocol = ETH_P_IP
        return skb

    def received(self, skb: SkBuff) -> bool:
        """The peer received a broadcast: if it is the test frame, check it and free it."""
        start = skb.data + ETH_HLEN + 28  # the UDP payload, after 20 + 8 header bytes
        got = bytes(skb.buf[start : skb.tail])
        if got[: len(self.header)] != self.header:
            return False  # another broadcast: up the stack as usual
        dev_kfree_skb(skb)
        # The frame may have been padded (ETH_ZLEN) but not changed.
        self.finish(0 if got[: len(self.payload)] == self.payload else SNULL_LB_CORRUPT)
        return True

    def finish(self, result: int) -> None:
        """Record the result (0: the frame came back intact) and complete the test."""
        if self.completion.done:
            return
        if self.timer is not None:
            self.timer.cancel()
        priv = _priv(self.dev)
        if priv.selftest is self:
            priv.selftest = None
        self.data[1] = result
        if result:
            self.test.flags |= ETH_TEST_FL_FAILED
            netdev_info(self.dev, "loopback test failed: %s",
                        {SNULL_LB_LOST: "the frame did not reach the peer",
                         SNULL_LB_CORRUPT: "the frame reached the peer changed",
                         SNULL_LB_NOT_SENT: "the frame could not be sent"}[result])  # fmt: skip
        self.completion.complete()


def _is_selftest_frame(skb: SkBuff) -> bool:
    """A broadcast that is a loopback test's frame (by its payload's start)."""
    start = skb.data + ETH_HLEN + 28  # the UDP payload, after 20 + 8 header bytes
    end = min(start + len(_SELFTEST_MAGIC), skb.tail)  # (past the tail: stale bytes)
    return bytes(skb.buf[start:end]) == _SELFTEST_MAGIC


# -- the pool -------------------------------------------------------------------------------
def snull_setup_pool(dev: NetDevice, pool_size: int) -> None:
    """Preallocate ``pool_size`` packet buffers (a count: see :class:`SnullPriv`)."""
    priv = _priv(dev)
    priv.pool_size = priv.pool_free = pool_size


def snull_resize_pool(dev: NetDevice, size: int) -> None:
    """Make the pool ``size`` buffers now; wake or stop the queue as the free count says.

    Buffers at the peer stay counted as taken: when more are out than the new
    size holds, the pool is empty until that many more have come back and been
    dropped (:attr:`SnullPriv.pool_excess`).
    """
    priv = _priv(dev)
    out = priv.pool_size + priv.pool_excess - priv.pool_free  # at the peer, not yet back
    priv.pool_size = size
    priv.pool_free = max(size - out, 0)
    priv.pool_excess = max(out - size, 0)
    if not dev.flags & IFF_UP:
        return  # open() starts the queue
    if priv.pool_free and netif_queue_stopped(dev) and priv.skb is None:
        netif_wake_queue(dev)
    elif not priv.pool_free and not netif_queue_stopped(dev):
        priv.pool_stops += 1
        netif_stop_queue(dev)


def snull_release_buffer(dev: NetDevice) -> None:
    """Give a buffer back to ``dev``'s pool; wake the queue if the pool had run dry."""
    priv = dev.priv
    if priv.pool_excess:  # the pool shrank while this buffer was out: it does not return
        priv.pool_excess -= 1
        return
    free = priv.pool_free + 1
    priv.pool_free = free
    if free == 1 and dev._drv_xoff and priv.skb is None and dev.flags & IFF_UP:
        netif_wake_queue(dev)


# -- the "hardware" (its transmit side is SnullOps.start_xmit) --------------------------------
def _pad(skb: SkBuff) -> SkBuff:
    """``skb`` padded with zeros to ETH_ZLEN (a copy, the original freed, when it has no
    tailroom for it)."""
    short = ETH_ZLEN - (skb.tail - skb.data)
    if skb.end - skb.tail < short:
        padded = skb.copy(tailroom=short)
        dev_kfree_skb(skb)
        skb = padded
    skb.put_data(bytes(short))
    return skb


def snull_rx(dev: NetDevice, skb: SkBuff) -> SkBuff | None:
    """``snull_rx``: receive the frame the peer transmitted; the skb to pass up (the caller
    hands it to ``netif_rx`` or, polling, to ``napi_gro_receive``), None when it was dropped.

    ``skb`` is the peer's transmitted skb (see :meth:`SnullOps.start_xmit`): it is
    received as it is when its IP header is 4-byte aligned (the TAP reader's
    skbs are), or for a frame over :data:`SNULL_COPYBREAK` (a TSO super-frame);
    otherwise it is copied into a fresh skb with the IP header aligned, as
    LDD's ``dev_alloc_skb(len + 2)`` + ``skb_reserve(skb, 2)`` does, and freed.
    """
    buf = skb.buf
    off = skb.data
    # The destination is classified once, before a copy (which keeps the bytes).
    if buf[off] & 1:
        dst = bytes(buf[off : off + 6])
        if dst == _BCAST:
            # The peer's loopback test (a broadcast, so that it comes here on every path)
            # is checked by the "hardware" and goes no further up.
            test = dev.priv.peer.priv.selftest
            if test is not None and test.received(skb):
                return None
            if _is_selftest_frame(skb):  # one whose test gave up (it came late): no frame either
                dev_kfree_skb(skb)
                return None
            pkt_type = PACKET_BROADCAST
        else:
            priv = dev.priv
            if not priv.filter_all_multi and dst not in priv.mc_filter:
                dev.stats.rx_dropped += 1  # multicast we did not join: the filter drops it
                dev_kfree_skb(skb)
                return None
            pkt_type = PACKET_MULTICAST
    else:
        pkt_type = PACKET_HOST
    length = skb.tail - off
    if (off + ETH_HLEN) & 3 and length <= SNULL_COPYBREAK:
        skb = _rx_copy(skb, off, length)
        off = skb.data
    # eth_type_trans(), with what the "hardware" already knows: the frame is
    # IPv4 and a unicast destination is this device's own address.
    skb.dev = dev
    skb.mac_header = off
    skb.data = skb.network_header = off + ETH_HLEN
    skb.protocol = ETH_P_IP
    skb.pkt_type = pkt_type
    stats = dev.stats
    if pkt_type:  # PACKET_HOST is 0
        stats.multicast += 1
    if skb.ip_summed == CHECKSUM_PARTIAL:
        skb.transport_header = skb.csum_start
    else:
        skb.ip_summed = CHECKSUM_UNNECESSARY  # we checked (and kept) the checksums
    stats.rx_packets += 1
    stats.rx_bytes += length
    return skb


def _rx_copy(skb: SkBuff, off: int, length: int) -> SkBuff:
    """The frame at ``skb.buf[off:]`` copied into a fresh skb, IP header aligned; ``skb`` freed."""
    data = skb.buf
    if off >= _RX_RESERVE:
        # dev_alloc_skb(len + 2) + skb_reserve(2) + memcpy in one step: a slice of
        # the frame and the bytes before it (they become headroom) is one
        # allocation and one copy, without zero-filling first.
        new = SkBuff(0, data[off - _RX_RESERVE : off + length])
    else:
        new = dev_alloc_skb(length + 2)
        new.buf[_RX_RESERVE:] = memoryview(data)[off : off + length]
    new.data = _RX_RESERVE
    new.tail = _RX_RESERVE + length
    if skb.ip_summed == CHECKSUM_PARTIAL:
        new.ip_summed = CHECKSUM_PARTIAL
        new.csum_start = skb.csum_start - off + _RX_RESERVE
        new.csum_offset = skb.csum_offset
        new.gso_size = skb.gso_size
        new.gso_type = skb.gso_type
    dev_kfree_skb(skb)
    return new


def snull_poll(napi: NapiStruct, budget: int) -> int:
    """NAPI poll: receive up to ``budget`` packets, re-enable interrupts when done.

    LDD's snull hands each packet to ``netif_receive_skb``; this one, as drivers
    do since, to ``napi_gro_receive``, which merges a TCP flow's segments into
    super-frames (``ethtool -K sn0 gro off`` hands them up one by one again).
    """
    dev = napi.dev
    priv = dev.priv
    rxq = priv.rx_queue
    sender = priv.peer
    spriv = sender.priv
    npackets = 0
    gro = dev.host.napi_gro_receive  # type: ignore[union-attr]  # polled only while registered
    while npackets < budget and rxq:
        skb = snull_rx(dev, rxq.popleft())  # snull_dequeue_buf() and the receive
        if skb is not None:
            gro(napi, skb)
        # snull_release_buffer(sender); the usual buffer, one the pool takes back without
        # a wake-up, without the call (it runs for every packet polled).
        if spriv.pool_excess or spriv.pool_free == 0:
            snull_release_buffer(sender)
        else:
            spriv.pool_free += 1
        npackets += 1
    # LDD3: "if (napi_complete_done(napi, npackets)) snull_rx_ints(dev, 1)": False means
    # a schedule came during the poll, the context stays scheduled and is polled again,
    # so the interrupt stays masked until that poll completes.
    if npackets < budget and napi_complete_done(napi, npackets):
        priv.rx_int_enabled = True  # snull_rx_ints(dev, 1)
        if rxq:  # arrived while we were finishing: reschedule
            priv.rx_int_enabled = False
            napi_schedule(napi)
    return npackets


def snull_setup(dev: NetDevice) -> None:
    """``snull_init``: Ethernet, NOARP, the snull ops, hardware checksum offload."""
    ether_setup(dev)
    dev.flags |= IFF_NOARP
    dev.features |= NETIF_F_HW_CSUM
    dev.netdev_ops = SnullOps()
    dev.ethtool_ops = SnullEthtool()
    dev.disable_ipv6 = True
    dev.rx_csum_unnecessary = True


class Snull(Driver):
    """The LDD snull pair."""

    name = "snull"
    summary = "the LDD snull pair sn0/sn1: traffic loops back with flipped addresses"
    version = "2.0"
    parameters = (
        Param("eth", bool, False, "name the interfaces eth%d instead of sn0/sn1"),
        Param("lockup", int, 0, "simulate a lockup every N packets (0: never)", min=0),
        Param("timeout", int, 5, "transmit watchdog timeout (watchdog_timeo; LDD: 5 jiffies)",
              min=1, max=SNULL_TIMEOUT_MAX, unit="ms"),
        Param("use_napi", bool, False, "receive through NAPI with a budget"),
        Param("pool_size", int, 8, "transmit packet pool per interface", min=1,
              max=SNULL_POOL_MAX),
        Param("napi_weight", int, 64, "NAPI budget per poll", min=1, max=1024),
        Param("offload", bool, True,
              "start with checksum/TSO offloads on (virtio-net header on the kernel "
              "attachment; netdrv ethtool -K changes them later)"),
        Param("configure", bool, True, "assign addresses and bring the pair up on load"),
        Param("addr0", ip_interface, "198.18.0.1/24",
              "address of the first interface (LDD's local0), a /24 to /30"),
        Param("addr1", ip_interface, "198.18.1.2/24",
              "address of the second interface (local1): addr0 with the third octet's lowest "
              "bit flipped and another host part"),
    )  # fmt: skip

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """addr0 and addr1 must form a snull pair (:func:`snull_remotes`) when they are used."""
        if params["configure"]:
            snull_remotes(params["addr0"], params["addr1"])

    def init(self) -> None:
        """``snull_init_module``: allocate, wire and register the pair (``netdrv unload``
        unregisters them: ``snull_cleanup``)."""
        p = self.params
        self.check_params(p)  # before anything exists (also when not loaded by netdrv load)
        devs = []
        for i in range(2):
            dev = alloc_netdev(SnullPriv, "eth%d" if p["eth"] else "sn%d", snull_setup)
            priv = _priv(dev)
            priv.params = p
            priv.lockup = p["lockup"]
            dev.watchdog_timeo = p["timeout"] / 1000.0
            dev.dev_addr = SNULL_MAC[:5] + bytes([SNULL_MAC[5] ^ i])
            # What `netdrv ethtool -K` may turn on and off; `offload` is the start.
            dev.hw_features = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_TSO6
            if p["offload"]:
                dev.features |= NETIF_F_SG | NETIF_F_TSO | NETIF_F_TSO6
            else:
                dev.features &= ~NETIF_F_HW_CSUM
            # Its "hardware" is software: behind a VLAN tag it offloads what it does without
            # one (whichever of those `ethtool -K` leaves on: netif_skb_features intersects).
            dev.vlan_features = dev.hw_features
            snull_setup_pool(dev, p["pool_size"])
            if p["use_napi"]:
                priv.napi = netif_napi_add(dev, snull_poll, p["napi_weight"])
            devs.append(dev)
        _priv(devs[0]).peer = devs[1]
        _priv(devs[1]).peer = devs[0]
        for dev in devs:
            self.register(dev)

    def configure(self) -> None:
        """Addresses from the benchmarking range, links up (``configure=0`` skips it)."""
        if not self.params["configure"]:
            return
        att = self.host.attachment
        for dev, key in zip(self.devices, ("addr0", "addr1"), strict=True):
            att.add_address(dev, self.params[key])
            ret = att.set_link_up(dev)
            if ret:
                raise OSError(-ret, f"{dev.name}: open failed")

    def describe(self) -> str:
        """What to ping."""
        if not self.params["configure"] or len(self.devices) != 2:
            return self.summary
        import ipaddress

        a = ipaddress.ip_interface(self.params["addr0"])
        b = ipaddress.ip_interface(self.params["addr1"])
        ra, rb = snull_remotes(self.params["addr0"], self.params["addr1"])
        d0, d1 = self.devices
        return (
            f"{d0.name} {a} <-> {d1.name} {b}: ping {ra} (out {d0.name}, in {d1.name}), "
            f"ping {rb} (out {d1.name}, in {d0.name})"
        )


def snull_remotes(addr0: str, addr1: str) -> tuple[str, str]:
    """LDD's remote0 and remote1 for ``addr0``/``addr1`` (local0, local1); ParameterError if none.

    remote0 is the address that arrives on the second interface as local1 once
    the third octet's low bit is flipped (local1 flipped back), so it must lie
    on the first interface's network, and be neither local0 nor that network's
    own or broadcast address; likewise remote1.  With LDD's numbers: local0
    192.168.0.1/24, local1 192.168.1.2/24 give remote0 192.168.0.2 and remote1
    192.168.1.1.  The networks must be /24 or longer, or the flipped bit would
    be a host bit and both networks one.
    """
    import ipaddress

    example = "e.g. addr0=198.18.0.1/24 addr1=198.18.1.2/24 (LDD's: 192.168.0.1/24, 192.168.1.2/24)"
    given = f"addr0={addr0} addr1={addr1}"
    ifaces = [ipaddress.ip_interface(addr0), ipaddress.ip_interface(addr1)]
    for key, iface in zip(("addr0", "addr1"), ifaces, strict=True):
        if iface.version != 4:
            raise ParameterError(
                f"driver 'snull': {key}={iface} is not IPv4: snull flips IPv4 addresses "
                f"only (IPv6 is off on the pair); {example}"
            )
        if not 24 <= iface.network.prefixlen <= 30:
            raise ParameterError(
                f"driver 'snull': {key}={iface} has a /{iface.network.prefixlen} prefix: "
                f"snull flips the lowest bit of the third octet, so each interface needs a "
                f"network of its own from /24 (LDD's class C) to /30; write the prefix, {example}"
            )
    remotes = []
    for i in (0, 1):
        local, other = ifaces[i], ifaces[1 - i]
        packed = bytearray(other.ip.packed)
        packed[2] ^= 1
        remote = ipaddress.IPv4Address(bytes(packed))
        net = local.network
        if remote not in net or remote in (net.network_address, net.broadcast_address):
            raise ParameterError(
                f"driver 'snull': {given} do not form a snull pair: the addresses must differ "
                f"only in the lowest bit of the third octet and in the host part, so that "
                f"addr{1 - i} with that bit flipped ({remote}) is a host on addr{i}'s network "
                f"{net}; {example}"
            )
        if remote == local.ip:
            raise ParameterError(
                f"driver 'snull': {given} have the same host part, so the remote host of "
                f"{net} would be {local.ip} itself and pings would never leave the machine; "
                f"LDD's rule: local0's host part is remote1's and local1's is remote0's, and "
                f"the two differ; {example}"
            )
        remotes.append(str(remote))
    return remotes[0], remotes[1]
