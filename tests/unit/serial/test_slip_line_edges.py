"""What the slip driver receives at the edges of the line, against Linux ``slip.c``/``mkiss.c``.

* A frame of at most two bytes is no packet and no error: ``slip_unesc`` (and
  ``mkiss.c``'s ``kiss_unesc``) hand a frame on at END only when ``rcount > 2``.
  Such frames are what line noise between two frames becomes (each frame starts
  with an END to flush it), so they must not count, warn, or make CSLIP's
  decompressor toss the packets after them.
* ``ip link set DEV mtu N`` while a frame is arriving: ``sl_realloc_bufs`` keeps the
  bytes received so far when they fit the new buffer (else ``rx_over_errors`` and
  the frame is skipped up to the next END).  The rest of the frame must not arrive
  as a frame of its own.
"""

from __future__ import annotations

import logging

import pytest
from netdrv_serial import driver as sd
from netdrv_serial.codecs import MODES, SlipDecoder, encode, make_cslip
from slip_helpers import load_slip
from test_slip_linux_limits import counts, tcp, udp

from netdrv_core import Host


def _feed(host: Host, dev, data: bytes) -> None:
    sd._on_data(dev, data)
    host.loop.run_until_idle()


def _all_zero(dev) -> bool:
    s = dev.stats
    return not (s.rx_packets or s.rx_errors or s.rx_frame_errors or s.rx_dropped
                or s.rx_over_errors)  # fmt: skip


# -- frames of one or two bytes ----------------------------------------------------------------
def test_the_codec_can_skip_frames_of_two_bytes_silently() -> None:
    dec = SlipDecoder(296, min_frame=3)
    # Two bytes, one, two once unescaped, then a real frame: only that one is a frame.
    assert dec.feed(b"\xc0\x45\x00\xc0\x00\xc0\xdb\xdc\x01\xc0abc\xc0") == [b"abc"]
    st = dec.stats
    assert (st.frames, st.dropped, st.framing_errors, st.overruns) == (1, 0, 0, 0)
    # The default takes every non-empty frame, as before.
    assert SlipDecoder(296).feed(b"\xc0\x45\xc0") == [b"\x45"]


@pytest.mark.parametrize("noise", [b"\x45", b"\x00", b"\x45\x00", b"\xff", b"\xdb\xdc\x60"])
@pytest.mark.parametrize("mode", ["slip", "cslip", "adaptive"])
def test_a_noise_frame_of_two_bytes_is_no_packet_and_no_error(
    host: Host, unload, caplog, mode: str, noise: bytes
) -> None:
    drv = load_slip(host, port="loop://", mode=mode)
    unload(drv)
    dev = drv.devices[0]
    caplog.set_level(logging.WARNING, logger="netdrv.serial")
    _feed(host, dev, b"\xc0" + noise + b"\xc0")
    assert _all_zero(dev), counts(dev)
    assert host.attachment.received(dev) == []
    assert not [r for r in caplog.records if "not an IP packet" in r.getMessage()]
    ok = udp(84)
    _feed(host, dev, encode(ok))
    assert host.attachment.received(dev) == [ok] and counts(dev) == (1, 0, 0, 0)


