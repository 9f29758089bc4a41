"""phy.faults under a hypothesis state machine: every frame ends once, counted, in order.

Injectors with random faults are stacked on one device and removed in any order,
frames go both ways, time passes, the device goes down and up, loses its carrier
and gets it back, and is finally unregistered — while frames are delayed.  After
every step:

* each injector's books balance: ``seen + duplicated + segmented == delivered +
  dropped + rate_limited + limit_dropped + purged + pending``;
* no frame to transmit is held once the device went down or lost its carrier, and
  none at all once it was unregistered (as netem's queue, reset with the qdiscs);
* every skb handed in is freed (sent by the driver, dropped by an injector or by the
  core), delivered to the stack, or held by an injector — none freed twice (that
  raises), none sent or delivered after the device was unregistered;
* the device's counters and the injectors' add up for each direction;
* frames reach the driver and the stack in the order they were handed in;
* removing every injector leaves the hooks as they were before the first.
"""

from __future__ import annotations

from fakedev import FakeClock, make_dev, run_for, rx_skb
from frames import ETH_P_IP, eth_frame, udp_packet
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from netdrv_core import Host, SkBuff, alloc_skb, netif_carrier_off, netif_carrier_on, netif_rx
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.loop import EventLoop
from netdrv_core.phy import FaultInjector

HOST_MAC = b"\x02\xaa\xbb\xcc\xdd\xee"

probability = st.sampled_from([0.0, 0.0, 0.3, 1.0])


