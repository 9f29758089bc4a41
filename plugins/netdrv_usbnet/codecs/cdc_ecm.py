"""CDC (ECM/NCM) class constants, functional descriptors, MAC strings and notifications.

Sans-I/O: the functions here take the bytes a driver already fetched with pyusb
(``intf.extra_descriptors``, a string descriptor, an interrupt transfer) and
return values.  References: USB CDC 1.2 ECM120 and NCM10 specifications, Linux
``drivers/net/usb/cdc_ether.c``, ``cdc_ncm.c`` and ``include/uapi/linux/usb/cdc.h``.

Error policy:

* :func:`parse_functional_descriptors` and :func:`parse_mac_string` raise
  :class:`~netdrv_usbnet.codecs.DescriptorError` with a human readable message
  for malformed input (a device with broken descriptors must not be bound).
* :class:`NotificationParser` never raises on device data; it counts malformed
  notifications in ``stats``.
* :class:`EcmRxDecoder` never raises; it counts runts/giants.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Sequence
from typing import Any

from ._common import ETH_HLEN, CodecStats, DescriptorError, as_bytes

__all__ = [
    "ConnectionSpeedChange",
    "DescriptorError",
    "EcmRxDecoder",
    "EthernetNetworkingDescriptor",
    "FunctionalDescriptors",
    "HeaderDescriptor",
    "NcmDescriptor",
    "NetworkConnection",
    "Notification",
    "NotificationParser",
    "NotificationStats",
    "ResponseAvailable",
    "UnionDescriptor",
    "UnknownNotification",
    "build_notification",
    "parse_functional_descriptors",
    "parse_mac_string",
]

# --------------------------------------------------------------------------
# Class, subclass, descriptor and request codes
# --------------------------------------------------------------------------

USB_CLASS_COMM = 0x02
"""bInterfaceClass of a CDC communication (control) interface."""
USB_CLASS_CDC_DATA = 0x0A
"""bInterfaceClass of a CDC data interface."""
USB_CDC_SUBCLASS_ETHERNET = 0x06
"""ECM subclass."""
USB_CDC_SUBCLASS_NCM = 0x0D
"""NCM subclass."""
USB_CDC_PROTO_NONE = 0x00
USB_CDC_NCM_PROTO_NTB = 0x01
"""bInterfaceProtocol of an NCM data interface."""

USB_DT_CS_INTERFACE = 0x24
"""bDescriptorType of class-specific interface (functional) descriptors."""
USB_DT_INTERFACE_ASSOCIATION = 0x0B

USB_CDC_HEADER_TYPE = 0x00
USB_CDC_CALL_MANAGEMENT_TYPE = 0x01
USB_CDC_ACM_TYPE = 0x02
USB_CDC_UNION_TYPE = 0x06
USB_CDC_COUNTRY_TYPE = 0x07
USB_CDC_ETHERNET_TYPE = 0x0F
USB_CDC_WHCM_TYPE = 0x11
USB_CDC_MDLM_TYPE = 0x12
USB_CDC_MDLM_DETAIL_TYPE = 0x13
USB_CDC_DMM_TYPE = 0x14
USB_CDC_OBEX_TYPE = 0x15
USB_CDC_NCM_TYPE = 0x1A
USB_CDC_MBIM_TYPE = 0x1B
USB_CDC_MBIM_EXTENDED_TYPE = 0x1C

# bmRequestType values for class requests to an interface.
REQ_TYPE_CLASS_OUT = 0x21
"""Host-to-device, class, interface."""
REQ_TYPE_CLASS_IN = 0xA1
"""Device-to-host, class, interface (also the bmRequestType of notifications)."""

# Class-specific requests (CDC 1.2 / ECM120 / NCM10).
USB_CDC_SEND_ENCAPSULATED_COMMAND = 0x00
USB_CDC_GET_ENCAPSULATED_RESPONSE = 0x01
USB_CDC_SET_ETHERNET_MULTICAST_FILTERS = 0x40
USB_CDC_SET_ETHERNET_PM_PATTERN_FILTER = 0x41
USB_CDC_GET_ETHERNET_PM_PATTERN_FILTER = 0x42
USB_CDC_SET_ETHERNET_PACKET_FILTER = 0x43
USB_CDC_GET_ETHERNET_STATISTIC = 0x44
USB_CDC_GET_NTB_PARAMETERS = 0x80
USB_CDC_GET_NET_ADDRESS = 0x81
USB_CDC_SET_NET_ADDRESS = 0x82
USB_CDC_GET_NTB_FORMAT = 0x83
USB_CDC_SET_NTB_FORMAT = 0x84
USB_CDC_GET_NTB_INPUT_SIZE = 0x85
USB_CDC_SET_NTB_INPUT_SIZE = 0x86
USB_CDC_GET_MAX_DATAGRAM_SIZE = 0x87
USB_CDC_SET_MAX_DATAGRAM_SIZE = 0x88
USB_CDC_GET_CRC_MODE = 0x89
USB_CDC_SET_CRC_MODE = 0x8A

# Short aliases (the names used in the brief).
SET_ETHERNET_MULTICAST_FILTERS = USB_CDC_SET_ETHERNET_MULTICAST_FILTERS
SET_ETHERNET_PACKET_FILTER = USB_CDC_SET_ETHERNET_PACKET_FILTER
GET_ETHERNET_STATISTIC = USB_CDC_GET_ETHERNET_STATISTIC
GET_NTB_PARAMETERS = USB_CDC_GET_NTB_PARAMETERS
GET_NET_ADDRESS = USB_CDC_GET_NET_ADDRESS
SET_NET_ADDRESS = USB_CDC_SET_NET_ADDRESS
GET_NTB_FORMAT = USB_CDC_GET_NTB_FORMAT
SET_NTB_FORMAT = USB_CDC_SET_NTB_FORMAT
GET_NTB_INPUT_SIZE = USB_CDC_GET_NTB_INPUT_SIZE
SET_NTB_INPUT_SIZE = USB_CDC_SET_NTB_INPUT_SIZE
GET_MAX_DATAGRAM_SIZE = USB_CDC_GET_MAX_DATAGRAM_SIZE
SET_MAX_DATAGRAM_SIZE = USB_CDC_SET_MAX_DATAGRAM_SIZE
GET_CRC_MODE = USB_CDC_GET_CRC_MODE
SET_CRC_MODE = USB_CDC_SET_CRC_MODE

# SET_ETHERNET_PACKET_FILTER bits (wValue).
PACKET_TYPE_PROMISCUOUS = 0x01
PACKET_TYPE_ALL_MULTICAST = 0x02
PACKET_TYPE_DIRECTED = 0x04
PACKET_TYPE_BROADCAST = 0x08
PACKET_TYPE_MULTICAST = 0x10
# Short aliases.
PROMISCUOUS = PACKET_TYPE_PROMISCUOUS
ALL_MULTICAST = PACKET_TYPE_ALL_MULTICAST
DIRECTED = PACKET_TYPE_DIRECTED
BROADCAST = PACKET_TYPE_BROADCAST
MULTICAST = PACKET_TYPE_MULTICAST

# Notification codes (bNotificationCode).
USB_CDC_NOTIFY_NETWORK_CONNECTION = 0x00
USB_CDC_NOTIFY_RESPONSE_AVAILABLE = 0x01
USB_CDC_NOTIFY_SERIAL_STATE = 0x20
USB_CDC_NOTIFY_SPEED_CHANGE = 0x2A
NETWORK_CONNECTION = USB_CDC_NOTIFY_NETWORK_CONNECTION
RESPONSE_AVAILABLE = USB_CDC_NOTIFY_RESPONSE_AVAILABLE
CONNECTION_SPEED_CHANGE = USB_CDC_NOTIFY_SPEED_CHANGE

NOTIFICATION_HEADER_LEN = 8
"""Size of the ``usb_cdc_notification`` header (bmRequestType..wLength)."""

# NCM functional descriptor bmNetworkCapabilities bits.
NCM_NCAP_ETH_FILTER = 0x01
NCM_NCAP_NET_ADDRESS = 0x02
NCM_NCAP_ENCAP_COMMAND = 0x04
NCM_NCAP_MAX_DATAGRAM_SIZE = 0x08
NCM_NCAP_CRC_MODE = 0x10
NCM_NCAP_NTB_INPUT_SIZE = 0x20

ECM_DEFAULT_MAX_SEGMENT_SIZE = 1514


# --------------------------------------------------------------------------
# Functional descriptors
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HeaderDescriptor:
    """CDC Header functional descriptor (subtype 0x00)."""

    bcdCDC: int


@dataclasses.dataclass(frozen=True)
class UnionDescriptor:
    """CDC Union functional descriptor (subtype 0x06): control + data interface numbers."""

    master_interface: int
    slave_interfaces: tuple[int, ...]

    @property
    def data_interface(self) -> int:
        """The first subordinate interface (the data interface for ECM/NCM)."""
        return self.slave_interfaces[0]


@dataclasses.dataclass(frozen=True)
class EthernetNetworkingDescriptor:
    """Ethernet Networking functional descriptor (subtype 0x0F, 13 bytes)."""

    iMACAddress: int
    bmEthernetStatistics: int
    wMaxSegmentSize: int
    wNumberMCFilters: int
    bNumberPowerFilters: int

    @property
    def mc_filter_count(self) -> int:
        """Number of perfect multicast filters (bit 15 means the filter is imperfect/hashed)."""
        return self.wNumberMCFilters & 0x7FFF

    @property
    def mc_filter_imperfect(self) -> bool:
        """True if the device's multicast filtering is hashed (wNumberMCFilters bit 15)."""
        return bool(self.wNumberMCFilters & 0x8000)


