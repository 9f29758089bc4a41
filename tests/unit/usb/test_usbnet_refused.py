"""An adapter that is plugged in but could not be bound is named in ``netdrv status``.

A user who plugs in an adapter the daemon may not open (no udev rule) or whose
descriptors are broken saw ``no USB Ethernet adapter yet: waiting for one to be
plugged in`` for as long as it stayed there: the reason was only in the log.
"""

from __future__ import annotations

import errno

import pytest
from netdrv_usbnet.sim import CdcEcmModel, CdcNcmModel, SimBackend, usb_error

SIM_BACKEND = "netdrv_usbnet.sim:get_backend"


class DeniedBackend(SimBackend):
    """A bus whose devices the daemon may not open (no udev rule for them)."""

    def open_device(self, dev):
        raise usb_error(errno.EACCES)


def _broken_ecm() -> CdcEcmModel:
    bad = CdcEcmModel()
    bad.configurations[0].interfaces[0][0].extra_descriptors = [5, 0x24, 0x00, 0x10]  # truncated
    return bad


def test_an_adapter_refused_for_permission_after_load_is_named_with_the_fix(host, usbnet):
    backend = DeniedBackend([])
    drv = usbnet(backend=backend)
    assert drv.devices == [] and "waiting" in drv.describe()
    backend.plug(CdcEcmModel())
    assert host.loop.run_until(lambda: "0525:a4a1" in drv.describe(), 5), drv.describe()
    text = drv.describe()
    assert "waiting for one to be plugged in" not in text, text
    assert "could not bind" in text and "permission denied" in text and "udev rule" in text, text


def test_an_adapter_with_broken_descriptors_is_named_not_waited_for(host, usbnet, sim_backend):
    bad = sim_backend.plug(_broken_ecm())
    drv = usbnet(backend=SIM_BACKEND)
    text = drv.describe()
    assert drv.devices == [] and "waiting for one to be plugged in" not in text, text
    assert "could not bind: 0525:a4a1 at usb-1-1" in text, text
    assert "bad CDC functional descriptors" in text, text
    sim_backend.remove(bad)  # unplugged: nothing left to say about it
    assert host.loop.run_until(lambda: "could not bind" not in drv.describe(), 5), drv.describe()
    assert "waiting for one to be plugged in" in drv.describe()


def test_a_refused_adapter_is_named_beside_the_bound_ones(host, usbnet, sim_backend):
    sim_backend.plug(_broken_ecm())
    sim_backend.plug(CdcNcmModel())
    drv = usbnet(backend=SIM_BACKEND)
    text = drv.describe()
    assert [d.name for d in drv.devices] == ["usb0"]
    assert text.startswith("usb0: 1d6b:0104"), text
    assert "could not bind: 0525:a4a1 at usb-1-1" in text, text


# -- an adapter usbnet has no minidriver for --------------------------------------------------
# A user whose adapter is of a kind usbnet does not drive (an ASIX AX88772, a CDC-EEM or
# RNDIS gadget) saw "waiting for one to be plugged in" forever, as if nothing were there.


def test_an_asix_adapter_other_than_the_ax88179_is_named_as_unsupported(host, usbnet, sim_backend):
    from netdrv_usbnet.sim import Ax88179Model

    m = Ax88179Model()
    m.device_descriptor.idProduct = 0x772B  # AX88772B: Linux's asix driver
    sim_backend.plug(m)
    drv = usbnet(backend=SIM_BACKEND)
    text = drv.describe()
    assert drv.devices == [] and "no supported USB Ethernet adapter yet" in text, text
    assert "not supported: 0b95:772b at usb-1-1" in text and "asix" in text, text
    assert "CDC-ECM, CDC-NCM" in text, "says what is supported"


