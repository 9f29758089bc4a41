"""``set_link_ksettings`` (ethtool -s speed/duplex/autoneg) and private flags, checked by the core."""

from __future__ import annotations

import errno
from dataclasses import replace
from typing import Any

import pytest
from fakedev import make_dev

from netdrv_core import Host, NetDevice
from netdrv_core.control import validate_request
from netdrv_core.ethtool import (
    DUPLEX_FULL,
    DUPLEX_HALF,
    DUPLEX_UNKNOWN,
    SPEED_UNKNOWN,
    EthtoolError,
    EthtoolOps,
    LinkSettings,
    ethtool_get_priv_flags,
    ethtool_report,
    ethtool_request,
    ethtool_set_link_ksettings,
    ethtool_set_priv_flags,
)

NAMES = ["legacy-rx", "loopback-test", "disable-fw-lldp"]


class LinkAndFlags(EthtoolOps):
    """Link settings and private flags in memory, with a call log; ``ret`` for the set ops."""

    def __init__(self) -> None:
        self.link = LinkSettings(speed=1000, duplex=DUPLEX_FULL, autoneg=True, port="tp",
                                 extra={"phy": 3})  # fmt: skip
        self.flags = 1 << 0 | 1 << 31  # bit 31 has no name: kept as it is
        self.calls: list[tuple[str, Any]] = []
        self.ret: int | None = 0

    def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
        return replace(self.link)

    def set_link_ksettings(self, dev: NetDevice, ks: LinkSettings) -> int | None:
        self.calls.append(("set_link_ksettings", ks))
        if not self.ret:
            self.link = ks
        return self.ret

    def get_priv_flag_strings(self, dev: NetDevice) -> list[str]:
        return list(NAMES)

    def get_priv_flags(self, dev: NetDevice) -> int:
        return self.flags

    def set_priv_flags(self, dev: NetDevice, flags: int) -> int | None:
        self.calls.append(("set_priv_flags", flags))
        if not self.ret:
            self.flags = flags
        return self.ret


@pytest.fixture
def dev(host: Host) -> NetDevice:
    d, _ = make_dev(host)
    d.ethtool_ops = LinkAndFlags()
    return d


def _ops(dev: NetDevice) -> LinkAndFlags:
    return dev.ethtool_ops  # type: ignore[return-value]


def _refused(err: int, match: str, fn: Any, *args: Any) -> EthtoolError:
    with pytest.raises(EthtoolError, match=match) as info:
        fn(*args)
    assert info.value.errno == err, (info.value, err)
    return info.value


# -- set_link_ksettings ------------------------------------------------------------------------
@pytest.mark.parametrize("ops", [None, EthtoolOps()], ids=["no-ethtool_ops", "base-ops"])
def test_without_set_link_ksettings_it_is_eopnotsupp(host: Host, ops: EthtoolOps | None) -> None:
    d, _ = make_dev(host)
    d.ethtool_ops = ops
    _refused(errno.EOPNOTSUPP, r"^t0 does not support changing link settings \(speed, duplex, "
             r"autoneg\)$", ethtool_set_link_ksettings, host, d, {"speed": 100})  # fmt: skip
    _refused(errno.EOPNOTSUPP, "does not support changing link settings", ethtool_request, host,
             d, "settings", {"autoneg": True})  # fmt: skip


def test_only_the_fields_given_change(host: Host, dev: NetDevice) -> None:
    ops = _ops(dev)
    forced = {"speed": 100, "duplex": DUPLEX_HALF, "autoneg": False}
    assert ethtool_set_link_ksettings(host, dev, forced) is True
    assert ops.calls == [("set_link_ksettings", LinkSettings(
        speed=100, duplex=DUPLEX_HALF, autoneg=False, port="tp", extra={"phy": 3}))]  # fmt: skip
    assert ethtool_set_link_ksettings(host, dev, {"duplex": DUPLEX_FULL}) is True
    assert ops.calls[-1][1] == LinkSettings(speed=100, duplex=DUPLEX_FULL, autoneg=False,
                                            port="tp", extra={"phy": 3})  # fmt: skip
    result, changed = ethtool_request(host, dev, "settings", {"speed": 10})
    assert changed is True
    assert (result["speed"], result["duplex"], result["autoneg"]) == (10, "full", False)


