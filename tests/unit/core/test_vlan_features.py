"""``dev.vlan_features``: what a device still offloads behind a VLAN tag (Linux's netif_skb_features).

A tagged skb — the tag in its metadata (``skb.vlan_all``) or in its data
(``skb.protocol`` a VLAN ethertype) — gets only the offloads in both
``dev.features`` and ``dev.vlan_features``; 0, the default, as ether_setup
leaves it, means the core finishes a partial checksum and segments a
super-frame before ``start_xmit``.  Hardware that cannot parse past a tag would
otherwise checksum the wrong bytes.  Untagged frames are not affected.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from fakedev import kernel_port, make_dev, mem
from frames import eth_frame, ipv4_checksum_ok, l4_checksum_ok, tcp_packet

from netdrv_core import ETH_P_8021AD, ETH_P_8021Q, Host, NetDevice, SkBuff
from netdrv_core.attach.tap import KernelStack, _Port
from netdrv_core.attach.vnet import VNET_HDR
from netdrv_core.gso import netif_skb_features
from netdrv_core.netdevice import (
    NETIF_F_HW_CSUM,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    netdev_intersect_features,
)
from netdrv_core.skbuff import CHECKSUM_NONE, CHECKSUM_PARTIAL, SKB_GSO_TCPV4

A, B = "198.18.0.1", "198.18.0.2"
DST, SRC = "02:00:00:00:00:10", "02:00:00:00:00:20"
TCI = 3 << 13 | 5  # priority 3, VLAN 5
HEADROOM = 16  # where MemoryStack.send puts the frame
PAYLOAD = bytes(range(256)) * 12  # 3072 bytes: 4 segments of 1000 (the last 72)
TSO_DEV = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO


def _frame(payload: bytes = b"q" * 100, *, partial: bool = True) -> bytes:
    return eth_frame(DST, SRC, 0x0800, tcp_packet(A, B, 1, 2, payload, partial=partial))


def _tag(frame: bytes, proto: int = ETH_P_8021Q, tci: int = TCI) -> bytes:
    return frame[:12] + struct.pack("!HH", proto, tci) + frame[12:]


def _recorder(ops) -> list[tuple[int, int, int, bytes]]:  # type: ignore[no-untyped-def]
    """What start_xmit got: (ip_summed, gso_size, vlan_all, the frame as on the wire)."""
    seen: list[tuple[int, int, int, bytes]] = []

    def on_xmit(skb: SkBuff, _dev: NetDevice) -> None:
        data = skb.tobytes()
        if skb.vlan_all:  # the hardware would insert it
            data = data[:12] + skb.vlan_all.to_bytes(4, "big") + data[12:]
        seen.append((skb.ip_summed, skb.gso_size, skb.vlan_all, data))

    ops.on_xmit = on_xmit
    return seen


def _ip_at(frame: bytes) -> int:
    at = 12
    while frame[at : at + 2] in (b"\x81\x00", b"\x88\xa8"):
        at += 4
    return at + 2


def _checksums_ok(frame: bytes) -> bool:
    ip = frame[_ip_at(frame) :]
    return ipv4_checksum_ok(ip) and l4_checksum_ok(ip)


def _send_partial(host: Host, dev: NetDevice, frame: bytes, **meta: int) -> None:
    ip = _ip_at(frame)
    mem(host).send(dev, frame, protocol=frame[12] << 8 | frame[13], ip_summed=CHECKSUM_PARTIAL,
                   csum_start=HEADROOM + ip + 20, csum_offset=16, **meta)  # fmt: skip


def _send_super(host: Host, dev: NetDevice, frame: bytes) -> None:
    _send_partial(host, dev, frame, gso_size=1000, gso_type=SKB_GSO_TCPV4)


# -- the feature arithmetic ----------------------------------------------------------------------
def test_a_device_has_no_vlan_features_unless_its_driver_sets_them(host: Host) -> None:
    dev, _ops = make_dev(host, features=TSO_DEV)
    assert dev.vlan_features == 0


def test_hw_csum_on_one_side_counts_as_ip_and_ipv6_csum_on_the_other() -> None:
    ip_csums = NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM
    assert netdev_intersect_features(NETIF_F_HW_CSUM | NETIF_F_SG, NETIF_F_IP_CSUM) == (
        NETIF_F_IP_CSUM
    )
    assert netdev_intersect_features(ip_csums, NETIF_F_HW_CSUM) == ip_csums
    assert netdev_intersect_features(NETIF_F_HW_CSUM, NETIF_F_HW_CSUM) == NETIF_F_HW_CSUM
    assert netdev_intersect_features(NETIF_F_TSO, NETIF_F_SG) == 0


def test_netif_skb_features_for_untagged_tagged_and_double_tagged_skbs(host: Host) -> None:
    dev, _ops = make_dev(host, features=TSO_DEV | NETIF_F_HW_VLAN_CTAG_TX,
                         vlan_features=NETIF_F_IP_CSUM | NETIF_F_SG)  # fmt: skip
    skb = SkBuff(64)
    skb.put_data(_frame(b"", partial=False))
    skb.dev, skb.protocol = dev, 0x0800
    assert netif_skb_features(skb, dev) == dev.features
    skb.vlan_all = ETH_P_8021Q << 16 | TCI  # in the metadata
    assert netif_skb_features(skb, dev) == NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_HW_VLAN_CTAG_TX
    skb.vlan_all, skb.protocol = 0, ETH_P_8021AD  # in the data
    assert netif_skb_features(skb, dev) == NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_HW_VLAN_CTAG_TX
    skb.vlan_all = ETH_P_8021Q << 16 | TCI  # and another in the metadata: two tags
    assert netif_skb_features(skb, dev) == NETIF_F_SG | NETIF_F_HW_VLAN_CTAG_TX


# -- the memory attachment: partial checksums ----------------------------------------------------
@pytest.mark.parametrize("csum", [NETIF_F_HW_CSUM, NETIF_F_IP_CSUM], ids=["hw-csum", "ip-csum"])
def test_a_tagged_partial_checksum_is_finished_for_a_device_without_vlan_features(
    host: Host, csum: int
) -> None:
    dev, ops = make_dev(host, features=csum)
    seen = _recorder(ops)
    _send_partial(host, dev, _tag(_frame()))
    ((summed, _gso, _tag_meta, data),) = seen
    assert summed == CHECKSUM_NONE and data == _tag(_frame(partial=False))
    assert _checksums_ok(data)


def test_a_metadata_tag_makes_a_frame_tagged_too(host: Host) -> None:
    # The device inserts the tag itself (CTAG_TX) but cannot checksum behind it.
    dev, ops = make_dev(host, features=NETIF_F_HW_CSUM | NETIF_F_HW_VLAN_CTAG_TX)
    seen = _recorder(ops)
    _send_partial(host, dev, _tag(_frame()))
    ((summed, _gso, vlan_all, data),) = seen
    assert vlan_all == ETH_P_8021Q << 16 | TCI
    assert summed == CHECKSUM_NONE and data == _tag(_frame(partial=False))


@pytest.mark.parametrize("csum", [NETIF_F_HW_CSUM, NETIF_F_IP_CSUM], ids=["hw-csum", "ip-csum"])
def test_a_tagged_partial_checksum_stays_the_devices_job_with_vlan_features(
    host: Host, csum: int
) -> None:
    # An IP_CSUM device checksums IPv4 behind the tag: the protocol is the one behind it.
    dev, ops = make_dev(host, features=csum, vlan_features=csum)
    seen = _recorder(ops)
    _send_partial(host, dev, _tag(_frame()))
    ((summed, _gso, _tag_meta, data),) = seen
    assert summed == CHECKSUM_PARTIAL and data == _tag(_frame())


def test_an_untagged_partial_checksum_is_the_devices_job_without_vlan_features(
    host: Host,
) -> None:
    dev, ops = make_dev(host, features=NETIF_F_IP_CSUM)
    seen = _recorder(ops)
    _send_partial(host, dev, _frame())
    assert [(s, d) for s, _g, _t, d in seen] == [(CHECKSUM_PARTIAL, _frame())]


def test_a_double_tagged_partial_checksum_needs_hw_csum_whatever_the_vlan_features(
    host: Host,
) -> None:
    dev, ops = make_dev(host, features=NETIF_F_IP_CSUM, vlan_features=NETIF_F_IP_CSUM)
    seen = _recorder(ops)
    qinq = _tag(_tag(_frame()), ETH_P_8021AD, 7)
    _send_partial(host, dev, qinq)
    ((summed, _gso, _tag_meta, data),) = seen
    assert summed == CHECKSUM_NONE and _checksums_ok(data)


# -- the memory attachment: super-frames ---------------------------------------------------------
def test_a_tagged_super_frame_is_segmented_for_a_tso_device_without_vlan_features(
    host: Host,
) -> None:
    dev, ops = make_dev(host, hw_features=TSO_DEV, features=TSO_DEV)
    seen = _recorder(ops)
    _send_super(host, dev, _tag(_frame(PAYLOAD)))
    assert [(s, g) for s, g, _t, _d in seen] == [(CHECKSUM_NONE, 0)] * 4
    assert all(d[12:16] == struct.pack("!HH", ETH_P_8021Q, TCI) and _checksums_ok(d)
               for _s, _g, _t, d in seen)  # fmt: skip
    assert b"".join(d[18 + 40 :] for _s, _g, _t, d in seen) == PAYLOAD
    assert dev.core_stats.tx_qdisc_drops == 0


def test_a_tagged_super_frame_passes_whole_with_tso_in_the_vlan_features(host: Host) -> None:
    dev, ops = make_dev(host, hw_features=TSO_DEV, features=TSO_DEV, vlan_features=TSO_DEV)
    seen = _recorder(ops)
    frame = _tag(_frame(PAYLOAD))
    _send_super(host, dev, frame)
    assert seen == [(CHECKSUM_PARTIAL, 1000, 0, frame)]


def test_an_untagged_super_frame_passes_whole_without_vlan_features(host: Host) -> None:
    dev, ops = make_dev(host, hw_features=TSO_DEV, features=TSO_DEV)
    seen = _recorder(ops)
    _send_super(host, dev, _frame(PAYLOAD))
    assert [(s, g) for s, g, _t, _d in seen] == [(CHECKSUM_PARTIAL, 1000)]


def test_a_double_tagged_super_frame_is_segmented_whatever_the_vlan_features(
    host: Host,
) -> None:
    # Linux's vlan_features_check: no TSO behind two tags; HW_CSUM keeps the segments' sums.
    hw = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO
    dev, ops = make_dev(host, hw_features=hw, features=hw, vlan_features=hw)
    seen = _recorder(ops)
    _send_super(host, dev, _tag(_tag(_frame(PAYLOAD)), ETH_P_8021AD, 7))
    assert [(s, g) for s, g, _t, _d in seen] == [(CHECKSUM_PARTIAL, 0)] * 4


# -- the kernel attachment (a TAP's reader) ------------------------------------------------------
@pytest.fixture
def tap(host: Host) -> Iterator[tuple[KernelStack, NetDevice, _Port, socket.socket, list]]:
    dev, ops = make_dev(host, "k%d")
    with kernel_port(host, dev, vnet_hdr=True) as (ks, port, a):
        a.setblocking(False)
        seen = _recorder(ops)
        yield ks, dev, port, a, seen


def _from_kernel(tap, frame: bytes, gso_size: int = 0) -> None:  # type: ignore[no-untyped-def]
    """``frame`` as the kernel's TAP hands it over: NEEDS_CSUM at its TCP header, TCPv4 GSO."""
    ks, _dev, port, a, _seen = tap
    ip = _ip_at(frame)
    a.send(VNET_HDR.pack(1, 1 if gso_size else 0, ip + 40, gso_size, ip + 20, 16) + frame)
    ks._on_readable(port)


