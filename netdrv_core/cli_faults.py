"""``netdrv faults``: a device's fault injector from the command line, like ``tc … netem``.

::

    netdrv faults sn0 delay 10ms loss 1%      # tc qdisc change dev sn0 root netem delay 10ms loss 1%
    netdrv faults sn0                         # tc -s qdisc show dev sn0
    netdrv faults sn0 off                     # tc qdisc del dev sn0 root

The daemon owns one :class:`~netdrv_core.phy.FaultInjector` per device; each
command that sets parameters replaces all of them: those not given go back to
their defaults.  ``tc qdisc change … netem`` does so for limit, delay, jitter,
loss, duplicate and gap (reorder with it), which tc always sends; corrupt, rate,
the distribution and the correlations tc sends only when given, and netem keeps
their old values: netdrv resets them too.  Values take tc's units (tc(8): TIMES,
RATES, SIZES, and percentages; a bare time is nanoseconds, as q_netem.c reads
delay and jitter with get_time64): :mod:`netdrv_core.netem_words` reads and prints
them, without click, for the daemon's log too.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .control import DaemonNotRunning
from .errors import NetdrvError
from .netem_words import FaultWordsError, faults_text, parse_fault_words

__all__ = ["faults"]


@click.command(name="faults", context_settings={"ignore_unknown_options": True},
               short_help="Inject faults into DEV's frames, like tc … netem.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.argument("dev")
@click.argument("words", nargs=-1)
def faults(as_json: bool, dev: str, words: tuple[str, ...]) -> None:
    """Inject faults into DEV's frames, like tc qdisc change dev DEV root netem:
    limit PACKETS, delay TIME [JITTER [CORRELATION]], distribution
    normal|pareto, loss [random] PERCENT [CORRELATION], corrupt PERCENT
    [CORRELATION], duplicate PERCENT [CORRELATION], reorder PERCENT
    [CORRELATION] [gap DISTANCE], rate RATE [PACKETOVERHEAD [CELLSIZE
    [CELLOVERHEAD]]], direction tx|rx|both (default both), seed N; "off"
    removes the injector (dropping what it holds); no words show it with its
    counters, as tc -s qdisc show does (Sent, dropped, requeues, backlog), and
    the injector's own (dropped, corrupted, duplicated, reordered, ...), also
    each direction's apart (tx: ..., rx: ...) when it works on both.

    Each change replaces every parameter: one not given goes back to its
    default, corrupt, rate, distribution and correlations too, which tc would
    keep (e.g. netdrv faults sn0 delay 100ms 10ms loss 1%; netdrv faults sn0
    off).
    """
    from . import cli as _cli  # here: cli.py registers this command as it is imported

    if dev.startswith("-"):
        raise click.UsageError(f"no such option: {dev}")
    req: dict[str, Any] = {"dev": dev}
    if words == ("off",):
        req["off"] = True
    elif words:
        try:
            req["set"] = parse_fault_words(words)
        except FaultWordsError as exc:
            raise click.UsageError(str(exc)) from None
    try:  # asked again if the daemon was exiting: now none (DEV went with it), or a new one
        reply = _cli._check(_cli._ask_once_more(_cli._client, "faults", req))
    except DaemonNotRunning:
        _cli._fail(f"no netdrv daemon in this network namespace: no device {dev!r} "
                   f"(netdrv load a driver first)")  # fmt: skip
    except NetdrvError as exc:
        _cli._fail(str(exc))
    if as_json:
        from .phy.faults import qdisc_stats

        stats = reply.get("stats")
        click.echo(json.dumps({"dev": dev, "faults": reply.get("faults"), "stats": stats,
                               "qdisc": qdisc_stats(stats) if stats is not None else None,
                               "directions": reply.get("directions")}, indent=2))  # fmt: skip
    elif not words:  # like tc, a change succeeds silently
        click.echo(faults_text(dev, reply))
