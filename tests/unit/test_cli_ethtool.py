"""``netdrv ethtool``: arguments, output as the real ethtool prints it, exit statuses.

The command talks to an in-process daemon (snull on the memory attachment, plus
a device with every tuning op) through a client that round-trips each message
through JSON and the protocol check, as the control socket does.
"""

from __future__ import annotations

import contextlib
import errno
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner, Result

import netdrv_core.cli as cli_mod
from netdrv_core import Host, NetDevice, NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.control import DaemonNotRunning, validate_request
from netdrv_core.daemon import Daemon
from netdrv_core.errors import NetdrvError
from netdrv_core.ethtool import Channels, Coalesce, EthtoolOps, LinkSettings, PauseParam


class TunableEthtool(EthtoolOps):
    """Link settings, coalesce, channels, pause, message level, autonegotiation and private
    flags, kept in memory."""

    supported_coalesce_params = frozenset({"rx_coalesce_usecs", "rx_max_coalesced_frames",
                                           "use_adaptive_rx_coalesce"})  # fmt: skip

    def __init__(self) -> None:
        self.coalesce = Coalesce(rx_coalesce_usecs=3, rx_max_coalesced_frames=16)
        self.channels = Channels(max_combined=8, max_other=1, combined_count=4, other_count=1)
        self.pause = PauseParam(autoneg=True, rx_pause=True, tx_pause=True)
        self.level = 0x7
        self.resets = 0
        self.link = LinkSettings(speed=1000, duplex=1, autoneg=True, port="tp")
        self.flags = 0b10

    def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
        return replace(self.link)

    def set_link_ksettings(self, dev: NetDevice, ks: LinkSettings) -> int:
        if not ks.autoneg and ks.speed not in (10, 100, 1000):
            return -errno.EINVAL
        self.link = ks
        return 0

    def get_priv_flag_strings(self, dev: NetDevice) -> list[str]:
        return ["legacy-rx", "disable-fw-lldp"]

    def get_priv_flags(self, dev: NetDevice) -> int:
        return self.flags

    def set_priv_flags(self, dev: NetDevice, flags: int) -> int:
        self.flags = flags
        return 0

    def get_coalesce(self, dev: NetDevice) -> Coalesce:
        return replace(self.coalesce)

    def set_coalesce(self, dev: NetDevice, coalesce: Coalesce) -> int:
        self.coalesce = coalesce
        return 0

    def get_channels(self, dev: NetDevice) -> Channels:
        return replace(self.channels)

    def set_channels(self, dev: NetDevice, channels: Channels) -> int:
        self.channels = channels
        return 0

    def get_pauseparam(self, dev: NetDevice) -> PauseParam:
        return replace(self.pause)

    def set_pauseparam(self, dev: NetDevice, pause: PauseParam) -> int:
        self.pause = pause
        return 0

    def get_msglevel(self, dev: NetDevice) -> int:
        return self.level

    def set_msglevel(self, dev: NetDevice, value: int) -> None:
        self.level = value

    def nway_reset(self, dev: NetDevice) -> int:
        self.resets += 1
        return 0 if dev.is_up else -errno.EAGAIN


