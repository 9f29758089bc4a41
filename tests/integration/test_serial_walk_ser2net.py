"""A serial port exported by ser2net, as the slip page documents it, and its device pulled."""

from __future__ import annotations

import time

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, wait_for
from .serial_helpers import Cable
from .serial_helpers import ser2net as ser2net_running

pytestmark = pytest.mark.netns

A, B = "198.18.5.1", "198.18.5.2"


@pytest.fixture
def ser2net(netns_factory, tmp_path):
    """A namespace running ser2net with an RFC 2217 accepter on 7000 and a raw one on 7001,
    in front of two cables' ``a`` ends; yields (namespace, cable_rfc2217, cable_raw)."""
    ns = netns_factory()
    cables = [Cable(0), Cable(0)]
    conf = tmp_path / "ser2net.yaml"
    conf.write_text(
        "connection: &c1\n"
        "  accepter: telnet(rfc2217),tcp(nodelay),127.0.0.1,7000\n"
        f"  connector: serialdev,{cables[0].a},115200n81,local\n"
        "  options:\n    kickolduser: true\n    chardelay: false\n"
        "connection: &c2\n"
        "  accepter: tcp(nodelay),127.0.0.1,7001\n"
        f"  connector: serialdev,{cables[1].a},115200n81,local\n"
        "  options:\n    kickolduser: true\n    chardelay: false\n"
    )
    try:
        with ser2net_running(ns, conf, 7001):
            yield ns, cables[0], cables[1]
    finally:
        for c in cables:
            c.close()


def test_walk_rfc2217_to_a_pty_says_to_add_ign_set_control(ser2net) -> None:
    ns, _, _ = ser2net
    res = ns.netdrv(f"load slip port=rfc2217://127.0.0.1:7000 local={B}/32", check=False)
    assert res.returncode == 1
    assert "add ign_set_control to the URL: port=rfc2217://127.0.0.1:7000?ign_set_control" in (
        res.stderr
    ), res.stderr


def _carrier_samples(ns: NetNamespace, dev: str, seconds: float) -> list[bool]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(bool(device(ns, dev)["carrier"]))
        time.sleep(0.1)
    return out


def _ping(far: NetNamespace, ns: NetNamespace) -> None:
    """Two pings from ``far`` to ``ns`` get through; if not, both daemons' logs say why."""
    res = far.run(f"ping -c 2 -i 0.3 -W 3 {B}", check=False)
    assert "2 received" in res.stdout, (
        f"{res.stdout}\n-- ser2net side log:\n{ns.netdrv('log').stdout}"
        f"\n-- far side log:\n{far.netdrv('log').stdout}"
    )


@pytest.mark.parametrize("url", ["rfc2217://127.0.0.1:7000?ign_set_control",
                                 "socket://127.0.0.1:7001"])  # fmt: skip
def test_walk_device_behind_ser2net_pulled_and_plugged(ser2net, netns_factory, url) -> None:
    ns, c_rfc, c_raw = ser2net
    cable = c_rfc if url.startswith("rfc2217") else c_raw
    far = netns_factory()
    ns.netdrv(f"load slip port={url} local={B}/32 peer={A} retry_max=0.5")
    far.netdrv(f"load slip port={cable.b} local={A}/32 peer={B}")
    _ping(far, ns)
    cable.pull()  # the adapter on the ser2net host is unplugged
    assert wait_for(lambda: not device(ns, "sl0")["carrier"], timeout=10)
    # ser2net takes every reconnect and hangs up: the link stays down, it does not flap.
    samples = _carrier_samples(ns, "sl0", 4)
    assert not any(samples), samples
    st = device(ns, "sl0")
    assert st["ethtool"]["stats"]["port_losses"] == 1
    assert st["ethtool"]["stats"]["reconnects"] == 0
    status = ns.netdrv("status").stdout
    assert "NO-CARRIER: cannot open serial port" in " ".join(status.split())
    log = ns.netdrv("log").stdout
    assert "took the connection and closed it" in log, log
    assert "Traceback" not in log and " ERROR " not in log, log  # no reader-thread crash
    assert log.count("took the connection and closed it") <= 2, log  # not every 0.5 s
    cable.plug()
    # The far end lost its pty too and reopens it on its own backoff (up to retry_max,
    # 5 s by default): a ping sent before its carrier is back is lost on that side.
    assert wait_for(lambda: device(ns, "sl0")["carrier"] and device(far, "sl0")["carrier"],
                    timeout=15)  # fmt: skip
    _ping(far, ns)
    assert device(ns, "sl0")["ethtool"]["stats"]["reconnects"] == 1
