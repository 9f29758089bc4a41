"""Property tests of the virtio-net header and the TAP reader: what the kernel hands us.

Every frame a TAP with IFF_VNET_HDR gives netdrv starts with a 10-byte
virtio-net header the kernel (or a local process writing to a packet socket)
filled in.  Whatever it says, netdrv must either describe the frame correctly
or refuse it with :class:`VnetHeaderError` — and on the reader side every
datagram must end up counted (handed to the driver, dropped by the core, or
counted as a bad header / runt by the attachment).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netdrv_core import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    Host,
    NetDevice,
    SkBuff,
)
from netdrv_core.attach import tap as tap_module
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.attach.vnet import (
    VIRTIO_NET_HDR_F_DATA_VALID,
    VIRTIO_NET_HDR_F_NEEDS_CSUM,
    VNET_HDR,
    VNET_HDR_LEN,
    VnetHeaderError,
    apply_vnet_header,
    build_vnet_header,
)
from netdrv_core.params import parse_params
from netdrv_core.skbuff import (
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCP_FIXEDID,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_GSO_UDP_L4,
)

FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture])  # fmt: skip

u16 = st.integers(0, 0xFFFF)


def vnet_headers() -> st.SearchStrategy[bytes]:
    """Raw 10-byte headers, biased towards the values the parser branches on."""
    flags = st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(0, 255))
    gso = st.one_of(st.sampled_from([0, 1, 3, 4, 5, 0x80, 0x81, 0x84, 0x85, 2]),
                    st.integers(0, 255))  # fmt: skip
    small = st.one_of(st.integers(0, 80), u16)
    return st.one_of(
        st.binary(min_size=VNET_HDR_LEN, max_size=VNET_HDR_LEN),
        st.builds(VNET_HDR.pack, flags, gso, small, small, small, small),
    )


def _skb(frame: bytes, headroom: int) -> SkBuff:
    skb = SkBuff(headroom + len(frame))
    skb.data = skb.tail = headroom
    skb.put_data(frame)
    return skb


@FAST
@given(vnet_headers(), st.binary(max_size=200), st.integers(0, 64))
@example(VNET_HDR.pack(1, 0, 0, 0, 0, 0), b"", 0)
@example(VNET_HDR.pack(1, 0, 0, 0, 0xFFFF, 0xFFFF), b"x" * 40, 0)
@example(VNET_HDR.pack(0, 1, 0, 0, 0, 0), b"x" * 40, 0)
def test_apply_only_raises_vnet_header_error(hdr: bytes, frame: bytes, headroom: int) -> None:
    skb = _skb(frame, headroom)
    try:
        apply_vnet_header(hdr, skb)
    except VnetHeaderError as exc:
        assert str(exc)
        return
    flags, _gso_type, _hl, gso_size, _csum_start, _csum_offset = VNET_HDR.unpack(hdr)
    if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM:
        # The checksum field the stack wants filled in lies inside the frame.
        assert skb.ip_summed == CHECKSUM_PARTIAL
        assert skb.data <= skb.csum_start
        assert skb.csum_start + skb.csum_offset + 2 <= skb.tail
    elif flags & VIRTIO_NET_HDR_F_DATA_VALID:
        assert skb.ip_summed == CHECKSUM_UNNECESSARY
    else:
        assert skb.ip_summed == CHECKSUM_NONE
    # GSO metadata is all-or-nothing: a type always comes with a segment size.
    assert (skb.gso_type == 0) == (skb.gso_size == 0)
    if skb.gso_size:
        assert skb.gso_size == gso_size > 0
    assert skb.len == len(frame), "the header never changes the frame"


@FAST
@given(st.binary(max_size=VNET_HDR_LEN - 1))
def test_a_short_header_is_a_vnet_header_error(hdr: bytes) -> None:
    with pytest.raises(VnetHeaderError):
        apply_vnet_header(hdr, _skb(b"x" * 60, 16))


@st.composite
def skb_metadata(draw: st.DrawFn) -> tuple[SkBuff, int]:
    """An skb the stack could hand out: consistent checksum/GSO metadata."""
    n = draw(st.integers(1, 300))
    headroom = draw(st.integers(0, 40))
    skb = _skb(bytes(n), headroom)
    kind = draw(st.sampled_from([CHECKSUM_NONE, CHECKSUM_UNNECESSARY, CHECKSUM_PARTIAL]))
    if kind == CHECKSUM_PARTIAL:
        if n < 2:
            kind = CHECKSUM_NONE
        else:
            start = draw(st.integers(0, n - 2))
            skb.csum_start = skb.data + start
            skb.csum_offset = draw(st.integers(0, n - 2 - start))
    skb.ip_summed = kind
    fixed = SKB_GSO_TCPV4 | SKB_GSO_TCP_FIXEDID  # what GRO makes of a fixed-ID flow
    gso = draw(st.sampled_from([0, SKB_GSO_TCPV4, SKB_GSO_TCPV6, SKB_GSO_UDP_L4,
                                SKB_GSO_TCPV4 | SKB_GSO_TCP_ECN, fixed,
                                fixed | SKB_GSO_TCP_ECN]))  # fmt: skip
    if gso:
        skb.gso_type = gso
        skb.gso_size = draw(st.integers(1, 0xFFFF))
        skb.transport_header = skb.data + draw(st.integers(0, n - 1))
    return skb, skb.data


@FAST
@given(skb_metadata())
def test_build_then_apply_is_the_identity(case: tuple[SkBuff, int]) -> None:
    skb, start = case
    hdr = build_vnet_header(skb, start)
    assert len(hdr) == VNET_HDR_LEN
    back = _skb(bytes(skb.buf[skb.data : skb.tail]), 7)
    apply_vnet_header(hdr, back)
    assert back.ip_summed == skb.ip_summed
    if skb.ip_summed == CHECKSUM_PARTIAL:
        assert back.csum_start - back.data == skb.csum_start - skb.data
        assert back.csum_offset == skb.csum_offset
    # GRO's SKB_GSO_TCP_FIXEDID has no header bit (virtio_net_hdr_from_skb drops it).
    assert (back.gso_type, back.gso_size) == (skb.gso_type & ~SKB_GSO_TCP_FIXEDID, skb.gso_size)


# -- the TAP reader: datagrams from the kernel, through the core, into snull ------------------
class _FakeTunTap:
    """A TunTap whose fd is one end of a datagram socketpair (readv works on it the same)."""

    def __init__(self, fd: int, *, tap: bool, vnet_hdr: bool) -> None:
        self.fd = fd
        self.tap = tap
        self.vnet_hdr = vnet_hdr
        self.name = "sn0"


@pytest.fixture
def snull_host() -> Iterator[Host]:
    """snull (configure=0, both up) on a memory host; a big pool so sn0's queue never stops."""
    from netdrv_snull.driver import Snull

    host = Host()
    drv = Snull(host, parse_params("snull", Snull.parameters, ["configure=0", "pool_size=4096"]))
    with host.as_current():
        drv.init()
    for dev in drv.devices:
        host.attachment.up(dev)  # type: ignore[attr-defined]
    yield host
    with host.as_current():
        drv.exit()
    host.close()
    host.loop.close()


