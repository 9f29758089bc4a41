"""phy.tracer: one log line per frame with a short decode."""

from __future__ import annotations

import logging

import pytest
from fakedev import LoadSnull, get, mem
from frames import (
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    arp_request,
    eth_frame,
    icmp_echo_packet,
    ipv4_packet,
    tcp_packet,
    udp_packet,
)

from netdrv_core import NETIF_F_HW_VLAN_CTAG_TX, Host
from netdrv_core.phy import LINKTYPE_RAW, Tracer, describe_frame

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (eth_frame(B, A, ETH_P_IP, icmp_echo_packet("10.0.0.1", "10.0.0.2", 7, 3)),
         "02:00:00:00:00:0a > 02:00:00:00:00:0b, IPv4 10.0.0.1 > 10.0.0.2 ICMP echo-request id 7 seq 3"),
        (eth_frame(B, A, ETH_P_IP, tcp_packet("10.0.0.1", "10.0.0.2", 1000, 80, b"abc", flags=0x12)),
         "IPv4 10.0.0.1 > 10.0.0.2 TCP 1000 > 80 [SA] len 3"),
        (eth_frame(B, A, ETH_P_IP, udp_packet("10.0.0.1", "10.0.0.2", 53, 5353, b"x" * 9)),
         "IPv4 10.0.0.1 > 10.0.0.2 UDP 53 > 5353 len 9"),
        (eth_frame("ff:ff:ff:ff:ff:ff", A, ETH_P_ARP, arp_request(A, "10.0.0.1", "10.0.0.2")),
         "02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ARP who-has 10.0.0.2 tell 10.0.0.1"),
        (eth_frame(B, A, ETH_P_IPV6, b"\x60\0\0\0\0\x08\x11\x40" + bytes(15) + b"\x01"
                   + bytes(15) + b"\x02" + bytes(8)),
         "IPv6 ::1 > ::2 UDP len 8"),
        (eth_frame(B, A, 0x88CC, bytes(10)), "ethertype 0x88cc (LLDP) len 10"),
        (eth_frame(B, A, 46, bytes(46)), "802.3 length 46"),
        (eth_frame(B, A, ETH_P_IP, b"\x45\0"), "IPv4 [truncated]"),
        (eth_frame(B, A, ETH_P_IP, ipv4_packet("1.2.3.4", "5.6.7.8", 17, bytes(16), df=False,
                                                frag_offset=1480)),
         "IPv4 1.2.3.4 > 5.6.7.8 UDP fragment offset 1480"),
        (eth_frame(B, A, ETH_P_IP, ipv4_packet("1.2.3.4", "5.6.7.8", 89, bytes(8))),
         "IPv4 1.2.3.4 > 5.6.7.8 proto 89 len 28"),
        (b"\x01\x02", "[truncated Ethernet frame, 2 bytes]"),
        (eth_frame(B, A, 0x8100, b"\x60\x05\x08\x00" + udp_packet("10.0.0.1", "10.0.0.2", 1, 2)),
         "02:00:00:00:00:0a > 02:00:00:00:00:0b, 802.1Q vlan 5 p 3, IPv4 10.0.0.1 > 10.0.0.2 UDP"),
        (eth_frame(B, A, 0x88A8, b"\x00\x64\x81\x00\x00\x07\x88\xcc" + bytes(4)),
         "802.1ad vlan 100 p 0, 802.1Q vlan 7 p 0, ethertype 0x88cc (LLDP) len 4"),
        (eth_frame(B, A, 0x8100, b"\x00"), "ethertype 0x8100 (802.1Q) len 1"),
    ],
)  # fmt: skip
def test_describe_ethernet(frame: bytes, expected: str) -> None:
    assert expected in describe_frame(frame)


def test_describe_raw_ip() -> None:
    pkt = udp_packet("10.9.0.1", "10.9.0.2", 1, 2, b"yo")
    assert describe_frame(pkt, LINKTYPE_RAW) == "IPv4 10.9.0.1 > 10.9.0.2 UDP 1 > 2 len 2"
    assert describe_frame(b"", LINKTYPE_RAW) == "empty"
    assert "version 0" in describe_frame(b"\x00" * 20, LINKTYPE_RAW)
    assert describe_frame(b"\x00" * 5, 147) == "link type 147 len 5"


