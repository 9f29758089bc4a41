"""AX88179 codec: RX trailer decoding (incl. AX88179A dummy headers), TX header, helpers."""

from __future__ import annotations

import struct

import pytest
from netdrv_usbnet.codecs import (
    Ax88179RxDecoder,
    Ax88179TxDecoder,
    FramingError,
    ax88179_tx_header,
    encode_rx_transfer,
    encode_tx,
    ether_crc,
    needs_zlp,
    parse_interrupt,
)
from netdrv_usbnet.codecs import ax88179 as ax


def eth(n: int, fill: int = 0x5A) -> bytes:
    return (
        b"\x00\x0e\xc6\x00\x00\x01"
        + b"\x02\x00\x00\x00\x00\x02"
        + b"\x08\x00"
        + bytes([fill & 0xFF]) * (n - 14)
    )


def hdr(pkt_len: int, flags: int = 0) -> int:
    return (pkt_len << 16) | flags


def linux_layout(packets: list[tuple[bytes, int]], *, dummies: bool, padding2: bool) -> bytes:
    """Build a transfer by hand following the layout comment in Linux ax88179_rx_fixup."""
    data = bytearray()
    headers: list[int] = []
    for frame, flags in packets:
        pkt_len = len(frame) + 2
        data += b"\x00\x00" + frame
        data += b"\x00" * (-len(data) % 8)
        headers.append(hdr(pkt_len, flags))
        if dummies:
            headers.append(ax.AX_RXHDR_DROP_ERR)  # pkt_len=0 and DROP_ERR
    hdr_off = len(data)
    for h in headers:
        data += struct.pack("<I", h)
    if padding2:
        data += b"\x00" * 4
    data += struct.pack("<HH", len(headers), hdr_off)
    return bytes(data)


# ---------------------------------------------------------------- RX


@pytest.mark.parametrize("dummies", [False, True])
def test_rx_several_frames_roundtrip(dummies):
    frames = [eth(n, i) for i, n in enumerate([60, 61, 62, 63, 64, 65, 66, 67, 1514, 14])]
    t = encode_rx_transfer(frames, dummy_headers=dummies)
    dec = Ax88179RxDecoder()
    assert dec.decode(t) == frames
    assert dec.stats.rx_frames == len(frames)
    assert dec.stats.dummy_headers == (len(frames) if dummies else 0)
    assert dec.stats.rx_errors == 0
    pkt_cnt, hdr_off = struct.unpack_from("<HH", t, len(t) - 4)
    assert pkt_cnt == len(frames) * (2 if dummies else 1)
    assert hdr_off % 8 == 0
    if dummies:
        assert len(t) % 8 == 0  # padding2 makes the footer end on an 8-byte boundary


def test_rx_layout_offsets_are_8_aligned_with_2_byte_pad():
    frames = [eth(61, 1), eth(75, 2)]
    t = encode_rx_transfer(frames)
    assert t[0:2] == b"\x00\x00" and t[2 : 2 + 61] == frames[0]
    second = (61 + 2 + 7) & ~7
    assert second == 64
    assert t[second : second + 2] == b"\x00\x00" and t[second + 2 : second + 2 + 75] == frames[1]


def test_rx_handmade_ax88179a_transfer_matches_linux_layout():
    frames = [eth(100, 1), eth(200, 2), eth(60, 3)]
    t = linux_layout([(f, 0) for f in frames], dummies=True, padding2=True)
    assert t == encode_rx_transfer(frames, dummy_headers=True)
    dec = Ax88179RxDecoder()
    assert dec.decode(t) == frames
    assert dec.stats.dummy_headers == 3


def test_rx_dummy_and_padding2_are_optional():
    frames = [eth(100, 1), eth(200, 2)]
    for dummies, padding2 in [(False, False), (True, False), (False, True), (True, True)]:
        t = linux_layout([(f, 0) for f in frames], dummies=dummies, padding2=padding2)
        assert Ax88179RxDecoder().decode(t) == frames


def test_rx_error_flags_skip_only_that_packet():
    pkts = [
        (eth(60, 1), 0),
        (eth(60, 2), ax.AX_RXHDR_CRC_ERR),
        (eth(70, 3), ax.AX_RXHDR_DROP_ERR),
        (eth(80, 4), 0),
    ]
    t = linux_layout(pkts, dummies=False, padding2=False)
    dec = Ax88179RxDecoder()
    assert dec.decode(t) == [eth(60, 1), eth(80, 4)]
    s = dec.stats
    assert (s.crc_errors, s.drop_errors, s.rx_crc_errors, s.rx_errors) == (1, 1, 1, 2)


