"""With broken third-party plugins installed, the other drivers still load as kernel interfaces."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

from .plugin_helpers import env_with

pytestmark = pytest.mark.netns

GOOD = '''
"""goodone: a well-behaved third-party driver."""
from netdrv_core import Driver, alloc_netdev, ether_setup, hookimpl


class GoodOne(Driver):
    name = "goodone"
    summary = "a well-behaved third-party driver"

    def init(self):
        dev = alloc_netdev(None, "good%d", ether_setup)
        dev.dev_addr = b"\\x02\\x00\\x00\\x00\\x00\\x09"
        self.register(dev)


@hookimpl
def netdrv_drivers():
    return [GoodOne]
'''

PLUGINS = {
    "goodone": GOOD,
    "brokenimport": "import netdrv_robustness_missing_dependency\n",
    "raisinghook": "from netdrv_core import hookimpl\n\n@hookimpl\ndef netdrv_drivers():\n"
                   "    raise RuntimeError('no hardware library found')\n",
}  # fmt: skip


def _site(root: Path) -> Path:
    site = root / "site"
    site.mkdir()
    for name, src in PLUGINS.items():
        (site / f"netdrv_{name}.py").write_text(textwrap.dedent(src))
        info = site / f"netdrv_{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: netdrv-{name}\nVersion: 1.0\n"
        )
        (info / "entry_points.txt").write_text(f"[netdrv.drivers]\n{name} = netdrv_{name}\n")
    return site


def test_first_and_third_party_drivers_load_next_to_broken_plugins(
    tmp_path: Path, netns: NetNamespace
) -> None:
    env = env_with(_site(tmp_path))

    def netdrv(*args: str, check: bool = True):  # type: ignore[no-untyped-def]
        return netns.run([sys.executable, "-m", "netdrv_core.cli", *args], env=env, check=check)

    listed = {r["name"]: r for r in json.loads(netdrv("drivers", "--verbose", "--json").stdout)}
    assert "netdrv-brokenimport 1.0" in listed["brokenimport"]["error"]
    assert "no hardware library found" in listed["raisinghook"]["error"]
    assert "snull: sn0, sn1" in netdrv("load", "snull").stdout
    assert "goodone: good0" in netdrv("load", "goodone").stdout
    for broken in ("brokenimport", "raisinghook"):
        bad = netdrv("load", broken, check=False)
        assert bad.returncode == 2 and f"netdrv-{broken} 1.0" in bad.stderr, bad.stderr
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
    st = json.loads(netdrv("status", "--json").stdout)
    assert {d["name"] for d in st["devices"]} >= {"sn0", "sn1", "good0"}
    assert " good0:" in netns.run("ip -o link show").stdout
    netdrv("stop")
