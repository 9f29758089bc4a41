"""CDC-NCM NTB32 through pyusb on the simulator: format negotiation at bind, traffic both ways,
malformed NTB32s, and the simulated adapter's SET_NTB_FORMAT handling."""

from __future__ import annotations

import errno
import struct

import pytest
import usb.core
from netdrv_usbnet.codecs import NtbDecoder, NtbParameters
from netdrv_usbnet.codecs.cdc_ncm import NTB_FORMAT_NTB16, NTB_FORMAT_NTB32
from netdrv_usbnet.sim import CdcNcmModel, SimBackend
from netdrv_usbnet.sim.device import Stall
from usbnet_helpers import PEER, accounted, frame, received, settle_tx, up, wait

from netdrv_core.ethtool import ethtool_report

BOTH = NTB_FORMAT_NTB16 | NTB_FORMAT_NTB32


def _record(m: CdcNcmModel) -> tuple[list[int], list[bytes], list[bytes]]:
    """Record SET_NTB_FORMAT values, bulk IN transfers built and bulk OUT transfers received."""
    formats: list[int] = []
    ins: list[bytes] = []
    outs: list[bytes] = []
    set_format, build, decode_out = m._req_set_ntb_format, m._rx_build, m._decode_out

    def rec_format(value, data, length):
        formats.append(value)
        return set_format(value, data, length)

    def rec_build(frames):
        ins.append(build(frames))
        return ins[-1]

    def rec_out(data):
        outs.append(bytes(data))
        return decode_out(data)

    m._req_set_ntb_format, m._rx_build, m._decode_out = rec_format, rec_build, rec_out
    return formats, ins, outs


def _bind(usbnet, sim_backend, m: CdcNcmModel):
    """Plug *m* (recording its traffic), load the driver; (the interface, the records)."""
    rec = _record(m)
    sim_backend.plug(m)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    return dev, rec


def _bind_refusing(usbnet, sim_backend, m: CdcNcmModel, request: str):
    """Bind *m* with its class request *request* (``set_ntb_format``…) answered by a STALL."""

    def refuse(value, data, length):
        raise Stall(f"{request.upper()} not supported")

    setattr(m, f"_req_{request}", refuse)
    sim_backend.plug(m)
    (dev,) = usbnet(backend="netdrv_usbnet.sim:get_backend").devices
    return dev


def _both_ways(host, m: CdcNcmModel, dev, n: int = 12, size: int = 1000) -> None:
    m.take_wire_tx()
    rx_errors = dev.stats.rx_errors
    out = [frame(PEER, size, i) for i in range(n)]
    for f in out:
        host.attachment.send(dev, f)
    assert settle_tx(host, dev) and accounted(dev)
    assert m.take_wire_tx() == out and m.stats.wire_tx_errors == 0
    inc = [frame(dev.dev_addr, size, 0x80 + i) for i in range(n)]
    assert m.wire_rx_many(inc) == n
    assert received(host, dev, n) == inc
    assert dev.stats.rx_errors == rx_errors and dev.stats.tx_dropped == 0


@pytest.mark.parametrize("speed", ["full", "high", "super"])
def test_ntb32_only_adapter_binds_and_passes_frames_both_ways(host, usbnet, sim_backend, speed):
    """Refused at bind before ("does not support NTB16"); Linux >= 5.10 drives it in NTB32."""
    m = CdcNcmModel(ntb_formats=NTB_FORMAT_NTB32, speed=speed)
    assert m.ntb_format == 1, "an NTB32-only adapter starts in NTB32"
    dev, (formats, ins, outs) = _bind(usbnet, sim_backend, m)
    ncm = dev.priv.info
    assert formats == [1], "SET_NTB_FORMAT(NTB32), in data alternate setting 0"
    assert ncm.ntb32 and ncm.encoder.ntb32 and ncm.rx_decoder.ntb32
    assert m.ntb_format == 1 and m.alt_settings[1] == 1
    assert m.ntb_in_size == ncm.rx_max == 16384, "SET_NTB_INPUT_SIZE took effect"
    up(host, dev)
    _both_ways(host, m, dev)
    assert ins and all(t[:4] == b"ncmh" and struct.unpack_from("<H", t, 4)[0] == 16 for t in ins)
    assert outs and all(t[:4] == b"ncmh" for t in outs)
    assert sum(len(NtbDecoder(ntb32=True).decode(t)) for t in outs) == 12
    assert m.out_decoder.stats.rx_ntbs == len(outs) and m.out_decoder.stats.rx_errors == 0
    assert ncm.rx_decoder.stats.rx_ntbs >= 1 and ncm.rx_decoder.stats.unsupported == 0
    assert ethtool_report(dev)["stats"]["ntb_format"] == 32


