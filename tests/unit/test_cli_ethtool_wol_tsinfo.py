"""``netdrv ethtool -T``, Wake-on-LAN (``ethtool DEV``'s Wake-on lines, ``-s DEV wol``),
``--show-eee/--set-eee`` and ``-p``: the layout and exit statuses of ethtool 6.1.

As test_cli_ethtool: an in-process daemon (snull, plus a device with ``get_wol``/``set_wol``
and ``get_ts_info``) behind a client that round-trips each message through JSON and the
protocol check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from test_cli_ethtool import TunableEthtool, failed, in_process_daemon, ok, run

import netdrv_core.cli as cli_mod
from netdrv_core import NetDevice, NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import (
    WAKE_MAGIC,
    WAKE_MAGICSECURE,
    WAKE_PHY,
    EthtoolEee,
    TsInfo,
    WolInfo,
    ethtool_op_get_ts_info,
)


class WolEthtool(TunableEthtool):
    """TunableEthtool (link settings, message level) with Wake-on-LAN and software time stamps."""

    def __init__(self) -> None:
        super().__init__()
        self.wol = WolInfo(supported=WAKE_PHY | WAKE_MAGIC | WAKE_MAGICSECURE, wolopts=WAKE_MAGIC)

    def get_wol(self, dev: NetDevice, wol: WolInfo) -> None:
        wol.supported, wol.wolopts, wol.sopass = (
            self.wol.supported,
            self.wol.wolopts,
            self.wol.sopass,
        )

    def set_wol(self, dev: NetDevice, wol: WolInfo) -> int:
        self.wol = replace(wol)
        return 0

    def get_ts_info(self, dev: NetDevice, info: TsInfo) -> int:
        return ethtool_op_get_ts_info(dev, info)

    eee = EthtoolEee(supported=0b110011, advertised=0b100000, lp_advertised=0)

    def get_eee(self, dev: NetDevice, eee: EthtoolEee) -> int:
        eee.__dict__.update(self.eee.__dict__)
        return 0

    def set_eee(self, dev: NetDevice, eee: EthtoolEee) -> int:
        self.eee = replace(eee)
        return 0

    def set_phys_id(self, dev: NetDevice, state: int) -> int:
        self.ids = [*getattr(self, "ids", []), state]
        return 0  # the hardware blinks by itself


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    tw0 = alloc_netdev(None, "tw0", ether_setup)
    tw0.netdev_ops = NetDeviceOps()
    tw0.dev_addr = b"\x02\x00\x00\x00\x00\x43"
    tw0.ethtool_ops = WolEthtool()
    with in_process_daemon(monkeypatch, tw0) as d:
        yield d


SOFTWARE = ("Capabilities:\n"
            "\tsoftware-transmit\n\tsoftware-receive\n\tsoftware-system-clock\n"
            "PTP Hardware Clock: none\n"
            "Hardware Transmit Timestamp Modes: none\n"
            "Hardware Receive Filter Modes: none\n")  # fmt: skip
"""What ethtool 6.1 prints for a TAP (tun: ``ethtool_op_get_ts_info``) after the title."""


def test_show_time_stamping_like_ethtool_T(daemon: Daemon) -> None:
    assert ok("-T", "tw0") == "Time stamping parameters for tw0:\n" + SOFTWARE
    # snull has no get_ts_info: the core's default, software receive and the clock
    assert ok("--show-time-stamping", "sn0") == (
        "Time stamping parameters for sn0:\nCapabilities:\n"
        "\tsoftware-receive\n\tsoftware-system-clock\n"
        "PTP Hardware Clock: none\n"
        "Hardware Transmit Timestamp Modes: none\n"
        "Hardware Receive Filter Modes: none\n"
    )
    out = json.loads(ok("-T", "tw0", "--json"))
    assert out["phc_index"] is None and out["so_timestamping"] == 0x1A


def test_hardware_modes_are_listed_one_a_line(daemon: Daemon) -> None:
    def hw(dev: NetDevice, info: TsInfo) -> int:
        info.so_timestamping, info.phc_index, info.tx_types, info.rx_filters = 0x45, 0, 3, 1
        return 0

    daemon.host.devices["tw0"].ethtool_ops.get_ts_info = hw  # type: ignore[union-attr,method-assign]
    assert ok("-T", "tw0") == (
        "Time stamping parameters for tw0:\nCapabilities:\n"
        "\thardware-transmit\n\thardware-receive\n\thardware-raw-clock\n"
        "PTP Hardware Clock: 0\n"
        "Hardware Transmit Timestamp Modes:\n\toff\n\ton\n"
        "Hardware Receive Filter Modes:\n\tnone\n"
    )


def test_settings_show_wake_on_after_the_port(daemon: Daemon) -> None:
    out = ok("tw0")
    assert ("\tPort: Twisted Pair\n"
            "\tSupports Wake-on: pgs\n"
            "\tWake-on: g\n"
            "        SecureOn password: 00:00:00:00:00:00\n"
            "        Current message level: 0x00000007 (7)\n") in out  # fmt: skip
    # a driver without get_wol: no Wake-on lines at all, as ethtool (tun, snull)
    assert "Wake-on" not in ok("sn0")
    assert json.loads(ok("sn0", "--json"))["wol"] is None


def test_change_wake_on_and_the_password(daemon: Daemon) -> None:
    assert ok("-s", "tw0", "wol", "pg") == ""
    assert "\tWake-on: pg\n" in ok("tw0")
    assert ok("-s", "tw0", "wol", "s", "sopass", "01:02:03:04:05:a6") == ""
    out = ok("tw0")
    assert "\tWake-on: s\n        SecureOn password: 01:02:03:04:05:a6\n" in out
    assert ok("-s", "tw0", "wol", "d") == ""
    assert "\tWake-on: d\n" in ok("tw0")
    # with link settings and the message level in the same -s
    out = json.loads(ok("-s", "tw0", "autoneg", "on", "wol", "g", "msglvl", "1", "--json"))
    assert out["changed"] is True and out["wol"]["wake_on"] == "g" and out["msglevel"] == 1
    assert json.loads(ok("-s", "tw0", "wol", "g", "--json"))["changed"] is False


def test_wake_on_refusals_exit_like_ethtool_s(daemon: Daemon) -> None:
    assert failed(75, "-s", "sn0", "wol", "g") == (
        "netdrv: sn0 does not support changing Wake-on-LAN\n")  # fmt: skip
    err = failed(75, "-s", "tw0", "wol", "u")
    assert err == ("netdrv: tw0: cannot enable unsupported WoL mode: u (the device supports "
                   "pgs)\n")  # fmt: skip
    err = failed(1, "-s", "tw0", "wol", "gx")
    assert "wol 'gx': modes are letters of pumbagsf" in err
    assert "sopass '01:02' is not 6 hex bytes" in failed(1, "-s", "tw0", "sopass", "01:02")
    assert "\tWake-on: g\n" in ok("tw0"), "nothing changed"


def test_show_eee_like_ethtool(daemon: Daemon) -> None:
    # dump_link_modes: one mode a line under the first, a Full right after its Half beside it
    assert ok("--show-eee", "tw0") == (
        "EEE settings for tw0:\n"
        "\tEEE status: disabled\n"
        "\tTx LPI: disabled\n"
        "\tSupported EEE link modes:  10baseT/Half 10baseT/Full\n"
        "\t                           1000baseT/Half 1000baseT/Full\n"
        "\tAdvertised EEE link modes:  1000baseT/Full\n"
        "\tLink partner advertised EEE link modes:  Not reported\n"
    )


def test_set_eee_is_silent_and_sticks(daemon: Daemon) -> None:
    assert ok("--set-eee", "tw0", "eee", "on", "tx-lpi", "on", "tx-timer", "20",
              "advertise", "0x2") == ""  # fmt: skip
    out = ok("--show-eee", "tw0")
    assert "\tEEE status: enabled - inactive\n\tTx LPI: 20 (us)\n" in out
    assert "\tAdvertised EEE link modes:  10baseT/Full\n" in out
    assert json.loads(ok("--set-eee", "tw0", "eee", "on", "--json"))["changed"] is False


def test_eee_refusals_exit_like_ethtool(daemon: Daemon) -> None:
    assert failed(1, "--show-eee", "sn0") == (
        "netdrv: sn0 does not support EEE (Energy-Efficient Ethernet)\n")  # fmt: skip
    assert failed(76, "--set-eee", "sn0", "eee", "on") == (
        "netdrv: sn0 does not support changing EEE (Energy-Efficient Ethernet)\n")  # fmt: skip
    assert "unknown setting 'lpi'" in failed(1, "--set-eee", "tw0", "lpi", "on")


def test_identify_like_ethtool_p(daemon: Daemon) -> None:
    assert failed(255, "-p", "sn0", "1") == (
        "netdrv: sn0 does not support identification (ethtool -p: its driver has no "
        "set_phys_id)\n")  # fmt: skip
    assert "takes one number of seconds" in failed(1, "--identify", "tw0", "1", "2")
    assert "N: 'soon' is not a number" in failed(1, "-p", "tw0", "soon")
    ops = daemon.host.devices["tw0"].ethtool_ops
    assert ok("-p", "tw0", "1") == ""  # answered once it ends, the driver told INACTIVE
    assert ops.ids == [1, 0]  # type: ignore[union-attr]


def test_wol_d_drops_the_modes_before_it(daemon: Daemon) -> None:
    """ethtool 6.1's parse_char_bitset: ``d`` (the reset character) empties what came
    before it; the letters after it still count ("dp" is p, "pd" nothing)."""
    assert ok("-s", "tw0", "wol", "dp") == ""
    assert "\tWake-on: p\n" in ok("tw0")
    assert ok("-s", "tw0", "wol", "gd") == ""
    assert "\tWake-on: d\n" in ok("tw0")
    assert ok("-s", "tw0", "wol", "pdg") == ""
    assert "\tWake-on: g\n" in ok("tw0")


def test_eee_lists_every_real_link_mode_of_the_mask(daemon: Daemon) -> None:
    """Bit 20, 10000baseR_FEC, is a link mode (ethtool's __REAL(10000)): listed."""
    ops = daemon.host.devices["tw0"].ethtool_ops
    ops.eee = replace(ops.eee, supported=1 << 19 | 1 << 20)  # type: ignore[union-attr]
    assert (
        "\tSupported EEE link modes:  10000baseKR/Full\n"
        "\t                           10000baseR_FEC\n"
    ) in ok("--show-eee", "tw0")


def test_eee_advertise_is_hexadecimal_as_ethtool_takes_it(daemon: Daemon) -> None:
    """ethtool's advertise_parser_data is force_hex: ``advertise 20`` is 0x20 (1000baseT/Full),
    the 0x optional; a word that is not hex is refused."""
    assert ok("--set-eee", "tw0", "advertise", "20") == ""
    assert "\tAdvertised EEE link modes:  1000baseT/Full\n" in ok("--show-eee", "tw0")
    assert ok("--set-eee", "tw0", "advertise", "0x8") == ""
    assert "\tAdvertised EEE link modes:  100baseT/Full\n" in ok("--show-eee", "tw0")
    err = failed(1, "--set-eee", "tw0", "advertise", "x1")
    assert "advertise: 'x1' is not a hexadecimal" in err


def test_ctrl_c_ends_identify_as_it_ends_ethtool(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ethtool -p DEV`` runs until Ctrl-C, which kills it (status 130, nothing printed):
    the usual end of an identify, not an error to report ("Aborted!", status 1)."""

    class Interrupted:
        def request(self, cmd: str, **kw: Any) -> dict[str, Any]:
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

        def __enter__(self) -> Interrupted:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(cli_mod, "_client", lambda start=False, plugins=(): Interrupted())
    res = run("-p", "tw0")
    assert res.exit_code == 130, res.output
    assert res.output == ""
