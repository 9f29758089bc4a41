"""Describe a host's devices and drivers as plain data (``netdrv status --json``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .bql import BQL_HOLD_TIME, NetdevQueue, bql_txq_status, netdev_get_tx_queue
from .dql import DQL_MAX_LIMIT
from .ethtool import EthtoolError, ethtool_report
from .netdevice import (
    IFF_ALLMULTI,
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_LOWER_UP,
    IFF_MULTICAST,
    IFF_NOARP,
    IFF_POINTOPOINT,
    IFF_PROMISC,
    IFF_RUNNING,
    IFF_UP,
    NetDevice,
    dev_get_stats,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .host import Host
    from .phy.faults import FaultInjector

__all__ = ["describe_driver", "device_status", "fault_injector_status", "flag_names",
           "host_status", "link_rates"]  # fmt: skip

_FLAG_NAMES = (
    (IFF_UP, "UP"), (IFF_BROADCAST, "BROADCAST"), (IFF_LOOPBACK, "LOOPBACK"),
    (IFF_POINTOPOINT, "POINTOPOINT"), (IFF_RUNNING, "RUNNING"), (IFF_NOARP, "NOARP"),
    (IFF_PROMISC, "PROMISC"), (IFF_ALLMULTI, "ALLMULTI"), (IFF_MULTICAST, "MULTICAST"),
    (IFF_LOWER_UP, "LOWER_UP"),
)  # fmt: skip


log = logging.getLogger("netdrv.status")


def flag_names(flags: int) -> list[str]:
    """``["UP", "NOARP", …]`` like ``ip link`` shows them."""
    return [name for bit, name in _FLAG_NAMES if flags & bit]


def _stats(host: Host, dev: NetDevice) -> dict[str, int]:
    """``dev_get_stats``; a driver whose ``get_stats`` raises is isolated, status still answers."""
    try:
        return dev_get_stats(dev).as_dict()
    except Exception as exc:
        host.driver_fault(dev, "get_stats", exc)
        s = dev.stats.copy()  # what the driver counted directly, plus the core's drops
        cs = dev.core_stats
        s.rx_dropped += cs.rx_backlog_drops + cs.rx_down_drops
        s.tx_dropped += cs.tx_driver_faults
        return s.as_dict()


def fault_injector_status(fi: FaultInjector) -> dict[str, Any]:
    """A device's fault injector: its ``settings`` (what ``netdrv faults DEV`` shows in tc's
    words), its own counters (``stats``: :class:`~netdrv_core.phy.FaultStats`, both
    directions together), those as ``tc -s qdisc show`` has a netem qdisc's (``qdisc``:
    ``bytes``, ``packets``, ``drops``, ``overlimits``, ``requeues``, ``backlog``,
    ``qlen``; :func:`~netdrv_core.phy.faults.qdisc_stats`) and each direction's counters
    (``directions``: ``tx``, ``rx``, those it works on)."""
    from .phy.faults import qdisc_stats

    stats = fi.stats.as_dict()
    return {
        "settings": fi.settings(),
        "stats": stats,
        "qdisc": qdisc_stats(stats),
        "directions": {d: st.as_dict() for d, st in fi.stats_by_direction.items()},
    }


def device_status(
    host: Host, dev: NetDevice, injector: FaultInjector | None = None
) -> dict[str, Any]:
    """One device: identity, state, queue, carrier, statistics; ``injector``, its fault
    injector if it has one (``fault_injector``: :func:`fault_injector_status`, else None)."""
    try:
        ethtool: dict[str, Any] = ethtool_report(dev)
    except EthtoolError as exc:  # detached: the driver is not asked, and that is said
        ethtool = {"error": str(exc)}
    except Exception as exc:  # a driver bug must not break status
        ethtool = {"error": repr(exc)}
    out = {
        "name": dev.name,
        "ifindex": dev.ifindex,
        "driver": getattr(dev.driver, "name", None),
        # The name it was loaded under: the driver's, or DRIVER:TAG (netdrv load slip:b).
        "instance": getattr(dev.driver, "instance", None) or getattr(dev.driver, "name", None),
        "type": dev.type,
        "flags": flag_names(host.link_flags(dev)),
        "state": "up" if dev.is_up else "down",
        "operstate": dev.operstate,
        "carrier": dev._carrier,
        # The driver's and BQL's stops (netif_xmit_stopped), not the carrier's noop qdisc.
        "queue": "stopped" if dev._drv_xoff or dev._stack_xoff else "awake",
        "qdisc_backlog": len(dev.qdisc),
        # Byte Queue Limits of its TX queue (sysfs byte_queue_limits); None without BQL.
        "bql": _bql(dev._tx_queue),
        "mtu": dev.mtu,
        "address": ":".join(f"{b:02x}" for b in dev.dev_addr),
        "tx_queue_len": dev.tx_queue_len,
        "watchdog_timeo_ms": round(dev.watchdog_timeo * 1000, 3),
        "tx_timeouts": dev.watchdog_fired,
        "mc_list": [":".join(f"{b:02x}" for b in a) for a in dev.mc_list],
        # SIOCGIFMAP's struct ifmap (what ifconfig shows as Interrupt, Base address, Memory;
        # `netdrv set DEV irq=N …` changes it): the TAP's own would be all zeros.
        "ifmap": {
            "mem_start": dev.mem_start,
            "mem_end": dev.mem_end,
            "base_addr": dev.base_addr,
            "irq": dev.irq,
            "dma": dev.dma,
            "port": dev.if_port,
        },
        "stats": _stats(host, dev),
        "core": dev.core_stats.as_dict(),
        "ethtool": ethtool,
        "fault_injector": fault_injector_status(injector) if injector is not None else None,
    }
    if dev.real_num_tx_queues > 1:  # queue 0 is "queue", "qdisc_backlog" and "bql" above
        out["tx_queues"] = tx_queues_status(dev)
    return out


def tx_queues_status(dev: NetDevice) -> list[dict[str, Any]]:
    """Each TX queue in use (sysfs ``queues/tx-N``): stopped or awake, backlog, BQL."""
    return [
        {
            "index": txq.index,
            "queue": "stopped" if txq.stopped else "awake",
            "qdisc_backlog": len(txq.qdisc),
            "bql": _bql(txq),
        }
        for txq in (netdev_get_tx_queue(dev, i) for i in range(dev.real_num_tx_queues))
    ]


def _bql(txq: NetdevQueue | None) -> dict[str, int | float | bool] | None:
    """The queue's Byte Queue Limits (sysfs ``byte_queue_limits``), and ``active``: whether
    its driver uses BQL on it — it reported bytes (``netdev_tx_sent_queue``) since the
    queue was last reset, or reset it (``netdev_tx_reset_queue``: then, as sysfs shows
    after ``dql_reset``, the limit is back at ``limit_min`` and nothing is in flight).
    None for a queue with nothing of BQL's to show: not used by BQL and the limits as
    every queue starts with (a driver without BQL, whose queue exists for its
    ``netif_tx_*`` calls or as one of several) — not a limit of 0 that no transmission
    obeys, which sysfs shows for such a queue in Linux.  Limits set with ``netdrv set``
    are shown, ``active`` false while BQL is not used there."""
    if txq is None:
        return None
    dql = txq.dql
    active = bool(dql.num_queued) or txq.bql_reset
    if not active and (dql.min_limit, dql.max_limit, dql.slack_hold_time) == (
        0, DQL_MAX_LIMIT, BQL_HOLD_TIME,
    ):  # fmt: skip
        return None
    return {**bql_txq_status(txq), "active": active}


def host_status(
    host: Host, drivers: dict[str, Any], injectors: Mapping[NetDevice, FaultInjector] | None = None
) -> dict[str, Any]:
    """Every device (with its fault injector, from ``injectors``) and loaded driver, and what
    the attachment dropped before any device saw it."""
    injectors = injectors or {}
    return {
        "devices": [device_status(host, d, injectors.get(d)) for d in host.devices.values()],
        # e.g. the kernel attachment's runts, bad virtio-net headers, short/failed writes
        "attachment": dict(getattr(host.attachment, "counters", {})),
        "drivers": [
            {
                "name": name,  # as loaded: DRIVER or DRIVER:TAG
                "driver": getattr(drv, "name", name),
                "params": {k: _plain(v) for k, v in drv.params.items()},
                "devices": [d.name for d in drv.devices],
                "description": describe_driver(drv),
                # Faults in its code (each took a device down): see Host.driver_fault.
                "faults": getattr(drv, "faults", 0),
                "last_fault": getattr(drv, "last_fault", None),
            }
            for name, drv in drivers.items()
        ],
    }


def _plain(value: Any) -> Any:
    """A parameter value as JSON can carry it: a converter's object becomes its text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def describe_driver(drv: Any) -> str:
    """``drv.describe()``, or its summary if that raises: one driver's bug answers no request."""
    try:
        return str(drv.describe())
    except Exception as exc:
        log.error("driver %s raised in describe(): %r", drv.name, exc, exc_info=exc)
        return str(drv.summary)


