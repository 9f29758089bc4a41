"""Segmentation offload in software: what the kernel does when the device cannot.

A super-frame (``skb.gso_size`` set) is one TCP or UDP payload of many
segments behind one set of headers, as the stack hands it to a device with
TSO or USO.  When the device lacks the feature — because ``ethtool -K`` turned
it off after the kernel had queued the frame, or a test hands one to a device
that never had it, or the frame is a fixed-ID one and the device may not
renumber its IDs (no ``NETIF_F_TSO_MANGLEID``) — the core cuts it up here, as
Linux's ``skb_gso_segment()`` does from ``validate_xmit_skb()``: each segment
gets a copy of the headers with its own lengths, IPv4 ID (the same in every
segment of a fixed-ID super-frame, ``SKB_GSO_TCP_FIXEDID``), TCP sequence
number and flags, and a checksum that is either finished here or left to the
device (``CHECKSUM_PARTIAL``) if it offloads checksums for that protocol.

Supported, as the virtio-net header can carry them: TCP over IPv4 and IPv6
(with ECN; and IPv4 with fixed IDs, which GRO builds and the header does not
tell), UDP (``SKB_GSO_UDP_L4``) over IPv4 and IPv6, behind an Ethernet header
(802.1Q/802.1ad tags included) or none (a TUN device).  IPv6 extension
headers and IP options are copied with the headers; an IPv6 packet whose next
header is not TCP/UDP is refused (:class:`GsoError`), and so is a partial
checksum that does not start at the TCP/UDP header (``tcp_gso_segment``).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator

from .checksum import csum_fold, csum_partial, ip_compute_csum, skb_checksum_help
from .ether import ETH_P_IP, ETH_P_IPV6
from .netdevice import (
    NETIF_F_GSO_UDP_L4,
    NETIF_F_HIGHDMA,
    NETIF_F_HW_CSUM,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NETIF_F_TSO_ECN,
    NETIF_F_TSO_MANGLEID,
    NetDevice,
    kfree_tx,
    netdev_intersect_features,
)
from .skbuff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCP_FIXEDID,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_GSO_UDP_L4,
    SkBuff,
    consume_skb,
    skb_frame_start,
)

__all__ = [
    "GsoError",
    "can_checksum_protocol",
    "netif_needs_gso",
    "netif_skb_features",
    "skb_gso_ok",
    "skb_gso_segment",
    "validate_xmit_skb",
]

log = logging.getLogger("netdrv.gso")
_warned: weakref.WeakSet[NetDevice] = weakref.WeakSet()  # devices told about a dropped frame

# gso_type bit -> the feature a device needs to take it whole (Linux's net_gso_ok()).
# SKB_GSO_TCP_FIXEDID (a GRO'd flow whose IPv4 ID stays the same) needs
# NETIF_F_TSO_MANGLEID: a TSO device counts the IDs up, which changes what was on the
# wire, so only one the user lets do that (tx-tcp-mangleid-segmentation) takes such a
# super-frame whole; any other gets it segmented by skb_gso_segment(), which keeps the ID.
_GSO_FEATURE = (
    (SKB_GSO_TCPV4, NETIF_F_TSO),
    (SKB_GSO_TCP_ECN, NETIF_F_TSO_ECN),
    (SKB_GSO_TCP_FIXEDID, NETIF_F_TSO_MANGLEID),
    (SKB_GSO_TCPV6, NETIF_F_TSO6),
    (SKB_GSO_UDP_L4, NETIF_F_GSO_UDP_L4),
)
_KNOWN_GSO = (SKB_GSO_TCPV4 | SKB_GSO_TCP_ECN | SKB_GSO_TCP_FIXEDID | SKB_GSO_TCPV6
              | SKB_GSO_UDP_L4)  # fmt: skip
IPPROTO_TCP = 6
IPPROTO_UDP = 17
# TCP flags a segment other than the last must not carry (FIN, PSH), and one other than
# the first (CWR): tcp_gso_segment() clears them the same way.
_TCP_FIN_PSH = 0x01 | 0x08
_TCP_CWR = 0x80
_VLAN_TYPES = (0x8100, 0x88A8)  # ETH_P_8021Q, ETH_P_8021AD
# What a device does for a frame with two tags or more (Linux's vlan_features_check):
# only a protocol-blind checksum, whatever its vlan_features say.
_VLAN_MULTI_FEATURES = NETIF_F_SG | NETIF_F_HIGHDMA | NETIF_F_HW_CSUM | NETIF_F_HW_VLAN_CTAG_TX


class GsoError(ValueError):
    """A super-frame that cannot be segmented (headers that do not say what gso_type says)."""


def _needed(gso_type: int) -> int:
    need = 0
    for bit, feature in _GSO_FEATURE:
        if gso_type & bit:
            need |= feature
    return need


#: gso_type -> the features a device needs to take such a super-frame whole, for every
#: combination of the known bits (a lookup: this is asked for every super-frame read).
#: gso_type 0 is not among them: a super-frame that does not say what it is fits no device
#: (Linux's gso_features_check() warns and strips every GSO feature; the segmentation then
#: fails, and the frame is dropped).  Nor is SKB_GSO_TCP_FIXEDID without SKB_GSO_TCPV4: it
#: qualifies TCP over IPv4 only (inet_gso_segment), so on its own it says no protocol either.
def _known_combinations() -> Iterator[int]:
    """Every non-zero combination of the known bits (not every integer up to the highest:
    SKB_GSO_UDP_L4 is bit 17)."""
    t = _KNOWN_GSO
    while t:
        yield t
        t = (t - 1) & _KNOWN_GSO


GSO_FEATURES_NEEDED = {t: _needed(t) for t in sorted(_known_combinations())
                       if t & SKB_GSO_TCPV4 or not t & SKB_GSO_TCP_FIXEDID}  # fmt: skip


def skb_gso_ok(skb: SkBuff, features: int) -> bool:
    """True when a device with ``features`` takes ``skb``'s segmentation job whole."""
    need = GSO_FEATURES_NEEDED.get(skb.gso_type)
    return need is not None and need & features == need