@dataclasses.dataclass(frozen=True)
class NcmDescriptor:
    """NCM functional descriptor (subtype 0x1A, 6 bytes)."""

    bcdNcmVersion: int
    bmNetworkCapabilities: int


@dataclasses.dataclass(frozen=True)
class RawFunctionalDescriptor:
    """A class-specific descriptor this module does not interpret."""

    descriptor_type: int
    subtype: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class FunctionalDescriptors:
    """All CDC functional descriptors found in an interface's extra bytes."""

    header: HeaderDescriptor | None = None
    union: UnionDescriptor | None = None
    ethernet: EthernetNetworkingDescriptor | None = None
    ncm: NcmDescriptor | None = None
    others: tuple[RawFunctionalDescriptor, ...] = ()

    def require_ethernet(self) -> tuple[UnionDescriptor, EthernetNetworkingDescriptor]:
        """Return (union, ethernet) or raise :class:`DescriptorError` naming what is missing.

        Linux ``usbnet_generic_cdc_bind`` refuses ECM/NCM functions without both.
        """
        missing = [
            n
            for n, v in (("Union", self.union), ("Ethernet Networking", self.ethernet))
            if v is None
        ]
        if missing:
            raise DescriptorError(f"missing CDC functional descriptor(s): {', '.join(missing)}")
        assert self.union is not None and self.ethernet is not None
        return self.union, self.ethernet


