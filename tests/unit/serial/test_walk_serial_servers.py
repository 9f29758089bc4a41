"""A serial server (ser2net) whose serial device is missing: it takes each connection,
says why it cannot open the device, and hangs up.  The link must stay NO-CARRIER and
say so — not flap, not fill the log, not log tracebacks — until the device is back."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
from slip_helpers import IP, Ser2netLike, load_slip

from netdrv_core import Host, netif_carrier_ok

# What ser2net 4.3 sends on a telnet(rfc2217) accepter when its device cannot be opened:
# its telnet options, then the reason, then it closes the connection.
TELNET_HELLO = b"\xff\xfb\x03\xff\xfd\x03\xff\xfb\x01\xff\xfe\x01\xff\xfd\x00\xff\xfb\x00\xff\xfd,"


def test_walk_rfc2217_server_hanging_up_is_explained_without_a_traceback(monkeypatch) -> None:
    from netdrv_serial.port import PortError, open_serial

    thread_errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda a: thread_errors.append(a.exc_value))
    srv = Ser2netLike(TELNET_HELLO)
    try:
        for _ in range(3):
            with pytest.raises(PortError, match="took the connection and closed it") as info:
                open_serial(f"rfc2217://127.0.0.1:{srv.port}", 115200)
            msg = str(info.value)
            assert "device behind it is probably missing" in msg
            assert "it said 'Device open failure: Value or file not found'" in msg, msg
            assert "does not seem to support RFC2217" not in msg
    finally:
        srv.close()
    # pyserial's reader thread answered the server's options after it had hung up: that
    # is the hang-up, not a crash to log with a traceback in the daemon on every retry.
    assert thread_errors == []


def test_walk_socket_server_hanging_up_keeps_the_carrier_off(host: Host, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="netdrv.serial")
    srv = Ser2netLike()
    srv.missing = False
    drv = load_slip(host, port=f"socket://127.0.0.1:{srv.port}", retry_max="0.2", name="ss%d")
    dev = drv.devices[0]
    try:
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 1, timeout=5)
        # The device behind the server goes: the server drops us, then hangs up on every
        # reconnect, saying why.
        srv.missing = True
        for c in srv.conns:
            c.shutdown(socket.SHUT_RDWR)
        assert host.loop.run_until(lambda: dev.priv.port_losses == 1, timeout=5)
        seen_on = []
        host.loop.run_until(lambda: seen_on.append(netif_carrier_ok(dev)) and False, timeout=3)
        assert srv.accepted >= 4  # it kept trying ...
        assert not any(seen_on), "the carrier flapped on at every reconnect"
        assert dev.priv.reconnects == 0 and dev.priv.port_losses == 1
        # ... and said why once, not twice per attempt.
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warned) <= 3, warned
        assert any("took the connection and closed it" in w and "Device open failure" in w
                   for w in warned), warned  # fmt: skip
        assert "NO-CARRIER: cannot open serial port" in drv.describe()
        # The device is back: so is the carrier, and traffic.
        srv.missing = False
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=5)
        assert dev.priv.reconnects == 1 and "NO-CARRIER" not in drv.describe()
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 2, timeout=5)
    finally:
        with host.as_current():
            drv.exit()
        srv.close()


def test_walk_status_says_why_a_link_has_no_carrier(host: Host, tmp_path) -> None:
    drv = load_slip(host, port=str(tmp_path / "ttyUSB0"), wait="1", retry_max="5")
    try:
        dev = drv.devices[0]
        assert not netif_carrier_ok(dev)
        assert "NO-CARRIER: serial port" in drv.describe() and "does not exist" in drv.describe()
    finally:
        with host.as_current():
            drv.exit()
    quiet = load_slip(host, port="loop://", keepalive="1", name="ka%d")
    try:
        dev = quiet.devices[0]
        assert "NO-CARRIER" not in quiet.describe()
        assert host.loop.run_until(lambda: not netif_carrier_ok(dev), timeout=4)
        assert "NO-CARRIER: nothing received for 1 s (keepalive=1)" in quiet.describe()
    finally:
        with host.as_current():
            quiet.exit()


def test_walk_peer_without_local_still_gets_its_host_route(host: Host) -> None:
    drv = load_slip(host, port="loop://", peer="198.18.11.2", name="pr%d")
    try:
        assert ("198.18.11.2/32", None) in host.attachment.routes[drv.devices[0].name]
    finally:
        with host.as_current():
            drv.exit()


@pytest.mark.parametrize("params", [{"local": "fd00::1/64"}, {"local": "198.18.5.1/30",
                                                              "peer": "fd00::2"}])  # fmt: skip
def test_walk_ipv6_addresses_are_refused_with_the_reason(params) -> None:
    from netdrv_core import ParameterError, PluginManager
    from netdrv_core.params import parse_params

    pm = PluginManager()
    cls = pm.get_driver("slip")
    p = parse_params("slip", pm.driver_parameters("slip"), {"port": "loop://", **params})
    with pytest.raises(ParameterError, match="carries IPv4 only"):
        cls.check_params(p)