def test_a_request_that_changes_nothing_does_not_reach_the_driver(
    host: Host, dev: NetDevice
) -> None:
    assert ethtool_set_link_ksettings(host, dev, {"speed": 1000, "autoneg": True}) is False
    assert ethtool_set_link_ksettings(host, dev, {}) is False
    _ops(dev).link = replace(_ops(dev).link, autoneg=1)  # type: ignore[arg-type]
    assert ethtool_set_link_ksettings(host, dev, {"autoneg": True}) is False
    assert _ops(dev).calls == []


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"speed": 0}, "speed must be a positive number of Mbit/s, not 0"),
        ({"speed": -1}, "speed must be a positive number"),
        ({"speed": 1 << 32}, "speed must be a positive number"),
        ({"speed": "100"}, "speed must be a positive number of Mbit/s, not '100'"),
        ({"speed": True}, "speed must be a positive number"),
        ({"duplex": 2}, r"duplex must be 0 \(half\) or 1 \(full\), not 2"),
        ({"duplex": "full"}, "duplex must be 0"),
        ({"autoneg": 1}, "autoneg must be true or false, not 1"),
        ({"port": "mii"}, r"link settings have no settable field 'port' \(settable: speed, "
                          r"duplex, autoneg\)"),
        ({"speed": 100}, "with autoneg on, speed and duplex are negotiated "
                         r"\(now 1000Mb/s full\); choosing them would restrict the advertised "
                         "link modes"),
        ({"duplex": DUPLEX_HALF, "autoneg": True}, "force them with autoneg off"),
    ],
)  # fmt: skip
def test_a_bad_request_is_einval_before_the_driver(
    host: Host, dev: NetDevice, changes: dict[str, Any], match: str
) -> None:
    _refused(errno.EINVAL, match, ethtool_set_link_ksettings, host, dev, changes)
    assert _ops(dev).calls == []


def test_autoneg_off_needs_a_known_speed_and_duplex(host: Host, dev: NetDevice) -> None:
    ops = _ops(dev)
    ops.link = LinkSettings(speed=SPEED_UNKNOWN, duplex=DUPLEX_UNKNOWN, autoneg=True)
    _refused(errno.EINVAL, "t0: autoneg off needs a speed and a duplex, and the link reports "
             r"speed unknown, duplex unknown: give them \(speed N duplex half\|full autoneg "
             r"off\)", ethtool_set_link_ksettings, host, dev, {"autoneg": False})  # fmt: skip
    _refused(errno.EINVAL, "duplex unknown", ethtool_set_link_ksettings, host, dev,
             {"autoneg": False, "speed": 100})  # fmt: skip
    assert ops.calls == []
    full = {"autoneg": False, "speed": 100, "duplex": DUPLEX_FULL}
    assert ethtool_set_link_ksettings(host, dev, full) is True


def test_the_drivers_refusal_names_the_mode(host: Host, dev: NetDevice) -> None:
    _ops(dev).ret = -errno.EINVAL
    exc = _refused(errno.EINVAL, "^t0: cannot set link settings", ethtool_set_link_ksettings,
                   host, dev, {"speed": 2500, "autoneg": False})  # fmt: skip
    assert str(exc) == ("t0: cannot set link settings (speed 2500Mb/s, duplex full, autoneg "
                        "off): Invalid argument")  # fmt: skip
    assert _ops(dev).link.speed == 1000


def test_a_raising_set_link_ksettings_is_a_driver_fault(host: Host, dev: NetDevice) -> None:
    def boom(d: NetDevice, ks: LinkSettings) -> int:
        raise RuntimeError("bug")

    _ops(dev).set_link_ksettings = boom  # type: ignore[method-assign]
    _refused(errno.EIO, "raised in set_link_ksettings: RuntimeError: bug",
             ethtool_set_link_ksettings, host, dev, {"speed": 100, "autoneg": False})  # fmt: skip
    dev.host.loop.run_until_idle()
    assert not dev.is_up, "the faulting device is taken down"


def test_the_protocol_takes_a_settings_change() -> None:
    validate_request({"cmd": "ethtool", "dev": "sn0", "op": "settings",
                      "set": {"speed": 100, "duplex": 0, "autoneg": False}})  # fmt: skip
    validate_request({"cmd": "ethtool", "dev": "sn0", "op": "priv_flags",
                      "set": {"legacy-rx": True}})  # fmt: skip


