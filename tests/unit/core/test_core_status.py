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
