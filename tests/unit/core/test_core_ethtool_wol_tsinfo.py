"""Wake-on-LAN (``get_wol``/``set_wol``), time stamping (``get_ts_info``) and EEE
(``get_eee``/``set_eee``), checked by the core as Linux's ``ethnl_set_wol``/``wol_prepare_data``,
``__ethtool_get_ts_info`` and ``ethnl_set_eee`` do."""

from __future__ import annotations

import errno
from dataclasses import replace
from typing import Any

import pytest
from fakedev import make_dev

from netdrv_core import Host, NetDevice
from netdrv_core.control import ProtocolError, validate_request
from netdrv_core.ethtool import (
    SOF_TIMESTAMPING_RX_SOFTWARE,
    SOF_TIMESTAMPING_SOFTWARE,
    SOF_TIMESTAMPING_TX_SOFTWARE,
    WAKE_MAGIC,
    WAKE_MAGICSECURE,
    WAKE_PHY,
    EthtoolEee,
    EthtoolError,
    EthtoolOps,
    TsInfo,
    WolInfo,
    ethtool_get_eee,
    ethtool_get_ts_info,
    ethtool_get_wol,
    ethtool_op_get_ts_info,
    ethtool_request,
    ethtool_set_eee,
    ethtool_set_wol,
    wol_mode_text,
)

SUPPORTED = WAKE_PHY | WAKE_MAGIC | WAKE_MAGICSECURE


class Wol(EthtoolOps):
    """Wake-on-LAN in memory (p, g and s supported), with a log of set_wol's calls."""

    def __init__(self, supported: int = SUPPORTED) -> None:
        self.wol = WolInfo(supported=supported, wolopts=WAKE_MAGIC)
        self.calls: list[WolInfo] = []
        self.ret: int | None = 0

    def get_wol(self, dev: NetDevice, wol: WolInfo) -> None:
        wol.supported, wol.wolopts, wol.sopass = (
            self.wol.supported,
            self.wol.wolopts,
            self.wol.sopass,
        )

    def set_wol(self, dev: NetDevice, wol: WolInfo) -> int | None:
        self.calls.append(replace(wol))
        if not self.ret:
            self.wol = replace(wol)
        return self.ret


class GetOnly(EthtoolOps):
    def get_wol(self, dev: NetDevice, wol: WolInfo) -> None:
        wol.supported = WAKE_MAGIC


@pytest.fixture
def dev(host: Host) -> NetDevice:
    d, _ = make_dev(host)
    d.ethtool_ops = Wol()
    return d


def _refused(err: int, match: str, fn: Any, *args: Any) -> EthtoolError:
    with pytest.raises(EthtoolError, match=match) as info:
        fn(*args)
    assert info.value.errno == err, (info.value, err)
    return info.value


def test_wol_mode_text_is_ethtools_letters() -> None:
    assert wol_mode_text(0) == "d"
    assert wol_mode_text(WAKE_PHY | WAKE_MAGIC) == "pg"
    assert wol_mode_text(0xFF) == "pumbagsf"


@pytest.mark.parametrize("ops", [None, EthtoolOps()], ids=["no-ethtool_ops", "base-ops"])
def test_without_get_wol_there_is_none(host: Host, ops: EthtoolOps | None) -> None:
    d, _ = make_dev(host)
    d.ethtool_ops = ops
    _refused(errno.EOPNOTSUPP, r"^t0 does not support Wake-on-LAN$", ethtool_get_wol, host, d)
    _refused(errno.EOPNOTSUPP, r"^t0 does not support changing Wake-on-LAN$", ethtool_set_wol,
             host, d, {"wolopts": WAKE_MAGIC})  # fmt: skip
    # ethtool DEV shows no Wake-on lines for it (nl_gset ignores the EOPNOTSUPP)
    assert ethtool_request(host, d, "settings")[0]["wol"] is None


