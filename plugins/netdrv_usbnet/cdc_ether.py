"""CDC-ECM minidriver, after Linux ``drivers/net/usb/cdc_ether.c``.

Binding (``usbnet_generic_cdc_bind`` + ``usbnet_cdc_bind``): parse the
control interface's functional descriptors (Header, Union, Ethernet
Networking), claim the control and data interfaces, select the data
interface's alternate setting with the two bulk endpoints (they do not exist
in alt 0), take the interrupt endpoint of the control interface, read the MAC
from the iMACAddress string descriptor — 12 hex digits; a bad string gives a
random locally administered MAC and a warning — and program the packet
filter.

Data: one Ethernet frame per bulk transfer both ways.

TX termination, as Linux's ``cdc_info`` (``FLAG_ETHER | FLAG_POINTTOPOINT``,
no FLAG_SEND_ZLP): no ZLP is ever sent (some devices misbehave on one).  A
frame that ends on a full bulk OUT packet gets one zero byte appended by the
core (``usbnet_start_xmit``: ``length++``), so the transfer ends with a short
packet and a device that needs a terminator (the simulator's ``drop_zlp``)
never merges two frames.  The device puts that byte on the wire as part of
the frame; receivers ignore bytes past the IP length.  ``tx_bytes`` counts
the transfer, pad byte included, as Linux's ``usbnet_start_xmit`` counts
``length`` after its ``length++``; ``tx_pad_bytes`` counts the pads.

Notifications (interrupt endpoint): NETWORK_CONNECTION → carrier;
CONNECTION_SPEED_CHANGE (possibly split across two interrupt transfers) →
ethtool speed.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import usb.core
import usb.util

from netdrv_core.netdevice import IFF_ALLMULTI, IFF_PROMISC

from .codecs import DescriptorError, EcmRxDecoder, NotificationParser, parse_mac_string
from .codecs import cdc_ecm as ecm
from .codecs.cdc_ecm import (
    ConnectionSpeedChange,
    EthernetNetworkingDescriptor,
    FunctionalDescriptors,
    NetworkConnection,
    parse_functional_descriptors,
)
from .core import (
    FLAG_ETHER,
    FLAG_LINK_INTR,
    FLAG_POINTTOPOINT,
    BindError,
    MiniDriver,
    RxMode,
    UsbNet,
    codec_stats,
    default_set_mac_address,
    round_up,
    usb_errno,
)

__all__ = ["CdcEther", "CdcMixin"]

log = logging.getLogger("netdrv.usbnet")


def _get_string(un: UsbNet, index: int) -> str | None:
    """String descriptor ``index``; a STALLed read is tried three times, as Linux's
    ``usb_get_string`` does.  pyusb remembers a failed LANGID read as "no langid", so the
    retries read the LANGIDs themselves."""
    for attempt in range(3):
        try:
            if not attempt:
                return usb.util.get_string(un.udev, index)
            langids = usb.util.get_langids(un.udev)
            return usb.util.get_string(un.udev, index, langids[0] if langids else 0x0409)
        except usb.core.USBError as exc:
            if usb_errno(exc) != errno.EPIPE or attempt == 2:
                raise
        except ValueError:  # pyusb: the LANGID read failed ("The device has no langid")
            if attempt == 2:
                raise
    return None  # not reached


class CdcMixin:
    """What ECM and NCM share: descriptors, interfaces, MAC, filters, notifications."""

    fd: FunctionalDescriptors
    ether: EthernetNetworkingDescriptor
    ctrl_intf: int
    data_intf: int

    def _init_cdc(self) -> None:
        self.notifications = NotificationParser()
        self.ctrl_intf = 0
        self.data_intf = 1
        self.packet_filter = 0
        self.mc_filters: tuple[bytes, ...] = ()
        # The address the adapter filters directed frames on: its iMACAddress, or what
        # SET_NET_ADDRESS (NCM) gave it; None when unknown (a bad MAC string).
        self.hw_mac: bytes | None = None

    # -- bind -------------------------------------------------------------------------------
    def cdc_parse(self, un: UsbNet, intf: Any) -> None:
        """Functional descriptors → control/data interface numbers (BindError when broken)."""
        try:
            fd = parse_functional_descriptors(intf.extra_descriptors)
            union, ether = fd.require_ethernet()
        except DescriptorError as exc:
            raise BindError(f"{un}: bad CDC functional descriptors: {exc}") from exc
        if not union.slave_interfaces:
            raise BindError(f"{un}: the CDC Union descriptor names no data interface")
        self.fd, self.ether = fd, ether
        self.ctrl_intf = intf.bInterfaceNumber
        if union.master_interface != self.ctrl_intf:
            raise BindError(
                f"{un}: the CDC Union descriptor's control interface is "
                f"{union.master_interface}, not {self.ctrl_intf}"
            )
        self.data_intf = union.data_interface
        if not un.interfaces(self.data_intf):
            raise BindError(f"{un}: data interface {self.data_intf} does not exist")

    def data_alt(self, un: UsbNet) -> Any:
        """The data interface's alternate setting that has a bulk IN and a bulk OUT endpoint."""
        for alt in un.interfaces(self.data_intf):
            kinds = [(usb.util.endpoint_type(e.bmAttributes),
                      usb.util.endpoint_direction(e.bEndpointAddress)) for e in alt]  # fmt: skip
            if (usb.util.ENDPOINT_TYPE_BULK, usb.util.ENDPOINT_IN) in kinds and (
                usb.util.ENDPOINT_TYPE_BULK, usb.util.ENDPOINT_OUT) in kinds:  # fmt: skip
                return alt
        raise BindError(f"{un}: data interface {self.data_intf} has no bulk IN/OUT pair")

    def read_mac(self, un: UsbNet) -> bytes:
        """``usbnet_get_ethernet_addr``: the iMACAddress string; random (warned) when bad."""
        index = self.ether.iMACAddress
        if not index:
            return un.random_mac("the adapter has no MAC address string (iMACAddress 0)")
        try:
            text = _get_string(un, index)
        except (usb.core.USBError, ValueError) as exc:
            if isinstance(exc, usb.core.USBError) and usb_errno(exc) == errno.ENODEV:
                raise
            return un.random_mac(f"cannot read MAC address string {index}: {exc}")
        try:
            mac = parse_mac_string(text or "")
        except DescriptorError as exc:
            return un.random_mac(f"bad MAC address string: {exc}")
        if mac[0] & 1 or mac == bytes(6):
            return un.random_mac(f"MAC address string {text!r} is not a unicast address")
        self.hw_mac = mac
        return mac

    def cdc_program_address(self, un: UsbNet, mac: bytes) -> None:
        """The host uses ``mac``: an NCM function that can (``NCM_NCAP_NET_ADDRESS``) is told
        with SET_NET_ADDRESS; an adapter still filtering on another address is left to
        receive promiscuously (:meth:`cdc_set_rx_mode`), or frames to ``mac`` would not
        arrive."""
        if mac == self.hw_mac:
            return
        ncm = getattr(self.fd, "ncm", None)
        if (ncm is not None and ncm.bmNetworkCapabilities & ecm.NCM_NCAP_NET_ADDRESS
                and self.cdc_set_net_address(un, mac)):  # fmt: skip
            self.hw_mac = mac
            return
        own = self.hw_mac.hex(":") if self.hw_mac is not None else "unknown"
        un.netdev_log(logging.INFO, f"the adapter filters on its own address ({own}), not "
                                    f"{mac.hex(':')}: it receives in promiscuous mode")  # fmt: skip

    def cdc_set_net_address(self, un: UsbNet, mac: bytes) -> bool:
        """SET_NET_ADDRESS; False when the adapter STALLs it (other errors raise)."""
        try:
            un.ctrl_out(ecm.REQ_TYPE_CLASS_OUT, ecm.SET_NET_ADDRESS, 0, self.ctrl_intf, mac)
        except usb.core.USBError as exc:
            if usb_errno(exc) != errno.EPIPE:
                raise
            return False
        return True

    def set_mac_address(self, un: UsbNet, dev: Any, addr: bytes) -> int:
        """``eth_mac_addr``, as Linux's cdc_ether and cdc_ncm (refused while up); the adapter
        is then told (:meth:`cdc_program_address`) in the kevent worker."""
        ret = default_set_mac_address(un, dev, addr)
        if ret == 0:
            un.mac = bytes(addr)
            mode = RxMode(promisc=bool(dev.flags & IFF_PROMISC),
                          allmulti=bool(dev.flags & IFF_ALLMULTI), mc_list=tuple(dev.mc_list))  # fmt: skip
            un.defer(self._cdc_new_address, un, bytes(addr), mode)
        return ret

    def _cdc_new_address(self, un: UsbNet, mac: bytes, mode: RxMode) -> None:
        self.cdc_program_address(un, mac)
        self.cdc_set_rx_mode(un, mode)

    def cdc_check_status_endpoint(self, un: UsbNet) -> None:
        """``usbnet_generic_cdc_bind``: a notification endpoint too small for a notification
        (8 bytes) is ignored (each piece would count as a short one and the carrier never come
        on); the adapter is then driven as one without it (carrier on while up)."""
        if un.ep_int is not None and un.int_mps < ecm.NOTIFICATION_HEADER_LEN:
            why = (f"notification endpoint 0x{un.ep_int:02x} has wMaxPacketSize {un.int_mps}, "
                   f"less than a notification ({ecm.NOTIFICATION_HEADER_LEN} bytes)")  # fmt: skip
            log.warning("%s: %s: ignored; the carrier is on while the interface is up", un, why)
            un.ep_int = None

    # -- filters (kevent worker, or the binding thread) ------------------------------------------
    def cdc_set_rx_mode(self, un: UsbNet, mode: RxMode) -> None:
        """``usbnet_cdc_update_filter`` plus perfect multicast filters when they fit."""
        filt = ecm.DIRECTED | ecm.BROADCAST
        host_mac = bytes(un.dev.dev_addr) if un.dev is not None else un.mac
        if mode.promisc or host_mac != self.hw_mac:
            filt |= ecm.PROMISCUOUS  # the adapter's directed filter would drop our frames
        slots = self.ether.mc_filter_count
        if mode.allmulti:
            filt |= ecm.ALL_MULTICAST
        elif mode.mc_list:
            if slots and len(mode.mc_list) <= slots and not self.ether.mc_filter_imperfect:
                try:
                    if tuple(mode.mc_list) != self.mc_filters:
                        un.ctrl_out(ecm.REQ_TYPE_CLASS_OUT, ecm.SET_ETHERNET_MULTICAST_FILTERS,
                                    len(mode.mc_list), self.ctrl_intf, b"".join(mode.mc_list))  # fmt: skip
                        self.mc_filters = tuple(mode.mc_list)
                    filt |= ecm.MULTICAST
                except usb.core.USBError as exc:
                    if usb_errno(exc) != errno.EPIPE:
                        raise
                    filt |= ecm.ALL_MULTICAST  # the adapter refused the list
            else:
                filt |= ecm.ALL_MULTICAST
        try:
            un.ctrl_out(ecm.REQ_TYPE_CLASS_OUT, ecm.SET_ETHERNET_PACKET_FILTER, filt,
                        self.ctrl_intf)  # fmt: skip
            self.packet_filter = filt
        except usb.core.USBError as exc:
            if usb_errno(exc) != errno.EPIPE:
                raise
            # Optional request (ECM 1.2 §6.2.4): adapters that stall it filter on their own.

    # -- notifications (interrupt thread) ----------------------------------------------------------
    def cdc_status(self, un: UsbNet, data: bytes) -> None:
        """NETWORK_CONNECTION → carrier; CONNECTION_SPEED_CHANGE (maybe split) → speed."""
        for n in self.notifications.feed(data):
            if isinstance(n, NetworkConnection):
                un.link_change(n.connected, False)
            elif isinstance(n, ConnectionSpeedChange):
                un.set_link_speed(n.downlink_bps, n.uplink_bps)


