"""TX and RX through the host for every minidriver: framing, batching, ZLPs, filters, queues."""

from __future__ import annotations

import errno
import struct

import pytest
from netdrv_usbnet.codecs import NtbDecoder
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.codecs import cdc_ecm as ecm
from usbnet_helpers import (
    BCAST,
    PEER,
    accounted,
    frame,
    linux_tx_bytes,
    received,
    settle_tx,
    up,
    wait,
)

from netdrv_core import CHECKSUM_UNNECESSARY, netif_queue_stopped

MODELS = ["cdc_ether", "cdc_ncm", "ax88179"]


def on_wire(sim: str, frames: list[bytes], mps: int) -> list[bytes]:
    """What the adapter puts on the cable: an ECM frame that is a packet multiple keeps the
    zero byte usbnet appends (Linux's cdc_info sends no ZLP); the other framings carry the
    frame's own length, so the device strips theirs."""
    if sim != "cdc_ether":
        return frames
    return [f + b"\x00" if len(f) % mps == 0 else f for f in frames]


@pytest.mark.parametrize("sim", MODELS)
@pytest.mark.parametrize("speed", ["full", "high", "super"])
def test_tx_and_rx_every_size(host, usbnet, sim, speed):
    drv = usbnet(sim=sim, sim_speed=speed)
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    sizes = [60, 63, 64, 65, 127, 128, 500, 511, 512, 513, 1000, 1023, 1024, 1025, 1514]
    sent = [frame(PEER, n, i) for i, n in enumerate(sizes)]
    for f in sent:
        host.attachment.send(dev, f)
    assert settle_tx(host, dev)
    assert m.take_wire_tx() == on_wire(sim, sent, dev.priv.out_mps)
    assert dev.stats.tx_packets == len(sent)
    assert dev.stats.tx_bytes == linux_tx_bytes(sim, sent, dev.priv.out_mps)
    assert dev.stats.tx_errors == dev.stats.tx_dropped == 0
    incoming = [frame(dev.dev_addr, n, i) for i, n in enumerate(sizes)]
    for f in incoming:
        assert m.wire_rx(f)
    assert received(host, dev, len(incoming)) == incoming
    assert dev.stats.rx_packets == len(incoming) and dev.stats.rx_errors == 0
    assert m.stats.wire_tx_errors == 0


def test_ncm_batches_queued_frames_into_one_ntb(host, usbnet):
    drv = usbnet(sim="cdc_ncm")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    ntbs: list[bytes] = []
    orig = m._on_out_transfer

    def spy(ep, data):
        ntbs.append(data)
        return orig(ep, data)

    m._on_out_transfer = spy
    for i in range(10):  # handed to start_xmit in one loop pass: one writer batch
        host.attachment.send(dev, frame(PEER, 200, i))
    assert settle_tx(host, dev)
    assert len(ntbs) == 1, "ten queued frames travel in one NTB"
    assert len(NtbDecoder().decode(ntbs[0])) == 10
    info = dev.priv.info
    assert (info.tx_ntbs, info.tx_datagrams) == (1, 10)
    # More than fit in one NTB (16 KiB, 40 datagrams): several NTBs, all frames in order.
    ntbs.clear()
    burst = [frame(PEER, 1514, i) for i in range(30)]
    for f in burst:
        host.attachment.send(dev, f)
    assert settle_tx(host, dev)
    assert 2 <= len(ntbs) <= 4
    assert m.take_wire_tx()[-30:] == burst
    assert all(len(n) <= m.ntb_params.dwNtbOutMaxSize for n in ntbs)


def test_ncm_rx_many_datagrams_per_ntb(host, usbnet):
    drv = usbnet(sim="cdc_ncm")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    frames = [frame(dev.dev_addr, 100 + i, i) for i in range(25)]
    assert m.wire_rx_many(frames) == 25
    assert received(host, dev, 25) == frames
    assert dev.priv.info.rx_decoder.stats.rx_ntbs <= 2


