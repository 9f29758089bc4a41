"""NetDevice and the Host registry: naming, registration, admin state, MTU, config, ioctls."""

from __future__ import annotations

import errno

import pytest
from fakedev import ScriptedOps, make_dev, mem

from netdrv_core import (
    IFF_ALLMULTI,
    IFF_PROMISC,
    IFF_RUNNING,
    IFF_UP,
    SIOCDEVPRIVATE,
    DriverError,
    Host,
    InvalidNameError,
    NameInUseError,
    NetDevice,
    NetdrvError,
    alloc_etherdev,
    alloc_netdev,
    dev_get_by_name,
    dev_get_stats,
    ether_setup,
    netdev_priv,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_queue_stopped,
    netif_running,
    register_netdev,
    unregister_netdev,
)
from netdrv_core.netdevice import NETREG_REGISTERED, NETREG_UNREGISTERED, NetDeviceStats


class Priv:
    def __init__(self) -> None:
        self.x = 42


def test_alloc_netdev_runs_setup_and_makes_priv() -> None:
    seen = []
    dev = alloc_netdev(Priv, "x%d", lambda d: seen.append(d))
    assert seen == [dev] and isinstance(netdev_priv(dev), Priv) and dev.priv.x == 42
    dev2 = alloc_netdev(8, "x%d", ether_setup)
    assert dev2.priv == bytearray(8)
    assert alloc_netdev(None, "x%d", ether_setup).priv is None


def test_alloc_etherdev() -> None:
    dev = alloc_etherdev(Priv)
    assert dev.name == "eth%d" and dev.type == 1 and dev.mtu == 1500 and dev.addr_len == 6


@pytest.mark.parametrize("name", ["", "a" * 16])
def test_alloc_netdev_rejects_bad_lengths(name: str) -> None:
    with pytest.raises(ValueError, match=r"1\.\.15 characters"):
        alloc_netdev(None, name, ether_setup)


def test_percent_d_picks_the_lowest_free_number(host: Host) -> None:
    a, _ = make_dev(host, "sn%d", up=False)
    b, _ = make_dev(host, "sn%d", up=False)
    assert (a.name, b.name) == ("sn0", "sn1")
    host.unregister_netdev(a)
    c, _ = make_dev(host, "sn%d", up=False)
    assert c.name == "sn0"
    d, _ = make_dev(host, "sn%d", up=False)
    assert d.name == "sn2"
    assert a.ifindex < b.ifindex < c.ifindex < d.ifindex  # ifindexes are never reused


def test_name_clash_is_a_clear_error(host: Host) -> None:
    a, _ = make_dev(host, "dup0", up=False)
    dev, _ = make_dev(None, "dup0")
    with pytest.raises(NameInUseError) as ei:
        host.register_netdev(dev)
    msg = str(ei.value)
    assert "'dup0'" in msg and "already registered" in msg and "%d" in msg
    assert ei.value.errno == errno.EEXIST
    assert host.dev_get_by_name("dup0") is a and dev.host is None


def test_name_used_by_the_stack_is_refused(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host.attachment, "names_in_use", lambda: {"eth0", "sn0"})
    dev, _ = make_dev(None, "eth0")
    with pytest.raises(NameInUseError, match="ip link del eth0"):
        host.register_netdev(dev)
    dev2, _ = make_dev(host, "sn%d", up=False)
    assert dev2.name == "sn1"


@pytest.mark.parametrize("name", ["has space", "a/b", "a:b", ".", ".."])
def test_invalid_names_are_rejected(host: Host, name: str) -> None:
    dev, _ = make_dev(None, "ok")
    dev.name = name
    with pytest.raises(ValueError, match="invalid interface name") as exc:
        host.register_netdev(dev)
    assert host.devices == {}
    # A NetdrvError: the daemon answers `netdrv load … name=…` with this message, not with
    # "failed to initialise: ValueError".
    assert isinstance(exc.value, InvalidNameError) and isinstance(exc.value, NetdrvError)


def test_a_load_whose_driver_picks_a_bad_name_says_so(host: Host) -> None:
    from netdrv_core.daemon import Daemon
    from netdrv_core.plugins import PluginManager

    daemon = Daemon(host=host, pm=PluginManager(autoload=False, extra=["netdrv_snull"]),
                    watchdog=None, exit_when_empty=False)  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        import netdrv_snull.driver as snull

        real = snull.alloc_netdev
        mp.setattr(snull, "alloc_netdev", lambda priv, name, setup: real(priv, "x" * 16, setup))
        with pytest.raises(InvalidNameError, match=r"invalid interface name 'x{16}'"):
            daemon.load("snull", ["configure=0"])
    assert host.devices == {} and not daemon.drivers


