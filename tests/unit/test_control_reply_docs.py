"""The control protocol's documentation (``netdrv_core.control``, rendered as
docs/reference/control.md) names every key of the replies the daemon sends."""

from __future__ import annotations

import re

import netdrv_core.control as control
from netdrv_core.daemon import Daemon
from netdrv_core.host import Host
from netdrv_core.plugins import PluginManager


def test_the_unload_reply_of_a_driver_whose_exit_raised_is_documented() -> None:
    host = Host()
    daemon = Daemon(host=host, pm=PluginManager(), watchdog=None, exit_when_empty=True)
    try:
        assert daemon.handle({"cmd": "load", "driver": "loopback"})["ok"]  # type: ignore[index]

        def exit_raises() -> None:
            raise OSError("port stuck")

        daemon.drivers["loopback"].exit = exit_raises  # type: ignore[method-assign]
        reply = daemon.handle({"cmd": "unload", "driver": "loopback"})
    finally:
        host.close()
        host.loop.close()
    assert reply is not None and reply["ok"] and "warning" in reply and "exiting" in reply, reply
    documented = set(re.findall(r"``(\w+)``", control.__doc__ or ""))
    assert set(reply) <= documented, set(reply) - documented