def test_adapter_offering_both_formats_gets_ntb16(host, usbnet, sim_backend):
    m = CdcNcmModel(ntb_formats=BOTH)
    dev, (formats, ins, outs) = _bind(usbnet, sim_backend, m)
    ncm = dev.priv.info
    assert formats == [0], "SET_NTB_FORMAT(NTB16), as Linux: NTB16 is preferred"
    assert not ncm.ntb32 and not ncm.encoder.ntb32 and not ncm.rx_decoder.ntb32
    assert m.ntb_format == 0
    up(host, dev)
    _both_ways(host, m, dev)
    assert ins and all(t[:4] == b"NCMH" for t in ins)
    assert outs and all(t[:4] == b"NCMH" for t in outs)
    assert ethtool_report(dev)["stats"]["ntb_format"] == 16


def test_ntb16_only_adapter_is_not_sent_set_ntb_format(host, usbnet, sim_backend):
    m = CdcNcmModel()
    assert m.ntb_params.bmNtbFormatsSupported == NTB_FORMAT_NTB16, "the default stays NTB16"
    dev, (formats, ins, outs) = _bind(usbnet, sim_backend, m)
    assert formats == [] and not dev.priv.info.ntb32
    up(host, dev)
    _both_ways(host, m, dev, n=3)
    assert all(t[:4] == b"NCMH" for t in ins + outs)


def test_ntb32_only_adapter_refusing_set_ntb_format_keeps_ntb32(host, usbnet, sim_backend):
    """SET_NTB_FORMAT is optional (Linux only logs a failure): the adapter's default, which for
    an NTB32-only one is NTB32, stays in force and matches what the driver chose."""
    m = CdcNcmModel(ntb_formats=NTB_FORMAT_NTB32)
    dev = _bind_refusing(usbnet, sim_backend, m, "set_ntb_format")
    assert dev.priv.info.ntb32 and m.ntb_format == 1
    up(host, dev)
    _both_ways(host, m, dev, n=3)


def test_adapter_offering_no_known_format_is_refused(host, usbnet, sim_backend, caplog):
    m = sim_backend.plug(CdcNcmModel(ntb_formats=0x0004))
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert drv.devices == []
    assert "neither NTB16 nor NTB32" in caplog.text
    assert m.claimed == set()


def test_ntb32_sizes_are_32_bit(host, usbnet, sim_backend):
    """dwNtbInMaxSize/dwNtbOutMaxSize above 65535 are kept for NTB32 (NTB16 caps them): the
    driver still asks for 16 KiB NTBs (sends 16385-byte ones: tx_max below the device's
    maximum is no packet multiple), and without SET_NTB_INPUT_SIZE reads at most 64 KiB
    (Linux CDC_NCM_NTB_MAX_SIZE_RX)."""
    params = NtbParameters(bmNtbFormatsSupported=NTB_FORMAT_NTB32, dwNtbInMaxSize=0x40000,
                           dwNtbOutMaxSize=0x40000)  # fmt: skip
    m = CdcNcmModel(ntb_params=params)
    dev, _ = _bind(usbnet, sim_backend, m)
    ncm = dev.priv.info
    assert ncm.params.dwNtbOutMaxSize == ncm.params.dwNtbInMaxSize == 0x40000
    assert (ncm.rx_max, ncm.tx_max, ncm.encoder.max_size) == (16384, 16385, 16385)
    assert m.ntb_in_size == 16384


def test_ntb32_without_set_ntb_input_size_reads_at_most_64k(host, usbnet, sim_backend):
    params = NtbParameters(bmNtbFormatsSupported=NTB_FORMAT_NTB32, dwNtbInMaxSize=0x40000)
    m = CdcNcmModel(ntb_params=params, in_max_datagrams=40)
    dev = _bind_refusing(usbnet, sim_backend, m, "set_ntb_input_size")
    ncm = dev.priv.info
    assert ncm.rx_max == dev.priv.rx_urb_size == 65536 and ncm.rx_decoder.max_size == 65536
    up(host, dev)
    burst = [frame(dev.dev_addr, 1514, i) for i in range(40)]  # one NTB32 of ~61 KB
    assert m.wire_rx_many(burst) == 40
    assert received(host, dev, 40) == burst
    assert dev.stats.rx_errors == 0


