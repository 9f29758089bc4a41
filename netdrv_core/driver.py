"""The :class:`Driver` base class: what a plugin offers, the ``module_init/exit`` pair."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import ParameterError
from .params import Param

if TYPE_CHECKING:
    from .host import Host
    from .netdevice import NetDevice

__all__ = ["Driver", "check_instance", "split_instance"]


_TAG = re.compile(r"[A-Za-z0-9_-]{1,15}")


def split_instance(name: str) -> tuple[str, str | None]:
    """``"slip:b"`` -> ``("slip", "b")``, ``"slip"`` -> ``("slip", None)``; a bad tag is a
    :class:`~netdrv_core.ParameterError` that says what a tag may hold."""
    base, sep, tag = name.partition(":")
    if not sep:
        return name, None
    if not _TAG.fullmatch(tag):
        raise ParameterError(
            f"{name!r}: an instance is named DRIVER:TAG, TAG 1..15 letters, digits, '_' or '-' "
            f"(netdrv load {base}:b …)"
        )
    return base, tag


class Driver:
    """A loadable driver.

    Subclasses set :attr:`name`, :attr:`summary` and :attr:`parameters`, and
    implement :meth:`init` (allocate and register devices, like
    ``module_init``).  :meth:`exit` unregisters every device the driver
    registered; override it to release more (ports, USB interfaces).

    Class attributes:

    ``name``
        The driver name (``netdrv load NAME``); also the entry-point name.
    ``summary``
        One line for ``netdrv status`` (``netdrv drivers`` shows the plugin
        module's docstring instead, read without importing it).
    ``version``
        The driver's own version (ethtool ``drvinfo``).
    ``parameters``
        Declared :class:`~netdrv_core.Param` objects (typed, with help text
        and a default of their type), like ``module_param``.
    ``conformance_params``
        Parameter values (``name -> text``, as on the ``netdrv load`` command
        line) the driver conformance kit
        (:mod:`netdrv_core.testing.conformance`) loads the driver with.  A
        driver that needs an external resource points it at a simulated one
        here, e.g. a serial driver ``{"port": "loop://"}`` or a USB driver
        ``{"sim": "cdc_ether"}``, so ``pytest --netdrv-conformance=NAME`` runs
        without hardware or privileges.  Values a conformance test class sets
        in its ``driver_params`` take precedence.
    ``multiple_instances``
        Whether ``netdrv load NAME:TAG`` may load it again beside ``NAME``.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    version: ClassVar[str] = ""
    parameters: ClassVar[tuple[Param, ...]] = ()
    conformance_params: ClassVar[dict[str, str]] = {}
    multiple_instances: ClassVar[bool] = False
    """True when the driver may be loaded more than once in a namespace, each load under
    its own name (``netdrv load slip:b port=/dev/ttyUSB1``): a driver whose one load
    drives one thing (a serial line), as Linux's slip drives each tty it is attached to."""

    faults: int = 0
    """Faults of this driver so far: each time the core took one of its devices down
    because driver code raised (an op, a NAPI poll, a timer, a reader, a thread), or
    caught its code raising when it had no device (``netdrv status``)."""
    last_fault: str | None = None
    """The latest of them: ``"DEV: WHERE: Exception: message"``."""

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Check parameters against each other; raise :class:`~netdrv_core.ParameterError`.

        Each value was checked on its own already (its :class:`~netdrv_core.Param`
        type); this is for rules between them (snull's two addresses must form a
        pair).  ``netdrv load`` calls it before it starts anything, so a bad
        combination exits 2 as a bad value does, and the daemon calls it again
        before :meth:`init`.  The default accepts everything.
        """

    def __init__(self, host: Host, params: dict[str, Any]) -> None:
        self.host = host
        self.params = params
        self.instance: str = type(self).name
        """The name this driver was loaded under: :attr:`name`, or ``NAME:TAG``."""
        self.devices: list[NetDevice] = []
        # Known to the host from now on, devices or not: a timer, reader or thread of
        # this driver that raises is attributed to it (weakly held: unloading frees it).
        known = getattr(host, "known_drivers", None)
        if known is not None:
            try:
                known.add(self)
            except TypeError:  # a subclass that made itself unhashable: found via its devices
                pass

    def register(self, dev: NetDevice) -> NetDevice:
        """Register ``dev`` with the host as one of this driver's devices."""
        dev.driver = self
        self.host.register_netdev(dev)
        self.devices.append(dev)
        return dev

    def adopt(self, before: set[NetDevice]) -> None:
        """Own the devices registered since ``before`` with bare ``register_netdev``.

        Only :meth:`register` records the owner; a device an ``init`` registered
        the LDD way (``register_netdev(dev)``, documented as valid) would
        otherwise outlive a failed load or an unload.  The daemon and the
        conformance kit call this around ``init``/``configure``.
        """
        for dev in list(self.host.devices.values()):
            if dev not in before and dev.driver is None:
                dev.driver = self
                self.devices.append(dev)

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


def check_instance(cls: type[Driver], name: str) -> None:
    """Refuse ``NAME:TAG`` for a driver that is loaded once per namespace."""
    base, tag = split_instance(name)
    if tag is not None and not cls.multiple_instances:
        raise ParameterError(
            f"driver {base!r} is loaded once per namespace (its one load drives all its "
            f"devices): {name!r} is for drivers like slip, one load per serial line"
        )
