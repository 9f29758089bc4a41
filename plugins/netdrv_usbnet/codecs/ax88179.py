"""ASIX AX88179/178A (and AX88179A/772D firmware) framing, constants and helpers.

Sans-I/O port of the parts of Linux ``drivers/net/usb/ax88179_178a.c`` (6.x)
that touch bytes: register numbers, the RX aggregation trailer, the 8-byte TX
header, the interrupt status word, the multicast hash and the link-reset
arithmetic.  Control transfers themselves are issued by the driver core:

* read:  ``ctrl_transfer(0xC0, AX_ACCESS_MAC, wValue=reg, wIndex=size, size)``
* write: ``ctrl_transfer(0x40, AX_ACCESS_MAC, wValue=reg, wIndex=size, data)``
* PHY:   ``bRequest=AX_ACCESS_PHY, wValue=AX88179_PHY_ID, wIndex=mii_reg``, 2 bytes.

RX transfer layout (firmware of AX88179A/772D, per the Linux comment)::

    <pkt 1: 2-byte pad + frame> <0-7 pad to 8>  ...  <pkt N> <pad>
    <hdr 1> [<dummy hdr>] ... <hdr N> [<dummy hdr>]   (4 bytes each, LE u32)
    [<padding2: 4 bytes>] <footer: u16 pkt_cnt, u16 hdr_off>

Decisions (mirroring Linux ``ax88179_rx_fixup`` of 6.x, see the class doc):
headers with pkt_len 0 are dummy/alignment headers and are skipped without
advancing the data cursor; a header with CRC_ERR/DROP_ERR or pkt_len < 16 is
an error that skips its (padded) data; each packet's data is ``pkt_len`` bytes
of which the first 2 are the IP-alignment pad, so the frame is
``pkt_len - 2`` bytes (Linux copies 2 extra trailing bytes for non-last
packets; we do not).  Decoders never raise on device data; every problem is
counted in ``stats``.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable, Sequence

from ._common import ETH_ALEN, ETH_HLEN, CodecStats, FramingError, ether_crc, needs_zlp

__all__ = [
    "Ax88179RxDecoder",
    "Ax88179RxPacket",
    "Ax88179RxStats",
    "Ax88179TxDecoder",
    "Ax88179TxStats",
    "LinkStatus",
    "TxHeaders",
    "ax88179_tx_header",
    "build_interrupt",
    "bulkin_config",
    "decode_bmcr",
    "decode_physr",
    "encode_bmcr",
    "encode_rx_transfer",
    "encode_tx",
    "encode_tx_many",
    "ethtool_to_mmd_eee",
    "mcast_hash_bit",
    "medium_mode",
    "mmd_eee_to_ethtool",
    "multicast_filter",
    "needs_zlp",
    "parse_interrupt",
    "parse_tx_headers",
    "rx_mode",
    "rx_packet_size",
    "rx_transfer_size",
]

ASIX_VENDOR_ID = 0x0B95
AX88179_PRODUCT_ID = 0x1790
AX88178A_PRODUCT_ID = 0x178A

AX88179_PHY_ID = 0x03
AX_EEPROM_LEN = 0x100
AX88179_EEPROM_MAGIC = 0x17900B95
AX_MCAST_FLTSIZE = 8
AX_MCAST_FILTER_SIZE = AX_MCAST_FLTSIZE
AX_MAX_MCAST = 64

AX_INT_PPLS_LINK = 1 << 16
"""Link bit in the first 32-bit word of the interrupt status."""

AX_RXHDR_L4CSUM_ERR = 0x00000001
AX_RXHDR_L3CSUM_ERR = 0x00000002
AX_RXHDR_L4_TYPE_MASK = 0x0000001C
AX_RXHDR_L4_TYPE_UDP = 4
AX_RXHDR_L4_TYPE_TCP = 16
AX_RXHDR_CRC_ERR = 1 << 29
AX_RXHDR_DROP_ERR = 1 << 31
AX_RXHDR_LEN_SHIFT = 16
AX_RXHDR_LEN_MASK = 0x1FFF

AX_TX_HDR2_PADDING = 0x80008000
"""tx_hdr2 bits Linux sets when (len + 8) is a multiple of the max packet size."""
AX_TX_HDR2_MSS_MASK = 0x7FFF
"""The TSO MSS in tx_hdr2 (Linux writes ``skb_shinfo(skb)->gso_size`` there; 0: no TSO).
Bit 15 belongs to the padding flag, so an MSS must be below 0x8000."""
AX88179_GSO_MAX_SIZE = 16384
"""Linux ``ax88179_bind``: ``netif_set_gso_max_size(dev->net, 16384)`` — the stack hands the
chip super-frames shorter than this; a longer one is segmented in software."""

# Vendor requests (bRequest).
AX_ACCESS_MAC = 0x01
AX_ACCESS_PHY = 0x02
AX_ACCESS_EEPROM = 0x04
AX_ACCESS_EFUS = 0x05
AX_RELOAD_EEPROM_EFUSE = 0x06
AX_FW_MODE = 0x08
AX_ACCESS_TX_FIFO = 0x81
"""Vendor request Linux link_reset polls (wValue 0x8c, 4 bytes, bit 30 = TX FIFO busy)."""
AX_TX_FIFO_STATUS_REG = 0x8C

REQ_TYPE_VENDOR_IN = 0xC0
REQ_TYPE_VENDOR_OUT = 0x40

# MAC registers (wValue of AX_ACCESS_MAC).
PHYSICAL_LINK_STATUS = 0x02
AX_USB_FS = 0x01
AX_USB_HS = 0x02
AX_USB_SS = 0x04
GENERAL_STATUS = 0x03
AX_SECLD = 0x04
AX_SROM_ADDR = 0x07
AX_SROM_CMD = 0x0A
EEP_RD = 0x04
EEP_BUSY = 0x10
AX_SROM_DATA_LOW = 0x08
AX_SROM_DATA_HIGH = 0x09

AX_RX_CTL = 0x0B
AX_RX_CTL_DROPCRCERR = 0x0100
AX_RX_CTL_IPE = 0x0200
AX_RX_CTL_START = 0x0080
AX_RX_CTL_AP = 0x0020
AX_RX_CTL_AM = 0x0010
AX_RX_CTL_AB = 0x0008
AX_RX_CTL_AMALL = 0x0002
AX_RX_CTL_PRO = 0x0001
AX_RX_CTL_STOP = 0x0000

AX_NODE_ID = 0x10
AX_MULFLTARY = 0x16

AX_MEDIUM_STATUS_MODE = 0x22
AX_MEDIUM_GIGAMODE = 0x01
AX_MEDIUM_FULL_DUPLEX = 0x02
AX_MEDIUM_EN_125MHZ = 0x08
AX_MEDIUM_RXFLOW_CTRLEN = 0x10
AX_MEDIUM_TXFLOW_CTRLEN = 0x20
AX_MEDIUM_RECEIVE_EN = 0x100
AX_MEDIUM_PS = 0x200
AX_MEDIUM_JUMBO_EN = 0x8040

AX_MONITOR_MOD = 0x24
AX_MONITOR_MODE_RWLC = 0x02
AX_MONITOR_MODE_RWMP = 0x04
AX_MONITOR_MODE_PMEPOL = 0x20
AX_MONITOR_MODE_PMETYPE = 0x40

AX_GPIO_CTRL = 0x25
AX_GPIO_CTRL_GPIO3EN = 0x80
AX_GPIO_CTRL_GPIO2EN = 0x40
AX_GPIO_CTRL_GPIO1EN = 0x20

AX_PHYPWR_RSTCTL = 0x26
AX_PHYPWR_RSTCTL_BZ = 0x0010
AX_PHYPWR_RSTCTL_IPRL = 0x0020
AX_PHYPWR_RSTCTL_AT = 0x1000

AX_RX_BULKIN_QCTRL = 0x2E
AX_CLK_SELECT = 0x33
AX_CLK_SELECT_BCS = 0x01
AX_CLK_SELECT_ACS = 0x02
AX_CLK_SELECT_ULR = 0x08

AX_RXCOE_CTL = 0x34
AX_RXCOE_IP = 0x01
AX_RXCOE_TCP = 0x02
AX_RXCOE_UDP = 0x04
AX_RXCOE_TCPV6 = 0x20
AX_RXCOE_UDPV6 = 0x40

AX_TXCOE_CTL = 0x35
AX_TXCOE_IP = 0x01
AX_TXCOE_TCP = 0x02
AX_TXCOE_UDP = 0x04
AX_TXCOE_TCPV6 = 0x20
AX_TXCOE_UDPV6 = 0x40

AX_PAUSE_WATERLVL_HIGH = 0x54
AX_PAUSE_WATERLVL_LOW = 0x55
AX_LEDCTRL = 0x73

# PHY (GMII) registers, reached with AX_ACCESS_PHY.
MII_BMCR = 0x00
MII_BMSR = 0x01
MII_PHYSID1 = 0x02
MII_PHYSID2 = 0x03
MII_ADVERTISE = 0x04
MII_LPA = 0x05
MII_CTRL1000 = 0x09
MII_STAT1000 = 0x0A
BMCR_RESET = 0x8000
BMCR_SPEED100 = 0x2000
BMCR_ANENABLE = 0x1000
BMCR_ANRESTART = 0x0200
BMCR_FULLDPLX = 0x0100
BMCR_SPEED1000 = 0x0040
BMCR_MODE = BMCR_ANENABLE | BMCR_SPEED100 | BMCR_SPEED1000 | BMCR_FULLDPLX
"""The bits ``mii_ethtool_set_link_ksettings`` rewrites to force a mode."""
BMSR_LSTATUS = 0x0004
BMSR_ANEGCOMPLETE = 0x0020
GMII_PHY_PHYSR = 0x11
GMII_PHY_PHYSR_SMASK = 0xC000
GMII_PHY_PHYSR_GIGA = 0x8000
GMII_PHY_PHYSR_100 = 0x4000
GMII_PHY_PHYSR_FULL = 0x2000
GMII_PHY_PHYSR_LINK = 0x0400
GMII_PHYPAGE = 0x1E
GMII_PHY_PAGE_SELECT = 0x1F
GMII_PHY_PGSEL_PAGE0 = 0x0000
GMII_PHY_PGSEL_PAGE3 = 0x0003
GMII_PHY_PGSEL_PAGE5 = 0x0005
MII_PHYADDR = 0x19
"""On page 3, the vendor register whose bit 0 ``ax88179_enable_eee``/``_disable_eee`` set
(0x3247) and clear (0x3246)."""

# Clause 45 MMD registers through Clause 22 (IEEE 802.3 annex 22D), for EEE (linux/mdio.h).
MII_MMD_CTRL = 0x0D
MII_MMD_DATA = 0x0E
MII_MMD_CTRL_NOINCR = 0x4000
"""MII_MMD_CTRL's function "data, no post increment" (0: the address)."""
MDIO_MMD_PCS = 3
MDIO_MMD_AN = 7
MDIO_PCS_EEE_ABLE = 20
MDIO_AN_EEE_ADV = 60
MDIO_AN_EEE_LPABLE = 61
MDIO_EEE_100TX = 0x0002
MDIO_EEE_1000T = 0x0004
ETHTOOL_100BASET_FULL = 1 << 3
ETHTOOL_1000BASET_FULL = 1 << 5
_EEE_MODES = ((MDIO_EEE_100TX, ETHTOOL_100BASET_FULL), (MDIO_EEE_1000T, ETHTOOL_1000BASET_FULL))

