"""snull, after LDD chapter 14 (``snull.c``), on netdrv.

Two interfaces, sn0 and sn1 (``eth=1``: eth%d), wired to each other: what
sn0 transmits arrives on sn1 and vice versa, with the third octet of the
source and destination IPv4 addresses flipped so that the kernel sees it as
coming from another host.  Everything the chapter shows is here: the
"hardware" transmit with its TX-done and RX interrupts, the packet pool
(``pool_size``; empty pool → stop the queue), simulated lockups
(``lockup=N``) recovered by the watchdog's ``tx_timeout``, NAPI reception
(``use_napi=1``), ``set_config`` refusing changes while up, the 68..1500 MTU
rule, a private ioctl and full statistics.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from typing import Any

from netdrv_core import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    ETH_HLEN,
    ETH_ZLEN,
    IFF_ALLMULTI,
    IFF_NOARP,
    IFF_PROMISC,
    IFF_UP,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    SIOCDEVPRIVATE,
    Driver,
    NapiStruct,
    NetDevice,
    NetDeviceOps,
    Param,
    SkBuff,
    alloc_netdev,
    dev_alloc_skb,
    dev_kfree_skb,
    eth_type_trans,
    ether_setup,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_schedule,
    netif_carrier_off,
    netif_carrier_on,
    netif_napi_add,
    netif_receive_skb,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
)
from netdrv_core.ethtool import DUPLEX_FULL, DrvInfo, EthtoolOps, LinkSettings
from netdrv_core.netdevice import NETIF_F_HW_CSUM, NETIF_F_SG, NETIF_F_TSO, NETIF_F_TSO6
from netdrv_core.skbuff import NET_SKB_PAD

from .ipv4 import FlipError, flip_ipv4

log = logging.getLogger("netdrv.snull")

SNULL_RX_INTR = 0x0001
SNULL_TX_INTR = 0x0002
SNULL_MAC = b"\x00SNUL0"
SNULL_IOC_GETSTATE = SIOCDEVPRIVATE
SNULL_IOC_SETLOCKUP = SIOCDEVPRIVATE + 1
SNULL_IOC_SETCARRIER = SIOCDEVPRIVATE + 2  # pull (0) or plug (1) the virtual cable
# Frames longer than this are received in place instead of copied into a new skb
# (a normal Ethernet frame is copied, as in LDD; a 64 KiB TSO super-frame is not).
SNULL_COPYBREAK = 2048
_BCAST = b"\xff" * 6
_NO_DATA = bytearray()
_RX_RESERVE = NET_SKB_PAD + 2  # headroom of a received skb: the IP header 16-byte aligned


class SnullPacket:
    """``struct snull_packet``: one buffer of the transmit pool.

    The "hardware" reads the frame where the skb holds it, as a NIC's DMA
    engine does: :attr:`data` is the transmitted skb's buffer and the frame
    starts at :attr:`off`, so transmitting copies nothing.  The receiving side
    copies it into a fresh, aligned skb (LDD's ``snull_rx``) — or, for a frame
    longer than :data:`SNULL_COPYBREAK` (a 64 KiB TSO super-frame), builds its
    skb around that buffer, like the kernel's ``build_skb``.  The transmitted
    skb is freed by the TX-done interrupt and never written again, so sharing
    its buffer is safe; a released packet drops the reference.
    """

    __slots__ = (
        "csum_offset",
        "csum_start",
        "data",
        "datalen",
        "dev",
        "gso_size",
        "gso_type",
        "ip_summed",
        "off",
    )  # fmt: skip

    def __init__(self, dev: NetDevice) -> None:
        self.dev = dev
        self.data: bytearray = _NO_DATA
        self.off = 0
        self.datalen = 0
        self.ip_summed = CHECKSUM_NONE
        self.csum_start = 0
        self.csum_offset = 0
        self.gso_size = 0
        self.gso_type = 0


class SnullPriv:
    """``struct snull_priv``."""

    def __init__(self) -> None:
        self.ppool: list[SnullPacket] = []
        self.rx_queue: deque[SnullPacket] = deque()
        self.rx_int_enabled = True
        self.tx_packetlen = 0
        self.status = 0
        self.skb: SkBuff | None = None  # the skb whose TX-done interrupt is pending
        self.napi: NapiStruct | None = None
        self.peer: NetDevice | None = None
        self.lockups = 0
        self.pool_stops = 0
        self.mc_filter: set[bytes] = set()
        self.filter_all_multi = False
        self.params: dict[str, Any] = {}


def _priv(dev: NetDevice) -> SnullPriv:
    return dev.priv  # type: ignore[no-any-return]


class SnullOps(NetDeviceOps):
    """``snull_netdev_ops``."""

    def open(self, dev: NetDevice) -> int:
        """Start the queue (LDD assigns the MAC here; we do it at setup so the TAP has it)."""
        priv = _priv(dev)
        if priv.napi is not None:
            napi_enable(priv.napi)
        priv.rx_int_enabled = True
        netif_start_queue(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        """Stop the queue; a pending transmission is completed as an error."""
        priv = _priv(dev)
        netif_stop_queue(dev)
        if priv.napi is not None:
            napi_disable(priv.napi)
        if priv.skb is not None:
            dev.stats.tx_errors += 1
            dev_kfree_skb(priv.skb)
            priv.skb = None
        while priv.rx_queue:
            pkt = priv.rx_queue.popleft()
            dev.stats.rx_dropped += 1
            snull_release_buffer(pkt)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """``snull_tx``: pad to ETH_ZLEN, note the time, hand the frame to the "hardware"."""
        priv = dev.priv
        if not priv.ppool:
            return NETDEV_TX_BUSY  # the pool is empty: the queue should have been stopped
        short = ETH_ZLEN - (skb.tail - skb.data)
        if short > 0:
            if skb.end - skb.tail < short:
                padded = skb.copy(tailroom=short)
                dev_kfree_skb(skb)
                skb = padded
            skb.put_data(bytes(short))
        dev.trans_start = dev.host.loop.clock()  # netif_trans_update(); LDD3: = jiffies
        priv.skb = skb
        snull_hw_tx(skb, dev)
        return NETDEV_TX_OK

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        """``snull_tx_timeout``: the TX-done interrupt was lost; complete it as an error."""
        priv = _priv(dev)
        log.info("%s: transmit timeout, recovering", dev.name)
        priv.lockups += 1
        if priv.skb is not None:
            # LDD counts tx_packets (through the interrupt) *and* tx_errors for this
            # packet; here each skb ends exactly once, so it is an error only.
            dev.stats.tx_errors += 1
            dev_kfree_skb(priv.skb)
            priv.skb = None
            priv.status &= ~SNULL_TX_INTR
        netif_wake_queue(dev)

    def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
        """``snull_config``: refuse while up; base_addr is fixed; irq may change."""
        if dev.is_up:
            return -errno.EBUSY
        if "base_addr" in ifmap and ifmap["base_addr"] != dev.base_addr:
            log.warning("%s: can't change I/O address", dev.name)
            return -errno.EOPNOTSUPP
        if "irq" in ifmap and ifmap["irq"] != dev.irq:
            dev.irq = ifmap["irq"]
        return 0

    def do_ioctl(self, dev: NetDevice, request: int, data: Any) -> Any:
        """Private ioctls: SIOCDEVPRIVATE reads the driver state, +1 sets ``lockup``."""
        priv = _priv(dev)
        if request == SNULL_IOC_GETSTATE:
            return {
                "pool_free": len(priv.ppool),
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
            priv.params["lockup"] = data
            return 0
        if request == SNULL_IOC_SETCARRIER:
            if data not in (0, 1):
                return -errno.EINVAL
            (netif_carrier_on if data else netif_carrier_off)(dev)
            return 0
        return -errno.EOPNOTSUPP

    def set_rx_mode(self, dev: NetDevice) -> None:
        """Program the "hardware" multicast filter."""
        priv = _priv(dev)
        priv.filter_all_multi = bool(dev.flags & (IFF_PROMISC | IFF_ALLMULTI))
        priv.mc_filter = set(dev.mc_list)

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        """``snull_change_mtu``: 68..1500."""
        if new_mtu < 68 or new_mtu > 1500:
            return -errno.EINVAL
        dev.mtu = new_mtu
        return 0


class SnullEthtool(EthtoolOps):
    """ethtool for snull: driver info and private counters."""

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
        return [p.lockups, len(p.ppool), p.pool_stops, len(p.rx_queue)]


# -- the pool -------------------------------------------------------------------------------
def snull_setup_pool(dev: NetDevice, pool_size: int) -> None:
    """Preallocate ``pool_size`` packets."""
    _priv(dev).ppool = [SnullPacket(dev) for _ in range(pool_size)]


def snull_get_tx_buffer(dev: NetDevice) -> SnullPacket | None:
    """Take a packet from the pool; stop the queue when it runs empty (LDD)."""
    priv = dev.priv
    pool = priv.ppool
    if not pool:
        return None
    pkt = pool.pop()
    if not pool:
        log.debug("%s: pool empty", dev.name)
        priv.pool_stops += 1
        netif_stop_queue(dev)
    return pkt


def snull_release_buffer(pkt: SnullPacket) -> None:
    """Give a packet back to its pool; wake the queue if the pool had run dry."""
    pkt.data = _NO_DATA  # do not keep the sender's buffer alive
    dev = pkt.dev
    priv = dev.priv
    pool = priv.ppool
    pool.append(pkt)
    if dev._queue_stopped and len(pool) == 1 and priv.skb is None and dev.flags & IFF_UP:
        netif_wake_queue(dev)


# -- the "hardware" --------------------------------------------------------------------------
# This runs for every packet, so it reads fields directly (``dev.priv`` rather
# than ``netdev_priv(dev)``, ``dev._queue_stopped`` rather than
# ``netif_queue_stopped(dev)``): each call saved is ~5 % of the per-packet cost.
def snull_hw_tx(skb: SkBuff, dev: NetDevice) -> None:
    """``snull_hw_tx``: rewrite, flip, deliver to the peer, raise the interrupts."""
    priv = dev.priv
    buf = skb.buf
    data = skb.data
    end = skb.tail
    if end - data < ETH_HLEN + 20 or buf[data + 12] != 0x08 or buf[data + 13]:  # ETH_P_IP
        # snull routes IPv4 only (IPv6 is disabled on the pair); anything else is dropped.
        dev.stats.tx_dropped += 1
        priv.skb = None
        dev_kfree_skb(skb)
        return
    peer = priv.peer
    # The hard_header trick: the kernel addressed the frame to our own MAC
    # (NOARP); rewrite the destination to the peer's, as LDD's header does.
    if not buf[data] & 1:
        buf[data : data + 6] = peer.dev_addr
    buf[data + 6 : data + 12] = dev.dev_addr
    ip_summed = skb.ip_summed
    try:
        flip_ipv4(buf, data + ETH_HLEN, end,
                  skb.csum_start + skb.csum_offset if ip_summed == CHECKSUM_PARTIAL else -1)  # fmt: skip
    except FlipError as exc:
        log.debug("%s: dropping frame: %s", dev.name, exc)
        dev.stats.tx_dropped += 1
        priv.skb = None
        dev_kfree_skb(skb)
        return
    pkt = snull_get_tx_buffer(dev)
    if pkt is None:  # cannot happen: start_xmit checked
        dev.stats.tx_dropped += 1
        priv.skb = None
        dev_kfree_skb(skb)
        return
    length = end - data
    pkt.data = buf  # the "DMA" reads the frame from the skb: see SnullPacket
    pkt.off = data
    pkt.datalen = length
    pkt.ip_summed = ip_summed
    if ip_summed == CHECKSUM_PARTIAL:
        pkt.csum_start = skb.csum_start - data
        pkt.csum_offset = skb.csum_offset
        pkt.gso_size = skb.gso_size
        pkt.gso_type = skb.gso_type
    # Receive side: enqueue and raise the peer's RX interrupt.
    ppriv = peer.priv
    if not peer.flags & IFF_UP:
        peer.stats.rx_dropped += 1
        snull_release_buffer(pkt)
    else:
        ppriv.rx_queue.append(pkt)
        if ppriv.rx_int_enabled:
            ppriv.status |= SNULL_RX_INTR
            snull_interrupt(peer)
    # Transmit side: the TX-done interrupt, unless this is a simulated lockup.
    priv.tx_packetlen = length
    lockup = priv.params["lockup"]
    if lockup and (dev.stats.tx_packets + dev.stats.tx_errors + 1) % lockup == 0:
        # Simulate a dropped transmit interrupt.  LDD leaves SNULL_TX_INTR in the
        # status word, so the next RX interrupt quietly completes it; here the
        # interrupt is really lost and only the watchdog's tx_timeout recovers.
        netif_stop_queue(dev)
        log.debug("%s: simulated lockup", dev.name)
    else:
        priv.status |= SNULL_TX_INTR
        snull_interrupt(dev)


def snull_interrupt(dev: NetDevice) -> None:
    """The interrupt handler (regular or NAPI flavour)."""
    priv = dev.priv
    status = priv.status
    priv.status = 0
    if status & SNULL_RX_INTR:
        if priv.napi is not None:
            priv.rx_int_enabled = False  # snull_rx_ints(dev, 0)
            napi_schedule(priv.napi)
        else:
            rxq = priv.rx_queue
            rx = dev.host.netif_rx  # what netif_rx(skb) calls, without the extra hop
            while rxq:
                pkt = rxq.popleft()
                snull_rx(dev, pkt, rx)
                snull_release_buffer(pkt)
    if status & SNULL_TX_INTR:
        stats = dev.stats
        stats.tx_packets += 1
        stats.tx_bytes += priv.tx_packetlen
        skb = priv.skb
        priv.skb = None
        if skb is not None:
            dev_kfree_skb(skb)
        if dev._queue_stopped and priv.ppool and dev.flags & IFF_UP:
            netif_wake_queue(dev)


def snull_rx(dev: NetDevice, pkt: SnullPacket, deliver: Any) -> None:
    """``snull_rx``: copy the packet into a fresh skb and pass it up.

    A large frame (see :class:`SnullPacket`) is not copied: the skb is built
    around the buffer the "DMA" left it in, like the kernel's ``build_skb``.
    """
    data = pkt.data
    off = pkt.off
    if data[off] & 1:
        priv = dev.priv
        dst = bytes(data[off : off + 6])
        if dst != _BCAST and not priv.filter_all_multi and dst not in priv.mc_filter:
            dev.stats.rx_dropped += 1  # multicast we did not join: the filter drops it
            return
    length = pkt.datalen
    if length > SNULL_COPYBREAK:
        skb = SkBuff(0, data)  # build_skb(): around the buffer the frame is in
        skb.data = off
        skb.tail = skb.end = off + length
    elif off >= _RX_RESERVE:
        # dev_alloc_skb(len + 2) + skb_reserve(2) + memcpy in one step: a slice of
        # the frame and the bytes before it (they become headroom) is one
        # allocation and one copy, without zero-filling first — half the cost.
        skb = SkBuff(0, data[off - _RX_RESERVE : off + length])
        skb.data = _RX_RESERVE
        skb.tail = _RX_RESERVE + length
    else:
        skb = dev_alloc_skb(length + 2)
        skb.buf[_RX_RESERVE:] = memoryview(data)[off : off + length]
        skb.data = _RX_RESERVE
        skb.tail = _RX_RESERVE + length
    base = skb.data
    eth_type_trans(skb, dev)
    if pkt.ip_summed == CHECKSUM_PARTIAL:
        skb.ip_summed = CHECKSUM_PARTIAL
        skb.csum_start = base + pkt.csum_start
        skb.csum_offset = pkt.csum_offset
        skb.gso_size = pkt.gso_size
        skb.gso_type = pkt.gso_type
        skb.transport_header = skb.csum_start
    else:
        skb.ip_summed = CHECKSUM_UNNECESSARY  # we checked (and kept) the checksums
    stats = dev.stats
    stats.rx_packets += 1
    stats.rx_bytes += length
    if data[off] & 1:
        stats.multicast += 1
    deliver(skb)


def snull_poll(napi: NapiStruct, budget: int) -> int:
    """NAPI poll: receive up to ``budget`` packets, re-enable interrupts when done."""
    dev = napi.dev
    priv = dev.priv
    rxq = priv.rx_queue
    npackets = 0
    while npackets < budget and rxq:
        pkt = rxq.popleft()
        snull_rx(dev, pkt, netif_receive_skb)
        snull_release_buffer(pkt)
        npackets += 1
    if npackets < budget:
        napi_complete_done(napi, npackets)
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


def _ip_interface(text: str) -> str:
    """An ADDRESS/PREFIX parameter, checked when parsed (ValueError says what is wrong)."""
    import ipaddress

    ipaddress.ip_interface(text)
    return text


class Snull(Driver):
    """The LDD snull pair."""

    name = "snull"
    summary = "the LDD snull pair sn0/sn1: traffic loops back with flipped addresses"
    version = "2.0"
    parameters = (
        Param("eth", bool, False, "name the interfaces eth%d instead of sn0/sn1"),
        Param("lockup", int, 0, "simulate a lockup every N packets (0: never)", min=0),
        Param("timeout", int, 5, "transmit watchdog timeout", min=1, unit="ms"),
        Param("use_napi", bool, False, "receive through NAPI with a budget"),
        Param("pool_size", int, 8, "transmit packet pool per interface", min=1, max=65536),
        Param("napi_weight", int, 64, "NAPI budget per poll", min=1, max=1024),
        Param("offload", bool, True,
              "declare checksum/TSO offloads (virtio-net header on the kernel attachment)"),
        Param("configure", bool, True, "assign addresses and bring the pair up on load"),
        Param("addr0", _ip_interface, "198.18.0.1/24", "address of the first interface"),
        Param("addr1", _ip_interface, "198.18.1.2/24", "address of the second interface"),
    )  # fmt: skip

    def init(self) -> None:
        """``snull_init_module``: allocate, wire and register the pair."""
        p = self.params
        devs = []
        for i in range(2):
            dev = alloc_netdev(SnullPriv, "eth%d" if p["eth"] else "sn%d", snull_setup)
            priv = _priv(dev)
            priv.params = p
            dev.watchdog_timeo = p["timeout"] / 1000.0
            dev.dev_addr = SNULL_MAC[:5] + bytes([SNULL_MAC[5] ^ i])
            if p["offload"]:
                dev.features |= NETIF_F_SG | NETIF_F_TSO | NETIF_F_TSO6
            else:
                dev.features &= ~NETIF_F_HW_CSUM
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
        ra = _remote(a)
        rb = _remote(b)
        d0, d1 = self.devices
        return (
            f"{d0.name} {a} <-> {d1.name} {b}: ping {ra} (out {d0.name}, in {d1.name}), "
            f"ping {rb} (out {d1.name}, in {d0.name})"
        )


def _remote(iface: Any) -> str:
    """LDD's "remote" host of a network: local0 .0.1 has remote0 .0.2, local1 .1.2 has remote1 .1.1."""
    import ipaddress

    packed = bytearray(iface.ip.packed)
    packed[3] = 2 if packed[3] == 1 else 1
    return str(ipaddress.ip_address(bytes(packed)))