class _Client:
    """A :class:`ControlClient` stand-in that hands requests to an in-process daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def request(self, cmd: str, **kw: Any) -> dict[str, Any]:
        req = json.loads(json.dumps({"cmd": cmd, **kw}))
        try:
            validate_request(req)
            reply = self.daemon.handle(req)
        except NetdrvError as exc:
            reply = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
        return json.loads(json.dumps(reply))

    def close(self) -> None:
        pass

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@contextlib.contextmanager
def in_process_daemon(monkeypatch: pytest.MonkeyPatch, extra: NetDevice) -> Iterator[Daemon]:
    """snull (``configure=0``) and ``extra`` on an in-process daemon, all up, which the
    CLI talks to through :class:`_Client`."""
    host = Host()
    d = Daemon(host=host, exit_when_empty=False, watchdog=None)
    d.load("snull", ["configure=0"])
    host.register_netdev(extra)
    for dev in host.devices.values():
        host.attachment.up(dev)  # type: ignore[attr-defined]
    monkeypatch.setattr(cli_mod, "_client", lambda start=False, plugins=(): _Client(d))
    try:
        yield d
    finally:
        host.unregister_netdev(extra)
        for name in list(d.drivers):
            d.unload(name)
        host.close()
        host.loop.close()


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    tn0 = alloc_netdev(None, "tn0", ether_setup)
    tn0.netdev_ops = NetDeviceOps()
    tn0.dev_addr = b"\x02\x00\x00\x00\x00\x42"
    tn0.ethtool_ops = TunableEthtool()
    with in_process_daemon(monkeypatch, tn0) as d:
        yield d


def run(*args: str) -> Result:
    return CliRunner().invoke(cli_mod.cli, ["ethtool", *args])


def ok(*args: str) -> str:
    res = run(*args)
    assert res.exit_code == 0, res.output
    return res.stdout


def failed(code: int, *args: str) -> str:
    res = run(*args)
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    return res.stderr


def test_show_ring_like_ethtool_g(daemon: Daemon) -> None:
    assert ok("-g", "sn0") == (
        "Ring parameters for sn0:\n"
        "Pre-set maximums:\n"
        "RX:\t\tn/a\nRX Mini:\tn/a\nRX Jumbo:\tn/a\nTX:\t\t65536\n"
        "Current hardware settings:\n"
        "RX:\t\tn/a\nRX Mini:\tn/a\nRX Jumbo:\tn/a\nTX:\t\t8\n"
        "RX Buf Len:\t\tn/a\nCQE Size:\t\tn/a\nTX Push:\toff\nTCP data split:\tn/a\n"
    )


def test_set_ring_is_silent_and_sticks(daemon: Daemon) -> None:
    assert ok("-G", "sn0", "tx", "4") == ""
    assert "TX:\t\t4\n" in ok("--show-ring", "sn0")
    assert daemon.host.devices["sn0"].priv.pool_size == 4
    out = json.loads(ok("--set-ring", "sn0", "tx", "0x10", "--json"))
    assert out["tx_pending"] == 16 and out["changed"] is True
    assert json.loads(ok("-G", "sn0", "tx", "16", "--json"))["changed"] is False
    assert json.loads(ok("-g", "sn0", "--json"))["tx_pending"] == 16


# ethtool(8)'s exit status for each command failing (ethtool 6.x; the real one on Linux
# answers a device without the op, or a value out of range, with these).
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("-G", "sn0", "tx", "70000"), 81,
         "netdrv: sn0: requested ring size exceeds maximum: tx_pending 70000 > "
         "tx_max_pending 65536\n"),
        (("-G", "sn0", "rx", "256"), 81, "rx_pending 256 > rx_max_pending 0 (the device has no "
                                         "such ring)"),
        (("-G", "sn0", "tx", "0"), 81,
         "netdrv: sn0: cannot set ring parameters: Invalid argument"),
        (("-l", "sn0"), 1, "netdrv: sn0 does not support channels\n"),
        (("-c", "sn0"), 1, "netdrv: sn0 does not support coalesce parameters\n"),
        (("-r", "sn0"), 255, "netdrv: sn0 does not support restarting autonegotiation\n"),
        (("-s", "sn0", "msglvl", "3"), 75, "netdrv: sn0 does not support message levels\n"),
        (("-s", "sn0", "speed", "100", "autoneg", "off"), 75,
         "netdrv: sn0 does not support changing link settings (speed, duplex, autoneg)\n"),
        (("-s", "tn0", "speed", "2500", "autoneg", "off"), 75,
         "netdrv: tn0: cannot set link settings (speed 2500Mb/s, duplex full, autoneg off): "
         "Invalid argument\n"),
        (("-s", "tn0", "speed", "100"), 75, "netdrv: tn0: with autoneg on, speed and duplex "
                                            "are negotiated"),
        (("--show-priv-flags", "sn0"), 1, "netdrv: sn0 does not support private flags\n"),
        (("--set-priv-flags", "sn0", "x", "on"), 1,
         "netdrv: sn0 does not support changing private flags\n"),
        (("--set-priv-flags", "tn0", "legacy_rx", "on"), 1,
         "netdrv: tn0: unknown private flag 'legacy_rx'; the host has: legacy-rx, "
         "disable-fw-lldp\n"),
        (("-g", "sn9"), 1, "netdrv: no netdrv device named 'sn9'\n"),
        (("-i", "sn9"), 71, "netdrv: no netdrv device named 'sn9'\n"),
        (("sn9",), 75, "netdrv: no netdrv device named 'sn9'\n"),
        (("-K", "sn9", "tso", "off"), 92, "netdrv: no netdrv device named 'sn9'\n"),
        (("-K", "sn0", "bogus", "off"), 92, "netdrv: sn0: unknown feature 'bogus'"),
        (("-t", "sn9"), 74, "netdrv: no netdrv device named 'sn9'\n"),
        (("-S", "sn9"), 96, "netdrv: no netdrv device named 'sn9'\n"),
        (("-A", "sn0", "rx", "on"), 76, "netdrv: sn0 does not support pause parameters\n"),
        (("-C", "tn0", "tx-usecs", "5"), 1, "cannot modify an unsupported coalesce parameter: "
                                            "tx_coalesce_usecs"),
        (("-L", "tn0", "combined", "9"), 1, "combined_count 9 > max_combined 8"),
        (("-L", "tn0", "combined", "0"), 1, "would result in no RX channel being configured"),
    ],
)  # fmt: skip
def test_a_refused_request_exits_as_ethtool_with_the_reason(
    daemon: Daemon, args: tuple[str, ...], code: int, message: str
) -> None:
    assert message in failed(code, *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-G", "sn0"), "-G needs at least one of: rx N, rx-mini N, rx-jumbo N, tx N"),
        (("-G", "sn0", "tx"), "-G: tx needs a value"),
        (("-G", "sn0", "tx", "x"), "tx: 'x' is not a number 0..4294967295"),
        (("-G", "sn0", "tx", "-1"), "tx: '-1' is not a number"),
        (("-G", "sn0", "speed", "10"), "-G: unknown setting 'speed'"),
        (("-G", "sn0", "tx", "1", "tx", "2"), "-G: tx given twice"),
        (("-A", "sn0", "rx", "yes"), "rx: 'yes' is not on or off"),
        (("-g", "-G", "sn0"), "give one of -g, -G, not several"),
        (("-g", "sn0", "tx", "4"), "unexpected arguments: tx 4"),
        (
            ("-s", "sn0"),
            "-s needs at least one of: speed N, duplex half|full, autoneg on|off, wol "
            "pumbagsfd, sopass xx:yy:zz:aa:bb:cc, msglvl N | msglvl TYPE on|off",
        ),
        (("-s", "sn0", "speed", "fast"), "speed: 'fast' is not a positive number of Mb/s"),
        (("-s", "sn0", "speed", "0"), "speed: '0' is not a positive number of Mb/s"),
        (("-s", "sn0", "speed", "-10"), "speed: '-10' is not a positive number"),
        (("-s", "sn0", "speed"), "-s: speed needs a value (N)"),
        (("-s", "sn0", "duplex", "quarter"), "duplex: 'quarter' is not half or full"),
        (("-s", "sn0", "autoneg", "yes"), "autoneg: 'yes' is not on or off"),
        (("-s", "sn0", "speed", "10", "speed", "100"), "-s: speed given twice"),
        (("-s", "sn0", "mtu", "1400"), "-s: unknown setting 'mtu'; expected: speed N"),
        (("-s", "sn0", "msglvl", "1", "msglvl", "2"), "-s: msglvl given twice"),
        (("-s", "sn0", "speed", "10", "msglvl", "bogus", "on"), "unknown message type 'bogus'"),
        (("--set-priv-flags", "sn0"), "--set-priv-flags needs FLAG on|off pairs"),
        (("--set-priv-flags", "sn0", "legacy-rx"), "--set-priv-flags needs FLAG on|off pairs"),
        (("--set-priv-flags", "sn0", "legacy-rx", "maybe"), "legacy-rx: 'maybe' is not on or off"),
        (("--set-priv-flags", "sn0", "a", "on", "a", "off"), "--set-priv-flags: a given twice"),
        (("--show-priv-flags", "sn0", "a"), "unexpected arguments: a"),
        (("-s", "sn0", "msglvl"), "msglvl needs N, or TYPE on|off pairs"),
        (("-s", "sn0", "msglvl", "drv"), "msglvl needs N, or TYPE on|off pairs"),
        (("-s", "sn0", "msglvl", "drv", "maybe"), "drv: 'maybe' is not on or off"),
        (("-s", "sn0", "msglvl", "bogus", "on"), "unknown message type 'bogus'"),
        (("-x", "sn0"), "no such option: -x"),
        ((), "Missing argument 'DEV'"),
    ],
)
def test_a_malformed_command_line_exits_1_before_the_daemon(
    daemon: Daemon, args: tuple[str, ...], message: str
) -> None:
    """As ethtool's exit_bad_args: 1, not click's 2, which is -t's FAIL."""
    assert message in failed(1, *args)
    assert daemon.host.devices["sn0"].priv.pool_size == 8


