"""CDC-NCM transmit termination as Linux's cdc_ncm does it: no ZLP (``cdc_ncm_info``, "CDC NCM
(NO ZLP)"), an NTB that ends on a full packet gets one zero byte inside wBlockLength, an NTB
longer than min_tx_pkt is padded to tx_max, a full-size NTB of dwNtbOutMaxSize needs nothing;
and ``cdc_ncm_zlp_info`` ("CDC NCM (SEND ZLP)") for the devices that want a ZLP instead."""

from __future__ import annotations

import struct

import pytest
from netdrv_usbnet.cdc_ncm import CdcNcm, CdcNcmZlp
from netdrv_usbnet.codecs import NtbDecoder, NtbEncoder, NtbParameters
from netdrv_usbnet.codecs.cdc_ncm import NTB_FORMAT_NTB16, NTB_FORMAT_NTB32
from netdrv_usbnet.core import FLAG_MULTI_PACKET, FLAG_SEND_ZLP
from netdrv_usbnet.ids import match_interface
from netdrv_usbnet.sim import CdcNcmModel
from usbnet_helpers import PEER, accounted, frame, open_cdc, received, settle_tx, up

NTB16_ONE = 28  # NTH16 (12) + NDP16 of one datagram (8 + 2 * 4): the datagram's offset
NTB32_ONE = 48  # NTH32 (16) + NDP32 of one datagram (16 + 2 * 8)
SPEEDS = [("full", 64), ("high", 512), ("super", 1024)]
BIG = NtbParameters(bmNtbFormatsSupported=3, dwNtbOutMaxSize=32768)  # room for tx_max 16385


def _block_length(ntb: bytes) -> int:
    if ntb[:4] == b"ncmh":
        return struct.unpack_from("<I", ntb, 8)[0]
    return struct.unpack_from("<H", ntb, 8)[0]


# -- the encoder (cdc_ncm_fill_tx_frame's termination) ----------------------------------------


@pytest.mark.parametrize(("ntb32", "one"), [(False, NTB16_ONE), (True, NTB32_ONE)])
@pytest.mark.parametrize("mps", [64, 512, 1024])
def test_ntb_ending_on_a_full_packet_gets_one_zero_byte_inside_the_block(ntb32, one, mps):
    enc = NtbEncoder(BIG, ntb32=ntb32, max_size=16385, max_packet=mps,
                     min_tx_pkt=16385 - 3 * mps)  # fmt: skip
    f = frame(PEER, 2 * mps - one)
    assert enc.add(f) and enc.size == 2 * mps
    ntb = enc.build()
    assert len(ntb) == 2 * mps + 1 and ntb[-1] == 0, "a short packet ends the transfer"
    assert _block_length(ntb) == len(ntb), "the pad byte is inside wBlockLength"
    dec = NtbDecoder(ntb32=ntb32)
    assert dec.decode(ntb) == [f] and dec.stats.rx_errors == 0


@pytest.mark.parametrize("ntb32", [False, True])
def test_ntb_longer_than_min_tx_pkt_is_padded_to_tx_max(ntb32):
    tx_max, mps = 8193, 512
    min_tx_pkt = tx_max - 3 * mps
    enc = NtbEncoder(BIG, ntb32=ntb32, max_size=tx_max, max_packet=mps, min_tx_pkt=min_tx_pkt)
    frames = [frame(PEER, 1514, i) for i in range(5)]
    for f in frames:
        assert enc.add(f)
    size = enc.size
    assert min_tx_pkt < size < tx_max
    ntb = enc.build()
    assert len(ntb) == _block_length(ntb) == tx_max
    assert ntb[size:] == bytes(tx_max - size), "zero padding"
    assert NtbDecoder(ntb32=ntb32).decode(ntb) == frames
    # At most min_tx_pkt: sent as it is (a short packet already ends it).
    enc.add(frames[0])
    short = enc.build()
    assert len(short) == _block_length(short) == enc._layout_size([1514])
    assert len(short) % mps


def test_full_size_ntb_of_a_packet_multiple_gets_no_pad():
    """tx_max equal to dwNtbOutMaxSize and a packet multiple: the device ends the transfer at
    its maximum, nothing to add (Linux's ``skb_out->len < ctx->tx_curr_size``)."""
    enc = NtbEncoder(max_size=4096, max_packet=512, min_tx_pkt=None)
    f = frame(PEER, 4096 - NTB16_ONE)
    enc.add(f)
    ntb = enc.build()
    assert len(ntb) == _block_length(ntb) == 4096


def test_send_zlp_variant_does_not_pad_to_tx_max():
    """``min_tx_pkt=None`` (FLAG_SEND_ZLP): no padding to tx_max, the short-packet byte stays."""
    enc = NtbEncoder(BIG, max_size=8193, max_packet=512, min_tx_pkt=None)
    frames = [frame(PEER, 1514, i) for i in range(5)]
    for f in frames:
        enc.add(f)
    size = enc.size
    assert len(enc.build()) == size
    enc.add(frame(PEER, 1024 - NTB16_ONE))
    assert len(enc.build()) == 1025


