"""netdrv's pytest plugin fixtures, used as a driver author uses them (docs/driver-model.md)."""

from __future__ import annotations

from typing import Any

from tests.unit.core.frames import eth_frame, udp_packet


def test_the_clock_fixture_makes_the_watchdog_due(netdrv_host, netdrv_load, netdrv_clock) -> None:
    drv = netdrv_load("snull", lockup=1, configure=0)
    sn0, _ = drv.devices
    stack: Any = netdrv_host.attachment
    stack.up("sn0")
    stack.up("sn1")
    frame = eth_frame(sn0.dev_addr, "02:00:00:00:00:01", 0x0800,
                      udp_packet("198.18.0.1", "198.18.0.2", 4000, 5000, bytes(32)))  # fmt: skip
    with netdrv_clock.frozen():  # no timer becomes due: the lost TX-done stays lost
        stack.send("sn0", frame)
        netdrv_host.loop.run_until_idle()
        assert sn0.priv.skb is not None and sn0.priv.lockups == 0
    netdrv_clock.advance(1)  # past snull's 5 ms watchdog timeout
    assert netdrv_host.loop.run_until(lambda: sn0.priv.lockups == 1, timeout=1)
    assert sn0.stats.tx_errors == 1 and sn0.priv.skb is None