class CdcEther(CdcMixin, MiniDriver):
    """CDC Ethernet Control Model (``cdc_info`` in Linux): a packet-multiple frame gets a
    pad byte, never a ZLP."""

    name = "cdc_ether"
    description = "CDC Ethernet Device"
    # Linux's cdc_info is FLAG_ETHER | FLAG_POINTTOPOINT.  FLAG_LINK_INTR is netdrv's core's:
    # the carrier stays off until NETWORK_CONNECTION reports the link.
    flags = FLAG_ETHER | FLAG_POINTTOPOINT | FLAG_LINK_INTR

    def __init__(self) -> None:
        self._init_cdc()
        self.rx_decoder = EcmRxDecoder(copy=False)
        self.rx_stats = self.rx_decoder.stats

    def bind(self, un: UsbNet, intf: Any) -> None:
        """Descriptors, interfaces, data alt setting, endpoints, MAC, packet filter."""
        self.cdc_parse(un, intf)
        un.claim(self.ctrl_intf)
        un.claim(self.data_intf)
        alt = self.data_alt(un)
        un.set_altsetting(self.data_intf, alt.bAlternateSetting)
        un.use_endpoints(alt, intf)
        self.cdc_check_status_endpoint(un)
        mss = self.ether.wMaxSegmentSize or ecm.ECM_DEFAULT_MAX_SEGMENT_SIZE
        un.hard_mtu = mss
        un.max_mtu = mss - 14
        self.rx_decoder.max_frame = mss + 4  # a VLAN tag (or the FCS some devices append)
        un.rx_urb_size = round_up(mss + 4, un.in_mps)
        un.mac = self.read_mac(un)
        self.cdc_program_address(un, un.mac)
        self.cdc_set_rx_mode(un, RxMode())

    def status(self, un: UsbNet, data: bytes) -> None:
        """See :meth:`CdcMixin.cdc_status`."""
        self.cdc_status(un, data)

    def status_reset(self) -> None:
        """Drop a half-received split notification."""
        self.notifications.reset()

    def rx_fixup(
        self, un: UsbNet, transfer: bytes | bytearray | memoryview
    ) -> list[tuple[bytes | memoryview, bool]]:
        """One frame per transfer (a stray ZLP yields nothing)."""
        return [(f, False) for f in self.rx_decoder.decode(transfer)]

    def set_rx_mode(self, un: UsbNet, mode: RxMode) -> None:
        """SET_ETHERNET_PACKET_FILTER (+ multicast filters)."""
        self.cdc_set_rx_mode(un, mode)

    def private_stats(self) -> list[tuple[str, int]]:
        """Decoder and notification counters, packet filter."""
        return [("packet_filter", self.packet_filter),
                *codec_stats("ecm", self.rx_decoder.stats),
                *codec_stats("notify", self.notifications.stats)]  # fmt: skip
