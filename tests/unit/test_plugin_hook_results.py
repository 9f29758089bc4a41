"""A plugin whose ``netdrv_driver_parameters`` hook returns garbage breaks no other driver.

The hook runs for every driver that is loaded or listed: whatever one plugin returns
(a bare Param, a number, names instead of Params, a parameter the driver already
declares) must cost only that plugin's contribution, with an error that names it —
not a traceback from every ``netdrv load`` and ``netdrv drivers -v``.
"""

from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from netdrv_core import Host, Param, PluginManager, hookimpl
from netdrv_core.cli import cli
from netdrv_core.daemon import Daemon


class _Returns:
    """A plugin whose parameter hook returns ``value`` for every driver."""

    def __init__(self, value: Any) -> None:
        self.value = value

    @hookimpl
    def netdrv_driver_parameters(self, driver: str) -> Any:
        return self.value


class _AddsPcap:
    @hookimpl
    def netdrv_driver_parameters(self, driver: str) -> list[Param]:
        return [Param("pcap", str, "", "capture file")]


GARBAGE = [
    pytest.param(Param("extra", int, 0, "not in a list"), id="bare-param"),
    pytest.param(42, id="number"),
    pytest.param("extra", id="string"),
    pytest.param(["extra"], id="names-not-params"),
    pytest.param([Param("extra", int, 0, "fine"), None], id="a-none-among-params"),
    pytest.param([Param("lockup", str, "", "shadows snull's own lockup")], id="shadowing"),
]


@pytest.mark.parametrize("value", GARBAGE)
def test_garbage_from_one_plugin_is_ignored_and_named(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pm = PluginManager(autoload=False, extra=["netdrv_snull"])
    pm.register(_Returns(value), name="garbage-plugin")
    pm.register(_AddsPcap(), name="pcap-plugin")
    own = pm.get_driver("snull").parameters
    with caplog.at_level(logging.ERROR, logger="netdrv.plugins"):
        params = pm.driver_parameters("snull")
    # The driver's own parameters, unchanged, and the well-behaved plugin's: nothing else.
    assert params == (*own, Param("pcap", str, "", "capture file"))
    msgs = [r.getMessage() for r in caplog.records]
    assert any("'garbage-plugin'" in m and "netdrv_driver_parameters" in m for m in msgs), msgs


def test_a_parameter_two_plugins_add_is_kept_once(caplog: pytest.LogCaptureFixture) -> None:
    pm = PluginManager(autoload=False, extra=["netdrv_snull"])
    pm.register(_AddsPcap(), name="first")
    pm.register(_AddsPcap(), name="second")
    with caplog.at_level(logging.ERROR, logger="netdrv.plugins"):
        names = [p.name for p in pm.driver_parameters("snull")]
    assert names.count("pcap") == 1
    assert any("'pcap'" in r.getMessage() for r in caplog.records)


GARBAGE_MODULE = '''
"""garbageparams: a middleware plugin whose parameter hook returns a bare Param."""
from netdrv_core import Param, hookimpl


@hookimpl
def netdrv_driver_parameters(driver):
    return Param("pcap", str, "", "should have been in a list")
'''


@pytest.fixture
def garbage_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "netdrv_garbageparams.py").write_text(textwrap.dedent(GARBAGE_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("NETDRV_PLUGINS", raising=False)
    yield "netdrv_garbageparams"
    sys.modules.pop("netdrv_garbageparams", None)


def test_the_daemon_loads_other_drivers_after_it_was_loaded(host: Host) -> None:
    # The daemon loaded the middleware plugin (with a driver of its own) earlier: its hook
    # now runs for every later load, which must still succeed.
    d = Daemon(host=host, pm=PluginManager(autoload=False, extra=["netdrv_snull"]),
               exit_when_empty=False, watchdog=None)  # fmt: skip
    d.pm.register(_Returns(Param("pcap", str, "", "not in a list")), name="garbage-plugin")
    try:
        reply = d.handle({"cmd": "load", "driver": "snull", "params": ["lockup=0"]})
        assert reply is not None and reply["ok"], reply
    finally:
        for name in list(d.drivers):
            d.unload(name)


def test_the_verbose_listing_survives_it(garbage_module: str) -> None:
    res = CliRunner().invoke(cli, ["-p", garbage_module, "drivers", "--verbose", "--json"])
    assert res.exit_code == 0, res.exception
    assert "lockup=int" in res.output
