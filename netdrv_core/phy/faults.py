"""A fault injector for any registered device (after smoltcp's ``FaultInjector``).

::

    fi = FaultInjector(dev, seed=1, drop=0.1, corrupt=0.01, delay=0.02, direction="both")
    ...
    print(fi.stats)
    fi.remove()

It sits on the device's ``xmit_hook`` (frames the stack sends, before the
qdisc and ``start_xmit``) and/or ``rx_hook`` (frames the driver hands up,
before they reach the stack), chaining whatever hook was there: the newest
middleware sees a frame first and hands it on to the one installed before it.

For each frame, in this order (netem_enqueue's, one direction like one netem qdisc):

1. ``drop`` — with this probability the frame is dropped;
2. ``rate_limit`` — a policer, not netem's: a token bucket of ``rate_limit``
   bit/s holding ``burst`` bytes (default: two full-size frames); a frame that
   finds too few tokens is dropped (``rate_limited``).  A frame larger than the
   bucket (a TSO super-frame) passes when the bucket is full, and the frames
   after it wait until the rate has paid for it.  netem's ``rate`` (below)
   queues instead;
3. ``corrupt`` — with this probability one random bit of the packet data
   (``skb.data`` to ``tail``: the whole frame on transmit, the payload after
   the already parsed link header on receive) is flipped so that the
   checksums tell: one left to the hardware (CHECKSUM_PARTIAL) is finished in
   software first, as netem does, and a receive-side CHECKSUM_UNNECESSARY or
   CHECKSUM_COMPLETE is withdrawn so the stack verifies them.  A GSO
   super-frame (``gso_size`` set) is segmented in software first, as netem's
   ``netem_segment`` does (the device's checksum offloads kept on transmit,
   none on receive), and only its first segment is damaged: corrupted whole,
   the flipped bit would go out under checksums the device or the later
   segmentation computes afresh.  Every segment then goes on as the frame would
   (duplicated, queued) with the frame's draws; the segments beyond the first are
   counted in ``segmented``.  A super-frame that cannot be segmented
   is dropped (``dropped``);
4. ``duplicate`` — with this probability a copy follows the frame (a segmented
   super-frame: a copy of each segment, after them), queued on its own as
   netem re-enqueues its copy: its own delay, its own place under the limit;
5. the queue (netem's tfifo), per direction: a frame that finds ``limit``
   frames held (default 1000, netem's) is dropped (``limit_dropped``; its copy
   with it).  Otherwise it gets a time to send: ``delay`` plus, with ``jitter``,
   a random offset (uniform in ±``jitter``, or from the ``distribution``
   ``"normal"`` or ``"pareto"``, as netem's ``tabledist`` with iproute2's
   tables); with a ``rate`` (bit/s), the time to send starts from the time to
   send of the last frame held, if later than now, and adds the frame's
   serialisation time ``(len + packet_overhead)*8/rate`` (``len`` rounded up to
   ``cell_size`` cells of ``cell_size + cell_overhead`` bytes, if given), so
   frames queue behind each other and leave at the rate (``packet_time_ns``).
   ``reorder`` (with ``gap``, default 1) sends a frame at once instead, ahead of
   those held (``reordered``, netem's requeues): once ``gap - 1`` frames were
   queued since the last one sent so, each frame is, with probability
   ``reorder``.  A frame due now or earlier is handed on at once; the others are
   held (``call_at`` on the host's loop), then continue where they left off:
   through the hooks installed before this one, then the qdisc (transmit) or
   delivery to the stack (receive).

Held frames leave in the order of their time to send, in the order they came
when due at the same time, as from netem's tfifo: with one delay and no jitter,
in the order they came; jitter without a rate reorders them (netem's documented
consequence: to jitter without reordering, add a ``rate``, which sends each frame
after the last one queued); a ``delay`` lowered while frames are held lets the
frames after it pass them, as ``tc qdisc change … netem delay`` does.

``drop``, ``corrupt``, ``duplicate``, ``reorder`` and the jitter may be correlated
with the previous draw of their kind (``drop_corr`` … ``delay_corr``, 0.0..1.0),
as netem's ``get_crandom``: each draw is ``(1 - corr) * fresh + corr * last``.

Held frames on their way to the driver are in the device's queue, as netem's
are in its qdisc: the device going down or losing its carrier drops them (Linux's
``dev_deactivate`` resets every qdisc), so none is sent after the device comes
back; frames sent while the carrier is off go to ``noop_qdisc`` and never reach the
injector.  Received frames held are past the driver: a device down when they are
due drops them (``rx_down_drops``), one up again takes them.  A device unregistered
(``Host.close()`` unregisters every device) drops everything held for it, both
ways, and no timer of it is left on the loop.  Each frame purged so is counted
where the core counts its own drops (``tx_qdisc_drops``, ``rx_down_drops``) and in
``FaultStats.purged``.

Every decision draws from its own random stream seeded from ``seed`` (and the
fault and direction; a frame's copy has streams of its own for its delay and
reordering), once for every frame whatever the other faults do to it, so a seed
gives the same decisions for the same frames on every run, and changing one
probability does not change the others.

:attr:`FaultInjector.stats` counts what happened; at any time
``seen + duplicated + segmented == delivered + dropped + rate_limited +
limit_dropped + purged + pending`` (``duplicated``: the copies made;
``segmented``: the segments of super-frames cut up to be corrupted, beyond the
one frame each was).  Frames the injector drops itself (``dropped``,
``rate_limited``, ``limit_dropped``) are counted there only (like a qdisc's
drops), not in the device statistics.
:meth:`FaultInjector.remove` restores the previous hook and drops the frames it
holds, as ``tc qdisc del`` does (netem's queue is reset with its qdisc): counted
in ``purged`` and where the core counts a purge's drops; :meth:`FaultInjector.flush`
releases them at once instead.  Removed out of order (an older injector first),
the newer one's removal puts back what was there before both.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from dataclasses import asdict, dataclass
from functools import cache
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from ..checksum import skb_checksum_help
from ..gso import netif_skb_features, skb_gso_segment
from ..netdevice import IFF_UP, NETIF_F_ALL_TSO, NETIF_F_GSO_UDP_L4, kfree_tx
from ..skbuff import (
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_UDP_L4,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..host import Host
    from ..loop import Timer
    from ..netdevice import NetDevice
    from ..skbuff import SkBuff

    Hook = Callable[[SkBuff], bool]

__all__ = ["DEFAULT_LIMIT", "DISTRIBUTIONS", "FaultInjector", "FaultStats", "TokenBucket"]

log = logging.getLogger("netdrv.phy.faults")

_FAULTS = ("drop", "corrupt", "duplicate")
# The features that take a super-frame whole (Linux's NETIF_F_GSO_MASK): what netem_segment
# takes away from the device's so that skb_gso_segment cuts the frame up.
_GSO_MASK = NETIF_F_ALL_TSO | NETIF_F_GSO_UDP_L4

#: netem's default queue limit, in frames (``tc qdisc add … netem`` without ``limit``)
DEFAULT_LIMIT = 1000
#: the jitter distributions besides the uniform one (None), as iproute2's tables
DISTRIBUTIONS = ("normal", "pareto")
_DIST_SIZE = 4096  # entries of iproute2's distribution tables (NETEM_DIST_MAX would allow more)

# Every parameter and its default: what change() goes back to for one not given.
_DEFAULTS: dict[str, Any] = {
    "seed": None, "drop": 0.0, "corrupt": 0.0, "duplicate": 0.0, "delay": 0.0,
    "jitter": 0.0, "distribution": None, "reorder": 0.0, "gap": 0,
    "drop_corr": 0.0, "corrupt_corr": 0.0, "duplicate_corr": 0.0, "delay_corr": 0.0,
    "reorder_corr": 0.0, "rate": None, "packet_overhead": 0, "cell_size": 0,
    "cell_overhead": 0, "limit": DEFAULT_LIMIT, "rate_limit": None, "burst": None,
    "direction": "both",
}  # fmt: skip
_PROBABILITIES = ("drop", "corrupt", "duplicate", "reorder")
_CORRELATIONS = ("drop_corr", "corrupt_corr", "duplicate_corr", "delay_corr", "reorder_corr")

# What _enqueue did with a frame.
_NOW, _HELD, _DROPPED = 0, 1, 2


@cache
def _table(distribution: str) -> tuple[float, ...]:
    """iproute2's distribution table (in units of sigma), sorted, ``_DIST_SIZE`` entries."""
    if distribution == "normal":  # normal.c: the inverse of the normal distribution function
        inv = NormalDist().inv_cdf
        return tuple(inv((i + 0.5) / _DIST_SIZE) for i in range(_DIST_SIZE))
    # pareto.c: a = 3, (x ** (-1/a) - 1) for x from 1 down in 4096 steps (>= 0: a long tail)
    return tuple((1 - i / _DIST_SIZE) ** (-1 / 3) - 1 for i in range(_DIST_SIZE))