def _datagrams() -> st.SearchStrategy[list[bytes]]:
    ipv4 = st.builds(
        lambda hdr, ihl, rest: hdr + bytes([0x40 | ihl]) + rest,
        st.sampled_from([b"\x00SNUL1\x02\x00\x00\x00\x00\x01\x08\x00", b"\xff" * 6 + b"\x00" * 6
                         + b"\x08\x00"]),
        st.integers(0, 15),
        st.binary(max_size=120),
    )  # fmt: skip
    frame = st.one_of(st.binary(max_size=200), ipv4)
    with_hdr = st.builds(lambda h, f: h + f, vnet_headers(), frame)
    return st.lists(st.one_of(with_hdr, st.binary(max_size=VNET_HDR_LEN + 20)), max_size=40)


@FAST
@given(datagrams=_datagrams(), vnet=st.booleans(), tap=st.booleans())
def test_every_datagram_from_the_kernel_is_accounted(
    snull_host: Host, datagrams: list[bytes], vnet: bool, tap: bool
) -> None:
    host = snull_host
    dev = host.devices["sn0"]
    ks = KernelStack()
    ks.host = host  # the reader only needs the host's loop and dev_queue_xmit
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        b.setblocking(False)
        port = _Port(dev, _FakeTunTap(b.fileno(), tap=tap, vnet_hdr=vnet), 1)  # type: ignore[arg-type]
        cs, st_ = dev.core_stats, dev.netdev_ops.get_stats(dev)
        before = (cs.tx_submitted, cs.tx_qdisc_drops, st_.tx_packets + st_.tx_dropped
                  + st_.tx_errors)  # fmt: skip
        for d in datagrams:
            a.send(d)
        segments = 0  # frames a super-frame became beyond its first (software GSO)
        real_validate = tap_module.validate_xmit_skb

        def validate(skb: SkBuff, dev: NetDevice) -> list[SkBuff]:
            nonlocal segments
            out = real_validate(skb, dev)
            segments += max(len(out) - 1, 0)
            return out

        with mock.patch.object(tap_module, "validate_xmit_skb", validate):
            ks._on_readable(port)  # budget 64 >= 40 datagrams: one call reads them all
        host.loop.run_until_idle()
        with pytest.raises(BlockingIOError):
            os.read(b.fileno(), 1)
        c = ks.counters
        submitted = cs.tx_submitted - before[0]
        core_drops = cs.tx_qdisc_drops - before[1]
        accounted = submitted + core_drops + len(dev.qdisc) + c["bad_vnet"] + c["runt"]
        assert len(datagrams) == accounted - segments
        st_ = dev.netdev_ops.get_stats(dev)
        assert submitted == st_.tx_packets + st_.tx_dropped + st_.tx_errors - before[2]
    finally:
        a.close()
        b.close()


