"""Data paths of the simulated adapters through pyusb: the cable, filters, batching, notifications."""

from __future__ import annotations

import errno
import struct
import time

import pytest
import usb.core
import usb.util
from netdrv_usbnet.codecs import (
    Ax88179RxDecoder,
    ConnectionSpeedChange,
    NetworkConnection,
    NotificationParser,
    NtbDecoder,
    NtbEncoder,
    NtbParameters,
    encode_tx,
    needs_zlp,
    parse_interrupt,
)
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.codecs import cdc_ecm as cdc
from netdrv_usbnet.sim import Ax88179Model, CdcEcmModel, CdcNcmModel, SimBackend
from usbnet_helpers import open_cdc

OTHER = b"\x02\x99\x99\x99\x99\x99"
BCAST = b"\xff" * 6


def frame(dst: bytes, n: int = 60, tag: int = 0) -> bytes:
    return dst + b"\x02\x11\x22\x33\x44\x55" + b"\x88\xb5" + bytes([tag & 0xFF]) * (n - 14)


def read_notifications(dev, parser: NotificationParser, ep: int = 0x81) -> list:
    out = []
    while True:
        try:
            out += parser.feed(dev.read(ep, 16, timeout=20))
        except usb.core.USBTimeoutError:
            return out


# ---------------------------------------------------------------- ECM


@pytest.mark.parametrize("speed", ["full", "high"])
def test_ecm_bulk_round_trip_through_the_cable(speed):
    model = CdcEcmModel(speed=speed)
    dev = open_cdc(model)
    seen = []
    model.on_wire_tx = seen.append
    tx = frame(OTHER, 100, 1)
    assert dev.write(0x01, tx, timeout=100) == 100
    assert seen == [tx] and model.take_wire_tx() == [tx]
    rx = [frame(model.mac, 60, 2), frame(BCAST, 1514, 3), frame(model.mac, 14, 4)]
    for f in rx:
        assert model.wire_rx(f)
    assert [bytes(dev.read(0x82, 2048, timeout=100)) for _ in rx] == rx  # one frame per transfer
    assert model.stats.wire_rx_frames == 3 and model.stats.wire_tx_frames == 1


@pytest.mark.parametrize(("speed", "mps"), [("full", 64), ("high", 512)])
def test_ecm_frame_of_max_packet_size_is_terminated_by_zlp(speed, mps):
    model = CdcEcmModel(speed=speed)
    dev = open_cdc(model)
    f = frame(model.mac, 2 * mps)
    model.wire_rx(f)
    model.wire_rx(frame(model.mac, 60, 9))
    assert bytes(dev.read(0x82, 2048, timeout=100)) == f  # the ZLP ends the transfer
    assert bytes(dev.read(0x82, 2048, timeout=100)) == frame(model.mac, 60, 9)
    # a buffer that fills exactly sees the ZLP as a separate empty read
    model.wire_rx(f)
    assert bytes(dev.read(0x82, 2 * mps, timeout=100)) == f
    assert bytes(dev.read(0x82, 2 * mps, timeout=100)) == b""


def test_ecm_packet_filter_requests():
    model = CdcEcmModel()
    dev = open_cdc(model)
    assert model.packet_filter == cdc.DIRECTED | cdc.BROADCAST | cdc.ALL_MULTICAST
    assert model.wire_rx(frame(model.mac))
    assert model.wire_rx(frame(BCAST))
    assert not model.wire_rx(frame(OTHER))
    assert model.stats.wire_rx_filtered == 1
    assert not model.wire_rx(b"\x01" * 13) and not model.wire_rx(frame(model.mac, 1519))
    assert model.stats.wire_rx_dropped_size == 2
    dev.ctrl_transfer(0x21, cdc.SET_ETHERNET_PACKET_FILTER, cdc.PROMISCUOUS | cdc.DIRECTED, 0)
    assert model.wire_rx(frame(OTHER))
    dev.ctrl_transfer(0x21, cdc.SET_ETHERNET_PACKET_FILTER, cdc.DIRECTED, 0)
    assert not model.wire_rx(frame(BCAST))
    group, other_group = b"\x01\x00\x5e\x00\x00\xfb", b"\x01\x00\x5e\x00\x00\x01"
    assert not model.wire_rx(frame(group))
    dev.ctrl_transfer(0x21, cdc.SET_ETHERNET_MULTICAST_FILTERS, 1, 0, group)
    dev.ctrl_transfer(0x21, cdc.SET_ETHERNET_PACKET_FILTER, cdc.DIRECTED | cdc.MULTICAST, 0)
    assert model.wire_rx(frame(group))
    assert not model.wire_rx(frame(other_group))
    with pytest.raises(usb.core.USBError):
        dev.ctrl_transfer(0x21, cdc.SET_ETHERNET_MULTICAST_FILTERS, 2, 0, group)  # length mismatch
    got = [bytes(dev.read(0x82, 2048, timeout=100)) for _ in range(4)]
    assert got == [frame(model.mac), frame(BCAST), frame(OTHER), frame(group)]


