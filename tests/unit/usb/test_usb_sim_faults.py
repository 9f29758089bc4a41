"""Fault hooks of the simulated adapters: each produces the right USBError errno, and recovery works."""

from __future__ import annotations

import errno
import threading
import time

import pytest
import usb.core
import usb.util
from netdrv_usbnet.codecs import (
    Ax88179RxDecoder,
    ConnectionSpeedChange,
    DescriptorError,
    NetworkConnection,
    NotificationParser,
    NtbDecoder,
    NtbEncoder,
    parse_functional_descriptors,
    parse_mac_string,
)
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.sim import Ax88179Model, CdcEcmModel, CdcNcmModel, SimBackend

OTHER = b"\x02\x99\x99\x99\x99\x99"


def frame(dst: bytes, n: int = 60, tag: int = 0) -> bytes:
    return dst + b"\x02\x11\x22\x33\x44\x55" + b"\x88\xb5" + bytes([tag & 0xFF]) * (n - 14)


def open_cdc(model, backend: SimBackend | None = None) -> usb.core.Device:
    backend = backend or SimBackend([model])
    dev = usb.core.find(backend=backend, idVendor=model.device_descriptor.idVendor)
    dev.set_configuration()
    usb.util.claim_interface(dev, 0)
    dev.set_interface_altsetting(interface=1, alternate_setting=1)
    return dev


def errno_of(fn, *args, **kwargs) -> int:
    with pytest.raises(usb.core.USBError) as exc:
        fn(*args, **kwargs)
    return exc.value.errno


def drain_interrupt(dev, ep: int = 0x81, size: int = 16) -> None:
    while True:
        try:
            dev.read(ep, size, timeout=10)
        except usb.core.USBTimeoutError:
            return


# ---------------------------------------------------------------- stall / clear_halt


def test_stall_in_endpoint_until_clear_halt_and_data_survives():
    model = CdcEcmModel()
    dev = open_cdc(model)
    model.wire_rx(frame(model.mac, 70, 1))
    model.stall(0x82)
    assert errno_of(dev.read, 0x82, 2048, timeout=50) == errno.EPIPE
    assert errno_of(dev.read, 0x82, 2048, timeout=50) == errno.EPIPE  # stays halted
    assert dev.ctrl_transfer(0x82, 0x00, 0, 0x82, 2)[0] == 1  # GET_STATUS shows the halt
    dev.clear_halt(0x82)
    assert bytes(dev.read(0x82, 2048, timeout=50)) == frame(model.mac, 70, 1)


def test_stall_out_endpoint():
    model = CdcEcmModel()
    dev = open_cdc(model)
    model.stall(0x01)
    assert errno_of(dev.write, 0x01, frame(OTHER)) == errno.EPIPE
    assert model.take_wire_tx() == []
    dev.clear_halt(0x01)
    dev.write(0x01, frame(OTHER))
    assert model.take_wire_tx() == [frame(OTHER)]


def test_stall_wakes_a_blocked_reader():
    model = CdcEcmModel()
    dev = open_cdc(model)
    result = {}

    def reader():
        try:
            dev.read(0x82, 2048, timeout=5000)
        except usb.core.USBError as exc:
            result["errno"] = exc.errno

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.05)
    model.stall(0x82)
    t.join(2)
    assert not t.is_alive() and result["errno"] == errno.EPIPE


def test_control_stall_is_one_shot():
    model = CdcEcmModel()
    dev = open_cdc(model)
    model.stall(0)
    assert errno_of(dev.ctrl_transfer, 0x80, 0x08, 0, 0, 1) == errno.EPIPE
    assert dev.ctrl_transfer(0x80, 0x08, 0, 0, 1)[0] == 1


# ---------------------------------------------------------------- unplug / replug


def test_unplug_fails_blocked_read_and_everything_else_with_enodev():
    model = CdcEcmModel()
    backend = SimBackend([model])
    dev = open_cdc(model, backend)
    result = {}

    def reader():
        t0 = time.monotonic()
        try:
            dev.read(0x82, 2048, timeout=0)  # 0 = wait forever
        except usb.core.USBError as exc:
            result["errno"] = exc.errno
            result["t"] = time.monotonic() - t0

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.05)
    model.unplug()
    t.join(2)
    assert not t.is_alive() and result["errno"] == errno.ENODEV
    assert errno_of(dev.write, 0x01, frame(OTHER)) == errno.ENODEV
    assert errno_of(dev.ctrl_transfer, 0x80, 0x08, 0, 0, 1) == errno.ENODEV
    assert errno_of(dev.read, 0x81, 16, timeout=10) == errno.ENODEV
    assert usb.core.find(backend=backend) is None
    assert not model.wire_rx(frame(model.mac))
    usb.util.dispose_resources(dev)  # must not raise