def test_pattern_with_two_percents_is_rejected(host: Host) -> None:
    with pytest.raises(ValueError, match="exactly one %d"):
        host.dev_alloc_name("a%d%d")


def test_register_twice_is_refused(host: Host) -> None:
    dev, _ = make_dev(host, up=False)
    with pytest.raises(DriverError, match="already registered"):
        host.register_netdev(dev)


def test_ndo_init_failure_leaves_nothing_registered(host: Host) -> None:
    dev, ops = make_dev(None, "bad%d")
    ops.init = lambda d: -errno.ENODEV  # type: ignore[method-assign]
    with pytest.raises(DriverError, match="ndo_init failed: ENODEV"):
        host.register_netdev(dev)
    assert host.devices == {} and dev.host is None


def test_unregister_removes_and_closes(host: Host) -> None:
    dev, ops = make_dev(host, "rm%d")
    assert host.dev_get_by_name("rm0") is dev and dev.reg_state == NETREG_REGISTERED
    uninit = []
    ops.uninit = lambda d: uninit.append(d)  # type: ignore[method-assign]
    host.unregister_netdev(dev)
    assert host.dev_get_by_name("rm0") is None
    assert ops.calls[-1] == "stop" and not dev.is_up
    assert uninit == [dev] and dev.reg_state == NETREG_UNREGISTERED
    assert "rm0" not in mem(host).rx
    with pytest.raises(DriverError, match="not registered"):
        host.unregister_netdev(dev)


def test_module_level_api_uses_the_current_host(host: Host) -> None:
    dev, _ = make_dev(None, "cur%d")
    with pytest.raises(RuntimeError, match="no current netdrv host"):
        register_netdev(dev)
    with host.as_current():
        register_netdev(dev)
        assert dev_get_by_name("cur0") is dev
    assert dev_get_by_name("cur0", host) is dev
    assert host.dev_get_by_index(dev.ifindex) is dev and host.dev_get_by_index(999) is None
    unregister_netdev(dev)
    assert dev_get_by_name("cur0", host) is None


def test_open_and_stop_are_idempotent(host: Host) -> None:
    dev, ops = make_dev(host, up=False)
    assert not netif_running(dev) and not netif_queue_stopped(dev)  # zeroed, as Linux's
    assert host.dev_open(dev) == 0
    assert host.dev_open(dev) == 0
    assert ops.calls.count("open") == 1
    assert dev.flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING and dev.operstate == "up"
    assert not netif_queue_stopped(dev)
    assert host.dev_close(dev) == 0
    assert host.dev_close(dev) == 0
    assert ops.calls.count("stop") == 1 and dev.operstate == "down" and not dev.is_up
    assert netif_queue_stopped(dev)  # by ScriptedOps.stop; the core stops no queue


def test_open_failure_leaves_the_device_down(host: Host) -> None:
    dev, ops = make_dev(host, up=False)
    ops.open_ret = -errno.EAGAIN
    assert host.dev_open(dev) == -errno.EAGAIN
    assert not dev.is_up
    with pytest.raises(DriverError, match="open failed"):
        mem(host).up(dev)


def test_open_raising_oserror_returns_its_errno(host: Host) -> None:
    dev, ops = make_dev(host, up=False)

    def boom(d: object) -> int:
        raise OSError(errno.EBUSY, "busy")

    ops.open = boom  # type: ignore[method-assign, assignment]
    assert host.dev_open(dev) == -errno.EBUSY and not dev.is_up


def test_validate_addr_runs_before_open(host: Host) -> None:
    from netdrv_core import eth_validate_addr

    dev, ops = make_dev(host, up=False, mac=b"\x01\x00\x00\x00\x00\x01")  # multicast: invalid
    ops.validate_addr = eth_validate_addr  # type: ignore[method-assign, assignment]
    assert host.dev_open(dev) == -errno.EADDRNOTAVAIL
    assert "open" not in ops.calls


def test_carrier_and_operstate(host: Host) -> None:
    dev, _ = make_dev(host)
    assert netif_carrier_ok(dev)
    netif_carrier_off(dev)
    assert not netif_carrier_ok(dev) and dev.operstate == "lowerlayerdown"
    from netdrv_core.netdevice import IFF_LOWER_UP

    assert not host.link_flags(dev) & IFF_LOWER_UP
    netif_carrier_on(dev)
    assert dev.operstate == "up" and host.link_flags(dev) & IFF_LOWER_UP


