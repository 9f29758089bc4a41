"""ethtool get/set ops: the core checks requests as Linux's ethnl does; snull's TX ring is its pool."""

from __future__ import annotations

import errno
from dataclasses import replace
from typing import Any

import pytest
from fakedev import LoadSnull, make_dev, mem
from frames import ETH_P_IP, eth_frame, udp_packet

from netdrv_core import Host, NetDevice, netif_queue_stopped
from netdrv_core.control import ProtocolError, validate_request
from netdrv_core.ethtool import (
    Channels,
    Coalesce,
    EthtoolError,
    EthtoolOps,
    LinkSettings,
    PauseParam,
    RingParam,
    ethtool_get,
    ethtool_get_msglevel,
    ethtool_nway_reset,
    ethtool_report,
    ethtool_request,
    ethtool_set,
    ethtool_set_msglevel,
    ethtool_supports,
)


class FullEthtool(EthtoolOps):
    """Every tuning op, with state and a call log; ``ret`` is what the set ops return."""

    supported_coalesce_params = frozenset({"rx_coalesce_usecs", "use_adaptive_rx_coalesce"})

    def __init__(self) -> None:
        self.ring = RingParam(rx_max_pending=4096, tx_max_pending=1024, rx_pending=256,
                              tx_pending=128)  # fmt: skip
        self.coalesce = Coalesce(rx_coalesce_usecs=3)
        self.channels = Channels(max_combined=8, max_other=1, combined_count=4, other_count=1)
        self.pause = PauseParam()
        self.level = 0
        self.calls: list[tuple[str, Any]] = []
        self.ret: int | None = 0
        self.raise_in = ""

    def _op(self, name: str, value: Any) -> int | None:
        self.calls.append((name, value))
        if self.raise_in == name:
            raise RuntimeError(f"bug in {name}")
        return self.ret

    def get_ringparam(self, dev: NetDevice) -> RingParam:
        if self.raise_in == "get_ringparam":
            raise RuntimeError("bug in get_ringparam")
        return replace(self.ring)

    def set_ringparam(self, dev: NetDevice, ring: RingParam) -> int | None:
        ret = self._op("set_ringparam", ring)
        if not ret:
            self.ring = ring
        return ret

    def get_coalesce(self, dev: NetDevice) -> Coalesce:
        return replace(self.coalesce)

    def set_coalesce(self, dev: NetDevice, coalesce: Coalesce) -> int | None:
        self.coalesce = coalesce
        return self._op("set_coalesce", coalesce)

    def get_channels(self, dev: NetDevice) -> Channels:
        return replace(self.channels)

    def set_channels(self, dev: NetDevice, channels: Channels) -> int | None:
        self.channels = channels
        return self._op("set_channels", channels)

    def get_pauseparam(self, dev: NetDevice) -> PauseParam:
        return replace(self.pause)

    def set_pauseparam(self, dev: NetDevice, pause: PauseParam) -> int | None:
        self.pause = pause
        return self._op("set_pauseparam", pause)

    def get_msglevel(self, dev: NetDevice) -> int:
        return self.level

    def set_msglevel(self, dev: NetDevice, value: int) -> None:
        self.level = value
        self._op("set_msglevel", value)

    def nway_reset(self, dev: NetDevice) -> int | None:
        return self._op("nway_reset", None)


@pytest.fixture
def full(host: Host) -> tuple[NetDevice, FullEthtool]:
    dev, _ = make_dev(host)
    ops = FullEthtool()
    dev.ethtool_ops = ops
    return dev, ops


def _refused(err: int, match: str, fn: Any, *args: Any) -> EthtoolError:
    with pytest.raises(EthtoolError, match=match) as info:
        fn(*args)
    assert info.value.errno == err, (info.value, err)
    return info.value