def test_plain_driver_and_statistics(daemon: Daemon) -> None:
    assert ok("sn0") == (
        "Settings for sn0:\n\tSpeed: 10000Mb/s\n\tDuplex: Full\n\tAuto-negotiation: off\n"
        "\tPort: Other\n\tLink detected: yes\n"
    )
    assert ok("tn0") == (
        "Settings for tn0:\n\tSpeed: 1000Mb/s\n\tDuplex: Full\n\tAuto-negotiation: on\n"
        "\tPort: Twisted Pair\n        Current message level: 0x00000007 (7)\n"
        f"{' ' * 30} drv probe link\n\tLink detected: yes\n"
    )
    info = ok("-i", "sn0")
    assert info.startswith("driver: snull\nversion: 2.0\nfirmware-version: \n")
    assert "bus-info: virtual\nsupports-statistics: yes\n" in info
    assert ok("-S", "sn0") == (
        "NIC statistics:\n     lockups: 0\n     pool_free: 8\n     pool_stops: 0\n"
        "     rx_queue: 0\n"
    )
    assert "supports-statistics: no" in ok("-i", "tn0")
    assert failed(94, "-S", "tn0") == "netdrv: tn0 does not support statistics\n"  # as
    # ethtool's "no stats available"
    assert json.loads(ok("sn0", "--json"))["speed"] == 10000


