"""Coverage-guided fuzz targets for the USB framing codecs (run on demand with atheris).

Usage::

    pip install atheris
    PYTHONPATH=.:plugins python fuzz/atheris_usb.py ncm  [libFuzzer args, e.g. -max_total_time=60 corpus/]
    PYTHONPATH=.:plugins python fuzz/atheris_usb.py list

Targets: ``ncm`` (NtbDecoder), ``ax88179`` (Ax88179RxDecoder), ``ax88179-tx``
(Ax88179TxDecoder), ``notify`` (NotificationParser, input split into interrupt
packets), ``descriptors`` (parse_functional_descriptors + parse_mac_string),
``ntb-roundtrip`` (NtbEncoder -> NtbDecoder identity).  A target fails on any
exception other than the documented ones, and on a broken invariant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

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


def main(argv: list[str]) -> int:
    """Run the target named in argv[1] under atheris; remaining args go to libFuzzer."""
    if len(argv) < 2 or argv[1] not in TARGETS:
        print(f"usage: {argv[0]} {{{'|'.join(TARGETS)}|list}} [libFuzzer options]", file=sys.stderr)
        return 0 if len(argv) >= 2 and argv[1] == "list" else 2
    try:
        import atheris
    except ImportError:
        print(
            "atheris is not installed: `pip install atheris` (needs a clang/libFuzzer toolchain on "
            "some platforms). The hypothesis tests in tests/fuzz/test_fuzz_usb_codecs.py cover the "
            "same targets without it.",
            file=sys.stderr,
        )
        return 1
    target = TARGETS[argv[1]]
    with atheris.instrument_imports():
        import netdrv_usbnet.codecs  # noqa: F401  (instrument the codecs)
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
