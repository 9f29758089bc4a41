"""A ``-p MODULE`` middleware's hooks run in the daemon for a driver it does not offer; a
``-p`` typo is a clear error that leaves the daemon and its drivers alone."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

from .plugin_helpers import env_with

pytestmark = pytest.mark.netns

MIDDLEWARE = '''
"""mwlog: adds log= to every driver and writes the devices registered to that file."""
from netdrv_core import Param, hookimpl

FILES = {}


@hookimpl
def netdrv_driver_parameters(driver):
    return [Param("log", str, "", "file to write registered devices to")]


@hookimpl
def netdrv_device_registered(dev):
    path = dev.driver.params.get("log") if dev.driver is not None else ""
    if path:
        with open(path, "a") as f:
            f.write(dev.name + "\\n")
'''


def test_a_p_middleware_runs_in_the_daemon_and_a_p_typo_is_refused(
    tmp_path: Path, netns: NetNamespace
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "netdrv_mwlog.py").write_text(textwrap.dedent(MIDDLEWARE))
    env = env_with(site)
    out = tmp_path / "registered.txt"

    def netdrv(*args: str, check: bool = True):  # type: ignore[no-untyped-def]
        return netns.run([sys.executable, "-m", "netdrv_core.cli", *args], env=env, check=check)

    assert "snull: sn0, sn1" in netdrv("-p", "netdrv_mwlog", "load", "snull", f"log={out}").stdout
    assert out.read_text().split() == ["sn0", "sn1"]
    bad = netdrv("-p", "netdrv_nosuchmod", "load", "loopback", check=False)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "plugin module 'netdrv_nosuchmod' (-p netdrv_nosuchmod) not found" in bad.stderr
    assert "PYTHONPATH" in bad.stderr and "Traceback" not in bad.stderr
    # The daemon and its driver are untouched; the middleware still applies to the next load.
    st = json.loads(netdrv("status", "--json").stdout)
    assert {d["name"] for d in st["devices"]} == {"sn0", "sn1"}
    assert "loopback" in netdrv("-p", "netdrv_mwlog", "load", "loopback", f"log={out}").stdout
    assert len(out.read_text().split()) == 3
    netdrv("stop")
