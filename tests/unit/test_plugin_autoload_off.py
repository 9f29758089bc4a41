"""``NETDRV_DISABLE_PLUGIN_AUTOLOAD=1``: an unknown driver's error says why and what to do.

With entry-point loading off no installed driver is seen, so "Installed drivers:
none (is netdrv installed …?)" would send the user reinstalling.  As pytest does for
``PYTEST_DISABLE_PLUGIN_AUTOLOAD``, the error names the variable and ``-p MODULE`` —
with the module itself when an installed distribution offers the driver.
"""

from __future__ import annotations

import pytest

from netdrv_core.errors import PluginError
from netdrv_core.plugins import PluginManager


@pytest.fixture(autouse=True)
def _autoload_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETDRV_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("NETDRV_PLUGINS", raising=False)


def _error(name: str) -> str:
    with pytest.raises(PluginError) as err:
        PluginManager().get_driver(name)
    return str(err.value)


def test_an_installed_driver_is_named_with_its_module() -> None:
    msg = _error("snull")
    assert msg.startswith("unknown driver 'snull'."), msg
    assert "pip install -e" not in msg, msg
    assert "NETDRV_DISABLE_PLUGIN_AUTOLOAD is set" in msg, msg
    assert "netdrv -p netdrv_snull load snull" in msg, msg


def test_a_driver_no_distribution_offers_gets_the_general_advice() -> None:
    msg = _error("nosuchdrv")
    assert msg.startswith("unknown driver 'nosuchdrv'."), msg
    assert "pip install -e" not in msg, msg
    assert "NETDRV_DISABLE_PLUGIN_AUTOLOAD is set" in msg and "-p MODULE" in msg, msg


def test_with_autoload_on_the_message_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETDRV_DISABLE_PLUGIN_AUTOLOAD")
    msg = _error("nosuchdrv")
    assert "NETDRV_DISABLE_PLUGIN_AUTOLOAD" not in msg, msg
    assert "Installed drivers: loopback" in msg, msg


def test_the_module_named_is_the_entry_points_not_netdrv_name() -> None:
    """slip's entry point is module netdrv_serial: that is the -p module to name, and it
    does offer the driver."""
    msg = _error("slip")
    assert "netdrv -p netdrv_serial load slip" in msg and "netdrv_slip" not in msg, msg
    assert PluginManager(extra=["netdrv_serial"]).get_driver("slip").__name__ == "SerialLink"
