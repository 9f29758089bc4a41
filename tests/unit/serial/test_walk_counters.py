"""The slip driver's device counters against Linux ``slip.c`` (``sl_get_stats64``), on loop://.

loop:// hands back what the driver writes, so a packet sent is also received;
line garbage and a peer's CSLIP frames are written to the port directly.
"""

from __future__ import annotations

import struct

import pytest
from netdrv_serial.codecs import make_cslip
from slip_helpers import inet_csum, load_slip

from netdrv_core import Host, PluginManager
from netdrv_core.params import parse_params


def _tcp(seq: int, data: bytes = b"x" * 40, ip_id: int = 1) -> bytes:
    """One segment of a bulk TCP transfer 198.18.5.1:40000 -> 198.18.5.2:5001."""
    src, dst = bytes([198, 18, 5, 1]), bytes([198, 18, 5, 2])
    seg = struct.pack("!HHIIBBHHH", 40000, 5001, seq, 7000, 5 << 4, 0x10, 8192, 0, 0) + data
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", inet_csum(pseudo + seg)) + seg[18:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), ip_id, 0x4000, 64, 6, 0, src, dst)
    return hdr[:10] + struct.pack("!H", inet_csum(hdr)) + hdr[12:] + seg


def _stream(n: int) -> list[bytes]:
    return [_tcp(1000 + 40 * i, ip_id=1 + i) for i in range(n)]


def _ethtool(dev) -> dict[str, int]:
    ops = dev.ethtool_ops
    return dict(zip(ops.get_strings(dev), ops.get_ethtool_stats(dev), strict=True))


def _line(host: Host, dev, data: bytes) -> None:
    """Put ``data`` on the line (loop:// hands it back as received bytes) and wait for it."""
    before = _ethtool(dev)["line_bytes_in"]
    dev.priv.port.write(data, None)
    assert host.loop.run_until(lambda: _ethtool(dev)["line_bytes_in"] >= before + len(data), 5)


