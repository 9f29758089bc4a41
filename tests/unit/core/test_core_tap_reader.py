"""The TAP reader: read to EAGAIN while frames queue up, one frame per wake-up when they do not."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from fakedev import FakeTunTap

from netdrv_core import NetDeviceOps, alloc_netdev, ether_setup, netif_start_queue
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.host import Host


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    host = Host()
    sent: list[bytes] = []

    class Ops(NetDeviceOps):
        def open(self, dev):  # type: ignore[no-untyped-def]
            netif_start_queue(dev)
            return 0

        def start_xmit(self, skb, dev):  # type: ignore[no-untyped-def]
            sent.append(bytes(skb.buf[skb.data : skb.tail]))
            return 0

    def setup(dev):  # type: ignore[no-untyped-def]
        ether_setup(dev)
        dev.dev_addr = b"\x02\x00\x00\x00\x00\x01"
        dev.netdev_ops = Ops()

    dev = alloc_netdev(None, "rd0", setup)
    host.register_netdev(dev)
    host.attachment.up(dev)  # type: ignore[attr-defined]
    ks = KernelStack()
    ks.host = host
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.setblocking(False)
    port = _Port(dev, FakeTunTap(b.fileno(), "rd0"), 1)  # type: ignore[arg-type]
    reads: list[int] = []
    real = os.readv

    def readv(fd, bufs):  # type: ignore[no-untyped-def]
        reads.append(fd)
        return real(fd, bufs)

    monkeypatch.setattr(os, "readv", readv)
    yield ks, port, a, sent, reads
    a.close()
    b.close()
    host.close()
    host.loop.close()


def _frame(i: int) -> bytes:
    return b"\x02\x00\x00\x00\x00\x01" * 2 + b"\x08\x00" + bytes([i]) * 50


def test_single_frames_are_read_without_probing_for_a_second(reader) -> None:
    ks, port, a, sent, reads = reader
    loop = ks.host.loop
    a.send(_frame(1))
    ks._on_readable(port)  # a fresh port drains: the frame, then EAGAIN
    assert len(sent) == 1 and len(reads) == 2 and not port.drain
    loop.iterations += 5
    a.send(_frame(2))
    ks._on_readable(port)  # one frame per wake-up now: no read that finds nothing
    assert len(sent) == 2 and len(reads) == 3


def test_frames_queueing_up_switch_back_to_draining(reader) -> None:
    ks, port, a, sent, _reads = reader
    loop = ks.host.loop
    a.send(_frame(1))
    ks._on_readable(port)
    assert not port.drain
    for i in range(5):
        a.send(_frame(i))
    loop.iterations += 5
    ks._on_readable(port)
    assert len(sent) == 2  # one frame; epoll (level-triggered) reports the rest
    loop.iterations += 1  # woken again in the very next iteration: frames are queueing
    ks._on_readable(port)
    assert len(sent) == 6 and port.drain
    with pytest.raises(BlockingIOError):
        os.read(port.fd, 1)
    assert [f[14] for f in sent[1:]] == [0, 1, 2, 3, 4]  # in order