# -- private flags -------------------------------------------------------------------------------
def test_priv_flags_by_name_in_bit_order(host: Host, dev: NetDevice) -> None:
    assert ethtool_get_priv_flags(host, dev) == {"legacy-rx": True, "loopback-test": False,
                                                 "disable-fw-lldp": False}  # fmt: skip
    assert list(ethtool_get_priv_flags(host, dev)) == NAMES
    changes = {"legacy-rx": False, "disable-fw-lldp": True}
    assert ethtool_set_priv_flags(host, dev, changes) is True
    assert _ops(dev).calls == [("set_priv_flags", 1 << 2 | 1 << 31)]  # the unnamed bit kept
    assert ethtool_set_priv_flags(host, dev, {"disable-fw-lldp": True}) is False
    assert len(_ops(dev).calls) == 1
    result, changed = ethtool_request(host, dev, "priv_flags", {"loopback-test": True})
    assert changed is True and result == {"priv_flags": {
        "legacy-rx": False, "loopback-test": True, "disable-fw-lldp": True}}  # fmt: skip
    assert ethtool_request(host, dev, "priv_flags") == (result, None)
    assert ethtool_request(host, dev, "drvinfo")[0]["n_priv_flags"] == 3
    assert ethtool_report(dev)["priv_flags"] == result["priv_flags"]


def test_an_unknown_flag_is_einval_listing_the_names(host: Host, dev: NetDevice) -> None:
    _refused(errno.EINVAL, "^t0: unknown private flag 'legacy_rx'; the host has: legacy-rx, "
             "loopback-test, disable-fw-lldp$", ethtool_set_priv_flags, host, dev,
             {"legacy-rx": False, "legacy_rx": True})  # fmt: skip
    _refused(errno.EINVAL, "legacy-rx must be true or false, not 1", ethtool_set_priv_flags,
             host, dev, {"legacy-rx": 1})  # fmt: skip
    assert _ops(dev).calls == []


def test_priv_flag_ops_a_driver_lacks(host: Host) -> None:
    d, _ = make_dev(host)
    d.ethtool_ops = EthtoolOps()
    _refused(errno.EOPNOTSUPP, "^t0 does not support private flags$", ethtool_get_priv_flags,
             host, d)  # fmt: skip
    _refused(errno.EOPNOTSUPP, "does not support changing private flags", ethtool_set_priv_flags,
             host, d, {"x": True})  # fmt: skip
    assert ethtool_request(host, d, "drvinfo")[0]["n_priv_flags"] == 0
    assert "priv_flags" not in ethtool_report(d)

    class ReadOnly(EthtoolOps):
        def get_priv_flag_strings(self, dev: NetDevice) -> list[str]:
            return ["a"]

        def get_priv_flags(self, dev: NetDevice) -> int:
            return 1

    d.ethtool_ops = ReadOnly()
    assert ethtool_get_priv_flags(host, d) == {"a": True}
    _refused(errno.EOPNOTSUPP, "does not support changing private flags", ethtool_set_priv_flags,
             host, d, {"a": False})  # fmt: skip

    class NoNames(EthtoolOps):  # Linux needs the string set too
        def get_priv_flags(self, dev: NetDevice) -> int:
            return 1

    d.ethtool_ops = NoNames()
    _refused(errno.EOPNOTSUPP, "does not support private flags", ethtool_get_priv_flags, host, d)


@pytest.mark.parametrize(
    ("names", "flags", "match"),
    [
        (["a", "a"], 0, "get_priv_flag_strings returned"),
        (["a", 1], 0, "get_priv_flag_strings returned"),
        (["a", ""], 0, "get_priv_flag_strings returned"),
        ("ab", 0, "not a list of up to 32 distinct names"),
        ([f"f{i}" for i in range(33)], 0, "get_priv_flag_strings returned"),
        (["a"], -1, "get_priv_flags returned -1, not an integer 0..4294967295"),
        (["a"], 1 << 32, "get_priv_flags returned"),
        (["a"], True, "get_priv_flags returned True"),
        (["a"], "1", "get_priv_flags returned '1'"),
    ],
)  # fmt: skip
def test_garbage_from_the_priv_flag_ops_is_eio(
    host: Host, dev: NetDevice, names: Any, flags: Any, match: str
) -> None:
    ops = _ops(dev)
    ops.get_priv_flag_strings = lambda d: names  # type: ignore[method-assign]
    ops.flags = flags
    _refused(errno.EIO, match, ethtool_get_priv_flags, host, dev)
    _refused(errno.EIO, match, ethtool_set_priv_flags, host, dev, {"a": True})
    assert "error" in ethtool_report(dev)["priv_flags"]  # the rest of the report still works
    assert ops.calls == []


def test_the_drivers_refusal_of_priv_flags(host: Host, dev: NetDevice) -> None:
    _ops(dev).ret = -errno.EBUSY
    _refused(errno.EBUSY, "^t0: cannot set private flags: Device or resource busy$",
             ethtool_set_priv_flags, host, dev, {"loopback-test": True})  # fmt: skip
    assert ethtool_get_priv_flags(host, dev)["loopback-test"] is False
