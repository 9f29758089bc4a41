"""A driver that refuses with ``OSError(errno, "why")`` has its words reach the user (extack)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import pytest
from fakedev import make_dev

from netdrv_core import Host, NetDevice, NetDeviceOps
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import EthtoolError, EthtoolOps, RingParam, ethtool_request
from netdrv_core.netdevice import NETIF_F_SG


class Refusing(NetDeviceOps):
    """set_config, do_ioctl and set_features refuse; ``why`` None: with the errno alone."""

    def __init__(self, why: str | None) -> None:
        self.why = why

    def _refuse(self, err: int) -> int:
        if self.why is None:
            return -err
        raise OSError(err, self.why)

    def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
        return self._refuse(errno.EBUSY)

    def do_ioctl(self, dev: NetDevice, request: int, data: Any) -> Any:
        return self._refuse(errno.EINVAL)

    def set_features(self, dev: NetDevice, features: int) -> int:
        return self._refuse(errno.EOPNOTSUPP)


class RefusingRings(EthtoolOps):
    def __init__(self, why: str | None) -> None:
        self.why = why

    def get_ringparam(self, dev: NetDevice) -> RingParam:
        return RingParam(tx_max_pending=64, tx_pending=16)

    def set_ringparam(self, dev: NetDevice, ring: RingParam) -> int:
        if self.why is None:
            raise OSError(errno.EINVAL, "Invalid argument")  # the errno's own text: no extack
        raise OSError(errno.EINVAL, self.why)


@pytest.fixture(params=["the pool must keep one buffer", None], ids=["said-why", "errno-only"])
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[Host, Daemon, NetDevice, str | None]]:
    why = request.param
    host = Host()
    dev, _ = make_dev(host)
    dev.netdev_ops = Refusing(why)
    dev.ethtool_ops = RefusingRings(why)
    dev.hw_features |= NETIF_F_SG
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    yield host, daemon, dev, why
    host.close()
    host.loop.close()


def test_set_config_and_ioctl_refusals_carry_the_drivers_words(setup):
    _host, daemon, dev, why = setup
    reply = daemon.set_device({"dev": dev.name, "ifmap": {"irq": 5}})
    assert reply["result"] == -errno.EBUSY and not reply["ok"]
    assert reply["error"].startswith("Device or resource busy")
    assert (why in reply["error"]) if why else "set_config while up" in reply["error"]
    reply = daemon.set_device({"dev": dev.name, "ioctl": 0x89F0})
    expected = f"Invalid argument: {why}" if why else "Invalid argument"
    assert reply == {"ok": False, "result": -errno.EINVAL, "error": expected}
    assert dev.is_up, "a refusal is no driver fault"


def test_an_ebusy_while_down_gets_no_hint_to_take_the_device_down(setup):
    host, daemon, dev, _why = setup
    host.dev_close(dev)
    reply = daemon.set_device({"dev": dev.name, "ifmap": {"irq": 5}})
    assert "down first" not in reply["error"]


def test_ethtool_set_refusals_carry_the_drivers_words(setup):
    host, _daemon, dev, why = setup
    with pytest.raises(EthtoolError) as exc:
        ethtool_request(host, dev, "ringparam", {"tx_pending": 8})
    assert exc.value.errno == errno.EINVAL
    assert (why in str(exc.value)) if why else str(exc.value).endswith(": Invalid argument")
    assert str(exc.value).startswith(f"{dev.name}: cannot set ring parameters: Invalid argument")
    with pytest.raises(EthtoolError) as exc:
        ethtool_request(host, dev, "features", {"sg": not dev.features & NETIF_F_SG})
    assert exc.value.errno == errno.EOPNOTSUPP
    assert str(exc.value).endswith(f"not supported: {why}" if why else "not supported")
    assert host.extack == why


def test_a_refusal_without_words_clears_the_last_ones(setup):
    _host, daemon, dev, why = setup
    daemon.set_device({"dev": dev.name, "ifmap": {"irq": 5}})
    dev.netdev_ops.why = None  # type: ignore[attr-defined]
    reply = daemon.set_device({"dev": dev.name, "ifmap": {"irq": 5}})
    assert why is None or why not in reply["error"]


def test_a_negative_errno_in_the_oserror_is_the_same_refusal() -> None:
    """``raise OSError(-ret, "why")`` with a C-style negative ret: a refusal, not a success."""
    host = Host()
    dev, _ = make_dev(host)

    class NegativeErrno(NetDeviceOps):
        def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
            raise OSError(-errno.EBUSY, "take it down first")

        def set_features(self, dev: NetDevice, features: int) -> int:
            raise OSError(-errno.EBUSY, "not now")

    dev.netdev_ops = NegativeErrno()
    dev.hw_features |= NETIF_F_SG
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    try:
        reply = daemon.set_device({"dev": dev.name, "ifmap": {"irq": 5}})
        assert reply["result"] == -errno.EBUSY
        assert reply["error"] == "Device or resource busy: take it down first"
        before = dev.features
        with pytest.raises(EthtoolError, match="not now"):
            ethtool_request(host, dev, "features", {"sg": not dev.features & NETIF_F_SG})
        assert dev.features == before, "a refusal was applied"
    finally:
        host.close()
        host.loop.close()


def test_words_of_an_inner_refusal_are_not_the_ops(setup) -> None:
    """set_config calls a host op that refuses with words, then fails on its own: the user
    sees only the op's errno, not the inner op's words."""
    host, daemon, dev, _why = setup

    class Inner(Refusing):
        def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
            host._call(dev, "inner", self._inner)
            return -errno.EINVAL

        def _inner(self) -> int:
            raise OSError(errno.EBUSY, "inner words")

    dev.netdev_ops = Inner(None)
    reply = daemon.set_device({"dev": dev.name, "ifmap": {"irq": 5}})
    assert reply["error"] == "Invalid argument"
