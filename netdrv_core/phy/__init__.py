"""Stackable middleware for any registered device (after smoltcp's ``phy`` wrappers).

* :mod:`~netdrv_core.phy.pcap` — :class:`PcapWriter` (sans-I/O), :class:`PcapFile`
  (mode 0600) and :func:`capture`, a passive observer (``Host.add_tap``);
* :mod:`~netdrv_core.phy.tracer` — :class:`Tracer`, one log line per frame on
  ``netdrv.trace``, also passive;
* :mod:`~netdrv_core.phy.faults` — :class:`FaultInjector`, which sits on the
  device's ``xmit_hook``/``rx_hook`` and drops, corrupts, duplicates, delays
  (with jitter), reorders and queues frames at a rate as netem does, or polices
  them (``rate_limit``), deterministically for a seed.

Observers see transmitted frames as the stack handed them to the core (before
any hook) and received frames as they are delivered to the stack (after the
hooks).  Injectors stack: each new one wraps the hook that was there.
"""

from __future__ import annotations

from .faults import FaultInjector, FaultStats, TokenBucket
from .pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    Capture,
    PcapFile,
    PcapWriter,
    capture,
    frame_view,
    linktype_for,
)
from .tracer import Tracer, describe_frame

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "Capture",
    "FaultInjector",
    "FaultStats",
    "PcapFile",
    "PcapWriter",
    "TokenBucket",
    "Tracer",
    "capture",
    "describe_frame",
    "frame_view",
    "linktype_for",
]
