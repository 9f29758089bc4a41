"""Property tests of driver parameters: ``netdrv load DRIVER name=value …`` with any words.

For every first-party driver, :func:`parse_params` turns arbitrary words into
a complete, valid parameter set or raises :class:`ParameterError` — nothing
else, and never a value outside its declared type, choices and limits (NaN
and infinities included).  Values it accepts are then loaded on a memory host
by a real :class:`Daemon`: only documented errors, bounded time and memory.
"""

from __future__ import annotations

import math
import os
import socket
import stat
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netdrv_core import Host, alloc_netdev, ether_setup
from netdrv_core.daemon import Daemon
from netdrv_core.errors import NetdrvError, ParameterError
from netdrv_core.params import Param, parse_params
from netdrv_core.plugins import PluginManager

FAST = settings(max_examples=250, deadline=3000, suppress_health_check=[HealthCheck.too_slow])

_PM = PluginManager()
DRIVERS = ("snull", "loopback", "slip", "usbnet")


def _params(name: str) -> tuple[Param, ...]:
    return _PM.driver_parameters(name)


NUMBERS = ["0", "1", "-1", "0x10", "010", "1e3", "1.5", "nan", "NaN", "inf", "-inf", "1e309",
           "9" * 5000, "1_000", " 7 ", "", "+3", "0b11", "True", "yes", "off", "2.0"]  # fmt: skip


def words(params: tuple[Param, ...]) -> st.SearchStrategy[list[str]]:
    """name=value words: mostly declared names with values of every shape, some junk."""

    @st.composite
    def declared(draw: st.DrawFn) -> str:
        p = draw(st.sampled_from(params))
        values = [st.sampled_from(NUMBERS), st.text(max_size=30)]
        if p.choices:
            values.append(st.sampled_from([str(c) for c in p.choices]))
        return f"{p.name}={draw(st.one_of(*values))}"

    junk = st.one_of(
        st.builds(lambda n, v: f"{n}={v}", st.text(max_size=8), st.text(max_size=8)),
        st.text(max_size=20),
    )
    word = st.one_of(declared(), declared(), declared(), junk) if params else junk
    return st.lists(word, max_size=6)


def _check_values(params: tuple[Param, ...], values: dict[str, Any]) -> None:
    assert set(values) == {p.name for p in params}
    for p in params:
        v = values[p.name]
        if p.choices is not None:
            assert v in p.choices
        if isinstance(v, float):
            assert math.isfinite(v), (p.name, v)
        if p.min is not None and isinstance(v, int | float):
            assert v >= p.min
        if p.max is not None and isinstance(v, int | float):
            assert v <= p.max
        if p.type in (int, float, bool, str):
            assert isinstance(v, p.type), (p.name, v)


@pytest.mark.parametrize("driver", DRIVERS)
@FAST
@given(data=st.data())
def test_parse_params_only_raises_parameter_error(driver: str, data: st.DataObject) -> None:
    params = _params(driver)
    args = data.draw(words(params))
    try:
        values = parse_params(driver, params, args)
    except ParameterError as exc:
        msg = str(exc)
        assert driver in msg
        return
    _check_values(params, values)


@FAST
@given(st.sampled_from(["nan", "inf", "-inf", "1e309", "NaN"]))
@example("nan")
def test_non_finite_floats_are_refused(text: str) -> None:
    p = Param("interval", float, 1.0, "seconds", min=0.0)
    with pytest.raises(ParameterError, match="finite"):
        parse_params("x", (p,), [f"interval={text}"])


def test_a_raising_converter_is_a_parameter_error() -> None:
    def picky(text: str) -> int:
        return int(float(text))  # OverflowError for inf

    p = Param("n", picky, 0, "a number")
    with pytest.raises(ParameterError, match="OverflowError"):
        parse_params("x", (p,), ["n=inf"])


