"""phy.faults: deterministic drops, corruption, duplication, delay and rate limiting."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakedev import FakeClock, LoadSnull, Run, get, make_dev, mem, rx_skb
from fault_helpers import HOST_MAC, balanced, frame_n, index_of, live_timers
from frames import (
    ETH_P_IP,
    eth_frame,
    ipv4_checksum_ok,
    l4_checksum_ok,
    pseudo_header_sum,
    udp_packet,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from netdrv_core import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    NETIF_F_HW_CSUM,
    Host,
    NetDevice,
    SkBuff,
    dev_get_stats,
    netif_rx,
)
from netdrv_core.loop import EventLoop
from netdrv_core.phy import FaultInjector, capture


def tx_dev(host: Host):
    return make_dev(host, "f%d")


def send_all(host: Host, dev: NetDevice, n: int, size: int = 40) -> list[bytes]:
    frames = [frame_n(dev, i, size) for i in range(n)]
    for f in frames:
        mem(host).send(dev, f)
    host.loop.run_until_idle()
    return frames


def dropped_indexes(seed: int, drop: float, n: int = 200) -> list[int]:
    clock = FakeClock()
    host = Host(loop=EventLoop(clock=clock))
    try:
        dev, ops = tx_dev(host)
        fi = FaultInjector(dev, seed=seed, drop=drop, direction="tx")
        send_all(host, dev, n)
        got = {index_of(f) for f in ops.sent_bytes}
        assert fi.stats.dropped == n - len(got) and balanced(fi.stats)
        return [i for i in range(n) if i not in got]
    finally:
        host.close()
        host.loop.close()


def test_the_same_seed_drops_the_same_frames() -> None:
    a = dropped_indexes(42, 0.3)
    assert a == dropped_indexes(42, 0.3)
    assert 30 < len(a) < 90  # about 30 % of 200
    assert a != dropped_indexes(43, 0.3)


def test_other_faults_do_not_change_which_frames_are_dropped(host: Host) -> None:
    expected = dropped_indexes(42, 0.3)
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=42, drop=0.3, duplicate=0.5, rate_limit=1e9, burst=10**9,
                       direction="tx")  # fmt: skip
    send_all(host, dev, 200)
    times = [sum(index_of(f) == i for f in ops.sent_bytes) for i in range(200)]
    # netem_enqueue: a lost frame with a copy to make goes once, without it; one not lost
    # goes (its copy, with a loss draw of its own, too or not): the same loss draws
    assert all(times[i] <= 1 for i in expected)
    assert all(times[i] >= 1 for i in range(200) if i not in expected)
    assert 0 < times.count(0) < len(expected) and fi.stats.duplicated > 50
    fi.remove()
    fi = FaultInjector(dev, seed=42, drop=0.3, corrupt=0.5, direction="tx")
    send_all(host, dev, 200)
    assert fi.stats.dropped == len(expected) and fi.stats.corrupted > 50


def test_drop_all_and_nothing(host: Host) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, drop=1.0, direction="tx")
    send_all(host, dev, 10)
    assert ops.sent_bytes == [] and fi.stats.dropped == 10 and fi.stats.delivered == 0
    fi.remove()
    fi2 = FaultInjector(dev, seed=1, direction="tx")
    send_all(host, dev, 10)
    assert len(ops.sent_bytes) == 10 and fi2.stats.delivered == 10 == fi2.stats.seen


def test_corrupt_flips_exactly_one_bit_per_frame(host: Host) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=7, corrupt=1.0, direction="tx")
    frames = send_all(host, dev, 50)
    assert fi.stats.corrupted == 50
    positions = set()
    for orig, got in zip(frames, ops.sent_bytes, strict=True):
        diff = [(i, a ^ b) for i, (a, b) in enumerate(zip(orig, got, strict=True)) if a != b]
        assert len(diff) == 1 and bin(diff[0][1]).count("1") == 1
        positions.add(diff[0][0])
    assert len(positions) > 20  # anywhere in the frame


def test_corrupt_on_receive_withdraws_checksum_unnecessary(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0, sn1 = get(host, "sn0"), get(host, "sn1")
    clean = send_all(host, sn0, 1)
    (good,) = mem(host).received("sn1")
    FaultInjector(sn1, seed=3, corrupt=1.0, direction="rx")
    mem(host).send(sn0, clean[0])
    host.loop.run_until_idle()
    (skb,) = mem(host).received_skbs("sn1")
    bad = bytes(skb.buf[skb.mac_header : skb.tail])
    assert bad[:14] == good[:14]  # the parsed link header is left alone
    assert sum(bin(a ^ b).count("1") for a, b in zip(good, bad, strict=True)) == 1
    assert skb.ip_summed == CHECKSUM_NONE


def test_duplicate_doubles_every_frame_in_order(host: Host) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, duplicate=1.0, direction="tx")
    frames = send_all(host, dev, 5)
    assert ops.sent_bytes == [f for f in frames for _ in range(2)]
    assert fi.stats.duplicated == 5 and fi.stats.delivered == 10 and balanced(fi.stats)
    assert dev.core_stats.tx_submitted == 10
    assert ops.sent[0] is not ops.sent[1]  # a real copy


def test_delay_delivers_after_the_loop_clock_advances(host: Host, run: Run) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=0.05, direction="tx")
    frames = send_all(host, dev, 4)
    assert ops.sent_bytes == [] and fi.stats.pending == 4 and fi.stats.delayed == 4
    assert balanced(fi.stats)
    run(0.049)
    assert ops.sent_bytes == []
    run(0.002)
    assert ops.sent_bytes == frames and fi.stats.pending == 0 and fi.stats.delivered == 4
    assert fi.stats.seen == 4  # delivered without passing through the injector again
    assert balanced(fi.stats)


def test_delayed_receive(host: Host, snull: LoadSnull, run: Run, tmp_path: Path) -> None:
    snull()
    sn0, sn1 = get(host, "sn0"), get(host, "sn1")
    fi = FaultInjector(sn1, seed=1, delay=0.02, direction="rx")
    cap = capture(host, sn1, tmp_path / "d.pcap")
    send_all(host, sn0, 3)
    assert mem(host).received("sn1") == [] and cap.packets == 0
    run(0.03)
    got = mem(host).received("sn1")
    assert [index_of(f) for f in got] == [0, 1, 2] and cap.packets == 3
    assert sn1.core_stats.rx_delivered == 3 and fi.stats.delivered == 3


def test_delay_duplicate_and_drop_counts_add_up(host: Host, run: Run) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=9, drop=0.2, duplicate=0.3, delay=0.01, direction="tx")
    for i in range(100):
        mem(host).send(dev, frame_n(dev, i))
        if i % 10 == 0:
            run(0.004)
        assert balanced(fi.stats)
    assert fi.stats.pending > 0
    run(0.02)
    st = fi.stats
    assert st.pending == 0 and balanced(st)
    assert (
        st.seen == 100 and len(ops.sent_bytes) == st.delivered == 100 - st.dropped + st.duplicated
    )
    assert st.dropped > 0 and st.duplicated > 0


def test_rate_limit_is_a_token_bucket(host: Host, clock: FakeClock, run: Run) -> None:
    dev, ops = tx_dev(host)
    size = len(frame_n(dev, 0, 58))
    assert size == 100
    fi = FaultInjector(dev, seed=1, rate_limit=8000, burst=300, direction="tx")  # 1000 B/s
    send_all(host, dev, 5, 58)
    assert len(ops.sent_bytes) == 3 and fi.stats.rate_limited == 2
    clock.advance(0.1)  # 100 bytes of tokens
    send_all(host, dev, 2, 58)
    assert len(ops.sent_bytes) == 4 and fi.stats.rate_limited == 3
    clock.advance(10.0)  # refills up to the burst only
    send_all(host, dev, 5, 58)
    assert len(ops.sent_bytes) == 7 and fi.stats.rate_limited == 5 and balanced(fi.stats)


def test_a_frame_larger_than_the_bucket_passes_when_it_is_full(
    host: Host, clock: FakeClock
) -> None:
    # A TSO super-frame (up to 64 KiB) is larger than the default bucket of two full-size
    # frames: refused every time, it would stall its TCP flow for good.  It passes when
    # the bucket is full and leaves it in debt, so the rate still holds.
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, rate_limit=8000, burst=300, direction="tx")  # 1000 B/s
    send_all(host, dev, 1, 958)  # a 1000-byte frame
    assert len(ops.sent_bytes) == 1 and fi.stats.rate_limited == 0
    clock.advance(0.5)  # 500 bytes of tokens: still 200 in debt
    send_all(host, dev, 1, 58)
    assert len(ops.sent_bytes) == 1 and fi.stats.rate_limited == 1
    clock.advance(0.35)  # 150 bytes in the bucket now
    send_all(host, dev, 1, 58)
    assert len(ops.sent_bytes) == 2 and fi.stats.rate_limited == 1
    clock.advance(0.1)  # 150 bytes: a bucket not full lets no big frame through
    send_all(host, dev, 1, 958)
    assert len(ops.sent_bytes) == 2 and fi.stats.rate_limited == 2 and balanced(fi.stats)


def test_default_burst_passes_two_full_frames(host: Host) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, rate_limit=1000, direction="tx")
    assert fi.burst == 2 * 1514
    send_all(host, dev, 3, 1472)  # 1514-byte frames
    assert len(ops.sent_bytes) == 2 and fi.stats.rate_limited == 1


def test_hooks_chain_and_remove_restores(host: Host) -> None:
    dev, ops = tx_dev(host)
    order: list[str] = []

    def base_hook(skb: SkBuff) -> bool:
        order.append("base")
        return True

    dev.xmit_hook = base_hook
    fi1 = FaultInjector(dev, seed=1, direction="tx")
    fi2 = FaultInjector(dev, seed=2, duplicate=1.0, direction="tx")
    send_all(host, dev, 1)
    assert order == ["base", "base"]  # fi2 duplicated; both copies went through fi1 and base
    assert fi2.stats.seen == 1 and fi1.stats.seen == 2 and len(ops.sent_bytes) == 2
    fi2.remove()
    assert dev.xmit_hook == fi1._tx_hook
    fi1.remove()
    assert dev.xmit_hook is base_hook
    fi1.remove()  # idempotent


def test_removing_an_inner_injector_makes_it_transparent(host: Host) -> None:
    dev, ops = tx_dev(host)
    inner = FaultInjector(dev, seed=1, drop=1.0, direction="tx")
    outer = FaultInjector(dev, seed=1, direction="tx")
    inner.remove()
    assert dev.xmit_hook == outer._tx_hook
    send_all(host, dev, 3)
    assert len(ops.sent_bytes) == 3 and inner.stats.seen == 0
    outer.remove()
    assert dev.xmit_hook is None  # what was there before both, not inner's no-op
    send_all(host, dev, 1)
    assert len(ops.sent_bytes) == 4


def test_remove_drops_delayed_frames_as_tc_qdisc_del(host: Host) -> None:
    # tc qdisc del: qdisc_destroy resets netem's queue, the frames in it are dropped
    dev, ops = tx_dev(host)
    with FaultInjector(dev, seed=1, delay=10.0, direction="tx") as fi:
        send_all(host, dev, 3)
        assert ops.sent_bytes == []
    assert ops.sent_bytes == [] and fi.stats.pending == 0 and dev.xmit_hook is None
    assert fi.stats.purged == 3 == dev.core_stats.tx_qdisc_drops and balanced(fi.stats)
    host.loop.run_until_idle()
    assert ops.sent_bytes == [] and live_timers(host, fi) == []


def test_delayed_frames_are_dropped_at_the_down_and_not_sent_after_the_up(
    host: Host, run: Run
) -> None:
    # Linux: dev_close -> dev_deactivate -> qdisc_reset empties netem's queue.  A quick
    # down and up must not send the frames held before the down.
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=0.01, duplicate=1.0, direction="tx")
    send_all(host, dev, 2)
    assert fi.stats.pending == 4
    host.dev_close(dev)
    cs = dev.core_stats
    assert cs.tx_qdisc_drops == 4 and fi.stats.purged == 4 and fi.stats.pending == 0
    assert live_timers(host, fi) == [] and balanced(fi.stats)
    assert host.dev_open(dev) == 0
    run(0.02)
    assert ops.sent_bytes == [] and cs.tx_qdisc_drops == 4 and fi.stats.delivered == 0
    frames = send_all(host, dev, 1)  # what comes after the up is delayed and sent
    run(0.02)
    assert ops.sent_bytes == frames * 2 and fi.stats.delivered == 2 and balanced(fi.stats)


def test_a_down_leaves_held_received_frames_to_the_delivery(
    host: Host, snull: LoadSnull, run: Run
) -> None:
    # Received frames are past the driver, not in the device's qdisc: a device that is
    # up again in time gets them, one that is still down drops them (rx_down_drops).
    snull()
    sn0, sn1 = get(host, "sn0"), get(host, "sn1")
    fi = FaultInjector(sn1, seed=1, delay=0.01, direction="rx")
    send_all(host, sn0, 2)
    host.dev_close(sn1)
    assert fi.stats.pending == 2 and fi.stats.purged == 0
    host.dev_open(sn1)
    run(0.02)
    assert [index_of(f) for f in mem(host).received("sn1")] == [0, 1]
    send_all(host, sn0, 1)
    host.dev_close(sn1)
    run(0.02)
    assert mem(host).received("sn1") == [] and sn1.core_stats.rx_down_drops == 1
    assert fi.stats.delivered == 3 and fi.stats.purged == 0 and balanced(fi.stats)


def test_delayed_frames_are_dropped_when_the_carrier_goes(host: Host, run: Run) -> None:
    # Linux's linkwatch runs dev_deactivate at carrier loss too: the qdiscs are reset.
    from netdrv_core import netif_carrier_off, netif_carrier_on

    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=0.01)
    send_all(host, dev, 3)
    netif_carrier_off(dev)
    assert dev.core_stats.tx_qdisc_drops == 3 and fi.stats.purged == 3
    send_all(host, dev, 2)  # noop_qdisc in netem's place: dropped, never held
    assert dev.core_stats.tx_qdisc_drops == 5 and fi.stats.seen == 3
    netif_carrier_on(dev)
    run(0.02)
    assert ops.sent_bytes == [] and balanced(fi.stats) and live_timers(host, fi) == []


@pytest.mark.parametrize("direction", ["tx", "rx", "both"])
def test_host_close_ends_every_delayed_frame(clock: FakeClock, direction: str) -> None:
    # The daemon closes its host and then its loop: a frame whose timer is still on the
    # loop would never end (never freed, never counted).
    host = Host(loop=EventLoop(clock=clock))
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=1.0, direction=direction)
    n_tx = 0 if direction == "rx" else 1
    n_rx = 0 if direction == "tx" else 2
    for i in range(n_tx):
        mem(host).send(dev, frame_n(dev, i))
    with host.as_current():
        for i in range(n_rx):
            netif_rx(rx_skb(dev, frame_n(dev, i)))
    host.loop.run_until_idle()
    held = [skb for _, skb, _ in fi._pending.values()]
    assert len(held) == n_tx + n_rx
    host.close()
    assert all(skb.freed for skb in held) and live_timers(host, fi) == []
    cs = dev.core_stats
    assert (cs.tx_qdisc_drops, cs.rx_down_drops) == (n_tx, n_rx)
    assert fi.stats.purged == len(held) and fi.stats.pending == 0 and balanced(fi.stats)
    fi.remove()  # after its device went: nothing left to release
    host.loop.close()
    assert ops.sent_bytes == [] and cs.rx_delivered == 0


def test_lowering_the_delay_lets_later_frames_pass_as_netem_does(host: Host, run: Run) -> None:
    # netem's tfifo sends by time_to_send (now + latency at enqueue, ties in arrival
    # order); only its rate, which netdrv has not, takes the time of the last frame.
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=0.05, direction="tx")
    send_all(host, dev, 2)
    fi.delay = 0.01
    mem(host).send(dev, frame_n(dev, 2))
    run(0.03)
    assert [index_of(f) for f in ops.sent_bytes] == [2]
    fi.delay = 0.1  # raised: the frames after wait behind those held
    mem(host).send(dev, frame_n(dev, 3))
    run(0.03)
    assert [index_of(f) for f in ops.sent_bytes] == [2, 0, 1]
    run(0.1)
    assert [index_of(f) for f in ops.sent_bytes] == [2, 0, 1, 3] and balanced(fi.stats)


def test_flush_releases_held_frames_in_the_order_they_were_due(host: Host) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=0.05, direction="tx")
    send_all(host, dev, 2)
    fi.delay = 0.01
    mem(host).send(dev, frame_n(dev, 2))
    fi.flush()
    fi.remove()
    assert [index_of(f) for f in ops.sent_bytes] == [2, 0, 1]


def test_both_directions_on_snull_keep_the_driver_contract(
    host: Host, snull: LoadSnull, run: Run
) -> None:
    snull(pool_size=4, use_napi=1, lockup=7, timeout=20)
    sn0, sn1 = get(host, "sn0"), get(host, "sn1")
    tx_fi = FaultInjector(sn0, seed=5, drop=0.1, duplicate=0.1, delay=0.003, direction="tx")
    rx_fi = FaultInjector(sn1, seed=5, drop=0.1, corrupt=0.1, delay=0.002, direction="rx")
    for i in range(120):
        mem(host).send(sn0, frame_n(sn0, i))
        if i % 8 == 0:
            run(0.002)
    run(0.5)
    assert tx_fi.stats.pending == 0 and rx_fi.stats.pending == 0
    assert balanced(tx_fi.stats) and balanced(rx_fi.stats)
    s = dev_get_stats(sn0)
    assert sn0.core_stats.tx_submitted == s.tx_packets + s.tx_dropped + s.tx_errors
    assert sn0.core_stats.tx_submitted == tx_fi.stats.delivered
    assert rx_fi.stats.seen == sn1.stats.rx_packets
    got = mem(host).received("sn1")
    assert len(got) == rx_fi.stats.delivered == sn1.core_stats.rx_delivered


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [({"drop": 1.5}, "drop must be a probability"), ({"corrupt": -0.1}, "corrupt"),
     ({"duplicate": 2}, "duplicate"), ({"delay": -1}, "delay"), ({"rate_limit": 0}, "rate_limit"),
     ({"direction": "up"}, "direction"), ({"rate_limit": 100, "burst": 0}, "burst")],
)  # fmt: skip
def test_argument_errors(host: Host, kw: dict[str, object], fragment: str) -> None:
    dev, _ = tx_dev(host)
    with pytest.raises(ValueError, match=fragment):
        FaultInjector(dev, **kw)  # type: ignore[arg-type]
    assert dev.xmit_hook is None and dev.rx_hook is None


def test_needs_a_registered_device() -> None:
    dev, _ = make_dev(None, "loose")
    with pytest.raises(ValueError, match="register the device"):
        FaultInjector(dev)


def test_repr_and_stats_dict(host: Host) -> None:
    dev, _ = tx_dev(host)
    fi = FaultInjector(dev, seed=1, drop=0.5)
    assert "drop=0.5" in repr(fi) and "both" in repr(fi)
    assert fi.stats.as_dict() == {"seen": 0, "delivered": 0, "dropped": 0, "rate_limited": 0,
                                  "corrupted": 0, "duplicated": 0, "delayed": 0, "pending": 0,
                                  "purged": 0, "segmented": 0, "limit_dropped": 0,
                                  "reordered": 0, "backlog": 0, "sent_bytes": 0,
                                  "sent_packets": 0}  # fmt: skip


class _RefusingStack:
    """Wraps a MemoryStack's receive: raises ``exc`` for every frame (a stack that refuses)."""

    def __init__(self, host: Host, exc: Exception) -> None:
        self.exc = exc
        host.attachment.receive = self.receive  # type: ignore[method-assign]

    def receive(self, dev: NetDevice, skb: SkBuff) -> bool:
        raise self.exc


