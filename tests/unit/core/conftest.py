"""Fixtures of the core unit tests: a host on the memory stack driven by a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fakedev import FakeClock, LoadSnull, Run, load_driver, mem, run_for

from netdrv_core import Host
from netdrv_core.driver import Driver
from netdrv_core.loop import EventLoop


@pytest.fixture
def clock() -> FakeClock:
    """The fake clock of :func:`host`."""
    return FakeClock()


@pytest.fixture
def host(clock: FakeClock) -> Iterator[Host]:
    """A host on the memory attachment whose loop runs on ``clock``."""
    h = Host(loop=EventLoop(clock=clock))
    yield h
    h.close()
    h.loop.close()


@pytest.fixture
def run(host: Host, clock: FakeClock) -> Run:
    """``run(seconds, step=0.001)``: let fake time pass on the host."""

    def _run(seconds: float = 0.0, step: float = 0.001) -> None:
        run_for(host, clock, seconds, step)

    return _run


@pytest.fixture
def snull(host: Host) -> LoadSnull:
    """``snull(**params)``: load snull (``configure=0``) and bring sn0/sn1 up."""
    from netdrv_snull.driver import Snull

    def _load(up: bool = True, **params: Any) -> Driver:
        params.setdefault("configure", 0)
        drv = load_driver(host, Snull, **params)
        if up:
            for dev in drv.devices:
                mem(host).up(dev)
        return drv

    return _load