def test_replug_reenumerates_fresh_and_old_handles_stay_dead():
    model = CdcEcmModel()
    backend = SimBackend([model])
    old = open_cdc(model, backend)
    old_address = old.address
    mac = model.mac
    model.unplug()
    model.replug()
    assert model.configuration == 0 and model.alt_settings == {}
    assert errno_of(old.write, 0x01, frame(OTHER)) == errno.ENODEV
    new = usb.core.find(backend=backend)
    assert new.address != old_address
    new.set_configuration()
    new.set_interface_altsetting(1, 1)
    assert model.mac == mac
    model.wire_rx(frame(mac, 64, 7))
    assert bytes(new.read(0x82, 2048, timeout=100)) == frame(mac, 64, 7)


def test_backend_unplug_and_plug():
    model = Ax88179Model()
    backend = SimBackend([model])
    dev = usb.core.find(backend=backend)
    dev.set_configuration()
    backend.unplug(model)
    assert errno_of(dev.ctrl_transfer, 0xC0, 1, 0x10, 6, 6) == errno.ENODEV
    backend.plug(model)
    dev2 = usb.core.find(backend=backend)
    dev2.set_configuration()
    assert bytes(dev2.ctrl_transfer(0xC0, 1, 0x10, 6, 6)) == model.mac


# ---------------------------------------------------------------- timeouts / overflow


def test_timeout_next_fails_immediately_without_losing_data():
    model = CdcEcmModel()
    dev = open_cdc(model)
    model.wire_rx(frame(model.mac, 60, 3))
    model.timeout_next(0x82, 2)
    for _ in range(2):
        t0 = time.monotonic()
        with pytest.raises(usb.core.USBTimeoutError) as exc:
            dev.read(0x82, 2048, timeout=5000)
        assert exc.value.errno == errno.ETIMEDOUT and time.monotonic() - t0 < 1
    assert bytes(dev.read(0x82, 2048, timeout=100)) == frame(model.mac, 60, 3)


def test_timeout_next_on_out_and_control():
    model = CdcEcmModel()
    dev = open_cdc(model)
    model.timeout_next(0x01)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.write(0x01, frame(OTHER))
    assert model.take_wire_tx() == []
    model.timeout_next(0)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.ctrl_transfer(0x80, 0x08, 0, 0, 1)
    dev.write(0x01, frame(OTHER))
    assert model.take_wire_tx() == [frame(OTHER)]


def test_real_timeout_when_no_data():
    model = CdcEcmModel()
    dev = open_cdc(model)
    t0 = time.monotonic()
    with pytest.raises(usb.core.USBTimeoutError) as exc:
        dev.read(0x82, 2048, timeout=60)
    assert exc.value.errno == errno.ETIMEDOUT
    assert 0.05 <= time.monotonic() - t0 < 1.0


def test_overflow_next_loses_that_transfer_only():
    model = CdcEcmModel()
    dev = open_cdc(model)
    model.wire_rx(frame(model.mac, 60, 1))
    model.wire_rx(frame(model.mac, 60, 2))
    model.overflow_next(0x82)
    assert errno_of(dev.read, 0x82, 2048, timeout=100) == errno.EOVERFLOW
    assert bytes(dev.read(0x82, 2048, timeout=100)) == frame(model.mac, 60, 2)


def test_natural_overflow_when_buffer_is_not_a_packet_multiple():
    model = CdcEcmModel(speed="full")
    dev = open_cdc(model)
    model.wire_rx(frame(model.mac, 200, 1))
    assert (
        errno_of(dev.read, 0x82, 100, timeout=100) == errno.EOVERFLOW
    )  # 64 fits, next 64 > 36 left
    model.wire_rx(frame(model.mac, 200, 2))
    part1 = bytes(dev.read(0x82, 128, timeout=100))  # a packet multiple: the rest stays queued
    part2 = bytes(dev.read(0x82, 128, timeout=100))
    assert part1 + part2 == frame(model.mac, 200, 2) and len(part1) == 128


# ---------------------------------------------------------------- ZLP handling


