"""The driver conformance kit over the other simulated adapters (cdc_ether runs in the first-party suite)."""

from __future__ import annotations

from netdrv_core.testing.conformance import DriverConformance


class TestUsbnetNcmConformance(DriverConformance):
    driver_name = "usbnet"
    driver_params = {"sim": "cdc_ncm"}


class TestUsbnetAx88179Conformance(DriverConformance):
    driver_name = "usbnet"
    driver_params = {"sim": "ax88179", "sim_speed": "high"}


class TestUsbnetFullSpeedConformance(DriverConformance):
    """Full speed: the smallest queues (4 frames) and 64-byte packets."""

    driver_name = "usbnet"
    driver_params = {"sim": "cdc_ether", "sim_speed": "full"}
