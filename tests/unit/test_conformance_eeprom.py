"""The conformance kit's EEPROM checks: a driver with a correct ``get_eeprom``/``set_eeprom``
passes ``test_ethtool_ops``; one that ignores the offset, or writes whatever magic it is
given, fails it with a message that says so."""

from __future__ import annotations

import errno

import pytest
from test_conformance import Good, check

from netdrv_core import Host, NetDevice, NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.ethtool import EthtoolEeprom, EthtoolError, EthtoolOps, ethtool_request

MAGIC = 0x4B495445


class KitEeprom(EthtoolOps):
    def __init__(self) -> None:
        self.image = bytearray(range(32))

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


class EfaultOnMagic(KitEeprom):
    def set_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytes) -> int:
        if eeprom.magic != MAGIC:
            return -errno.EFAULT  # as igb and e1000e answer a wrong magic
        return super().set_eeprom(dev, eeprom, data)


class EnospcOnMagic(KitEeprom):
    def set_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytes) -> int:
        return -errno.ENOSPC if eeprom.magic != MAGIC else super().set_eeprom(dev, eeprom, data)


class NoMagicCheck(KitEeprom):
    def set_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytes) -> int:
        self.image[eeprom.offset : eeprom.offset + eeprom.len] = data
        return 0


class FromTheStart(KitEeprom):
    def get_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytearray) -> int:
        data[:] = self.image[: eeprom.len]  # ignores eeprom.offset
        eeprom.magic = MAGIC
        return 0


def _with(name: str, ops: type[EthtoolOps]) -> type[Good]:
    def init(self: Good) -> None:
        Good.init(self)
        for dev in self.devices:
            dev.ethtool_ops = ops()

    return type(name.title(), (Good,), {"name": name, "summary": name, "init": init})


@pytest.mark.parametrize("ops", [KitEeprom, EfaultOnMagic])
def test_a_driver_with_a_correct_eeprom_passes(ops: type[EthtoolOps]) -> None:
    check(_with("kiteeprom", ops), "test_ethtool_ops", count="2")


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (NoMagicCheck, r"set_eeprom took magic 0xb4b6abba, not the 0x4b495445 get_eeprom reports"),
        (FromTheStart, r"get_eeprom at offset 1, length 7 gave 00010203040506"),
        (
            EnospcOnMagic,
            r"set_eeprom with a wrong magic fails with .*No space left on device; "
            r"refuse it with -EINVAL",
        ),
    ],
)
def test_eeprom_bugs_are_caught(ops: type[EthtoolOps], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(_with("kiteeprombug", ops), "test_ethtool_ops")


@pytest.mark.parametrize("ops", [KitEeprom, EfaultOnMagic])
def test_a_wrong_magic_refused_either_way_gets_the_magic_hint(
    host: Host, ops: type[KitEeprom]
) -> None:
    # The kit accepts EFAULT (igb, e1000e) as well as EINVAL for a wrong magic: `netdrv
    # ethtool -E` must then point at the magic too, not leave a bare "Bad address".
    dev = alloc_netdev(None, "ee%d", ether_setup)
    dev.netdev_ops = NetDeviceOps()
    dev.ethtool_ops = eeprom = ops()
    host.register_netdev(dev)
    before = bytes(eeprom.image)
    with pytest.raises(EthtoolError) as exc:
        ethtool_request(host, dev, "eeprom", {"magic": MAGIC ^ 1, "offset": 4, "data": "aa"})
    assert "a driver refuses a wrong magic so" in str(exc.value), str(exc.value)
    assert f"netdrv ethtool --json -e {dev.name}" in str(exc.value)
    assert bytes(eeprom.image) == before
