"""Sans-I/O parsers of the kernel attachment: rtnetlink link messages, virtio-net headers."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdrv_core import CHECKSUM_NONE, CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, SkBuff
from netdrv_core.attach.netlink import (
    IFLA_ADDRESS,
    IFLA_ALLMULTI,
    IFLA_IFNAME,
    IFLA_MTU,
    IFLA_PROMISCUITY,
    IFLA_TXQLEN,
    RTM_DELLINK,
    RTM_NEWLINK,
    parse_link_messages,
)
from netdrv_core.attach.vnet import (
    DATA_VALID_HDR,
    PLAIN_HDR,
    VIRTIO_NET_HDR_F_DATA_VALID,
    VIRTIO_NET_HDR_F_NEEDS_CSUM,
    VNET_HDR,
    VNET_HDR_LEN,
    VnetHeaderError,
    apply_vnet_header,
    build_vnet_header,
)
from netdrv_core.netdevice import IFF_PROMISC, IFF_UP
from netdrv_core.skbuff import (
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCP_FIXEDID,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_GSO_UDP_L4,
)

NLMSG_HDR = struct.Struct("=IHHII")
IFINFO = struct.Struct("=BxHiII")


def rta(kind: int, payload: bytes) -> bytes:
    a = struct.pack("=HH", 4 + len(payload), kind) + payload
    return a + b"\0" * (-len(a) % 4)


def nlmsg(mtype: int, body: bytes, seq: int = 1) -> bytes:
    m = NLMSG_HDR.pack(NLMSG_HDR.size + len(body), mtype, 0, seq, 0) + body
    return m + b"\0" * (-len(m) % 4)


def newlink(index: int, flags: int, *attrs: bytes, mtype: int = RTM_NEWLINK) -> bytes:
    return nlmsg(mtype, IFINFO.pack(0, 1, index, flags, 0xFFFFFFFF) + b"".join(attrs))


def test_parse_a_full_rtm_newlink() -> None:
    msg = newlink(
        7, IFF_UP | IFF_PROMISC,
        rta(IFLA_IFNAME, b"sn0\0"),
        rta(IFLA_MTU, struct.pack("=I", 1400)),
        rta(IFLA_ADDRESS, b"\x00SNUL0"),
        rta(IFLA_TXQLEN, struct.pack("=I", 500)),
        rta(IFLA_PROMISCUITY, struct.pack("=I", 1)),
        rta(99, b"unknown attribute"),
    )  # fmt: skip
    (ev,) = parse_link_messages(msg)
    assert (ev.kind, ev.index, ev.flags, ev.change) == (
        RTM_NEWLINK,
        7,
        IFF_UP | IFF_PROMISC,
        0xFFFFFFFF,
    )
    assert (ev.name, ev.mtu, ev.address, ev.txqlen, ev.promiscuity) == (
        "sn0", 1400, b"\x00SNUL0", 500, 1,
    )  # fmt: skip
    assert not ev.deleted


def test_several_messages_and_other_types_skipped() -> None:
    data = (
        newlink(1, 0, rta(IFLA_IFNAME, b"a\0"))
        + nlmsg(20, b"\0" * 12)  # RTM_NEWADDR: not ours
        + newlink(2, 0, rta(IFLA_IFNAME, b"bb\0"), mtype=RTM_DELLINK)
    )
    evs = parse_link_messages(data)
    assert [(e.index, e.name, e.deleted) for e in evs] == [(1, "a", False), (2, "bb", True)]


def test_a_bridges_port_messages_are_not_link_events() -> None:
    # `ip link set sn1 nomaster`: the bridge says the port is gone (AF_BRIDGE RTM_DELLINK);
    # the link itself stays.  Read as a deletion, netdrv closed sn1 and its TAP vanished.
    af_bridge = 7
    port_gone = nlmsg(RTM_DELLINK, IFINFO.pack(af_bridge, 1, 3, IFF_UP, 0))
    port_info = nlmsg(RTM_NEWLINK, IFINFO.pack(af_bridge, 1, 3, IFF_UP, 0))
    evs = parse_link_messages(port_info + port_gone + newlink(3, IFF_UP))
    assert [(e.index, e.deleted) for e in evs] == [(3, False)]


def test_the_allmulti_count_is_parsed() -> None:
    # A bridge port is allmulti by count only (dev_set_allmulti), not by its flags.
    (ev,) = parse_link_messages(newlink(3, IFF_UP, rta(IFLA_ALLMULTI, struct.pack("=I", 1))))
    assert ev.allmulti == 1
    (ev,) = parse_link_messages(newlink(3, IFF_UP))
    assert ev.allmulti is None


def test_nested_flag_on_attribute_type_is_masked() -> None:
    (ev,) = parse_link_messages(newlink(3, 0, rta(IFLA_MTU | 0x8000, struct.pack("=I", 9000))))
    assert ev.mtu == 9000


def test_short_attribute_payloads_are_ignored() -> None:
    (ev,) = parse_link_messages(newlink(3, 0, rta(IFLA_MTU, b"\x01\x02"), rta(IFLA_IFNAME, b"x")))
    assert ev.mtu is None and ev.name == "x"


def test_truncated_message_stops_parsing() -> None:
    good = newlink(1, 0, rta(IFLA_IFNAME, b"ok\0"))
    bad = newlink(2, 0, rta(IFLA_IFNAME, b"cut\0"))
    evs = parse_link_messages(good + bad[:-3])
    assert [e.index for e in evs] == [1]
    assert parse_link_messages(b"") == []
    assert parse_link_messages(NLMSG_HDR.pack(8, RTM_NEWLINK, 0, 0, 0)) == []  # length < header


def test_attribute_overrunning_its_message_is_ignored() -> None:
    body = IFINFO.pack(0, 1, 4, 0, 0) + struct.pack("=HH", 200, IFLA_IFNAME) + b"abcd"
    (ev,) = parse_link_messages(nlmsg(RTM_NEWLINK, body))
    assert ev.index == 4 and ev.name == ""


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_garbage_never_raises(data: bytes) -> None:
    parse_link_messages(data)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 40), st.binary(max_size=12)), max_size=6),
       st.integers(0, 40))  # fmt: skip
def test_mutated_messages_never_raise(attrs: list[tuple[int, bytes]], cut: int) -> None:
    msg = newlink(5, 0, *(rta(k, p) for k, p in attrs))
    for data in (msg, msg[: max(0, len(msg) - cut)], msg[cut:], bytearray(msg)):
        evs = parse_link_messages(data)
        assert len(evs) <= 1


# -- virtio-net header ------------------------------------------------------------------------
def frame_skb(n: int = 100, headroom: int = 32) -> SkBuff:
    skb = SkBuff(headroom + n)
    skb.data = skb.tail = headroom
    skb.put_data(bytes(n))
    return skb


def test_needs_csum_round_trip() -> None:
    hdr = VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16)
    skb = frame_skb()
    apply_vnet_header(hdr, skb)
    assert skb.ip_summed == CHECKSUM_PARTIAL
    assert skb.csum_start == skb.data + 34 and skb.csum_offset == 16
    # skb_partial_csum_set: the transport header is where the checksum starts
    assert skb.transport_header == skb.csum_start
    assert build_vnet_header(skb, skb.data) == hdr
    # relative to where the frame starts, wherever that is in the buffer
    c = skb.copy(headroom=5)
    assert build_vnet_header(c, c.data) == hdr


def test_data_valid_and_plain() -> None:
    skb = frame_skb()
    apply_vnet_header(DATA_VALID_HDR, skb)
    assert skb.ip_summed == CHECKSUM_UNNECESSARY
    assert build_vnet_header(skb, skb.data) == DATA_VALID_HDR
    apply_vnet_header(PLAIN_HDR, skb)
    assert skb.ip_summed == CHECKSUM_NONE and skb.gso_size == 0
    assert build_vnet_header(skb, skb.data) == PLAIN_HDR
    assert VNET_HDR_LEN == 10 and VIRTIO_NET_HDR_F_DATA_VALID == 2


@pytest.mark.parametrize(
    ("vtype", "skb_type"),
    [(1, SKB_GSO_TCPV4), (4, SKB_GSO_TCPV6), (5, SKB_GSO_UDP_L4),
     (1 | 0x80, SKB_GSO_TCPV4 | SKB_GSO_TCP_ECN)],
)  # fmt: skip
def test_gso_round_trip(vtype: int, skb_type: int) -> None:
    hdr = VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, vtype, 54, 1448, 34, 16)
    skb = frame_skb(3000)
    apply_vnet_header(hdr, skb)
    assert skb.gso_type == skb_type and skb.gso_size == 1448
    skb.transport_header = skb.data + 54  # hdr_len is derived from the transport header
    assert build_vnet_header(skb, skb.data) == hdr


@pytest.mark.parametrize(
    ("skb_type", "vtype"),
    [(SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID, 1),
     (SKB_GSO_TCPV4 | SKB_GSO_TCP_ECN | SKB_GSO_TCP_FIXEDID, 1 | 0x80)],
)  # fmt: skip
def test_a_fixed_id_super_frame_goes_to_the_kernel_as_plain_tcpv4(
    skb_type: int, vtype: int
) -> None:
    # GRO's SKB_GSO_TCP_FIXEDID has no header bit: Linux's virtio_net_hdr_from_skb looks at
    # the protocol and ECN bits only. Unmasked it made GSO_NONE, and the kernel got a
    # 64 KiB frame that did not say it was a super-frame.
    skb = frame_skb(3000)
    skb.ip_summed, skb.csum_start, skb.csum_offset = CHECKSUM_PARTIAL, skb.data + 34, 16
    skb.gso_type, skb.gso_size, skb.transport_header = skb_type, 1448, skb.data + 34
    hdr = build_vnet_header(skb, skb.data)
    assert hdr == VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, vtype, 34, 1448, 34, 16)
    back = frame_skb(3000)
    apply_vnet_header(hdr, back)
    assert back.gso_type == skb_type & ~SKB_GSO_TCP_FIXEDID


@pytest.mark.parametrize(
    ("start", "offset", "n"),
    [(34, 16, 51), (99, 0, 100), (0, 99, 100), (65535, 65535, 100), (90, 9, 100)],
)
def test_checksum_outside_the_frame_is_refused(start: int, offset: int, n: int) -> None:
    skb = frame_skb(n)
    with pytest.raises(VnetHeaderError, match=f"{start}\\+{offset} lies outside a {n}-byte frame"):
        apply_vnet_header(VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, start, offset), skb)
    apply_vnet_header(VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, n - 2, 0), skb)  # fits


def test_bad_gso_is_refused() -> None:
    skb = frame_skb()
    with pytest.raises(VnetHeaderError, match="unsupported vnet GSO type 3"):
        apply_vnet_header(VNET_HDR.pack(0, 3, 0, 1000, 0, 0), skb)  # UFO
    with pytest.raises(VnetHeaderError, match="gso_size 0"):
        apply_vnet_header(VNET_HDR.pack(0, 1, 0, 0, 0, 0), skb)
    assert issubclass(VnetHeaderError, ValueError)


@given(st.binary(min_size=10, max_size=10), st.integers(0, 200))
def test_apply_never_raises_anything_but_vnet_header_error(hdr: bytes, n: int) -> None:
    skb = frame_skb(n)
    try:
        apply_vnet_header(hdr, skb)
    except VnetHeaderError:
        return
    assert skb.ip_summed in (CHECKSUM_NONE, CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY)
    if skb.ip_summed == CHECKSUM_PARTIAL:
        assert skb.csum_start + skb.csum_offset + 2 <= skb.tail


# -- the link monitor's dump after lost events --------------------------------------------------
class _DatagramSock:
    """Stands in for the monitor's netlink socket: hands out queued datagrams, then EAGAIN."""

    def __init__(self, datagrams: list[bytes]) -> None:
        self.datagrams = datagrams

    def recv(self, _n: int) -> bytes:
        if not self.datagrams:
            raise BlockingIOError
        return self.datagrams.pop(0)

    def sendto(self, *_a: object) -> int:
        return 0


