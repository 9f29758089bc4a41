"""phy.faults as netem (net/sched/sch_netem.c): rate queues, limit, jitter, reorder,
correlation, and removal dropping what is held (``tc qdisc del``).

Time is the host loop's fake clock: departure times are read off it, never measured.
"""

from __future__ import annotations

import itertools

import pytest
from fakedev import FakeClock, make_dev, mem
from fault_helpers import balanced, frame_n, index_of, live_timers

from netdrv_core import Host, NetDevice
from netdrv_core.phy import FaultInjector

FRAME_LEN = 14 + 20 + 8 + 40  # frame_n's frames: 82 bytes on the wire


def send(host: Host, dev: NetDevice, first: int, n: int) -> None:
    for i in range(first, first + n):
        mem(host).send(dev, frame_n(dev, i))
    host.loop.run_until_idle()


def departures(host: Host, clock: FakeClock, ops: object, seconds: float, step: float = 0.001
               ) -> dict[int, float]:  # fmt: skip
    """Run the loop ``seconds`` in ``step``s: each frame's index -> the clock when it left."""
    sent: list[bytes] = ops.sent_bytes  # type: ignore[attr-defined]
    out = {index_of(f): clock.now for f in sent}
    for _ in range(round(seconds / step)):
        clock.advance(step)
        host.loop.run_until_idle()
        for f in sent[len(out) :]:
            out[index_of(f)] = clock.now
    return out


# -- rate: netem queues, it does not police --------------------------------------------------


def test_rate_queues_back_to_back_frames_at_their_serialisation_time(
    host: Host, clock: FakeClock
) -> None:
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, rate=8000.0, direction="tx")  # 1000 bytes/s
    start = clock.now
    send(host, dev, 0, 3)
    assert ops.sent_bytes == [] and fi.stats.pending == 3 and fi.stats.backlog == 3 * FRAME_LEN
    assert fi.stats.rate_limited == 0 and fi.stats.limit_dropped == 0 and balanced(fi.stats)
    left = departures(host, clock, ops, 0.3, step=0.0005)
    assert sorted(left) == [0, 1, 2] and fi.stats.delivered == 3 and balanced(fi.stats)
    per_frame = FRAME_LEN * 8 / 8000.0  # 82 ms each
    for i in range(3):  # each leaves after the one before it plus its own time on the wire
        assert left[i] - start >= (i + 1) * per_frame
        assert left[i] - start < (i + 1) * per_frame + 0.001
    assert fi.stats.backlog == 0


def test_rate_counts_packet_overhead_and_cells(host: Host, clock: FakeClock) -> None:
    # packet_time_ns: (len + overhead) rounded up to cells of cell_size + cell_overhead
    dev, ops = make_dev(host, "f%d")
    FaultInjector(dev, rate=8000.0, packet_overhead=14, cell_size=48, cell_overhead=5,
                  direction="tx")  # fmt: skip
    start = clock.now
    send(host, dev, 0, 1)
    left = departures(host, clock, ops, 0.2, step=0.0005)
    wire = 2 * (48 + 5)  # 82 + 14 = 96 bytes: two cells
    assert wire * 8 / 8000.0 <= left[0] - start < wire * 8 / 8000.0 + 0.001


def test_a_delay_and_a_rate_add_up_and_keep_the_order(host: Host, clock: FakeClock) -> None:
    dev, ops = make_dev(host, "f%d")
    FaultInjector(dev, seed=1, delay=0.05, jitter=0.04, rate=80000.0, direction="tx")
    send(host, dev, 0, 20)
    left = departures(host, clock, ops, 1.0)
    assert len(left) == 20
    # with a rate each frame leaves after the last one queued: jitter does not reorder
    assert [index_of(f) for f in ops.sent_bytes] == list(range(20))


# -- limit ------------------------------------------------------------------------------------


