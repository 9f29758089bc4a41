"""``netdrv ethtool -P/-e/-E/-d``: output as the real ethtool prints it, raw dumps, exit statuses.

As test_cli_ethtool: an in-process daemon (snull, plus a device whose ethtool ops keep an
EEPROM image and a register file) behind a client that round-trips each message through
JSON and the protocol check.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from test_cli_ethtool import in_process_daemon

import netdrv_core.cli as cli_mod
from netdrv_core import NetDevice, NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.ethtool import EthtoolEeprom, EthtoolOps, EthtoolRegs

MAGIC = 0xC0FFEE01


class ImageEthtool(EthtoolOps):
    """A 40-byte EEPROM (byte i holds i) with a magic, and an 18-byte register dump."""

    def __init__(self) -> None:
        self.image = bytearray(range(40))

    def get_eeprom_len(self, dev: NetDevice) -> int:
        return len(self.image)

    def get_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytearray) -> int:
        data[:] = self.image[eeprom.offset : eeprom.offset + eeprom.len]
        eeprom.magic = MAGIC
        return 0

    def set_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytes) -> int:
        if eeprom.magic != MAGIC:
            return -errno.EINVAL
        self.image[eeprom.offset : eeprom.offset + eeprom.len] = data
        return 0

    def get_regs_len(self, dev: NetDevice) -> int:
        return 18

    def get_regs(self, dev: NetDevice, regs: EthtoolRegs, data: bytearray) -> None:
        data[:] = bytes(range(0xA0, 0xA0 + 18))
        regs.version = 2


@pytest.fixture
def ops(monkeypatch: pytest.MonkeyPatch) -> Iterator[ImageEthtool]:
    ee0 = alloc_netdev(None, "ee0", ether_setup)
    ee0.netdev_ops = NetDeviceOps()
    ee0.dev_addr = b"\x02\x00\x00\x00\x00\x42"
    ee0.perm_addr = b"\x00\x11\x22\x33\x44\x55"
    ee0.ethtool_ops = image = ImageEthtool()
    with in_process_daemon(monkeypatch, ee0):
        yield image


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli_mod.cli, ["ethtool", *args], input=stdin)


def ok(*args: str, stdin: bytes | None = None) -> str:
    res = run(*args, stdin=stdin)
    assert res.exit_code == 0, res.output
    return res.stdout


def failed(code: int, *args: str, stdin: bytes | None = None) -> str:
    res = run(*args, stdin=stdin)
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    return res.stderr


def test_permanent_address_like_ethtool_p(ops: ImageEthtool) -> None:
    assert ok("-P", "ee0") == "Permanent address: 00:11:22:33:44:55\n"
    assert ok("--show-permaddr", "ee0") == "Permanent address: 00:11:22:33:44:55\n"
    assert json.loads(ok("-P", "ee0", "--json")) == {"perm_addr": "00:11:22:33:44:55",
                                                     "addr_len": 6}  # fmt: skip


def test_driver_info_says_what_can_be_dumped(ops: ImageEthtool) -> None:
    out = ok("-i", "ee0")
    assert "supports-eeprom-access: yes\nsupports-register-dump: yes\n" in out
    out = ok("-i", "sn0")
    assert "supports-eeprom-access: no\n" in out


def test_eeprom_dump_like_ethtool_e(ops: ImageEthtool) -> None:
    rows = [" ".join(f"{b:02x}" for b in range(i, min(i + 16, 40))) + " " for i in (0, 16, 32)]
    assert ok("-e", "ee0") == (
        "Offset\t\tValues\n------\t\t------\n"
        f"0x0000:\t\t{rows[0]}\n0x0010:\t\t{rows[1]}\n0x0020:\t\t{rows[2]}\n"
    )
    assert ok("-e", "ee0", "offset", "30", "length", "3") == (
        "Offset\t\tValues\n------\t\t------\n0x001e:\t\t1e 1f 20 \n"
    )
    # a length past the end is cut to it, as ethtool does
    assert ok("-e", "ee0", "offset", "0x26", "length", "100").endswith("0x0026:\t\t26 27 \n")
    res = run("-e", "ee0", "offset", "4", "length", "4", "raw", "on")
    assert res.exit_code == 0 and res.stdout_bytes == b"\x04\x05\x06\x07"
    assert json.loads(ok("--eeprom-dump", "ee0", "length", "2", "--json")) == {
        "magic": MAGIC, "offset": 0, "length": 2, "data": "0001",
    }  # fmt: skip


def test_eeprom_dump_refusals(ops: ImageEthtool) -> None:
    # ethtool: "Cannot get EEPROM data", 74; a malformed command line 1 (exit_bad_args).
    assert "sn0 does not support EEPROM access" in failed(74, "-e", "sn0")
    assert "outside the 40-byte EEPROM" in failed(74, "-e", "ee0", "offset", "40")
    assert "unknown argument 'size'" in failed(1, "-e", "ee0", "size", "4")
    assert "not with --json" in failed(1, "-e", "ee0", "raw", "on", "--json")


def test_change_eeprom_like_ethtool_E(ops: ImageEthtool) -> None:
    assert ok("-E", "ee0", "magic", hex(MAGIC), "offset", "5", "value", "0xab") == ""
    assert ops.image[4:7] == b"\x04\xab\x06"
    # without value: length bytes from standard input
    assert ok("-E", "ee0", "magic", str(MAGIC), "offset", "8", "length", "3",
              stdin=b"xyz") == ""  # fmt: skip
    assert ops.image[8:11] == b"xyz"
    out = json.loads(ok("--change-eeprom", "ee0", "magic", str(MAGIC), "offset", "38",
                        "--json", stdin=b"\x01\x02"))  # fmt: skip
    assert out == {"offset": 38, "length": 2, "changed": True} and ops.image[38:] == b"\x01\x02"


def test_change_eeprom_refusals(ops: ImageEthtool) -> None:
    before = bytes(ops.image)
    # ethtool's statuses: "Cannot set EEPROM data" 87, stdin 75, out of bounds 1.
    err = failed(87, "-E", "ee0", "magic", "1", "offset", "0", "value", "0")
    assert "cannot write 1 byte of the EEPROM at offset 0: Invalid argument" in err
    assert "magic" in err
    assert "not enough data from stdin" in failed(
        75, "-E", "ee0", "magic", str(MAGIC), "length", "4", stdin=b"ab"
    )
    assert "too much data from stdin" in failed(
        75, "-E", "ee0", "magic", str(MAGIC), "offset", "36", stdin=b"abcdef"
    )
    assert "out of bounds" in failed(
        1, "-E", "ee0", "magic", str(MAGIC), "offset", "38", "length", "4", stdin=b"abcd"
    )
    assert "offset & length out of bounds: the EEPROM has 40 bytes" in failed(
        1, "-E", "ee0", "magic", str(MAGIC), "offset", "40", "value", "1"
    )
    assert "not a byte" in failed(1, "-E", "ee0", "magic", "1", "value", "256")
    assert "give no length, or length 1" in failed(
        1, "-E", "ee0", "magic", "1", "length", "2", "value", "1"
    )
    assert "sn0 does not support writing the EEPROM" in failed(
        87, "-E", "sn0", "magic", "1", "value", "1"
    )
    assert bytes(ops.image) == before


def test_change_eeprom_of_a_device_without_one_does_not_read_stdin(ops: ImageEthtool) -> None:
    """No EEPROM (-i: eedump_len 0): the refusal comes first; standard input, perhaps a
    terminal that would be waited on, is not read."""
    stdin = b"\x01\x02"
    for words in ((), ("length", "2"), ("offset", "4", "length", "2")):
        err = failed(87, "-E", "sn0", "magic", "1", *words, stdin=stdin)
        assert "sn0 does not support writing the EEPROM" in err, (words, err)


def test_register_dump_like_ethtool_d(ops: ImageEthtool) -> None:
    regs = bytes(range(0xA0, 0xA0 + 18))
    assert ok("-d", "ee0") == (
        "Offset\t\tValues\n------\t\t------\n"
        "0x0000:\t\t" + "".join(f"{b:02x} " for b in regs[:16]) + "\n"
        "0x0010:\t\tb0 b1 \n"
    )
    res = run("--register-dump", "ee0", "raw", "on")
    assert res.exit_code == 0 and res.stdout_bytes == regs
    assert json.loads(ok("-d", "ee0", "--json")) == {"version": 2, "length": 18,
                                                     "data": regs.hex()}  # fmt: skip
    assert "sn0 does not support register dumps" in failed(74, "-d", "sn0")
