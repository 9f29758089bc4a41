"""ASIX AX88179/AX88178A minidriver, after Linux ``drivers/net/usb/ax88179_178a.c``.

Vendor requests reach the MAC registers (``AX_ACCESS_MAC``) and the PHY
(``AX_ACCESS_PHY``).  Binding runs Linux's ``ax88179_reset``: PHY power-up,
clocks, MAC from NODE_ID (random, with a warning, when it is not a valid
unicast address), bulk-IN aggregation, checksum offload, RX_CTL with START
and MEDIUM_STATUS_MODE with RECEIVE_EN (nothing is received without both),
then autonegotiation.

Down and up, as ``ax88179_info``'s ``.stop`` and ``.reset``: ``ax88179_stop`` clears
RECEIVE_EN in MEDIUM_STATUS_MODE as the interface goes down, so the chip takes (and
buffers) no frame for a down interface; at the next open ``ax88179_net_reset`` sets it
again when the PHY reports a status (GMII_PHY_PHYSR non-zero), else runs the whole
``ax88179_reset`` (in the kevent worker: it waits for the PHY).  A ``link_reset`` that
runs while the interface is down (reported before it went down) leaves RECEIVE_EN off.

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
``ethtool -r`` is ``usbnet_nway_reset`` → ``mii_nway_restart``: ANRESTART while
autoneg is on, ``EINVAL`` while the PHY is forced.

EEPROM (``ethtool -e/-E``): Linux's ``ax88179_get_eeprom``/``ax88179_set_eeprom``
— :data:`~netdrv_usbnet.codecs.ax88179.AX_EEPROM_LEN` bytes read and written
as 16-bit words with ``AX_ACCESS_EEPROM`` (value = word index, index = 1, two
bytes); a write of an odd offset or length reads the words it shares with the
bytes around it first, waits 20 ms after each word and ends with
``AX_RELOAD_EEPROM_EFUSE``; the magic is ``AX88179_EEPROM_MAGIC`` (0x17900b95),
and a write with another one is ``EINVAL``.  Byte order: byte ``2i`` and ``2i + 1`` of
the dump are word ``i``'s two bytes as the chip sends them — Linux's get_eeprom copies them
raw (``__ax88179_read_cmd``, no ``le16_to_cpus``), and its set_eeprom's le16 conversions
(reading the partial words, writing each word) cancel out on a little-endian host, so it
writes them back in that order too.  These control transfers run in
the ethtool call, on the loop (Linux's run in the caller's process context):
a full write holds the loop for 128 x 20 ms.

Wake-on-LAN (``ethtool DEV``'s Wake-on lines, ``ethtool -s DEV wol pg|p|g|d``): Linux's
``ax88179_get_wol``/``ax88179_set_wol`` on AX_MONITOR_MOD — RWLC wakes on a link change
(``WAKE_PHY``), RWMP on a MagicPacket (``WAKE_MAGIC``, which ``ax88179_reset`` turns on);
the register, on the adapter, is the state (a control transfer on the loop each time).

EEE (``ethtool --show-eee/--set-eee``): Linux's ``ax88179_get_eee``/``ax88179_set_eee``
— supported, advertised and the partner's modes from the PHY's MMD registers (reached
through MII_MMD_CTRL/MII_MMD_DATA), 100BASE-TX and 1000BASE-T; reset advertises none and
disables EEE; link_reset turns it on when both ends advertise it for the link's speed
(``ax88179_chk_eee``).

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

Offloads, as Linux's ``ax88179_bind`` declares them (``features`` and ``hw_features``):
scatter-gather, IPv4 and IPv6 TCP/UDP transmit checksums, receive checksums and TSO
(IPv4), super-frames up to :data:`GSO_MAX_SIZE`.  The TX header has no checksum flag:
the chip checksums every TCP/UDP frame of the kinds AX_TXCOE_CTL enables, so a
``CHECKSUM_PARTIAL`` frame goes as it is; a TSO super-frame carries its MSS in
tx_hdr2 and the chip cuts it up.  ``ethtool -K`` switches the checksum engines
(``set_features``, Linux's ``ax88179_set_features``); with TSO or checksumming off the
core hands over finished frames.  A longer super-frame is segmented in software; one
with an MSS tx_hdr2 cannot hold or above the MTU is dropped (``tx_gso_refused``).  A
fixed-ID one (``SKB_GSO_TCP_FIXEDID``) goes to the chip, which numbers the IDs, only with
``tx-tcp-mangleid-segmentation`` on (registration makes it changeable beside TSO, off);
otherwise it is segmented keeping the ID — by the core, or by the driver for one queued
before ``ethtool -K`` turned that off.  No ``vlan_features``, as Linux's: the core finishes
a VLAN-tagged frame's checksum and segments a tagged super-frame before ``start_xmit``
(``netif_skb_features``); the driver checks again for frames handed past the core.
"""

from __future__ import annotations

import errno
import logging
import struct
import threading
import time
from dataclasses import replace
from typing import Any

