"""``ethtool -t``: the core side of a driver's self-test (Linux's ``ethtool_self_test``).

The driver names its tests (``get_test_strings``) and runs them (``self_test``), at once
or later through a :class:`~netdrv_core.Completion`; the core checks what it leaves,
marks the device ``testing`` meanwhile, has a second test and any change (``-G``, ``-K``…)
wait for the first (as Linux's RTNL lock does), and answers ETIMEDOUT for a test that
never completes.  The daemon serves other requests
while a test runs and answers the test's client once it is done.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakedev import FakeClock, ScriptedOps, load_driver, make_dev

import netdrv_core.control as control_mod
from netdrv_core import (
    ETH_TEST_FL_EXTERNAL_LB,
    ETH_TEST_FL_EXTERNAL_LB_DONE,
    ETH_TEST_FL_FAILED,
    ETH_TEST_FL_OFFLINE,
    Completion,
    Driver,
    EthtoolTest,
    Host,
    NetDevice,
    alloc_netdev,
    ether_setup,
    netif_carrier_off,
    netif_carrier_on,
)
from netdrv_core.control import decode_message, encode_message, validate_request
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import (
    ETHTOOL_TEST_TIMEOUT,
    EthtoolError,
    EthtoolOps,
    RingParam,
    ethtool_request,
    ethtool_request_begin,
    ethtool_self_test,
    ethtool_self_test_begin,
    netif_testing,
)
from netdrv_core.status import device_status

NAMES = ["Register test  (offline)", "Link test   (on/offline)"]


class SelfTestedOps(EthtoolOps):
    """Two tests; ``behave(dev, test, data)`` decides what ``self_test`` does."""

    def __init__(self, behave: Callable[[NetDevice, EthtoolTest, list[int]], Any]) -> None:
        self.behave = behave
        self.calls: list[int] = []  # the flags of each call
        self.ring = RingParam(tx_max_pending=64, tx_pending=16)

    def get_test_strings(self, dev: NetDevice) -> list[str]:
        return list(NAMES)

    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        self.calls.append(test.flags)
        return self.behave(dev, test, data)

    def get_ringparam(self, dev: NetDevice) -> RingParam:
        return self.ring

    def set_ringparam(self, dev: NetDevice, ring: RingParam) -> int:
        self.ring = ring
        return 0


class SelfTester(Driver):
    """One device whose self-test does what a test says."""

    name = "tester"
    summary = "a device with a self-test"

    def init(self) -> None:
        dev = alloc_netdev(None, "t%d", ether_setup)
        dev.netdev_ops = ScriptedOps()
        dev.dev_addr = b"\x02\x00\x00\x00\x00\x10"
        self.register(dev)


def _dev(host: Host, behave: Callable[..., Any]) -> tuple[NetDevice, SelfTestedOps]:
    dev = load_driver(host, SelfTester).devices[0]
    assert host.dev_open(dev) == 0
    ops = SelfTestedOps(behave)
    dev.ethtool_ops = ops
    return dev, ops


def _fails(dev: NetDevice, test: EthtoolTest, data: list[int]) -> None:
    data[1] = 7  # a measurement: the link test's error count
    test.flags |= ETH_TEST_FL_FAILED


def test_a_synchronous_test_reports_each_result_by_name(host: Host) -> None:
    dev, ops = _dev(host, _fails)
    r = ethtool_self_test(host, dev)
    assert r == {"passed": False, "flags": ETH_TEST_FL_OFFLINE | ETH_TEST_FL_FAILED,
                 "flag_names": ["OFFLINE", "FAILED"], "external_lb": False,
                 "external_lb_done": False, "results": {NAMES[0]: 0, NAMES[1]: 7}}  # fmt: skip
    assert ops.calls == [ETH_TEST_FL_OFFLINE]  # ethtool -t's default: offline
    assert ethtool_self_test(host, dev, 0)["flags"] == ETH_TEST_FL_FAILED
    assert ops.calls[-1] == 0
    assert not netif_testing(dev) and dev.operstate == "up"
    assert ethtool_request(host, dev, "drvinfo")[0]["testinfo_len"] == 2
    # The same through the request the daemon validates (args: the test's flags).
    req = {"cmd": "ethtool", "dev": dev.name, "op": "test", "args": {"flags": 9}}
    validate_request(req)
    r, changed = ethtool_request(host, dev, "test", args=req["args"])
    assert changed is None and r["external_lb"] and not r["external_lb_done"]
    assert ops.calls[-1] == ETH_TEST_FL_OFFLINE | ETH_TEST_FL_EXTERNAL_LB


def test_without_both_ops_it_is_eopnotsupp_and_drvinfo_says_no_test(host: Host) -> None:
    class OnlyTest(EthtoolOps):
        def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> None:
            raise AssertionError("not to be called without test names")

    class NoNames(SelfTestedOps):
        def get_test_strings(self, dev: NetDevice) -> list[str]:
            return []

    for ops in (None, EthtoolOps(), OnlyTest(), NoNames(_fails)):
        dev, _ = make_dev(host, "n%d")
        dev.ethtool_ops = ops
        with pytest.raises(EthtoolError) as exc:
            ethtool_self_test(host, dev)
        assert exc.value.errno == errno.EOPNOTSUPP, exc.value
        assert ethtool_request(host, dev, "drvinfo")[0]["testinfo_len"] == 0


@pytest.mark.parametrize("flags", [1 << 2, 1 << 5 | ETH_TEST_FL_OFFLINE, 1 << 31])
def test_flags_the_core_does_not_know_reach_the_driver(host: Host, flags: int) -> None:
    """As Linux's ethtool_self_test: the request's flags go to self_test unchanged (a newer
    ethtool's flag too), the driver decides what it supports; they come back as it left them."""
    dev, ops = _dev(host, _fails)
    r = ethtool_self_test(host, dev, flags)
    assert ops.calls == [flags] and r["flags"] == flags | ETH_TEST_FL_FAILED
    req = {"cmd": "ethtool", "dev": dev.name, "op": "test", "args": {"flags": flags}}
    validate_request(req)  # the raw control protocol takes them too
    assert ethtool_request(host, dev, "test", args=req["args"])[0]["flags"] & flags == flags
    assert ops.calls[-1] == flags


@pytest.mark.parametrize("flags", [-1, 1 << 32, True, "1"])
def test_flags_that_are_no_u32_are_einval(host: Host, flags: Any) -> None:
    dev, ops = _dev(host, _fails)
    with pytest.raises(EthtoolError) as exc:
        ethtool_self_test(host, dev, flags)
    assert exc.value.errno == errno.EINVAL and ops.calls == []


@pytest.mark.parametrize(
    "flags",
    [ETH_TEST_FL_FAILED, ETH_TEST_FL_EXTERNAL_LB_DONE,
     ETH_TEST_FL_EXTERNAL_LB_DONE | ETH_TEST_FL_EXTERNAL_LB | ETH_TEST_FL_OFFLINE],
)  # fmt: skip
def test_the_drivers_answers_in_a_request_reach_it_and_come_back(host: Host, flags: int) -> None:
    """Linux's ethtool_self_test copies struct ethtool_test from the caller and hands its
    flags to the driver unchanged: FAILED or EXTERNAL_LB_DONE in the request come back set
    (a test that reads as failed, an external loopback test that reads as run)."""
    dev, ops = _dev(host, lambda dev, test, data: None)  # passes, adds nothing
    r = ethtool_self_test(host, dev, flags)
    assert ops.calls == [flags] and r["flags"] == flags
    assert r["passed"] is not bool(flags & ETH_TEST_FL_FAILED)
    assert r["external_lb_done"] is bool(flags & ETH_TEST_FL_EXTERNAL_LB_DONE)
    assert not netif_testing(dev)


def _set(**kw: Any) -> Callable[[NetDevice, EthtoolTest, list[int]], Any]:
    def behave(dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        if "flags" in kw:
            test.flags = kw["flags"]
        if "data" in kw:
            kw["data"](data)
        return kw.get("ret")

    return behave


@pytest.mark.parametrize(
    ("behave", "message"),
    [
        (_set(ret="PASS"), r"self_test returned 'PASS', not None \(done\) or a Completion"),
        (
            _set(data=lambda d: d.append(0)),
            r"resized its data list of 2 results to 3: set "
            r"data\[i\] in place",
        ),
        (_set(data=lambda d: d.clear()), "resized its data list of 2 results to 0"),
        (
            _set(data=lambda d: d.__setitem__(1, -1)),
            r"set data\[1\] \(Link test   "
            r"\(on/offline\)\) to -1, not an integer",
        ),
        (_set(data=lambda d: d.__setitem__(0, True)), r"data\[0\] .* to True"),
        (_set(data=lambda d: d.__setitem__(0, 1 << 64)), "not an integer 0..2"),
        (_set(flags=0), "left test.flags=0 from 0x1: it may only add ETH_TEST_FL_FAILED to"),
        (
            _set(flags=ETH_TEST_FL_OFFLINE | ETH_TEST_FL_EXTERNAL_LB_DONE),
            "left test.flags=17 from 0x1",
        ),
        (_set(flags=ETH_TEST_FL_OFFLINE | 1 << 7), "left test.flags=129"),
        (_set(flags="FAIL"), "left test.flags='FAIL'"),
    ],
)
def test_garbage_from_self_test_is_eio_naming_the_driver_and_the_fix(
    host: Host, behave: Callable[..., Any], message: str
) -> None:
    dev, _ = _dev(host, behave)
    with pytest.raises(EthtoolError, match=message) as exc:
        ethtool_self_test(host, dev)
    assert exc.value.errno == errno.EIO and "t0: driver tester's " in str(exc.value)
    assert not netif_testing(dev) and dev.operstate == "up" and dev.is_up


def test_external_lb_done_is_the_drivers_to_set_only_when_asked(host: Host) -> None:
    dev, _ = _dev(host, _set(flags=ETH_TEST_FL_OFFLINE | ETH_TEST_FL_EXTERNAL_LB
                             | ETH_TEST_FL_EXTERNAL_LB_DONE))  # fmt: skip
    r = ethtool_self_test(host, dev, ETH_TEST_FL_OFFLINE | ETH_TEST_FL_EXTERNAL_LB)
    assert r["passed"] and r["external_lb_done"]


def test_bad_test_names_are_eio(host: Host) -> None:
    class Twice(SelfTestedOps):
        def get_test_strings(self, dev: NetDevice) -> list[str]:
            return ["loopback", "loopback"]

    dev, _ = make_dev(host)
    dev.ethtool_ops = Twice(_fails)
    assert dev.ethtool_ops is not None
    with pytest.raises(EthtoolError, match=r"get_test_strings returned .* distinct names"):
        ethtool_self_test(host, dev)


def test_a_raising_self_test_is_a_driver_fault(host: Host) -> None:
    def boom(dev: NetDevice, test: EthtoolTest, data: list[int]) -> None:
        raise ZeroDivisionError("oops")

    dev, _ = _dev(host, boom)
    with pytest.raises(EthtoolError, match="tester raised in self_test: ZeroDivisionError") as e:
        ethtool_self_test(host, dev)
    host.loop.run_until_idle()  # the fault's deferred close
    assert e.value.errno == errno.EIO and not dev.is_up and not netif_testing(dev)


def test_a_detached_device_is_not_tested(host: Host) -> None:
    from netdrv_core import netif_device_detach

    dev, ops = _dev(host, _fails)
    netif_device_detach(dev)
    with pytest.raises(EthtoolError, match="detached") as exc:
        ethtool_self_test(host, dev)
    assert exc.value.errno == errno.ENODEV and ops.calls == []


class Later:
    """A self-test that completes when the test says so (its frames are "in flight")."""

    def __init__(self) -> None:
        self.completion: Completion | None = None
        self.data: list[int] = []
        self.test: EthtoolTest | None = None

    def __call__(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Completion:
        self.completion, self.data, self.test = Completion(), data, test
        return self.completion


def test_a_test_that_needs_the_loop_completes_later_while_the_device_shows_testing(
    host: Host,
) -> None:
    later = Later()
    dev, ops = _dev(host, later)
    got: list[Any] = []
    assert ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, got.append) is None
    assert netif_testing(dev) and dev.operstate == "testing"
    assert device_status(host, dev)["operstate"] == "testing"
    # The carrier may come and go during the test (a driver that resets its PHY):
    # testing wins, as in Linux's default_operstate.
    netif_carrier_off(dev)
    assert dev.operstate == "testing"
    netif_carrier_on(dev)
    assert dev.operstate == "testing"
    host.dev_close(dev)
    assert dev.operstate == "down"
    assert host.dev_open(dev) == 0  # e1000 closes and reopens itself during its test
    assert dev.operstate == "testing"
    # A change while it runs waits for it (Linux: for RTNL), reads go on.
    changed: list[Any] = []
    assert ethtool_request_begin(host, dev, "ringparam", {"tx_pending": 8}, None,
                                 changed.append) is None  # fmt: skip
    assert ops.ring.tx_pending == 16
    assert ethtool_request(host, dev, "ringparam")[0]["tx_pending"] == 16  # reads go on
    later.data[1] = 3
    assert later.completion is not None and later.test is not None
    later.test.flags |= ETH_TEST_FL_FAILED
    host.loop.run_until_idle()
    assert got == []  # not done yet
    # complete() from another thread (a driver's worker): the result is taken on the loop.
    t = threading.Thread(target=later.completion.complete)
    t.start()
    t.join()
    assert host.loop.run_until(lambda: bool(got), timeout=5)
    assert got[0]["results"] == {NAMES[0]: 0, NAMES[1]: 3} and not got[0]["passed"]
    assert not netif_testing(dev) and dev.operstate == "up"
    assert len(changed) == 1 and changed[0][0]["tx_pending"] == 8 and changed[0][1] is True
    assert ops.ring.tx_pending == 8
    later.completion.complete()  # a second complete() changes nothing
    host.loop.run_until_idle()
    assert len(got) == 1


def test_a_test_that_never_completes_times_out(host: Host, clock: FakeClock) -> None:
    later = Later()
    dev, _ = _dev(host, later)
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, got.append)
    clock.advance(ETHTOOL_TEST_TIMEOUT - 0.5)
    host.loop.run_until_idle()
    assert got == [] and netif_testing(dev)
    clock.advance(1.0)
    host.loop.run_until_idle()
    assert len(got) == 1 and isinstance(got[0], EthtoolError)
    assert got[0].errno == errno.ETIMEDOUT and "did not complete within 20 s" in str(got[0])
    assert "call complete() on the Completion" in str(got[0])
    assert not netif_testing(dev) and dev.operstate == "up"
    assert later.completion is not None
    later.completion.complete()  # too late: ignored
    host.loop.run_until_idle()
    assert len(got) == 1
    assert ethtool_request(host, dev, "ringparam", {"tx_pending": 8})[1] is True


class Hangs:
    """Each call starts a test that completes only when the test says so (``runs[i]``)."""

    def __init__(self, sync_after: int | None = None) -> None:
        self.runs: list[Later] = []
        self.sync_after = sync_after  # calls after this many fail at once (a measurement 9)

    def __call__(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Any:
        if self.sync_after is not None and len(self.runs) >= self.sync_after:
            data[1] = 9
            test.flags |= ETH_TEST_FL_FAILED
            return None
        later = Later()
        self.runs.append(later)
        return later(dev, test, data)


def _tagged(got: list[Any], tag: str) -> Callable[[Any], None]:
    return lambda outcome: got.append((tag, outcome))


def test_a_second_test_waits_for_the_running_one_and_runs_after_it(host: Host) -> None:
    """Linux runs ethtool ops under RTNL: ethtool -t while one runs waits, then runs — in
    the order the tests came, each after the previous result was handed on."""
    hangs = Hangs(sync_after=1)
    dev, ops = _dev(host, hangs)
    got: list[Any] = []
    assert ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "a")) is None
    assert ethtool_self_test_begin(host, dev, 0, _tagged(got, "b")) is None  # waits
    assert ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "c")) is None
    host.loop.run_until_idle()
    assert ops.calls == [ETH_TEST_FL_OFFLINE] and got == [] and netif_testing(dev)
    hangs.runs[0].completion.complete()  # type: ignore[union-attr]
    host.loop.run_until_idle()
    assert [tag for tag, _ in got] == ["a", "b", "c"]
    assert ops.calls == [ETH_TEST_FL_OFFLINE, 0, ETH_TEST_FL_OFFLINE]
    a, b, c = (outcome for _, outcome in got)
    assert a["passed"] and not b["passed"] and b["results"][NAMES[1]] == 9
    assert b["flags"] == ETH_TEST_FL_FAILED and c["flags"] == ETH_TEST_FL_OFFLINE | 2
    assert not netif_testing(dev) and dev.operstate == "up"
    # Nothing waits any more: the next test runs at once.
    assert ethtool_self_test_begin(host, dev, 0, _tagged(got, "d")) is not None


