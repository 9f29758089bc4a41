"""`netdrv status` survives what one driver gets wrong."""

from __future__ import annotations

import ipaddress
import json
import logging

import pytest

from netdrv_core import Driver, Host
from netdrv_core.status import host_status


class _Drv(Driver):
    name = "odd"
    summary = "a driver with odd parameters and a raising describe()"

    def describe(self) -> str:
        raise RuntimeError("describe bug")


def test_status_carries_odd_parameter_values_and_a_raising_describe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = Host()
    try:
        drv = _Drv(host, {"peer": ipaddress.IPv4Address("198.18.0.2"), "n": 3, "on": True,
                          "none": None, "ratio": 0.5, "name": "x"})  # fmt: skip
        st = host_status(host, {"odd": drv})
        json.dumps(st)  # what the daemon sends: it must encode
        (d,) = st["drivers"]
        assert d["params"] == {"peer": "198.18.0.2", "n": 3, "on": True, "none": None,
                               "ratio": 0.5, "name": "x"}  # fmt: skip
        assert d["description"] == _Drv.summary
        assert any("describe bug" in r.getMessage() and r.levelno == logging.ERROR
                   for r in caplog.records)  # fmt: skip
    finally:
        host.close()
        host.loop.close()


def test_status_carries_garbage_from_a_drivers_ethtool_ops() -> None:
    from netdrv_core import alloc_etherdev, register_netdev
    from netdrv_core.control import encode_message
    from netdrv_core.ethtool import DrvInfo, EthtoolOps

    class Garbage(EthtoolOps):
        def get_drvinfo(self, dev):  # type: ignore[no-untyped-def]
            return DrvInfo(driver=b"odd", version=None, bus_info="usb")  # type: ignore[arg-type]

        def get_strings(self, dev):  # type: ignore[no-untyped-def]
            return [b"rx_bytes_raw", "ok", "ratio", "rate"]

        def get_ethtool_stats(self, dev):  # type: ignore[no-untyped-def]
            return [b"\x01", 7, float("nan"), float("inf")]  # JSON has no NaN nor Infinity

    host = Host()
    try:
        dev = alloc_etherdev()
        dev.ethtool_ops = Garbage()
        register_netdev(dev, host)
        st = host_status(host, {})
        encode_message({"ok": True, **st})  # what the daemon sends: it must encode
        (d,) = st["devices"]
        eth = d["ethtool"]
        assert eth["driver"] == "b'odd'" and eth["version"] == "None"
        assert eth["stats"] == {"b'rx_bytes_raw'": "b'\\x01'", "ok": 7, "ratio": "nan",
                                "rate": "inf"}  # fmt: skip
        json.dumps(st, allow_nan=False)  # strict JSON: any consumer can parse it
    finally:
        host.close()
        host.loop.close()


def _snap(*devs: tuple[str, int, int, int]) -> dict[str, object]:
    """A status answer with devices (name, ifindex, packets, bytes) both ways."""
    keys = ("rx_errors", "rx_dropped", "tx_errors", "tx_dropped")
    return {"devices": [
        {"name": n, "ifindex": i, "stats": {"rx_packets": p, "rx_bytes": b, "tx_packets": 2 * p,
                                            "tx_bytes": 2 * b, **dict.fromkeys(keys, 0)}}
        for n, i, p, b in devs
    ]}  # fmt: skip


def test_link_rates_per_second_from_two_answers() -> None:
    from netdrv_core.status import link_rates

    before = _snap(("sn0", 7, 100, 10_000), ("sn1", 8, 5, 500))
    after = _snap(("sn0", 7, 300, 70_000), ("sn1", 8, 5, 500))
    rates = link_rates(before, after, 2.0)
    assert rates["sn0"]["rx_pps"] == 100 and rates["sn0"]["rx_bps"] == 8 * 30_000
    assert rates["sn0"]["tx_pps"] == 200 and rates["sn0"]["tx_bps"] == 8 * 60_000
    assert rates["sn0"]["rx_errors_ps"] == 0
    assert rates["sn1"] == dict.fromkeys(rates["sn1"], 0.0) and len(rates["sn1"]) == 8


def test_link_rates_none_for_a_new_recreated_or_reset_device() -> None:
    from netdrv_core.status import link_rates

    before = _snap(("usb0", 7, 100, 10_000), ("sn0", 3, 50, 5000))
    # usb0 unplugged and plugged back (same name, new ifindex, counters from 0); sn0's
    # counters went back (a driver that resets them); usb1 is new.
    after = _snap(("usb0", 9, 10, 1000), ("sn0", 3, 40, 6000), ("usb1", 10, 5, 500))
    assert link_rates(before, after, 1.0) == {}
    assert link_rates(before, before, 0.0) == {}  # no time between: no rate, no ZeroDivision


def test_link_rates_none_across_a_daemon_restart() -> None:
    from netdrv_core.status import link_rates

    # The daemon restarted between two refreshes: it numbers its devices from 1 again, so
    # sn0 has its old name and ifindex, and its counters (from 0) may already exceed the old
    # ones.  Rates from such a pair would be wrong, not merely missing.
    before = {"pid": 100, **_snap(("sn0", 1, 10, 1000))}
    after = {"pid": 200, **_snap(("sn0", 1, 500, 50_000))}
    assert link_rates(before, after, 1.0) == {}
    same = {"pid": 100, **_snap(("sn0", 1, 500, 50_000))}
    assert link_rates(before, same, 1.0)["sn0"]["rx_pps"] == 490


def test_link_rates_follow_a_renamed_device() -> None:
    """`ip link set sn0 name lan0` keeps the device (its ifindex): its rates go on."""
    from netdrv_core.status import link_rates

    before = _snap(("sn0", 3, 50, 5000), ("sn1", 4, 50, 5000))
    after = _snap(("lan0", 3, 150, 15_000), ("sn0", 5, 60, 6000))  # a new sn0: no rate
    rates = link_rates(before, after, 1.0)
    assert set(rates) == {"lan0"} and rates["lan0"]["rx_pps"] == 100
    assert rates["lan0"]["tx_bps"] == 8 * 20_000
