"""The carrier over an adapter's life: off from bind until a link report after open.

Linux's usbnet submits the interrupt (status) URB in ``usbnet_open`` and kills it in
``usbnet_stop``, and ``usbnet_probe`` turns the carrier off for FLAG_LINK_INTR minidrivers
(cdc_ether, cdc_ncm, ax88179_178a): a down interface hears no link reports, and the adapter
keeps them until the interface comes up.  (Checks that something does *not* happen while the
interface is down give the threads a short window; every other check waits for an event.)
"""

from __future__ import annotations

import logging

import pytest
from usbnet_helpers import BCAST, frame, received, settle_tx, up, wait

from netdrv_core import Host
from netdrv_core.ethtool import ethtool_request

MODELS = ["cdc_ether", "cdc_ncm", "ax88179"]
WINDOW = 0.3
"""How long a down interface is given to (wrongly) read its adapter's link reports."""


def _link_detected(host: Host, dev) -> bool:
    r, _ = ethtool_request(host, dev, "settings")
    return bool(r["link"])


def _notifications_stay_queued(host: Host, m, dev) -> bool:
    """True when the down interface leaves the adapter's interrupt endpoint alone (and the
    carrier off) for a while: it must not poll the status endpoint while down."""
    pending = m.pending_in_transfers(m.INTR_IN)
    return pending > 0 and not wait(
        host, lambda: m.pending_in_transfers(m.INTR_IN) != pending or dev._carrier, WINDOW
    )


def _traffic_ok(host: Host, m, dev, tag: int) -> None:
    m.take_wire_tx()
    host.attachment.send(dev, frame(BCAST, 90, tag))
    assert settle_tx(host, dev)
    assert m.take_wire_tx() == [frame(BCAST, 90, tag)]
    m.wire_rx(frame(bytes(dev.dev_addr), 90, tag + 1))
    assert [f[14] for f in received(host, dev, 1)] == [tag + 1]


@pytest.mark.parametrize("sim", MODELS)
def test_carrier_off_from_bind_until_link_up_after_open(host, usbnet, sim, caplog):
    caplog.set_level(logging.INFO, "netdrv.usbnet")
    drv = usbnet(sim=sim)
    m = drv.sim_model
    (dev,) = drv.devices
    assert not dev.is_up and not dev._carrier
    assert not _link_detected(host, dev)
    # The adapter reported its link on bind; nobody reads it while the interface is down.
    assert _notifications_stay_queued(host, m, dev)
    assert not dev._carrier and "link up" not in caplog.text
    up(host, dev)  # the interrupt endpoint is read from now: the queued link-up arrives
    # (up() returns at the carrier: NCM's speed-change report may still be on its way.)
    assert wait(host, lambda: m.pending_in_transfers(m.INTR_IN) == 0)
    assert "usb0: link up" in caplog.text
    assert _link_detected(host, dev)
    _traffic_ok(host, m, dev, 0x10)


@pytest.mark.parametrize("sim", MODELS)
def test_replugged_adapter_comes_back_down_without_carrier(host, usbnet, sim, caplog):
    caplog.set_level(logging.INFO, "netdrv.usbnet")
    drv = usbnet(sim=sim)
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    m.unplug()
    assert wait(host, lambda: drv.devices == [])
    caplog.clear()
    m.replug()
    assert wait(host, lambda: len(drv.devices) == 1)
    (new,) = drv.devices
    assert new is not dev and not new.is_up and not new._carrier
    assert _notifications_stay_queued(host, m, new)
    assert "link up" not in caplog.text and not _link_detected(host, new)
    up(host, new)
    assert _link_detected(host, new)
    _traffic_ok(host, m, new, 0x20)


@pytest.mark.parametrize("sim", MODELS)
def test_down_stops_status_polling_and_up_takes_the_reports_that_waited(host, usbnet, sim):
    drv = usbnet(sim=sim)
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    # Down then up with the cable untouched: the carrier is as the adapter last said (Linux
    # keeps it through stop), so it is on again at once although no new report comes.
    host.attachment.down(dev)
    up(host, dev, carrier=False)
    assert dev._carrier and _link_detected(host, dev)
    _traffic_ok(host, m, dev, 0x30)
    # The cable goes down while the interface is down: the report waits in the adapter...
    host.attachment.down(dev)
    # A read in flight at stop may still complete (as an interrupt URB completing before
    # usb_kill_urb); after it, the endpoint is left alone.
    assert wait(host, lambda: not dev.priv.intr_polling)
    m.set_link(False)
    pending = m.pending_in_transfers(m.INTR_IN)
    assert pending > 0
    assert not wait(host, lambda: m.pending_in_transfers(m.INTR_IN) != pending, WINDOW)
    # ...and is read once the interface is up again: no carrier, as the adapter says.
    up(host, dev, carrier=False)
    assert wait(host, lambda: not dev._carrier)
    assert not _link_detected(host, dev)
    m.set_link(True)  # the carrier comes back once the adapter reports the link
    assert wait(host, lambda: dev._carrier)
    assert _link_detected(host, dev)
    _traffic_ok(host, m, dev, 0x40)


@pytest.mark.parametrize("sim", MODELS)
@pytest.mark.parametrize("was_up", [False, True])
def test_unplug_while_down_leaves_no_stale_state(host, usbnet, sim, was_up):
    drv = usbnet(sim=sim)
    m = drv.sim_model
    (dev,) = drv.devices
    un = dev.priv
    if was_up:
        up(host, dev)
        host.attachment.down(dev)
    m.unplug()  # no transfer is running on a down interface: the bus scan notices
    assert wait(host, lambda: un.state == "released" and drv.devices == [])
    assert host.dev_get_by_name("usb0") is None
    assert drv.units == [] and not un.join(), "threads of the unplugged adapter still run"
    m.replug()
    assert wait(host, lambda: len(drv.devices) == 1)
    (new,) = drv.devices
    assert new.name == "usb0" and not new.is_up and not new._carrier
    up(host, new)
    _traffic_ok(host, m, new, 0x50)
