"""The carrier of a reopened network port (socket://, rfc2217://).

A serial server that takes each connection and hangs up at once (ser2net when its
device is missing) must not flap the carrier: after a loss, and after such a hang-up,
a reconnect has its carrier once the connection has held for NET_SETTLE, or once the
peer's first frame came through it.  A server that was out of reach (connection
refused) and answers again is back, and so is an RFC 2217 server that negotiated the
port's settings (ser2net hangs up before that when its device is missing): their
carrier comes on as soon as the port is open.
"""

from __future__ import annotations

import logging

import pytest
from slip_helpers import IP, Ser2netLike, linked_through_server, load_slip

from netdrv_core import Host, netif_carrier_ok


def _gone_and_refused(host: Host, dev, far: Ser2netLike) -> None:
    """``far`` goes away; the link loses its port and fails to reconnect (refused)."""
    far.stop()
    assert host.loop.run_until(lambda: not netif_carrier_ok(dev), timeout=5)
    assert host.loop.run_until(lambda: dev.priv.open_failures >= 1, timeout=5)
    assert "refused" in (dev.priv.open_error or ""), dev.priv.open_error


def test_a_server_back_after_being_out_of_reach_has_its_carrier_at_once(
    host: Host, unload, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdrv_serial import driver as sd

    # A settle window far longer than the test waits: the carrier must not wait for it.
    monkeypatch.setattr(sd, "NET_SETTLE", 60.0)
    with linked_through_server(host, unload) as (far, drv, dev):
        priv = dev.priv
        _gone_and_refused(host, dev, far)
        far.start()
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=10)
        assert priv.settle_timer is not None, "the carrier waited for the settle window"
        assert priv.no_carrier is None and "NO-CARRIER" not in drv.describe()
        assert priv.reconnects == 0  # (not yet: it might still hang up)
        host.attachment.send(dev, IP)  # traffic flows at once
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 2, timeout=5)
        # The peer's frame came through: the reconnect is counted and the backoff reset.
        assert priv.settle_timer is None
        assert priv.reconnects == 1 and priv.port_losses == 1
        assert priv.open_error is None and priv.backoff == 0.1
        assert netif_carrier_ok(dev)


def test_a_server_back_without_its_device_hangs_up_once_then_is_held(
    host: Host, unload, caplog
) -> None:
    with linked_through_server(host, unload) as (far, drv, dev):
        priv = dev.priv
        _gone_and_refused(host, dev, far)
        # It comes back, but its serial device does not: it hangs up on each connection.
        far.missing = True
        far.start()
        samples: list[bool] = []

        def sample() -> bool:
            on = netif_carrier_ok(dev)
            if on and not (samples and samples[-1]):
                host.attachment.send(dev, IP)  # sent while the carrier is on: counted
            samples.append(on)
            return far.accepted >= 4

        assert host.loop.run_until(sample, timeout=10)
        host.loop.run_until(lambda: False, 0.3)
        rises = sum(1 for a, b in zip([False, *samples], samples, strict=False) if b and not a)
        assert rises <= 1, "the carrier flapped on at every reconnect"
        assert not netif_carrier_ok(dev)
        # A hang-up is an open that failed, not a port that came back and was lost again.
        assert priv.port_losses == 1 and priv.reconnects == 0
        assert priv.open_error == "server closed"
        assert "took the connection and closed it" in drv.describe()
        # Whatever was sent while the carrier was on is accounted for.
        assert host.loop.run_until(
            lambda: (
                dev.core_stats.tx_submitted
                == dev.stats.tx_packets + dev.stats.tx_dropped + dev.stats.tx_errors
            ),
            timeout=5,
        )
        # The device is back: so is the carrier (after the settle window), and traffic.
        far.missing = False
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=10)
        assert priv.reconnects == 1
        host.attachment.send(dev, IP)
        assert host.loop.run_until(
            lambda: dev.stats.rx_packets >= 2 and host.attachment.received(dev)[-1] == IP,
            timeout=5,
        )


def _restarted(host: Host, dev, far: Ser2netLike) -> None:
    """``far`` restarts faster than the first retry: the link loses its port, and its
    first reconnect finds the server back."""
    far.stop()
    far.start()
    assert host.loop.run_until(
        lambda: dev.priv.port_losses == 1 and dev.priv.port.is_open and far.conns, timeout=5
    )


def test_a_quick_restart_has_its_carrier_with_the_peers_first_frame(
    host: Host, unload, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdrv_serial import driver as sd

    monkeypatch.setattr(sd, "NET_SETTLE", 60.0)  # far longer than the test waits
    with linked_through_server(host, unload) as (far, drv, dev):
        priv = dev.priv
        _restarted(host, dev, far)
        # A silent raw TCP connection: nothing tells it yet from a server that hangs up.
        assert not netif_carrier_ok(dev) and priv.settle_timer is not None
        # The peer's traffic comes through the server: the device is there.
        far.conns[-1].sendall(b"\xc0" + IP + b"\xc0")
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=10)
        assert dev.stats.rx_packets == 2
        assert priv.settle_timer is None and priv.reconnects == 1 and priv.backoff == 0.1
        assert priv.no_carrier is None and "NO-CARRIER" not in drv.describe()
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 3, timeout=5)


