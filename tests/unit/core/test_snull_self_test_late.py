"""snull's loopback test frame never reaches the stack, also when it arrives after its test
gave up (it waited in the qdisc past the timeout) or after another test started."""

from __future__ import annotations

from typing import Any

from fakedev import FakeClock, LoadSnull, mem
from netdrv_snull.driver import SNULL_LB_LOST, SNULL_TEST_STRINGS, SNULL_TEST_TIMEOUT

from netdrv_core import ETH_TEST_FL_OFFLINE, Host, netif_stop_queue, netif_wake_queue
from netdrv_core.ethtool import ethtool_self_test_begin

REG, LOOP = SNULL_TEST_STRINGS


def test_a_late_test_frame_is_not_delivered_up_the_stack(
    host: Host, snull: LoadSnull, clock: FakeClock
) -> None:
    sn0, sn1 = snull().devices
    netif_stop_queue(sn0)  # the frame waits in the qdisc, as behind a busy pool
    got: list[Any] = []
    assert ethtool_self_test_begin(host, sn0, ETH_TEST_FL_OFFLINE, got.append) is None
    clock.advance(SNULL_TEST_TIMEOUT)
    host.loop.run_until_idle()
    assert got and got[0]["results"][LOOP] == SNULL_LB_LOST, got
    # The queue wakes: the frame goes out now, and the peer's "hardware" still keeps it.
    netif_wake_queue(sn0)
    host.loop.run_until_idle()
    assert sn0.stats.tx_packets == 1
    assert mem(host).received(sn1) == [] and sn1.stats.rx_packets == 0
    assert sn0.priv.pool_free == sn0.priv.pool_size  # its buffer came back
