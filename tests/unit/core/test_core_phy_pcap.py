"""phy.pcap: the writer's bytes, a reader written here, and tcpdump -r when installed."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakedev import LoadSnull, make_dev, mem
from frames import ETH_P_IP, eth_frame, icmp_echo_packet, tcp_packet, udp_packet

from netdrv_core import (
    Host,
    NetDevice,
    alloc_netdev,
    ether_setup,
    fddi_setup,
    hippi_setup,
    ptp_setup,
)
from netdrv_core.linktypes import ARPHRD_AX25, ARPHRD_CSLIP, ARPHRD_LOOPBACK, ltalk_setup, tr_setup
from netdrv_core.phy import PcapFile, PcapWriter, capture, linktype_for
from netdrv_core.phy.pcap import (
    LINKTYPE_AX25,
    LINKTYPE_ETHERNET,
    LINKTYPE_FDDI,
    LINKTYPE_IEEE802_5,
    LINKTYPE_IP_OVER_FC,
    LINKTYPE_LTALK,
    LINKTYPE_RAW,
    LINKTYPE_USER0,
)

TCPDUMP = shutil.which("tcpdump")


# -- an independent reader -------------------------------------------------------------------
@dataclass
class Pcap:
    linktype: int
    snaplen: int
    nanosecond: bool
    records: list[tuple[int, int, int, bytes]]  # (sec, frac, orig_len, data)


def read_pcap(data: bytes) -> Pcap:
    magic = data[:4]
    for endian in "<>":
        m = struct.unpack(endian + "I", magic)[0]
        if m in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        raise AssertionError(f"bad pcap magic {magic.hex()}")
    major, minor, zone, sigfigs, snaplen, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    assert (major, minor, zone, sigfigs) == (2, 4, 0, 0)
    recs = []
    off = 24
    while off < len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off : off + 16])
        off += 16
        body = data[off : off + incl]
        assert len(body) == incl, "truncated record"
        assert incl <= snaplen and incl <= orig
        off += incl
        recs.append((sec, frac, orig, body))
    return Pcap(linktype, snaplen, m == 0xA1B23C4D, recs)


def tcpdump(path: Path) -> list[str]:
    assert TCPDUMP is not None
    res = subprocess.run([TCPDUMP, "-nn", "-r", str(path)], capture_output=True, text=True,
                         timeout=30, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


# -- PcapWriter ---------------------------------------------------------------------------------
def test_global_header_bytes() -> None:
    w = PcapWriter(LINKTYPE_ETHERNET, snaplen=65535)
    assert w.header() == bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000")
    assert PcapWriter(LINKTYPE_RAW, nanosecond=True).header()[:4] == bytes.fromhex("4d3cb2a1")
    assert PcapWriter(LINKTYPE_RAW).header()[20:24] == struct.pack("<I", 101)


def test_record_timestamps_micro_and_nano() -> None:
    ts = 1_700_000_000_123_456_789
    us = PcapWriter().record(b"abc", ts)
    assert struct.unpack("<IIII", us[:16]) == (1_700_000_000, 123_456, 3, 3) and us[16:] == b"abc"
    ns = PcapWriter(nanosecond=True).record(b"abc", ts)
    assert struct.unpack("<IIII", ns[:16]) == (1_700_000_000, 123_456_789, 3, 3)


def test_snaplen_cuts_and_keeps_the_original_length() -> None:
    w = PcapWriter(snaplen=10)
    rec = w.record(bytes(range(30)), 0)
    assert struct.unpack("<IIII", rec[:16])[2:] == (10, 30) and rec[16:] == bytes(range(10))
    assert w.truncated == 1 and w.records == 1
    rec = w.record(b"x" * 5, 0, orig_len=1500)
    assert struct.unpack("<IIII", rec[:16])[2:] == (5, 1500)
    assert w.truncated == 2


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [({"snaplen": 0}, "snaplen"), ({"linktype": -1}, "link type")],
)
def test_writer_argument_errors(kw: dict[str, int], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        PcapWriter(**kw)


def test_stream_splitter_passes_whole_records_only() -> None:
    from netdrv_core.phy.pcap import PcapStreamSplitter

    w = PcapWriter()
    recs = [w.record(bytes([i]) * n, 0) for i, n in enumerate((60, 1514, 0, 300))]
    stream = w.header() + b"".join(recs)
    for cut in range(len(stream) + 1):  # a chunk boundary anywhere, also inside a header
        sp = PcapStreamSplitter()
        out = sp.feed(stream[:cut])
        done = [len(w.header()) + sum(map(len, recs[:k])) for k in range(len(recs) + 1)]
        whole = max((d for d in done if d <= cut), default=0)
        assert out == stream[:whole] and sp.pending == cut - whole, cut
        assert out + sp.feed(stream[cut:]) == stream and sp.pending == 0, cut
    sp = PcapStreamSplitter()
    assert b"".join(sp.feed(stream[i : i + 7]) for i in range(0, len(stream), 7)) == stream


def test_record_argument_errors() -> None:
    w = PcapWriter()
    with pytest.raises(ValueError, match="negative"):
        w.record(b"x", -1)
    with pytest.raises(ValueError, match="shorter"):
        w.record(b"xyz", 0, orig_len=2)


# -- link types -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("setup", "linktype"),
    [(ether_setup, LINKTYPE_ETHERNET), (ptp_setup, LINKTYPE_RAW), (fddi_setup, LINKTYPE_FDDI),
     (tr_setup, LINKTYPE_IEEE802_5), (ltalk_setup, LINKTYPE_LTALK), (hippi_setup, LINKTYPE_USER0),
     (lambda d: ptp_setup(d, ARPHRD_CSLIP), LINKTYPE_RAW),
     (lambda d: ptp_setup(d, ARPHRD_AX25), LINKTYPE_RAW)],  # KISS carrying bare IP
)  # fmt: skip
def test_linktype_per_device_type(setup: Callable[[NetDevice], None], linktype: int) -> None:
    assert linktype_for(alloc_netdev(None, "x", setup)) == linktype


def test_linktype_of_loopback_fc_and_ax25_with_header() -> None:
    from netdrv_core import fc_setup

    lo = alloc_netdev(None, "lo", ether_setup)
    lo.type = ARPHRD_LOOPBACK
    assert linktype_for(lo) == LINKTYPE_ETHERNET
    assert linktype_for(alloc_netdev(None, "fc", fc_setup)) == LINKTYPE_IP_OVER_FC
    ax = alloc_netdev(None, "ax", lambda d: ptp_setup(d, ARPHRD_AX25))
    ax.hard_header_len = 17
    assert linktype_for(ax) == LINKTYPE_AX25


# -- PcapFile ----------------------------------------------------------------------------------------
def test_pcap_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    old = os.umask(0)
    try:
        with PcapFile(path, clock=lambda: 5_000_000_000) as f:
            f.write(b"frame-1")
            f.write(b"frame-2", timestamp_ns=6_000_001_000)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cap = read_pcap(path.read_bytes())
    assert cap.linktype == 1 and not cap.nanosecond
    assert cap.records == [(5, 0, 7, b"frame-1"), (6, 1, 7, b"frame-2")]


def test_an_existing_file_gets_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "old.pcap"
    path.write_bytes(b"previous contents that are longer than a header")
    path.chmod(0o644)
    PcapFile(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 24  # truncated: just the new header


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_bytes(b"keep me")
    link = tmp_path / "link.pcap"
    link.symlink_to(target)
    with pytest.raises(OSError, match="cannot write capture file"):
        PcapFile(link)
    assert target.read_bytes() == b"keep me"


def test_file_object_target_is_not_closed(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    f = PcapFile(buf, LINKTYPE_RAW, clock=lambda: 0)
    f.write(b"\x45" + bytes(19))
    f.close()
    assert not buf.closed
    assert read_pcap(buf.getvalue()).records == [(0, 0, 20, b"\x45" + bytes(19))]
    with pytest.raises(ValueError, match="closed"):
        f.write(b"late")
    f.close()  # twice is fine


# -- capture() on devices -----------------------------------------------------------------------------
HOST_MAC = b"\x02\xaa\xbb\xcc\xdd\xee"


def snull_traffic(host: Host) -> list[bytes]:
    sn0 = host.dev_get_by_name("sn0")
    assert sn0 is not None
    pkts = [
        icmp_echo_packet("198.18.0.1", "198.18.0.2", 7, 1, b"x" * 56),
        tcp_packet("198.18.0.1", "198.18.0.2", 40000, 80, b"hello", flags=0x18),
        udp_packet("198.18.0.1", "198.18.0.2", 5353, 53, b"q" * 30),
    ]
    frames = [eth_frame(sn0.dev_addr, HOST_MAC, ETH_P_IP, p) for p in pkts]
    for f in frames:
        mem(host).send(sn0, f)
    host.loop.run_until_idle()
    return frames


def test_capture_tx_and_rx_of_snull(host: Host, snull: LoadSnull, tmp_path: Path) -> None:
    snull()
    clock = iter(range(1_000_000_000, 2_000_000_000, 1000))
    tx_cap = capture(host, "sn0", tmp_path / "sn0.pcap", clock=lambda: next(clock))
    rx_cap = capture(host, "sn1", tmp_path / "sn1.pcap", nanosecond=True)
    sent = snull_traffic(host)
    arrived = mem(host).received("sn1")
    tx_cap.stop()
    rx_cap.stop()
    assert tx_cap.packets == 3 and rx_cap.packets == 3 and tx_cap.done
    t = read_pcap((tmp_path / "sn0.pcap").read_bytes())
    assert t.linktype == LINKTYPE_ETHERNET and [r[3] for r in t.records] == sent
    assert [(r[0], r[1]) for r in t.records] == [(1, 0), (1, 1), (1, 2)]  # µs from the clock
    r = read_pcap((tmp_path / "sn1.pcap").read_bytes())
    assert r.nanosecond and [rec[3] for rec in r.records] == arrived
    assert all(rec[2] == len(rec[3]) for rec in r.records)
    assert "sn0.pcap" in repr(tx_cap) and "done" in repr(tx_cap)


def test_capture_stops_after_count_and_by_direction(
    host: Host, snull: LoadSnull, tmp_path: Path
) -> None:
    snull()
    cap = capture(host, "sn0", tmp_path / "two.pcap", count=2, direction="tx")
    snull_traffic(host)
    assert cap.done and cap.packets == 2
    assert len(read_pcap((tmp_path / "two.pcap").read_bytes()).records) == 2
    snull_traffic(host)  # the tap is gone
    assert cap.packets == 2
    rx_only = capture(host, "sn0", tmp_path / "rx.pcap", direction="rx")
    snull_traffic(host)  # sn0 only transmits here
    rx_only.stop()
    assert rx_only.packets == 0


def test_a_capture_ends_with_its_device_or_a_failed_write(host: Host, tmp_path: Path) -> None:
    """The capture is done and its file closed, and the host keeps no trace of the tap."""
    dev, _ = make_dev(host, "c%d")
    cap = capture(host, dev, tmp_path / "gone.pcap")
    mem(host).send(dev, bytes(60))
    host.unregister_netdev(dev)
    assert cap.done and cap.pcap.closed and not host._taps and not host._tap_ends
    assert len(read_pcap((tmp_path / "gone.pcap").read_bytes()).records) == 1

    class Full:  # a file system that fills up after the header
        def __init__(self) -> None:
            self.data = b""
            self.full = False

        def write(self, b: bytes) -> int:
            if self.full:
                raise OSError(28, "No space left on device")
            self.data += bytes(b)
            return len(b)

        def flush(self) -> None:
            pass

    dev, _ = make_dev(host, "c%d")
    out = Full()
    cap = capture(host, dev, out)  # type: ignore[arg-type]
    out.full = True
    mem(host).send(dev, bytes(60))  # the write fails: the tap goes, the capture ends
    assert cap.done and not host._taps and not host._tap_ends
    mem(host).send(dev, bytes(60))
    assert dev.core_stats.tx_submitted == 2  # traffic goes on


def test_capture_argument_errors(host: Host, tmp_path: Path) -> None:
    make_dev(host, "c%d")
    with pytest.raises(ValueError, match="no device named 'nope'"):
        capture(host, "nope", tmp_path / "x.pcap")
    with pytest.raises(ValueError, match="direction"):
        capture(host, "c0", tmp_path / "x.pcap", direction="up")
    with pytest.raises(ValueError, match="count"):
        capture(host, "c0", tmp_path / "x.pcap", count=0)


def test_snaplen_in_a_capture(host: Host, snull: LoadSnull, tmp_path: Path) -> None:
    snull()
    with capture(host, "sn1", tmp_path / "snap.pcap", snaplen=40) as cap:
        snull_traffic(host)
    assert cap.done
    recs = read_pcap((tmp_path / "snap.pcap").read_bytes()).records
    assert [len(r[3]) for r in recs] == [40, 40, 40] and all(r[2] > 40 for r in recs)


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed (CI installs it)")
@pytest.mark.parametrize("nanosecond", [False, True])
def test_tcpdump_reads_the_capture(
    host: Host, snull: LoadSnull, tmp_path: Path, nanosecond: bool
) -> None:
    snull()
    path = tmp_path / "sn1.pcap"
    with capture(host, "sn1", path, nanosecond=nanosecond):
        snull_traffic(host)
    lines = tcpdump(path)
    assert len(lines) == 3, lines
    assert "198.18.1.1 > 198.18.1.2: ICMP echo request, id 7, seq 1" in lines[0]
    assert "198.18.1.1.40000 > 198.18.1.2.80: Flags [P.]" in lines[1]
    assert "198.18.1.1.5353 > 198.18.1.2.53" in lines[2]
    assert not any("bad cksum" in ln or "wrong" in ln for ln in lines)


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed (CI installs it)")
def test_tcpdump_reads_raw_ip_of_a_point_to_point_device(host: Host, tmp_path: Path) -> None:
    dev, ops = make_dev(None, "sl%d")
    ptp_setup(dev)
    host.register_netdev(dev)
    host.dev_open(dev)
    path = tmp_path / "sl0.pcap"
    cap = capture(host, dev, path)
    pkt = udp_packet("10.9.0.1", "10.9.0.2", 1111, 2222, b"over a serial line")
    mem(host).send(dev, pkt)
    cap.stop()
    assert ops.sent_bytes == [pkt]
    assert read_pcap(path.read_bytes()).linktype == LINKTYPE_RAW
    (line,) = tcpdump(path)
    assert "IP 10.9.0.1.1111 > 10.9.0.2.2222: UDP, length 18" in line