@pytest.mark.parametrize("sim", MODELS)
def test_missing_zlp_is_handled_by_terminating_transfers(host, usbnet, sim):
    """An adapter that merges a full-packet transfer with the next one still gets every frame."""
    drv = usbnet(sim=sim, sim_speed="full")
    m = drv.sim_model
    m.drop_zlp = True
    (dev,) = drv.devices
    up(host, dev)
    mps = dev.priv.out_mps
    assert mps == 64
    # Transfers (frame, NTB of one frame, header + frame) that end exactly on a packet boundary.
    overhead = {"cdc_ether": 0, "cdc_ncm": 28, "ax88179": 8}[sim]
    sizes = [64 * k - overhead for k in (2, 3, 5, 10, 16)] + [100]
    sent = [frame(PEER, n, i) for i, n in enumerate(sizes)]
    for f in sent:
        host.attachment.send(dev, f)
        assert settle_tx(host, dev)  # one at a time: each is its own transfer
    assert m.take_wire_tx() == on_wire(sim, sent, mps)
    assert m.stats.wire_tx_errors == 0 and m.pending_out_bytes(dev.priv.ep_out) == 0
    counters = dev.priv.counters
    assert counters["tx_zlps"] == m.stats.zlps_received == 0, "Linux sends no ZLP"
    if sim == "cdc_ncm":  # cdc_ncm_info: a zero byte inside the NTB ends it
        assert counters["tx_pad_bytes"] == 0
    else:  # usbnet_start_xmit's length++ for cdc_info and the AX88179: one per transfer
        assert counters["tx_pad_bytes"] == 5
    # Linux counts the transfer (usbnet_start_xmit: length after length++): the pad too.
    assert dev.stats.tx_bytes == linux_tx_bytes(sim, sent, mps)
    header = overhead if sim == "ax88179" else 0
    assert dev.stats.tx_bytes == sum(sizes) + len(sent) * header + counters["tx_pad_bytes"]


def test_ax88179_checksum_verdict_marks_skbs(host, usbnet):
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    good = frame(dev.dev_addr, 100, 1)
    plain = frame(dev.dev_addr, 100, 2)
    bad = frame(dev.dev_addr, 100, 3)
    transfer = ax.encode_rx_transfer(
        [good, plain, bad],
        flags=[ax.AX_RXHDR_L4_TYPE_TCP, 0, ax.AX_RXHDR_L4_TYPE_TCP | ax.AX_RXHDR_L4CSUM_ERR],
    )
    with m._cond:
        m._push_in(m.BULK_IN, transfer)
    skbs = []
    wait(host, lambda: skbs.extend(host.attachment.received_skbs(dev)) or len(skbs) >= 3)
    assert [s.ip_summed == CHECKSUM_UNNECESSARY for s in skbs] == [True, False, False]


def test_ax88179a_dummy_headers_are_skipped(host, usbnet, sim_backend):
    from netdrv_usbnet.sim import Ax88179Model

    m = sim_backend.plug(Ax88179Model(variant="ax88179a"))
    assert m.ax88179a_dummy_headers
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    up(host, dev)
    frames = [frame(dev.dev_addr, 60 + 7 * i, i) for i in range(12)]
    m.wire_rx_many(frames)
    assert received(host, dev, 12) == frames
    st = dev.priv.info.rx_decoder.stats
    assert st.dummy_headers >= 12 and st.rx_errors == 0 and dev.stats.rx_errors == 0


def test_cdc_filters_follow_rx_mode(host, usbnet):
    drv = usbnet(sim="cdc_ether")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    group = b"\x01\x00\x5e\x00\x00\x07"
    other = b"\x01\x00\x5e\x00\x00\x08"
    assert not m.wire_rx(frame(group)), "multicast filtered before joining"
    host.dev_mc_add(dev, group)
    assert wait(host, lambda: m.packet_filter & ecm.MULTICAST and m.multicast_filters == [group])
    assert m.wire_rx(frame(group)) and not m.wire_rx(frame(other))
    host.dev_set_rx_mode(dev, allmulti=True)
    assert wait(host, lambda: m.packet_filter & ecm.ALL_MULTICAST)
    assert m.wire_rx(frame(other))
    host.dev_set_rx_mode(dev, promisc=True)
    assert wait(host, lambda: m.packet_filter & ecm.PROMISCUOUS)
    assert m.wire_rx(frame(b"\x02\x99\x99\x99\x99\x99"))
    host.dev_set_rx_mode(dev, promisc=False, allmulti=False, mc_list=[])
    assert wait(host, lambda: m.packet_filter == ecm.DIRECTED | ecm.BROADCAST)
    assert not m.wire_rx(frame(b"\x02\x99\x99\x99\x99\x99")) and m.wire_rx(frame(BCAST))
    # More groups than the adapter has perfect filters: all-multicast instead.
    host.dev_set_rx_mode(dev, mc_list=[bytes([1, 0, 0x5E, 0, 1, i]) for i in range(17)])
    assert wait(host, lambda: m.packet_filter & ecm.ALL_MULTICAST)
    assert len(received(host, dev, 4)) == 4


