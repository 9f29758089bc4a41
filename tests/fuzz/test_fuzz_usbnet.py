"""Property tests the usbnet driver relies on, beyond the codecs' own fuzz tests.

* valid NTBs (NTB16 and NTB32) with several NDPs chained in any order decode
  to every datagram;
* AX88179 transfers with per-packet status flags: flagged packets are dropped
  and counted, the others kept in order with the right checksum verdict;
* a notification split at any packet boundary parses like the whole one;
* every decoder error lands in exactly one of the length/frame/crc categories
  (the driver folds those into ``dev.stats``: rx_errors must be their sum);
* the driver's receive path (``UsbNet.rx_process``) on arbitrary device bytes
  never raises and keeps ``dev.stats`` consistent with what it delivered.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netdrv_usbnet.codecs import (
    Ax88179RxDecoder,
    EcmRxDecoder,
    NotificationParser,
    NtbDecoder,
    encode_ntb,
    encode_rx_transfer,
)
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.codecs.cdc_ecm import build_network_connection, build_speed_change

FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

frame_st = st.binary(min_size=14, max_size=300)


def _ntb_with_ndps(
    groups: list[list[bytes]], order: list[int], ndp_first: bool, ntb32: bool = False
) -> bytes:
    """An NTB16 (NTB32) with one NDP per group, chained in ``order``, datagrams 4-aligned."""
    nth, hdr, dpe = (16, 16, 8) if ntb32 else (12, 8, 4)
    out = bytearray(nth)
    ndp_pos: dict[int, int] = {}
    dg_pos: dict[int, list[int]] = {}

    def put_ndps() -> None:
        for g in order:
            out.extend(bytes(-len(out) % 4))
            ndp_pos[g] = len(out)
            out.extend(bytes(hdr + dpe * (len(groups[g]) + 1)))

    if ndp_first:
        put_ndps()
    for g, frames in enumerate(groups):
        dg_pos[g] = []
        for f in frames:
            out.extend(bytes(-len(out) % 4))
            dg_pos[g].append(len(out))
            out.extend(f)
    if not ndp_first:
        put_ndps()
    for i, g in enumerate(order):
        nxt = ndp_pos[order[i + 1]] if i + 1 < len(order) else 0
        pos = ndp_pos[g]
        wlen = hdr + dpe * (len(groups[g]) + 1)
        if ntb32:
            struct.pack_into("<4sHHII", out, pos, b"ncm0", wlen, 0, nxt, 0)
        else:
            struct.pack_into("<4sHH", out, pos, b"NCM0", wlen, nxt)
        for j, f in enumerate(groups[g]):
            struct.pack_into("<II" if ntb32 else "<HH", out, pos + hdr + dpe * j, dg_pos[g][j],
                             len(f))  # fmt: skip
    if ntb32:
        struct.pack_into("<4sHHII", out, 0, b"ncmh", 16, 0, len(out), ndp_pos[order[0]])
    else:
        struct.pack_into("<4sHHHH", out, 0, b"NCMH", 12, 0, len(out), ndp_pos[order[0]])
    return bytes(out)


@FAST
@given(st.lists(st.lists(frame_st, min_size=1, max_size=5), min_size=1, max_size=6),
       st.randoms(use_true_random=False), st.booleans(), st.booleans())  # fmt: skip
def test_ntb_with_chained_ndps_yields_every_datagram(groups, rnd, ndp_first, ntb32):
    order = list(range(len(groups)))
    rnd.shuffle(order)
    ntb = _ntb_with_ndps(groups, order, ndp_first, ntb32)
    if len(ntb) > 0xFFFF and not ntb32:
        return
    dec = NtbDecoder(ntb32=ntb32)
    got = dec.decode(ntb)
    assert got == [f for g in order for f in groups[g]]
    assert dec.stats.rx_errors == 0


flag_st = st.sampled_from([0, ax.AX_RXHDR_L4_TYPE_TCP, ax.AX_RXHDR_L4_TYPE_UDP,
                           ax.AX_RXHDR_L4_TYPE_TCP | ax.AX_RXHDR_L4CSUM_ERR,
                           ax.AX_RXHDR_L4_TYPE_UDP | ax.AX_RXHDR_L3CSUM_ERR,
                           ax.AX_RXHDR_CRC_ERR, ax.AX_RXHDR_DROP_ERR])  # fmt: skip


@FAST
@given(st.lists(st.tuples(frame_st, flag_st), min_size=1, max_size=30), st.booleans())
def test_ax88179_flags_drop_and_mark_packets(items, dummies):
    frames = [f for f, _ in items]
    flags = [fl for _, fl in items]
    dec = Ax88179RxDecoder()
    pkts = dec.decode_packets(encode_rx_transfer(frames, flags=flags, dummy_headers=dummies))
    bad = ax.AX_RXHDR_CRC_ERR | ax.AX_RXHDR_DROP_ERR
    keep = [(f, fl) for f, fl in items if not fl & bad]
    assert [bytes(p.frame) for p in pkts] == [f for f, _ in keep]
    for p, (_, fl) in zip(pkts, keep, strict=True):
        good_l4 = fl & ax.AX_RXHDR_L4_TYPE_MASK in (
            ax.AX_RXHDR_L4_TYPE_TCP,
            ax.AX_RXHDR_L4_TYPE_UDP,
        )
        no_err = not fl & (ax.AX_RXHDR_L3CSUM_ERR | ax.AX_RXHDR_L4CSUM_ERR)
        assert p.checksum_unnecessary == (good_l4 and no_err)
    s = dec.stats
    assert s.rx_errors == len(items) - len(keep)
    assert s.rx_crc_errors == sum(1 for fl in flags if fl & ax.AX_RXHDR_CRC_ERR)


@FAST
@given(st.lists(st.one_of(st.booleans(), st.tuples(st.integers(0, 2**32 - 1),
                                                    st.integers(0, 2**32 - 1))),
                min_size=1, max_size=10),
       st.sampled_from([8, 16, 64]))  # fmt: skip
def test_split_notifications_parse_like_whole_ones(events, mps):
    whole = [build_network_connection(e) if isinstance(e, bool) else build_speed_change(*e)
             for e in events]  # fmt: skip
    a, b = NotificationParser(), NotificationParser()
    ref = [n for w in whole for n in a.feed(w)]
    split = []
    for w in whole:  # as an interrupt endpoint delivers it: wMaxPacketSize pieces
        for i in range(0, len(w), mps):
            split += b.feed(w[i : i + mps])
    assert split == ref and len(ref) == len(events)
    assert a.stats.rx_errors == b.stats.rx_errors == 0


def _categories_add_up(stats) -> None:
    assert stats.rx_errors == stats.rx_length_errors + stats.rx_frame_errors + stats.rx_crc_errors


@FAST
@given(st.lists(st.binary(max_size=700), max_size=8))
def test_every_decoder_error_has_one_category(transfers):
    decs = [NtbDecoder(max_size=4096, max_datagram=1518), Ax88179RxDecoder(), EcmRxDecoder(),
            NtbDecoder(max_size=4096, max_datagram=1518, ntb32=True)]  # fmt: skip
    for t in transfers:
        for d in decs:
            d.decode(t)
            _categories_add_up(d.stats)


@FAST
@given(st.lists(st.binary(min_size=4, max_size=600).map(
    lambda b: b"NCMH\x0c\x00" + b[:4] + struct.pack("<H", 12) + b[4:]), max_size=5))  # fmt: skip
def test_every_ntb_error_has_one_category(transfers):
    d = NtbDecoder()
    for t in transfers:
        d.decode(t)
        _categories_add_up(d.stats)


@FAST
@given(st.lists(st.binary(min_size=8, max_size=600).map(
    lambda b: b"ncmh\x10\x00" + b[:6] + struct.pack("<I", 16) + b[6:]), max_size=5))  # fmt: skip
def test_every_ntb32_error_has_one_category(transfers):
    d = NtbDecoder(ntb32=True)
    for t in transfers:
        d.decode(t)
        _categories_add_up(d.stats)


# -- the driver's receive path ------------------------------------------------------------------
@pytest.fixture(scope="module", params=["cdc_ether", "cdc_ncm", "cdc_ncm_ntb32", "ax88179"])
def loaded(request):
    from netdrv_usbnet.codecs.cdc_ncm import NTB_FORMAT_NTB32
    from netdrv_usbnet.driver import Usbnet
    from netdrv_usbnet.sim import CdcNcmModel, SimBackend

    from netdrv_core import Host
    from netdrv_core.params import parse_params

    host = Host()
    if request.param == "cdc_ncm_ntb32":  # an adapter that offers NTB32 only
        params = parse_params("usbnet", Usbnet.parameters, {"hotplug_interval": "0"})
        params["backend"] = SimBackend([CdcNcmModel(ntb_formats=NTB_FORMAT_NTB32)])
    else:
        params = parse_params("usbnet", Usbnet.parameters,
                              {"sim": request.param, "hotplug_interval": "0"})  # fmt: skip
    drv = Usbnet(host, params)
    with host.as_current():
        drv.init()
    dev = drv.devices[0]
    host.attachment.up(dev)
    yield host, dev
    with host.as_current():
        drv.exit()
    host.close()
    host.loop.close()


@settings(max_examples=150, deadline=2000,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(st.one_of(st.binary(max_size=2000),
                          st.lists(frame_st, max_size=4).map(lambda fs: encode_rx_transfer(fs)
                                                             if fs else b""),
                          st.tuples(st.lists(frame_st, min_size=1, max_size=4), st.booleans())
                          .map(lambda a: encode_ntb(a[0], ntb32=a[1])[0])),
                max_size=6))  # fmt: skip
def test_rx_process_never_raises_and_counts_what_it_delivers(loaded, transfers):
    host, dev = loaded
    un = dev.priv
    before = dev.stats.copy()
    delivered_before = dev.core_stats.rx_submitted
    for t in transfers:
        un.rx_process(t)
    host.loop.run_until_idle()
    got = host.attachment.received(dev)
    s = dev.stats
    assert s.rx_packets - before.rx_packets == dev.core_stats.rx_submitted - delivered_before
    # Linux's usbnet_skb_return: skb->len after eth_type_trans pulled the Ethernet header.
    assert s.rx_bytes - before.rx_bytes == sum(len(f) - 14 for f in got)
    assert s.rx_errors == s.rx_length_errors + s.rx_frame_errors + s.rx_crc_errors
