"""The usbnet id table: Linux-style matching, deny entries before generic class matches."""

from __future__ import annotations

import usb.core
from netdrv_usbnet.ax88179 import Ax88179
from netdrv_usbnet.cdc_ether import CdcEther
from netdrv_usbnet.cdc_ncm import AppleNcm, CdcNcm
from netdrv_usbnet.ids import ID_TABLE, UsbDeviceId, match_device, match_interface
from netdrv_usbnet.sim import Ax88179Model, CdcEcmModel, CdcNcmModel, SimBackend

from netdrv_core import PluginManager


def _find(model):
    return usb.core.find(backend=SimBackend([model]))


def test_deny_entries_come_before_every_generic_class_match():
    first_generic = next(i for i, e in enumerate(ID_TABLE) if e.vendor is None)
    denies = [i for i, e in enumerate(ID_TABLE) if e.is_deny]
    assert denies and max(denies) < first_generic
    assert all(e.comment for e in ID_TABLE)


def test_generic_class_matches():
    assert match_interface(0x1234, 0x5678, 0x02, 0x06, 0x00).info is CdcEther
    assert match_interface(0x1234, 0x5678, 0x02, 0x0D, 0x00).info is CdcNcm
    assert match_interface(0x1234, 0x5678, 0x02, 0x02, 0xFF) is None  # RNDIS: no minidriver
    assert match_interface(0x1234, 0x5678, 0x0A, 0x00, 0x00) is None  # a CDC data interface


def test_deny_wins_over_the_class_match_it_shadows():
    entry = match_interface(0x0BDA, 0x8152, 0x02, 0x06, 0x00)
    assert entry is not None and entry.is_deny and "r8152" in entry.comment
    # The same device's vendor interface is not ECM: nothing matches it.
    assert match_interface(0x0BDA, 0x8152, 0xFF, 0xFF, 0x00) is None
    # A deny entry for one vendor does not shadow another vendor's ECM function.
    assert match_interface(0x0BDA, 0x9999, 0x02, 0x06, 0x00).info is CdcEther


def test_specific_devices():
    assert match_interface(0x0B95, 0x1790, 0xFF, 0xFF, 0x00).info is Ax88179
    assert match_interface(0x0B95, 0x178A, 0xFF, 0xFF, 0x00).info is Ax88179
    assert match_interface(0x05AC, 0x12A8, 0x02, 0x0D, 0x00).info is AppleNcm
    assert match_interface(0x0B95, 0x1790, 0x02, 0x0D, 0x00).is_deny


def test_first_match_wins_in_table_order():
    table = (UsbDeviceId(None, vendor=1, comment="deny"), UsbDeviceId(CdcEther, comment="any"))
    assert match_interface(1, 2, 2, 6, 0, table).is_deny
    assert match_interface(3, 2, 2, 6, 0, table).info is CdcEther


def test_match_device_on_simulated_adapters():
    m = match_device(_find(CdcEcmModel()))
    assert m.info is CdcEther and m.interface == 0 and m.config_value == 1
    assert m.id.vendor == 0x0525  # the g_ether entry, not the generic one
    assert match_device(_find(CdcNcmModel())).info is CdcNcm
    m = match_device(_find(Ax88179Model()))
    assert m.info is Ax88179 and m.interface == 0
    assert match_device(_find(CdcNcmModel(vid=0x05AC, pid=0x12A8))).info is AppleNcm


def test_denied_devices_do_not_match():
    assert match_device(_find(CdcEcmModel(vid=0x0BDA, pid=0x8152))) is None
    assert match_device(_find(CdcNcmModel(vid=0x0B95, pid=0x1790))) is None
    # Generic: an unknown vendor's ECM function binds cdc_ether.
    assert match_device(_find(CdcEcmModel(vid=0x1209, pid=0x0001))).info is CdcEther


def test_probe_hook_answers_for_usb_only():
    pm = PluginManager()
    pm.load_plugin("usbnet")
    dev = _find(CdcNcmModel())
    assert pm.call_guarded("netdrv_probe", bus="usb", device=dev) == [CdcNcm]
    denied = _find(CdcEcmModel(vid=0x0BDA, pid=0x8153))
    assert pm.call_guarded("netdrv_probe", bus="usb", device=denied) == []
    assert pm.call_guarded("netdrv_probe", bus="pci", device=dev) == []
