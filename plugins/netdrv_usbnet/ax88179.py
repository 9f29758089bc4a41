"""ASIX AX88179/AX88178A minidriver, after Linux ``drivers/net/usb/ax88179_178a.c``.

Vendor requests reach the MAC registers (``AX_ACCESS_MAC``) and the PHY
(``AX_ACCESS_PHY``).  Binding runs Linux's ``ax88179_reset``: PHY power-up,
clocks, MAC from NODE_ID (random, with a warning, when it is not a valid
unicast address), bulk-IN aggregation, checksum offload, RX_CTL with START
and MEDIUM_STATUS_MODE with RECEIVE_EN (nothing is received without both),
then autonegotiation.

Link: the interrupt endpoint's status word (bit 16); a link-up report runs
``link_reset`` in the kevent worker — read GMII_PHY_PHYSR for speed/duplex,
write the medium mode and the bulk-IN aggregation for that speed — and only
then is the carrier turned on.

Link settings (``ethtool -s``): ``set_link_ksettings`` is Linux's
``mii_ethtool_set_link_ksettings`` on the PHY — autoneg on sets ANENABLE and
ANRESTART in MII_BMCR; off forces 10/100/1000 Mbit/s, half or full duplex
there (anything else is ``EINVAL``).  The BMCR write runs in the kevent
worker; the PHY renegotiates (the link drops and comes back), and link_reset
programs the medium mode for the new speed and duplex.  ``get_link_ksettings``
reads autoneg and a forced mode from BMCR, as ``mii_ethtool_get_link_ksettings``
does (the driver keeps the value it wrote: no control transfer on the loop).

Data: bulk IN transfers carry many frames with a trailer (footer + one
4-byte header per frame; AX88179A/772D firmware inserts dummy headers, which
are skipped); a header with the chip's CRC/drop flags or a footer out of
bounds counts as an rx error.  Frames whose TCP/UDP checksum the chip
verified are marked CHECKSUM_UNNECESSARY.  Bulk OUT: an 8-byte header per
frame; the frames the writer has at hand go back to back in one transfer of
up to :data:`TX_AGG_MAX` bytes (the chip parses the records one after the
other; one pyusb transfer per frame would cost more than the frame), and a
transfer ending on a full packet gets a 1-byte pad (the padding bits in its
last header say so), as Linux does.  MTU up to 4088 (jumbo mode).
"""

from __future__ import annotations

import errno
import struct
import time
from dataclasses import replace
from typing import Any

from netdrv_core.ether import is_valid_ether_addr
from netdrv_core.ethtool import DUPLEX_FULL, DUPLEX_HALF, LinkSettings
from netdrv_core.netdevice import NETIF_F_RXCSUM

from .codecs import Ax88179RxDecoder, parse_interrupt
from .codecs import ax88179 as ax
from .codecs.ax88179 import TX_HEADER_LEN, encode_tx_many
from .core import (
    FLAG_ETHER,
    FLAG_FRAMING_AX,
    FLAG_LINK_INTR,
    BindError,
    MiniDriver,
    RxMode,
    TxTransfer,
    UsbNet,
    codec_stats,
    default_set_mac_address,
)

__all__ = ["Ax88179"]

MAX_MTU = 4088
"""Linux: ``dev->net->max_mtu = 4088``."""
RX_BUF_SIZE = 1024 * (max(cfg[3] for cfg in ax.AX88179_BULKIN_SIZE) + 2)
"""Large enough for every bulk-IN aggregation setting link_reset may choose."""
TX_AGG_MAX = 16384
"""Bytes of [header][frame] records packed into one bulk OUT transfer (a larger frame
travels alone)."""


