"""A plugin installed (``pip install -e``) while the namespace's daemon runs loads into it.

Found following the docs as a driver author: with one driver loaded, a newly
``pip install -e``-ed plugin was listed and accepted by ``netdrv load`` (a fresh
process), then the daemon answered ``failed to load: ModuleNotFoundError: No
module named 'netdrv_NAME'`` — Python reads ``.pth`` files at start-up only,
and an editable install is one.

A ``sitecustomize`` makes a temporary directory a real site directory (its
``.pth`` files processed at every interpreter's start-up, as site-packages'
are), so the install is exactly what pip leaves, and nothing touches this
environment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import wait_for

pytestmark = pytest.mark.netns

PLUGIN = '''"""authlate: installed while a daemon runs."""
from netdrv_core import Driver, alloc_netdev, ether_setup, hookimpl


class AuthLate(Driver):
    name = "authlate"
    summary = "installed while the daemon ran"

    def init(self):
        dev = alloc_netdev(None, "alate%d", ether_setup)
        dev.dev_addr = b"\\x02\\x00\\x00\\x00\\x00\\x31"
        self.register(dev)


@hookimpl
def netdrv_drivers():
    return [AuthLate]
'''


def test_a_plugin_installed_after_the_daemon_started_loads_into_it(
    tmp_path: Path, netns: NetNamespace
) -> None:
    site, boot, src = tmp_path / "site", tmp_path / "boot", tmp_path / "src"
    for d in (site, boot, src):
        d.mkdir()
    (boot / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({str(site)!r})\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(boot), env.get("PYTHONPATH")]))

    def netdrv(*args: str, check: bool = True) -> str:
        res = netns.run([sys.executable, "-m", "netdrv_core.cli", *args], env=env, check=False)
        if check:
            assert res.returncode == 0, f"netdrv {' '.join(args)}: {res.stdout}{res.stderr}"
        return res.stdout + res.stderr

    netdrv("load", "loopback", "name=keep%d")  # the daemon starts, and stays for this driver
    (pid,) = netns.pids()

    # What `pip install -e` writes: the package elsewhere, a .pth naming it, a dist-info.
    (src / "netdrv_authlate").mkdir()
    (src / "netdrv_authlate" / "__init__.py").write_text(PLUGIN)
    pth = site / "__editable__.netdrv_authlate-1.0.pth"
    pth.write_text(f"{src}\n")
    info = site / "netdrv_authlate-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: netdrv-authlate\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[netdrv.drivers]\nauthlate = netdrv_authlate\n")
    (info / "RECORD").write_text(f"{pth.name},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")

    assert "authlate" in netdrv("drivers")
    out = netdrv("load", "authlate")
    assert "authlate: alate0" in out, out
    assert netns.pids() == [pid], "the same daemon, not a new one"
    assert " alate0:" in netns.run("ip -o link").stdout
    st = json.loads(netdrv("status", "--json"))
    assert {d["name"] for d in st["drivers"]} == {"loopback", "authlate"}
    netdrv("stop")
    assert wait_for(lambda: not netns.pids())
