"""Nothing is lost: every skb handed to a driver or to the stack ends exactly once, counted.

Two hypothesis state machines drive a :class:`Host` on the memory attachment and a
test driver whose behaviour the machine chooses as well.

* Transmit: the stack sends frames (``dev_queue_xmit``) on a single-queue or a
  4-queue device whose ``real_num_tx_queues`` changes; ``start_xmit`` keeps the skb
  on a ring it completes later (with or without Byte Queue Limits), stopping the
  queue when the ring is full, drops or sends it at once, answers
  ``NETDEV_TX_BUSY`` after stopping the queue or — the driver bug Linux tolerates —
  without, or raises.  The driver completes and wakes; the loop runs (BUSY retries
  are timers); the device goes down and up, loses its carrier, is detached and
  attached, changes MTU and ``tx_queue_len``.  After every step each skb handed to
  ``dev_queue_xmit`` is in exactly one place: given to ``start_xmit`` (then the
  driver's: on its ring, or freed and counted in its statistics), dropped by the
  core (freed, ``core_stats.tx_qdisc_drops``) or held in a qdisc — none freed
  twice, none given to ``start_xmit`` twice.
* Receive: the driver hands frames up with ``netif_rx``, ``netif_receive_skb`` or
  from a NAPI poll (``napi_gro_receive``, which merges TCP segments, and
  ``napi_complete_done``), with the device up or down, the backlog and the stack's
  queue filling.  Each skb handed up is delivered to the memory stack, dropped and
  counted (``rx_backlog_drops``, ``rx_down_drops``) or still held (backlog, GRO).

Both also check that ``dev_get_stats`` reports the core's drops plus the driver's.

Carrier: whether carrier off drops what the qdiscs hold (Linux's ``dev_deactivate``)
or leaves it queued, the books must balance; the machine does not say which happens.
"""

from __future__ import annotations

import logging
from collections import Counter, deque

import pytest
from fakedev import FakeClock, rx_skb
from frames import ETH_P_IP, TCP_ACK, eth_frame, tcp_packet, udp_packet
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from netdrv_core import (
    NET_RX_DROP,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    Host,
    NetDevice,
    NetDeviceOps,
    NetdevQueue,
    SkbError,
    SkBuff,
    alloc_etherdev,
    alloc_etherdev_mq,
    alloc_skb,
    dev_kfree_skb,
    netdev_get_tx_queue,
    netdev_tx_completed_queue,
    netdev_tx_reset_queue,
    netdev_tx_sent_queue,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_device_attach,
    netif_device_detach,
    netif_receive_skb,
    netif_rx,
    netif_set_real_num_tx_queues,
    netif_start_queue,
    netif_stop_queue,
    netif_tx_disable,
    netif_tx_start_all_queues,
    netif_tx_stop_queue,
    netif_tx_wake_all_queues,
    netif_tx_wake_queue,
    netif_wake_queue,
)
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.loop import EventLoop
from netdrv_core.napi import (
    NapiStruct,
    napi_complete_done,
    napi_enable,
    napi_gro_receive,
    napi_schedule,
    netif_napi_add,
)
from netdrv_core.netdevice import IFF_UP, dev_get_stats