class FaultsMachine(RuleBasedStateMachine):
    """One device, a stack of injectors, frames both ways."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.host = Host(loop=EventLoop(clock=self.clock))
        self.dev, self.ops = make_dev(self.host, "f%d")
        self.injectors: list[FaultInjector] = []
        self.all: list[FaultInjector] = []
        self.tx: list[SkBuff] = []
        self.rx: list[SkBuff] = []
        self.delivered: list[SkBuff] = []
        self.registered = True
        self.sent_at_unregister = 0
        self.n = 0

    def frame(self) -> bytes:
        self.n += 1
        payload = self.n.to_bytes(4, "big") * 10
        return eth_frame(self.dev.dev_addr, HOST_MAC, ETH_P_IP, udp_packet("198.18.0.1",
                         "198.18.0.2", 1, 2, payload))  # fmt: skip

    @precondition(lambda self: self.registered)
    @rule(
        drop=probability, corrupt=probability, duplicate=probability,
        delay=st.sampled_from([0.0, 0.002, 0.005]),
        rate=st.sampled_from([None, 8000.0, 1e6]), burst=st.sampled_from([None, 50, 500]),
        queue_rate=st.sampled_from([None, None, 64000.0, 1e6]), limit=st.sampled_from([1000, 3]),
        direction=st.sampled_from(["tx", "rx", "both"]), seed=st.integers(0, 9),
    )  # fmt: skip
    def add(self, drop: float, corrupt: float, duplicate: float, delay: float,
            rate: float | None, burst: int | None, queue_rate: float | None, limit: int,
            direction: str, seed: int) -> None:  # fmt: skip
        # netem's rate queues in order (each frame after the last one queued); jitter and
        # reorder, which reorder on purpose, are tested on their own
        fi = FaultInjector(self.dev, seed=seed, drop=drop, corrupt=corrupt, duplicate=duplicate,
                           delay=delay, rate_limit=rate, burst=burst, rate=queue_rate,
                           limit=limit, direction=direction)  # fmt: skip
        self.injectors.append(fi)
        self.all.append(fi)

    @precondition(lambda self: self.injectors)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        fi = data.draw(st.sampled_from(self.injectors))
        self.injectors.remove(fi)
        fi.remove()
        self.collect()

    @precondition(lambda self: self.registered)
    @rule(n=st.integers(1, 4))
    def send(self, n: int) -> None:
        for _ in range(n):
            frame = self.frame()
            skb = alloc_skb(len(frame))
            skb.put_data(frame)
            skb.dev = self.dev
            skb.priority = self.n
            self.tx.append(skb)
            self.host.dev_queue_xmit(skb)
        self.collect()

    @precondition(lambda self: self.registered)
    @rule(n=st.integers(1, 4))
    def receive(self, n: int) -> None:
        for _ in range(n):
            skb = rx_skb(self.dev, self.frame())
            skb.priority = self.n
            self.rx.append(skb)
            with self.host.as_current():
                netif_rx(skb)
        self.collect()

    @rule(ms=st.integers(0, 8))
    def run(self, ms: int) -> None:
        run_for(self.host, self.clock, ms / 1000)
        self.collect()

    @precondition(lambda self: self.registered)
    @rule(up=st.booleans())
    def updown(self, up: bool) -> None:
        if up:
            self.host.dev_open(self.dev)
        else:
            self.host.dev_close(self.dev)
        self.collect()

    @precondition(lambda self: self.registered)
    @rule(on=st.booleans())
    def carrier(self, on: bool) -> None:
        if on:
            netif_carrier_on(self.dev)
        else:
            netif_carrier_off(self.dev)
        self.collect()

    @precondition(lambda self: self.registered)
    @rule()
    def unregister(self) -> None:
        self.collect()
        self.host.unregister_netdev(self.dev)
        self.registered = False
        self.sent_at_unregister = len(self.ops.sent)

    def collect(self) -> None:
        if self.registered:
            mem = self.host.attachment
            assert isinstance(mem, MemoryStack)
            self.delivered += mem.received_skbs(self.dev)

    def held(self, d: str) -> list[SkBuff]:
        """The skbs injectors delay in direction ``d``."""
        return [e[1] for fi in self.all for e in fi._pending.values() if e[2] == d]

    def pending(self) -> set[int]:
        """The skbs injectors delay, and those on the host's backlog."""
        held = {id(skb) for d in ("tx", "rx") for skb in self.held(d)}
        return held | {id(skb) for skb in self.host.backlog}

    @invariant()
    def books_balance(self) -> None:
        for fi in self.all:
            s = fi.stats
            ended = s.delivered + s.dropped + s.rate_limited + s.limit_dropped + s.purged
            assert s.seen + s.duplicated + s.segmented == ended + s.pending
            assert s.pending == len(fi._pending)
            assert s.backlog >= 0 and (s.pending or not s.backlog)

    @invariant()
    def nothing_held_for_a_link_that_went(self) -> None:
        dev = self.dev
        if not self.registered:
            assert not self.held("tx") and not self.held("rx")
        elif not dev.is_up or dev._deactivated:
            assert not self.held("tx")

    @invariant()
    def every_skb_in_one_place(self) -> None:
        held = self.pending()
        delivered = {id(s) for s in self.delivered}
        for skb in self.tx:
            assert skb.freed != (id(skb) in held), f"{skb!r} lost or freed while held"
        for skb in self.rx:
            places = [skb.freed, id(skb) in held, id(skb) in delivered]
            assert places.count(True) == 1, f"{skb!r}: freed, held, delivered: {places}"
        for skb in self.delivered:
            assert not skb.freed

    @invariant()
    def counters_add_up(self) -> None:
        tx = [fi for fi in self.all if fi.direction != "rx"]
        rx = [fi for fi in self.all if fi.direction != "tx"]
        # A "both" injector's stats cover both directions: only one-direction stacks add up.
        cs = self.dev.core_stats
        if not rx:
            made = sum(fi.stats.duplicated + fi.stats.segmented for fi in tx)
            gone = sum(
                fi.stats.dropped + fi.stats.rate_limited + fi.stats.limit_dropped for fi in tx
            )
            held = sum(fi.stats.pending for fi in tx)
            assert len(self.tx) + made == len(self.ops.sent) + cs.tx_qdisc_drops + gone + held
        if not tx:
            made = sum(fi.stats.duplicated + fi.stats.segmented for fi in rx)
            gone = sum(
                fi.stats.dropped + fi.stats.rate_limited + fi.stats.limit_dropped for fi in rx
            )
            held = sum(fi.stats.pending for fi in rx)
            held += len(self.host.backlog)
            ended = cs.rx_delivered + cs.rx_down_drops + cs.rx_backlog_drops
            assert len(self.rx) + made == ended + gone + held

    @invariant()
    def in_order_and_never_after_unregister(self) -> None:
        sent = [s.priority for s in self.ops.sent]
        assert sent == sorted(sent)
        got = [s.priority for s in self.delivered]
        assert got == sorted(got)
        if not self.registered:
            assert len(self.ops.sent) == self.sent_at_unregister

    def teardown(self) -> None:
        try:
            for fi in self.injectors:  # the oldest first: out of order, on purpose
                fi.remove()
            self.host.loop.run_until_idle()
            self.collect()
            assert self.dev.xmit_hook is None and self.dev.rx_hook is None
            self.every_skb_in_one_place()
            assert not self.pending()
        finally:
            self.host.close()
            self.host.loop.close()


FaultsMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_faults_machine = FaultsMachine.TestCase