def test_ecm_receive_needs_the_data_altsetting():
    model = CdcEcmModel()
    dev = usb.core.find(backend=SimBackend([model]))
    assert not model.wire_rx(frame(model.mac))  # unconfigured
    dev.set_configuration()
    assert not model.wire_rx(frame(model.mac))  # data interface still in alt 0
    assert model.stats.wire_rx_dropped_inactive == 2
    dev.set_interface_altsetting(1, 1)
    assert model.wire_rx(frame(model.mac))


def test_ecm_notifications_on_altsetting_and_link_changes():
    model = CdcEcmModel(speed="high")
    dev = open_cdc(model)
    p = NotificationParser()
    assert read_notifications(dev, p) == [
        ConnectionSpeedChange(0x2A, 0, 425_984_000, 425_984_000),
        NetworkConnection(0x00, 0, True),
    ]
    model.set_link(False)
    assert read_notifications(dev, p) == [NetworkConnection(0x00, 0, False)]
    assert not model.wire_rx(frame(model.mac)) and model.stats.wire_rx_dropped_link_down == 1
    dev.write(0x01, frame(OTHER))
    assert model.stats.wire_tx_dropped_link_down == 1 and model.take_wire_tx() == []
    model.set_link(True, speed_bps=100_000_000)
    assert read_notifications(dev, p) == [
        ConnectionSpeedChange(0x2A, 0, 100_000_000, 100_000_000),
        NetworkConnection(0x00, 0, True),
    ]
    assert p.stats.malformed == 0


def test_ecm_host_runt_is_a_wire_error():
    model = CdcEcmModel()
    dev = open_cdc(model)
    dev.write(0x01, b"short")
    assert model.stats.wire_tx_errors == 1 and model.take_wire_tx() == []


def test_wire_rx_callback_may_loop_back_without_deadlock():
    model = CdcEcmModel()
    dev = open_cdc(model)
    model.on_wire_tx = lambda f: model.wire_rx(model.mac + f[6:])  # a reflecting cable
    dev.write(0x01, frame(OTHER, 80, 5))
    assert bytes(dev.read(0x82, 2048, timeout=100)) == model.mac + frame(OTHER, 80, 5)[6:]


# ---------------------------------------------------------------- NCM


def ncm_dev(**kw):
    model = CdcNcmModel(**kw)
    dev = open_cdc(model)
    params = NtbParameters.parse(dev.ctrl_transfer(0xA1, cdc.GET_NTB_PARAMETERS, 0, 0, 28))
    return model, dev, params


@pytest.mark.parametrize("speed", ["full", "high"])
def test_ncm_host_tx_ntbs_reach_the_wire(speed):
    params = NtbParameters(
        wNdpOutDivisor=8, wNdpOutPayloadRemainder=2, wNdpOutAlignment=16, dwNtbOutMaxSize=8192
    )
    model, dev, got = ncm_dev(speed=speed, ntb_params=params)
    assert got == params
    enc = NtbEncoder(got)
    frames = [frame(OTHER, n, i) for i, n in enumerate([60, 61, 1514, 200, 14, 999])]
    sent = []
    for f in frames:
        if not enc.add(f):
            sent.append(enc.build())
            enc.add(f)
    sent.append(enc.build())
    for ntb in sent:
        dev.write(0x01, ntb, timeout=100)
        if needs_zlp(len(ntb), dev[0][(1, 1)][1].wMaxPacketSize):
            dev.write(0x01, b"")
    assert model.take_wire_tx() == frames
    assert model.out_decoder.stats.rx_errors == 0 and model.stats.wire_tx_errors == 0


