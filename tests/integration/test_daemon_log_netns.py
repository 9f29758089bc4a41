"""The daemon's log names its namespace by cookie as well as by inode.

The log file is named by the namespace's inode, which the kernel reuses once the
namespace is deleted; the cookie in each daemon's ``listening`` line is not
reused, and ``netdrv log`` refuses the lines of an earlier namespace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import wait_for

pytestmark = pytest.mark.netns


def test_netdrv_log_refuses_an_earlier_namespaces_log(netns: NetNamespace) -> None:
    cookie = netns.python("from netdrv_core.control import netns_cookie; print(netns_cookie())")
    if cookie.stdout.strip() == "None":
        pytest.skip("this kernel has no SO_NETNS_COOKIE (Linux < 5.14)")
    mine = int(cookie.stdout)
    netns.netdrv("load snull")
    first = netns.netdrv("log").stdout.splitlines()[0]
    assert first.endswith(f" listening (netns {_netns_link(netns)}, cookie {mine})"), first
    path = Path(netns.python("from netdrv_core.daemon import log_path; print(log_path())")
                .stdout.strip())  # fmt: skip
    netns.netdrv("stop")
    assert wait_for(lambda: not netns.pids(), timeout=30)
    # What a later namespace given this inode finds: the log of one with another cookie.
    path.write_text(path.read_text().replace(f", cookie {mine})", f", cookie {mine + 1})"))
    res = netns.netdrv("log", check=False)
    assert res.returncode == 1, res.stdout
    assert ("the last log for this namespace inode is from an earlier namespace that no "
            "longer exists; no daemon has run in this one") in res.stderr, res.stderr  # fmt: skip
    assert "sn0" not in res.stdout, res.stdout


def _netns_link(netns: NetNamespace) -> str:
    return netns.run("readlink /proc/self/ns/net").stdout.strip()