class Ax88179(MiniDriver):
    """ASIX AX88179 USB 3.0 gigabit Ethernet (``ax88179_info``)."""

    name = "ax88179_178a"
    description = "ASIX AX88179 USB 3.0 Gigabit Ethernet"
    flags = FLAG_ETHER | FLAG_FRAMING_AX | FLAG_LINK_INTR

    def __init__(self) -> None:
        self.rx_decoder = Ax88179RxDecoder(copy=False)
        self.rx_stats = self.rx_decoder.stats
        self.link: bool | None = None
        self.reset_failed = False
        """link_reset did not finish (control error, PHY not up yet): a later link-up
        report runs it again, as Linux does by comparing each report with the carrier."""
        self.rx_ctl = 0
        self.medium = 0
        self.bmcr = ax.BMCR_ANENABLE
        """MII_BMCR as last written (autoneg, or the forced speed and duplex)."""
        self.mc_filter = b""
        self.tx_too_big = 0
        self.delays = True

    # -- register access ----------------------------------------------------------------------
    def read_mac_reg(self, un: UsbNet, reg: int, size: int) -> bytes:
        """``ax88179_read_cmd(AX_ACCESS_MAC, reg, size)``."""
        data = un.ctrl_in(ax.REQ_TYPE_VENDOR_IN, ax.AX_ACCESS_MAC, reg, size, size)
        if len(data) < size:
            raise BindError(f"{un}: short read of MAC register 0x{reg:02x}")
        return data

    def write_mac_reg(self, un: UsbNet, reg: int, data: bytes) -> None:
        """``ax88179_write_cmd(AX_ACCESS_MAC, reg, len, data)``."""
        un.ctrl_out(ax.REQ_TYPE_VENDOR_OUT, ax.AX_ACCESS_MAC, reg, len(data), data)

    def write_u8(self, un: UsbNet, reg: int, value: int) -> None:
        """One register byte."""
        self.write_mac_reg(un, reg, bytes([value & 0xFF]))

    def write_u16(self, un: UsbNet, reg: int, value: int) -> None:
        """A little-endian register word."""
        self.write_mac_reg(un, reg, struct.pack("<H", value & 0xFFFF))

    def read_phy(self, un: UsbNet, reg: int) -> int:
        """A PHY register through ``AX_ACCESS_PHY``."""
        data = un.ctrl_in(ax.REQ_TYPE_VENDOR_IN, ax.AX_ACCESS_PHY, ax.AX88179_PHY_ID, reg, 2)
        return struct.unpack("<H", data[:2])[0] if len(data) >= 2 else 0

    def write_phy(self, un: UsbNet, reg: int, value: int) -> None:
        """Write a PHY register."""
        un.ctrl_out(ax.REQ_TYPE_VENDOR_OUT, ax.AX_ACCESS_PHY, ax.AX88179_PHY_ID, reg,
                    struct.pack("<H", value & 0xFFFF))  # fmt: skip

    def _sleep(self, seconds: float) -> None:
        if self.delays:  # real PHYs need these; the simulator does not
            time.sleep(seconds)

    # -- bind (binding thread) ----------------------------------------------------------------
    def bind(self, un: UsbNet, intf: Any) -> None:
        """Claim the vendor interface, endpoints, then ``ax88179_reset``."""
        self.delays = not un.simulated
        un.claim(intf.bInterfaceNumber)
        un.use_endpoints(intf)
        if un.ep_int is None:
            bad = f" ({'; '.join(un.bad_endpoints)})" if un.bad_endpoints else ""
            raise BindError(
                f"{un}: no interrupt endpoint{bad}: the AX88179 reports its link "
                f"there (not an AX88179, or broken descriptors; check `lsusb -v`)"
            )
        un.hard_mtu = 1514
        un.max_mtu = MAX_MTU
        un.rx_urb_size = 1024 * 20  # Linux ax88179_bind, until link_reset picks the real one
        un.rx_buf_size = RX_BUF_SIZE
        un.features |= NETIF_F_RXCSUM
        un.rx_csum = True
        un.port_type = "tp"
        self.reset(un)

    def reset(self, un: UsbNet) -> None:
        """``ax88179_reset``: power, clocks, MAC, aggregation, offloads, RX_CTL, medium mode."""
        self.write_u16(un, ax.AX_PHYPWR_RSTCTL, 0)
        self.write_u16(un, ax.AX_PHYPWR_RSTCTL, ax.AX_PHYPWR_RSTCTL_IPRL)
        self._sleep(0.2)
        self.write_u8(un, ax.AX_CLK_SELECT, ax.AX_CLK_SELECT_ACS | ax.AX_CLK_SELECT_BCS)
        self._sleep(0.1)
        mac = self.read_mac_reg(un, ax.AX_NODE_ID, 6)
        if is_valid_ether_addr(mac):
            un.mac = mac
        else:
            un.mac = un.random_mac(f"NODE_ID holds {mac.hex(':')}, not a unicast address")
            self.write_mac_reg(un, ax.AX_NODE_ID, un.mac)
        self.write_mac_reg(un, ax.AX_RX_BULKIN_QCTRL, ax.AX88179_BULKIN_SIZE[0])
        self.write_u8(un, ax.AX_PAUSE_WATERLVL_LOW, 0x34)
        self.write_u8(un, ax.AX_PAUSE_WATERLVL_HIGH, 0x52)
        csum = (ax.AX_RXCOE_IP | ax.AX_RXCOE_TCP | ax.AX_RXCOE_UDP | ax.AX_RXCOE_TCPV6
                | ax.AX_RXCOE_UDPV6)  # fmt: skip
        self.write_u8(un, ax.AX_RXCOE_CTL, csum)
        self.write_u8(un, ax.AX_TXCOE_CTL, csum)
        self.set_rx_mode(un, RxMode())
        self.write_u8(un, ax.AX_MONITOR_MOD, ax.AX_MONITOR_MODE_PMETYPE
                      | ax.AX_MONITOR_MODE_PMEPOL | ax.AX_MONITOR_MODE_RWMP)  # fmt: skip
        self.medium = ax.medium_mode(1000, True)
        self.write_u16(un, ax.AX_MEDIUM_STATUS_MODE, self.medium)
        self.write_phy(un, ax.MII_BMCR, ax.BMCR_ANENABLE | ax.BMCR_ANRESTART)
        self.bmcr = ax.BMCR_ANENABLE  # ANRESTART clears itself

    # -- link settings (the loop) -------------------------------------------------------------
    def get_link_ksettings(self, un: UsbNet, ks: LinkSettings) -> LinkSettings:
        """``mii_ethtool_get_link_ksettings``: autoneg from BMCR; when it is off, the
        forced speed and duplex (else what link_reset read from the PHY)."""
        autoneg, speed, full = ax.decode_bmcr(self.bmcr)
        if autoneg:
            return replace(ks, autoneg=True)
        return replace(ks, autoneg=False, speed=speed, duplex=DUPLEX_FULL if full else DUPLEX_HALF)

    def set_link_ksettings(self, un: UsbNet, ks: LinkSettings) -> int:
        """``ax88179_set_link_ksettings`` → ``mii_ethtool_set_link_ksettings``: BMCR
        with autoneg (and a restart), or the forced 10/100/1000 Mbit/s half/full."""
        if not ks.autoneg and (
            ks.speed not in (10, 100, 1000) or ks.duplex not in (DUPLEX_HALF, DUPLEX_FULL)
        ):
            return -errno.EINVAL
        bmcr = ax.encode_bmcr(self.bmcr, bool(ks.autoneg), ks.speed, ks.duplex == DUPLEX_FULL)
        if bmcr == self.bmcr:  # mii: a forced mode is written only when it differs
            return 0
        self.bmcr = bmcr & ~ax.BMCR_ANRESTART
        un.defer(self.write_phy, un, ax.MII_BMCR, bmcr)
        return 0

    # -- link (interrupt thread / kevent worker) ----------------------------------------------
    def status(self, un: UsbNet, data: bytes) -> None:
        """``ax88179_status``: bit 16 of the first status word is the link."""
        st = parse_interrupt(data)
        if st is None:
            return
        if st.link != self.link or (st.link and self.reset_failed):
            self.link = st.link
            self.reset_failed = False
            un.link_change(st.link, True)

    def link_reset(self, un: UsbNet) -> bool:
        """``ax88179_link_reset``: PHY speed/duplex → medium mode and bulk-IN aggregation."""
        self.reset_failed = True  # until the end: an exception or no PHY link leaves it set
        physr = self.read_phy(un, ax.GMII_PHY_PHYSR)
        link, speed, full = ax.decode_physr(physr)
        if not link:
            return False
        usb_status = self.read_mac_reg(un, ax.PHYSICAL_LINK_STATUS, 1)[0]
        mtu = un.dev.mtu if un.dev is not None else 1500
        qctrl, rx_urb_size = ax.bulkin_config(speed, usb_status)
        self.write_mac_reg(un, ax.AX_RX_BULKIN_QCTRL, qctrl)
        un.rx_urb_size = rx_urb_size
        self.medium = ax.medium_mode(speed, full, mtu)
        self.write_u16(un, ax.AX_MEDIUM_STATUS_MODE, self.medium)
        un.set_link_speed(speed * 1_000_000)
        un.duplex = DUPLEX_FULL if full else DUPLEX_HALF
        self.reset_failed = False
        return True

    # -- data -----------------------------------------------------------------------------------
    def rx_fixup(
        self, un: UsbNet, transfer: bytes | bytearray | memoryview
    ) -> list[tuple[bytes | memoryview, bool]]:
        """``ax88179_rx_fixup``: frames from the trailer's headers, checksum verdicts kept."""
        return self.rx_decoder.decode_frames(transfer)

    def tx_fixup(self, un: UsbNet, frames: list[bytes]) -> tuple[list[TxTransfer], int]:
        """``ax88179_tx_fixup``: an 8-byte header per frame, records packed into transfers
        of up to :data:`TX_AGG_MAX` bytes; empty frames are dropped."""
        out: list[TxTransfer] = []
        batch: list[bytes] = []
        dropped = size = nbytes = 0
        for f in frames:
            n = len(f)
            if n == 0:
                dropped += 1
                self.tx_too_big += 1
                continue
            if batch and size + TX_HEADER_LEN + n > TX_AGG_MAX:
                out.append((encode_tx_many(batch, max_packet=un.out_mps), len(batch), nbytes))
                batch = []
                size = nbytes = 0
            batch.append(f)
            size += TX_HEADER_LEN + n
            nbytes += n
        if batch:
            out.append((encode_tx_many(batch, max_packet=un.out_mps), len(batch), nbytes))
        return out, dropped

    def set_rx_mode(self, un: UsbNet, mode: RxMode) -> None:
        """``ax88179_set_multicast``: RX_CTL and the 64-bit hash filter."""
        ctl, filt = ax.rx_mode(promisc=mode.promisc, allmulti=mode.allmulti,
                               mc_addrs=list(mode.mc_list))  # fmt: skip
        if filt is not None:
            self.write_mac_reg(un, ax.AX_MULFLTARY, filt)
            self.mc_filter = filt
        self.write_u16(un, ax.AX_RX_CTL, ctl)
        self.rx_ctl = ctl

    def change_mtu(self, un: UsbNet, dev: Any, new_mtu: int) -> int:
        """``ax88179_change_mtu``: jumbo mode above 1500."""
        dev.mtu = new_mtu
        un.defer(self._apply_mtu, un, new_mtu)
        return 0

    def _apply_mtu(self, un: UsbNet, mtu: int) -> None:
        data = un.ctrl_in(ax.REQ_TYPE_VENDOR_IN, ax.AX_ACCESS_MAC, ax.AX_MEDIUM_STATUS_MODE, 2, 2)
        mode = struct.unpack("<H", data[:2])[0]
        mode = mode | ax.AX_MEDIUM_JUMBO_EN if mtu > 1500 else mode & ~ax.AX_MEDIUM_JUMBO_EN
        self.write_u16(un, ax.AX_MEDIUM_STATUS_MODE, mode)
        self.medium = mode

    def set_mac_address(self, un: UsbNet, dev: Any, addr: bytes) -> int:
        """``ax88179_set_mac_addr``: NODE_ID follows (the chip filters on it)."""
        ret = default_set_mac_address(un, dev, addr)
        if ret == 0:
            un.mac = bytes(addr)
            un.defer(self.write_mac_reg, un, ax.AX_NODE_ID, bytes(addr))
        return ret

    def private_stats(self) -> list[tuple[str, int]]:
        """Registers and decoder counters."""
        return [("rx_ctl", self.rx_ctl), ("medium_mode", self.medium),
                ("tx_too_big", self.tx_too_big),
                *codec_stats("ax", self.rx_decoder.stats)]  # fmt: skip
