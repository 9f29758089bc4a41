"""The minidriver's ``reset`` at open and ``stop`` at close, as Linux's ``usbnet_open`` and
``usbnet_stop`` call ``info->reset`` and ``info->stop``.

The AX88179 (``ax88179_info``: ``.reset = ax88179_net_reset, .stop = ax88179_stop``) clears
RECEIVE_EN in MEDIUM_STATUS_MODE as the interface goes down: the chip takes no frame from the
cable while it is down, so none of them comes up stale after the next open; the open sets
RECEIVE_EN again.
"""

from __future__ import annotations

import errno
import logging

import pytest
import usb.core
from netdrv_usbnet.codecs import ax88179 as ax
from usbnet_helpers import frame, received, up, wait

from netdrv_core import DriverError, Host


def _receive_en(m) -> bool:
    return bool(m.medium_mode & ax.AX_MEDIUM_RECEIVE_EN)


def _only_marker_arrives(host: Host, m, dev, tag: int) -> None:
    """A frame put on the cable now is the first (and only) one the interface receives: none
    taken by the adapter earlier comes before it."""
    host.attachment.received(dev)
    assert m.wire_rx(frame(bytes(dev.dev_addr), 90, tag))
    got = received(host, dev, 1)
    assert [f[14] for f in got] == [tag]


def test_frames_on_the_cable_while_down_are_not_delivered_after_up(host, usbnet):
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    assert _receive_en(m)
    _only_marker_arrives(host, m, dev, 0x10)
    host.attachment.down(dev)
    # ax88179_stop: RECEIVE_EN off as the interface goes down, RX_CTL left as it was.
    assert not _receive_en(m) and m.rx_ctl & ax.AX_RX_CTL_START
    assert dev.priv.info.receive_en is False
    dropped = m.stats.wire_rx_dropped_inactive
    stale = [frame(bytes(dev.dev_addr), 90, 0x20 + i) for i in range(5)]
    assert m.wire_rx_many(stale) == 0  # the chip does not take them
    assert m.stats.wire_rx_dropped_inactive == dropped + 5
    assert m.pending_in_transfers(m.BULK_IN) == 0
    up(host, dev, carrier=False)  # the carrier stays as the adapter last reported it
    assert _receive_en(m)  # ax88179_net_reset: the PHY has a status, RECEIVE_EN back on
    _only_marker_arrives(host, m, dev, 0x30)
    assert dev.stats.rx_packets == 2


def test_a_link_reset_while_down_leaves_receive_off(host, usbnet):
    """A link report read just before the interface went down has its link_reset run in the
    kevent worker afterwards (Linux's usbnet_stop drops the pending one): it programs the
    new speed but leaves RECEIVE_EN off until the next open."""
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    host.attachment.down(dev)
    un = dev.priv
    done = []
    un.defer(lambda: done.append(un.info.link_reset(un)))
    assert wait(host, lambda: done == [True])
    assert m.medium_mode & ax.AX_MEDIUM_GIGAMODE and not _receive_en(m)
    assert not m.wire_rx(frame(bytes(dev.dev_addr), 90, 0x40))
    up(host, dev, carrier=False)
    assert _receive_en(m)
    _only_marker_arrives(host, m, dev, 0x41)


def test_open_without_a_phy_status_resets_the_chip(host, usbnet):
    """ax88179_net_reset: GMII_PHY_PHYSR reads 0 (the cable is out) -> the whole
    ax88179_reset, which turns RECEIVE_EN on again with the default medium mode."""
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    host.attachment.down(dev)
    m.set_link(False)
    m.regs[ax.AX_RX_BULKIN_QCTRL + 3] = 0x55  # what the reset rewrites
    up(host, dev, carrier=False)
    assert wait(host, lambda: _receive_en(m))
    assert m.medium_mode == ax.medium_mode(1000, True)
    assert bytes(m.regs[ax.AX_RX_BULKIN_QCTRL : ax.AX_RX_BULKIN_QCTRL + 5]) == bytes(
        ax.AX88179_BULKIN_SIZE[0]
    )
    assert wait(host, lambda: not dev._carrier)
    m.set_link(True)
    assert wait(host, lambda: dev._carrier)
    _only_marker_arrives(host, m, dev, 0x50)


@pytest.mark.parametrize("how", ["errno", "usb_error"])
def test_a_failing_reset_fails_the_open(host, usbnet, how, caplog, monkeypatch):
    caplog.set_level(logging.INFO, "netdrv.usbnet")
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    info = dev.priv.info

    def reset(un):
        if how == "errno":
            return -errno.EPROTO
        raise usb.core.USBError("pipe", errno.EPIPE, errno.EPIPE)

    monkeypatch.setattr(info, "reset", reset)
    with pytest.raises(DriverError):
        host.attachment.up(dev)
    assert not dev.is_up and not dev.priv.rx_gate.is_set() and not dev.priv.intr_gate.is_set()
    code = errno.EPROTO if how == "errno" else errno.EPIPE
    assert f"usb0: open reset fail (-{code})" in caplog.text
    monkeypatch.undo()
    up(host, dev)
    _only_marker_arrives(host, drv.sim_model, dev, 0x60)


def test_a_failing_stop_is_logged_and_the_interface_goes_down(host, usbnet, caplog,
                                                              monkeypatch):  # fmt: skip
    caplog.set_level(logging.INFO, "netdrv.usbnet")
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    up(host, dev)
    monkeypatch.setattr(dev.priv.info, "stop", lambda un: -errno.EIO)
    host.attachment.down(dev)
    assert not dev.is_up and not dev.priv.rx_gate.is_set()
    assert f"usb0: stop fail (-{errno.EIO})" in caplog.text


@pytest.mark.parametrize("sim", ["cdc_ether", "cdc_ncm"])
def test_cdc_minidrivers_have_no_reset_or_stop(host, usbnet, sim):
    """cdc_ether and cdc_ncm set neither ``.reset`` nor ``.stop`` in Linux: down and up
    issue no control request."""
    drv = usbnet(sim=sim)
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    before = m.stats.control_requests
    host.attachment.down(dev)
    up(host, dev, carrier=False)
    assert m.stats.control_requests == before
