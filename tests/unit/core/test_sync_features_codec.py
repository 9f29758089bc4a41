"""The SIOCETHTOOL feature structures (sans-I/O) and the features event of rtnetlink.

The layouts are include/uapi/linux/ethtool.h's: ``ethtool_sset_info``,
``ethtool_gstrings``, ``ethtool_gfeatures`` and ``ethtool_sfeatures``.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netdrv_core.attach import ioctl
from netdrv_core.attach.netlink import (
    IFLA_EVENT,
    IFLA_EVENT_FEATURES,
    IFLA_IFNAME,
    RTM_NEWLINK,
    parse_link_messages,
)


def test_sset_info_asks_for_one_set_and_reads_its_count() -> None:
    req = ioctl.pack_sset_info(ioctl.ETH_SS_FEATURES)
    assert req == struct.pack("=IIQI", 0x37, 0, 1 << 4, 0)
    # The kernel keeps the bit of a set it knows and puts its count in data[0].
    assert ioctl.parse_sset_info(struct.pack("=IIQI", 0x37, 0, 1 << 4, 66), 4) == 66
    assert ioctl.parse_sset_info(struct.pack("=IIQI", 0x37, 0, 0, 0), 4) is None
    with pytest.raises(ValueError, match="ethtool_sset_info of 8 bytes"):
        ioctl.parse_sset_info(b"\0" * 8, 4)


def test_gstrings_reads_the_names_in_bit_order() -> None:
    req = ioctl.pack_gstrings(ioctl.ETH_SS_FEATURES, 3)
    assert req[:12] == struct.pack("=III", 0x1B, 4, 3) and len(req) == 12 + 3 * 32
    names = [b"tx-scatter-gather", b"tx-checksum-ipv4", b"x" * 32]  # the last fills its 32 bytes
    answer = struct.pack("=III", 0x1B, 4, 3) + b"".join(n.ljust(32, b"\0") for n in names)
    assert ioctl.parse_gstrings(answer) == ["tx-scatter-gather", "tx-checksum-ipv4", "x" * 32]
    # A count past the buffer reads what is there.
    assert ioctl.parse_gstrings(struct.pack("=III", 0x1B, 4, 9) + b"a".ljust(32, b"\0")) == ["a"]
    with pytest.raises(ValueError):
        ioctl.parse_gstrings(b"\0" * 4)


def test_gfeatures_joins_the_words_of_each_mask() -> None:
    req = ioctl.pack_gfeatures(2)
    assert req == struct.pack("=II", 0x3A, 2) + bytes(32)
    answer = (
        struct.pack("=II", 0x3A, 2)
        + struct.pack("=IIII", 1, 2, 3, 4)
        + struct.pack("=IIII", 0x10, 0x20, 0x30, 0x40)
    )
    got = ioctl.parse_gfeatures(answer)
    assert got == ioctl.FeatureWords(2, 1 | 0x10 << 32, 2 | 0x20 << 32, 3 | 0x30 << 32,
                                     4 | 0x40 << 32)  # fmt: skip
    # The kernel says how many words it has even when it copied fewer (the buffer's room).
    short = ioctl.parse_gfeatures(struct.pack("=II", 0x3A, 3) + struct.pack("=IIII", 1, 2, 3, 4))
    assert short.words == 3 and short.requested == 2
    with pytest.raises(ValueError):
        ioctl.parse_gfeatures(b"\0" * 7)


def test_sfeatures_splits_the_masks_into_words() -> None:
    msg = ioctl.pack_sfeatures(2, valid=1 << 0 | 1 << 33, requested=1 << 33)
    assert msg == struct.pack("=II", 0x3B, 2) + struct.pack("=IIII", 1, 0, 2, 2)
    with pytest.raises(ValueError, match="do not fit 1 words"):
        ioctl.pack_sfeatures(1, valid=1 << 40, requested=0)
    with pytest.raises(ValueError):
        ioctl.pack_sfeatures(2, valid=1, requested=2)  # a request outside valid


@given(st.integers(1, 4), st.data())
def test_sfeatures_round_trips_through_the_words(words: int, data: st.DataObject) -> None:
    valid = data.draw(st.integers(0, (1 << (32 * words)) - 1))
    requested = data.draw(st.integers(0, (1 << (32 * words)) - 1)) & valid
    msg = ioctl.pack_sfeatures(words, valid, requested)
    blocks = [struct.unpack_from("=II", msg, 8 + 8 * i) for i in range(words)]
    assert sum(v << (32 * i) for i, (v, _r) in enumerate(blocks)) == valid
    assert sum(r << (32 * i) for i, (_v, r) in enumerate(blocks)) == requested


def test_ethtool_request_numbers() -> None:
    assert (ioctl.SIOCETHTOOL, ioctl.ETHTOOL_GFEATURES, ioctl.ETHTOOL_SFEATURES) == (
        0x8946, 0x3A, 0x3B)  # fmt: skip


def _newlink(*attrs: bytes) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, 7, 0, 0) + b"".join(attrs)
    msg = struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK, 0, 0, 0) + body
    return msg + b"\0" * (-len(msg) % 4)


def _rta(kind: int, payload: bytes) -> bytes:
    a = struct.pack("=HH", 4 + len(payload), kind) + payload
    return a + b"\0" * (-len(a) % 4)


def test_the_features_event_is_parsed() -> None:
    (ev,) = parse_link_messages(_newlink(_rta(IFLA_IFNAME, b"sn0\0"),
                                         _rta(IFLA_EVENT, struct.pack("=I", IFLA_EVENT_FEATURES))))  # fmt: skip
    assert ev.event == IFLA_EVENT_FEATURES and ev.features_changed
    (other,) = parse_link_messages(_newlink(_rta(IFLA_EVENT, struct.pack("=I", 1))))  # REBOOT
    assert other.event == 1 and not other.features_changed
    (plain,) = parse_link_messages(_newlink(_rta(IFLA_EVENT, b"\1")))  # too short: ignored
    assert plain.event is None and not plain.features_changed
