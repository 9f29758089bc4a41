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


def _fake_dirs(monkeypatch, tmp_path, *, node: bool, listed: bool, devnum: int = 2) -> str:
    """/dev/bus/usb and /sys/bus/usb/devices under tmp_path, with or without the adapter's
    node (001/002) and sysfs entry (1-1, whose devnum is ``devnum``: 2 is the adapter's own
    address); returns the node's path."""
    import netdrv_usbnet.core as core

    (tmp_path / "dev" / "001").mkdir(parents=True)
    (tmp_path / "sys").mkdir()
    if node:
        (tmp_path / "dev" / "001" / "002").touch()
    if listed:
        (tmp_path / "sys" / "1-1").mkdir()
        (tmp_path / "sys" / "1-1" / "devnum").write_text(f"{devnum}\n")
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


def test_an_adapter_that_re_enumerated_is_not_blamed_on_a_missing_node(
    host, usbnet, monkeypatch, tmp_path
):
    # Its port now holds a device with another address (it reset itself, or was replugged):
    # the old node is gone because the old device is, on a host as much as in a container.
    _fake_dirs(monkeypatch, tmp_path, node=False, listed=True, devnum=7)
    drv = usbnet(backend=NoNodeBackend(SimBackend([CdcEcmModel()])))
    text = drv.describe()
    assert "disappeared while binding it" in text and "device node" not in text, text


# -- what a could-not-bind entry says about trying again ---------------------------------------


class GateBackend(SimBackend):
    """A bus the daemon may not open until ``allowed`` (a udev rule, then udevadm trigger)."""

    allowed = False

    def open_device(self, dev):
        if not self.allowed:
            raise usb_error(errno.EACCES)
        return super().open_device(dev)


def test_a_refused_adapter_binds_once_permission_is_given_without_a_replug(host, usbnet):
    # The documented fix (a udev rule, udevadm trigger) changes the node's mode, not the
    # adapter's address: it was never tried again, and status went on saying "add a udev rule".
    backend = GateBackend([])
    drv = usbnet(backend=backend)
    backend.plug(CdcEcmModel())
    assert host.loop.run_until(lambda: "could not bind" in drv.describe(), 5), drv.describe()
    assert "tried again every 0.05 s" in drv.describe(), drv.describe()
    backend.allowed = True
    assert host.loop.run_until(lambda: drv.devices, 5), drv.describe()
    text = drv.describe()
    assert text.startswith("usb0: 0525:a4a1") and "could not bind" not in text, text


def test_a_broken_adapter_says_a_replug_tries_it_again(host, usbnet, sim_backend):
    # Beside a bound adapter nothing said what to do to have it tried again.
    sim_backend.plug(_broken_ecm())
    sim_backend.plug(CdcNcmModel())
    drv = usbnet(backend=SIM_BACKEND)
    text = drv.describe()
    assert "bad CDC functional descriptors" in text and "tried again once replugged" in text, text


def test_with_hotplug_off_a_broken_adapter_says_to_reload(host, usbnet, sim_backend):
    sim_backend.plug(_broken_ecm())
    drv = usbnet(backend=SIM_BACKEND, hotplug_interval=0)  # nothing scans again
    text = drv.describe()
    assert "could not bind" in text and "reload the driver to retry" in text, text


def test_with_hotplug_off_an_unplugged_broken_adapter_is_no_longer_named(host, usbnet, sim_backend):
    # No scan runs with hotplug_interval=0, so `netdrv status` went on naming an adapter
    # that had been unplugged ("could not bind … reload the driver to retry") for the life
    # of the load.  The kernel sees a removal whatever the drivers do: status asks the bus.
    bad = sim_backend.plug(_broken_ecm())
    drv = usbnet(backend=SIM_BACKEND, hotplug_interval=0)
    assert "could not bind" in drv.describe()
    sim_backend.remove(bad)
    text = drv.describe()
    assert "could not bind" not in text, text
    assert "with hotplug off (hotplug_interval=0), so none will be" in text, text
    # Plugged back in, it is not bound (nothing is tried again: reload the driver), and
    # status says nothing of it either — it is not known until a reload looks.
    sim_backend.plug(_broken_ecm())
    assert drv.devices == [] and "could not bind" not in drv.describe()


# -- unsupported_kind: Linux's id tables ---------------------------------------------------------


def test_an_activesync_function_is_named_as_unsupported(host, usbnet, sim_backend):
    # rndis_host's USB_INTERFACE_INFO(USB_CLASS_MISC, 1, 1) (cdc_ether's is_activesync).
    m = CdcEcmModel(pid=0xA4AB)
    intf = m.configurations[0].interfaces[0][0]
    intf.bInterfaceClass, intf.bInterfaceSubClass, intf.bInterfaceProtocol = 0xEF, 0x01, 0x01
    sim_backend.plug(m)
    drv = usbnet(backend=SIM_BACKEND)
    text = drv.describe()
    assert "not supported: 0525:a4ab at usb-1-1" in text and "rndis_host" in text, text


def test_an_asix_id_linux_asix_does_not_list_is_not_named(host, usbnet, sim_backend):
    # asix matches ASIX's products one by one (USB_DEVICE), not the vendor: another ASIX
    # device with a vendor-specific interface (a KVM switch SoC, 0b95:6802) is not its.
    from netdrv_usbnet.sim import Ax88179Model

    m = Ax88179Model()
    m.device_descriptor.idProduct = 0x6802
    sim_backend.plug(m)
    drv = usbnet(backend=SIM_BACKEND)
    text = drv.describe()
    assert "0b95:6802" not in text and "waiting for one to be plugged in" in text, text


def test_a_refused_adapter_that_then_fails_otherwise_is_named_once(host, usbnet):
    # Allowed at last, it is then held by another program: one reason, the latest.
    class Backend(GateBackend):
        def claim_interface(self, dev_handle, intf):
            raise usb_error(errno.EBUSY)

    backend = Backend([])
    drv = usbnet(backend=backend)
    backend.plug(CdcEcmModel())
    assert host.loop.run_until(lambda: "permission denied" in drv.describe(), 5)
    backend.allowed = True
    assert host.loop.run_until(lambda: "another program holds" in drv.describe(), 5)
    assert "permission denied" not in drv.describe(), drv.describe()
