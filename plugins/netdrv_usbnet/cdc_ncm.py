"""CDC-NCM minidriver, after Linux ``drivers/net/usb/cdc_ncm.c``.

Binding (``cdc_ncm_bind_common``): the CDC descriptors as for ECM (plus the
NCM functional descriptor's capabilities), both interfaces claimed, the data
interface's alternate setting toggled (data setting, then 0: some functions
reset properly only so, Linux says) and left in alternate setting 0 while the
NTB parameters are negotiated — GET_NTB_PARAMETERS, the NTB format,
SET_NTB_INPUT_SIZE, the maximum datagram size, CRC off — then the data
alternate setting with the bulk endpoints (on real hardware 10 ms later, as
Linux waits for some firmware).

MTU changes (``cdc_ncm_change_mtu``): any MTU up to the maximum, and the
function is told the matching maximum datagram size (SET_MAX_DATAGRAM_SIZE).

NTB format (Linux >= 5.10): NTB16 whenever the adapter offers it, NTB32
("ncmh"/"ncm0", 32-bit block length, pointers and datagram entries) only for
an adapter that offers NTB32 alone.  SET_NTB_FORMAT is sent when NTB32 is
offered (wValue 0 for NTB16, 1 for NTB32); an adapter that refuses it keeps
its default, which for an NTB32-only one can only be NTB32.  With NTB32 the
32-bit dwNtbInMaxSize/dwNtbOutMaxSize are not capped at 65535.

Data: NTB16 (or NTB32) both ways (:mod:`netdrv_usbnet.codecs.cdc_ncm`).  Bulk IN reads
exactly the negotiated NTB input size (an NTB of exactly that size is not
followed by a ZLP).  On TX the writer packs every frame queued at that moment
into as few NTBs as the device's limits allow (up to 40 datagrams each, like
Linux), aligned as GET_NTB_PARAMETERS asks.  The decoder bounds-checks every
index and length the device sends; malformed NTBs count as rx errors.

TX termination, as Linux's ``cdc_ncm_info`` ("CDC NCM (NO ZLP)"): no ZLP is
ever sent (some devices misbehave on one).  tx_max is the device's
dwNtbOutMaxSize or, when smaller, no multiple of the bulk OUT wMaxPacketSize
(``cdc_ncm_update_rxtx_max`` adds one); an NTB longer than min_tx_pkt
(tx_max - 3 packets, at least 512) is zero-padded to tx_max, and a shorter
one that ends on a full packet gets one zero byte — both inside wBlockLength
(``cdc_ncm_fill_tx_frame``).  A full-size NTB of exactly dwNtbOutMaxSize
needs no terminator: the device ends the transfer at its maximum.  The core
adds nothing to a FLAG_MULTI_PACKET minidriver's transfers.
:class:`CdcNcmZlp` (``cdc_ncm_zlp_info``, DisplayLink docks) sets
FLAG_SEND_ZLP instead: no padding to tx_max, and a ZLP after a full-size NTB
that is a packet multiple.

:class:`AppleNcm` is the iPhone's NCM function, which has no interrupt
endpoint: its carrier is on while the interface is up.
"""

from __future__ import annotations

import errno
import logging
import struct
import time
from typing import Any

import usb.core

from .cdc_ether import CdcMixin
from .codecs import FramingError, NtbDecoder, NtbEncoder, NtbParameters
from .codecs import cdc_ecm as ecm
from .codecs._common import ETH_HLEN
from .codecs.cdc_ncm import DPE16_LENGTH, DPE32_LENGTH, NTB_FORMAT_NTB32, select_ntb_format
from .core import (
    FLAG_ETHER,
    FLAG_LINK_INTR,
    FLAG_MULTI_PACKET,
    FLAG_NO_SETINT,
    FLAG_POINTTOPOINT,
    FLAG_SEND_ZLP,
    BindError,
    MiniDriver,
    RxMode,
    TxTransfer,
    UsbNet,
    codec_stats,
    usb_errno,
)

__all__ = ["AppleNcm", "CdcNcm", "CdcNcmZlp", "min_tx_pkt"]