# -- ops a driver lacks ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "what"),
    [("ringparam", "ring parameters"), ("coalesce", "coalesce parameters"),
     ("channels", "channels"), ("pauseparam", "pause parameters")],
)  # fmt: skip
@pytest.mark.parametrize("ops", [None, EthtoolOps()], ids=["no-ethtool_ops", "base-ops"])
def test_an_op_the_driver_lacks_is_eopnotsupp(
    host: Host, kind: str, what: str, ops: EthtoolOps | None
) -> None:
    dev, _ = make_dev(host)
    dev.ethtool_ops = ops
    msg = f"{dev.name} does not support {what}"
    _refused(errno.EOPNOTSUPP, msg, ethtool_get, host, dev, kind)
    _refused(errno.EOPNOTSUPP, msg, ethtool_set, host, dev, kind, {})
    _refused(errno.EOPNOTSUPP, "does not support message levels", ethtool_set_msglevel, host,
             dev, 1)  # fmt: skip
    _refused(errno.EOPNOTSUPP, "does not support restarting autonegotiation",
             ethtool_nway_reset, host, dev)  # fmt: skip
    _refused(errno.EOPNOTSUPP, "does not support statistics", ethtool_request, host, dev,
             "stats")  # fmt: skip


def test_a_get_without_its_set_is_readable_but_not_settable(host: Host) -> None:
    class ReadOnly(EthtoolOps):
        def get_ringparam(self, dev: NetDevice) -> RingParam:
            return RingParam(tx_max_pending=4, tx_pending=4)

    dev, _ = make_dev(host)
    dev.ethtool_ops = ReadOnly()
    assert ethtool_supports(dev.ethtool_ops, "get_ringparam")
    assert not ethtool_supports(dev.ethtool_ops, "set_ringparam")
    assert ethtool_get(host, dev, "ringparam").tx_pending == 4
    _refused(errno.EOPNOTSUPP, "does not support ring parameters", ethtool_set, host, dev,
             "ringparam", {"tx_pending": 2})  # fmt: skip


# -- ring parameters -----------------------------------------------------------------------------
def test_ringparam_set_gets_the_whole_new_struct(full: tuple[NetDevice, FullEthtool]) -> None:
    dev, ops = full
    host = dev.host
    assert ethtool_set(host, dev, "ringparam", {"rx_pending": 4096, "tx_pending": 1}) is True
    ((name, ring),) = ops.calls
    assert name == "set_ringparam"
    assert ring == RingParam(rx_max_pending=4096, tx_max_pending=1024, rx_pending=4096,
                             tx_pending=1)  # fmt: skip
    result, changed = ethtool_request(host, dev, "ringparam")
    assert changed is None and result["rx_pending"] == 4096 and result["tx_pending"] == 1


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"rx_pending": 4097}, r"requested ring size exceeds maximum: rx_pending 4097 > "
                               r"rx_max_pending 4096$"),
        ({"tx_pending": 1025}, "tx_pending 1025 > tx_max_pending 1024"),
        ({"rx_mini_pending": 1}, r"rx_mini_pending 1 > rx_mini_max_pending 0 \(the device has "
                                 r"no such ring\)"),
        ({"rx_pending": -1}, "rx_pending must be an integer 0..4294967295, not -1"),
        ({"rx_pending": 1 << 32}, "must be an integer 0..4294967295"),
        ({"rx_pending": True}, "must be an integer"),
        ({"rx_max_pending": 9000}, "ring parameters have no settable field 'rx_max_pending'"),
    ],
)  # fmt: skip
def test_ringparam_out_of_range_is_einval_before_the_driver(
    full: tuple[NetDevice, FullEthtool], changes: dict[str, Any], match: str
) -> None:
    dev, ops = full
    _refused(errno.EINVAL, match, ethtool_set, dev.host, dev, "ringparam", changes)
    assert ops.calls == [] and ops.ring.rx_pending == 256


def test_a_request_that_changes_nothing_does_not_reach_the_driver(
    full: tuple[NetDevice, FullEthtool],
) -> None:
    dev, ops = full
    host = dev.host
    assert ethtool_set(host, dev, "ringparam", {"rx_pending": 256}) is False
    assert ethtool_set(host, dev, "coalesce", {"rx_coalesce_usecs": 3}) is False
    assert ethtool_set_msglevel(host, dev, 0) is False
    assert ops.calls == []


def test_a_driver_refusal_keeps_its_errno_and_the_device(
    full: tuple[NetDevice, FullEthtool],
) -> None:
    dev, ops = full
    ops.ret = -errno.EBUSY
    _refused(errno.EBUSY, r"^t0: cannot set ring parameters: Device or resource busy$",
             ethtool_set, dev.host, dev, "ringparam", {"tx_pending": 64})  # fmt: skip
    dev.host.loop.run_until_idle()
    assert dev.is_up and ops.ring.tx_pending == 128