def test_a_quick_rfc2217_restart_has_its_carrier_at_once(
    host: Host, unload, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An RFC 2217 open negotiates the port's settings with the server, which ser2net
    # answers only with its device open: the open itself shows the device is there.
    from netdrv_serial import driver as sd

    monkeypatch.setattr(sd, "NET_SETTLE", 60.0)
    with linked_through_server(host, unload, rfc2217=True) as (far, _drv, dev):
        _restarted(host, dev, far)
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=10)
        assert dev.priv.no_carrier is None
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 2, timeout=5)


def test_an_rfc2217_server_back_without_its_device_never_blips_then_is_back_at_once(
    host: Host, unload, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdrv_serial import driver as sd

    monkeypatch.setattr(sd, "NET_SETTLE", 60.0)
    with linked_through_server(host, unload, rfc2217=True) as (far, _drv, dev):
        priv = dev.priv
        _gone_and_refused(host, dev, far)
        far.missing = True
        far.start()
        samples: list[bool] = []
        assert host.loop.run_until(
            lambda: samples.append(netif_carrier_ok(dev)) or far.accepted >= 4, timeout=15
        )
        assert not any(samples), "the carrier came on for a server without its device"
        assert priv.open_error == "server closed" and priv.reconnects == 0
        far.missing = False
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=10)
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 2, timeout=5)


def test_a_server_that_hangs_up_after_a_good_looking_open_has_to_hold_next_time(
    host: Host, unload, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An open that looked good (RFC 2217 negotiated) and a hang-up within NET_SETTLE: that
    # server is not trusted at its word again until a connection has held.
    from netdrv_serial import driver as sd

    monkeypatch.setattr(sd, "NET_SETTLE", 60.0)
    far = Ser2netLike(missing=False, rfc2217=True)
    drv = load_slip(host, port=f"rfc2217://127.0.0.1:{far.port}", retry_max="0.2")
    unload(drv)
    dev = drv.devices[0]
    priv = dev.priv
    try:
        _restarted(host, dev, far)
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=10)
        accepted = far.accepted
        far.stop()  # gone again within the window
        far.start()
        assert host.loop.run_until(
            lambda: far.accepted > accepted and priv.port.is_open and priv.settle_timer, 10
        )
        assert not netif_carrier_ok(dev)  # it has to hold for NET_SETTLE now
        assert priv.open_error == "server closed" and priv.port_losses == 1
        assert priv.reconnects == 0
    finally:
        far.stop()


def _known_to_hang_up(host: Host, dev, far: Ser2netLike) -> None:
    """``far`` restarts without its device: the link's reconnect is taken and hung up on
    before it settled, so the server is known to hang up; then ``ip link set sl0 down``."""
    priv = dev.priv
    far.missing = True
    far.stop()
    far.start()
    assert host.loop.run_until(lambda: priv.settle_hung_up, timeout=10)
    assert priv.port_losses == 1
    host.dev_close(dev)


def test_a_server_known_to_hang_up_has_to_hold_after_a_down_and_up(
    host: Host, unload, caplog
) -> None:
    # `ip link set sl0 down; up` is no reason to trust the server again: its connection has
    # to hold for NET_SETTLE too, and its hang-up is one failed open, not a port loss.
    with linked_through_server(host, unload) as (far, _drv, dev):
        priv = dev.priv
        _known_to_hang_up(host, dev, far)
        caplog.clear()
        caplog.set_level(logging.WARNING, logger="netdrv.serial")
        accepted = far.accepted
        host.dev_open(dev)
        samples: list[bool] = []
        assert host.loop.run_until(
            lambda: samples.append(netif_carrier_ok(dev)) or far.accepted >= accepted + 3,
            timeout=10,
        )
        assert not any(samples), "the carrier came on for a server known to hang up"
        assert priv.port_losses == 1 and priv.reconnects == 0
        assert priv.settle_hung_up and priv.open_error == "server closed"
        assert not [r for r in caplog.records if "lost" in r.getMessage()], caplog.text
        # Its device is back: the connection holds for NET_SETTLE, and the server is trusted.
        far.missing = False
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=10)
        assert not priv.settle_hung_up and priv.port_losses == 1
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 2, timeout=5)


def test_a_down_and_up_to_a_server_known_to_hang_up_is_trusted_once_it_carried_a_frame(
    host: Host, unload, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdrv_serial import driver as sd

    monkeypatch.setattr(sd, "NET_SETTLE", 60.0)  # far longer than the test waits
    with linked_through_server(host, unload) as (far, drv, dev):
        priv = dev.priv
        _known_to_hang_up(host, dev, far)
        far.missing = False  # its device is back by the time the link comes up again
        host.dev_open(dev)
        assert host.loop.run_until(lambda: priv.port.is_open and far.conns, timeout=10)
        # Open, but not yet trusted: no carrier until it holds or carries a frame.
        assert not netif_carrier_ok(dev) and priv.settle_timer is not None
        assert priv.settle_hung_up
        far.conns[-1].sendall(b"\xc0" + IP + b"\xc0")
        assert host.loop.run_until(lambda: netif_carrier_ok(dev), timeout=10)
        assert dev.stats.rx_packets == 2 and not priv.settle_hung_up
        # An open of the link, not a reconnect: nothing was lost, nothing came back.
        assert priv.port_losses == 1 and priv.reconnects == 0 and priv.open_error is None
        assert priv.no_carrier is None and "NO-CARRIER" not in drv.describe()
        host.attachment.send(dev, IP)
        assert host.loop.run_until(lambda: dev.stats.rx_packets == 3, timeout=5)
