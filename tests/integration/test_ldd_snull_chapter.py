"""LDD's "Assigning IP Numbers" with the chapter's own numbers, as docs/drivers/snull.md shows it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns

LDD = "addr0=192.168.0.1/24 addr1=192.168.1.2/24"


def _tcpdump(netns: NetNamespace, dev: str, count: int) -> subprocess.Popen[str]:
    """tcpdump -e on ``dev``, returned once it listens (its first stderr line says so)."""
    dump = netns.popen(["tcpdump", "-l", "-e", "-n", "-i", dev, "-c", str(count), "icmp"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert dump.stderr is not None
    for line in dump.stderr:
        if "listening on" in line:
            return dump
    raise AssertionError(f"tcpdump on {dev} did not start")


def test_ldd_numbers_remote0_answers_through_sn1_as_tcpdump_shows(netns: NetNamespace) -> None:
    out = netns.netdrv(f"load snull {LDD}").stdout
    assert "ping 192.168.0.2 (out sn0, in sn1), ping 192.168.1.1 (out sn1, in sn0)" in out
    dumps = {dev: _tcpdump(netns, dev, 2) for dev in ("sn0", "sn1")}
    assert "1 received" in netns.run("ping -c 1 -W 2 192.168.0.2").stdout
    lines = {dev: d.communicate(timeout=30)[0].splitlines() for dev, d in dumps.items()}
    sn0, sn1 = "00:53:4e:55:4c:30", "00:53:4e:55:4c:31"
    # sn0's transmit side is captured before the driver rewrites the header (the kernel
    # addressed it to sn0 itself: NOARP); what arrives is addressed sn0 -> sn1 and flipped.
    assert f"{sn0} > {sn0}" in lines["sn0"][0] and "192.168.0.1 > 192.168.0.2" in lines["sn0"][0]
    assert f"{sn0} > {sn1}" in lines["sn1"][0] and "192.168.1.1 > 192.168.1.2" in lines["sn1"][0]
    assert "echo reply" in lines["sn1"][1] and "192.168.1.2 > 192.168.1.1" in lines["sn1"][1]
    assert f"{sn1} > {sn0}" in lines["sn0"][1] and "192.168.0.2 > 192.168.0.1" in lines["sn0"][1]
    assert "1 received" in netns.run("ping -c 1 -W 2 192.168.1.1").stdout
    # Any other host of the two networks is unreachable, as the chapter says: 192.168.0.32
    # reappears on sn1 as 192.168.1.32, not a local address.
    assert "0 received" in netns.run("ping -c 1 -W 1 192.168.0.32", check=False).stdout


def test_a_pair_the_flip_cannot_join_is_refused_and_nothing_is_left(netns: NetNamespace) -> None:
    res = netns.netdrv("load snull addr0=192.168.0.1 addr1=192.168.1.2", check=False)
    assert res.returncode == 2, "a bad combination of parameters exits as a bad value does"
    assert "addr0=192.168.0.1/32 has a /32 prefix" in res.stderr, res.stderr
    assert "sn0" not in netns.run("ip -o link").stdout
    # Refused by netdrv load itself (Driver.check_params): no daemon was started for it.
    assert "no netdrv daemon" in netns.netdrv("status").stdout


@pytest.mark.skipif(shutil.which("ifconfig") is None, reason="needs ifconfig (net-tools)")
def test_the_chapters_names_from_etc_networks_and_etc_hosts_work_as_printed(
    netns: NetNamespace, tmp_path: Path
) -> None:
    # docs/drivers/snull.md "With the chapter's numbers": LDD's lines in private copies of
    # /etc/networks and /etc/hosts (bind-mounted in a mount namespace of this shell only).
    hosts, networks = tmp_path / "hosts", tmp_path / "networks"
    hosts.write_text(Path("/etc/hosts").read_text() + "192.168.0.1 local0\n192.168.0.2 remote0\n"
                     "192.168.1.2 local1\n192.168.1.1 remote1\n")  # fmt: skip
    networks.write_text("snullnet0 192.168.0.0\nsnullnet1 192.168.1.0\n")
    netns.netdrv("load snull configure=0")
    script = (f"mount --bind {hosts} /etc/hosts && mount --bind {networks} /etc/networks && "
              "ifconfig sn0 local0 && ifconfig sn1 local1 && route && "
              "ping -c 1 -W 2 remote0 && ping -c 1 -W 2 remote1")  # fmt: skip
    out = netns.run(["unshare", "-m", "sh", "-c", script]).stdout
    routes = [line.split() for line in out.splitlines() if line.endswith((" sn0", " sn1"))]
    assert [(r[0], r[2], r[-1]) for r in routes] == [
        ("snullnet0", "255.255.255.0", "sn0"),
        ("snullnet1", "255.255.255.0", "sn1"),
    ], out
    assert "from remote0 (192.168.0.2)" in out and "from remote1 (192.168.1.1)" in out, out
