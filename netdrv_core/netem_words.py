"""netem's words: ``tc qdisc … netem``'s parameters read into a
:class:`~netdrv_core.phy.FaultInjector`'s keywords, and an injector and its counters
printed as ``tc -s qdisc show`` prints a netem qdisc.

What ``netdrv faults`` reads and prints, and the daemon logs: kept apart from the
click command (:mod:`netdrv_core.cli_faults`) so that the daemon does not import the
command line's toolkit, and apart from :mod:`netdrv_core.phy` so that the command
line does not import the driver model.  Values take tc's units (tc(8): TIMES, RATES,
SIZES, and percentages; a bare time is nanoseconds, as q_netem.c reads delay and
jitter with get_time64).
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["FaultWordsError", "faults_line", "faults_text", "parse_fault_words", "parse_percent",
           "parse_rate", "parse_size", "parse_time"]  # fmt: skip


class FaultWordsError(ValueError):
    """A malformed netem command line: the message says which word and what was
    expected (``netdrv faults`` exits 2 with it, as for any usage error)."""


# tc(8) TIMES as q_netem.c reads delay and jitter (get_time64, tc_util.c): a bare number is
# nanoseconds.
_TIME_UNITS = {
    "": 1e-9, "s": 1.0, "sec": 1.0, "secs": 1.0, "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3,
    "us": 1e-6, "usec": 1e-6, "usecs": 1e-6, "ns": 1e-9, "nsec": 1e-9, "nsecs": 1e-9,
}  # fmt: skip
# tc(8) RATES (matched regardless of case, as tc's get_rate does): a bare number is bit/s.
_RATE_UNITS = {
    "": 1.0, "bit": 1.0, "kibit": 1024.0, "kbit": 1e3, "mibit": 1024.0**2, "mbit": 1e6,
    "gibit": 1024.0**3, "gbit": 1e9, "tibit": 1024.0**4, "tbit": 1e12,
    "bps": 8.0, "kibps": 8 * 1024.0, "kbps": 8e3, "mibps": 8 * 1024.0**2, "mbps": 8e6,
    "gibps": 8 * 1024.0**3, "gbps": 8e9, "tibps": 8 * 1024.0**4, "tbps": 8e12,
}  # fmt: skip
# tc(8) SIZES: a bare number is bytes; k, m, g are binary; kbit, mbit, gbit bits.
_SIZE_UNITS = {
    "": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3,
    "gb": 1024**3, "kbit": 1024 // 8, "mbit": 1024**2 // 8, "gbit": 1024**3 // 8,
}  # fmt: skip
_TIME_WHAT = "a time such as 10ms, 1s or 250us (a bare number is nanoseconds, as in tc)"
_PERCENT_WHAT = "a percentage such as 1% or 0.1%"
_NUMBER = re.compile(r"([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)(.*)\Z", re.IGNORECASE)

# keyword -> what it takes (for the messages), as tc-netem(8) writes it
_KEYWORDS = {
    "limit": "PACKETS", "delay": "TIME [JITTER [CORRELATION]]", "distribution": "normal|pareto",
    "loss": "[random] PERCENT [CORRELATION]", "corrupt": "PERCENT [CORRELATION]",
    "duplicate": "PERCENT [CORRELATION]", "reorder": "PERCENT [CORRELATION]",
    "gap": "DISTANCE", "rate": "RATE [PACKETOVERHEAD [CELLSIZE [CELLOVERHEAD]]]",
    "direction": "tx|rx|both", "seed": "N",
}  # fmt: skip
_ALIASES = {"latency": "delay", "drop": "loss"}
_EXPECTED = ", ".join(f"{k} {v}" for k, v in _KEYWORDS.items())
# netem's, refused by name: what netdrv does not do
_UNSUPPORTED = ("slot", "ecn")
# the injector's keyword of each percentage and of its correlation
_PERCENTS = {"loss": ("drop", "drop_corr"), "corrupt": ("corrupt", "corrupt_corr"),
             "duplicate": ("duplicate", "duplicate_corr"), "reorder": ("reorder", "reorder_corr")}  # fmt: skip
_SIGNED = re.compile(r"-?[0-9]+\Z")


def _split(key: str, text: str, what: str, units: dict[str, Any]) -> tuple[float, Any]:
    m = _NUMBER.match(text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in units:
        raise FaultWordsError(f"{key}: {text!r} is not {what}")
    return float(m.group(1)), units[unit]


def parse_time(text: str, key: str = "delay") -> float:
    """A tc time (``10ms``, ``1.5s``, ``250us``; a bare number is nanoseconds, as
    q_netem.c's get_time64 reads delay and jitter) in seconds."""
    value, scale = _split(key, text, _TIME_WHAT, _TIME_UNITS)
    seconds = value * float(scale)
    if math.isinf(seconds):
        raise FaultWordsError(f"{key}: {text!r} is too long")
    return seconds


def parse_percent(text: str, key: str = "loss") -> float:
    """A tc percentage (``1%``, ``0.1%``; a bare number is a percentage too) as 0.0..1.0."""
    m = _NUMBER.match(text)
    if m is None or m.group(2) not in ("", "%"):
        raise FaultWordsError(f"{key}: {text!r} is not {_PERCENT_WHAT}")
    value = float(m.group(1))
    if value > 100:
        raise FaultWordsError(f"{key}: {text!r} is more than 100%")
    return value / 100


def parse_rate(text: str, key: str = "rate") -> float:
    """A tc rate (``1mbit``, ``500kbit``, ``10mbps`` in bytes/s; bare: bit/s) in bit/s."""
    value, scale = _split(key, text, "a rate such as 1mbit, 500kbit or 1mbps (bytes/s); "
                          "a bare number is bit/s, as in tc", _RATE_UNITS)  # fmt: skip
    bps = value * float(scale)
    if not bps > 0 or math.isinf(bps):
        raise FaultWordsError(f"{key}: {text!r} must be more than 0")
    return bps


def parse_size(text: str, key: str = "burst") -> int:
    """A tc size (``3028``, ``3028b``, ``4k``, ``32kbit``) in bytes."""
    value, scale = _split(key, text, "a size such as 3028, 4k or 32kbit (a bare number is "
                          "bytes, as in tc)", _SIZE_UNITS)  # fmt: skip
    size = value * int(scale)
    if not size >= 1:
        raise FaultWordsError(f"{key}: {text!r} must be at least 1 byte")
    if size >= 2**63:
        raise FaultWordsError(f"{key}: {text!r} is too large (at most 2**63 - 1 bytes)")
    return int(size)


def _next_is_number(word: str, signed: bool = False) -> bool:
    """tc's NEXT_IS_NUMBER (``isdigit(argv[1][0])``), or NEXT_IS_SIGNED_NUMBER (``signed``:
    a digit or ``-``): whether ``word`` is taken as the optional value.  Any other word
    (``.5ms``, ``+2ms``, ``-5%`` where no sign is allowed) is not: it is the next keyword."""
    return word[:1] in _DIGITS or (signed and word[:1] == "-")


_DIGITS = frozenset("0123456789")
_NUMERIC = re.compile(r"[+-]?(?:[0-9]|\.[0-9])")


def _packets(text: str, key: str) -> int:
    if not text.isdigit():
        raise FaultWordsError(f"{key}: {text!r} is not a number of packets (0 or more)")
    return int(text)


def _bytes(text: str, key: str, signed: bool) -> int:
    if not (_SIGNED.match(text) if signed else text.isdigit()):
        kind = "a number of bytes" + (" (may be negative)" if signed else "")
        raise FaultWordsError(f"{key}: {text!r} is not {kind}")
    return int(text)


def parse_fault_words(words: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``delay 10ms 2ms loss 1% …`` -> FaultInjector's keywords (``delay=0.01, jitter=0.002,
    drop=0.01``), as tc-netem(8) reads them: some keywords take optional values after the
    first (a jitter, a correlation, a rate's overheads) when they are numbers.

    Every parameter not given has its default (none: a passive injector that only
    counts).  A malformed line is a :class:`FaultWordsError` (exit 2) that says
    what was wrong.
    """
    out: dict[str, Any] = {}
    given: set[str] = set()
    words = list(words)
    i = 0

    def optional(signed: bool = False) -> str | None:
        """The optional value after the last one read, if tc would take it as one."""
        nonlocal i
        if i < len(words) and _next_is_number(words[i], signed):
            i += 1
            return words[i - 1]
        return None

    while i < len(words):
        word = words[i]
        key = _ALIASES.get(word, word)
        if key not in _KEYWORDS:
            hint = ""
            if word == "off":
                hint = " (off turns the injector off: give it alone)"
            elif word in _UNSUPPORTED:
                hint = f" (netem's {word} is not supported)"
            elif word == "jitter":
                hint = " (give it after the delay: delay TIME JITTER [CORRELATION])"
            elif word in ("rate_limit", "policer"):
                hint = (" (the library's token-bucket policer, not netem's: set through the "
                        "Python API only, FaultInjector(rate_limit=…, burst=…))")  # fmt: skip
            elif _NUMERIC.match(word):
                hint = (" (tc takes an optional value only when it starts with a digit, a "
                        "rate's overheads with a digit or '-': write 0.5ms, not .5ms; "
                        "no correlation or jitter is negative)")  # fmt: skip
            elif word == "burst":
                hint = (" (netem's rate has no burst: it queues frames, up to limit, instead of "
                        "dropping them)")  # fmt: skip
            raise FaultWordsError(f"unknown parameter {word!r}{hint}; expected: {_EXPECTED}")
        if key in given:
            raise FaultWordsError(f"{key} given twice")
        given.add(key)
        i += 1
        bare_loss = key == "loss"  # loss PERCENT: tc takes it when it starts with a digit
        if key == "loss" and i < len(words) and words[i] == "random":
            i += 1  # netem's default loss model
            bare_loss = False
        if i >= len(words):
            raise FaultWordsError(f"{word} needs a value: {key} {_KEYWORDS[key]}")
        text = words[i]
        i += 1
        if key == "loss" and text in ("state", "gemodel"):
            raise FaultWordsError(f"loss {text}: netem's loss models (state, gemodel) are not "
                                   f"supported; give loss [random] PERCENT [CORRELATION]")  # fmt: skip
        if bare_loss and not _next_is_number(text):
            raise FaultWordsError(f"loss: {text!r} is not taken as a percentage (tc: Unknown "
                                   f"loss parameter): without 'random' it must start with a "
                                   f"digit, e.g. 0.5% or loss random {text}")  # fmt: skip
        if key == "delay":
            out["delay"] = parse_time(text, word)
            if (jitter := optional()) is not None:
                out["jitter"] = parse_time(jitter, "jitter")
                if (corr := optional()) is not None:
                    out["delay_corr"] = parse_percent(corr, "delay correlation")
        elif key in _PERCENTS:
            name, corr_name = _PERCENTS[key]
            out[name] = parse_percent(text, word)
            if (corr := optional()) is not None:
                out[corr_name] = parse_percent(corr, f"{key} correlation")
        elif key == "rate":
            out["rate"] = parse_rate(text)
            # Each read on its own, as tc does: "rate 1mbit 20 -1500" has no cellsize
            # ("-1500" is not unsigned) and -1500 is the celloverhead.
            for name, signed in (("packet_overhead", True), ("cell_size", False),
                                 ("cell_overhead", True)):  # fmt: skip
                if (value := optional(signed)) is not None:
                    out[name] = _bytes(value, name.replace("_", ""), signed)
        elif key in ("limit", "gap"):
            out[key] = _packets(text, key)
        elif key == "distribution":
            from .phy.faults import DISTRIBUTIONS

            if text not in DISTRIBUTIONS:
                raise FaultWordsError(f"distribution {text!r} is not supported; netdrv has "
                                       f"{', '.join(DISTRIBUTIONS)} (and uniform, without a "
                                       f"distribution)")  # fmt: skip
            out["distribution"] = text
        elif key == "direction":
            if text not in ("tx", "rx", "both"):
                raise FaultWordsError(f"direction: {text!r} is not tx, rx or both")
            out["direction"] = text
        else:  # seed
            try:
                out["seed"] = int(text, 0)
            except ValueError:
                raise FaultWordsError(f"seed: {text!r} is not an integer") from None
    # What tc (q_netem.c) refuses before asking the kernel, in its words.
    if out.get("reorder") and not out.get("delay"):
        raise FaultWordsError("reordering not possible without specifying some delay "
                               "(give delay TIME too)")  # fmt: skip
    if out.get("gap") and not out.get("reorder"):
        raise FaultWordsError("gap specified without reorder probability (give reorder "
                               "PERCENT too)")  # fmt: skip
    if "distribution" in out and not (out.get("delay") and out.get("jitter")):
        raise FaultWordsError("distribution specified but no latency and jitter values "
                               "(give delay TIME JITTER)")  # fmt: skip
    return out


def _time_text(seconds: float) -> str:
    """As tc prints times (tc_util.c's sprint_time64, of whole nanoseconds as netem keeps
    them): 1.5s, 10ms, 250us, 500ns."""
    ns = round(seconds * 1e9)
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.3g}s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.3g}ms"
    if ns >= 1_000:
        return f"{ns / 1e3:.3g}us"
    return f"{ns}ns"


def _rate_text(bps: float) -> str:
    """As tc prints rates: 1Mbit, 500Kbit, 64bit."""
    for unit, scale in (("Gbit", 1e9), ("Mbit", 1e6), ("Kbit", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.4g}{unit}"
    return f"{bps:.4g}bit"


# FaultStats counters on tc's lines (Sent …, backlog …), not repeated on the injector's own
_ON_TC_LINES = ("backlog", "sent_bytes", "sent_packets")


def faults_text(dev: str, reply: dict[str, Any]) -> str:
    """``netdrv faults DEV``'s answer as text, as ``tc -s qdisc show`` prints a netem
    qdisc: the parameters, ``Sent X bytes Y pkt (dropped D, overlimits O requeues R)``,
    ``backlog Bb Pp requeues R`` (see :func:`~netdrv_core.phy.faults.qdisc_stats`), then
    the injector's own counters by name (``seen``, ``dropped``, ``corrupted``, …), and for
    an injector on both directions each one's (`` tx: seen …``, `` rx: seen …``)."""
    from .phy.faults import qdisc_stats

    f = reply.get("faults")
    if f is None:
        return f"{dev}: no fault injector (netdrv faults {dev} loss 1% … installs one)"
    counters = reply.get("stats") or {}
    q = qdisc_stats(counters)
    sent = (f" Sent {q['bytes']} bytes {q['packets']} pkt (dropped {q['drops']}, "
            f"overlimits {q['overlimits']} requeues {q['requeues']})")  # fmt: skip
    backlog = f" backlog {q['backlog']}b {q['qlen']}p requeues {q['requeues']}"
    lines = [faults_line(dev, f), sent, backlog, " " + _own(counters)]
    directions = reply.get("directions") or {}
    if len(directions) > 1:  # both: each one's books, as Linux's two netem qdiscs
        lines += [f" {d}: {_own(c)}" for d, c in directions.items()]
    return "\n".join(lines)


def _own(counters: dict[str, int]) -> str:
    return " ".join(f"{k} {v}" for k, v in counters.items() if k not in _ON_TC_LINES)


def _pct(p: float) -> str:
    return f"{p * 100:g}%"


def faults_line(dev: str, f: dict[str, Any]) -> str:
    """``sn0: faults limit 1000 delay 10ms loss 1% direction both``: an injector's
    parameters, in tc's words and order."""
    parts = [f"limit {f.get('limit', 1000)}"]
    if f["delay"] or f.get("jitter"):
        delay = f"delay {_time_text(f['delay'])}"
        if f.get("jitter"):
            delay += f" {_time_text(f['jitter'])}"
            if f.get("delay_corr"):
                delay += f" {_pct(f['delay_corr'])}"
        parts.append(delay)
        if f.get("distribution"):
            parts.append(f"distribution {f['distribution']}")
    for key, name in (("drop", "loss"), ("corrupt", "corrupt"), ("duplicate", "duplicate"),
                      ("reorder", "reorder")):  # fmt: skip
        if f.get(key):
            corr = f.get(f"{key}_corr")
            parts.append(f"{name} {_pct(f[key])}" + (f" {_pct(corr)}" if corr else ""))
    if f.get("reorder") and f.get("gap"):
        parts.append(f"gap {f['gap']}")
    if f.get("rate"):
        rate = f"rate {_rate_text(f['rate'])}"
        for key, name in (("packet_overhead", "packetoverhead"), ("cell_size", "cellsize"),
                          ("cell_overhead", "celloverhead")):  # fmt: skip
            if f.get(key):
                rate += f" {name} {f[key]}"
        parts.append(rate)
    if f.get("rate_limit"):  # the library's policer (FaultInjector rate_limit=), not netem's:
        # shown by its Python keywords, not as words netdrv faults would take
        parts.append(f"[policer: rate_limit={f['rate_limit']:.15g} burst={f['burst']}, "
                     f"Python API only]")  # fmt: skip
    parts.append(f"direction {f['direction']}")
    if f["seed"] is not None:
        parts.append(f"seed {f['seed']}")
    return f"{dev}: faults {' '.join(parts)}"