def test_a_waiting_test_whose_caller_raises_does_not_strand_the_tests_behind_it(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    """One queued caller's result callback raising (a client gone mid-answer) is logged; the
    tests queued behind it still run and get their results."""
    hangs = Hangs(sync_after=1)
    dev, ops = _dev(host, hangs)
    got: list[Any] = []

    def broken(outcome: Any) -> None:
        raise RuntimeError("the caller is gone")

    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "a"))
    ethtool_self_test_begin(host, dev, 0, broken)
    ethtool_self_test_begin(host, dev, 0, _tagged(got, "c"))
    hangs.runs[0].completion.complete()  # type: ignore[union-attr]
    host.loop.run_until_idle()
    assert [tag for tag, _ in got] == ["a", "c"] and len(ops.calls) == 3
    assert "handing on a queued self-test's result raised" in caplog.text
    assert not netif_testing(dev)


def test_a_test_waiting_behind_one_that_never_completes_runs_when_that_times_out(
    host: Host, clock: FakeClock
) -> None:
    hangs = Hangs(sync_after=1)
    dev, ops = _dev(host, hangs)
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "hung"))
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "next"))
    clock.advance(ETHTOOL_TEST_TIMEOUT)  # both deadlines at once: the running test's first
    host.loop.run_until_idle()
    assert [tag for tag, _ in got] == ["hung", "next"]
    assert got[0][1].errno == errno.ETIMEDOUT
    assert got[1][1]["results"][NAMES[1]] == 9 and len(ops.calls) == 2
    assert not netif_testing(dev)


