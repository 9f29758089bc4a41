"""The usbnet id table: which adapter (interface) binds to which minidriver.

Matching works like Linux ``usb_match_id`` over the ``MODULE_DEVICE_TABLE``
of ``cdc_ether``/``cdc_ncm``/``ax88179_178a``: every interface (alternate
setting 0) of every configuration is compared with the table in order, and
the **first** entry that matches decides.  An entry whose ``info`` is None is
a *deny* entry (Linux: ``.driver_info = 0``, "blacklisted"): it sits before
the generic class matches so that a device a vendor-specific driver must
handle — or that is not ECM although it says so — is left alone.

Fields that are None match anything; an entry matches an interface when every
given field equals the device's (vendor/product) or the interface's
(class/subclass/protocol) value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .ax88179 import Ax88179
from .cdc_ether import CdcEther
from .cdc_ncm import AppleNcm, CdcNcm, CdcNcmZlp
from .codecs import cdc_ecm as ecm
from .core import MiniDriver

__all__ = [
    "ID_TABLE",
    "SUPPORTED",
    "Match",
    "UsbDeviceId",
    "denied_entry",
    "match_device",
    "match_interface",
    "unsupported_kind",
]

USB_CLASS_COMM = ecm.USB_CLASS_COMM
USB_CLASS_VENDOR_SPEC = 0xFF
SUB_ECM = ecm.USB_CDC_SUBCLASS_ETHERNET
SUB_NCM = ecm.USB_CDC_SUBCLASS_NCM
PROTO_NONE = ecm.USB_CDC_PROTO_NONE


@dataclass(frozen=True)
class UsbDeviceId:
    """One ``usb_device_id``: what to match, and the minidriver (None: deny)."""

    info: type[MiniDriver] | None
    vendor: int | None = None
    product: int | None = None
    intf_class: int | None = None
    intf_subclass: int | None = None
    intf_protocol: int | None = None
    comment: str = ""

    def matches(self, vendor: int, product: int, cls: int, subclass: int, protocol: int) -> bool:
        """True when every field this entry gives equals the device's/interface's value."""
        return (
            (self.vendor is None or self.vendor == vendor)
            and (self.product is None or self.product == product)
            and (self.intf_class is None or self.intf_class == cls)
            and (self.intf_subclass is None or self.intf_subclass == subclass)
            and (self.intf_protocol is None or self.intf_protocol == protocol)
        )

    @property
    def is_deny(self) -> bool:
        """A blacklist entry."""
        return self.info is None


def _dev_intf(vid: int, pid: int, cls: int, sub: int, proto: int,
              info: type[MiniDriver] | None, comment: str) -> UsbDeviceId:  # fmt: skip
    """``USB_DEVICE_AND_INTERFACE_INFO``."""
    return UsbDeviceId(info, vid, pid, cls, sub, proto, comment)


def _intf(cls: int, sub: int, proto: int, info: type[MiniDriver], comment: str) -> UsbDeviceId:
    """``USB_INTERFACE_INFO``: a generic class match."""
    return UsbDeviceId(info, None, None, cls, sub, proto, comment)


ID_TABLE: tuple[UsbDeviceId, ...] = (
    # -- deny entries first (Linux cdc_ether/cdc_ncm blacklists) --------------------------------
    _dev_intf(0x0BDA, 0x8152, USB_CLASS_COMM, SUB_ECM, PROTO_NONE, None,
              "Realtek RTL8152: its ECM configuration is a fallback; r8152 drives it"),
    _dev_intf(0x0BDA, 0x8153, USB_CLASS_COMM, SUB_ECM, PROTO_NONE, None,
              "Realtek RTL8153: its ECM configuration is a fallback; r8152 drives it"),
    _dev_intf(0x0B95, 0x1790, USB_CLASS_COMM, SUB_ECM, PROTO_NONE, None,
              "ASIX AX88179A CDC configuration: the vendor interface is driven instead"),
    _dev_intf(0x0B95, 0x1790, USB_CLASS_COMM, SUB_NCM, PROTO_NONE, None,
              "ASIX AX88179A CDC-NCM configuration: the vendor interface is driven instead"),
    _dev_intf(0x04DD, 0x8004, USB_CLASS_COMM, SUB_ECM, PROTO_NONE, None,
              "Sharp Zaurus SL-5500: not really ECM (zaurus driver)"),
    # -- specific devices ------------------------------------------------------------------------
    _dev_intf(0x0525, 0xA4A1, USB_CLASS_COMM, SUB_ECM, PROTO_NONE, CdcEther,
              "Linux USB gadget g_ether (CDC-ECM)"),
    _dev_intf(0x0525, 0xA4A2, USB_CLASS_COMM, SUB_ECM, PROTO_NONE, CdcEther,
              "Linux USB gadget g_ether (CDC-ECM configuration of the ECM/RNDIS gadget)"),
    _dev_intf(0x05AC, 0x12A8, USB_CLASS_COMM, SUB_NCM, PROTO_NONE, AppleNcm,
              "Apple iPhone tethering (NCM without an interrupt endpoint)"),
    _dev_intf(0x0B95, 0x1790, USB_CLASS_VENDOR_SPEC, USB_CLASS_VENDOR_SPEC, 0x00, Ax88179,
              "ASIX AX88179 / AX88179A USB 3.0 Gigabit Ethernet"),
    _dev_intf(0x0B95, 0x178A, USB_CLASS_VENDOR_SPEC, USB_CLASS_VENDOR_SPEC, 0x00, Ax88179,
              "ASIX AX88178A USB 2.0 Gigabit Ethernet"),
    UsbDeviceId(CdcNcmZlp, 0x17E9, None, USB_CLASS_COMM, SUB_NCM, PROTO_NONE,
                "DisplayLink docking stations: NCM with ZLPs (cdc_ncm_zlp_info)"),
    # -- generic class matches ---------------------------------------------------------------------
    _intf(USB_CLASS_COMM, SUB_ECM, PROTO_NONE, CdcEther, "any CDC-ECM function"),
    _intf(USB_CLASS_COMM, SUB_NCM, PROTO_NONE, CdcNcm, "any CDC-NCM function"),
)  # fmt: skip


@dataclass(frozen=True)
class Match:
    """What :func:`match_device` found: the entry, its minidriver, configuration and interface."""

    id: UsbDeviceId
    info: type[MiniDriver]
    config_value: int
    interface: int


def match_interface(
    vendor: int, product: int, cls: int, subclass: int, protocol: int,
    table: tuple[UsbDeviceId, ...] = ID_TABLE,
) -> UsbDeviceId | None:  # fmt: skip
    """The first entry matching this interface (a deny entry included), or None."""
    for entry in table:
        if entry.matches(vendor, product, cls, subclass, protocol):
            return entry
    return None


def match_device(udev: Any, table: tuple[UsbDeviceId, ...] = ID_TABLE) -> Match | None:
    """The first bindable interface of a pyusb device, configurations in order; None if none.

    Denied interfaces are skipped (another interface of the device may still
    match).  Only descriptors are read: the device is not opened.
    """
    for cfg, intf, entry in _interface_entries(udev, table):
        if entry is not None and entry.info is not None:
            return Match(entry, entry.info, cfg.bConfigurationValue, intf.bInterfaceNumber)
    return None


def _interface_entries(
    udev: Any, table: tuple[UsbDeviceId, ...]
) -> Iterator[tuple[Any, Any, UsbDeviceId | None]]:
    """``(configuration, interface, entry or None)`` for each interface's alternate setting 0,
    configurations in order: what :func:`match_interface` says of it."""
    vendor, product = int(udev.idVendor), int(udev.idProduct)
    for cfg in udev:
        for intf in cfg:
            if intf.bAlternateSetting == 0:
                yield cfg, intf, match_interface(vendor, product, intf.bInterfaceClass,
                                                 intf.bInterfaceSubClass,
                                                 intf.bInterfaceProtocol, table)  # fmt: skip


def denied_entry(udev: Any, table: tuple[UsbDeviceId, ...] = ID_TABLE) -> UsbDeviceId | None:
    """The deny entry that leaves a device alone: the first one an interface of it matches
    (alternate setting 0, configurations in order), or None.  For a device
    :func:`match_device` found nothing to bind on, it says why (its ``comment``): a Realtek
    RTL8153's ECM configuration is only a fallback, for instance."""
    for _cfg, _intf, entry in _interface_entries(udev, table):
        if entry is not None and entry.is_deny:
            return entry
    return None


