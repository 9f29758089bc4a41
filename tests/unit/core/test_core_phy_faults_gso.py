"""phy.faults: a GSO super-frame picked for corruption is segmented first, as netem does.

Corrupted whole, the flipped bit would be hidden: the device (TSO) or the later software
segmentation computes every segment's checksums afresh.  netem_enqueue segments it
(netem_segment), damages the first segment and passes each of the others through
netem_enqueue again (finish_segs: qdisc_enqueue), with draws of its own.
"""

from __future__ import annotations

import pytest
from fakedev import FakeClock, make_dev, mem, rx_skb
from fault_helpers import frame_n
from frames import ETH_P_IP, eth_frame, tcp_packet

from netdrv_core import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    NETIF_F_HW_CSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    Host,
    NetDevice,
    SkBuff,
    netif_rx,
)
from netdrv_core.checksum import csum_fold, csum_partial, csum_tcpudp_magic, ip_compute_csum
from netdrv_core.gso import skb_gso_segment
from netdrv_core.phy import FaultInjector, FaultStats
from netdrv_core.skbuff import SKB_GSO_TCPV4, SKB_GSO_UDP_L4

SRC, DST = "198.18.0.1", "198.18.0.2"
HOST_MAC = b"\x02\xaa\xbb\xcc\xdd\xee"
MSS = 1448
PAYLOAD = bytes(i * 7 & 0xFF for i in range(3 * MSS + 100))  # four segments
NSEGS = 4
HR = 16
TCP_OFF = 14 + 20  # the TCP header in the frame

NO_OFFLOADS = 0
CSUM_ONLY = NETIF_F_SG | NETIF_F_HW_CSUM
TSO = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO


def balanced(st: FaultStats) -> bool:
    ended = st.delivered + st.dropped + st.rate_limited + st.limit_dropped + st.purged
    return st.seen + st.duplicated + st.segmented == ended + st.pending


def super_frame(dev: NetDevice, gso_type: int = SKB_GSO_TCPV4, payload: bytes = PAYLOAD) -> SkBuff:
    """A TCP super-frame as the stack hands it to a TSO device: CHECKSUM_PARTIAL, gso set."""
    pkt = tcp_packet(SRC, DST, 40000, 5201, payload, partial=True)
    frame = eth_frame(HOST_MAC, dev.dev_addr, ETH_P_IP, pkt)
    skb = SkBuff(HR + len(frame))
    skb.buf[HR:] = frame
    skb.data = skb.mac_header = HR
    skb.tail = HR + len(frame)
    skb.network_header = HR + 14
    skb.dev = dev
    skb.protocol = ETH_P_IP
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = HR + TCP_OFF
    skb.csum_offset = 16
    skb.gso_size = MSS
    skb.gso_type = gso_type
    return skb


def reference(dev: NetDevice, payload: bytes = PAYLOAD) -> list[bytes]:
    """The segments of the super-frame, uncorrupted, every checksum finished."""
    return [seg.tobytes() for seg in skb_gso_segment(super_frame(dev, payload=payload), 0)]


def as_on_the_wire(frame: bytes, skb: SkBuff) -> bytes:
    """``frame`` as sent by ``skb``'s driver: a partial checksum finished as the hardware
    finishes it (the field holds the pseudo-header sum)."""
    if skb.ip_summed != CHECKSUM_PARTIAL:
        return frame
    out = bytearray(frame)
    start = skb.csum_start - skb.data
    at = start + skb.csum_offset
    out[at : at + 2] = csum_fold(csum_partial(out[start:])).to_bytes(2, "big")
    return bytes(out)


def verifies(frame: bytes) -> bool:
    """Whether a receiver verifying the IPv4 and TCP checksums accepts ``frame``."""
    ip = frame[14:34]
    total = int.from_bytes(ip[2:4], "big")
    if ip_compute_csum(ip) != 0 or total != len(frame) - 14:
        return False
    l4 = frame[TCP_OFF:]
    return csum_tcpudp_magic(ip[12:16], ip[16:20], len(l4), 6, csum_partial(l4)) == 0


def bits_differing(a: bytes, b: bytes) -> int:
    assert len(a) == len(b)
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


def assert_all_damaged(got: list[bytes], ref: list[bytes]) -> None:
    """Each of ``got`` is its segment of ``ref`` with one bit flipped, caught by a checksum."""
    assert len(got) == len(ref)
    # A bit in the Ethernet header would not be caught by any checksum: these seeds flip
    # one after it (netem flips anywhere in the frame too).
    for g, r in zip(got, ref, strict=True):
        assert not verifies(g) and bits_differing(g, r) == 1