def test_encoder_without_max_packet_adds_nothing():
    enc = NtbEncoder()
    enc.add(frame(PEER, 512 - NTB16_ONE))
    assert len(enc.build()) == 512


# -- the minidriver: tx_max, min_tx_pkt, flags -------------------------------------------------


def test_cdc_ncm_info_sends_no_zlp_and_zlp_info_does():
    assert not CdcNcm.flags & FLAG_SEND_ZLP and CdcNcm.flags & FLAG_MULTI_PACKET
    assert CdcNcm.description == "CDC NCM (NO ZLP)"
    assert CdcNcmZlp.flags == CdcNcm.flags | FLAG_SEND_ZLP
    assert CdcNcmZlp.description == "CDC NCM (SEND ZLP)"
    assert match_interface(0x17E9, 0x4301, 0x02, 0x0D, 0x00).info is CdcNcmZlp  # DisplayLink
    assert match_interface(0x1234, 0x5678, 0x02, 0x0D, 0x00).info is CdcNcm


@pytest.mark.parametrize(("speed", "mps"), SPEEDS)
def test_tx_max_is_no_packet_multiple_below_the_device_maximum(usbnet, sim_backend, speed, mps):
    """cdc_ncm_update_rxtx_max: 16384 (below the device's 32768) becomes 16385, and
    min_tx_pkt = clamp(tx_max - 3 * maxpacket, 512, tx_max)."""
    m = CdcNcmModel(speed=speed, ntb_params=NtbParameters(dwNtbOutMaxSize=32768))
    sim_backend.plug(m)
    (dev,) = usbnet(backend="netdrv_usbnet.sim:get_backend").devices
    ncm = dev.priv.info
    assert ncm.tx_max == ncm.encoder.max_size == 16385
    assert ncm.min_tx_pkt == ncm.encoder.min_tx_pkt == 16385 - 3 * mps
    assert ncm.encoder.max_packet == mps == dev.priv.out_mps


def test_tx_max_equal_to_the_device_maximum_stays(usbnet, sim_backend):
    m = CdcNcmModel(ntb_params=NtbParameters(dwNtbInMaxSize=4096, dwNtbOutMaxSize=4096))
    sim_backend.plug(m)
    (dev,) = usbnet(backend="netdrv_usbnet.sim:get_backend").devices
    ncm = dev.priv.info
    assert ncm.tx_max == ncm.encoder.max_size == 4096
    assert ncm.min_tx_pkt == 4096 - 3 * 512


# -- through the simulated adapter -------------------------------------------------------------


def _record_writes(m: CdcNcmModel) -> list[bytes]:
    """Every host bulk OUT write as the device sees it (before it ends transfers)."""
    writes: list[bytes] = []
    orig = m._accumulate_out

    def spy(ep: int, data: bytes) -> list[bytes]:
        if ep == m.BULK_OUT:
            writes.append(bytes(data))
        return orig(ep, data)

    m._accumulate_out = spy  # type: ignore[method-assign]
    return writes


def _bind(usbnet, sim_backend, host, m: CdcNcmModel):
    m.drop_zlp = True  # like hardware: a full last packet does not end a transfer
    writes = _record_writes(m)
    sim_backend.plug(m)
    (dev,) = usbnet(backend="netdrv_usbnet.sim:get_backend").devices
    up(host, dev)
    return dev, writes


@pytest.mark.parametrize("ntb32", [False, True])
@pytest.mark.parametrize(("speed", "mps"), SPEEDS)
def test_no_zlp_and_traffic_both_ways(host, usbnet, sim_backend, speed, mps, ntb32):
    """NTBs that would end on a full packet, one at a time, and a burst that fills NTBs: every
    frame arrives, no ZLP is sent, no transfer merges with the next; RX still works."""
    fmt = NTB_FORMAT_NTB32 if ntb32 else NTB_FORMAT_NTB16
    m = CdcNcmModel(speed=speed, ntb_formats=fmt)
    dev, writes = _bind(usbnet, sim_backend, host, m)
    un = dev.priv
    one = NTB32_ONE if ntb32 else NTB16_ONE
    sizes = [k * mps - one for k in (1, 2, 3) if 60 <= k * mps - one <= 1514] + [1514, 60]
    sent = [frame(PEER, n, i) for i, n in enumerate(sizes)]
    for f in sent:
        before = len(writes)
        host.attachment.send(dev, f)
        assert settle_tx(host, dev)
        assert len(writes) == before + 1, "one write per NTB: no ZLP"
    burst = [frame(PEER, 700, 0x40 + i) for i in range(30)]  # one batch; 23 fill an NTB
    for f in burst:
        host.attachment.send(dev, f)
    assert settle_tx(host, dev) and accounted(dev)
    assert m.take_wire_tx() == sent + burst
    assert m.stats.zlps_received == 0 and un.counters["tx_zlps"] == 0
    assert un.counters["tx_pad_bytes"] == 0, "the minidriver ends its NTBs itself"
    assert m.stats.wire_tx_errors == 0 and m.pending_out_bytes(un.ep_out) == 0
    tx_max, min_tx_pkt = un.info.tx_max, un.info.min_tx_pkt
    for w in writes:
        assert len(w) % mps or len(w) == m.ntb_params.dwNtbOutMaxSize
        assert _block_length(w) == len(w) <= tx_max
        assert len(w) <= min_tx_pkt + 1 or len(w) == tx_max
    if speed != "full":  # (at full speed tx_qlen is 4: no batch fills an NTB that far)
        assert any(len(w) == tx_max for w in writes), "a burst NTB past min_tx_pkt is padded"
    inc = [frame(dev.dev_addr, n, 0x80 + i) for i, n in enumerate(sizes * 3)]
    assert m.wire_rx_many(inc) == len(inc)
    assert received(host, dev, len(inc)) == inc
    assert dev.stats.rx_errors == 0


