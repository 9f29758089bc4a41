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

For each frame, in this order:

1. ``drop`` — with this probability the frame is dropped;
2. ``rate_limit`` — a token bucket of ``rate_limit`` bit/s holding ``burst``
   bytes (default: two full-size frames); a frame that finds too few tokens is
   dropped (``rate_limited``).  A frame larger than the bucket (a TSO
   super-frame) passes when the bucket is full, and the frames after it wait
   until the rate has paid for it;
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
   (duplicated, delayed); the segments beyond the first are counted in
   ``segmented``.  A super-frame that cannot be segmented
   is dropped (``dropped``);
4. ``duplicate`` — with this probability a copy follows the frame (a segmented
   super-frame: a copy of each segment, after them);
5. ``delay`` — the frame (and its copy) is held for ``delay`` seconds on the
   host's loop (``call_later``), then continues where it left off: through the
   hooks installed before this one, then the qdisc (transmit) or delivery to
   the stack (receive).  Held frames leave in the order of their time to send,
   as from netem's queue: with one delay, in the order they came; a ``delay``
   lowered while frames are held lets the frames after it pass them, as
   ``tc qdisc change … netem delay`` does.

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
fault and direction), once for every frame whatever the other faults do to it,
so a seed gives the same decisions for the same frames on every run, and
changing one probability does not change the others.