def netif_needs_gso(skb: SkBuff, features: int) -> bool:
    """True when ``skb`` is a super-frame a device with ``features`` cannot take."""
    return bool(skb.gso_size) and not skb_gso_ok(skb, features)


def can_checksum_protocol(features: int, protocol: int) -> bool:
    """True when a device with ``features`` finishes checksums of ``protocol`` (an ethertype)."""
    if features & NETIF_F_HW_CSUM:
        return True
    if protocol == ETH_P_IPV6:
        return bool(features & NETIF_F_IPV6_CSUM)
    return protocol == ETH_P_IP and bool(features & NETIF_F_IP_CSUM)


def _vlan_inner(skb: SkBuff) -> tuple[int, int] | None:
    """A VLAN-tagged frame's (ethertype, network header) behind its tags, as Linux's
    ``__vlan_get_protocol`` finds them; None when ``skb.protocol`` is not a VLAN tag."""
    if skb.protocol not in _VLAN_TYPES:
        return None
    mac = skb.mac_header
    at = (mac if 0 <= mac <= skb.data else skb.data) + 12  # the outer ethertype
    buf = skb.buf
    proto = skb.protocol
    while proto in _VLAN_TYPES and at + 6 <= skb.tail:
        at += 4  # past the tag (type, TCI) to the next ethertype
        proto = buf[at] << 8 | buf[at + 1]
    return proto, at + 2


def _vlan_tagged_multi(skb: SkBuff) -> bool:
    """True when ``skb`` carries two tags or more, in its metadata and data or both in its
    data (Linux's ``skb_vlan_tagged_multi``)."""
    proto = skb.protocol
    if not skb.vlan_all:
        if proto not in _VLAN_TYPES:
            return False
        at = skb_frame_start(skb) + 16  # the ethertype behind the outer tag
        if at + 2 > skb.tail:
            return False
        proto = skb.buf[at] << 8 | skb.buf[at + 1]
    return proto in _VLAN_TYPES


