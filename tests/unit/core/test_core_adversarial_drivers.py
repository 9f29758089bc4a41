"""Drivers that misuse NAPI, GRO, the ethtool set ops, fix_features and GSO in odd ways.

Each case is a bug a driver author can write: the core must name it, count what it
costs, and keep the other devices (and the loop) running.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import pytest
from fakedev import make_dev, mem, rx_skb
from frames import eth_frame, ipv4_checksum_ok, l4_checksum_ok, tcp_packet
from test_core_gro import seg4

from netdrv_core import Host, NapiStruct, NetDevice
from netdrv_core.ethtool import (
    DUPLEX_FULL,
    EthtoolError,
    EthtoolOps,
    LinkSettings,
    ethtool_set_link_ksettings,
    ethtool_set_priv_flags,
)
from netdrv_core.gro import napi_gro_receive
from netdrv_core.napi import napi_complete_done, napi_enable, napi_schedule, netif_napi_add
from netdrv_core.netdevice import NETIF_F_IP_CSUM, NETIF_F_SG, NETIF_F_TSO
from netdrv_core.skbuff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    SKB_GSO_TCPV4,
    kfree_skb,
)


# -- NAPI ----------------------------------------------------------------------------------------
def test_a_poll_that_completes_schedules_again_and_returns_its_budget_polls_once_a_round(
    host: Host,
) -> None:
    # Complete, re-arm (napi_schedule), then return the whole budget: the schedule queued a
    # poll and the budget queued another, and each of those two did the same — the polls
    # doubled every round until the loop did nothing else (every device starved).
    dev, _ = make_dev(host)
    rounds: list[int] = []

    def poll(napi: NapiStruct, budget: int) -> int:
        rounds.append(host.loop.iterations)
        napi_complete_done(napi, budget)
        napi_schedule(napi)
        return budget

    napi = netif_napi_add(dev, poll, weight=4)
    napi_enable(napi)
    napi_schedule(napi)
    for _ in range(6):
        host.loop.run_once(0)
    assert len(rounds) == len(set(rounds)) == 6, rounds
    assert napi.completed_at_budget == 6  # and the misuse is counted (the kit fails on it)


# -- GRO -----------------------------------------------------------------------------------------
def test_napi_gro_receive_of_a_freed_skb_is_refused_and_not_counted(host: Host) -> None:
    # The freed skb was counted in rx_submitted before GRO read it and raised: a frame
    # "submitted" but neither delivered nor dropped (the counters no longer balanced).
    dev, _ = make_dev(host)
    raised: list[BaseException] = []

    def poll(napi: NapiStruct, budget: int) -> int:
        napi_gro_receive(napi, rx_skb(dev, seg4(0)))
        skb = rx_skb(dev, seg4(1))
        kfree_skb(skb)
        try:
            napi_gro_receive(napi, skb)
        except Exception as exc:
            raised.append(exc)
        napi_complete_done(napi, 2)
        return 2

    napi = netif_napi_add(dev, poll)
    napi_enable(napi)
    napi_schedule(napi)
    host.loop.run_until_idle()
    assert len(raised) == 1 and "napi_gro_receive of a freed skb" in str(raised[0])
    cs = dev.core_stats
    assert cs.rx_submitted == cs.rx_delivered + cs.rx_down_drops + cs.rx_backlog_drops == 1


# -- ethtool set ops returning garbage -----------------------------------------------------------
class _Garbage(EthtoolOps):
    def __init__(self, ret: Any) -> None:
        self.ret = ret
        self.link = LinkSettings(speed=1000, duplex=DUPLEX_FULL, autoneg=True, port="tp")

    def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
        return self.link

    def set_link_ksettings(self, dev: NetDevice, ks: LinkSettings) -> Any:
        return self.ret

    def get_priv_flag_strings(self, dev: NetDevice) -> list[str]:
        return ["a", "b"]

    def get_priv_flags(self, dev: NetDevice) -> int:
        return 0

    def set_priv_flags(self, dev: NetDevice, flags: int) -> Any:
        return self.ret


@pytest.mark.parametrize("ret", [5, "ok", -1.5, (-errno.EINVAL,), object()])
def test_a_set_op_returning_neither_0_nor_an_errno_is_eio_naming_it(host: Host, ret: Any) -> None:
    # It was taken for success: `netdrv ethtool -s` said nothing, and nothing had changed.
    dev, _ = make_dev(host)
    dev.ethtool_ops = _Garbage(ret)
    forced = {"speed": 100, "autoneg": False}
    for fn, args, op in ((ethtool_set_link_ksettings, forced, "set_link_ksettings"),
                         (ethtool_set_priv_flags, {"b": True}, "set_priv_flags")):  # fmt: skip
        with pytest.raises(EthtoolError, match=f"^t0: the host's {op} returned .*, not 0 "
                           r"\(or None\) or a negative errno") as info:  # fmt: skip
            fn(host, dev, args)
        assert info.value.errno == errno.EIO
    assert dev.is_up  # garbage, not a crash: the device stays up


@pytest.mark.parametrize("ret", [0, None, True, -errno.EINVAL])
def test_a_set_op_returning_0_none_or_an_errno_is_still_understood(host: Host, ret: Any) -> None:
    dev, _ = make_dev(host)
    dev.ethtool_ops = _Garbage(ret)
    if ret == -errno.EINVAL:
        with pytest.raises(EthtoolError, match="Invalid argument"):
            ethtool_set_priv_flags(host, dev, {"b": True})
    else:
        assert ethtool_set_priv_flags(host, dev, {"b": True}) is True


# -- fix_features --------------------------------------------------------------------------------
@pytest.mark.parametrize("ret", [-1, "3", 3.7, False])
def test_fix_features_returning_no_feature_mask_is_a_driver_fault(host: Host, ret: Any) -> None:
    # -1 became dev.features == -0x13 (every bit "on"); "3" and 3.7 were int()-ed into a mask.
    dev, ops = make_dev(host, hw_features=NETIF_F_SG | NETIF_F_IP_CSUM)
    before = dev.features
    ops.fix_features = lambda d, f: ret  # type: ignore[method-assign]
    assert host.netdev_update_features(dev) == -errno.EIO
    assert dev.features == before >= 0
    host.loop.run_until_idle()
    assert not dev.is_up  # a driver fault, as a raising fix_features is


# -- GSO on VLAN-tagged frames -------------------------------------------------------------------
HEADROOM = 16


def _vlan_superframe(tci: int) -> bytes:
    payload = bytes(range(256)) * 16
    f = eth_frame("02:00:00:00:00:10", "02:00:00:00:00:20", 0x0800,
                  tcp_packet("198.18.0.1", "198.18.0.2", 1, 2, payload, partial=True))  # fmt: skip
    return f[:12] + b"\x81\x00" + tci.to_bytes(2, "big") + f[12:]


def _send_vlan(host: Host, dev: NetDevice, tci: int) -> None:
    mem(host).send(dev, _vlan_superframe(tci), protocol=0x8100, ip_summed=CHECKSUM_PARTIAL,
                   csum_start=HEADROOM + 18 + 20, csum_offset=16, gso_size=1000,
                   gso_type=SKB_GSO_TCPV4)  # fmt: skip


@pytest.mark.parametrize("tci", [0x0064, 0x4564])  # VID 100; PCP 2 makes the tag look like IPv4
def test_a_vlan_tagged_superframe_is_segmented_for_a_device_without_tso(
    host: Host, tci: int
) -> None:
    # The IP header was looked for right after the Ethernet header, in the tag: dropped.
    dev, ops = make_dev(host)
    _send_vlan(host, dev, tci)
    assert dev.core_stats.tx_qdisc_drops == 0
    assert len(ops.sent_bytes) == 5  # 4096 bytes of payload, 1000 a segment
    for frame in ops.sent_bytes:
        assert frame[12:16] == b"\x81\x00" + tci.to_bytes(2, "big")
        assert ipv4_checksum_ok(frame[18:]) and l4_checksum_ok(frame[18:])


@pytest.mark.parametrize("vlan_features", [0, NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO])
def test_a_vlan_tagged_superframe_for_a_tso_device_keeps_its_partial_checksum_or_is_segmented(
    host: Host, vlan_features: int
) -> None:
    # It reached start_xmit with one checksum over the whole super-frame (CHECKSUM_NONE):
    # wrong in every segment the device then cut.  Whole only to a device that offloads
    # TSO behind a tag (vlan_features, as Linux's netif_skb_features): one that does not
    # gets the segments with their checksums finished.
    dev, ops = make_dev(host, hw_features=NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO,
                        features=NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO,
                        vlan_features=vlan_features)  # fmt: skip
    seen: list[tuple[int, int]] = []
    ops.on_xmit = lambda skb, d: seen.append((skb.gso_size, skb.ip_summed))
    _send_vlan(host, dev, 0x0064)
    if vlan_features:
        assert seen == [(1000, CHECKSUM_PARTIAL)]
    else:
        assert seen == [(0, CHECKSUM_NONE)] * 5
        assert all(ipv4_checksum_ok(f[18:]) and l4_checksum_ok(f[18:]) for f in ops.sent_bytes)


def test_a_negative_gso_size_is_dropped_counted_and_said_even_for_a_tso_device(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    dev, ops = make_dev(host, hw_features=NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO,
                        features=NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO)  # fmt: skip
    frame = eth_frame("02:00:00:00:00:10", "02:00:00:00:00:20", 0x0800,
                      tcp_packet("198.18.0.1", "198.18.0.2", 1, 2, bytes(3000), partial=True))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="netdrv.gso"):
        mem(host).send(dev, frame, protocol=0x0800, ip_summed=CHECKSUM_PARTIAL,
                       csum_start=HEADROOM + 34, csum_offset=16, gso_size=-3,
                       gso_type=SKB_GSO_TCPV4)  # fmt: skip
    assert ops.sent == [] and dev.core_stats.tx_qdisc_drops == 1
    assert "t0: dropped a frame whose offload cannot be done" in caplog.text
    assert "gso_size -3" in caplog.text
