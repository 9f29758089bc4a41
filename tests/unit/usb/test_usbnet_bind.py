"""Binding through pyusb on the simulator, per minidriver; loading, parameters and clear errors."""

from __future__ import annotations

import errno
import logging

import pytest
import usb.backend.libusb1
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.codecs import cdc_ecm as ecm
from netdrv_usbnet.core import USBNET_IOC_GETSTATE
from netdrv_usbnet.driver import NO_LIBUSB
from netdrv_usbnet.sim import Ax88179Model, CdcEcmModel, CdcNcmModel, SimBackend, usb_error
from usbnet_helpers import load, unload, up, usbnet_threads

from netdrv_core import DriverError, ParameterError
from netdrv_core.errors import NotPermittedError
from netdrv_core.ethtool import ethtool_report


def test_cdc_ether_binds_through_pyusb(host, usbnet):
    drv = usbnet(sim="cdc_ether")
    m = drv.sim_model
    (dev,) = drv.devices
    assert dev.name == "usb0" and dev.dev_addr == m.mac
    assert m.claimed == {0, 1}, "control and data interface claimed"
    assert m.alt_settings[1] == 1, "the data interface's bulk endpoints exist only in alt 1"
    assert m.packet_filter == ecm.DIRECTED | ecm.BROADCAST
    un = dev.priv
    assert (un.ep_in, un.ep_out, un.ep_int) == (0x82, 0x01, 0x81)
    assert un.int_mps == 16 and un.in_mps == 512
    assert un.rx_urb_size % un.in_mps == 0, "a bulk IN buffer must be a multiple of the packet size"
    assert dev.max_mtu == 1500 and dev.mtu == 1500
    assert not dev._carrier, "carrier waits for NETWORK_CONNECTION"
    up(host, dev)
    rep = ethtool_report(dev)
    assert rep["driver"] == "cdc_ether" and rep["link"] is True
    assert rep["bus_info"] == f"usb-1-{m._backend._ports[id(m)]}"
    assert rep["speed"] == m.speed_bps // 1_000_000
    state = host.dev_ioctl(dev, USBNET_IOC_GETSTATE)
    assert state["minidriver"] == "cdc_ether" and state["vid"] == "0525" and state["simulated"]
    assert "usb0" in drv.describe() and "0525:a4a1" in drv.describe()


def test_cdc_ncm_negotiates_ntb_parameters(host, usbnet):
    drv = usbnet(sim="cdc_ncm")
    m = drv.sim_model
    (dev,) = drv.devices
    un = dev.priv
    assert m.claimed == {0, 1} and m.alt_settings[1] == 1
    assert m.ntb_in_size == un.rx_urb_size == 16384, "SET_NTB_INPUT_SIZE took effect"
    assert un.info.encoder.max_size <= m.ntb_params.dwNtbOutMaxSize
    assert m.packet_filter == ecm.DIRECTED | ecm.BROADCAST
    up(host, dev)
    assert ethtool_report(dev)["driver"] == "cdc_ncm"
    assert un.rx_qlen == 60 * 1518 // 16384 and un.tx_qlen == 60 * 1518 // 1514


def test_cdc_ncm_small_input_size_is_respected(host, usbnet, sim_backend):
    from netdrv_usbnet.codecs import NtbParameters

    m = CdcNcmModel(ntb_params=NtbParameters(dwNtbInMaxSize=4096, dwNtbOutMaxSize=4096))
    sim_backend.plug(m)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    un = drv.devices[0].priv
    assert m.ntb_in_size == un.rx_urb_size == 4096
    assert un.info.encoder.max_size == 4096