@pytest.mark.parametrize("kind", sorted(CdcNcmModel.MALFORMED_KINDS))
def test_malformed_ntb32s_are_rx_errors(host, usbnet, sim_backend, kind):
    m = CdcNcmModel(ntb_formats=NTB_FORMAT_NTB32)
    dev, (_, ins, _) = _bind(usbnet, sim_backend, m)
    up(host, dev)
    dec = dev.priv.info.rx_decoder
    m.malformed_next(kind)
    m.wire_rx_many([frame(dev.dev_addr, 80, i) for i in range(3)])
    assert wait(host, lambda: dev.stats.rx_errors >= 1), kind
    st = dev.stats
    assert st.rx_errors == st.rx_length_errors + st.rx_frame_errors + st.rx_crc_errors
    counter = {"bad_signature": "bad_nth_signature", "bad_ndp_signature": "bad_ndp_signature",
               "bad_block_length": "bad_block_length", "bad_ndp_index": "bad_ndp_index",
               "index_out_of_range": "bad_datagram", "zero_length": "empty_ndp",
               "ndp_loop": "ndp_loop"}[kind]  # fmt: skip
    assert getattr(dec.stats, counter) == 1, dec.stats
    assert ins[0][:4] == b"ncmh", "an NTB32 was corrupted (in NTB32 layout)"
    host.loop.run_until_idle()
    host.attachment.received(dev)
    _both_ways(host, m, dev, n=3, size=90)


# -- the simulated adapter on its own (pyusb, no driver) ------------------------------------------
def _open(model: CdcNcmModel):
    backend = SimBackend([model])
    dev = usb.core.find(idVendor=model.device_descriptor.idVendor, backend=backend)
    dev.set_configuration()
    return dev


def _stalls(fn) -> bool:
    try:
        fn()
    except usb.core.USBError as exc:
        return exc.errno == errno.EPIPE
    return False


@pytest.mark.parametrize(("formats", "default"), [(NTB_FORMAT_NTB16, 0), (NTB_FORMAT_NTB32, 1),
                                                  (BOTH, 0)])  # fmt: skip
def test_sim_set_ntb_format_is_honoured_for_offered_formats_in_alt_0(formats, default):
    m = CdcNcmModel(ntb_formats=formats)
    dev = _open(m)

    def get_format() -> int:
        return struct.unpack("<H", bytes(dev.ctrl_transfer(0xA1, 0x83, 0, 0, 2)))[0]

    params = NtbParameters.parse(dev.ctrl_transfer(0xA1, 0x80, 0, 0, 28))
    assert params.bmNtbFormatsSupported == formats
    assert get_format() == default
    for value, bit in ((0, NTB_FORMAT_NTB16), (1, NTB_FORMAT_NTB32)):
        refused = _stalls(lambda v=value: dev.ctrl_transfer(0x21, 0x84, v, 0))
        assert refused == (not formats & bit), (value, formats)
        if not refused:
            assert get_format() == value
    assert _stalls(lambda: dev.ctrl_transfer(0x21, 0x84, 2, 0)), "no format 2"
    if formats == BOTH:
        dev.ctrl_transfer(0x21, 0x84, 1, 0)
        dev.set_interface_altsetting(1, 1)
        assert _stalls(lambda: dev.ctrl_transfer(0x21, 0x84, 0, 0)), "only in alt 0"
        assert get_format() == 1
        dev.set_interface_altsetting(1, 0)
        assert get_format() == 0, "alt 0 resets the format to the default"


@pytest.mark.parametrize("formats", [NTB_FORMAT_NTB32, BOTH])
def test_sim_frames_bulk_in_and_out_in_the_chosen_format(formats):
    m = CdcNcmModel(ntb_formats=formats)
    dev = _open(m)
    dev.ctrl_transfer(0x21, 0x84, 1, 0)  # NTB32
    dev.set_interface_altsetting(1, 1)
    frames = [frame(m.mac, 100, i) for i in range(3)]
    assert m.wire_rx_many(frames) == 3
    m.flush_rx()
    data = bytes(dev.read(m.BULK_IN, m.ntb_in_size, timeout=1000))
    assert data[:4] == b"ncmh"
    assert NtbDecoder(ntb32=True).decode(data) == frames
    from netdrv_usbnet.codecs import encode_ntb

    out = [frame(PEER, 200, i) for i in range(2)]
    (ntb32,) = encode_ntb(out, ntb32=True)
    dev.write(m.BULK_OUT, ntb32, timeout=1000)
    assert wait_sim(lambda: m.take_wire_tx() == out)
    (ntb16,) = encode_ntb(out)
    dev.write(m.BULK_OUT, ntb16, timeout=1000)  # the format not selected: refused
    assert wait_sim(lambda: m.stats.wire_tx_errors == 1)
    assert m.out_decoder.stats.unsupported == 1 and m.take_wire_tx() == []


def wait_sim(pred, timeout: float = 2.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.005)
    return pred()
