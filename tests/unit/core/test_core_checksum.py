"""Internet checksum (RFC 1071) against a reference; incremental update (RFC 1624)."""

from __future__ import annotations

import struct

import pytest
from frames import ipv4_packet, ref_checksum, ref_sum
from hypothesis import given, settings
from hypothesis import strategies as st

from netdrv_core.checksum import (
    csum_fold,
    csum_partial,
    csum_replace2,
    csum_replace4,
    csum_tcpudp_magic,
    csum_tcpudp_nofold,
    csum_update,
    ip_compute_csum,
    ip_fast_csum,
)


def test_rfc1071_worked_example() -> None:
    # RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum (folded) to ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert csum_fold(csum_partial(data)) == ~0xDDF2 & 0xFFFF
    assert ip_compute_csum(data) == 0x220D


def test_known_ipv4_header() -> None:
    # A classic example header (Wikipedia "IPv4 header checksum"): checksum b861.
    hdr = bytearray.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert ip_compute_csum(hdr) == 0xB861
    hdr[10:12] = b"\xb8\x61"
    assert ip_fast_csum(hdr) == 0


def test_empty_and_zero_and_odd() -> None:
    assert csum_partial(b"") == 0
    assert csum_partial(b"", 7) == 7
    assert ip_compute_csum(b"\0\0\0\0") == 0xFFFF
    assert ip_compute_csum(b"\x01") == ~0x0100 & 0xFFFF  # odd length: padded with a zero byte


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_matches_reference(data: bytes) -> None:
    assert ip_compute_csum(data) == ref_checksum(data)
    assert ip_compute_csum(memoryview(data)) == ref_checksum(data)
    assert ip_compute_csum(bytearray(data)) == ref_checksum(data)


@given(st.binary(max_size=100), st.binary(max_size=100))
def test_partial_sums_compose_over_even_splits(a: bytes, b: bytes) -> None:
    if len(a) % 2:
        a += b"\0"
    assert csum_fold(csum_partial(b, csum_partial(a))) == ref_checksum(a + b)


@given(st.binary(min_size=20, max_size=20), st.integers(0, 9), st.integers(0, 0xFFFF))
def test_rfc1624_incremental_update_equals_recomputation(raw: bytes, word: int, new: int) -> None:
    hdr = bytearray(raw)
    hdr[10:12] = b"\0\0"
    if word == 5:  # the checksum field itself is not a data word
        word = 4
    hdr[10:12] = ref_checksum(hdr).to_bytes(2, "big")
    old = int.from_bytes(hdr[2 * word : 2 * word + 2], "big")
    check = int.from_bytes(hdr[10:12], "big")
    hdr[2 * word : 2 * word + 2] = new.to_bytes(2, "big")
    updated = csum_update(check, old, new)
    hdr2 = bytearray(hdr)
    hdr2[10:12] = b"\0\0"
    recomputed = ref_checksum(hdr2)
    # The only allowed difference is the two representations of zero, and only
    # for an all-zero header (RFC 1624 section 3): ours must verify either way.
    assert updated == recomputed or (updated, recomputed) in ((0, 0xFFFF), (0xFFFF, 0))
    hdr[10:12] = updated.to_bytes(2, "big")
    if any(hdr):
        assert updated == recomputed
        assert ref_sum(hdr) == 0xFFFF
    assert csum_replace2(check, old, new) == updated


@given(st.binary(min_size=20, max_size=20), st.integers(0, 0xFFFFFFFF))
def test_csum_replace4_for_an_address_change(raw: bytes, new_addr: int) -> None:
    hdr = bytearray(ipv4_packet("10.0.0.1", "10.0.0.2", 17, b""))
    hdr[0:10] = raw[0:10]
    hdr[0] = 0x45
    hdr[10:12] = b"\0\0"
    hdr[10:12] = ref_checksum(hdr).to_bytes(2, "big")
    check = int.from_bytes(hdr[10:12], "big")
    old_addr = int.from_bytes(hdr[12:16], "big")
    hdr[12:16] = new_addr.to_bytes(4, "big")
    updated = csum_replace4(check, old_addr, new_addr)
    hdr[10:12] = b"\0\0"
    assert updated == ref_checksum(hdr)


def test_pseudo_header() -> None:
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    seg = struct.pack("!HHHH", 1234, 53, 10, 0) + b"hi"
    expected = ref_checksum(src + dst + struct.pack("!BBH", 0, 17, len(seg)) + seg)
    assert csum_tcpudp_magic(src, dst, len(seg), 17, csum_partial(seg)) == expected
    nofold = csum_tcpudp_nofold(src, dst, len(seg), 17)
    assert csum_fold(nofold) == ref_checksum(src + dst + struct.pack("!BBH", 0, 17, len(seg)))


@pytest.mark.parametrize("value", [0, 1, 0xFFFF, 0x10000, 0x1FFFE, 0xFFFFFFFF, 3 << 40])
def test_fold_is_one_complement_of_end_around_sum(value: int) -> None:
    v = value
    while v >> 16:
        v = (v & 0xFFFF) + (v >> 16)
    assert csum_fold(value) == ~v & 0xFFFF