# AX88179_BULKIN_SIZE[] from Linux: ctrl, timer_l, timer_h, size, ifg.
AX88179_BULKIN_SIZE: tuple[bytes, ...] = (
    bytes([7, 0x4F, 0, 0x12, 0xFF]),
    bytes([7, 0x20, 3, 0x16, 0xFF]),
    bytes([7, 0xAE, 7, 0x18, 0xFF]),
    bytes([7, 0xCC, 0x4C, 0x18, 8]),
)

RX_PAD = 2
"""IP-alignment pseudo header in front of every received frame."""
TX_HEADER_LEN = 8


# --------------------------------------------------------------------------
# Receive path
# --------------------------------------------------------------------------

_Span = tuple[int, int, int, bool]
_ZEROS = bytes(8)


@dataclasses.dataclass(frozen=True)
class Ax88179RxPacket:
    """One received frame with its per-packet header."""

    frame: bytes | memoryview
    header: int

    @property
    def checksum_unnecessary(self) -> bool:
        """Linux ``ax88179_rx_checksum``: TCP/UDP with no L3/L4 checksum error."""
        return _checksum_ok(self.header)


def _checksum_ok(header: int) -> bool:
    if header & (AX_RXHDR_L3CSUM_ERR | AX_RXHDR_L4CSUM_ERR):
        return False
    return (header & AX_RXHDR_L4_TYPE_MASK) in (AX_RXHDR_L4_TYPE_TCP, AX_RXHDR_L4_TYPE_UDP)


