"""Which ``port=`` spellings name one port (a second line on it is refused), and what a
port the daemon may not open says: the words must fit the device and the daemon's user."""

from __future__ import annotations

import grp
import os
import pty
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netdrv_serial.port import PortError, check_port_path, port_key
from slip_helpers import load_slip

from netdrv_core import Host


@pytest.fixture
def ptys() -> Iterator[list[str]]:
    """Two ptys' far ends, as socat's ``link=`` gives them."""
    fds = [pty.openpty() for _ in range(2)]
    try:
        yield [os.ttyname(slave) for _, slave in fds]
    finally:
        for pair in fds:
            for fd in pair:
                os.close(fd)


def test_spellings_of_one_server_are_one_port() -> None:
    # pyserial connects to the URL's hostname and port (urlsplit): a port number with a
    # leading zero, a fragment, another spelling of an IPv6 address, the case of the
    # scheme and host, the URL's options — all one server.
    one = port_key("socket://127.0.0.1:3333")
    for url in ("socket://127.0.0.1:03333", "socket://127.0.0.1:3333#x",
                "SOCKET://127.0.0.1:3333/", "rfc2217://127.0.0.1:3333?logging=debug"):  # fmt: skip
        assert port_key(url) == one, url
    assert port_key("socket://[0::1]:3333") == port_key("rfc2217://[::1]:3333")
    assert port_key("socket://LocalHost:3333") == port_key("socket://localhost:3333")
    assert port_key("socket://127.0.0.1:3334") != one
    assert port_key("socket://127.0.0.2:3333") != one
    assert port_key("loop://") is None and port_key("LOOP://?logging=debug") is None


def _answers(table: dict[str, list[str]]) -> Any:
    """A ``socket.getaddrinfo`` that answers from ``table`` (name -> addresses, in order)."""

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in table[host]]  # fmt: skip

    return getaddrinfo


def test_a_name_is_the_address_pyserial_connects_to(monkeypatch: pytest.MonkeyPatch) -> None:
    # pyserial's socket:// and rfc2217:// connect with socket.create_connection, which tries
    # getaddrinfo's answers in order: the first is the server it reaches.
    monkeypatch.setattr(socket, "getaddrinfo", _answers({
        "localhost": ["127.0.0.1", "::1"], "ip6-localhost": ["::1"], "modem-server": ["10.0.0.7"],
    }))  # fmt: skip
    assert port_key("socket://localhost:3333") == port_key("socket://127.0.0.1:3333")
    assert port_key("rfc2217://LOCALHOST:3333") == port_key("socket://127.0.0.1:3333")
    assert port_key("socket://ip6-localhost:3333") == port_key("socket://[::1]:3333")
    assert port_key("socket://modem-server:3333") == port_key("socket://10.0.0.7:3333")
    assert port_key("socket://localhost:3334") != port_key("socket://127.0.0.1:3333")
    # A name that does not resolve is compared as it is written (the open then says why).
    assert port_key("socket://no-such-host:3333") == port_key("socket://No-Such-Host:3333")
    assert port_key("socket://no-such-host:3333") != port_key("socket://localhost:3333")


def test_a_lookup_that_hangs_falls_back_to_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hangs(*args: Any, **kwargs: Any) -> list[Any]:
        release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hangs)
    monkeypatch.setattr("netdrv_serial.port._RESOLVE_TIMEOUT", 0.05)
    try:
        assert port_key("socket://slow-dns:3333") == "slow-dns:3333"
    finally:
        release.set()


def test_a_second_load_on_one_server_under_another_name_is_refused(host: Host) -> None:
    from slip_helpers import Ser2netLike

    server = Ser2netLike(missing=False)
    first = load_slip(host, port=f"socket://127.0.0.1:{server.port}", name="ex%d")
    try:
        deadline = time.monotonic() + 10  # the server's accept thread counts it a little later
        while server.accepted < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.accepted == 1
        addr = socket.getaddrinfo("localhost", server.port, 0, socket.SOCK_STREAM)[0][4][0]
        if addr != "127.0.0.1":
            pytest.skip(f"localhost is {addr} here, another server than 127.0.0.1")
        with pytest.raises(PortError, match=r"already the line of ex0 \(slip\) in this daemon"):
            load_slip(host, port=f"socket://localhost:{server.port}", name="ey%d")
        assert list(host.devices) == ["ex0"]
        assert server.accepted == 1  # the refused load never connected
    finally:
        with host.as_current():
            first.exit()
        server.stop()