@pytest.mark.parametrize(("exc", "faulted"), [(OSError(105, "no buffers"), False),
                                              (RuntimeError("malformed skb"), True)])  # fmt: skip
def test_a_delayed_frame_whose_delivery_raises_is_counted_like_on_the_core_path(
    exc: Exception, faulted: bool
) -> None:
    from fakedev import run_for

    from netdrv_core import netdev_alloc_skb, netif_rx

    clock = FakeClock()
    host = Host(loop=EventLoop(clock=clock))
    try:
        dev, _ = make_dev(host, "f%d")
        fi = FaultInjector(dev, seed=1, delay=0.01, direction="rx")
        _RefusingStack(host, exc)
        frame = frame_n(dev, 1)
        skb = netdev_alloc_skb(dev, len(frame))
        skb.put_data(frame)
        skb.dev = dev
        with host.as_current():
            netif_rx(skb)
            run_for(host, clock, 0.05)  # the delayed frame is released, and refused
        cs = dev.core_stats
        assert cs.rx_submitted == 1 and cs.rx_down_drops == 1 and cs.rx_delivered == 0
        assert dev.is_up is not faulted and balanced(fi.stats)
    finally:
        host.close()
        host.loop.close()


def test_injectors_removed_out_of_order_leave_the_chain_as_before_both(host: Host) -> None:
    # A on, B on, A removed, B removed: A's no-op hook must not stay on the device, where
    # an rx hook keeps GRO off for good.
    from test_core_gro import GroDriver, seg4

    drv = GroDriver(host)
    dev = drv.dev

    def base(skb: SkBuff) -> bool:
        return True

    dev.xmit_hook = base
    a = FaultInjector(dev, seed=1)
    b = FaultInjector(dev, seed=2)
    a.remove()
    b.remove()
    assert dev.xmit_hook is base and dev.rx_hook is None
    assert len(drv.receive([seg4(i) for i in range(3)])) == 1  # GRO merges again
    a = FaultInjector(dev, seed=1, direction="rx")
    b = FaultInjector(dev, seed=2, direction="rx")
    c = FaultInjector(dev, seed=3, direction="rx")
    b.remove()
    c.remove()
    assert dev.rx_hook == a._rx_hook  # a is still on
    a.remove()
    assert dev.rx_hook is None