def test_settings_of_a_driver_without_link_settings_are_ethtool_los(daemon: Daemon) -> None:
    """`ethtool lo` on Linux (loopback has get_link, no get_link_ksettings) prints only
    "Link detected: yes": no "Speed: Unknown!" for what the driver never reports."""

    class LoopbackLike(EthtoolOps):
        def get_link(self, dev: NetDevice) -> bool:
            return True

    daemon.host.devices["tn0"].ethtool_ops = LoopbackLike()
    assert ok("tn0") == "Settings for tn0:\n\tLink detected: yes\n"
    out = json.loads(ok("tn0", "--json"))
    assert (out["speed"], out["duplex"], out["autoneg"], out["port"]) == (None,) * 4
    err = failed(75, "-s", "tn0", "autoneg", "on")
    assert err == "netdrv: tn0 does not support changing link settings (speed, duplex, autoneg)\n"


def test_coalesce_channels_pause_msglevel_and_nway_reset(daemon: Daemon) -> None:
    ops: TunableEthtool = daemon.host.devices["tn0"].ethtool_ops  # type: ignore[assignment]
    out = ok("-c", "tn0")  # (the whole of ethtool 6.1's layout: test_cli_ethtool_rings_coalesce)
    assert out.startswith("Coalesce parameters for tn0:\nAdaptive RX: off  TX: n/a\n")
    assert "\nrx-usecs: 3\nrx-frames: 16\n" in out and "\ntx-usecs: n/a\ntx-frames: n/a\n" in out
    assert ok("-C", "tn0", "adaptive-rx", "on", "rx-usecs", "50") == ""
    assert ops.coalesce.use_adaptive_rx_coalesce and ops.coalesce.rx_coalesce_usecs == 50
    assert ok("-l", "tn0") == (
        "Channel parameters for tn0:\nPre-set maximums:\n"
        "RX:\t\tn/a\nTX:\t\tn/a\nOther:\t\t1\nCombined:\t8\n"
        "Current hardware settings:\n"
        "RX:\t\tn/a\nTX:\t\tn/a\nOther:\t\t1\nCombined:\t4\n"
    )
    assert ok("-L", "tn0", "combined", "2") == "" and ops.channels.combined_count == 2
    assert ok("-a", "tn0") == (
        "Pause parameters for tn0:\nAutonegotiate:\ton\nRX:\t\ton\nTX:\t\ton\n"
    )
    assert ok("-A", "tn0", "rx", "off", "autoneg", "off") == ""
    assert ops.pause == PauseParam(autoneg=False, rx_pause=False, tx_pause=True)
    assert ok("-s", "tn0", "msglvl", "0x10") == "" and ops.level == 0x10
    assert ok("-s", "tn0", "msglvl", "drv", "on", "ifdown", "off", "hw", "on") == ""
    assert ops.level == 0x2001
    assert ok("-r", "tn0") == "" and ops.resets == 1
    daemon.host.attachment.down(daemon.host.devices["tn0"])  # type: ignore[attr-defined]
    assert "cannot restart autonegotiation: Resource temporarily unavailable" in failed(
        255, "--negotiate", "tn0"
    )  # ethtool's do_nway_rst returns -1