from netdrv_core.checksum import csum_fold, csum_partial
from netdrv_core.ether import is_valid_ether_addr
from netdrv_core.ethtool import (
    DUPLEX_FULL,
    DUPLEX_HALF,
    WAKE_MAGIC,
    WAKE_PHY,
    EthtoolEee,
    EthtoolEeprom,
    LinkSettings,
    WolInfo,
)
from netdrv_core.gso import GsoError
from netdrv_core.netdevice import (
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_RXCSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO_MANGLEID,
)
from netdrv_core.skbuff import SKB_GSO_TCP_FIXEDID, SKB_GSO_TCPV4

from .codecs import Ax88179RxDecoder, parse_interrupt
from .codecs import ax88179 as ax
from .codecs._common import ETH_HLEN
from .codecs.ax88179 import TX_HEADER_LEN, encode_tx_many, parse_tx_headers
from .core import (
    FLAG_ETHER,
    FLAG_FRAMING_AX,
    FLAG_LINK_INTR,
    BindError,
    MiniDriver,
    RxMode,
    TxFrame,
    TxTransfer,
    UsbNet,
    UsbNetMiiEthtool,
    codec_stats,
    default_set_mac_address,
)

__all__ = ["Ax88179", "Ax88179Ethtool"]

MAX_MTU = 4088
"""Linux: ``dev->net->max_mtu = 4088``."""
RX_BUF_SIZE = 1024 * (max(cfg[3] for cfg in ax.AX88179_BULKIN_SIZE) + 2)
"""Large enough for every bulk-IN aggregation setting link_reset may choose."""
TX_AGG_MAX = 16384
"""Bytes of [header][frame] records packed into one bulk OUT transfer (a larger frame
travels alone)."""
FEATURES = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM | NETIF_F_RXCSUM | NETIF_F_TSO
"""Linux ``ax88179_bind``: ``features`` and ``hw_features`` (all of them ``ethtool -K``-able)."""
GSO_MAX_SIZE = ax.AX88179_GSO_MAX_SIZE
"""Linux ``netif_set_gso_max_size(dev->net, 16384)`` (set at register): on the kernel
attachment the link's gso_max_size, so the kernel's TCP builds none longer; the core cuts
up one of 16 KiB or more all the same in software before ``start_xmit``."""


class Ax88179Ethtool(UsbNetMiiEthtool):
    """``ax88179_ethtool_ops``: usbnet's (with link settings on the PHY), plus the EEPROM
    and Wake-on-LAN."""

    def get_wol(self, dev: Any, wol: WolInfo) -> None:
        """:meth:`Ax88179.get_wol`; ``ENODEV`` (raised: Linux's op is void) once unplugged."""
        un = dev.priv
        if un.state != "bound":
            raise OSError(errno.ENODEV, f"{un!r} is unplugged")
        un.info.get_wol(un, wol)

    def set_wol(self, dev: Any, wol: WolInfo) -> int:
        """:meth:`Ax88179.set_wol` (``ENODEV`` once unplugged)."""
        un = dev.priv
        if un.state != "bound":
            return -errno.ENODEV
        return int(un.info.set_wol(un, wol))

    def get_eee(self, dev: Any, eee: EthtoolEee) -> int:
        """:meth:`Ax88179.get_eee` (``ENODEV`` once unplugged)."""
        un = dev.priv
        if un.state != "bound":
            return -errno.ENODEV
        return int(un.info.get_eee(un, eee))

    def set_eee(self, dev: Any, eee: EthtoolEee) -> int:
        """:meth:`Ax88179.set_eee` (``ENODEV`` once unplugged)."""
        un = dev.priv
        if un.state != "bound":
            return -errno.ENODEV
        return int(un.info.set_eee(un, eee))

    def get_eeprom_len(self, dev: Any) -> int:
        """``ax88179_get_eeprom_len``: ``AX_EEPROM_LEN`` (256 bytes)."""
        return ax.AX_EEPROM_LEN

    def get_eeprom(self, dev: Any, eeprom: EthtoolEeprom, data: bytearray) -> int:
        """:meth:`Ax88179.get_eeprom` (``ENODEV`` once unplugged)."""
        un = dev.priv
        if un.state != "bound":
            return -errno.ENODEV
        return int(un.info.get_eeprom(un, eeprom, data))

    def set_eeprom(self, dev: Any, eeprom: EthtoolEeprom, data: bytes) -> int:
        """:meth:`Ax88179.set_eeprom` (``ENODEV`` once unplugged)."""
        un = dev.priv
        if un.state != "bound":
            return -errno.ENODEV
        return int(un.info.set_eeprom(un, eeprom, data))


def _usb_failure(exc: OSError) -> int:
    """A failed EEPROM transfer: ``-ENODEV`` when the adapter is gone, else ``-EIO`` (Linux)."""
    return -errno.ENODEV if getattr(exc, "errno", None) == errno.ENODEV else -errno.EIO


