"""Simulated CDC-ECM and CDC-NCM adapters (shaped like the Linux g_ether/g_ncm gadgets).

Interfaces: 0 = communication interface (class 0x02, subclass 0x06 ECM or
0x0D NCM) with the functional descriptors in its extra bytes and an
interrupt IN endpoint 0x81 (16 bytes); 1 = data interface (class 0x0A) with
alternate setting 0 (no endpoints) and 1 (bulk IN 0x82, bulk OUT 0x01).  The
data path only runs while interface 1 is in alternate setting 1 (the
``set_interface_altsetting`` gotcha).  String 4 is the MAC (iMACAddress).

Notifications (interrupt IN): on link up CONNECTION_SPEED_CHANGE then
NETWORK_CONNECTION(1) (NCM 1.0 §7.1 order); on link down NETWORK_CONNECTION(0).
They are queued when the host selects data alternate setting 1 (as the Linux
gadgets do) and on every :meth:`set_link` while configured.  With
``split_notifications=True`` the 16-byte SPEED_CHANGE is delivered as two
8-byte interrupt transfers.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

from netdrv_usbnet.codecs import cdc_ecm as ecm
from netdrv_usbnet.codecs.cdc_ncm import (
    NTB_FORMAT_NTB16,
    NTB_FORMAT_NTB32,
    NTB_MIN_SIZE,
    NtbDecoder,
    NtbEncoder,
    NtbParameters,
)

from .descriptors import (
    ConfigDescriptor,
    InterfaceDescriptor,
    bulk_endpoint,
    interrupt_endpoint,
    ss_companion,
)
from .device import SPEED_FULL, SPEED_SUPER, Stall
from .netdev import SimNetDevice, default_mac, device_descriptor, usb_speed

__all__ = ["CdcEcmModel", "CdcNcmModel"]

# A class request handler: (wValue, data of an OUT request, wLength) -> data of an IN request.
_Request = Callable[[int, bytes | None, int], bytes | None]


def _fits(frame: bytes) -> bool:
    return True


def gadget_bitrate(speed: int) -> int:
    """The bit rate Linux f_ecm/f_ncm report for a USB speed."""
    if speed >= SPEED_SUPER:
        return 13 * 1024 * 8 * 1000 * 8
    if speed == SPEED_FULL:
        return 19 * 64 * 1 * 1000 * 8
    return 13 * 512 * 8 * 1000 * 8


class _CdcModel(SimNetDevice):
    """Common part of the ECM and NCM models."""

    SUBCLASS = ecm.USB_CDC_SUBCLASS_ETHERNET
    DATA_PROTOCOL = 0
    CONTROL_INTF = 0
    DATA_INTF = 1
    STR_MANUFACTURER, STR_PRODUCT, STR_SERIAL, STR_MAC, STR_CONTROL, STR_DATA = 1, 2, 3, 4, 5, 6
    INTR_MPS = 16
    DEFAULT_FILTER = ecm.DIRECTED | ecm.BROADCAST | ecm.ALL_MULTICAST

    def __init__(
        self,
        *,
        speed: str = "high",
        mac: bytes | None = None,
        vid: int,
        pid: int,
        product: str,
        link_up: bool = True,
        speed_bps: int | None = None,
        max_segment_size: int = 1514,
        mc_filters: int = 16,
        bad_mac_string: bool | str = False,
        split_notifications: bool = False,
        kernel_driver: bool = False,
        ncm_descriptor: ecm.NcmDescriptor | None = None,
    ) -> None:
        speed_code, mps, ss = usb_speed(speed)
        interval = 32 if speed_code == SPEED_FULL else 9
        mac = bytes(mac) if mac is not None else default_mac()
        func = ecm.build_functional_descriptors(
            union=(self.CONTROL_INTF, [self.DATA_INTF]),
            ethernet=ecm.EthernetNetworkingDescriptor(
                self.STR_MAC, 0, max_segment_size, mc_filters, 0
            ),
            ncm=ncm_descriptor,
        )
        control = InterfaceDescriptor(
            self.CONTROL_INTF,
            0,
            ecm.USB_CLASS_COMM,
            self.SUBCLASS,
            0,
            iInterface=self.STR_CONTROL,
            endpoints=[
                interrupt_endpoint(
                    self.INTR_IN,
                    self.INTR_MPS,
                    interval,
                    extra=ss_companion(0, 0, self.INTR_MPS) if ss else (),
                )
            ],
            extra_descriptors=list(func),
        )
        data_eps = [
            bulk_endpoint(self.BULK_IN, mps, extra=ss_companion() if ss else ()),
            bulk_endpoint(self.BULK_OUT, mps, extra=ss_companion() if ss else ()),
        ]
        data0 = InterfaceDescriptor(
            self.DATA_INTF,
            0,
            ecm.USB_CLASS_CDC_DATA,
            0,
            self.DATA_PROTOCOL,
            iInterface=self.STR_DATA,
        )
        data1 = InterfaceDescriptor(
            self.DATA_INTF,
            1,
            ecm.USB_CLASS_CDC_DATA,
            0,
            self.DATA_PROTOCOL,
            iInterface=self.STR_DATA,
            endpoints=data_eps,
        )
        iad = [
            8,
            ecm.USB_DT_INTERFACE_ASSOCIATION,
            self.CONTROL_INTF,
            2,
            ecm.USB_CLASS_COMM,
            self.SUBCLASS,
            0,
            0,
        ]
        config = ConfigDescriptor(
            1, [[control], [data0, data1]], bmAttributes=0xC0, bMaxPower=1, extra_descriptors=iad
        )
        device = device_descriptor(
            vid,
            pid,
            ss=ss,
            usb2=0x0200,
            device_class=(0xEF, 0x02, 0x01),  # IAD: miscellaneous / common / IAD
            bcd_device=0x0601,
            strings=(self.STR_MANUFACTURER, self.STR_PRODUCT, self.STR_SERIAL),
        )
        strings = {
            self.STR_MANUFACTURER: "netdrv simulated devices",
            self.STR_PRODUCT: product,
            self.STR_SERIAL: mac.hex(),
            self.STR_MAC: ecm.format_mac_string(mac),
            self.STR_CONTROL: "CDC Ethernet Control Model"
            if self.SUBCLASS == ecm.USB_CDC_SUBCLASS_ETHERNET
            else "CDC Network Control Model",
            self.STR_DATA: "CDC Ethernet Data",
        }
        self.bad_mac_string = bad_mac_string
        self.split_notifications = split_notifications
        self.max_segment_size = max_segment_size
        self.mc_filter_slots = mc_filters
        self.packet_filter = self.DEFAULT_FILTER
        self.multicast_filters: list[bytes] = []
        super().__init__(
            device,
            [config],
            strings,
            speed=speed_code,
            kernel_driver=kernel_driver,
            mac=mac,
            link_up=link_up,
            speed_bps=speed_bps if speed_bps is not None else gadget_bitrate(speed_code),
        )

    # -- descriptors ---------------------------------------------------------

    def _string(self, index: int) -> str | None:
        if index == self.STR_MAC:
            if isinstance(self.bad_mac_string, str):
                return self.bad_mac_string
            if self.bad_mac_string:
                return self.permanent_mac.hex().upper()[:10] + "ZZ"
            return ecm.format_mac_string(self.permanent_mac)
        return super()._string(index)

    # -- state ---------------------------------------------------------------

    def _on_configured(self, value: int) -> None:
        self.packet_filter = self.DEFAULT_FILTER
        self.multicast_filters = []
        self._rx_discard()

    def _on_altsetting(self, intf: int, alt: int) -> None:
        if intf != self.DATA_INTF:
            return
        self._rx_discard()
        if alt == 1:
            for pkt in self._link_notifications():
                self._push_in(self.INTR_IN, pkt)
                self.stats.notifications_queued += 1

    def _on_replug(self) -> None:
        super()._on_replug()
        self._mac = self.permanent_mac
        self.packet_filter = self.DEFAULT_FILTER
        self.multicast_filters = []

    def _rx_enabled(self) -> bool:
        return bool(self.configuration) and self.alt_settings.get(self.DATA_INTF, 0) == 1

    def _max_rx_frame(self) -> int:
        return self.max_segment_size + 4  # room for a VLAN tag

    def _filter_policy(self) -> tuple[bool, bool, Callable[[bytes], bool], bool]:
        pf = self.packet_filter
        groups = set(self.multicast_filters) if pf & ecm.MULTICAST else set()
        multicast = (lambda dst: True) if pf & ecm.ALL_MULTICAST else groups.__contains__
        return (
            bool(pf & ecm.PROMISCUOUS),
            bool(pf & ecm.BROADCAST),
            multicast,
            bool(pf & ecm.DIRECTED),
        )

    def _link_notifications(self) -> list[bytes]:
        if not self.link_up:
            return [ecm.build_network_connection(False, interface=self.CONTROL_INTF)]
        speed = ecm.build_speed_change(self.speed_bps, self.speed_bps, interface=self.CONTROL_INTF)
        parts = [speed[:8], speed[8:]] if self.split_notifications else [speed]
        return [*parts, ecm.build_network_connection(True, interface=self.CONTROL_INTF)]

    # -- control requests ----------------------------------------------------

    def _class_vendor_request(
        self, rt: int, req: int, value: int, index: int, data: bytes | None, length: int
    ) -> bytes | None:
        if (rt >> 5) & 3 != 1 or rt & 0x1F != 1:
            raise Stall("only class requests to an interface are supported")
        if not self.configuration or (index & 0xFF) != self.CONTROL_INTF:
            raise Stall(f"class request to interface {index & 0xFF}")
        handler = self._requests().get((rt, req))
        if handler is None:
            raise Stall(f"class request {rt:#04x}/{req:#04x} not supported")
        return handler(value, data, length)

    def _requests(self) -> dict[tuple[int, int], _Request]:
        return {
            (ecm.REQ_TYPE_CLASS_OUT, ecm.SET_ETHERNET_PACKET_FILTER): self._req_set_filter,
            (ecm.REQ_TYPE_CLASS_OUT, ecm.SET_ETHERNET_MULTICAST_FILTERS): self._req_set_mc_filters,
        }

    def _req_set_filter(self, value: int, data: bytes | None, length: int) -> None:
        self.packet_filter = value & 0x1F
        return None

    def _req_set_mc_filters(self, value: int, data: bytes | None, length: int) -> None:
        payload = data or b""
        if value > self.mc_filter_slots or len(payload) != 6 * value:
            raise Stall("bad multicast filter list")
        self.multicast_filters = [payload[i : i + 6] for i in range(0, len(payload), 6)]
        return None


class CdcEcmModel(_CdcModel):
    """A CDC-ECM adapter (one Ethernet frame per bulk transfer).

    Host OUT transfers shorter than 14 bytes or longer than
    wMaxSegmentSize + 1 (the pad byte usbnet may add) are not transmitted and
    count as ``wire_tx_errors`` - which is what a transfer merged with the
    next one (missing ZLP, see ``drop_zlp``) usually turns into.

    ``malformed_next("truncate")`` truncates the next IN transfer to 8 bytes.
    """

    SUBCLASS = ecm.USB_CDC_SUBCLASS_ETHERNET
    MALFORMED_KINDS = frozenset({"truncate"})

    def __init__(
        self,
        *,
        speed: str = "high",
        mac: bytes | None = None,
        vid: int = 0x0525,
        pid: int = 0xA4A1,
        product: str = "Ethernet Gadget (simulated ECM)",
        **kwargs: object,
    ) -> None:
        """Keyword options: link_up, speed_bps, max_segment_size, mc_filters, bad_mac_string,
        split_notifications, kernel_driver."""
        super().__init__(speed=speed, mac=mac, vid=vid, pid=pid, product=product, **kwargs)  # type: ignore[arg-type]

    def _rx_adder(self) -> Callable[[bytes], bool]:
        return _fits  # no batching: one frame, one transfer (closed as soon as it is in)

    def _rx_max_frames(self) -> int:
        return 1

    def _rx_build(self, frames: list[bytes]) -> bytes:
        return frames[0]

    def _corrupt(self, kind: str, transfer: bytes) -> bytes:
        return transfer[:8]

    def _decode_out(self, data: bytes) -> list[bytes]:
        if len(data) < 14 or len(data) > self.max_segment_size + 1:
            self.stats.wire_tx_errors += 1
            return []
        return [data]


class CdcNcmModel(_CdcModel):
    """A CDC-NCM adapter (NTB16 or NTB32 framing, batching on the IN side).

    Answers GET_NTB_PARAMETERS with *ntb_params*, GET/SET_NTB_INPUT_SIZE
    (2048 <= size <= dwNtbInMaxSize, else STALL), GET/SET_NTB_FORMAT,
    GET/SET_MAX_DATAGRAM_SIZE, GET/SET_NET_ADDRESS, GET/SET_CRC_MODE
    (CRC off only) and the ECM filter requests.  Selecting data alternate
    setting 0 resets the NTB input size, format and sequence (NCM 1.0 §7.2).
    SET_NET_ADDRESS, like SET_NTB_FORMAT, is honoured only while the data
    interface is in alternate setting 0 and STALLs otherwise, as a strict
    function does.

    NTB formats: the adapter offers what ``ntb_params.bmNtbFormatsSupported``
    says (*ntb_formats*, if given, replaces it: ``NTB_FORMAT_NTB16`` = 1,
    ``NTB_FORMAT_NTB32`` = 2, or both = 3); the default is NTB16 only.  Its
    format after a reset is NTB16 if offered, else NTB32 (an NTB32-only
    adapter, which Linux >= 5.10 drives).  SET_NTB_FORMAT (wValue 0 = NTB16,
    1 = NTB32) is honoured for an offered format while the data interface is
    in alternate setting 0, and STALLs otherwise; bulk IN and OUT then use
    that format (``ntb_format``: 0 or 1, as GET_NTB_FORMAT reports).

    IN: frames accepted from the cable are packed into NTBs of at most the
    current NTB input size and *in_max_datagrams* datagrams.  Per NCM 1.0, an
    NTB of exactly the NTB input size that is a multiple of wMaxPacketSize is
    *not* followed by a ZLP, so the host should read with a buffer of exactly
    the NTB input size (as Linux does).  OUT: host NTBs are validated with
    :class:`~netdrv_usbnet.codecs.NtbDecoder` (``out_decoder.stats``); errors
    count as ``wire_tx_errors``.  Zero padding inside wBlockLength is
    accepted.  With ``drop_zlp`` (real hardware) a transfer ends with a short
    packet, a ZLP, or at dwNtbOutMaxSize bytes (the function's buffer is
    full), so an NTB of exactly that size needs no ZLP.  ZLPs are counted
    (``stats.zlps_received``): Linux's cdc_ncm sends none.

    ``malformed_next(kind)`` corrupts the next IN NTB (in its format):
    ``bad_signature``, ``bad_ndp_signature``, ``bad_block_length``,
    ``bad_ndp_index``, ``index_out_of_range``, ``zero_length`` (first
    datagram length 0) or ``ndp_loop`` (the NDP's next index points to itself).
    """

    SUBCLASS = ecm.USB_CDC_SUBCLASS_NCM
    DATA_PROTOCOL = ecm.USB_CDC_NCM_PROTO_NTB
    MALFORMED_KINDS = frozenset(
        {
            "bad_signature",
            "bad_ndp_signature",
            "bad_block_length",
            "bad_ndp_index",
            "index_out_of_range",
            "zero_length",
            "ndp_loop",
        }
    )

    def __init__(
        self,
        *,
        speed: str = "high",
        mac: bytes | None = None,
        vid: int = 0x1D6B,
        pid: int = 0x0104,
        product: str = "NCM Gadget (simulated NCM)",
        ntb_params: NtbParameters | None = None,
        ntb_formats: int | None = None,
        in_max_datagrams: int = 32,
        network_capabilities: int = ecm.NCM_NCAP_ETH_FILTER
        | ecm.NCM_NCAP_NET_ADDRESS
        | ecm.NCM_NCAP_MAX_DATAGRAM_SIZE,
        **kwargs: object,
    ) -> None:
        """Keyword options as :class:`CdcEcmModel` plus *ntb_params*, *ntb_formats*,
        *in_max_datagrams*, *network_capabilities* (bmNetworkCapabilities)."""
        params = ntb_params if ntb_params is not None else NtbParameters()
        if ntb_formats is not None:
            params = dataclasses.replace(params, bmNtbFormatsSupported=ntb_formats)
        self.ntb_params = params
        self.in_max_datagrams = in_max_datagrams
        self.ntb_in_size = self.ntb_params.dwNtbInMaxSize
        self.ntb_format = self.default_ntb_format
        self.crc_mode = 0
        self.max_datagram_size = 1514
        self.out_decoder = NtbDecoder(
            max_size=self.ntb_params.dwNtbOutMaxSize,
            max_datagrams=self.ntb_params.wNtbOutMaxDatagrams or 512,
            ntb32=self.ntb32,
        )
        self._encoder = self._make_encoder()
        super().__init__(
            speed=speed,
            mac=mac,
            vid=vid,
            pid=pid,
            product=product,
            ncm_descriptor=ecm.NcmDescriptor(0x0100, network_capabilities),
            **kwargs,  # type: ignore[arg-type]
        )

    def set_ntb_formats(self, formats: int) -> None:
        """Offer *formats* (bmNtbFormatsSupported) from now on; resets the NTB state."""
        with self._cond:
            self.ntb_params = dataclasses.replace(self.ntb_params,
                                                  bmNtbFormatsSupported=formats)  # fmt: skip
            self._reset_ntb_state()

    @property
    def default_ntb_format(self) -> int:
        """The format after a reset (SET_NTB_FORMAT wValue): NTB16 if offered, else NTB32."""
        offered = self.ntb_params.bmNtbFormatsSupported
        return 1 if offered & NTB_FORMAT_NTB32 and not offered & NTB_FORMAT_NTB16 else 0

    @property
    def ntb32(self) -> bool:
        """True while the data path uses NTB32."""
        return self.ntb_format == 1

    def _make_encoder(self) -> NtbEncoder:
        return NtbEncoder(
            self.ntb_params,
            direction="in",
            max_size=self.ntb_in_size,
            max_datagrams=self.in_max_datagrams,
            ntb32=self.ntb32,
        )

    def _reset_ntb_state(self) -> None:
        self.ntb_in_size = self.ntb_params.dwNtbInMaxSize
        self.ntb_format = self.default_ntb_format
        self.crc_mode = 0
        self._encoder = self._make_encoder()
        self._rx_pending = []  # they were in the old encoder
        self.out_decoder.ntb32 = self.ntb32
        self.out_decoder.reset()

    def _on_altsetting(self, intf: int, alt: int) -> None:
        if intf == self.DATA_INTF and alt == 0:
            self._reset_ntb_state()
        super()._on_altsetting(intf, alt)

    def _on_configured(self, value: int) -> None:
        super()._on_configured(value)
        self._reset_ntb_state()

    def _on_replug(self) -> None:
        super()._on_replug()
        self._reset_ntb_state()

    # -- data path -----------------------------------------------------------

    def _rx_adder(self) -> Callable[[bytes], bool]:
        return self._encoder.add  # the NTB being filled is the encoder's queue

    def _rx_max_frames(self) -> int:
        return self._encoder.max_datagrams

    def _rx_build(self, frames: list[bytes]) -> bytes:
        return self._encoder.build()

    def _rx_reset(self) -> None:
        self._encoder.discard()

    def _in_terminated(self, transfer: bytes) -> bool | None:
        mps = self.max_packet(self.BULK_IN)
        if len(transfer) % mps:
            return True
        return self.in_zlp and len(transfer) != self.ntb_in_size

    def _max_rx_frame(self) -> int:
        # A jumbo datagram size with a small NTB input size: what does not fit is dropped.
        return min(self.max_datagram_size + 4, self._encoder.max_frame_size)

    def _decode_out(self, data: bytes) -> list[bytes]:
        return self._decode_with(self.out_decoder, data)

    def _out_transfer_max(self, ep: int) -> int:
        if ep != self.BULK_OUT:
            return 0
        return self.ntb_params.dwNtbOutMaxSize or NTB_MIN_SIZE  # 0: the 2048 all devices take

    def _corrupt(self, kind: str, transfer: bytes) -> bytes:
        if self.ntb32:
            return self._corrupt32(kind, transfer)
        t = bytearray(transfer)
        ndp = struct.unpack_from("<H", t, 10)[0]
        if kind == "bad_signature":
            t[0:4] = b"NCMX"
        elif kind == "bad_ndp_signature":
            t[ndp : ndp + 4] = b"XCM0"
        elif kind == "bad_block_length":
            struct.pack_into("<H", t, 8, min(len(t) + 64, 0xFFFF))
        elif kind == "bad_ndp_index":
            struct.pack_into("<H", t, 10, min(len(t) + 4, 0xFFFC))
        elif kind == "index_out_of_range":
            struct.pack_into("<H", t, ndp + 8, min(len(t) + 100, 0xFFFF))
        elif kind == "zero_length":
            struct.pack_into("<H", t, ndp + 10, 0)
        elif kind == "ndp_loop":
            struct.pack_into("<H", t, ndp + 6, ndp)
        return bytes(t)

    def _corrupt32(self, kind: str, transfer: bytes) -> bytes:
        """:meth:`_corrupt` for an NTB32 (NTH32: dwBlockLength at 8, dwNdpIndex at 12; NDP32:
        dwNextNdpIndex at 8, the first entry's dwDatagramIndex/Length at 16/20)."""
        t = bytearray(transfer)
        ndp = struct.unpack_from("<I", t, 12)[0]
        if kind == "bad_signature":
            t[0:4] = b"ncmx"
        elif kind == "bad_ndp_signature":
            t[ndp : ndp + 4] = b"xcm0"
        elif kind == "bad_block_length":
            struct.pack_into("<I", t, 8, len(t) + 64)
        elif kind == "bad_ndp_index":
            struct.pack_into("<I", t, 12, len(t) + 4)
        elif kind == "index_out_of_range":
            struct.pack_into("<I", t, ndp + 16, len(t) + 100)
        elif kind == "zero_length":
            struct.pack_into("<I", t, ndp + 20, 0)
        elif kind == "ndp_loop":
            struct.pack_into("<I", t, ndp + 8, ndp)
        return bytes(t)

    # -- control requests ----------------------------------------------------

    def _requests(self) -> dict[tuple[int, int], _Request]:
        r = super()._requests()
        IN, OUT = ecm.REQ_TYPE_CLASS_IN, ecm.REQ_TYPE_CLASS_OUT
        r.update(
            {
                (IN, ecm.GET_NTB_PARAMETERS): lambda v, d, n: self.ntb_params.pack(),
                (IN, ecm.GET_NTB_INPUT_SIZE): lambda v, d, n: (
                    struct.pack("<I", self.ntb_in_size)
                    + (struct.pack("<HH", self.in_max_datagrams, 0) if n >= 8 else b"")
                ),
                (OUT, ecm.SET_NTB_INPUT_SIZE): self._req_set_ntb_input_size,
                (IN, ecm.GET_NTB_FORMAT): lambda v, d, n: struct.pack("<H", self.ntb_format),
                (OUT, ecm.SET_NTB_FORMAT): self._req_set_ntb_format,
                (IN, ecm.GET_MAX_DATAGRAM_SIZE): lambda v, d, n: struct.pack(
                    "<H", self.max_datagram_size
                ),
                (OUT, ecm.SET_MAX_DATAGRAM_SIZE): self._req_set_max_datagram,
                (IN, ecm.GET_NET_ADDRESS): lambda v, d, n: self.mac,
                (OUT, ecm.SET_NET_ADDRESS): self._req_set_net_address,
                (IN, ecm.GET_CRC_MODE): lambda v, d, n: struct.pack("<H", self.crc_mode),
                (OUT, ecm.SET_CRC_MODE): self._req_set_crc_mode,
            }
        )
        return r

    def _req_set_ntb_input_size(self, value: int, data: bytes | None, length: int) -> None:
        if data is None or len(data) not in (4, 8):
            raise Stall("SET_NTB_INPUT_SIZE needs 4 or 8 bytes")
        size = struct.unpack_from("<I", data, 0)[0]
        if not 2048 <= size <= self.ntb_params.dwNtbInMaxSize:
            raise Stall(f"NTB input size {size} out of range")
        self._frame_pending()  # what the old NTB size holds goes out as it is
        self.ntb_in_size = size
        self._encoder = self._make_encoder()
        return None

    def _req_set_ntb_format(self, value: int, data: bytes | None, length: int) -> None:
        bit = {0: NTB_FORMAT_NTB16, 1: NTB_FORMAT_NTB32}.get(value, 0)
        if not bit & self.ntb_params.bmNtbFormatsSupported:
            raise Stall(f"NTB format {value} is not supported")
        if self.alt_settings.get(self.DATA_INTF, 0) != 0:
            raise Stall("SET_NTB_FORMAT while the data interface is not in alternate setting 0")
        self.ntb_format = value
        self._encoder = self._make_encoder()
        self._rx_pending = []  # (none: alt 0 has no data path) they were in the old encoder
        self.out_decoder.ntb32 = self.ntb32
        self.out_decoder.reset()
        return None

    def _req_set_max_datagram(self, value: int, data: bytes | None, length: int) -> None:
        if data is None or len(data) < 2:
            raise Stall("SET_MAX_DATAGRAM_SIZE needs 2 bytes")
        size = struct.unpack_from("<H", data, 0)[0]
        if not 1514 <= size <= 9014:
            raise Stall(f"max datagram size {size} out of range")
        self.max_datagram_size = size
        return None

    def _req_set_net_address(self, value: int, data: bytes | None, length: int) -> None:
        if data is None or len(data) != 6 or data[0] & 1:
            raise Stall("SET_NET_ADDRESS needs a 6-byte unicast address")
        if self.alt_settings.get(self.DATA_INTF, 0) != 0:
            # NCM 1.0 §6.2: only while the data interface is in alternate setting 0; a
            # strict function STALLs it otherwise.
            raise Stall("SET_NET_ADDRESS while the data interface is not in alternate setting 0")
        self._mac = bytes(data)
        return None

    def _req_set_crc_mode(self, value: int, data: bytes | None, length: int) -> None:
        if value != 0:
            raise Stall("CRC mode not supported")
        self.crc_mode = 0
        return None
