"""``ethtool -p`` (``set_phys_id``): Linux's ``ethtool_phys_id`` state machine on the loop —
ACTIVE, the driver's own blinking or the core's ON/OFF at twice its frequency, and always
INACTIVE at the end, an interrupted identify included."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from fakedev import FakeClock, make_dev

from netdrv_core import Host, NetDevice
from netdrv_core.ethtool import (
    ETHTOOL_ID_ACTIVE,
    ETHTOOL_ID_INACTIVE,
    ETHTOOL_ID_OFF,
    ETHTOOL_ID_ON,
    EthtoolError,
    EthtoolOps,
    ethtool_phys_id_begin,
    ethtool_phys_id_stop,
)
from netdrv_core.netdevice import netif_device_detach

ON, OFF = ETHTOOL_ID_ON, ETHTOOL_ID_OFF


class Led(EthtoolOps):
    """``set_phys_id`` with a log of (clock time, state); ACTIVE returns ``active``."""

    def __init__(self, clock: FakeClock, active: int = 2) -> None:
        self.clock, self.active = clock, active
        self.log: list[tuple[float, int]] = []
        self.fail_on_call: int | None = None

    def set_phys_id(self, dev: NetDevice, state: int) -> int:
        self.log.append((self.clock(), state))
        if self.fail_on_call == len(self.log):
            return -errno.EIO
        return self.active if state == ETHTOOL_ID_ACTIVE else 0


def _dev(host: Host, ops: EthtoolOps | None) -> NetDevice:
    d, _ = make_dev(host)
    d.ethtool_ops = ops
    return d


def _states(ops: Led) -> list[int]:
    return [s for _, s in ops.log]


@pytest.mark.parametrize("ops", [None, EthtoolOps()], ids=["no-ethtool_ops", "base-ops"])
def test_without_set_phys_id_it_is_eopnotsupp(host: Host, ops: EthtoolOps | None) -> None:
    with pytest.raises(EthtoolError, match="does not support identification") as exc:
        ethtool_phys_id_begin(host, _dev(host, ops), 3)
    assert exc.value.errno == errno.EOPNOTSUPP


def test_the_core_blinks_at_twice_the_frequency_then_inactive(host: Host, clock: FakeClock) -> None:
    ops = Led(clock, active=2)  # 2 cycles a second: ON/OFF every 0.25 s
    ends: list[Any] = []
    ethtool_phys_id_begin(host, _dev(host, ops), 1, ends.append)
    start = clock()
    for _ in range(5):
        host.loop.run_until_idle()
        clock.advance(0.25)
    host.loop.run_until_idle()
    assert _states(ops) == [ETHTOOL_ID_ACTIVE, ON, OFF, ON, OFF, ETHTOOL_ID_INACTIVE]
    assert [t - start for t, _ in ops.log] == [0, 0, 0.25, 0.5, 0.75, 1.0]
    assert ends == [None]


def test_a_driver_that_blinks_by_itself_is_left_alone_for_the_time(
    host: Host, clock: FakeClock
) -> None:
    ops = Led(clock, active=0)
    ends: list[Any] = []
    ethtool_phys_id_begin(host, _dev(host, ops), 3, ends.append)
    clock.advance(2.9)
    host.loop.run_until_idle()
    assert _states(ops) == [ETHTOOL_ID_ACTIVE] and ends == []
    clock.advance(0.2)
    host.loop.run_until_idle()
    assert _states(ops) == [ETHTOOL_ID_ACTIVE, ETHTOOL_ID_INACTIVE] and ends == [None]


@pytest.mark.parametrize("active", [0, 1])
def test_an_interrupted_identify_ends_inactive(host: Host, clock: FakeClock, active: int) -> None:
    ops = Led(clock, active=active)
    ends: list[Any] = []
    run = ethtool_phys_id_begin(host, _dev(host, ops), 0, ends.append)  # 0: until interrupted
    for _ in range(10):
        clock.advance(0.5)
        host.loop.run_until_idle()
    run.cancel()
    run.cancel()  # once only
    assert _states(ops)[-1] == ETHTOOL_ID_INACTIVE and _states(ops).count(ETHTOOL_ID_INACTIVE) == 1
    assert ends == [None]
    n = len(ops.log)
    clock.advance(5)
    host.loop.run_until_idle()
    assert len(ops.log) == n, "no call after INACTIVE"


def test_one_at_a_time_and_a_refused_active(host: Host, clock: FakeClock) -> None:
    run = ethtool_phys_id_begin(host, _dev(host, Led(clock, active=0)), 0)
    other = make_dev(host, "o%d")[0]
    other.ethtool_ops = Led(clock)
    with pytest.raises(EthtoolError, match="t0 is being identified") as exc:
        ethtool_phys_id_begin(host, other, 1)
    assert exc.value.errno == errno.EBUSY
    run.cancel()
    refusing = Led(clock)
    refusing.fail_on_call = 1
    other.ethtool_ops = refusing
    with pytest.raises(EthtoolError, match="cannot identify the device: Input/output") as exc:
        ethtool_phys_id_begin(host, other, 1)
    assert _states(refusing) == [ETHTOOL_ID_ACTIVE], "no INACTIVE after a refused ACTIVE"


def test_an_error_while_blinking_ends_it_inactive_with_the_error(
    host: Host, clock: FakeClock
) -> None:
    ops = Led(clock, active=1)
    ops.fail_on_call = 3  # ACTIVE, ON, then OFF fails
    ends: list[Any] = []
    ethtool_phys_id_begin(host, _dev(host, ops), 5, ends.append)
    for _ in range(3):
        host.loop.run_until_idle()
        clock.advance(0.5)
    assert _states(ops) == [ETHTOOL_ID_ACTIVE, ON, OFF, ETHTOOL_ID_INACTIVE]
    assert isinstance(ends[0], EthtoolError) and ends[0].errno == errno.EIO


def test_garbage_from_set_phys_id_is_eio(host: Host, clock: FakeClock) -> None:
    class Bad(EthtoolOps):
        def set_phys_id(self, dev: NetDevice, state: int) -> Any:
            return "blink"

    with pytest.raises(EthtoolError, match="returned 'blink' for ETHTOOL_ID_ACTIVE") as exc:
        ethtool_phys_id_begin(host, _dev(host, Bad()), 1)
    assert exc.value.errno == errno.EIO


@pytest.mark.parametrize("active", [0, 1])
def test_a_device_unregistered_meanwhile_ends_it_without_a_call(
    host: Host, clock: FakeClock, active: int
) -> None:
    """An unplug (the driver unregisters its device) during ``ethtool -p DEV`` (until
    interrupted): the identify ends with ENODEV, the dead device's driver not called again,
    and the host may identify another device (no stale EBUSY)."""
    ops = Led(clock, active=active)
    ends: list[Any] = []
    dev = _dev(host, ops)
    ethtool_phys_id_begin(host, dev, 0, ends.append)
    clock.advance(1)
    host.loop.run_until_idle()
    host.unregister_netdev(dev)
    n = len(ops.log)
    for _ in range(10):
        clock.advance(1)
        host.loop.run_until_idle()
    assert len(ops.log) == n, "no call on an unregistered device"
    assert len(ends) == 1 and isinstance(ends[0], EthtoolError)
    assert ends[0].errno == errno.ENODEV
    other = make_dev(host, "o%d")[0]
    other.ethtool_ops = Led(clock, active=0)
    ethtool_phys_id_begin(host, other, 1).cancel()


def test_a_detached_device_is_not_blinked(host: Host, clock: FakeClock) -> None:
    """Unplugged (netif_device_detach) while the core blinks it: no ON/OFF, nor INACTIVE,
    to a device that is not there; it ends with ENODEV."""
    ops = Led(clock, active=1)
    ends: list[Any] = []
    dev = _dev(host, ops)
    ethtool_phys_id_begin(host, dev, 0, ends.append)
    host.loop.run_until_idle()
    netif_device_detach(dev)
    n = len(ops.log)
    for _ in range(4):
        clock.advance(0.5)
        host.loop.run_until_idle()
    assert len(ops.log) == n
    assert len(ends) == 1 and isinstance(ends[0], EthtoolError)
    assert ends[0].errno == errno.ENODEV


def test_ethtool_phys_id_stop_ends_it_inactive_with_the_reason(
    host: Host, clock: FakeClock
) -> None:
    """What the daemon does before a driver's exit: the driver hears INACTIVE while its
    device is still there, and the waiting client gets the reason (ENODEV)."""
    ops = Led(clock, active=0)
    ends: list[Any] = []
    dev = _dev(host, ops)
    ethtool_phys_id_begin(host, dev, 0, ends.append)
    other = make_dev(host, "o%d")[0]
    assert not ethtool_phys_id_stop(host, other, "its driver is being unloaded")
    assert ends == []
    assert ethtool_phys_id_stop(host, dev, "its driver is being unloaded")
    assert _states(ops) == [ETHTOOL_ID_ACTIVE, ETHTOOL_ID_INACTIVE]
    assert len(ends) == 1 and ends[0].errno == errno.ENODEV
    assert "its driver is being unloaded" in str(ends[0])