def test_a_frame_finding_the_queue_full_is_dropped_and_counted(
    host: Host, clock: FakeClock
) -> None:
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, rate=8000.0, limit=5, direction="tx")
    send(host, dev, 0, 8)
    assert fi.stats.pending == 5 and fi.stats.limit_dropped == 3 and balanced(fi.stats)
    departures(host, clock, ops, 1.0)
    assert [index_of(f) for f in ops.sent_bytes] == [0, 1, 2, 3, 4] and balanced(fi.stats)
    send(host, dev, 8, 1)  # room again
    assert fi.stats.pending == 1


def test_the_default_limit_is_netem_s_1000_packets(host: Host) -> None:
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, delay=1.0, direction="tx")
    assert fi.limit == 1000 and fi.settings()["limit"] == 1000
    send(host, dev, 0, 1003)
    assert fi.stats.pending == 1000 and fi.stats.limit_dropped == 3 and balanced(fi.stats)


# -- jitter -------------------------------------------------------------------------------------


def test_uniform_jitter_spreads_and_reorders_as_netem_s_tfifo(host: Host, clock: FakeClock) -> None:
    dev, ops = make_dev(host, "f%d")
    FaultInjector(dev, seed=4, delay=0.05, jitter=0.01, direction="tx")
    start = clock.now
    send(host, dev, 0, 200)
    left = departures(host, clock, ops, 0.1)
    times = [left[i] - start for i in range(200)]
    assert all(0.04 - 1e-9 <= t <= 0.061 for t in times)  # delay +- jitter, uniform
    assert len({round(t, 3) for t in times}) > 15
    order = [index_of(f) for f in ops.sent_bytes]
    assert order != sorted(order) and sorted(order) == list(range(200))


def test_jitter_is_the_same_for_the_same_seed(clock: FakeClock) -> None:
    from netdrv_core.loop import EventLoop

    def order(seed: int) -> list[int]:
        host = Host(loop=EventLoop(clock=FakeClock()))
        try:
            dev, ops = make_dev(host, "f%d")
            FaultInjector(dev, seed=seed, delay=0.05, jitter=0.02, direction="tx")
            send(host, dev, 0, 50)
            departures(host, host.loop.clock, ops, 0.1)  # type: ignore[arg-type]
            return [index_of(f) for f in ops.sent_bytes]
        finally:
            host.close()
            host.loop.close()

    assert order(1) == order(1) != order(2)


def test_a_normal_distribution_has_tails_a_uniform_one_has_not(
    host: Host, clock: FakeClock
) -> None:
    dev, ops = make_dev(host, "f%d")
    FaultInjector(dev, seed=2, delay=0.1, jitter=0.01, distribution="normal", direction="tx")
    start = clock.now
    send(host, dev, 0, 400)
    left = departures(host, clock, ops, 0.2)
    off = [left[i] - start - 0.1 for i in range(400)]
    within = sum(abs(x) <= 0.0105 for x in off)
    assert 0.55 * 400 < within < 0.8 * 400  # about 68 % within one sigma
    assert any(abs(x) > 0.015 for x in off) and all(abs(x) < 0.05 for x in off)


# -- reorder ------------------------------------------------------------------------------------


def test_reorder_sends_some_frames_at_once_ahead_of_the_delayed(host: Host) -> None:
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=3, delay=0.01, reorder=0.25, direction="tx")
    assert fi.gap == 1  # tc's default with a reorder probability
    send(host, dev, 0, 400)
    now = len(ops.sent_bytes)
    assert 60 < now < 140 and fi.stats.reordered == now and fi.stats.pending == 400 - now


def test_reorder_with_a_gap_sends_every_gap_th_frame_at_once(host: Host) -> None:
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=3, delay=0.01, reorder=1.0, gap=5, direction="tx")
    send(host, dev, 0, 20)
    assert [index_of(f) for f in ops.sent_bytes] == [4, 9, 14, 19] and fi.stats.reordered == 4


# -- correlation -------------------------------------------------------------------------------