def seg_index(frame: bytes, ref: list[bytes]) -> int:
    """Which of the segments ``ref`` the (maybe damaged) ``frame`` is: the nearest one."""
    same = [i for i, r in enumerate(ref) if len(r) == len(frame)]
    return min(same, key=lambda i: bits_differing(frame, ref[i]))


@pytest.mark.parametrize("features", [NO_OFFLOADS, CSUM_ONLY, TSO], ids=["none", "csum", "tso"])
@pytest.mark.parametrize("seed", [1, 3, 4])
def test_a_corrupted_super_frame_goes_out_as_segments_each_damaged_by_its_own_draw(
    host: Host, features: int, seed: int
) -> None:
    # corrupt 100%: the first segment is damaged as the frame's, each other one by its own
    # corrupt draw in netem_enqueue (at a bit of its own), its checksum finished first
    dev, ops = make_dev(host, "f%d", features=features)
    fi = FaultInjector(dev, seed=seed, corrupt=1.0, direction="tx")
    skb = super_frame(dev)
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    assert skb.freed and all(not s.gso_size for s in ops.sent)
    assert [s.ip_summed for s in ops.sent] == [CHECKSUM_NONE] * NSEGS
    assert_all_damaged(ops.sent_bytes, reference(dev))
    st = fi.stats
    assert (st.seen, st.corrupted, st.delivered, st.segmented, st.duplicated) == (
        1,
        NSEGS,
        NSEGS,
        NSEGS - 1,
        0,
    )
    assert balanced(st)


@pytest.mark.parametrize("features", [CSUM_ONLY, TSO], ids=["csum", "tso"])
def test_the_segments_after_the_first_go_through_the_faults_with_draws_of_their_own(
    host: Host, features: int
) -> None:
    # netem's finish_segs hands each segment after the first to qdisc_enqueue: netem_enqueue
    # again, its own loss and corruption draws.  The segments spared keep the device's
    # checksum offload (netem_segment's features minus the GSO bits).
    dev, ops = make_dev(host, "f%d", features=features)
    fi = FaultInjector(dev, seed=4, corrupt=0.6, drop=0.25, direction="tx")
    ref = reference(dev)
    groups: list[list[int]] = []  # each super-frame cut up: the segments of it that went
    damaged = spared = whole = 0
    for _ in range(40):
        start = len(ops.sent)
        host.dev_queue_xmit(super_frame(dev))
        host.loop.run_until_idle()
        sent = list(zip(ops.sent_bytes[start:], ops.sent[start:], strict=True))
        if not sent or sent[0][1].gso_size:  # lost whole, or spared whole
            whole += len(sent)
            continue
        groups.append([seg_index(as_on_the_wire(f, s), ref) for f, s in sent])
        for k, (f, s) in enumerate(sent):
            wire = as_on_the_wire(f, s)
            i = groups[-1][k]
            if wire == ref[i]:
                assert s.ip_summed == CHECKSUM_PARTIAL and verifies(wire)
                spared += i > 0
            else:
                assert bits_differing(wire, ref[i]) == 1 and s.ip_summed == CHECKSUM_NONE
                # caught by a checksum, unless the bit is in the Ethernet header
                assert not verifies(wire) or wire[:14] != ref[i][:14]
                damaged += i > 0
    assert groups and all(g[0] == 0 for g in groups)  # the first: the frame's draws
    assert damaged and spared  # the others: each by its own corrupt draw
    assert any(len(g) < NSEGS for g in groups)  # and its own loss
    st = fi.stats
    assert st.segmented == (NSEGS - 1) * len(groups)
    lost_whole = 40 - whole - len(groups)
    assert st.dropped == lost_whole + sum(NSEGS - len(g) for g in groups) and balanced(st)
    assert st.corrupted == len(groups) + damaged