def test_a_delayed_receive_for_a_device_unregistered_meanwhile_is_dropped_once(
    host: Host, run: Run
) -> None:
    dev, _ = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=0.01, direction="rx")
    skb = rx_skb(dev, frame_n(dev, 1))
    with host.as_current():
        netif_rx(skb)
    host.loop.run_until_idle()
    assert fi.stats.pending == 1
    host.unregister_netdev(dev)
    assert skb.freed  # dropped: a driver handing it up again is told it no longer owns it
    assert fi.stats.purged == 1 and live_timers(host, fi) == []
    run(0.02)
    cs = dev.core_stats
    assert cs.rx_submitted == 1 == cs.rx_down_drops and cs.rx_delivered == 0
    assert fi.stats.pending == 0 and balanced(fi.stats)
    assert mem(host).received_skbs(dev) == []


def test_received_frames_left_on_the_backlog_by_an_unregister_are_not_held(
    host: Host, run: Run
) -> None:
    # The backlog still hands them through the rx hook: held then, their timers would
    # outlive the device (and the loop, after Host.close).
    dev, _ = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=0.01, direction="rx")
    skbs = [rx_skb(dev, frame_n(dev, i)) for i in range(2)]
    with host.as_current():
        for skb in skbs:
            netif_rx(skb)
    assert len(host.backlog) == 2
    host.unregister_netdev(dev)
    host.loop.run_until_idle()
    assert all(skb.freed for skb in skbs) and dev.core_stats.rx_down_drops == 2
    assert fi.stats.pending == 0 and live_timers(host, fi) == [] and balanced(fi.stats)


