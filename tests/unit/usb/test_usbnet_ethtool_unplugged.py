"""ethtool on an adapter pulled out before anything noticed: a down interface runs no
transfer, and with ``hotplug_interval=0`` no bus scan runs, so the first to see the adapter
gone is an ethtool op's control transfer.  It answers ``ENODEV`` (not "nothing supported"),
and the interface goes away, as ENODEV on any other transfer makes it (usbnet.md, Faults)."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from usbnet_helpers import wait

from netdrv_core import Host
from netdrv_core.ethtool import WAKE_MAGIC, EthtoolError, ethtool_get_wol, ethtool_request


def _unplugged_ax88179(host: Host, usbnet: Any) -> tuple[Any, Any]:
    drv = usbnet(sim="ax88179", hotplug_interval=0)
    (dev,) = drv.devices
    drv.sim_model.unplug()  # the model itself: no ioctl, which would wake a scan
    host.loop.run_until_idle()
    assert dev.name in host.devices, "nothing ran a transfer yet: still registered"
    return drv, dev


def test_get_wol_of_a_gone_adapter_is_enodev_not_nothing_supported(host: Host, usbnet) -> None:
    _, dev = _unplugged_ax88179(host, usbnet)
    with pytest.raises(EthtoolError) as exc:
        ethtool_get_wol(host, dev)
    assert exc.value.errno == errno.ENODEV, exc.value


def test_set_wol_of_a_gone_adapter_says_no_such_device(host: Host, usbnet) -> None:
    _, dev = _unplugged_ax88179(host, usbnet)
    with pytest.raises(EthtoolError) as exc:  # was EINVAL: "unsupported WoL mode: g (… d)"
        ethtool_request(host, dev, "wol", {"wolopts": WAKE_MAGIC})
    assert exc.value.errno == errno.ENODEV, exc.value
    assert "unsupported" not in str(exc.value)


@pytest.mark.parametrize("kind", ["eee", "wol"])
def test_enodev_in_an_ethtool_op_unregisters_the_interface(host: Host, usbnet, kind: str) -> None:
    drv, dev = _unplugged_ax88179(host, usbnet)
    with pytest.raises(EthtoolError):
        ethtool_request(host, dev, kind)
    assert wait(host, lambda: dev.name not in host.devices), "usb0 outlived its adapter"
    assert drv.devices == []