def test_the_copy_is_the_super_frame_taken_before_the_damage(host: Host, clock: FakeClock) -> None:
    # netem_enqueue clones the frame before corrupting it and re-enqueues the clone at the
    # root, first: the copy goes through the faults itself (here cut up and damaged too,
    # at a bit of its own), then the frame's segments, all delayed alike.  Each segment
    # after the first goes through netem_enqueue again: the frame's are duplicated (100%)
    # and their copies queued before them, the copy's are not (a copy is not duplicated).
    dev, ops = make_dev(host, "f%d", features=TSO)
    fi = FaultInjector(dev, seed=1, corrupt=1.0, duplicate=1.0, delay=0.5, direction="tx")
    host.dev_queue_xmit(super_frame(dev))
    host.loop.run_until_idle()
    st = fi.stats
    n = 2 * NSEGS + NSEGS - 1
    assert ops.sent == [] and st.pending == n and balanced(st)
    clock.advance(0.5)
    host.loop.run_until_idle()
    ref = reference(dev)
    order = [0, 1, 2, 3, 0, 1, 1, 2, 2, 3, 3]  # the copy's; the frame's, each after its copy
    assert_all_damaged(ops.sent_bytes, [ref[i] for i in order])
    assert ops.sent_bytes[0] != ops.sent_bytes[NSEGS]  # each damaged by its own draw
    assert (st.seen, st.corrupted, st.delivered, st.pending) == (1, n, n, 0)
    assert (st.segmented, st.duplicated) == (2 * (NSEGS - 1), NSEGS) and balanced(st)


def test_an_undamaged_copy_of_a_super_frame_goes_out_whole(host: Host) -> None:
    # the copy is taken before the frame is cut up: spared by its own corrupt draw, it
    # leaves as the super-frame it was (for the device's TSO)
    dev, ops = make_dev(host, "f%d", features=TSO)
    fi = FaultInjector(dev, seed=0, corrupt=0.5, duplicate=1.0, direction="tx")
    pairs = []  # (the copy, the frame): how each left first, "whole" or "cut" up
    for _ in range(8):
        start = len(ops.sent)
        host.dev_queue_xmit(super_frame(dev))
        host.loop.run_until_idle()
        copy = ops.sent[start]  # the copy is enqueued (at the root) before its frame
        if copy.gso_size:
            frame = ops.sent[start + 1]
            pairs.append(("whole", "whole" if frame.gso_size else "cut"))
    assert ("whole", "cut") in pairs and balanced(fi.stats)  # a frame damaged, its copy not


def test_a_super_frame_that_cannot_be_segmented_is_dropped(host: Host) -> None:
    dev, ops = make_dev(host, "f%d", features=TSO)
    fi = FaultInjector(dev, seed=1, corrupt=1.0, direction="tx")
    skb = super_frame(dev, gso_type=SKB_GSO_UDP_L4)  # says UDP, carries TCP
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    assert ops.sent == [] and skb.freed
    st = fi.stats
    assert (st.seen, st.dropped, st.delivered, st.corrupted) == (1, 1, 0, 0) and balanced(st)


def test_a_received_super_frame_is_segmented_and_each_segment_damaged(host: Host) -> None:
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=2, corrupt=1.0, direction="rx")
    frame = super_frame(dev).tobytes()
    skb = rx_skb(dev, frame)  # a GRO'd super-frame, its checksums vouched for
    skb.network_header = skb.data
    skb.gso_size, skb.gso_type = MSS, SKB_GSO_TCPV4
    netif_rx(skb)
    host.loop.run_until_idle()
    segs = mem(host).received_skbs(dev)
    # Nothing after the injector finishes a checksum on receive: finished here, verified by
    # the stack (not vouched for).
    assert [s.ip_summed for s in segs] == [CHECKSUM_NONE] * NSEGS
    got = [bytes(s.buf[s.mac_header : s.tail]) for s in segs]
    assert_all_damaged(got, reference(dev))
    st = fi.stats
    assert (st.seen, st.corrupted, st.delivered, st.segmented, st.duplicated) == (
        1,
        NSEGS,
        NSEGS,
        NSEGS - 1,
        0,
    )
    assert balanced(st)


ONE_SEG = PAYLOAD[:200]  # less than gso_size: a super-frame of one segment


@pytest.mark.parametrize("duplicate", [0.0, 1.0], ids=["alone", "duplicated"])
@pytest.mark.parametrize("seed", range(3))
def test_a_super_frame_of_one_segment_goes_on_as_its_damaged_segment(
    host: Host, duplicate: float, seed: int
) -> None:
    # Cut up, the super-frame is freed and its one segment (damaged) is what goes on: the
    # device never sees the original (a use after free, the device taken down).
    dev, ops = make_dev(host, "f%d", features=TSO)
    fi = FaultInjector(dev, seed=seed, corrupt=1.0, duplicate=duplicate, direction="tx")
    skb = super_frame(dev, payload=ONE_SEG)
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    assert dev.is_up and skb.freed
    n = 2 if duplicate else 1  # the copy is cut up and damaged at a bit of its own too
    assert len(ops.sent) == n and all(s is not skb and not s.gso_size for s in ops.sent)
    (ref,) = reference(dev, ONE_SEG)
    got = [as_on_the_wire(f, s) for f, s in zip(ops.sent_bytes, ops.sent, strict=True)]
    assert all(bits_differing(g, ref) == 1 for g in got)
    st = fi.stats
    assert (st.seen, st.corrupted, st.delivered, st.segmented) == (1, n, n, 0)
    assert st.duplicated == n - 1 and balanced(st)
    assert dev.stats.tx_packets == n and dev.stats.tx_errors == 0


