"""The reflector: its pure frame rewriting, then the driver on netdrv's memory stack."""

from __future__ import annotations

import pytest
from netdrv_reflector.reflect import reflect

from netdrv_core import Host
from netdrv_core.checksum import csum_partial, csum_tcpudp_magic, ip_compute_csum, ip_fast_csum
from netdrv_core.testing.conformance import arp_request, ethernet_frame, ipv4_icmp_echo, ipv4_udp

ME = b"\x02\x00\x00\x00\x00\x01"
PEER = b"\x02\x52\x46\x4c\x00\xfe"
A = bytes([198, 51, 100, 1])
B = bytes([198, 51, 100, 7])


def udp_ok(frame: bytes) -> bool:
    ip = frame[14:34]
    udp = frame[34:]
    return csum_tcpudp_magic(ip[12:16], ip[16:20], len(udp), 17, csum_partial(udp)) == 0


def test_arp_request_becomes_reply_from_peer_mac() -> None:
    f = bytearray(arp_request(ME, A, B))
    assert reflect(f, PEER) == "arp"
    assert f[0:6] == ME and f[6:12] == PEER and f[12:14] == b"\x08\x06"
    assert f[20:22] == b"\x00\x02"  # reply
    assert f[22:28] == PEER and f[28:32] == B  # B is at PEER
    assert f[32:38] == ME and f[38:42] == A  # to the asker


def test_gratuitous_arp_is_not_answered() -> None:
    f = bytearray(arp_request(ME, A, A))
    assert reflect(f, PEER) is None and bytes(f) == arp_request(ME, A, A)


def test_ping_becomes_echo_reply_with_valid_checksums() -> None:
    req = ethernet_frame(PEER, ME, 0x0800, ipv4_icmp_echo(A, B, 84, ident=7, seq=3))
    f = bytearray(req)
    assert reflect(f, PEER) == "icmp"
    assert f[0:6] == ME and f[6:12] == PEER
    assert f[26:30] == B and f[30:34] == A  # from B to A
    assert f[34] == 0 and f[38:42] == req[38:42]  # echo reply, same id/seq
    assert ip_fast_csum(f[14:34]) == 0 and ip_compute_csum(f[34:]) == 0
    assert len(f) == len(req) and f[42:] == req[42:]


def test_udp_is_echoed_with_ports_swapped_and_checksum_still_valid() -> None:
    req = ethernet_frame(b"\xff" * 6, ME, 0x0800, ipv4_udp(A, B, 200, ident=1, dport=7))
    f = bytearray(req)
    assert reflect(f, PEER) == "udp"
    assert f[6:12] == PEER, "a broadcast is answered from the peer MAC"
    assert f[34:36] == req[36:38] and f[36:38] == req[34:36]
    assert udp_ok(bytes(f)) and ip_fast_csum(f[14:34]) == 0
    assert reflect(bytearray(req), PEER, udp=False) is None


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00" * 13,
        ethernet_frame(PEER, ME, 0x86DD, b"\x60" + b"\0" * 39),  # IPv6
        ethernet_frame(PEER, ME, 0x0800, b"\x45" + b"\0" * 10),  # truncated IPv4
    ],
)
def test_what_it_cannot_answer_is_left_alone(frame: bytes) -> None:
    f = bytearray(frame)
    assert reflect(f, PEER) is None and bytes(f) == frame


def test_corrupt_ipv4_header_is_not_answered() -> None:
    f = bytearray(ethernet_frame(PEER, ME, 0x0800, ipv4_icmp_echo(A, B, 64)))
    f[22] ^= 0xFF  # TTL changed, checksum not updated
    assert reflect(f, PEER) is None


def test_the_driver_answers_a_ping_on_the_memory_stack(netdrv_load, netdrv_host: Host) -> None:
    drv = netdrv_load("reflector")
    drv.configure()  # what `netdrv load` does after init: the address, link up
    (dev,) = drv.devices
    assert dev.name == "refl0" and dev.is_up
    assert netdrv_host.attachment.addresses["refl0"] == [("198.51.100.1/24", None)]
    stack = netdrv_host.attachment
    stack.send(dev, ethernet_frame(PEER, dev.dev_addr, 0x0800, ipv4_icmp_echo(A, B, 84)))
    stack.send(dev, arp_request(dev.dev_addr, A, B))
    stack.send(dev, ethernet_frame(PEER, dev.dev_addr, 0x86DD, b"\x60" + b"\0" * 39))
    netdrv_host.loop.run_until_idle()
    got = stack.received(dev)
    assert [g[12:14] for g in got] == [b"\x08\x00", b"\x08\x06"]
    assert got[0][34] == 0 and got[0][26:30] == B
    s = dev.stats
    assert (s.tx_packets, s.rx_packets, s.tx_dropped) == (3, 2, 0)
    assert dev.ethtool_ops.get_ethtool_stats(dev)[:4] == [1, 1, 0, 1]  # arp icmp udp ignored


def test_rate_limit_drops_and_counts_what_exceeds_it(netdrv_load, netdrv_host: Host) -> None:
    now = [1000.0]
    netdrv_host.loop.clock = lambda: now[0]  # a clock the test moves
    drv = netdrv_load("reflector", rate=5)
    (dev,) = drv.devices
    netdrv_host.attachment.up(dev)
    frame = ethernet_frame(PEER, dev.dev_addr, 0x0800, ipv4_icmp_echo(A, B, 84))

    def burst(n: int) -> None:
        for _ in range(n):
            netdrv_host.attachment.send(dev, frame)
        netdrv_host.loop.run_until_idle()

    burst(8)
    assert (dev.stats.tx_packets, dev.stats.tx_dropped) == (5, 3)
    now[0] += 0.5  # 2.5 more tokens
    burst(3)
    assert (dev.stats.tx_packets, dev.stats.tx_dropped) == (7, 4)
    assert dev.core_stats.tx_submitted == 11


def test_bad_parameters_are_refused(netdrv_load) -> None:
    from netdrv_core import ParameterError

    with pytest.raises(ParameterError, match="addr"):
        netdrv_load("reflector", addr="not-an-address")
    with pytest.raises(ParameterError, match="peer_mac"):
        netdrv_load("reflector", peer_mac="01:00:5e:00:00:01")