def test_ncm_rx_batches_into_one_ntb_with_in_alignment():
    params = NtbParameters(wNdpInDivisor=16, wNdpInPayloadRemainder=6, wNdpInAlignment=8)
    model, dev, got = ncm_dev(ntb_params=params)
    frames = [frame(model.mac, 60 + i, i) for i in range(5)]
    assert model.wire_rx_many(frames) == 5
    ntb = bytes(dev.read(0x82, model.ntb_in_size, timeout=100))
    ndp = struct.unpack_from("<H", ntb, 10)[0]
    assert ndp % 8 == 0
    entries = [struct.unpack_from("<HH", ntb, ndp + 8 + 4 * i) for i in range(6)]
    assert all(off % 16 == 6 for off, _ in entries[:5]) and entries[5] == (0, 0)
    dec = NtbDecoder(max_size=got.dwNtbInMaxSize)
    assert dec.decode(ntb) == frames and dec.stats.rx_errors == 0


def test_ncm_rx_respects_datagram_and_size_limits():
    model, dev, _ = ncm_dev(in_max_datagrams=4)
    dev.set_interface_altsetting(1, 0)
    dev.ctrl_transfer(0x21, cdc.SET_NTB_INPUT_SIZE, 0, 0, struct.pack("<I", 4096))
    dev.set_interface_altsetting(1, 1)
    small = [frame(model.mac, 60, i) for i in range(10)]
    big = [frame(model.mac, 1514, 100 + i) for i in range(5)]
    for f in small + big:
        model.wire_rx(f)
    dec = NtbDecoder(max_size=4096)
    got, sizes = [], []
    while len(got) < 15:
        ntb = bytes(dev.read(0x82, 4096, timeout=200))
        sizes.append(len(ntb))
        out = dec.decode(ntb)
        assert 1 <= len(out) <= 4
        got += out
    assert got == small + big
    assert max(sizes) <= 4096
    assert dec.stats.rx_errors == 0


def test_ncm_no_zlp_after_an_ntb_of_exactly_the_input_size():
    model, dev, _ = ncm_dev(speed="high")
    dev.set_interface_altsetting(1, 0)
    dev.ctrl_transfer(0x21, cdc.SET_NTB_INPUT_SIZE, 0, 0, struct.pack("<I", 2048))
    dev.set_interface_altsetting(1, 1)
    pair = [
        frame(model.mac, 1000, 1),
        frame(model.mac, 1016, 2),
    ]  # NTH 12 + NDP 20 + 2016 == 2048 == 4 * 512
    model.wire_rx_many(pair)
    t0 = time.monotonic()
    ntb = bytes(dev.read(0x82, 2048, timeout=1000))  # exactly the input size: completes at once
    assert len(ntb) == 2048 and time.monotonic() - t0 < 0.5
    model.wire_rx_many(pair)
    t0 = time.monotonic()
    ntb2 = bytes(dev.read(0x82, 4096, timeout=150))  # larger buffer: waits for a short packet
    assert len(ntb2) == 2048 and time.monotonic() - t0 >= 0.12
    assert NtbDecoder().decode(ntb2) == pair


def test_ncm_set_net_address_changes_filtering():
    model, dev, _ = ncm_dev()
    new = bytes.fromhex("02aabbccddee")
    dev.set_interface_altsetting(interface=1, alternate_setting=0)  # NCM 1.0 §6.2: alt 0 only
    dev.ctrl_transfer(0x21, cdc.SET_NET_ADDRESS, 0, 0, new)
    dev.set_interface_altsetting(interface=1, alternate_setting=1)
    assert model.wire_rx(frame(new)) and not model.wire_rx(frame(model.permanent_mac))


