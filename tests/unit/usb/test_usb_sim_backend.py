"""The simulated backend through the real pyusb API: enumeration, descriptors, strings, control."""

from __future__ import annotations

import array
import errno
import struct

import pytest
import usb.backend
import usb.control
import usb.core
import usb.util
from netdrv_usbnet.codecs import NtbParameters, parse_functional_descriptors, parse_mac_string
from netdrv_usbnet.sim import (
    Ax88179Model,
    CdcEcmModel,
    CdcNcmModel,
    SimBackend,
    get_backend,
    reset_backend,
)


def find(backend: SimBackend, model) -> usb.core.Device:
    serial = model.strings[model.device_descriptor.iSerialNumber]
    dev = usb.core.find(
        backend=backend,
        idVendor=model.device_descriptor.idVendor,
        custom_match=lambda d: usb.util.get_string(d, d.iSerialNumber) == serial,
    )
    assert dev is not None
    return dev


@pytest.fixture
def trio():
    models = [CdcEcmModel(speed="high"), CdcNcmModel(speed="full"), Ax88179Model(speed="super")]
    return SimBackend(models), models


def test_backend_is_a_real_pyusb_backend():
    assert isinstance(SimBackend(), usb.backend.IBackend)


def test_enumerate_several_devices_with_distinct_topology(trio):
    backend, _models = trio
    devs = list(usb.core.find(find_all=True, backend=backend))
    assert len(devs) == 3
    assert len({(d.bus, d.address) for d in devs}) == 3
    assert len({d.port_number for d in devs}) == 3
    assert all(d.port_numbers == (d.port_number,) for d in devs)
    assert {(d.idVendor, d.idProduct) for d in devs} == {
        (0x0525, 0xA4A1),
        (0x1D6B, 0x0104),
        (0x0B95, 0x1790),
    }
    speeds = {d.idVendor: d.speed for d in devs}
    assert speeds == {
        0x0525: usb.util.SPEED_HIGH,
        0x1D6B: usb.util.SPEED_FULL,
        0x0B95: usb.util.SPEED_SUPER,
    }
    assert usb.core.find(backend=backend, idVendor=0x0B95, idProduct=0x1790).bcdUSB == 0x0300
    assert "0b95:1790" in usb.core.show_devices(backend=backend)


def test_class_based_matching_like_linux(trio):
    backend, _ = trio

    def has_intf(cls, sub):
        return lambda d: any(
            usb.util.find_descriptor(c, bInterfaceClass=cls, bInterfaceSubClass=sub) for c in d
        )

    ecm = list(usb.core.find(find_all=True, backend=backend, custom_match=has_intf(0x02, 0x06)))
    ncm = list(usb.core.find(find_all=True, backend=backend, custom_match=has_intf(0x02, 0x0D)))
    assert [d.idVendor for d in ecm] == [0x0525] and [d.idVendor for d in ncm] == [0x1D6B]