def test_walk_bad_escape_is_one_frame_error_not_two(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://")
    unload(drv)
    dev = drv.devices[0]
    _line(host, dev, b"\xc0\x45\xdb\x41\x00\xc0")  # ESC followed by neither ESC_END nor ESC_ESC
    st = _ethtool(dev)
    assert st["rx_escape_errors"] == 1 and st["rx_framing_errors"] == 1
    # One bad frame: one frame error, one error (an escape error *is* a framing error).
    assert dev.stats.rx_frame_errors == 1
    assert dev.stats.rx_errors == 1


def test_walk_cslip_reports_rx_and_tx_compressed(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://", mode="cslip")
    unload(drv)
    dev = drv.devices[0]
    pkts = _stream(5)
    for p in pkts:
        host.attachment.send(dev, p)
    assert host.loop.run_until(lambda: dev.stats.rx_packets == 5, timeout=5)
    host.loop.run_until_idle()
    assert host.attachment.received(dev) == pkts
    st = _ethtool(dev)
    assert st["tx_compressed"] == 4 and st["rx_compressed"] == 4  # the first went uncompressed
    # sl_get_stats64: rx_compressed/tx_compressed are slhc's sls_i/o_compressed.
    assert dev.stats.tx_compressed == 4
    assert dev.stats.rx_compressed == 4


def test_walk_tossed_vj_packets_are_rx_dropped_not_errors(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://", mode="cslip")
    unload(drv)
    dev = drv.devices[0]
    peer, _ = make_cslip()
    w = [peer.encode(p) for p in _stream(3)]
    _line(host, dev, w[0])  # uncompressed: sets the slot up
    _line(host, dev, b"\xc0\x45\xdb\x41\xc0")  # a frame lost to line noise
    _line(host, dev, w[1])  # compressed: cannot be trusted now, tossed
    st = _ethtool(dev)
    assert st["rx_tossed"] == 1 and st["rx_framing_errors"] == 1
    assert dev.stats.rx_packets == 1
    # sl_get_stats64 adds sls_i_tossed to rx_dropped; the one bad frame is the one error.
    assert dev.stats.rx_dropped == 1
    assert dev.stats.rx_errors == 1 and dev.stats.rx_frame_errors == 1


def test_walk_a_padded_uncompressed_tcp_frame_is_taken_as_linux_takes_it(
    host: Host, unload
) -> None:
    # A peer (or its UART) that pads a frame: slhc_remember does not compare the IP total
    # length with the frame's size, so the packet goes up (IP trims the padding) and its
    # header is remembered for the compressed packets that follow.
    from netdrv_serial.codecs import SlipEncoder, cslip_encode_packet

    drv = load_slip(host, port="loop://", mode="cslip")
    unload(drv)
    dev = drv.devices[0]
    peer, _ = make_cslip()
    pkts = _stream(3)
    first = cslip_encode_packet(peer.vj, pkts[0])  # UNCOMPRESSED_TCP, slot 0
    _line(host, dev, SlipEncoder(1500).encode(first + b"\0\0"))  # padded
    for p in pkts[1:]:
        _line(host, dev, peer.encode(p))
    assert host.loop.run_until(lambda: dev.stats.rx_packets == 3, 5)
    host.loop.run_until_idle()
    assert host.attachment.received(dev) == [pkts[0] + b"\0\0", *pkts[1:]]
    st = _ethtool(dev)
    assert st["rx_uncompressed"] == 1 and st["rx_compressed"] == 2 and st["rx_tossed"] == 0
    assert dev.stats.rx_packets == 3
    assert dev.stats.rx_errors == dev.stats.rx_frame_errors == dev.stats.rx_dropped == 0


def test_walk_mtu_change_keeps_codec_counters_and_vj_state(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://", mode="cslip")
    unload(drv)
    dev = drv.devices[0]
    pkts = _stream(4)
    for p in pkts[:2]:
        host.attachment.send(dev, p)
    assert host.loop.run_until(lambda: dev.stats.rx_packets == 2, timeout=5)
    # A peer's compressor, in step with our decompressor before the change.
    peer, _ = make_cslip()
    _line(host, dev, peer.encode(_tcp(5000, ip_id=50)))
    assert dev.stats.rx_packets == 3
    assert host.dev_set_mtu(dev, 1006) == 0
    assert dev.mtu == 1006
    # The counters carry on ...
    st = _ethtool(dev)
    assert st["rx_frames"] == 3 and st["tx_frames"] == 2
    assert st["tx_uncompressed"] == 1 and st["tx_compressed"] == 1
    # ... and so does the VJ state (sl_change_mtu keeps sl->slcomp): the peer's next
    # compressed packet is decompressed, not tossed, and ours goes out compressed.
    _line(host, dev, peer.encode(_tcp(5040, ip_id=51)))
    for p in pkts[2:]:
        host.attachment.send(dev, p)
    assert host.loop.run_until(lambda: dev.stats.rx_packets == 6, timeout=5)
    host.loop.run_until_idle()
    st = _ethtool(dev)
    assert st["rx_tossed"] == 0
    assert st["rx_frames"] == 6 and st["tx_frames"] == 4
    assert st["tx_uncompressed"] == 1 and st["tx_compressed"] == 3
    assert dev.stats.tx_compressed == 3


def test_walk_a_peer_in_another_mode_shows_as_frame_errors(host: Host, unload, caplog) -> None:
    drv = load_slip(host, port="loop://", mode="slip")
    unload(drv)
    dev = drv.devices[0]
    peer, _ = make_cslip()
    caplog.set_level("WARNING", logger="netdrv.serial")
    for p in _stream(3):  # a CSLIP peer: UNCOMPRESSED_TCP, then COMPRESSED_TCP frames
        _line(host, dev, peer.encode(p))
    host.loop.run_until_idle()
    # Clean SLIP frames, but no IP packets: nothing goes up, each is a frame error
    # (the interface carries IP only), and the log says what the peer is doing.
    assert dev.stats.rx_packets == 0 and host.attachment.received(dev) == []
    assert dev.stats.rx_frame_errors == 3 and dev.stats.rx_errors == 3
    warnings = [r.getMessage() for r in caplog.records if "not an IP packet" in r.getMessage()]
    assert len(warnings) == 1 and "mode=cslip" in warnings[0]


def test_walk_xonxoff_is_refused_because_it_corrupts_binary_frames(host: Host) -> None:
    from netdrv_core import ParameterError

    pm = PluginManager()
    params = parse_params("slip", pm.driver_parameters("slip"), {"port": "loop://", "xonxoff": "1"})
    drv = pm.get_driver("slip")(host, params)
    # The tty would swallow every 0x11/0x13 of a frame (and stop output on 0x13):
    # a link that loads but loses most packets.  The load fails and says what to use.
    with host.as_current(), pytest.raises(ParameterError, match=r"xonxoff=1.*use rtscts=1"):
        drv.init()
    assert drv.devices == []


def test_walk_a_plip_end_says_when_only_garbage_arrives(host: Host, unload, caplog) -> None:
    from netdrv_serial.codecs import MODES

    drv = load_slip(host, port="loop://", mode="plip")
    unload(drv)
    dev = drv.devices[0]
    peer, _ = MODES["slip"](mtu=1500)
    caplog.set_level("WARNING", logger="netdrv.serial")
    for _ in range(8):  # a SLIP peer's pings: not one PLIP sync pair among them
        _line(host, dev, peer.encode(_tcp(1000, b"p" * 56)))
    host.loop.run_until_idle()
    # No device counter moves (hunting for a sync pair is not an error) — so the log
    # says, once, that nothing that arrives is a frame.
    assert dev.stats.rx_packets == 0 and dev.stats.rx_errors == 0
    warned = [r.getMessage() for r in caplog.records if "not one PLIP frame" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "another mode= or baud=" in warned[0] and "rx_garbage_bytes" in warned[0]
