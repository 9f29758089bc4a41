"""``netdrv linktest``'s report when the "cable" is not paced at the configured line rate."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from netdrv_serial import linktest

_REAL_SINK = linktest._sink


@pytest.fixture
def fake_link(monkeypatch: pytest.MonkeyPatch):
    """A slip device at 115200 bit/s whose throughput phases report ``rate`` bytes/s."""
    rate = {"bps": 0.0}
    stats = {k: 0 for k in ("rx_errors", "rx_frame_errors", "tx_errors")}
    params = {"peer": "198.18.5.2", "local": "", "baud": 115200, "mode": "slip"}
    monkeypatch.setattr(linktest, "_find", lambda dev: ({"mtu": 296, "stats": stats}, params))
    monkeypatch.setattr(linktest, "_remote_stats", lambda peer, local: stats)
    monkeypatch.setattr(linktest, "_sink", lambda *a: rate["bps"])
    monkeypatch.setattr(linktest, "_source", lambda *a: rate["bps"])
    return rate


def test_walk_linktest_says_when_a_link_is_faster_than_its_baud(fake_link) -> None:
    fake_link["bps"] = 900_000.0  # 7.2 Mbit/s "at 115200 baud": a socat pty pair
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "0", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["efficiency_out"] > 1
    assert "nothing paces it" in out["note"] and "netdrv_serial.relay --baud 115200" in out["note"]
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "0"])
    assert res.exit_code == 0 and "nothing paces it" in res.output


def test_walk_linktest_has_no_note_on_a_line_at_its_rate(fake_link) -> None:
    fake_link["bps"] = 9_000.0  # 72 kbit/s at 115200 baud: a real line
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "0", "--json"])
    assert res.exit_code == 0, res.output
    assert "note" not in json.loads(res.stdout)


def test_walk_linktest_stops_at_once_when_the_carrier_goes_off(fake_link, monkeypatch) -> None:
    import socket

    ends: list[socket.socket] = []

    def connect(peer, local):  # a peer that takes the connection and then hears nothing
        a, b = socket.socketpair()
        ends.append(b)
        return a

    calls = {"n": 0}
    real_find = linktest._find

    def find(dev):  # carrier on when the test starts, off from then on (cable pulled)
        d, params = real_find(dev)
        calls["n"] += 1
        return d | {"carrier": calls["n"] == 1}, params

    monkeypatch.setattr(linktest, "_connect", connect)
    monkeypatch.setattr(linktest, "_find", find)
    monkeypatch.setattr(linktest, "send_for", lambda *a, **k: 0)
    monkeypatch.setattr(linktest, "_sink", _REAL_SINK)  # the fixture replaced it
    try:
        res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "0"])
    finally:
        for e in ends:
            e.close()
    # Not half a minute of silence and "timed out": the reason, as soon as it is known.
    assert res.exit_code == 1
    assert "sl0 lost its carrier" in res.output and "Traceback" not in res.output