def test_ncm_set_net_address_stalls_in_data_alt_1():
    # A strict function: SET_NET_ADDRESS only while the data interface is in alt 0.
    model, dev, _ = ncm_dev()
    assert model.alt_settings[1] == 1
    new = bytes.fromhex("02aabbccddee")
    with pytest.raises(usb.core.USBError) as exc:
        dev.ctrl_transfer(0x21, cdc.SET_NET_ADDRESS, 0, 0, new)
    assert exc.value.errno == errno.EPIPE
    assert model.mac == model.permanent_mac


# ---------------------------------------------------------------- AX88179


def ax_dev(**kw):
    model = Ax88179Model(**kw)
    dev = usb.core.find(backend=SimBackend([model]), idVendor=0x0B95, idProduct=0x1790)
    dev.set_configuration()
    usb.util.claim_interface(dev, 0)
    return model, dev


def mac_read(dev, reg: int, n: int) -> bytes:
    return bytes(dev.ctrl_transfer(0xC0, ax.AX_ACCESS_MAC, reg, n, n))


def mac_write(dev, reg: int, data: bytes) -> None:
    dev.ctrl_transfer(0x40, ax.AX_ACCESS_MAC, reg, len(data), data)


def phy_read(dev, reg: int) -> int:
    return struct.unpack(
        "<H", bytes(dev.ctrl_transfer(0xC0, ax.AX_ACCESS_PHY, ax.AX88179_PHY_ID, reg, 2))
    )[0]


def ax_start(dev, **mode) -> None:
    ctl, filt = ax.rx_mode(**mode)
    if filt is not None:
        mac_write(dev, ax.AX_MULFLTARY, filt)
    mac_write(dev, ax.AX_RX_CTL, struct.pack("<H", ctl))
    mac_write(dev, ax.AX_MEDIUM_STATUS_MODE, struct.pack("<H", ax.medium_mode(1000, True)))


@pytest.mark.parametrize(
    ("speed", "flag"), [("full", ax.AX_USB_FS), ("high", ax.AX_USB_HS), ("super", ax.AX_USB_SS)]
)
def test_ax88179_registers_and_phy(speed, flag):
    model, dev = ax_dev(speed=speed)
    assert mac_read(dev, ax.AX_NODE_ID, 6) == model.mac
    assert mac_read(dev, ax.PHYSICAL_LINK_STATUS, 1)[0] == flag
    assert ax.decode_physr(phy_read(dev, ax.GMII_PHY_PHYSR)) == (True, 1000, True)
    assert phy_read(dev, ax.MII_BMSR) & ax.BMSR_LSTATUS
    assert (
        struct.unpack("<H", bytes(dev.ctrl_transfer(0xC0, ax.AX_ACCESS_PHY, 7, 2, 2)))[0] == 0xFFFF
    )
    dev.ctrl_transfer(
        0x40, ax.AX_ACCESS_PHY, ax.AX88179_PHY_ID, ax.MII_BMCR, struct.pack("<H", 0x1340)
    )
    assert phy_read(dev, ax.MII_BMCR) == 0x1140  # restart bit self-clears
    assert bytes(dev.ctrl_transfer(0xC0, ax.AX_ACCESS_TX_FIFO, 0x8C, 0, 4)) == bytes(4)
    assert bytes(dev.ctrl_transfer(0xC0, ax.AX_ACCESS_EEPROM, 0x43, 1, 2)) == b"\xff\xff"
    model.set_link(True, speed_bps=100_000_000)
    assert ax.decode_physr(phy_read(dev, ax.GMII_PHY_PHYSR))[1] == 100
    with pytest.raises(usb.core.USBError):
        dev.ctrl_transfer(0xC0, 0x55, 0, 0, 2)
    with pytest.raises(usb.core.USBError):
        mac_read(dev, 0xFE, 6)


def test_ax88179_rx_requires_start_and_receive_enable():
    model, dev = ax_dev()
    assert not model.wire_rx(frame(model.mac))
    mac_write(dev, ax.AX_RX_CTL, struct.pack("<H", ax.AX_RX_CTL_START | ax.AX_RX_CTL_AB))
    assert not model.wire_rx(frame(model.mac))  # MEDIUM_STATUS_MODE receive enable still off
    mac_write(dev, ax.AX_MEDIUM_STATUS_MODE, struct.pack("<H", ax.medium_mode(1000, True)))
    assert model.wire_rx(frame(model.mac))
    assert model.stats.wire_rx_dropped_inactive == 2


