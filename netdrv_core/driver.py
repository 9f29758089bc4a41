"""The :class:`Driver` base class: what a plugin offers, the ``module_init/exit`` pair."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from .params import Param

if TYPE_CHECKING:
    from .host import Host
    from .netdevice import NetDevice

__all__ = ["Driver"]


class Driver:
    """A loadable driver.

    Subclasses set :attr:`name`, :attr:`summary` and :attr:`parameters`, and
    implement :meth:`init` (allocate and register devices, like
    ``module_init``).  :meth:`exit` unregisters every device the driver
    registered; override it to release more (ports, USB interfaces).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    version: ClassVar[str] = ""
    parameters: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, host: Host, params: dict[str, Any]) -> None:
        self.host = host
        self.params = params
        self.devices: list[NetDevice] = []

    def register(self, dev: NetDevice) -> NetDevice:
        """Register ``dev`` with the host as one of this driver's devices."""
        dev.driver = self
        self.host.register_netdev(dev)
        self.devices.append(dev)
        return dev

    def unregister(self, dev: NetDevice) -> None:
        """Unregister one of this driver's devices."""
        if dev in self.devices:
            self.devices.remove(dev)
        if self.host.dev_get_by_name(dev.name) is dev:
            self.host.unregister_netdev(dev)

    def init(self) -> None:
        """Create and register the devices (``module_init``)."""
        raise NotImplementedError

    def exit(self) -> None:
        """Unregister the devices (``module_exit``)."""
        for dev in reversed(list(self.devices)):
            self.unregister(dev)

    def configure(self) -> None:
        """After init, on the kernel attachment: addresses, routes, links up (optional)."""

    def describe(self) -> str:
        """One line for ``netdrv status``."""
        return self.summary
