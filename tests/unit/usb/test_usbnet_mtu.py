"""MTU changes as Linux's usbnet and its minidrivers take them: hard_mtu, EDOM, buffers."""

from __future__ import annotations

import errno

import pytest
from netdrv_usbnet.cdc_ether import CdcEther
from netdrv_usbnet.sim import CdcEcmModel, CdcNcmModel
from usbnet_helpers import PEER, accounted, frame, received, settle_tx, up


@pytest.mark.parametrize(("speed", "mps"), [("full", 64), ("high", 512)])
def test_cdc_ether_refuses_an_mtu_whose_frames_fill_whole_packets(host, usbnet, speed, mps):
    """usbnet_change_mtu: ``(new_mtu + hard_header_len) % maxpacket == 0`` is EDOM (no second
    zero-length packet read wanted after MTU-sized frames); the MTU next to it is fine, and
    hard_mtu follows the MTU."""
    drv = usbnet(sim="cdc_ether", sim_speed=speed)
    (dev,) = drv.devices
    un = dev.priv
    assert un.out_mps == mps
    bad = 2 * mps - 14 if 2 * mps - 14 <= dev.max_mtu else mps - 14
    assert host.dev_set_mtu(dev, bad) == -errno.EDOM and dev.mtu == 1500
    assert host.dev_set_mtu(dev, bad - 1) == 0
    assert (dev.mtu, un.hard_mtu) == (bad - 1, bad - 1 + 14)


@pytest.mark.parametrize("sim", ["cdc_ncm", "ax88179"])
def test_ncm_and_ax88179_take_any_mtu(host, usbnet, sim):
    """cdc_ncm_change_mtu and ax88179_change_mtu have no EDOM check: an MTU whose frames fill
    whole packets is accepted (NTBs end themselves; the AX88179's header shifts its frames)."""
    drv = usbnet(sim=sim)
    (dev,) = drv.devices
    mtu = dev.priv.out_mps - 14
    assert host.dev_set_mtu(dev, mtu) == 0 and dev.mtu == mtu
    assert dev.priv.hard_mtu == mtu + 14
    up(host, dev)
    f = frame(PEER, mtu + 14, 3)
    host.attachment.send(dev, f)
    assert settle_tx(host, dev) and accounted(dev) and dev.stats.tx_errors == 0
    assert drv.sim_model.take_wire_tx() == [f]


def test_ncm_mtu_change_sets_the_max_datagram_size(host, usbnet, sim_backend):
    """cdc_ncm_set_dgram_size: after an MTU change the function is told its maximum datagram
    size (GET_MAX_DATAGRAM_SIZE, then SET if it differs) — never below 1514, never above
    what bind negotiated, which stays the receive limit."""
    m = sim_backend.plug(CdcNcmModel(max_segment_size=4014))
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    assert m.max_datagram_size == 4014 and dev.max_mtu == 4000, "bind set the maximum"
    assert host.dev_set_mtu(dev, 3000) == 0
    assert host.loop.run_until(lambda: m.max_datagram_size == 3014, 5)
    assert host.dev_set_mtu(dev, 1280) == 0
    assert host.loop.run_until(lambda: m.max_datagram_size == 1514, 5)
    assert dev.priv.info.rx_decoder.max_datagram == 4014 + 4
    assert dev.priv.counters["kevent_errors"] == 0


def test_a_receive_size_derived_from_hard_mtu_follows_the_mtu(host, usbnet, sim_backend,
                                                              monkeypatch):  # fmt: skip
    """A minidriver that leaves rx_urb_size to the core gets one hard_mtu frame rounded up to
    whole bulk IN packets, and the reader's buffers follow the MTU (usbnet_change_mtu: an
    rx_urb_size equal to hard_mtu follows it): a jumbo frame arrives whole after the MTU was
    raised.  max_mtu left to the core is hard_mtu less the Ethernet header."""
    bind = CdcEther.bind

    def bind_leaving_sizes_to_the_core(self, un, intf):
        bind(self, un, intf)
        un.rx_urb_size = un.rx_buf_size = un.max_mtu = 0

    monkeypatch.setattr(CdcEther, "bind", bind_leaving_sizes_to_the_core)
    m = sim_backend.plug(CdcEcmModel(max_segment_size=9014))
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    un = dev.priv
    un.info.rx_decoder.max_frame = 9014
    assert (un.hard_mtu, dev.max_mtu, dev.mtu) == (9014, 9000, 1500)
    assert un.rx_urb_size == un.rx_buf_size == 9216, "9014 rounded up to 512-byte packets"
    assert host.dev_set_mtu(dev, 1400) == 0
    assert un.hard_mtu == 1414 and un.rx_urb_size == un.rx_buf_size == 1536
    assert host.dev_set_mtu(dev, 9000) == 0
    assert un.rx_urb_size == un.rx_buf_size == 9216
    up(host, dev)
    big = frame(dev.dev_addr, 9014, 7)
    assert m.wire_rx(big)
    assert received(host, dev, 1) == [big]
    assert dev.stats.rx_errors == 0
