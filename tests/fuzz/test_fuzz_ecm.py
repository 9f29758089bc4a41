"""Property tests of the CDC-ECM control side: notifications and functional descriptors.

What tests/fuzz/test_fuzz_usb_codecs.py and test_fuzz_usbnet.py do not cover:
that the notification parser's memory stays bounded and every interrupt
transfer is accounted exactly once whatever the device sends (any
bmRequestType, lengths, split points, interleavings); that descriptors round
trip for every field value and survive foreign descriptors around them; that
the pyusb ``list[int]`` form parses like bytes; and the MAC string both ways.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
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
from netdrv_usbnet.codecs.cdc_ecm import (
    REQ_TYPE_CLASS_IN,
    USB_CDC_NOTIFY_NETWORK_CONNECTION,
    USB_CDC_NOTIFY_SPEED_CHANGE,
    USB_DT_CS_INTERFACE,
    EthernetNetworkingDescriptor,
    NcmDescriptor,
    build_functional_descriptors,
    build_notification,
    format_mac_string,
)

FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)


@st.composite
def notification_bytes(draw: st.DrawFn) -> bytes:
    """Headers a device might send: right or wrong request type, any code, lengths near limits."""
    req = draw(st.sampled_from([REQ_TYPE_CLASS_IN, REQ_TYPE_CLASS_IN, 0x21, 0x00, 0xFF]))
    code = draw(st.one_of(st.sampled_from([0x00, 0x01, 0x2A]), u8))
    length = draw(st.one_of(st.sampled_from([0, 8, 16, 63, 64, 65]), u16))
    data = draw(st.binary(max_size=min(length, 80) + draw(st.integers(0, 8))))
    return struct.pack("<BBHHH", req, code, draw(u16), draw(u16), length) + data


transfers_st = st.lists(st.one_of(notification_bytes(), st.binary(max_size=40)), max_size=25)


@FAST
@given(transfers_st, st.sampled_from([8, 16, 64]), st.booleans())
@example([struct.pack("<BBHHH", 0xA1, 0x2A, 0, 0, 0xFFFF)] + [b"\xff" * 64] * 5, 64, True)
def test_notification_parser_memory_is_bounded_and_every_transfer_counted(
    transfers: list[bytes], max_data: int, strict: bool
) -> None:
    p = NotificationParser(max_data=max_data, strict_request_type=strict)
    produced = 0
    for t in transfers:
        was_pending = p.pending
        before = p.stats.as_dict()
        out = p.feed(t)
        assert len(out) <= 1
        produced += len(out)
        after = p.stats.as_dict()
        assert len(p._pending_data) <= max_data, "a split notification never holds more"
        # Each transfer is exactly one of: a continuation, a complete notification,
        # the start of a split one, or a malformed (dropped, counted) transfer.
        if was_pending:
            assert after["split_reassembled"] - before["split_reassembled"] == len(out)
        else:
            started = after["split_pending"] - before["split_pending"]
            dropped = after["malformed"] - before["malformed"]
            assert len(out) + started + dropped == 1, (t, out, before, after)
            if dropped:
                assert after["rx_errors"] - before["rx_errors"] == 1
        for n in out:
            assert isinstance(n, NetworkConnection | ResponseAvailable | ConnectionSpeedChange
                              | UnknownNotification)  # fmt: skip
            assert 0 <= n.code <= 255
    s = p.stats
    assert s.rx_transfers == len(transfers)
    assert s.rx_frames == produced
    assert s.malformed == s.short + s.bad_request_type + s.oversized
    p.reset()
    assert not p.pending


@FAST
@given(st.lists(st.tuples(u8, u16, u16, st.binary(max_size=64)), min_size=1, max_size=8),
       st.lists(st.integers(1, 80), min_size=1, max_size=20))  # fmt: skip
def test_any_notification_survives_any_packetisation(
    notes: list[tuple[int, int, int, bytes]], cuts: list[int]
) -> None:
    """Cut each notification at arbitrary points (packets of the interrupt endpoint)."""
    whole = [build_notification(c, value=v, interface=i, data=d) for c, v, i, d in notes]
    ref = [n for w in whole for n in NotificationParser().feed(w)]
    p = NotificationParser()
    got = []
    for w in whole:
        pos, k = 0, 0
        first = True
        while pos < len(w) or first:
            step = max(cuts[k % len(cuts)], 8 if first else 1)  # a header arrives whole
            got += p.feed(w[pos : pos + step])
            pos += step
            k += 1
            first = False
    assert got == ref and len(got) == len(notes)
    for n, (code, value, iface, data) in zip(got, notes, strict=True):
        assert (n.code, n.interface) == (code, iface)
        if code == USB_CDC_NOTIFY_NETWORK_CONNECTION:
            assert n.connected == bool(value)
        elif code == USB_CDC_NOTIFY_SPEED_CHANGE and len(data) >= 8:
            assert (n.downlink_bps, n.uplink_bps) == struct.unpack_from("<II", data)


def _foreign() -> st.SearchStrategy[bytes]:
    """Descriptors of other types (interface association, endpoint, vendor): to be skipped."""
    return st.builds(
        lambda t, body: bytes([2 + len(body), t]) + body,
        st.integers(0, 0xFF).filter(lambda t: t != USB_DT_CS_INTERFACE),
        st.binary(max_size=12),
    )


eth_st = st.builds(EthernetNetworkingDescriptor, u8, u32, u16, u16, u8)
ncm_st = st.builds(NcmDescriptor, bcdNcmVersion=u16, bmNetworkCapabilities=u8)


@FAST
@given(u16, st.one_of(st.none(), st.tuples(u8, st.lists(u8, min_size=1, max_size=6))),
       st.one_of(st.none(), eth_st), st.one_of(st.none(), ncm_st),
       st.lists(_foreign(), max_size=3), st.booleans())  # fmt: skip
def test_descriptors_round_trip_among_foreign_ones(
    bcd: int, union: tuple[int, list[int]] | None, eth: EthernetNetworkingDescriptor | None,
    ncm: NcmDescriptor | None, foreign: list[bytes], as_list: bool,
) -> None:  # fmt: skip
    # A Union names at least one subordinate interface (bLength >= 5, CDC 1.2 table 16).
    body = build_functional_descriptors(bcd_cdc=bcd, union=union, ethernet=eth, ncm=ncm)
    extra = b"".join(foreign[:1]) + body + b"".join(foreign[1:])
    fd = parse_functional_descriptors(list(extra) if as_list else extra)
    assert fd.header is not None and fd.header.bcdCDC == bcd
    if union is None:
        assert fd.union is None
    else:
        assert fd.union is not None
        assert (fd.union.master_interface, list(fd.union.slave_interfaces)) == (union[0], union[1])
    assert fd.ethernet == eth
    assert fd.ncm == ncm
    if union is not None and eth is not None:
        assert fd.require_ethernet() == (fd.union, fd.ethernet)
    else:
        with pytest.raises(DescriptorError, match="missing"):
            fd.require_ethernet()


@FAST
@given(st.binary(min_size=1, max_size=120), st.integers(0, 119))
def test_a_corrupted_descriptor_set_parses_or_raises_descriptor_error(
    noise: bytes, at: int
) -> None:
    good = bytearray(build_functional_descriptors(
        union=(0, [1]), ethernet=EthernetNetworkingDescriptor(1, 0, 1514, 0, 0)))  # fmt: skip
    at %= len(good)
    good[at : at + len(noise)] = noise
    try:
        fd = parse_functional_descriptors(bytes(good))
    except DescriptorError as exc:
        assert "descriptor" in str(exc).lower()
        return
    # Parsed: whatever came out is internally consistent.
    if fd.union is not None:
        assert 0 <= fd.union.master_interface <= 255


@FAST
@given(st.binary(min_size=6, max_size=6), st.booleans())
def test_mac_string_round_trip(mac: bytes, lower: bool) -> None:
    text = format_mac_string(mac)
    assert parse_mac_string(text.lower() if lower else text) == mac
    assert parse_mac_string(text.encode()) == mac


@FAST
@given(st.lists(st.binary(max_size=1600), max_size=30), st.integers(14, 1600), st.booleans())
def test_ecm_decoder_accounts_every_transfer(transfers: list[bytes], max_frame: int,
                                             copy: bool) -> None:  # fmt: skip
    dec = EcmRxDecoder(max_frame=max_frame, copy=copy)
    frames = [f for t in transfers for f in dec.decode(t)]
    s = dec.stats
    assert s.rx_transfers == len(transfers)
    assert s.rx_transfers == s.rx_frames + s.zero_length + s.runts + s.giants
    assert s.rx_errors == s.runts + s.giants == s.rx_length_errors
    assert all(14 <= len(f) <= max_frame for f in frames)
    assert s.rx_bytes == sum(len(f) for f in frames)
