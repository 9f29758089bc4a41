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

1. ``duplicate`` and ``drop`` — with these probabilities the frame is to be copied
   and to be dropped, counted as netem's ``count`` (1, one more duplicated, one
   less lost): a frame dropped is dropped (``dropped``) unless the duplicate hit
   it too, and then it goes on once, without a copy;
2. ``rate_limit`` — a policer, not netem's: a token bucket of ``rate_limit``
   bit/s holding ``burst`` bytes (default: two full-size frames); a frame that
   finds too few tokens is dropped (``rate_limited``).  A frame larger than the
   bucket (a TSO super-frame) passes when the bucket is full, and the frames
   after it wait until the rate has paid for it.  netem's ``rate`` (below)
   queues instead;
3. the copy, if one is to be made, is taken now, before the corruption (netem
   "clone[s] it before original is modified"; ``duplicated``), and goes through
   these steps on its own, as netem re-enqueues it at the root (but it is not
   copied again): its own loss, policer, corruption, delay and place in the queue;
4. ``corrupt`` — with this probability one random bit of the packet data
   (``skb.data`` to ``tail``: the whole frame on transmit, the payload after
   the already parsed link header on receive) is flipped so that the
   checksums tell: one left to the hardware (CHECKSUM_PARTIAL) is finished in
   software first, as netem does, and a receive-side CHECKSUM_UNNECESSARY or
   CHECKSUM_COMPLETE is withdrawn so the stack verifies them.  A GSO
   super-frame (``gso_size`` set) is segmented in software first, as netem's
   ``netem_segment`` does (the device's checksum offloads kept on transmit,
   none on receive), and its first segment is damaged: corrupted whole, the
   flipped bit would go out under checksums the device or the later
   segmentation computes afresh.  The first segment goes on to the queue as the
   frame would; each of the others then goes through these steps again with
   draws of its own (from streams of their own), as netem's finish_segs passes
   each to ``qdisc_enqueue`` (netem_enqueue): its own loss, duplicate (not for a
   copy's segments: a copy is not duplicated), corruption, limit, reorder and
   delay, but not the policer, which the super-frame paid.  The segments beyond
   the first are counted in ``segmented``.  A super-frame that cannot be
   segmented is dropped (``dropped``), its copy with it;
5. the queue (netem's tfifo), per direction: a frame that finds ``limit``
   frames held (default 1000, netem's) is dropped (``limit_dropped``; its copy
   with it).  A frame let in has its copy queued first, as netem enqueues the
   copy at the root before it: the copy passes the limit its frame passed, so
   up to ``limit + 1`` frames may be held, as in netem.  Then the frame gets a
   time to send: ``delay`` plus, with ``jitter``,
   a random offset (uniform in ±``jitter``, or from the ``distribution``
   ``"normal"`` or ``"pareto"``, as netem's ``tabledist`` with iproute2's
   tables); with a ``rate`` (bit/s), the time to send starts from the time to
   send of the last frame held, if later than now, and adds the frame's
   serialisation time ``(len + packet_overhead)*8/rate`` (``len`` rounded up to
   ``cell_size`` cells of ``cell_size + cell_overhead`` bytes, if given), so
   frames queue behind each other and leave at the rate (``packet_time_ns``).
   The last frame is netem's: the latest of its tfifo and of ``sch->q``'s
   tail, which includes the frames handed on at once earlier in the same
   enqueue (a frame's copy, the segments before it), as netem holds those
   until the dequeue that follows the enqueue (``qdisc_run``): a reordered one
   with the time it was reordered as its time to send, so a frame after it
   leaves its serialisation time later even with a delay drawn below zero.
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
fault and direction), so a seed gives the same decisions for the same frames on
every run.  The ``duplicate``, ``drop``, ``corrupt`` and delay (jitter) streams
draw once for every frame whatever the other faults do to it, and a frame's copy
draws its loss, corruption and delay from streams of its own, once for every
frame the duplicate hits (whether the copy is then made or not), as the segments
after the first of a super-frame cut up to be corrupted draw all of theirs:
changing one probability does not change the others' decisions.  The
``reorder`` stream draws as netem's does, only for a frame the gap lets be
reordered (copies included), so which frames it reorders depends on the frames
queued before.  The copy has
a delay of its own: with jitter it may leave before or after its frame.

:attr:`FaultInjector.stats` counts what happened (:meth:`FaultStats.qdisc_stats`:
as ``tc -s qdisc show`` has a netem qdisc's: ``Sent``, drops, requeues, backlog), both
directions together, and ``FaultInjector.stats_by_direction`` each direction's, as Linux
counts a netem on transmit and one on an ifb for receive apart; in each, at any time
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

import bisect
import itertools
import logging
import math
import random
from dataclasses import asdict, dataclass
from functools import cache
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
    from collections.abc import Callable, Mapping

    from ..host import Host
    from ..loop import Timer
    from ..netdevice import NetDevice
    from ..skbuff import SkBuff

    Hook = Callable[[SkBuff], bool]

__all__ = [
    "DEFAULT_LIMIT", "DISTRIBUTIONS", "FaultInjector", "FaultStats", "TokenBucket", "qdisc_stats",
]  # fmt: skip

log = logging.getLogger("netdrv.phy.faults")

# The features that take a super-frame whole (Linux's NETIF_F_GSO_MASK): what netem_segment
# takes away from the device's so that skb_gso_segment cuts the frame up.
_GSO_MASK = NETIF_F_ALL_TSO | NETIF_F_GSO_UDP_L4

#: netem's default queue limit, in frames (``tc qdisc add … netem`` without ``limit``)
DEFAULT_LIMIT = 1000
#: the jitter distributions besides the uniform one (None), as iproute2's tables
DISTRIBUTIONS = ("normal", "pareto")
_DIST_SIZE = 4096  # entries of iproute2's distribution tables (NETEM_DIST_MAX would allow more)
_DIST_SCALE = 8192  # NETEM_DIST_SCALE: a table's entries are in 1/8192 sigma
#: the largest jitter, in seconds: netem caps it at INT_MAX nanoseconds (for tabledist)
_JITTER_MAX = (2**31 - 1) / 1e9

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

# What the queue did with a frame: to hand on now, held, dropped; taken (sent on in segments).
_NOW, _HELD, _DROPPED, _TAKEN = 0, 1, 2, 3


@cache
def _table(distribution: str) -> tuple[float, ...]:
    """iproute2's distribution table (in units of sigma), sorted, ``_DIST_SIZE`` entries."""
    if distribution == "normal":
        return _normal_table()
    # pareto.c: a = 3, x from 1 down in 4096 steps (i = 65536 .. 16 by 16, x = i / 65536),
    # rint((x ** (-1/a) - 1.5) * 4/3 * NETEM_DIST_SCALE) clipped at 32767: mean about 0,
    # -0.667 sigma at least, a long tail up to +4.0 sigma
    out = []
    for i in range(65536, 0, -16):
        value = ((i / 65536) ** (-1 / 3) - 1.5) * (4 / 3) * _DIST_SCALE
        out.append(round(min(value, 32767.0)) / _DIST_SCALE)
    return tuple(out)


def _normal_table() -> tuple[float, ...]:
    """netem/normal.c's table: for x from -10 in steps of .00005 (added up as its loop
    does), ``table[rint(16384 * Phi(x))] = x`` (the last x of each index); every 4th of
    those 16384 entries, ``rint(x * NETEM_DIST_SCALE)`` within a short's range (the
    bottom one clamped to -4.0 sigma).  The last x of an index is found by bisection
    (``rint(16384 * Phi(x))`` grows with x) rather than by computing Phi 400,000 times."""
    size = 4 * _DIST_SIZE
    grid = []
    x = -10.0
    while x < 10.05:
        grid.append(x)
        x += 0.00005
    root2 = math.sqrt(2.0)

    def index(x: float) -> int:
        return round(size * (0.5 + 0.5 * math.erf(x / root2)))

    out = []
    for i in range(0, size, 4):
        x = grid[bisect.bisect_right(grid, i, key=index) - 1]
        out.append(max(-32768, min(32767, round(x * _DIST_SCALE))) / _DIST_SCALE)
    return tuple(out)


@dataclass
class FaultStats:
    """What a :class:`FaultInjector` did: both directions together (``stats``), or one
    (``stats_by_direction``)."""

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
    #: bytes handed on (``delivered``), as a qdisc's ``Sent … bytes`` counts them
    #: (``qdisc_bstats_update``: ``qdisc_pkt_len``, a super-frame with the headers its
    #: segments repeat)
    sent_bytes: int = 0
    #: packets handed on, as a qdisc's ``Sent … pkt``: a super-frame counts as its
    #: ``gso_segs``
    sent_packets: int = 0

    def as_dict(self) -> dict[str, int]:
        """All counters by name."""
        return asdict(self)

    def qdisc_stats(self) -> dict[str, int]:
        """The counters as ``tc -s qdisc show`` has a netem qdisc's: see :func:`qdisc_stats`."""
        return qdisc_stats(self.as_dict())


def qdisc_stats(stats: Mapping[str, int]) -> dict[str, int]:
    """A :class:`FaultStats` (or its :meth:`~FaultStats.as_dict`) as tc shows a netem
    qdisc's statistics (``tc -s -j qdisc show``'s keys: ``gnet_stats_basic`` and
    ``gnet_stats_queue``).

    ``bytes``/``packets`` are what was handed on (netem counts at dequeue); ``drops`` every
    frame the injector dropped itself: lost (``dropped``, netem's ``qdisc_qstats_drop``),
    at the ``limit`` (``qdisc_drop_all``) and by the policer (``rate_limited``, which a
    ``police`` action counts as ``overlimits`` too; netem itself counts none).  Frames
    purged (the device went down, the injector removed) are not drops, as
    ``qdisc_reset`` counts none: they are in ``purged``.  ``requeues`` are netem's, the
    frames reordered; ``backlog`` (bytes) and ``qlen`` what is held now, both directions
    together.
    """
    policed = stats.get("rate_limited", 0)
    return {
        "bytes": stats.get("sent_bytes", 0),
        "packets": stats.get("sent_packets", 0),
        "drops": stats.get("dropped", 0) + stats.get("limit_dropped", 0) + policed,
        "overlimits": policed,
        "requeues": stats.get("reordered", 0),
        "backlog": stats.get("backlog", 0),
        "qlen": stats.get("pending", 0),
    }


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
        self.stats = FaultStats()  #: both directions together
        self.removed = False
        self._gone = False  # the device was unregistered: nothing more is held for it
        dirs = ("tx", "rx") if direction == "both" else (direction,)
        self._dirs = dirs
        #: each direction's counters ("tx", "rx": those it works on), which add up to
        #: ``stats``: Linux has a netem qdisc per direction (on receive, one on an ifb
        #: device), each with its own counters
        self.stats_by_direction = {d: FaultStats() for d in dirs}
        self._apply(resolved)
        self._pending: dict[int, tuple[Timer, SkBuff, str]] = {}
        self._keys = itertools.count()
        # netem's per-qdisc state, one per direction: frames held, the time to send of
        # the last one held (what rate queues behind); the reorder gap's counter: _apply
        self._held = dict.fromkeys(dirs, 0)
        self._last_tts = dict.fromkeys(dirs, 0.0)
        # Frames handed on at once during the current hook call, which netem would still
        # hold until the dequeue after its enqueue (qdisc_run): the time_to_send of the
        # first one reordered (sch->q's tail) and the latest of those due (in its tfifo).
        # The frames enqueued after them in the same call (a copy's frame, the segments
        # after the first) queue behind them at the rate, as in netem.
        self._ahead: dict[str, float | None] = dict.fromkeys(dirs)
        self._due: dict[str, float | None] = dict.fromkeys(dirs)
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
        p["jitter"] = min(p["jitter"], _JITTER_MAX)  # netem_change: min(abs(jitter), INT_MAX)
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
        # the reorder gap's counter, per direction: netem_change sets q->counter = 0
        self._counter = dict.fromkeys(self._dirs, 0)

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
        """Replace every parameter at once: one not given goes back to its default.

        ``tc qdisc change … netem`` does so for ``limit``, ``delay``, ``jitter``,
        ``loss``, ``duplicate`` and ``gap`` (``reorder`` with it), which tc always
        sends; ``corrupt``, ``rate`` (its overheads), the ``distribution`` and the
        correlations tc sends only when given, and netem keeps them otherwise: here
        they go back to their defaults too.  As netem_change, the reorder gap's
        counter starts again.

        Checked as the constructor checks them; nothing changes when one is refused
        (ValueError).  netdrv starts the random streams again on every change: from
        ``seed``, or unseeded when it is None (the default).  netem differs: a recent
        kernel reseeds only when the change carries a seed (TCA_NETEM_PRNG_SEED) and
        goes on with its streams otherwise (the first kernels with that attribute
        reseeded on every change, at random without one).  The token buckets start
        full at the new rate, the counters go on.  Frames held keep the time they were
        due (a lower ``limit`` drops none of them: it refuses new ones until they are
        fewer); ones that come after a lower ``delay`` pass them.  ``direction`` (None: the current
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

    def _count(self, d: str, counter: str, n: int = 1) -> None:
        """Add ``n`` to ``counter`` of direction ``d`` and of the total."""
        for st in (self.stats, self.stats_by_direction[d]):
            setattr(st, counter, getattr(st, counter) + n)

    def _roll(self, fault: str, d: str, copy: str = "") -> bool:
        p: float = getattr(self, fault)
        return p > 0.0 and self._crandom(fault + copy, d, getattr(self, f"{fault}_corr")) < p

    def _delay(self, d: str, copy: str = "") -> float:
        """A frame's delay: ``delay`` and its jitter (netem's ``tabledist``)."""
        delay = self.delay
        if self.jitter:
            u = self._crandom(f"delay{copy}", d, self.delay_corr)
            if self.distribution is None:  # netem without a table: uniform in +-jitter
                delay += self.jitter * (2.0 * u - 1.0)
            else:
                table = _table(self.distribution)
                delay += self.jitter * table[min(int(u * len(table)), len(table) - 1)]
        return delay

    def _process(self, skb: SkBuff, d: str) -> bool:
        prev = self._prev[d]
        if self.removed or self._gone:  # still chained below a newer hook, or its device
            return prev(skb) if prev is not None else True  # went: be transparent
        self._count(d, "seen")
        self._ahead[d] = self._due[d] = None  # netem dequeued them after the last call
        if self._netem_enqueue(skb, d) != _NOW:
            return False
        self._count_sent(skb, d)
        return prev(skb) if prev is not None else True

    def _draws(self, d: str, sfx: str = "") -> tuple[bool, bool, float, float]:
        """A frame's draws (``sfx`` "-copy", "-seg": a copy's, a segment's, from streams
        of their own): lost, corrupted, where, its delay."""
        drop = self._roll("drop", d, sfx)
        corrupt = self._roll("corrupt", d, sfx)
        where = self._stream((f"bit{sfx}", d)).random() if corrupt else 0.0
        return drop, corrupt, where, self._delay(d, sfx)

    def _netem_enqueue(
        self,
        skb: SkBuff,
        d: str,
        draws: tuple[bool, bool, float, float] | None = None,
        sfx: str = "",
        police: bool = True,
    ) -> int:
        """What netem_enqueue does with ``skb``: a frame, a copy re-enqueued at the root
        (``sfx`` ending in "-copy", ``draws`` its draws, made with its frame's), or a
        segment of either (``sfx`` ending in "-seg"; ``police`` False: the frame it was cut
        from paid the policer).  ``_NOW`` when it is to be handed on now, by the caller;
        otherwise it was taken here (held, dropped, or sent on in segments)."""
        # Each stream draws once for every frame whatever the other faults do to it: which
        # frames one fault hits does not depend on what the others did to the frames
        # before.  A copy's draws come from streams of their own, drawn once for every
        # frame the duplicate draw hits (made or not), and so do the segments of a frame
        # cut up (their number depends on the corrupt draw); a copy is not duplicated
        # again (netem zeroes q->duplicate while it re-enqueues one), nor are its segments
        # (re-enqueued while the copy is).
        duplicate = False
        copy_draws = None
        if draws is None:
            duplicate = "-copy" not in sfx and self._roll("duplicate", d, sfx)
            draws = self._draws(d, sfx)
            copy_draws = self._draws(d, sfx + "-copy") if duplicate else None
        drop, corrupt, where, delay = draws
        if drop and not duplicate:  # netem: count = 1 (+1 duplicated) (-1 lost); 0: dropped
            self._count(d, "dropped")
            self._free(skb)
            return _DROPPED
        bucket = self._buckets.get(d) if police else None
        if bucket is not None and not bucket.take(skb.tail - skb.data):
            self._count(d, "rate_limited")
            self._free(skb)
            return _DROPPED
        # Lost and duplicated (count 1): the frame goes once, with no copy.  A copy is taken
        # before the corruption ("clone it before original is modified").
        dup = None
        if duplicate and not drop:
            dup = skb.copy()
            self._count(d, "duplicated")
        rest: list[SkBuff] = []
        segmented = False  # skb is then the first segment: the caller's frame was freed
        if corrupt:
            if skb.gso_size:
                segs = self._segment(skb, d)
                if segs is None:  # dropped, and its copy with it (netem's finish_segs)
                    if dup is not None:
                        self._count(d, "dropped")
                        self._free(dup)
                    return _DROPPED
                skb, rest = segs[0], segs[1:]
                segmented = True
            if not self._checksum_help(skb):  # netem: dropped (qdisc_drop), its copy with
                for lost in (skb, dup):  # it (finish_segs); the other segments go on
                    if lost is not None:
                        self._count(d, "dropped")
                        self._free(lost)
                if not segmented:
                    return _DROPPED
                self._enqueue_segments(rest, d, sfx)
                return _TAKEN
            if self._corrupt(skb, where):
                self._count(d, "corrupted")
        if self._held[d] >= self.limit:  # netem's limit: the frame, its segments, its copy
            for lost in (skb, *rest, dup):
                if lost is not None:
                    self._count(d, "limit_dropped")
                    self._free(lost)
            return _DROPPED
        if dup is not None:  # re-enqueued at the root before the frame is queued: it passes
            assert copy_draws is not None  # the limit the frame passed
            if self._netem_enqueue(dup, d, copy_draws, sfx + "-copy") == _NOW:
                self._forward(dup, d)
        verdict = self._queue(skb, d, delay)
        if not segmented:
            return verdict
        # A super-frame cut up to be corrupted (even into one segment) is taken here: its
        # first segment went on in its place, with its draws; the others follow.
        if verdict == _NOW:
            self._forward(skb, d)
        self._enqueue_segments(rest, d, sfx)
        return _TAKEN

    def _enqueue_segments(self, segs: list[SkBuff], d: str, sfx: str) -> None:
        """The segments after the first of a super-frame cut up to be corrupted, each
        through netem_enqueue again with draws of its own, as netem's finish_segs passes
        each to ``qdisc_enqueue``: its own loss, duplicate (not a copy's), corruption,
        limit, reorder and delay, from streams of their own (the frames after draw as if
        it had gone whole).  Not the policer: the super-frame paid for them."""
        for seg in segs:
            if self._netem_enqueue(seg, d, None, sfx + "-seg", police=False) == _NOW:
                self._forward(seg, d)

    def _segment(self, skb: SkBuff, d: str) -> list[SkBuff] | None:
        """Cut super-frame ``skb`` up to corrupt it, as netem does (``netem_segment``); None
        (``skb`` dropped, counted) when it cannot be.

        Whole, its damage would be hidden: the device (TSO) or the later software
        segmentation computes every segment's checksums afresh, over the flipped bit,
        or rewrites the header it landed in.
        """
        # On transmit the segments keep the checksum offloads of the device (netem_segment:
        # netif_skb_features minus NETIF_F_GSO_MASK); on receive nothing after the injector
        # finishes a checksum, so they are finished here.
        features = netif_skb_features(skb, self.dev) & ~_GSO_MASK if d == "tx" else 0
        try:
            segs = skb_gso_segment(skb, features)
        except ValueError as exc:  # GsoError: headers that do not say what gso_type says
            self._count(d, "dropped")
            log.debug("%s: dropped a super-frame to corrupt that cannot be segmented: %s",
                      self.dev.name, exc)  # fmt: skip
            self._free(skb)
            return None
        for seg in segs:  # what skb_gso_segment does not carry over (__copy_skb_header)
            seg.pkt_type = skb.pkt_type
            seg.queue_mapping = skb.queue_mapping
            seg.tstamp = skb.tstamp
        self._free(skb)  # consumed: its segments go on
        self._count(d, "segmented", len(segs) - 1)  # frames made beyond the one that came in
        return segs

    @staticmethod
    def _checksum_help(skb: SkBuff) -> bool:
        """Finish a partial checksum before the flip, as netem does; False when it cannot be
        (a checksum offset outside the frame): netem then drops the frame.

        Finished after the flip (by the hardware, or trusted by the peer's stack as a local
        frame), the checksum would cover the damage and hide it.
        """
        if skb.ip_summed == CHECKSUM_PARTIAL:  # never a super-frame: segmented before
            try:
                skb_checksum_help(skb)
            except ValueError:
                return False
        return True

    @staticmethod
    def _corrupt(skb: SkBuff, where: float) -> bool:
        """Flip the bit at ``where`` (0.0..1.0) of the packet data; False if it has none."""
        n = skb.tail - skb.data
        if n <= 0:
            return False
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
    def _pkt_len_segs(skb: SkBuff, d: str) -> tuple[int, int]:
        """The frame's length as a qdisc counts it (``qdisc_pkt_len``): from its link
        header, a super-frame with the headers each of its segments will repeat; and the
        packets it is (``gso_segs``, as ``qdisc_pkt_len_init`` sets them; 1 unless a
        super-frame)."""
        start = skb.mac_header if d == "rx" and 0 <= skb.mac_header < skb.data else skb.data
        n = skb.tail - start
        if not skb.gso_size:
            return n, 1
        thoff = skb.transport_header
        if thoff < skb.data and skb.ip_summed == CHECKSUM_PARTIAL:
            # A super-frame from the TAP: Linux's virtio_net_hdr_to_skb sets the transport
            # header at csum_start (skb_partial_csum_set); the attachment sets csum_start only.
            thoff = skb.csum_start
        if skb.data <= thoff < skb.tail:  # qdisc_pkt_len_init
            if skb.gso_type & SKB_GSO_UDP_L4:
                l4 = 8
            elif thoff + 13 <= skb.tail:
                l4 = (skb.buf[thoff + 12] >> 4) * 4
            else:
                return n, 1
            hdr = thoff + l4 - start
            segs = max(1, -(-(skb.tail - thoff - l4) // skb.gso_size))
            return n + (segs - 1) * hdr, segs
        return n, 1

    @classmethod
    def _pkt_len(cls, skb: SkBuff, d: str) -> int:
        return cls._pkt_len_segs(skb, d)[0]

    def _count_sent(self, skb: SkBuff, d: str) -> None:
        """Count ``skb`` handed on: ``delivered``, and tc's ``Sent`` (qdisc_bstats_update)."""
        n, segs = self._pkt_len_segs(skb, d)
        self._count(d, "delivered")
        self._count(d, "sent_bytes", n)
        self._count(d, "sent_packets", segs)

    def _packet_time(self, nbytes: int) -> float:
        """Seconds ``nbytes`` take at ``rate`` (netem's ``packet_time_ns``)."""
        assert self.rate is not None
        nbytes += self.packet_overhead
        if self.cell_size:
            cells = -(-nbytes // self.cell_size)
            nbytes = cells * (self.cell_size + self.cell_overhead)
        return max(nbytes, 0) * 8.0 / self.rate

    def _queue(self, skb: SkBuff, d: str, delay: float) -> int:
        """netem_enqueue's queueing: send ``skb`` ahead (``_NOW``: reordered, or due
        already) or hold it until its time (``_HELD``)."""
        now = clock = self.host.loop.clock()
        # netem draws the reorder stream only when the gap allows a reordering
        # (gap == 0 || counter < gap - 1 || reorder < get_crandom(...)).
        if (self.gap and self._counter[d] >= self.gap - 1
                and self._crandom("reorder", d, self.reorder_corr) < self.reorder):  # fmt: skip
            self._counter[d] = 0
            self._count(d, "reordered")
            if self._ahead[d] is None:  # __qdisc_enqueue_head: the first stays sch->q's tail
                self._ahead[d] = clock
            return _NOW
        self._counter[d] += 1
        if self.rate:
            last = self._rate_last(d)
            if last is not None:  # behind the last frame queued: its time is this one's now
                delay = max(0.0, delay - (last - now))
                now = last
            delay += self._packet_time(self._pkt_len(skb, d))
        tts = now + delay
        if tts <= clock:
            due = self._due[d]
            self._due[d] = tts if due is None else max(due, tts)
            return _NOW
        key = next(self._keys)
        timer = self.host.loop.call_at(tts, self._release, key)
        self._pending[key] = (timer, skb, d)
        self._last_tts[d] = max(self._last_tts[d], tts) if self._held[d] else tts
        self._held[d] += 1
        self._count(d, "delayed")
        self._count(d, "pending")
        self._count(d, "backlog", self._pkt_len(skb, d))
        return _HELD

    def _rate_last(self, d: str) -> float | None:
        """The time to send netem's rate queues a frame behind: the latest of the last frame
        held (its tfifo), the frames due handed on in this call (in the tfifo until the
        dequeue) and the first one reordered in it (``sch->q.tail``, with ``time_to_send``
        the time it was reordered); None when netem would hold none."""
        last = self._last_tts[d] if self._held[d] else None
        for t in (self._ahead[d], self._due[d]):
            if t is not None and (last is None or t > last):
                last = t
        return last

    def _unhold(self, key: int) -> tuple[SkBuff, str] | None:
        entry = self._pending.pop(key, None)
        if entry is None:
            return None
        timer, skb, d = entry
        timer.cancel()
        self._held[d] -= 1
        self._count(d, "pending", -1)
        self._count(d, "backlog", -self._pkt_len(skb, d))
        return skb, d

    def _release(self, key: int) -> None:
        entry = self._unhold(key)
        if entry is not None:
            self._forward(*entry)

    # -- continuing on the normal path ---------------------------------------------------------
    def _forward(self, skb: SkBuff, d: str) -> None:
        """Hand ``skb`` to the hooks below this one, then to the core (no re-entry here)."""
        self._count_sent(skb, d)
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
                self._count(d, "purged")
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