def test_a_raising_set_op_is_a_driver_fault(
    full: tuple[NetDevice, FullEthtool], caplog: pytest.LogCaptureFixture
) -> None:
    dev, ops = full
    ops.raise_in = "set_ringparam"
    _refused(errno.EIO, r"raised in set_ringparam: RuntimeError: bug in set_ringparam \(the "
             r"device was taken down", ethtool_set, dev.host, dev, "ringparam",
             {"tx_pending": 64})  # fmt: skip
    dev.host.loop.run_until_idle()
    assert not dev.is_up, "the faulting device is taken down"
    assert any("raised in set_ringparam" in r.getMessage() for r in caplog.records)


def test_a_raising_get_op_is_a_driver_fault(full: tuple[NetDevice, FullEthtool]) -> None:
    dev, ops = full
    ops.raise_in = "get_ringparam"
    _refused(errno.EIO, r"raised in get_ringparam: RuntimeError: bug in get_ringparam \(the "
             r"device was taken down", ethtool_get, dev.host, dev, "ringparam")  # fmt: skip
    dev.host.loop.run_until_idle()
    assert not dev.is_up
    # status still answers, with the error in place of the ring parameters
    rep = ethtool_report(dev)
    assert "bug in get_ringparam" in rep["ringparam"]["error"] and rep["coalesce"]


def test_a_get_op_returning_the_wrong_type_is_eio(host: Host) -> None:
    class Wrong(EthtoolOps):
        def get_channels(self, dev: NetDevice) -> Any:
            return {"combined_count": 1}

    dev, _ = make_dev(host)
    dev.ethtool_ops = Wrong()
    _refused(errno.EIO, "get_channels returned .* not a Channels", ethtool_get, host, dev,
             "channels")  # fmt: skip


# -- coalesce, channels, pause, msglevel, nway_reset -------------------------------------------------
def test_coalesce_only_the_supported_parameters(full: tuple[NetDevice, FullEthtool]) -> None:
    dev, ops = full
    host = dev.host
    err = _refused(errno.EOPNOTSUPP, "cannot modify an unsupported coalesce parameter: "
                   "tx_coalesce_usecs", ethtool_set, host, dev, "coalesce",
                   {"rx_coalesce_usecs": 10, "tx_coalesce_usecs": 10})  # fmt: skip
    assert "the driver supports: rx_coalesce_usecs, use_adaptive_rx_coalesce" in str(err)
    assert ops.calls == []
    assert ethtool_set(host, dev, "coalesce",
                       {"rx_coalesce_usecs": 10, "use_adaptive_rx_coalesce": True})  # fmt: skip
    _refused(errno.EINVAL, "use_adaptive_rx_coalesce must be true or false", ethtool_set, host,
             dev, "coalesce", {"use_adaptive_rx_coalesce": 1})  # fmt: skip
    result, _ = ethtool_request(host, dev, "coalesce")
    assert result == {
        "rx_coalesce_usecs": 10, "use_adaptive_rx_coalesce": True,  # supported
        "rx_max_coalesced_frames": None, "tx_coalesce_usecs": None,  # n/a
        "tx_max_coalesced_frames": None, "use_adaptive_tx_coalesce": None,
    }  # fmt: skip


def test_channels_within_maximums_and_never_without_rx_or_tx(
    full: tuple[NetDevice, FullEthtool],
) -> None:
    dev, ops = full
    host = dev.host
    _refused(errno.EINVAL, "requested channel count exceeds maximum: combined_count 9 > "
             "max_combined 8", ethtool_set, host, dev, "channels",
             {"combined_count": 9})  # fmt: skip
    _refused(errno.EINVAL, "rx_count 1 > max_rx 0", ethtool_set, host, dev, "channels",
             {"rx_count": 1})  # fmt: skip
    _refused(errno.EINVAL, "would result in no RX channel being configured", ethtool_set, host,
             dev, "channels", {"combined_count": 0})  # fmt: skip
    assert ops.calls == []
    assert ethtool_set(host, dev, "channels", {"combined_count": 2, "other_count": 0})
    assert ops.channels.combined_count == 2 and ops.channels.max_combined == 8