:attr:`FaultInjector.stats` counts what happened; at any time
``seen + duplicated + segmented == delivered + dropped + rate_limited + purged +
pending`` (``duplicated``: the copies made; ``segmented``: the segments of
super-frames cut up to be corrupted, beyond the one frame each was).  Frames the injector
drops itself (``dropped``, ``rate_limited``) are counted there only (like a
qdisc's drops), not in the device statistics.
:meth:`FaultInjector.remove` restores the previous hook and releases delayed
frames at once, in the order they were due; removed out of order (an older
injector first), the newer one's removal puts back what was there before both.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..checksum import skb_checksum_help
from ..gso import netif_skb_features, skb_gso_segment
from ..netdevice import IFF_UP, NETIF_F_ALL_TSO, NETIF_F_GSO_UDP_L4, kfree_tx
from ..skbuff import CHECKSUM_COMPLETE, CHECKSUM_NONE, CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..host import Host
    from ..loop import Timer
    from ..netdevice import NetDevice
    from ..skbuff import SkBuff

    Hook = Callable[[SkBuff], bool]

__all__ = ["FaultInjector", "FaultStats", "TokenBucket"]

log = logging.getLogger("netdrv.phy.faults")

_FAULTS = ("drop", "corrupt", "duplicate")
# The features that take a super-frame whole (Linux's NETIF_F_GSO_MASK): what netem_segment
# takes away from the device's so that skb_gso_segment cuts the frame up.
_GSO_MASK = NETIF_F_ALL_TSO | NETIF_F_GSO_UDP_L4


@dataclass
class FaultStats:
    """What a :class:`FaultInjector` did, both directions together."""

    seen: int = 0  #: frames that entered the injector
    delivered: int = 0  #: frames handed on (copies included; delayed ones once released)
    #: dropped by the ``drop`` probability, or a super-frame to corrupt that could not be
    #: segmented
    dropped: int = 0
    rate_limited: int = 0  #: dropped by the token bucket
    corrupted: int = 0  #: frames with a flipped bit
    duplicated: int = 0  #: extra copies made (``duplicate``)
    delayed: int = 0  #: frames held back (in total)
    pending: int = 0  #: frames held back right now
    #: held frames dropped by the core: transmit ones when the device went down or lost
    #: its carrier, any when it was unregistered (also counted in its core statistics)
    purged: int = 0
    #: segments made beyond the one frame a super-frame was, when it was cut up to be
    #: corrupted (as netem's netem_segment)
    segmented: int = 0

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


class FaultInjector:
    """Drop, corrupt, duplicate, delay and rate-limit the frames of one device.

    ``dev`` must be registered (the injector uses its host's loop).  Probabilities
    are 0.0..1.0, ``delay`` is in seconds, ``rate_limit`` in bit/s (None: no
    limit) with a bucket of ``burst`` bytes, ``direction`` is ``"tx"``, ``"rx"``
    or ``"both"``.  See the module docstring for the order of the faults.
    """

    def __init__(
        self,
        dev: NetDevice,
        *,
        seed: int | str | None = None,
        drop: float = 0.0,
        corrupt: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.0,
        rate_limit: float | None = None,
        burst: int | None = None,
        direction: str = "both",
    ) -> None:
        burst = self.check(dev, drop=drop, corrupt=corrupt, duplicate=duplicate, delay=delay,
                           rate_limit=rate_limit, burst=burst, direction=direction)  # fmt: skip
        host = dev.host
        if host is None or host.dev_get_by_name(dev.name) is not dev:
            raise ValueError(f"{dev.name}: register the device before installing a FaultInjector")
        self.dev = dev
        self.host: Host = host
        self.seed = seed
        self.drop = drop
        self.corrupt = corrupt
        self.duplicate = duplicate
        self.delay = delay
        self.rate_limit = rate_limit
        self.burst = burst
        self.direction = direction
        self.stats = FaultStats()
        self.removed = False
        self._gone = False  # the device was unregistered: nothing more is held for it
        dirs = ("tx", "rx") if direction == "both" else (direction,)
        self._dirs = dirs
        self._rng = self._streams()
        self._buckets = self._new_buckets()
        self._pending: dict[int, tuple[Timer, SkBuff, str]] = {}
        self._keys = itertools.count()
        self._prev: dict[str, Hook | None] = {}
        if "tx" in dirs:
            self._prev["tx"] = dev.xmit_hook
            dev.xmit_hook = self._tx_hook
        if "rx" in dirs:
            self._prev["rx"] = dev.rx_hook
            dev.rx_hook = self._rx_hook
        self._unpurge = host.add_purge(dev, self._purge)

    @staticmethod
    def check(
        dev: NetDevice,
        *,
        seed: int | str | None = None,
        drop: float = 0.0,
        corrupt: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.0,
        rate_limit: float | None = None,
        burst: int | None = None,
        direction: str = "both",
    ) -> int:
        """Check the constructor's parameters for ``dev`` without installing anything:
        ValueError names the one refused.  Returns the burst (its default resolved)."""
        for name, p in (("drop", drop), ("corrupt", corrupt), ("duplicate", duplicate)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"FaultInjector {name} must be a probability 0.0..1.0, got {p}")
        if not 0 <= delay < math.inf:  # NaN too; an infinite delay would hold frames forever
            raise ValueError(f"FaultInjector delay must be >= 0 seconds and finite, got {delay}")
        if rate_limit is not None and not rate_limit > 0:
            raise ValueError(
                f"FaultInjector rate_limit must be > 0 bit/s or None, got {rate_limit}"
            )
        if direction not in ("tx", "rx", "both"):
            raise ValueError(
                f"FaultInjector direction must be 'tx', 'rx' or 'both', got {direction!r}"
            )
        if burst is None:
            burst = 2 * (dev.mtu + dev.hard_header_len)
        if burst <= 0:
            raise ValueError(f"FaultInjector burst must be > 0 bytes, got {burst}")
        return burst

    def _streams(self) -> dict[tuple[str, str], random.Random]:
        return {(f, d): self._stream(f, d) for f in (*_FAULTS, "bit") for d in self._dirs}

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
        rate_limit: float | None = None,
        burst: int | None = None,
        direction: str | None = None,
    ) -> None:
        """Replace every parameter at once, as ``tc qdisc change … netem`` does: one not
        given goes back to its default.

        Checked as the constructor checks them; nothing changes when one is refused
        (ValueError).  The random streams start again from ``seed`` (netem reseeds on
        every change too), the token buckets start full at the new rate, the
        counters go on.  Frames held keep the time they were due; ones that come
        after a lower ``delay`` pass them.  ``direction`` (None: the current one)
        cannot change: the hooks stay where they are; remove the injector and
        install a new one instead.
        """
        if direction is not None and direction != self.direction:
            raise ValueError(
                f"FaultInjector direction cannot change ({self.direction!r} to {direction!r}): "
                f"remove the injector and install a new one"
            )
        burst = self.check(self.dev, drop=drop, corrupt=corrupt, duplicate=duplicate,
                           delay=delay, rate_limit=rate_limit, burst=burst,
                           direction=self.direction)  # fmt: skip
        self.seed = seed
        self.drop = drop
        self.corrupt = corrupt
        self.duplicate = duplicate
        self.delay = delay
        self.rate_limit = rate_limit
        self.burst = burst
        self._rng = self._streams()
        self._buckets = self._new_buckets()

    def settings(self) -> dict[str, object]:
        """The parameters, by keyword: what :meth:`change` takes (``burst`` resolved)."""
        return {
            "drop": self.drop, "corrupt": self.corrupt, "duplicate": self.duplicate,
            "delay": self.delay, "rate_limit": self.rate_limit, "burst": self.burst,
            "direction": self.direction, "seed": self.seed,
        }  # fmt: skip

    def _stream(self, fault: str, direction: str) -> random.Random:
        if self.seed is None:
            return random.Random()
        return random.Random(f"netdrv.phy.faults:{self.seed}:{fault}:{direction}")

    # -- the hooks -----------------------------------------------------------------------
    def _tx_hook(self, skb: SkBuff) -> bool:
        return self._process(skb, "tx")

    def _rx_hook(self, skb: SkBuff) -> bool:
        return self._process(skb, "rx")

    def _roll(self, fault: str, d: str) -> bool:
        p: float = getattr(self, fault)
        return p > 0.0 and self._rng[fault, d].random() < p

    def _process(self, skb: SkBuff, d: str) -> bool:
        prev = self._prev[d]
        if self.removed or self._gone:  # still chained below a newer hook, or its device
            return prev(skb) if prev is not None else True  # went: be transparent
        st = self.stats
        st.seen += 1
        # Every stream draws for every frame: which frames one fault hits does not depend
        # on what the others did to the frames before.
        drop, corrupt, duplicate = (self._roll(f, d) for f in _FAULTS)
        where = self._rng["bit", d].random() if corrupt else 0.0
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
                return self._corrupt_segmented(skb, d, where, duplicate)
            if self._corrupt(skb, where):
                st.corrupted += 1
        dup = None
        if duplicate:
            dup = skb.copy()
            st.duplicated += 1
        if self.delay > 0.0:
            self._hold(skb, d)
            if dup is not None:
                self._hold(dup, d)
            return False
        if dup is not None:
            self._forward(skb, d)
            self._forward(dup, d)
            return False
        st.delivered += 1
        return prev(skb) if prev is not None else True

    def _corrupt_segmented(self, skb: SkBuff, d: str, where: float, duplicate: bool) -> bool:
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
        if self.delay > 0.0:
            for seg in segs:
                self._hold(seg, d)
        else:
            for seg in segs:
                self._forward(seg, d)
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

    # -- delay ---------------------------------------------------------------------------
    def _hold(self, skb: SkBuff, d: str) -> None:
        key = next(self._keys)
        timer = self.host.loop.call_later(self.delay, self._release, key)
        self._pending[key] = (timer, skb, d)
        self.stats.delayed += 1
        self.stats.pending += 1

    def _release(self, key: int) -> None:
        entry = self._pending.pop(key, None)
        if entry is None:
            return
        _, skb, d = entry
        self.stats.pending -= 1
        self._forward(skb, d)

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

    def _purge(self, gone: bool) -> None:
        """The core purged the device's qdiscs (down, carrier lost) or the device went
        (``Host.add_purge``): drop what is held for it — frames to transmit always, as
        ``qdisc_reset`` empties netem's queue; received ones too when it is gone."""
        st = self.stats
        if gone:  # a received frame still on the host's backlog passes through from now
            self._gone = True
        for key, (timer, skb, d) in list(self._pending.items()):
            if d == "tx" or gone:
                timer.cancel()
                del self._pending[key]
                st.pending -= 1
                st.purged += 1
                self._core_drop(skb, d)

    # -- removal -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Release every delayed frame now, in the order their timers would have."""
        for _, key in sorted((timer.when, key) for key, (timer, _, _) in self._pending.items()):
            entry = self._pending.get(key)  # a frame released before may have purged it
            if entry is not None:
                entry[0].cancel()
                self._release(key)

    def _restored(self, d: str) -> Hook | None:
        """The hook to put back for direction ``d``: the previous one, past the injectors
        removed while this one wrapped them (they stayed in the chain as no-ops only)."""
        hook = self._prev[d]
        while isinstance(owner := getattr(hook, "__self__", None), FaultInjector) and owner.removed:
            hook = owner._prev[d]  # its hook in this chain: it has this direction
        return hook

    def remove(self) -> None:
        """Uninstall: restore the previous hooks and release delayed frames (idempotent)."""
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
        self.flush()
        self._unpurge()
        self.removed = True

    def __enter__(self) -> FaultInjector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        faults = ", ".join(
            f"{k}={v}" for k, v in (("drop", self.drop), ("corrupt", self.corrupt),
                                    ("duplicate", self.duplicate), ("delay", self.delay),
                                    ("rate_limit", self.rate_limit)) if v
        )  # fmt: skip
        return (
            f"<FaultInjector {self.dev.name} {self.direction} {faults or 'passive'} {self.stats}>"
        )
