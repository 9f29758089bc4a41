"""netdrv's pytest plugin (entry point ``pytest11``): fixtures for driver tests.

Fixtures:

* ``netdrv_host`` — a :class:`~netdrv_core.Host` on the in-process memory stack;
* ``netdrv_clock`` — its loop's clock: real time that ``advance(seconds)`` jumps
  forward (a watchdog or keepalive due at once) and ``frozen()`` stops;
* ``netdrv_load`` — ``netdrv_load("snull", lockup=5)`` loads a driver on that
  host, parameters as on the command line, and returns the driver object
  (unloaded at teardown; a failed ``init`` leaves nothing registered).  It runs
  ``init()`` only, not ``configure()``: call ``drv.configure()`` in a test that
  wants the addresses and links up that ``netdrv load`` gives;
* ``netns`` / ``netns_factory`` — fresh network namespaces (skipped with a
  reason when not privileged), deleted with their daemon afterwards;
* ``netdrv_plugins`` — the :class:`~netdrv_core.PluginManager` the fixtures use.

Marker ``netns``: tests that need CAP_NET_ADMIN; they are skipped with the
reason when the process cannot create namespaces.

Option ``--netdrv-conformance=DRIVER[,DRIVER…]`` (or ``all``): run the driver
conformance kit (:mod:`netdrv_core.testing.conformance`) against those
installed drivers, in addition to the tests collected otherwise.  A name that
no plugin offers is a usage error (exit status 4), said once with the installed
drivers; an installed driver that fails to load fails each check with why.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..driver import Driver
from ..driver_errors import driver_exception
from ..errors import ParameterError, PluginError
from ..host import Host
from ..params import check_params_error, parse_params
from ..plugins import PluginManager
from .netns import NetNamespace, netns_available

CONFORMANCE_SUITE = "netdrv_core.testing._conformance_suite"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--netdrv-conformance``."""
    group = parser.getgroup("netdrv")
    group.addoption(
        "--netdrv-conformance",
        action="append",
        default=[],
        metavar="DRIVER[,DRIVER...]",
        help="run the netdrv driver conformance kit against these installed drivers "
        "('all': every installed driver); may be repeated",
    )


def conformance_drivers(config: pytest.Config) -> list[str]:
    """Driver names given with ``--netdrv-conformance`` (``all`` expanded), in order, once each."""
    names: list[str] = []
    for value in config.getoption("netdrv_conformance", default=None) or []:
        for name in (n.strip() for n in value.split(",")):
            if name == "all":
                names += PluginManager().driver_names()
            elif name:
                names.append(name)
    return list(dict.fromkeys(names))


class _ConformanceModule(pytest.Module):
    """The conformance suite, imported by its module name wherever netdrv is installed."""

    def _getobj(self) -> Any:
        import importlib

        return importlib.import_module(CONFORMANCE_SUITE)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers; refuse a ``--netdrv-conformance`` driver that does not exist."""
    config.addinivalue_line(
        "markers", "netns: needs CAP_NET_ADMIN; creates its own network namespaces"
    )
    _check_conformance_drivers(config)


def _check_conformance_drivers(config: pytest.Config) -> None:
    """A ``--netdrv-conformance`` name that no plugin offers is a usage error, said once
    with the installed drivers — not the same failure in each of the kit's checks.  An
    installed driver that does not load is left to the checks, which say why."""
    names = conformance_drivers(config)
    if not names:
        return
    pm = PluginManager()
    installed = set(pm.driver_names())
    for name in names:
        if name in installed:
            continue
        try:
            pm.get_driver(name)  # a -p module (NETDRV_PLUGINS) may offer it
        except PluginError as exc:
            if name not in pm.driver_names():
                from .conformance import not_installed_hint

                hint = not_installed_hint(pm, name)
                raise pytest.UsageError(f"--netdrv-conformance: {exc}{hint}") from None


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so they apply to the kit too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the ``--netdrv-conformance`` tests; skip netns tests when namespaces cannot be made."""
    if conformance_drivers(config):
        import importlib

        path = Path(importlib.import_module(CONFORMANCE_SUITE).__file__ or "")
        module = _ConformanceModule.from_parent(session, path=path, nodeid="netdrv-conformance")
        items.extend(session.genitems(module))
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
def netdrv_clock() -> Any:
    """The clock of ``netdrv_host``'s loop: real time, which a test can jump forward.

    ``netdrv_clock.advance(6)`` makes a 5-second watchdog or a keepalive due at
    the next loop round; ``with netdrv_clock.frozen():`` keeps every timer from
    becoming due.  Threads of the driver still run in real time.
    """
    from .conformance import ConformanceClock

    return ConformanceClock()


