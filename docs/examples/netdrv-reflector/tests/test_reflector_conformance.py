"""netdrv's driver conformance kit, run against the reflector (on the memory stack, no root)."""

from netdrv_core.testing.conformance import DriverConformance


class TestReflectorConformance(DriverConformance):
    """Every check of the kit with the default parameters."""

    driver_name = "reflector"


class TestRateLimitedReflectorConformance(DriverConformance):
    """The same with a rate limit low enough that the kit's bursts are partly dropped."""

    driver_name = "reflector"
    driver_params = {"rate": "20", "udp": "0"}
