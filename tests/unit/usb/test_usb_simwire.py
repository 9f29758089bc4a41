"""The kernel end of a simulated adapter's cable (``sim_wire=``), without a kernel: a fake TAP."""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import usb.core
import usb.util
from netdrv_usbnet.sim import CdcEcmModel
from netdrv_usbnet.simwire import READ_BUDGET, SimWire
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


class _Loop:
    """The loop SimWire registers its TAP reader with: remembers whether it still reads."""

    def __init__(self) -> None:
        self.readers: set[int] = set()

    def add_reader(self, fd: int, _cb: object) -> None:
        self.readers.add(fd)

    def remove_reader(self, fd: int) -> None:
        self.readers.discard(fd)


class _Model:
    """A simulated adapter that records what the cable brings and its link."""

    def __init__(self) -> None:
        self.on_wire_tx: object = None
        self.rx: list[bytes] = []
        self.link_up = True

    def keep_wire_tx(self, n: int | None = None) -> None:
        pass

    def wire_rx(self, frame: bytes) -> bool:
        self.rx.append(frame)
        return True

    def set_link(self, up: bool) -> None:
        self.link_up = up


def _read_errors(monkeypatch: pytest.MonkeyPatch, *errors: OSError) -> list[int]:
    """SimWire's next reads of its TAP fail with ``errors``, one per read, before it reads
    the TAP again; returns the list the number of reads goes into."""
    import netdrv_usbnet.simwire as simwire_module

    pending = list(errors)
    reads = [0]

    def read(fd: int, n: int) -> bytes:
        reads[0] += 1
        if pending:
            raise pending.pop(0)
        return os.read(fd, n)

    monkeypatch.setattr(simwire_module, "os", SimpleNamespace(read=read, write=os.write))
    return reads


def _kernel_wire() -> tuple[SimWire, _Model, _Loop]:
    loop, model = _Loop(), _Model()
    host = SimpleNamespace(attachment=SimpleNamespace(is_kernel=True), loop=loop)
    wire = SimWire(host, model, "simw0")  # type: ignore[arg-type]
    wire.open()
    os.set_blocking(wire.tap.fd, False)  # as a TunTap's fd is
    return wire, model, loop


def test_a_read_error_that_is_not_the_tap_gone_loses_one_frame_only(
    tap: socket.socket, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """EFAULT, EINVAL, ENOBUFS… fail one frame: counted, warned about once, and the frames
    after it still reach the adapter; the cable is not cut (it was, for any error)."""
    wire, model, loop = _kernel_wire()
    _read_errors(monkeypatch, OSError(errno.EINVAL, "Invalid argument"))
    f1, f2 = frame(60, 1), frame(60, 2)
    tap.send(f1)
    tap.send(f2)
    with caplog.at_level(logging.WARNING, logger="netdrv.usbnet.simwire"):
        wire._readable()
        _read_errors(monkeypatch, OSError(errno.EFAULT, "Bad address"))
        tap.send(f1)
        wire._readable()
    assert model.rx == [f1, f2, f1]
    assert wire.counters["read_errors"] == 2 and wire.counters["to_adapter"] == 3
    assert wire.cut == "" and model.link_up and loop.readers == {wire.tap.fd}
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "reading the TAP failed" in warned[0], warned
    wire.close()


@pytest.mark.parametrize("err", [errno.EBADFD, errno.EIO, errno.ENODEV, errno.EBADF],
                         ids=errno.errorcode.get)  # fmt: skip
def test_a_read_error_that_says_the_tap_is_gone_cuts_the_cable(
    tap: socket.socket, monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    """The TAP deleted (EBADFD; EIO on older kernels), the reader stops and the link goes
    down at once: the fd stays readable with that error, reading on would spin."""
    wire, model, loop = _kernel_wire()
    reads = _read_errors(monkeypatch, OSError(err, os.strerror(err)))
    tap.send(frame(60, 1))
    wire._readable()
    assert reads == [1] and model.rx == []
    assert wire.cut.startswith("TAP simw0 is gone") and not model.link_up
    assert loop.readers == set() and wire.counters["read_errors"] == 0
    wire.close()


def test_a_tap_that_fails_every_read_is_cut_not_read_forever(
    tap: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error that is not in the list of "gone" ones but comes back on every read would
    spin the loop as surely: a whole budget of failed reads in a row cuts the cable."""
    wire, model, loop = _kernel_wire()
    reads = _read_errors(monkeypatch, *[OSError(errno.EINVAL, "Invalid argument")] * 1000)
    tap.send(frame(60, 1))
    wire._readable()
    assert reads == [READ_BUDGET] and wire.counters["read_errors"] == READ_BUDGET
    assert wire.cut.startswith("TAP simw0 fails every read") and not model.link_up
    assert loop.readers == set()
    wire.close()