NTB_RX_MAX = 16384
"""NTB input size we ask for (Linux CDC_NCM_NTB_DEF_SIZE_RX is 16 KiB too)."""
NTB_TX_MAX = 16384
NTB_RX_CAP = 65536
"""Largest bulk IN buffer when the adapter refuses SET_NTB_INPUT_SIZE (Linux
CDC_NCM_NTB_MAX_SIZE_RX): an NTB32 adapter's dwNtbInMaxSize may say up to 4 GiB."""
DATAGRAMS_PER_NTB = 40
"""Linux CDC_NCM_DPT_DATAGRAMS_MAX."""
MAX_DATAGRAM_SIZE = 8192
"""Linux CDC_NCM_MAX_DATAGRAM_SIZE."""
CDC_NCM_MIN_TX_PKT = 512
"""The smallest NTB padded to tx_max (Linux CDC_NCM_MIN_TX_PKT)."""


def min_tx_pkt(tx_max: int, maxpacket: int) -> int:
    """Linux's ``clamp_t(u16, tx_max - 3 * maxpacket, CDC_NCM_MIN_TX_PKT, tx_max)``: never
    pad more than 3 full USB packets per transfer.

    Below zero the u16 cast wraps to a large value, clamped to tx_max (no padding).

    >>> min_tx_pkt(16385, 512), min_tx_pkt(2048, 512), min_tx_pkt(1514, 1024)
    (14849, 512, 1514)
    """
    val = tx_max - 3 * maxpacket
    if val < 0:
        return tx_max
    return min(max(val, CDC_NCM_MIN_TX_PKT), tx_max)


