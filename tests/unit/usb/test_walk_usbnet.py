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
    # The first frame went before the adapter first reported its link: without carrier the
    # core drops it, as Linux's noop_qdisc does; the other four waited for the data setting.
    assert dev.core_stats.tx_qdisc_drops == 1 and dev.core_stats.tx_submitted == 4
    assert dev.stats.tx_packets == 4 and un.counters["kevent_errors"] == 0


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


def test_walk_hotplug_off_and_nothing_found_does_not_say_waiting(host, usbnet, sim_backend):
    # hotplug_interval=0 with no adapter said "waiting for one to be plugged in (hotplug off)":
    # nothing is ever bound then, whatever is plugged in.
    drv = usbnet(backend=SIM_BACKEND, hotplug_interval=0)
    text = drv.describe()
    assert drv.devices == [] and "waiting" not in text, text
    assert "hotplug off" in text and "none will be" in text and "reload" in text, text
    assert "hotplug_interval=0" in text


def test_walk_a_machine_without_a_usb_bus_says_so(host, usbnet, monkeypatch, tmp_path, caplog):
    # On a machine (VM, container) with no USB bus at all, the load said it was waiting for an
    # adapter to be plugged in, forever: none can appear there.
    import netdrv_usbnet.driver as driver

    monkeypatch.setattr(driver, "USB_SYSFS", str(tmp_path / "no-such-dir"))
    with caplog.at_level(logging.WARNING, logger="netdrv.usbnet"):
        drv = usbnet()  # libusb, as `netdrv load usbnet`: it finds nothing here
    text = drv.describe()
    assert drv.devices == [] and "no USB bus" in text and "sim=" in text, text
    assert str(tmp_path / "no-such-dir") in text
    assert any("no USB bus" in r.getMessage() for r in caplog.records), "the log says so too"


def test_walk_a_machine_with_a_usb_bus_gets_no_such_hint(host, usbnet, monkeypatch, tmp_path):
    import netdrv_usbnet.driver as driver

    monkeypatch.setattr(driver, "USB_SYSFS", str(tmp_path))  # it exists
    drv = usbnet()
    assert "waiting" in drv.describe() and "no USB bus" not in drv.describe()


def test_walk_sim_unplugged_for_good_is_not_waited_for(host, usbnet):
    # 0x89f1:0 pulls the simulated adapter for good; status said "waiting for one to be
    # plugged in" as if it would come back.
    from netdrv_usbnet.core import USBNET_IOC_SIM_UNPLUG

    drv = usbnet(sim="cdc_ether")
    (dev,) = drv.devices
    assert host.dev_ioctl(dev, USBNET_IOC_SIM_UNPLUG, 0) == 0
    assert wait(host, lambda: not drv.devices)
    assert "unplugged for good" in drv.describe() and "reload" in drv.describe()


def test_walk_sim_unplugged_for_a_while_says_it_comes_back(host, usbnet):
    from netdrv_usbnet.core import USBNET_IOC_SIM_UNPLUG

    drv = usbnet(sim="cdc_ether")
    (dev,) = drv.devices
    assert host.dev_ioctl(dev, USBNET_IOC_SIM_UNPLUG, 300) == 0
    assert wait(host, lambda: not drv.devices)
    assert "plugged back in shortly" in drv.describe()
    assert wait(host, lambda: len(drv.devices) == 1), "replugged and bound again"
    assert "unplugged" not in drv.describe()
    # Replugged, the timer that did it is no longer pending: unplugged now for good, the
    # description must not promise a replug.
    (dev,) = drv.devices
    assert host.dev_ioctl(dev, USBNET_IOC_SIM_UNPLUG, 0) == 0
    assert wait(host, lambda: not drv.devices)
    assert "unplugged for good" in drv.describe(), drv.describe()