def netif_skb_features(skb: SkBuff, dev: NetDevice) -> int:
    """The offloads ``dev`` does for ``skb`` (Linux's ``netif_skb_features``, its VLAN part).

    ``dev.features`` for an untagged skb.  A tagged one (:func:`~netdrv_core.vlan.skb_vlan_tagged`:
    a tag in ``skb.vlan_all``, or ``skb.protocol`` a VLAN ethertype) gets only those also in
    ``dev.vlan_features`` (and the tag insertion): hardware that cannot parse past a tag
    would checksum or segment the wrong bytes.  One with two tags or more gets at most
    ``NETIF_F_HW_CSUM`` and ``NETIF_F_SG`` (``vlan_features_check``).
    """
    features = dev.features
    if skb.vlan_all or skb.protocol in _VLAN_TYPES:
        features = netdev_intersect_features(features, dev.vlan_features | NETIF_F_HW_VLAN_CTAG_TX)
        if _vlan_tagged_multi(skb):
            features &= _VLAN_MULTI_FEATURES
    return features


def _l3_protocol(skb: SkBuff) -> int:
    """The ethertype of the IP header behind ``skb``'s link header (0 if not IPv4/IPv6)."""
    if skb.protocol in (ETH_P_IP, ETH_P_IPV6):
        return skb.protocol
    vlan = _vlan_inner(skb)
    if vlan is not None:
        return vlan[0] if vlan[0] in (ETH_P_IP, ETH_P_IPV6) else 0
    nh = _network_header(skb, skb.network_header)
    version = skb.buf[nh] >> 4 if nh < skb.tail else 0
    return ETH_P_IP if version == 4 else ETH_P_IPV6 if version == 6 else 0


def _network_header(skb: SkBuff, nh: int) -> int:
    """``nh`` when it lies in the frame; else (not set) right after the link header, if any."""
    if skb.data <= nh < skb.tail:
        return nh
    return skb.data + (skb.dev.hard_header_len if skb.dev is not None else 0)


def _ipv4_df(skb: SkBuff) -> bool:
    """True when ``skb``'s IPv4 header (behind any VLAN tags) is there and has DF set."""
    vlan = _vlan_inner(skb)
    nh = _network_header(skb, skb.network_header if vlan is None else vlan[1])
    buf = skb.buf
    return nh + 8 <= skb.tail and buf[nh] >> 4 == 4 and bool(buf[nh + 6] & 0x40)


def _gso_fits(skb: SkBuff, features: int) -> bool:
    """True when a device with ``features`` takes super-frame ``skb`` whole.

    As Linux's ``harmonize_features()``: a device that cannot checksum the frame's
    protocol cannot finish its segments' checksums either, so its GSO features do
    not count (USO needs only *a* checksum offload, not the one for this IP version).
    """
    if not skb_gso_ok(skb, features):
        return False
    if skb.ip_summed == CHECKSUM_NONE:
        return True
    proto = _l3_protocol(skb)
    return not proto or can_checksum_protocol(features, proto)


