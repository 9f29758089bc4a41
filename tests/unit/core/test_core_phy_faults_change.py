"""phy.faults: FaultInjector.change, tc qdisc change … netem: every parameter replaced at once."""

from __future__ import annotations

import math

import pytest
from fakedev import FakeClock, Run, mem
from test_core_phy_faults import balanced, dropped_indexes, frame_n, index_of, send_all, tx_dev

from netdrv_core import Host
from netdrv_core.phy import FaultInjector


def test_a_change_puts_every_parameter_not_given_back_to_its_default(host: Host) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=3, drop=0.5, corrupt=0.1, duplicate=0.2, delay=0.01,
                       rate_limit=1e6, burst=5000, direction="tx")  # fmt: skip
    fi.change(duplicate=1.0)
    assert fi.settings() == {
        "seed": None, "drop": 0.0, "corrupt": 0.0, "duplicate": 1.0, "delay": 0.0,
        "jitter": 0.0, "distribution": None, "reorder": 0.0, "gap": 0, "drop_corr": 0.0,
        "corrupt_corr": 0.0, "duplicate_corr": 0.0, "delay_corr": 0.0, "reorder_corr": 0.0,
        "rate": None, "packet_overhead": 0, "cell_size": 0, "cell_overhead": 0, "limit": 1000,
        "rate_limit": None, "burst": 2 * 1514, "direction": "tx",
    }  # fmt: skip
    send_all(host, dev, 3)
    assert len(ops.sent_bytes) == 6 and fi.stats.dropped == 0 and fi.stats.pending == 0


def test_a_refused_change_changes_nothing(host: Host) -> None:
    dev, _ = tx_dev(host)
    fi = FaultInjector(dev, seed=3, drop=0.5, rate_limit=8000, burst=300, direction="tx")
    before = fi.settings()
    rng, buckets = fi._rng, fi._buckets
    for kw, what in (({"drop": 0.1, "corrupt": 1.5}, "corrupt"), ({"delay": math.nan}, "delay"),
                     ({"delay": -1.0}, "delay"), ({"rate_limit": 0.0}, "rate_limit"),
                     ({"rate_limit": 100.0, "burst": 0}, "burst")):  # fmt: skip
        with pytest.raises(ValueError, match=what):
            fi.change(**kw)  # type: ignore[arg-type]
        assert fi.settings() == before and fi._rng is rng and fi._buckets is buckets


def test_the_direction_does_not_change(host: Host) -> None:
    dev, _ = tx_dev(host)
    fi = FaultInjector(dev, drop=0.5, direction="tx")
    with pytest.raises(ValueError, match="remove the injector and install a new one"):
        fi.change(drop=1.0, direction="both")
    assert fi.drop == 0.5 and dev.rx_hook is None and dev.xmit_hook == fi._tx_hook
    fi.change(drop=1.0, direction="tx")
    assert fi.drop == 1.0 and fi.direction == "tx"


def test_a_change_reseeds_the_streams_and_counts_on(host: Host) -> None:
    # netem's change draws its random state again from the seed given (a new one if none).
    expected = dropped_indexes(42, 0.3)
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=7, drop=0.9, direction="tx")
    send_all(host, dev, 20)
    fi.change(seed=42, drop=0.3)
    sent = len(ops.sent_bytes)
    send_all(host, dev, 200)
    got = {index_of(f) for f in ops.sent_bytes[sent:]}
    assert [i for i in range(200) if i not in got] == expected
    assert fi.stats.seen == 220 and balanced(fi.stats)


def test_a_change_rebuilds_the_token_bucket_full_at_the_new_rate(
    host: Host, clock: FakeClock
) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, rate_limit=8000, burst=300, direction="tx")  # 1000 B/s
    send_all(host, dev, 5, 58)  # 100-byte frames: the bucket is empty after three
    assert len(ops.sent_bytes) == 3 and fi.stats.rate_limited == 2
    fi.change(rate_limit=800, burst=500)  # 100 B/s, full again
    send_all(host, dev, 6, 58)
    assert len(ops.sent_bytes) == 8 and fi.stats.rate_limited == 3
    clock.advance(1.0)  # 100 bytes at the new rate, not 1000
    send_all(host, dev, 2, 58)
    assert len(ops.sent_bytes) == 9 and fi.stats.rate_limited == 4
    fi.change()  # no rate: no bucket
    send_all(host, dev, 10, 58)
    assert len(ops.sent_bytes) == 19 and fi.stats.rate_limited == 4


def test_held_frames_keep_their_time_across_a_change(host: Host, run: Run) -> None:
    dev, ops = tx_dev(host)
    fi = FaultInjector(dev, seed=1, delay=0.05, direction="tx")
    send_all(host, dev, 2)
    fi.change(delay=0.01)  # as tc qdisc change … netem delay 10ms after 50ms
    mem(host).send(dev, frame_n(dev, 2))
    run(0.03)
    assert [index_of(f) for f in ops.sent_bytes] == [2]
    fi.change()  # no delay: what is held still leaves when due
    run(0.03)
    assert [index_of(f) for f in ops.sent_bytes] == [2, 0, 1] and balanced(fi.stats)


def test_check_resolves_the_defaults_and_installs_nothing(host: Host) -> None:
    dev, _ = tx_dev(host)
    assert FaultInjector.check(dev, rate_limit=1000)["burst"] == 2 * 1514
    assert FaultInjector.check(dev, rate_limit=1000, burst=99, seed=5)["burst"] == 99
    assert FaultInjector.check(dev, delay=0.1, reorder=0.5)["gap"] == 1  # tc's default gap
    with pytest.raises(TypeError, match="no parameter 'loss'"):
        FaultInjector.check(dev, loss=0.1)
    for bad in (math.inf, math.nan, -1.0):  # a raw control client can send Infinity
        with pytest.raises(ValueError, match="delay must be >= 0 seconds and finite"):
            FaultInjector.check(dev, delay=bad)
    with pytest.raises(ValueError, match="direction"):
        FaultInjector.check(dev, direction="sideways")
    assert dev.xmit_hook is None and dev.rx_hook is None