def test_walk_interface_name_equal_to_the_sim_wire_is_refused(host):
    # name=usbsim0 (the default sim_wire): the load failed with "interface 'usbsim0' already
    # exists" without saying the cable's TAP took it.
    from usbnet_helpers import load

    from netdrv_core.errors import ParameterError

    with pytest.raises(ParameterError) as e:
        load(host, sim="cdc_ether", name="usbsim0")
    assert "sim_wire=usbsim0" in str(e.value) and "name=usbsim0" in str(e.value)


def test_walk_two_simulated_adapters_at_once(host, usbnet):
    # sim= took one adapter, and usbnet loads once per namespace: two adapters at once
    # ("one interface usb0, usb1, … per adapter") could not be tried without hardware.
    from netdrv_usbnet.core import USBNET_IOC_SIM_UNPLUG

    drv = usbnet(sim="cdc_ether,ax88179")
    assert [d.name for d in drv.devices] == ["usb0", "usb1"]
    ecm_dev, ax_dev = drv.devices
    assert (ecm_dev.priv.info.name, ax_dev.priv.info.name) == ("cdc_ether", "ax88179_178a")
    m_ecm, m_ax = drv.sim_models
    assert drv.sim_model is m_ecm and m_ecm is not m_ax
    assert ecm_dev.dev_addr != ax_dev.dev_addr
    assert ecm_dev.priv.bus_info != ax_dev.priv.bus_info
    for dev, m in ((ecm_dev, m_ecm), (ax_dev, m_ax)):
        up(host, dev)
        host.attachment.send(dev, frame(PEER, 100, 1))
        assert settle_tx(host, dev) and m.take_wire_tx() == [frame(PEER, 100, 1)]
        m.wire_rx(frame(bytes(dev.dev_addr), 90, 2))
        assert [f[14] for f in received(host, dev, 1)] == [2]
    text = drv.describe()
    assert "simulated cdc_ether adapter" in text and "simulated ax88179 adapter" in text, text
    # One pulled out for good: the other runs on.
    assert host.dev_ioctl(ecm_dev, USBNET_IOC_SIM_UNPLUG, 0) == 0
    assert wait(host, lambda: [d.name for d in drv.devices] == ["usb1"])
    host.attachment.send(ax_dev, frame(PEER, 100, 3))
    assert settle_tx(host, ax_dev) and m_ax.take_wire_tx() == [frame(PEER, 100, 3)]
    assert "cdc_ether adapter unplugged for good" in drv.describe()
    assert "ax88179 adapter unplugged" not in drv.describe()


@pytest.mark.parametrize(
    ("sim", "wire", "message"),
    [("cdc_ether,ax88179", "simw0", "2 names joined by commas"),
     ("cdc_ether", "simw0,simw1", "names 2 TAPs: one per adapter"),
     ("cdc_ether,cdc_ncm", "simw0,simw0", "a TAP of its own"),
     ("cdc_ether,cdc_ncm", "simw0,a/b", "sim_wire='a/b'")],
)  # fmt: skip
def test_walk_sim_wire_names_one_tap_per_adapter(host, sim, wire, message):
    from usbnet_helpers import load

    from netdrv_core.errors import ParameterError

    with pytest.raises(ParameterError) as e:
        load(host, sim=sim, sim_wire=wire)
    assert message in str(e.value)