def partial_udp(dev: NetDevice, i: int) -> bytes:
    """A UDP frame whose checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL)."""
    src, dst = "192.168.0.1", "192.168.1.2"
    payload = (i.to_bytes(4, "big") * 16)[:60]
    seg = bytearray(udp_packet(src, dst, 1, 2, payload))
    seg[26:28] = pseudo_header_sum(src, dst, 17, 8 + len(payload)).to_bytes(2, "big")
    return eth_frame(dev.dev_addr, HOST_MAC, ETH_P_IP, bytes(seg))


def detectable(frame: bytes) -> bool:
    """Whether a receiver verifying the checksums would see that ``frame`` was damaged."""
    return not (ipv4_checksum_ok(frame[14:]) and l4_checksum_ok(frame[14:]))


@pytest.mark.parametrize("seed", range(6))
def test_corruption_of_a_frame_with_its_checksum_left_to_the_hardware_is_detectable(
    host: Host, snull: LoadSnull, seed: int
) -> None:
    # A checksum finished after the flip (by the hardware on transmit; never, on receive,
    # where the stack trusts a CHECKSUM_PARTIAL frame as local) would hide the damage:
    # the application would get corrupted data.  netem finishes it before the flip.
    snull()
    sn0, sn1 = get(host, "sn0"), get(host, "sn1")
    hr = max(sn0.needed_headroom, 16)
    meta = {"ip_summed": CHECKSUM_PARTIAL, "csum_start": hr + 34, "csum_offset": 6,
            "protocol": ETH_P_IP}  # fmt: skip
    rx_fi = FaultInjector(sn1, seed=seed, corrupt=1.0, direction="rx")
    mem(host).send(sn0, partial_udp(sn0, seed), **meta)
    host.loop.run_until_idle()
    (skb,) = mem(host).received_skbs(sn1)
    assert rx_fi.stats.corrupted == 1 and skb.ip_summed == CHECKSUM_NONE
    assert detectable(bytes(skb.buf[skb.mac_header : skb.tail]))
    rx_fi.remove()
    dev, ops = make_dev(host, "f%d", features=NETIF_F_HW_CSUM)
    tx_fi = FaultInjector(dev, seed=seed, corrupt=1.0, direction="tx")
    mem(host).send(dev, partial_udp(dev, seed), **meta)
    host.loop.run_until_idle()
    (sent,) = ops.sent
    assert tx_fi.stats.corrupted == 1 and sent.ip_summed == CHECKSUM_NONE
    assert detectable(ops.sent_bytes[0])