def test_a_test_that_waits_longer_than_the_timeout_is_ebusy_without_running(
    host: Host, clock: FakeClock
) -> None:
    """Behind two tests that each take their whole timeout, the third gives up once it has
    waited as long itself: EBUSY, its driver's test never called."""
    hangs = Hangs()
    dev, ops = _dev(host, hangs)
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "a"))
    clock.advance(ETHTOOL_TEST_TIMEOUT / 2)
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "b"))
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "c"))
    clock.advance(ETHTOOL_TEST_TIMEOUT / 2)
    host.loop.run_until_idle()  # a timed out; b runs (and hangs too)
    assert [tag for tag, _ in got] == ["a"] and len(ops.calls) == 2
    clock.advance(ETHTOOL_TEST_TIMEOUT / 2)
    host.loop.run_until_idle()  # b and c came 20 s ago: b still runs, c gives up
    assert [tag for tag, _ in got] == ["a", "c"]
    tag, busy = got[-1]
    assert tag == "c" and isinstance(busy, EthtoolError) and busy.errno == errno.EBUSY
    assert "another self-test (ethtool -t) of the device still ran after 20 s" in str(busy)
    assert len(ops.calls) == 2  # c's test never ran
    clock.advance(ETHTOOL_TEST_TIMEOUT / 2)
    host.loop.run_until_idle()
    assert [tag for tag, _ in got] == ["a", "c", "b"] and got[-1][1].errno == errno.ETIMEDOUT
    assert not netif_testing(dev) and len(ops.calls) == 2


