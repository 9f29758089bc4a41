"""CDC functional descriptors, MAC strings, notifications and the ECM RX decoder."""

from __future__ import annotations

import struct

import pytest
from netdrv_usbnet.codecs import (
    ConnectionSpeedChange,
    DescriptorError,
    EcmRxDecoder,
    NetworkConnection,
    NotificationParser,
    ResponseAvailable,
    UnknownNotification,
    parse_functional_descriptors,
    parse_mac_string,
)
from netdrv_usbnet.codecs import cdc_ecm as cdc

HEADER = bytes([5, 0x24, 0x00, 0x20, 0x01])
UNION = bytes([5, 0x24, 0x06, 0, 1])
ETHER = struct.pack("<BBBBIHHB", 13, 0x24, 0x0F, 4, 0, 1514, 0x8010, 0)
NCM = struct.pack("<BBBHB", 6, 0x24, 0x1A, 0x0100, 0x0B)


def test_parse_functional_descriptors_full_set():
    fd = parse_functional_descriptors(HEADER + UNION + ETHER + NCM)
    assert fd.header.bcdCDC == 0x0120
    assert fd.union.master_interface == 0 and fd.union.slave_interfaces == (1,)
    assert fd.union.data_interface == 1
    e = fd.ethernet
    assert (
        e.iMACAddress,
        e.bmEthernetStatistics,
        e.wMaxSegmentSize,
        e.wNumberMCFilters,
        e.bNumberPowerFilters,
    ) == (4, 0, 1514, 0x8010, 0)
    assert e.mc_filter_count == 16 and e.mc_filter_imperfect
    assert fd.ncm.bcdNcmVersion == 0x0100 and fd.ncm.bmNetworkCapabilities == 0x0B
    assert fd.require_ethernet() == (fd.union, fd.ethernet)


def test_parse_accepts_pyusb_list_and_skips_foreign_descriptors():
    iad = bytes([8, 0x0B, 0, 2, 2, 6, 0, 0])
    unknown_cs = bytes([4, 0x24, 0x55, 0x99])
    extra = list(iad + HEADER + unknown_cs + UNION + ETHER)
    fd = parse_functional_descriptors(extra)
    assert fd.ethernet is not None and fd.ncm is None
    assert len(fd.others) == 1 and fd.others[0].subtype == 0x55
    assert parse_functional_descriptors(b"") == cdc.FunctionalDescriptors()


def test_build_functional_descriptors_roundtrip():
    eth = cdc.EthernetNetworkingDescriptor(4, 0, 1514, 16, 0)
    ncm = cdc.NcmDescriptor(0x0100, 0x01)
    raw = cdc.build_functional_descriptors(union=(0, [1, 2]), ethernet=eth, ncm=ncm)
    fd = parse_functional_descriptors(raw)
    assert fd.ethernet == eth and fd.ncm == ncm and fd.union.slave_interfaces == (1, 2)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (HEADER + b"\x00\x24\x06", "below 2"),  # bLength 0 would loop forever
        (HEADER + b"\x01", "below 2"),
        (HEADER + bytes([13, 0x24, 0x0F, 4]), "runs past the end"),
        (HEADER + bytes([2, 0x24]), "no subtype"),
        (HEADER + ETHER[:12].replace(b"\x0d", b"\x0c", 1), "too short"),
        (HEADER + bytes([4, 0x24, 0x06, 0]), "Union functional descriptor too short"),
        (HEADER + UNION + UNION, "duplicate Union"),
        (HEADER + ETHER + ETHER, "duplicate Ethernet"),
        (HEADER + HEADER, "duplicate Header"),
    ],
)
def test_malformed_descriptors_raise_descriptor_error(extra, message):
    with pytest.raises(DescriptorError, match=message):
        parse_functional_descriptors(extra)


def test_require_ethernet_names_the_missing_descriptor():
    with pytest.raises(DescriptorError, match="Union"):
        parse_functional_descriptors(HEADER + ETHER).require_ethernet()
    with pytest.raises(DescriptorError, match="Ethernet Networking"):
        parse_functional_descriptors(HEADER + UNION).require_ethernet()


def test_descriptor_error_is_a_value_error():
    assert issubclass(DescriptorError, ValueError)


@pytest.mark.parametrize(
    ("text", "mac"),
    [
        ("0A1B2C3D4E5F", bytes.fromhex("0a1b2c3d4e5f")),
        ("0a1b2c3d4e5f", bytes.fromhex("0a1b2c3d4e5f")),
        (b"025349000001", bytes.fromhex("025349000001")),
    ],
)
def test_parse_mac_string_ok(text, mac):
    assert parse_mac_string(text) == mac


@pytest.mark.parametrize(
    "text",
    [
        "0A1B2C3D4E",
        "0A1B2C3D4E5F6",
        "0A1B2C3D4EZZ",
        "0A:1B:2C:3D:4E:5F",
        " 0A1B2C3D4E5",
        "",
        "\uff10A1B2C3D4E5F",
        b"\xff" * 12,
        None,
    ],
)
def test_parse_mac_string_rejects(text):
    with pytest.raises(DescriptorError):
        parse_mac_string(text)


