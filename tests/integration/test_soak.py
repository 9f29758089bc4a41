"""Accounting under load (issue 10): one daemon flooded through every driver while faults hit.

Namespace A runs one daemon with loopback (an anchor that keeps the daemon
alive), snull with lockups and NAPI, one end of a serial link and a simulated
USB CDC-NCM adapter; namespace B holds the serial link's other end (through
netdrv's pacing relay), namespace C the USB adapter's cable.  All addresses
are in 198.18.0.0/15, all traffic stays inside the test namespaces, every
flood is bounded.

While UDP floods run both ways on every link: snull locks up every few
packets (only the watchdog recovers), the serial line gets bursts of garbage
and its cable is pulled and plugged back, the USB cable's link flaps and the
adapter is unplugged and comes back.  Afterwards, for every device of
``netdrv status --json`` in A and B::

    core.tx_submitted == stats.tx_packets + stats.tx_dropped + stats.tx_errors
    core.rx_submitted == core.rx_delivered + core.rx_backlog_drops + core.rx_down_drops

(``stats.rx_dropped`` as reported also includes the core's two drop
counters, like the kernel's.)  Before the flood every driver went through a
load/unload/load cycle: the daemon's open fds and threads are the same after
it as before, and its RSS after the flood is within a few MB of before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, status, wait_for
from .serial_helpers import Cable

pytestmark = [pytest.mark.netns, pytest.mark.slow]

SIOCDEVPRIVATE = 0x89F0
USB_A, USB_C = "198.18.7.1", "198.18.7.2"
SL_A, SL_B = "198.18.5.1", "198.18.5.2"
# The measured flood carries ~100k frames through the daemon: a leak of 30 bytes a frame
# would show.  What remains is the allocator's high-water mark, 0.5-0.7 MB in ten runs
# (the daemon runs with MALLOC_ARENA_MAX=2).  (Until the simulated adapter's model
# stopped keeping the last 10 000 frames it put on its TAP, wire_tx_log, that log grew
# by up to 7.5 MB here whenever the warm-up had not filled it: test_usb_simwire.py.)
RSS_SLACK_KB = 3 * 1024

# A bounded UDP flood: bursts of datagrams of mixed sizes for SECONDS (at most N of them),
# errors (no route while a cable is out, ENOBUFS, EAGAIN) ignored.  Prints how many the
# kernel took.
FLOOD = r"""
import socket, sys, time
dst, n, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + seconds
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sizes = (18, 200, 600, 1200, 1400)
sent = i = 0
while i < n and time.monotonic() < deadline:
    for _ in range(32):
        i += 1
        try:
            s.sendto(b"x" * sizes[i % len(sizes)], (dst, 9))
            sent += 1
        except OSError:
            pass
    time.sleep(0.002)
print(sent)
"""


def _floods(a: NetNamespace, b: NetNamespace, c: NetNamespace, seconds: float,
            scale: int = 1) -> list[subprocess.Popen[bytes]]:  # fmt: skip
    """Start UDP floods both ways over snull, the serial link and the USB adapter."""
    py = sys.executable
    jobs = [
        (a, "198.18.0.2", 40000), (a, "198.18.1.1", 40000),  # snull, both directions
        (a, SL_B, 3000), (b, SL_A, 3000),  # the serial line
        (a, USB_C, 30000), (c, USB_A, 30000),  # the USB adapter
    ]  # fmt: skip
    return [ns.popen([py, "-c", FLOOD, dst, str(n * scale), str(seconds)], stdout=subprocess.PIPE)
            for ns, dst, n in jobs]  # fmt: skip


def _wait(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    sent = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        if out and out.strip().isdigit():
            sent.append(int(out))
    return sent


def _proc(pid: int) -> dict[str, int]:
    """Open fds, threads and RSS (kB) of a process."""
    out = {"fds": len(os.listdir(f"/proc/{pid}/fd"))}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "Threads":
                out["threads"] = int(value)
            elif key == "VmRSS":
                out["rss_kb"] = int(value.split()[0])
    return out


def _settled(pid: int, want: dict[str, int]) -> bool:
    now = _proc(pid)
    return now["fds"] == want["fds"] and now["threads"] == want["threads"]


def _identities(d: dict[str, Any]) -> list[str]:
    """The accounting identities one device breaks (empty: all hold)."""
    s, c = d["stats"], d["core"]
    bad = []
    # (stats.tx_dropped as reported includes the skbs whose start_xmit raised, which
    # tx_submitted counts too: dev_get_stats adds core.tx_driver_faults.)
    if c["tx_submitted"] != s["tx_packets"] + s["tx_dropped"] + s["tx_errors"]:
        bad.append(f"{d['name']} tx: core {c} stats {s}")
    if c["rx_submitted"] != c["rx_delivered"] + c["rx_backlog_drops"] + c["rx_down_drops"]:
        bad.append(f"{d['name']} rx: core {c}")
    return bad


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _diagnose(a: NetNamespace, pid: int, dst: str, out: str) -> str:
    """Why a ping failed: device states and whether the daemon is spinning."""
    t0 = _cpu_ticks(pid)
    time.sleep(1.0)
    busy = _cpu_ticks(pid) - t0
    lines = [f"ping {dst}: {out!r}", f"daemon CPU in 1 s: {busy} ticks"]
    for d in status(a)["devices"]:
        lines.append(f"{d['name']} {d['state']} carrier={d['carrier']} queue={d['queue']} "
                     f"backlog={d['qdisc_backlog']} core={d['core']} "
                     f"ethtool={d['ethtool'].get('stats')}")  # fmt: skip
    lines.append(a.run("ip -s link").stdout)
    return "\n".join(lines)


def _all_accounted(*namespaces: NetNamespace) -> list[str]:
    bad: list[str] = []
    for ns in namespaces:
        for d in status(ns)["devices"]:
            bad += _identities(d)
    return bad


@pytest.fixture
def cable() -> Iterator[Cable]:
    c = Cable(0)  # unpaced: as fast as the relay copies, so the line is really flooded
    yield c
    c.close()


def _usb_up(a: NetNamespace) -> None:
    """Configure usb0 (again, after a replug: it is a new interface, down)."""

    def configured() -> bool:
        addr = a.run(f"ip addr replace {USB_A}/24 dev usb0", check=False)
        return addr.returncode == 0 and a.run("ip link set usb0 up", check=False).returncode == 0

    assert wait_for(configured, timeout=8, interval=0.2), "usb0 did not come (back)"


def _unplug_replug(a: NetNamespace) -> None:
    """Pull the simulated adapter's plug; it is back 0.5 s later as a new usb0, configured."""
    a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE + 1}:500")
    assert wait_for(lambda: " usb0:" not in a.run("ip -o link").stdout, timeout=3)
    _usb_up(a)