def test_message_level_line_as_ethtool_prints_it(daemon: Daemon) -> None:
    """ethtool's netlink debug_reply_cb (what ``ethtool DEV`` prints since ethtool 5.6 on a
    kernel with ethtool netlink): 8 blanks, the level, then 30 blanks and " NAME" for each
    bit set — a line of only blanks for level 0; the kernel's msgmask bitset has the 15
    NETIF_MSG_* bits only (NETIF_MSG_CLASS_COUNT), so a bit past them is not shown."""
    ops: TunableEthtool = daemon.host.devices["tn0"].ethtool_ops  # type: ignore[assignment]

    def level_lines(value: str) -> str:
        assert ok("-s", "tn0", "msglvl", value) == ""
        out = ok("tn0")
        return out[out.index("        Current message level") : out.index("\tLink detected")]

    blanks = " " * 30
    assert level_lines("0") == f"        Current message level: 0x00000000 (0)\n{blanks}\n"
    assert level_lines("7") == (
        f"        Current message level: 0x00000007 (7)\n{blanks} drv probe link\n"
    )
    assert level_lines("0x4001") == (
        f"        Current message level: 0x00004001 (16385)\n{blanks} drv wol\n"
    )
    ops.level = 0x18001  # the driver's own bits past NETIF_MSG_WOL: not in the bitset
    out = ok("tn0")
    assert f"        Current message level: 0x00000001 (1)\n{blanks} drv\n" in out
    assert json.loads(ok("tn0", "--json"))["msglevel"] == 0x18001


def test_a_message_level_past_the_named_bits_is_refused(daemon: Daemon) -> None:
    """ethtool -s DEV msglvl 0x8000 on Linux: "netlink error: cannot modify bits past kernel
    bitset size", exit 75 (ethnl_update_bitset32 over NETIF_MSG_CLASS_COUNT bits); the
    level is left as it was."""
    ops: TunableEthtool = daemon.host.devices["tn0"].ethtool_ops  # type: ignore[assignment]
    for value in ("0x8000", "0x10007", "4294967295"):
        err = failed(75, "-s", "tn0", "msglvl", value)
        assert "cannot modify bits past kernel bitset size" in err, err
        assert "0..0x7fff" in err
    assert ops.level == 0x7
    ops.level = 0x18001  # TYPE on|off changes the named bits and keeps the driver's own
    assert ok("-s", "tn0", "msglvl", "probe", "on") == "" and ops.level == 0x18003


