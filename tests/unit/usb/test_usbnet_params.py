"""usbnet's parameter rules are checked before anything starts, and exit 2 as a bad value does.

``port=``, ``name=`` and the simulated cables' ``sim_wire=`` were checked in ``init``, in the
daemon: ``netdrv load usbnet port=1.x`` started a daemon (and needed CAP_NET_ADMIN) to exit 1.
A ``hotplug_interval`` of 0.001 rescanned the bus every millisecond.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from netdrv_usbnet.driver import MIN_HOTPLUG_INTERVAL, Usbnet

import netdrv_core.cli as cli_mod
from netdrv_core.cli import cli
from netdrv_core.errors import ParameterError
from netdrv_core.params import parse_params

BAD = [
    (["port=1.x"], "port=1.x: a root-hub port path is port numbers joined by dots"),
    (["name=usb%s"], "name='usb%s' must be a name or contain one %d"),
    (["sim=cdc_ether,ax88179", "sim_wire=a"], "sim_wire= names the TAP of each"),
    (["sim=cdc_ether", "name=usbsim0"], "name=usbsim0 is the simulated cable's TAP too"),
    (["hotplug_interval=0.001"], "give 0 (no hotplug) or 0.01..3600"),
]


@pytest.fixture
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The ``load`` requests ``netdrv load`` would send (none: no daemon starts)."""
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(cli_mod, "_ask_load", lambda plugins, req: sent.append(req) or
                        {"ok": True, "devices": []})  # fmt: skip
    monkeypatch.setattr(cli_mod, "_has_net_admin", lambda: True)
    return sent


@pytest.mark.parametrize(("args", "said"), BAD)
def test_a_bad_parameter_exits_2_before_a_daemon_starts(no_daemon, args, said):
    res = CliRunner().invoke(cli, ["-p", "no:slip", "load", "usbnet", *args])
    assert res.exit_code == 2 and no_daemon == [], res.output
    assert "driver 'usbnet': " in res.output and said in res.output, res.output


@pytest.mark.parametrize("every", ["0", str(MIN_HOTPLUG_INTERVAL), "1", "3600"])
def test_hotplug_interval_off_or_from_the_minimum_is_taken(every):
    params = parse_params("usbnet", Usbnet.parameters, {"hotplug_interval": every})
    Usbnet.check_params(params)  # no error


def test_init_checks_the_rules_too(host):
    # In-process code that builds the driver itself (no netdrv load) gets the same error,
    # before any backend or simulated adapter exists.
    params = parse_params("usbnet", Usbnet.parameters, {"port": "1..4", "sim": "cdc_ether"})
    drv = Usbnet(host, params)
    with pytest.raises(ParameterError, match=r"port=1\.\.4"):
        drv.init()
    assert drv.backend is None and drv.sim_models == []
