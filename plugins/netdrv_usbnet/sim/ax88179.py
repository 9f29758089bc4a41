"""Simulated ASIX AX88179 / AX88179A USB 3.0 gigabit adapter (0b95:1790).

One vendor-specific interface (class 0xFF) with interrupt IN 0x81 (8 bytes),
bulk IN 0x82 and bulk OUT 0x03.  Control: vendor requests exactly as Linux
``ax88179_178a.c`` issues them (see :mod:`netdrv_usbnet.codecs.ax88179`):

* ``AX_ACCESS_MAC`` (0x01): a 256-byte register file; reads/writes of
  ``wLength`` bytes at ``wValue`` (past 0xFF -> STALL).  NODE_ID (0x10) holds
  the MAC (writable; filtering follows it), RX_CTL (0x0B), MULFLTARY (0x16),
  MEDIUM_STATUS_MODE (0x22), PHYSICAL_LINK_STATUS (0x02, reports the USB
  speed), RX_BULKIN_QCTRL (0x2E: byte 3 sets the aggregation limit to
  ``1024 * (size + 2)`` bytes, the rx_urb_size Linux derives).
* ``AX_ACCESS_PHY`` (0x02) with ``wValue = 3`` (the PHY id) and
  ``wIndex = register``: BMCR, BMSR (link), PHYSID, ADVERTISE, LPA,
  CTRL1000/STAT1000 and GMII_PHY_PHYSR (link/speed/duplex); other PHY ids
  read 0xFFFF.  BMCR decides the mode: with ANENABLE the link runs at the
  cable's speed (``speed_bps``), full duplex; without it at the speed and
  duplex BMCR forces (``ethtool -s … autoneg off``).  A write that changes
  the mode while the link is up, or restarts autonegotiation (BMCR_ANRESTART:
  bind, ``ethtool -r``), renegotiates: the interrupt endpoint reports the link
  down, then up again, and PHYSR reports the (new) mode.  Clause 45 MMD
  registers (EEE ability, advertisement, the partner's) through MII_MMD_CTRL
  and MII_MMD_DATA as IEEE 802.3 annex 22D has it: function 00 reaches the
  address register of the MMD that DEVAD selects (each MMD has its own),
  01 the register it points at, 10 and 11 that register with the address
  incremented after each access (10) or each write (11).  Vendor pages (page
  select 0x1F) hold what is written there (page 3's EEE switch).
* ``AX_ACCESS_EEPROM`` (0x04): a 256-byte EEPROM (``eeprom``) read and written
  as 16-bit words, ``wValue`` = word index, two bytes each (past the end ->
  STALL).  Its image: the node ID (MAC) in bytes 0-5, then the USB vendor and
  product IDs (little-endian) in bytes 6-9 and byte 10 such that
  ``ax88179_check_eeprom``'s sum over bytes 6-9, folded, plus byte 10 is 0xFF;
  the rest blank (0xFF).  Power-on (and a replug) loads NODE_ID from bytes 0-5,
  so a MAC written there shows after a replug.
* ``AX_ACCESS_EFUS`` reads as blank (0xFF), ``AX_RELOAD_EEPROM_EFUSE`` (what it
  reloads is not modelled) and request 0x91 are accepted, request 0x81
  (TX FIFO status poll of ``ax88179_link_reset``) reads zeros.  Anything
  else STALLs.

Receive path enabled only when the host set ``AX_RX_CTL_START`` in RX_CTL and
``AX_MEDIUM_RECEIVE_EN`` in MEDIUM_STATUS_MODE (as Linux reset/link_reset do).
Filtering: PRO accepts everything; broadcast needs AB; multicast needs AMALL,
or AM with the group's hash bit set in MULFLTARY; unicast must match NODE_ID
(the chip's AP bit is not modelled).  Frames above 1518 bytes are dropped
unless MEDIUM_STATUS_MODE has JUMBO_EN.

Interrupt: an 8-byte status (link = bit 16) is queued when the device is
configured and on every :meth:`set_link` (the real chip repeats it every
interval; the simulator reports changes only, which is deterministic).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.codecs.ax88179 import (
    Ax88179TxDecoder,
    encode_rx_transfer,
    rx_packet_size,
    rx_transfer_size,
)

from .ax88179_tx import TxOffloadEngine
from .descriptors import (
    ConfigDescriptor,
    InterfaceDescriptor,
    bulk_endpoint,
    interrupt_endpoint,
    ss_companion,
)
from .device import SPEED_FULL, SPEED_HIGH, SPEED_SUPER, Stall
from .netdev import SimNetDevice, default_mac, device_descriptor, usb_speed

__all__ = ["Ax88179Model", "eeprom_image"]


def eeprom_image(mac: bytes, vid: int, pid: int) -> bytearray:
    """An AX88179 EEPROM as the simulator starts with it: node ID, USB IDs, their checksum."""
    image = bytearray(b"\xff" * ax.AX_EEPROM_LEN)
    image[0:6] = mac
    struct.pack_into("<HH", image, 6, vid, pid)
    csum = sum(image[6:10])
    image[10] = 0xFF - ((csum >> 8) + (csum & 0xFF))
    return image


class Ax88179Model(SimNetDevice):
    """An AX88179 (``variant="ax88179"``) or AX88179A (``"ax88179a"``) adapter.

    ``ax88179a_dummy_headers`` (default: True for the A variant) makes bulk IN
    transfers carry a dummy header after every per-packet header plus 4 bytes
    of padding before the footer, like the AX88179A/772D firmware.

    ``malformed_next(kind)`` corrupts the next bulk IN transfer:
    ``bad_footer`` (pkt_cnt 0), ``bad_header_count`` (pkt_cnt 0xFFFF, header
    array out of bounds), ``crc_error`` (first packet flagged CRC_ERR) or
    ``truncated`` (first packet length runs past the data area).

    Host OUT transfers are parsed with :class:`Ax88179TxDecoder`
    (``tx_decoder.stats``); parse errors count as ``wire_tx_errors``.  Each record then
    goes through the chip's transmit offload engine (``tx_offload``, see
    :mod:`netdrv_usbnet.sim.ax88179_tx`): checksums as AX_TXCOE_CTL enables them, and TSO
    when its tx_hdr2 carries an MSS; a super-frame it refuses counts as a
    ``wire_tx_errors`` too.
    """

    BULK_IN = 0x82
    BULK_OUT = 0x03
    INTR_IN = 0x81
    MALFORMED_KINDS = frozenset({"bad_footer", "bad_header_count", "crc_error", "truncated"})
    DEFAULT_RX_MAX_TRANSFER = 16384

    def __init__(
        self,
        *,
        speed: str = "super",
        mac: bytes | None = None,
        variant: str = "ax88179",
        link_up: bool = True,
        speed_bps: int = 1_000_000_000,
        ax88179a_dummy_headers: bool | None = None,
        kernel_driver: bool = False,
        vid: int = ax.ASIX_VENDOR_ID,
        pid: int = ax.AX88179_PRODUCT_ID,
    ) -> None:
        """*speed*: "full", "high" or "super" (bulk wMaxPacketSize 64/512/1024)."""
        if variant not in ("ax88179", "ax88179a"):
            raise ValueError("variant must be 'ax88179' or 'ax88179a'")
        speed_code, mps, ss = usb_speed(speed)
        mac = bytes(mac) if mac is not None else default_mac(b"\x00\x0e\xc6")
        self.variant = variant
        self.ax88179a_dummy_headers = (
            variant == "ax88179a" if ax88179a_dummy_headers is None else ax88179a_dummy_headers
        )
        self.rx_max_transfer: int | None = None
        self._rx_open = 0  # bytes of frames and headers in the transfer being filled
        self.tx_decoder = Ax88179TxDecoder()
        self.tx_offload = TxOffloadEngine()
        self.regs = bytearray(256)
        self.eeprom = eeprom_image(mac, vid, pid)
        self.phy: dict[int, int] = {}
        self.paged: dict[tuple[int, int], int] = {}
        """The vendor PHY registers of pages other than 0: (page, register) -> value."""
        self.mmd: dict[tuple[int, int], int] = {}
        """Clause 45 MMD registers, (device, register) -> value, reached through
        MII_MMD_CTRL/MII_MMD_DATA."""
        self.peer_eee = ax.MDIO_EEE_100TX | ax.MDIO_EEE_1000T
        """What the link partner advertises for EEE (its MDIO_AN_EEE_LPABLE, once linked)."""
        self._mmd_ctrl = 0
        self._mmd_addr: dict[int, int] = {}  # each MMD's own address register (IEEE 802.3 45.2)
        self._eee_negotiated = 0
        self.autoneg_restarts = 0
        """BMCR writes that restarted autonegotiation (bind, ``ethtool -s … autoneg on``, -r)."""
        intf = InterfaceDescriptor(
            0,
            0,
            0xFF,
            0xFF,
            0x00,
            endpoints=[
                interrupt_endpoint(
                    self.INTR_IN,
                    8,
                    128 if speed_code == SPEED_FULL else 11,
                    extra=ss_companion(0, 0, 8) if ss else (),
                ),
                bulk_endpoint(self.BULK_IN, mps, extra=ss_companion(3) if ss else ()),
                bulk_endpoint(self.BULK_OUT, mps, extra=ss_companion(3) if ss else ()),
            ],
        )
        config = ConfigDescriptor(1, [[intf]], bmAttributes=0xA0, bMaxPower=124 if ss else 248)
        device = device_descriptor(
            vid,
            pid,
            ss=ss,
            usb2=0x0210,
            device_class=(0xFF, 0xFF, 0x00),
            bcd_device=0x0200 if variant == "ax88179a" else 0x0100,
            strings=(1, 2, 3),
        )
        strings = {
            1: "ASIX Elec. Corp.",
            2: "AX88179A" if variant == "ax88179a" else "AX88179",
            3: "00" + mac.hex().upper(),
        }
        super().__init__(
            device,
            [config],
            strings,
            speed=speed_code,
            kernel_driver=kernel_driver,
            mac=mac,
            link_up=link_up,
            speed_bps=speed_bps,
        )
        self._power_on_registers()

    # -- registers -----------------------------------------------------------

    def _power_on_registers(self) -> None:
        self.regs[:] = bytes(256)
        self.regs[ax.AX_NODE_ID : ax.AX_NODE_ID + 6] = self.eeprom[0:6]  # loaded at power-on
        usb = {SPEED_FULL: ax.AX_USB_FS, SPEED_HIGH: ax.AX_USB_HS, SPEED_SUPER: ax.AX_USB_SS}[
            self.speed
        ]
        self.regs[ax.PHYSICAL_LINK_STATUS] = usb
        self.regs[ax.GENERAL_STATUS] = ax.AX_SECLD
        self.phy = {
            ax.MII_BMCR: 0x1140,
            ax.MII_PHYSID1: 0x001C,
            ax.MII_PHYSID2: 0xC916,
            ax.MII_ADVERTISE: 0x01E1,
            ax.MII_CTRL1000: 0x0200,
            ax.GMII_PHY_PAGE_SELECT: 0,
        }
        self.paged = {}
        # EEE: 100BASE-TX and 1000BASE-T capable, and advertised, at power-on.
        eee = ax.MDIO_EEE_100TX | ax.MDIO_EEE_1000T
        self.mmd = {(ax.MDIO_MMD_PCS, ax.MDIO_PCS_EEE_ABLE): eee,
                    (ax.MDIO_MMD_AN, ax.MDIO_AN_EEE_ADV): eee}  # fmt: skip
        self._mmd_ctrl = 0
        self._mmd_addr = {}
        self._eee_negotiated = self._eee_resolved()
        self.tx_decoder = Ax88179TxDecoder()

    def _reg16(self, reg: int) -> int:
        return struct.unpack_from("<H", self.regs, reg)[0]

    @property
    def mac(self) -> bytes:
        """The NODE_ID register (the host may rewrite it)."""
        return bytes(self.regs[ax.AX_NODE_ID : ax.AX_NODE_ID + 6])

    @property
    def rx_ctl(self) -> int:
        """Current RX_CTL register."""
        return self._reg16(ax.AX_RX_CTL)

    @property
    def medium_mode(self) -> int:
        """Current MEDIUM_STATUS_MODE register."""
        return self._reg16(ax.AX_MEDIUM_STATUS_MODE)

    @property
    def multicast_filter(self) -> bytes:
        """Current 8-byte MULFLTARY register."""
        return bytes(self.regs[ax.AX_MULFLTARY : ax.AX_MULFLTARY + 8])

    def _speed_mbps(self) -> int:
        return max(10, self.speed_bps // 1_000_000)

    def link_mode(self) -> tuple[int, bool]:
        """(Mbit/s, full duplex) the PHY runs at: negotiated with the cable's speed, or
        forced by BMCR."""
        autoneg, speed, full = ax.decode_bmcr(self.phy.get(ax.MII_BMCR, ax.BMCR_ANENABLE))
        return (self._speed_mbps(), True) if autoneg else (speed, full)

    @property
    def eee_enabled(self) -> bool:
        """The PHY's EEE switch (page 3, MII_PHYADDR bit 0: ``ax88179_enable_eee``)."""
        return bool(self.paged.get((ax.GMII_PHY_PGSEL_PAGE3, ax.MII_PHYADDR), 0) & 1)

    def _eee_resolved(self) -> int:
        """The EEE modes both ends advertise (what autonegotiation settles on)."""
        return self.mmd.get((ax.MDIO_MMD_AN, ax.MDIO_AN_EEE_ADV), 0) & self.peer_eee

    def _mmd_read(self) -> int:
        """MII_MMD_DATA read (IEEE 802.3 22.2.4.3.11-12, annex 22D): the address register
        of the MMD that MII_MMD_CTRL's DEVAD selects (function 00), or the register it
        points at — the address then incremented by function 10 (post-increment on reads
        and writes), not 01 (no increment) nor 11 (on writes only)."""
        devad, function = self._mmd_ctrl & 0x1F, self._mmd_ctrl >> 14
        addr = self._mmd_addr.get(devad, 0)
        if function == 0:
            return addr
        if function == 2:
            self._mmd_addr[devad] = (addr + 1) & 0xFFFF
        if (devad, addr) == (ax.MDIO_MMD_AN, ax.MDIO_AN_EEE_LPABLE):
            return self.peer_eee if self.link_up else 0
        return self.mmd.get((devad, addr), 0)

    def _mmd_write(self, value: int) -> None:
        """MII_MMD_DATA write: the selected MMD's address (function 00), or the register it
        points at (only EEE advertisement is writable), then the address incremented by
        functions 10 and 11."""
        devad, function = self._mmd_ctrl & 0x1F, self._mmd_ctrl >> 14
        if function == 0:
            self._mmd_addr[devad] = value & 0xFFFF
            return
        addr = self._mmd_addr.get(devad, 0)
        if function != 1:
            self._mmd_addr[devad] = (addr + 1) & 0xFFFF
        if (devad, addr) == (ax.MDIO_MMD_AN, ax.MDIO_AN_EEE_ADV):
            self.mmd[(devad, addr)] = value & 0xFFFF  # (the others: read-only)

    def _phy_read(self, reg: int) -> int:
        page = self.phy.get(ax.GMII_PHY_PAGE_SELECT, 0)
        if page and reg != ax.GMII_PHY_PAGE_SELECT:
            return self.paged.get((page, reg), 0)
        if reg == ax.MII_MMD_CTRL:
            return self._mmd_ctrl
        if reg == ax.MII_MMD_DATA:
            return self._mmd_read()
        link = self.link_up
        speed, full = self.link_mode()
        if reg == ax.MII_BMSR:
            autoneg = self.phy.get(ax.MII_BMCR, 0) & ax.BMCR_ANENABLE
            done = ax.BMSR_ANEGCOMPLETE if autoneg else 0
            return 0x7949 | ((ax.BMSR_LSTATUS | done) if link else 0)
        if reg == ax.MII_LPA:
            return 0xC5E1 if link else 0
        if reg == ax.MII_STAT1000:
            return 0x3800 if link and speed >= 1000 else 0
        if reg == ax.GMII_PHY_PHYSR:
            return ax.encode_physr(link, speed, full) if link else 0
        return self.phy.get(reg, 0)

    def _phy_write(self, reg: int, value: int) -> None:
        page = self.phy.get(ax.GMII_PHY_PAGE_SELECT, 0)
        if page and reg != ax.GMII_PHY_PAGE_SELECT:
            self.paged[(page, reg)] = value & 0xFFFF
            return
        if reg == ax.MII_MMD_CTRL:
            self._mmd_ctrl = value & 0xFFFF
            return
        if reg == ax.MII_MMD_DATA:
            self._mmd_write(value)
            return
        if reg == ax.MII_BMCR:
            restart = bool(value & ax.BMCR_ANENABLE and value & ax.BMCR_ANRESTART)
            if restart:
                self.autoneg_restarts += 1
            before = self.link_mode()
            eee_before = self._eee_negotiated
            if restart:  # the EEE advertisement takes effect with a negotiation
                self._eee_negotiated = self._eee_resolved()
            self.phy[reg] = value & ~(ax.BMCR_RESET | ax.BMCR_ANRESTART) & 0xFFFF  # self-clearing
            changed = self.link_mode() != before or self._eee_negotiated != eee_before
            if self.link_up and self.configuration and (changed or restart):
                # Renegotiation: the link drops and comes back in the new mode, or with
                # another EEE resolution; an autoneg restart drops it until the negotiation
                # completes even when that ends where it was, as a real PHY does.
                for up in (False, True):
                    self._push_in(self.INTR_IN, ax.build_interrupt(up))
                    self.stats.notifications_queued += 1
            return
        self.phy[reg] = value & 0xFFFF

    def _class_vendor_request(
        self, rt: int, req: int, value: int, index: int, data: bytes | None, length: int
    ) -> bytes | None:
        if rt not in (ax.REQ_TYPE_VENDOR_IN, ax.REQ_TYPE_VENDOR_OUT):
            raise Stall(f"request type {rt:#04x} not supported")
        is_in = rt == ax.REQ_TYPE_VENDOR_IN
        if req == ax.AX_ACCESS_MAC:
            n = length if is_in else len(data or b"")
            if value + n > len(self.regs):
                raise Stall(f"MAC register {value:#x}+{n} out of range")
            if is_in:
                return bytes(self.regs[value : value + n])
            self.regs[value : value + n] = data or b""
            return None
        if req == ax.AX_ACCESS_PHY:
            if is_in:
                v = self._phy_read(index) if value == ax.AX88179_PHY_ID else 0xFFFF
                return struct.pack("<H", v)[:length]
            if data and len(data) >= 2 and value == ax.AX88179_PHY_ID:
                self._phy_write(index, struct.unpack_from("<H", data)[0])
            return None
        if req == ax.AX_ACCESS_EEPROM:
            start = 2 * value
            n = length if is_in else len(data or b"")
            if start + max(n, 1) > len(self.eeprom):
                raise Stall(f"EEPROM word {value:#x} out of range")
            if is_in:
                return bytes(self.eeprom[start : start + n])
            self.eeprom[start : start + n] = data or b""
            return None
        if req == ax.AX_ACCESS_EFUS:
            return b"\xff" * length if is_in else None
        if req == ax.AX_RELOAD_EEPROM_EFUSE or (req == 0x91 and not is_in):
            return None
        if req == ax.AX_ACCESS_TX_FIFO:
            return bytes(length) if is_in else None
        raise Stall(f"vendor request {req:#04x} not supported")

    # -- state ---------------------------------------------------------------

    def _on_configured(self, value: int) -> None:
        self._rx_discard()
        if value:
            self._push_in(self.INTR_IN, ax.build_interrupt(self.link_up))
            self.stats.notifications_queued += 1

    def _on_replug(self) -> None:
        super()._on_replug()
        self._power_on_registers()

    def _rx_enabled(self) -> bool:
        return (
            bool(self.configuration)
            and bool(self.rx_ctl & ax.AX_RX_CTL_START)
            and bool(self.medium_mode & ax.AX_MEDIUM_RECEIVE_EN)
        )

    def _max_rx_frame(self) -> int:
        jumbo = (self.medium_mode & ax.AX_MEDIUM_JUMBO_EN) == ax.AX_MEDIUM_JUMBO_EN
        return 8189 if jumbo else 1518

    def _filter_policy(self) -> tuple[bool, bool, Callable[[bytes], bool], bool]:
        ctl = self.rx_ctl
        hashes = self.multicast_filter

        def multicast(dst: bytes) -> bool:
            if ctl & ax.AX_RX_CTL_AMALL:
                return True
            bit = ax.mcast_hash_bit(dst)
            return bool(ctl & ax.AX_RX_CTL_AM and hashes[bit >> 3] & (1 << (bit & 7)))

        # Unicast must match NODE_ID (the chip's AP bit is not modelled).
        return bool(ctl & ax.AX_RX_CTL_PRO), bool(ctl & ax.AX_RX_CTL_AB), multicast, True

    def _link_notifications(self) -> list[bytes]:
        return [ax.build_interrupt(self.link_up)]

    # -- data path -----------------------------------------------------------

    def _max_transfer(self) -> int:
        if self.rx_max_transfer is not None:
            return self.rx_max_transfer
        size = self.regs[ax.AX_RX_BULKIN_QCTRL + 3]
        return 1024 * (size + 2) if size else self.DEFAULT_RX_MAX_TRANSFER

    def _rx_adder(self) -> Callable[[bytes], bool]:
        limit = self._max_transfer()
        dummy = self.ax88179a_dummy_headers
        empty = rx_transfer_size((), dummy_headers=dummy)

        def add(frame: bytes) -> bool:
            cost = rx_packet_size(len(frame), dummy_headers=dummy)
            if not self._rx_pending:  # a frame always fits an empty transfer
                self._rx_open = empty + cost
            elif self._rx_open + cost > limit:
                return False
            else:
                self._rx_open += cost
            return True

        return add

    def _rx_build(self, frames: list[bytes]) -> bytes:
        return encode_rx_transfer(frames, dummy_headers=self.ax88179a_dummy_headers)

    def _corrupt(self, kind: str, transfer: bytes) -> bytes:
        t = bytearray(transfer)
        end = len(t) - 4
        _pkt_cnt, hdr_off = struct.unpack_from("<HH", t, end)
        if kind == "bad_footer":
            struct.pack_into("<HH", t, end, 0, hdr_off)
        elif kind == "bad_header_count":
            struct.pack_into("<HH", t, end, 0xFFFF, hdr_off)
        else:
            hdr = struct.unpack_from("<I", t, hdr_off)[0]
            if kind == "crc_error":
                hdr |= ax.AX_RXHDR_CRC_ERR
            else:  # truncated
                hdr = (hdr & 0xE000FFFF) | (ax.AX_RXHDR_LEN_MASK << ax.AX_RXHDR_LEN_SHIFT)
            struct.pack_into("<I", t, hdr_off, hdr)
        return bytes(t)

    def _decode_out(self, data: bytes) -> list[bytes]:
        dec = self.tx_decoder
        before = dec.stats.rx_errors
        records = dec.decode_records(data)
        self.stats.wire_tx_errors += dec.stats.rx_errors - before
        engine = self.tx_offload
        refused = engine.stats.tso_errors
        coe = self.regs[ax.AX_TXCOE_CTL]
        limit = self._max_rx_frame()
        out: list[bytes] = []
        for frame, hdr2 in records:
            out += engine.process(frame, hdr2, coe, limit)
        self.stats.wire_tx_errors += engine.stats.tso_errors - refused
        return out
