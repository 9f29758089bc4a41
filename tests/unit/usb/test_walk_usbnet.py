"""Defects found walking the usbnet docs as a user (simulated adapters, memory attachment)."""

from __future__ import annotations

import errno
import logging

import pytest
from netdrv_usbnet.codecs import NtbParameters
from netdrv_usbnet.codecs import cdc_ecm as ecm
from netdrv_usbnet.sim import CdcEcmModel, CdcNcmModel
from usbnet_helpers import BCAST, PEER, frame, received, settle_tx, up, wait

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


def test_walk_ncm_runtime_set_net_address_goes_through_data_alt_0(host, usbnet, sim_backend):
    # NCM 1.0 §6.2 wants SET_NET_ADDRESS in data alternate setting 0; it was sent in alt 1,
    # which a strict function (the simulated one now) STALLs. Alt 0 resets the NTB settings
    # (NCM 1.0 §7.2), which must be sent again: here the function would otherwise send NTBs
    # of its 32 KiB maximum into the host's 16 KiB reads.
    m = sim_backend.plug(CdcNcmModel(ntb_params=NtbParameters(dwNtbInMaxSize=32768)))
    drv = usbnet(backend=SIM_BACKEND)
    (dev,) = drv.devices
    un = dev.priv
    up(host, dev)
    host.attachment.down(dev)
    assert m.ntb_in_size == un.info.rx_max == 16384
    assert host.dev_set_mac_address(dev, NEW) == 0
    assert wait(host, lambda: m.mac == NEW), "SET_NET_ADDRESS not accepted"
    assert wait(host, lambda: m.alt_settings[1] == 1 and not un.kq)
    assert m.ntb_in_size == 16384, "SET_NTB_INPUT_SIZE not sent again after alt 0"
    assert wait(host, lambda: m.packet_filter == ecm.DIRECTED | ecm.BROADCAST)
    up(host, dev)  # the function reported its link again on the alt 1 selection
    burst = [frame(NEW, 1400, i) for i in range(20)]  # more than 16 KiB: NTBs fill up
    assert m.wire_rx_many(burst) == 20
    assert received(host, dev, 20) == burst
    assert dev.stats.rx_errors == 0 and dev.stats.rx_over_errors == 0


def test_walk_ncm_address_change_then_up_at_once_loses_nothing(host, usbnet):
    # `ip link set usb0 address …; ip link set usb0 up`: the interface may come up while the
    # kevent worker has the data interface in alt 0 for SET_NET_ADDRESS; the reader and the
    # writer wait for the data setting instead of failing on endpoints that are not there.
    import threading

    drv = usbnet(sim="cdc_ncm")
    m = drv.sim_model
    (dev,) = drv.devices
    un = dev.priv
    for i in range(5):
        mac = bytes([0x02, 0x42, 0, 0, 0, i])
        busy = threading.Event()
        un.defer(busy.wait, 5)  # the worker is busy: the change runs once the interface is up
        assert host.dev_set_mac_address(dev, mac) == 0
        up(host, dev, carrier=i > 0)
        host.attachment.send(dev, frame(PEER, 90, i))
        m.wire_rx(frame(BCAST, 90, 0x40 + i))  # a read is waiting for the bulk IN endpoint
        assert [f[14] for f in received(host, dev, 1)] == [0x40 + i]
        busy.set()
        assert settle_tx(host, dev)
        assert wait(host, lambda mac=mac: m.mac == mac and not un.kq and dev._carrier)
        m.wire_rx(frame(mac, 90, 0x80 + i))
        assert [f[14] for f in received(host, dev, 1)] == [0x80 + i]
        host.attachment.down(dev)
    assert dev.stats.rx_errors == 0 and dev.stats.tx_errors == 0
    assert dev.stats.tx_packets == 5 and un.counters["kevent_errors"] == 0


class _NoNetAddressNcm(CdcNcmModel):
    """Offers SET_NET_ADDRESS (bmNetworkCapabilities) but STALLs it in every setting."""

    def _req_set_net_address(self, value, data, length):
        from netdrv_usbnet.sim.device import Stall

        raise Stall("SET_NET_ADDRESS refused")


def test_walk_ncm_refusing_set_net_address_falls_back_to_promiscuous(
    host, usbnet, sim_backend, caplog
):
    caplog.set_level(logging.INFO, "netdrv.usbnet")
    m = sim_backend.plug(_NoNetAddressNcm())
    drv = usbnet(backend=SIM_BACKEND)
    (dev,) = drv.devices
    assert host.dev_set_mac_address(dev, NEW) == 0
    assert wait(host, lambda: bool(m.packet_filter & ecm.PROMISCUOUS))
    assert m.mac == m.permanent_mac and m.alt_settings[1] == 1
    said = [r.getMessage() for r in caplog.records if "promiscuous" in r.getMessage()]
    assert said and said[-1].startswith("usb0: "), said
    up(host, dev)
    m.wire_rx(frame(NEW, 80, 6))
    assert [f[14] for f in received(host, dev, 1)] == [6]


def test_walk_log_lines_name_the_interface(host, usbnet, sim_backend, caplog):
    # "set_rx_mode failed" and the random-MAC warning named the adapter only; Linux's
    # netdev_warn prefixes the interface.
    caplog.set_level(logging.INFO, "netdrv.usbnet")
    m = sim_backend.plug(CdcEcmModel(bad_mac_string=True))
    drv = usbnet(backend=SIM_BACKEND)
    (dev,) = drv.devices
    random = [r.getMessage() for r in caplog.records if "random MAC" in r.getMessage()]
    assert len(random) == 1 and random[0].startswith("usb0: 0525:a4a1 at usb-1-1"), random
    promisc = [r.getMessage() for r in caplog.records if "promiscuous" in r.getMessage()]
    assert len(promisc) == 1 and promisc[0].startswith("usb0: "), promisc
    up(host, dev)
    m.timeout_next(0)
    host.dev_set_rx_mode(dev, promisc=True)
    assert wait(host, lambda: dev.priv.counters["kevent_errors"] == 1)
    failed = [r.getMessage() for r in caplog.records if "set_rx_mode failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].startswith("usb0: 0525:a4a1 at usb-1-1"), failed
    m.unplug()
    assert wait(host, lambda: drv.devices == [])
    gone = [r.getMessage() for r in caplog.records
            if "disconnected" in r.getMessage() or "removed from the bus" in r.getMessage()]  # fmt: skip
    assert len(gone) == 1 and gone[0].startswith("usb0: 0525:a4a1 at usb-1-1 (cdc_ether): ")
    assert "usb0: usb0" not in caplog.text


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
    assert dev.perm_addr == m.mac  # the adapter's own: ethtool -P shows it


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
