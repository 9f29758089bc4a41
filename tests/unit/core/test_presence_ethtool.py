"""A detached device (suspended, unplugged) takes no ethtool request and no ioctl.

Linux's ethtool (``dev_ethtool``, ``ethnl_ops_begin``), ``dev_do_ioctl`` and
``SIOCSIFMAP`` answer ENODEV for a device ``netif_device_detach`` left not
present, before the driver is asked; netdrv says why as well.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import pytest
from fakedev import make_dev

from netdrv_core import (
    Host,
    NetDevice,
    NetDeviceOps,
    netif_device_attach,
    netif_device_detach,
)
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import (
    ETHTOOL_REQUESTS,
    EthtoolError,
    EthtoolOps,
    RingParam,
    ethtool_get,
    ethtool_request,
    ethtool_set,
)
from netdrv_core.status import device_status

DETACHED = "detached (suspended or unplugged)"


class RecordingEthtool(EthtoolOps):
    """A TX ring and a message level; every op the core looks up is recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.ring = RingParam(tx_max_pending=64, tx_pending=16)
        self.level = 3

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and hasattr(EthtoolOps, name):
            object.__getattribute__(self, "calls").append(name)
        return object.__getattribute__(self, name)

    def get_ringparam(self, dev: NetDevice) -> RingParam:
        return self.ring

    def set_ringparam(self, dev: NetDevice, ring: RingParam) -> int:
        self.ring = ring
        return 0

    def get_msglevel(self, dev: NetDevice) -> int:
        return self.level

    def set_msglevel(self, dev: NetDevice, value: int) -> int:
        self.level = value
        return 0


class Ioctls(NetDeviceOps):
    """``do_ioctl`` and ``set_config`` that record being called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def do_ioctl(self, dev: NetDevice, request: int, data: Any) -> Any:
        self.calls.append("do_ioctl")
        return 7

    def set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
        self.calls.append("set_config")
        return 0


@pytest.fixture
def detached(host: Host) -> Iterator[tuple[NetDevice, RecordingEthtool, Ioctls]]:
    dev, _ = make_dev(host)
    ops = RecordingEthtool()
    dev.ethtool_ops = ops
    nd_ops = Ioctls()
    dev.netdev_ops = nd_ops
    netif_device_detach(dev)
    yield dev, ops, nd_ops


def _refused(exc: pytest.ExceptionInfo[EthtoolError]) -> None:
    assert exc.value.errno == errno.ENODEV and DETACHED in str(exc.value), str(exc.value)


@pytest.mark.parametrize("op", ETHTOOL_REQUESTS)
def test_every_ethtool_request_of_a_detached_device_is_enodev(
    host: Host, detached: tuple[NetDevice, RecordingEthtool, Ioctls], op: str
) -> None:
    dev, ops, _ = detached
    with pytest.raises(EthtoolError) as exc:
        ethtool_request(host, dev, op)
    _refused(exc)
    assert ops.calls == [], "the driver was asked"


@pytest.mark.parametrize(
    ("op", "settings"),
    [("ringparam", {"tx_pending": 32}), ("msglevel", {"msglevel": 1}), ("features", {"sg": True})],
)
def test_ethtool_changes_of_a_detached_device_are_enodev(
    host: Host, detached: tuple[NetDevice, RecordingEthtool, Ioctls], op: str,
    settings: dict[str, Any],
) -> None:  # fmt: skip
    dev, ops, _ = detached
    features = dev.features
    with pytest.raises(EthtoolError) as exc:
        ethtool_request(host, dev, op, settings)
    _refused(exc)
    assert ops.calls == [] and ops.ring.tx_pending == 16 and ops.level == 3
    assert dev.features == features


def test_the_ethtool_api_refuses_a_detached_device_and_serves_it_attached_again(
    host: Host, detached: tuple[NetDevice, RecordingEthtool, Ioctls]
) -> None:
    dev, ops, _ = detached
    with pytest.raises(EthtoolError) as exc:
        ethtool_get(host, dev, "ringparam")
    _refused(exc)
    with pytest.raises(EthtoolError) as exc:
        ethtool_set(host, dev, "ringparam", {"tx_pending": 32})
    _refused(exc)
    assert ops.calls == []
    netif_device_attach(dev)
    assert ethtool_set(host, dev, "ringparam", {"tx_pending": 32})
    assert ethtool_get(host, dev, "ringparam").tx_pending == 32


def test_the_daemon_says_the_device_is_detached(
    host: Host, detached: tuple[NetDevice, RecordingEthtool, Ioctls]
) -> None:
    dev, _, _ = detached
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    reply = daemon.ethtool({"dev": dev.name, "op": "ringparam"})
    assert not reply["ok"] and reply["errno"] == errno.ENODEV and DETACHED in reply["error"]


def test_status_of_a_detached_device_says_so_without_asking_its_ethtool_ops(
    host: Host, detached: tuple[NetDevice, RecordingEthtool, Ioctls]
) -> None:
    dev, ops, _ = detached
    report = device_status(host, dev)["ethtool"]
    assert ops.calls == []  # as `ethtool DEV` is refused: the driver is not asked
    assert report == {
        "error": f"{dev.name}: the device is {DETACHED}: its driver takes no "
        "ethtool request until it is attached again"
    }
    netif_device_attach(dev)
    assert device_status(host, dev)["ethtool"]["ringparam"]["tx_pending"] == 16


def test_a_driver_ioctl_of_a_detached_device_is_enodev(
    host: Host, detached: tuple[NetDevice, RecordingEthtool, Ioctls]
) -> None:
    dev, _, nd_ops = detached
    with pytest.raises(OSError) as exc:
        host.dev_ioctl(dev, 0x89F0)
    assert exc.value.errno == errno.ENODEV and DETACHED in str(exc.value)
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    reply = daemon.set_device({"dev": dev.name, "ioctl": 0x89F0})
    assert reply == {"ok": False, "result": -errno.ENODEV,
                     "error": f"No such device: {dev.name} is {DETACHED}"}  # fmt: skip
    assert nd_ops.calls == [] and dev.is_up, "no driver fault: a refusal"
    netif_device_attach(dev)
    assert host.dev_ioctl(dev, 0x89F0) == 7 and nd_ops.calls == ["do_ioctl"]


def test_set_config_of_a_detached_device_is_enodev(
    host: Host, detached: tuple[NetDevice, RecordingEthtool, Ioctls]
) -> None:
    dev, _, nd_ops = detached
    assert host.dev_set_config(dev, {"irq": 5}) == -errno.ENODEV
    assert host.extack is not None and DETACHED in host.extack
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    reply = daemon.set_device({"dev": dev.name, "ifmap": {"irq": 5}})
    assert reply["result"] == -errno.ENODEV and DETACHED in reply["error"]
    assert nd_ops.calls == []
    netif_device_attach(dev)
    assert host.dev_set_config(dev, {"irq": 5}) == 0 and nd_ops.calls == ["set_config"]


# -- an export a porting author reaches for --------------------------------------------
def test_skb_checksum_help_is_exported_from_netdrv_core() -> None:
    import netdrv_core
    from netdrv_core import checksum

    assert netdrv_core.skb_checksum_help is checksum.skb_checksum_help
    assert "skb_checksum_help" in netdrv_core.__all__
