"""phy.faults: the counters over random settings, as ``tc -s qdisc show`` has them.

Every frame in (seen, copied or cut up) is handed on (``Sent``), dropped, held or purged;
what was handed on is counted in ``Sent`` once, with the bytes and packets
``qdisc_bstats_update`` counts (``qdisc_pkt_len``, a super-frame's ``gso_segs``), as a
hook below the injector sees it; ``backlog`` and ``qlen`` are what is held.
"""

from __future__ import annotations

import random

import pytest
from fakedev import FakeClock, make_dev, rx_skb
from fault_helpers import balanced, frame_n
from test_core_phy_faults_gso import MSS, ONE_SEG, TSO, super_frame

from netdrv_core import Host, SkBuff, netif_rx
from netdrv_core.loop import EventLoop
from netdrv_core.phy import FaultInjector
from netdrv_core.skbuff import SKB_GSO_TCPV4

HDRS = 14 + 20 + 20  # a super-frame's headers, repeated by each of its segments


def qdisc_len_segs(skb: SkBuff) -> tuple[int, int]:
    """The bytes and packets a qdisc counts for ``skb`` (from its link header)."""
    start = skb.mac_header if 0 <= skb.mac_header < skb.data else skb.data
    n = skb.tail - start
    if not skb.gso_size:
        return n, 1
    segs = max(1, -(-(n - HDRS) // skb.gso_size))
    return n + (segs - 1) * HDRS, segs


def random_settings(rng: random.Random) -> dict[str, object]:
    p = [0.0, 0.0, 0.2, 0.5, 1.0]
    s: dict[str, object] = {
        "seed": rng.randrange(1000),
        "drop": rng.choice(p),
        "corrupt": rng.choice(p),
        "duplicate": rng.choice(p),
        "delay": rng.choice([0.0, 0.0, 0.001, 0.01]),
        "limit": rng.choice([1, 3, 1000]),
        "direction": "both",
    }
    if s["delay"]:
        s["jitter"] = rng.choice([0.0, 0.005, 0.02])
        s["reorder"] = rng.choice([0.0, 0.3, 1.0])
        if s["reorder"]:
            s["gap"] = rng.choice([1, 3])
    if rng.random() < 0.4:
        s["rate"] = rng.choice([1e5, 1e7])
    if rng.random() < 0.3:
        s["rate_limit"], s["burst"] = 8e5, 20000
    return s


@pytest.mark.parametrize("seed", range(40))
def test_every_frame_is_sent_dropped_held_or_purged_and_sent_counted_once(seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    host = Host(loop=EventLoop(clock=clock))
    dev, _ = make_dev(host, "f%d", features=TSO)
    handed_on: list[tuple[int, int]] = []  # (bytes, packets) of each frame handed on

    def below(skb: SkBuff) -> bool:  # the hook the injector hands its frames on to
        handed_on.append(qdisc_len_segs(skb))
        return True

    dev.xmit_hook = dev.rx_hook = below
    fi = FaultInjector(dev, **random_settings(rng))  # type: ignore[arg-type]

    def check() -> None:
        st = fi.stats
        assert balanced(st), st
        tx, rx = fi.stats_by_direction["tx"], fi.stats_by_direction["rx"]
        assert balanced(tx) and balanced(rx), (tx, rx)  # each direction's books, too
        assert {k: v + rx.as_dict()[k] for k, v in tx.as_dict().items()} == st.as_dict()
        assert st.delivered == len(handed_on), st
        assert st.sent_bytes == sum(b for b, _ in handed_on), st
        assert st.sent_packets == sum(p for _, p in handed_on), st
        q = st.qdisc_stats()
        assert q["drops"] == st.dropped + st.limit_dropped + st.rate_limited
        assert (q["bytes"], q["packets"]) == (st.sent_bytes, st.sent_packets)
        held = [skb for _, skb, _ in fi._pending.values()]
        assert (q["qlen"], q["backlog"]) == (len(held), sum(qdisc_len_segs(s)[0] for s in held))

    for i in range(60):
        what = rng.randrange(6)
        if what == 0:
            # as the TAP attachment hands it on: csum_start set, no transport header
            host.dev_queue_xmit(super_frame(dev, payload=rng.choice([ONE_SEG, b"x" * 5000])))
        elif what == 1:
            skb = rx_skb(dev, super_frame(dev).tobytes())
            skb.network_header = skb.data  # as GRO hands it up: its headers set
            skb.transport_header = skb.data + 20
            skb.gso_size, skb.gso_type = MSS, SKB_GSO_TCPV4
            netif_rx(skb)
        elif what == 2:
            netif_rx(rx_skb(dev, frame_n(dev, i)))
        elif what == 3:
            clock.advance(rng.choice([0.001, 0.01, 0.1]))
        elif what == 4 and rng.random() < 0.2:
            fi.change(**random_settings(rng))  # type: ignore[arg-type]
        elif what == 4 and rng.random() < 0.2:
            host.dev_close(dev)  # netem's queue is reset: what it held is purged
            assert host.dev_open(dev) == 0
        else:
            skb = SkBuff(16 + 82)
            skb.buf[16:] = frame_n(dev, i)
            skb.data = skb.mac_header = 16
            skb.tail = 16 + 82
            skb.dev = dev
            host.dev_queue_xmit(skb)
        host.loop.run_until_idle()
        check()
    fi.remove() if rng.random() < 0.5 else fi.flush()
    host.loop.run_until_idle()
    check()
    assert fi.stats.pending == fi.stats.backlog == 0
    host.close()
    host.loop.close()
