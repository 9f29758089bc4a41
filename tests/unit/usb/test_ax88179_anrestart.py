"""``ethtool -r`` on the simulated AX88179: a real PHY drops the link while it renegotiates.

Writing BMCR_ANRESTART (``mii_nway_restart``) makes the PHY start autonegotiation over:
the link is down until it completes, and the chip's interrupt endpoint reports it down,
then up — even when it comes back in the mode it had.  The core sees NO-CARRIER for that
while (``netif_carrier_off``, then ``netif_carrier_on``), as with a real adapter.
"""

from __future__ import annotations

from typing import Any

import pytest
from usbnet_helpers import BCAST, frame, received, up, wait

from netdrv_core.ethtool import ethtool_nway_reset


def test_an_autoneg_restart_takes_the_carrier_off_and_back_on(
    host: Any, usbnet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    un = dev.priv
    up(host, dev)
    seen: list[bool] = []
    orig = host.attachment.carrier_changed

    def carrier_changed(d: Any) -> None:
        seen.append(d._carrier)
        orig(d)

    monkeypatch.setattr(host.attachment, "carrier_changed", carrier_changed)
    changes = un.counters["link_changes"]
    mode = m.link_mode()
    ethtool_nway_reset(host, dev)
    assert wait(host, lambda: seen == [False, True]), seen
    assert un.counters["link_changes"] == changes + 2
    assert dev._carrier and m.link_mode() == mode
    m.wire_rx(frame(BCAST, 100, tag=9))  # the link works again after the negotiation
    assert [f[14] for f in received(host, dev, 1)] == [9]


def test_an_autoneg_restart_on_a_link_that_is_down_reports_nothing(host: Any, usbnet: Any) -> None:
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    m.set_link(False)
    assert wait(host, lambda: not dev._carrier)
    queued, restarts = m.stats.notifications_queued, m.autoneg_restarts
    ethtool_nway_reset(host, dev)
    assert wait(host, lambda: m.autoneg_restarts == restarts + 1)
    assert m.stats.notifications_queued == queued  # no cable: nothing to negotiate
    assert not dev._carrier
