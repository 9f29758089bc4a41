"""The TAP reader after ``netif_set_real_num_tx_queues`` adds queues to a running device."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fakedev import ScriptedOps, kernel_port, pump
from frames import ETH_P_IP, eth_frame, udp_packet

from netdrv_core import (
    Host,
    NetDevice,
    SkBuff,
    alloc_etherdev_mq,
    netif_set_real_num_tx_queues,
    netif_stop_subqueue,
    netif_tx_start_all_queues,
)
from netdrv_core.attach.tap import KernelStack, _Port

MAC = b"\x02\x00\x00\x00\x00\x10"


class _Ops(ScriptedOps):
    """Starts every queue; each frame goes to the last queue in use."""

    def open(self, dev: NetDevice) -> int:
        netif_tx_start_all_queues(dev)
        return 0

    def select_queue(self, dev: NetDevice, skb: SkBuff, sb_dev: NetDevice | None) -> int:
        return dev.real_num_tx_queues - 1


@pytest.fixture
def reader() -> Iterator[tuple[Host, KernelStack, _Port, socket.socket, _Ops]]:
    """A two-queue device using one, up on the kernel attachment (its TAP a socketpair end)."""
    host = Host()
    ops = _Ops()
    dev = alloc_etherdev_mq(None, 2)
    dev.netdev_ops, dev.dev_addr = ops, MAC
    assert netif_set_real_num_tx_queues(dev, 1) == 0
    host.register_netdev(dev)
    assert host.dev_open(dev) == 0
    with kernel_port(host, dev, attach=True) as (ks, port, a):
        yield host, ks, port, a, ops
    host.close()
    host.loop.close()


def _frame(i: int) -> bytes:
    payload = udp_packet("198.18.0.1", "198.18.0.2", 1000 + i, 53, b"q" * 20)
    return eth_frame(b"\x02\x00\x00\x00\x00\x20", MAC, ETH_P_IP, payload)


def test_an_awake_queue_added_makes_a_held_back_reader_read_again(reader: Any) -> None:
    host, _ks, port, a, ops = reader
    dev = port.dev
    ops.mode = "hold"  # queue 0's ring is full after one frame: the rest stay in the kernel
    for i in range(3):
        a.send(_frame(i))
    pump(host)
    assert len(ops.held) == 1 and not port.reading
    ops.mode = "ok"
    assert netif_set_real_num_tx_queues(dev, 2) == 0  # queue 1, awake, takes frames
    pump(host)
    assert port.reading
    assert [skb.queue_mapping for skb in ops.sent] == [1, 1]  # the kernel's two, on queue 1
    assert [int.from_bytes(f[34:36], "big") for f in ops.sent_bytes] == [1001, 1002]


def test_a_stopped_queue_added_leaves_the_reader_held_back(reader: Any) -> None:
    host, _ks, port, a, ops = reader
    dev = port.dev
    ops.mode = "hold"
    for i in range(3):
        a.send(_frame(i))
    pump(host)
    netif_stop_subqueue(dev, 1)  # not in use yet, and stopped
    assert netif_set_real_num_tx_queues(dev, 2) == 0
    pump(host)
    assert not port.reading and ops.sent == []
