"""Generic receive offload: consecutive TCP segments of a flow handed up as one super-frame.

A NAPI driver calls :func:`napi_gro_receive` where LDD's snull calls
``netif_receive_skb``.  Within one poll, segments of the same TCP connection
that follow each other (contiguous sequence numbers, the same ACK, flags,
window and options, the same link header, IPv4 IDs that count up — or, with DF
set, stay the same: ``SKB_GSO_TCP_FIXEDID``) are merged into one skb of up to
64 KiB that carries its segment size (``gso_size``) and a checksum left
partial (``CHECKSUM_PARTIAL``), as Linux's ``tcp_gro_receive``/``tcp_gro_complete``
build it.  The stack gets one frame instead of dozens — on the kernel
attachment one write to the TAP, whose virtio-net header tells the kernel how
the frame was segmented.

The rules are Linux's (``inet_gro_receive``, ``ipv6_gro_receive``,
``tcp_gro_receive``): a segment whose checksum was not verified is verified
here (and, found good, marked ``CHECKSUM_UNNECESSARY``; found bad, it goes up unmerged after
what its flow holds, where Linux lets it overtake them); a segment that is not
plain data (SYN, RST, URG, no payload, IP options or fragments) is not merged
and first flushes what its flow holds, so the order within a flow is kept; a
CWR segment flushes it too, and is held as the head of a new flow, which the
segments after it join (the super-frame is ``SKB_GSO_TCP_ECN``); PSH, FIN or a
short segment end the super-frame they join.  Everything
held is handed up when the poll ends (``napi_complete_done``, or the poll
returns), at most :data:`MAX_GRO_SKBS` flows at a time.  ``ethtool -K DEV gro
off`` turns it off; an attachment that cannot take super-frames (a TAP without
a virtio-net header) turns it off as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .checksum import csum_fold, csum_partial, ip_compute_csum, ip_fast_csum
from .netdevice import NETIF_F_GRO, NetDevice
from .skbuff import (
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCP_FIXEDID,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SkBuff,
    consume_skb,
    skb_frame_start,
    skb_not_owned,
)

if TYPE_CHECKING:
    from .host import Host
    from .napi import NapiStruct

__all__ = [
    "GRO_HELD",
    "GRO_MAX_SIZE",
    "GRO_MERGED",
    "GRO_NORMAL",
    "MAX_GRO_SKBS",
    "napi_gro_flush",
    "napi_gro_receive",
]

# gro_result_t.
GRO_MERGED = 0
GRO_HELD = 2
GRO_NORMAL = 3

MAX_GRO_SKBS = 8
"""Flows held per NAPI context at once (Linux: per GRO hash bucket)."""
GRO_MAX_SIZE = 65535
"""Largest IP packet a super-frame may become (the IPv4 total length field)."""

_ETH_P_IP = 0x0800
_ETH_P_IPV6 = 0x86DD
_V6_NOT_TCP = frozenset((17, 58, 59))  # UDP, ICMPv6, no next header
_FIN, _SYN, _RST, _PSH, _ACK, _URG, _CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x80
# A segment with one of these is not held: it ends what its flow holds (tcp_gro_receive's
# out_check_final). CWR is not among them: a CWR segment joins no flow, but is held as the
# head of a new one, which the next segments join (CWR is left out of the compare below).
_NOT_HELD = _SYN | _RST | _URG | _PSH | _FIN
# Of the TCP header's flag word (offset, reserved bits, flags, window: tcp_flag_word) all
# must match but these flags (tcp_gro_receive's ~(CWR | FIN | PSH)); a window update or a
# reserved bit ends the super-frame, and CWR on the segment itself keeps it out (_mergeable).
_WORD_MAY_DIFFER = (_CWR | _FIN | _PSH) << 16


_FlowKey = tuple[bytes, bytes, bool, bytes, int, NetDevice | None]
"""A flow: addresses, ports, IPv6?, the link header, the metadata VLAN tag, the device."""


class _Flow:
    """One held super-frame in the making."""

    __slots__ = ("ack", "buf", "count", "first", "fixed_id", "flags", "head", "id", "ipv6",
                 "key", "mss", "nh", "opts", "seq", "size", "th", "word")  # fmt: skip

    def __init__(self, skb: SkBuff, seg: _Segment) -> None:
        self.head = skb
        self.first = seg
        self.size = seg.pend - seg.nh  # the IP packet's length so far
        self.buf: bytearray | None = None  # the merged frame, from its mac header: on a merge
        self.key = seg.key
        self.ipv6 = seg.ipv6
        self.nh = seg.nh
        self.th = seg.th
        self.mss = seg.plen
        self.seq = (seg.seq + seg.plen) & 0xFFFFFFFF  # the next segment's
        self.ack = seg.ack
        self.flags = seg.flags
        self.word = seg.word
        self.opts = seg.opts
        self.id = seg.ip_id
        # The IPv4 ID stays the same (True) or counts up (False): decided by the second segment.
        self.fixed_id: bool | None = None
        self.count = 1


class _Segment:
    """What GRO needs of one received TCP segment (parsed once)."""

    __slots__ = ("ack", "csum_ok", "df", "flags", "ip_id", "ipv6", "key", "nh", "opts", "pend",
                 "plen", "pstart", "seq", "th", "ttl_tos", "word")  # fmt: skip
    # Filled in by _parse (declared for the type checker; no class attributes beside slots).
    ack: int
    csum_ok: bool | None
    df: bool
    flags: int
    ip_id: int
    ipv6: bool
    key: _FlowKey
    nh: int
    opts: bytes
    pend: int
    plen: int
    pstart: int
    seq: int
    th: int
    ttl_tos: tuple[int | bytes, int]  # IPv4 (tos, ttl); IPv6 (class + flow label, hop limit)
    word: int


def _parse(skb: SkBuff) -> _Segment | _FlowKey | None:
    """What GRO needs of a TCP segment over IPv4/IPv6, parsed once.

    A :class:`_Segment` when it may be merged; only its flow key (addresses, ports,
    IP version, link header) for a TCP packet GRO does not merge — IP options,
    Ethernet padding, a bad length or header checksum, a first fragment, IPv6
    extension headers, a bad data offset — so that what its own flow holds goes up
    first; None when it has no TCP ports to tell (not TCP, a later fragment).

    Such a packet goes up at once after what its own flow holds, and only that: Linux's
    ``inet_gro_receive``/``tcp_gro_receive`` set the flush for the packet (and its flow),
    never for the other flows (here, as there, they merge on).
    """
    buf = skb.buf
    nh = skb.data  # after eth_type_trans: the network header
    tail = skb.tail
    proto = skb.protocol
    if proto == _ETH_P_IP:
        if nh + 20 > tail:
            return None
        v = buf[nh]
        if v >> 4 != 4 or buf[nh + 9] != 6:
            return None
        frag = buf[nh + 6] << 8 | buf[nh + 7]
        if frag & 0x1FFF:
            return None  # a later fragment: no TCP header
        th = nh + (v & 0x0F) * 4
        if th + 4 > tail:
            return None
        ipv6 = False
        addrs = bytes(buf[nh + 12 : nh + 20])
        # No options, no flag but DF (not a first fragment, not the reserved bit: Linux's
        # "id & ~IP_DF"), not padded or cut short, a good header checksum: else the stack decides.
        merge = (v == 0x45 and not frag & 0xBFFF and buf[nh + 2] << 8 | buf[nh + 3] == tail - nh
                 and not ip_fast_csum(buf[nh : nh + 20]))  # fmt: skip
    elif proto == _ETH_P_IPV6:
        if nh + 40 > tail or buf[nh] >> 4 != 6:
            return None
        th = nh + 40
        nexthdr = buf[nh + 6]
        merge = nexthdr == 6 and buf[nh + 4] << 8 | buf[nh + 5] == tail - th
        while nexthdr in (0, 43, 60) and th + 2 <= tail:  # hop-by-hop, routing, dest. options
            nexthdr, th = buf[th], th + (buf[th + 1] + 1) * 8
        if nexthdr != 6 or th + 4 > tail:
            return None
        ipv6 = True
        addrs = bytes(buf[nh + 8 : nh + 40])
    else:
        return None
    # The same flow: the same addresses and ports, and the same link header (Linux's
    # gro_list_prepare compares the MAC header: another destination is another flow), VLAN
    # tag (and vlan_all: a tag the hardware stripped is part of the header too) and device
    # (one NAPI context may serve several ports).
    mac = skb.mac_header
    key = (addrs, bytes(buf[th : th + 4]), ipv6, bytes(buf[mac:nh]) if 0 <= mac <= nh else b"",
           skb.vlan_all, skb.dev)  # fmt: skip
    if not merge or th + 20 > tail:
        return key
    doff = (buf[th + 12] >> 4) * 4
    if doff < 20 or th + doff > tail:
        return key
    seg = _Segment()
    seg.key = key
    seg.ipv6 = ipv6
    if ipv6:
        seg.df = True
        seg.ip_id = 0
        seg.ttl_tos = (bytes(buf[nh : nh + 4]), buf[nh + 7])  # class + flow label, hop limit
    else:
        seg.df = bool(frag & 0x4000)
        seg.ip_id = buf[nh + 4] << 8 | buf[nh + 5]
        seg.ttl_tos = (buf[nh + 1], buf[nh + 8])
    seg.nh = nh
    seg.th = th
    seg.csum_ok = None  # verified when first asked (_checksum_ok), at most once
    seg.seq = int.from_bytes(buf[th + 4 : th + 8], "big")
    seg.ack = int.from_bytes(buf[th + 8 : th + 12], "big")
    # tcp_flag_word: data offset, reserved bits, flags and window (compared as one).
    seg.word = int.from_bytes(buf[th + 12 : th + 16], "big")
    seg.flags = buf[th + 13]
    seg.opts = bytes(buf[th + 20 : th + doff])
    seg.pstart = th + doff
    seg.pend = tail
    seg.plen = tail - th - doff
    return seg


def _checksum_ok(skb: SkBuff, seg: _Segment) -> bool:
    """A segment may only be merged with its checksum known good (Linux validates it here).

    One found good that came ``CHECKSUM_NONE`` goes on ``CHECKSUM_UNNECESSARY``, as
    Linux's ``skb_gro_incr_csum_unnecessary`` marks it: handed up unmerged, it is not
    summed again.
    """
    summed = skb.ip_summed
    if summed != CHECKSUM_NONE and summed != CHECKSUM_COMPLETE:
        return True  # CHECKSUM_UNNECESSARY (verified by the device) or PARTIAL (local)
    if seg.csum_ok is None:  # asked twice for a segment that is not merged: summed once
        seg.csum_ok = _checksum_verifies(skb, seg)
        if seg.csum_ok and summed == CHECKSUM_NONE:
            skb.ip_summed = CHECKSUM_UNNECESSARY
    return seg.csum_ok


def _checksum_verifies(skb: SkBuff, seg: _Segment) -> bool:
    buf = skb.buf
    nh, th = seg.nh, seg.th
    length = skb.tail - th
    addrs = buf[nh + 8 : nh + 40] if seg.ipv6 else buf[nh + 12 : nh + 20]
    pseudo = csum_partial(addrs) + length + 6
    return csum_fold(csum_partial(memoryview(buf)[th : skb.tail], pseudo)) == 0


def napi_gro_receive(napi: NapiStruct, skb: SkBuff) -> int:
    """Hand a received skb up through GRO (call from the poll, instead of ``netif_receive_skb``).

    Returns ``GRO_MERGED`` (joined a held super-frame), ``GRO_HELD`` (held to be
    joined) or ``GRO_NORMAL`` (handed up now, as ``netif_receive_skb`` does).
    Outside a poll, with GRO off, or with rx middleware on the device (a fault
    injector should lose segments, not super-frames), every skb is handed up at once.
    """
    host = napi.dev.host
    if host is None:
        raise ValueError(f"napi_gro_receive: {napi.dev.name} is not registered")
    return host.napi_gro_receive(napi, skb)


def gro_receive(host: Host, napi: NapiStruct, skb: SkBuff) -> int:
    """:func:`napi_gro_receive` on ``host`` (it is :meth:`Host.napi_gro_receive`)."""
    dev = skb.dev
    if dev is None:
        raise ValueError("napi_gro_receive: skb.dev is not set (use eth_type_trans)")
    if skb.freed or skb.on_list is not None:  # freed, handed up twice, or still listed
        raise skb_not_owned("napi_gro_receive", skb)
    dev.core_stats.rx_submitted += 1  # as netif_receive_skb counts it: here or at the flush
    # Not TCP, or GRO not wanted: handed up at once, with as little as possible on the way
    # (this runs for every frame a NAPI driver receives).
    buf = skb.buf
    nh = skb.data
    proto = skb.protocol
    if proto == _ETH_P_IP:
        tcp = nh + 20 <= skb.tail and buf[nh + 9] == 6
    elif proto == _ETH_P_IPV6:
        # The next header may be TCP after extension headers; UDP, ICMPv6 or none is not
        # (handed up at once: an ICMPv6 or UDP frame must not push every held flow out).
        tcp = nh + 40 <= skb.tail and buf[nh + 6] not in _V6_NOT_TCP
    else:
        tcp = False
    flows = napi.gro_list
    if not tcp or not napi.in_poll or not dev.features & NETIF_F_GRO or dev.rx_hook is not None:
        if flows and tcp:
            napi_gro_flush(napi)  # a TCP segment GRO does not take: keep its flow's order
        if dev.rx_hook is None:
            host.deliver_past_hook(dev, skb)  # _deliver_skb() without the call
        else:
            host._deliver_skb(skb)
        return GRO_NORMAL
    seg = _parse(skb)
    if not isinstance(seg, _Segment):  # IP options, padding, a fragment, an extension header
        if flows and seg is not None:  # after what its own flow holds (the others merge on)
            for i, flow in enumerate(flows):
                if flow.key == seg:
                    del flows[i]
                    _flush_flow(host, flow)
                    break
        host._deliver_skb(skb)
        return GRO_NORMAL
    for i, flow in enumerate(flows):
        if flow.key != seg.key:
            continue
        if not skb.gso_size and _mergeable(flow, seg) and _checksum_ok(skb, seg):
            _merge(flow, skb, seg)
            if seg.plen < flow.mss or seg.flags & (_PSH | _FIN):
                del flows[i]
                _flush_flow(host, flow)
            return GRO_MERGED
        del flows[i]  # not the next segment of this flow: what it holds goes first
        _flush_flow(host, flow)
        break
    # tcp4_gro_receive validates the checksum of every segment it parsed, held or not.
    if not _checksum_ok(skb, seg) or seg.flags & _NOT_HELD or not seg.plen or skb.gso_size:
        host._deliver_skb(skb)
        return GRO_NORMAL
    if len(flows) >= MAX_GRO_SKBS:
        _flush_flow(host, flows.pop(0))  # the oldest goes up
    flows.append(_Flow(skb, seg))
    # The stack's now, not the driver's: marked freed until it is handed up (_flush_flow),
    # so handing it up again, freeing it or touching it is reported, not done twice.
    skb.freed = True
    return GRO_HELD


def _mergeable(flow: _Flow, seg: _Segment) -> bool:
    """Whether ``seg`` continues ``flow`` (tcp_gro_receive's and inet_gro_receive's flush tests)."""
    if (seg.seq != flow.seq or seg.ack != flow.ack or seg.opts != flow.opts
            or (seg.word ^ flow.word) & ~_WORD_MAY_DIFFER or seg.flags & _CWR
            or not seg.plen or seg.plen > flow.mss):  # fmt: skip
        return False
    first = flow.first
    if seg.ttl_tos != first.ttl_tos or seg.df != first.df:
        return False
    if flow.size + seg.plen > GRO_MAX_SIZE:
        return False  # beyond the IP length field
    if not seg.ipv6:
        # inet_gro_flush(): the IPv4 ID counts up by one per segment, or stays the same
        # (a "fixed-ID" flow, SKB_GSO_TCP_FIXEDID) when DF is set; the second segment
        # decides which, and one super-frame never mixes the two.
        offset = (seg.ip_id - flow.id) & 0xFFFF
        if flow.count == 1:
            if offset == 0 and seg.df:
                flow.fixed_id = True
            elif offset == 1:
                flow.fixed_id = False
            else:
                return False
        elif offset != (0 if flow.fixed_id else flow.count & 0xFFFF):
            return False
    return True


def _merge(flow: _Flow, skb: SkBuff, seg: _Segment) -> None:
    """Append ``skb``'s payload to the flow's super-frame and consume ``skb``."""
    if flow.buf is None:
        head = flow.head
        flow.buf = bytearray(head.buf[skb_frame_start(head) : head.tail])
    flow.buf += memoryview(skb.buf)[seg.pstart : seg.pend]
    flow.flags |= seg.flags & (_FIN | _PSH)
    flow.seq = (seg.seq + seg.plen) & 0xFFFFFFFF
    flow.count += 1
    flow.size += seg.plen
    consume_skb(skb)


def _flush_flow(host: Host, flow: _Flow) -> None:
    """Hand the flow's skb up: the head alone, or the super-frame with its headers made right."""
    head = flow.head
    head.freed = False  # held until now (marked freed while GRO held it): handed up
    if flow.buf is None:
        host.deliver_gro(head, 1)
        return
    buf = flow.buf
    mac = skb_frame_start(head)
    nh = flow.nh - mac
    th = flow.th - mac
    n = len(buf)
    if flow.ipv6:
        buf[nh + 4 : nh + 6] = (n - nh - 40).to_bytes(2, "big")
        addrs = buf[nh + 8 : nh + 40]
    else:
        buf[nh + 2 : nh + 4] = (n - nh).to_bytes(2, "big")
        buf[nh + 10 : nh + 12] = b"\0\0"
        buf[nh + 10 : nh + 12] = ip_compute_csum(buf[nh : nh + 20]).to_bytes(2, "big")
        addrs = buf[nh + 12 : nh + 20]
    buf[th + 13] = flow.flags
    # tcp_gro_complete: the checksum is left to whoever segments or verifies it, seeded
    # with the pseudo-header sum for the super-frame's length.
    pseudo = csum_partial(addrs) + (n - th) + 6
    buf[th + 16 : th + 18] = (~csum_fold(pseudo) & 0xFFFF).to_bytes(2, "big")
    skb = SkBuff(0, buf)
    skb.dev = head.dev
    skb.protocol = head.protocol
    skb.pkt_type = head.pkt_type
    skb.priority = head.priority
    skb.vlan_all = head.vlan_all
    skb.mac_header = 0
    skb.data = skb.network_header = nh
    skb.transport_header = th
    skb.tail = n
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = th
    skb.csum_offset = 16
    skb.gso_size = flow.mss
    if flow.ipv6:
        skb.gso_type = SKB_GSO_TCPV6
    elif flow.fixed_id:  # tcp_gro_complete(): segmented again, each keeps the one ID
        skb.gso_type = SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID
    else:
        skb.gso_type = SKB_GSO_TCPV4
    if flow.flags & _CWR:  # tcp_gro_complete: a CWR head; GSO gives CWR to the first only
        skb.gso_type |= SKB_GSO_TCP_ECN
    consume_skb(head)
    host.deliver_gro(skb, flow.count)


def napi_gro_flush(napi: NapiStruct) -> None:
    """Hand up everything ``napi`` holds (the end of a poll; ``napi_complete_done`` does it)."""
    flows = napi.gro_list
    if not flows:
        return
    host = napi.dev.host
    held = list(flows)
    flows.clear()
    for flow in held:
        if host is not None:  # else unregistered meanwhile: nothing to hand it to
            _flush_flow(host, flow)
