"""Property tests of snull's Ethernet/IPv4 handling: any frame into sn0, nothing lost uncounted.

Frames of every shape (runts, non-IP, IPv4 with any header length, options,
fragments, protocols, broken checksums, offload metadata) are transmitted on
sn0 through the core on the memory attachment, with lockups, NAPI and a tiny
pool in play.  snull must never raise, every frame must end exactly once —
``tx_packets + tx_dropped + tx_errors == tx_submitted`` and everything handed
to the core is either submitted or dropped by the core — and what reaches sn1
is counted on the receive side the same way.  A frame whose IPv4 header
checksum was valid still has a valid one after the address flip.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdrv_core import CHECKSUM_NONE, CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, Host
from netdrv_core.checksum import ip_compute_csum
from netdrv_core.loop import EventLoop
from netdrv_core.params import parse_params

FAST = settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow])

SN0_MAC, SN1_MAC = b"\x00SNUL0", b"\x00SNUL1"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@st.composite
def ipv4_packet(draw: st.DrawFn) -> bytes:
    """An IPv4 packet, valid or subtly not: any IHL, options, fragment fields, protocol."""
    ihl = draw(st.one_of(st.just(5), st.integers(0, 15)))
    proto = draw(st.sampled_from([1, 6, 17, 47, 255]))
    payload = draw(st.binary(max_size=80))
    opts = draw(st.binary(min_size=max(0, ihl * 4 - 20), max_size=max(0, ihl * 4 - 20)))
    frag = draw(st.one_of(st.just(0), st.just(0x4000), st.integers(0, 0xFFFF)))
    total = 20 + len(opts) + len(payload)
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total & 0xFFFF, 1, frag, 64,
                                proto, 0, bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])))  # fmt: skip
    hdr += opts
    if draw(st.booleans()):
        hdr[10:12] = ip_compute_csum(bytes(hdr[: max(20, ihl * 4)])).to_bytes(2, "big")
    pkt = bytes(hdr) + payload
    cut = draw(st.one_of(st.none(), st.integers(0, len(pkt))))
    return pkt if cut is None else pkt[:cut]


def frames() -> st.SearchStrategy[tuple[bytes, dict[str, int]]]:
    eth = st.sampled_from([SN1_MAC + SN0_MAC, SN0_MAC + SN0_MAC, b"\xff" * 6 + SN0_MAC,
                           b"\x01\x00\x5e\x00\x00\x01" + SN0_MAC])  # fmt: skip
    ethertype = st.sampled_from([b"\x08\x00", b"\x08\x00", b"\x86\xdd", b"\x08\x06", b"\x00\x00"])
    frame = st.one_of(
        st.builds(lambda e, t, p: e + t + p, eth, ethertype, ipv4_packet()),
        st.binary(max_size=100),
    )
    meta = st.one_of(
        st.just({}),
        st.builds(lambda s, o: {"ip_summed": CHECKSUM_PARTIAL, "csum_start": s, "csum_offset": o},
                  st.integers(0, 200), st.integers(0, 40)),
        st.just({"ip_summed": CHECKSUM_UNNECESSARY}),
        st.just({"ip_summed": CHECKSUM_NONE}),
    )  # fmt: skip
    return st.tuples(frame, meta)


params_st = st.fixed_dictionaries({
    "lockup": st.sampled_from([0, 0, 1, 3, 7]),
    "use_napi": st.booleans(),
    "pool_size": st.sampled_from([1, 2, 8]),
    "napi_weight": st.sampled_from([1, 4, 64]),
    "offload": st.booleans(),
})  # fmt: skip


def _core_sent(host: Host, name: str) -> tuple[int, int, int]:
    dev = host.devices[name]
    cs = dev.core_stats
    return cs.tx_submitted, cs.tx_qdisc_drops, len(dev.qdisc)


@FAST
@given(st.lists(frames(), max_size=40), params_st, st.booleans())
def test_every_frame_into_sn0_is_accounted(
    items: list[tuple[bytes, dict[str, int]]], params: dict[str, Any], peer_up: bool
) -> None:
    from netdrv_snull.driver import Snull

    netdrv_log = logging.getLogger("netdrv")
    level = netdrv_log.level
    netdrv_log.setLevel(logging.ERROR)  # lockups log a warning each: thousands
    clock = _Clock()
    host = Host(loop=EventLoop(clock=clock))
    words = ["configure=0", "timeout=5", *(f"{k}={int(v)}" for k, v in params.items())]
    drv = Snull(host, parse_params("snull", Snull.parameters, words))
    with host.as_current():
        drv.init()
    mem = host.attachment
    sn0, sn1 = host.devices["sn0"], host.devices["sn1"]
    try:
        mem.up(sn0)  # type: ignore[attr-defined]
        if peer_up:
            mem.up(sn1)  # type: ignore[attr-defined]
        for frame, meta in items:
            m = dict(meta)
            if m.get("ip_summed") == CHECKSUM_PARTIAL:
                m["csum_start"] += 16  # MemoryStack.send's headroom: offsets into the buffer
            mem.send(sn0, frame, **m)  # type: ignore[attr-defined]
            clock.now += 0.001
            host.loop.run_until_idle()
        # Let every watchdog fire (timeout=5 ms) so locked-up transmissions complete.
        for _ in range(200):
            clock.now += 0.002
            host.loop.run_until_idle()
        submitted, qdisc_drops, backlog = _core_sent(host, "sn0")
        st0 = sn0.stats
        assert submitted + qdisc_drops + backlog == len(items)
        # Bring sn0 down: what is still queued or in flight ends now, counted.
        mem.down(sn0)  # type: ignore[attr-defined]
        host.loop.run_until_idle()
        submitted, qdisc_drops, backlog = _core_sent(host, "sn0")
        assert backlog == 0 and submitted + qdisc_drops == len(items)
        assert submitted == st0.tx_packets + st0.tx_dropped + st0.tx_errors, (
            st0.as_dict(), sn0.core_stats.as_dict())  # fmt: skip
        assert sn0.core_stats.tx_driver_faults == 0
        # Receive side of sn1: everything handed to the core is delivered or counted.
        cs1 = sn1.core_stats
        assert cs1.rx_submitted == cs1.rx_delivered + cs1.rx_backlog_drops + cs1.rx_down_drops
        received = mem.received(sn1)  # type: ignore[attr-defined]
        assert len(received) == cs1.rx_delivered
        assert sn1.stats.rx_packets + sn1.stats.rx_dropped >= 0
        # Offload metadata that points the checksum into the Ethernet/IP headers (the
        # kernel never does; a packet socket could) makes snull, like a NIC, write there.
        wild = any(m.get("ip_summed") == CHECKSUM_PARTIAL and m["csum_start"] + m["csum_offset"] < 34
                   for _, m in items)  # fmt: skip
        for f in received:
            if not wild:
                _check_flipped(f)
    finally:
        netdrv_log.setLevel(level)
        with host.as_current():
            drv.exit()
        host.close()
        host.loop.close()


def _check_flipped(frame: bytes) -> None:
    """What sn1 receives: from sn0, IPv4, padded to ETH_ZLEN, our addresses flipped to 198.18.1.x.

    (A runt is zero-padded before snull looks at it, as in LDD, so a frame with
    a truncated IPv4 header may arrive with zeros where the addresses were.)
    """
    assert len(frame) >= 60
    assert frame[6:12] == SN0_MAC
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:]
    if ip[12:14] == b"\xc6\x12" and ip[16:18] == b"\xc6\x12":
        assert (ip[14], ip[18]) == (1, 1), ip[12:20].hex()


@FAST
@given(ipv4_packet())
def test_the_flip_keeps_a_valid_header_checksum_valid(pkt: bytes) -> None:
    from netdrv_snull.ipv4 import FlipError, flip_ipv4

    buf = bytearray(b"\x00" * 14 + pkt)
    ihl = (pkt[0] & 0x0F) * 4 if pkt else 0
    valid = len(pkt) >= max(20, ihl) and ihl >= 20 and ip_compute_csum(pkt[:ihl]) == 0
    try:
        flip_ipv4(buf, 14, len(buf))
    except FlipError:
        assert not (len(pkt) >= 20 and pkt[0] >> 4 == 4 and 20 <= ihl <= len(pkt))
        return
    out = bytes(buf[14:])
    assert len(out) == len(pkt)
    assert out[12:16] == bytes([198, 18, 1, 1]) and out[16:20] == bytes([198, 18, 1, 2])
    if valid:
        assert ip_compute_csum(out[:ihl]) == 0, "the incremental update keeps the header valid"
    # Nothing outside the addresses and the checksums changes.
    diff = [i for i in range(len(pkt)) if pkt[i] != out[i]]
    assert all(i in (10, 11, 14, 18) or i >= ihl for i in diff), diff
