"""Fixtures of the USB tests (the memory `host` is tests/unit/conftest.py's): the simulator backend, no leaks."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from usbnet_helpers import usbnet_threads

from netdrv_core import Host


@pytest.fixture
def sim_backend() -> Iterator[object]:
    """The process-wide simulator backend (``backend=netdrv_usbnet.sim:get_backend``), emptied."""
    from netdrv_usbnet.sim import get_backend, reset_backend

    reset_backend()
    yield get_backend()
    reset_backend()


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Every usbnet thread a test started has ended once the test unloaded the driver."""
    before = set(usbnet_threads())
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t for t in usbnet_threads() if t not in before]
        if not left:
            return
        time.sleep(0.02)
    pytest.fail(f"usbnet threads still running after the test: {[t.name for t in left]}")


@pytest.fixture
def usbnet(host: Host) -> Iterator[object]:
    """``usbnet(sim="cdc_ether", …)`` loads the driver on ``host``; unloaded afterwards."""
    from usbnet_helpers import load, unload

    loaded = []

    def _load(**params: object) -> object:
        drv = load(host, **params)
        loaded.append(drv)
        return drv

    yield _load
    for drv in reversed(loaded):
        if not drv._exiting:
            unload(host, drv)