def test_rx_runt_packet_is_a_length_error():
    data = bytearray(b"\x00\x00" + b"\x11" * 10) + bytearray(4)  # pkt_len 12 < 16, padded to 16
    data += bytes(2) + eth(60) + bytes(-(62) % 8)
    hdr_off = len(data)
    data += struct.pack("<II", hdr(12), hdr(62)) + struct.pack("<HH", 2, hdr_off)
    dec = Ax88179RxDecoder()
    assert dec.decode(bytes(data)) == [eth(60)]
    assert dec.stats.length_errors == 1 and dec.stats.rx_length_errors == 1


def test_rx_truncated_packet_stops_but_keeps_earlier_frames():
    t = bytearray(encode_rx_transfer([eth(60, 1), eth(60, 2)]))
    _pkt_cnt, hdr_off = struct.unpack_from("<HH", t, len(t) - 4)
    struct.pack_into("<I", t, hdr_off + 4, hdr(0x1FFF))  # second packet runs past the data area
    dec = Ax88179RxDecoder()
    assert dec.decode(bytes(t)) == [eth(60, 1)]
    assert dec.stats.truncated == 1 and dec.stats.rx_errors == 1


@pytest.mark.parametrize(
    ("transfer", "extra"),
    [
        (b"", None),
        (b"\x01\x00\x00", None),
        (struct.pack("<HH", 0, 0), None),  # pkt_cnt 0
        (bytes(64) + struct.pack("<HH", 1, 64), "bad_header_array"),  # array overlaps the footer
        (bytes(64) + struct.pack("<HH", 0xFFFF, 0), "bad_header_array"),
        (bytes(64) + struct.pack("<HH", 1, 0xFFFF), "bad_header_array"),
    ],
)
def test_rx_bad_footer_drops_transfer(transfer, extra):
    dec = Ax88179RxDecoder()
    assert dec.decode(transfer) == []
    assert dec.stats.bad_footer == 1 and dec.stats.rx_errors == 1
    if extra:
        assert getattr(dec.stats, extra) == 1


def test_rx_checksum_status_follows_linux():
    pkts = [
        (eth(60, 1), ax.AX_RXHDR_L4_TYPE_TCP),
        (eth(60, 2), ax.AX_RXHDR_L4_TYPE_UDP | ax.AX_RXHDR_L4CSUM_ERR),
        (eth(60, 3), ax.AX_RXHDR_L4_TYPE_UDP),
        (eth(60, 4), 0),
        (eth(60, 5), ax.AX_RXHDR_L4_TYPE_TCP | ax.AX_RXHDR_L3CSUM_ERR),
    ]
    t = encode_rx_transfer([f for f, _ in pkts], flags=[fl for _, fl in pkts])
    dec = Ax88179RxDecoder()
    got = dec.decode_packets(t)
    assert [p.checksum_unnecessary for p in got] == [True, False, True, False, False]
    assert dec.stats.checksum_unnecessary == 2


def test_rx_zero_copy():
    t = encode_rx_transfer([eth(60)])
    out = Ax88179RxDecoder(copy=False).decode(t)
    assert isinstance(out[0], memoryview) and bytes(out[0]) == eth(60)


def test_encode_rx_transfer_rejects_impossible_input():
    with pytest.raises(FramingError):
        encode_rx_transfer([])
    with pytest.raises(FramingError):
        encode_rx_transfer([b"x" * 8190])
    assert ax.rx_transfer_size([60, 61], dummy_headers=True) == len(
        encode_rx_transfer([eth(60), eth(61)], dummy_headers=True)
    )


# ---------------------------------------------------------------- TX


def test_tx_header_fields_and_padding_rule():
    assert ax88179_tx_header(60) == struct.pack("<II", 60, 0)
    assert ax88179_tx_header(1514, gso_size=1448) == struct.pack("<II", 1514, 1448)
    assert ax88179_tx_header(1514, mss=1400) == struct.pack("<II", 1514, 1400)
    with pytest.raises(FramingError):
        ax88179_tx_header(-1)
    # (len + 8) % maxpacket == 0 -> Linux sets 0x80008000 in tx_hdr2
    assert ax88179_tx_header(504, max_packet=512) == struct.pack("<II", 504, 0x80008000)
    assert ax88179_tx_header(56, max_packet=64) == struct.pack("<II", 56, 0x80008000)
    assert ax88179_tx_header(57, max_packet=64) == struct.pack("<II", 57, 0)
    assert ax88179_tx_header(1016, max_packet=1024) == struct.pack("<II", 1016, 0x80008000)


def test_encode_tx_and_zlp_helper():
    frame = eth(504)
    t = encode_tx(frame, max_packet=512)
    assert t[8:] == frame and len(t) == 512
    assert needs_zlp(len(t), 512)
    assert not needs_zlp(len(encode_tx(eth(60), max_packet=512)), 512)
    assert needs_zlp(64, 64) and not needs_zlp(0, 64) and not needs_zlp(65, 64)
    with pytest.raises(FramingError):
        encode_tx(b"")
    with pytest.raises(ValueError):
        needs_zlp(10, 0)