SUPPORTED = "usbnet drives CDC-ECM, CDC-NCM and the ASIX AX88179/AX88179A/AX88178A"

# Network functions usbnet has no minidriver for, by interface (class, subclass, protocol);
# None matches any.  Linux's drivers for them are named so the user knows what to use.  The
# four RNDIS forms are rndis_host's id table (cdc_ether's is_rndis, is_activesync,
# is_wireless_rndis and is_novatel_rndis).
_OTHER_NET_FUNCTIONS: tuple[tuple[int, int | None, int | None, str], ...] = (
    (USB_CLASS_COMM, 0x0C, None, "a CDC-EEM function (Linux: cdc_eem)"),
    (USB_CLASS_COMM, 0x0E, None, "a CDC-MBIM modem (Linux: cdc_mbim)"),
    (USB_CLASS_COMM, 0x02, 0xFF, "an RNDIS function (Linux: rndis_host)"),
    (0xE0, 0x01, 0x03, "an RNDIS function (Linux: rndis_host)"),
    (0xEF, 0x01, 0x01, "an ActiveSync (RNDIS) function (Linux: rndis_host)"),
    (0xEF, 0x04, 0x01, "an RNDIS function (Linux: rndis_host)"),
)
# ASIX's own ids in Linux's asix id table (asix_devices.c, USB_DEVICE: any interface).  By
# product, not vendor: an ASIX id asix does not list (a KVM switch SoC…) is no adapter of
# its.  Other vendors' asix-based adapters are not named (nothing is said of them).
_ASIX_PRODUCTS: dict[tuple[int, int], str] = {
    (0x0B95, 0x1720): "AX88172",
    (0x0B95, 0x172A): "AX88172A",
    (0x0B95, 0x1780): "AX88178",
    (0x0B95, 0x7720): "AX88772",
    (0x0B95, 0x772A): "AX88772A",
    (0x0B95, 0x772B): "AX88772B",
    (0x0B95, 0x7E2B): "AX88772B",
}


def unsupported_kind(udev: Any) -> str | None:
    """What a device :func:`match_device` found nothing to bind on is, when it is a network
    adapter of a kind usbnet does not drive (an AX88772, a CDC-EEM or RNDIS gadget), else
    None (a keyboard, a hub, a serial adapter: nothing to say).  Reads descriptors only."""
    chip = _ASIX_PRODUCTS.get((int(udev.idVendor), int(udev.idProduct)))
    if chip is not None:
        return f"an ASIX {chip}, not an AX88179/AX88178A (Linux: asix)"
    for cfg in udev:
        for intf in cfg:
            if intf.bAlternateSetting != 0:
                continue
            cls, sub, proto = intf.bInterfaceClass, intf.bInterfaceSubClass, intf.bInterfaceProtocol
            for c, s, p, what in _OTHER_NET_FUNCTIONS:
                if cls == c and (s is None or sub == s) and (p is None or proto == p):
                    return what
    return None