def _changes(seq: list[bool]) -> int:
    return sum(a != b for a, b in itertools.pairwise(seq))


def test_correlated_loss_comes_in_longer_runs(host: Host) -> None:
    def losses(corr: float) -> list[bool]:
        dev, ops = make_dev(host, "f%d")
        FaultInjector(dev, seed=5, drop=0.5, drop_corr=corr, direction="tx")
        send(host, dev, 0, 400)
        got = {index_of(f) for f in ops.sent_bytes}
        return [i not in got for i in range(400)]

    plain, correlated = losses(0.0), losses(0.9)
    assert _changes(correlated) * 2 < _changes(plain)


# -- removal drops what is held, as tc qdisc del -----------------------------------------------


def test_remove_drops_held_frames_and_counts_them(host: Host) -> None:
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, delay=10.0, direction="tx")
    send(host, dev, 0, 3)
    fi.remove()
    host.loop.run_until_idle()
    assert ops.sent_bytes == [] and fi.stats.purged == 3 and fi.stats.pending == 0
    assert dev.core_stats.tx_qdisc_drops == 3 and live_timers(host, fi) == []
    assert fi.stats.backlog == 0 and balanced(fi.stats)


def test_flush_still_releases_them_in_the_order_they_were_due(host: Host) -> None:
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, delay=0.05, direction="tx")
    send(host, dev, 0, 2)
    fi.delay = 0.01
    send(host, dev, 2, 1)
    fi.flush()
    assert [index_of(f) for f in ops.sent_bytes] == [2, 0, 1] and balanced(fi.stats)
    fi.remove()


# -- parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [({"jitter": -0.001, "delay": 0.01}, "jitter"), ({"limit": -1}, "limit"),
     ({"rate": 0.0}, "rate"), ({"reorder": 0.5}, "reordering needs a delay"),
     ({"delay": 0.01, "gap": 3}, "gap needs a reorder probability"),
     ({"delay": 0.01, "jitter": 0.001, "distribution": "paretonormal"}, "distribution"),
     ({"delay": 0.01, "distribution": "normal"}, "distribution needs a delay and a jitter"),
     ({"drop_corr": 1.5}, "drop_corr"), ({"cell_size": -1}, "cell_size")],
)  # fmt: skip
def test_netem_argument_errors(host: Host, kw: dict[str, object], fragment: str) -> None:
    dev, _ = make_dev(host, "f%d")
    with pytest.raises(ValueError, match=fragment):
        FaultInjector(dev, **kw)  # type: ignore[arg-type]
    assert dev.xmit_hook is None


def test_change_takes_the_netem_parameters(host: Host) -> None:
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, delay=0.01, direction="tx")
    fi.change(delay=0.1, jitter=0.01, delay_corr=0.25, rate=1e6, limit=10, reorder=0.1, gap=3)
    s = fi.settings()
    assert (s["jitter"], s["delay_corr"], s["rate"], s["limit"], s["reorder"], s["gap"]) == (
        0.01, 0.25, 1e6, 10, 0.1, 3)  # fmt: skip
    fi.change()
    assert fi.settings()["limit"] == 1000 and fi.settings()["rate"] is None


def test_a_super_frame_counts_the_headers_its_segments_repeat(host: Host) -> None:
    # qdisc_pkt_len_init: a GSO skb's length for the qdisc (netem's rate, its backlog) is
    # that of the segments it will be on the wire, each with its own headers
    from test_core_phy_faults_gso import HR, TCP_OFF, reference, super_frame

    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, rate=1e6, direction="tx")
    skb = super_frame(dev)
    skb.transport_header = HR + TCP_OFF
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    assert fi.stats.pending == 1
    assert fi.stats.backlog == sum(len(seg) for seg in reference(dev))


# -- netem_enqueue's order: duplicate, loss, the copy re-enqueued on its own -------------------