def test_a_url_pyserial_cannot_parse_fails_the_load_as_a_port_error(host: Host) -> None:
    # Not a crash in the check of the daemon's other lines: the open says what is wrong.
    assert port_key("socket://[::1:3333") is None
    with pytest.raises(PortError, match=r"cannot open serial port socket://\[::1:3333"):
        load_slip(host, port="socket://[::1:3333", name="ex%d")
    assert not host.devices


def test_a_wrapped_device_is_the_device_and_two_devices_are_two_ports(ptys: list[str]) -> None:
    # spy:// and alt:// open the device path they wrap: two of them on two devices are two
    # ports (not one "empty host"), and spy:// on a device is that device.
    a, b = ptys
    assert port_key(f"spy://{a}") != port_key(f"spy://{b}")
    assert port_key(f"spy://{a}?raw") == port_key(a) == port_key(f"alt://{a}?class=Serial")
    # hwgrep:// finds a device by a search (with &skip_busy, a free one each time): no
    # identity to compare, so never refused for another line's.
    assert port_key("hwgrep://0403:6001&skip_busy") is None


def _fake_nodes(monkeypatch: pytest.MonkeyPatch, nodes: dict[str, tuple[int, int, int]]) -> None:
    """``os.stat`` of each path in ``nodes`` is a character device (major, minor) on the
    filesystem ``st_dev`` given; other paths are stat'ed as they are."""
    real_stat = os.stat

    def fake_stat(p: Any, *a: Any, **k: Any) -> os.stat_result:
        if p not in nodes:
            return real_stat(p, *a, **k)
        major, minor, fs = nodes[p]
        values = [stat.S_IFCHR | 0o660, 1, fs, 1, 0, 20, 0, 0, 0, 0]
        return os.stat_result(values, {"st_rdev": os.makedev(major, minor)})

    monkeypatch.setattr(os, "stat", fake_stat)


def test_a_second_node_of_a_tty_is_that_tty(
    monkeypatch: pytest.MonkeyPatch, ptys: list[str], tmp_path: Path
) -> None:
    # A line discipline belongs to the tty (slip.c: tty->disc_data), found by its device
    # number: a second node of a USB adapter (mknod, a container's own /dev) is the same
    # line, though no symbolic link leads there and its flock is on another inode.
    _fake_nodes(monkeypatch, {"/dev/ttyUSB0": (188, 0, 5), "/srv/dev/modem": (188, 0, 77),
                              "/dev/ttyUSB1": (188, 1, 5),
                              "/host/dev/pts/0": (136, 0, 25), "/ct/dev/pts/0": (136, 0, 99)})  # fmt: skip
    assert port_key("/srv/dev/modem") == port_key("/dev/ttyUSB0") != port_key("/dev/ttyUSB1")
    # Each devpts (a container's) numbers its own ptys: pts/0 of another one is another tty.
    assert port_key("/ct/dev/pts/0") != port_key("/host/dev/pts/0")
    link = tmp_path / "ttyA"
    link.symlink_to(ptys[0])  # socat's link=
    assert port_key(str(link)) == port_key(ptys[0]) != port_key(ptys[1])
    # Not there (yet, with wait=1): its real path.
    gone = tmp_path / "by-id-link"
    gone.symlink_to(tmp_path / "ttyUSB9")
    assert port_key(str(gone)) == str(tmp_path / "ttyUSB9")


def test_two_spy_lines_on_two_devices_both_load(host: Host, ptys: list[str]) -> None:
    lines = []
    try:
        for i, path in enumerate(ptys):
            lines.append(load_slip(host, port=f"spy://{path}?file=/dev/null", name=f"e{i}%d"))
        assert sorted(host.devices) == ["e00", "e10"]
        with pytest.raises(PortError, match="already the line of e00"):
            load_slip(host, port=ptys[0], name="ez%d", wait="1")
    finally:
        with host.as_current():
            for drv in lines:
                drv.exit()


# -- no permission ----------------------------------------------------------------------------
def _denied(monkeypatch: pytest.MonkeyPatch, path: str, **fields: int) -> str:
    """``check_port_path(path)``'s message for a daemon that may not open it, with the
    device's stat ``fields`` (st_mode, st_uid, st_gid) as given."""
    real_stat = os.stat
    index = {"st_mode": 0, "st_uid": 4, "st_gid": 5}

    def fake_stat(p: Any, *a: Any, **k: Any) -> os.stat_result:
        st = real_stat(p, *a, **k)
        if p != path:
            return st
        values = list(st)
        for name, value in fields.items():
            values[index[name]] = value
        return os.stat_result(values, {"st_rdev": st.st_rdev})

    monkeypatch.setattr(os, "stat", fake_stat)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(PortError) as err:
        check_port_path(path)
    return str(err.value)