def test_format_mac_string_roundtrip():
    assert cdc.format_mac_string(b"\x02\x53\x49\x00\x00\x01") == "025349000001"
    assert parse_mac_string(cdc.format_mac_string(bytes(range(6)))) == bytes(range(6))


# ---------------------------------------------------------------- notifications


def note(
    code: int,
    value: int = 0,
    data: bytes = b"",
    index: int = 0,
    length: int | None = None,
    rt: int = 0xA1,
) -> bytes:
    return (
        struct.pack("<BBHHH", rt, code, value, index, len(data) if length is None else length)
        + data
    )


def test_network_connection_and_response_available():
    p = NotificationParser()
    assert p.feed(note(0x00, 1)) == [NetworkConnection(0x00, 0, connected=True)]
    assert p.feed(note(0x00, 0, index=2)) == [NetworkConnection(0x00, 2, connected=False)]
    assert p.feed(note(0x01)) == [ResponseAvailable(0x01, 0)]
    assert p.stats.rx_frames == 3 and p.stats.malformed == 0


def test_speed_change_in_one_packet():
    p = NotificationParser()
    out = p.feed(cdc.build_speed_change(1_000_000_000, 100_000_000))
    assert out == [
        ConnectionSpeedChange(0x2A, 0, downlink_bps=1_000_000_000, uplink_bps=100_000_000)
    ]


@pytest.mark.parametrize("cuts", [[8], [8, 12], [10], [9, 10, 11, 12, 13, 14, 15]])
def test_speed_change_split_across_packets_is_reassembled(cuts):
    msg = cdc.build_speed_change(425_984_000, 12_000_000, interface=0)
    p = NotificationParser()
    pieces = [msg[a:b] for a, b in zip([0, *cuts], [*cuts, len(msg)], strict=True)]
    results = [p.feed(piece) for piece in pieces]
    assert all(r == [] for r in results[:-1])
    assert results[-1] == [ConnectionSpeedChange(0x2A, 0, 425_984_000, 12_000_000)]
    assert p.stats.split_reassembled == 1 and not p.pending
    # the parser is back in sync: the next packet is a new notification
    assert p.feed(cdc.build_network_connection(True)) == [NetworkConnection(0, 0, True)]


def test_split_then_linux_style_followup_packet():
    """Linux cdc_ncm_status: the 8 data bytes arrive as the whole next interrupt transfer."""
    p = NotificationParser()
    assert p.feed(note(0x2A, length=8)) == []
    assert p.pending
    assert p.feed(struct.pack("<II", 5, 6)) == [ConnectionSpeedChange(0x2A, 0, 5, 6)]


def test_reset_abandons_pending_split():
    p = NotificationParser()
    p.feed(note(0x2A, length=8))
    p.reset()
    assert not p.pending and p.stats.split_abandoned == 1
    assert p.feed(note(0x00, 1)) == [NetworkConnection(0, 0, True)]


def test_malformed_notifications_are_counted():
    p = NotificationParser()
    assert p.feed(b"") == []
    assert p.feed(b"\xa1\x00\x01") == []
    assert p.feed(note(0x00, 1, rt=0x21)) == []
    assert p.feed(note(0x2A, length=4000)) == []
    s = p.stats
    assert (s.short, s.bad_request_type, s.oversized, s.malformed, s.rx_errors) == (2, 1, 1, 4, 4)
    assert not p.pending


def test_unknown_and_trailing():
    p = NotificationParser()
    assert p.feed(note(0x20, 3, data=b"\x01\x02")) == [UnknownNotification(0x20, 0, 3, b"\x01\x02")]
    assert p.feed(note(0x00, 1) + b"junk") == [NetworkConnection(0, 0, True)]
    assert p.stats.unknown == 1 and p.stats.trailing_bytes == 4
    lax = NotificationParser(strict_request_type=False)
    assert lax.feed(note(0x00, 1, rt=0x00)) == [NetworkConnection(0, 0, True)]


# ---------------------------------------------------------------- ECM data path


def test_ecm_rx_decoder():
    d = EcmRxDecoder()
    assert d.decode(b"x" * 60) == [b"x" * 60]
    assert d.decode(b"") == [] and d.stats.zero_length == 1
    assert d.decode(b"x" * 13) == [] and d.stats.runts == 1
    assert d.decode(b"x" * 1519) == [] and d.stats.giants == 1
    assert d.stats.rx_errors == 2 and d.stats.rx_frames == 1
    assert isinstance(EcmRxDecoder(copy=False).decode(bytearray(20))[0], memoryview)


def test_request_and_filter_constants_match_the_spec():
    assert (cdc.PROMISCUOUS, cdc.ALL_MULTICAST, cdc.DIRECTED, cdc.BROADCAST, cdc.MULTICAST) == (
        1,
        2,
        4,
        8,
        0x10,
    )
    assert cdc.SET_ETHERNET_MULTICAST_FILTERS == 0x40 and cdc.SET_ETHERNET_PACKET_FILTER == 0x43
    assert cdc.GET_NTB_PARAMETERS == 0x80 and cdc.SET_NTB_INPUT_SIZE == 0x86
    assert (
        cdc.NETWORK_CONNECTION == 0x00
        and cdc.CONNECTION_SPEED_CHANGE == 0x2A
        and cdc.RESPONSE_AVAILABLE == 0x01
    )
