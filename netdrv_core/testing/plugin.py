"""netdrv's pytest plugin (entry point ``pytest11``): fixtures for driver tests.

Fixtures:

* ``netdrv_host`` — a :class:`~netdrv_core.Host` on the in-process memory stack;
* ``netdrv_load`` — ``netdrv_load("snull", lockup=5)`` loads a driver on that
  host and returns the driver object (unloaded at teardown);
* ``netns`` / ``netns_factory`` — fresh network namespaces (skipped with a
  reason when not privileged), deleted with their daemon afterwards;
* ``netdrv_plugins`` — the :class:`~netdrv_core.PluginManager` the fixtures use.

Marker ``netns``: tests that need CAP_NET_ADMIN; they are skipped with the
reason when the process cannot create namespaces.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..driver import Driver
from ..host import Host
from ..params import parse_params
from ..plugins import PluginManager
from .netns import NetNamespace, netns_available


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers."""
    config.addinivalue_line(
        "markers", "netns: needs CAP_NET_ADMIN; creates its own network namespaces"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip netns-marked tests, with the reason, when namespaces cannot be made."""
    ok, why = netns_available()
    if ok:
        return
    if os.environ.get("NETDRV_REQUIRE_NETNS") and any("netns" in i.keywords for i in items):
        raise pytest.UsageError(f"NETDRV_REQUIRE_NETNS is set but netns tests cannot run: {why}")
    skip = pytest.mark.skip(reason=f"netns test: {why}")
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def netdrv_plugins() -> PluginManager:
    """A plugin manager over the installed plugins."""
    return PluginManager()


@pytest.fixture
def netdrv_host() -> Iterator[Host]:
    """A host on the memory attachment; every device is unregistered afterwards."""
    host = Host()
    yield host
    host.close()
    host.loop.close()


@pytest.fixture
def netdrv_load(
    netdrv_host: Host, netdrv_plugins: PluginManager
) -> Iterator[Callable[..., Driver]]:
    """``netdrv_load(name, **params)``: load a driver on ``netdrv_host``."""
    loaded: list[Driver] = []

    def load(name: str, **params: Any) -> Driver:
        cls = netdrv_plugins.get_driver(name)
        values = parse_params(name, netdrv_plugins.driver_parameters(name),
                              {k: str(v) if not isinstance(v, str) else v for k, v in params.items()})  # fmt: skip
        drv = cls(netdrv_host, values)
        with netdrv_host.as_current():
            drv.init()
        loaded.append(drv)
        return drv

    yield load
    for drv in reversed(loaded):
        with netdrv_host.as_current():
            drv.exit()


@pytest.fixture
def netns_factory() -> Iterator[Callable[[], NetNamespace]]:
    """Make as many fresh namespaces as a test needs; all deleted afterwards."""
    ok, why = netns_available()
    if not ok:
        pytest.skip(f"netns test: {why}")
    made: list[NetNamespace] = []

    def make() -> NetNamespace:
        ns = NetNamespace()
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.delete()


@pytest.fixture
def netns(netns_factory: Callable[[], NetNamespace]) -> NetNamespace:
    """One fresh network namespace."""
    return netns_factory()