@pytest.mark.parametrize(
    ("cls", "speed", "mps"),
    [
        (CdcEcmModel, "full", 64),
        (CdcEcmModel, "high", 512),
        (CdcNcmModel, "full", 64),
        (CdcNcmModel, "high", 512),
    ],
)
def test_cdc_descriptor_shape(cls, speed, mps):
    model = cls(speed=speed)
    dev = find(SimBackend([model]), model)
    cfg = dev[0]
    assert cfg.bNumInterfaces == 2 and cfg.wTotalLength == len(model.configurations[0].serialize())
    alts = [
        (
            i.bInterfaceNumber,
            i.bAlternateSetting,
            i.bInterfaceClass,
            i.bInterfaceSubClass,
            i.bInterfaceProtocol,
            i.bNumEndpoints,
        )
        for i in cfg
    ]
    sub = 0x06 if cls is CdcEcmModel else 0x0D
    proto = 0 if cls is CdcEcmModel else 1
    assert alts == [(0, 0, 0x02, sub, 0, 1), (1, 0, 0x0A, 0, proto, 0), (1, 1, 0x0A, 0, proto, 2)]
    ctrl = cfg[(0, 0)]
    (notify,) = ctrl.endpoints()
    assert (
        notify.bEndpointAddress == 0x81
        and usb.util.endpoint_type(notify.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
    )
    data = cfg[(1, 1)]
    eps = {e.bEndpointAddress: e.wMaxPacketSize for e in data}
    assert eps == {0x82: mps, 0x01: mps}
    fd = parse_functional_descriptors(ctrl.extra_descriptors)
    union, ether = fd.require_ethernet()
    assert union.master_interface == 0 and union.data_interface == 1
    assert ether.wMaxSegmentSize == 1514
    assert (fd.ncm is not None) == (cls is CdcNcmModel)
    assert list(cfg.extra_descriptors)[:2] == [8, 0x0B]  # interface association descriptor


@pytest.mark.parametrize(
    ("speed", "mps", "bcd"), [("full", 64, 0x0210), ("high", 512, 0x0210), ("super", 1024, 0x0300)]
)
def test_ax88179_descriptor_shape(speed, mps, bcd):
    model = Ax88179Model(speed=speed)
    dev = find(SimBackend([model]), model)
    assert (dev.idVendor, dev.idProduct, dev.bcdUSB, dev.bDeviceClass) == (
        0x0B95,
        0x1790,
        bcd,
        0xFF,
    )
    intf = dev[0][(0, 0)]
    assert (intf.bInterfaceClass, intf.bNumEndpoints) == (0xFF, 3)
    eps = {
        e.bEndpointAddress: (usb.util.endpoint_type(e.bmAttributes), e.wMaxPacketSize) for e in intf
    }
    assert eps == {0x81: (3, 8), 0x82: (2, mps), 0x03: (2, mps)}
    if speed == "super":
        assert list(intf[1].extra_descriptors)[:2] == [6, 0x30]  # SS endpoint companion
    assert dev.product == "AX88179" and dev.manufacturer == "ASIX Elec. Corp."


def test_strings_and_mac_via_get_string():
    model = CdcEcmModel(mac=bytes.fromhex("0a1b2c3d4e5f"))
    dev = find(SimBackend([model]), model)
    assert dev.langids == (0x0409,)
    assert dev.product.startswith("Ethernet Gadget")
    fd = parse_functional_descriptors(dev[0][(0, 0)].extra_descriptors)
    text = usb.util.get_string(dev, fd.ethernet.iMACAddress)
    assert text == "0A1B2C3D4E5F"
    assert parse_mac_string(text) == model.mac
    with pytest.raises(usb.core.USBError) as exc:
        usb.util.get_string(dev, 99)
    assert exc.value.errno == errno.EPIPE


def test_standard_get_descriptor_returns_wire_bytes():
    model = CdcNcmModel()
    dev = find(SimBackend([model]), model)
    raw_dev = usb.control.get_descriptor(dev, 18, usb.util.DESC_TYPE_DEVICE, 0)
    assert bytes(raw_dev) == model.device_descriptor.serialize()
    assert struct.unpack_from("<HH", bytes(raw_dev), 8) == (0x1D6B, 0x0104)
    head = bytes(usb.control.get_descriptor(dev, 9, usb.util.DESC_TYPE_CONFIG, 0))
    total = struct.unpack_from("<H", head, 2)[0]
    full = bytes(usb.control.get_descriptor(dev, total, usb.util.DESC_TYPE_CONFIG, 0))
    assert len(full) == total == dev[0].wTotalLength
    assert full[:9] == head


def test_configuration_claim_and_altsetting_gotcha():
    model = CdcEcmModel()
    dev = find(SimBackend([model]), model)
    with pytest.raises(usb.core.USBError, match="Configuration not set"):
        dev.get_active_configuration()
    dev.set_configuration()
    assert dev.get_active_configuration().bConfigurationValue == 1
    usb.util.claim_interface(dev, 0)
    usb.util.claim_interface(dev, 1)
    assert model.claimed == {0, 1}
    # alternate setting 0 of the data interface has no endpoints
    with pytest.raises(ValueError, match="Invalid endpoint address 0x82"):
        dev.read(0x82, 2048, timeout=10)
    # and the device itself refuses too (bypassing pyusb's bookkeeping)
    with pytest.raises(usb.core.USBError) as exc:
        dev._ctx.backend.bulk_read(dev._ctx.handle, 0x82, 1, array.array("B", bytes(64)), 10)
    assert exc.value.errno == errno.ENOENT
    dev.set_interface_altsetting(interface=1, alternate_setting=1)
    assert model.alt_settings[1] == 1
    assert dev.ctrl_transfer(0x81, 0x0A, 0, 1, 1)[0] == 1  # GET_INTERFACE
    model.wire_rx(b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"a" * 46)
    assert len(dev.read(0x82, 2048, timeout=100)) == 60
    with pytest.raises(usb.core.USBError) as exc:
        dev._ctx.backend.set_interface_altsetting(dev._ctx.handle, 1, 7)
    assert exc.value.errno == errno.ENOENT
    usb.util.release_interface(dev, 1)
    assert model.claimed == {0}
    usb.util.dispose_resources(dev)
    assert model.claimed == set()


def test_kernel_driver_must_be_detached():
    model = CdcEcmModel(kernel_driver=True)
    dev = find(SimBackend([model]), model)
    dev.set_configuration()
    assert dev.is_kernel_driver_active(0)
    with pytest.raises(usb.core.USBError) as exc:
        usb.util.claim_interface(dev, 0)
    assert exc.value.errno == errno.EBUSY
    dev.detach_kernel_driver(0)
    assert not dev.is_kernel_driver_active(0)
    usb.util.claim_interface(dev, 0)
    usb.util.release_interface(dev, 0)
    dev.attach_kernel_driver(0)
    assert dev.is_kernel_driver_active(0)


def test_standard_requests_status_feature_and_unknown():
    model = CdcEcmModel()
    dev = find(SimBackend([model]), model)
    dev.set_configuration()
    dev.set_interface_altsetting(1, 1)
    assert bytes(dev.ctrl_transfer(0x80, 0x00, 0, 0, 2)) == b"\x00\x00"
    assert dev.ctrl_transfer(0x82, 0x00, 0, 0x82, 2)[0] == 0
    dev.ctrl_transfer(0x02, 0x03, 0, 0x82)  # SET_FEATURE(ENDPOINT_HALT)
    assert dev.ctrl_transfer(0x82, 0x00, 0, 0x82, 2)[0] == 1
    dev.ctrl_transfer(0x02, 0x01, 0, 0x82)  # CLEAR_FEATURE(ENDPOINT_HALT)
    assert dev.ctrl_transfer(0x82, 0x00, 0, 0x82, 2)[0] == 0
    assert dev.ctrl_transfer(0x80, 0x08, 0, 0, 1)[0] == 1  # GET_CONFIGURATION
    with pytest.raises(usb.core.USBError) as exc:
        dev.ctrl_transfer(0xC0, 0x77, 0, 0, 4)  # vendor request an ECM device does not know
    assert exc.value.errno == errno.EPIPE
    with pytest.raises(usb.core.USBError) as exc:
        dev.ctrl_transfer(0xA1, 0x80, 0, 0, 28)  # GET_NTB_PARAMETERS on an ECM function
    assert exc.value.errno == errno.EPIPE


def test_ncm_class_requests():
    params = NtbParameters(
        dwNtbInMaxSize=8192, wNdpInDivisor=8, dwNtbOutMaxSize=4096, wNtbOutMaxDatagrams=16
    )
    model = CdcNcmModel(ntb_params=params)
    dev = find(SimBackend([model]), model)
    dev.set_configuration()
    got = NtbParameters.parse(dev.ctrl_transfer(0xA1, 0x80, 0, 0, 28))
    assert got == params
    assert struct.unpack("<I", bytes(dev.ctrl_transfer(0xA1, 0x85, 0, 0, 4)))[0] == 8192
    dev.ctrl_transfer(0x21, 0x86, 0, 0, struct.pack("<I", 4096))
    assert model.ntb_in_size == 4096
    assert struct.unpack("<I", bytes(dev.ctrl_transfer(0xA1, 0x85, 0, 0, 4)))[0] == 4096
    for bad in (1024, 8193):
        with pytest.raises(usb.core.USBError) as exc:
            dev.ctrl_transfer(0x21, 0x86, 0, 0, struct.pack("<I", bad))
        assert exc.value.errno == errno.EPIPE
    assert bytes(dev.ctrl_transfer(0xA1, 0x81, 0, 0, 6)) == model.mac
    dev.ctrl_transfer(0x21, 0x82, 0, 0, bytes.fromhex("02aabbccddee"))
    assert model.mac == bytes.fromhex("02aabbccddee")
    with pytest.raises(usb.core.USBError):
        dev.ctrl_transfer(0x21, 0x84, 1, 0)  # SET_NTB_FORMAT NTB32: not supported
    assert struct.unpack("<H", bytes(dev.ctrl_transfer(0xA1, 0x87, 0, 0, 2)))[0] == 1514
    dev.set_interface_altsetting(1, 1)
    dev.set_interface_altsetting(1, 0)  # alt 0 resets the NTB input size
    assert model.ntb_in_size == 8192
    with pytest.raises(usb.core.USBError):
        dev.ctrl_transfer(0xA1, 0x80, 0, 1, 28)  # addressed to the data interface


def test_hot_plug_add_remove_and_reenumerate(trio):
    backend, (_ecm, ncm, axm) = trio
    before = {d.idVendor: d.address for d in usb.core.find(find_all=True, backend=backend)}
    extra = backend.plug(CdcEcmModel(speed="full"))
    assert len(list(usb.core.find(find_all=True, backend=backend))) == 4
    backend.unplug(ncm)
    assert {d.idVendor for d in usb.core.find(find_all=True, backend=backend)} == {0x0525, 0x0B95}
    backend.plug(ncm)  # comes back with a new address on the same port
    again = usb.core.find(backend=backend, idVendor=0x1D6B)
    assert again.address != before[0x1D6B]
    backend.remove(extra)
    assert len(list(usb.core.find(find_all=True, backend=backend))) == 3
    with pytest.raises(ValueError):
        SimBackend([axm])  # a model belongs to one backend


def test_default_backend_for_name_based_configuration():
    b = reset_backend()
    assert get_backend() is b
    model = b.plug(CdcEcmModel())
    assert usb.core.find(backend=get_backend(), idVendor=0x0525) is not None
    b2 = reset_backend()
    assert b2 is not b and not model.is_plugged
    assert usb.core.find(backend=get_backend(), idVendor=0x0525) is None


def test_device_reset_restores_altsettings():
    model = CdcEcmModel()
    dev = find(SimBackend([model]), model)
    dev.set_configuration()
    dev.set_interface_altsetting(1, 1)
    dev.reset()
    assert model.configuration == 1 and model.alt_settings == {}
    with pytest.raises(ValueError):
        dev.read(0x82, 64, timeout=10)