def test_pause_msglevel_and_nway_reset(full: tuple[NetDevice, FullEthtool]) -> None:
    dev, ops = full
    host = dev.host
    result, changed = ethtool_request(host, dev, "pauseparam", {"rx_pause": True})
    assert changed and result == {"autoneg": False, "rx_pause": True, "tx_pause": False}
    result, changed = ethtool_request(host, dev, "msglevel", {"msglevel": 0x7})
    assert changed and result == {"msglevel": 7} and ethtool_get_msglevel(host, dev) == 7
    _refused(errno.EINVAL, "msglevel must be an integer", ethtool_set_msglevel, host, dev, -1)
    ethtool_nway_reset(host, dev)
    ops.ret = -errno.EINVAL
    _refused(errno.EINVAL, "cannot restart autonegotiation: Invalid argument",
             ethtool_nway_reset, host, dev)  # fmt: skip
    assert [c[0] for c in ops.calls] == ["set_pauseparam", "set_msglevel", "nway_reset",
                                         "nway_reset"]  # fmt: skip
    settings, _ = ethtool_request(host, dev, "settings")
    assert settings["msglevel"] == 7
    rep = ethtool_report(dev)
    assert rep["msglevel"] == 7 and rep["pauseparam"]["rx_pause"] is True


def test_plain_settings_drvinfo_and_stats_of_a_minimal_driver(host: Host) -> None:
    dev, _ = make_dev(host)
    settings, _ = ethtool_request(host, dev, "settings")
    # No ethtool_ops at all (Linux's default_ethtool_ops, as slip's and ifb's): no speed,
    # duplex, autoneg or port, no get_link and no get_wol either: ethtool says "No data
    # available".
    assert settings == {"speed": None, "duplex": None, "autoneg": None, "port": None,
                        "link": None, "msglevel": None, "wol": None, "extra": {},
                        "errors": {}}  # fmt: skip
    dev.ethtool_ops = EthtoolOps()  # the base get_link: ethtool_op_get_link, the carrier
    assert ethtool_request(host, dev, "settings")[0]["link"] is True
    dev.ethtool_ops = None
    info, _ = ethtool_request(host, dev, "drvinfo")
    assert info["n_stats"] == 0
    rep = ethtool_report(dev)
    assert set(rep) == {"driver", "version", "bus_info", "link", "speed", "duplex", "stats"}
    assert (rep["speed"], rep["duplex"]) == (None, None)

    # A driver that has the op and does not know: SPEED_UNKNOWN, DUPLEX_UNKNOWN.
    class Unknown(EthtoolOps):
        def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
            return LinkSettings()

    dev.ethtool_ops = Unknown()
    settings, _ = ethtool_request(host, dev, "settings")
    assert (settings["speed"], settings["duplex"], settings["port"]) == (-1, "unknown", "other")
    assert (ethtool_report(dev)["speed"], ethtool_report(dev)["duplex"]) == (-1, "unknown")

    # Changing link settings needs both ops, as ethnl_set_linkmodes.
    class SetOnly(EthtoolOps):
        def set_link_ksettings(self, dev: NetDevice, ks: LinkSettings) -> int:
            raise AssertionError("not called without get_link_ksettings")

    dev.ethtool_ops = SetOnly()
    with pytest.raises(EthtoolError) as exc:
        ethtool_request(host, dev, "settings", {"autoneg": True})
    assert exc.value.errno == errno.EOPNOTSUPP


