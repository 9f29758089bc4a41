"""snull on the kernel: `netdrv load snull` behaves as in LDD chapter 14 (issue 5)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, read_pcap, status, tcp_transfer, wait_for

pytestmark = pytest.mark.netns


def _invariant(d: dict) -> None:
    s, c = d["stats"], d["core"]
    assert c["tx_submitted"] == s["tx_packets"] + s["tx_dropped"] + s["tx_errors"], (
        d["name"],
        s,
        c,
    )


def test_load_ping_both_ways_and_unload_leaves_nothing(netns: NetNamespace) -> None:
    out = netns.netdrv("load snull").stdout
    assert "sn0, sn1" in out and "ping 198.18.0.2" in out
    link = netns.run("ip -o link show").stdout
    for name, mac in (("sn0", "00:53:4e:55:4c:30"), ("sn1", "00:53:4e:55:4c:31")):
        line = next(ln for ln in link.splitlines() if f" {name}:" in ln)
        assert "NOARP" in line and "UP" in line and "LOWER_UP" in line
        assert mac in line
        v6 = netns.run(f"cat /proc/sys/net/ipv6/conf/{name}/disable_ipv6").stdout.strip()
        assert v6 == "1"
    addrs = netns.run("ip -o -4 addr show").stdout
    assert "198.18.0.1/24" in addrs and "198.18.1.2/24" in addrs
    ping = netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
    assert "3 received" in ping
    ping = netns.run("ping -c 3 -i 0.2 -W 2 198.18.1.1").stdout
    assert "3 received" in ping
    st = status(netns)
    devs = {d["name"]: d for d in st["devices"]}
    assert devs["sn0"]["stats"]["tx_packets"] >= 6 and devs["sn1"]["stats"]["rx_packets"] >= 6
    assert devs["sn0"]["driver"] == "snull" and devs["sn0"]["carrier"] is True
    for d in devs.values():
        _invariant(d)
    # Every frame sn0 sent arrived on sn1 and vice versa.
    assert devs["sn0"]["stats"]["tx_packets"] == devs["sn1"]["stats"]["rx_packets"]
    assert devs["sn1"]["stats"]["tx_packets"] == devs["sn0"]["stats"]["rx_packets"]
    netns.netdrv("unload snull")
    assert wait_for(lambda: "sn0" not in netns.run("ip -o link").stdout)
    assert wait_for(lambda: not netns.pids()), "the daemon must exit with its last driver"


def test_tcp_and_udp_cross_the_pair(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    size = 32 << 20
    chash, shash, peer = tcp_transfer(netns, netns, "198.18.1.2", "198.18.0.2", size)
    assert chash == shash
    assert peer == "198.18.1.1", "the server must see the flipped source address"
    # UDP datagrams the other way round.
    code = (
        "import socket,sys\n"
        "r=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);r.bind(('198.18.0.1',9999));"
        "r.settimeout(3)\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('198.18.1.2',0))\n"
        "got=0\n"
        "for i in range(200):\n"
        "  s.sendto(b'x%d'%i*50,('198.18.1.1',9999))\n"
        "  d,a=r.recvfrom(2000); got+=1; assert a[0]=='198.18.0.2', a\n"
        "print(got)\n"
    )
    assert netns.python(code).stdout.strip() == "200"
    devs = {d["name"]: d for d in status(netns)["devices"]}
    for d in devs.values():
        _invariant(d)
        assert d["stats"]["rx_errors"] == 0 and d["stats"]["tx_errors"] == 0
    assert devs["sn0"]["stats"]["tx_packets"] == devs["sn1"]["stats"]["rx_packets"]


MULTICAST = r"""
import socket, struct
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("239.1.1.5", 5000))
r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton("239.1.1.5") + socket.inet_aton("198.18.1.2"))
r.settimeout(0.2)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("198.18.0.1"))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
for _ in range(25):  # until the daemon has put the group in sn1's filter (set_rx_mode)
    s.sendto(b"to the group", ("239.1.0.5", 5000))
    try:
        data, addr = r.recvfrom(100)
    except TimeoutError:
        continue
    print(data.decode(), addr[0])
    break