_TX_HEADER = struct.Struct("<II")
_CSUM_ERR = AX_RXHDR_L3CSUM_ERR | AX_RXHDR_L4CSUM_ERR
_CSUM_L4_TYPES = (AX_RXHDR_L4_TYPE_TCP, AX_RXHDR_L4_TYPE_UDP)


@dataclasses.dataclass
class Ax88179RxStats(CodecStats):
    """Counters of :class:`Ax88179RxDecoder` (each error also bumps ``rx_errors``).

    ``bad_footer``: transfer < 4 bytes, pkt_cnt 0, or header array outside the
    transfer (the last case also counts ``bad_header_array``); whole transfer
    dropped.  ``crc_errors``/``drop_errors``: packets flagged by the chip
    (also ``rx_crc_errors``/``rx_frame_errors``); ``length_errors``: runts
    (pkt_len < 16) and packets running past the header array (the latter also
    count ``truncated`` and stop the transfer).  ``dummy_headers`` is
    informational.
    """

    bad_footer: int = 0
    bad_header_array: int = 0
    crc_errors: int = 0
    drop_errors: int = 0
    length_errors: int = 0
    truncated: int = 0
    dummy_headers: int = 0
    checksum_unnecessary: int = 0


class Ax88179RxDecoder:
    """Split one AX88179 bulk IN transfer into Ethernet frames (Linux 6.x rx_fixup).

    Algorithm: read the footer from the last 4 bytes (``pkt_cnt`` low half,
    ``hdr_off`` high half); require ``pkt_cnt > 0`` and
    ``hdr_off + 4 * pkt_cnt <= len - 4``; packets live in ``[0, hdr_off)``.
    For each header: pkt_len 0 -> dummy, skipped; padded length
    ``(pkt_len + 7) & ~7`` beyond the data area -> stop (frames already found
    are kept); CRC/DROP flags or pkt_len < 2 + 14 -> counted and skipped;
    otherwise the frame is ``data[cursor + 2 : cursor + pkt_len]`` and the
    cursor advances by the padded length.  Bounded by ``pkt_cnt`` (<= 65535)
    so it always terminates.  Never raises on device data.
    """

    def __init__(self, *, copy: bool = True) -> None:
        """*copy* False returns memoryview slices of the transfer instead of bytes."""
        self.copy = copy
        self.stats = Ax88179RxStats()

    def decode(self, transfer: bytes | bytearray | memoryview) -> list[bytes | memoryview]:
        """Return the frames of *transfer* (see :meth:`decode_packets`)."""
        return [f for f, _csum in self.decode_frames(transfer)]

    def decode_packets(self, transfer: bytes | bytearray | memoryview) -> list[Ax88179RxPacket]:
        """Return frames with their per-packet headers (for checksum offload status)."""
        mv, spans = self._split(transfer)
        copy = self.copy
        return [Ax88179RxPacket(bytes(mv[a:b]) if copy else mv[a:b], h) for a, b, h, _ in spans]

    def decode_frames(
        self, transfer: bytes | bytearray | memoryview
    ) -> list[tuple[bytes | memoryview, bool]]:
        """Return ``(frame, checksum verified by the chip)`` pairs: what ``rx_fixup`` needs."""
        mv, spans = self._split(transfer)
        if self.copy:
            return [(bytes(mv[a:b]), ok) for a, b, _h, ok in spans]
        return [(mv[a:b], ok) for a, b, _h, ok in spans]

    def _split(self, transfer: bytes | bytearray | memoryview) -> tuple[memoryview, list[_Span]]:
        """Validate the trailer; (the transfer, (start, stop, header, checksum verified) of
        every good packet)."""
        st = self.stats
        st.rx_transfers += 1
        mv = memoryview(transfer)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        n = len(mv)
        if n < 4:
            st.bump("bad_footer", "rx_errors", "rx_length_errors")
            return mv, []
        end = n - 4
        pkt_cnt, hdr_off = struct.unpack_from("<HH", mv, end)
        if pkt_cnt == 0:
            st.bump("bad_footer", "rx_errors", "rx_frame_errors")
            return mv, []
        if hdr_off + 4 * pkt_cnt > end:
            st.bump("bad_footer", "bad_header_array", "rx_errors", "rx_length_errors")
            return mv, []
        out: list[_Span] = []
        cursor = nbytes = csum = 0
        for hdr in struct.unpack_from(f"<{pkt_cnt}I", mv, hdr_off):  # pkt_cnt <= 65535
            pkt_len = (hdr >> AX_RXHDR_LEN_SHIFT) & AX_RXHDR_LEN_MASK
            if pkt_len == 0:
                st.dummy_headers += 1
                continue
            padded = (pkt_len + 7) & ~7
            if cursor + padded > hdr_off:
                st.bump("length_errors", "truncated", "rx_errors", "rx_length_errors")
                break
            if hdr & (AX_RXHDR_CRC_ERR | AX_RXHDR_DROP_ERR) or pkt_len < RX_PAD + ETH_HLEN:
                if hdr & AX_RXHDR_CRC_ERR:
                    st.bump("crc_errors", "rx_crc_errors")
                elif hdr & AX_RXHDR_DROP_ERR:
                    st.bump("drop_errors", "rx_frame_errors")
                else:
                    st.bump("length_errors", "rx_length_errors")
                st.rx_errors += 1
                cursor += padded
                continue
            # _checksum_ok(hdr), inline: this runs for every frame
            ok = not hdr & _CSUM_ERR and (hdr & AX_RXHDR_L4_TYPE_MASK) in _CSUM_L4_TYPES
            csum += ok
            out.append((cursor + RX_PAD, cursor + pkt_len, hdr, ok))
            nbytes += pkt_len - RX_PAD
            cursor += padded
        st.rx_frames += len(out)
        st.rx_bytes += nbytes
        st.checksum_unnecessary += csum
        return mv, out


