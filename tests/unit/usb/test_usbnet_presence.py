"""usbnet marks an unplugged adapter's interface not present (``netif_device_detach``),
as Linux's usbnet does for a device gone from the bus, before unregistering it."""

from __future__ import annotations

from usbnet_helpers import up, wait

from netdrv_core import netif_device_present


def test_an_unplugged_adapters_interface_is_not_present(host, usbnet):
    drv = usbnet(sim="cdc_ether")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    assert netif_device_present(dev)
    seen: list[bool] = []
    notify = host.notify

    def hook(event, d):  # the stack hears of the unregistration with the device detached
        if event == "unregistered" and d is dev:
            seen.append(netif_device_present(d))
        if notify is not None:
            notify(event, d)

    host.notify = hook
    m.unplug()
    assert wait(host, lambda: drv.devices == [])
    assert seen == [False] and not netif_device_present(dev)