@pytest.mark.parametrize(("speed", "mps"), SPEEDS)
def test_ntb_of_exactly_the_device_maximum_needs_no_zlp(host, usbnet, sim_backend, speed, mps):
    """dwNtbOutMaxSize 4096 (a packet multiple): a full NTB is padded to 4096 and sent without
    ZLP nor pad byte; the device ends the transfer at its maximum and the next NTB is intact."""
    params = NtbParameters(dwNtbInMaxSize=4096, dwNtbOutMaxSize=4096)
    m = CdcNcmModel(speed=speed, ntb_params=params)
    dev, writes = _bind(usbnet, sim_backend, host, m)
    un = dev.priv
    assert un.info.tx_max == 4096
    # An NTB of 3968 bytes (past min_tx_pkt at every speed), then one of 1608.
    burst = [frame(PEER, n, i) for i, n in enumerate([1514, 1514, 900, 1514, 60])]
    for f in burst:
        host.attachment.send(dev, f)
    assert settle_tx(host, dev)
    assert 4096 in [len(w) for w in writes]
    assert m.take_wire_tx() == burst and m.stats.wire_tx_errors == 0
    assert m.stats.zlps_received == un.counters["tx_zlps"] == un.counters["tx_pad_bytes"] == 0


def test_send_zlp_variant_sends_a_zlp_after_a_full_size_ntb(host, usbnet, sim_backend):
    """``cdc_ncm_zlp_info``: a full-size NTB that is a packet multiple is followed by a ZLP; an
    NTB longer than min_tx_pkt is not padded to tx_max."""
    params = NtbParameters(dwNtbInMaxSize=4096, dwNtbOutMaxSize=4096)
    m = CdcNcmModel(speed="high", ntb_params=params, vid=0x17E9, pid=0x4301)
    dev, writes = _bind(usbnet, sim_backend, host, m)
    un = dev.priv
    assert type(un.info) is CdcNcmZlp and un.info.encoder.min_tx_pkt is None
    full = [frame(PEER, n, i) for i, n in enumerate([1514, 1514, 1028])]  # an NTB of 4096
    for f in full:
        host.attachment.send(dev, f)
    assert settle_tx(host, dev)
    assert [len(w) for w in writes] == [4096, 0]
    assert un.counters["tx_zlps"] == m.stats.zlps_received == 1
    writes.clear()
    two = [frame(PEER, 1514, 5), frame(PEER, 1514, 6)]
    for g in two:
        host.attachment.send(dev, g)
    assert settle_tx(host, dev)
    assert len(writes) == 1 and 3000 < len(writes[0]) < 4096, "not padded to tx_max"
    assert m.take_wire_tx() == [*full, *two]


# -- the simulated device --------------------------------------------------------------------


def test_sim_ncm_ends_an_out_transfer_at_dw_ntb_out_max_size():
    """Without ZLP a transfer of exactly dwNtbOutMaxSize ends there (the device's buffer is
    full); a stray ZLP is counted."""
    params = NtbParameters(dwNtbInMaxSize=2048, dwNtbOutMaxSize=2048)
    m = CdcNcmModel(speed="high", ntb_params=params)
    dev = open_cdc(m)
    m.drop_zlp = True
    enc = NtbEncoder(params, max_size=2048, max_packet=512, min_tx_pkt=2048 - 3 * 512)
    f1, f2 = frame(m.mac, 1514, 1), frame(m.mac, 60, 2)
    enc.add(f1)
    ntb1 = enc.build()
    assert len(ntb1) == 2048, "padded to tx_max, a packet multiple"
    enc.add(f2)
    dev.write(0x01, ntb1)
    dev.write(0x01, enc.build())
    assert m.take_wire_tx() == [f1, f2] and m.stats.wire_tx_errors == 0
    assert m.stats.zlps_received == 0 and m.pending_out_bytes(0x01) == 0
    dev.write(0x01, b"")
    assert m.stats.zlps_received == 1 and m.take_wire_tx() == []