def encode_rx_transfer(
    frames: Sequence[bytes | bytearray | memoryview],
    *,
    dummy_headers: bool = False,
    flags: Sequence[int] | None = None,
) -> bytes:
    """Build a bulk IN transfer as the chip would (for simulators and tests).

    Each frame gets the 2-byte pad and is padded to 8 bytes; the header array
    follows, then the footer.  With *dummy_headers* (AX88179A/772D firmware)
    every header is followed by a dummy ``DROP_ERR | len 0`` header and 4
    bytes of padding2 precede the footer so it ends on an 8-byte boundary.
    *flags* gives per-frame low header bits (checksum status, CRC_ERR, ...).
    Raises :class:`FramingError` for no frames or a frame above 8189 bytes.
    """
    if not frames:
        raise FramingError("an AX88179 RX transfer carries at least one packet")
    if flags is not None and len(flags) != len(frames):
        raise ValueError("flags must have one entry per frame")
    parts: list[bytes | bytearray | memoryview] = []
    headers: list[int] = []
    hdr_off = 0
    if flags is None and not dummy_headers:  # the usual transfer: the loop below, leaner
        pad2 = _ZEROS[:RX_PAD]
        for f in frames:
            pkt_len = len(f) + RX_PAD
            if pkt_len > AX_RXHDR_LEN_MASK:
                raise FramingError(f"frame of {len(f)} bytes exceeds the 13-bit packet length")
            pad = -pkt_len % 8
            parts += (pad2, f, _ZEROS[:pad])
            hdr_off += pkt_len + pad
            headers.append(pkt_len << AX_RXHDR_LEN_SHIFT)
    else:
        for i, f in enumerate(frames):
            pkt_len = len(f) + RX_PAD
            if pkt_len > AX_RXHDR_LEN_MASK:
                raise FramingError(f"frame of {len(f)} bytes exceeds the 13-bit packet length")
            pad = -pkt_len % 8
            parts += (_ZEROS[:RX_PAD], f, _ZEROS[:pad])
            hdr_off += pkt_len + pad
            fl = (flags[i] if flags is not None else 0) & ~(AX_RXHDR_LEN_MASK << AX_RXHDR_LEN_SHIFT)
            headers.append(((pkt_len << AX_RXHDR_LEN_SHIFT) | fl) & 0xFFFFFFFF)
            if dummy_headers:
                headers.append(AX_RXHDR_DROP_ERR)
    if hdr_off > 0xFFFF or len(headers) > 0xFFFF:
        raise FramingError("RX transfer too large for a 16-bit header offset")
    parts.append(struct.pack(f"<{len(headers)}I", *headers))
    if dummy_headers:
        parts.append(_ZEROS[:4])
    parts.append(struct.pack("<HH", len(headers), hdr_off))
    return b"".join(parts)