MAC = b"\x02\x00\x00\x00\x00\x10"
PEER = b"\x02\x00\x00\x00\x00\x20"
SETTINGS = settings(
    max_examples=100, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


def _quiet() -> tuple[logging.Logger, int]:
    """Driver faults and BUSY warnings by the hundred: not what these machines read."""
    log = logging.getLogger("netdrv")
    level = log.level
    log.setLevel(logging.CRITICAL)
    return log, level


LINK_EVENTS = ("ifdown", "ifup", "ifup", "carrier off", "carrier on", "carrier on", "detach",
               "attach", "attach", "mtu 576", "mtu 1500")  # fmt: skip
"""What happens to a device besides traffic (the ones that bring it back: more often)."""


def link_event(host: Host, dev: NetDevice, event: str) -> None:
    """``ip link set DEV down/up/mtu N``, the carrier, a suspend and resume."""
    if event == "ifdown":
        host.dev_close(dev)
    elif event == "ifup":
        host.dev_open(dev)  # -ENODEV while detached
    elif event.startswith("carrier"):
        (netif_carrier_on if event.endswith("on") else netif_carrier_off)(dev)
    elif event == "detach":
        netif_device_detach(dev)
    elif event == "attach":
        netif_device_attach(dev)
    else:
        host.dev_set_mtu(dev, int(event.split()[1]))


# -- transmit ---------------------------------------------------------------------------------
XMIT_MODES = ("ring", "send", "drop", "busy", "busy_awake", "raise")
XMIT_SIDES = ("none", "none", "reap", "wake all", "carrier off", "carrier on")
"""What ``start_xmit`` does first: nothing, reap its TX rings (as drivers without a TX
interrupt do), wake every queue, or see the link go down or come back."""


def tx_skb(dev: NetDevice, flow: int, i: int) -> SkBuff:
    """A UDP frame of ``flow`` as the stack hands it to ``dev_queue_xmit`` (flows hash to
    different queues of a multi-queue device)."""
    packet = udp_packet("198.18.0.1", "198.18.0.2", 1000 + flow, 53, bytes([i & 0xFF]) * 20)
    frame = eth_frame(PEER, MAC, ETH_P_IP, packet)
    skb = alloc_skb(16 + len(frame))
    skb.reserve(16)
    skb.put_data(frame)
    skb.mac_header = 16
    skb.protocol = ETH_P_IP
    skb.dev = dev
    return skb


class TxOps(NetDeviceOps):
    """A driver with a TX ring per queue whose ``start_xmit`` does what :attr:`mode` says.

    It never asserts inside ``start_xmit`` (the core would take an AssertionError for
    a driver fault): what the core got wrong is noted in :attr:`violations`.
    """

    def __init__(self) -> None:
        self.mode = "ring"
        self.bql = False
        self.ring_size = 2
        self.rings: dict[int, list[tuple[SkBuff, bool]]] = {}
        self.given: dict[int, SkBuff] = {}  # id -> skb start_xmit took (OK, or raised)
        self.violations: list[str] = []
        self.reset_on_mtu = False
        self.side = "none"

    def txqs(self, dev: NetDevice) -> list[NetdevQueue]:
        return [netdev_get_tx_queue(dev, i) for i in range(dev.num_tx_queues)]

    def open(self, dev: NetDevice) -> int:
        netif_tx_start_all_queues(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        netif_tx_disable(dev)
        self.clean(dev)
        return 0

    def clean(self, dev: NetDevice) -> None:
        """Free the rings (counted dropped) and forget their bytes, as a reset does."""
        for ring in self.rings.values():
            for skb, _ in ring:
                dev.stats.tx_dropped += 1
                dev_kfree_skb(skb)
            ring.clear()
        for txq in self.txqs(dev):
            netdev_tx_reset_queue(txq)

    def complete(self, dev: NetDevice, q: int, n: int, error: bool = False) -> None:
        """The TX-done interrupt of queue ``q``: ``n`` skbs off its ring, counted and freed,
        and Byte Queue Limits told of those it was told were sent."""
        ring = self.rings.setdefault(q, [])
        done, ring[:n] = ring[:n], []
        pkts = nbytes = 0
        for skb, bql in done:
            if bql:
                pkts += 1
                nbytes += skb.len
            if error:
                dev.stats.tx_errors += 1
            else:
                dev.stats.tx_packets += 1
                dev.stats.tx_bytes += skb.len
            dev_kfree_skb(skb)
        if nbytes:
            netdev_tx_completed_queue(netdev_get_tx_queue(dev, q), pkts, nbytes)

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        self.clean(dev)  # a reset of the hardware: what was in flight is lost, counted
        netif_tx_wake_all_queues(dev)

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        dev.mtu = new_mtu
        if self.reset_on_mtu and dev.flags & IFF_UP:  # new buffers: the rings start afresh
            self.clean(dev)
            netif_tx_wake_all_queues(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        q = skb.queue_mapping if dev.num_tx_queues > 1 else 0
        txq = netdev_get_tx_queue(dev, q)
        if skb.freed:
            self.violations.append(f"start_xmit of a freed skb {skb!r}")
        if id(skb) in self.given:
            self.violations.append(f"start_xmit of an skb it took already {skb!r}")
        if not dev.flags & IFF_UP:
            self.violations.append("start_xmit on a device that is down")
        elif not netif_carrier_ok(dev):  # noop_qdisc: nothing reaches the driver (dev_deactivate)
            self.violations.append(f"start_xmit on queue {q} without carrier")
        if txq.stopped:
            self.violations.append(f"start_xmit on stopped queue {q}")
        if q >= dev.real_num_tx_queues:
            self.violations.append(f"start_xmit on queue {q}, not in use")
        side = self.side
        if side == "reap":
            for i in list(self.rings):
                self.complete(dev, i, self.ring_size)
            netif_tx_wake_all_queues(dev)
        elif side == "wake all":
            netif_tx_wake_all_queues(dev)
        elif side == "carrier off":
            netif_carrier_off(dev)
        elif side == "carrier on":
            netif_carrier_on(dev)
        mode = self.mode
        if mode == "busy":
            netif_tx_stop_queue(txq)
            return NETDEV_TX_BUSY
        if mode == "busy_awake":
            return NETDEV_TX_BUSY
        ring = self.rings.setdefault(q, [])
        if mode == "ring" and len(ring) >= self.ring_size:
            netif_tx_stop_queue(txq)  # woken while full: "should not happen", as e1000 says
            return NETDEV_TX_BUSY
        self.given[id(skb)] = skb
        if mode == "raise":
            raise RuntimeError("start_xmit fault (the machine chose it)")
        if mode == "send":
            dev.stats.tx_packets += 1
            dev.stats.tx_bytes += skb.len
            dev_kfree_skb(skb)
        elif mode == "drop":
            dev.stats.tx_dropped += 1
            dev_kfree_skb(skb)
        else:
            ring.append((skb, self.bql))
            if self.bql:
                netdev_tx_sent_queue(txq, skb.len)
            if len(ring) >= self.ring_size:
                netif_tx_stop_queue(txq)
        return NETDEV_TX_OK


def qdiscs(dev: NetDevice) -> list[deque[SkBuff]]:
    """Every qdisc backlog of ``dev`` (queue 0's is the device's), in use or not."""
    return [netdev_get_tx_queue(dev, i).qdisc for i in range(dev.num_tx_queues)]


def check_tx(dev: NetDevice, ops: TxOps, handed: list[SkBuff]) -> None:
    """Each skb handed to ``dev_queue_xmit`` is in exactly one place, and counted."""
    assert not ops.violations, ops.violations
    cs = dev.core_stats
    in_qdisc = Counter(id(s) for q in qdiscs(dev) for s in q)
    on_ring = {id(s) for ring in ops.rings.values() for s, _ in ring}
    held = sum(in_qdisc.values())
    ring_total = sum(len(r) for r in ops.rings.values())
    # The books: handed == given to start_xmit + dropped by the core + still queued.
    assert len(handed) == len(ops.given) + cs.tx_qdisc_drops + held, (
        len(handed), len(ops.given), cs.as_dict(), held)  # fmt: skip
    assert cs.tx_submitted == len(ops.given), (cs.tx_submitted, len(ops.given))
    dropped_by_core = 0
    for skb in handed:
        k = id(skb)
        assert in_qdisc[k] <= 1, f"{skb!r} is queued twice"
        if in_qdisc[k]:
            assert not skb.freed, f"{skb!r} freed while a qdisc holds it"
            assert k not in ops.given, f"{skb!r} queued again after start_xmit took it"
            assert k not in on_ring, f"{skb!r} both queued and on the ring"
        elif k in on_ring:
            assert not skb.freed, f"{skb!r} freed while on the driver's ring"
        else:
            assert skb.freed, f"{skb!r} lost: not queued, not on the ring, never freed"
            dropped_by_core += k not in ops.given
    assert dropped_by_core == cs.tx_qdisc_drops, (dropped_by_core, cs.tx_qdisc_drops)
    # The driver's side: what start_xmit took is on the ring or counted exactly once.
    s = dev_get_stats(dev)
    assert cs.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors + ring_total, (
        cs.tx_submitted, s, ring_total)  # fmt: skip
    assert s.tx_dropped == dev.stats.tx_dropped + cs.tx_driver_faults, (s, cs.as_dict())


class TxConservation(RuleBasedStateMachine):
    """The transmit path under a driver and a user the machine plays."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.host = Host(MemoryStack(), loop=EventLoop(clock=self.clock))
        self.handed: list[SkBuff] = []
        self._log, self._level = _quiet()

    @initialize(nq=st.sampled_from([1, 4]), ring=st.integers(1, 3), qlen=st.integers(1, 5))
    def make(self, nq: int, ring: int, qlen: int) -> None:
        self.dev = alloc_etherdev_mq(None, nq) if nq > 1 else alloc_etherdev(None)
        self.ops = TxOps()
        self.ops.ring_size = ring
        self.dev.netdev_ops = self.ops
        self.dev.dev_addr = MAC
        self.dev.tx_queue_len = qlen
        self.dev.watchdog_timeo = 0.004  # a few loop runs: tx_timeout comes into play
        self.host.register_netdev(self.dev)
        assert self.host.dev_open(self.dev) == 0

    # -- the stack --------------------------------------------------------------------------
    @rule(n=st.integers(1, 6), flow=st.integers(0, 7))
    def xmit(self, n: int, flow: int) -> None:
        for _ in range(n):
            skb = tx_skb(self.dev, flow, len(self.handed))
            self.handed.append(skb)
            self.host.dev_queue_xmit(skb)

    # -- the driver ---------------------------------------------------------------------------
    @rule(mode=st.sampled_from(XMIT_MODES), side=st.sampled_from(XMIT_SIDES), bql=st.booleans(),
          reset_on_mtu=st.booleans())  # fmt: skip
    def driver_mode(self, mode: str, side: str, bql: bool, reset_on_mtu: bool) -> None:
        self.ops.mode = mode
        self.ops.side = side
        self.ops.bql = bql
        self.ops.reset_on_mtu = reset_on_mtu

    @rule(q=st.integers(0, 3), n=st.integers(1, 3), error=st.booleans(),
          wake=st.sampled_from(["no", "tx", "dev", "all"]))  # fmt: skip
    def tx_done(self, q: int, n: int, error: bool, wake: str) -> None:
        """The TX-done interrupt of queue ``q``, then (or not) a wake."""
        q %= self.dev.num_tx_queues
        self.ops.complete(self.dev, q, n, error)
        self._wake(q, wake)

    @rule(q=st.integers(0, 3), how=st.sampled_from(["tx", "dev", "all"]))
    def wake(self, q: int, how: str) -> None:
        self._wake(q % self.dev.num_tx_queues, how)

    def _wake(self, q: int, how: str) -> None:
        if how == "tx":
            netif_tx_wake_queue(netdev_get_tx_queue(self.dev, q))
        elif how == "dev":
            netif_wake_queue(self.dev)  # queue 0, the single-queue API
        elif how == "all":
            netif_tx_wake_all_queues(self.dev)

    @rule(q=st.integers(0, 3), single=st.booleans())
    def stop_queue(self, q: int, single: bool) -> None:
        if single:
            netif_stop_queue(self.dev)
        else:
            netif_tx_stop_queue(netdev_get_tx_queue(self.dev, q % self.dev.num_tx_queues))

    @precondition(lambda self: hasattr(self, "dev") and self.dev.num_tx_queues > 1)
    @rule(count=st.integers(1, 4))
    def real_num_tx_queues(self, count: int) -> None:
        assert netif_set_real_num_tx_queues(self.dev, count) == 0

    # -- the loop, the user, the link ------------------------------------------------------------
    @rule(ms=st.sampled_from([0, 0, 1, 2, 5]))
    def run_loop(self, ms: int) -> None:
        self.clock.advance(ms / 1000)
        self.host.loop.run_until_idle()

    @rule(event=st.sampled_from(LINK_EVENTS))
    def link_event(self, event: str) -> None:
        """The user or the link: one rule, so that frames and the driver get most steps."""
        link_event(self.host, self.dev, event)

    @rule(qlen=st.integers(0, 5))
    def tx_queue_len(self, qlen: int) -> None:
        self.dev.tx_queue_len = qlen

    @invariant()
    def books_balance(self) -> None:
        if hasattr(self, "dev"):
            check_tx(self.dev, self.ops, self.handed)

    def teardown(self) -> None:
        try:
            if hasattr(self, "dev"):
                self.settle()
        finally:
            self.host.close()
            self.host.loop.close()
            self._log.setLevel(self._level)

    def settle(self) -> None:
        """A healthy driver, the link back, every ring completed: nothing stays queued."""
        dev, ops = self.dev, self.ops
        ops.mode, ops.side = "send", "none"
        netif_device_attach(dev)
        netif_carrier_on(dev)
        self.host.dev_open(dev)
        for _ in range(20):
            for q in range(dev.num_tx_queues):
                self.tx_done(q, 1000, False, "tx")
            self.run_loop(2)
            check_tx(dev, ops, self.handed)
        assert not any(q for q in qdiscs(dev)), [len(q) for q in qdiscs(dev)]
        self.host.dev_close(dev)
        check_tx(dev, ops, self.handed)


TestTxConservation = TxConservation.TestCase
TestTxConservation.settings = SETTINGS


# -- receive ----------------------------------------------------------------------------------
RX_SEG = 64  # payload of each received TCP segment: a GRO super-frame's gso_size


class RxOps(NetDeviceOps):
    """A NAPI driver: frames wait on its "hardware" ring until a poll hands them up."""

    def __init__(self, machine: RxConservation) -> None:
        self.m = machine
        self.hw: deque[tuple[bytes, bool]] = deque()  # (frame, through GRO?)
        self.napi: NapiStruct | None = None
        self.poll_fault = False  # the poll raises once it has handed a frame up

    def open(self, dev: NetDevice) -> int:
        assert self.napi is not None
        napi_enable(self.napi)
        netif_start_queue(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        netif_stop_queue(dev)
        self.hw.clear()  # the ring is reset: frames not yet skbs were never handed up
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        dev_kfree_skb(skb)
        dev.stats.tx_dropped += 1
        return NETDEV_TX_OK

    def poll(self, napi: NapiStruct, budget: int) -> int:
        done = 0
        while done < budget and self.hw:
            frame, gro = self.hw.popleft()
            skb = self.m.hand_up_skb(frame)
            if gro:
                napi_gro_receive(napi, skb)
            else:
                netif_receive_skb(skb)
            done += 1
            if self.poll_fault:
                raise RuntimeError("NAPI poll fault (the machine chose it)")
        if done < budget:
            napi_complete_done(napi, done)
        return done


def segments(skb: SkBuff) -> int:
    """How many of the driver's skbs a delivered one stands for (a GRO super-frame: many)."""
    if not skb.gso_size:
        return 1
    th = skb.transport_header
    payload = skb.tail - th - (skb.buf[th + 12] >> 4) * 4
    return -(-payload // skb.gso_size)


class RxConservation(RuleBasedStateMachine):
    """The receive path: netif_rx, netif_receive_skb and NAPI with GRO."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.handed: list[SkBuff] = []
        self.read: list[SkBuff] = []  # what the stack took off its queue (its own now)
        self.seen = 0  # segments the stack read
        self.seq = [1000, 50_000]  # next sequence number of each TCP flow
        self.ident = [0, 30_000]  # next IPv4 ID of each: counting up, so GRO merges them
        self.segs = 0
        self._log, self._level = _quiet()

    @initialize(backlog=st.integers(1, 6), stack_q=st.integers(1, 12), weight=st.integers(1, 4),
                direct=st.booleans())  # fmt: skip
    def make(self, backlog: int, stack_q: int, weight: int, direct: bool) -> None:
        self.stack = MemoryStack(rx_queue_len=stack_q)
        # The kernel attachment's direct delivery while the backlog is empty: the memory
        # stack without wires never re-enters the host, so it may take it too.
        self.stack.direct_rx = direct  # type: ignore[attr-defined]
        self.host = Host(self.stack, loop=EventLoop(clock=self.clock),
                         netdev_max_backlog=backlog)  # fmt: skip
        self.dev = alloc_etherdev(None)
        self.ops = RxOps(self)
        self.dev.netdev_ops = self.ops
        self.dev.dev_addr = MAC
        self.ops.napi = netif_napi_add(self.dev, self.ops.poll, weight)
        self.host.register_netdev(self.dev)
        assert self.host.dev_open(self.dev) == 0

    def frame(self, tcp: bool) -> bytes:
        """A UDP datagram, or the next segment of one of two TCP flows (GRO merges them)."""
        if not tcp:
            packet = udp_packet("198.18.0.2", "198.18.0.1", 53, 1000, b"u" * 30)
            return eth_frame(MAC, PEER, ETH_P_IP, packet)
        f = self.segs // 3 % 2  # three segments of one flow, then three of the other
        self.segs += 1
        packet = tcp_packet("198.18.0.2", "198.18.0.1", 80, 2000 + f, b"t" * RX_SEG,
                            seq=self.seq[f], ack=1, flags=TCP_ACK, ident=self.ident[f])  # fmt: skip
        self.seq[f] += RX_SEG
        self.ident[f] = (self.ident[f] + 1) & 0xFFFF
        return eth_frame(MAC, PEER, ETH_P_IP, packet)

    def hand_up_skb(self, frame: bytes) -> SkBuff:
        """An skb the driver is about to hand up (counted as handed from here on)."""
        skb = rx_skb(self.dev, frame)
        self.dev.stats.rx_packets += 1
        self.dev.stats.rx_bytes += len(frame)
        self.handed.append(skb)
        return skb

    # -- the driver ------------------------------------------------------------------------------
    @rule(n=st.integers(1, 8), tcp=st.booleans())
    def rx_netif_rx(self, n: int, tcp: bool) -> None:
        for _ in range(n):
            netif_rx(self.hand_up_skb(self.frame(tcp)))

    @rule(n=st.integers(1, 4), tcp=st.booleans())
    def rx_receive_skb(self, n: int, tcp: bool) -> None:
        for _ in range(n):
            netif_receive_skb(self.hand_up_skb(self.frame(tcp)))

    @rule(n=st.integers(1, 8), tcp=st.booleans(), gro=st.booleans(), irq=st.booleans())
    def rx_hw(self, n: int, tcp: bool, gro: bool, irq: bool) -> None:
        """Frames reach the hardware ring; the interrupt schedules NAPI (or is lost)."""
        if not self.dev.flags & IFF_UP:
            return  # a device that is down receives nothing into its ring
        for _ in range(n):
            self.ops.hw.append((self.frame(tcp), gro))
        if irq:
            assert self.ops.napi is not None
            napi_schedule(self.ops.napi)

    @rule(fault=st.booleans())
    def poll_fault(self, fault: bool) -> None:
        """The poll raises after a frame (what GRO holds goes up, the device goes down)."""
        self.ops.poll_fault = fault

    @rule()
    def rx_interrupt(self) -> None:
        assert self.ops.napi is not None
        napi_schedule(self.ops.napi)

    # -- the stack, the loop, the user -----------------------------------------------------------
    @rule()
    def stack_reads(self) -> None:
        for skb in self.stack.received_skbs(self.dev):
            self.seen += segments(skb)
            self.read.append(skb)

    @rule(ms=st.sampled_from([0, 0, 1]))
    def run_loop(self, ms: int) -> None:
        self.clock.advance(ms / 1000)
        self.host.loop.run_until_idle()

    @rule()
    def loop_round(self) -> None:
        self.host.loop.run_once(0)

    @rule(event=st.sampled_from(LINK_EVENTS))
    def link_event(self, event: str) -> None:
        link_event(self.host, self.dev, event)

    @invariant()
    def books_balance(self) -> None:
        if hasattr(self, "dev"):
            self.check()

    def check(self) -> None:
        dev, cs = self.dev, self.dev.core_stats
        napi = self.ops.napi
        assert napi is not None
        queue = self.stack.rx.get(dev.name, deque())
        in_stack = sum(segments(s) for s in queue)
        backlog = [s for s in self.host.backlog if s.dev is dev]
        in_gro = sum(f.count for f in napi.gro_list)
        drops = cs.rx_backlog_drops + cs.rx_down_drops
        assert cs.rx_submitted == len(self.handed), (cs.rx_submitted, len(self.handed))
        assert cs.rx_delivered == self.seen + in_stack, (cs.rx_delivered, self.seen, in_stack)
        assert len(self.handed) == self.seen + in_stack + drops + len(backlog) + in_gro, (
            len(self.handed), self.seen, in_stack, cs.as_dict(), len(backlog), in_gro)  # fmt: skip
        # Each skb: queued (backlog, the stack's queue), read by the stack, or gone —
        # dropped, merged into a super-frame, held by GRO: marked freed either way.
        alive = {id(s) for s in backlog} | {id(s) for s in queue} | {id(s) for s in self.read}
        for skb in self.handed:
            if id(skb) in alive:
                assert not skb.freed, f"{skb!r} freed while the stack holds it"
            else:
                assert skb.freed, f"{skb!r} neither delivered nor held, yet not freed"
        assert len(backlog) == len({id(s) for s in backlog}), "an skb twice on the backlog"
        s = dev_get_stats(dev)
        assert s.rx_dropped == dev.stats.rx_dropped + drops, (s, cs.as_dict())

    def teardown(self) -> None:
        try:
            if hasattr(self, "dev"):
                self.ops.poll_fault = False
                self.host.dev_open(self.dev)
                self.host.loop.run_until_idle()
                self.stack_reads()
                self.check()
                assert not self.host.backlog
        finally:
            if hasattr(self, "host"):
                self.host.close()
                self.host.loop.close()
            self._log.setLevel(self._level)


TestRxConservation = RxConservation.TestCase
TestRxConservation.settings = SETTINGS


# -- what the machines found ----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["netif_receive_skb", "netif_rx direct", "backlog"])
def test_a_frame_the_stack_refused_is_the_cores_drop_not_the_drivers_skb(path: str) -> None:
    """Found by the RX machine: a frame the stack refused (its queue full: the TAP's EAGAIN)
    was counted dropped, and NET_RX_DROP told the driver it was consumed, yet the skb was
    not marked so — handed up again ("try again") it was counted a second time."""
    stack = MemoryStack(rx_queue_len=1)
    stack.direct_rx = path == "netif_rx direct"  # type: ignore[attr-defined]
    host = Host(stack, EventLoop())
    try:
        dev = alloc_etherdev(None)
        dev.netdev_ops = NetDeviceOps()
        dev.dev_addr = MAC
        host.register_netdev(dev)
        assert host.dev_open(dev) == 0
        frame = eth_frame(MAC, PEER, ETH_P_IP, udp_packet("198.18.0.2", "198.18.0.1", 1, 2))
        hand_up = netif_receive_skb if path == "netif_receive_skb" else netif_rx
        hand_up(rx_skb(dev, frame))  # fills the stack's queue
        host.loop.run_until_idle()
        skb = rx_skb(dev, frame)
        rc = hand_up(skb)
        host.loop.run_until_idle()
        if path != "backlog":  # the backlog's caller was told NET_RX_SUCCESS: queued
            assert rc == NET_RX_DROP
        assert skb.freed, "dropped by the core, yet still the driver's"
        with pytest.raises(SkbError):
            netif_rx(skb)
        cs = dev.core_stats
        assert (cs.rx_submitted, cs.rx_delivered, cs.rx_backlog_drops) == (2, 1, 1)
    finally:
        host.close()
        host.loop.close()