@pytest.mark.parametrize(("speed", "mps"), [("full", 64), ("high", 512)])
def test_missing_zlp_merges_transfers_on_real_hardware(speed, mps):
    model = CdcEcmModel(speed=speed)
    dev = open_cdc(model)
    model.drop_zlp = True
    f1, f2 = frame(OTHER, 2 * mps, 1), frame(OTHER, 60, 2)
    dev.write(0x01, f1)  # exact multiple of wMaxPacketSize, no ZLP
    assert model.take_wire_tx() == [] and model.pending_out_bytes(0x01) == 2 * mps
    dev.write(0x01, f2)
    assert model.take_wire_tx() == [f1 + f2]  # one corrupt frame instead of two
    # with an explicit ZLP the frame is delimited correctly
    dev.write(0x01, f1)
    dev.write(0x01, b"")
    dev.write(0x01, f2)
    assert model.take_wire_tx() == [f1, f2]
    # a one-byte pad (usbnet without FLAG_SEND_ZLP) also ends the transfer
    dev.write(0x01, f1 + b"\x00")
    assert model.take_wire_tx() == [f1 + b"\x00"]
    assert model.stats.zlps_received == 1


def test_missing_zlp_loses_the_following_ntb_on_ncm():
    model = CdcNcmModel(speed="full")
    dev = open_cdc(model)
    model.drop_zlp = True
    enc = NtbEncoder()
    f1 = frame(OTHER, 64 * 4 - 28, 1)  # NTB of exactly 256 bytes = 4 full packets
    enc.add(f1)
    ntb1 = enc.build()
    assert len(ntb1) % 64 == 0
    enc.add(frame(OTHER, 60, 2))
    ntb2 = enc.build()
    dev.write(0x01, ntb1)
    dev.write(0x01, ntb2)
    # the device saw one transfer: NTB 1 followed by bytes past its block length
    assert model.take_wire_tx() == [f1]
    enc.add(frame(OTHER, 60, 3))
    dev.write(0x01, ntb1)
    dev.write(0x01, b"")
    dev.write(0x01, enc.build())
    assert model.take_wire_tx() == [f1, frame(OTHER, 60, 3)]


def test_device_without_in_zlp_merges_in_transfers():
    model = CdcEcmModel(speed="high")
    dev = open_cdc(model)
    model.in_zlp = False
    f1, f2 = frame(model.mac, 512, 1), frame(model.mac, 60, 2)
    model.wire_rx(f1)
    model.wire_rx(f2)
    assert bytes(dev.read(0x82, 2048, timeout=100)) == f1 + f2


# ---------------------------------------------------------------- notifications / strings


def test_split_speed_change_is_delivered_in_two_interrupt_packets():
    model = CdcEcmModel(split_notifications=True)
    dev = open_cdc(model)
    packets = [bytes(dev.read(0x81, 16, timeout=100)) for _ in range(3)]
    assert [len(p) for p in packets] == [8, 8, 8]
    p = NotificationParser()
    results = [p.feed(pkt) for pkt in packets]
    assert results == [
        [],
        [ConnectionSpeedChange(0x2A, 0, model.speed_bps, model.speed_bps)],
        [NetworkConnection(0, 0, True)],
    ]
    assert p.stats.split_reassembled == 1


def test_interrupt_read_with_a_too_large_buffer_merges_full_packets():
    """Notifications are single packets without ZLP: read them with wMaxPacketSize (16) like Linux."""
    model = CdcEcmModel()
    dev = open_cdc(model)
    merged = bytes(dev.read(0x81, 64, timeout=100))
    assert len(merged) == 24  # 16-byte SPEED_CHANGE + 8-byte NETWORK_CONNECTION
    p = NotificationParser()
    assert isinstance(p.feed(merged)[0], ConnectionSpeedChange) and p.stats.trailing_bytes == 8


@pytest.mark.parametrize("bad", [True, "0A1B2C3D4E", "0A-1B-2C-3D-4E-5F"])
def test_bad_mac_string(bad):
    model = CdcEcmModel(bad_mac_string=bad)
    dev = usb.core.find(backend=SimBackend([model]))
    fd = parse_functional_descriptors(dev[0][(0, 0)].extra_descriptors)
    text = usb.util.get_string(dev, fd.ethernet.iMACAddress)
    with pytest.raises(DescriptorError):
        parse_mac_string(text)


# ---------------------------------------------------------------- malformed device data