def test_a_test_whose_device_went_away_while_it_waited_is_enodev(host: Host) -> None:
    hangs = Hangs()
    dev, ops = _dev(host, hangs)
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "a"))
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "b"))
    host.unregister_netdev(dev)
    hangs.runs[0].completion.complete()  # type: ignore[union-attr]
    host.loop.run_until_idle()
    assert [(tag, o.errno) for tag, o in got] == [("a", errno.ENODEV), ("b", errno.ENODEV)]
    assert len(ops.calls) == 1  # the gone device's driver was not asked again


def test_a_waiting_test_in_process_runs_the_loop_until_its_turn_and_result(
    host: Host,
) -> None:
    """ethtool_self_test (the in-process form) behind a running test: it runs the loop, the
    running test completes there, and then it runs and answers."""
    hangs = Hangs(sync_after=1)
    dev, _ = _dev(host, hangs)
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, got.append)
    completion = hangs.runs[0].completion
    assert completion is not None
    host.loop.call_soon(completion.complete)
    r = ethtool_self_test(host, dev, 0)
    assert r["results"][NAMES[1]] == 9 and got and got[0]["passed"]


def test_a_device_unregistered_during_its_test_is_enodev(host: Host) -> None:
    later = Later()
    dev, _ = _dev(host, later)
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, got.append)
    host.unregister_netdev(dev)
    assert later.completion is not None
    later.completion.complete()
    host.loop.run_until_idle()
    assert isinstance(got[0], EthtoolError) and got[0].errno == errno.ENODEV