def test_describe_never_raises_on_garbage() -> None:
    import random

    r = random.Random(1)
    for _ in range(500):
        data = bytes(r.randrange(256) for _ in range(r.randrange(80)))
        for lt in (1, 101, 147):
            assert isinstance(describe_frame(data, lt), str)
        describe_frame(data[:12] + b"\x08\x00" + data[12:])
        describe_frame(data[:12] + b"\x08\x06" + data[12:])
        describe_frame(data[:12] + b"\x86\xdd" + data[12:])


def test_tracer_logs_one_line_per_frame(
    host: Host, snull: LoadSnull, caplog: pytest.LogCaptureFixture
) -> None:
    snull()
    sn0, sn1 = get(host, "sn0"), get(host, "sn1")
    assert sn0 is not None and sn1 is not None
    t0, t1 = Tracer(host, sn0), Tracer(host, sn1, direction="rx")
    frame = eth_frame(sn0.dev_addr, A, ETH_P_IP, icmp_echo_packet("198.18.0.1", "198.18.0.2"))
    with caplog.at_level(logging.INFO, logger="netdrv.trace"):
        mem(host).send(sn0, frame)
        host.loop.run_until_idle()
    lines = [r.getMessage() for r in caplog.records if r.name == "netdrv.trace"]
    assert lines == [
        f"sn0 tx {len(frame)} bytes: 02:00:00:00:00:0a > 00:53:4e:55:4c:30, "
        "IPv4 198.18.0.1 > 198.18.0.2 ICMP echo-request id 1 seq 1",
        "sn1 rx 60 bytes: 00:53:4e:55:4c:30 > 00:53:4e:55:4c:31, "
        "IPv4 198.18.1.1 > 198.18.1.2 ICMP echo-request id 1 seq 1",
    ]
    assert (t0.lines, t1.lines) == (1, 1)
    t0.remove()
    t0.remove()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="netdrv.trace"):
        mem(host).send(sn0, frame)
        host.loop.run_until_idle()
    assert [r.getMessage()[:6] for r in caplog.records if r.name == "netdrv.trace"] == ["sn1 rx"]


def test_tracer_shows_a_tag_the_skb_holds_in_its_metadata(
    host: Host, snull: LoadSnull, caplog: pytest.LogCaptureFixture
) -> None:
    # A device that inserts tags itself gets them in the metadata, not the data: the trace
    # shows the frame as it goes on the wire, tag included, as tcpdump would.
    snull()
    sn0 = get(host, "sn0")
    assert sn0 is not None
    sn0.features |= NETIF_F_HW_VLAN_CTAG_TX
    Tracer(host, sn0, direction="tx")
    inner = udp_packet("198.18.0.1", "198.18.0.2", 1, 2)
    frame = eth_frame(sn0.dev_addr, A, 0x8100, b"\x20\x09\x08\x00" + inner)
    with caplog.at_level(logging.INFO, logger="netdrv.trace"):
        mem(host).send(sn0, frame)
        host.loop.run_until_idle()
    lines = [r.getMessage() for r in caplog.records if r.name == "netdrv.trace"]
    assert lines == [
        f"sn0 tx {len(frame)} bytes: 02:00:00:00:00:0a > 00:53:4e:55:4c:30, 802.1Q vlan 9 p 1, "
        "IPv4 198.18.0.1 > 198.18.0.2 UDP 1 > 2 len 0"
    ]


def test_tracer_costs_nothing_when_disabled(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0 = get(host, "sn0")
    assert sn0 is not None
    quiet = logging.getLogger("netdrv.trace.quiet-test")
    quiet.setLevel(logging.WARNING)
    with Tracer(host, sn0, logger=quiet, level=logging.DEBUG) as t:
        mem(host).send(
            sn0, eth_frame(sn0.dev_addr, A, ETH_P_IP, udp_packet("198.18.0.1", "198.18.0.2", 1, 2))
        )
    assert t.lines == 0


def test_tracer_direction_is_checked(host: Host, snull: LoadSnull) -> None:
    snull()
    sn0 = get(host, "sn0")
    with pytest.raises(ValueError, match="direction"):
        Tracer(host, sn0, direction="sideways")  # type: ignore[arg-type]