def test_ax88179_filters_follow_rx_mode(host, usbnet):
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    group = b"\x01\x00\x5e\x00\x00\x07"
    host.dev_mc_add(dev, group)
    assert wait(
        host,
        lambda: m.rx_ctl & ax.AX_RX_CTL_AM and m.multicast_filter == ax.multicast_filter([group]),
    )
    assert m.wire_rx(frame(group))
    host.dev_set_rx_mode(dev, promisc=True)
    assert wait(host, lambda: m.rx_ctl & ax.AX_RX_CTL_PRO)
    assert m.wire_rx(frame(b"\x02\x99\x99\x99\x99\x99"))
    host.dev_set_rx_mode(dev, promisc=False, allmulti=True)
    assert wait(host, lambda: m.rx_ctl & ax.AX_RX_CTL_AMALL and not m.rx_ctl & ax.AX_RX_CTL_PRO)
    assert not m.wire_rx(frame(b"\x02\x99\x99\x99\x99\x99"))


def test_ax88179_jumbo_mtu(host, usbnet):
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    assert host.dev_set_mtu(dev, 4000) == 0
    assert wait(host, lambda: m.medium_mode & ax.AX_MEDIUM_JUMBO_EN == ax.AX_MEDIUM_JUMBO_EN)
    big = frame(dev.dev_addr, 4014, 9)
    assert m.wire_rx(big)
    assert received(host, dev, 1) == [big]
    host.attachment.send(dev, frame(PEER, 4014, 7))
    assert settle_tx(host, dev) and m.take_wire_tx() == [frame(PEER, 4014, 7)]
    assert host.dev_set_mtu(dev, 1500) == 0
    assert wait(host, lambda: not m.medium_mode & 0x0040)
    assert host.dev_set_mtu(dev, 4089) != 0


def test_mac_address_change(host, usbnet):
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    new = b"\x02\x42\x42\x42\x42\x42"
    assert host.dev_set_mac_address(dev, new) == 0
    assert wait(host, lambda: m.mac == new)
    up(host, dev)
    assert m.wire_rx(frame(new)) and received(host, dev, 1)
    # Up: refused as by Linux's eth_mac_addr (ECM too: see test_walk_usbnet for the rest).
    assert host.dev_set_mac_address(dev, b"\x02\x43\x43\x43\x43\x43") == -errno.EBUSY


def test_queue_stops_when_full_and_wakes_when_drained(host, usbnet):
    drv = usbnet(sim="cdc_ether", sim_speed="full")  # tx_qlen 4
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    un = dev.priv
    assert un.tx_qlen == 4
    gate = __import__("threading").Event()
    orig = m._on_out_transfer

    def slow(ep, data):
        gate.wait(5)
        return orig(ep, data)

    m._on_out_transfer = slow
    for i in range(20):
        host.attachment.send(dev, frame(PEER, 100, i))
    host.loop.run_until_idle()
    assert netif_queue_stopped(dev) and un.tx_inflight == 4 and len(dev.qdisc) == 16
    gate.set()
    assert settle_tx(host, dev)
    assert not netif_queue_stopped(dev) and dev.stats.tx_packets == 20
    assert len(m.take_wire_tx()) == 20


def test_rx_back_pressure_bounds_what_waits_for_the_loop(host, usbnet):
    drv = usbnet(sim="cdc_ether")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    un = dev.priv
    n = un.rx_pool + 50  # more transfers than the reader has buffers for
    for i in range(n):
        m.wire_rx(frame(dev.dev_addr, 60, i))
    import time

    time.sleep(0.3)  # the reader runs ahead while the loop does nothing
    assert len(un.rxq) <= un.rx_pool and un.state_dict()["rx_buffers"] <= un.rx_pool
    with m._cond:
        assert m.pending_in_transfers(m.BULK_IN) + len(m._rx_pending) > 0, "the rest waits"
    got = received(host, dev, n)
    assert len(got) == n and [f[14] for f in got] == [i & 0xFF for i in range(n)]


def test_down_interface_does_not_read_or_send(host, usbnet):
    drv = usbnet(sim="cdc_ether")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    host.attachment.down(dev)
    import time

    time.sleep(0.25)  # a read in progress when the interface went down ends (like an unlinked URB)
    host.attachment.send(dev, frame(PEER))
    m.wire_rx(frame(dev.dev_addr))
    time.sleep(0.25)
    host.loop.run_until_idle()
    assert m.pending_in_transfers(m.BULK_IN) + len(m._rx_pending) == 1, "left in the adapter"
    assert dev.stats.tx_packets == 0 and m.take_wire_tx() == []
    up(host, dev)
    assert len(received(host, dev, 1)) == 1
    assert accounted(dev)


def test_udp_header_checks_struct():  # the helper frames are what they claim
    f = frame(PEER, 100, 5, ethertype=0x0800)
    assert len(f) == 100 and struct.unpack("!H", f[12:14])[0] == 0x0800