def test_a_completion_completed_before_self_test_returns_is_a_synchronous_result(
    host: Host,
) -> None:
    def done_at_once(dev: NetDevice, test: EthtoolTest, data: list[int]) -> Completion:
        c = Completion()
        data[0] = 1
        c.complete()
        return c

    dev, _ = _dev(host, done_at_once)
    r = ethtool_self_test_begin(host, dev, 0, lambda _: None)
    assert r is not None and r["results"][NAMES[0]] == 1


# -- through the daemon's control socket ------------------------------------------------------
@pytest.fixture
def daemon(host: Host, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A daemon on the fake-clock host, on an abstract address of its own."""
    address = f"\0netdrv-test/{os.getpid()}/{id(host)}"
    d = Daemon(host=host, watchdog=None, exit_when_empty=False)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    s.bind(address)
    s.listen(16)
    d.listener = s
    host.loop.add_reader(s.fileno(), d._accept)
    monkeypatch.setattr(control_mod, "CONTROL_ADDRESS", address)
    d.address = address  # type: ignore[attr-defined]
    yield d
    for conn in list(d.conns.values()):
        d._close_conn(conn)
    d._close_listener()


def _ask(d: Daemon, req: dict[str, Any]) -> socket.socket:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(d.address)  # type: ignore[attr-defined]
    c.sendall(encode_message(req))
    return c


def _reply(d: Daemon, c: socket.socket) -> dict[str, Any] | None:
    """Run the loop a little and return the reply, if one came."""
    buf = bytearray()
    c.setblocking(False)
    d.host.loop.run_until(lambda: False, timeout=0.2)
    try:
        buf += c.recv(65536)
    except BlockingIOError:
        return None
    return decode_message(buf)


def test_the_daemon_answers_others_while_a_test_runs_and_the_tester_once_it_is_done(
    daemon: Daemon, clock: FakeClock
) -> None:
    later = Later()
    dev, _ = _dev(daemon.host, later)
    daemon.idle_timeout = 5.0  # shorter than the test's timeout
    tester = _ask(daemon, {"cmd": "ethtool", "dev": dev.name, "op": "test",
                           "args": {"flags": ETH_TEST_FL_OFFLINE}})  # fmt: skip
    assert _reply(daemon, tester) is None  # the test runs: no answer yet
    assert later.completion is not None
    other = _ask(daemon, {"cmd": "status"})
    st = _reply(daemon, other)
    assert st is not None and st["ok"]
    assert next(x for x in st["devices"] if x["name"] == dev.name)["operstate"] == "testing"
    clock.advance(2 * daemon.idle_timeout)  # waiting for a test's result is not idling
    assert _reply(daemon, tester) is None
    later.data[0] = 5
    later.completion.complete()
    reply = _reply(daemon, tester)
    assert reply is not None and reply["ok"], reply
    assert reply["result"]["results"] == {NAMES[0]: 5, NAMES[1]: 0}
    st = _reply(daemon, _ask(daemon, {"cmd": "status"}))
    assert st is not None
    assert next(x for x in st["devices"] if x["name"] == dev.name)["operstate"] == "up"
    tester.close()
    other.close()


def test_a_second_client_s_test_is_answered_after_the_first(daemon: Daemon) -> None:
    """`netdrv ethtool -t DEV` while another runs on DEV: it waits (no EBUSY) and gets its
    own result once the first one is done."""
    hangs = Hangs(sync_after=1)
    dev, ops = _dev(daemon.host, hangs)
    req = {"cmd": "ethtool", "dev": dev.name, "op": "test", "args": {"flags": 0}}
    first = _ask(daemon, req)
    assert _reply(daemon, first) is None
    second = _ask(daemon, req)
    assert _reply(daemon, second) is None  # waits for the first: no answer yet, no EBUSY
    assert len(ops.calls) == 1
    hangs.runs[0].completion.complete()  # type: ignore[union-attr]
    one, two = _reply(daemon, first), _reply(daemon, second)
    assert one is not None and one["ok"] and one["result"]["passed"], one
    assert two is not None and two["ok"] and two["result"]["results"][NAMES[1]] == 9, two
    assert len(ops.calls) == 2 and not netif_testing(dev)
    first.close()
    second.close()


def test_a_client_gone_before_its_test_ends_costs_nothing(daemon: Daemon) -> None:
    later = Later()
    dev, _ = _dev(daemon.host, later)
    tester = _ask(daemon, {"cmd": "ethtool", "dev": dev.name, "op": "test"})
    assert _reply(daemon, tester) is None
    tester.close()
    daemon.host.loop.run_until(lambda: not daemon.conns, timeout=5)
    assert later.completion is not None
    later.completion.complete()
    daemon.host.loop.run_until_idle()
    assert not netif_testing(dev) and dev.operstate == "up"


# -- changes wait for a running test (RTNL) ----------------------------------------------------
def test_changes_wait_for_the_running_test_and_are_made_in_turn(host: Host) -> None:
    """Linux holds RTNL through ethtool -t: -G, -K (any change) made meanwhile waits for the
    test and is made after it, in the order it came with the tests waiting too; reads go
    on at once."""
    hangs = Hangs(sync_after=1)
    dev, ops = _dev(host, hangs)
    assert "rx-gro" in ethtool_request(host, dev, "features")[0]["features"]
    gro_was = ethtool_request(host, dev, "features")[0]["features"]["rx-gro"]
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "test"))
    assert ethtool_request_begin(host, dev, "ringparam", {"tx_pending": 8}, None,
                                 _tagged(got, "-G")) is None  # fmt: skip
    assert ethtool_self_test_begin(host, dev, 0, _tagged(got, "test2")) is None
    assert ethtool_request_begin(host, dev, "features", {"gro": False}, None,
                                 _tagged(got, "-K")) is None  # fmt: skip
    host.loop.run_until_idle()
    assert got == [] and ops.ring.tx_pending == 16 and len(ops.calls) == 1
    assert ethtool_request(host, dev, "ringparam")[0]["tx_pending"] == 16  # a read: at once
    hangs.runs[0].completion.complete()  # type: ignore[union-attr]
    host.loop.run_until_idle()
    assert [tag for tag, _ in got] == ["test", "-G", "test2", "-K"]
    ring, ring_changed = got[1][1]
    assert ring["tx_pending"] == 8 and ring_changed is True and ops.ring.tx_pending == 8
    assert got[2][1]["results"][NAMES[1]] == 9  # the second test ran after -G
    feats, feats_changed = got[3][1]
    assert gro_was["active"] and not feats["features"]["rx-gro"]["active"]
    assert feats_changed is True and not netif_testing(dev)
    # Nothing runs or waits: a change is made at once.
    now = ethtool_request_begin(host, dev, "ringparam", {"tx_pending": 4}, None, got.append)
    assert now is not None and now[1] is True and ops.ring.tx_pending == 4


def test_a_change_waiting_longer_than_the_timeout_is_ebusy_without_being_made(
    host: Host, clock: FakeClock
) -> None:
    hangs = Hangs()
    dev, ops = _dev(host, hangs)
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "a"))
    clock.advance(ETHTOOL_TEST_TIMEOUT / 2)
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, _tagged(got, "b"))
    ethtool_request_begin(host, dev, "ringparam", {"tx_pending": 8}, None, _tagged(got, "-G"))
    clock.advance(ETHTOOL_TEST_TIMEOUT / 2)
    host.loop.run_until_idle()  # a timed out; b runs (and hangs)
    clock.advance(ETHTOOL_TEST_TIMEOUT / 2)
    host.loop.run_until_idle()  # -G came 20 s ago, b still runs: it gives up
    tag, busy = got[-1]
    assert tag == "-G" and isinstance(busy, EthtoolError) and busy.errno == errno.EBUSY
    assert "self-test (ethtool -t) of the device still ran after 20 s" in str(busy)
    assert "ringparam" in str(busy) and ops.ring.tx_pending == 16


def test_a_change_in_process_runs_the_loop_until_the_test_ends(host: Host) -> None:
    """ethtool_request (the in-process form) while a test runs: it runs the loop, the test
    completes there, and then the change is made."""
    hangs = Hangs()
    dev, _ops = _dev(host, hangs)
    got: list[Any] = []
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, got.append)
    completion = hangs.runs[0].completion
    assert completion is not None
    host.loop.call_soon(completion.complete)
    result, changed = ethtool_request(host, dev, "ringparam", {"tx_pending": 8})
    assert got and got[0]["passed"] and changed is True and result["tx_pending"] == 8


def test_a_change_from_a_loop_callback_while_a_test_runs_is_edeadlk(host: Host) -> None:
    hangs = Hangs()
    dev, ops = _dev(host, hangs)
    ethtool_self_test_begin(host, dev, ETH_TEST_FL_OFFLINE, None)
    raised: list[EthtoolError] = []

    def from_callback() -> None:
        try:
            ethtool_request(host, dev, "ringparam", {"tx_pending": 8})
        except EthtoolError as exc:
            raised.append(exc)

    host.loop.call_soon(from_callback)
    host.loop.run_until_idle()
    assert raised and raised[0].errno == errno.EDEADLK and "ethtool_request_begin" in str(raised[0])
    assert ops.ring.tx_pending == 16


@pytest.mark.parametrize(
    ("op", "settings"), [("ringparam", {"tx_pending": 8}), ("features", {"gro": False})]
)
def test_the_daemon_answers_a_change_once_the_running_test_is_done(
    daemon: Daemon, op: str, settings: dict[str, Any]
) -> None:
    """`netdrv ethtool -G/-K DEV` while `-t DEV` runs: no EBUSY; the answer comes after the
    test's, with the change made."""
    later = Later()
    dev, ops = _dev(daemon.host, later)
    tester = _ask(daemon, {"cmd": "ethtool", "dev": dev.name, "op": "test"})
    assert _reply(daemon, tester) is None
    changer = _ask(daemon, {"cmd": "ethtool", "dev": dev.name, "op": op, "set": settings})
    assert _reply(daemon, changer) is None  # waits for the test
    reader = _ask(daemon, {"cmd": "ethtool", "dev": dev.name, "op": "ringparam"})
    read = _reply(daemon, reader)
    assert read is not None and read["ok"] and read["result"]["tx_pending"] == 16
    assert later.completion is not None
    later.completion.complete()
    done, change = _reply(daemon, tester), _reply(daemon, changer)
    assert done is not None and done["ok"], done
    assert change is not None and change["ok"] and change["changed"] is True, change
    if op == "ringparam":
        assert change["result"]["tx_pending"] == 8 and ops.ring.tx_pending == 8
    else:
        assert not change["result"]["features"]["rx-gro"]["active"]
    for c in (tester, changer, reader):
        c.close()