def test_tx_decoder_device_side():
    frames = [eth(60, 1), eth(504, 2), eth(100, 3)]
    dec = Ax88179TxDecoder()
    for f in frames:
        t = encode_tx(f, max_packet=512)
        if needs_zlp(len(t), 512):
            t += b"\x00"  # usbnet's one-byte pad
        assert dec.decode(t) == [f]
    assert dec.decode(b"".join(encode_tx(f) for f in frames)) == frames
    assert dec.stats.pad_bytes == 1
    assert dec.decode(struct.pack("<II", 0, 0) + b"x" * 20) == []
    assert dec.decode(struct.pack("<II", 100, 0) + b"x" * 20) == []
    assert dec.stats.bad_length == 1 and dec.stats.truncated == 1 and dec.stats.rx_errors == 2


# ---------------------------------------------------------------- interrupt, PHY, filters


def test_parse_interrupt_link_bit_16():
    assert parse_interrupt(struct.pack("<II", 1 << 16, 0)).link is True
    assert parse_interrupt(struct.pack("<II", 0xFFFEFFFF, 0xFFFFFFFF)).link is False
    st = parse_interrupt(bytes([0xA1, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]))
    assert st.link and st.intdata1 == 0x000100A1
    assert parse_interrupt(b"\x00\x00\x01\x00") is None  # Linux ignores < 8 bytes
    assert parse_interrupt(ax.build_interrupt(True)).link
    assert not parse_interrupt(ax.build_interrupt(False, intdata1_extra=0xFFFFFFFF)).link


def _crc32_le_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc


def test_ether_crc_matches_linux_definition():
    for addr in (
        b"\x01\x00\x5e\x00\x00\x01",
        b"\x33\x33\x00\x00\x00\x01",
        bytes(range(6)),
        b"\xff" * 6,
    ):
        crc_le = _crc32_le_bitwise(addr)  # crc32_le(~0, addr, 6), no final inversion
        rev = int(f"{crc_le:032b}"[::-1], 2)  # bitrev32
        assert ether_crc(addr) == rev


def test_multicast_filter_and_rx_mode():
    groups = [b"\x01\x00\x5e\x00\x00\x01", b"\x33\x33\x00\x00\x00\x01"]
    filt = ax.multicast_filter(groups)
    assert len(filt) == 8
    for g in groups:
        bit = ether_crc(g) >> 26
        assert filt[bit >> 3] & (1 << (bit & 7))
    assert sum(bin(b).count("1") for b in filt) <= 2
    base = ax.AX_RX_CTL_START | ax.AX_RX_CTL_AB | ax.AX_RX_CTL_IPE
    assert ax.rx_mode() == (base, None)
    assert ax.rx_mode(promisc=True, mc_addrs=groups) == (base | ax.AX_RX_CTL_PRO, None)
    assert ax.rx_mode(allmulti=True) == (base | ax.AX_RX_CTL_AMALL, None)
    assert ax.rx_mode(mc_addrs=[b"\x01\x00\x5e\x00\x00\x01"] * 65) == (
        base | ax.AX_RX_CTL_AMALL,
        None,
    )
    assert ax.rx_mode(mc_addrs=groups) == (base | ax.AX_RX_CTL_AM, filt)


def test_link_reset_helpers():
    assert ax.decode_physr(
        ax.GMII_PHY_PHYSR_LINK | ax.GMII_PHY_PHYSR_GIGA | ax.GMII_PHY_PHYSR_FULL
    ) == (True, 1000, True)
    assert ax.decode_physr(ax.GMII_PHY_PHYSR_100) == (False, 100, False)
    assert ax.decode_physr(ax.encode_physr(True, 10, False)) == (True, 10, False)
    assert ax.medium_mode(1000, True) == 0x013B
    assert ax.medium_mode(1000, True, mtu=9000) & ax.AX_MEDIUM_JUMBO_EN == ax.AX_MEDIUM_JUMBO_EN
    assert ax.medium_mode(100, False) == ax.AX_MEDIUM_RECEIVE_EN | 0x30 | ax.AX_MEDIUM_PS
    cfg, urb = ax.bulkin_config(1000, ax.AX_USB_SS)
    assert cfg == bytes([7, 0x4F, 0, 0x12, 0xFF]) and urb == 20480
    assert ax.bulkin_config(1000, ax.AX_USB_HS)[1] == 24576
    assert ax.bulkin_config(10, ax.AX_USB_SS)[0] == ax.AX88179_BULKIN_SIZE[3]
