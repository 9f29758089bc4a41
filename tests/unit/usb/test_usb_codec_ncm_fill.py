"""``NtbEncoder.fill`` (one call per NTB) and the CDC-NCM ``tx_fixup`` built on it: the same
NTBs as ``add`` one datagram at a time, and every frame either in an NTB or dropped and
counted."""

from __future__ import annotations

from typing import Any

import pytest
from netdrv_usbnet.cdc_ncm import CdcNcm
from netdrv_usbnet.codecs import FramingError, NtbDecoder, NtbEncoder, NtbParameters

ENCODERS: dict[str, dict[str, Any]] = {
    "default": {},
    "few datagrams": {"max_datagrams": 3},
    "divisor 16 remainder 2": {  # not shift-free: add() lays the NTB out again per datagram
        "params": NtbParameters(wNdpOutDivisor=16, wNdpOutPayloadRemainder=2)
    },
    "ndp at end": {"ndp_at_end": True},
    "ntb32": {"ntb32": True, "params": NtbParameters(bmNtbFormatsSupported=3)},
    "padded to max": {"max_packet": 512, "min_tx_pkt": 4096},
}
SIZES = [60, 1514, 14, 900, 1514, 1514, 333, 1514, 1514, 1514, 1514, 1514, 1514, 1514, 64,
         1514, 1514, 1514, 1514, 1514, 1514, 1514, 1514, 1514, 1514, 1514, 1514, 17]  # fmt: skip


def _frames(sizes: list[int]) -> list[bytes]:
    return [bytes([i & 0xFF]) * n for i, n in enumerate(sizes)]


def _one_by_one(enc: NtbEncoder, frames: list[bytes]) -> list[bytes]:
    out = []
    for f in frames:
        if not enc.add(f):
            out.append(enc.build())
            assert enc.add(f)
    return out + ([enc.build()] if enc.pending else [])


def _filled(enc: NtbEncoder, frames: list[bytes]) -> list[bytes]:
    out, i = [], 0
    while i < len(frames):
        j, nbytes = enc.fill(frames, i)
        assert nbytes == sum(map(len, frames[i:j]))
        if j < len(frames):  # this NTB is full: the frame goes first into the next
            assert j > i or not enc.pending
            assert not enc.add(frames[j])
            out.append(enc.build())
        i = j
    return out + ([enc.build()] if enc.pending else [])


@pytest.mark.parametrize("kind", ENCODERS)
def test_fill_builds_the_ntbs_add_builds(kind):
    frames = _frames(SIZES)
    by_add = _one_by_one(NtbEncoder(**ENCODERS[kind]), frames)
    by_fill = _filled(NtbEncoder(**ENCODERS[kind]), frames)
    assert by_fill == by_add and len(by_add) > 1
    dec = NtbDecoder(ntb32=kind == "ntb32")
    assert [bytes(f) for ntb in by_fill for f in dec.decode(ntb)] == frames


@pytest.mark.parametrize("kind", ENCODERS)
def test_fill_stops_at_a_frame_no_ntb_takes(kind):
    enc = NtbEncoder(**ENCODERS[kind])
    frames = [b"\x01" * 60, b"", b"\x02" * 60, b"\x03" * (enc.max_frame_size + 1), b"\x04" * 60]
    assert enc.fill(frames) == (1, 60)
    with pytest.raises(FramingError):
        enc.add(frames[1])
    assert enc.fill(frames, 2) == (3, 60)
    with pytest.raises(FramingError):
        enc.add(frames[3])
    assert enc.fill(frames, 4) == (5, 60)
    assert [bytes(f) for f in NtbDecoder(ntb32=enc.ntb32).decode(enc.build())] == [
        frames[0], frames[2], frames[4]]  # fmt: skip


def test_tx_fixup_counts_every_frame_once():
    """Frames no NTB can take, between others, are dropped and counted; the rest go in
    order, each counted in the NTB that carries it, with its bytes."""
    ncm = CdcNcm()
    big = b"\xee" * (ncm.encoder.max_frame_size + 1)
    frames = [*_frames(SIZES[:12]), big, *_frames(SIZES[12:]), b"", big]
    transfers, dropped = ncm.tx_fixup(None, frames)  # type: ignore[arg-type]
    good = [f for f in frames if f and f is not big]
    assert dropped == 3 and ncm.tx_too_big == 3
    assert sum(t[1] for t in transfers) + dropped == len(frames)
    dec = NtbDecoder()
    for ntb, count, nbytes in transfers:
        got = [bytes(f) for f in dec.decode(ntb)]
        assert len(got) == count and sum(map(len, got)) == nbytes
    assert [bytes(f) for t in transfers for f in dec.decode(t[0])] == good
    assert ncm.tx_ntbs == len(transfers) > 1 and ncm.tx_datagrams == len(good)
