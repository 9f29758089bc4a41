"""snull's TX ring (its transmit pool) resized under traffic: a state machine.

``ethtool -G DEV tx N`` may come at any moment: with buffers out at a NAPI
peer, a lost TX-done interrupt (``lockup=N``) pending, the queue stopped or
the device down.  Hypothesis interleaves resizes with frames sent, loop rounds
(NAPI polls), fake time passing (the watchdog's ``tx_timeout``), the peer going
down and up, and checks after every step that the pool's books balance — no
buffer is created or lost, the free count is never negative nor above the
size — that every transmitted skb ends exactly once, and at the end that the
queue never stays stopped while buffers are free (every frame gets through).
"""

from __future__ import annotations

import logging

from fakedev import FakeClock, load_driver, mem
from frames import ETH_P_IP, eth_frame, udp_packet
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from netdrv_core import Host, NetDevice, netif_queue_stopped
from netdrv_core.ethtool import ethtool_set
from netdrv_core.loop import EventLoop

DEVS = ("sn0", "sn1")


def _frame(dev: NetDevice, i: int) -> bytes:
    src, dst = ("198.18.0.1", "198.18.0.2") if dev.name == "sn0" else ("198.18.1.2", "198.18.1.1")
    packet = udp_packet(src, dst, 1, 2, bytes([i & 0xFF]) * 20)
    return eth_frame(dev.dev_addr, b"\x02\xaa\xbb\xcc\xdd\xee", ETH_P_IP, packet)


def check_books(dev: NetDevice) -> None:
    """The pool's and the transmit path's invariants, at any moment."""
    p, peer = dev.priv, dev.priv.peer
    assert 0 <= p.pool_free <= p.pool_size, (dev.name, p.pool_free, p.pool_size)
    assert p.pool_excess >= 0
    # Every buffer is free, or out at the peer (its NAPI queue): none made, none lost.
    at_peer = len(peer.priv.rx_queue)
    assert p.pool_free + at_peer == p.pool_size + p.pool_excess, (
        dev.name, p.pool_free, at_peer, p.pool_size, p.pool_excess)  # fmt: skip
    # Every skb start_xmit accepted ends exactly once (the lost TX-done one: pending).
    s, cs = dev.stats, dev.core_stats
    # start_xmit never finds the pool empty: the queue was stopped when it ran dry.
    assert cs.tx_busy == 0, (dev.name, cs.tx_busy)
    pending = 1 if p.skb is not None else 0
    assert cs.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors + pending, (
        dev.name, cs.tx_submitted, s.tx_packets, s.tx_dropped, s.tx_errors, pending)  # fmt: skip