def _tcp_segments(dst_mac: bytes, n: int, mss: int = 1448) -> list[bytes]:
    """``n`` full-sized segments of one TCP flow, checksums right (an adapter's IN traffic)."""
    from netdrv_core.checksum import csum_partial, csum_tcpudp_magic, ip_compute_csum

    src, dst = bytes([198, 18, 7, 2]), bytes([198, 18, 7, 1])
    out = []
    for i in range(n):
        payload = bytes((i + k) & 0xFF for k in range(mss))
        tcp = bytearray(struct.pack("!HHIIBBHHH", 5201, 40000, 1 + i * mss, 9, 5 << 4, 0x10,
                                    512, 0, 0) + payload)  # fmt: skip
        tcp[16:18] = csum_tcpudp_magic(src, dst, len(tcp), 6, csum_partial(tcp)).to_bytes(2, "big")
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 100 + i, 0x4000, 64,
                                   6, 0, src, dst))  # fmt: skip
        ip[10:12] = ip_compute_csum(ip).to_bytes(2, "big")
        out.append(dst_mac + PEER + b"\x08\x00" + bytes(ip + tcp))
    return out


@pytest.mark.parametrize("sim", ["cdc_ncm", "ax88179"])
def test_a_tcp_flow_goes_up_merged_by_gro(host, usbnet, sim):
    """usbnet's NAPI poll hands frames to napi_gro_receive: a TCP flow's segments that come
    in one poll reach the stack as super-frames, which segment back into what came in."""
    from netdrv_core.ethtool import ethtool_request
    from netdrv_core.gso import skb_gso_segment

    drv = usbnet(sim=sim)
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    segs = _tcp_segments(dev.dev_addr, 20)
    assert m.wire_rx_many(segs) == 20
    got: list = []
    assert wait(host, lambda: bool(got.extend(host.attachment.received_skbs(dev))) or sum(
        max(1, -(-(s.tail - s.data - 40) // 1448)) for s in got) >= 20)  # fmt: skip
    assert len(got) < 20 and any(s.gso_size == 1448 for s in got)
    back = [bytes(x.buf[x.mac_header : x.tail]) for s in got
            for x in (skb_gso_segment(s, 0) if s.gso_size else [s])]  # fmt: skip
    assert back == segs
    cs = dev.core_stats
    assert cs.rx_submitted == cs.rx_delivered == dev.stats.rx_packets == 20
    ethtool_request(host, dev, "features", {"gro": False})
    assert m.wire_rx_many(segs) == 20
    assert received(host, dev, 20) == segs  # one by one again


@pytest.mark.parametrize("sim", MODELS)
def test_rx_bytes_count_what_linux_usbnet_counts(host, usbnet, sim):
    """Linux's usbnet_skb_return counts ``skb->len`` after ``eth_type_trans``: each frame
    without its USB framing (NTB, AX88179 trailer) and without the 14-byte Ethernet header
    eth_type_trans pulled.  (tx_bytes: see test_tx_and_rx_every_size.)"""
    drv = usbnet(sim=sim)
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    sizes = [14, 60, 61, 100, 1000, 1514]
    incoming = [frame(dev.dev_addr, n, i) for i, n in enumerate(sizes)]
    incoming.append(frame(dev.dev_addr, 64, 9, ethertype=0x8100))  # a VLAN tag is payload
    assert m.wire_rx_many(incoming) == len(incoming)
    assert received(host, dev, len(incoming)) == incoming
    assert dev.stats.rx_packets == len(incoming)
    assert dev.stats.rx_bytes == sum(len(f) - 14 for f in incoming)
    assert m.stats.wire_rx_bytes == sum(map(len, incoming))  # what the cable carried


def test_a_poll_that_napi_must_repeat_keeps_the_reader_from_waking_the_loop(host, usbnet):
    # A napi_schedule during the poll (MISSED): napi_complete_done returns False and the
    # core polls again, so a poll is still due and the reader need not post another kick.
    from netdrv_core import napi_schedule

    drv = usbnet(sim="cdc_ncm")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    un = dev.priv
    napi = un.napi
    after: list[tuple[bool, bool]] = []
    poll = napi.poll
    receive = host.attachment.receive

    def spy_poll(n, budget):
        done = poll(n, budget)
        after.append((un.rx_scheduled, n.scheduled))
        return done

    def interrupt_during_poll(d, skb):
        if not any(s for _, s in after):
            napi_schedule(napi)  # sets MISSED: the context is polling
        return receive(d, skb)

    napi.poll = spy_poll
    host.attachment.receive = interrupt_during_poll
    f = frame(dev.dev_addr, 100, 1)
    assert m.wire_rx(f)
    assert received(host, dev, 1) == [f]
    assert wait(host, lambda: len(after) >= 2 and not napi.scheduled)
    assert after[0] == (True, True), "the poll is repeated: rx_scheduled must stay set"
    assert after[-1] == (False, False)