# -- the control protocol and the daemon -------------------------------------------------------------
@pytest.mark.parametrize(
    ("req", "match"),
    [
        ({"op": "ringparam"}, "'dev' must be a string"),
        ({"dev": "sn0", "op": "ring"}, "'op' must be one of settings, drvinfo"),
        ({"dev": "sn0", "op": "stats", "set": {}}, "'stats' takes no 'set'"),
        ({"dev": "sn0", "op": "ringparam", "set": {"tx_pending": "4"}}, "integers or booleans"),
        ({"dev": "sn0", "op": "ringparam", "set": [4]}, "integers or booleans"),
    ],
)
def test_the_protocol_checks_ethtool_requests(req: dict[str, Any], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        validate_request({"cmd": "ethtool", **req})
    validate_request({"cmd": "ethtool", "dev": "sn0", "op": "ringparam", "set": {"tx_pending": 4}})


def test_the_daemon_answers_with_the_result_or_the_errno(host: Host, snull: LoadSnull) -> None:
    from netdrv_core.daemon import Daemon

    d = Daemon(host=host, exit_when_empty=False, watchdog=None)
    snull()
    reply = d.handle({"cmd": "ethtool", "dev": "sn0", "op": "ringparam",
                      "set": {"tx_pending": 3}})  # fmt: skip
    assert reply == {"ok": True, "changed": True, "result": {
        "rx_max_pending": 0, "rx_mini_max_pending": 0, "rx_jumbo_max_pending": 0,
        "tx_max_pending": 65536, "rx_pending": 0, "rx_mini_pending": 0, "rx_jumbo_pending": 0,
        "tx_pending": 3}}  # fmt: skip
    reply = d.handle({"cmd": "ethtool", "dev": "sn0", "op": "channels"})
    assert reply == {"ok": False, "error": "sn0 does not support channels",
                     "errno": errno.EOPNOTSUPP, "kind": "EthtoolError"}  # fmt: skip
    with pytest.raises(Exception, match="no netdrv device named 'sn9'"):
        d.handle({"cmd": "ethtool", "dev": "sn9", "op": "ringparam"})


# -- snull: the transmit pool is the TX ring -----------------------------------------------------
def _send(host: Host, dev: NetDevice, i: int) -> None:
    packet = udp_packet("198.18.0.1", "198.18.0.2", 1, 2, bytes([i]) * 20)
    mem(host).send(dev, eth_frame(dev.dev_addr, b"\x02\xaa\xbb\xcc\xdd\xee", ETH_P_IP, packet))


def test_snull_ringparam_is_the_pool(host: Host, snull: LoadSnull) -> None:
    snull(pool_size=5)
    sn0 = host.devices["sn0"]
    ring = ethtool_get(host, sn0, "ringparam")
    assert ring == RingParam(tx_max_pending=65536, tx_pending=5)  # no RX ring: n/a
    _refused(errno.EINVAL, "tx_pending 65537 > tx_max_pending 65536", ethtool_set, host, sn0,
             "ringparam", {"tx_pending": 65537})  # fmt: skip
    _refused(errno.EINVAL, "rx_pending 8 > rx_max_pending 0", ethtool_set, host, sn0,
             "ringparam", {"rx_pending": 8})  # fmt: skip
    _refused(errno.EINVAL, "sn0: cannot set ring parameters: Invalid argument", ethtool_set,
             host, sn0, "ringparam", {"tx_pending": 0})  # fmt: skip
    for kind in ("coalesce", "channels", "pauseparam"):
        _refused(errno.EOPNOTSUPP, "sn0 does not support", ethtool_get, host, sn0, kind)
    assert ethtool_report(sn0)["ringparam"]["tx_pending"] == 5
    assert "ringparam" in ethtool_report(host.devices["sn1"])


def test_snull_resizes_its_pool_while_up(host: Host, snull: LoadSnull) -> None:
    snull(pool_size=8)
    sn0, sn1 = host.devices["sn0"], host.devices["sn1"]
    assert ethtool_set(host, sn0, "ringparam", {"tx_pending": 2})
    assert sn0.is_up and sn0.priv.pool_size == 2 and sn0.priv.pool_free == 2
    assert sn1.priv.pool_size == 8, "each interface has its own pool"
    for i in range(5):
        _send(host, sn0, i)
    host.loop.run_until_idle()
    assert len(mem(host).received(sn1)) == 5 and sn0.priv.pool_free == 2


def test_snull_shrinks_below_the_buffers_in_flight_and_grows_an_empty_pool(
    host: Host, snull: LoadSnull
) -> None:
    snull(use_napi=1, pool_size=4)
    sn0, sn1 = host.devices["sn0"], host.devices["sn1"]
    for i in range(10):
        _send(host, sn0, i)
    # sn1's poll has not run: all 4 buffers are out, the queue stopped, 6 frames queued.
    assert sn0.priv.pool_free == 0 and netif_queue_stopped(sn0) and len(sn0.qdisc) == 6
    assert ethtool_set(host, sn0, "ringparam", {"tx_pending": 1})
    assert (sn0.priv.pool_free, sn0.priv.pool_excess) == (0, 3) and netif_queue_stopped(sn0)
    host.loop.run_until_idle()  # 3 returning buffers are dropped, the 4th refills the pool
    assert len(mem(host).received(sn1)) == 10 and not sn0.qdisc
    assert (sn0.priv.pool_size, sn0.priv.pool_free, sn0.priv.pool_excess) == (1, 1, 0)
    assert not netif_queue_stopped(sn0)
    # Growing a pool whose buffers are all out wakes the queue at once.
    _send(host, sn0, 10)
    _send(host, sn0, 11)
    assert sn0.priv.pool_free == 0 and netif_queue_stopped(sn0) and len(sn0.qdisc) == 1
    assert ethtool_set(host, sn0, "ringparam", {"tx_pending": 6})
    assert sn0.priv.pool_free == 5 and not netif_queue_stopped(sn0)
    host.loop.run_until_idle()
    assert len(mem(host).received(sn1)) == 2 and sn0.priv.pool_free == 6
    assert sn0.core_stats.tx_busy == 0


def test_snull_resize_while_down_takes_effect_on_open(host: Host, snull: LoadSnull) -> None:
    snull(up=False, pool_size=8)
    sn0 = host.devices["sn0"]
    assert ethtool_set(host, sn0, "ringparam", {"tx_pending": 3})
    assert not sn0.is_up and sn0.priv.pool_free == 3
    mem(host).up(sn0)
    mem(host).up(host.devices["sn1"])
    for i in range(4):
        _send(host, sn0, i)
    host.loop.run_until_idle()
    assert sn0.stats.tx_packets == 4 and sn0.priv.pool_free == 3


# -- garbage from the driver, a device gone in between ----------------------------------------------
@pytest.mark.parametrize(
    ("kind", "bad"),
    [
        ("ringparam", {"tx_max_pending": "1024"}),
        ("ringparam", {"tx_max_pending": None}),
        ("ringparam", {"rx_pending": -1}),
        ("ringparam", {"tx_pending": 1 << 40}),
        ("ringparam", {"tx_pending": 12.5}),
        ("ringparam", {"rx_max_pending": True}),
        ("channels", {"max_combined": b"8"}),
        ("coalesce", {"use_adaptive_rx_coalesce": "yes"}),
        ("pauseparam", {"rx_pause": 2}),
    ],
)  # fmt: skip
def test_a_get_op_returning_garbage_fields_is_eio_naming_the_field(
    full: tuple[NetDevice, FullEthtool], kind: str, bad: dict[str, Any]
) -> None:
    """Not a TypeError in the limit check ('>' between str and int), not a reply or a
    ``status --json`` that JSON cannot carry: the driver's bug, named."""
    import json

    dev, ops = full
    attr = {"ringparam": "ring", "channels": "channels", "coalesce": "coalesce",
            "pauseparam": "pause"}[kind]  # fmt: skip
    setattr(ops, attr, replace(getattr(ops, attr), **bad))
    (name,) = bad
    match = f"^t0: the host's get_{kind} returned {name}="
    _refused(errno.EIO, match, ethtool_get, dev.host, dev, kind)
    _refused(errno.EIO, match, ethtool_request, dev.host, dev, kind)
    settable = {"ringparam": {"tx_pending": 64}, "channels": {"combined_count": 2},
                "coalesce": {"rx_coalesce_usecs": 7}, "pauseparam": {"tx_pause": True}}[kind]  # fmt: skip
    _refused(errno.EIO, match, ethtool_set, dev.host, dev, kind, settable)
    assert ops.calls == []
    rep = ethtool_report(dev)
    assert name in rep[kind]["error"]
    json.dumps(rep)  # status --json still answers, for every device


def test_a_c_minded_flag_is_taken_as_a_bool(full: tuple[NetDevice, FullEthtool]) -> None:
    dev, ops = full
    ops.pause = PauseParam(autoneg=1, rx_pause=0, tx_pause=1)  # type: ignore[arg-type]
    result, _ = ethtool_request(dev.host, dev, "pauseparam")
    assert result == {"autoneg": True, "rx_pause": False, "tx_pause": True}
    assert ethtool_set(dev.host, dev, "pauseparam", {"autoneg": True}) is False


@pytest.mark.parametrize("level", [-1, 1 << 32, "7", 7.0])
def test_a_message_level_out_of_range_is_eio(
    full: tuple[NetDevice, FullEthtool], level: Any
) -> None:
    dev, ops = full
    ops.level = level
    _refused(errno.EIO, "get_msglevel returned .*, not an integer 0..4294967295",
             ethtool_request, dev.host, dev, "msglevel")  # fmt: skip
    # ethtool DEV: that part fails (None, its error named), the others are shown
    settings, _ = ethtool_request(dev.host, dev, "settings")
    assert settings["msglevel"] is None and settings["errors"]["msglevel"]["errno"] == errno.EIO
    assert "get_msglevel returned" in settings["errors"]["msglevel"]["error"]
    assert settings["link"] is True
    assert "get_msglevel returned" in ethtool_report(dev)["msglevel"]["error"]


@pytest.mark.parametrize(
    ("op", "method", "value"),
    [
        ("settings", "get_link_ksettings", None),
        ("settings", "get_link_ksettings", "LinkSettings(speed=1000)"),
        ("settings", "get_link_ksettings", "speed"),
        ("drvinfo", "get_drvinfo", {"driver": "x"}),
        ("drvinfo", "get_strings", "rx_packets"),
        ("stats", "get_strings", [1, 2]),
        ("stats", "get_ethtool_stats", ["1", "2"]),
        ("stats", "get_ethtool_stats", None),
        ("stats", "get_ethtool_stats", [1]),  # fewer values than names: cut short before
        ("stats", "get_ethtool_stats", [1, 2, 3]),
    ],
)  # fmt: skip
def test_garbage_from_the_plain_get_ops_is_eio(
    host: Host, op: str, method: str, value: Any
) -> None:
    from netdrv_core.ethtool import LinkSettings

    returned = LinkSettings(speed="fast") if value == "speed" else value  # type: ignore[arg-type]

    class Garbage(EthtoolOps):
        def get_strings(self, dev: NetDevice) -> Any:
            return ["a", "b"]

        def get_ethtool_stats(self, dev: NetDevice) -> Any:
            return [1, 2]

    setattr(Garbage, method, lambda self, dev: returned)
    dev, _ = make_dev(host)
    dev.ethtool_ops = Garbage()
    if op == "settings":  # ethtool DEV: that part fails (its error named), the rest is shown
        settings, _ = ethtool_request(host, dev, op)
        failed = settings["errors"]["link_ksettings"]
        assert failed["errno"] == errno.EIO and f"'s {method} returned" in failed["error"]
        assert settings["speed"] is None and settings["link"] is True
        return
    _refused(errno.EIO, f"'s {method} returned", ethtool_request, host, dev, op)


def test_a_device_unregistered_by_its_get_op_is_not_set(
    full: tuple[NetDevice, FullEthtool],
) -> None:
    """The get op comes first (to fill in the request): if the device went away meanwhile
    (a USB driver noticing the unplug), the set op is not called on it."""
    dev, ops = full
    host = dev.host
    get = ops.get_ringparam

    def get_and_unplug(d: NetDevice) -> RingParam:
        ring = get(d)
        host.unregister_netdev(d)
        return ring

    ops.get_ringparam = get_and_unplug  # type: ignore[method-assign]
    _refused(errno.ENODEV, "t0: the device is no longer registered", ethtool_set, host, dev,
             "ringparam", {"tx_pending": 64})  # fmt: skip
    assert ops.calls == []


def test_status_says_when_the_counter_names_and_values_do_not_pair_up(host: Host) -> None:
    class Mismatched(EthtoolOps):
        def get_strings(self, dev: NetDevice) -> list[str]:
            return ["a", "b"]

        def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
            return [1]

    dev, _ = make_dev(host)
    dev.ethtool_ops = Mismatched()
    stats = ethtool_report(dev)["stats"]
    assert list(stats) == ["error"]
    assert "get_ethtool_stats returned 1 values for the 2 names of get_strings" in stats["error"]


def test_no_link_is_detected_while_the_interface_is_down(host: Host) -> None:
    """Linux's __ethtool_get_link: 0 unless netif_running, whatever the carrier says."""
    dev, _ = make_dev(host)
    dev.ethtool_ops = EthtoolOps()  # get_link: the carrier (none without ethtool_ops)
    assert dev._carrier
    assert ethtool_request(host, dev, "settings")[0]["link"] is True
    assert ethtool_report(dev)["link"] is True
    host.dev_close(dev)
    assert dev._carrier, "the carrier is kept while down"
    assert ethtool_request(host, dev, "settings")[0]["link"] is False
    assert ethtool_report(dev)["link"] is False
