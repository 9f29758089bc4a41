"""GRO (netdrv_core.gro): a NAPI poll's TCP segments handed up as super-frames, as Linux does.

A test NAPI driver on the memory attachment hands frames to ``napi_gro_receive``
from its poll; what the stack receives is checked against reference checksums
(frames.py, independent of the core), and cut up again with the core's
software GSO it must give back exactly the segments that went in.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from fakedev import make_dev, rx_skb
from frames import (
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    eth_frame,
    ref_checksum,
    tcp_packet,
)

from netdrv_core import Host, SkBuff, eth_type_trans, napi_gro_receive
from netdrv_core.checksum import skb_checksum_help
from netdrv_core.ethtool import ethtool_request
from netdrv_core.gro import GRO_HELD, GRO_MERGED, GRO_NORMAL, MAX_GRO_SKBS
from netdrv_core.gso import skb_gso_segment
from netdrv_core.napi import NapiStruct, napi_complete_done, napi_enable, netif_napi_add
from netdrv_core.netdevice import NETIF_F_GRO, NetDevice
from netdrv_core.skbuff import (
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCP_FIXEDID,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SkbError,
    kfree_skb,
)

A, B = "198.18.0.1", "198.18.0.2"
A6 = bytes.fromhex("fd000000000000000000000000000001")
B6 = bytes.fromhex("fd000000000000000000000000000002")
MAC_DST, MAC_SRC = "02:00:00:00:00:10", "02:00:00:00:00:20"
MSS = 1448
TS_OPTS = bytes([1, 1, 8, 10]) + bytes(range(8))  # NOP NOP timestamps, the same on each


def seg4(i: int, *, payload: bytes | None = None, flags: int = TCP_ACK, seq0: int = 1000,
         sport: int = 40000, ident: int | None = None, mss: int = MSS, window: int = 65535,
         dst: str = MAC_DST, df: bool = True) -> bytes:  # fmt: skip
    """The i-th full-sized segment of a flow A:sport -> B:5201 (IPv4, timestamps)."""
    data = payload if payload is not None else bytes((i * 7 + k) & 0xFF for k in range(mss))
    pkt = tcp_packet(A, B, sport, 5201, data, seq=seq0 + i * mss, ack=77, flags=flags,
                     ident=0x100 + i if ident is None else ident, window=window, df=df)  # fmt: skip
    return eth_frame(dst, MAC_SRC, 0x0800, _with_options(pkt, 20, A, B))


def _with_options(pkt: bytes, ihl: int, src: str, dst: str) -> bytes:
    """Give a TCP segment built without options the timestamp option (checksums redone)."""
    ip, tcp = bytearray(pkt[:ihl]), bytearray(pkt[ihl:])
    tcp = tcp[:20] + TS_OPTS + tcp[20:]
    tcp[12] = ((20 + len(TS_OPTS)) // 4) << 4
    tcp[16:18] = b"\0\0"
    pseudo = bytes(map(int, src.split("."))) + bytes(map(int, dst.split(".")))
    tcp[16:18] = ref_checksum(pseudo + struct.pack("!BBH", 0, 6, len(tcp)) + tcp).to_bytes(2, "big")
    ip[2:4] = (len(ip) + len(tcp)).to_bytes(2, "big")
    ip[10:12] = b"\0\0"
    ip[10:12] = ref_checksum(ip).to_bytes(2, "big")
    return bytes(ip + tcp)


def seg6(i: int, *, flags: int = TCP_ACK) -> bytes:
    data = bytes((i * 5 + k) & 0xFF for k in range(MSS))
    tcp = bytearray(struct.pack("!HHIIBBHHH", 40000, 5201, 9000 + i * MSS, 5, 5 << 4, flags,
                                512, 0, 0) + data)  # fmt: skip
    pseudo = A6 + B6 + struct.pack("!IxxxB", len(tcp), 6)
    tcp[16:18] = ref_checksum(pseudo + tcp).to_bytes(2, "big")
    ip6 = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + A6 + B6
    return eth_frame(MAC_DST, MAC_SRC, 0x86DD, ip6 + bytes(tcp))


class GroDriver:
    """A NAPI device whose poll hands ``pending`` frames to napi_gro_receive."""

    def __init__(self, host: Host) -> None:
        self.dev, self.ops = make_dev(host, "gro%d", mac=bytes.fromhex("020000000010"))
        self.napi: NapiStruct = netif_napi_add(self.dev, self.poll, 64)
        napi_enable(self.napi)
        self.pending: list[tuple[bytes, int]] = []
        self.results: list[int] = []
        self.host = host

    def poll(self, napi: NapiStruct, budget: int) -> int:
        done = 0
        while self.pending and done < budget:
            frame, summed = self.pending.pop(0)
            skb = SkBuff(2 + len(frame))
            skb.buf[2:] = frame
            skb.data, skb.tail = 2, 2 + len(frame)
            skb.protocol = eth_type_trans(skb, self.dev)
            skb.ip_summed = summed
            self.results.append(napi_gro_receive(napi, skb))
            done += 1
        if done < budget:
            napi_complete_done(napi, done)
        return done

    def receive(self, frames: list[bytes], summed: int = CHECKSUM_UNNECESSARY) -> list[SkBuff]:
        """Run one poll over ``frames``; what the stack got."""
        self.pending += [(f, summed) for f in frames]
        self.napi.schedule()
        self.host.loop.run_until_idle()
        return self.host.attachment.received_skbs(self.dev)  # type: ignore[attr-defined]


@pytest.fixture
def drv(host: Host) -> GroDriver:
    return GroDriver(host)


def frame_of(skb: SkBuff) -> bytes:
    return bytes(skb.buf[skb.mac_header : skb.tail])


def test_a_flows_segments_become_one_super_frame_that_segments_back(drv: GroDriver) -> None:
    frames = [seg4(i) for i in range(9)] + [seg4(9, flags=TCP_ACK | TCP_PSH)]
    (skb,) = drv.receive(frames)
    assert drv.results == [GRO_HELD] + [GRO_MERGED] * 9
    assert (skb.gso_size, skb.gso_type, skb.ip_summed) == (MSS, SKB_GSO_TCPV4, CHECKSUM_PARTIAL)
    assert skb.csum_start == skb.transport_header and skb.csum_offset == 16
    assert skb.dev is drv.dev and skb.protocol == 0x0800 and skb.data == skb.mac_header + 14
    ip = frame_of(skb)[14:34]
    assert ref_checksum(ip) == 0 and struct.unpack("!H", ip[2:4])[0] == 20 + 32 + 10 * MSS
    assert frame_of(skb)[34 + 13] == TCP_ACK | TCP_PSH  # PSH of the last one
    # What the stack would do with it: cut it up again — exactly the segments that came in.
    segs = skb_gso_segment(skb, 0)
    assert [frame_of(s) for s in segs] == frames
    # The whole super-frame's checksum, finished, verifies as a receiver's would.
    skb_checksum_help(skb)
    tcp = frame_of(skb)[34:]
    pseudo = bytes([198, 18, 0, 1, 198, 18, 0, 2]) + struct.pack("!BBH", 0, 6, len(tcp))
    assert ref_checksum(pseudo + tcp) == 0
    cs = drv.dev.core_stats
    assert cs.rx_submitted == cs.rx_delivered == 10


def test_ipv6_segments_merge_too(drv: GroDriver) -> None:
    frames = [seg6(i) for i in range(4)]
    (skb,) = drv.receive(frames)
    assert skb.gso_type == SKB_GSO_TCPV6 and skb.gso_size == MSS
    assert struct.unpack("!H", frame_of(skb)[18:20])[0] == 20 + 4 * MSS
    assert [frame_of(s) for s in skb_gso_segment(skb, 0)] == frames


def test_an_icmpv6_frame_between_ipv6_segments_does_not_push_the_flow_out(drv: GroDriver) -> None:
    icmp = struct.pack("!BBHI", 128, 0, 0, 1) + b"ping"  # an echo request (checksum not read)
    icmp6 = eth_frame(MAC_DST, MAC_SRC, 0x86DD,
                      struct.pack("!IHBB", 6 << 28, len(icmp), 58, 64) + B6 + A6 + icmp)  # fmt: skip
    frames = [seg6(0), seg6(1), icmp6, seg6(2), seg6(3)]
    got = drv.receive(frames)
    assert [frame_of(s) for s in got[:1]] == [icmp6]  # up at once; the flow stays held
    assert [frame_of(s) for s in skb_gso_segment(got[1], 0)] == frames[:2] + frames[3:]


def test_what_breaks_a_flow_goes_up_in_order(drv: GroDriver) -> None:
    ack = eth_frame(MAC_DST, MAC_SRC, 0x0800, _with_options(
        tcp_packet(A, B, 40000, 5201, b"", seq=1000 + 3 * MSS, ack=77, ident=0x103), 20, A, B))  # fmt: skip
    gap = seg4(5)  # 4 is missing
    frames = [seg4(0), seg4(1), seg4(2), ack, gap, seg4(6)]
    got = [frame_of(s) for s in drv.receive(frames)]
    assert len(got) == 3
    assert got[1] == ack  # not merged, and after what its flow held
    assert [frame_of(s) for s in skb_gso_segment(_sk(got[0]), 0)] == frames[:3]
    assert [frame_of(s) for s in skb_gso_segment(_sk(got[2]), 0)] == frames[4:]


def _sk(frame: bytes) -> SkBuff:
    skb = SkBuff(len(frame), bytearray(frame))
    skb.tail = len(frame)
    skb.data = skb.mac_header = 0
    skb.network_header = 14
    skb.protocol = 0x0800
    skb.gso_size, skb.gso_type = MSS, SKB_GSO_TCPV4
    skb.ip_summed, skb.csum_start, skb.csum_offset = CHECKSUM_PARTIAL, 34, 16
    return skb


@pytest.mark.parametrize(
    ("frames", "sizes"),
    [
        # A short segment ends the super-frame it joins.
        (
            lambda: [seg4(0), seg4(1), seg4(2, payload=b"x" * 100), seg4(3, seq0=1000 - MSS + 100)],
            [2 * MSS + 100, MSS],
        ),
        # A segment longer than the first one's size does not join it.
        (
            lambda: [seg4(0, mss=1000), seg4(1, mss=1000, payload=b"y" * 1448, seq0=1000)],
            [1000, 1448],
        ),
        # IPv4 IDs that neither count up nor stay fixed (DF set) do not merge.
        (lambda: [seg4(0, ident=5), seg4(1, ident=9)], [MSS, MSS]),
        # A fixed ID with DF set merges (Linux's fixed-ID GRO).
        (lambda: [seg4(0, ident=5), seg4(1, ident=5), seg4(2, ident=5)], [3 * MSS]),
        # FIN joins and ends it.
        (lambda: [seg4(0), seg4(1, flags=TCP_ACK | TCP_FIN), seg4(2)], [2 * MSS, MSS]),
        # A window update does not join (tcp_flag_word: the window is compared with the
        # flags), nor does a segment for another link destination (the MAC header).
        (
            lambda: [seg4(0), seg4(1), seg4(2, window=4000), seg4(3, window=4000)],
            [2 * MSS, 2 * MSS],
        ),
        (
            lambda: [seg4(0), seg4(1, dst="02:00:00:00:00:99"), seg4(2, dst="02:00:00:00:00:99")],
            [MSS, 2 * MSS],
        ),
    ],
    ids=["short-ends", "longer-apart", "bad-id", "fixed-id", "fin-ends", "window", "link-header"],
)
def test_merge_rules(drv: GroDriver, frames: Callable[[], list[bytes]], sizes: list[int]) -> None:
    got = drv.receive(frames())
    assert [s.tail - s.data - 20 - 32 for s in got] == sizes


def test_a_fixed_id_flow_is_marked_fixedid_and_segments_back_with_its_one_id(
    drv: GroDriver,
) -> None:
    # Linux's tcp_gro_complete marks it SKB_GSO_TCP_FIXEDID: cut up again, every segment
    # keeps the ID (inet_gso_segment), so what comes out is exactly what went in. Without
    # the mark the segments got IDs 5, 6, 7, 8.
    frames = [seg4(i, ident=5) for i in range(4)]
    (skb,) = drv.receive(frames)
    assert skb.gso_type == SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID and skb.gso_size == MSS
    assert [frame_of(s) for s in skb_gso_segment(skb, 0)] == frames
    # A flow whose ID counts up is not marked, and comes back counting up.
    frames = [seg4(i, ident=(0xFFFE + i) & 0xFFFF) for i in range(4)]  # 0xFFFE, 0xFFFF, 0, 1
    (skb,) = drv.receive(frames)
    assert skb.gso_type == SKB_GSO_TCPV4
    assert [frame_of(s) for s in skb_gso_segment(skb, 0)] == frames


@pytest.mark.parametrize(
    ("ids", "df", "merged"),
    [
        ([5, 5, 5], True, [3]),
        ([5, 6, 7], True, [3]),
        ([5, 6, 7], False, [3]),  # counting up needs no DF
        ([5, 5], False, [1, 1]),  # a fixed ID without DF is not merged (inet_gro_flush)
        ([5, 5, 6], True, [2, 1]),  # fixed, then a step: not the same super-frame
        ([5, 6, 6], True, [2, 1]),  # counting up, then a repeat
        ([5, 6, 7, 5], True, [3, 1]),  # back to the first ID: not fixed, it counted up
        ([5, 7], True, [1, 1]),  # neither
    ],
)
def test_ids_count_up_or_stay_fixed_and_one_super_frame_never_mixes_the_two(
    drv: GroDriver, ids: list[int], df: bool, merged: list[int]
) -> None:
    got = drv.receive([seg4(i, ident=ident, df=df) for i, ident in enumerate(ids)])
    assert [(s.tail - s.data - 20 - 32) // MSS for s in got] == merged
    fixed = [bool(s.gso_type & SKB_GSO_TCP_FIXEDID) for s in got]
    assert fixed == [n > 1 and ids[1] == ids[0] for n in merged]


def test_super_frames_stay_within_64k(drv: GroDriver) -> None:
    got = drv.receive([seg4(i) for i in range(50)])
    per = (65535 - 20 - 32) // MSS  # 45 segments of 1448 fit an IPv4 length field
    assert [s.gso_size and (s.tail - s.data - 52) // MSS for s in got] == [per, 50 - per]
    assert all(s.tail - s.data <= 65535 for s in got)


def test_interleaved_flows_each_merge_and_a_ninth_pushes_the_oldest_out(drv: GroDriver) -> None:
    flows = range(MAX_GRO_SKBS)
    got = drv.receive([seg4(i, sport=1000 + f) for i in range(3) for f in flows])
    assert [struct.unpack("!H", frame_of(s)[34:36])[0] for s in got] == [1000 + f for f in flows]
    assert [(s.tail - s.data - 52) // MSS for s in got] == [3] * MAX_GRO_SKBS
    got = drv.receive([seg4(0, sport=2000 + f) for f in range(MAX_GRO_SKBS + 1)])
    ports = [struct.unpack("!H", frame_of(s)[34:36])[0] for s in got]
    assert ports == [2000 + f for f in range(MAX_GRO_SKBS + 1)]  # the oldest went up first


def test_an_unverified_checksum_is_verified_and_a_bad_one_not_merged(drv: GroDriver) -> None:
    good = [seg4(i) for i in range(3)]
    (skb,) = drv.receive(good, summed=CHECKSUM_NONE)
    assert skb.gso_size == MSS and (skb.tail - skb.data - 52) == 3 * MSS
    bad = bytearray(seg4(1))
    bad[-1] ^= 0xFF
    got = drv.receive([seg4(0), bytes(bad), seg4(2)], summed=CHECKSUM_NONE)
    assert [s.gso_size for s in got] == [0, 0, 0]  # each as it came: the stack drops the bad one
    assert frame_of(got[1]) == bytes(bad)


def test_gro_off_outside_a_poll_or_with_rx_middleware_hands_up_each(
    drv: GroDriver, host: Host
) -> None:
    _, changed = ethtool_request(host, drv.dev, "features", {"gro": False})
    assert changed and not drv.dev.features & NETIF_F_GRO
    assert len(drv.receive([seg4(i) for i in range(3)])) == 3
    ethtool_request(host, drv.dev, "features", {"gro": True})
    assert len(drv.receive([seg4(i) for i in range(3)])) == 1
    skb = SkBuff(0, bytearray(seg4(0)))
    skb.tail = len(skb.buf)
    skb.protocol = eth_type_trans(skb, drv.dev)
    assert napi_gro_receive(drv.napi, skb) == GRO_NORMAL  # not in a poll
    drv.dev.rx_hook = lambda skb: True
    drv.results.clear()
    assert len(drv.receive([seg4(i) for i in range(3)])) == 4  # the one above, then each
    assert drv.results == [GRO_NORMAL] * 3


def test_every_device_has_gro_on_and_may_turn_it_off(host: Host) -> None:
    dev: NetDevice = make_dev(host)[0]
    assert dev.features & NETIF_F_GRO and dev.hw_features & NETIF_F_GRO
    res, _ = ethtool_request(host, dev, "features")
    assert res["features"]["rx-gro"] == {"active": True, "fixed": False, "requested": True}


def test_tcp_is_the_only_protocol_merged(drv: GroDriver) -> None:
    from frames import udp_packet

    udp = eth_frame(MAC_DST, MAC_SRC, 0x0800, udp_packet(A, B, 1, 2, b"u" * 1000))
    got = drv.receive([udp, udp])
    assert [frame_of(s) for s in got] == [udp, udp]


def test_a_napi_context_added_after_registration_rejudges_gro(host: Host) -> None:
    """A TAP without a virtio-net header cannot take a super-frame: a NAPI context added late
    (in open, say) must not leave GRO on there."""
    from netdrv_core.attach.tap import KernelStack

    class Port:
        hlen = 0

    ks = KernelStack()
    dev, _ = make_dev(host, "late0")
    host.attachment.fix_features = ks.fix_features  # type: ignore[method-assign]
    ks.ports["late0"] = Port()  # type: ignore[assignment]
    assert dev.features & NETIF_F_GRO  # no NAPI yet: GRO inert, left on
    netif_napi_add(dev, lambda napi, budget: 0)
    assert not dev.features & NETIF_F_GRO


def test_a_frame_for_a_link_that_is_gone_is_counted_dropped(host: Host) -> None:
    """rx_submitted == rx_delivered + drops holds when the TAP went away under a delivery."""
    from netdrv_core.attach.tap import KernelStack

    dev, _ = make_dev(host, "gone0")
    skb = SkBuff(0, bytearray(seg4(0)))
    skb.tail = len(skb.buf)
    skb.dev = dev
    assert KernelStack().receive(dev, skb) is False
    assert dev.core_stats.rx_down_drops == 1


@pytest.mark.parametrize("again", ["napi_gro_receive", "netif_receive_skb", "netif_rx"])
def test_an_skb_gro_holds_handed_up_again_is_refused_not_delivered_twice(
    drv: GroDriver, host: Host, again: str
) -> None:
    # The skb is the stack's once napi_gro_receive took it. Handed in again while GRO held
    # it, it pushed its own flow out (not the next segment) and was held anew: the stack
    # got the same frame twice.
    raised: list[Exception] = []

    def poll(napi: NapiStruct, budget: int) -> int:
        skb = rx_skb(drv.dev, seg4(0))
        assert napi_gro_receive(napi, skb) == GRO_HELD
        try:
            if again == "napi_gro_receive":
                napi_gro_receive(napi, skb)
            else:
                getattr(host, again)(skb)
        except Exception as exc:
            raised.append(exc)
        napi_complete_done(napi, 1)
        return 1

    drv.napi.poll = poll
    got = drv.receive([])
    assert len(raised) == 1 and f"{again} of an skb GRO still holds" in str(raised[0])
    assert [frame_of(s) for s in got] == [seg4(0)]  # once, and untouched by the refusal
    cs = drv.dev.core_stats
    assert cs.rx_submitted == cs.rx_delivered == 1


def test_an_skb_gro_holds_is_not_the_drivers_to_free_or_touch(drv: GroDriver) -> None:
    raised: list[str] = []

    def poll(napi: NapiStruct, budget: int) -> int:
        skb = rx_skb(drv.dev, seg4(0))
        napi_gro_receive(napi, skb)
        n = skb.len  # the length is still there to count (as for a merged skb)
        for misuse in (skb.view, lambda: kfree_skb(skb)):
            try:
                misuse()
            except SkbError as exc:
                raised.append(str(exc))
        napi_complete_done(napi, 1)
        return 1 if n else 0

    drv.napi.poll = poll
    got = drv.receive([])
    assert len(raised) == 2
    assert "used after napi_gro_receive took it" in raised[0]
    assert "kfree_skb of an skb GRO holds" in raised[1]
    assert [frame_of(s) for s in got] == [seg4(0)] and not got[0].freed


def _padded(frame: bytes) -> bytes:
    """``frame`` padded to the Ethernet minimum (60 bytes without the FCS), as a NIC hands
    a short frame up: longer than its IP total length."""
    return frame + bytes(max(0, 60 - len(frame)))


def _other(**ip_kw: object) -> bytes:
    """A 2-byte segment of another connection (port 41000), pure data (no PSH)."""
    pkt = tcp_packet(A, B, 41000, 5201, b"hi", seq=1, ack=1, flags=TCP_ACK, **ip_kw)
    return eth_frame(MAC_DST, MAC_SRC, 0x0800, pkt)


@pytest.mark.parametrize(
    "odd",
    [lambda: _padded(_other()), lambda: _other(options=bytes([1, 1, 1, 0]))],
    ids=["padded", "ip-options"],
)
def test_a_frame_gro_cannot_merge_leaves_the_other_flows_held(
    drv: GroDriver, odd: Callable[[], bytes]
) -> None:
    # Linux's inet_gro_receive flushes the packet (padded: its length differs from the IP
    # total length; options: not 0x45), and tcp_gro_receive its own flow — not every flow.
    # netdrv flushed them all: the flow around it went up as two super-frames.
    frame = odd()
    got = drv.receive([seg4(0), seg4(1), frame, seg4(2), seg4(3)])
    assert [frame_of(s) for s in got[:1]] == [frame]  # up at once, as it came
    assert len(got) == 2 and got[1].gso_size == MSS
    assert [frame_of(s) for s in skb_gso_segment(got[1], 0)] == [seg4(i) for i in range(4)]


def test_a_padded_segment_of_a_held_flow_goes_up_after_it(drv: GroDriver) -> None:
    # Its own flow is flushed first (tcp_gro_receive: flush set, pp = p), so the order within
    # the connection is kept; another held flow stays held.
    pkt = tcp_packet(A, B, 40000, 5201, b"hi", seq=1000 + 2 * MSS, ack=77, flags=TCP_ACK,
                     ident=0x102)  # fmt: skip
    padded = _padded(eth_frame(MAC_DST, MAC_SRC, 0x0800, pkt))
    assert len(padded) == 60 > 14 + len(pkt)
    other = [seg4(i, sport=42000) for i in range(2)]
    got = drv.receive([seg4(0), other[0], seg4(1), other[1], padded])
    assert [frame_of(s) for s in got[1:2]] == [padded]
    assert [frame_of(s) for s in skb_gso_segment(got[0], 0)] == [seg4(0), seg4(1)]
    assert [frame_of(s) for s in skb_gso_segment(got[2], 0)] == other


TCP_CWR = 0x80


def _frag_bits(frame: bytes, bits: int) -> bytes:
    """``frame`` (Ethernet + IPv4) with ``bits`` set in its IPv4 flags/fragment word."""
    b = bytearray(frame)
    b[20:22] = ((b[20] << 8 | b[21]) | bits).to_bytes(2, "big")
    b[24:26] = b"\0\0"
    b[24:26] = ref_checksum(b[14:34]).to_bytes(2, "big")
    return bytes(b)


def test_a_cwr_segment_starts_a_flow_the_next_segments_join(drv: GroDriver) -> None:
    # Linux's tcp_gro_receive: CWR keeps a segment from joining a held flow (flush =
    # flags & TCP_FLAG_CWR), which goes up, but out_check_final does not flush for CWR: the
    # segment is held as a flow of its own, and the next segments join it, since CWR is
    # left out of the flag-word compare (flags ^ th2's, & ~(CWR | FIN | PSH)).  The
    # super-frame keeps CWR on its head and is SKB_GSO_TCP_ECN (tcp_gro_complete: th->cwr),
    # so segmenting it gives CWR back to the first segment only (tcp_gso_segment).
    # netdrv compared CWR in the flag word: nothing joined a CWR segment's flow.
    cwr = seg4(2, flags=TCP_ACK | TCP_CWR)
    frames = [seg4(0), seg4(1), cwr, seg4(3), seg4(4)]
    got = drv.receive(frames)
    assert drv.results == [GRO_HELD, GRO_MERGED, GRO_HELD, GRO_MERGED, GRO_MERGED]
    assert len(got) == 2 and got[0].gso_type == SKB_GSO_TCPV4
    assert got[1].gso_type == SKB_GSO_TCPV4 | SKB_GSO_TCP_ECN and got[1].gso_size == MSS
    assert [frame_of(s) for s in skb_gso_segment(got[0], 0)] == frames[:2]
    assert [frame_of(s) for s in skb_gso_segment(got[1], 0)] == frames[2:]
    # A CWR segment after a CWR segment does not join it (flush = flags & CWR): the first
    # goes up, the second is held, and the one after it joins the second.
    drv.results.clear()
    again = [seg4(i, flags=TCP_ACK | TCP_CWR) for i in range(2)] + [seg4(2)]
    got = drv.receive(again)
    assert drv.results == [GRO_HELD, GRO_HELD, GRO_MERGED]
    assert frame_of(got[0]) == again[0] and got[0].gso_size == 0
    assert [frame_of(s) for s in skb_gso_segment(got[1], 0)] == again[1:]


def test_a_segment_with_the_reserved_ipv4_flag_is_not_merged(drv: GroDriver) -> None:
    # inet_gro_receive: flush |= (the ID word & ~IP_DF) — any flag or fragment bit but DF,
    # the reserved one (0x8000) too — so the segment joins nothing (skb_gro_receive refuses a
    # flushed skb) and goes up after its own flow, as it came. netdrv merged it, and the
    # bit was lost in the super-frame's header.
    odd = _frag_bits(seg4(2), 0x8000)
    got = drv.receive([seg4(0), seg4(1), odd, seg4(3)])
    assert [frame_of(s) for s in got[1:]] == [odd, seg4(3)]
    assert [frame_of(s) for s in skb_gso_segment(got[0], 0)] == [seg4(0), seg4(1)]


def test_a_segment_gro_verified_goes_up_checksum_unnecessary(drv: GroDriver) -> None:
    # tcp4_gro_receive validates every TCP segment it gets (skb_gro_checksum_validate) and a
    # good one is marked verified (skb_gro_incr_csum_unnecessary: CHECKSUM_NONE becomes
    # CHECKSUM_UNNECESSARY), whether it is then held or handed up at once: the stack does
    # not sum it again. A bad one stays CHECKSUM_NONE, for the stack to drop and count.
    # netdrv handed verified segments up still CHECKSUM_NONE.
    bad = bytearray(seg4(0, sport=42000))
    bad[-1] ^= 0xFF
    frames = [seg4(0), seg4(0, sport=41000, flags=TCP_ACK | TCP_PSH), bytes(bad)]
    got = drv.receive(frames, summed=CHECKSUM_NONE)
    summed = {struct.unpack("!H", frame_of(s)[34:36])[0]: s.ip_summed for s in got}
    want = {40000: CHECKSUM_UNNECESSARY, 41000: CHECKSUM_UNNECESSARY, 42000: CHECKSUM_NONE}
    assert summed == want
    # CHECKSUM_COMPLETE stays as it is (__skb_incr_checksum_unnecessary changes only NONE).
    (skb,) = drv.receive([seg4(0)], summed=CHECKSUM_COMPLETE)
    assert skb.ip_summed == CHECKSUM_COMPLETE


def test_segments_of_two_devices_sharing_a_napi_context_are_two_flows(
    drv: GroDriver, host: Host
) -> None:
    # gro_list_prepare: "diffs = (unsigned long)p->dev ^ (unsigned long)skb->dev": what came
    # in on another device (a multi-port driver with one NAPI context) is another flow, even
    # with the very same headers. netdrv merged them into one super-frame of the first
    # device, handing the second device's segment up as the first's.
    other, _ = make_dev(host, "gro%d", mac=bytes.fromhex("020000000010"))

    def poll(napi: NapiStruct, budget: int) -> int:
        for i in range(4):
            napi_gro_receive(napi, rx_skb(other if i % 2 else drv.dev, seg4(i // 2)))
        napi_complete_done(napi, 4)
        return 4

    drv.napi.poll = poll
    mine = drv.receive([])
    theirs = host.attachment.received_skbs(other)  # type: ignore[attr-defined]
    assert [s.gso_size for s in mine] == [s.gso_size for s in theirs] == [MSS]
    for got in (mine, theirs):
        assert [frame_of(s) for s in skb_gso_segment(got[0], 0)] == [seg4(0), seg4(1)]