def test_a_frame_hit_by_loss_and_duplicate_goes_out_once(host: Host) -> None:
    # netem_enqueue: count = 1, ++count on a duplicate, --count on a loss: sent once, no copy
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, drop=1.0, duplicate=1.0, direction="tx")
    send(host, dev, 0, 5)
    assert [index_of(f) for f in ops.sent_bytes] == [0, 1, 2, 3, 4]
    st = fi.stats
    assert (st.dropped, st.duplicated, st.delivered) == (0, 0, 5) and balanced(st)


def test_the_copy_draws_its_own_loss(host: Host) -> None:
    # the copy is re-enqueued at the root: it goes through the loss (and the rest) itself
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=2, drop=0.5, duplicate=1.0, direction="tx")
    send(host, dev, 0, 100)
    times = [sum(index_of(f) == i for f in ops.sent_bytes) for i in range(100)]
    assert min(times) >= 1  # a frame with a copy to make is never lost: one of the two goes
    st = fi.stats
    assert 0 < st.dropped < st.duplicated  # copies lost by their own draw
    assert times.count(2) == st.duplicated - st.dropped and balanced(st)


def test_the_copy_is_taken_before_the_corruption_and_draws_its_own(host: Host) -> None:
    # "clone it before original is modified": a copy carries no damage of its original's
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, corrupt=0.5, duplicate=1.0, direction="tx")
    frames = [frame_n(dev, i) for i in range(40)]
    for f in frames:
        mem(host).send(dev, f)
    host.loop.run_until_idle()
    sent = ops.sent_bytes
    assert len(sent) == 80
    damaged = [sent[2 * i] != frames[i] for i in range(40)], [
        sent[2 * i + 1] != frames[i] for i in range(40)]  # fmt: skip
    # netem enqueues the copy first (at the root), then the original: pairs in that order
    assert any(c != o for c, o in zip(*damaged, strict=True))
    assert fi.stats.corrupted == sum(damaged[0]) + sum(damaged[1]) and balanced(fi.stats)


def test_an_accepted_frame_s_copy_is_accepted_too(host: Host) -> None:
    # netem checks the limit once, for the original; its copy, enqueued at the root before
    # it, passes: the queue may hold limit + 1.  A frame refused takes its copy with it.
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, delay=1.0, duplicate=1.0, limit=3, direction="tx")
    send(host, dev, 0, 3)
    st = fi.stats
    # 0 and its copy fit (2 held), 1 fits and so does its copy (4), 2 finds 4 >= 3
    assert (st.pending, st.limit_dropped, st.duplicated) == (4, 2, 3) and balanced(st)
    assert st.backlog == 4 * FRAME_LEN


# -- the pareto table, reorder's draws, change() ---------------------------------------------------


def test_the_pareto_table_is_iproute2_s() -> None:
    # netem/pareto.c: (x ** (-1/3) - 1.5) * 4/3 * NETEM_DIST_SCALE, clipped at 32767
    from netdrv_core.phy.faults import _table

    table = _table("pareto")
    assert len(table) == 4096 and list(table) == sorted(table)
    assert table[0] == -5461 / 8192  # x = 1: -0.667 sigma
    assert table[-1] == 32767 / 8192  # the long tail, clipped: +4.0 sigma
    assert abs(sum(table) / len(table)) < 0.05  # mean about 0


def test_the_normal_table_is_iproute2_s() -> None:
    # netem/normal.c: table[rint(16384 * Phi(x))] = x for x from -10 by .00005, every 4th
    # entry, rint(x * NETEM_DIST_SCALE) within a short's range (-4.0 sigma at the bottom)
    from netdrv_core.phy.faults import _table

    table = _table("normal")
    assert len(table) == 4096 and list(table) == sorted(table)
    assert all((v * 8192).is_integer() for v in table)
    assert [round(v * 8192) for v in table[:8]] == [
        -32768, -28307, -26871, -25967, -25298, -24765, -24320, -23937]  # fmt: skip
    assert [round(v * 8192) for v in table[-4:]] == [25450, 26164, 27159, 28858]
    assert [round(v * 8192) for v in table[2047:2050]] == [-5, 0, 5]