@pytest.mark.parametrize("ctag_tx", [0, NETIF_F_HW_VLAN_CTAG_TX], ids=["tag-in-data", "txvlan"])
def test_a_tagged_partial_checksum_from_the_tap_is_finished_without_vlan_features(
    tap, ctag_tx: int
) -> None:
    _ks, dev, _port, _a, seen = tap
    dev.features = NETIF_F_HW_CSUM | ctag_tx
    _from_kernel(tap, _tag(_frame()))
    ((summed, _gso, vlan_all, data),) = seen
    assert summed == CHECKSUM_NONE and data == _tag(_frame(partial=False))
    assert bool(vlan_all) == bool(ctag_tx)


def test_a_tagged_partial_checksum_from_the_tap_stays_partial_with_vlan_features(tap) -> None:
    _ks, dev, _port, _a, seen = tap
    dev.features = dev.vlan_features = NETIF_F_IP_CSUM
    _from_kernel(tap, _tag(_frame()))
    assert [(s, d) for s, _g, _t, d in seen] == [(CHECKSUM_PARTIAL, _tag(_frame()))]


def test_a_tagged_super_frame_from_the_tap_is_segmented_without_vlan_features(tap) -> None:
    ks, dev, _port, _a, seen = tap
    dev.features = dev.hw_features = TSO_DEV
    _from_kernel(tap, _tag(_frame(PAYLOAD)), gso_size=1000)
    assert [(s, g) for s, g, _t, _d in seen] == [(CHECKSUM_NONE, 0)] * 4
    assert all(_checksums_ok(d) for _s, _g, _t, d in seen)
    assert ks.counters["stale_offload"] == 0  # TSO is on: nothing was queued before -K


