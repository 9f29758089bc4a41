"""An ethtool change (or self-test) that waits for the device's running self-test, from the
caller's side: a caller told it failed — it gave up waiting (ETIMEDOUT), or it would have
run the loop inside a loop callback (EDEADLK) — leaves nothing queued, so the change is
never made afterwards; and a request that is malformed whatever the device's state is
refused at once (EINVAL), not after the wait."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from test_ethtool_self_test import Hangs, Later, _ask, _dev, _reply
from test_ethtool_self_test import daemon as daemon  # the fixture

import netdrv_core.ethtool as ethtool_mod
from netdrv_core import ETH_TEST_FL_OFFLINE, Host
from netdrv_core.control import decode_message
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import (
    EthtoolError,
    ethtool_request,
    ethtool_request_begin,
    ethtool_self_test,
    ethtool_self_test_begin,
    netif_testing,
)


def _nothing_waits(dev: Any) -> bool:
    return not ethtool_mod._waiting.get(dev)


@pytest.fixture
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process wait gives up after 2 * timeout + 1 real seconds (the fake clock
    does not move, so the test never ends by itself): keep that short."""
    monkeypatch.setattr(ethtool_mod, "ETHTOOL_TEST_TIMEOUT", 0.01)


def test_an_in_process_change_given_up_on_is_not_made_later(host: Host, short_wait: None) -> None:
    hangs = Hangs()
    dev, ops = _dev(host, hangs)
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, None)
    with pytest.raises(EthtoolError) as info:
        ethtool_request(host, dev, "ringparam", {"tx_pending": 8})
    assert info.value.errno == errno.ETIMEDOUT
    assert _nothing_waits(dev)
    completion = hangs.runs[0].completion
    assert completion is not None
    completion.complete()
    host.loop.run_until_idle()
    assert not netif_testing(dev)
    assert ops.ring.tx_pending == 16  # told it failed: not made


def test_an_in_process_test_given_up_on_does_not_run_later(host: Host, short_wait: None) -> None:
    hangs = Hangs(sync_after=1)
    dev, ops = _dev(host, hangs)
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, None)
    with pytest.raises(EthtoolError) as info:
        ethtool_self_test(host, dev)
    assert info.value.errno == errno.ETIMEDOUT and _nothing_waits(dev)
    completion = hangs.runs[0].completion
    assert completion is not None
    completion.complete()
    host.loop.run_until_idle()
    assert len(ops.calls) == 1  # the second test never ran


def test_the_daemon_in_process_gives_up_and_withdraws_the_change(
    host: Host, short_wait: None
) -> None:
    d = Daemon(host=host, watchdog=None, exit_when_empty=False)
    hangs = Hangs()
    dev, ops = _dev(host, hangs)
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, None)
    reply = d.handle({"cmd": "ethtool", "dev": dev.name, "op": "ringparam",
                      "set": {"tx_pending": 8}})  # fmt: skip
    assert reply is not None and not reply["ok"] and reply["errno"] == errno.ETIMEDOUT
    assert _nothing_waits(dev)
    completion = hangs.runs[0].completion
    assert completion is not None
    completion.complete()
    host.loop.run_until_idle()
    assert ops.ring.tx_pending == 16


@pytest.mark.parametrize(
    "req",
    [
        {"op": "ringparam", "set": {"tx_pending": 8}},
        {"op": "test"},
    ],
)
def test_the_daemon_in_process_from_a_loop_callback_is_edeadlk(
    host: Host, req: dict[str, Any]
) -> None:
    """As ethtool_request: waiting from a loop callback would run the loop inside itself."""
    d = Daemon(host=host, watchdog=None, exit_when_empty=False)
    hangs = Hangs(sync_after=1)
    dev, ops = _dev(host, hangs)
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, None)
    out: list[dict[str, Any] | None] = []
    host.loop.call_soon(lambda: out.append(d.handle({"cmd": "ethtool", "dev": dev.name, **req})))
    host.loop.run_until_idle()
    assert out and out[0] is not None and not out[0]["ok"], out
    assert out[0]["errno"] == errno.EDEADLK
    assert _nothing_waits(dev)
    completion = hangs.runs[0].completion
    assert completion is not None
    completion.complete()
    host.loop.run_until_idle()
    assert ops.ring.tx_pending == 16 and len(ops.calls) == 1  # neither made nor run


@pytest.mark.parametrize(
    ("op", "settings"),
    [
        ("ringparam", {"tx_pendingg": 8}),  # no such field
        ("ringparam", {"tx_pending": "eight"}),  # not a u32
        ("ringparam", {"tx_pending": -1}),
        ("msglevel", {"level": 3}),
        ("nosuchop", {"x": 1}),
    ],
)
def test_a_malformed_change_is_einval_at_once_not_after_the_test(
    host: Host, op: str, settings: dict[str, Any]
) -> None:
    hangs = Hangs()
    dev, _ = _dev(host, hangs)
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, None)
    got: list[Any] = []
    with pytest.raises(EthtoolError) as info:
        ethtool_request_begin(host, dev, op, settings, None, got.append)
    assert info.value.errno == errno.EINVAL
    assert _nothing_waits(dev) and got == []
    assert netif_testing(dev)  # the test still runs: the refusal did not wait for it


def test_a_change_owed_when_the_daemon_stops_is_answered_as_a_change(daemon: Daemon) -> None:
    later = Later()
    dev, ops = _dev(daemon.host, later)
    tester = _ask(daemon, {"cmd": "ethtool", "dev": dev.name, "op": "test"})
    assert _reply(daemon, tester) is None
    changer = _ask(daemon, {"cmd": "ethtool", "dev": dev.name, "op": "ringparam",
                            "set": {"tx_pending": 8}})  # fmt: skip
    assert _reply(daemon, changer) is None  # waits for the test
    daemon.shutdown()
    changer.setblocking(False)
    reply = decode_message(bytearray(changer.recv(65536)))
    assert reply is not None and not reply["ok"] and reply["errno"] == errno.ENODEV, reply
    assert (
        "before the ethtool ringparam change, waiting for a self-test, was made" in (reply["error"])
    )
    assert ops.ring.tx_pending == 16
    for c in (tester, changer):
        c.close()