_MIN_LEN = {
    USB_CDC_HEADER_TYPE: 5,
    USB_CDC_UNION_TYPE: 5,
    USB_CDC_ETHERNET_TYPE: 13,
    USB_CDC_NCM_TYPE: 6,
}
_NAMES = {
    USB_CDC_HEADER_TYPE: "Header",
    USB_CDC_UNION_TYPE: "Union",
    USB_CDC_ETHERNET_TYPE: "Ethernet Networking",
    USB_CDC_NCM_TYPE: "NCM",
}


def parse_functional_descriptors(
    extra: bytes | bytearray | memoryview | Sequence[int],
) -> FunctionalDescriptors:
    """Parse the CDC functional descriptors in a control interface's ``extra_descriptors``.

    *extra* may be bytes or the ``list[int]`` pyusb exposes.  Descriptors of
    other types (not ``CS_INTERFACE``, e.g. an interface association) are
    skipped; unknown CS_INTERFACE subtypes are kept in ``others``.

    Raises :class:`DescriptorError` (with the offset and reason) when a
    descriptor's ``bLength`` is below 2 or runs past the end of the buffer,
    when a known descriptor is shorter than its fixed size, or when the
    Header/Union/Ethernet/NCM descriptor appears twice.  Every read is bounds
    checked; the loop always advances, so it terminates on any input.
    """
    buf = as_bytes(extra)
    found: dict[int, Any] = {}
    others: list[RawFunctionalDescriptor] = []
    off = 0
    n = len(buf)
    while off < n:
        blen = buf[off]
        if blen < 2:
            raise DescriptorError(f"descriptor at offset {off}: bLength {blen} is below 2")
        if off + blen > n:
            raise DescriptorError(
                f"descriptor at offset {off}: bLength {blen} runs past the end of the {n}-byte buffer"
            )
        desc = buf[off : off + blen]
        off += blen
        if desc[1] != USB_DT_CS_INTERFACE:
            continue
        if blen < 3:
            raise DescriptorError(
                f"CS_INTERFACE descriptor at offset {off - blen} has no subtype (bLength {blen})"
            )
        subtype = desc[2]
        minimum = _MIN_LEN.get(subtype)
        if minimum is None:
            others.append(RawFunctionalDescriptor(desc[1], subtype, bytes(desc)))
            continue
        name = _NAMES[subtype]
        if blen < minimum:
            raise DescriptorError(
                f"{name} functional descriptor too short: bLength {blen} < {minimum}"
            )
        if subtype in found:
            raise DescriptorError(f"duplicate {name} functional descriptor")
        if subtype == USB_CDC_HEADER_TYPE:
            found[subtype] = HeaderDescriptor(bcdCDC=struct.unpack_from("<H", desc, 3)[0])
        elif subtype == USB_CDC_UNION_TYPE:
            found[subtype] = UnionDescriptor(
                master_interface=desc[3], slave_interfaces=tuple(desc[4:])
            )
        elif subtype == USB_CDC_ETHERNET_TYPE:
            imac, stats, mss, nmc, npf = struct.unpack_from("<BIHHB", desc, 3)
            found[subtype] = EthernetNetworkingDescriptor(imac, stats, mss, nmc, npf)
        else:  # NCM
            ver, caps = struct.unpack_from("<HB", desc, 3)
            found[subtype] = NcmDescriptor(bcdNcmVersion=ver, bmNetworkCapabilities=caps)
    return FunctionalDescriptors(
        header=found.get(USB_CDC_HEADER_TYPE),
        union=found.get(USB_CDC_UNION_TYPE),
        ethernet=found.get(USB_CDC_ETHERNET_TYPE),
        ncm=found.get(USB_CDC_NCM_TYPE),
        others=tuple(others),
    )


