"""The tests ``pytest --netdrv-conformance=DRIVER[,DRIVER…]`` adds (collected by the plugin).

Not a ``test_*`` file on purpose: it is collected only when the option is given.
"""

from __future__ import annotations

import pytest

from .conformance import DriverConformance


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One run of every conformance test per driver named on the command line."""
    from .plugin import conformance_drivers

    if "netdrv_conformance_driver" in metafunc.fixturenames:
        names = conformance_drivers(metafunc.config)
        metafunc.parametrize("netdrv_conformance_driver", names, ids=names)


class TestDriverConformance(DriverConformance):
    """The conformance kit, parametrized over ``--netdrv-conformance``."""