def rx_transfer_size(frame_lengths: Iterable[int], *, dummy_headers: bool = False) -> int:
    """Size :func:`encode_rx_transfer` would produce for frames of these lengths."""
    per = 8 if dummy_headers else 4
    total = sum(((n + RX_PAD + 7) & ~7) + per for n in frame_lengths)
    return total + (4 if dummy_headers else 0) + 4


def rx_packet_size(frame_len: int, *, dummy_headers: bool = False) -> int:
    """Bytes one frame adds to :func:`rx_transfer_size`: its padded data and header(s)."""
    return ((frame_len + RX_PAD + 7) & ~7) + (8 if dummy_headers else 4)


# --------------------------------------------------------------------------
# Transmit path
# --------------------------------------------------------------------------


def ax88179_tx_header(
    frame_len: int,
    gso_size: int = 0,
    max_packet: int | None = None,
    *,
    mss: int | None = None,
) -> bytes:
    """The 8-byte TX header Linux ``ax88179_tx_fixup`` prepends.

    ``tx_hdr1`` = frame length, ``tx_hdr2`` = TSO MSS (*gso_size*, Linux's
    ``skb_shinfo(skb)->gso_size``; *mss* is an alias that wins if given; 0
    without TSO).  Raises :class:`FramingError` for a length or MSS outside
    32 bits.  If *max_packet* is given and ``(frame_len + 8) % max_packet == 0``
    the padding bits ``0x80008000`` are set in ``tx_hdr2``: the transfer would
    end on a full packet, and the chip is told that a padding byte may follow.
    The codec itself never appends anything: the core terminates such a
    transfer (one pad byte, as usbnet does without FLAG_SEND_ZLP, or a ZLP);
    use :func:`needs_zlp`.
    """
    if mss is not None:
        gso_size = mss
    if not 0 <= frame_len <= 0xFFFFFFFF or not 0 <= gso_size <= 0xFFFFFFFF:
        raise FramingError(f"bad frame length {frame_len} or MSS {gso_size}")
    hdr2 = gso_size
    if max_packet and (frame_len + TX_HEADER_LEN) % max_packet == 0:
        hdr2 |= AX_TX_HDR2_PADDING
    return struct.pack("<II", frame_len, hdr2)


def encode_tx(
    frame: bytes | bytearray | memoryview, *, gso_size: int = 0, max_packet: int | None = None
) -> bytes:
    """Header + frame, one frame per bulk OUT transfer (as Linux sends them).

    Raises :class:`FramingError` for an empty frame.
    """
    if len(frame) == 0:
        raise FramingError("cannot transmit an empty frame")
    return ax88179_tx_header(len(frame), gso_size, max_packet) + bytes(frame)