@pytest.mark.parametrize("variant", ["ax88179", "ax88179a"])
def test_ax88179_multi_frame_rx_transfer(variant):
    model, dev = ax_dev(variant=variant)
    ax_start(dev)
    frames = [frame(model.mac, n, i) for i, n in enumerate([60, 61, 62, 1514, 333])]
    model.wire_rx_many(frames)
    t = bytes(dev.read(0x82, 24576, timeout=100))
    dec = Ax88179RxDecoder()
    assert dec.decode(t) == frames
    assert dec.stats.dummy_headers == (5 if variant == "ax88179a" else 0)
    assert struct.unpack_from("<H", t, len(t) - 4)[0] == (10 if variant == "ax88179a" else 5)


def test_ax88179_transfer_size_follows_bulkin_qctrl():
    model, dev = ax_dev(speed="super")
    ax_start(dev)
    cfg, urb = ax.bulkin_config(1000, ax.AX_USB_SS)
    mac_write(dev, ax.AX_RX_BULKIN_QCTRL, cfg)
    frames = [frame(model.mac, 1514, i) for i in range(40)]
    model.wire_rx_many(frames)
    dec, got, sizes = Ax88179RxDecoder(), [], []
    while len(got) < 40:
        t = bytes(dev.read(0x82, urb, timeout=100))
        sizes.append(len(t))
        got += dec.decode(t)
    assert got == frames and max(sizes) <= urb and len(sizes) > 1


def test_ax88179_filters_follow_rx_ctl_node_id_and_hash():
    model, dev = ax_dev()
    group = b"\x01\x00\x5e\x00\x00\xfb"
    miss = next(
        g
        for g in (bytes([1, 0, 0x5E, 0, 0, i]) for i in range(256))
        if ax.mcast_hash_bit(g) != ax.mcast_hash_bit(group)
    )
    ax_start(dev, mc_addrs=[group])
    assert model.rx_ctl & ax.AX_RX_CTL_AM
    assert model.wire_rx(frame(group)) and not model.wire_rx(frame(miss))
    assert model.wire_rx(frame(BCAST)) and not model.wire_rx(frame(OTHER))
    new = bytes.fromhex("000ec6abcdef")
    mac_write(dev, ax.AX_NODE_ID, new)
    assert model.wire_rx(frame(new)) and not model.wire_rx(frame(model.permanent_mac))
    ax_start(dev, promisc=True)
    assert model.wire_rx(frame(OTHER)) and model.wire_rx(frame(miss))
    assert not model.wire_rx(frame(model.mac, 2000))  # no jumbo without JUMBO_EN
    assert model.stats.wire_rx_dropped_size == 1
    mode = ax.medium_mode(1000, True, mtu=9000)
    mac_write(dev, ax.AX_MEDIUM_STATUS_MODE, struct.pack("<H", mode))
    assert model.wire_rx(frame(model.mac, 2000))


def test_ax88179_tx_headers_reach_the_wire_and_padding_is_ignored():
    model, dev = ax_dev(speed="high")
    frames = [frame(OTHER, 60, 1), frame(OTHER, 504, 2), frame(OTHER, 1514, 3)]
    for f in frames:
        t = encode_tx(f, max_packet=512)
        if needs_zlp(len(t), 512):
            t += b"\x00"  # usbnet-style pad byte
        dev.write(0x03, t)
    assert model.take_wire_tx() == frames
    assert model.tx_decoder.stats.pad_bytes == 1
    dev.write(0x03, struct.pack("<II", 5000, 0) + b"x" * 10)
    assert model.stats.wire_tx_errors == 1


def test_ax88179_interrupt_link_status():
    model, dev = ax_dev()
    assert parse_interrupt(dev.read(0x81, 8, timeout=100)).link is True  # queued at configuration
    model.set_link(False)
    assert parse_interrupt(dev.read(0x81, 8, timeout=100)).link is False
    assert not phy_read(dev, ax.MII_BMSR) & ax.BMSR_LSTATUS
    model.set_link(True)
    assert parse_interrupt(dev.read(0x81, 8, timeout=100)).link is True
