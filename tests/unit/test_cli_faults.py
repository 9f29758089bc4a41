"""``netdrv faults``: tc-style parsing, the daemon's ``faults`` request, the command's output.

The command talks to an in-process daemon (snull on the memory attachment) through a
client that round-trips each message through JSON and the protocol check, as the
control socket does.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from test_cli_ethtool import _Client  # the in-process daemon's client, as ethtool's tests use

import netdrv_core.cli as cli_mod
from netdrv_core import Host
from netdrv_core.control import DaemonNotRunning, ProtocolError, validate_request
from netdrv_core.daemon import Daemon
from netdrv_core.netem_words import (
    FaultWordsError,
    faults_line,
    parse_fault_words,
    parse_percent,
    parse_rate,
    parse_size,
    parse_time,
)
from netdrv_core.phy import FaultInjector

# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10ms", 0.01), ("1.5s", 1.5), ("2sec", 2.0), ("250us", 250e-6), ("250", 250e-9),
     ("100usecs", 100e-6), ("3MSEC", 0.003), ("500ns", 500e-9), ("0", 0.0),
     ("2500000", 0.0025), ("1e6", 1e-3)],
)  # fmt: skip
def test_times_as_tc_takes_them_a_bare_number_is_nanoseconds(text: str, seconds: float) -> None:
    # q_netem.c reads delay and jitter with get_time64 (tc_util.c): a bare number is ns
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "bps"),
    [("1mbit", 1e6), ("500kbit", 5e5), ("1Mbit", 1e6), ("64000", 64000.0), ("2gbit", 2e9),
     ("1kibit", 1024.0), ("1mibit", 1024.0**2), ("100bps", 800.0), ("1mbps", 8e6),
     ("1MBps", 8e6), ("1kibps", 8192.0), ("1.5mbit", 1.5e6), ("10bit", 10.0)],
)  # fmt: skip
def test_rates_as_tc_takes_them_bps_is_bytes(text: str, bps: float) -> None:
    assert parse_rate(text) == pytest.approx(bps)


@pytest.mark.parametrize(
    ("text", "size"),
    [("3028", 3028), ("3028b", 3028), ("4k", 4096), ("4kb", 4096), ("1m", 1 << 20),
     ("32kbit", 4096)],
)  # fmt: skip
def test_sizes_as_tc_takes_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(("text", "p"), [("1%", 0.01), ("0.1%", 0.001), ("100%", 1.0),
                                         ("5", 0.05), ("0%", 0.0)])  # fmt: skip
def test_percentages(text: str, p: float) -> None:
    assert parse_percent(text) == pytest.approx(p)


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [(parse_time, "10 parsecs", "'10 parsecs' is not a time such as 10ms"),
     (parse_time, "-1ms", "is not a time"), (parse_time, "inf", "is not a time"),
     (parse_time, "1e400s", "too long"),
     (parse_rate, "1mbyte", "is not a rate such as 1mbit"), (parse_rate, "0kbit", "more than 0"),
     (parse_size, "0", "at least 1 byte"), (parse_size, "3q", "is not a size"),
     (parse_size, "1e30", "too large"),
     (parse_percent, "101%", "more than 100%"), (parse_percent, "1%%", "not a percentage"),
     (parse_percent, "-1%", "not a percentage"), (parse_percent, "nan", "not a percentage")],
)  # fmt: skip
def test_bad_values_say_what_was_wrong(parse: Any, text: str, message: str) -> None:
    with pytest.raises(FaultWordsError, match=message):
        parse(text)


def test_words_map_to_the_injector_s_keywords() -> None:
    words = ("delay", "10ms", "loss", "1%", "corrupt", "0.1%", "duplicate", "2%", "rate",
             "1mbit", "limit", "100", "direction", "tx", "seed", "7")  # fmt: skip
    assert parse_fault_words(words) == {
        "delay": pytest.approx(0.01), "drop": 0.01, "corrupt": 0.001, "duplicate": 0.02,
        "rate": 1e6, "limit": 100, "direction": "tx", "seed": 7,
    }  # fmt: skip
    assert parse_fault_words(("latency", "1s", "drop", "50%")) == {"delay": 1.0, "drop": 0.5}
    assert parse_fault_words(()) == {}


def test_netem_s_optional_values_jitter_correlations_reorder_and_rate_overheads() -> None:
    # tc-netem(8): delay TIME [JITTER [CORRELATION]], loss [random] PERCENT [CORRELATION],
    # reorder PERCENT [CORRELATION] [gap DISTANCE], rate RATE [PACKETOVERHEAD [CELLSIZE
    # [CELLOVERHEAD]]]
    words = ("delay", "100ms", "10ms", "25%", "distribution", "normal", "loss", "random",
             "1%", "30%", "corrupt", "0.1%", "5%", "duplicate", "1%", "10%", "reorder", "25%",
             "50%", "gap", "5", "rate", "1mbit", "-4", "48", "5")  # fmt: skip
    assert parse_fault_words(words) == {
        "delay": pytest.approx(0.1), "jitter": pytest.approx(0.01), "delay_corr": 0.25,
        "distribution": "normal", "drop": 0.01, "drop_corr": 0.3, "corrupt": 0.001,
        "corrupt_corr": 0.05, "duplicate": 0.01, "duplicate_corr": 0.1, "reorder": 0.25,
        "reorder_corr": 0.5, "gap": 5, "rate": 1e6, "packet_overhead": -4, "cell_size": 48,
        "cell_overhead": 5,
    }  # fmt: skip
    assert parse_fault_words(("delay", "10ms", "reorder", "25%")) == {
        "delay": pytest.approx(0.01), "reorder": 0.25}  # fmt: skip
    assert parse_fault_words(("delay", "10ms", "2ms", "loss", "1%")) == {
        "delay": pytest.approx(0.01), "jitter": pytest.approx(0.002), "drop": 0.01}  # fmt: skip


@pytest.mark.parametrize(
    ("words", "message"),
    [(("loss",), "loss needs a value: loss [random] PERCENT [CORRELATION]"),
     (("loss", "1%", "loss", "2%"), "loss given twice"),
     (("bogus", "1"), "unknown parameter 'bogus'; expected: limit PACKETS, delay TIME [JITTER"),
     (("delay", "10ms", "2ms", "25%", "5%"), "unknown parameter '5%'"),
     (("delay", "10ms", "2ms", "125%"), "more than 100%"),
     (("reorder", "25%"), "reordering not possible without specifying some delay"),
     (("delay", "10ms", "gap", "5"), "gap specified without reorder probability"),
     (("delay", "10ms", "distribution", "normal"), "distribution specified but no latency"),
     (("delay", "1ms", "1ms", "distribution", "paretonormal"),
      "distribution 'paretonormal' is not supported; netdrv has normal, pareto"),
     (("rate", "1mbit", "burst", "3028"), "netem's rate has no burst"),
     (("loss", "state", "1%"), "netem's loss models (state, gemodel) are not supported"),
     (("slot", "1ms"), "netem's slot is not supported"),
     (("ecn",), "netem's ecn is not supported"),
     (("limit", "-1"), "limit: '-1' is not a number of packets"),
     (("gap", "x"), "gap: 'x' is not a number of packets"),
     (("loss", "1%", "off"), "give it alone"),
     (("direction", "up"), "'up' is not tx, rx or both"),
     (("seed", "x"), "'x' is not an integer")],
)  # fmt: skip
def test_malformed_lines(words: tuple[str, ...], message: str) -> None:
    with pytest.raises(FaultWordsError, match=re.escape(message)):
        parse_fault_words(words)


def test_jitter_is_given_after_the_delay() -> None:
    # netdrv (like current tc) has no jitter keyword: the jitter follows the delay
    with pytest.raises(FaultWordsError) as exc:
        parse_fault_words(("jitter", "5ms"))
    message = str(exc.value)
    assert "give it after the delay: delay TIME JITTER [CORRELATION]" in message
    assert "not supported" not in message


@pytest.mark.parametrize(
    ("words", "expected"),
    [(("rate", "1mbit", "20", "-1500"), {"rate": 1e6, "packet_overhead": 20,
                                         "cell_overhead": -1500}),
     (("rate", "1mbit", "-4"), {"rate": 1e6, "packet_overhead": -4}),
     (("rate", "1mbit", "-4", "-5"), {"rate": 1e6, "packet_overhead": -4, "cell_overhead": -5}),
     (("rate", "1mbit", "20", "48", "-5"), {"rate": 1e6, "packet_overhead": 20,
                                            "cell_size": 48, "cell_overhead": -5}),
     (("loss", "random", ".5%"), {"drop": 0.005}),  # a value that is not optional: strtod
     (("corrupt", ".5%"), {"corrupt": 0.005}),
     (("delay", ".5ms"), {"delay": pytest.approx(0.0005)})],
)  # fmt: skip
def test_tc_s_optional_values_start_with_a_digit_a_rate_overhead_with_a_minus_too(
    words: tuple[str, ...], expected: dict[str, Any]
) -> None:
    # q_netem.c: NEXT_IS_NUMBER() is isdigit(argv[1][0]), NEXT_IS_SIGNED_NUMBER() isdigit or
    # '-'; the rate reads packetoverhead SIGNED, cellsize NUMBER, celloverhead SIGNED, each
    # on its own: "-1500" after "20" is no cellsize but is the celloverhead.
    assert parse_fault_words(words) == expected


@pytest.mark.parametrize(
    ("words", "message"),
    [(("delay", "10ms", ".5ms"), "unknown parameter '.5ms' (tc takes an optional value only "
      "when it starts with a digit"),
     (("delay", "10ms", "2ms", "-5%"), "unknown parameter '-5%' (tc takes an optional value"),
     (("delay", "10ms", "-2ms"), "unknown parameter '-2ms'"),
     (("delay", "10ms", "+2ms"), "unknown parameter '+2ms'"),
     (("loss", "1%", "-5%"), "unknown parameter '-5%'"),
     (("loss", "1%", ".5%"), "unknown parameter '.5%'"),
     (("loss", ".5%"), "loss: '.5%' is not taken as a percentage (tc: Unknown loss parameter)"),
     (("drop", "-1%"), "loss: '-1%' is not taken as a percentage"),
     (("rate", "1mbit", "20", "-x"), "celloverhead: '-x' is not a number of bytes")],
)  # fmt: skip
def test_what_tc_does_not_take_as_an_optional_value_is_refused(
    words: tuple[str, ...], message: str
) -> None:
    # tc: What is ".5ms"? (not read as the jitter: it is the next keyword); loss reads its
    # percentage without "random" only when it starts with a digit
    with pytest.raises(FaultWordsError, match=re.escape(message)):
        parse_fault_words(words)


@pytest.mark.parametrize(
    ("delay", "jitter", "shown"),
    [(5e-7, 1e-9, "delay 500ns 1ns"), (1.5e-6, 999e-9, "delay 1.5us 999ns"),
     (0.25, 0.01, "delay 250ms 10ms"), (1.5, 1e-3, "delay 1.5s 1ms"),
     (10.0, 2**31 / 1e9, "delay 10s 2.15s")],
)  # fmt: skip
def test_times_show_as_tc_s_sprint_time64(delay: float, jitter: float, shown: str) -> None:
    # tc_util.c: %.3gs, %.3gms, %.3gus, and under 1us the whole nanoseconds (%lldns)
    line = faults_line("sn0", {**DEFAULTS, "delay": delay, "jitter": jitter})
    assert f" {shown} " in f"{line} "


def test_the_policer_does_not_show_as_a_tc_word() -> None:
    # the library's token bucket (FaultInjector rate_limit=, burst=) is no netem parameter:
    # its show line must not read as words netdrv faults would take (or refuse)
    line = faults_line("sn0", {**DEFAULTS, "rate_limit": 1e6, "burst": 3028})
    assert "[policer: rate_limit=1000000 burst=3028, Python API only]" in line
    assert "rate_limit 1" not in line and " burst 3028b" not in line
    with pytest.raises(FaultWordsError, match=re.escape("set through the Python API")):
        parse_fault_words(("rate_limit", "1mbit"))


# -- the daemon's request ---------------------------------------------------------------


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """snull (``configure=0``, sn0 and sn1 up) in an in-process daemon the CLI talks to."""
    host = Host()
    d = Daemon(host=host, exit_when_empty=False, watchdog=None)
    d.load("snull", ["configure=0"])
    for dev in host.devices.values():
        host.attachment.up(dev)  # type: ignore[attr-defined]
    monkeypatch.setattr(cli_mod, "_client", lambda start=False, plugins=(): _Client(d))
    try:
        yield d
    finally:
        for name in list(d.drivers):
            d.unload(name)
        host.close()
        host.loop.close()


# what settings() shows for an injector with every parameter at its default (netem's limit)
DEFAULTS = {
    "seed": None, "drop": 0.0, "corrupt": 0.0, "duplicate": 0.0, "delay": 0.0, "jitter": 0.0,
    "distribution": None, "reorder": 0.0, "gap": 0, "drop_corr": 0.0, "corrupt_corr": 0.0,
    "duplicate_corr": 0.0, "delay_corr": 0.0, "reorder_corr": 0.0, "rate": None,
    "packet_overhead": 0, "cell_size": 0, "cell_overhead": 0, "limit": 1000,
    "rate_limit": None, "burst": 2 * 1514, "direction": "both",
}  # fmt: skip


def ask(d: Daemon, **req: Any) -> dict[str, Any]:
    return _Client(d).request("faults", **req)


def injector(d: Daemon, name: str = "sn0") -> FaultInjector | None:
    dev = d.host.dev_get_by_name(name)
    return d._injectors()[dev][0] if dev in d._injectors() else None


def send(d: Daemon, n: int, name: str = "sn0") -> None:
    frame = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00" + bytes(46)
    for _ in range(n):
        d.host.attachment.send(name, frame)  # type: ignore[attr-defined]
    d.host.loop.run_until_idle()


# The daemon's reply without an injector: the keys of one with an injector, each None.
NO_INJECTOR = {"ok": True, "faults": None, "stats": None, "directions": None}


def test_set_show_change_and_off(daemon: Daemon) -> None:
    assert ask(daemon, dev="sn0") == NO_INJECTOR
    r = ask(daemon, dev="sn0", set={"drop": 1.0, "delay": 0.01})
    assert r["ok"] and r["faults"]["drop"] == 1.0 and r["stats"]["seen"] == 0
    fi = injector(daemon)
    assert fi is not None and daemon.host.devices["sn0"].xmit_hook == fi._tx_hook
    send(daemon, 3)
    r = ask(daemon, dev="sn0")
    assert r["stats"]["dropped"] == 3 and r["faults"]["delay"] == 0.01
    # tc qdisc change: the same injector, every parameter replaced, its counters going on
    r = ask(daemon, dev="sn0", set={"duplicate": 0.5})
    assert injector(daemon) is fi and r["stats"]["dropped"] == 3
    assert r["faults"] == {**DEFAULTS, "duplicate": 0.5}
    assert ask(daemon, dev="sn0", off=True) == NO_INJECTOR
    assert injector(daemon) is None and fi.removed
    dev = daemon.host.devices["sn0"]
    assert dev.xmit_hook is None and dev.rx_hook is None
    r = ask(daemon, dev="sn0", off=True)
    assert not r["ok"] and r["error"] == "sn0 has no fault injector (nothing to turn off)"


def test_a_new_direction_is_a_new_injector_in_place_of_the_old(daemon: Daemon) -> None:
    ask(daemon, dev="sn0", set={"drop": 1.0, "direction": "tx"})
    old = injector(daemon)
    send(daemon, 2)
    r = ask(daemon, dev="sn0", set={"drop": 1.0})  # direction not given: both
    new = injector(daemon)
    assert new is not old and old is not None and old.removed
    assert r["faults"]["direction"] == "both" and r["stats"]["seen"] == 0
    dev = daemon.host.devices["sn0"]
    assert dev.xmit_hook == new._tx_hook and dev.rx_hook == new._rx_hook  # type: ignore[union-attr]
    assert new._prev == {"tx": None, "rx": None}  # type: ignore[union-attr]


def test_a_refused_setting_leaves_the_injector_as_it_was(daemon: Daemon) -> None:
    ask(daemon, dev="sn0", set={"drop": 0.5, "direction": "tx"})
    fi = injector(daemon)
    for bad in ({"drop": 2.0, "direction": "tx"}, {"drop": 2.0}, {"burst": 0, "rate_limit": 1}):
        r = ask(daemon, dev="sn0", set=bad)
        assert not r["ok"] and r["error"].startswith("sn0: FaultInjector ")
        assert injector(daemon) is fi and fi is not None and not fi.removed and fi.drop == 0.5
    assert not ask(daemon, dev="sn1", set={"direction": "up"})["ok"]
    assert injector(daemon, "sn1") is None


def test_the_injector_goes_with_its_device(daemon: Daemon) -> None:
    ask(daemon, dev="sn0", set={"delay": 10.0})
    fi = injector(daemon)
    send(daemon, 2)
    assert fi is not None and fi.stats.pending == 2
    daemon.unload("snull")
    assert daemon._injectors() == {} and fi.removed and fi.stats.purged == 2
    assert fi.stats.pending == 0 and not [t for _, _, t in daemon.host.loop._timers
                                          if not t.cancelled]  # fmt: skip
    daemon.load("snull", ["configure=0"])  # the new sn0 has none
    assert ask(daemon, dev="sn0") == NO_INJECTOR


def test_an_unknown_device(daemon: Daemon) -> None:
    r = ask(daemon, dev="eth9", set={"drop": 1.0})
    assert not r["ok"] and r["error"] == "no netdrv device named 'eth9'"


@pytest.mark.parametrize(
    "req",
    [{"dev": 1}, {"dev": "sn0", "off": "yes"}, {"dev": "sn0", "set": {"loss": 0.1}},
     {"dev": "sn0", "set": {"drop": "1%"}}, {"dev": "sn0", "set": {"drop": True}},
     {"dev": "sn0", "set": {"burst": 1.5}}, {"dev": "sn0", "set": []},
     {"dev": "sn0", "set": {"limit": 1.5}}, {"dev": "sn0", "set": {"distribution": 3}},
     {"dev": "sn0", "set": {"rate": "1mbit"}},
     {"dev": "sn0", "set": {}, "off": True}],
)  # fmt: skip
def test_malformed_requests(req: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match=r"^faults: "):
        validate_request({"cmd": "faults", **req})


# -- the command ------------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(cli_mod.cli, ["faults", *args])


def test_the_command_sets_shows_and_turns_off(daemon: Daemon) -> None:
    res = run("sn0", "delay", "10ms", "loss", "100%", "rate", "1mbit", "seed", "3")
    assert res.exit_code == 0 and res.output == "", res.output  # silent, as tc
    fi = injector(daemon)
    assert fi is not None and fi.drop == 1.0 and fi.delay == pytest.approx(0.01)
    assert fi.rate == 1e6 and fi.rate_limit is None and fi.seed == 3  # netem's rate: a queue
    send(daemon, 4)
    res = run("sn0")
    assert res.exit_code == 0
    assert res.output == (  # tc -s qdisc show's lines, then the injector's own counters
        "sn0: faults limit 1000 delay 10ms loss 100% rate 1Mbit direction both seed 3\n"
        " Sent 0 bytes 0 pkt (dropped 4, overlimits 0 requeues 0)\n"
        " backlog 0b 0p requeues 0\n"
        " seen 4 delivered 0 dropped 4 rate_limited 0 corrupted 0 duplicated 0 delayed 0 "
        "pending 0 purged 0 segmented 0 limit_dropped 0 reordered 0\n"
        " tx: seen 4 delivered 0 dropped 4 rate_limited 0 corrupted 0 duplicated 0 delayed 0 "
        "pending 0 purged 0 segmented 0 limit_dropped 0 reordered 0\n"
        " rx: seen 0 delivered 0 dropped 0 rate_limited 0 corrupted 0 duplicated 0 delayed 0 "
        "pending 0 purged 0 segmented 0 limit_dropped 0 reordered 0\n"
    )
    out = json.loads(run("sn0", "--json").output)
    assert out["dev"] == "sn0" and out["faults"]["drop"] == 1.0 and out["stats"]["dropped"] == 4
    assert out["qdisc"] == {"bytes": 0, "packets": 0, "drops": 4, "overlimits": 0,
                            "requeues": 0, "backlog": 0, "qlen": 0}  # fmt: skip
    assert run("sn0", "corrupt", "0.1%").exit_code == 0
    assert injector(daemon) is fi and fi.drop == 0.0 and fi.corrupt == pytest.approx(0.001)
    assert run("sn0", "off").output == ""
    assert injector(daemon) is None
    assert (
        run("sn0").output == "sn0: no fault injector (netdrv faults sn0 loss 1% … installs one)\n"
    )
    # the keys of an injector's output, each null: one schema with or without an injector
    assert json.loads(run("sn0", "--json").output) == {"dev": "sn0", "faults": None, "stats": None,
                                                       "qdisc": None, "directions": None}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [(("sn0", "loss"), "loss needs a value"), (("sn0", "loss", "1"), None),
     (("sn0", "delay", "10 ms"), "'10 ms' is not a time"),
     (("sn0", "speed", "10"), "unknown parameter 'speed'"), (("-x",), "no such option")],
)  # fmt: skip
def test_a_malformed_command_line_exits_2(
    daemon: Daemon, args: tuple[str, ...], message: str | None
) -> None:
    res = run(*args)
    if message is None:  # a bare number is a percentage, as in tc
        assert res.exit_code == 0 and injector(daemon).drop == 0.01  # type: ignore[union-attr]
        return
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert injector(daemon) is None


def test_refusals_exit_1_with_the_daemon_s_message(daemon: Daemon) -> None:
    res = run("eth9", "loss", "1%")
    assert res.exit_code == 1 and res.output == "netdrv: no netdrv device named 'eth9'\n"
    res = run("sn0", "off")
    assert res.exit_code == 1
    assert res.output == "netdrv: sn0 has no fault injector (nothing to turn off)\n"


def test_no_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    def none(start: bool = False, plugins: tuple[str, ...] = ()) -> Any:
        raise DaemonNotRunning("none")

    monkeypatch.setattr(cli_mod, "_client", none)
    res = run("sn0", "loss", "1%")
    assert res.exit_code == 1 and "no netdrv daemon in this network namespace" in res.output


def test_the_command_sets_and_shows_netem_s_parameters_and_backlog(daemon: Daemon) -> None:
    words = ("delay", "100ms", "10ms", "25%", "distribution", "normal", "loss", "1%", "30%",
             "reorder", "5%", "gap", "3", "rate", "1mbit", "20", "48", "4", "limit", "50",
             "direction", "tx", "seed", "1")  # fmt: skip
    assert run("sn0", *words).exit_code == 0
    fi = injector(daemon)
    assert fi is not None and (fi.jitter, fi.limit, fi.gap, fi.cell_size) == (
        pytest.approx(0.01), 50, 3, 48)  # fmt: skip
    send(daemon, 2)
    out = run("sn0").output.splitlines()
    assert out[0] == ("sn0: faults limit 50 delay 100ms 10ms 25% distribution normal "
                      "loss 1% 30% reorder 5% gap 3 rate 1Mbit packetoverhead 20 cellsize 48 "
                      "celloverhead 4 direction tx seed 1")  # fmt: skip
    held, st = fi.stats.pending, fi.stats
    assert out[1] == (f" Sent {st.sent_bytes} bytes {st.sent_packets} pkt (dropped "
                      f"{st.dropped + st.limit_dropped}, overlimits 0 requeues {st.reordered})")  # fmt: skip
    assert held and out[2] == f" backlog {st.backlog}b {held}p requeues {st.reordered}"
    assert run("sn0", "off").exit_code == 0  # tc qdisc del: what was held is dropped
    assert fi.stats.purged == held and fi.stats.pending == 0


def test_status_shows_which_devices_have_an_injector(daemon: Daemon) -> None:
    assert _Client(daemon).request("status")["fault_injectors"] == {}
    assert run("sn1", "delay", "1ms", "direction", "rx").exit_code == 0
    st = _Client(daemon).request("status")
    assert st["fault_injectors"] == {"sn1": {**DEFAULTS, "delay": 0.001, "direction": "rx"}}
    res = CliRunner().invoke(cli_mod.cli, ["status"])
    assert res.exit_code == 0 and "\nsn1: faults limit 1000 delay 1ms direction rx\n" in res.output
    assert "sn0: faults" not in res.output


def test_status_shows_each_injector_s_counters_as_tc_s_qdisc_show(daemon: Daemon) -> None:
    assert run("sn0", "delay", "1s", "loss", "50%", "seed", "2", "direction", "tx").exit_code == 0
    send(daemon, 10)
    fi = injector(daemon)
    assert fi is not None and fi.stats.dropped and fi.stats.pending
    st = _Client(daemon).request("status")
    by_name = {d["name"]: d for d in st["devices"]}
    assert by_name["sn1"]["fault_injector"] is None
    f = by_name["sn0"]["fault_injector"]
    assert f["settings"] == fi.settings() and f["stats"] == fi.stats.as_dict()
    assert f["qdisc"] == {"bytes": 0, "packets": 0, "drops": fi.stats.dropped, "overlimits": 0,
                          "requeues": 0, "backlog": fi.stats.backlog,
                          "qlen": fi.stats.pending}  # fmt: skip
    res = CliRunner().invoke(cli_mod.cli, ["status", "--json"])
    assert res.exit_code == 0
    assert {d["name"]: d["fault_injector"] for d in json.loads(res.output)["devices"]} == {
        "sn0": f, "sn1": None}  # fmt: skip
    res = CliRunner().invoke(cli_mod.cli, ["status"])
    assert res.exit_code == 0
    # what netdrv faults sn0 shows, after the table
    assert "\n" + run("sn0").output in res.output


def test_status_watch_still_shows_rates_with_an_injector(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setattr(time, "sleep", lambda s: None)
    assert run("sn0", "loss", "1%", "direction", "tx").exit_code == 0
    res = CliRunner().invoke(cli_mod.cli, ["status", "-w", "1", "-c", "2", "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.splitlines()]
    assert len(lines) == 2 and lines[1]["devices"][0]["rates"] is not None
    assert lines[1]["devices"][0]["fault_injector"]["settings"]["drop"] == 0.01
    res = CliRunner().invoke(cli_mod.cli, ["status", "-w", "1", "-c", "2"])
    assert res.exit_code == 0 and "pkt/s" in res.output and "sn0" in res.output


def test_an_injector_on_both_directions_shows_each_one_s_counters(daemon: Daemon) -> None:
    # Linux has a netem per direction (on receive, on an ifb device), each counted apart:
    # the transmit and the receive books of the device each balance on their own.
    assert run("sn0", "loss", "100%", "seed", "1").exit_code == 0
    send(daemon, 3)  # sn0's kernel side transmits: the injector's transmit direction
    fi = injector(daemon)
    assert fi is not None
    tx, rx = fi.stats_by_direction["tx"], fi.stats_by_direction["rx"]
    assert (tx.seen, tx.dropped, rx.seen) == (3, 3, 0)
    r = ask(daemon, dev="sn0")
    assert r["directions"] == {"tx": tx.as_dict(), "rx": rx.as_dict()}
    out = run("sn0").output.splitlines()
    assert out[4] == (" tx: seen 3 delivered 0 dropped 3 rate_limited 0 corrupted 0 duplicated 0 "
                      "delayed 0 pending 0 purged 0 segmented 0 limit_dropped 0 reordered 0")  # fmt: skip
    assert out[5].startswith(" rx: seen 0 delivered 0 dropped 0 ") and len(out) == 6
    out_json = json.loads(run("sn0", "--json").output)
    assert out_json["directions"] == r["directions"]
    st = _Client(daemon).request("status")
    f = {d["name"]: d["fault_injector"] for d in st["devices"]}["sn0"]
    assert f["directions"] == r["directions"]
    # one direction: its counters are the total, shown once
    assert run("sn0", "loss", "100%", "direction", "tx").exit_code == 0
    assert len(run("sn0").output.splitlines()) == 4
    assert list(ask(daemon, dev="sn0")["directions"]) == ["tx"]


def test_the_log_says_the_injector_s_parameters_in_tc_s_words(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="netdrv.daemon")
    assert run("sn0", "delay", "2s", "loss", "10%", "seed", "3", "direction", "tx").exit_code == 0
    assert "sn0: faults limit 1000 delay 2s loss 10% direction tx seed 3" in caplog.messages
    send(daemon, 20)
    held = injector(daemon).stats.pending  # type: ignore[union-attr]
    assert held
    assert run("sn0", "off").exit_code == 0
    assert f"sn0: fault injector removed, {held} held frame(s) dropped" in caplog.messages
    # a new direction is a new injector: what the old one held is dropped, and said so
    assert run("sn0", "delay", "2s", "direction", "tx").exit_code == 0
    send(daemon, 2)
    assert run("sn0", "delay", "2s").exit_code == 0
    # the log names the injector that went (tx) and the direction that replaces it
    assert ("sn0: fault injector (direction tx) removed for a new direction both, 2 held "
            "frame(s) dropped" in caplog.messages)  # fmt: skip


def test_a_daemon_setting_faults_does_not_import_click() -> None:
    # The daemon says an injector's parameters in tc's words (netem_words), which the
    # command shares: the words live apart from the click command, so the daemon does not
    # load the CLI's toolkit to log them.
    code = (
        "import sys\n"
        "from netdrv_core import Host\n"
        "from netdrv_core.daemon import Daemon\n"
        "d = Daemon(host=Host(), exit_when_empty=False, watchdog=None)\n"
        "d.load('snull', ['configure=0'])\n"
        "assert d.faults({'dev': 'sn0', 'set': {'drop': 0.5, 'delay': 0.01}})['ok']\n"
        "assert d.faults({'dev': 'sn0', 'off': True})['ok']\n"
        "print(sorted(m for m in sys.modules if m == 'click' or m.startswith('click.')))\n"
        "d.unload('snull')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]", res.stdout