def encode_tx_many(
    frames: Sequence[bytes | bytearray | memoryview],
    *,
    max_packet: int | None = None,
    mss: Sequence[int] | None = None,
) -> bytes:
    """Several ``[header][frame]`` records in one bulk OUT transfer (the chip parses them
    back to back, see :class:`Ax88179TxDecoder`).

    *mss* gives each frame's TSO MSS (tx_hdr2; 0: a frame sent as it is), one entry per
    frame.  The padding bits go on the last header when the whole transfer would end on
    a full packet (*max_packet*), as :func:`ax88179_tx_header` does for one frame.
    Raises :class:`FramingError` for no frames, an empty one, or an MSS outside
    0..:data:`AX_TX_HDR2_MSS_MASK`.
    """
    if not frames:
        raise FramingError("a bulk OUT transfer carries at least one frame")
    if mss is not None and len(mss) != len(frames):
        raise ValueError("mss must have one entry per frame")
    parts: list[bytes | bytearray | memoryview] = []
    total = 0
    for i, f in enumerate(frames):
        n = len(f)
        if n == 0:
            raise FramingError("cannot transmit an empty frame")
        m = mss[i] if mss is not None else 0
        if not 0 <= m <= AX_TX_HDR2_MSS_MASK:
            raise FramingError(f"MSS {m} does not fit tx_hdr2 (0..{AX_TX_HDR2_MSS_MASK})")
        parts += (struct.pack("<II", n, m), f)
        total += TX_HEADER_LEN + n
    if max_packet and total % max_packet == 0:
        last = mss[-1] if mss is not None else 0
        parts[-2] = struct.pack("<II", len(frames[-1]), last | AX_TX_HDR2_PADDING)
    return b"".join(parts)


@dataclasses.dataclass
class Ax88179TxStats(CodecStats):
    """Counters of :class:`Ax88179TxDecoder` (device side; ``rx_*`` = received from the host)."""

    bad_length: int = 0
    truncated: int = 0
    pad_bytes: int = 0


class Ax88179TxDecoder:
    """Device-side parser of host bulk OUT transfers (used by the simulator).

    A transfer holds one or more ``[u32 len][u32 flags/mss][len bytes]``
    records back to back; fewer than 8 bytes left after a record are treated
    as padding (the pad byte the host adds to avoid a full last packet).  A
    record with length 0 or running past the end stops parsing (counted).
    """

    def __init__(self, *, max_frame: int = 0xFFFF) -> None:
        """*max_frame* rejects records longer than this (jumbo/TSO limit)."""
        self.max_frame = max_frame
        self.stats = Ax88179TxStats()

    def decode(self, transfer: bytes | bytearray | memoryview) -> list[bytes]:
        """Return the frames of a host OUT transfer; never raises on bad data."""
        return [f for f, _hdr2 in self.decode_records(transfer)]

    def decode_records(self, transfer: bytes | bytearray | memoryview) -> list[tuple[bytes, int]]:
        """Like :meth:`decode`, with each frame's ``tx_hdr2`` (its TSO MSS in
        :data:`AX_TX_HDR2_MSS_MASK`, and the padding flag): ``(frame, hdr2)`` pairs."""
        st = self.stats
        st.rx_transfers += 1
        buf = bytes(transfer)
        off = nbytes = 0
        n = len(buf)
        last = n - TX_HEADER_LEN  # where the last record's header may start
        max_frame = self.max_frame
        unpack = _TX_HEADER.unpack_from
        out: list[tuple[bytes, int]] = []
        try:
            while off <= last:
                length, hdr2 = unpack(buf, off)
                off += TX_HEADER_LEN
                end = off + length
                if not 0 < length <= max_frame:
                    st.bump("bad_length", "rx_errors", "rx_length_errors")
                    return out
                if end > n:
                    st.bump("truncated", "rx_errors", "rx_length_errors")
                    return out
                out.append((buf[off:end], hdr2))
                nbytes += length
                off = end
            st.pad_bytes += n - off
        finally:  # the records before an error count as they did one by one
            st.rx_frames += len(out)
            st.rx_bytes += nbytes
        return out


ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
IPPROTO_TCP = 6
IPPROTO_UDP = 17
_VLAN_TYPES = (0x8100, 0x88A8)
_IPV6_EXT_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options


@dataclasses.dataclass(frozen=True)
class TxHeaders:
    """Where a frame's IP and TCP/UDP headers are (offsets from the frame's start), as the
    chip's transmit engine finds them for checksum offload and TSO."""

    l3: int
    """The IPv4/IPv6 header (after the Ethernet header and up to two VLAN tags)."""
    ipv6: bool
    l4: int
    """The TCP/UDP header (after the IPv4 options or the IPv6 extension headers)."""
    proto: int
    """IPPROTO_TCP or IPPROTO_UDP."""
    end: int
    """The end of the TCP header (its data offset) or of the 8-byte UDP header."""
    ip_end: int
    """The end of the IP packet by its length field (bytes after it are Ethernet padding)."""