def build_functional_descriptors(
    *,
    bcd_cdc: int = 0x0120,
    union: tuple[int, Sequence[int]] | None = None,
    ethernet: EthernetNetworkingDescriptor | None = None,
    ncm: NcmDescriptor | None = None,
) -> bytes:
    """Serialize functional descriptors (the inverse of :func:`parse_functional_descriptors`).

    Used by simulators and tests; order is Header, Union, Ethernet, NCM.
    """
    out = bytearray(struct.pack("<BBBH", 5, USB_DT_CS_INTERFACE, USB_CDC_HEADER_TYPE, bcd_cdc))
    if union is not None:
        master, slaves = union
        out += bytes([4 + len(slaves), USB_DT_CS_INTERFACE, USB_CDC_UNION_TYPE, master, *slaves])
    if ethernet is not None:
        out += struct.pack(
            "<BBBBIHHB",
            13,
            USB_DT_CS_INTERFACE,
            USB_CDC_ETHERNET_TYPE,
            ethernet.iMACAddress,
            ethernet.bmEthernetStatistics,
            ethernet.wMaxSegmentSize,
            ethernet.wNumberMCFilters,
            ethernet.bNumberPowerFilters,
        )
    if ncm is not None:
        out += struct.pack(
            "<BBBHB",
            6,
            USB_DT_CS_INTERFACE,
            USB_CDC_NCM_TYPE,
            ncm.bcdNcmVersion,
            ncm.bmNetworkCapabilities,
        )
    return bytes(out)


_HEX12 = re.compile(r"[0-9A-Fa-f]{12}")


def parse_mac_string(text: str | bytes) -> bytes:
    """Convert the iMACAddress string (12 hex digits, e.g. ``"0A1B2C3D4E5F"``) to 6 bytes.

    Upper and lower case digits are accepted (Linux uses ``hex2bin``).
    Surrounding whitespace or NULs, separators, wrong length or non-hex
    characters raise :class:`DescriptorError`.
    """
    if isinstance(text, (bytes, bytearray)):
        raw = bytes(text)
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise DescriptorError(f"MAC address string is not ASCII: {raw!r}") from exc
    if not isinstance(text, str):
        raise DescriptorError(f"MAC address string has wrong type {type(text).__name__}")
    if len(text) != 12:
        raise DescriptorError(
            f"MAC address string {text!r} has {len(text)} characters, expected 12 hex digits"
        )
    if not _HEX12.fullmatch(text):
        raise DescriptorError(f"MAC address string {text!r} is not 12 hexadecimal digits")
    return bytes.fromhex(text)


def format_mac_string(mac: bytes) -> str:
    """Inverse of :func:`parse_mac_string` (upper case, as most devices report it)."""
    if len(mac) != 6:
        raise ValueError("a MAC address has 6 bytes")
    return mac.hex().upper()