def _headers(skb: SkBuff) -> tuple[int, int, bool, int, int]:
    """(network header, transport header, IPv6?, L4 protocol, end of the L4 header)."""
    buf = skb.buf
    vlan = _vlan_inner(skb)
    # VLAN-tagged: behind the tags.
    nh = _network_header(skb, skb.network_header if vlan is None else vlan[1])
    version = buf[nh] >> 4 if nh < skb.tail else 0
    if version == 4:
        ipv6 = False
        ihl = (buf[nh] & 0x0F) * 4
        if ihl < 20:  # inet_gso_segment(): "if (ihl < sizeof(*iph)) goto out"
            raise GsoError(f"IPv4 super-frame with a header length of {ihl} bytes (under 20)")
        th = nh + ihl
        proto = buf[nh + 9] if nh + 20 <= skb.tail else -1
        # tcp_gso_segment / __udp_gso_segment: a partial checksum must start at the L4
        # header (-EINVAL): metadata that contradict the headers are not guessed around.
        if skb.ip_summed == CHECKSUM_PARTIAL and skb.csum_start != th:
            raise GsoError(f"CHECKSUM_PARTIAL with csum_start {skb.csum_start - nh} bytes "
                           f"past the IPv4 header's start, its L4 header at {ihl}")  # fmt: skip
    elif version == 6:
        ipv6 = True
        if nh + 40 > skb.tail:  # ipv6_gso_segment's pskb_may_pull(skb, sizeof(*ipv6h))
            raise GsoError(f"IPv6 super-frame of {skb.tail - nh} bytes from the network "
                           f"header: shorter than its IPv6 header (40)")  # fmt: skip
        # The transport header is where the stack said (extension headers in between).
        th = skb.csum_start if skb.ip_summed == CHECKSUM_PARTIAL else nh + 40
        proto = buf[nh + 6] if th == nh + 40 and nh + 40 <= skb.tail else -1
        if th != nh + 40:  # find the L4 protocol after extension headers, as a receiver would
            proto = _ipv6_l4_proto(buf, nh, th)
    else:
        raise GsoError(f"super-frame with no IPv4/IPv6 header at offset {nh - skb.data}")
    udp = bool(skb.gso_type & SKB_GSO_UDP_L4)
    want = IPPROTO_UDP if udp else IPPROTO_TCP
    if proto != want:
        raise GsoError(f"gso_type {skb.gso_type:#x} says {'UDP' if udp else 'TCP'}, "
                       f"the packet's protocol is {proto}")  # fmt: skip
    # tcp4_gso_segment / tcp6_gso_segment refuse a gso_type without their bit (-EINVAL).
    if not udp and not skb.gso_type & (SKB_GSO_TCPV6 if ipv6 else SKB_GSO_TCPV4):
        raise GsoError(f"gso_type {skb.gso_type:#x} does not say TCP over IPv{6 if ipv6 else 4} "
                       f"(SKB_GSO_TCPV{6 if ipv6 else 4}), the packet is")  # fmt: skip
    # inet_gso_segment(): "fixed ID is invalid if DF bit is not set" (-EINVAL).
    if (skb.gso_type & SKB_GSO_TCP_FIXEDID and not ipv6 and nh + 8 <= skb.tail
            and not buf[nh + 6] & 0x40):  # fmt: skip
        raise GsoError("SKB_GSO_TCP_FIXEDID super-frame without DF: its segments would share "
                       "one IPv4 ID and could be fragmented")  # fmt: skip
    end = th + 8 if udp else th + 20
    if end <= skb.tail and not udp:
        end = th + (buf[th + 12] >> 4) * 4
        if end - th < 20:
            raise GsoError("TCP super-frame with a data offset under 20 bytes")
    if end > skb.tail:
        raise GsoError("super-frame shorter than its own headers")
    return nh, th, ipv6, proto, end


def _ipv6_l4_proto(buf: bytearray, nh: int, th: int) -> int:
    nexthdr, at = buf[nh + 6], nh + 40
    while at < th and nexthdr in (0, 43, 60):  # hop-by-hop, routing, destination options
        nexthdr, at = buf[at], at + (buf[at + 1] + 1) * 8
    return nexthdr if at == th else -1