def test_without_a_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_daemon(start: bool = False, plugins: tuple[str, ...] = ()) -> Any:
        raise DaemonNotRunning("none")

    monkeypatch.setattr(cli_mod, "_client", no_daemon)
    assert failed(1, "-g", "eth0") == (
        "netdrv: no netdrv daemon in this network namespace: 'eth0' is not a netdrv device\n"
    )
    # As ethtool for a device that does not exist: each command's own status.
    assert "no netdrv daemon" in failed(71, "-i", "eth0")
    assert "no netdrv daemon" in failed(74, "-t", "eth0")


@pytest.mark.parametrize(
    ("args", "code", "garbage", "message"),
    [
        (("-s", "tn0", "msglvl", "drv", "on"), 75, {"level": "7"}, "get_msglevel returned '7'"),
        (("-L", "tn0", "combined", "2"), 1, {"channels": Channels(max_combined="8")},  # type: ignore[arg-type]
         "get_channels returned max_combined='8', not an integer"),
        (("-a", "tn0"), 1, {"pause": PauseParam(rx_pause="on")},  # type: ignore[arg-type]
         "get_pauseparam returned rx_pause='on', not true or false"),
    ],
)  # fmt: skip
def test_garbage_from_a_driver_exits_as_a_refusal_naming_it(
    daemon: Daemon, args: tuple[str, ...], code: int, garbage: dict[str, Any], message: str
) -> None:
    """Not a Python traceback from the CLI (``'>' not supported between 'str' and 'int'``),
    nor an internal error of the daemon: the driver's get op is named, and the command's
    failure status (as ethtool's).  (Plain ``ethtool DEV``'s parts:
    test_cli_ethtool_settings_parts.)"""
    ops: TunableEthtool = daemon.host.devices["tn0"].ethtool_ops  # type: ignore[assignment]
    if "link" in garbage:
        ops.get_link_ksettings = lambda dev: garbage["link"]  # type: ignore[method-assign]
    else:
        for k, v in garbage.items():
            setattr(ops, k, v)
    assert message in failed(code, *args)


def test_change_link_settings_like_ethtool_s(daemon: Daemon) -> None:
    ops: TunableEthtool = daemon.host.devices["tn0"].ethtool_ops  # type: ignore[assignment]
    assert ok("-s", "tn0", "speed", "100", "duplex", "half", "autoneg", "off") == ""
    assert ops.link == LinkSettings(speed=100, duplex=0, autoneg=False, port="tp")
    assert ok("tn0").startswith(
        "Settings for tn0:\n\tSpeed: 100Mb/s\n\tDuplex: Half\n\tAuto-negotiation: off\n"
    )
    assert ok("--change", "tn0", "duplex", "full") == ""  # only what is given changes
    assert ops.link == LinkSettings(speed=100, duplex=1, autoneg=False, port="tp")
    out = json.loads(ok("-s", "tn0", "duplex", "full", "--json"))  # nothing to change
    assert out["changed"] is False and (out["speed"], out["duplex"]) == (100, "full")
    # Link settings and the message level in one go, as ethtool takes them.
    out = json.loads(ok("-s", "tn0", "speed", "10", "msglvl", "drv", "off", "--json"))
    assert out["changed"] is True and out["speed"] == 10 and out["msglevel"] == 0x6
    assert ops.level == 0x6 and ops.link.speed == 10
    out = json.loads(ok("-s", "tn0", "msglvl", "0x6", "speed", "10", "--json"))
    assert out["changed"] is False
    assert ok("-s", "tn0", "autoneg", "on") == "" and ops.link.autoneg is True
    # A malformed word anywhere: nothing was sent.
    assert "unknown message type" in failed(1, "-s", "tn0", "autoneg", "off", "msglvl", "x", "on")
    assert ops.link.autoneg is True


def test_private_flags_like_ethtool(daemon: Daemon) -> None:
    ops: TunableEthtool = daemon.host.devices["tn0"].ethtool_ops  # type: ignore[assignment]
    assert ok("--show-priv-flags", "tn0") == (
        "Private flags for tn0:\nlegacy-rx      : off\ndisable-fw-lldp: on\n"
    )
    assert ok("--set-priv-flags", "tn0", "legacy-rx", "on", "disable-fw-lldp", "off") == ""
    assert ops.flags == 0b01
    out = json.loads(ok("--set-priv-flags", "tn0", "legacy-rx", "on", "--json"))
    assert out == {"priv_flags": {"legacy-rx": True, "disable-fw-lldp": False}, "changed": False}
    assert "supports-priv-flags: yes" in ok("-i", "tn0")
    assert "supports-priv-flags: no" in ok("-i", "sn0")