def test_jitter_is_capped_at_int_max_nanoseconds(host: Host, clock: FakeClock) -> None:
    # netem_change: q->jitter = min_t(s64, abs(q->jitter), INT_MAX) (ns), for tabledist
    cap = (2**31 - 1) / 1e9
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, delay=5.0, jitter=3.0, direction="tx")
    assert fi.jitter == cap and fi.settings()["jitter"] == cap
    start = clock.now
    send(host, dev, 0, 200)
    left = [t - start for t in departures(host, clock, ops, 8.0, step=0.01).values()]
    assert len(left) == 200
    assert 5.0 - cap <= min(left) and max(left) <= 5.0 + cap + 0.01
    assert min(left) < 3.0 < 7.0 < max(left)  # the jitter is used
    fi.change(delay=1.0, jitter=1.0, direction="tx")
    assert fi.jitter == 1.0  # below the cap: as given


def test_reorder_draws_only_once_the_gap_is_reached(host: Host) -> None:
    # netem: gap == 0 || counter < gap - 1 || reorder < get_crandom(): the draw only
    # when the counter allows a reordering.  With gap 1 every frame draws: the draws.
    def reordered(gap: int, n: int) -> list[int]:
        dev, ops = make_dev(host, "f%d")
        FaultInjector(dev, seed=4, delay=0.01, reorder=0.5, gap=gap, direction="tx")
        send(host, dev, 0, n)
        return [index_of(f) for f in ops.sent_bytes]

    draws = set(reordered(1, 200))  # the k-th draw is a hit iff frame k was sent at once
    expected, counter, k = [], 0, 0
    for i in range(60):
        if counter >= 3 - 1:
            hit = k in draws
            k += 1
            if hit:
                expected.append(i)
                counter = 0
                continue
        counter += 1
    assert reordered(3, 60) == expected


def test_change_restarts_the_reorder_gap(host: Host) -> None:
    # netem_change: q->counter = 0
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, delay=0.01, reorder=1.0, gap=5, direction="tx")
    send(host, dev, 0, 3)
    fi.change(**fi.settings())
    send(host, dev, 3, 5)
    assert [index_of(f) for f in ops.sent_bytes] == [7]


def test_a_frame_reordered_ahead_is_the_last_one_the_rate_queues_behind(
    host: Host, clock: FakeClock
) -> None:
    # netem_enqueue's rate starts from the last frame in the qdisc, sch->q's tail among
    # them: a frame reordered to the head (time_to_send = now) is there until the dequeue
    # after the enqueue.  Its copy reordered (gap 3: every third enqueue, here a copy before
    # its frame), the frame queues behind it at the rate: a delay drawn below zero (jitter
    # above the delay) does not send it at once, it leaves after its serialisation time.
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=5, duplicate=1.0, delay=0.001, jitter=1.0, reorder=1.0, gap=3,
                       rate=8000.0, direction="tx")  # fmt: skip
    per_frame = FRAME_LEN * 8 / 8000.0
    checked = 0
    for i in range(60):
        assert fi.stats.pending == 0  # nothing held: only the reordered copy is ahead
        reordered = fi.stats.reordered
        mem(host).send(dev, frame_n(dev, i))
        host.loop.run_until_idle()
        if i % 3 == 1:  # enqueues 3i (the copy) and 3i + 1 (the frame): the copy went ahead
            assert fi.stats.reordered == reordered + 1
            assert [index_of(f) for f in ops.sent_bytes].count(i) == 1
            clock.advance(per_frame - 0.001)
            host.loop.run_until_idle()
            assert [index_of(f) for f in ops.sent_bytes].count(i) == 1, i
            checked += 1
        clock.advance(3.0)  # every frame held leaves
        host.loop.run_until_idle()
        assert [index_of(f) for f in ops.sent_bytes].count(i) == 2
    assert checked == 20 and balanced(fi.stats)