def test_a_cdc_eem_function_is_named_as_unsupported(host, usbnet, sim_backend):
    m = CdcEcmModel(pid=0xA4A9)
    m.configurations[0].interfaces[0][0].bInterfaceSubClass = 0x0C  # CDC-EEM
    sim_backend.plug(m)
    drv = usbnet(backend=SIM_BACKEND)
    text = drv.describe()
    assert "not supported: 0525:a4a9 at usb-1-1" in text and "CDC-EEM" in text, text


def test_a_device_that_is_no_network_adapter_is_not_mentioned(host, usbnet, sim_backend):
    m = CdcEcmModel(vid=0x046D, pid=0xC52B)
    for intf in m.configurations[0].interfaces:
        intf[0].bInterfaceClass = 0x03  # HID: a keyboard
    sim_backend.plug(m)
    drv = usbnet(backend=SIM_BACKEND)
    text = drv.describe()
    assert "046d" not in text and "waiting for one to be plugged in" in text, text


def test_an_adapter_refused_for_permission_is_logged_once(host, usbnet, caplog):
    # The hotplug watcher logged it twice: a warning from the scan, then an error.
    import logging

    backend = DeniedBackend([])
    drv = usbnet(backend=backend)
    with caplog.at_level(logging.INFO, logger="netdrv.usbnet"):
        backend.plug(CdcEcmModel())
        errors = lambda: [r for r in caplog.records if r.levelno == logging.ERROR]  # noqa: E731
        assert host.loop.run_until(lambda: errors() and "could not bind" in drv.describe(), 5)
    said = [r for r in caplog.records if "permission denied" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.ERROR, [r.getMessage() for r in said]


# -- a container that sees the bus (sysfs) but not the device nodes -------------------------------
# libusb enumerates from sysfs and opens /dev/bus/usb/BBB/DDD; without that node it answers
# LIBUSB_ERROR_NO_DEVICE (ENODEV), which was reported as "disappeared while binding it".


class NoNodeBackend:
    """A libusb-like backend (not the simulator's) whose opens fail as libusb's do when the
    adapter's /dev/bus/usb node is missing: ENODEV."""

    def __init__(self, inner: SimBackend) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def open_device(self, dev):
        raise usb_error(errno.ENODEV)


def _fake_dirs(monkeypatch, tmp_path, *, node: bool, listed: bool) -> str:
    """/dev/bus/usb and /sys/bus/usb/devices under tmp_path, with or without the adapter's
    node (001/002) and sysfs entry (1-1); returns the node's path."""
    import netdrv_usbnet.core as core

    (tmp_path / "dev" / "001").mkdir(parents=True)
    (tmp_path / "sys").mkdir()
    if node:
        (tmp_path / "dev" / "001" / "002").touch()
    if listed:
        (tmp_path / "sys" / "1-1").mkdir()
    monkeypatch.setattr(core, "USBFS_PATH", str(tmp_path / "dev"))
    monkeypatch.setattr(core, "USB_DEVICES_SYSFS", str(tmp_path / "sys"))
    return str(tmp_path / "dev" / "001" / "002")


def test_a_missing_device_node_is_named_with_the_fix(host, usbnet, monkeypatch, tmp_path):
    node = _fake_dirs(monkeypatch, tmp_path, node=False, listed=True)
    drv = usbnet(backend=NoNodeBackend(SimBackend([CdcEcmModel()])))
    text = drv.describe()
    assert drv.devices == [] and "disappeared" not in text, text
    assert f"device node {node} does not exist" in text and "container" in text, text


@pytest.mark.parametrize(("node", "listed"), [(True, True), (False, False)])
def test_an_adapter_gone_while_binding_still_says_so(host, usbnet, monkeypatch, tmp_path,
                                                     node, listed):  # fmt: skip
    # Its node is there (another ENODEV), or sysfs no longer lists it: it did go.
    _fake_dirs(monkeypatch, tmp_path, node=node, listed=listed)
    drv = usbnet(backend=NoNodeBackend(SimBackend([CdcEcmModel()])))
    assert "disappeared while binding it" in drv.describe(), drv.describe()