def test_kiss_a_frame_of_two_bytes_with_its_command_byte_is_no_packet(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://", mode="kiss")
    unload(drv)
    dev = drv.devices[0]
    _feed(host, dev, b"\xc0\x00\x45\xc0")  # mkiss: rcount 2 (command byte included)
    assert _all_zero(dev) and host.attachment.received(dev) == []


def test_cslip_noise_between_frames_does_not_make_vj_toss(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://", mode="cslip")
    unload(drv)
    dev = drv.devices[0]
    peer, _ = make_cslip()
    pkts = [tcp(1000 + 10 * i, b"y" * 10, ip_id=1 + i) for i in range(3)]
    wire = [peer.encode(p) for p in pkts]
    assert wire[1][1] & 0x80 and not wire[1][1] & 0x40  # compressed, the slot implicit
    _feed(host, dev, wire[0])
    _feed(host, dev, b"\xff" + wire[1])  # a noise byte before the frame's leading END
    _feed(host, dev, b"\x45" + wire[2])
    assert host.attachment.received(dev) == pkts
    assert counts(dev) == (3, 0, 0, 0) and dev.stats.rx_dropped == 0


# -- an MTU change while a frame arrives -------------------------------------------------------
def test_the_codec_adopts_a_partial_frame_and_an_overrun_being_skipped() -> None:
    old = SlipDecoder(100)
    old.feed(b"\xc0abc\xdb")
    new = SlipDecoder(200)
    assert not new.adopt(old)
    assert new.feed(b"\xdcdef\xc0") == [b"abc\xc0def"]
    # A frame already being skipped as an overrun stays skipped, counted once.
    old.feed(b"\xc0" + b"x" * 201)
    assert old.partial is None and old.stats.overruns == 1
    new = SlipDecoder(200)
    assert not new.adopt(old)
    assert new.feed(b"yyy\xc0ok!\xc0") == [b"ok!"] and new.stats.overruns == 0
    # One longer than the new buffer is an overrun now.
    old = SlipDecoder(200)
    old.feed(b"\xc0" + b"z" * 150)
    new = SlipDecoder(50)
    assert new.adopt(old) and new.stats.overruns == 1
    assert new.feed(b"zz\xc0ok!\xc0") == [b"ok!"]


@pytest.mark.parametrize("mode", ["slip", "cslip", "adaptive", "kiss", "plip"])
def test_a_frame_arriving_across_an_mtu_change_is_received_whole(
    host: Host, unload, mode: str
) -> None:
    drv = load_slip(host, port="loop://", mode=mode)
    unload(drv)
    dev = drv.devices[0]
    enc, _ = MODES[mode](mtu=1500)
    pkt = udp(200)
    wire = enc.encode(pkt)
    _feed(host, dev, wire[:100])
    assert host.dev_set_mtu(dev, 1000) == 0
    _feed(host, dev, wire[100:])
    assert host.attachment.received(dev) == [pkt]
    assert counts(dev) == (1, 0, 0, 0)


def test_a_compressed_packet_across_an_mtu_change_is_decompressed(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://", mode="cslip")
    unload(drv)
    dev = drv.devices[0]
    peer, _ = make_cslip()
    pkts = [tcp(1000 + 100 * i, bytes(range(100)), ip_id=1 + i) for i in range(3)]
    wire = [peer.encode(p) for p in pkts]
    _feed(host, dev, wire[0])
    _feed(host, dev, wire[1][:40])
    assert host.dev_set_mtu(dev, 576) == 0
    _feed(host, dev, wire[1][40:] + wire[2])
    assert host.attachment.received(dev) == pkts
    assert counts(dev) == (3, 0, 0, 0) and dev.stats.rx_dropped == 0


def test_a_partial_frame_too_long_for_the_new_buffer_is_an_overrun(host: Host, unload) -> None:
    drv = load_slip(host, port="loop://", mtu="1500")
    unload(drv)
    dev = drv.devices[0]
    wire = encode(udp(2000))  # within the 3000-byte buffer of mtu 1500
    _feed(host, dev, wire[:1800])  # escaped: 1800 bytes may hold more than 1152
    assert host.dev_set_mtu(dev, 296) == 0  # a buffer of 1152 bytes
    _feed(host, dev, wire[1800:])
    # sl_realloc_bufs: rx_over_errors, and the rest of the frame is skipped.
    assert host.attachment.received(dev) == []
    assert dev.stats.rx_over_errors == 1 and dev.stats.rx_packets == 0
    assert dev.stats.rx_frame_errors == 0
    ok = udp(84)
    _feed(host, dev, encode(ok))
    assert host.attachment.received(dev) == [ok]


# -- a line reopened after a loss --------------------------------------------------------------
def test_a_reopened_cslip_line_starts_each_tcp_connection_uncompressed(host: Host, unload) -> None:
    # The far end may have restarted while the line was down (its decompressor empty):
    # a compressed packet would be tossed there until TCP retransmits.
    drv = load_slip(host, port="loop://", mode="cslip")
    unload(drv)
    dev = drv.devices[0]
    enc = sd._priv(dev).encoder
    first = enc.encode(tcp(1000, b"a" * 10, ip_id=1))
    second = enc.encode(tcp(1010, b"b" * 10, ip_id=2))
    assert first[1] & 0xF0 == 0x70 and second[1] & 0x80  # UNCOMPRESSED_TCP, then compressed
    sd._on_lost(dev, OSError("the cable was pulled"))
    assert host.loop.run_until(lambda: sd._priv(dev).reconnects == 1, 5)
    again = sd._priv(dev).encoder.encode(tcp(1020, b"c" * 10, ip_id=3))
    assert again[1] & 0xF0 == 0x70  # UNCOMPRESSED_TCP: the peer can take it whatever it lost