# --------------------------------------------------------------------------
# Notifications (interrupt endpoint)
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Notification:
    """Base class of parsed CDC notifications."""

    code: int
    interface: int


@dataclasses.dataclass(frozen=True)
class NetworkConnection(Notification):
    """NETWORK_CONNECTION (0x00): ``connected`` is ``wValue != 0``."""

    connected: bool


@dataclasses.dataclass(frozen=True)
class ConnectionSpeedChange(Notification):
    """CONNECTION_SPEED_CHANGE (0x2A): downlink/uplink bit rates in bit/s."""

    downlink_bps: int
    uplink_bps: int


@dataclasses.dataclass(frozen=True)
class ResponseAvailable(Notification):
    """RESPONSE_AVAILABLE (0x01): an encapsulated response can be fetched."""


@dataclasses.dataclass(frozen=True)
class UnknownNotification(Notification):
    """Any other notification, with its raw wValue and data stage."""

    value: int
    data: bytes


@dataclasses.dataclass
class NotificationStats(CodecStats):
    """Counters of :class:`NotificationParser`.

    ``rx_transfers`` counts interrupt transfers fed, ``rx_frames`` notifications
    produced.  ``malformed`` counts dropped transfers (too short, wrong
    bmRequestType, oversized wLength); ``split_reassembled`` counts
    notifications completed from a following transfer; ``split_abandoned``
    counts incomplete ones discarded by :meth:`NotificationParser.reset`.
    """

    malformed: int = 0
    short: int = 0
    bad_request_type: int = 0
    oversized: int = 0
    split_pending: int = 0
    split_reassembled: int = 0
    split_abandoned: int = 0
    unknown: int = 0
    trailing_bytes: int = 0


class NotificationParser:
    """Incremental parser of CDC notifications from interrupt IN transfers.

    Call :meth:`feed` once per completed interrupt transfer.  Each transfer
    starts a notification (8-byte header + ``wLength`` data bytes) unless a
    previous one is incomplete: like Linux ``cdc_ncm_status`` /
    ``usbnet_cdc_status`` (``EVENT_STS_SPLIT``), a notification whose data stage
    did not fit (typically CONNECTION_SPEED_CHANGE delivered as two 8-byte
    packets) is completed from the beginning of the next transfer(s).

    Limits: ``wLength`` above *max_data* is counted as ``oversized`` and the
    transfer is dropped (nothing is kept pending), so memory is bounded.
    Bytes after a complete notification within one transfer are ignored and
    counted in ``trailing_bytes``.
    """

    def __init__(self, *, max_data: int = 64, strict_request_type: bool = True) -> None:
        """*max_data* bounds wLength; *strict_request_type* drops transfers whose bmRequestType is not 0xA1."""
        self.max_data = max_data
        self.strict_request_type = strict_request_type
        self.stats = NotificationStats()
        self._pending_header: bytes | None = None
        self._pending_data = bytearray()

    @property
    def pending(self) -> bool:
        """True while a split notification waits for its remaining data bytes."""
        return self._pending_header is not None

    def reset(self) -> None:
        """Forget any partial notification (call after a stall/clear_halt or reconnect)."""
        if self._pending_header is not None:
            self.stats.split_abandoned += 1
        self._pending_header = None
        self._pending_data.clear()

    def feed(self, data: bytes | bytearray | memoryview | Sequence[int]) -> list[Notification]:
        """Consume one interrupt transfer; return the notifications it completed (0 or 1)."""
        buf = as_bytes(data)
        st = self.stats
        st.rx_transfers += 1
        if self._pending_header is not None:
            hdr = self._pending_header
            need = struct.unpack_from("<H", hdr, 6)[0] - len(self._pending_data)
            take = buf[:need]
            self._pending_data += take
            if len(buf) > need:
                st.trailing_bytes += len(buf) - need
            if len(self._pending_data) < struct.unpack_from("<H", hdr, 6)[0]:
                return []
            self._pending_header = None
            payload = bytes(self._pending_data)
            self._pending_data.clear()
            st.split_reassembled += 1
            return [self._emit(hdr, payload)]

        if len(buf) < NOTIFICATION_HEADER_LEN:
            st.bump("malformed", "short", "rx_errors", "rx_length_errors")
            return []
        req_type, _code, _value, _index, length = struct.unpack_from("<BBHHH", buf, 0)
        if self.strict_request_type and req_type != REQ_TYPE_CLASS_IN:
            st.bump("malformed", "bad_request_type", "rx_errors", "rx_frame_errors")
            return []
        if length > self.max_data:
            st.bump("malformed", "oversized", "rx_errors", "rx_length_errors")
            return []
        header = bytes(buf[:NOTIFICATION_HEADER_LEN])
        avail = buf[NOTIFICATION_HEADER_LEN:]
        if len(avail) < length:
            self._pending_header = header
            self._pending_data = bytearray(avail)
            st.split_pending += 1
            return []
        if len(avail) > length:
            st.trailing_bytes += len(avail) - length
        return [self._emit(header, bytes(avail[:length]))]

    def _emit(self, header: bytes, payload: bytes) -> Notification:
        _req, code, value, index, _length = struct.unpack_from("<BBHHH", header, 0)
        self.stats.rx_frames += 1
        self.stats.rx_bytes += NOTIFICATION_HEADER_LEN + len(payload)
        if code == USB_CDC_NOTIFY_NETWORK_CONNECTION:
            return NetworkConnection(code, index, connected=bool(value))
        if code == USB_CDC_NOTIFY_RESPONSE_AVAILABLE:
            return ResponseAvailable(code, index)
        if code == USB_CDC_NOTIFY_SPEED_CHANGE and len(payload) >= 8:
            dl, ul = struct.unpack_from("<II", payload, 0)
            return ConnectionSpeedChange(code, index, downlink_bps=dl, uplink_bps=ul)
        self.stats.unknown += 1
        return UnknownNotification(code, index, value=value, data=payload)