@pytest.mark.parametrize("duplicate", [0.0, 1.0], ids=["alone", "duplicated"])
@pytest.mark.parametrize("seed", range(3))
def test_a_received_super_frame_of_one_segment_goes_up_as_its_damaged_segment(
    host: Host, duplicate: float, seed: int
) -> None:
    dev, _ = make_dev(host, "f%d")
    fi = FaultInjector(dev, seed=seed, corrupt=1.0, duplicate=duplicate, direction="rx")
    skb = rx_skb(dev, super_frame(dev, payload=ONE_SEG).tobytes())
    skb.network_header = skb.data
    skb.gso_size, skb.gso_type = MSS, SKB_GSO_TCPV4
    netif_rx(skb)
    host.loop.run_until_idle()
    got = mem(host).received_skbs(dev)
    n = 2 if duplicate else 1
    assert skb.freed and len(got) == n and all(s is not skb for s in got)
    (ref,) = reference(dev, ONE_SEG)
    frames = [bytes(s.buf[s.mac_header : s.tail]) for s in got]
    assert all(bits_differing(f, ref) == 1 for f in frames)
    assert [s.ip_summed for s in got] == [CHECKSUM_NONE] * n
    st = fi.stats
    assert (st.seen, st.corrupted, st.delivered, st.segmented) == (1, n, n, 0)
    assert st.duplicated == n - 1 and balanced(st)


@pytest.mark.parametrize("duplicate", [0.0, 1.0], ids=["alone", "duplicated"])
def test_a_frame_whose_checksum_cannot_be_finished_is_not_corrupted_but_dropped(
    host: Host, duplicate: float
) -> None:
    # netem_enqueue: skb_checksum_help failing before the flip, the frame is dropped
    # (qdisc_drop) and its copy with it (finish_segs)
    dev, ops = make_dev(host, "f%d", features=CSUM_ONLY)
    fi = FaultInjector(dev, seed=1, corrupt=1.0, duplicate=duplicate, direction="tx")
    skb = super_frame(dev, payload=ONE_SEG)
    skb.gso_size = skb.gso_type = 0
    skb.csum_offset = 4000  # beyond the frame: the checksum cannot be finished
    host.dev_queue_xmit(skb)
    host.loop.run_until_idle()
    assert ops.sent == [] and skb.freed
    st = fi.stats
    n = 2 if duplicate else 1
    assert (st.seen, st.corrupted, st.delivered, st.dropped) == (1, 0, 0, n)
    assert st.duplicated == n - 1 and balanced(st)


@pytest.mark.parametrize("seed", range(4))
def test_cutting_super_frames_up_does_not_change_which_other_frames_are_lost(
    seed: int,
) -> None:
    # Each fault draws from a stream of its own, once for every frame (the module's
    # promise): the segments a corruption cuts a super-frame into draw from streams of
    # their own too, so turning corruption on does not move the loss of the frames after.
    from netdrv_core.loop import EventLoop

    def survivors(corrupt: float) -> list[bool]:
        host = Host(loop=EventLoop(clock=FakeClock()))
        dev, ops = make_dev(host, "f%d", features=TSO)
        FaultInjector(dev, seed=seed, drop=0.5, corrupt=corrupt, duplicate=0.3, direction="tx")
        small = 14 + 20 + 8 + 40
        out = []
        for i in range(30):
            host.dev_queue_xmit(super_frame(dev))
            before = len(ops.sent)
            skb = SkBuff(HR + small)
            skb.buf[HR:] = frame_n(dev, i)
            skb.data = skb.mac_header = HR
            skb.tail = HR + small
            skb.dev = dev
            host.dev_queue_xmit(skb)
            host.loop.run_until_idle()
            out.append(any(len(s) == small for s in ops.sent[before:]))
        host.close()
        return out

    assert survivors(0.0) == survivors(1.0)
