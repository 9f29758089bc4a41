"""`netdrv faults` against snull through this namespace's daemon: loss 100% silences ping,
netem's rate queues frames (delivered, later) instead of dropping them, up to its limit."""

from __future__ import annotations

import json
import re
import time

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
    shown = _faults(netns, "sn0")
    stats = shown["stats"]
    assert stats["dropped"] >= 3 and stats["delivered"] == 0
    assert shown["qdisc"]["drops"] == stats["dropped"] and shown["qdisc"]["packets"] == 0
    text = netns.netdrv("faults sn0").stdout
    assert text.startswith(
        "sn0: faults limit 1000 loss 100% direction both\n Sent 0 bytes 0 pkt "
        f"(dropped {stats['dropped']}, overlimits 0 requeues 0)\n"
    ), text
    # netdrv status: the same, per device (tc -s qdisc show's counters)
    st = json.loads(netns.netdrv("status --json").stdout)
    (dev,) = [d for d in st["devices"] if d["name"] == "sn0"]
    assert dev["fault_injector"]["settings"]["drop"] == 1.0
    assert dev["fault_injector"]["stats"]["dropped"] >= stats["dropped"]
    assert " Sent 0 bytes 0 pkt (dropped " in netns.netdrv("status").stdout

    res = netns.netdrv("faults sn0 loss 2x", check=False)
    assert res.returncode == 2 and "loss: '2x' is not a percentage" in res.stderr
    assert netns.netdrv("faults sn0 off").stdout == ""
    assert _faults(netns, "sn0") == {
        "dev": "sn0",
        "faults": None,
        "stats": None,
        "qdisc": None,
        "directions": None,
    }
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout


def _ping_burst(netns: NetNamespace, n: int, size: int = 1400, every_reply: bool = False) -> str:
    """``n`` pings of ``size`` bytes of payload, 2 ms apart: a burst faster than the rate.
    ``every_reply``: wait (up to 20 s) for all ``n`` replies (ping's ``-w``), not only twice
    the longest round trip seen after the last request, which a loaded machine can end
    before the queue has drained."""
    wait = "-w 20" if every_reply else "-W 5"
    return netns.run(f"ping -c {n} -i 0.002 -s {size} {wait} 198.18.0.2", check=False).stdout


def test_rate_queues_a_burst_instead_of_dropping_it(netns: NetNamespace) -> None:
    # tc-netem(8) rate: each frame waits for the ones before it to be serialised; a
    # burst within the limit is delayed, not lost (a policer would drop most of it).
    netns.netdrv("load snull")
    assert netns.netdrv("faults sn0 rate 1mbit direction tx").stdout == ""
    out = _ping_burst(netns, 20, every_reply=True)
    assert "20 received" in out, out
    stats = _faults(netns, "sn0")["stats"]
    assert stats["seen"] >= 20 and stats["delivered"] == stats["seen"], stats
    assert stats["rate_limited"] == stats["limit_dropped"] == stats["dropped"] == 0
    assert stats["delayed"] >= 20
    # tc's Sent: every frame handed on, with its bytes (each echo request 1442 on the wire)
    assert stats["sent_packets"] == stats["delivered"] and stats["sent_bytes"] >= 20 * 1442
    # every echo request (1442 bytes on the wire) was serialised at 1 Mbit/s first
    rtt_min = float(re.search(r"= ([0-9.]+)/", out).group(1))  # type: ignore[union-attr]
    assert rtt_min >= 1442 * 8 / 1e6 * 1000, out


def test_a_frame_finding_the_rate_queue_full_is_dropped_and_counted(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    netns.netdrv("faults sn0 rate 100kbit limit 5 direction tx")  # 115 ms a frame
    out = _ping_burst(netns, 20)
    stats = _faults(netns, "sn0")["stats"]
    assert stats["limit_dropped"] > 0, (stats, out)
    assert stats["seen"] == stats["delivered"] + stats["limit_dropped"] + stats["pending"]
    received = int(re.search(r"(\d+) received", out).group(1))  # type: ignore[union-attr]
    assert received <= 20 - stats["limit_dropped"]
    shown = netns.netdrv("faults sn0").stdout
    assert "sn0: faults limit 5 rate 100Kbit direction tx\n" in shown
    assert re.search(r"\n backlog \d+b \d+p requeues 0\n", shown), shown


def _link(netns: NetNamespace, dev: str) -> dict:
    (link,) = json.loads(netns.run(f"ip -s -j link show {dev}").stdout)
    return link["stats64"]


def test_each_direction_s_counters_reconcile_with_the_driver_and_the_kernel(
    netns: NetNamespace,
) -> None:
    # As Linux has a netem per direction, each with its own tc -s counters: what the kernel
    # sent on sn0 entered the tx side, what left it reached the driver; what the driver
    # received entered the rx side, what left it reached the kernel.  Every frame counted.
    netns.netdrv("load snull")
    netns.netdrv("faults sn0 delay 2ms loss 20% duplicate 20% seed 5")
    netns.run("ping -c 40 -i 0.01 -W 1 198.18.0.2", check=False)
    deadline = time.monotonic() + 10
    while (shown := _faults(netns, "sn0"))["stats"]["pending"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the last frames held (2 ms) on their way
    tx, rx = shown["directions"]["tx"], shown["directions"]["rx"]
    assert tx["dropped"] and tx["duplicated"] and rx["seen"], shown
    link = _link(netns, "sn0")
    (dev,) = [d for d in json.loads(netns.netdrv("status --json").stdout)["devices"]
              if d["name"] == "sn0"]  # fmt: skip
    stats = dev["stats"]
    assert tx["seen"] == link["tx"]["packets"] == 40
    assert tx["seen"] + tx["duplicated"] == tx["delivered"] + tx["dropped"]
    assert tx["delivered"] == stats["tx_packets"] + stats["tx_dropped"]
    assert rx["seen"] == stats["rx_packets"]
    assert rx["seen"] + rx["duplicated"] == rx["delivered"] + rx["dropped"]
    assert rx["delivered"] == link["rx"]["packets"]
    assert {k: tx[k] + rx[k] for k in tx} == shown["stats"]
    text = netns.netdrv("faults sn0").stdout.splitlines()
    assert text[4].startswith(f" tx: seen {tx['seen']} delivered {tx['delivered']} ")
    assert text[5].startswith(f" rx: seen {rx['seen']} delivered {rx['delivered']} ")
