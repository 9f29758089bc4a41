"""Privileges and access (issue 10): who may talk to the daemon, what it creates, what it loads.

* The control socket refuses every command from other users — and nothing
  happens: drivers stay loaded, the daemon keeps running.
* Nothing netdrv creates is world-writable, whatever the caller's umask.
* ``port=`` paths that are not terminals are refused with a clear message
  before anything exists.
* Only installed, enabled plugins load: ``-p no:NAME`` and
  ``NETDRV_DISABLE_PLUGIN_AUTOLOAD`` apply to the daemon the CLI starts, even
  to requests that bypass the CLI.
* The daemon works with CAP_NET_ADMIN as its only capability.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from netdrv_core.control import COMMANDS
from netdrv_core.testing import NetNamespace

from .helpers import device, status, wait_for

pytestmark = pytest.mark.netns

CAP_NET_ADMIN = 1 << 12

# As uid 65534: connect, send one request, print the reply (or what went wrong).
AS_NOBODY = r"""
import json, os, socket, struct, sys
os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
req = json.loads(sys.argv[1])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect("\0netdrv/control")
data = json.dumps(req).encode()
try:
    s.sendall(struct.pack("!I", len(data)) + data)
except OSError:
    pass  # refused and closed before we spoke
buf = b""
while True:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
n = struct.unpack("!I", buf[:4])[0]
print(buf[4 : 4 + n].decode())
"""

REQUESTS = {
    "ping": {},
    "load": {"driver": "snull", "params": []},
    "unload": {"driver": "loopback"},
    "status": {},
    "capture": {"dev": "nlo0", "count": 1},
    "stop": {},
    "set": {"dev": "nlo0", "ioctl": 0x89F0},
    "sysctl": {"values": {"busy_poll": 1_000_000}},
    "ethtool": {"dev": "nlo0", "op": "ringparam", "set": {"tx_pending": 1}},
    "faults": {"dev": "nlo0", "set": {"drop": 1.0}},
}


def _py(ns: NetNamespace, code: str, arg: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` with one argument in ``ns``."""
    return ns.run([sys.executable, "-c", code, arg])


def test_every_command_from_another_user_is_refused(netns: NetNamespace) -> None:
    assert set(REQUESTS) == set(COMMANDS), "a new command needs a case here"
    netns.netdrv("load loopback")
    pid = status(netns)["pid"]
    for cmd, fields in REQUESTS.items():
        res = _py(netns, AS_NOBODY, json.dumps({"cmd": cmd, **fields}))
        reply = json.loads(res.stdout)
        assert reply["ok"] is False and "permission denied" in reply["error"], (cmd, reply)
        assert "uid 65534" in reply["error"]
    st = status(netns)
    assert st["pid"] == pid, "the daemon kept running (stop was refused)"
    assert [d["name"] for d in st["devices"]] == ["nlo0"], "nothing was loaded or unloaded"
    assert st["fault_injectors"] == {}, "no fault injector was installed"
    assert netns.netdrv("sysctl").stdout.splitlines()[0] == "busy_poll = 0", "no tunable changed"