@dataclass
class FaultStats:
    """What a :class:`FaultInjector` did, both directions together."""

    seen: int = 0  #: frames that entered the injector
    delivered: int = 0  #: frames handed on (copies included; delayed ones once released)
    #: dropped by the ``drop`` probability, or a super-frame to corrupt that could not be
    #: segmented
    dropped: int = 0
    rate_limited: int = 0  #: dropped by the token bucket (``rate_limit``)
    corrupted: int = 0  #: frames with a flipped bit
    duplicated: int = 0  #: extra copies made (``duplicate``)
    delayed: int = 0  #: frames held back (in total)
    pending: int = 0  #: frames held back right now (netem's backlog in packets)
    #: held frames dropped: transmit ones when the device went down or lost its carrier,
    #: any when it was unregistered or the injector removed (also counted in the
    #: device's core statistics)
    purged: int = 0
    #: segments made beyond the one frame a super-frame was, when it was cut up to be
    #: corrupted (as netem's netem_segment)
    segmented: int = 0
    limit_dropped: int = 0  #: dropped finding ``limit`` frames held (netem's qdisc drops)
    reordered: int = 0  #: sent at once ahead of those held (``reorder``; netem's requeues)
    backlog: int = 0  #: bytes held right now (netem's backlog in bytes)

    def as_dict(self) -> dict[str, int]:
        """All counters by name."""
        return asdict(self)