def test_set_needs_set_wol_too(host: Host) -> None:
    d, _ = make_dev(host)
    d.ethtool_ops = GetOnly()
    assert ethtool_get_wol(host, d) == WolInfo(supported=WAKE_MAGIC)
    _refused(errno.EOPNOTSUPP, "does not support changing Wake-on-LAN", ethtool_set_wol, host, d,
             {"wolopts": 0})  # fmt: skip


def test_get_and_set(host: Host, dev: NetDevice) -> None:
    result, changed = ethtool_request(host, dev, "wol")
    assert changed is None
    assert result == {"supported": SUPPORTED, "wolopts": WAKE_MAGIC, "sopass": "00:" * 5 + "00",
                      "supported_modes": "pgs", "wake_on": "g"}  # fmt: skip
    result, changed = ethtool_request(host, dev, "wol", {"wolopts": WAKE_PHY | WAKE_MAGIC})
    assert changed is True and result["wake_on"] == "pg"
    assert dev.ethtool_ops.calls == [WolInfo(SUPPORTED, WAKE_PHY | WAKE_MAGIC)]  # type: ignore[union-attr]
    assert ethtool_request(host, dev, "settings")[0]["wol"]["wake_on"] == "pg"


def test_a_change_to_what_it_is_does_not_reach_the_driver(host: Host, dev: NetDevice) -> None:
    assert ethtool_set_wol(host, dev, {"wolopts": WAKE_MAGIC}) is False
    assert dev.ethtool_ops.calls == []  # type: ignore[union-attr]


def test_unsupported_modes_and_passwords_are_refused(host: Host, dev: NetDevice) -> None:
    _refused(errno.EINVAL, r"cannot enable unsupported WoL mode: ub \(the device supports pgs\)",
             ethtool_set_wol, host, dev, {"wolopts": 0b1010})  # fmt: skip
    # the password goes with magicsecure support only
    d2, _ = make_dev(host, "u%d")
    d2.ethtool_ops = Wol(WAKE_MAGIC)
    _refused(errno.EINVAL, "magicsecure not supported, cannot set password", ethtool_set_wol,
             host, d2, {"sopass": "010203040506"})  # fmt: skip
    assert ethtool_set_wol(host, dev, {"sopass": "01:02:03:04:05:06", "wolopts": WAKE_MAGICSECURE})
    assert dev.ethtool_ops.wol == WolInfo(SUPPORTED, WAKE_MAGICSECURE, bytes(range(1, 7)))  # type: ignore[union-attr]
    assert dev.ethtool_ops.calls[-1].sopass == bytes(range(1, 7))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("settings", "match"),
    [({"wolopts": 256}, "wolopts must be WAKE_"), ({"wolopts": True}, "wolopts must be WAKE_"),
     ({"sopass": "0102"}, "sopass must be 6 bytes"), ({"sopass": "zz" * 6}, "sopass must be 6"),
     ({"wake": 1}, "no settable field 'wake'")],
)  # fmt: skip
def test_malformed_changes_are_einval(
    host: Host, dev: NetDevice, settings: dict[str, Any], match: str
) -> None:
    _refused(errno.EINVAL, match, ethtool_request, host, dev, "wol", settings)
    assert dev.ethtool_ops.calls == []  # type: ignore[union-attr]


def test_the_drivers_refusal_is_passed_on(host: Host, dev: NetDevice) -> None:
    dev.ethtool_ops.ret = -errno.EIO  # type: ignore[union-attr]
    _refused(errno.EIO, r"cannot set Wake-on-LAN \(wol p\): Input/output error", ethtool_set_wol,
             host, dev, {"wolopts": WAKE_PHY})  # fmt: skip