def test_walk_sim_list_parameter():
    from netdrv_usbnet.driver import Usbnet, sim_wire_names

    from netdrv_core.params import parse_params

    (param,) = [p for p in Usbnet.parameters if p.name == "sim"]
    assert param.convert("cdc_ether, ax88179") == "cdc_ether,ax88179"
    assert param.convert("") == ""
    with pytest.raises(ValueError, match="'ecm' is no simulated adapter: one of cdc_ether"):
        param.convert("cdc_ether,ecm")
    assert parse_params("usbnet", Usbnet.parameters, {"sim": "cdc_ncm32"})["sim"] == "cdc_ncm32"
    assert sim_wire_names("cdc_ether,cdc_ncm,ax88179", "usbsim0") == ["usbsim0", "usbsim1",
                                                                     "usbsim2"]  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "data", "says"),
    [("unplug", None, "takes the milliseconds"), ("unplug", -5, "takes the milliseconds"),
     ("unplug", "soon", "takes the milliseconds"), ("link", None, "takes 0"),
     ("link", 2, "takes 0"), ("stall", "bulk", "'bulk' is no endpoint address")],
)  # fmt: skip
def test_walk_sim_ioctl_refusals_say_what_the_ioctl_takes(host, usbnet, request_, data, says):
    # `netdrv set usb0 ioctl=0x89f2:2` answered a bare "Invalid argument", and 0x89f2 with no
    # value took the cable's link down (0x89f1 with none unplugged the adapter for good).
    from netdrv_usbnet.core import USBNET_IOC_SIM_LINK, USBNET_IOC_SIM_STALL, USBNET_IOC_SIM_UNPLUG

    request = {"unplug": USBNET_IOC_SIM_UNPLUG, "link": USBNET_IOC_SIM_LINK,
               "stall": USBNET_IOC_SIM_STALL}[request_]  # fmt: skip
    drv = usbnet(sim="cdc_ether")
    (dev,) = drv.devices
    up(host, dev)
    with pytest.raises(OSError) as e:
        host.dev_ioctl(dev, request, data)
    assert e.value.errno == errno.EINVAL and says in str(e.value), str(e.value)
    # The adapter, not the interface: `netdrv set usb0 …` puts "usb0: " before the refusal.
    assert str(e.value).count("0525:a4a1 at usb-") == 1 and "usb0" not in str(e.value)
    assert drv.sim_model.is_plugged and drv.sim_model.link_up and not drv.sim_model.halted
    assert drv.devices == [dev] and dev._carrier


def test_walk_sim_ioctls_on_a_real_adapter_say_they_are_for_simulated_ones(host, usbnet):
    from netdrv_usbnet.core import USBNET_IOC_SIM_UNPLUG

    drv = usbnet(sim="cdc_ether")
    (dev,) = drv.devices
    dev.priv.simulated = False  # as an adapter on libusb is
    with pytest.raises(OSError) as e:
        host.dev_ioctl(dev, USBNET_IOC_SIM_UNPLUG, 100)
    assert e.value.errno == errno.EOPNOTSUPP and "simulated adapters only" in str(e.value)
    assert drv.sim_model.is_plugged


def test_walk_an_adapter_the_id_table_denies_is_named_not_waited_for(
    host, usbnet, sim_backend, caplog
):
    # A Realtek RTL8153 (whose CDC-ECM configuration is only a fallback for r8152) was left
    # alone without a word: its owner saw "waiting for one to be plugged in" with it plugged in.
    realtek = sim_backend.plug(CdcEcmModel(vid=0x0BDA, pid=0x8153))
    with caplog.at_level(logging.INFO, logger="netdrv.usbnet"):
        drv = usbnet(backend=SIM_BACKEND, hotplug_interval=0.02)
        assert drv.devices == []
        assert wait(host, lambda: False, timeout=0.3) is False  # several hotplug scans
    text = drv.describe()
    assert "left alone: 0bda:8153 at usb-1-1: Realtek RTL8153" in text and "r8152" in text, text
    said = [r for r in caplog.records if "left alone" in r.getMessage()]
    assert len(said) == 1, "once, not on every scan"
    assert realtek.claimed == set(), "not opened"
    # Beside an adapter it binds, the denied one is still named.
    sim_backend.plug(CdcNcmModel())
    assert wait(host, lambda: len(drv.devices) == 1)
    assert "usb0: " in drv.describe() and "left alone: 0bda:8153" in drv.describe()
    # Unplugged, it is no longer mentioned.
    realtek.unplug()
    assert wait(host, lambda: "left alone" not in drv.describe())
