"""Defects found walking the usbnet docs as a user (simulated adapters, memory attachment)."""

from __future__ import annotations

import errno
import logging

import pytest
from netdrv_usbnet.codecs import cdc_ecm as ecm
from netdrv_usbnet.sim import CdcEcmModel, CdcNcmModel
from usbnet_helpers import frame, received, up, wait

SIM_BACKEND = "netdrv_usbnet.sim:get_backend"
NEW = b"\x02\x42\x42\x42\x42\x42"


@pytest.mark.parametrize("model", [CdcEcmModel, CdcNcmModel])
def test_walk_random_mac_after_a_bad_mac_string_still_receives_unicast(
    host, usbnet, sim_backend, model
):
    # The adapter filters directed frames on its own address, which the host does not use
    # once it took a random one: unicast to the host must still arrive.
    m = sim_backend.plug(model(bad_mac_string=True))
    drv = usbnet(backend=SIM_BACKEND)
    (dev,) = drv.devices
    assert dev.priv.mac_random
    up(host, dev)
    m.wire_rx(frame(bytes(dev.dev_addr), 80, 7))
    got = received(host, dev, 1)
    assert [f[14] for f in got] == [7], "unicast to the host's random MAC was filtered out"


def test_walk_ecm_mac_change_follows_eth_mac_addr(host, usbnet):
    # Linux's cdc_ether has eth_mac_addr: refused while up (EBUSY), accepted while down.
    drv = usbnet(sim="cdc_ether")
    m = drv.sim_model
    (dev,) = drv.devices
    up(host, dev)
    assert host.dev_set_mac_address(dev, NEW) == -errno.EBUSY
    host.attachment.down(dev)
    assert host.dev_set_mac_address(dev, NEW) == 0
    assert bytes(dev.dev_addr) == NEW
    # ECM cannot tell the adapter: it receives promiscuously so frames to NEW arrive.
    assert wait(host, lambda: bool(m.packet_filter & ecm.PROMISCUOUS))
    up(host, dev)
    m.wire_rx(frame(NEW, 80, 9))
    assert [f[14] for f in received(host, dev, 1)] == [9]


def test_walk_ncm_mac_change_is_sent_with_set_net_address(host, usbnet):
    drv = usbnet(sim="cdc_ncm")
    m = drv.sim_model
    (dev,) = drv.devices
    assert host.dev_set_mac_address(dev, NEW) == 0
    assert wait(host, lambda: m.mac == NEW), "SET_NET_ADDRESS not sent"
    assert not m.packet_filter & ecm.PROMISCUOUS, "the adapter filters on NEW itself"
    up(host, dev)
    m.wire_rx(frame(NEW, 80, 5))
    assert [f[14] for f in received(host, dev, 1)] == [5]


def test_walk_second_driver_on_the_same_bus_finds_the_adapter_busy(
    host, usbnet, sim_backend, caplog
):
    # usbfs lets one open file claim an interface: a second driver (another daemon on the
    # same USB bus) must be refused with the busy message, not drive the adapter as well.
    from usbnet_helpers import load, unload

    from netdrv_core import Host

    m = sim_backend.plug(CdcEcmModel())
    first = usbnet(backend=SIM_BACKEND)
    assert len(first.devices) == 1 and m.claimed == {0, 1}
    other = Host()
    try:
        second = load(other, backend=SIM_BACKEND, hotplug_interval=0)
        try:
            assert second.devices == [], "the adapter is driven twice"
            assert "is busy" in caplog.text
        finally:
            unload(other, second)
        assert m.claimed == {0, 1}, "the refused driver released the first one's interfaces"
    finally:
        other.close()
        other.loop.close()


def test_walk_busy_adapter_is_bound_once_the_other_driver_lets_go(
    host, usbnet, sim_backend, caplog
):
    # "binds adapters as they are plugged in": one another program held is, for us, plugged in
    # when it is released — without a replug, and warned about once, not on every scan.
    from usbnet_helpers import load, unload

    from netdrv_core import Host

    sim_backend.plug(CdcEcmModel())
    other = Host()
    try:
        first = load(other, backend=SIM_BACKEND, hotplug_interval=0)
        drv = usbnet(backend=SIM_BACKEND, hotplug_interval="0.02")
        assert drv.devices == []
        assert wait(host, lambda: caplog.text.count("is busy") >= 1)
        for _ in range(5):  # several scans while it stays busy
            drv._rescan.set()
            host.loop.run_until_idle()
            wait(host, lambda: False, 0.05)
        assert caplog.text.count("is busy") == 1, "warned on every scan"
        assert "another program holds 0525:a4a1 at usb-1-1" in drv.describe()
        unload(other, first)
        assert wait(host, lambda: len(drv.devices) == 1), "not bound once released"
    finally:
        other.close()
        other.loop.close()


