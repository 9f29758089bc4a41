"""`netdrv faults` against snull through this namespace's daemon: loss 100% silences ping."""

from __future__ import annotations

import json

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns


def _faults(netns: NetNamespace, dev: str) -> dict:
    return json.loads(netns.netdrv(f"faults {dev} --json").stdout)


def test_loss_100_percent_drops_every_ping_until_off(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    assert "2 received" in netns.run("ping -c 2 -i 0.2 -W 2 198.18.0.2").stdout

    assert netns.netdrv("faults sn0 loss 100%").stdout == ""
    shown = _faults(netns, "sn0")
    assert shown["faults"]["drop"] == 1.0 and shown["stats"]["dropped"] == 0
    res = netns.run("ping -c 3 -i 0.2 -W 1 198.18.0.2", check=False)
    assert res.returncode != 0 and " 0 received" in res.stdout
    stats = _faults(netns, "sn0")["stats"]
    assert stats["dropped"] >= 3 and stats["delivered"] == 0
    assert "sn0: faults loss 100% direction both\n" in netns.netdrv("faults sn0").stdout

    res = netns.netdrv("faults sn0 loss 2x", check=False)
    assert res.returncode == 2 and "loss: '2x' is not a percentage" in res.stderr
    assert netns.netdrv("faults sn0 off").stdout == ""
    assert _faults(netns, "sn0") == {"dev": "sn0", "faults": None, "stats": None}
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
