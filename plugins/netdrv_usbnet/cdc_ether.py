"""CDC-ECM minidriver, after Linux ``drivers/net/usb/cdc_ether.c``.

Binding (``usbnet_generic_cdc_bind`` + ``usbnet_cdc_bind``): parse the
control interface's functional descriptors (Header, Union, Ethernet
Networking), claim the control and data interfaces, select the data
interface's alternate setting with the two bulk endpoints (they do not exist
in alt 0), take the interrupt endpoint of the control interface, read the MAC
from the iMACAddress string descriptor — 12 hex digits; a bad string gives a
random locally administered MAC and a warning — and program the packet
filter.

Data: one Ethernet frame per bulk transfer both ways.  A transfer that ends
on a full packet is terminated with a zero-length packet (FLAG_SEND_ZLP), so
devices that need it (the simulator's ``drop_zlp``) never merge two frames.

Notifications (interrupt endpoint): NETWORK_CONNECTION → carrier;
CONNECTION_SPEED_CHANGE (possibly split across two interrupt transfers) →
ethtool speed.
"""

from __future__ import annotations

import errno
from typing import Any

import usb.core
import usb.util

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
    FLAG_SEND_ZLP,
    BindError,
    MiniDriver,
    RxMode,
    UsbNet,
    codec_stats,
    round_up,
    usb_errno,
)

__all__ = ["CdcEther", "CdcMixin"]


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
            text = usb.util.get_string(un.udev, index)
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
        return mac

    # -- filters (kevent worker, or the binding thread) ------------------------------------------
    def cdc_set_rx_mode(self, un: UsbNet, mode: RxMode) -> None:
        """``usbnet_cdc_update_filter`` plus perfect multicast filters when they fit."""
        filt = ecm.DIRECTED | ecm.BROADCAST
        if mode.promisc:
            filt |= ecm.PROMISCUOUS
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
    """CDC Ethernet Control Model (``cdc_info`` in Linux)."""

    name = "cdc_ether"
    description = "CDC Ethernet Device"
    flags = FLAG_ETHER | FLAG_POINTTOPOINT | FLAG_LINK_INTR | FLAG_SEND_ZLP

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
        mss = self.ether.wMaxSegmentSize or ecm.ECM_DEFAULT_MAX_SEGMENT_SIZE
        un.hard_mtu = mss
        un.max_mtu = mss - 14
        self.rx_decoder.max_frame = mss + 4  # a VLAN tag (or the FCS some devices append)
        un.rx_urb_size = round_up(mss + 4, un.in_mps)
        un.mac = self.read_mac(un)
        self.cdc_set_rx_mode(un, RxMode())

    def status(self, un: UsbNet, data: bytes) -> None:
        """See :meth:`CdcMixin.cdc_status`."""
        self.cdc_status(un, data)

    def status_reset(self) -> None:
        """Drop a half-received split notification."""
        self.notifications.reset()

    def rx_fixup(self, un: UsbNet, transfer: bytes) -> list[tuple[bytes | memoryview, bool]]:
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