@pytest.mark.parametrize(
    ("fill", "match"),
    [(lambda w: setattr(w, "wolopts", -1), "left wolopts=-1"),
     (lambda w: setattr(w, "sopass", b"abc"), "left sopass=b'abc', not 6 bytes"),
     (lambda w: 0, r"returned 0: it fills the WolInfo")],
)  # fmt: skip
def test_garbage_from_get_wol_is_eio(host: Host, fill: Any, match: str) -> None:
    class Bad(EthtoolOps):
        def get_wol(self, dev: NetDevice, wol: WolInfo) -> Any:
            return fill(wol)

    d, _ = make_dev(host)
    d.ethtool_ops = Bad()
    _refused(errno.EIO, match, ethtool_get_wol, host, d)


def test_a_raising_get_wol_is_a_driver_fault(host: Host) -> None:
    class Raises(EthtoolOps):
        def get_wol(self, dev: NetDevice, wol: WolInfo) -> None:
            raise RuntimeError("boom")

    d, _ = make_dev(host)
    d.ethtool_ops = Raises()
    _refused(errno.EIO, r"raised in get_wol: RuntimeError: boom \(the device was taken down",
             ethtool_get_wol, host, d)  # fmt: skip


def test_the_protocol_carries_a_password_as_hex() -> None:
    validate_request({"cmd": "ethtool", "dev": "x", "op": "wol",
                      "set": {"wolopts": 32, "sopass": "010203040506"}})  # fmt: skip
    with pytest.raises(ProtocolError):
        validate_request({"cmd": "ethtool", "dev": "x", "op": "wol", "set": {"wolopts": "g"}})
    with pytest.raises(ProtocolError, match="'tsinfo' takes no 'set'"):
        validate_request({"cmd": "ethtool", "dev": "x", "op": "tsinfo", "set": {}})


# -- get_ts_info ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ops", [None, EthtoolOps()], ids=["no-ethtool_ops", "base-ops"])
def test_without_get_ts_info_the_core_reports_software_receive(
    host: Host, ops: EthtoolOps | None
) -> None:
    d, _ = make_dev(host)
    d.ethtool_ops = ops
    assert ethtool_get_ts_info(host, d) == TsInfo(
        so_timestamping=SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE, phc_index=-1
    )
    assert ethtool_request(host, d, "tsinfo") == ({
        "so_timestamping": 0x18, "capabilities": ["software-receive", "software-system-clock"],
        "phc_index": None, "tx_types": [], "rx_filters": []}, None)  # fmt: skip


def test_ethtool_op_get_ts_info_adds_software_transmit(host: Host) -> None:
    class Sw(EthtoolOps):
        def get_ts_info(self, dev: NetDevice, info: TsInfo) -> int:
            return ethtool_op_get_ts_info(dev, info)

    d, _ = make_dev(host)
    d.ethtool_ops = Sw()
    info = ethtool_get_ts_info(host, d)
    assert info.so_timestamping == (SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE
                                    | SOF_TIMESTAMPING_SOFTWARE) and info.phc_index == -1  # fmt: skip
    assert ethtool_request(host, d, "tsinfo")[0]["capabilities"] == [
        "software-transmit", "software-receive", "software-system-clock"]  # fmt: skip


def test_a_hardware_clock_and_modes_are_named(host: Host) -> None:
    class Hw(EthtoolOps):
        def get_ts_info(self, dev: NetDevice, info: TsInfo) -> int:
            assert info == TsInfo(), "the core hands over a zeroed one, phc_index -1"
            info.so_timestamping, info.phc_index = 0b1000101, 2
            info.tx_types, info.rx_filters = 0b11, 1 << 0 | 1 << 12
            return 0

    d, _ = make_dev(host)
    d.ethtool_ops = Hw()
    assert ethtool_request(host, d, "tsinfo")[0] == {
        "so_timestamping": 0b1000101,
        "capabilities": ["hardware-transmit", "hardware-receive", "hardware-raw-clock"],
        "phc_index": 2, "tx_types": ["off", "on"], "rx_filters": ["none", "ptpv2-event"]}  # fmt: skip