"""


def test_a_member_of_the_flipped_group_on_sn1_receives_what_sn0_sends_to_the_group(
    netns: NetNamespace,
) -> None:
    # 239.1.0.5 out of sn0 arrives on sn1 as 239.1.1.5, to that group's MAC, which sn1's
    # filter holds once the group is joined there (no allmulticast needed).
    netns.netdrv("load snull")
    assert netns.python(MULTICAST).stdout.split() == ["to", "the", "group", "198.18.1.1"]
    assert device(netns, "sn1")["stats"]["multicast"] >= 1


def test_lockup_recovered_by_watchdog_under_traffic(netns: NetNamespace) -> None:
    netns.netdrv("load snull lockup=10 timeout=20")
    chash, shash, _ = tcp_transfer(netns, netns, "198.18.1.2", "198.18.0.2", 2 << 20)
    assert chash == shash
    devs = {d["name"]: d for d in status(netns)["devices"]}
    timeouts = sum(d["tx_timeouts"] for d in devs.values())
    errors = sum(d["stats"]["tx_errors"] for d in devs.values())
    assert timeouts > 0 and errors > 0
    assert (
        devs["sn0"]["ethtool"]["stats"]["lockups"] + devs["sn1"]["ethtool"]["stats"]["lockups"]
        == timeouts
    )
    for d in devs.values():
        _invariant(d)
        assert d["queue"] == "awake"


def test_napi_and_small_pool(netns: NetNamespace) -> None:
    netns.netdrv("load snull use_napi=1 pool_size=2 napi_weight=4")
    chash, shash, _ = tcp_transfer(netns, netns, "198.18.1.2", "198.18.0.2", 8 << 20)
    assert chash == shash
    devs = {d["name"]: d for d in status(netns)["devices"]}
    assert sum(d["ethtool"]["stats"]["pool_stops"] for d in devs.values()) > 0
    for d in devs.values():
        _invariant(d)
        assert d["ethtool"]["stats"]["pool_free"] == 2, "every pool packet returns"
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.1.1").stdout


def test_a_pulled_cable_cuts_both_ends_as_the_doc_shows(netns: NetNamespace) -> None:
    # docs/drivers/snull.md, "Private ioctls": 0x89f2:0 on sn1 takes sn0's carrier too.
    netns.netdrv("load snull")
    assert netns.netdrv("set sn1 ioctl=0x89f2:0").stdout.strip() == "0"
    for dev in ("sn0", "sn1"):
        assert wait_for(lambda dev=dev: "NO-CARRIER" in netns.run(f"ip link show {dev}").stdout)
    rx = device(netns, "sn1")["stats"]["rx_packets"]
    assert "0 received" in netns.run("ping -c 1 -W 1 198.18.0.2", check=False).stdout
    assert device(netns, "sn1")["stats"]["rx_packets"] == rx, "a frame crossed a pulled cable"
    assert netns.netdrv("set sn0 ioctl=0x89f2:1").stdout.strip() == "0"
    for dev in ("sn0", "sn1"):
        assert wait_for(lambda dev=dev: "LOWER_UP" in netns.run(f"ip link show {dev}").stdout)
    assert "1 received" in netns.run("ping -c 1 -W 2 198.18.0.2").stdout


def test_mtu_change_accepted_and_refused(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    netns.run("ip link set sn0 mtu 1400")
    assert wait_for(lambda: device(netns, "sn0")["mtu"] == 1400)
    # Above ether_setup's max_mtu (1500) the core refuses, before the driver's change_mtu,
    # and the kernel link is reverted.
    netns.run("ip link set sn0 mtu 1600")
    assert wait_for(lambda: "mtu 1400" in netns.run("ip link show sn0").stdout)
    assert device(netns, "sn0")["mtu"] == 1400
    chash, shash, _ = tcp_transfer(netns, netns, "198.18.1.2", "198.18.0.2", 1 << 20)
    assert chash == shash


def test_capture_shows_flipped_addresses(netns: NetNamespace, tmp_path) -> None:
    netns.netdrv("load snull")
    path = tmp_path / "sn1.pcap"
    path.write_bytes(b"an older capture")
    path.chmod(0o644)  # an existing file: truncated, and left readable by its owner only
    cap = netns.popen([sys.executable, "-m", "netdrv_core.cli", "capture", "sn1", "-w", str(path),
                       "-c", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      text=True)  # fmt: skip
    assert cap.stderr is not None
    assert "capturing on sn1" in cap.stderr.readline()
    netns.run("ping -c 2 -i 0.2 198.18.0.2")
    cap.wait(timeout=10)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    linktype, frames = read_pcap(str(path))
    assert linktype == 1 and len(frames) == 4
    # On sn1: requests arrive from 198.18.1.1 to 198.18.1.2, replies leave the other way.
    pairs = {(bytes(f[26:30]), bytes(f[30:34])) for f in frames}
    assert (bytes([198, 18, 1, 1]), bytes([198, 18, 1, 2])) in pairs
    assert (bytes([198, 18, 1, 2]), bytes([198, 18, 1, 1])) in pairs
    res = subprocess.run(["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True)
    if res.returncode == 0 or "not found" not in res.stderr:
        assert "198.18.1.1 > 198.18.1.2: ICMP echo request" in res.stdout
    # A symlink planted at the path is refused, not followed to overwrite its target.
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "link.pcap").symlink_to(victim)
    res = netns.run([sys.executable, "-m", "netdrv_core.cli", "capture", "sn1", "-w",
                     str(tmp_path / "link.pcap"), "-c", "1"], check=False)  # fmt: skip
    assert res.returncode == 1 and "cannot write capture file" in res.stderr, res.stderr
    assert "[Errno" not in res.stderr, res.stderr
    assert victim.read_text() == "keep me"


def test_eth_names_and_parameters_rejected_before_anything_exists(netns: NetNamespace) -> None:
    bad = netns.netdrv("load snull lockup=-1", check=False)
    assert bad.returncode != 0 and "lockup" in bad.stderr and ">= 0" in bad.stderr
    bad = netns.netdrv("load snull lokup=3", check=False)
    assert "Did you mean 'lockup'" in bad.stderr and "pool_size=int" in bad.stderr
    assert "sn0" not in netns.run("ip -o link").stdout
    assert not netns.pids()
    netns.netdrv("load snull eth=1")
    link = netns.run("ip -o link").stdout
    assert " eth0:" in link and " eth1:" in link
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # USER_HZ


def _cpu_after_ping(netns: NetNamespace, pid: int) -> float:
    """Daemon CPU seconds in the second after a few pings."""
    netns.run("ping -c 2 -i 0.2 -W 2 198.18.0.2")
    t0 = _cpu_seconds(pid)
    time.sleep(1.0)
    return _cpu_seconds(pid) - t0


def test_busy_poll_sysctl_spins_after_traffic_and_keeps_the_link(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    pid = status(netns)["pid"]
    assert netns.netdrv("sysctl").stdout.splitlines()[0] == "busy_poll = 0"
    idle = _cpu_after_ping(netns, pid)
    assert (
        netns.netdrv("sysctl busy_poll=10000000").stdout.splitlines()[0] == "busy_poll = 10000000"
    )
    spinning = _cpu_after_ping(netns, pid)
    # Sleeping in epoll costs nothing; polling for 10 s after the last frame burns the CPU
    # it gets (a share of a busy runner's two cores, so only a loose bound).
    assert idle < 0.05 and spinning > 0.15, (idle, spinning)
    assert "20 received" in netns.run("ping -c 20 -i 0.01 -W 2 198.18.0.2").stdout
    assert netns.netdrv("sysctl busy_poll=0").stdout.splitlines()[0] == "busy_poll = 0"
    assert netns.netdrv("sysctl loglevel").stdout == "loglevel = 7\n"  # as sysctl NAME
    for bad, why in (("busy_poll=-1", "out of range"), ("busy_poll=x", "not an integer"),
                     ("nosuch=1", "NAME one of: busy_poll, loglevel"), ("busy_poll=", "integer")):  # fmt: skip
        res = netns.netdrv(f"sysctl {bad}", check=False)
        assert res.returncode != 0 and why in res.stderr, (bad, res.stderr)
    assert status(netns)["pid"] == pid


def test_loglevel_sysctl_lets_driver_debug_messages_into_the_log(netns: NetNamespace) -> None:
    """`netdrv sysctl loglevel=8` (console_loglevel): netdev_dbg messages reach the daemon's
    log from then on; 7, the default, keeps them out (snull's simulated lockups: debug)."""
    netns.netdrv("load snull lockup=2 timeout=20")
    assert netns.netdrv("sysctl").stdout.splitlines()[1] == "loglevel = 7"
    netns.run("ping -c 4 -i 0.05 -W 1 198.18.0.2", check=False)
    log = netns.netdrv("log").stdout  # this daemon's lines of its log file
    assert " listening (netns " in log.splitlines()[0]
    assert "transmit timeout" in log  # info
    assert "simulated lockup" not in log  # debug
    assert netns.netdrv("sysctl loglevel=8").stdout.splitlines()[1] == "loglevel = 8"
    netns.run("ping -c 4 -i 0.05 -W 1 198.18.0.2", check=False)
    assert "sn0: simulated lockup" in netns.netdrv("log -n 50").stdout


def test_ipv6_stays_off_after_the_mtu_dips_below_1280_and_comes_back(netns: NetNamespace) -> None:
    # Below 1280 the kernel drops a link's IPv6 state; back above it makes it afresh with
    # disable_ipv6=0, and sn0 would send router solicitations and MLD reports snull drops.
    netns.netdrv("load snull")
    v6 = "cat /proc/sys/net/ipv6/conf/sn0/disable_ipv6"
    assert netns.run(v6).stdout.strip() == "1"
    netns.run("ip link set sn0 mtu 576")
    assert wait_for(lambda: device(netns, "sn0")["mtu"] == 576)
    netns.run("ip link set sn0 mtu 1500")
    assert wait_for(lambda: device(netns, "sn0")["mtu"] == 1500)
    assert wait_for(lambda: netns.run(v6).stdout.strip() == "1")
    assert "inet6" not in netns.run("ip -6 addr show dev sn0").stdout
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