def test_ax88179_reset_enables_receive(host, usbnet):
    drv = usbnet(sim="ax88179")
    m = drv.sim_model
    (dev,) = drv.devices
    assert m.claimed == {0}
    assert m.rx_ctl & ax.AX_RX_CTL_START and m.medium_mode & ax.AX_MEDIUM_RECEIVE_EN
    assert dev.dev_addr == m.mac == m.permanent_mac
    assert dev.max_mtu == 4088 and dev.rx_csum_unnecessary
    up(host, dev)
    rep = ethtool_report(dev)
    assert rep["driver"] == "ax88179_178a" and rep["speed"] == 1000 and rep["duplex"] == "full"
    # link_reset programmed the bulk-IN aggregation for gigabit over USB 3.
    assert (
        bytes(m.regs[ax.AX_RX_BULKIN_QCTRL : ax.AX_RX_BULKIN_QCTRL + 5])
        == ax.AX88179_BULKIN_SIZE[0]
    )
    assert dev.priv.rx_urb_size == 1024 * (ax.AX88179_BULKIN_SIZE[0][3] + 2)
    assert m.medium_mode & ax.AX_MEDIUM_GIGAMODE


def test_ax88179_unbind_stops_receiving_and_powers_the_phy_down(host, usbnet, sim_backend):
    """ax88179_unbind: once the driver lets go (unload), RX_CTL is STOP, the clocks off and
    the PHY powered down; the next bind's reset powers it up again."""
    m = sim_backend.plug(Ax88179Model())
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert len(drv.devices) == 1
    assert m.rx_ctl & ax.AX_RX_CTL_START and m.regs[ax.AX_CLK_SELECT]
    unload(host, drv)
    assert m.rx_ctl == ax.AX_RX_CTL_STOP and m.regs[ax.AX_CLK_SELECT] == 0
    assert m.regs[ax.AX_PHYPWR_RSTCTL : ax.AX_PHYPWR_RSTCTL + 2] == b"\0\0"
    assert m.claimed == set(), "the interface is released after unbind"
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert m.rx_ctl & ax.AX_RX_CTL_START
    assert m.regs[ax.AX_PHYPWR_RSTCTL] == ax.AX_PHYPWR_RSTCTL_IPRL


@pytest.mark.parametrize("speed", ["full", "high", "super"])
def test_queue_lengths_follow_the_usb_speed(host, usbnet, speed):
    drv = usbnet(sim="cdc_ether", sim_speed=speed)
    un = drv.devices[0].priv
    assert un.in_mps == {"full": 64, "high": 512, "super": 1024}[speed]
    if speed == "full":
        assert (un.rx_qlen, un.tx_qlen) == (4, 4)
    elif speed == "high":
        assert un.tx_qlen == 60 * 1518 // 1514
    else:
        assert un.tx_qlen == 5 * 60 * 1518 // 1514


def test_backend_parameter_and_filters(host, usbnet, sim_backend):
    a = sim_backend.plug(CdcEcmModel())
    b = sim_backend.plug(Ax88179Model())
    c = sim_backend.plug(CdcNcmModel())
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert sorted(d.name for d in drv.devices) == ["usb0", "usb1", "usb2"]
    unload(host, drv)
    assert a.claimed == b.claimed == c.claimed == set(), "interfaces released on unload"
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend", vid="0b95")
    assert [d.priv.info.name for d in drv.devices] == ["ax88179_178a"]
    unload(host, drv)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend", vid="0x1d6b", pid="0104")
    assert [d.priv.info.name for d in drv.devices] == ["cdc_ncm"]
    unload(host, drv)
    port_of_c = sim_backend._ports[id(c)]
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend", port=str(port_of_c), bus=1)
    assert [d.priv.info.name for d in drv.devices] == ["cdc_ncm"]
    unload(host, drv)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend", bus=2, name="ue%d")
    assert drv.devices == [] and "waiting" in drv.describe()


def test_no_adapter_loads_and_waits(host, usbnet, sim_backend, caplog):
    caplog.set_level(logging.INFO, "netdrv.usbnet")
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert drv.devices == []
    assert "waiting for one to be plugged in" in drv.describe()
    assert "waiting for one to be plugged in" in caplog.text
    sim_backend.plug(CdcEcmModel())
    assert host.loop.run_until(lambda: len(drv.devices) == 1, 5), "bound on hotplug"
    assert drv.devices[0].name == "usb0"


