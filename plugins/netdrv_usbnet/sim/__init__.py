"""Simulated USB Ethernet adapters behind a real pyusb backend.

Quick start::

    import usb.core, usb.util
    from netdrv_usbnet.sim import SimBackend, CdcEcmModel

    model = CdcEcmModel(speed="high")
    backend = SimBackend([model])
    dev = usb.core.find(idVendor=0x0525, backend=backend)
    dev.set_configuration()
    usb.util.claim_interface(dev, 0)
    dev.set_interface_altsetting(interface=1, alternate_setting=1)
    model.on_wire_tx = lambda frame: print("on the wire:", frame.hex())
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + bytes(46)
    model.wire_rx(frame)                 # a frame arrives from the cable
    data = dev.read(0x82, 2048, timeout=1000)   # ... and the host reads it (60 bytes)
    dev.write(0x01, frame)               # the adapter puts it on the wire

Models: :class:`CdcEcmModel`, :class:`CdcNcmModel`, :class:`Ax88179Model`
(speed ``"full"`` = 64-byte bulk packets, ``"high"`` = 512, ``"super"`` = 1024).
Faults: ``stall``, ``unplug``/``replug``, ``timeout_next``, ``overflow_next``,
``drop_zlp``, ``in_zlp``, ``split_notifications``, ``bad_mac_string``,
``malformed_next``, ``ax88179a_dummy_headers`` - see :class:`SimDevice` and the
model classes.  ``CdcNcmModel(ntb_formats=...)`` offers NTB16, NTB32 or both.
"""

from .ax88179 import Ax88179Model
from .backend import SimBackend, get_backend, reset_backend
from .cdc import CdcEcmModel, CdcNcmModel
from .device import SimDevice, SimDeviceStats, usb_error
from .netdev import SimNetDevice

__all__ = [
    "Ax88179Model",
    "CdcEcmModel",
    "CdcNcmModel",
    "SimBackend",
    "SimDevice",
    "SimDeviceStats",
    "SimNetDevice",
    "get_backend",
    "reset_backend",
    "usb_error",
]
