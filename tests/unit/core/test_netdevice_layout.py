"""NetDevice's layout: the core's fields are slots, a driver's own fields still work.

The per-packet paths load about twenty device fields; on CPython 3.11 a slot is
cheaper to load than a key of an instance dict as large as a device's.  These
tests hold the layout in place: a field added to ``__init__`` without a slot, or
one the core sets elsewhere, would land in the dict and make every load of it
the slower kind.
"""

from __future__ import annotations

import gc
import weakref

import pytest
from fakedev import LoadSnull, make_dev, mem, tx
from frames import ETH_P_IP, eth_frame, udp_packet

from netdrv_core import Host, NetDevice, alloc_etherdev, register_netdev, unregister_netdev

SRC, DST = "198.18.0.1", "198.18.0.2"  # snull's own pair: each arrives as the other's
HOST_MAC = b"\x02\xaa\xbb\xcc\xdd\xee"


def test_every_field_init_sets_is_a_slot() -> None:
    # Nothing of a new device is in its instance dict: each field __init__ sets has a slot.
    assert vars(NetDevice("t%d")) == {}
    assert vars(alloc_etherdev()) == {}  # nor what ether_setup() sets


@pytest.mark.parametrize("use_napi", [0, 1])
def test_the_core_sets_no_field_outside_the_slots(
    host: Host, snull: LoadSnull, use_napi: int
) -> None:
    # Registered, opened, used in both directions, closed and unregistered: the core
    # and snull set only slotted fields on the way.
    drv = snull(use_napi=use_napi)
    sn0, sn1 = drv.devices
    for dev, peer in ((sn0, sn1), (sn1, sn0)):
        frame = eth_frame(dev.dev_addr, HOST_MAC, ETH_P_IP, udp_packet(SRC, DST, 1, 2, b"x"))
        assert mem(host).send(dev, frame) == 0
        host.loop.run_until_idle()
        assert len(mem(host).received(peer)) == 1
    for dev in (sn0, sn1):
        mem(host).down(dev)
    assert [vars(dev) for dev in (sn0, sn1)] == [{}, {}]
    for dev in (sn0, sn1):
        unregister_netdev(dev)
    assert [vars(dev) for dev in (sn0, sn1)] == [{}, {}]


def test_a_drivers_own_field_survives(host: Host) -> None:
    # A driver (or a test) may keep state of its own on the device: the __dict__ slot.
    dev, _ops = make_dev(host, up=False)
    dev.my_ring = [b"frame"]  # type: ignore[attr-defined]
    assert host.dev_open(dev) == 0
    assert tx(host, dev) == 0
    mem(host).down(dev)
    assert dev.my_ring == [b"frame"]  # type: ignore[attr-defined]
    assert vars(dev) == {"my_ring": [b"frame"]}


def test_a_device_can_be_weakly_referenced(host: Host) -> None:
    # The host keeps unregistered devices in a WeakSet (the __weakref__ slot).
    dev = alloc_etherdev()
    ref = weakref.ref(dev)
    register_netdev(dev, host)
    unregister_netdev(dev)
    assert ref() is dev
    del dev
    gc.collect()
    assert ref() is None


def test_the_slots_are_named_once() -> None:
    # A name given twice would make two slots: the second one would hide the first.
    slots = NetDevice.__slots__
    assert len(set(slots)) == len(slots)