def test_fixed_name_clash_is_a_clear_error(host, usbnet):
    usbnet(sim="cdc_ether", name="ue0")
    with pytest.raises(Exception, match="ue0"):
        load(host, sim="cdc_ncm", name="ue0")


def test_kernel_driver_is_detached_and_given_back(host, usbnet, sim_backend):
    m = sim_backend.plug(CdcEcmModel(kernel_driver=True))
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert len(drv.devices) == 1 and m.kernel_driver == set()
    unload(host, drv)
    assert m.kernel_driver == {0, 1}, "the kernel driver gets its interfaces back"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "MODULE:CALLABLE"),
        ("no_such_module_xyz:f", "cannot import no_such_module_xyz"),
        ("netdrv_usbnet.sim:nothing", "no callable 'nothing'"),
        ("os:getcwd", "not a pyusb backend"),
    ],
)
def test_bad_backend_is_a_clear_error(host, spec, message):
    with pytest.raises((ParameterError, DriverError), match=message):
        load(host, backend=spec)
    assert not usbnet_threads()


def test_backend_callable_raising(host, monkeypatch):
    import netdrv_usbnet.sim as sim

    def broken():
        raise RuntimeError("no bus here")

    monkeypatch.setattr(sim, "broken_backend", broken, raising=False)
    with pytest.raises(DriverError, match="raised RuntimeError: no bus here"):
        load(host, backend="netdrv_usbnet.sim:broken_backend")


def test_without_libusb_the_message_says_what_to_install(host, monkeypatch):
    import libusb_package

    monkeypatch.setattr(libusb_package, "get_libusb1_backend", lambda: None)
    monkeypatch.setattr(usb.backend.libusb1, "get_backend", lambda *a, **k: None)
    with pytest.raises(DriverError) as exc:
        load(host)
    assert str(exc.value) == NO_LIBUSB and "libusb-package" in NO_LIBUSB


def test_real_libusb_finds_nothing_and_waits(host, usbnet):
    drv = usbnet(hotplug_interval=0)
    assert drv.devices == [] and "hotplug off" in drv.describe()


class DeniedBackend(SimBackend):
    """A bus whose devices the daemon may not open (no udev rule)."""

    def open_device(self, dev):
        raise usb_error(errno.EACCES)


def test_permission_denied_is_a_clear_error(host):
    backend = DeniedBackend([CdcEcmModel()])
    with pytest.raises(NotPermittedError, match="udev rule") as exc:
        load(host, backend=backend)
    assert "permission denied" in str(exc.value) and "troubleshooting" in str(exc.value)
    assert not host.devices


def test_broken_descriptors_refuse_that_adapter_only(host, usbnet, sim_backend, caplog):
    bad = CdcEcmModel()
    bad.configurations[0].interfaces[0][0].extra_descriptors = [5, 0x24, 0x00, 0x10]  # truncated
    sim_backend.plug(bad)
    good = sim_backend.plug(CdcNcmModel())
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert [d.priv.info.name for d in drv.devices] == ["cdc_ncm"]
    assert "bad CDC functional descriptors" in caplog.text
    assert bad.claimed == set() and good.claimed == {0, 1}


def test_second_configuration_is_selected_when_the_first_has_no_match(host, usbnet, sim_backend):
    """Like g_ether 0525:a4a2: configuration 1 is not ECM (RNDIS there), configuration 2 is."""
    from netdrv_usbnet.sim.descriptors import ConfigDescriptor, InterfaceDescriptor

    m = CdcEcmModel(pid=0xA4A2)
    ecm_cfg = m.configurations[0]
    ecm_cfg.bConfigurationValue = 2
    other = ConfigDescriptor(1, [[InterfaceDescriptor(0, 0, 0x02, 0x02, 0xFF)]])
    m.configurations = [other, ecm_cfg]
    m.device_descriptor.bNumConfigurations = 2
    sim_backend.plug(m)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    assert m.configuration == 2 and m.claimed == {0, 1}
    assert dev.priv.match.config_value == 2 and dev.priv.match.id.product == 0xA4A2