def _cycle(ns: NetNamespace, pid: int, name: str, load: str) -> None:
    """load/unload/load: fds and threads after equal those before."""
    ns.netdrv(f"load {load}")
    before = _proc(pid)
    ns.netdrv(f"unload {name}")
    ns.netdrv(f"load {load}")
    ok = wait_for(lambda: _settled(pid, before), timeout=5)
    assert ok, f"{name}: daemon fds/threads {before} before, {_proc(pid)} after a reload"


def test_soak_every_driver_under_load_and_faults(netns_factory, cable: Cable) -> None:
    t_start = time.monotonic()
    a, b, c = netns_factory(), netns_factory(), netns_factory()
    a.netdrv("load loopback")  # the anchor: the daemon outlives every unload below
    (pid,) = a.pids()
    slip_a = f"slip port={cable.a} local={SL_A}/32 peer={SL_B} mtu=1500 retry_max=0.3"
    usb = "usbnet sim=cdc_ncm sim_wire=simw0 hotplug_interval=0.3"
    snull = "snull lockup=20 timeout=10 use_napi=1 pool_size=4 napi_weight=16"
    # Warm-up: the first load of each driver imports modules and opens the daemon's
    # lasting resources (rtnetlink sockets, libusb's event thread).  Then the cycles.
    for name, load in (("snull", snull), ("slip", slip_a), ("usbnet", usb)):
        a.netdrv(f"load {load}")
        a.netdrv(f"unload {name}")
        _cycle(a, pid, name, load)
    # Wire up the far ends: the serial peer in B, the USB cable's end in C.
    b.netdrv(f"load slip port={cable.b} local={SL_B}/32 peer={SL_A} mtu=1500 retry_max=0.3")
    a.run(f"ip link set simw0 netns {c.name}")
    c.run(f"ip addr add {USB_C}/24 dev simw0")
    c.run("ip link set simw0 up")
    _usb_up(a)
    assert "2 received" in a.run(f"ping -c 2 -i 0.2 -W 2 {USB_C}").stdout
    assert "2 received" in a.run(f"ping -c 2 -i 0.2 -W 2 {SL_B}").stdout
    assert "2 received" in a.run("ping -c 2 -i 0.2 -W 2 198.18.0.2").stdout
    # A first, shorter flood with the same faults brings the daemon's heap to its working
    # size; then measure.
    warm = _floods(a, b, c, 4.0, scale=3)
    _unplug_replug(a)
    cable.pull()
    time.sleep(0.3)
    cable.plug()
    _wait(warm)
    assert wait_for(lambda: not _all_accounted(a, b), timeout=15), _all_accounted(a, b)
    rss_before = _proc(pid)["rss_kb"]

    floods = _floods(a, b, c, 7.0, scale=3)
    floods.append(a.popen(["ping", "-f", "-c", "3000", "-W", "1", "198.18.1.1"],
                          stdout=subprocess.DEVNULL))  # fmt: skip
    try:
        # Faults while the floods run.  The USB adapter is unplugged first (its interface
        # goes) and is back after 0.5 s as a new interface, which then carries the flood.
        _unplug_replug(a)
        for _ in range(4):
            cable.noise()
            time.sleep(0.3)
        a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE + 2}:0")  # the USB cable's link goes down...
        time.sleep(0.5)
        a.netdrv(f"set usb0 ioctl={SIOCDEVPRIVATE + 2}:1")  # ...and comes back
        cable.pull()
        time.sleep(1.0)
        cable.plug()
        for _ in range(3):
            cable.noise()
            time.sleep(0.2)
        # The daemon answers while flooded.
        assert status(a)["pid"] == pid
    finally:
        sent = _wait(floods)
    assert sum(sent) > 20000, sent

    # Quiet: lockups recovered by the watchdog, lines drained, every count settled.
    assert wait_for(lambda: not _all_accounted(a, b), timeout=15), _all_accounted(a, b)
    devs = {d["name"]: d for d in status(a)["devices"]}
    assert set(devs) >= {"nlo0", "sn0", "sn1", "sl0", "usb0"}, set(devs)
    assert devs["sn0"]["tx_timeouts"] + devs["sn1"]["tx_timeouts"] > 0, "lockups happened"
    # Traffic flowed everywhere (how much depends on the machine; the identities are the test).
    assert devs["sn0"]["stats"]["tx_packets"] > 100 and devs["sn1"]["stats"]["rx_packets"] > 100
    assert devs["usb0"]["stats"]["tx_packets"] > 10 and devs["usb0"]["stats"]["rx_packets"] > 10
    sl = devs["sl0"]
    assert sl["ethtool"]["stats"]["port_losses"] >= 1 and sl["ethtool"]["stats"]["reconnects"] >= 1
    sl_b = device(b, "sl0")
    assert sl["stats"]["rx_errors"] + sl_b["stats"]["rx_errors"] > 0, "the noise was counted"
    for name in ("sn0", "sn1", "sl0", "usb0"):
        assert devs[name]["state"] == "up", name
    # No buffer is left behind: qdiscs empty, every snull pool packet back in its pool.
    assert all(d["qdisc_backlog"] == 0 for d in devs.values())
    assert [devs[n]["ethtool"]["stats"]["pool_free"] for n in ("sn0", "sn1")] == [4, 4]
    assert wait_for(lambda: device(a, "sl0")["carrier"] and device(b, "sl0")["carrier"],
                    timeout=5)  # fmt: skip
    # Every link still works after the storm.
    for dst in ("198.18.0.2", "198.18.1.1", SL_B, USB_C):
        res = a.run(f"ping -c 2 -i 0.3 -W 3 {dst}", check=False)
        assert "2 received" in res.stdout, _diagnose(a, pid, dst, res.stdout)
    rss_after = _proc(pid)["rss_kb"]
    assert rss_after - rss_before < RSS_SLACK_KB, (
        f"daemon RSS grew from {rss_before} kB to {rss_after} kB during the flood"
    )
    assert time.monotonic() - t_start < 90
    if os.environ.get("NETDRV_SOAK_REPORT"):
        for d in [*devs.values(), sl_b]:
            print(d["name"], {k: v for k, v in d["stats"].items() if v}, d["core"])
        print("sent", sent, "rss", rss_before, rss_after, "took", time.monotonic() - t_start)


def test_a_link_bounced_while_back_pressured_reads_again(netns: NetNamespace) -> None:
    """down/up while the queue is stopped: open starts the queue, the TAP must be read again.

    (Found by the soak test: the reader stopped by back-pressure was only restarted by a
    queue *wake*, and ``open`` starts the queue without one, so the device never sent again.)
    """
    netns.netdrv("load snull lockup=1 timeout=10000")  # every frame locks the queue for 10 s
    netns.run("ping -c 2 -i 0.3 -W 1 198.18.0.2", check=False)
    assert wait_for(lambda: device(netns, "sn0")["queue"] == "stopped")
    for dev in ("sn0", "sn1"):
        netns.netdrv(f"set {dev} ioctl={SIOCDEVPRIVATE + 1}:0")  # no more lockups
        netns.run(f"ip link set {dev} down")
        assert wait_for(lambda d=dev: device(netns, d)["state"] == "down")
        netns.run(f"ip link set {dev} up")
        assert wait_for(lambda d=dev: device(netns, d)["state"] == "up")
    # Long before the 10 s watchdog: the bounced links pass traffic at once.
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
    for d in status(netns)["devices"]:
        assert d["tx_timeouts"] == 0 and not _identities(d), d
