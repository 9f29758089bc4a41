"""The example third-party plugin docs/examples/netdrv-reflector, built and installed like any other.

It is pip-installed with ``--target`` into a temporary directory (never into
this environment), then: ``netdrv drivers`` lists it, its own test suite (the
conformance kit included) passes, ``pytest --netdrv-conformance=reflector``
passes, and in a fresh network namespace ``netdrv load reflector`` creates
``refl0``, which answers ping and UDP.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netdrv_core import PluginManager
from netdrv_core.testing import NetNamespace
from netdrv_core.testing.conformance import DriverConformance

from .helpers import wait_for
from .plugin_helpers import (
    copy_project,
    drivers_json,
    env_with,
    netdrv_cli,
    pip_install_target,
    run_pytest,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "netdrv-reflector"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project copy, target): the example built from a clean copy, installed into ``target``."""
    root = tmp_path_factory.mktemp("example")
    project = copy_project(EXAMPLE, root / "netdrv-reflector")
    target = root / "site"
    pip_install_target(project, target)
    assert (target / "netdrv_reflector" / "driver.py").is_file()
    return project, target


def test_listed_by_netdrv_drivers_without_importing_it(installed: tuple[Path, Path]) -> None:
    _project, target = installed
    d = drivers_json(env_with(target))["reflector"]
    assert d["distribution"] == "netdrv-reflector" and d["version"] == "1.0.0"
    assert d["summary"].startswith("reflector: a wire that answers ARP and ping")
    assert "reflector" not in PluginManager().driver_names(), "installed into this environment?"
    code = ("import sys; from netdrv_core.cli import main\n"
            "try:\n    main(['drivers', '--json'])\nexcept SystemExit:\n    pass\n"
            "assert 'netdrv_reflector' not in sys.modules, 'listing imported the plugin'\n")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], env=env_with(target),
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr


def test_verbose_listing_shows_its_parameters(installed: tuple[Path, Path]) -> None:
    _project, target = installed
    out = netdrv_cli(env_with(target), "drivers", "--verbose", "--json").stdout
    d = next(r for r in json.loads(out) if r["name"] == "reflector")
    assert any(p.startswith("rate=int frames/s (default 0") for p in d["parameters"]), d


def test_its_own_tests_pass_including_the_conformance_kit(installed: tuple[Path, Path]) -> None:
    project, target = installed
    res = run_pytest(env_with(target), project, "-q", "tests")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "failed" not in res.stdout and "error" not in res.stdout


def test_passes_the_kit_through_the_pytest_option(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _project, target = installed
    res = run_pytest(env_with(target), tmp_path, "-q", "--netdrv-conformance=reflector")
    assert res.returncode == 0, res.stdout + res.stderr
    kit = [n for n in dir(DriverConformance) if n.startswith("test_")]
    assert f"{len(kit)} passed" in res.stdout, res.stdout  # every check of the kit, once


def test_bad_parameter_refused_before_anything_is_created(installed: tuple[Path, Path]) -> None:
    _project, target = installed
    res = netdrv_cli(env_with(target), "load", "reflector", "rate=fast", check=False)
    assert res.returncode == 2
    assert "bad value 'fast' for rate" in res.stderr and "rate=int" in res.stderr


@pytest.mark.netns
def test_loaded_in_a_namespace_it_answers_ping_and_udp(
    installed: tuple[Path, Path], netns: NetNamespace
) -> None:
    _project, target = installed
    env = env_with(target)

    def netdrv(*args: str) -> str:
        return netns.run([sys.executable, "-m", "netdrv_core.cli", *args], env=env).stdout

    out = netdrv("load", "reflector")
    assert "reflector: refl0" in out and "ping 198.51.100.2" in out
    link = next(ln for ln in netns.run("ip -o link show").stdout.splitlines() if " refl0:" in ln)
    assert "UP" in link and "LOWER_UP" in link and "02:52:46:4c:00:01" in link
    assert "198.51.100.1/24" in netns.run("ip -o -4 addr show dev refl0").stdout
    ping = netns.run("ping -c 3 -i 0.2 -W 2 198.51.100.2").stdout
    assert "3 received" in ping, ping
    neigh = netns.run("ip neigh show dev refl0").stdout
    assert "198.51.100.2 lladdr 02:52:46:4c:00:fe" in neigh, neigh
    code = (
        "import socket\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('198.51.100.1',0));"
        "s.settimeout(3)\n"
        "for i in range(20):\n"
        "  s.sendto(b'hello %d' % i,('198.51.100.9',7))\n"
        "  d,a=s.recvfrom(100); assert d==b'hello %d' % i and a==('198.51.100.9',7), (d,a)\n"
        "print('ok')\n"
    )
    assert netns.python(code).stdout.strip() == "ok"
    st = json.loads(netdrv("status", "--json"))
    d = next(x for x in st["devices"] if x["name"] == "refl0")
    s, c = d["stats"], d["core"]
    assert d["driver"] == "reflector"
    assert s["rx_packets"] >= 3 + 20 + 1, s  # echo replies, UDP echoes, ARP reply
    assert c["tx_submitted"] == s["tx_packets"] + s["tx_dropped"] + s["tx_errors"], (s, c)
    netdrv("unload", "reflector")
    assert wait_for(lambda: "refl0" not in netns.run("ip -o link").stdout)
    assert wait_for(lambda: not netns.pids()), "the daemon must exit with its last driver"
