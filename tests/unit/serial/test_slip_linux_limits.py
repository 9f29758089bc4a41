"""The slip driver receives what Linux ``slip.c``/``mkiss.c`` receive, and counts transmit
failures as Linux counts them.

* ``slip.c`` receives into a buffer of ``max(2 * mtu, 1152)`` bytes (``sl_alloc_bufs``,
  ``sl_realloc_bufs``) and counts a longer frame in ``rx_over_errors``: a frame longer
  than the MTU but within that buffer is a packet, not an error.  ``sl_bump`` keeps 80
  bytes of it free to decompress a VJ packet into.  ``mkiss.c`` sizes its buffer alike,
  the KISS command byte included; ``plip.c`` refuses a length above the MTU.
* A packet offered while the carrier is off is a carrier error, which is part of
  ``tx_errors`` (``rtnl_link_stats64``), and ends there, once.
"""

from __future__ import annotations

import struct

import pytest
from slip_helpers import IP, inet_csum, load_slip

from netdrv_core import Host, netif_carrier_ok

ACK = 0x10
SRC, DST = bytes([198, 18, 5, 2]), bytes([198, 18, 5, 1])


def ipv4(proto: int, payload: bytes, ip_id: int = 1) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ip_id, 0x4000, 64, proto, 0,
                      SRC, DST)  # fmt: skip
    return hdr[:10] + struct.pack("!H", inet_csum(hdr)) + hdr[12:] + payload