@pytest.mark.parametrize(
    ("params", "named"),
    [({"vid": "0b95"}, "vid=0b95"), ({"pid": "1790"}, "pid=1790"), ({"bus": "2"}, "bus=2"),
     ({"port": "1.4"}, "port=1.4")],
)  # fmt: skip
def test_walk_sim_excluded_by_the_filters_is_an_error(host, params, named):
    # sim=cdc_ether vid=0b95: the simulated adapter would never bind, and the load said only
    # "waiting for one to be plugged in".
    from usbnet_helpers import load

    from netdrv_core.errors import ParameterError

    with pytest.raises(ParameterError) as e:
        load(host, sim="cdc_ether", **params)
    assert named in str(e.value) and "0525:a4a1" in str(e.value)


@pytest.mark.parametrize("wire", ["averyveryverylongname", "a/b", "two words", ""])
def test_walk_bad_sim_wire_name_is_refused_before_anything_is_created(host, wire):
    # A 21-character name was silently cut to 15 by the kernel, and the load then named a
    # TAP that does not exist ("cable on TAP averyveryverylongname").
    from usbnet_helpers import load

    from netdrv_core.errors import ParameterError

    with pytest.raises(ParameterError) as e:
        load(host, sim="cdc_ether", sim_wire=wire)
    assert "sim_wire" in str(e.value)


def test_walk_message_level_is_usbnets(host, usbnet, caplog):
    # Linux usbnet_ethtool_ops has get/set_msglevel; msg_enable starts as drv|probe|link.
    from netdrv_core.ethtool import ethtool_get_msglevel, ethtool_set_msglevel

    caplog.set_level(logging.INFO, "netdrv.usbnet")
    drv = usbnet(sim="cdc_ether")
    m = drv.sim_model
    (dev,) = drv.devices
    assert ethtool_get_msglevel(host, dev) == 0x7
    up(host, dev)
    assert "usb0: link up" in caplog.text
    assert ethtool_set_msglevel(host, dev, 0x3)  # link messages off
    assert ethtool_get_msglevel(host, dev) == 0x3
    caplog.clear()
    m.set_link(False)
    assert wait(host, lambda: not dev._carrier)
    assert "link down" not in caplog.text


def test_walk_stall_ioctl_on_a_wrong_endpoint_says_which_are_valid(host, usbnet):
    # "netdrv set usb0 ioctl=0x89f3:0x01" on an AX88179 (bulk OUT 0x03) answered only
    # "Invalid argument", and the state ioctl lists the endpoints in decimal.
    from netdrv_usbnet.core import USBNET_IOC_SIM_STALL

    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    with pytest.raises(OSError) as e:
        host.dev_ioctl(dev, USBNET_IOC_SIM_STALL, "0x01")
    assert e.value.errno == errno.EINVAL
    assert "0x01" in str(e.value) and "0x82" in str(e.value) and "0x03" in str(e.value)
    assert not drv.sim_model.halted


@pytest.mark.parametrize("model", [CdcEcmModel, CdcNcmModel])
def test_walk_cdc_notification_endpoint_smaller_than_a_notification_is_ignored(
    host, usbnet, sim_backend, caplog, model
):
    # wMaxPacketSize 4: every notification came in 4-byte pieces, each a "short" one, so the
    # carrier never came on. Linux's usbnet_generic_cdc_bind ignores such an endpoint
    # ("bad notification endpoint"): the carrier is then on while up.
    m = sim_backend.plug(type("Small", (model,), {"INTR_MPS": 4})())
    drv = usbnet(backend=SIM_BACKEND)
    (dev,) = drv.devices
    assert dev.priv.ep_int is None
    assert "wMaxPacketSize 4" in caplog.text
    up(host, dev)
    m.wire_rx(frame(bytes(dev.dev_addr), 80, 3))
    assert [f[14] for f in received(host, dev, 1)] == [3]


def test_walk_a_stall_reading_the_mac_string_is_retried(host, usbnet, sim_backend):
    # One STALLed control request while binding (the LANGID read) gave the adapter a random
    # MAC for good; Linux's usb_get_string tries a STALLed string read three times. (NCM's
    # first request is GET_NTB_PARAMETERS, whose STALL refuses the adapter, as in Linux.)
    m = sim_backend.plug(CdcEcmModel())
    m.stall(0)
    drv = usbnet(backend=SIM_BACKEND)
    (dev,) = drv.devices
    assert bytes(dev.dev_addr) == m.mac and not dev.priv.mac_random


@pytest.mark.parametrize("port", ["abc", "1-4", "1..4", ".1", "usb-1-1"])
def test_walk_malformed_port_path_is_refused(host, port):
    # port=1-4 (or the bus_info "usb-1-1" ethtool shows) never matched anything: the load
    # said only that it was waiting.
    from usbnet_helpers import load

    from netdrv_core.errors import ParameterError

    with pytest.raises(ParameterError) as e:
        load(host, backend=SIM_BACKEND, port=port)
    assert f"port={port}" in str(e.value) and "1.4" in str(e.value)


def test_walk_hexid_error_says_what_an_id_looks_like():
    # vid=zz answered "invalid literal for int() with base 16: 'zz'".
    from netdrv_usbnet.driver import hexid

    with pytest.raises(ValueError) as e:
        hexid("zz")
    assert "int()" not in str(e.value) and "0b95" in str(e.value)
    assert hexid("0x0B95") == 0x0B95
