"""ethtool -P/-e/-E/-d: the permanent address, EEPROM access and register dumps, checked
as Linux's ethtool_get_perm_addr, ethtool_get_any_eeprom, ethtool_set_eeprom and
ethtool_get_regs check them, with a driver that keeps an EEPROM image in memory."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from fakedev import make_dev

from netdrv_core import (
    NET_ADDR_RANDOM,
    NET_ADDR_SET,
    Host,
    NetDevice,
    eth_hw_addr_random,
    ether_setup,
)
from netdrv_core.control import ProtocolError, validate_request
from netdrv_core.ethtool import (
    ETHTOOL_PAGE,
    EthtoolEeprom,
    EthtoolError,
    EthtoolOps,
    EthtoolRegs,
    ethtool_get_eeprom,
    ethtool_get_perm_addr,
    ethtool_get_regs,
    ethtool_request,
    ethtool_set_eeprom,
)

MAGIC = 0x1234ABCD


class EepromEthtool(EthtoolOps):
    """An EEPROM image and a register file; ``calls`` logs (op, offset, len)."""

    def __init__(self, size: int = 64) -> None:
        self.image = bytearray(i & 0xFF for i in range(size))
        self.regs = bytes(range(0x10, 0x10 + 20))
        self.calls: list[tuple[str, int, int]] = []
        self.max_read = 0  # > 0: return at most this many bytes per call, lowering len
        self.garbage = ""

    def get_eeprom_len(self, dev: NetDevice) -> Any:
        return "64" if self.garbage == "len" else len(self.image)

    def get_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytearray) -> Any:
        self.calls.append(("get_eeprom", eeprom.offset, eeprom.len))
        if self.garbage == "raise":
            raise RuntimeError("EEPROM controller wedged")
        if self.garbage == "bytes":
            return bytes(self.image[eeprom.offset : eeprom.offset + eeprom.len])
        if self.garbage == "resize":
            data.extend(b"\0")
        if self.garbage == "longer":
            eeprom.len += 1
        n = min(eeprom.len, self.max_read) if self.max_read else eeprom.len
        data[:n] = self.image[eeprom.offset : eeprom.offset + n]
        eeprom.len = n
        eeprom.magic = MAGIC
        return 0

    def set_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytes) -> int:
        self.calls.append(("set_eeprom", eeprom.offset, eeprom.len))
        if eeprom.magic != MAGIC:
            return -errno.EINVAL
        self.image[eeprom.offset : eeprom.offset + eeprom.len] = data
        return 0

    def get_regs_len(self, dev: NetDevice) -> Any:
        if self.garbage == "regs_refused":
            return -errno.ENODEV
        if self.garbage == "regs_eio":
            return -errno.EIO  # the hardware did not answer
        if self.garbage == "regs_oserror":
            raise OSError(errno.EIO, "register window not mapped")
        if self.garbage == "regs_len_garbage":
            return "20"
        return 0 if self.garbage == "no_regs" else len(self.regs)

    def get_regs(self, dev: NetDevice, regs: EthtoolRegs, data: bytearray) -> None:
        self.calls.append(("get_regs", 0, regs.len))
        if self.garbage == "regs_raise":
            raise ValueError("register window unmapped")
        if self.garbage == "regs_resize":
            data[:] = self.regs[:4]
            return
        data[: len(self.regs)] = self.regs
        regs.version = -1 if self.garbage == "version" else 3


@pytest.fixture
def dev(host: Host) -> tuple[NetDevice, EepromEthtool]:
    d, _ = make_dev(host, "ee0")
    ops = EepromEthtool()
    d.ethtool_ops = ops
    return d, ops


# -- -P -------------------------------------------------------------------------------------
def test_permanent_address_is_the_one_registered_with(host: Host) -> None:
    # register_netdevice() copies dev_addr when the driver set no perm_addr (NET_ADDR_PERM);
    # a later address change leaves it.
    d, _ = make_dev(host, "pr0", mac=b"\x02\x11\x22\x33\x44\x55")
    assert d.perm_addr == b"\x02\x11\x22\x33\x44\x55"
    d.dev_addr = b"\x02\x66\x66\x66\x66\x66"
    result, _ = ethtool_request(host, d, "permaddr")
    assert result == {"perm_addr": "02:11:22:33:44:55", "addr_len": 6}


def test_permanent_address_is_the_drivers_or_zeros(host: Host) -> None:
    d, _ = make_dev(host, "pa0", mac=b"\x02\x11\x22\x33\x44\x55")
    d.perm_addr = b"\x00\x0e\xc6\x01\x02\x03"
    assert ethtool_get_perm_addr(d) == b"\x00\x0e\xc6\x01\x02\x03"
    result, changed = ethtool_request(host, d, "permaddr")
    assert result == {"perm_addr": "00:0e:c6:01:02:03", "addr_len": 6} and changed is None
    d.perm_addr = b""  # Linux's zeroed array: a device with no permanent address
    assert ethtool_get_perm_addr(d) == bytes(6)


def test_a_perm_addr_of_the_wrong_length_is_the_drivers_bug(host: Host) -> None:
    d, _ = make_dev(host, "pa0")
    d.perm_addr = b"\x00\x0e\xc6"
    with pytest.raises(EthtoolError, match=r"perm_addr.*not 6 bytes") as exc:
        ethtool_request(host, d, "permaddr")
    assert exc.value.errno == errno.EIO


# -- -e -------------------------------------------------------------------------------------
def test_read_all_and_a_range(host: Host, dev: tuple[NetDevice, EepromEthtool]) -> None:
    d, ops = dev
    eeprom, data = ethtool_get_eeprom(host, d)
    assert (eeprom.magic, eeprom.offset, eeprom.len) == (MAGIC, 0, 64)
    assert data == bytes(ops.image)
    result, changed = ethtool_request(host, d, "eeprom", args={"offset": 3, "length": 5})
    assert changed is None
    assert result == {"magic": MAGIC, "offset": 3, "length": 5, "data": "0304050607"}
    assert ops.calls[-1] == ("get_eeprom", 3, 5)


def test_large_reads_come_a_page_at_a_time_and_short_answers_are_continued(
    host: Host, dev: tuple[NetDevice, EepromEthtool]
) -> None:
    d, ops = dev
    ops.image = bytearray((i * 7) & 0xFF for i in range(ETHTOOL_PAGE * 2 + 100))
    _, data = ethtool_get_eeprom(host, d, 10)
    assert data == bytes(ops.image[10:])
    assert [c[2] for c in ops.calls] == [ETHTOOL_PAGE, ETHTOOL_PAGE, 90]
    ops.calls.clear()
    ops.max_read = 3  # a driver that returns what it has and lowers eeprom.len
    _, data = ethtool_get_eeprom(host, d, 1, 7)
    assert data == bytes(ops.image[1:8])
    assert ops.calls == [("get_eeprom", 1, 7), ("get_eeprom", 4, 4), ("get_eeprom", 7, 1)]


@pytest.mark.parametrize(
    ("offset", "length", "match"),
    [(0, 0, "at least 1 byte"), (60, 5, "bytes 60..64 are outside the 64-byte EEPROM"),
     (64, 1, "outside"), (-1, 2, "offset must be an integer")],
)  # fmt: skip
def test_a_range_outside_the_eeprom_is_refused_before_the_driver(
    host: Host, dev: tuple[NetDevice, EepromEthtool], offset: int, length: int, match: str
) -> None:
    d, ops = dev
    with pytest.raises(EthtoolError, match=match) as exc:
        ethtool_get_eeprom(host, d, offset, length)
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(EthtoolError, match=match):
        ethtool_set_eeprom(host, d, MAGIC, offset, b"\0" * length)
    assert ops.calls == []


def test_without_the_ops_or_an_eeprom_it_is_not_supported(host: Host) -> None:
    d, _ = make_dev(host, "pl0")
    for op in ("eeprom", "regs"):
        with pytest.raises(EthtoolError, match="does not support") as exc:
            ethtool_request(host, d, op)
        assert exc.value.errno == errno.EOPNOTSUPP

    class NoEeprom(EepromEthtool):
        def get_eeprom_len(self, dev: NetDevice) -> int:
            return 0

    d.ethtool_ops = NoEeprom()
    with pytest.raises(EthtoolError, match="get_eeprom_len is 0") as exc:
        ethtool_get_eeprom(host, d)
    assert exc.value.errno == errno.EOPNOTSUPP


@pytest.mark.parametrize(
    ("garbage", "match"),
    [("len", "get_eeprom_len returned '64'"), ("bytes", "get_eeprom returned b'"),
     ("resize", "resized its 64-byte buffer"), ("longer", "left len=65, not an integer 0..64")],
)  # fmt: skip
def test_garbage_from_get_eeprom_is_eio_naming_the_driver(
    host: Host, dev: tuple[NetDevice, EepromEthtool], garbage: str, match: str
) -> None:
    d, ops = dev
    ops.garbage = garbage
    with pytest.raises(EthtoolError, match=match) as exc:
        ethtool_get_eeprom(host, d)
    assert exc.value.errno == errno.EIO and str(exc.value).startswith("ee0: the host's ")
    host.loop.run_until_idle()
    assert d.is_up


def test_a_raising_get_eeprom_is_a_driver_fault(
    host: Host, dev: tuple[NetDevice, EepromEthtool]
) -> None:
    d, ops = dev
    ops.garbage = "raise"
    with pytest.raises(EthtoolError, match="raised in get_eeprom: RuntimeError: EEPROM") as exc:
        ethtool_request(host, d, "eeprom")
    assert exc.value.errno == errno.EIO
    host.loop.run_until_idle()
    assert not d.is_up, "the faulting device is taken down"


# -- -E -------------------------------------------------------------------------------------
def test_write_needs_the_magic_the_driver_checks(
    host: Host, dev: tuple[NetDevice, EepromEthtool]
) -> None:
    d, ops = dev
    before = bytes(ops.image)
    with pytest.raises(EthtoolError, match=r"Invalid argument.*magic") as exc:
        ethtool_request(host, d, "eeprom", {"magic": MAGIC ^ 1, "offset": 4, "data": "aabb"})
    assert exc.value.errno == errno.EINVAL and bytes(ops.image) == before
    result, changed = ethtool_request(host, d, "eeprom",
                                      {"magic": MAGIC, "offset": 4, "data": "aabb"})  # fmt: skip
    assert (result, changed) == ({"offset": 4, "length": 2}, True)
    assert ops.image[4:6] == b"\xaa\xbb" and ops.image[6:] == before[6:]
    assert ethtool_get_eeprom(host, d, 3, 4)[1] == b"\x03\xaa\xbb\x06"


def test_a_large_write_goes_a_page_at_a_time(host: Host) -> None:
    d, _ = make_dev(host, "ee1")
    ops = EepromEthtool(ETHTOOL_PAGE + 10)
    d.ethtool_ops = ops
    ethtool_set_eeprom(host, d, MAGIC, 2, b"\x55" * (ETHTOOL_PAGE + 8))
    assert ops.calls == [("set_eeprom", 2, ETHTOOL_PAGE), ("set_eeprom", ETHTOOL_PAGE + 2, 8)]
    assert ops.image[2:] == b"\x55" * (ETHTOOL_PAGE + 8) and ops.image[:2] == b"\x00\x01"


def test_bad_write_requests_are_einval(host: Host, dev: tuple[NetDevice, EepromEthtool]) -> None:
    d, ops = dev
    for bad in ({"magic": MAGIC, "data": "xyz"}, {"magic": MAGIC}, {"data": "00", "len": 1}):
        with pytest.raises(EthtoolError) as exc:
            ethtool_request(host, d, "eeprom", bad)
        assert exc.value.errno == errno.EINVAL
    assert ops.calls == []


# -- -d -------------------------------------------------------------------------------------
def test_register_dump_with_its_version(host: Host, dev: tuple[NetDevice, EepromEthtool]) -> None:
    d, ops = dev
    regs, data = ethtool_get_regs(host, d)
    assert (regs.version, regs.len, data) == (3, 20, ops.regs)
    result, _ = ethtool_request(host, d, "regs")
    assert result == {"version": 3, "length": 20, "data": ops.regs.hex()}
    ops.garbage = "no_regs"  # Linux: a length of 0 is an empty dump, get_regs not called
    ops.calls.clear()
    assert ethtool_get_regs(host, d) == (EthtoolRegs(version=0, len=0), b"")
    assert ops.calls == []
    ops.garbage = "regs_refused"
    with pytest.raises(EthtoolError, match="cannot dump the registers") as exc:
        ethtool_get_regs(host, d)
    assert exc.value.errno == errno.ENODEV


@pytest.mark.parametrize(
    ("garbage", "match"),
    [("regs_resize", "resized its 20-byte buffer to 4"), ("version", "left version=-1")],
)
def test_garbage_from_get_regs_is_eio(
    host: Host, dev: tuple[NetDevice, EepromEthtool], garbage: str, match: str
) -> None:
    d, ops = dev
    ops.garbage = garbage
    with pytest.raises(EthtoolError, match=match) as exc:
        ethtool_get_regs(host, d)
    assert exc.value.errno == errno.EIO and d.is_up


def test_a_raising_get_regs_is_a_driver_fault(
    host: Host, dev: tuple[NetDevice, EepromEthtool]
) -> None:
    d, ops = dev
    ops.garbage = "regs_raise"
    with pytest.raises(EthtoolError, match="raised in get_regs: ValueError") as exc:
        ethtool_get_regs(host, d)
    host.loop.run_until_idle()
    assert exc.value.errno == errno.EIO and not d.is_up


# -- -i and the protocol ---------------------------------------------------------------------
def test_drvinfo_reports_the_dump_sizes(host: Host, dev: tuple[NetDevice, EepromEthtool]) -> None:
    d, ops = dev
    info, _ = ethtool_request(host, d, "drvinfo")
    assert (info["eedump_len"], info["regdump_len"]) == (64, 20)
    ops.garbage = "regs_refused"  # Linux shows a refusing get_regs_len as no dump
    assert ethtool_request(host, d, "drvinfo")[0]["regdump_len"] == 0
    plain, _ = make_dev(host, "pl0")
    info, _ = ethtool_request(host, plain, "drvinfo")
    assert (info["eedump_len"], info["regdump_len"]) == (0, 0)


def test_drvinfo_shows_a_get_regs_len_refused_with_eio_as_no_dump(
    host: Host, dev: tuple[NetDevice, EepromEthtool]
) -> None:
    """Linux's ethtool_get_drvinfo takes any get_regs_len <= 0 as no dump: -EIO (the
    hardware not answering) must not make -i (and -e, -E, which ask -i first) fail."""
    d, ops = dev
    for refusal in ("regs_eio", "regs_oserror"):
        ops.garbage = refusal
        info, _ = ethtool_request(host, d, "drvinfo")
        assert (info["eedump_len"], info["regdump_len"]) == (64, 0), refusal
        with pytest.raises(EthtoolError, match=r"cannot dump the registers|get_regs_len") as exc:
            ethtool_get_regs(host, d)  # -d itself says why
        assert exc.value.errno == errno.EIO
    ops.garbage = "regs_len_garbage"  # garbage stays the driver's bug, named
    with pytest.raises(EthtoolError, match="get_regs_len returned '20'") as exc:
        ethtool_request(host, d, "drvinfo")
    assert exc.value.errno == errno.EIO


def test_protocol_carries_eeprom_ranges_and_hex_data() -> None:
    validate_request({"cmd": "ethtool", "dev": "x", "op": "eeprom",
                      "args": {"offset": 1, "length": 2}})  # fmt: skip
    validate_request({"cmd": "ethtool", "dev": "x", "op": "eeprom",
                      "set": {"magic": 1, "offset": 0, "data": "00ff"}})  # fmt: skip
    for bad in (
        {"op": "regs", "args": {"offset": 1}},
        {"op": "eeprom", "args": {"offset": "1"}},
        {"op": "eeprom", "args": {"size": 1}},
        {"op": "regs", "set": {"x": 1}},
        {"op": "permaddr", "set": {}},
        {"op": "ringparam", "set": {"data": "00"}},
    ):
        with pytest.raises(ProtocolError):
            validate_request({"cmd": "ethtool", "dev": "x", **bad})


def test_a_random_address_is_no_permanent_one(host: Host) -> None:
    # eth_hw_addr_random() marks dev_addr NET_ADDR_RANDOM: register_netdev copies nothing,
    # and ethtool -P shows zeros, as Linux does; an address set later is NET_ADDR_SET.
    d = NetDevice("rnd0")
    ether_setup(d)
    eth_hw_addr_random(d)
    assert d.addr_assign_type == NET_ADDR_RANDOM and d.dev_addr[0] & 0x02
    host.register_netdev(d)
    assert d.perm_addr == b""
    result, _ = ethtool_request(host, d, "permaddr")
    assert result == {"perm_addr": "00:00:00:00:00:00", "addr_len": 6}
    assert host.dev_set_mac_address(d, b"\x02\x00\x00\x00\x00\x07") == 0
    assert d.addr_assign_type == NET_ADDR_SET and d.perm_addr == b""