def parse_tx_headers(frame: bytes | bytearray | memoryview) -> TxHeaders | None:
    """The IP and TCP/UDP headers of an outgoing Ethernet frame; None when the frame is not
    TCP or UDP over IPv4/IPv6, is an IPv4 fragment (its checksum covers the other fragments
    too), or its headers are truncated or inconsistent: nothing to offload.

    Up to two VLAN tags (802.1Q/802.1ad) are skipped, IPv4 options (IHL) and the IPv6
    hop-by-hop, routing and destination-options headers are honoured; an IP length field
    running past the frame, an IHL under 5 or a TCP data offset under 5 are refused.
    """
    n = len(frame)
    if n < ETH_HLEN:
        return None
    at = 12
    etype = frame[at] << 8 | frame[at + 1]
    for _ in range(2):
        if etype not in _VLAN_TYPES or at + 6 > n:
            break
        at += 4
        etype = frame[at] << 8 | frame[at + 1]
    l3 = at + 2
    if etype == ETH_P_IP:
        if l3 + 20 > n or frame[l3] >> 4 != 4:
            return None
        ihl = (frame[l3] & 0x0F) * 4
        ip_end = l3 + (frame[l3 + 2] << 8 | frame[l3 + 3])
        if ihl < 20 or ip_end > n or ip_end < l3 + ihl:
            return None
        ipv6 = False
        if (frame[l3 + 6] << 8 | frame[l3 + 7]) & 0x3FFF:  # MF, or a fragment offset
            return None
        proto = frame[l3 + 9]
        l4 = l3 + ihl
    elif etype == ETH_P_IPV6:
        if l3 + 40 > n or frame[l3] >> 4 != 6:
            return None
        ip_end = l3 + 40 + (frame[l3 + 4] << 8 | frame[l3 + 5])
        if ip_end > n:
            return None
        ipv6 = True
        proto, l4 = frame[l3 + 6], l3 + 40
        while proto in _IPV6_EXT_HEADERS and l4 + 8 <= ip_end:
            proto, l4 = frame[l4], l4 + (frame[l4 + 1] + 1) * 8
    else:
        return None
    if proto == IPPROTO_TCP:
        if l4 + 20 > ip_end:
            return None
        end = l4 + (frame[l4 + 12] >> 4) * 4
        if end < l4 + 20 or end > ip_end:
            return None
    elif proto == IPPROTO_UDP:
        end = l4 + 8
        if end > ip_end:
            return None
    else:
        return None
    return TxHeaders(l3, ipv6, l4, proto, end, ip_end)


# --------------------------------------------------------------------------
# Interrupt endpoint, PHY and RX-mode helpers
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LinkStatus:
    """Parsed 8-byte interrupt status (``struct ax88179_int_data``)."""

    link: bool
    intdata1: int
    intdata2: int


def parse_interrupt(data: bytes | bytearray | memoryview | Sequence[int]) -> LinkStatus | None:
    """Parse an interrupt transfer; None if shorter than 8 bytes (Linux ignores those).

    ``link`` is bit 16 of the first little-endian u32 (``AX_INT_PPLS_LINK``).
    """
    buf = bytes(data)
    if len(buf) < 8:
        return None
    d1, d2 = struct.unpack_from("<II", buf, 0)
    return LinkStatus(link=bool(d1 & AX_INT_PPLS_LINK), intdata1=d1, intdata2=d2)


def build_interrupt(link: bool, *, intdata1_extra: int = 0, intdata2: int = 0) -> bytes:
    """Serialize an interrupt status as the chip sends it (simulators/tests)."""
    d1 = (intdata1_extra & ~AX_INT_PPLS_LINK) | (AX_INT_PPLS_LINK if link else 0)
    return struct.pack("<II", d1 & 0xFFFFFFFF, intdata2 & 0xFFFFFFFF)


def mmd_eee_to_ethtool(val: int) -> int:
    """``mmd_eee_cap_to_ethtool_sup_t``/``mmd_eee_adv_to_ethtool_adv_t`` for a BASE-T PHY:
    the EEE ability or advertisement register -> legacy link mode bits."""
    return sum(mode for eee, mode in _EEE_MODES if val & eee)


def ethtool_to_mmd_eee(modes: int) -> int:
    """``ethtool_adv_to_mmd_eee_adv_t``: link mode bits -> the EEE advertisement register."""
    return sum(eee for eee, mode in _EEE_MODES if modes & mode)


def decode_physr(physr: int) -> tuple[bool, int, bool]:
    """Decode GMII_PHY_PHYSR: (link, speed in Mbit/s, full duplex)."""
    link = bool(physr & GMII_PHY_PHYSR_LINK)
    sel = physr & GMII_PHY_PHYSR_SMASK
    speed = 1000 if sel == GMII_PHY_PHYSR_GIGA else 100 if sel == GMII_PHY_PHYSR_100 else 10
    return link, speed, bool(physr & GMII_PHY_PHYSR_FULL)


def decode_bmcr(bmcr: int) -> tuple[bool, int, bool]:
    """MII_BMCR as ``mii_ethtool_get_link_ksettings`` reads it: (autoneg, forced speed in
    Mbit/s, forced full duplex); the speed and duplex mean something only without autoneg."""
    if bmcr & BMCR_SPEED1000 and not bmcr & BMCR_SPEED100:
        speed = 1000
    else:
        speed = 100 if bmcr & BMCR_SPEED100 else 10
    return bool(bmcr & BMCR_ANENABLE), speed, bool(bmcr & BMCR_FULLDPLX)


