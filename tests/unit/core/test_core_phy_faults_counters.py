"""phy.faults: the counters as ``tc -s qdisc show`` has a netem qdisc's.

``Sent X bytes Y pkt (dropped D, overlimits O requeues R) backlog Bb Pp``: what was handed
on (netem counts at dequeue, qdisc_bstats_update), what it dropped itself, the frames
reordered (netem's requeues) and what it holds now.
"""

from __future__ import annotations

from fakedev import FakeClock, make_dev, mem
from fault_helpers import balanced, frame_n

from netdrv_core import Host
from netdrv_core.phy import FaultInjector
from netdrv_core.phy.faults import qdisc_stats

FRAME_LEN = 14 + 20 + 8 + 40  # frame_n's frames


def test_sent_counts_the_bytes_and_packets_handed_on(host: Host, clock: FakeClock) -> None:
    dev, ops = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=1, delay=0.5, direction="tx")
    for i in range(3):
        mem(host).send(dev, frame_n(dev, i))
    host.loop.run_until_idle()
    q = fi.stats.qdisc_stats()
    assert (q["bytes"], q["packets"], q["backlog"], q["qlen"]) == (0, 0, 3 * FRAME_LEN, 3)
    clock.advance(0.5)
    host.loop.run_until_idle()
    assert len(ops.sent) == 3
    q = fi.stats.qdisc_stats()
    assert (q["bytes"], q["packets"], q["backlog"], q["qlen"]) == (3 * FRAME_LEN, 3, 0, 0)
    assert q == {"bytes": 3 * FRAME_LEN, "packets": 3, "drops": 0, "overlimits": 0,
                 "requeues": 0, "backlog": 0, "qlen": 0}  # fmt: skip


def test_a_super_frame_is_sent_as_its_segments_count(host: Host) -> None:
    # qdisc_bstats_update: qdisc_pkt_len bytes (the headers each segment repeats) and
    # gso_segs packets
    from test_core_phy_faults_gso import HR, NSEGS, TCP_OFF, TSO, reference, super_frame

    dev, ops = make_dev(host, "f%d", features=TSO)
    fi = FaultInjector(dev, direction="tx")
    skb = super_frame(dev)
    skb.transport_header = HR + TCP_OFF
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    assert len(ops.sent) == 1 and ops.sent[0].gso_size  # the device's TSO cuts it up
    st = fi.stats
    assert st.sent_packets == NSEGS and st.delivered == 1
    assert st.sent_bytes == sum(len(seg) for seg in reference(dev))


def test_drops_overlimits_and_requeues_as_tc_shows_them(host: Host) -> None:
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=3, drop=0.3, delay=0.01, reorder=0.25, limit=20,
                       rate_limit=8 * FRAME_LEN * 1000, burst=30 * FRAME_LEN,
                       direction="tx")  # fmt: skip
    for i in range(60):
        mem(host).send(dev, frame_n(dev, i))
    host.loop.run_until_idle()
    st = fi.stats
    assert st.dropped and st.limit_dropped and st.rate_limited and st.reordered
    q = st.qdisc_stats()
    # netem's drops: lost and at the limit; the policer's count as a police action's,
    # dropped and over its limit
    assert q["drops"] == st.dropped + st.limit_dropped + st.rate_limited
    assert q["overlimits"] == st.rate_limited and q["requeues"] == st.reordered
    assert (q["backlog"], q["qlen"]) == (st.backlog, st.pending) == (20 * FRAME_LEN, 20)
    assert q["packets"] == st.delivered == st.reordered and q["bytes"] == FRAME_LEN * q["packets"]
    assert qdisc_stats(st.as_dict()) == q and balanced(st)


def test_frames_purged_are_not_drops(host: Host) -> None:
    # qdisc_reset (the device down, tc qdisc del) frees netem's queue without counting drops
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, delay=1.0, direction="tx")
    for i in range(4):
        mem(host).send(dev, frame_n(dev, i))
    host.loop.run_until_idle()
    fi.remove()
    assert fi.stats.purged == 4 and fi.stats.qdisc_stats()["drops"] == 0
    assert fi.stats.qdisc_stats()["qlen"] == 0


def test_a_super_frame_from_the_tap_is_counted_as_its_segments(
    host: Host, clock: FakeClock
) -> None:
    # Linux's virtio_net_hdr_to_skb (skb_partial_csum_set) sets the transport header at
    # csum_start, so qdisc_pkt_len_init counts the headers each segment repeats and
    # gso_segs packets; the injector falls back to csum_start where nobody set it.
    from test_core_phy_faults_gso import HR, NSEGS, TSO, reference, super_frame

    from netdrv_core import SkBuff
    from netdrv_core.attach.vnet import VNET_HDR, apply_vnet_header

    dev, ops = make_dev(host, "f%d", features=TSO)
    fi = FaultInjector(dev, delay=0.5, direction="tx")
    whole = super_frame(dev)
    skb = SkBuff(HR + len(whole))
    skb.buf[HR:] = whole.tobytes()
    skb.data, skb.tail, skb.dev = HR, HR + len(whole), dev
    apply_vnet_header(VNET_HDR.pack(1, 1, 0, whole.gso_size, whole.csum_start - HR, 16), skb)
    assert skb.gso_size and skb.transport_header == whole.csum_start  # skb_partial_csum_set
    skb.transport_header = -1  # a super-frame whose transport header nobody set
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    qdisc_len = sum(len(seg) for seg in reference(dev))
    assert (fi.stats.backlog, fi.stats.pending) == (qdisc_len, 1)
    clock.advance(0.5)
    host.loop.run_until_idle()
    assert len(ops.sent) == 1 and ops.sent[0].gso_size
    assert (fi.stats.sent_bytes, fi.stats.sent_packets) == (qdisc_len, NSEGS)
