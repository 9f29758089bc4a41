"""Wake-on-LAN on the AX88179 (Linux's ax88179_get_wol/ax88179_set_wol: RWLC and RWMP in
AX_MONITOR_MOD, held by the simulated chip) and usbnet's ``get_ts_info``."""

from __future__ import annotations

import errno

import pytest
from netdrv_usbnet.codecs import ax88179 as ax

from netdrv_core import Host
from netdrv_core.ethtool import (
    WAKE_MAGIC,
    WAKE_PHY,
    EthtoolError,
    WolInfo,
    ethtool_get_wol,
    ethtool_request,
)

PME = ax.AX_MONITOR_MODE_PMETYPE | ax.AX_MONITOR_MODE_PMEPOL


def test_magic_packet_wake_is_on_after_reset_as_the_chip_says(host: Host, usbnet) -> None:
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    m = drv.sim_model
    assert m.regs[ax.AX_MONITOR_MOD] == PME | ax.AX_MONITOR_MODE_RWMP  # ax88179_reset wrote it
    assert ethtool_get_wol(host, dev) == WolInfo(supported=WAKE_PHY | WAKE_MAGIC,
                                                 wolopts=WAKE_MAGIC)  # fmt: skip
    settings, _ = ethtool_request(host, dev, "settings")
    assert (settings["wol"]["supported_modes"], settings["wol"]["wake_on"]) == ("pg", "g")


def test_set_wol_writes_the_chips_register_and_get_reads_it_back(host: Host, usbnet) -> None:
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    m = drv.sim_model
    assert ethtool_request(host, dev, "wol", {"wolopts": WAKE_PHY | WAKE_MAGIC})[1] is True
    assert m.regs[ax.AX_MONITOR_MOD] == PME | ax.AX_MONITOR_MODE_RWLC | ax.AX_MONITOR_MODE_RWMP
    assert ethtool_request(host, dev, "wol", {"wolopts": 0})[0]["wake_on"] == "d"
    assert m.regs[ax.AX_MONITOR_MOD] == PME, "the PME pin's type and polarity are kept"
    # the state is the chip's: a register changed behind the driver's back is what get_wol shows
    m.regs[ax.AX_MONITOR_MOD] |= ax.AX_MONITOR_MODE_RWLC
    assert ethtool_get_wol(host, dev).wolopts == WAKE_PHY


@pytest.mark.parametrize("wolopts", [1 << 1, 1 << 6])  # unicast, magicsecure
def test_modes_the_chip_lacks_are_refused(host: Host, usbnet, wolopts: int) -> None:
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    before = drv.sim_model.regs[ax.AX_MONITOR_MOD]
    with pytest.raises(EthtoolError, match="cannot enable unsupported WoL mode") as exc:
        ethtool_request(host, dev, "wol", {"wolopts": wolopts})
    assert exc.value.errno == errno.EINVAL
    assert drv.sim_model.regs[ax.AX_MONITOR_MOD] == before


def test_cdc_ether_has_no_wol_but_software_time_stamps(host: Host, usbnet) -> None:
    drv = usbnet(sim="cdc_ether")
    (dev,) = drv.devices
    assert ethtool_request(host, dev, "settings")[0]["wol"] is None
    with pytest.raises(EthtoolError) as exc:
        ethtool_request(host, dev, "wol", {"wolopts": WAKE_MAGIC})
    assert exc.value.errno == errno.EOPNOTSUPP
    # usbnet's ethtool_ops: .get_ts_info = ethtool_op_get_ts_info
    assert ethtool_request(host, dev, "tsinfo")[0]["capabilities"] == [
        "software-transmit", "software-receive", "software-system-clock"]  # fmt: skip