def test_ncm_without_interrupt_endpoint_has_carrier_while_up(host, usbnet, sim_backend):
    """Apple's NCM tethering function has no interrupt endpoint: no link reports to wait for."""
    from usbnet_helpers import PEER, frame, received, settle_tx

    m = CdcNcmModel(vid=0x05AC, pid=0x12A8)
    m.configurations[0].interfaces[0][0].endpoints = []
    m._link_notifications = lambda: []  # the model has nowhere to send them
    sim_backend.plug(m)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    un = dev.priv
    assert un.info.name == "cdc_ncm" and un.info.description == "Apple iPhone NCM"
    assert un.ep_int is None and len(un.threads) == 2, "no interrupt reader"
    host.attachment.up(dev)
    assert dev._carrier
    host.attachment.send(dev, frame(PEER, 100, 1))
    assert settle_tx(host, dev) and m.take_wire_tx() == [frame(PEER, 100, 1)]
    m.wire_rx(frame(dev.dev_addr, 100, 2))
    assert received(host, dev, 1) == [frame(dev.dev_addr, 100, 2)]


def _zero_mps(m, ep: int) -> None:
    for cfg in m.configurations:
        for alt in cfg.all_alt_settings():
            for e in alt.endpoints:
                if e.bEndpointAddress == ep:
                    e.wMaxPacketSize = 0


@pytest.mark.parametrize("model", [CdcEcmModel, CdcNcmModel, Ax88179Model])
def test_bulk_endpoint_with_zero_max_packet_is_refused_by_name(host, usbnet, sim_backend, caplog,
                                                               model):  # fmt: skip
    """wMaxPacketSize 0 is invalid for bulk (Linux skips such endpoints while parsing the
    configuration): the bind fails naming the endpoint, instead of a writer that dies on its
    first frame and a queue that never drains."""
    m = sim_backend.plug(model())
    _zero_mps(m, m.BULK_OUT)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert drv.devices == []
    assert "no usable bulk OUT endpoint" in caplog.text
    assert f"0x{m.BULK_OUT:02x} has wMaxPacketSize 0" in caplog.text
    assert m.claimed == set(), "a failed bind releases what it claimed"


def test_interrupt_endpoint_with_zero_max_packet_is_ignored(host, usbnet, sim_backend, caplog):
    """An unusable interrupt endpoint is skipped: ECM then has carrier while up, like a
    function without one, and the AX88179 (which needs it for the link) is refused by name."""
    m = sim_backend.plug(CdcEcmModel())
    _zero_mps(m, m.INTR_IN)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    assert dev.priv.ep_int is None and "0x81 has wMaxPacketSize 0" in caplog.text
    up(host, dev)
    assert dev._carrier, "no interrupt endpoint to wait for"
    unload(host, drv)
    sim_backend.remove(m)
    caplog.clear()
    ax_model = sim_backend.plug(Ax88179Model())
    _zero_mps(ax_model, ax_model.INTR_IN)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert drv.devices == [] and "no interrupt endpoint" in caplog.text


def test_ax88179_without_interrupt_endpoint_is_refused_by_name(host, usbnet, sim_backend,
                                                                caplog):  # fmt: skip
    m = Ax88179Model()
    intf = m.configurations[0].interfaces[0][0]
    intf.endpoints = [e for e in intf.endpoints if e.bEndpointAddress != m.INTR_IN]
    sim_backend.plug(m)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    assert drv.devices == [] and "no interrupt endpoint" in caplog.text