def test_no_permission_as_root_does_not_say_run_as_root(
    monkeypatch: pytest.MonkeyPatch, ptys: list[str]
) -> None:
    # root is refused only where its privilege does not reach (a user namespace whose map
    # leaves the device's owner out: a rootless container; or a security module).
    monkeypatch.setattr(os, "getuid", lambda: 0)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    msg = _denied(monkeypatch, ptys[0], st_mode=stat.S_IFCHR | 0o660, st_gid=20)
    assert "the daemon runs as root" in msg
    assert "run the daemon as root" not in msg and "usermod" not in msg
    assert "user namespace" in msg and "security module" in msg


def test_no_permission_for_a_group_without_a_name(
    monkeypatch: pytest.MonkeyPatch, ptys: list[str]
) -> None:
    # A container's device keeps the host's gid, which may have no name inside: usermod
    # -aG takes only a group that exists, so the message says to make one with that gid.
    gid = next(g for g in range(4242, 65000) if not _has_group(g))
    monkeypatch.setattr(os, "getuid", lambda: 998)
    msg = _denied(monkeypatch, ptys[0], st_mode=stat.S_IFCHR | 0o660, st_gid=gid)
    assert f":{gid};" in msg
    assert f"usermod -aG {gid}" not in msg
    assert f"groupadd -g {gid}" in msg


def test_no_permission_on_a_pty_says_how_to_give_it_to_the_daemon(
    monkeypatch: pytest.MonkeyPatch, ptys: list[str]
) -> None:
    # A pty (socat's) is its maker's: no udev rule reaches /dev/pts; socat's user=/perm=
    # give it to the daemon's user.
    monkeypatch.setattr(os, "getuid", lambda: 998)
    msg = _denied(monkeypatch, ptys[0], st_mode=stat.S_IFCHR | 0o620, st_uid=1000)
    assert "udev" not in msg
    assert "a pty" in msg and "user=" in msg


def test_no_permission_for_its_own_owner_says_chmod(
    monkeypatch: pytest.MonkeyPatch, ptys: list[str]
) -> None:
    monkeypatch.setattr(os, "getuid", lambda: 998)
    msg = _denied(monkeypatch, ptys[0], st_mode=stat.S_IFCHR | 0o000, st_uid=998)
    assert f"chmod u+rw {ptys[0]}" in msg
    assert "run the daemon as 998" not in msg


def test_no_permission_on_a_device_with_an_acl_says_so(
    monkeypatch: pytest.MonkeyPatch, ptys: list[str]
) -> None:
    # With an ACL the mode's group bits are its mask, not what the group may do (udev's
    # uaccess gives the desktop's user one): ls -l marks it "+", and getfacl tells.
    monkeypatch.setattr(os, "getuid", lambda: 998)
    monkeypatch.setattr(os, "listxattr", lambda p, *a, **k: (
        ["system.posix_acl_access"] if p == ptys[0] else []))  # fmt: skip
    msg = _denied(monkeypatch, ptys[0], st_mode=stat.S_IFCHR | 0o660, st_gid=20)
    assert "(crw-rw----+ " in msg and f"getfacl {ptys[0]}" in msg


def _has_group(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


def test_a_load_looks_up_its_own_server_only(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check of the daemon's other lines runs in the load, which every other command
    # waits for: a name each line was loaded with is not looked up again at each load
    # (up to a second each when the DNS does not answer), only the new line's.
    from slip_helpers import Ser2netLike

    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host_: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith("resolve "):
            lookups.append(str(host_))
        return real(host_, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    servers = [Ser2netLike(missing=False) for _ in range(3)]
    drivers = []
    try:
        for n, server in enumerate(servers):
            lookups.clear()
            drivers.append(load_slip(host, port=f"socket://localhost:{server.port}",
                                     name=f"ex{n}"))  # fmt: skip
            assert lookups == ["localhost"], (n, lookups)
        assert list(host.devices) == ["ex0", "ex1", "ex2"]
    finally:
        with host.as_current():
            for drv in drivers:
                drv.exit()
        for server in servers:
            server.stop()
