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

WITHOUT_NET_ADMIN = ["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--"]


@pytest.mark.netns
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


@pytest.mark.parametrize("has_cap", [True, False])
def test_only_a_daemon_without_cap_net_admin_gets_the_advice(
    has_cap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load refused for another reason (a serial port's EACCES: PermissionError) by a
    daemon that has CAP_NET_ADMIN says what was refused, not that the daemon lacks it."""
    import netdrv_core.daemon as daemon_mod
    from netdrv_core.errors import NotPermittedError
    from netdrv_core.host import Host
    from netdrv_core.plugins import PluginManager

    def refused(self: object) -> None:
        raise PermissionError(13, "Permission denied", "/dev/ttyUSB0")

    monkeypatch.setattr(daemon_mod, "_has_net_admin", lambda: has_cap)
    pm = PluginManager()
    monkeypatch.setattr(pm.get_driver("loopback"), "init", refused)
    host = Host()
    daemon = daemon_mod.Daemon(host=host, pm=pm, watchdog=None, exit_when_empty=False)
    try:
        with pytest.raises(NotPermittedError) as err:
            daemon.handle({"cmd": "load", "driver": "loopback"})
    finally:
        host.close()
        host.loop.close()
    msg = str(err.value)
    if has_cap:
        assert "/dev/ttyUSB0" in msg and "CAP_NET_ADMIN" not in msg, msg
    else:
        assert "has no CAP_NET_ADMIN" in msg and "netdrv stop" in msg, msg
