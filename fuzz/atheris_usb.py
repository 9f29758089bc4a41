"""Coverage-guided fuzz targets for the USB framing codecs (run on demand with atheris).

Run on demand, one target at a time; extra arguments go to libFuzzer::

    python fuzz/atheris_usb.py ncm -max_total_time=60 corpus/
    python fuzz/atheris_usb.py --smoke 2000      # every target, random inputs, no atheris
    python fuzz/atheris_usb.py list

Targets: ``ncm`` (NtbDecoder), ``ax88179`` (Ax88179RxDecoder), ``ax88179-tx``
(Ax88179TxDecoder), ``notify`` (NotificationParser, input split into interrupt
packets), ``descriptors`` (parse_functional_descriptors + parse_mac_string),
``ntb-roundtrip`` (NtbEncoder -> NtbDecoder identity).  A target fails on any
exception other than the documented ones, and on a broken invariant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

# The codecs are imported lazily, inside the targets, so that ``main`` imports them
# first under ``atheris.instrument_imports()`` and libFuzzer gets coverage feedback.


def _ncm(data: bytes) -> None:
    from netdrv_usbnet.codecs import NtbDecoder

    dec = NtbDecoder(max_size=8192, max_datagrams=64)
    frames = dec.decode(data)
    assert len(frames) <= 64
    assert sum(len(f) for f in frames) <= len(data)
    assert all(len(f) >= 14 for f in frames)


def _ax88179(data: bytes) -> None:
    from netdrv_usbnet.codecs import Ax88179RxDecoder

    frames = Ax88179RxDecoder().decode(data)
    assert sum(len(f) for f in frames) <= len(data)
    assert all(len(f) >= 14 for f in frames)


def _ax88179_tx(data: bytes) -> None:
    from netdrv_usbnet.codecs import Ax88179TxDecoder

    frames = Ax88179TxDecoder().decode(data)
    assert sum(len(f) for f in frames) <= len(data)


def _notify(data: bytes) -> None:
    from netdrv_usbnet.codecs import NotificationParser

    parser = NotificationParser()
    pos = 0
    while pos < len(data):
        n = data[pos] % 24
        parser.feed(data[pos + 1 : pos + 1 + n])
        pos += 1 + n


def _descriptors(data: bytes) -> None:
    from netdrv_usbnet.codecs import DescriptorError, parse_functional_descriptors, parse_mac_string

    try:
        parse_functional_descriptors(data)
    except DescriptorError:
        pass
    try:
        mac = parse_mac_string(data[:12])
        assert len(mac) == 6
    except DescriptorError:
        pass


def _ntb_roundtrip(data: bytes) -> None:
    from netdrv_usbnet.codecs import FramingError, NtbDecoder, NtbParameters, encode_ntb

    if len(data) < 8:
        return
    div = 1 << (data[0] % 7)
    params = NtbParameters(
        dwNtbOutMaxSize=2048 + data[1] * 64,
        wNdpOutDivisor=div,
        wNdpOutPayloadRemainder=data[2] % div,
        wNdpOutAlignment=1 << (data[3] % 7),
    )
    frames = []
    pos = 4
    while pos + 2 <= len(data):
        n = 14 + int.from_bytes(data[pos : pos + 2], "little") % 1500
        frames.append(data[pos : pos + n].ljust(n, b"\0"))
        pos += 2 + n
    if not frames:
        return
    try:
        ntbs = encode_ntb(frames, params)
    except FramingError:
        return
    dec = NtbDecoder(max_size=params.sanitized().dwNtbOutMaxSize)
    assert [f for n in ntbs for f in dec.decode(n)] == frames


TARGETS: dict[str, Callable[[bytes], None]] = {
    "ncm": _ncm,
    "ax88179": _ax88179,
    "ax88179-tx": _ax88179_tx,
    "notify": _notify,
    "descriptors": _descriptors,
    "ntb-roundtrip": _ntb_roundtrip,
}


TARGET_NAMES = tuple(TARGETS)
SPECIALS = bytes([0x4E, 0x43, 0x4D, 0x48, 0x30, 0x00, 0x0C, 0x10, 0xA1, 0x2A, 0xFF, 0x80])


def build_targets() -> dict[str, Callable[[bytes], None]]:
    """Import the codecs (inside atheris' instrumentation when it is active); the targets."""
    import netdrv_usbnet.codecs  # noqa: F401

    return TARGETS


def smoke(iterations: int) -> int:
    """Run every target on random inputs (no atheris needed); for CI and quick checks."""
    _harness.ensure_importable("netdrv_usbnet")
    return _harness.smoke(TARGET_NAMES, build_targets(),
                          lambda _name, rnd: _harness.random_bytes(rnd, SPECIALS, 3000, 0.4),
                          iterations, seed=179)  # fmt: skip


def main(argv: list[str]) -> int:
    """Entry point: ``atheris_usb.py TARGET [libFuzzer args]``, ``--smoke [N]`` or ``list``."""
    return _harness.main(argv, doc=__doc__ or "", package="netdrv_usbnet", names=TARGET_NAMES,
                         build_targets=build_targets, run_smoke=smoke)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv))