def test_settings_of_a_device_without_ethtool_ops_are_no_data_available(daemon: Daemon) -> None:
    """A device with no ethtool_ops (Linux's default_ethtool_ops: ifb, slip, dummy) has no
    get_link: ethtool's nl_gset gets no reply with data and prints "No data available",
    exit status 75 — not a "Link detected" line made up from the carrier."""
    daemon.host.devices["tn0"].ethtool_ops = None
    res = run("tn0")
    assert (res.exit_code, res.stdout) == (75, "No data available\n"), res.output
    assert json.loads(ok("tn0", "--json"))["link"] is None
    assert "Link detected: yes" in ok("sn0")  # a driver with ethtool_ops has get_link


def test_permanent_address_not_set_like_ethtool_p(daemon: Daemon) -> None:
    """ethtool -P (netlink/permaddr.c) reads IFLA_PERM_ADDRESS, which the kernel leaves out
    for an address of zeros or none (addr_len 0): "Permanent address: not set"."""
    tn0 = daemon.host.devices["tn0"]
    tn0.perm_addr = bytes(6)
    assert ok("-P", "tn0") == "Permanent address: not set\n"
    tn0.addr_len, tn0.perm_addr = 0, b""
    assert ok("-P", "tn0") == "Permanent address: not set\n"
    assert json.loads(ok("-P", "tn0", "--json")) == {"perm_addr": "", "addr_len": 0}
    assert ok("-P", "sn0") == "Permanent address: 00:53:4e:55:4c:30\n"


class _GetOnlyMsglevel(TunableEthtool):
    """A message level to show but none to change (no ``set_msglevel`` of its own)."""

    set_msglevel = EthtoolOps.set_msglevel  # type: ignore[assignment]


def test_a_level_past_the_named_bits_on_a_device_that_takes_none_is_that_refusal(
    daemon: Daemon,
) -> None:
    """Linux's ethnl_set_debug finds the device (ENODEV), then the ops (EOPNOTSUPP without
    get_msglevel and set_msglevel), and only then parses the bitset: ``ethtool -s ifb0
    msglvl 0x8000`` is "Operation not supported", not a complaint about the value."""
    assert failed(75, "-s", "sn0", "msglvl", "0x8000") == (
        "netdrv: sn0 does not support message levels\n"
    )
    assert failed(75, "-s", "nosuch", "msglvl", "0x8000") == (
        "netdrv: no netdrv device named 'nosuch'\n"
    )
    ops = _GetOnlyMsglevel()
    daemon.host.devices["tn0"].ethtool_ops = ops
    assert failed(75, "-s", "tn0", "msglvl", "0x8000") == (
        "netdrv: tn0 does not support message levels\n"
    )
    assert ops.level == 0x7


def test_msglvl_n_keeps_the_drivers_bits_past_the_named_ones(daemon: Daemon) -> None:
    """Over netlink, ``msglvl N`` is a bitset of the 15 NETIF_MSG_* bits
    (ethnl_update_bitset32 over NETIF_MSG_CLASS_COUNT): the driver's own bits past them,
    which ``ethtool DEV`` does not show, stay as they were."""
    ops: TunableEthtool = daemon.host.devices["tn0"].ethtool_ops  # type: ignore[assignment]
    ops.level = 0x18001
    assert ok("-s", "tn0", "msglvl", "0x6") == "" and ops.level == 0x18006
    out = json.loads(ok("-s", "tn0", "msglvl", "6", "--json"))
    assert out["changed"] is False and out["msglevel"] == 0x18006
    out = json.loads(ok("-s", "tn0", "speed", "100", "autoneg", "off", "msglvl", "0",
                       "--json"))  # fmt: skip
    assert out["changed"] is True and out["msglevel"] == 0x18000 and ops.level == 0x18000
