"""A serial-cable user's walk through the docs: what `netdrv ethtool`, a port without
permission, a port loaded twice and the linktest table tell them."""

from __future__ import annotations

import os
import pty
from collections.abc import Iterator
from typing import Any

import pytest
from slip_helpers import load_slip

from netdrv_core import Host
from netdrv_core.ethtool import ethtool_request


@pytest.fixture
def pty_path() -> Iterator[str]:
    """A pty's far end, as socat's link= gives one."""
    master, slave = pty.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def test_ethtool_shows_no_speed_duplex_or_port(host: Host) -> None:
    # Linux slip.c has no ethtool_ops, so no link settings: `netdrv ethtool sl0` prints
    # only "Link detected" (as `ethtool lo` does), not a speed rounded up to 1Mb/s on a
    # 115200-baud line, nor "Port: Twisted Pair".  The rate is in the statistics (`baud`)
    # and in `netdrv status`.
    drv = load_slip(host, port="loop://", baud="115200")
    dev = drv.devices[0]
    try:
        res, _ = ethtool_request(host, dev, "settings")
        assert (res["speed"], res["duplex"], res["autoneg"], res["port"]) == (None,) * 4
        assert res["link"] is True
        stats = dict(zip(dev.ethtool_ops.get_strings(dev),
                         dev.ethtool_ops.get_ethtool_stats(dev), strict=True))  # fmt: skip
        assert stats["baud"] == 115200
    finally:
        with host.as_current():
            drv.exit()


def test_a_network_port_already_loaded_in_this_daemon_is_refused(host: Host) -> None:
    # ser2net's documented `kickolduser: true` hands the port to each new connection: two
    # loads on one URL would take it from each other in turn, for ever, both links
    # flapping.  The daemon knows its own lines, so the second load is refused and told
    # which one holds the port (the URL's options and scheme do not make it another port).
    from netdrv_serial.port import PortError
    from slip_helpers import Ser2netLike

    server = Ser2netLike(missing=False)
    first = load_slip(host, port=f"socket://127.0.0.1:{server.port}", name="ex%d")
    try:
        for url in (f"socket://127.0.0.1:{server.port}",
                    f"rfc2217://127.0.0.1:{server.port}?ign_set_control"):  # fmt: skip
            with pytest.raises(PortError, match=r"already the line of ex0 \(slip\) in this daemon"
                               r".*netdrv unload slip"):  # fmt: skip
                load_slip(host, port=url, name="ey%d", wait="1")
        assert list(host.devices) == ["ex0"]
        assert server.accepted == 1  # the refused loads never connected
    finally:
        with host.as_current():
            first.exit()
        server.stop()


def test_a_device_already_loaded_in_this_daemon_is_refused_also_with_wait(
    host: Host, pty_path: str
) -> None:
    # wait=1 waits for a port another program holds; one held by this daemon's own
    # line would be waited for until that line is unloaded: refused, naming it.
    from netdrv_serial.port import PortError

    first = load_slip(host, port=pty_path, name="ex%d")
    try:
        with pytest.raises(PortError, match=rf"{pty_path} is already the line of ex0 \(slip\)"):
            load_slip(host, port=pty_path, name="ey%d", wait="1")
        assert list(host.devices) == ["ex0"]
    finally:
        with host.as_current():
            first.exit()


def test_no_permission_names_the_devices_group(
    monkeypatch: pytest.MonkeyPatch, pty_path: str
) -> None:
    # "add the user to 'dialout'" does not help for a device of another group (uucp on
    # Arch, root for a pty): the message says whose the device is and what would help.
    import grp
    import pwd

    from netdrv_serial.port import PortError, check_port_path

    real_stat = os.stat
    owner = pwd.getpwuid(real_stat(pty_path).st_uid).pw_name
    group = grp.getgrgid(os.getgid()).gr_name if os.getgid() else "nogroup"
    gid = grp.getgrnam(group).gr_gid

    def stat_as_group(path: str, *a: Any, **k: Any) -> os.stat_result:
        st = real_stat(path, *a, **k)
        if path != pty_path:
            return st
        fields = list(st)
        fields[5] = gid  # st_gid: the device of a group that is not root's
        return os.stat_result(fields, {"st_rdev": st.st_rdev})

    monkeypatch.setattr(os, "stat", stat_as_group)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # as a user without access
    monkeypatch.setattr(os, "getuid", lambda: 998)  # (root is refused for other reasons)
    os.chmod(pty_path, 0o660)
    with pytest.raises(PortError) as err:
        check_port_path(pty_path)
    msg = str(err.value)
    assert f"no permission to open {pty_path} (crw-rw---- {owner}:{group}" in msg
    assert f"add the daemon's user to the '{group}' group" in msg
    os.chmod(pty_path, 0o600)  # the group cannot use it: joining it would not help
    with pytest.raises(PortError) as err:
        check_port_path(pty_path)
    msg = str(err.value)
    assert f"(crw------- {owner}:{group}" in msg and "group" in msg
    assert f"add the daemon's user to the '{group}'" not in msg


def test_a_port_error_at_load_is_the_users_to_fix_not_a_driver_bug(tmp_path) -> None:
    # `netdrv load slip port=/dev/ttyUSB0` with the adapter unplugged is the user's to fix:
    # the reply says what is wrong with the port (as docs/troubleshooting.md shows it),
    # not "the traceback is in the daemon's log: fix the driver".
    from netdrv_core.daemon import Daemon
    from netdrv_core.errors import PluginError

    host = Host()
    daemon = Daemon(host=host, exit_when_empty=False, watchdog=None)
    try:
        with pytest.raises(PluginError) as err:
            daemon.load("slip", [f"port={tmp_path}/ttyUSB0"])
        assert str(err.value) == (
            f"driver 'slip' failed to initialise: PortError: serial port {tmp_path}/ttyUSB0 "
            f"does not exist: check the cable/adapter (ls /dev/serial/by-id) or the pty link"
        )
        assert host.devices == {}
    finally:
        host.close()
        host.loop.close()
