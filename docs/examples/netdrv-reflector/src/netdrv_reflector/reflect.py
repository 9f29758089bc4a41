"""Turn a frame into the answer a remote host would send — in place, without I/O.

:func:`reflect` rewrites an Ethernet frame in its own buffer:

* an ARP request "who has X?" becomes the reply "X is at ``peer_mac``";
* an ICMP echo request becomes the echo reply from the address it was sent to;
* a UDP datagram comes back from the address and port it was sent to.

Every answer is exactly as long as the question, so the driver can hand the
same skb back up the stack (as Linux ``loopback.c`` does): no copy.  Swapping
source and destination addresses and ports keeps the UDP checksum valid (the
one's-complement sum does not depend on the order); the ICMP type change is an
RFC 1624 incremental update; the IPv4 header checksum is recomputed because
the TTL is reset.  Anything else is left untouched and ``None`` returned.

Pure functions of bytes: the unit tests feed it frames directly.
"""

from __future__ import annotations

from netdrv_core.checksum import csum_replace2, ip_fast_csum

__all__ = ["ETH_P_ARP", "ETH_P_IP", "reflect"]

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
IPPROTO_ICMP = 1
IPPROTO_UDP = 17
ICMP_ECHO = 8
ICMP_ECHOREPLY = 0
ARP_REQUEST = 1
ARP_REPLY = 2
TTL = 64


def _swap(buf: bytearray | memoryview, a: int, b: int, n: int) -> None:
    tmp = bytes(buf[a : a + n])
    buf[a : a + n] = buf[b : b + n]
    buf[b : b + n] = tmp


def _reflect_arp(f: bytearray | memoryview, peer_mac: bytes) -> str | None:
    # htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4, oper 1 (request)
    if len(f) < 42 or bytes(f[14:22]) != b"\x00\x01\x08\x00\x06\x04\x00\x01":
        return None
    sha, spa, tpa = bytes(f[22:28]), bytes(f[28:32]), bytes(f[38:42])
    if spa == tpa or tpa == b"\0\0\0\0":  # gratuitous ARP, or a probe: nobody to answer for
        return None
    f[21] = ARP_REPLY
    f[22:28] = peer_mac  # sender: "tpa is at peer_mac"
    f[28:32] = tpa
    f[32:38] = sha  # target: whoever asked
    f[38:42] = spa
    f[0:6] = sha
    f[6:12] = peer_mac
    return "arp"


def _reflect_ipv4(f: bytearray | memoryview, peer_mac: bytes, udp: bool) -> str | None:
    if len(f) < 34 or f[14] >> 4 != 4:
        return None
    ihl = (f[14] & 0x0F) * 4
    total = int.from_bytes(f[16:18], "big")
    ip = 14
    if ihl < 20 or total < ihl or ip + total > len(f) or ip_fast_csum(f[ip : ip + ihl]) != 0:
        return None  # malformed or corrupt: a host would drop it
    if int.from_bytes(f[20:22], "big") & 0x3FFF:
        return None  # a fragment: reassembly is not this example's business
    l4 = ip + ihl
    proto = f[23]
    if proto == IPPROTO_ICMP and total - ihl >= 8 and f[l4] == ICMP_ECHO and f[l4 + 1] == 0:
        f[l4] = ICMP_ECHOREPLY
        check = int.from_bytes(f[l4 + 2 : l4 + 4], "big")
        f[l4 + 2 : l4 + 4] = csum_replace2(check, ICMP_ECHO << 8, ICMP_ECHOREPLY << 8).to_bytes(
            2, "big"
        )
        kind = "icmp"
    elif proto == IPPROTO_UDP and udp and total - ihl >= 8:
        _swap(f, l4, l4 + 2, 2)  # ports
        kind = "udp"
    else:
        return None
    _swap(f, 26, 30, 4)  # source and destination address
    f[22] = TTL
    f[24:26] = b"\0\0"
    f[24:26] = ip_fast_csum(f[ip : ip + ihl]).to_bytes(2, "big")
    dst = bytes(f[0:6])
    f[0:6] = f[6:12]
    f[6:12] = dst if not dst[0] & 1 else peer_mac  # answer from the MAC that was addressed
    return kind


def reflect(frame: bytearray | memoryview, peer_mac: bytes, *, udp: bool = True) -> str | None:
    """Rewrite ``frame`` (an Ethernet frame) into its answer; return ``"arp"``, ``"icmp"``,
    ``"udp"``, or ``None`` (frame unchanged) when there is nothing to answer."""
    if len(frame) < 14:
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == ETH_P_ARP:
        return _reflect_arp(frame, peer_mac)
    if ethertype == ETH_P_IP:
        return _reflect_ipv4(frame, peer_mac, udp)
    return None
