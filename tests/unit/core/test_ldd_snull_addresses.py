"""snull's addr0/addr1 follow LDD's "Assigning IP Numbers": checked, and the remotes named right."""

from __future__ import annotations

import pytest
from fakedev import LoadSnull

from netdrv_core import Host, ParameterError


def test_ldd_numbers_give_ldd_remotes(host: Host, snull: LoadSnull) -> None:
    # local0 192.168.0.1, local1 192.168.1.2 -> remote0 192.168.0.2, remote1 192.168.1.1
    drv = snull(up=False, configure=1, addr0="192.168.0.1/24", addr1="192.168.1.2/24")
    assert drv.describe() == (
        "sn0 192.168.0.1/24 <-> sn1 192.168.1.2/24: "
        "ping 192.168.0.2 (out sn0, in sn1), ping 192.168.1.1 (out sn1, in sn0)"
    )


def test_other_host_numbers_name_the_hosts_that_answer(host: Host, snull: LoadSnull) -> None:
    # "You can use completely different numbers as long as this relationship applies":
    # remote0 has local1's host part (7), remote1 has local0's (5).
    drv = snull(up=False, configure=1, addr0="10.0.0.5/24", addr1="10.0.1.7/24")
    desc = drv.describe()
    assert "ping 10.0.0.7 (out sn0, in sn1)" in desc, desc
    assert "ping 10.0.1.5 (out sn1, in sn0)" in desc, desc


def test_a_netmask_is_shown_as_a_prefix(host: Host, snull: LoadSnull) -> None:
    drv = snull(
        up=False, configure=1, addr0="192.168.0.1/255.255.255.0", addr1="192.168.1.2/255.255.255.0"
    )
    assert drv.describe().startswith("sn0 192.168.0.1/24 <-> sn1 192.168.1.2/24: ping 192.168.0.2")


@pytest.mark.parametrize(
    ("addr0", "addr1", "says"),
    [
        ("192.168.0.1", "192.168.1.2", "has a /32 prefix"),  # no route to remote0 at all
        ("10.0.0.5/16", "10.0.1.7/16", "has a /16 prefix"),  # the flipped bit is a host bit
        ("fd00::1/64", "198.18.1.2/24", "is not IPv4"),
        ("10.0.0.5/24", "10.0.5.7/24", "do not form a snull pair"),  # not one bit apart
        ("10.0.0.1/24", "10.0.1.1/24", "have the same host part"),  # remote0 would be local0
        ("10.0.0.1/24", "10.0.1.0/24", "do not form a snull pair"),  # remote0 the network address
    ],
)
def test_a_pair_that_cannot_work_is_refused_before_anything_exists(
    host: Host, snull: LoadSnull, addr0: str, addr1: str, says: str
) -> None:
    with pytest.raises(ParameterError) as info:
        snull(up=False, configure=1, addr0=addr0, addr1=addr1)
    msg = str(info.value)
    assert says in msg and "addr0=198.18.0.1/24 addr1=198.18.1.2/24" in msg, msg
    assert not host.devices


def test_without_configure_the_addresses_are_not_used(host: Host, snull: LoadSnull) -> None:
    drv = snull(up=False, configure=0, addr0="10.0.0.1/24", addr1="10.0.1.1/24")
    assert [d.name for d in drv.devices] == ["sn0", "sn1"]


def test_the_daemon_checks_the_pair_before_the_driver_exists() -> None:
    from netdrv_core import Host, ParameterError
    from netdrv_core.daemon import Daemon
    from netdrv_core.plugins import PluginManager

    host = Host()
    pm = PluginManager(autoload=False, extra=["netdrv_snull"])
    daemon = Daemon(host=host, pm=pm, watchdog=None, exit_when_empty=False)
    try:
        with pytest.raises(ParameterError, match="/16 prefix"):
            daemon.load("snull", ["addr0=10.0.0.1/16", "addr1=10.0.1.2/16"])
        assert not host.devices and "snull" not in daemon.drivers
    finally:
        host.close()
        host.loop.close()
