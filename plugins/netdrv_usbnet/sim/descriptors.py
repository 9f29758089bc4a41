"""Descriptor objects for the simulated backend, shaped like pyusb's libusb1 backend returns them.

pyusb copies fields by name (``usb.core._set_attr``); these classes carry
exactly those names.  ``extra_descriptors`` is a ``list[int]``, as the libusb1
backend yields it (a slice of a ctypes array).  Each class can also serialize
itself so the simulated device can answer a standard GET_DESCRIPTOR request
with the real wire bytes.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence

__all__ = [
    "ConfigDescriptor",
    "DeviceDescriptor",
    "EndpointDescriptor",
    "InterfaceDescriptor",
    "bulk_endpoint",
    "interrupt_endpoint",
    "ss_companion",
]

DT_DEVICE = 0x01
DT_CONFIG = 0x02
DT_STRING = 0x03
DT_INTERFACE = 0x04
DT_ENDPOINT = 0x05
DT_SS_ENDPOINT_COMPANION = 0x30

EP_BULK = 0x02
EP_INTERRUPT = 0x03


@dataclasses.dataclass
class EndpointDescriptor:
    """Standard endpoint descriptor (7 bytes) plus class/companion extras."""

    bEndpointAddress: int
    bmAttributes: int
    wMaxPacketSize: int
    bInterval: int = 0
    bLength: int = 7
    bDescriptorType: int = DT_ENDPOINT
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: list[int] = dataclasses.field(default_factory=list)

    @property
    def is_in(self) -> bool:
        """True for an IN (device-to-host) endpoint."""
        return bool(self.bEndpointAddress & 0x80)

    @property
    def transfer_type(self) -> int:
        """0 control, 1 iso, 2 bulk, 3 interrupt."""
        return self.bmAttributes & 0x03

    def serialize(self) -> bytes:
        """Wire bytes (descriptor followed by its extras)."""
        return struct.pack(
            "<BBBBHB",
            7,
            DT_ENDPOINT,
            self.bEndpointAddress,
            self.bmAttributes,
            self.wMaxPacketSize,
            self.bInterval,
        ) + bytes(self.extra_descriptors)


@dataclasses.dataclass
class InterfaceDescriptor:
    """Standard interface descriptor (9 bytes) with its endpoints and extras."""

    bInterfaceNumber: int
    bAlternateSetting: int
    bInterfaceClass: int
    bInterfaceSubClass: int
    bInterfaceProtocol: int
    iInterface: int = 0
    endpoints: list[EndpointDescriptor] = dataclasses.field(default_factory=list)
    extra_descriptors: list[int] = dataclasses.field(default_factory=list)
    bLength: int = 9
    bDescriptorType: int = DT_INTERFACE

    @property
    def bNumEndpoints(self) -> int:
        """Number of endpoints (excluding endpoint 0)."""
        return len(self.endpoints)

    def serialize(self) -> bytes:
        """Wire bytes: interface, extras, endpoints."""
        head = struct.pack(
            "<BBBBBBBBB",
            9,
            DT_INTERFACE,
            self.bInterfaceNumber,
            self.bAlternateSetting,
            self.bNumEndpoints,
            self.bInterfaceClass,
            self.bInterfaceSubClass,
            self.bInterfaceProtocol,
            self.iInterface,
        )
        return (
            head + bytes(self.extra_descriptors) + b"".join(e.serialize() for e in self.endpoints)
        )


@dataclasses.dataclass
class ConfigDescriptor:
    """Configuration descriptor; ``interfaces[i]`` lists the alternate settings of interface i."""

    bConfigurationValue: int
    interfaces: list[list[InterfaceDescriptor]]
    iConfiguration: int = 0
    bmAttributes: int = 0x80
    bMaxPower: int = 250
    extra_descriptors: list[int] = dataclasses.field(default_factory=list)
    bLength: int = 9
    bDescriptorType: int = DT_CONFIG

    @property
    def bNumInterfaces(self) -> int:
        """Number of interfaces (alternate settings not counted)."""
        return len(self.interfaces)

    @property
    def wTotalLength(self) -> int:
        """Length of the full configuration bundle."""
        return len(self.serialize())

    def serialize(self) -> bytes:
        """Wire bytes of the whole configuration (as returned by GET_DESCRIPTOR)."""
        body = bytes(self.extra_descriptors) + b"".join(
            alt.serialize() for alts in self.interfaces for alt in alts
        )
        total = 9 + len(body)
        head = struct.pack(
            "<BBHBBBBB",
            9,
            DT_CONFIG,
            total,
            self.bNumInterfaces,
            self.bConfigurationValue,
            self.iConfiguration,
            self.bmAttributes,
            self.bMaxPower,
        )
        return head + body

    def all_alt_settings(self) -> list[InterfaceDescriptor]:
        """Every interface descriptor of every alternate setting."""
        return [alt for alts in self.interfaces for alt in alts]


@dataclasses.dataclass
class DeviceDescriptor:
    """Device descriptor plus the topology fields pyusb also reads (bus, address, ports, speed)."""

    idVendor: int
    idProduct: int
    bcdUSB: int = 0x0200
    bDeviceClass: int = 0
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bMaxPacketSize0: int = 64
    bcdDevice: int = 0x0100
    iManufacturer: int = 0
    iProduct: int = 0
    iSerialNumber: int = 0
    bNumConfigurations: int = 1
    bLength: int = 18
    bDescriptorType: int = DT_DEVICE
    bus: int | None = None
    address: int | None = None
    port_number: int | None = None
    port_numbers: tuple[int, ...] | None = None
    speed: int | None = None

    def serialize(self) -> bytes:
        """The 18 wire bytes."""
        return struct.pack(
            "<BBHBBBBHHHBBBB",
            18,
            DT_DEVICE,
            self.bcdUSB,
            self.bDeviceClass,
            self.bDeviceSubClass,
            self.bDeviceProtocol,
            self.bMaxPacketSize0,
            self.idVendor,
            self.idProduct,
            self.bcdDevice,
            self.iManufacturer,
            self.iProduct,
            self.iSerialNumber,
            self.bNumConfigurations,
        )


def ss_companion(max_burst: int = 0, attributes: int = 0, bytes_per_interval: int = 0) -> list[int]:
    """A SuperSpeed endpoint companion descriptor, as endpoint extra bytes."""
    return list(
        struct.pack(
            "<BBBBH", 6, DT_SS_ENDPOINT_COMPANION, max_burst, attributes, bytes_per_interval
        )
    )


def bulk_endpoint(
    address: int, max_packet: int, *, extra: Sequence[int] = ()
) -> EndpointDescriptor:
    """A bulk endpoint descriptor."""
    return EndpointDescriptor(address, EP_BULK, max_packet, 0, extra_descriptors=list(extra))


def interrupt_endpoint(
    address: int, max_packet: int, interval: int, *, extra: Sequence[int] = ()
) -> EndpointDescriptor:
    """An interrupt endpoint descriptor."""
    return EndpointDescriptor(
        address, EP_INTERRUPT, max_packet, interval, extra_descriptors=list(extra)
    )


def string_descriptor(text: str) -> bytes:
    """Serialize a string descriptor (UTF-16LE, at most 126 characters)."""
    raw = text.encode("utf-16-le")[:252]
    return bytes([2 + len(raw), DT_STRING]) + raw


def langid_descriptor(langids: Sequence[int] = (0x0409,)) -> bytes:
    """String descriptor 0: the supported LANGIDs."""
    body = b"".join(struct.pack("<H", x) for x in langids)
    return bytes([2 + len(body), DT_STRING]) + body