def test_runts_are_counted_not_read_past() -> None:
    """A TAP frame shorter than an Ethernet header never reads stale scratch bytes."""
    host = Host()
    from netdrv_core import NetDeviceOps, alloc_netdev, ether_setup, netif_start_queue

    seen: list[int] = []

    class Ops(NetDeviceOps):
        def open(self, dev):  # type: ignore[no-untyped-def]
            netif_start_queue(dev)
            return 0

        def start_xmit(self, skb, dev):  # type: ignore[no-untyped-def]
            seen.append(skb.protocol)
            dev.stats.tx_packets += 1
            return 0

    def setup(dev):  # type: ignore[no-untyped-def]
        ether_setup(dev)
        dev.dev_addr = b"\x02\x00\x00\x00\x00\x01"
        dev.netdev_ops = Ops()

    dev = alloc_netdev(None, "rt0", setup)
    host.register_netdev(dev)
    host.attachment.up(dev)  # type: ignore[attr-defined]
    ks = KernelStack()
    ks.host = host
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        b.setblocking(False)
        port = _Port(dev, _FakeTunTap(b.fileno(), tap=True, vnet_hdr=False), 1)  # type: ignore[arg-type]
        a.send(b"\x00" * 12 + b"\x86\xdd" + b"x" * 50)  # a full frame: protocol 0x86dd
        a.send(b"\x01\x02")  # a runt after it
        ks._on_readable(port)
        assert seen == [0x86DD]
        assert ks.counters["runt"] == 1
    finally:
        a.close()
        b.close()
        host.close()
        host.loop.close()


def test_vnet_header_struct_is_ten_bytes() -> None:
    assert struct.calcsize("=BBHHHH") == VNET_HDR_LEN == 10
