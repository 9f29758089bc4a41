"""Hook specifications of netdrv (pluggy project name ``"netdrv"``).

A plugin is a module registered through the ``netdrv.drivers`` entry-point
group (name = the driver's name), through ``netdrv.plugins`` (a plugin with
hooks for every driver and no driver of its own: loaded with every driver) or
named with ``-p MODULE``; it implements some of these hooks with
:data:`netdrv_core.hookimpl`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .driver import Driver
    from .netdevice import NetDevice
    from .params import Param

hookspec = pluggy.HookspecMarker("netdrv")


@hookspec
def netdrv_drivers() -> list[type[Driver]]:
    """Return the driver classes this plugin offers (usually one).

    Import heavy dependencies inside the driver, not at module import time:
    listing drivers must stay fast.
    """


@hookspec
def netdrv_driver_parameters(driver: str) -> list[Param]:
    """Add parameters to a driver (e.g. a middleware plugin adding ``pcap=``)."""


@hookspec
def netdrv_device_registered(dev: NetDevice) -> None:
    """A device was registered with a host."""


@hookspec
def netdrv_device_unregistered(dev: NetDevice) -> None:
    """A device was unregistered."""


@hookspec
def netdrv_device_up(dev: NetDevice) -> None:
    """A device was brought up (``open`` succeeded)."""


@hookspec
def netdrv_device_down(dev: NetDevice) -> None:
    """A device was brought down."""


@hookspec
def netdrv_device_carrier(dev: NetDevice) -> None:
    """A device's carrier went on or off (``netif_carrier_ok(dev)`` tells which)."""


@hookspec(firstresult=True)
def netdrv_probe(bus: str, device: Any) -> Any:
    """A bus driver found ``device`` (e.g. bus ``"usb"``, a pyusb Device): claim it or return None.

    The first non-None result wins, like a kernel bus matching driver id tables.
    """


@hookspec
def netdrv_cli_commands(cli: click.Group) -> None:
    """Add subcommands to the ``netdrv`` command line (e.g. a link tester)."""
