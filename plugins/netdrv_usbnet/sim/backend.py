"""A pyusb backend (``usb.backend.IBackend``) whose devices are simulated adapters.

Code under test goes through the real pyusb path; only the backend differs::

    backend = SimBackend([CdcEcmModel(), Ax88179Model()])
    for dev in usb.core.find(find_all=True, backend=backend):
        ...

Several devices may be plugged at once; each gets a distinct bus address and
root-hub port, and a new address whenever it re-enumerates (``replug``).
"""

from __future__ import annotations

import array
import copy
import dataclasses
import errno
import threading
from collections.abc import Iterable, Iterator

import usb.backend

from .descriptors import ConfigDescriptor, DeviceDescriptor, EndpointDescriptor, InterfaceDescriptor
from .device import SimDevice, usb_error

__all__ = ["SimBackend", "get_backend", "reset_backend"]


@dataclasses.dataclass(frozen=True)
class SimDeviceId:
    """What ``enumerate_devices`` yields: one enumeration of one simulated device."""

    model: SimDevice
    generation: int
    bus: int
    address: int
    port: int


class SimHandle:
    """An open device handle (``open_device`` result)."""

    def __init__(self, dev: SimDeviceId) -> None:
        self.dev = dev
        self.model = dev.model
        self.generation = dev.generation
        self.claimed: set[int] = set()
        self.closed = False