@pytest.mark.parametrize(
    ("fill", "err", "match"),
    [(lambda i: -errno.EBUSY, errno.EBUSY, "cannot get the time stamping capabilities: Device"),
     (lambda i: setattr(i, "phc_index", -2), errno.EIO, "left phc_index=-2"),
     (lambda i: setattr(i, "tx_types", 1 << 32), errno.EIO, "left tx_types=4294967296"),
     (lambda i: 7, errno.EIO, "returned 7")],
)  # fmt: skip
def test_refusals_and_garbage_from_get_ts_info(host: Host, fill: Any, err: int, match: str) -> None:
    class Bad(EthtoolOps):
        def get_ts_info(self, dev: NetDevice, info: TsInfo) -> Any:
            ret = fill(info)
            return 0 if ret is None else ret

    d, _ = make_dev(host)
    d.ethtool_ops = Bad()
    _refused(err, match, ethtool_get_ts_info, host, d)


# -- get_eee/set_eee --------------------------------------------------------------------------------
class Eee(EthtoolOps):
    """EEE in memory, with a log of set_eee's calls."""

    def __init__(self) -> None:
        self.eee = EthtoolEee(supported=0x28, advertised=0x20, lp_advertised=0x28,
                              eee_active=True, eee_enabled=True)  # fmt: skip
        self.calls: list[EthtoolEee] = []

    def get_eee(self, dev: NetDevice, eee: EthtoolEee) -> int:
        assert eee == EthtoolEee(), "the core hands over a zeroed one"
        for f in ("supported", "advertised", "lp_advertised", "eee_active", "eee_enabled",
                  "tx_lpi_enabled", "tx_lpi_timer"):  # fmt: skip
            setattr(eee, f, getattr(self.eee, f))
        return 0

    def set_eee(self, dev: NetDevice, eee: EthtoolEee) -> int:
        self.calls.append(replace(eee))
        self.eee = replace(eee)
        return 0


@pytest.mark.parametrize("ops", [None, EthtoolOps()], ids=["no-ethtool_ops", "base-ops"])
def test_without_get_eee_it_is_eopnotsupp(host: Host, ops: EthtoolOps | None) -> None:
    d, _ = make_dev(host)
    d.ethtool_ops = ops
    _refused(errno.EOPNOTSUPP, r"^t0 does not support EEE \(Energy-Efficient Ethernet\)$",
             ethtool_get_eee, host, d)  # fmt: skip
    _refused(errno.EOPNOTSUPP, "does not support changing EEE", ethtool_set_eee, host, d,
             {"eee_enabled": False})  # fmt: skip


def test_eee_get_and_set(host: Host) -> None:
    d, _ = make_dev(host)
    d.ethtool_ops = ops = Eee()
    result, changed = ethtool_request(host, d, "eee")
    assert changed is None and result["advertised_modes"] == ["1000baseT/Full"]
    assert result["supported_modes"] == ["100baseT/Full", "1000baseT/Full"]
    assert ethtool_set_eee(host, d, {"advertised": 0x20, "eee_enabled": True}) is False
    assert ops.calls == [], "no change: the driver is not asked"
    assert ethtool_set_eee(host, d, {"tx_lpi_enabled": True, "tx_lpi_timer": 17}) is True
    assert ops.calls == [replace(ops.eee)] and ops.eee.tx_lpi_timer == 17
    _refused(errno.EINVAL, "no settable field 'eee_active'", ethtool_request, host, d, "eee",
             {"eee_active": False})  # fmt: skip
    _refused(errno.EINVAL, "eee_enabled must be true or false", ethtool_set_eee, host, d,
             {"eee_enabled": 1})  # fmt: skip


def test_garbage_from_get_eee_is_eio(host: Host) -> None:
    class Bad(EthtoolOps):
        def get_eee(self, dev: NetDevice, eee: EthtoolEee) -> int:
            eee.advertised = -1
            return 0

    d, _ = make_dev(host)
    d.ethtool_ops = Bad()
    _refused(errno.EIO, "get_eee left advertised=-1", ethtool_get_eee, host, d)