class SnullRing(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.host = Host(loop=EventLoop(clock=self.clock))
        self.sent = 0
        # Thousands of watchdog warnings per run: not what this test reads.
        self._log = logging.getLogger("netdrv")
        self._level = self._log.level
        self._log.setLevel(logging.ERROR)

    @initialize(
        use_napi=st.booleans(), lockup=st.sampled_from([0, 0, 2, 3, 7]),
        pool=st.integers(1, 6), weight=st.integers(1, 4),
    )  # fmt: skip
    def load(self, use_napi: bool, lockup: int, pool: int, weight: int) -> None:
        from netdrv_snull.driver import Snull

        self.drv = load_driver(self.host, Snull, configure=0, use_napi=int(use_napi),
                               lockup=lockup, pool_size=pool, napi_weight=weight)  # fmt: skip
        for dev in self.drv.devices:
            mem(self.host).up(dev)

    def dev(self, i: int) -> NetDevice:
        return self.host.devices[DEVS[i]]

    @rule(i=st.integers(0, 1), n=st.integers(1, 12))
    def send(self, i: int, n: int) -> None:
        dev = self.dev(i)
        for _ in range(n):
            self.sent += 1
            mem(self.host).send(dev, _frame(dev, self.sent))

    @rule(i=st.integers(0, 1), size=st.integers(1, 8))
    def resize(self, i: int, size: int) -> None:
        dev = self.dev(i)
        ethtool_set(self.host, dev, "ringparam", {"tx_pending": size})
        assert dev.priv.pool_size == size

    @rule()
    def loop_round(self) -> None:
        self.host.loop.run_once(0)

    @rule(ms=st.integers(1, 12))
    def time_passes(self, ms: int) -> None:
        self.clock.advance(ms / 1000)
        self.host.loop.run_once(0)

    @rule(i=st.integers(0, 1))
    def down(self, i: int) -> None:
        mem(self.host).down(self.dev(i))

    @rule(i=st.integers(0, 1))
    def up(self, i: int) -> None:
        mem(self.host).up(self.dev(i))

    @rule(i=st.integers(0, 1), every=st.sampled_from([0, 1, 2, 5]))
    def set_lockup(self, i: int, every: int) -> None:
        from netdrv_snull.driver import SNULL_IOC_SETLOCKUP

        assert self.host.dev_ioctl(self.dev(i), SNULL_IOC_SETLOCKUP, every) == 0

    @rule(i=st.integers(0, 1), on=st.booleans())
    def carrier(self, i: int, on: bool) -> None:
        from netdrv_snull.driver import SNULL_IOC_SETCARRIER

        assert self.host.dev_ioctl(self.dev(i), SNULL_IOC_SETCARRIER, int(on)) == 0

    @invariant()
    def books_balance(self) -> None:
        if not hasattr(self, "drv"):
            return
        for dev in self.drv.devices:
            check_books(dev)

    def teardown(self) -> None:
        try:
            if hasattr(self, "drv"):
                self.settle()
        finally:
            self.host.close()
            self.host.loop.close()
            self._log.setLevel(self._level)

    def settle(self) -> None:
        """Both up, time enough for every timeout: nothing may stay stuck."""
        from netdrv_snull.driver import SNULL_IOC_SETCARRIER

        for dev in self.drv.devices:
            mem(self.host).up(dev)
            self.host.dev_ioctl(dev, SNULL_IOC_SETCARRIER, 1)
        devs = self.drv.devices
        # A lost TX-done interrupt costs a watchdog timeout (6 ms); give each frame one.
        for _ in range(4 * (sum(len(d.qdisc) for d in devs) + 10)):
            self.clock.advance(0.002)
            self.host.loop.run_until_idle()
            if not any(d.qdisc or d.priv.skb or d.priv.rx_queue for d in devs):
                break
        for dev in self.drv.devices:
            check_books(dev)
            p = dev.priv
            assert not dev.qdisc, f"{dev.name}: {len(dev.qdisc)} frames stuck in the qdisc"
            assert not (netif_queue_stopped(dev) and p.pool_free and p.skb is None), (
                f"{dev.name}: queue stopped with {p.pool_free} free buffers")  # fmt: skip
            assert p.pool_free == p.pool_size and not p.pool_excess and not p.rx_queue


TestSnullRing = SnullRing.TestCase
TestSnullRing.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


def test_a_timeout_with_every_buffer_out_leaves_the_queue_to_the_returning_buffer() -> None:
    """Found by the machine: the pool shrunk below the buffers out at a NAPI peer, then the
    watchdog fired — tx_timeout woke the queue with no buffer free, and start_xmit answered
    NETDEV_TX_BUSY with the queue awake (a driver bug; the core polled every ms)."""
    m = SnullRing()
    try:
        m.load(use_napi=True, lockup=0, pool=1, weight=1)
        m.resize(0, 3)
        m.send(0, 4)
        m.resize(0, 1)  # 3 out at sn1, whose poll has not run: nothing free
        m.time_passes(6)  # the watchdog's tx_timeout, before the buffers came back
        m.books_balance()
        m.settle()
    finally:
        m.teardown()


def test_opening_with_every_buffer_still_at_the_peer_keeps_the_queue_stopped() -> None:
    """Found by the machine: sn1 down and up again while its buffer was still in sn0's
    NAPI queue — open started the queue with an empty pool (NETDEV_TX_BUSY)."""
    m = SnullRing()
    try:
        m.load(use_napi=True, lockup=0, pool=1, weight=1)
        m.send(1, 1)
        m.down(1)
        m.up(1)
        assert netif_queue_stopped(m.dev(1))
        m.send(1, 1)
        m.books_balance()
        m.settle()
    finally:
        m.teardown()