@pytest.fixture
def netdrv_host(netdrv_clock: Any) -> Iterator[Host]:
    """A host on the memory attachment; every device is unregistered afterwards.

    The test runs as after a boot for driver messages too: a fresh ``net_ratelimit()``
    on ``netdrv_clock`` and a fresh ``netdev_warn_once`` memory (:func:`printk_state`).
    """
    from ..loop import EventLoop
    from ..printk import printk_state

    with printk_state(netdrv_clock):
        host = Host(loop=EventLoop(clock=netdrv_clock))
        yield host
        host.close()
        host.loop.close()


@pytest.fixture
def netdrv_load(
    netdrv_host: Host, netdrv_plugins: PluginManager
) -> Iterator[Callable[..., Driver]]:
    """``netdrv_load(name, **params)``: load a driver on ``netdrv_host``.

    Parameters are given as on the command line: ``netdrv_load("snull", lockup=5,
    use_napi=1)`` is ``netdrv load snull lockup=5 use_napi=1``.  Numbers and booleans
    become that text; any other value must be text (None is refused, not "None").

    It runs the driver's ``init()`` only: the devices are registered and down.  What
    ``netdrv load`` does next, ``Driver.configure()`` (addresses, links up), a test
    calls itself when it wants it: ``drv = netdrv_load("mydrv"); drv.configure()``
    (the conformance kit calls both, as the daemon does).

    A driver whose plugin does not load raises :class:`~netdrv_core.PluginError`
    (what failed, ``at FILE:LINE``); when the plugin's code raised, that exception is
    its cause, shown with the plugin's own lines only (not netdrv's or importlib's).
    """
    from .conformance import command_line_values, not_installed_hint

    loaded: list[Driver] = []

    def load(name: str, /, **params: Any) -> Driver:  # "/": drivers have a `name` parameter
        __tracebackhide__ = True  # a failure shows the test's line, not netdrv's
        try:
            cls = netdrv_plugins.get_driver(name)
        except PluginError as exc:
            # The message says what failed and where in the plugin's code (FILE:LINE); the
            # cause shown is what the driver's code raised, with the driver's lines only: a
            # traceback through netdrv's plugin manager and importlib would bury them.
            err = PluginError(f"{exc}{not_installed_hint(netdrv_plugins, name)}")
            raise err from driver_exception(exc)
        decl = netdrv_plugins.driver_parameters(name)
        try:
            values = parse_params(name, decl, command_line_values(params))
        except ParameterError as exc:  # says which parameter and what it takes
            raise exc.with_traceback(None) from None
        try:
            cls.check_params(values)  # as netdrv load and the daemon do
        except ParameterError as exc:
            raise check_params_error(name, exc) from None
        drv = cls(netdrv_host, values)
        before = set(netdrv_host.devices.values())
        try:
            with netdrv_host.as_current():
                drv.init()
        except BaseException:
            # As the daemon does: nothing of a failed init stays registered for the test.
            drv.adopt(before)
            _undo_load(netdrv_host, drv)
            raise
        drv.adopt(before)  # LDD-style register_netdev inside init, as the daemon accepts
        loaded.append(drv)
        return drv

    yield load
    for drv in reversed(loaded):
        with netdrv_host.as_current():
            drv.exit()


def _undo_load(host: Host, drv: Driver) -> None:
    """Unregister what a failed ``init`` registered, then let the driver release the rest."""
    host.unregister_driver_devices(drv)
    with contextlib.suppress(Exception), host.as_current():
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
