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

import importlib.util
import random
import sys
from collections.abc import Callable
from pathlib import Path

MTU = 128


def _ensure_importable() -> None:
    # find_spec, not import: the codecs must first be imported under atheris' instrumentation.
    if importlib.util.find_spec("netdrv_serial") is None:  # a checkout without an install
        root = Path(__file__).resolve().parent.parent
        sys.path[:0] = [str(root), str(root / "plugins")]


def _split(data: bytes) -> list[bytes]:
    """Use the first byte(s) of the input as chunk lengths, so the fuzzer explores chunkings."""
    if not data:
        return []
    n = data[0] % 8 + 1
    sizes, rest = data[1 : 1 + n], data[1 + n :]
    chunks, pos = [], 0
    for s in sizes:
        chunks.append(rest[pos : pos + s])
        pos += s
    chunks.append(rest[pos:])
    return chunks


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


def smoke(iterations: int) -> int:
    """Run every target on random inputs (no atheris needed); for CI and quick checks."""
    _ensure_importable()
    targets = build_targets()
    rnd = random.Random(1144)
    specials = bytes([0xC0, 0xDB, 0xDC, 0xDD, 0x16, 0x45, 0x75, 0x80, 0x00, 0xFF])
    for name in TARGET_NAMES:
        for _ in range(iterations):
            n = rnd.randrange(0, 700)
            data = bytes(
                rnd.choice(specials) if rnd.random() < 0.3 else rnd.randrange(256) for _ in range(n)
            )
            targets[name](data)
        print(f"{name}: {iterations} inputs ok")
    return 0


def main(argv: list[str]) -> int:
    """Entry point: ``atheris_serial.py TARGET [libFuzzer args]`` or ``--smoke [N]``."""
    if len(argv) >= 2 and argv[1] == "--smoke":
        return smoke(int(argv[2]) if len(argv) > 2 else 1000)
    if len(argv) < 2 or argv[1] not in TARGET_NAMES:
        print(__doc__, file=sys.stderr)
        print(f"error: choose a target: {', '.join(TARGET_NAMES)} (or --smoke N)", file=sys.stderr)
        return 2
    try:
        import atheris
    except ImportError:
        print(
            "atheris is not installed, so coverage-guided fuzzing is unavailable.\n"
            "Install it with `pip install atheris` (Linux x86-64/arm64 wheels; elsewhere it needs\n"
            "clang with libFuzzer), or run the targets on random inputs without it:\n"
            f"    python {argv[0]} --smoke 2000",
            file=sys.stderr,
        )
        return 2
    _ensure_importable()
    with atheris.instrument_imports():
        targets = build_targets()
    atheris.Setup([argv[0], *argv[2:]], targets[argv[1]])
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
