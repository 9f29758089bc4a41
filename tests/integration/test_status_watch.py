"""`netdrv status --watch`: rates per device while traffic flows, as scripts and terminals get them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns


def test_watch_json_lines_carry_rates_while_pinging(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    ping = netns.popen(["ping", "-i", "0.005", "-c", "400", "-s", "472", "198.18.0.2"],
                       stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        out = netns.netdrv("status --watch 0.3 --count 4 --json").stdout
    finally:
        ping.kill()
        ping.wait()
    lines = [json.loads(x) for x in out.splitlines()]
    assert len(lines) == 4, out
    first = {d["name"]: d for d in lines[0]["devices"]}
    assert set(first) == {"sn0", "sn1"} and first["sn0"]["rates"] is None  # nothing to compare
    assert lines[0]["time"] < lines[-1]["time"]
    # The same keys with a daemon as without one (below): its pid, twice.
    assert (
        {line["pid"] for line in lines}
        == {line["daemon"] for line in lines}
        == {json.loads(netns.netdrv("status --json").stdout)["pid"]}
    )
    for line in lines[1:]:
        devs = {d["name"]: d for d in line["devices"]}
        r0, r1 = devs["sn0"]["rates"], devs["sn1"]["rates"]
        # sn0 sends the echo requests, sn1 receives them (and sends the replies back).
        assert r0["tx_pps"] > 0 and r1["rx_pps"] > 0, line
        # Bits per second are 8 times the bytes of those packets: 500-byte ICMP packets
        # (472 + 8 + 20) in 514-byte frames, with nothing else on the pair.
        assert r0["tx_bps"] / r0["tx_pps"] == pytest.approx(8 * 514), r0
        assert r0["rx_errors_ps"] == r0["tx_dropped_ps"] == 0


def test_watch_text_without_a_terminal_prints_a_table_per_refresh(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    out = netns.netdrv("status -w 0.2 -c 2").stdout
    assert out.count("netdrv status (daemon pid") == 2, out
    assert "pkt/s" in out and "bit/s" in out and "sn1" in out


def test_watch_without_a_daemon_keeps_watching(netns: NetNamespace) -> None:
    out = netns.netdrv("status --watch 0.1 --count 2 --json").stdout.splitlines()
    assert [(json.loads(x)["daemon"], json.loads(x)["pid"]) for x in out] == [(None, None)] * 2
    text = netns.netdrv("status --watch 0.1 -c 1").stdout
    assert "no netdrv daemon in this network namespace" in text


def test_count_without_watch_is_a_usage_error(netns: NetNamespace) -> None:
    res = netns.netdrv("status -c 3", check=False)
    assert res.returncode == 2
    assert "--count counts refreshes: give --watch SECONDS as well" in res.stderr


@pytest.mark.parametrize("json_lines", [False, True], ids=["table", "json"])
def test_watch_into_a_pipe_its_reader_closed_ends_quietly(
    netns: NetNamespace, json_lines: bool
) -> None:
    # `netdrv status -w 1 | head -3`: the reader has had enough.  The JSON lines ended with
    # exit 0, the tables with exit 1 (rich's own broken-pipe exit): a `set -o pipefail`
    # script failed on one and not the other.
    argv = [sys.executable, "-m", "netdrv_core.cli", "status", "-w", "0.1"]
    proc = netns.popen([*argv, "--json"] if json_lines else argv,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the next refresh writes into a pipe nobody reads
    _, err = proc.communicate(timeout=30)
    assert b"daemon" in first
    assert (proc.returncode, err) == (0, b"")