def txcoe(features: int) -> int:
    """AX_TXCOE_CTL for ``features``: IPv4 header checksums always (as ``ax88179_reset`` sets
    them and ``ax88179_set_features`` leaves them), TCP/UDP per ``tx-checksum-ipv4`` and
    ``tx-checksum-ipv6``."""
    v = ax.AX_TXCOE_IP
    if features & NETIF_F_IP_CSUM:
        v |= ax.AX_TXCOE_TCP | ax.AX_TXCOE_UDP
    if features & NETIF_F_IPV6_CSUM:
        v |= ax.AX_TXCOE_TCPV6 | ax.AX_TXCOE_UDPV6
    return v


def rxcoe(features: int) -> int:
    """AX_RXCOE_CTL for ``features``: every receive check with ``rx-checksum``, none without."""
    if not features & NETIF_F_RXCSUM:
        return 0
    return (
        ax.AX_RXCOE_IP | ax.AX_RXCOE_TCP | ax.AX_RXCOE_UDP | ax.AX_RXCOE_TCPV6 | ax.AX_RXCOE_UDPV6
    )


class Ax88179(MiniDriver):
    """ASIX AX88179 USB 3.0 gigabit Ethernet (``ax88179_info``)."""

    name = "ax88179_178a"
    description = "ASIX AX88179 USB 3.0 Gigabit Ethernet"
    flags = FLAG_ETHER | FLAG_FRAMING_AX | FLAG_LINK_INTR
    ethtool_ops = Ax88179Ethtool
    """``ax88179_ethtool_ops`` (for usbnet's register() to install)."""

    def __init__(self) -> None:
        self.rx_decoder = Ax88179RxDecoder(copy=False)
        self.rx_stats = self.rx_decoder.stats
        self.link: bool | None = None
        self.reset_failed = False
        """link_reset did not finish (control error, PHY not up yet): a later link-up
        report runs it again, as Linux does by comparing each report with the carrier."""
        self.rx_ctl = 0
        self.medium = 0
        self.receive_en = False
        """RECEIVE_EN as ``reset``/``stop`` want it (on from bind, off while down); link_reset
        and the MTU change keep it."""
        self._medium_lock = threading.Lock()
        """MEDIUM_STATUS_MODE is written from the loop (reset, stop) and the kevent worker
        (link_reset, MTU): one read-modify-write at a time."""
        self._phy_lock = threading.RLock()
        """The PHY, from the loop (ethtool) and the kevent worker (link_reset): a sequence of
        accesses that selects a vendor page or an MMD register holds it until it is done, so
        no other access lands on that page or moves that register pointer meanwhile."""
        self.bmcr = ax.BMCR_ANENABLE
        """MII_BMCR as last written (autoneg, or the forced speed and duplex)."""
        self.mc_filter = b""
        self.tx_too_big = 0
        self.tx_tso = 0
        """Super-frames handed to the chip whole (tx_hdr2 = MSS)."""
        self.tx_gso_software = 0
        """Super-frames the driver segmented in software (not TSO-able: IPv6, VLAN-tagged, TSO
        off, a fixed-ID one with tx-tcp-mangleid-segmentation off — the core segments those it
        sees, so these are the ones queued before ``ethtool -K`` or handed past the core)."""
        self.tx_gso_refused = 0
        """Super-frames dropped: a malformed or oversized MSS, or headers that are no TCP."""
        self.tx_csum_software = 0
        """CHECKSUM_PARTIAL frames the chip would not checksum right, finished in software."""
        self._gso_warned = False
        self.delays = True
        self.eee_enabled = False
        """Linux's ``priv->eee_enabled``: off from reset; link_reset and set_eee set it to
        whether EEE resolves on the link (``ax88179_chk_eee``)."""
        self.eee_active = False
        """Linux's ``priv->eee_active`` (``ax88179_chk_eee``'s finding)."""

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
        with self._phy_lock:
            data = un.ctrl_in(ax.REQ_TYPE_VENDOR_IN, ax.AX_ACCESS_PHY, ax.AX88179_PHY_ID, reg, 2)
        return struct.unpack("<H", data[:2])[0] if len(data) >= 2 else 0

    def write_phy(self, un: UsbNet, reg: int, value: int) -> None:
        """Write a PHY register."""
        with self._phy_lock:
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
        un.rx_buf_size = RX_BUF_SIZE
        un.features |= FEATURES
        un.hw_features |= FEATURES
        un.gso_max_size = GSO_MAX_SIZE  # netif_set_gso_max_size(dev->net, 16384)
        un.rx_csum = True
        un.port_type = "mii"  # mii_ethtool_get_link_ksettings: PORT_MII
        self.hw_reset(un)

    def unbind(self, un: UsbNet) -> None:
        """``ax88179_unbind``: receiving stopped (RX_CTL), the clocks off, the PHY powered down
        — the link goes down on the cable, as on Linux when the driver lets go.  An adapter
        already gone makes the first request fail, and the core goes on releasing it."""
        self.write_u16(un, ax.AX_RX_CTL, ax.AX_RX_CTL_STOP)
        self.write_u8(un, ax.AX_CLK_SELECT, 0)
        self.write_u16(un, ax.AX_PHYPWR_RSTCTL, 0)

    def reset(self, un: UsbNet) -> int:
        """``ax88179_net_reset`` (``info->reset``, at open): with a PHY status (GMII_PHY_PHYSR
        non-zero) RECEIVE_EN back on in MEDIUM_STATUS_MODE, if ``stop`` cleared it; without
        one the whole :meth:`hw_reset`, deferred to the kevent worker (it waits for the PHY)."""
        with self._medium_lock:
            self.receive_en = True
            if not self.read_phy(un, ax.GMII_PHY_PHYSR):
                un.defer(self.hw_reset, un)
                return 0
            mode = self._read_medium(un)
            if not mode & ax.AX_MEDIUM_RECEIVE_EN:
                mode |= ax.AX_MEDIUM_RECEIVE_EN
                self.write_u16(un, ax.AX_MEDIUM_STATUS_MODE, mode)
            self.medium = mode
        return 0

    def stop(self, un: UsbNet) -> int:
        """``ax88179_stop`` (``info->stop``, at close): RECEIVE_EN off in MEDIUM_STATUS_MODE,
        so the chip takes no frame while the interface is down."""
        with self._medium_lock:
            self.receive_en = False
            mode = self._read_medium(un) & ~ax.AX_MEDIUM_RECEIVE_EN
            self.write_u16(un, ax.AX_MEDIUM_STATUS_MODE, mode)
            self.medium = mode
        return 0

    def _read_medium(self, un: UsbNet) -> int:
        data = un.ctrl_in(ax.REQ_TYPE_VENDOR_IN, ax.AX_ACCESS_MAC, ax.AX_MEDIUM_STATUS_MODE, 2, 2)
        return int(struct.unpack("<H", data[:2])[0]) if len(data) >= 2 else 0

    def hw_reset(self, un: UsbNet) -> None:
        """``ax88179_reset`` (bind; open without a PHY status): power, clocks, MAC,
        aggregation, offloads, RX_CTL, medium mode."""
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
        un.rx_urb_size = 1024 * 20  # until link_reset picks the real one
        self.write_u8(un, ax.AX_PAUSE_WATERLVL_LOW, 0x34)
        self.write_u8(un, ax.AX_PAUSE_WATERLVL_HIGH, 0x52)
        csum = (ax.AX_RXCOE_IP | ax.AX_RXCOE_TCP | ax.AX_RXCOE_UDP | ax.AX_RXCOE_TCPV6
                | ax.AX_RXCOE_UDPV6)  # fmt: skip
        self.write_u8(un, ax.AX_RXCOE_CTL, csum)
        self.write_u8(un, ax.AX_TXCOE_CTL, csum)
        self.set_rx_mode(un, RxMode())
        self.write_u8(un, ax.AX_MONITOR_MOD, ax.AX_MONITOR_MODE_PMETYPE
                      | ax.AX_MONITOR_MODE_PMEPOL | ax.AX_MONITOR_MODE_RWMP)  # fmt: skip
        with self._medium_lock:
            self.receive_en = True
            self.medium = ax.medium_mode(1000, True)
            self.write_u16(un, ax.AX_MEDIUM_STATUS_MODE, self.medium)
        # EEE off and advertised for no mode until ethtool --set-eee asks (Linux's reset)
        self.eee_enabled = self.eee_active = False
        self._disable_eee(un)
        self.write_mmd(un, ax.MDIO_AN_EEE_ADV, ax.MDIO_MMD_AN, 0)
        self.write_phy(un, ax.MII_BMCR, ax.BMCR_ANENABLE | ax.BMCR_ANRESTART)
        self.bmcr = ax.BMCR_ANENABLE  # ANRESTART clears itself

    # -- link settings (the loop) -------------------------------------------------------------
    def get_link_ksettings(self, un: UsbNet, ks: LinkSettings) -> LinkSettings:
        """``mii_ethtool_get_link_ksettings``: autoneg from BMCR; when it is off, the
        forced speed and duplex; else what link_reset read from the PHY — or, once the PHY
        reported the link down, 10 Mbit/s half duplex, as mii's is without
        ``BMSR_ANEGCOMPLETE`` (nothing negotiated), not the speed of a link that is gone."""
        autoneg, speed, full = ax.decode_bmcr(self.bmcr)
        if autoneg:
            if self.link is False:
                return replace(ks, autoneg=True, speed=10, duplex=DUPLEX_HALF)
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

    def nway_reset(self, un: UsbNet) -> int:
        """``usbnet_nway_reset`` → ``mii_nway_restart``: BMCR with ANRESTART while autoneg is
        on (written in the kevent worker, as set_link_ksettings is); ``EINVAL`` while off."""
        if not self.bmcr & ax.BMCR_ANENABLE:
            return -errno.EINVAL
        un.defer(self.write_phy, un, ax.MII_BMCR, self.bmcr | ax.BMCR_ANRESTART)
        return 0

    # -- EEPROM (ethtool -e/-E, on the loop) ----------------------------------------------------
    def read_eeprom_word(self, un: UsbNet, index: int) -> bytes:
        """``ax88179_read_cmd(AX_ACCESS_EEPROM, index, 1, 2)``: one word, as the chip sends it."""
        data = un.ctrl_in(ax.REQ_TYPE_VENDOR_IN, ax.AX_ACCESS_EEPROM, index, 1, 2)
        if len(data) < 2:
            raise OSError(errno.EIO, f"short read of EEPROM word 0x{index:02x}")
        return data[:2]

    def get_eeprom(self, un: UsbNet, eeprom: EthtoolEeprom, data: bytearray) -> int:
        """``ax88179_get_eeprom``: the words covering the range, then its bytes; sets the magic."""
        if eeprom.len == 0:
            return -errno.EINVAL
        eeprom.magic = ax.AX88179_EEPROM_MAGIC
        first, last = eeprom.offset >> 1, (eeprom.offset + eeprom.len - 1) >> 1
        try:  # the chip returns 2 bytes from the EEPROM per read
            words = b"".join(self.read_eeprom_word(un, i) for i in range(first, last + 1))
        except OSError as exc:
            return _usb_failure(exc)
        start = eeprom.offset & 1
        data[:] = words[start : start + eeprom.len]
        return 0

    def set_eeprom(self, un: UsbNet, eeprom: EthtoolEeprom, data: bytes) -> int:
        """``ax88179_set_eeprom``: check the magic, align to words (reading the partial ones),
        write word by word (20 ms apart), then ``AX_RELOAD_EEPROM_EFUSE``."""
        if eeprom.len == 0 or eeprom.magic != ax.AX88179_EEPROM_MAGIC:
            return -errno.EINVAL
        first, last = eeprom.offset >> 1, (eeprom.offset + eeprom.len - 1) >> 1
        buf = bytearray(2 * (last - first + 1))
        start = eeprom.offset & 1
        try:
            if start:  # align to 16-bit words: the bytes around the range, from the EEPROM
                buf[0:2] = self.read_eeprom_word(un, first)
            if (eeprom.offset + eeprom.len) & 1:
                buf[-2:] = self.read_eeprom_word(un, last)
            buf[start : start + eeprom.len] = data
            for i in range(first, last + 1):
                word = bytes(buf[2 * (i - first) : 2 * (i - first) + 2])
                un.ctrl_out(ax.REQ_TYPE_VENDOR_OUT, ax.AX_ACCESS_EEPROM, i, 1, word)
                self._sleep(0.02)
            un.ctrl_out(ax.REQ_TYPE_VENDOR_OUT, ax.AX_RELOAD_EEPROM_EFUSE, 0, 0)
        except OSError as exc:
            return _usb_failure(exc)
        return 0

    # -- Wake-on-LAN (ethtool DEV, ethtool -s DEV wol; on the loop) ------------------------------
    def get_wol(self, un: UsbNet, wol: WolInfo) -> None:
        """``ax88179_get_wol``: AX_MONITOR_MOD read from the chip — RWLC is ``WAKE_PHY``,
        RWMP ``WAKE_MAGIC``; a failed read reports nothing supported, as Linux's does —
        but ``ENODEV`` is raised: the adapter is gone, which Linux's removal of the interface
        answers before any get_wol (``-s DEV wol g`` would be "unsupported WoL mode")."""
        try:
            mode = self.read_mac_reg(un, ax.AX_MONITOR_MOD, 1)[0]
        except (OSError, BindError) as exc:
            if getattr(exc, "errno", None) == errno.ENODEV:
                raise OSError(errno.ENODEV, f"{un!r} is unplugged") from None
            wol.supported = wol.wolopts = 0
            return
        wol.supported = WAKE_PHY | WAKE_MAGIC
        wol.wolopts = (WAKE_PHY if mode & ax.AX_MONITOR_MODE_RWLC else 0) | (
            WAKE_MAGIC if mode & ax.AX_MONITOR_MODE_RWMP else 0
        )

    def set_wol(self, un: UsbNet, wol: WolInfo) -> int:
        """``ax88179_set_wol``: RWLC and RWMP in AX_MONITOR_MOD for ``WAKE_PHY`` and
        ``WAKE_MAGIC`` (other modes ``EINVAL``; a failed transfer ``EINVAL`` too, as Linux
        answers it).  Linux writes those two bits alone, clearing the PME pin's type and
        polarity ``ax88179_reset`` set; this keeps the register's other bits (read first)."""
        if wol.wolopts & ~(WAKE_PHY | WAKE_MAGIC):
            return -errno.EINVAL
        keep = ~(ax.AX_MONITOR_MODE_RWLC | ax.AX_MONITOR_MODE_RWMP) & 0xFF
        try:
            mode = self.read_mac_reg(un, ax.AX_MONITOR_MOD, 1)[0] & keep
            if wol.wolopts & WAKE_PHY:
                mode |= ax.AX_MONITOR_MODE_RWLC
            if wol.wolopts & WAKE_MAGIC:
                mode |= ax.AX_MONITOR_MODE_RWMP
            self.write_u8(un, ax.AX_MONITOR_MOD, mode)
        except (OSError, BindError):
            return -errno.EINVAL
        return 0

    # -- EEE (ethtool --show-eee/--set-eee; on the loop, as link_reset in the kevent worker) ------
    def _mmd_indirect(self, un: UsbNet, prtad: int, devad: int) -> None:
        """``ax88179_phy_mmd_indirect``: select MMD ``devad``'s register ``prtad``."""
        self.write_phy(un, ax.MII_MMD_CTRL, devad)
        self.write_phy(un, ax.MII_MMD_DATA, prtad)
        self.write_phy(un, ax.MII_MMD_CTRL, devad | ax.MII_MMD_CTRL_NOINCR)

    def read_mmd(self, un: UsbNet, prtad: int, devad: int) -> int:
        """``ax88179_phy_read_mmd_indirect``."""
        with self._phy_lock:
            self._mmd_indirect(un, prtad, devad)
            return self.read_phy(un, ax.MII_MMD_DATA)

    def write_mmd(self, un: UsbNet, prtad: int, devad: int, value: int) -> None:
        """``ax88179_phy_write_mmd_indirect``."""
        with self._phy_lock:
            self._mmd_indirect(un, prtad, devad)
            self.write_phy(un, ax.MII_MMD_DATA, value)

    def _paged_write(self, un: UsbNet, writes: tuple[tuple[int, int, int], ...]) -> None:
        """(page, register, value) writes to the PHY's vendor pages, back to page 0 after."""
        with self._phy_lock:
            for page, reg, value in writes:
                self.write_phy(un, ax.GMII_PHY_PAGE_SELECT, page)
                self.write_phy(un, reg, value)
            self.write_phy(un, ax.GMII_PHY_PAGE_SELECT, ax.GMII_PHY_PGSEL_PAGE0)

    def _disable_eee(self, un: UsbNet) -> None:
        """``ax88179_disable_eee``: page 3's MII_PHYADDR to 0x3246."""
        self._paged_write(un, ((ax.GMII_PHY_PGSEL_PAGE3, ax.MII_PHYADDR, 0x3246),))

    def _enable_eee(self, un: UsbNet) -> None:
        """``ax88179_enable_eee``: page 3's MII_PHYADDR to 0x3247, page 5's MII_BMSR 0x0680."""
        self._paged_write(un, ((ax.GMII_PHY_PGSEL_PAGE3, ax.MII_PHYADDR, 0x3247),
                               (ax.GMII_PHY_PGSEL_PAGE5, ax.MII_BMSR, 0x0680)))  # fmt: skip

    def _chk_eee(self, un: UsbNet, speed: int, full: bool) -> bool:
        """``ax88179_chk_eee``: EEE resolves (and is active) when the link is full duplex and
        both ends advertise EEE for its speed."""
        self.eee_active = False
        if not full:
            return False
        cap = ax.mmd_eee_to_ethtool(self.read_mmd(un, ax.MDIO_PCS_EEE_ABLE, ax.MDIO_MMD_PCS))
        if not cap:
            return False
        lp = ax.mmd_eee_to_ethtool(self.read_mmd(un, ax.MDIO_AN_EEE_LPABLE, ax.MDIO_MMD_AN))
        adv = ax.mmd_eee_to_ethtool(self.read_mmd(un, ax.MDIO_AN_EEE_ADV, ax.MDIO_MMD_AN))
        mode = ax.ETHTOOL_1000BASET_FULL if speed == 1000 else ax.ETHTOOL_100BASET_FULL
        self.eee_active = bool(lp & adv & mode)
        return self.eee_active

    def get_eee(self, un: UsbNet, eee: EthtoolEee) -> int:
        """``ax88179_get_eee``: enabled and active as the driver found them; supported,
        advertised and the partner's modes from the PHY's MMD registers (no Tx LPI: the
        chip's is not reported, as Linux's driver reports none)."""
        eee.eee_enabled, eee.eee_active = self.eee_enabled, self.eee_active
        regs = (("supported", ax.MDIO_PCS_EEE_ABLE, ax.MDIO_MMD_PCS),
                ("advertised", ax.MDIO_AN_EEE_ADV, ax.MDIO_MMD_AN),
                ("lp_advertised", ax.MDIO_AN_EEE_LPABLE, ax.MDIO_MMD_AN))  # fmt: skip
        try:
            for name, prtad, devad in regs:
                setattr(eee, name, ax.mmd_eee_to_ethtool(self.read_mmd(un, prtad, devad)))
        except OSError as exc:
            return _usb_failure(exc)
        return 0

    def set_eee(self, un: UsbNet, eee: EthtoolEee) -> int:
        """``ax88179_set_eee``: off disables EEE in the PHY; on needs EEE to resolve on the
        link as it was negotiated (``EOPNOTSUPP`` otherwise, so advertise the modes first:
        the renegotiation then turns it on, as link_reset checks again); then the new
        advertisement and an autonegotiation restart.  Linux drops the carrier by hand
        (``usbnet_link_change(dev, 0, 0)``); here the PHY's report of the renegotiation
        drops and raises it, running link_reset."""
        try:
            self.eee_enabled = bool(eee.eee_enabled)
            if not self.eee_enabled:
                self._disable_eee(un)
            else:
                _, speed, full = ax.decode_physr(self.read_phy(un, ax.GMII_PHY_PHYSR))
                self.eee_enabled = self._chk_eee(un, speed, full)
                if not self.eee_enabled:
                    raise OSError(errno.EOPNOTSUPP, "EEE does not resolve on the link (both ends "
                                  "must advertise it for its speed, full duplex): advertise the "
                                  "modes first (--set-eee DEV advertise 0x28), then turn it on")  # fmt: skip
                self._enable_eee(un)
            self.write_mmd(un, ax.MDIO_AN_EEE_ADV, ax.MDIO_MMD_AN,
                           ax.ethtool_to_mmd_eee(eee.advertised))  # fmt: skip
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:
                raise
            return _usb_failure(exc)
        if self.bmcr & ax.BMCR_ANENABLE:  # mii_nway_restart: only while autoneg is on
            un.defer(self.write_phy, un, ax.MII_BMCR, self.bmcr | ax.BMCR_ANRESTART)
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
        with self._medium_lock:  # RECEIVE_EN stays off while the interface is down
            mode = ax.medium_mode(speed, full, mtu)
            self.medium = mode if self.receive_en else mode & ~ax.AX_MEDIUM_RECEIVE_EN
            self.write_u16(un, ax.AX_MEDIUM_STATUS_MODE, self.medium)
        un.set_link_speed(speed * 1_000_000)
        un.duplex = DUPLEX_FULL if full else DUPLEX_HALF
        self.eee_enabled = self._chk_eee(un, speed, full)  # as Linux's link_reset
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
        of up to :data:`TX_AGG_MAX` bytes; empty frames are dropped.

        A ``CHECKSUM_PARTIAL`` frame goes as it is — the chip's checksum engine (AX_TXCOE_CTL)
        finishes every TCP/UDP frame — unless the chip would not get it right
        (:meth:`_checksum`).  A super-frame (:meth:`_gso`) goes whole with its MSS in
        tx_hdr2 (TSO), or as the segments software cuts, or is refused (dropped); it counts
        as one frame either way.

        ``tx_bytes`` counts what Linux's usbnet counts for the AX88179 (no
        FLAG_MULTI_PACKET, one skb per transfer): each record's 8-byte header and frame, and
        the pad byte ``usbnet_start_xmit`` appends when these end on a full packet — per
        record, as if it travelled alone, so the count does not depend on how the writer
        happened to pack them."""
        out: list[TxTransfer] = []
        batch: list[bytes] = []
        mss: list[int] = []
        tso = False
        dropped = size = nbytes = npk = 0
        mps = un.out_mps
        pad = un.tx_pad
        padding = pad(mps) == 1  # a record ending on a full packet gets a pad byte

        def flush() -> None:
            nonlocal batch, mss, tso, size, nbytes, npk
            out.append((encode_tx_many(batch, max_packet=mps, mss=mss if tso else None), npk,
                        nbytes))  # fmt: skip
            batch, mss, tso = [], [], False
            size = nbytes = npk = 0

        for f in frames:
            n = len(f)
            if n == 0:
                dropped += 1
                self.tx_too_big += 1
                continue
            if type(f) is TxFrame and f.gso_size:
                records = self._gso(un, f)
                if records is None:
                    dropped += 1
                    continue
                counted = 0
                for r, m in records:  # the skb counts once, in the transfer with its end
                    rec = TX_HEADER_LEN + len(r)
                    if batch and size + rec > TX_AGG_MAX:
                        flush()
                    batch.append(r)
                    mss.append(m)
                    tso = tso or m > 0
                    size += rec
                    counted += rec + pad(rec)
            else:
                if type(f) is TxFrame:
                    f = self._checksum(un, f)
                rec = TX_HEADER_LEN + n
                if batch and size + rec > TX_AGG_MAX:
                    flush()
                batch.append(f)
                mss.append(0)
                size += rec
                # un.tx_pad(rec), inline: this runs for every frame
                counted = rec + 1 if padding and rec % mps == 0 else rec
            npk += 1
            nbytes += counted
        if batch:
            flush()
        return out, dropped

    def _gso(self, un: UsbNet, f: TxFrame) -> list[tuple[bytes, int]] | None:
        """A super-frame's records ``(frame, MSS)``: itself with its MSS when the chip takes it
        (TCP over IPv4 with TSO on; a fixed-ID one, ``SKB_GSO_TCP_FIXEDID``, only with
        ``NETIF_F_TSO_MANGLEID`` as well, for the chip counts the IDs up; the core cut up one
        of :data:`GSO_MAX_SIZE` or more, as Linux's ``gso_features_check``, and a fixed-ID one
        the device may not renumber), else its segments cut in software
        (MSS 0; each segment's checksum left to the chip when tx checksumming is on, finished
        in software for a VLAN-tagged frame, which Linux's AX88179 offloads nothing of, and
        behind IPv6 extension headers, as :meth:`_checksum`).  None
        (refused and counted in ``tx_gso_refused``): an MSS outside what tx_hdr2 holds, headers
        that are no TCP/UDP over IPv4/IPv6, or segments longer than the MTU."""
        dev = un.dev
        features = dev.features if dev is not None else un.features
        mtu = dev.mtu if dev is not None else 1500
        mss = f.gso_size
        h = parse_tx_headers(f)
        if not 0 < mss <= ax.AX_TX_HDR2_MSS_MASK:
            self._refuse(un, f"MSS {mss} (tx_hdr2 holds 1..{ax.AX_TX_HDR2_MSS_MASK})")
            return None
        if h is None:
            self._refuse(un, "its headers are no TCP/UDP over IPv4/IPv6")
            return None
        if h.end - h.l3 + mss > mtu:
            self._refuse(un, f"MSS {mss} makes {h.end - h.l3 + mss}-byte IP packets, above "
                         f"the MTU {mtu}")  # fmt: skip
            return None
        plain = h.l3 == ETH_HLEN and not (h.ipv6 and h.l4 != h.l3 + 40)
        fixedid = f.gso_type & SKB_GSO_TCP_FIXEDID
        need = NETIF_F_TSO | (NETIF_F_TSO_MANGLEID if fixedid else 0)
        if (f.gso_type & ~fixedid == SKB_GSO_TCPV4 and h.proto == ax.IPPROTO_TCP and not h.ipv6
                and plain and features & need == need):  # fmt: skip
            self.tx_tso += 1
            return [(f, mss)]
        try:  # VLAN-tagged, IPv6 extension headers, a fixed ID: the chip gets finished segments
            segs = f.segment(features if plain else 0)
        except GsoError as exc:
            self._refuse(un, str(exc))
            return None
        self.tx_gso_software += 1
        return [(seg, 0) for seg in segs]

    def _checksum(self, un: UsbNet, f: TxFrame) -> bytes:
        """A ``CHECKSUM_PARTIAL`` frame as the chip is to get it.  The chip checksums the
        TCP/UDP header it finds itself, so the frame goes as it is when that is the header
        the stack means (csum_start, csum_offset) and the checksumming for its IP version is
        on; else the checksum is finished here (Linux's ``skb_checksum_help``), as Linux does
        for IPv6 extension headers on an IP_CSUM device (``skb_csum_hwoffload_help``) and the
        core for a VLAN-tagged frame (no ``vlan_features``): this catches one handed past it."""
        h = parse_tx_headers(f)
        dev = un.dev
        features = dev.features if dev is not None else un.features
        if (h is not None and h.l3 == ETH_HLEN and f.csum_start == h.l4
                and f.csum_offset == (16 if h.proto == ax.IPPROTO_TCP else 6)
                and features & (NETIF_F_IPV6_CSUM if h.ipv6 else NETIF_F_IP_CSUM)
                and not (h.ipv6 and h.l4 != h.l3 + 40)):  # fmt: skip
            return f
        start, at = f.csum_start, f.csum_start + f.csum_offset
        if not 0 <= start <= at <= len(f) - 2:
            return f  # nothing a checksum could be written to (the core checks this)
        b = bytearray(f)
        csum = csum_fold(csum_partial(b[start:])) or 0xFFFF
        b[at : at + 2] = csum.to_bytes(2, "big")
        self.tx_csum_software += 1
        return bytes(b)

    def _refuse(self, un: UsbNet, why: str) -> None:
        """Count a refused super-frame; the first one of the adapter is logged."""
        self.tx_gso_refused += 1
        level = logging.DEBUG if self._gso_warned else logging.WARNING
        self._gso_warned = True
        un.netdev_log(level, f"dropped a super-frame (counted in tx_gso_refused): {why}")

    # -- offloads (the loop; registers in the kevent worker) ----------------------------------
    def set_features(self, un: UsbNet, dev: Any, features: int) -> int:
        """``ax88179_set_features``: ``ethtool -K … tx`` switches the chip's TCP/UDP checksum
        engines (AX_TXCOE_CTL: TCP/UDP for IPv4, TCPV6/UDPV6 for IPv6), ``rx`` its receive
        checksum check (AX_RXCOE_CTL); TSO and scatter-gather need no register."""
        changed = dev.features ^ features
        if changed & (NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM):
            un.defer(self.write_u8, un, ax.AX_TXCOE_CTL, txcoe(features))
        if changed & NETIF_F_RXCSUM:
            un.defer(self.write_u8, un, ax.AX_RXCOE_CTL, rxcoe(features))
        return 0

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
        with self._medium_lock:
            mode = self._read_medium(un)
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
                ("tx_too_big", self.tx_too_big), ("tx_tso", self.tx_tso),
                ("tx_gso_software", self.tx_gso_software),
                ("tx_gso_refused", self.tx_gso_refused),
                ("tx_csum_software", self.tx_csum_software),
                *codec_stats("ax", self.rx_decoder.stats)]  # fmt: skip
