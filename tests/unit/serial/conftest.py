"""Fixtures of the serial driver's unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from netdrv_core import Host


@pytest.fixture
def unload(host: Host) -> Iterator[Callable[[Any], None]]:
    """Call it with a loaded slip driver: the driver's ``exit`` runs after the test."""
    drivers: list[Any] = []
    yield drivers.append
    with host.as_current():
        for drv in drivers:
            drv.exit()