def decisions(seed: int, drop: float, n: int = 40) -> dict[int, list[bytes]]:
    """What a tx injector (``drop``, corrupt 0.3, duplicate 0.3) hands on of ``n`` frames,
    by frame: the copies as they left it."""
    host = Host(loop=EventLoop(clock=FakeClock()))
    try:
        dev, _ = tx_dev(host)
        got: dict[int, list[bytes]] = {}

        def record(skb: SkBuff) -> bool:  # below the injector: sees what it hands on
            got.setdefault(skb.priority, []).append(bytes(skb.buf[skb.data : skb.tail]))
            return False

        dev.xmit_hook = record
        FaultInjector(dev, seed=seed, drop=drop, corrupt=0.3, duplicate=0.3, direction="tx")
        for i in range(n):
            mem(host).send(dev, frame_n(dev, i), priority=i)
        host.loop.run_until_idle()
        return got
    finally:
        host.close()
        host.loop.close()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.floats(0.0, 0.6), st.floats(0.0, 0.6))
def test_changing_the_drop_probability_changes_no_other_decision(
    seed: int, drop_a: float, drop_b: float
) -> None:
    a, b = decisions(seed, drop_a), decisions(seed, drop_b)
    for i in a.keys() & b.keys():  # a frame neither run dropped: damaged alike
        assert a[i][-1] == b[i][-1], f"frame {i}"  # the copy goes first, the frame last
        if len(a[i]) == len(b[i]) == 2:  # a copy neither run lost (by its own loss draw)
            assert a[i][0] == b[i][0], f"frame {i}'s copy"