def _no_world_writable(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        mode = os.lstat(p).st_mode
        if stat.S_ISLNK(mode):
            continue
        assert not mode & stat.S_IWOTH, f"{p} is world-writable ({stat.filemode(mode)})"


def test_nothing_netdrv_creates_is_world_writable(netns: NetNamespace, tmp_path: Path) -> None:
    log = Path(f"/run/netdrv/daemon-{os.stat(f'/run/netns/{netns.name}').st_ino}.log")
    umask0 = ["sh", "-c", 'umask 0 && exec "$@"', "sh", sys.executable, "-m", "netdrv_core.cli"]
    kept = log.with_suffix(".log.kept")
    if log.exists():
        log.rename(kept)  # an old namespace's log (same inode): put it back afterwards
    try:
        netns.run([*umask0, "load", "loopback"])  # creates the log, under umask 0
        mode = log.stat().st_mode
        assert stat.S_IMODE(mode) == 0o640, stat.filemode(mode)
        netns.netdrv("stop")
        os.chmod(log, 0o666)  # as a careless earlier version could have left it
    finally:
        if kept.exists():
            log.write_bytes(kept.read_bytes() + (log.read_bytes() if log.exists() else b""))
            os.chmod(log, 0o666)
            kept.unlink()
    netns.run([*umask0, "load", "snull"])
    mode = log.stat().st_mode
    assert not mode & (stat.S_IWOTH | stat.S_IWGRP), f"not tightened: {stat.filemode(mode)}"
    assert stat.S_IMODE(os.stat("/run/netdrv").st_mode) & 0o022 == 0
    _no_world_writable(Path("/run/netdrv"))
    # A capture file is the user's, 0600, even with umask 0.
    pcap = tmp_path / "cap.pcap"
    cap = netns.popen([*umask0, "capture", "sn1", "-w", str(pcap), "-c", "2"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert wait_for(pcap.exists, timeout=5)
    netns.run("ping -c 2 -i 0.2 -W 2 198.18.0.2")
    cap.wait(timeout=10)
    assert stat.S_IMODE(pcap.stat().st_mode) == 0o600
    # The daemon itself runs with umask 022, whatever it was started with.
    pid = status(netns)["pid"]
    with open(f"/proc/{pid}/status") as f:
        umask = next(line.split()[1] for line in f if line.startswith("Umask:"))
    assert umask == "0022"


def test_a_log_symlink_planted_by_someone_is_not_followed(
    netns: NetNamespace, tmp_path: Path
) -> None:
    log = Path(f"/run/netdrv/daemon-{os.stat(f'/run/netns/{netns.name}').st_ino}.log")
    kept = log.with_suffix(".log.kept")
    if log.exists():
        log.rename(kept)  # an old namespace's log (same inode): put it back afterwards
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    log.symlink_to(victim)
    try:
        res = netns.netdrv("load loopback", check=False)
        assert res.returncode != 0 and "log" in res.stderr
        assert victim.read_text() == "precious\n"
        assert not netns.pids()
    finally:
        log.unlink()
        if kept.exists():
            kept.rename(log)


@pytest.mark.parametrize("kind", ["dir", "loop", "file", "devnull"])
def test_serial_port_paths_are_checked_before_anything_exists(
    netns: NetNamespace, tmp_path: Path, kind: str
) -> None:
    paths = {
        "dir": tmp_path,
        "loop": tmp_path / "a",
        "file": tmp_path / "f",
        "devnull": "/dev/null",
    }
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    (tmp_path / "f").write_text("x")
    expect = {"dir": "is a directory", "loop": "symbolic links", "file": "a regular file",
              "devnull": "not a terminal"}[kind]  # fmt: skip
    res = netns.netdrv(f"load slip port={paths[kind]} local=198.18.5.1/32", check=False)
    assert res.returncode != 0 and expect in res.stderr, res.stderr
    assert str(paths[kind]) in res.stderr
    assert "sl0" not in netns.run("ip -o link").stdout
    assert wait_for(lambda: not netns.pids()), "the daemon the load started exits again"


def test_disabled_plugins_stay_disabled_in_the_daemon(netns: NetNamespace) -> None:
    res = netns.netdrv("-p no:snull load snull", check=False)
    assert res.returncode != 0 and "disabled" in res.stderr
    assert not netns.pids(), "refused by the CLI before a daemon starts"
    # A daemon started with -p no:loopback refuses it even when asked directly.
    netns.netdrv("-p no:loopback load snull")
    reply = json.loads(_py(netns,
        "import json,sys\nfrom netdrv_core.control import ControlClient\n"
        "print(json.dumps(ControlClient().request('load', driver='loopback', params=[])))", "",
    ).stdout)  # fmt: skip
    assert reply["ok"] is False and "disabled" in reply["error"], reply
    assert "nlo0" not in netns.run("ip -o link").stdout


def test_autoload_off_means_only_named_modules_load(
    netns: NetNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = str(Path(__file__).resolve().parent.parent / "plugins")
    monkeypatch.setenv("NETDRV_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", plugins + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = netns.netdrv("load snull", check=False)
    assert res.returncode != 0 and "unknown driver 'snull'" in res.stderr
    assert not netns.pids()
    drivers = json.loads(netns.netdrv("drivers --json").stdout)
    assert drivers == []
    netns.netdrv("-p netdrv_faulty load netdrv_faulty fail_in=")  # the daemon inherits it
    reply = json.loads(_py(netns,
        "import json\nfrom netdrv_core.control import ControlClient\n"
        "print(json.dumps(ControlClient().request('load', driver='snull', params=[])))", "",
    ).stdout)  # fmt: skip
    assert reply["ok"] is False and "unknown driver 'snull'" in reply["error"], reply
    # Module names in a request are checked: no paths, no "no:" tricks.
    reply = json.loads(_py(netns,
        "import json\nfrom netdrv_core.control import ControlClient\n"
        "print(json.dumps(ControlClient().request('load', driver='x', plugins=['../x'])))", "",
    ).stdout)  # fmt: skip
    assert reply["ok"] is False and "not a Python module name" in reply["error"]


def _caps(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as f:
        return {k: int(v, 16) for k, v in (line.split(":") for line in f if line.startswith("Cap"))}


def test_the_daemon_runs_with_only_cap_net_admin(netns: NetNamespace) -> None:
    """uid 0 keeps reading the interpreter under /root; every capability but NET_ADMIN is gone.

    (A non-root uid cannot run this interpreter: /root is 0700.  The daemon
    needs nothing a uid grants besides reading its own files and /run/netdrv.)
    """
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is not installed")
    only_net_admin = ["setpriv", "--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin",
                      "--bounding-set=-all,+net_admin", "--"]  # fmt: skip
    res = netns.run([*only_net_admin, sys.executable, "-m", "netdrv_core.cli", "load", "snull"])
    assert "sn0, sn1" in res.stdout
    pid = status(netns)["pid"]
    caps = _caps(pid)
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapBnd"] == CAP_NET_ADMIN, caps
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.0.2").stdout
    assert "3 received" in netns.run("ping -c 3 -i 0.2 -W 2 198.18.1.1").stdout
    # The IPv6 sysctl write works with CAP_NET_ADMIN over the namespace.
    assert netns.run("cat /proc/sys/net/ipv6/conf/sn0/disable_ipv6").stdout.strip() == "1"
    # Link changes from the kernel still reach the driver, unload still cleans up.
    netns.run("ip link set sn0 mtu 1400")
    assert wait_for(lambda: device(netns, "sn0")["mtu"] == 1400)
    netns.run([*only_net_admin, sys.executable, "-m", "netdrv_core.cli", "unload", "snull"])
    assert wait_for(lambda: not netns.pids())
    assert "sn0" not in netns.run("ip -o link").stdout


def test_root_without_cap_net_admin_is_stopped_before_anything_starts(netns: NetNamespace) -> None:
    """uid 0 with every capability dropped (a container without --cap-add NET_ADMIN)."""
    no_caps = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]
    res = netns.run([*no_caps, sys.executable, "-m", "netdrv_core.cli", "load", "snull"],
                    check=False)  # fmt: skip
    assert res.returncode == 4, (res.returncode, res.stderr)
    assert "needs CAP_NET_ADMIN: this root has not got it" in res.stderr, res.stderr
    assert "troubleshooting" in res.stderr, res.stderr
    assert "sn0" not in netns.run("ip -o link").stdout
    assert wait_for(lambda: not netns.pids())