@pytest.mark.parametrize(
    ("kind", "counter", "survivors"),
    [
        ("bad_signature", "bad_nth_signature", 0),
        ("bad_ndp_signature", "bad_ndp_signature", 0),
        ("bad_block_length", "bad_block_length", 0),
        ("bad_ndp_index", "bad_ndp_index", 0),
        ("index_out_of_range", "bad_datagram", 0),
        ("zero_length", "empty_ndp", 0),
        ("ndp_loop", "ndp_loop", 3),
    ],
)
def test_ncm_malformed_ntbs_are_counted_by_the_decoder(kind, counter, survivors):
    model = CdcNcmModel()
    dev = open_cdc(model)
    frames = [frame(model.mac, 60, i) for i in range(3)]
    model.malformed_next(kind)
    model.wire_rx_many(frames)
    dec = NtbDecoder()
    assert dec.decode(bytes(dev.read(0x82, model.ntb_in_size, timeout=100))) == frames[:survivors]
    assert getattr(dec.stats, counter) == 1 and dec.stats.rx_errors == 1
    model.wire_rx(frame(model.mac, 80, 9))  # the next NTB is fine again
    assert dec.decode(bytes(dev.read(0x82, model.ntb_in_size, timeout=100))) == [
        frame(model.mac, 80, 9)
    ]
    assert model.stats.malformed_injected == 1
    with pytest.raises(ValueError):
        model.malformed_next("no-such-thing")


def ax_started(**kw):
    model = Ax88179Model(**kw)
    dev = usb.core.find(backend=SimBackend([model]))
    dev.set_configuration()
    ctl, _ = ax.rx_mode()
    dev.ctrl_transfer(0x40, ax.AX_ACCESS_MAC, ax.AX_RX_CTL, 2, ctl.to_bytes(2, "little"))
    dev.ctrl_transfer(
        0x40,
        ax.AX_ACCESS_MAC,
        ax.AX_MEDIUM_STATUS_MODE,
        2,
        ax.medium_mode(1000, True).to_bytes(2, "little"),
    )
    return model, dev


@pytest.mark.parametrize(
    ("kind", "counter", "survivors"),
    [
        ("bad_footer", "bad_footer", 0),
        ("bad_header_count", "bad_header_array", 0),
        ("crc_error", "crc_errors", 2),
        ("truncated", "truncated", 0),
    ],
)
@pytest.mark.parametrize("dummies", [False, True])
def test_ax88179_malformed_transfers_are_counted(kind, counter, survivors, dummies):
    model, dev = ax_started(ax88179a_dummy_headers=dummies)
    frames = [frame(model.mac, 60, i) for i in range(3)]
    model.malformed_next(kind)
    model.wire_rx_many(frames)
    dec = Ax88179RxDecoder()
    assert dec.decode(bytes(dev.read(0x82, 16384, timeout=100))) == frames[3 - survivors :]
    assert getattr(dec.stats, counter) == 1 and dec.stats.rx_errors == 1
    model.wire_rx(frame(model.mac, 61))
    assert dec.decode(bytes(dev.read(0x82, 16384, timeout=100))) == [frame(model.mac, 61)]


def test_ax88179a_dummy_headers_flag_toggles_at_runtime():
    model, dev = ax_started(variant="ax88179a")
    dec = Ax88179RxDecoder()
    model.wire_rx(frame(model.mac))
    dec.decode(bytes(dev.read(0x82, 16384, timeout=100)))
    assert dec.stats.dummy_headers == 1
    model.ax88179a_dummy_headers = False
    model.wire_rx(frame(model.mac))
    assert dec.decode(bytes(dev.read(0x82, 16384, timeout=100))) == [frame(model.mac)]
    assert dec.stats.dummy_headers == 1


# ---------------------------------------------------------------- concurrency


def test_concurrent_reader_writer_and_cable():
    model = CdcNcmModel(speed="high")
    dev = open_cdc(model)
    drain_interrupt(dev)
    n = 300
    rx_frames = [frame(model.mac, 60 + i % 700, i) for i in range(n)]
    tx_frames = [frame(OTHER, 60 + i % 500, i) for i in range(n)]
    received: list[bytes] = []
    errors: list[BaseException] = []

    def reader():
        dec = NtbDecoder()
        try:
            while len(received) < n:
                received.extend(dec.decode(bytes(dev.read(0x82, model.ntb_in_size, timeout=2000))))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer():
        enc = NtbEncoder()
        try:
            for f in tx_frames:
                enc.add(f)
                dev.write(0x01, enc.build(), timeout=1000)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [
        threading.Thread(target=reader, daemon=True),
        threading.Thread(target=writer, daemon=True),
    ]
    for t in threads:
        t.start()
    for f in rx_frames:
        assert model.wire_rx(f)
        if f[-1] % 17 == 0:
            time.sleep(0.001)
    for t in threads:
        t.join(10)
    assert not errors and not any(t.is_alive() for t in threads)
    assert received == rx_frames
    assert model.take_wire_tx() == tx_frames