# (rate name, counter, factor): bits per second from the byte counters, as ifstat shows.
_RATES = (
    ("rx_pps", "rx_packets", 1), ("rx_bps", "rx_bytes", 8),
    ("tx_pps", "tx_packets", 1), ("tx_bps", "tx_bytes", 8),
    ("rx_errors_ps", "rx_errors", 1), ("rx_dropped_ps", "rx_dropped", 1),
    ("tx_errors_ps", "tx_errors", 1), ("tx_dropped_ps", "tx_dropped", 1),
)  # fmt: skip


def link_rates(prev: dict[str, Any], cur: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Per-second rates of each device between two ``host_status`` answers ``seconds`` apart.

    ``{"sn0": {"rx_pps": …, "rx_bps": …, "tx_pps": …, "tx_bps": …, "rx_errors_ps": …}}``
    (``*_bps`` in bits per second).  A device is matched by its ifindex, which one daemon
    never gives twice: a renamed device keeps its rates; one that is new, was re-created
    (a USB adapter plugged back in, under its old name) or whose counters went back has
    no rates yet, rather than a wrong one.  So has every device when the daemon is not
    the same (its ``pid`` differs): a restarted daemon numbers its devices from 1 again and
    counts from 0.
    """
    if seconds <= 0 or prev.get("pid") != cur.get("pid"):
        return {}
    before = {d.get("ifindex", d["name"]): d["stats"] for d in prev.get("devices", [])}
    out: dict[str, Any] = {}
    for d in cur.get("devices", []):
        old = before.get(d.get("ifindex", d["name"]))
        if old is None:
            continue
        new = d["stats"]
        deltas = {rate: (new[c] - old[c]) * k for rate, c, k in _RATES if c in new and c in old}
        if any(v < 0 for v in deltas.values()):
            continue
        out[d["name"]] = {rate: v / seconds for rate, v in deltas.items()}
    return out