class SimBackend(usb.backend.IBackend):
    """pyusb backend over simulated devices; thread-safe; supports hot plug.

    * :meth:`plug` adds a model (or reconnects an unplugged one),
      :meth:`unplug` disconnects it (same as ``model.unplug()``), :meth:`remove`
      forgets it.  Unplugged devices are not enumerated.
    * ``bus`` is the bus number reported for every device; addresses start
      at 2 (1 is the root hub) and ports at 1.
    """

    def __init__(self, models: Iterable[SimDevice] = (), *, bus: int = 1) -> None:
        """Plug every model of *models* on bus *bus*."""
        self.bus = bus
        self._lock = threading.RLock()
        self._models: list[SimDevice] = []
        self._ports: dict[int, int] = {}
        self._enum: dict[int, tuple[int, int]] = {}  # id(model) -> (generation, address)
        self._next_address = 2
        for m in models:
            self.plug(m)

    # -- hot plug --------------------------------------------------------------

    @property
    def models(self) -> list[SimDevice]:
        """All models known to this backend (plugged or not)."""
        with self._lock:
            return list(self._models)

    def plug(self, model: SimDevice) -> SimDevice:
        """Attach *model* (replugging it if it was unplugged); return it."""
        with self._lock:
            owner = getattr(model, "_backend", None)
            if owner is not None and owner is not self:
                raise ValueError("model is already attached to another SimBackend")
            if model not in self._models:
                used = set(self._ports.values())
                self._ports[id(model)] = next(p for p in range(1, 256) if p not in used)
                self._models.append(model)
                model._backend = self
        if not model.is_plugged:
            model.replug()
        return model

    def unplug(self, model: SimDevice) -> None:
        """Disconnect *model* (transfers fail with ENODEV, it leaves the enumeration)."""
        model.unplug()

    def remove(self, model: SimDevice) -> None:
        """Disconnect and forget *model*."""
        model.unplug()
        with self._lock:
            if model in self._models:
                self._models.remove(model)
                self._ports.pop(id(model), None)
                self._enum.pop(id(model), None)
                model._backend = None

    def _identify(self, model: SimDevice) -> SimDeviceId:
        with self._lock:
            gen = model.generation
            known = self._enum.get(id(model))
            if known is None or known[0] != gen:
                address = self._next_address
                self._next_address = 2 if self._next_address >= 127 else self._next_address + 1
                self._enum[id(model)] = (gen, address)
            else:
                address = known[1]
            return SimDeviceId(model, gen, self.bus, address, self._ports[id(model)])

    # -- IBackend: enumeration and descriptors ---------------------------------

    def enumerate_devices(self) -> Iterator[SimDeviceId]:
        """Yield an id for every plugged device (a snapshot)."""
        with self._lock:
            ids = [self._identify(m) for m in self._models if m.is_plugged]
        yield from ids

    def get_parent(self, dev: SimDeviceId) -> None:
        """Devices hang off the root hub, which is not modelled."""
        return None

    def get_device_descriptor(self, dev: SimDeviceId) -> DeviceDescriptor:
        """The device descriptor plus bus/address/port_number/port_numbers/speed."""
        desc = copy.copy(dev.model.device_descriptor)
        desc.bus = dev.bus
        desc.address = dev.address
        desc.port_number = dev.port
        desc.port_numbers = (dev.port,)
        desc.speed = dev.model.speed
        return desc

    def get_configuration_descriptor(self, dev: SimDeviceId, config: int) -> ConfigDescriptor:
        """Configuration by logical index (IndexError past the end)."""
        cfgs = dev.model.configurations
        if not 0 <= config < len(cfgs):
            raise IndexError(f"Invalid configuration index {config}")
        return _ConfigView(cfgs[config])  # type: ignore[return-value]

    def get_interface_descriptor(
        self, dev: SimDeviceId, intf: int, alt: int, config: int
    ) -> InterfaceDescriptor:
        """Interface by logical indexes (IndexError past the end, which ends pyusb's iteration)."""
        cfg = (
            dev.model.configurations[config]
            if 0 <= config < len(dev.model.configurations)
            else None
        )
        if cfg is None:
            raise IndexError(f"Invalid configuration index {config}")
        if not 0 <= intf < len(cfg.interfaces):
            raise IndexError(f"Invalid interface index {intf}")
        alts = cfg.interfaces[intf]
        if not 0 <= alt < len(alts):
            raise IndexError(f"Invalid alternate setting index {alt}")
        return _InterfaceView(alts[alt])  # type: ignore[return-value]

    def get_endpoint_descriptor(
        self, dev: SimDeviceId, ep: int, intf: int, alt: int, config: int
    ) -> EndpointDescriptor:
        """Endpoint by logical index."""
        i = self.get_interface_descriptor(dev, intf, alt, config)
        eps = i.endpoints
        if not 0 <= ep < len(eps):
            raise IndexError(f"Invalid endpoint index {ep}")
        return _EndpointView(eps[ep])  # type: ignore[return-value]

    # -- IBackend: handles and configuration -----------------------------------

    def open_device(self, dev: SimDeviceId) -> SimHandle:
        """Open a handle (ENODEV if the device is gone or re-enumerated since)."""
        gen = dev.model.host_open()
        if gen != dev.generation:
            raise usb_error(errno.ENODEV, "device re-enumerated")
        return SimHandle(dev)

    def close_device(self, dev_handle: SimHandle) -> None:
        """Close a handle, releasing what it claimed; never raises."""
        if dev_handle.closed:
            return
        dev_handle.closed = True
        for intf in list(dev_handle.claimed):
            try:
                dev_handle.model.host_release(dev_handle.generation, intf, dev_handle)
            except usb.core.USBError:
                pass
        dev_handle.claimed.clear()

    @staticmethod
    def _live(h: SimHandle) -> SimHandle:
        if h.closed:
            raise usb_error(errno.ENODEV, "handle closed")
        return h

    def set_configuration(self, dev_handle: SimHandle, config_value: int) -> None:
        """SET_CONFIGURATION."""
        h = self._live(dev_handle)
        h.model.host_set_configuration(h.generation, config_value)

    def get_configuration(self, dev_handle: SimHandle) -> int:
        """Current bConfigurationValue (0 = unconfigured)."""
        h = self._live(dev_handle)
        return h.model.host_get_configuration(h.generation)

    def set_interface_altsetting(self, dev_handle: SimHandle, intf: int, altsetting: int) -> None:
        """SET_INTERFACE."""
        h = self._live(dev_handle)
        h.model.host_set_altsetting(h.generation, intf, altsetting)

    def claim_interface(self, dev_handle: SimHandle, intf: int) -> None:
        """Claim (EBUSY while a kernel driver is bound)."""
        h = self._live(dev_handle)
        h.model.host_claim(h.generation, intf, h)
        h.claimed.add(intf)

    def release_interface(self, dev_handle: SimHandle, intf: int) -> None:
        """Release a claimed interface."""
        h = self._live(dev_handle)
        h.claimed.discard(intf)
        h.model.host_release(h.generation, intf, h)

    def is_kernel_driver_active(self, dev_handle: SimHandle, intf: int) -> bool:
        """True if the (simulated) kernel driver is bound to *intf*."""
        h = self._live(dev_handle)
        return h.model.host_kernel_driver(h.generation, intf, "active")

    def detach_kernel_driver(self, dev_handle: SimHandle, intf: int) -> None:
        """Unbind the simulated kernel driver."""
        h = self._live(dev_handle)
        h.model.host_kernel_driver(h.generation, intf, "detach")

    def attach_kernel_driver(self, dev_handle: SimHandle, intf: int) -> None:
        """Rebind the simulated kernel driver."""
        h = self._live(dev_handle)
        h.model.host_kernel_driver(h.generation, intf, "attach")

    def reset_device(self, dev_handle: SimHandle) -> None:
        """Port reset."""
        h = self._live(dev_handle)
        h.model.host_reset(h.generation)

    def clear_halt(self, dev_handle: SimHandle, ep: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT)."""
        h = self._live(dev_handle)
        h.model.host_clear_halt(h.generation, ep)

    # -- IBackend: transfers -----------------------------------------------------

    def ctrl_transfer(
        self,
        dev_handle: SimHandle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array,
        timeout: int,
    ) -> int:
        """Control transfer; IN data lands in *data*; returns the byte count."""
        h = self._live(dev_handle)
        return h.model.host_control(
            h.generation, bmRequestType, bRequest, wValue, wIndex, data, timeout
        )

    def _write(self, dev_handle: SimHandle, ep: int, data: array.array, timeout: int) -> int:
        h = self._live(dev_handle)
        return h.model.host_write(h.generation, ep, memoryview(data).cast("B").tobytes(), timeout)

    def _read(self, dev_handle: SimHandle, ep: int, buff: array.array, timeout: int) -> int:
        h = self._live(dev_handle)
        mv = memoryview(buff).cast("B")
        data = h.model.host_read(h.generation, ep, len(mv), timeout)
        mv[: len(data)] = data
        return len(data)

    def bulk_write(
        self, dev_handle: SimHandle, ep: int, intf: int, data: array.array, timeout: int
    ) -> int:
        """Bulk OUT."""
        return self._write(dev_handle, ep, data, timeout)

    def bulk_read(
        self, dev_handle: SimHandle, ep: int, intf: int, buff: array.array, timeout: int
    ) -> int:
        """Bulk IN into *buff*; returns the byte count."""
        return self._read(dev_handle, ep, buff, timeout)

    def intr_write(
        self, dev_handle: SimHandle, ep: int, intf: int, data: array.array, timeout: int
    ) -> int:
        """Interrupt OUT."""
        return self._write(dev_handle, ep, data, timeout)

    def intr_read(
        self, dev_handle: SimHandle, ep: int, intf: int, buff: array.array, timeout: int
    ) -> int:
        """Interrupt IN into *buff*; returns the byte count."""
        return self._read(dev_handle, ep, buff, timeout)


class _View:
    """Read-only attribute view that gives pyusb a fresh ``extra_descriptors`` list."""

    def __init__(self, desc: object) -> None:
        self._desc = desc

    def __getattr__(self, name: str) -> object:
        value = getattr(self._desc, name)
        if name == "extra_descriptors":
            return list(value)
        return value


class _ConfigView(_View):
    pass


class _InterfaceView(_View):
    pass


class _EndpointView(_View):
    pass


_default: SimBackend | None = None
_default_lock = threading.Lock()


def get_backend() -> SimBackend:
    """Return the process-wide default :class:`SimBackend` (created empty on first use).

    Lets configuration refer to the simulator by name
    (``backend = "netdrv_usbnet.sim:get_backend"``); tests plug models into it
    with ``get_backend().plug(model)`` and clear it with :func:`reset_backend`.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = SimBackend()
        return _default


def reset_backend() -> SimBackend:
    """Unplug every model of the default backend and replace it with a fresh one."""
    global _default
    with _default_lock:
        old, _default = _default, SimBackend()
    if old is not None:
        for m in old.models:
            old.remove(m)
    return _default