def test_dev_set_mtu_honours_limits_and_change_mtu(host: Host) -> None:
    dev, ops = make_dev(host)
    dev.min_mtu, dev.max_mtu = 100, 9000
    assert host.dev_set_mtu(dev, 99) == -errno.EINVAL
    assert host.dev_set_mtu(dev, 9001) == -errno.EINVAL
    assert dev.mtu == 1500
    assert host.dev_set_mtu(dev, 9000) == 0 and dev.mtu == 9000
    assert host.dev_set_mtu(dev, 100) == 0 and dev.mtu == 100
    ops.mtu_refuse = True
    assert host.dev_set_mtu(dev, 1400) == -errno.EINVAL and dev.mtu == 100
    assert host.dev_set_mtu(dev, 100) == 0  # unchanged: not even asked


def test_mtu_change_is_reported_to_the_attachment(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev, _ = make_dev(host)
    seen = []
    monkeypatch.setattr(host.attachment, "mtu_changed", lambda d: seen.append(d.mtu))
    host.dev_set_mtu(dev, 1400)
    assert seen == [1400]


def test_set_mac_address_refused_while_up(host: Host) -> None:
    dev, _ = make_dev(host)
    new = b"\x02\x11\x22\x33\x44\x55"
    assert host.dev_set_mac_address(dev, new) == -errno.EBUSY
    host.dev_close(dev)
    assert host.dev_set_mac_address(dev, b"\x01\x00\x00\x00\x00\x00") == -errno.EADDRNOTAVAIL
    assert host.dev_set_mac_address(dev, bytes(6)) == -errno.EADDRNOTAVAIL
    assert host.dev_set_mac_address(dev, new) == 0 and dev.dev_addr == new


def test_live_address_change_allowed_when_declared(host: Host) -> None:
    from netdrv_core.netdevice import IFF_LIVE_ADDR_CHANGE

    dev, _ = make_dev(host)
    dev.priv_flags |= IFF_LIVE_ADDR_CHANGE
    assert host.dev_set_mac_address(dev, b"\x02\x00\x00\x00\x00\x99") == 0


def test_set_config_default_is_not_supported(host: Host) -> None:
    dev, _ = make_dev(host)
    assert host.dev_set_config(dev, {"irq": 5}) == -errno.EOPNOTSUPP


def test_default_do_ioctl_is_not_supported(host: Host) -> None:
    dev, _ = make_dev(host)
    assert host.dev_ioctl(dev, SIOCDEVPRIVATE) == -errno.EOPNOTSUPP


def test_set_rx_mode_called_only_when_something_changes(host: Host) -> None:
    dev, ops = make_dev(host)
    host.dev_set_rx_mode(dev, promisc=True)
    assert ops.rx_mode_calls == 1 and dev.flags & IFF_PROMISC
    host.dev_set_rx_mode(dev, promisc=True)
    assert ops.rx_mode_calls == 1
    host.dev_set_rx_mode(dev, allmulti=True)
    assert ops.rx_mode_calls == 2 and dev.flags & IFF_ALLMULTI
    host.dev_set_rx_mode(dev, promisc=False, allmulti=False)
    assert ops.rx_mode_calls == 3 and not dev.flags & (IFF_PROMISC | IFF_ALLMULTI)
    group = b"\x01\x00\x5e\x00\x00\x01"
    host.dev_mc_add(dev, group)
    assert ops.rx_mode_calls == 4 and dev.mc_list == [group]
    host.dev_mc_add(dev, group)
    assert ops.rx_mode_calls == 4
    host.dev_set_rx_mode(dev, mc_list=[group])
    assert ops.rx_mode_calls == 4
    host.dev_mc_del(dev, group)
    assert ops.rx_mode_calls == 5 and dev.mc_list == []
    host.dev_mc_del(dev, group)
    assert ops.rx_mode_calls == 5


def test_stats_snapshot_and_core_drops(host: Host) -> None:
    dev, _ = make_dev(host)
    dev.stats.rx_dropped = 2
    dev.core_stats.rx_backlog_drops = 3
    dev.core_stats.rx_down_drops = 4
    dev.core_stats.tx_driver_faults = 5
    s = dev_get_stats(dev)
    assert s.rx_dropped == 9 and s.tx_dropped == 5
    assert dev.stats.rx_dropped == 2  # a copy, not the driver's counters
    assert set(NetDeviceStats().as_dict()) >= {"rx_packets", "tx_errors", "rx_nohandler"}


def test_lifecycle_notifications(host: Host) -> None:
    events: list[tuple[str, str]] = []
    host.notify = lambda ev, d: events.append((ev, d.name))
    dev, _ = make_dev(host, "ev%d")
    netif_carrier_off(dev)
    host.unregister_netdev(dev)
    assert events == [
        ("registered", "ev0"), ("up", "ev0"), ("carrier", "ev0"), ("down", "ev0"),
        ("unregistered", "ev0"),
    ]  # fmt: skip


def test_a_raising_notify_hook_does_not_break_registration(host: Host) -> None:
    def bad(ev: str, d: object) -> None:
        raise RuntimeError("hook bug")

    host.notify = bad
    dev, _ = make_dev(host)
    assert host.dev_get_by_name(dev.name) is dev and dev.is_up


def test_ops_alias() -> None:
    dev = alloc_netdev(None, "a", ether_setup)
    ops = ScriptedOps()
    dev.ops = ops
    assert dev.netdev_ops is ops and dev.ops is ops


def test_set_rx_mode_waits_for_open_while_the_device_is_down(host: Host) -> None:
    # Linux's __dev_set_rx_mode: a device that is down has no filter to program (a driver
    # taken down by a fault in set_rx_mode is not called again); dev_open programs it.
    dev, ops = make_dev(host)
    host.dev_close(dev)
    calls = ops.rx_mode_calls
    host.dev_set_rx_mode(dev, promisc=True)
    assert ops.rx_mode_calls == calls and dev.flags & IFF_PROMISC
    assert host.dev_open(dev) == 0
    assert ops.rx_mode_calls == calls + 1
    host.dev_close(dev)
    host.dev_set_rx_mode(dev, promisc=False)
    assert host.dev_open(dev) == 0
    assert ops.rx_mode_calls == calls + 1  # nothing to program: the reset state


@pytest.mark.parametrize(("ret", "expected"), [(errno.ENODEV, -errno.ENODEV), (4096, -errno.EIO)])
def test_a_positive_return_is_a_failure_as_in_linux(host: Host, caplog, ret, expected) -> None:
    dev, ops = make_dev(host, "pos%d", up=False)
    ops.open_ret = ret  # `return errno.ENODEV`: the minus sign forgotten
    with caplog.at_level("WARNING", logger="netdrv.host"):
        assert host.dev_open(dev) == expected
        assert host.dev_open(dev) == expected
    assert not dev.is_up
    told = [r.getMessage() for r in caplog.records if "a positive number" in r.getMessage()]
    assert len(told) == 1, "said once per device and op"
    if ret == errno.ENODEV:
        assert "return -errno.ENODEV" in told[0]


def test_positive_returns_where_linux_gives_them_another_meaning(host: Host, caplog) -> None:
    """ndo_stop's return is ignored and ndo_set_rx_mode is void; ndo_set_features > 0 says
    the driver set dev->features itself (__netdev_update_features)."""
    from netdrv_core.netdevice import NETIF_F_RXCSUM, NETIF_F_SG

    dev, ops = make_dev(host, "pos%d")

    class Positive(type(ops)):  # type: ignore[misc]
        def stop(self, dev: NetDevice) -> int:
            super().stop(dev)
            return 1

        def set_rx_mode(self, dev: NetDevice) -> int:  # type: ignore[override]
            return 1

        def set_features(self, dev: NetDevice, features: int) -> int:
            dev.features = features & ~NETIF_F_SG  # keeps SG off whatever was asked
            return 1

    dev.netdev_ops = Positive()
    dev.hw_features |= NETIF_F_SG | NETIF_F_RXCSUM
    dev.wanted_features |= NETIF_F_SG | NETIF_F_RXCSUM
    with caplog.at_level("WARNING", logger="netdrv.host"):
        assert host.netdev_update_features(dev) == 1
        assert dev.features & NETIF_F_RXCSUM and not dev.features & NETIF_F_SG
        host.dev_set_rx_mode(dev, promisc=True)
        assert host.dev_close(dev) == 0
    assert not [r for r in caplog.records if "positive number" in r.getMessage()]


def test_the_positive_return_warning_is_said_again_for_a_new_device_of_that_name(
    host: Host, caplog
) -> None:
    with caplog.at_level("WARNING", logger="netdrv.host"):
        for _ in range(2):  # unregistered, edited (still wrong), registered again
            dev, ops = make_dev(host, "again0", up=False)
            ops.open_ret = errno.EBUSY
            assert host.dev_open(dev) == -errno.EBUSY
            host.unregister_netdev(dev)
    told = [r for r in caplog.records if "return -errno.EBUSY" in r.getMessage()]
    assert len(told) == 2
