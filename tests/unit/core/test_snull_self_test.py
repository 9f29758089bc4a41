"""snull's ``ethtool -t``: the register test (the driver's bookkeeping agrees with itself)
and the loopback test (a frame through the transmit path arrives intact at the peer)."""

from __future__ import annotations

from typing import Any

import pytest
from fakedev import FakeClock, LoadSnull, mem
from netdrv_snull.driver import (
    SNULL_LB_CORRUPT,
    SNULL_LB_LOST,
    SNULL_LB_NOT_SENT,
    SNULL_TEST_STRINGS,
    SNULL_TEST_TIMEOUT,
)

from netdrv_core import ETH_TEST_FL_OFFLINE, Host, SkBuff
from netdrv_core.ethtool import ethtool_self_test_begin, netif_testing

REG, LOOP = SNULL_TEST_STRINGS


def _frame(src: bytes, dst: bytes) -> bytes:
    """An IPv4/UDP frame from sn0's network to the remote on it (198.18.0.1 -> .0.2)."""
    ip = bytearray.fromhex("450000200001000040110000c6120001c6120002")
    return dst + src + b"\x08\x00" + bytes(ip) + bytes.fromhex("00090009000c0000") + b"data"


def _test(host: Host, dev: Any, flags: int = ETH_TEST_FL_OFFLINE) -> Any:
    got: list[Any] = []
    result = ethtool_self_test_begin(host, dev, flags, got.append)
    if result is None:
        host.loop.run_until_idle()
        assert got, "the loopback test did not complete"
        result = got[0]
    return result


@pytest.mark.parametrize("napi", [0, 1])
def test_both_tests_pass_and_the_frame_stays_in_the_driver(
    host: Host, snull: LoadSnull, napi: int
) -> None:
    sn0, sn1 = snull(use_napi=napi).devices
    tx = sn0.stats.tx_packets
    r = _test(host, sn0)
    assert r["passed"] and r["results"] == {REG: 0, LOOP: 0}, r
    # It went through the transmit path (counted, tx_submitted balances) ...
    assert sn0.stats.tx_packets == tx + 1
    assert sn0.core_stats.tx_submitted == sn0.stats.tx_packets + sn0.stats.tx_dropped
    # ... and the peer's "hardware" kept it: nothing reached sn1's stack.
    assert mem(host).received(sn1) == [] and sn1.stats.rx_packets == 0
    assert not netif_testing(sn0) and sn0.operstate == "up"
    assert sn0.priv.selftest is None and sn0.priv.pool_free == sn0.priv.pool_size
    # Online only the register test runs: no frame.
    r = _test(host, sn1, 0)
    assert r["passed"] and sn1.stats.tx_packets == 0


def test_traffic_goes_on_during_the_test(host: Host, snull: LoadSnull) -> None:
    sn0, sn1 = snull(use_napi=1).devices
    got: list[Any] = []
    assert ethtool_self_test_begin(host, sn0, ETH_TEST_FL_OFFLINE, got.append) is None
    # A frame of the kernel's, sent before the NAPI poll ran: delivered as usual.
    mem(host).send(sn0, _frame(sn0.dev_addr, sn0.dev_addr))
    host.loop.run_until_idle()
    assert got and got[0]["passed"], got
    assert len(mem(host).received(sn1)) == 1 and sn1.stats.rx_packets == 1


def test_the_register_test_finds_broken_bookkeeping(
    host: Host, snull: LoadSnull, caplog: pytest.LogCaptureFixture
) -> None:
    sn0, _ = snull().devices
    sn0.priv.pool_free -= 1  # a buffer lost: counted out, but the peer holds none
    r = _test(host, sn0, 0)
    assert not r["passed"] and r["results"][REG] == 1
    assert "1 pool buffers are out, but the peer holds 0" in caplog.text
    sn0.priv.pool_free = 0  # and now the queue should be stopped too
    assert _test(host, sn0, 0)["results"][REG] == 2


def test_a_loopback_test_with_the_peer_down_fails_as_not_sent(host: Host, snull: LoadSnull) -> None:
    sn0, sn1 = snull().devices
    host.dev_close(sn1)
    r = _test(host, sn0)
    assert not r["passed"] and r["results"] == {REG: 0, LOOP: SNULL_LB_NOT_SENT}


def _tamper(dev: Any, how: str) -> None:
    """A hook on the transmit path that changes the test frame as a bad wire would."""

    def hook(skb: SkBuff) -> bool:
        at = skb.data + 14 + 28 + (10 if how == "header" else 30)
        skb.buf[at] ^= 0xFF
        return True

    dev.xmit_hook = hook


def test_a_changed_frame_fails_as_corrupt(host: Host, snull: LoadSnull) -> None:
    sn0, _ = snull().devices
    _tamper(sn0, "payload")
    r = _test(host, sn0)
    assert r["results"][LOOP] == SNULL_LB_CORRUPT and not r["passed"]


def test_a_frame_that_never_arrives_fails_after_the_timeout(
    host: Host, snull: LoadSnull, clock: FakeClock
) -> None:
    sn0, sn1 = snull().devices
    _tamper(sn0, "header")  # not recognised: an ordinary broadcast, up sn1's stack
    got: list[Any] = []
    assert ethtool_self_test_begin(host, sn0, ETH_TEST_FL_OFFLINE, got.append) is None
    host.loop.run_until_idle()
    assert got == [] and sn0.operstate == "testing"
    assert len(mem(host).received(sn1)) == 1
    clock.advance(SNULL_TEST_TIMEOUT)
    host.loop.run_until_idle()
    assert got[0]["results"][LOOP] == SNULL_LB_LOST and not got[0]["passed"]
    assert sn0.operstate == "up" and sn0.priv.selftest is None


def test_going_down_during_the_test_fails_it_at_once(host: Host, snull: LoadSnull) -> None:
    sn0, _ = snull().devices
    _tamper(sn0, "header")
    got: list[Any] = []
    ethtool_self_test_begin(host, sn0, ETH_TEST_FL_OFFLINE, got.append)
    host.dev_close(sn0)
    host.loop.run_until_idle()
    assert got[0]["results"][LOOP] == SNULL_LB_LOST and sn0.priv.selftest is None
    assert sn0.operstate == "down"