def build_notification(
    code: int, *, value: int = 0, interface: int = 0, data: bytes = b""
) -> bytes:
    """Serialize a notification (header + data), as a device would send it."""
    return struct.pack("<BBHHH", REQ_TYPE_CLASS_IN, code, value, interface, len(data)) + data


def build_speed_change(downlink_bps: int, uplink_bps: int, *, interface: int = 0) -> bytes:
    """CONNECTION_SPEED_CHANGE notification (16 bytes)."""
    return build_notification(
        USB_CDC_NOTIFY_SPEED_CHANGE,
        interface=interface,
        data=struct.pack("<II", downlink_bps, uplink_bps),
    )


def build_network_connection(connected: bool, *, interface: int = 0) -> bytes:
    """NETWORK_CONNECTION notification (8 bytes)."""
    return build_notification(
        USB_CDC_NOTIFY_NETWORK_CONNECTION, value=int(connected), interface=interface
    )


# --------------------------------------------------------------------------
# ECM data path (one Ethernet frame per bulk transfer)
# --------------------------------------------------------------------------


@dataclasses.dataclass
class EcmStats(CodecStats):
    """Counters of :class:`EcmRxDecoder` (``runts``: < 14 bytes, ``giants``: > max_frame)."""

    runts: int = 0
    giants: int = 0
    zero_length: int = 0


class EcmRxDecoder:
    """ECM receive "framing": each bulk IN transfer is one Ethernet frame.

    Exists so the driver core can treat every minidriver alike (``decode()`` +
    ``stats``).  Empty transfers (a stray ZLP) are counted and ignored, shorter
    than 14 bytes is a length error (as usbnet ``rx_process``), longer than
    *max_frame* (default wMaxSegmentSize 1514 + 4 bytes of slack for devices
    that append the FCS or a pad byte) is a length error.  Never raises.
    """

    def __init__(
        self, *, max_frame: int = ECM_DEFAULT_MAX_SEGMENT_SIZE + 4, copy: bool = True
    ) -> None:
        """*copy* False returns memoryviews into the transfer instead of bytes."""
        self.max_frame = max_frame
        self.copy = copy
        self.stats = EcmStats()

    def decode(self, transfer: bytes | bytearray | memoryview) -> list[bytes | memoryview]:
        """Return ``[frame]`` or ``[]`` (counted)."""
        st = self.stats
        st.rx_transfers += 1
        n = len(transfer)
        if n == 0:
            st.zero_length += 1
            return []
        if n < ETH_HLEN:
            st.bump("rx_errors", "rx_length_errors", "runts")
            return []
        if n > self.max_frame:
            st.bump("rx_errors", "rx_length_errors", "giants")
            return []
        st.rx_frames += 1
        st.rx_bytes += n
        if self.copy:
            return [bytes(transfer)]
        return [memoryview(transfer)]