# -- what the accepted values do when loaded ---------------------------------------------------
@pytest.fixture(scope="module")
def bad_paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Paths that are not serial ports: a directory, a regular file, a socket, a symlink loop."""
    d = tmp_path_factory.mktemp("ports")
    loop_a, loop_b = d / "loop-a", d / "loop-b"
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)
    regular = d / "file"
    regular.write_text("not a tty")
    sock_path = str(d / "sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock_path)
    fifo = d / "fifo"
    os.mkfifo(fifo)
    try:
        yield {"dir": str(d), "file": str(regular), "loop": str(loop_a), "socket": sock_path,
               "fifo": str(fifo), "devnull": "/dev/null", "missing": str(d / "nope")}  # fmt: skip
    finally:
        s.close()


@pytest.mark.parametrize(
    "kind,message",
    [
        ("dir", "is a directory"),
        ("file", "not a character device"),
        ("socket", "not a character device"),
        ("fifo", "not a character device"),
        ("loop", "symbolic links"),
        ("devnull", "not a terminal"),
        ("missing", "does not exist"),
    ],
)
def test_serial_port_paths_are_validated(
    bad_paths: dict[str, str], kind: str, message: str
) -> None:
    from netdrv_serial.port import PortError, open_serial

    with pytest.raises(PortError, match=message) as info:
        open_serial(bad_paths[kind], 115200)
    assert bad_paths[kind] in str(info.value)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_pty_is_accepted_as_a_serial_port() -> None:
    from netdrv_serial.port import open_serial

    master, slave = os.openpty()
    try:
        ser = open_serial(os.ttyname(slave), 115200)
        ser.close()
    finally:
        os.close(master)
        os.close(slave)


SAFE_WORDS = {
    # Values that keep a load in-process: no real serial ports or USB buses are touched.
    "slip": st.lists(st.sampled_from(["port=loop://", "port=/nonexistent/tty", "port=", "mode=kiss",
                                      "mode=plip", "mtu=68", "mtu=65534", "name=sl%d", "name=a b",
                                      "name=" + "x" * 16, "name=é" * 3, "name=%d%d", "wait=1",
                                      "keepalive=1", "retry_max=0.1", "local=198.18.5.1/32",
                                      "peer=198.18.5.2", "txqueuelen=1", "baud=50"]),
                      max_size=5),
    "snull": st.lists(st.sampled_from(["pool_size=1", "pool_size=65536", "pool_size=100000000",
                                       "lockup=1", "use_napi=1", "napi_weight=1", "eth=1",
                                       "configure=0", "offload=0", "addr0=198.18.9.1/24",
                                       "addr0=not-an-address", "addr1=::1/64", "timeout=1"]),
                      max_size=4),
    "loopback": st.lists(st.sampled_from(["name=nlo%d", "name=lo", "name=x" * 9, "name=",
                                          "name=a/b"]), max_size=2),
}  # fmt: skip


@pytest.mark.parametrize("driver", sorted(SAFE_WORDS))
@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_accepted_values_load_or_fail_with_a_documented_error(
    driver: str, data: st.DataObject
) -> None:
    args = data.draw(SAFE_WORDS[driver])
    host = Host()
    d = Daemon(host=host, pm=_PM, exit_when_empty=False, watchdog=None)
    try:
        try:
            reply = d.load(driver, args)
        except NetdrvError as exc:
            assert str(exc)
            assert not host.devices, "a failed load leaves nothing registered"
            return
        assert reply["ok"] and reply["devices"]
        for dev in host.devices.values():
            assert 0 < len(dev.name.encode()) < 16, dev.name
    finally:
        for name in list(d.drivers):
            d.unload(name)
        host.close()
        host.loop.close()


@pytest.mark.parametrize("name", ["é" * 8, "x" * 16, "a\0b", "a b", "a/b", ".", ""])
def test_interface_names_the_kernel_would_refuse_are_refused(name: str) -> None:
    host = Host()
    try:
        with pytest.raises(ValueError, match="interface name"):
            host.register_netdev(alloc_netdev(None, name, ether_setup))
        assert not host.devices
    finally:
        host.close()
        host.loop.close()