def _dump_reply(seq: int, pid: int, indexes: list[int], *, intr: bool) -> bytes:
    flags = 0x2 | (0x10 if intr else 0)  # NLM_F_MULTI, NLM_F_DUMP_INTR
    out = b""
    for index in indexes:
        body = IFINFO.pack(0, 1, index, IFF_UP, 0) + rta(IFLA_IFNAME, b"sn%d\0" % index)
        m = NLMSG_HDR.pack(NLMSG_HDR.size + len(body), RTM_NEWLINK, flags, seq, pid) + body
        out += m + b"\0" * (-len(m) % 4)
    done = NLMSG_HDR.pack(NLMSG_HDR.size + 4, 3, flags, seq, pid) + b"\0" * 4  # NLMSG_DONE
    return out + done


@pytest.mark.parametrize("intr", [False, True])
def test_a_dump_the_kernel_marks_interrupted_says_nothing_about_gone_links(intr: bool) -> None:
    # NLM_F_DUMP_INTR: links changed while the dump ran, so it may have skipped a live one.
    # Its state events still count; it is asked for again instead of declaring links gone.
    from netdrv_core.attach.netlink import LinkMonitor, dump_interrupted

    mon = LinkMonitor()
    real = mon.sock
    try:
        mon.dump_wanted = True
        assert mon.request_dump()
        seq, pid = mon._dump_seq, mon.portid
        reply = _dump_reply(seq, pid, [3, 4], intr=intr)
        assert dump_interrupted(reply, seq, pid) is intr
        mon.sock = _DatagramSock([reply])  # type: ignore[assignment]
        events = mon.read()
        assert [(e.index, e.resync) for e in events] == [(3, True), (4, True)]
        assert mon.take_dump() == (None if intr else {3, 4})
        assert mon.dump_wanted is intr
    finally:
        mon.sock = real
        mon.close()
