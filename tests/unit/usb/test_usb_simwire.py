"""The kernel end of a simulated adapter's cable (``sim_wire=``), without a kernel: a fake TAP."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import usb.core
import usb.util
from netdrv_usbnet.sim import CdcEcmModel
from netdrv_usbnet.simwire import SimWire
from usbnet_helpers import open_cdc

OTHER = b"\x02\x99\x99\x99\x99\x99"


def frame(n: int, tag: int) -> bytes:
    return OTHER + b"\x02\x11\x22\x33\x44\x55" + b"\x88\xb5" + bytes([tag & 0xFF]) * (n - 14)


@pytest.fixture
def tap(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """SimWire's TAP is one end of a datagram socket pair; the other end (returned) reads it."""
    import netdrv_core.attach.tap as tap_module

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ours.setblocking(False)

    class FakeTunTap:
        def __init__(self, name: str, **_: object) -> None:
            self.fd = theirs.detach()

        def close(self) -> None:
            os.close(self.fd)

    monkeypatch.setattr(tap_module, "TunTap", FakeTunTap)
    yield ours
    ours.close()


def test_a_kernel_cable_keeps_no_copy_of_what_the_adapter_sent(tap: socket.socket) -> None:
    """The TAP gets every frame and the model keeps none of them in ``wire_tx_log``.

    (It kept the last 10 000 — 7.5 MB in the soak test's daemon, up to 15 MB of full-size
    frames — for nobody: the daemon's RSS grew by up to that much under a USB flood.)
    """
    loop = SimpleNamespace(add_reader=lambda *a: None, remove_reader=lambda *a: None)
    host = SimpleNamespace(attachment=SimpleNamespace(is_kernel=True), loop=loop)
    model = CdcEcmModel(speed="high")
    dev = open_cdc(model)
    wire = SimWire(host, model, "simw0")  # type: ignore[arg-type]
    wire.open()
    sent = [frame(60 + 100 * i, i) for i in range(5)]
    for f in sent:
        assert dev.write(0x01, f, timeout=100) == len(f)
    assert [tap.recv(2048) for _ in sent] == sent
    assert model.stats.wire_tx_frames == 5
    assert len(model.wire_tx_log) == 0 and model.take_wire_tx() == []
    # Cut off from the TAP (unload), the model logs in-process again.
    wire.close()
    assert dev.write(0x01, sent[0], timeout=100) == len(sent[0])
    assert model.take_wire_tx() == [sent[0]]
    usb.util.dispose_resources(dev)