class TokenBucket:
    """``rate`` bit/s refilling a bucket of ``burst`` bytes, on a caller-supplied clock."""

    def __init__(self, rate_bps: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate_bps / 8.0  # bytes per second
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.last = clock()

    def take(self, nbytes: int) -> bool:
        """Spend ``nbytes`` if the bucket holds them; False (nothing spent) otherwise.

        A frame larger than the whole bucket (a TSO super-frame; a frame of an MTU
        raised since) passes when the bucket is full and leaves it in debt: what
        follows waits until the rate has paid for it.  Refused every time, it would
        stall its flow for good.
        """
        now = self.clock()
        if now > self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = now
        if nbytes <= self.tokens or (nbytes > self.burst and self.tokens >= self.burst):
            self.tokens -= nbytes
            return True
        return False


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class FaultInjector:
    """Drop, corrupt, duplicate, delay, reorder and rate-limit the frames of one device,
    as netem does.

    ``dev`` must be registered (the injector uses its host's loop).  Probabilities
    (``drop``, ``corrupt``, ``duplicate``, ``reorder``) and correlations
    (``*_corr``) are 0.0..1.0; ``delay`` and ``jitter`` are in seconds, with
    ``distribution`` None (uniform), ``"normal"`` or ``"pareto"``; ``gap`` (0: 1
    with a ``reorder``) is netem's reorder gap; ``rate`` is netem's rate in bit/s
    (None: none), with ``packet_overhead``, ``cell_size`` and ``cell_overhead``
    in bytes; ``limit`` is the most frames held per direction (netem's, default
    1000).  ``rate_limit`` (bit/s, None: none) with a bucket of ``burst`` bytes is
    a policer that drops instead.  ``direction`` is ``"tx"``, ``"rx"`` or
    ``"both"`` (a queue each way).  See the module docstring for the order of
    the faults.
    """

    # Set by _apply(), from _DEFAULTS' keys.
    seed: int | str | None
    drop: float
    corrupt: float
    duplicate: float
    delay: float
    jitter: float
    distribution: str | None
    reorder: float
    gap: int
    drop_corr: float
    corrupt_corr: float
    duplicate_corr: float
    delay_corr: float
    reorder_corr: float
    rate: float | None
    packet_overhead: int
    cell_size: int
    cell_overhead: int
    limit: int
    rate_limit: float | None
    burst: int
    direction: str

    def __init__(
        self,
        dev: NetDevice,
        *,
        seed: int | str | None = None,
        drop: float = 0.0,
        corrupt: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        distribution: str | None = None,
        reorder: float = 0.0,
        gap: int = 0,
        drop_corr: float = 0.0,
        corrupt_corr: float = 0.0,
        duplicate_corr: float = 0.0,
        delay_corr: float = 0.0,
        reorder_corr: float = 0.0,
        rate: float | None = None,
        packet_overhead: int = 0,
        cell_size: int = 0,
        cell_overhead: int = 0,
        limit: int = DEFAULT_LIMIT,
        rate_limit: float | None = None,
        burst: int | None = None,
        direction: str = "both",
    ) -> None:
        params = {k: v for k, v in locals().items() if k in _DEFAULTS}
        resolved = self.check(dev, **params)
        host = dev.host
        if host is None or host.dev_get_by_name(dev.name) is not dev:
            raise ValueError(f"{dev.name}: register the device before installing a FaultInjector")
        self.dev = dev
        self.host: Host = host
        self.stats = FaultStats()
        self.removed = False
        self._gone = False  # the device was unregistered: nothing more is held for it
        dirs = ("tx", "rx") if direction == "both" else (direction,)
        self._dirs = dirs
        self._apply(resolved)
        self._pending: dict[int, tuple[Timer, SkBuff, str]] = {}
        self._keys = itertools.count()
        # netem's per-qdisc state, one per direction: frames held, the time to send of
        # the last one held (what rate queues behind), the reorder gap's counter
        self._held = dict.fromkeys(dirs, 0)
        self._last_tts = dict.fromkeys(dirs, 0.0)
        self._counter = dict.fromkeys(dirs, 0)
        self._prev: dict[str, Hook | None] = {}
        if "tx" in dirs:
            self._prev["tx"] = dev.xmit_hook
            dev.xmit_hook = self._tx_hook
        if "rx" in dirs:
            self._prev["rx"] = dev.rx_hook
            dev.rx_hook = self._rx_hook
        self._unpurge = host.add_purge(dev, self._purge)

    @staticmethod
    def check(dev: NetDevice, **params: Any) -> dict[str, Any]:
        """Check the constructor's parameters for ``dev`` without installing anything:
        ValueError names the one refused (TypeError: an unknown one).  Returns every
        parameter, defaults filled in and resolved (``burst``, ``gap``)."""
        unknown = sorted(set(params) - set(_DEFAULTS))
        if unknown:
            raise TypeError(f"FaultInjector has no parameter {', '.join(map(repr, unknown))}")
        p = {**_DEFAULTS, **params}
        for name in _PROBABILITIES:
            if not 0.0 <= p[name] <= 1.0:
                raise ValueError(
                    f"FaultInjector {name} must be a probability 0.0..1.0, got {p[name]}"
                )
        for name in _CORRELATIONS:
            if not 0.0 <= p[name] <= 1.0:
                raise ValueError(
                    f"FaultInjector {name} must be a correlation 0.0..1.0, got {p[name]}"
                )
        for name in ("delay", "jitter"):  # NaN too; infinite would hold frames forever
            if not 0 <= p[name] < math.inf:
                raise ValueError(
                    f"FaultInjector {name} must be >= 0 seconds and finite, got {p[name]}"
                )
        for name in ("rate_limit", "rate"):
            if p[name] is not None and not 0 < p[name] < math.inf:
                raise ValueError(
                    f"FaultInjector {name} must be > 0 bit/s (finite) or None, got {p[name]}"
                )
        for name in ("limit", "gap", "cell_size"):
            if not _is_int(p[name]) or p[name] < 0:
                raise ValueError(f"FaultInjector {name} must be an integer >= 0, got {p[name]!r}")
        for name in ("packet_overhead", "cell_overhead"):
            if not _is_int(p[name]):
                raise ValueError(f"FaultInjector {name} must be an integer, got {p[name]!r}")
        if p["direction"] not in ("tx", "rx", "both"):
            raise ValueError(
                f"FaultInjector direction must be 'tx', 'rx' or 'both', got {p['direction']!r}"
            )
        dist = p["distribution"]
        if dist == "uniform":
            p["distribution"] = dist = None
        if dist is not None and dist not in DISTRIBUTIONS:
            raise ValueError(
                f"FaultInjector distribution must be None (uniform), 'normal' or 'pareto', "
                f"got {dist!r}"
            )
        if dist is not None and not (p["delay"] and p["jitter"]):
            raise ValueError("FaultInjector distribution needs a delay and a jitter (as tc)")
        if p["reorder"] and not p["delay"]:
            raise ValueError(
                "FaultInjector reordering needs a delay: the frames not reordered are delayed "
                "(as tc)"
            )
        if p["gap"] and not p["reorder"]:
            raise ValueError("FaultInjector gap needs a reorder probability (as tc)")
        if p["reorder"] and not p["gap"]:
            p["gap"] = 1  # tc's default: any frame may be reordered
        if p["burst"] is None:
            p["burst"] = 2 * (dev.mtu + dev.hard_header_len)
        if p["burst"] <= 0:
            raise ValueError(f"FaultInjector burst must be > 0 bytes, got {p['burst']}")
        return p

    def _apply(self, p: dict[str, Any]) -> None:
        for name, value in p.items():
            setattr(self, name, value)
        self._rng: dict[tuple[str, str], random.Random] = {}
        self._last_draw: dict[tuple[str, str], float] = {}
        self._buckets = self._new_buckets()

    def _new_buckets(self) -> dict[str, TokenBucket]:
        if not self.rate_limit:
            return {}
        return {d: TokenBucket(self.rate_limit, self.burst, self.host.loop.clock)
                for d in self._dirs}  # fmt: skip

    def change(
        self,
        *,
        seed: int | str | None = None,
        drop: float = 0.0,
        corrupt: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        distribution: str | None = None,
        reorder: float = 0.0,
        gap: int = 0,
        drop_corr: float = 0.0,
        corrupt_corr: float = 0.0,
        duplicate_corr: float = 0.0,
        delay_corr: float = 0.0,
        reorder_corr: float = 0.0,
        rate: float | None = None,
        packet_overhead: int = 0,
        cell_size: int = 0,
        cell_overhead: int = 0,
        limit: int = DEFAULT_LIMIT,
        rate_limit: float | None = None,
        burst: int | None = None,
        direction: str | None = None,
    ) -> None:
        """Replace every parameter at once, as ``tc qdisc change … netem`` does: one not
        given goes back to its default.

        Checked as the constructor checks them; nothing changes when one is refused
        (ValueError).  The random streams start again from ``seed`` (netem reseeds on
        every change too), the token buckets start full at the new rate, the
        counters go on.  Frames held keep the time they were due (a lower ``limit``
        drops none of them: it refuses new ones until they are fewer); ones that
        come after a lower ``delay`` pass them.  ``direction`` (None: the current
        one) cannot change: the hooks stay where they are; remove the injector and
        install a new one instead.
        """
        if direction is not None and direction != self.direction:
            raise ValueError(
                f"FaultInjector direction cannot change ({self.direction!r} to {direction!r}): "
                f"remove the injector and install a new one"
            )
        params = {k: v for k, v in locals().items() if k in _DEFAULTS}
        params["direction"] = self.direction
        self._apply(self.check(self.dev, **params))

    def settings(self) -> dict[str, object]:
        """The parameters, by keyword: what :meth:`change` takes (``burst``, ``gap``
        resolved)."""
        return {name: getattr(self, name) for name in _DEFAULTS}

    def _stream(self, key: tuple[str, str]) -> random.Random:
        rng = self._rng.get(key)
        if rng is None:
            fault, direction = key
            seed = f"netdrv.phy.faults:{self.seed}:{fault}:{direction}"
            rng = self._rng[key] = random.Random(None if self.seed is None else seed)
        return rng

    def _crandom(self, fault: str, d: str, corr: float) -> float:
        """A draw 0.0..1.0 of ``fault``'s stream, correlated as netem's ``get_crandom``."""
        key = (fault, d)
        value = self._stream(key).random()
        if corr:
            last = self._last_draw.get(key, value)
            value = value * (1.0 - corr) + last * corr
            self._last_draw[key] = value
        return value

    # -- the hooks -----------------------------------------------------------------------
    def _tx_hook(self, skb: SkBuff) -> bool:
        return self._process(skb, "tx")

    def _rx_hook(self, skb: SkBuff) -> bool:
        return self._process(skb, "rx")

    def _roll(self, fault: str, d: str) -> bool:
        p: float = getattr(self, fault)
        return p > 0.0 and self._crandom(fault, d, getattr(self, f"{fault}_corr")) < p

    def _timing(self, d: str, copy: str = "") -> tuple[float, float]:
        """A frame's draws for the queue: its delay (``tabledist``) and its reorder draw."""
        delay = self.delay
        if self.jitter:
            u = self._crandom(f"delay{copy}", d, self.delay_corr)
            if self.distribution is None:  # netem without a table: uniform in +-jitter
                delay += self.jitter * (2.0 * u - 1.0)
            else:
                table = _table(self.distribution)
                delay += self.jitter * table[min(int(u * len(table)), len(table) - 1)]
        u = self._crandom(f"reorder{copy}", d, self.reorder_corr) if self.reorder else 1.0
        return delay, u

    def _process(self, skb: SkBuff, d: str) -> bool:
        prev = self._prev[d]
        if self.removed or self._gone:  # still chained below a newer hook, or its device
            return prev(skb) if prev is not None else True  # went: be transparent
        st = self.stats
        st.seen += 1
        # Every stream draws for every frame: which frames one fault hits does not depend
        # on what the others did to the frames before.
        drop, corrupt, duplicate = (self._roll(f, d) for f in _FAULTS)
        where = self._stream(("bit", d)).random() if corrupt else 0.0
        delay, u = self._timing(d)
        if drop:
            st.dropped += 1
            self._free(skb)
            return False
        bucket = self._buckets.get(d)
        if bucket is not None and not bucket.take(skb.tail - skb.data):
            st.rate_limited += 1
            self._free(skb)
            return False
        if corrupt:
            if skb.gso_size:
                return self._corrupt_segmented(skb, d, where, duplicate, delay, u)
            if self._corrupt(skb, where):
                st.corrupted += 1
        dup = None
        if duplicate:
            dup = skb.copy()
            st.duplicated += 1
        verdict = self._enqueue(skb, d, delay, u)
        if dup is not None:
            if verdict == _DROPPED:  # netem drops the copy of a frame that found no room
                st.limit_dropped += 1
                self._free(dup)
                return False
            if verdict == _NOW:
                self._forward(skb, d)
            self._send(dup, d, *self._timing(d, "-copy"))
            return False
        if verdict != _NOW:
            return False
        st.delivered += 1
        return prev(skb) if prev is not None else True

    def _send(self, skb: SkBuff, d: str, delay: float, u: float) -> None:
        """Queue ``skb`` (a copy, a segment) and hand it on if it is due now."""
        if self._enqueue(skb, d, delay, u) == _NOW:
            self._forward(skb, d)

    def _corrupt_segmented(
        self, skb: SkBuff, d: str, where: float, duplicate: bool, delay: float, u: float
    ) -> bool:
        """Corrupt super-frame ``skb`` as netem does (``netem_segment``): cut it up in
        software, damage the first segment, send every one on (False: all taken here).

        Whole, its damage would be hidden: the device (TSO) or the later software
        segmentation computes every segment's checksums afresh, over the flipped bit,
        or rewrites the header it landed in.
        """
        st = self.stats
        # On transmit the segments keep the checksum offloads of the device (netem_segment:
        # netif_skb_features minus NETIF_F_GSO_MASK); on receive nothing after the injector
        # finishes a checksum, so they are finished here.
        features = netif_skb_features(skb, self.dev) & ~_GSO_MASK if d == "tx" else 0
        try:
            segs = skb_gso_segment(skb, features)
        except ValueError as exc:  # GsoError: headers that do not say what gso_type says
            st.dropped += 1
            log.debug("%s: dropped a super-frame to corrupt that cannot be segmented: %s",
                      self.dev.name, exc)  # fmt: skip
            self._free(skb)
            return False
        for seg in segs:  # what skb_gso_segment does not carry over (__copy_skb_header)
            seg.pkt_type = skb.pkt_type
            seg.queue_mapping = skb.queue_mapping
            seg.tstamp = skb.tstamp
        self._free(skb)  # consumed: its segments go on
        st.segmented += len(segs) - 1  # frames made beyond the one that came in
        if self._corrupt(segs[0], where):
            st.corrupted += 1
        if duplicate:  # the copy of the frame follows it: a copy of each segment
            copies = [seg.copy() for seg in segs]
            st.duplicated += len(copies)
            segs += copies
        for seg in segs:  # the super-frame's draws for every segment
            self._send(seg, d, delay, u)
        return False

    @staticmethod
    def _corrupt(skb: SkBuff, where: float) -> bool:
        """Flip the bit at ``where`` (0.0..1.0) of the packet data; False if it has none."""
        n = skb.tail - skb.data
        if n <= 0:
            return False
        if skb.ip_summed == CHECKSUM_PARTIAL:  # never a super-frame: segmented before
            # Finished after the flip (by the hardware, or trusted by the peer's stack as
            # a local frame), the checksum would cover the damage and hide it.
            try:
                skb_checksum_help(skb)
            except ValueError:  # a checksum offset outside the frame: nothing to finish
                skb.ip_summed = CHECKSUM_NONE
        bit = min(int(where * n * 8), n * 8 - 1)
        skb.buf[skb.data + bit // 8] ^= 1 << (bit % 8)
        if skb.ip_summed in (CHECKSUM_UNNECESSARY, CHECKSUM_COMPLETE):
            skb.ip_summed = CHECKSUM_NONE  # the device's verdict (or sum) is for other bytes
        return True

    @staticmethod
    def _free(skb: SkBuff) -> None:
        kfree_tx(skb)  # frees unless already freed

    # -- the queue (netem's tfifo) -------------------------------------------------------------
    @staticmethod
    def _pkt_len(skb: SkBuff, d: str) -> int:
        """The frame's length as a qdisc counts it (``qdisc_pkt_len``): from its link
        header, a super-frame with the headers each of its segments will repeat."""
        start = skb.mac_header if d == "rx" and 0 <= skb.mac_header < skb.data else skb.data
        n = skb.tail - start
        if skb.gso_size and skb.transport_header >= skb.data:  # qdisc_pkt_len_init
            thoff = skb.transport_header
            if skb.gso_type & SKB_GSO_UDP_L4:
                l4 = 8
            elif thoff + 13 <= skb.tail:
                l4 = (skb.buf[thoff + 12] >> 4) * 4
            else:
                return n
            hdr = thoff + l4 - start
            segs = max(1, -(-(skb.tail - thoff - l4) // skb.gso_size))
            n += (segs - 1) * hdr
        return n

    def _packet_time(self, nbytes: int) -> float:
        """Seconds ``nbytes`` take at ``rate`` (netem's ``packet_time_ns``)."""
        assert self.rate is not None
        nbytes += self.packet_overhead
        if self.cell_size:
            cells = -(-nbytes // self.cell_size)
            nbytes = cells * (self.cell_size + self.cell_overhead)
        return max(nbytes, 0) * 8.0 / self.rate

    def _enqueue(self, skb: SkBuff, d: str, delay: float, u: float) -> int:
        """netem_enqueue's queueing: drop ``skb`` at a full queue (``_DROPPED``), send it
        ahead (``_NOW``: reordered, or due already) or hold it until its time (``_HELD``)."""
        st = self.stats
        if self._held[d] >= self.limit:
            st.limit_dropped += 1
            self._free(skb)
            return _DROPPED
        if self.gap and self._counter[d] >= self.gap - 1 and u < self.reorder:
            self._counter[d] = 0
            st.reordered += 1
            return _NOW
        self._counter[d] += 1
        now = clock = self.host.loop.clock()
        if self.rate:
            if self._held[d]:  # behind the last frame queued: its time is this one's now
                last = self._last_tts[d]
                delay = max(0.0, delay - (last - now))
                now = last
            delay += self._packet_time(self._pkt_len(skb, d))
        tts = now + delay
        if tts <= clock:
            return _NOW
        key = next(self._keys)
        timer = self.host.loop.call_at(tts, self._release, key)
        self._pending[key] = (timer, skb, d)
        self._last_tts[d] = max(self._last_tts[d], tts) if self._held[d] else tts
        self._held[d] += 1
        st.delayed += 1
        st.pending += 1
        st.backlog += self._pkt_len(skb, d)
        return _HELD

    def _unhold(self, key: int) -> tuple[SkBuff, str] | None:
        entry = self._pending.pop(key, None)
        if entry is None:
            return None
        timer, skb, d = entry
        timer.cancel()
        self._held[d] -= 1
        self.stats.pending -= 1
        self.stats.backlog -= self._pkt_len(skb, d)
        return skb, d

    def _release(self, key: int) -> None:
        entry = self._unhold(key)
        if entry is not None:
            self._forward(*entry)

    # -- continuing on the normal path ---------------------------------------------------------
    def _forward(self, skb: SkBuff, d: str) -> None:
        """Hand ``skb`` to the hooks below this one, then to the core (no re-entry here)."""
        self.stats.delivered += 1
        prev = self._prev[d]
        if prev is not None and not prev(skb):
            return
        if d == "tx":
            self._tx_continue(skb)
        else:
            self._rx_continue(skb)

    def _registered(self) -> bool:
        dev = self.dev
        return dev.host is self.host and self.host.dev_get_by_name(dev.name) is dev

    def _tx_continue(self, skb: SkBuff) -> None:
        # What dev_queue_xmit does after its hook; a device that went down meanwhile
        # drops the frame as dev_queue_xmit would have.
        dev = self.dev
        if not self._registered() or not dev.flags & IFF_UP:
            self._core_drop(skb, "tx")
            return
        self.host._enqueue(dev, skb)

    def _rx_continue(self, skb: SkBuff) -> None:
        # What Host._deliver_skb does after its hook; a device unregistered meanwhile
        # drops the frame as a device that is down would.
        dev = self.dev
        if not self._registered():
            self._core_drop(skb, "rx")
            return
        self.host.deliver_past_hook(dev, skb)

    def _core_drop(self, skb: SkBuff, d: str) -> None:
        """Drop ``skb`` as the core drops a frame of a device down or gone, counted there."""
        cs = self.dev.core_stats
        if d == "tx":
            cs.tx_qdisc_drops += 1
            kfree_tx(skb)
        else:
            cs.rx_down_drops += 1
            skb.freed = True  # dropped by the core, as deliver_past_hook marks its drops

    def _drop_held(self, tx_only: bool) -> None:
        """Drop what is held (only frames to transmit if ``tx_only``), counted as purged."""
        for key, (_, _, d) in list(self._pending.items()):
            if d == "tx" or not tx_only:
                entry = self._unhold(key)
                assert entry is not None
                self.stats.purged += 1
                self._core_drop(*entry)

    def _purge(self, gone: bool) -> None:
        """The core purged the device's qdiscs (down, carrier lost) or the device went
        (``Host.add_purge``): drop what is held for it — frames to transmit always, as
        ``qdisc_reset`` empties netem's queue; received ones too when it is gone."""
        if gone:  # a received frame still on the host's backlog passes through from now
            self._gone = True
        self._drop_held(tx_only=not gone)

    # -- removal -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Release every held frame now, in the order their timers would have (what
        :meth:`remove` does not: it drops them, as ``tc qdisc del``)."""
        for _, key in sorted((timer.when, key) for key, (timer, _, _) in self._pending.items()):
            self._release(key)  # a frame released before may have purged it: then a no-op

    def _restored(self, d: str) -> Hook | None:
        """The hook to put back for direction ``d``: the previous one, past the injectors
        removed while this one wrapped them (they stayed in the chain as no-ops only)."""
        hook = self._prev[d]
        while isinstance(owner := getattr(hook, "__self__", None), FaultInjector) and owner.removed:
            hook = owner._prev[d]  # its hook in this chain: it has this direction
        return hook

    def remove(self) -> None:
        """Uninstall: restore the previous hooks and drop the frames held, as ``tc qdisc
        del`` resets netem's queue (counted in ``purged``, and as the core counts a
        purge's drops: ``tx_qdisc_drops``, ``rx_down_drops``).  Idempotent.  Call
        :meth:`flush` first to send them instead."""
        if self.removed:
            return
        dev = self.dev
        if "tx" in self._dirs:
            if dev.xmit_hook == self._tx_hook:
                dev.xmit_hook = self._restored("tx")
            else:
                log.debug(
                    "%s: a newer xmit hook wraps this injector; it stays as a no-op", dev.name
                )
        if "rx" in self._dirs:
            if dev.rx_hook == self._rx_hook:
                dev.rx_hook = self._restored("rx")
            else:
                log.debug("%s: a newer rx hook wraps this injector; it stays as a no-op", dev.name)
        self._drop_held(tx_only=False)
        self._unpurge()
        self.removed = True

    def __enter__(self) -> FaultInjector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        faults = ", ".join(
            f"{k}={v}" for k, v in self.settings().items()
            if v and k not in ("seed", "direction", "burst", "limit", "gap")
        )  # fmt: skip
        return (
            f"<FaultInjector {self.dev.name} {self.direction} {faults or 'passive'} {self.stats}>"
        )
