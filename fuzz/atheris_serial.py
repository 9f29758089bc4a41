"""Coverage-guided fuzz targets for the serial codecs (atheris / libFuzzer).

Run on demand, one target at a time; extra arguments go to libFuzzer::

    python fuzz/atheris_serial.py slip -max_total_time=60
    python fuzz/atheris_serial.py cslip corpus_dir/ -jobs=4
    python fuzz/atheris_serial.py --smoke 2000      # every target, random inputs, no atheris

Targets: slip, kiss, plip, vj, cslip, roundtrip. Each one checks the codec
contract (no exception but CodecError, bounded buffer, chunking invariance,
identity of encode/decode) and raises AssertionError when it is broken, which
libFuzzer reports as a crash with the input that caused it.

atheris is optional (``pip install atheris``; it needs a clang/libFuzzer
toolchain on some platforms) and imported only when a target is run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

MTU = 128


def _split(data: bytes) -> list[bytes]:
    return _harness.split(data)


def _check_decoder(make: Callable[[], object], bound: int, data: bytes) -> None:
    whole = make()
    expect = whole.feed(b"".join(_split(data)))
    dec = make()
    got = []
    for c in _split(data):
        got += dec.feed(c)
        assert dec.buffered <= bound, (dec.buffered, bound)
    assert got == expect
    assert dec.stats.as_dict() == whole.stats.as_dict()


def build_targets() -> dict[str, Callable[[bytes], None]]:
    """Import the codecs (inside atheris' instrumentation when it is active) and make the targets."""
    from netdrv_serial.codecs import (
        MODES,
        TYPE_COMPRESSED_TCP,
        TYPE_ERROR,
        TYPE_IP,
        TYPE_UNCOMPRESSED_TCP,
        CodecError,
        KissDecoder,
        KissEncoder,
        PlipDecoder,
        PlipEncoder,
        SlipDecoder,
        SlipEncoder,
        VJCompressor,
        VJDecompressor,
        cslip_decode_packet,
        cslip_encode_packet,
    )

    def slip(data: bytes) -> None:
        _check_decoder(lambda: SlipDecoder(MTU), 2 * MTU, data)

    def kiss(data: bytes) -> None:
        _check_decoder(lambda: KissDecoder(MTU), 2 * (MTU + 1), data)

    def plip(data: bytes) -> None:
        _check_decoder(lambda: PlipDecoder(MTU), MTU + 4, data)

    def cslip(data: bytes) -> None:
        _check_decoder(lambda: MODES["cslip"](mtu=MTU)[1], 2 * MTU, data)

    def vj(data: bytes) -> None:
        # Garbage into the decompressor, then the input as a packet through both sides.
        d = VJDecompressor(slots=4, verify_tcp_checksum=bool(data[:1] and data[0] & 1))
        types = (TYPE_IP, TYPE_UNCOMPRESSED_TCP, TYPE_COMPRESSED_TCP, TYPE_ERROR, 0x33)
        for i, chunk in enumerate(_split(data)):
            out = d.uncompress(types[i % len(types)], chunk)
            assert out is None or isinstance(out, bytes)
            out = cslip_decode_packet(d, chunk)
            assert out is None or isinstance(out, bytes)
        comp, decomp = VJCompressor(slots=2), VJDecompressor(slots=2)
        for pkt in (data, data, data[:60] + data[40:]):
            try:
                wire = cslip_encode_packet(comp, pkt)
            except CodecError:
                continue
            assert cslip_decode_packet(decomp, wire) == pkt

    def roundtrip(data: bytes) -> None:
        frames = [c[:MTU] for c in _split(data) if c]
        for enc, dec in (
            (SlipEncoder(MTU), SlipDecoder(MTU)),
            (PlipEncoder(MTU), PlipDecoder(MTU)),
        ):
            assert dec.feed(b"".join(enc.encode(f) for f in frames)) == frames
        kenc, kdec = KissEncoder(MTU), KissDecoder(MTU)
        assert [f.data for f in kdec.feed(b"".join(kenc.encode(f) for f in frames))] == frames

    return {
        "slip": slip,
        "kiss": kiss,
        "plip": plip,
        "cslip": cslip,
        "vj": vj,
        "roundtrip": roundtrip,
    }


TARGET_NAMES = ("slip", "kiss", "plip", "cslip", "vj", "roundtrip")


SPECIALS = bytes([0xC0, 0xDB, 0xDC, 0xDD, 0x16, 0x45, 0x75, 0x80, 0x00, 0xFF])


def smoke(iterations: int) -> int:
    """Run every target on random inputs (no atheris needed); for CI and quick checks."""
    _harness.ensure_importable("netdrv_serial")
    return _harness.smoke(TARGET_NAMES, build_targets(),
                          lambda _name, rnd: _harness.random_bytes(rnd, SPECIALS, 700, 0.3),
                          iterations, seed=1144)  # fmt: skip


def main(argv: list[str]) -> int:
    """Entry point: ``atheris_serial.py TARGET [libFuzzer args]``, ``--smoke [N]`` or ``list``."""
    return _harness.main(argv, doc=__doc__ or "", package="netdrv_serial", names=TARGET_NAMES,
                         build_targets=build_targets, run_smoke=smoke)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv))