def test_ncm_mtu_is_bounded_by_what_fits_an_out_ntb(host, usbnet, sim_backend):
    """A device announcing jumbo datagrams but small OUT NTBs: the MTU cannot exceed what one
    NTB carries (else every larger frame is silently dropped as tx_dropped)."""
    from netdrv_usbnet.codecs.cdc_ncm import NtbParameters
    from usbnet_helpers import PEER, accounted, frame, settle_tx

    m = sim_backend.plug(CdcNcmModel(max_segment_size=9014,
                                     ntb_params=NtbParameters(dwNtbOutMaxSize=2048)))  # fmt: skip
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    un = dev.priv
    assert dev.max_mtu + 14 <= un.info.encoder.max_frame_size
    assert host.dev_set_mtu(dev, dev.max_mtu + 1) != 0
    assert host.dev_set_mtu(dev, dev.max_mtu) == 0
    up(host, dev)
    big = frame(PEER, dev.mtu + 14, 1)
    host.attachment.send(dev, big)
    assert settle_tx(host, dev) and accounted(dev)
    assert dev.stats.tx_dropped == 0 and m.take_wire_tx() == [big]


def test_ncm_out_ntbs_never_exceed_a_small_device_max(host, usbnet, sim_backend):
    """dwNtbOutMaxSize 1600, below the spec's 2048: NTBs of up to 2048 bytes were built, the
    adapter dropped every batch that did not fit, and the frames still counted as sent."""
    from netdrv_usbnet.codecs.cdc_ncm import NtbParameters
    from usbnet_helpers import PEER, accounted, frame, settle_tx

    m = sim_backend.plug(CdcNcmModel(ntb_params=NtbParameters(dwNtbOutMaxSize=1600)))
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    up(host, dev)
    out = [frame(PEER, 1000, i) for i in range(4)]
    for f in out:  # one writer batch: the NCM encoder would put two in one NTB
        host.attachment.send(dev, f)
    assert settle_tx(host, dev) and accounted(dev)
    assert m.stats.wire_tx_errors == 0
    assert m.take_wire_tx() == out
    assert dev.stats.tx_packets == 4


@pytest.mark.parametrize("field", ["wNdpOutDivisor", "wNdpOutAlignment"])
@pytest.mark.parametrize("value", [16384, 32768])
def test_ncm_modulus_as_large_as_the_ntb_still_sends(host, usbnet, sim_backend, field, value):
    """A wNdpOutDivisor / wNdpOutAlignment >= the OUT NTB size (16 KiB here, the driver's cap)
    left no room for any frame: the interface came up with MTU 68 and dropped everything."""
    from netdrv_usbnet.codecs.cdc_ncm import NtbParameters
    from usbnet_helpers import PEER, accounted, frame, settle_tx

    params = NtbParameters(dwNtbOutMaxSize=65535, **{field: value})
    m = sim_backend.plug(CdcNcmModel(ntb_params=params))
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    assert dev.mtu == 1500
    up(host, dev)
    out = [frame(PEER, 1514, 1), frame(PEER, 60, 2)]
    for f in out:
        host.attachment.send(dev, f)
    assert settle_tx(host, dev) and accounted(dev)
    assert dev.stats.tx_dropped == 0 and m.take_wire_tx() == out


def test_ncm_big_ntb_of_small_frames_loses_none(host, usbnet, sim_backend):
    """An adapter that refuses SET_NTB_INPUT_SIZE sends NTBs of up to 64 KiB: a burst of
    ~1000 minimum-size frames in one NTB.  The decoder stopped at 512 datagrams and dropped
    the rest as one rx error; Linux sets no such limit."""
    from netdrv_usbnet.codecs.cdc_ncm import NtbParameters
    from netdrv_usbnet.sim.device import Stall
    from usbnet_helpers import frame, received

    m = CdcNcmModel(ntb_params=NtbParameters(dwNtbInMaxSize=65535), in_max_datagrams=5000)

    def refuse(value, data, length):
        raise Stall("SET_NTB_INPUT_SIZE not supported")

    m._req_set_ntb_input_size = refuse
    sim_backend.plug(m)
    drv = usbnet(backend="netdrv_usbnet.sim:get_backend")
    (dev,) = drv.devices
    up(host, dev)
    assert dev.priv.info.rx_max == 65535
    burst = [frame(dev.dev_addr, 60, i) for i in range(1000)]
    assert m.wire_rx_many(burst) == 1000
    assert received(host, dev, 1000) == burst
    assert dev.stats.rx_errors == 0 and dev.priv.info.rx_decoder.stats.rx_ntbs == 1