def udp(total: int) -> bytes:
    """An IPv4/UDP packet of ``total`` bytes (no UDP checksum)."""
    n = total - 28
    return ipv4(17, struct.pack("!HHHH", 7359, 7359, 8 + n, 0) + bytes(range(256)) * (n // 256)
                + bytes(n % 256))  # fmt: skip


def tcp(seq: int, data: bytes, ip_id: int) -> bytes:
    """An IPv4/TCP ACK segment with a correct checksum."""
    seg = struct.pack("!HHIIBBHHH", 40000, 7359, seq, 1, 0x50, ACK, 8192, 0, 0) + data
    pseudo = SRC + DST + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", inet_csum(pseudo + seg)) + seg[18:]
    return ipv4(6, seg, ip_id)


def feed(host: Host, dev, wire: bytes, byte_at_a_time: bool = False) -> None:
    from netdrv_serial import driver as sd

    chunks = [wire[i : i + 1] for i in range(len(wire))] if byte_at_a_time else [wire]
    for c in chunks:
        sd._on_data(dev, c)
    host.loop.run_until_idle()


def counts(dev) -> tuple[int, int, int, int]:
    s = dev.stats
    return s.rx_packets, s.rx_over_errors, s.rx_errors, s.rx_frame_errors


# -- item: frames up to slip.c's receive buffer ----------------------------------------------
@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_slip_takes_frames_up_to_twice_the_mtu_or_1152_bytes(host: Host, byte_at_a_time) -> None:
    from netdrv_serial.codecs import encode

    drv = load_slip(host, port="loop://")  # mtu 296: slip.c's buffer is 576 * 2 bytes
    dev = drv.devices[0]
    assert dev.mtu == 296
    big = udp(1152)  # within the buffer: a packet, as slip.c delivers it
    feed(host, dev, encode(big), byte_at_a_time)
    assert host.attachment.received(dev) == [big]
    assert counts(dev) == (1, 0, 0, 0)
    # One byte more than the buffer: rcount >= buffsize, rx_over_errors, frame dropped.
    feed(host, dev, encode(udp(1153)), byte_at_a_time)
    assert counts(dev) == (1, 1, 1, 0)
    small = udp(84)  # the next frame is fine
    feed(host, dev, encode(small), byte_at_a_time)
    assert host.attachment.received(dev) == [small] and counts(dev) == (2, 1, 1, 0)
    with host.as_current():
        drv.exit()


def test_the_receive_limit_follows_the_mtu(host: Host) -> None:
    from netdrv_serial.codecs import encode

    drv = load_slip(host, port="loop://", mtu="1000")
    dev = drv.devices[0]
    feed(host, dev, encode(udp(2000)))  # 2 * mtu
    feed(host, dev, encode(udp(2001)))
    assert counts(dev) == (1, 1, 1, 0)
    # ip link set sl0 mtu 700: sl_realloc_bufs -> a buffer of 1400 bytes.
    assert dev.netdev_ops.change_mtu(dev, 700) == 0
    feed(host, dev, encode(udp(1400)))
    feed(host, dev, encode(udp(1401)))
    assert counts(dev) == (2, 2, 2, 0)
    with host.as_current():
        drv.exit()


def test_kiss_takes_frames_up_to_mkiss_buffer_command_byte_included(host: Host) -> None:
    from netdrv_serial.codecs import KissEncoder

    drv = load_slip(host, port="loop://", mode="kiss")  # mtu 256: a buffer of 1152 bytes
    dev = drv.devices[0]
    enc = KissEncoder(mtu=65535)
    big = udp(1151)  # + the command byte = 1152
    feed(host, dev, enc.encode(big))
    assert host.attachment.received(dev) == [big] and counts(dev) == (1, 0, 0, 0)
    feed(host, dev, enc.encode(udp(1152)))
    assert counts(dev) == (1, 1, 1, 0)
    with host.as_current():
        drv.exit()


@pytest.mark.parametrize("mode", ["cslip", "adaptive"])
def test_cslip_takes_what_slip_c_takes_and_keeps_room_to_decompress(host: Host, mode) -> None:
    from netdrv_serial.codecs import VJCompressor, cslip_encode_packet, encode

    drv = load_slip(host, port="loop://", mode=mode)
    dev = drv.devices[0]
    big_ip = udp(1152)  # TYPE_IP: a plain frame, up to the buffer
    feed(host, dev, encode(big_ip))
    assert host.attachment.received(dev) == [big_ip] and counts(dev) == (1, 0, 0, 0)
    comp = VJCompressor()
    first = tcp(1, b"x" * 10, ip_id=1)  # UNCOMPRESSED_TCP: the connection's state
    wire = cslip_encode_packet(comp, first)
    assert wire[0] >> 4 == 7
    feed(host, dev, encode(wire))
    # COMPRESSED_TCP: 3 bytes of VJ header + the payload; slip.c takes it when
    # count + 80 <= buffsize and decompresses it into a packet above the MTU.
    second = tcp(11, bytes(1069), ip_id=2)
    wire = cslip_encode_packet(comp, second)
    assert wire[0] & 0x80 and len(wire) + 80 == 1152
    feed(host, dev, encode(wire))
    assert host.attachment.received(dev) == [first, second]
    assert counts(dev) == (3, 0, 0, 0)
    # One byte more: no room left to decompress into -> rx_over_errors (sl_bump).
    wire = cslip_encode_packet(comp, tcp(1080, bytes(1070), ip_id=3))
    assert wire[0] & 0x80 and len(wire) + 80 == 1153
    feed(host, dev, encode(wire))
    assert counts(dev) == (3, 1, 1, 0)
    with host.as_current():
        drv.exit()


def test_plip_still_refuses_a_length_above_the_mtu(host: Host) -> None:
    # plip.c: a length above mtu + hard_header_len is "bogus packet size"; this framing
    # carries no Ethernet header, so the MTU is the limit.
    from netdrv_serial.codecs import PlipEncoder

    drv = load_slip(host, port="loop://", mode="plip", mtu="296")
    dev = drv.devices[0]
    enc = PlipEncoder(max_frame=65535)
    feed(host, dev, enc.encode(udp(296)) + enc.encode(udp(297)))
    assert counts(dev) == (1, 0, 1, 1)
    with host.as_current():
        drv.exit()


def test_linux_rx_options_per_mode() -> None:
    from netdrv_serial.codecs import MODES, linux_rx, rx_buffer_size

    assert [rx_buffer_size(m) for m in (68, 296, 576, 577, 1500)] == [1152, 1152, 1152, 1154, 3000]
    for mode in ("slip", "kiss", "cslip", "adaptive"):
        _, dec = MODES[mode](mtu=1500, **linux_rx(mode, 1500))
        # The decoder's buffer bound grows with it: still bounded, by twice the limit.
        dec.feed(b"\x01" * 6000)
        assert dec.buffered == 6000 and dec.stats.overruns == 0
        dec.feed(b"\x01")
        assert dec.buffered == 0 and dec.stats.overruns == 1
    assert linux_rx("plip", 1500) == {}


# -- item: a packet offered without carrier -------------------------------------------------


def test_a_packet_offered_without_carrier_is_dropped_by_the_core_counted_once(host: Host) -> None:
    from netdrv_serial import driver as sd

    drv = load_slip(host, port="loop://", keepalive="100")
    dev = drv.devices[0]
    dev.priv.last_rx = -1e9
    sd._keepalive(dev)  # nothing received for `keepalive` seconds: carrier off
    assert not netif_carrier_ok(dev)
    host.attachment.send(dev, IP)
    host.loop.run_until_idle()
    s, c = dev.stats, dev.core_stats
    # As Linux (linkwatch's dev_deactivate: noop_qdisc), the core drops it before start_xmit
    # and counts it once, in tx_qdisc_drops: no carrier error of the driver's.
    assert (s.tx_errors, s.tx_carrier_errors, s.tx_dropped, s.tx_packets) == (0, 0, 0, 0)
    assert (c.tx_submitted, c.tx_qdisc_drops) == (0, 1)
    with host.as_current():
        drv.exit()


# -- item: keepalive and outfill fit slip.c's unsigned char --------------------------------------
@pytest.mark.parametrize("param", ["keepalive", "outfill"])
def test_keepalive_and_outfill_above_255_seconds_are_refused_as_slip_c_does(param: str) -> None:
    from netdrv_core import PluginManager
    from netdrv_core.errors import ParameterError
    from netdrv_core.params import parse_params

    pm = PluginManager()
    params = pm.driver_parameters("slip")
    assert parse_params("slip", params, {"port": "loop://", param: "255"})[param] == 255
    with pytest.raises(ParameterError, match=rf"{param}: must be 0\.\.255"):
        parse_params("slip", params, {"port": "loop://", param: "256"})
