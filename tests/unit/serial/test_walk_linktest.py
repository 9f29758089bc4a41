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
    monkeypatch.setattr(linktest, "_remote_stats", lambda *a: stats)
    monkeypatch.setattr(linktest, "_sink", lambda *a: rate["bps"])
    monkeypatch.setattr(linktest, "_source", lambda *a: rate["bps"])
    return rate


def test_walk_linktest_says_when_a_link_is_faster_than_its_baud(fake_link) -> None:
    fake_link["bps"] = 900_000.0  # 7.2 Mbit/s "at 115200 baud": a socat pty pair
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["efficiency_out"] > 1
    assert "nothing paces it" in out["note"] and "netdrv_serial.relay --baud 115200" in out["note"]
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "1"])
    assert res.exit_code == 0 and "nothing paces it" in res.output


def test_walk_linktest_has_no_note_on_a_line_at_its_rate(fake_link) -> None:
    fake_link["bps"] = 9_000.0  # 72 kbit/s at 115200 baud: a real line
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert "note" not in json.loads(res.stdout)


def test_walk_linktest_stops_at_once_when_the_carrier_goes_off(fake_link, monkeypatch) -> None:
    import socket

    ends: list[socket.socket] = []

    def connect(peer, local, alive=None):  # a peer that takes the connection and then hears nothing
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
        res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "1"])
    finally:
        for e in ends:
            e.close()
    # Not half a minute of silence and "timed out": the reason, as soon as it is known.
    assert res.exit_code == 1
    assert "sl0 lost its carrier" in res.output and "Traceback" not in res.output


def test_walk_linktest_without_a_daemon_says_so_without_a_traceback(monkeypatch) -> None:
    import netdrv_core.control as control

    def no_daemon(*a, **k):
        raise control.DaemonNotRunning("no netdrv daemon runs in this network namespace")

    monkeypatch.setattr(control, "ControlClient", no_daemon)
    res = CliRunner().invoke(linktest.linktest_command, ["sl0"])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)  # not a traceback
    assert "no netdrv daemon in this network namespace" in res.output
    assert "netdrv load slip" in res.output


def test_walk_linktest_on_a_link_without_carrier_fails_at_once(fake_link, monkeypatch) -> None:
    import time

    real_find = linktest._find
    monkeypatch.setattr(linktest, "_find", lambda dev: (real_find(dev)[0] | {"carrier": False},
                                                        real_find(dev)[1]))  # fmt: skip

    def never(*a, **k):  # nothing may be sent over a link without carrier
        raise AssertionError("linktest tried the peer")

    monkeypatch.setattr(linktest, "_remote_stats", never)
    t0 = time.monotonic()
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-d", "1", "-n", "3"])
    assert res.exit_code == 1 and time.monotonic() - t0 < 5
    assert "sl0 has no carrier" in res.output and "netdrv status" in res.output


def test_walk_linktest_says_what_it_did_not_measure(fake_link) -> None:
    fake_link["bps"] = 9_000.0
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-n", "0", "-d", "0"])
    assert res.exit_code == 0, res.output
    # Not "0.0 kbit/s = 0.0 % of line rate" and "no answer": nothing was tried.
    assert res.output.count("not measured (-d 0)") == 2 and "0.0 kbit/s" not in res.output
    assert res.output.count("not measured (-n 0)") == 2 and "no answer" not in res.output
    out = json.loads(CliRunner().invoke(linktest.linktest_command,
                                        ["sl0", "-n", "0", "-d", "0", "--json"]).stdout)  # fmt: skip
    assert "out_bps" not in out and "efficiency_in" not in out


def test_walk_linktest_connect_gives_up_when_the_carrier_goes(monkeypatch) -> None:
    import socket
    import time

    # A listener whose accept queue is full: the kernel drops further SYNs, as a dead
    # line does, so a connect stays in progress.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    monkeypatch.setattr(linktest, "PORT", srv.getsockname()[1])
    held = []
    try:
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", linktest.PORT))
            held.append(c)
        t0 = time.monotonic()
        with pytest.raises(linktest.CarrierLost):
            linktest._connect("127.0.0.1", None, lambda: time.monotonic() - t0 < 0.5)
        assert time.monotonic() - t0 < 5  # not ANSWER_TIMEOUT (30 s)
    finally:
        for c in held:
            c.close()
        srv.close()


def test_walk_theoretical_maximum_is_stable_and_counts_vj_compression() -> None:
    from netdrv_serial.linktest import theoretical_goodput

    line = 115200 / 10
    slip = theoretical_goodput(115200, "slip", 296)
    # The same every time (it was a random packet's, a percent up or down between runs).
    assert all(theoretical_goodput(115200, "slip", 296) == slip for _ in range(5))
    # SLIP: 244 payload bytes of a 296-byte packet, 2 ENDs, escapes of random data.
    assert 244 / 300 * line < slip[0] < 244 / 298 * line
    # CSLIP compresses a bulk transfer's 40 bytes of TCP/IP header to 3: its maximum is
    # above SLIP's, or a CSLIP link measures "above the theoretical maximum".
    cslip = theoretical_goodput(115200, "cslip", 296)
    assert cslip[0] > 244 / 262 * line and cslip[1] > 1
    assert theoretical_goodput(115200, "adaptive", 296) == cslip


def test_walk_linktest_says_what_its_line_rate_is(fake_link) -> None:
    # "75.1 kbit/s = 81.5 % of line rate" under a title "115200 bit/s" reads as wrong
    # (75.1 / 115.2 is 65 %): the percentages are of the bits an 8N1 line carries as data,
    # 8 of every 10, and the table says so.
    fake_link["bps"] = 9_000.0  # 72 kbit/s
    res = CliRunner(env={"COLUMNS": "80"}).invoke(
        linktest.linktest_command, ["sl0", "-n", "0", "-d", "1"]
    )
    assert res.exit_code == 0, res.output
    assert "92.2 kbit/s of data (115200 baud, 8N1)" in res.output
    assert "72.0 kbit/s = 78.1 % of line rate" in res.output


def test_walk_linktest_on_a_wrong_device_names_the_slip_devices(monkeypatch) -> None:
    # A typo (sl9, or snull's sn0) gets the names to use, not only "not a device".
    st = {"devices": [{"name": n, "driver": d} for n, d in (("sn0", "snull"), ("sl0", "slip"),
                                                            ("sl1", "slip"))],
          "drivers": [{"name": "snull", "driver": "snull", "devices": ["sn0"], "params": {}},
                      {"name": "slip", "driver": "slip", "devices": ["sl0"], "params": {}},
                      {"name": "slip:b", "driver": "slip", "devices": ["sl1"], "params": {}}]}  # fmt: skip
    monkeypatch.setattr(linktest, "_status", lambda dev: st)
    for dev, words in (("sl9", "sl9 is not a netdrv device in this namespace"),
                       ("sn0", "sn0 is not a slip device (driver snull)")):  # fmt: skip
        res = CliRunner().invoke(linktest.linktest_command, [dev, "-d", "0", "-n", "1"])
        assert res.exit_code == 1
        assert words in res.output and "its slip devices: sl0, sl1" in res.output, res.output
    st["drivers"], st["devices"] = st["drivers"][:1], st["devices"][:1]
    res = CliRunner().invoke(linktest.linktest_command, ["sl0", "-d", "0", "-n", "1"])
    assert res.exit_code == 1
    assert "no slip device here: netdrv load slip port=PORT local=" in res.output, res.output