def skb_gso_segment(skb: SkBuff, features: int) -> list[SkBuff]:
    """The segments of super-frame ``skb`` for a device with ``features`` (``skb`` untouched).

    Each segment is a new skb holding a copy of the headers and at most
    ``gso_size`` bytes of payload, with ``gso_size`` 0.  Its checksum is left to
    the device (``CHECKSUM_PARTIAL``, the pseudo-header sum in the field) if
    ``features`` offload checksums for its protocol, finished here otherwise
    (``CHECKSUM_NONE``).

    :raises GsoError: the headers cannot be segmented as ``gso_type`` says.
    """
    mss = skb.gso_size
    if mss <= 0:
        raise GsoError(f"gso_size {mss}: a super-frame needs a segment size of at least 1")
    nh, th, ipv6, proto, hend = _headers(skb)
    buf = skb.buf
    # From the link header on: a received skb (data past it, as GRO hands one up) keeps it.
    mac = skb.mac_header
    start = skb_frame_start(skb)
    payload = memoryview(buf)[hend : skb.tail]
    total = len(payload)
    hdr = bytes(buf[start:hend])
    head = start  # keep the headroom the stack left (a driver may push into it)
    rel_nh, rel_th, rel_end = nh - start, th - start, hend - start
    l4hlen = hend - th
    partial = can_checksum_protocol(features, ETH_P_IPV6 if ipv6 else ETH_P_IP)
    csum_off = 6 if proto == IPPROTO_UDP else 16
    addr = bytes(buf[nh + 8 : nh + 40]) if ipv6 else bytes(buf[nh + 12 : nh + 20])
    addr_sum = csum_partial(addr)
    ip_id = int.from_bytes(buf[nh + 4 : nh + 6], "big")
    # Each segment's IPv4 ID counts up from the super-frame's, unless GRO merged a flow
    # whose ID stayed the same (inet_gso_segment's fixedid): then every segment keeps it.
    id_step = 0 if skb.gso_type & SKB_GSO_TCP_FIXEDID else 1
    seq = int.from_bytes(buf[th + 4 : th + 8], "big")
    segs: list[SkBuff] = []
    nsegs = max(1, -(-total // mss))
    for i in range(nsegs):
        chunk = payload[i * mss : (i + 1) * mss]
        n = rel_end + len(chunk)
        seg = SkBuff(head + n)
        b = seg.buf
        b[head : head + rel_end] = hdr
        b[head + rel_end :] = chunk
        seg.data = head + skb.data - start
        seg.tail = head + n
        seg.dev = skb.dev
        seg.protocol = skb.protocol
        seg.priority = skb.priority
        seg.vlan_all = skb.vlan_all  # a metadata tag: every segment carries it
        seg.mac_header = mac - start + head if mac >= 0 else -1
        s_nh, s_th = head + rel_nh, head + rel_th
        seg.network_header = s_nh
        seg.transport_header = s_th
        l4len = l4hlen + len(chunk)
        if ipv6:
            b[s_nh + 4 : s_nh + 6] = (n - rel_nh - 40).to_bytes(2, "big")
        else:
            b[s_nh + 2 : s_nh + 4] = (n - rel_nh).to_bytes(2, "big")
            b[s_nh + 4 : s_nh + 6] = ((ip_id + i * id_step) & 0xFFFF).to_bytes(2, "big")
            b[s_nh + 10 : s_nh + 12] = b"\0\0"
            ihl = (b[s_nh] & 0x0F) * 4
            b[s_nh + 10 : s_nh + 12] = ip_compute_csum(b[s_nh : s_nh + ihl]).to_bytes(2, "big")
        if proto == IPPROTO_TCP:
            b[s_th + 4 : s_th + 8] = ((seq + i * mss) & 0xFFFFFFFF).to_bytes(4, "big")
            if i < nsegs - 1:
                b[s_th + 13] &= ~_TCP_FIN_PSH & 0xFF
            if i:
                b[s_th + 13] &= ~_TCP_CWR & 0xFF
        else:
            b[s_th + 4 : s_th + 6] = l4len.to_bytes(2, "big")
        pseudo = addr_sum + l4len + proto
        at = s_th + csum_off
        if partial:
            b[at : at + 2] = (~csum_fold(pseudo) & 0xFFFF).to_bytes(2, "big")
            seg.ip_summed = CHECKSUM_PARTIAL
            seg.csum_start = s_th
            seg.csum_offset = csum_off
        else:
            b[at : at + 2] = b"\0\0"
            csum = csum_fold(csum_partial(memoryview(b)[s_th : seg.tail], pseudo))
            if not csum and proto == IPPROTO_UDP:
                csum = 0xFFFF  # 0 means "no checksum" to a UDP receiver (CSUM_MANGLED_0)
            b[at : at + 2] = csum.to_bytes(2, "big")
            seg.ip_summed = CHECKSUM_NONE
        segs.append(seg)
    return segs


def _check_csum_start(skb: SkBuff) -> None:
    """A partial checksum's place must lie in the frame, as Linux's ``skb_partial_csum_set``
    makes sure where such a frame comes in (a TAP's virtio-net header): no driver is handed
    a ``csum_start`` it would read or write outside the frame."""
    start = skb_frame_start(skb)
    if not start <= skb.csum_start <= skb.tail - skb.csum_offset - 2 or skb.csum_offset < 0:
        raise GsoError(f"CHECKSUM_PARTIAL with csum_start {skb.csum_start} / csum_offset "
                       f"{skb.csum_offset} outside the frame ({start}..{skb.tail})")  # fmt: skip


def validate_xmit_skb(skb: SkBuff, dev: NetDevice) -> list[SkBuff]:
    """What Linux's ``validate_xmit_skb()`` does before ``start_xmit``: the frames to send.

    A super-frame the device cannot take whole is segmented (``skb`` consumed,
    each segment's checksum already right for the device); a partial checksum
    the device cannot finish is finished here.  What the device can do is
    :func:`netif_skb_features`: for a VLAN-tagged frame, only what its
    ``vlan_features`` say.  A frame that cannot be made
    right is dropped, freed, counted in the device's ``core_stats.tx_qdisc_drops``
    and logged with the reason: the result is then empty.
    """
    features = dev.features
    proto = skb.protocol
    if skb.vlan_all or proto in _VLAN_TYPES:  # tagged: what the device does behind a tag
        features = netif_skb_features(skb, dev)
        proto = _l3_protocol(skb)
    try:
        if skb.ip_summed == CHECKSUM_PARTIAL:
            _check_csum_start(skb)
        if skb.gso_size:
            if (skb.gso_type & SKB_GSO_TCP_FIXEDID and features & NETIF_F_TSO_MANGLEID
                    and not _ipv4_df(skb)):  # fmt: skip
                # gso_features_check(): an IPv4 header that may be fragmented (no DF) gets
                # no ID mangling (Linux strips it from any TCPV4 super-frame; only a fixed-ID
                # one needs it).  Segmenting such a frame fails (GsoError): it is dropped.
                features &= ~NETIF_F_TSO_MANGLEID
            if skb.gso_size < 0 or not _gso_fits(skb, features) or skb.len >= dev.gso_max_size:
                segs = skb_gso_segment(skb, features)  # GsoError for a gso_size under 1
                consume_skb(skb)
                return segs
            # Taken whole: the device finishes each segment's checksum (_gso_fits checked
            # it can); one checksum over the whole super-frame would be wrong in every one.
            return [skb]
        if skb.ip_summed == CHECKSUM_PARTIAL and not can_checksum_protocol(features, proto):
            skb_checksum_help(skb)
    except ValueError as exc:  # GsoError, or a checksum offset outside the frame
        # Said once per device (a stream of such frames must not flood the log), counted always.
        level = logging.DEBUG if dev in _warned else logging.WARNING
        _warned.add(dev)
        log.log(level, "%s: dropped a frame whose offload cannot be done (counted in "
                "tx_qdisc_drops): %s", dev.name, exc)  # fmt: skip
        dev.core_stats.tx_qdisc_drops += 1
        kfree_tx(skb)
        return []
    return [skb]
