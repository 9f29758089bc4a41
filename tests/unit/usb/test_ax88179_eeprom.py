"""``ethtool -P/-e/-E`` on the AX88179: Linux's ax88179_get_eeprom/ax88179_set_eeprom (16-bit
words over AX_ACCESS_EEPROM, AX88179_EEPROM_MAGIC) against the simulated chip's EEPROM."""

from __future__ import annotations

import errno

import pytest
from netdrv_usbnet.ax88179 import Ax88179Ethtool
from netdrv_usbnet.codecs import ax88179 as ax
from netdrv_usbnet.sim.ax88179 import Ax88179Model, eeprom_image
from usbnet_helpers import wait

from netdrv_core import Host
from netdrv_core.ethtool import EthtoolError, ethtool_get_eeprom, ethtool_request

MAGIC = ax.AX88179_EEPROM_MAGIC


def _bound(host: Host, usbnet):
    drv = usbnet(sim="ax88179")
    (dev,) = drv.devices
    assert isinstance(dev.ethtool_ops, Ax88179Ethtool)  # register() installs the minidriver's
    return drv, drv.sim_model, dev


def test_the_simulated_eeprom_holds_the_mac_and_a_valid_id_checksum() -> None:
    m = Ax88179Model(mac=b"\x00\x0e\xc6\x12\x34\x56")
    assert len(m.eeprom) == ax.AX_EEPROM_LEN and m.eeprom[0:6] == b"\x00\x0e\xc6\x12\x34\x56"
    # ax88179_check_eeprom: the sum over bytes 6-9, folded, plus byte 10 is 0xFF
    csum = sum(m.eeprom[6:10])
    assert (csum >> 8) + (csum & 0xFF) + m.eeprom[10] == 0xFF
    assert m.eeprom[6:10] == bytes([0x95, 0x0B, 0x90, 0x17])  # 0b95:1790, little-endian
    assert m.eeprom[11:] == b"\xff" * (ax.AX_EEPROM_LEN - 11)
    assert m.mac == m.eeprom[0:6], "NODE_ID is loaded from the EEPROM at power-on"
    assert eeprom_image(b"\x02" * 6, 0x0B95, 0x1790)[6:11] == m.eeprom[6:11]


def test_read_the_eeprom_and_the_permanent_address(host: Host, usbnet) -> None:
    _, m, dev = _bound(host, usbnet)
    info, _ = ethtool_request(host, dev, "drvinfo")
    assert info["eedump_len"] == ax.AX_EEPROM_LEN
    eeprom, data = ethtool_get_eeprom(host, dev)
    assert (eeprom.magic, eeprom.len) == (MAGIC, ax.AX_EEPROM_LEN) and data == bytes(m.eeprom)
    # an odd offset and length: whole words are read, the bytes asked for returned
    result, _ = ethtool_request(host, dev, "eeprom", args={"offset": 3, "length": 4})
    assert result == {"magic": MAGIC, "offset": 3, "length": 4, "data": m.eeprom[3:7].hex()}
    perm, _ = ethtool_request(host, dev, "permaddr")
    assert perm["perm_addr"] == m.eeprom[0:6].hex(":") == dev.dev_addr.hex(":")


@pytest.mark.parametrize(("offset", "data"), [(0, b"\x02\x00"), (3, b"\xaa"), (6, b"\x01\x02\x03")])
def test_write_keeps_the_neighbouring_bytes_of_partial_words(
    host: Host, usbnet, offset: int, data: bytes
) -> None:
    _, m, dev = _bound(host, usbnet)
    before = bytes(m.eeprom)
    settings = {"magic": MAGIC, "offset": offset, "data": data.hex()}
    assert ethtool_request(host, dev, "eeprom", settings)[1] is True
    end = offset + len(data)
    assert bytes(m.eeprom) == before[:offset] + data + before[end:]
    assert ethtool_get_eeprom(host, dev, offset, len(data))[1] == data


def test_a_write_with_another_magic_is_refused_and_changes_nothing(host: Host, usbnet) -> None:
    _, m, dev = _bound(host, usbnet)
    before = bytes(m.eeprom)
    with pytest.raises(EthtoolError, match="Invalid argument") as exc:
        ethtool_request(host, dev, "eeprom", {"magic": 0x17900B96, "offset": 0, "data": "ff"})
    assert exc.value.errno == errno.EINVAL and bytes(m.eeprom) == before
    with pytest.raises(EthtoolError, match="outside the 256-byte EEPROM"):
        ethtool_request(host, dev, "eeprom", {"magic": MAGIC, "offset": 255, "data": "0000"})
    assert bytes(m.eeprom) == before


def test_a_new_mac_in_the_eeprom_is_the_adapters_after_a_replug(host: Host, usbnet) -> None:
    _, m, dev = _bound(host, usbnet)
    new_mac = b"\x00\x0e\xc6\xab\xcd\xef"
    ethtool_request(host, dev, "eeprom", {"magic": MAGIC, "offset": 0, "data": new_mac.hex()})
    assert m.mac != new_mac, "the running chip keeps its NODE_ID"
    m.unplug()
    assert wait(host, lambda: host.dev_get_by_name(dev.name) is None)
    m.replug()
    assert wait(host, lambda: host.dev_get_by_name(dev.name) is not None)
    new = host.dev_get_by_name(dev.name)
    assert new is not None and new.dev_addr == new_mac and m.mac == new_mac
    perm, _ = ethtool_request(host, new, "permaddr")
    assert perm["perm_addr"] == new_mac.hex(":")


def test_an_unplugged_adapter_answers_enodev(host: Host, usbnet) -> None:
    _, m, dev = _bound(host, usbnet)
    m.unplug()
    assert wait(host, lambda: dev.priv.state != "bound")
    with pytest.raises(EthtoolError) as exc:
        ethtool_get_eeprom(host, dev, 0, 2)
    assert exc.value.errno == errno.ENODEV