def test_a_tagged_super_frame_from_the_tap_passes_whole_with_vlan_features(tap) -> None:
    _ks, dev, _port, _a, seen = tap
    dev.features = dev.hw_features = dev.vlan_features = TSO_DEV
    frame = _tag(_frame(PAYLOAD))
    _from_kernel(tap, frame, gso_size=1000)
    assert seen == [(CHECKSUM_PARTIAL, 1000, 0, frame)]


def test_an_untagged_offload_job_from_the_tap_passes_whole_without_vlan_features(tap) -> None:
    _ks, dev, _port, _a, seen = tap
    dev.features = dev.hw_features = TSO_DEV
    _from_kernel(tap, _frame())
    _from_kernel(tap, _frame(PAYLOAD), gso_size=1000)
    assert [(s, g) for s, g, _t, _d in seen] == [(CHECKSUM_PARTIAL, 0), (CHECKSUM_PARTIAL, 1000)]


# -- first-party drivers -------------------------------------------------------------------------
def test_snull_offloads_behind_a_tag_what_it_offloads_without_one(host: Host) -> None:
    from netdrv_core.params import parse_params
    from netdrv_core.plugins import PluginManager

    pm = PluginManager()
    drv = pm.get_driver("snull")(host, parse_params("snull", pm.driver_parameters("snull"), []))
    with host.as_current():
        drv.init()
    for dev in drv.devices:
        want = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_TSO6
        assert dev.vlan_features == want and dev.features & want == want