class CdcNcm(CdcMixin, MiniDriver):
    """CDC Network Control Model (``cdc_ncm_info``): NTBs end with a short packet, no ZLP."""

    name = "cdc_ncm"
    description = "CDC NCM (NO ZLP)"
    flags = (FLAG_ETHER | FLAG_POINTTOPOINT | FLAG_NO_SETINT | FLAG_MULTI_PACKET
             | FLAG_LINK_INTR)  # fmt: skip

    def __init__(self) -> None:
        self._init_cdc()
        self.params = NtbParameters()
        self.rx_max = NTB_RX_MAX
        self.tx_max = NTB_TX_MAX
        self.min_tx_pkt = NTB_TX_MAX
        self.max_datagram = 1514
        self.caps = 0
        self.ntb32 = False
        self.rx_decoder = NtbDecoder(copy=False)
        self.rx_stats = self.rx_decoder.stats
        self.encoder = NtbEncoder()
        self.tx_ntbs = 0
        self.tx_datagrams = 0
        self.tx_too_big = 0
        self.data_altsetting = 1
        self.in_data_alt0 = False  # binding, between the NTB negotiation and the data alt
        self.alt0_requests: list[tuple[int, int, bytes]] = []
        """The accepted requests whose settings data alt 0 resets (NCM 1.0 §7.2): sent
        again after a runtime SET_NET_ADDRESS, which needs alt 0."""

    # -- bind (binding thread) --------------------------------------------------------------------
    def bind(self, un: UsbNet, intf: Any) -> None:
        """Descriptors, interfaces, NTB negotiation in data alt 0, then the data alt setting."""
        self.cdc_parse(un, intf)
        self.caps = self.fd.ncm.bmNetworkCapabilities if self.fd.ncm is not None else 0
        un.claim(self.ctrl_intf)
        un.claim(self.data_intf)
        alt = self.data_alt(un)
        self.data_altsetting = alt.bAlternateSetting
        # cdc_ncm_bind_common: "Some devices will not reset properly unless they are
        # configured first.  Toggle the altsetting to force a reset."
        un.set_altsetting(self.data_intf, alt.bAlternateSetting)
        un.set_altsetting(self.data_intf, 0)  # NTB parameters are set while the data path is off
        self.in_data_alt0 = True
        self.setup(un)
        # SET_NET_ADDRESS (for a random MAC) only in data alt 0 too (NCM 1.0 §6.2).
        un.mac = self.read_mac(un)
        self.cdc_program_address(un, un.mac)
        self.in_data_alt0 = False
        if not un.simulated:
            # "Some firmwares need a pause here or they will silently fail to set up the
            # interface properly" (Linux, after cdc_ncm_init; Sierra Wireless MC7455).
            time.sleep(0.01)
        un.set_altsetting(self.data_intf, alt.bAlternateSetting)
        un.use_endpoints(alt, intf)
        self.update_tx_max(un.out_mps)
        self.cdc_check_status_endpoint(un)
        # A frame must also fit one OUT NTB (dwNtbOutMaxSize may be small while the
        # datagram size is jumbo): a larger MTU would only make frames tx_dropped.
        largest = min(self.max_datagram, self.encoder.max_frame_size)
        un.hard_mtu = largest
        un.max_mtu = largest - 14
        un.rx_urb_size = un.rx_buf_size = self.rx_max
        self.cdc_set_rx_mode(un, RxMode())

    def setup(self, un: UsbNet) -> None:
        """``cdc_ncm_setup``: NTB parameters, format, input size, datagram size, CRC."""
        try:
            raw = un.ctrl_in(ecm.REQ_TYPE_CLASS_IN, ecm.GET_NTB_PARAMETERS, 0, self.ctrl_intf,
                             NtbParameters.SIZE)  # fmt: skip
            params = NtbParameters.parse(raw)
        except FramingError as exc:
            raise BindError(f"{un}: GET_NTB_PARAMETERS: {exc}") from exc
        except usb.core.USBError as exc:
            if usb_errno(exc) != errno.EPIPE:
                raise
            raise BindError(f"{un}: the adapter refused GET_NTB_PARAMETERS") from exc
        formats = params.bmNtbFormatsSupported
        ntb32 = select_ntb_format(formats)  # NTB16 if offered, as Linux prefers
        if ntb32 is None:
            raise BindError(f"{un}: the adapter supports neither NTB16 nor NTB32 "
                            f"(bmNtbFormatsSupported {formats:#06x})")  # fmt: skip
        self.ntb32 = ntb32
        self.params = params.sanitized(ntb32=ntb32)
        self.alt0_requests = []
        if formats & NTB_FORMAT_NTB32:
            # Only in data alt 0 (NCM 1.0 §6.2.7).  Refused: the adapter keeps its default,
            # NTB16 if it has it (NCM 1.0 §7.2), else NTB32 (Linux only logs it too).
            self._optional(un, ecm.SET_NTB_FORMAT, 1 if ntb32 else 0, alt0=True)
        # NTB input size: what we read per bulk IN transfer.
        want = max(2048, min(NTB_RX_MAX, self.params.dwNtbInMaxSize))
        data = struct.pack("<I", want)
        if self.caps & ecm.NCM_NCAP_NTB_INPUT_SIZE:
            data += struct.pack("<HH", 0, 0)  # dwNtbInMaxSize + wNtbInMaxDatagrams (0: any)
        accepted = self._optional(un, ecm.SET_NTB_INPUT_SIZE, 0, data, alt0=True)
        self.rx_max = want if accepted else min(self.params.dwNtbInMaxSize, NTB_RX_CAP)
        # Maximum datagram size (the MTU).
        mss = self.ether.wMaxSegmentSize or 1514
        self.max_datagram = max(1514, min(mss, MAX_DATAGRAM_SIZE))
        if self.caps & ecm.NCM_NCAP_MAX_DATAGRAM_SIZE:
            try:
                cur = struct.unpack("<H", un.ctrl_in(ecm.REQ_TYPE_CLASS_IN,
                                                     ecm.GET_MAX_DATAGRAM_SIZE, 0,
                                                     self.ctrl_intf, 2)[:2])[0]  # fmt: skip
            except (usb.core.USBError, struct.error) as exc:
                if isinstance(exc, usb.core.USBError) and usb_errno(exc) != errno.EPIPE:
                    raise
                cur = self.max_datagram
            if cur != self.max_datagram and not self._optional(
                    un, ecm.SET_MAX_DATAGRAM_SIZE, 0, struct.pack("<H", self.max_datagram)):  # fmt: skip
                self.max_datagram = max(1514, min(cur, self.max_datagram))
        if self.caps & ecm.NCM_NCAP_CRC_MODE:
            self._optional(un, ecm.SET_CRC_MODE, 0, alt0=True)
        # Never more than the device takes, even below the spec's 2048 (as Linux): what it
        # cannot take it drops, while the frames would count as sent here.  Final once the
        # bulk OUT endpoint is known (update_tx_max).
        self.tx_max = min(NTB_TX_MAX, self.params.dwNtbOutMaxSize)
        self.rx_decoder.ntb32 = ntb32
        self.rx_decoder.max_size = self.rx_max
        self.rx_decoder.max_datagram = self.max_datagram + 4
        # As many datagrams as an NTB of this size can hold (Linux sets no limit): the
        # decoder's default would drop the rest of a big NTB of small frames.
        self.rx_decoder.max_datagrams = max(
            self.rx_decoder.max_datagrams,
            self.rx_max // (ETH_HLEN + (DPE32_LENGTH if ntb32 else DPE16_LENGTH)),
        )

    def update_tx_max(self, maxpacket: int) -> None:
        """The TX half of ``cdc_ncm_update_rxtx_max`` for bulk OUT packets of *maxpacket*
        bytes: tx_max, min_tx_pkt and the NTB encoder that ends NTBs accordingly."""
        tx_max = min(NTB_TX_MAX, self.params.dwNtbOutMaxSize)
        if tx_max != self.params.dwNtbOutMaxSize and tx_max % maxpacket == 0:
            tx_max += 1  # a full-size NTB then ends with a short packet
        self.tx_max = tx_max
        self.min_tx_pkt = min_tx_pkt(tx_max, maxpacket)
        # Padding to tx_max is pointless when a ZLP follows full-size NTBs (Linux).
        pad_over = None if self.flags & FLAG_SEND_ZLP else self.min_tx_pkt
        self.encoder = NtbEncoder(self.params, max_datagrams=DATAGRAMS_PER_NTB,
                                  max_size=tx_max, ntb32=self.ntb32, max_packet=maxpacket,
                                  min_tx_pkt=pad_over)  # fmt: skip

    def _optional(self, un: UsbNet, request: int, value: int, data: bytes = b"", *,
                  alt0: bool = False) -> bool:  # fmt: skip
        """A class request the adapter may refuse (STALL): False then.  ``alt0``: a setting
        that data alt 0 resets, remembered in :attr:`alt0_requests` when accepted."""
        try:
            un.ctrl_out(ecm.REQ_TYPE_CLASS_OUT, request, value, self.ctrl_intf, data)
        except usb.core.USBError as exc:
            if usb_errno(exc) != errno.EPIPE:
                raise
            return False
        if alt0:
            self.alt0_requests.append((request, value, data))
        return True

    def cdc_set_net_address(self, un: UsbNet, mac: bytes) -> bool:
        """SET_NET_ADDRESS, which NCM 1.0 (§6.2) allows only while the data interface is in
        alternate setting 0.  Binding, it is there already.  Later (the interface is down:
        ``eth_mac_addr`` refuses a change while up, so no data moves) the data interface goes
        back to alt 0 for the request, the NTB settings alt 0 reset (format, input size, CRC
        mode) are sent again, and the data alternate setting is selected again — after which
        the function reports its link again, as on bind.  False when it STALLs the request."""
        if self.in_data_alt0:
            return super().cdc_set_net_address(un, mac)
        with un.data_paused():
            un.set_altsetting(self.data_intf, 0)
            try:
                return super().cdc_set_net_address(un, mac)
            finally:
                for request, value, data in self.alt0_requests:
                    if not self._optional(un, request, value, data):
                        what = f"class request {request:#04x} (accepted at bind)"
                        un.netdev_log(
                            logging.WARNING, f"the adapter refused {what} after SET_NET_ADDRESS"
                        )
                un.set_altsetting(self.data_intf, self.data_altsetting)

    # -- MTU (the loop; control transfers in the kevent worker) ---------------------------------------
    def change_mtu(self, un: UsbNet, dev: Any, new_mtu: int) -> int:
        """``cdc_ncm_change_mtu``: any MTU up to max_mtu (no ``EDOM``: NTBs end themselves,
        whatever the frames' sizes); the function is told its new maximum datagram size,
        as ``cdc_ncm_set_dgram_size`` does (:meth:`set_dgram_size`)."""
        dev.mtu = new_mtu
        un.defer(self.set_dgram_size, un, new_mtu + ETH_HLEN)
        return 0

    def set_dgram_size(self, un: UsbNet, size: int) -> None:
        """``cdc_ncm_set_dgram_size`` after an MTU change (kevent worker): a function that
        takes SET_MAX_DATAGRAM_SIZE (bmNetworkCapabilities bit 3) and does not have this size
        already (GET_MAX_DATAGRAM_SIZE) gets ``size`` — at least 1514, at most what bind
        negotiated, which stays the receive limit: a function that refuses it keeps sending
        datagrams up to that."""
        if not self.caps & ecm.NCM_NCAP_MAX_DATAGRAM_SIZE:
            return
        size = max(1514, min(size, self.max_datagram))
        try:
            raw = un.ctrl_in(ecm.REQ_TYPE_CLASS_IN, ecm.GET_MAX_DATAGRAM_SIZE, 0, self.ctrl_intf, 2)
            cur = struct.unpack("<H", raw[:2])[0]
        except (usb.core.USBError, struct.error) as exc:
            if isinstance(exc, usb.core.USBError) and usb_errno(exc) != errno.EPIPE:
                raise
            return  # Linux: "GET_MAX_DATAGRAM_SIZE failed", nothing set
        if cur != size and not self._optional(un, ecm.SET_MAX_DATAGRAM_SIZE, 0,
                                               struct.pack("<H", size)):  # fmt: skip
            un.netdev_log(logging.INFO, f"the adapter refused SET_MAX_DATAGRAM_SIZE {size}: it "
                                        f"keeps datagrams of up to {cur} bytes")  # fmt: skip

    # -- data -----------------------------------------------------------------------------------------
    def status(self, un: UsbNet, data: bytes) -> None:
        """Same notifications as ECM."""
        self.cdc_status(un, data)

    def status_reset(self) -> None:
        """Drop a half-received split notification."""
        self.notifications.reset()

    def rx_fixup(
        self, un: UsbNet, transfer: bytes | bytearray | memoryview
    ) -> list[tuple[bytes | memoryview, bool]]:
        """``cdc_ncm_rx_fixup``: every datagram of every NDP, bounds checked."""
        return [(f, False) for f in self.rx_decoder.decode(transfer)]

    def tx_fixup(self, un: UsbNet, frames: list[bytes]) -> tuple[list[TxTransfer], int]:
        """Pack the frames into NTBs (``cdc_ncm_fill_tx_frame``); too large ones are dropped."""
        enc = self.encoder
        out: list[TxTransfer] = []
        dropped = count = size = 0
        i, n = 0, len(frames)
        while i < n:
            j, nbytes = enc.fill(frames, i)  # as many as this NTB takes, in one call
            count += j - i
            size += nbytes
            if j == n:
                break
            f = frames[j]  # the NTB is full, or the frame fits none
            i = j + 1
            try:
                added = enc.add(f)
            except FramingError:
                dropped += 1
                self.tx_too_big += 1
                continue
            if not added:
                out.append((enc.build(), count, size))
                count = size = 0
                enc.add(f)
            count += 1
            size += len(f)
        if enc.pending:
            out.append((enc.build(), count, size))
        self.tx_ntbs += len(out)
        self.tx_datagrams += sum(t[1] for t in out)
        return out, dropped

    def set_rx_mode(self, un: UsbNet, mode: RxMode) -> None:
        """The ECM filter requests (NCM 1.0 §6.2.2-6.2.5)."""
        self.cdc_set_rx_mode(un, mode)

    def private_stats(self) -> list[tuple[str, int]]:
        """NTB sizes, TX batching and decoder counters."""
        return [("ntb_format", 32 if self.ntb32 else 16),
                ("ntb_in_size", self.rx_max), ("ntb_out_max", self.tx_max),
                ("min_tx_pkt", self.min_tx_pkt),
                ("max_datagram_size", self.max_datagram), ("packet_filter", self.packet_filter),
                ("tx_ntbs", self.tx_ntbs), ("tx_datagrams", self.tx_datagrams),
                ("tx_too_big", self.tx_too_big),
                *codec_stats("ntb", self.rx_decoder.stats),
                *codec_stats("notify", self.notifications.stats)]  # fmt: skip


class CdcNcmZlp(CdcNcm):
    """``cdc_ncm_zlp_info``: the same with FLAG_SEND_ZLP, for devices that need a ZLP after a
    full-size NTB (DisplayLink docking stations)."""

    description = "CDC NCM (SEND ZLP)"
    flags = CdcNcm.flags | FLAG_SEND_ZLP


class AppleNcm(CdcNcm):
    """The iPhone's NCM tethering function: no interrupt endpoint, carrier on while up."""

    description = "Apple iPhone NCM"
    flags = CdcNcm.flags & ~FLAG_LINK_INTR
