"""A daemon started without CAP_NET_ADMIN, asked to load by a caller who has it.

Any command that needs a daemon starts one with its caller's capabilities:
``netdrv sysctl busy_poll=1`` run without CAP_NET_ADMIN starts a daemon that
cannot create interfaces.  A later ``netdrv load`` by root must then say that
the *daemon* lacks the capability and how to replace it — not "run as root".
"""

from __future__ import annotations

import sys

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import wait_for

pytestmark = pytest.mark.netns

WITHOUT_NET_ADMIN = ["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--"]


def test_a_load_into_a_daemon_without_cap_net_admin_says_the_daemon_lacks_it(
    netns: NetNamespace,
) -> None:
    netns.run([*WITHOUT_NET_ADMIN, sys.executable, "-m", "netdrv_core.cli", "sysctl",
               "busy_poll=1"])  # fmt: skip
    res = netns.netdrv("load snull", check=False)  # as root, with CAP_NET_ADMIN
    assert res.returncode != 0, res.stdout
    assert "run as root" not in res.stderr, res.stderr
    assert "this netdrv daemon" in res.stderr and "has no CAP_NET_ADMIN" in res.stderr, res.stderr
    assert "netdrv stop" in res.stderr, res.stderr
    assert "sn0" not in netns.run("ip -o link").stdout
    # The advice works: a daemon started by the root load can create the interfaces.
    netns.netdrv("stop")
    assert wait_for(lambda: not netns.pids(), timeout=30)
    assert "sn0, sn1" in netns.netdrv("load snull").stdout