def encode_bmcr(bmcr: int, autoneg: bool, speed_mbps: int, full_duplex: bool) -> int:
    """``bmcr`` changed as ``mii_ethtool_set_link_ksettings`` changes it: autoneg on sets
    ANENABLE and ANRESTART (the rest kept); off clears ANENABLE and forces the speed and
    duplex."""
    if autoneg:
        return bmcr | BMCR_ANENABLE | BMCR_ANRESTART
    out = bmcr & ~BMCR_MODE & 0xFFFF
    if speed_mbps == 1000:
        out |= BMCR_SPEED1000
    elif speed_mbps == 100:
        out |= BMCR_SPEED100
    return out | (BMCR_FULLDPLX if full_duplex else 0)


def encode_physr(link: bool, speed_mbps: int, full_duplex: bool = True) -> int:
    """Inverse of :func:`decode_physr` (what the PHY reports)."""
    v = GMII_PHY_PHYSR_LINK if link else 0
    if speed_mbps >= 1000:
        v |= GMII_PHY_PHYSR_GIGA
    elif speed_mbps >= 100:
        v |= GMII_PHY_PHYSR_100
    if full_duplex:
        v |= GMII_PHY_PHYSR_FULL
    return v


def medium_mode(speed_mbps: int, full_duplex: bool, mtu: int = 1500) -> int:
    """AX_MEDIUM_STATUS_MODE value Linux ``ax88179_link_reset`` writes."""
    mode = AX_MEDIUM_RECEIVE_EN | AX_MEDIUM_TXFLOW_CTRLEN | AX_MEDIUM_RXFLOW_CTRLEN
    if speed_mbps >= 1000:
        mode |= AX_MEDIUM_GIGAMODE | AX_MEDIUM_EN_125MHZ
        if mtu > 1500:
            mode |= AX_MEDIUM_JUMBO_EN
    elif speed_mbps >= 100:
        mode |= AX_MEDIUM_PS
    if full_duplex:
        mode |= AX_MEDIUM_FULL_DUPLEX
    return mode


def bulkin_config(speed_mbps: int, usb_link_status: int) -> tuple[bytes, int]:
    """(AX_RX_BULKIN_QCTRL bytes, rx_urb_size) as chosen by Linux link_reset.

    *usb_link_status* is the PHYSICAL_LINK_STATUS register (AX_USB_SS/HS).
    """
    if speed_mbps >= 1000:
        if usb_link_status & AX_USB_SS:
            cfg = AX88179_BULKIN_SIZE[0]
        elif usb_link_status & AX_USB_HS:
            cfg = AX88179_BULKIN_SIZE[1]
        else:
            cfg = AX88179_BULKIN_SIZE[3]
    elif speed_mbps >= 100:
        cfg = (
            AX88179_BULKIN_SIZE[2]
            if usb_link_status & (AX_USB_SS | AX_USB_HS)
            else AX88179_BULKIN_SIZE[3]
        )
    else:
        cfg = AX88179_BULKIN_SIZE[3]
    return cfg, 1024 * (cfg[3] + 2)


def mcast_hash_bit(addr: bytes | Sequence[int]) -> int:
    """Bit index (0..63) of *addr* in the 8-byte multicast filter (``ether_crc >> 26``)."""
    return ether_crc(bytes(addr[:ETH_ALEN])) >> 26


def multicast_filter(addrs: Iterable[bytes | Sequence[int]]) -> bytes:
    """The 8-byte AX_MULFLTARY value for *addrs*, as ``ax88179_set_multicast`` computes it."""
    filt = bytearray(AX_MCAST_FLTSIZE)
    for a in addrs:
        bit = mcast_hash_bit(a)
        filt[bit >> 3] |= 1 << (bit & 7)
    return bytes(filt)


def rx_mode(
    *, promisc: bool = False, allmulti: bool = False, mc_addrs: Sequence[bytes] = ()
) -> tuple[int, bytes | None]:
    """(RX_CTL value, multicast filter or None) as ``ax88179_set_multicast`` computes.

    START | AB | IPE always; PRO if promiscuous; AMALL if all-multicast or
    more than 64 groups; otherwise AM plus the hashed filter when groups are
    given.  A filter of None means "do not write AX_MULFLTARY".
    """
    ctl = AX_RX_CTL_START | AX_RX_CTL_AB | AX_RX_CTL_IPE
    if promisc:
        return ctl | AX_RX_CTL_PRO, None
    if allmulti or len(mc_addrs) > AX_MAX_MCAST:
        return ctl | AX_RX_CTL_AMALL, None
    if not mc_addrs:
        return ctl, None
    return ctl | AX_RX_CTL_AM, multicast_filter(mc_addrs)
