"""Offload features: hw_features/wanted_features, netdev_update_features, ethtool -k/-K."""

from __future__ import annotations

import errno
import struct
from typing import Any

import pytest
from fakedev import make_dev

from netdrv_core import Host, NetDevice, NetDeviceOps, SkBuff, netdev_update_features
from netdrv_core.checksum import (
    csum_fold,
    csum_partial,
    csum_tcpudp_nofold,
    ip_compute_csum,
    skb_checksum_help,
)
from netdrv_core.ethtool import EthtoolError, ethtool_features, ethtool_request
from netdrv_core.host import netdev_fix_features
from netdrv_core.netdevice import (
    NETIF_F_GRO,
    NETIF_F_GSO,
    NETIF_F_HW_CSUM,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_LLTX,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NETIF_F_TSO_ECN,
    NETIF_F_TSO_MANGLEID,
)
from netdrv_core.skbuff import CHECKSUM_NONE, CHECKSUM_PARTIAL, SKB_GSO_TCPV4, SKB_GSO_UDP_L4

OFFLOADS = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_TSO6
# Untouched by these tests: LLTX fixed on, and the software features (on everywhere, GSO
# with scatter-gather).
KEPT = NETIF_F_LLTX | NETIF_F_GRO | NETIF_F_GSO


class FeatureOps(NetDeviceOps):
    """Records set_features; ``ret``/``raise_in``/``no_tso6``/``no_csum`` script it."""

    no_csum = False  # a class attribute: set before registration by a subclass

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.ret: int | None = 0
        self.raise_in = ""
        self.no_tso6 = False

    def start_xmit(self, skb: Any, dev: NetDevice) -> int:
        return 0

    def fix_features(self, dev: NetDevice, features: int) -> int:
        if self.raise_in == "fix_features":
            raise RuntimeError("bug in fix_features")
        if self.no_csum:
            features &= ~NETIF_F_HW_CSUM
        return features & ~NETIF_F_TSO6 if self.no_tso6 else features

    def set_features(self, dev: NetDevice, features: int) -> int | None:
        if self.raise_in == "set_features":
            raise RuntimeError("bug in set_features")
        self.calls.append(features)
        return self.ret


def _dev(
    host: Host, features: int = OFFLOADS, hw: int = OFFLOADS, ops_class: type = FeatureOps
) -> tuple[NetDevice, FeatureOps]:
    dev, _ = make_dev(None, features=features | NETIF_F_LLTX, hw_features=hw)
    ops = ops_class()
    dev.netdev_ops = ops
    host.register_netdev(dev)
    return dev, ops


def _active(host: Host, dev: NetDevice) -> dict[str, bool]:
    res, _ = ethtool_request(host, dev, "features")
    return {k: v["active"] for k, v in res["features"].items()}


def test_registration_wants_what_the_driver_turned_on(host: Host) -> None:
    dev, _ = _dev(host, features=NETIF_F_SG | NETIF_F_HW_CSUM)
    # LLTX is not changeable; GSO and GRO, software features, are every device's and are.
    assert dev.wanted_features == NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_GSO | NETIF_F_GRO
    f = ethtool_features(dev)
    assert f["tx-tcp-segmentation"] == {"active": False, "fixed": False, "requested": False}
    # As Linux since 6.12 (LLTX became dev->lltx): no tx-lockless in -k, none taken by -K;
    # the bit a driver set stays as it is.
    assert "tx-lockless" not in f and dev.features & NETIF_F_LLTX
    with pytest.raises(EthtoolError, match="unknown feature 'tx-lockless'") as exc:
        ethtool_request(host, dev, "features", {"tx-lockless": False})
    assert exc.value.errno == errno.EINVAL and dev.features & NETIF_F_LLTX


def test_turning_a_feature_off_and_on_calls_set_features(host: Host) -> None:
    dev, ops = _dev(host)
    res, changed = ethtool_request(host, dev, "features", {"tso": False})
    assert changed is True and ops.calls == [NETIF_F_SG | NETIF_F_HW_CSUM | KEPT]
    assert dev.features == NETIF_F_SG | NETIF_F_HW_CSUM | KEPT
    assert res["features"]["tx-tcp6-segmentation"]["active"] is False
    # The same again changes nothing and does not bother the driver.
    assert ethtool_request(host, dev, "features", {"tx-tcp-segmentation": False})[1] is False
    assert len(ops.calls) == 1
    assert ethtool_request(host, dev, "features", {"tso": True})[1] is True
    # As Linux's ethtool: tso is every tx-tcp*-segmentation the device lets change, IPv4 ID
    # mangling included (registration made it changeable, off, beside TSO).
    assert dev.features == OFFLOADS | NETIF_F_TSO_MANGLEID | KEPT


def test_tso_needs_checksum_offload_and_scatter_gather(host: Host) -> None:
    dev, _ = _dev(host)
    ethtool_request(host, dev, "features", {"tx": False})
    f = ethtool_features(dev)
    # Requested still, but off: it comes back with checksum offload.
    assert f["tx-tcp-segmentation"] == {"active": False, "fixed": False, "requested": True}
    assert ethtool_request(host, dev, "features", {"tso": True})[1] is False
    ethtool_request(host, dev, "features", {"tx": True})
    assert _active(host, dev)["tx-tcp-segmentation"] is True
    ethtool_request(host, dev, "features", {"sg": False})
    assert not dev.features & (NETIF_F_TSO | NETIF_F_TSO6)


def test_the_core_rules() -> None:
    dev = NetDevice()
    both = NETIF_F_HW_CSUM | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM | NETIF_F_SG
    assert netdev_fix_features(dev, both) == NETIF_F_HW_CSUM | NETIF_F_SG
    v4 = NETIF_F_IP_CSUM | NETIF_F_SG | NETIF_F_TSO | NETIF_F_TSO6
    assert netdev_fix_features(dev, v4) == NETIF_F_IP_CSUM | NETIF_F_SG | NETIF_F_TSO
    ecn = NETIF_F_HW_CSUM | NETIF_F_SG | NETIF_F_TSO_ECN
    assert netdev_fix_features(dev, ecn) == NETIF_F_HW_CSUM | NETIF_F_SG
    # "TSO with IPv4 ID mangling requires IPv4 TSO be enabled": TSO6 is not enough, and
    # without it ECN has no TSO left to qualify either.
    mangle = NETIF_F_HW_CSUM | NETIF_F_SG | NETIF_F_TSO | NETIF_F_TSO_MANGLEID
    assert netdev_fix_features(dev, mangle) == mangle
    v6 = NETIF_F_HW_CSUM | NETIF_F_SG | NETIF_F_TSO6
    assert netdev_fix_features(dev, v6 | NETIF_F_TSO_MANGLEID) == v6
    assert netdev_fix_features(dev, ecn | NETIF_F_TSO_MANGLEID) == NETIF_F_HW_CSUM | NETIF_F_SG
    assert netdev_fix_features(dev, mangle & ~NETIF_F_SG) == NETIF_F_HW_CSUM  # all TSO needs SG
    # "Software GSO depends on SG" (Linux's netdev_fix_features, to this day).
    assert netdev_fix_features(dev, NETIF_F_GSO | NETIF_F_SG) == NETIF_F_GSO | NETIF_F_SG
    assert netdev_fix_features(dev, NETIF_F_GSO | NETIF_F_HW_CSUM) == NETIF_F_HW_CSUM


def test_ipv4_id_mangling_is_tx_tcp_mangleid_segmentation_and_goes_with_tso(
    host: Host,
) -> None:
    from netdrv_core.cli import _features_text

    name = "tx-tcp-mangleid-segmentation"
    dev, ops = _dev(host)
    # register_netdevice(): changeable beside TSO, off until asked for.
    assert dev.hw_features & NETIF_F_TSO_MANGLEID and not dev.features & NETIF_F_TSO_MANGLEID
    assert ethtool_features(dev)[name] == {"active": False, "fixed": False, "requested": False}
    res, changed = ethtool_request(host, dev, "features", {name: True})
    assert changed and res["features"][name]["active"] and dev.features & NETIF_F_TSO_MANGLEID
    assert ops.calls[-1] == OFFLOADS | NETIF_F_TSO_MANGLEID | KEPT
    text = _features_text(dev.name, ethtool_features(dev))
    assert ("tcp-segmentation-offload: on\n\ttx-tcp-segmentation: on\n"
            "\ttx-tcp-ecn-segmentation: off [fixed]\n\ttx-tcp-mangleid-segmentation: on\n"
            "\ttx-tcp6-segmentation: on\n") in text  # fmt: skip
    # Without IPv4 TSO it goes (requested still) and comes back with it.
    ethtool_request(host, dev, "features", {"tx-tcp-segmentation": False})
    assert ethtool_features(dev)[name] == {"active": False, "fixed": False, "requested": True}
    assert "\ttx-tcp-mangleid-segmentation: off [requested on]\n" in _features_text(
        dev.name, ethtool_features(dev)
    )
    ethtool_request(host, dev, "features", {"tx": False})
    ethtool_request(host, dev, "features", {"tx": True, "tx-tcp-segmentation": True})
    assert dev.features & NETIF_F_TSO_MANGLEID
    # tso off takes it with the rest; it stays off when asked off and TSO comes back.
    ethtool_request(host, dev, "features", {"tso": False})
    assert not dev.features & (NETIF_F_TSO | NETIF_F_TSO_MANGLEID | NETIF_F_TSO6)
    ethtool_request(host, dev, "features", {"tx-tcp-segmentation": True, name: False})
    assert dev.features & NETIF_F_TSO and not dev.features & NETIF_F_TSO_MANGLEID
    # A device whose TSO the user cannot change has it fixed (off, unless its driver set it).
    fixed, _ = _dev(host, hw=NETIF_F_SG)
    assert not fixed.hw_features & NETIF_F_TSO_MANGLEID
    assert ethtool_features(fixed)[name] == {"active": False, "fixed": True, "requested": False}
    _, changed = ethtool_request(host, fixed, "features", {name: True})  # masked out (ethnl)
    assert changed is False and not fixed.features & NETIF_F_TSO_MANGLEID
    on, _ = _dev(host, features=OFFLOADS | NETIF_F_TSO_MANGLEID)
    assert on.features & NETIF_F_TSO_MANGLEID and on.wanted_features & NETIF_F_TSO_MANGLEID


def test_the_taps_ipv4_id_mangling_is_on_only_when_the_devices_is() -> None:
    # No TUN_F_* flag for it: the link's request follows what the device has on (not what it
    # wants), so the link's kernel hands a fixed-ID super-frame whole (read back as plain
    # TCPV4, its IDs counted up) only to a device that may mangle them.
    from netdrv_core.attach.tap import KERNEL_FEATURES, KernelStack

    name = "tx-tcp-mangleid-segmentation"
    assert (name, NETIF_F_TSO_MANGLEID, False) in KERNEL_FEATURES

    class Port:
        hlen = 10
        k_avail = frozenset(n for n, _bits, _masked in KERNEL_FEATURES)

    port = Port()
    port.dev = NetDevice("k0")  # type: ignore[attr-defined]
    dev = port.dev  # type: ignore[attr-defined]
    dev.hw_features = OFFLOADS | NETIF_F_TSO_MANGLEID
    dev.wanted_features = dev.features = OFFLOADS
    ks = KernelStack()
    assert name not in ks._feature_target(port)[1]  # type: ignore[arg-type]
    dev.wanted_features = dev.features = OFFLOADS | NETIF_F_TSO_MANGLEID
    assert name in ks._feature_target(port)[1]  # type: ignore[arg-type]
    dev.features = NETIF_F_SG  # tx off: TSO and mangling requested, but off
    assert name not in ks._feature_target(port)[1]  # type: ignore[arg-type]


def test_gso_is_a_software_feature_of_every_device(host: Host) -> None:
    # register_netdevice(): NETIF_F_SOFT_FEATURES in hw_features and features, so wanted;
    # a device without scatter-gather cannot have it (ethtool: off [requested on]).
    bare, _ = _dev(host, features=0, hw=0)
    assert bare.hw_features & NETIF_F_GSO and bare.wanted_features & NETIF_F_GSO
    assert ethtool_features(bare)["tx-generic-segmentation"] == {
        "active": False, "fixed": False, "requested": True}  # fmt: skip
    dev, ops = _dev(host)
    assert dev.features & NETIF_F_GSO
    assert ethtool_request(host, dev, "features", {"gso": False})[1] is True
    assert ops.calls[-1] == OFFLOADS | NETIF_F_LLTX | NETIF_F_GRO  # the driver is told
    assert ethtool_request(host, dev, "features", {"tx-generic-segmentation": True})[1] is True
    assert dev.features == OFFLOADS | KEPT


def test_the_taps_gso_is_the_devices_request() -> None:
    # The link's kernel applies Linux's rule itself (no GSO without scatter-gather), so the
    # link is asked for what the device wants and shows what the device shows.
    from netdrv_core.attach.tap import KERNEL_FEATURES, KernelStack

    name = "tx-generic-segmentation"
    assert (name, NETIF_F_GSO, True) in KERNEL_FEATURES

    class Port:
        hlen = 10
        k_avail = frozenset(n for n, _bits, _masked in KERNEL_FEATURES)

    port = Port()
    port.dev = dev = NetDevice("k0")  # type: ignore[attr-defined]
    dev.hw_features = dev.wanted_features = OFFLOADS | NETIF_F_GSO
    dev.features = NETIF_F_HW_CSUM  # scatter-gather off: GSO wanted but off
    ks = KernelStack()
    assert name in ks._feature_target(port)[1]  # type: ignore[arg-type]
    dev.wanted_features = OFFLOADS
    assert name not in ks._feature_target(port)[1]  # type: ignore[arg-type]


def test_the_drivers_fix_features_comes_before_the_core_rules(host: Host) -> None:
    dev, ops = _dev(host)
    ops.no_tso6 = True  # e.g. the hardware lost a capability after a firmware reload
    assert netdev_update_features(dev) == 1
    assert not dev.features & NETIF_F_TSO6 and dev.features & NETIF_F_TSO
    assert netdev_update_features(dev) == 0
    # The driver drops checksum offload: the core's rules, applied after it as in Linux,
    # take TSO with it (a driver may be less strict about what depends on what).
    ops.no_csum = True
    assert netdev_update_features(dev) == 1
    assert dev.features == NETIF_F_SG | KEPT and ops.calls[-1] == dev.features


def test_registration_applies_the_drivers_fix_features(host: Host) -> None:
    class NoCsumOps(FeatureOps):
        no_csum = True

    dev, ops = _dev(host, ops_class=NoCsumOps)
    # register_netdevice() ends with __netdev_update_features(): set_features was called.
    assert dev.features == NETIF_F_SG | KEPT
    assert ops.calls == [NETIF_F_SG | KEPT]


def test_a_refusing_set_features_leaves_the_features(host: Host) -> None:
    dev, ops = _dev(host)
    ops.ret = -errno.EBUSY
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"sg": False})
    assert e.value.errno == errno.EBUSY and "Device or resource busy" in str(e.value)
    assert dev.features == OFFLOADS | KEPT
    assert ethtool_features(dev)["tx-scatter-gather"]["requested"] is False  # as Linux keeps it


@pytest.mark.parametrize("where", ["fix_features", "set_features"])
def test_a_raising_op_is_a_driver_fault(host: Host, where: str) -> None:
    dev, ops = _dev(host)
    host.dev_open(dev)
    ops.raise_in = where
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"sg": False})
    assert e.value.errno == errno.EIO
    host.loop.run_until_idle()
    assert not dev.is_up  # taken down, as any op that raises
    assert dev.features == OFFLOADS | KEPT


def test_refusals_name_what_was_wrong(host: Host) -> None:
    dev, ops = _dev(host, hw=NETIF_F_SG)
    # A fixed feature asked for the other state: taken and masked out, as ethnl_set_features
    # does (ethtool then says "Could not change any device features"), not an error.
    before = dev.features
    res, changed = ethtool_request(host, dev, "features", {"tso": False})
    assert changed is False and dev.features == before
    assert res["features"]["tx-tcp-segmentation"] == {"active": True, "fixed": True,
                                                      "requested": True}  # fmt: skip
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"ufo": False})  # gone from Linux in 4.14
    assert e.value.errno == errno.EINVAL and "unknown feature 'ufo'; features: rx, tx" in str(
        e.value
    )
    with pytest.raises(EthtoolError) as e:
        ethtool_request(host, dev, "features", {"sg": 1})
    assert e.value.errno == errno.EINVAL and "must be true or false" in str(e.value)
    assert ops.calls == []


def test_without_a_virtio_net_header_a_tap_keeps_offloads_off() -> None:
    from netdrv_core.attach.tap import KernelStack

    class Port:
        hlen = 0

    ks = KernelStack()
    dev = NetDevice("k0")
    ks.ports["k0"] = Port()  # type: ignore[assignment]
    assert ks.fix_features(dev, OFFLOADS | KEPT) == NETIF_F_SG | KEPT
    dev.napi_list.append(object())  # type: ignore[arg-type]
    # A NAPI driver's GRO would build super-frames such a TAP cannot take.
    assert ks.fix_features(dev, OFFLOADS | KEPT) == NETIF_F_SG | NETIF_F_LLTX | NETIF_F_GSO
    Port.hlen = 10
    assert ks.fix_features(dev, OFFLOADS) == OFFLOADS


def test_a_kernel_without_udp_segmentation_gets_the_offloads_it_knows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Linux before 6.2 refuses a TUNSETOFFLOAD with TUN_F_USO4/6 whole (EINVAL): the
    # attachment asks again without them, and offers and shows no UDP segmentation since.
    from netdrv_core.attach import tap
    from netdrv_core.netdevice import NETIF_F_GSO_UDP_L4

    calls: list[int] = []

    def ioctl(fd: int, request: int, arg: int) -> int:
        calls.append(arg)
        if arg & tap.TUN_F_USO:
            raise OSError(errno.EINVAL, "Invalid argument")
        return 0

    monkeypatch.setattr(tap.fcntl, "ioctl", ioctl)
    monkeypatch.setattr(tap.TunTap, "uso_refused", None)
    uso = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_GSO_UDP_L4
    assert tap.KernelStack._offloads(uso) == tap.TUN_F_CSUM | tap.TUN_F_USO
    tt = tap.TunTap.__new__(tap.TunTap)
    tt.fd = 99
    assert tt.set_offloads(tap.TUN_F_CSUM | tap.TUN_F_TSO4 | tap.TUN_F_USO) == (
        tap.TUN_F_CSUM | tap.TUN_F_TSO4
    )
    assert calls == [tap.TUN_F_CSUM | tap.TUN_F_TSO4 | tap.TUN_F_USO,
                     tap.TUN_F_CSUM | tap.TUN_F_TSO4]  # fmt: skip
    assert tap.TunTap.uso_refused is True
    calls.clear()
    assert tt.set_offloads(tap.TUN_F_CSUM | tap.TUN_F_USO) == tap.TUN_F_CSUM
    assert calls == [tap.TUN_F_CSUM]  # not asked again
    assert tap.KernelStack._offloads(uso) == tap.TUN_F_CSUM

    class Port:
        hlen = 10

    ks = tap.KernelStack()
    ks.ports["k0"] = Port()  # type: ignore[assignment]
    assert ks.fix_features(NetDevice("k0"), uso) == NETIF_F_SG | NETIF_F_HW_CSUM

    # Another error is the caller's to handle, USO or not.
    def ebadf(fd: int, request: int, arg: int) -> int:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(tap.TunTap, "uso_refused", False)
    monkeypatch.setattr(tap.fcntl, "ioctl", ebadf)
    with pytest.raises(OSError):
        tt.set_offloads(tap.TUN_F_CSUM | tap.TUN_F_USO)


def _udp_partial(payload: bytes) -> SkBuff:
    """An IPv4/UDP frame as the kernel hands it over with checksum offload (CHECKSUM_PARTIAL)."""
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    udp = bytearray(struct.pack("!HHHH", 4000, 9, 8 + len(payload), 0) + payload)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst))
    ip[10:12] = ip_compute_csum(ip).to_bytes(2, "big")
    pseudo = csum_fold(csum_tcpudp_nofold(src, dst, len(udp), 17))  # the stack's seed
    udp[6:8] = (~pseudo & 0xFFFF).to_bytes(2, "big")
    frame = bytes(12) + b"\x08\x00" + ip + udp
    skb = SkBuff(len(frame), bytearray(frame))
    skb.tail = len(frame)
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start, skb.csum_offset = 34, 6
    return skb


def test_skb_checksum_help_finishes_a_partial_checksum() -> None:
    skb = _udp_partial(b"hello, checksum")
    skb_checksum_help(skb)
    assert skb.ip_summed == CHECKSUM_NONE
    frame = bytes(skb.buf)
    pseudo = csum_tcpudp_nofold(frame[26:30], frame[30:34], len(frame) - 34, 17)
    assert csum_fold(csum_partial(frame[34:], pseudo)) == 0  # verifies as a receiver would
    skb_checksum_help(skb)  # not partial any more: nothing to do
    assert bytes(skb.buf) == frame


def test_frames_queued_before_an_offload_went_off_are_made_right(host: Host) -> None:
    """Read from the TAP after ``ethtool -K``: what the device no longer offloads is done
    in software before start_xmit, as Linux's validate_xmit_skb does."""
    import socket

    from fakedev import FakeTunTap

    from netdrv_core.attach.tap import KernelStack, _Port
    from netdrv_core.attach.vnet import build_vnet_header

    sent: list[SkBuff] = []
    dev, ops = _dev(host, features=NETIF_F_SG)  # checksum offload and TSO off
    ops.start_xmit = lambda skb, d: sent.append(skb) or 0  # type: ignore[method-assign]
    host.attachment.up(dev)  # type: ignore[attr-defined]
    dev._queue_stopped = False  # FeatureOps.open does not netif_start_queue()
    ks = KernelStack()
    ks.host = host
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.setblocking(False)
    port = _Port(dev, FakeTunTap(b.fileno(), dev.name, vnet_hdr=True), 1)  # type: ignore[arg-type]

    def queued(skb: SkBuff) -> None:  # what the kernel queued while the offloads were on
        a.send(build_vnet_header(skb, 0) + bytes(skb.buf[: skb.tail]))

    try:
        queued(_udp_partial(b"x" * 100))
        gso = _udp_partial(b"y" * 3000)
        gso.gso_size, gso.gso_type = 1000, SKB_GSO_UDP_L4
        queued(gso)
        bad = _udp_partial(b"z" * 3000)
        bad.gso_size, bad.gso_type = 1000, SKB_GSO_TCPV4  # its headers say UDP
        queued(bad)
        ks._on_readable(port)
        assert [s.tail - s.data for s in sent] == [142, 1042, 1042, 1042]
        for skb in sent:  # each finished here: verifies as a receiver would
            frame = bytes(skb.buf[skb.data : skb.tail])
            pseudo = csum_tcpudp_nofold(frame[26:30], frame[30:34], len(frame) - 34, 17)
            assert skb.ip_summed == CHECKSUM_NONE
            assert csum_fold(csum_partial(frame[34:], pseudo)) == 0
        assert b"".join(bytes(s.buf[s.data + 42 : s.tail]) for s in sent[1:]) == b"y" * 3000
        assert ks.counters["stale_offload"] == 2 and dev.core_stats.tx_qdisc_drops == 1
        dev.features |= NETIF_F_HW_CSUM | NETIF_F_TSO
        sent.clear()
        queued(_udp_partial(b"x" * 100))
        ks._on_readable(port)
        assert sent[0].ip_summed == CHECKSUM_PARTIAL  # the device's job now
    finally:
        a.close()
        b.close()


def test_a_group_shown_on_asked_on_changes_nothing_and_is_no_error(host: Host) -> None:
    # loopback-like: generic checksumming fixed on, the IPv4/IPv6 bits fixed off; -k shows
    # tx-checksumming: on, so `-K DEV tx on` asks for what it has (it said "tx is fixed on").
    from netdrv_core.ethtool import ethtool_set_features
    from netdrv_core.netdevice import NETIF_F_HW_CSUM

    dev, _ = make_dev(host, hw_features=0, features=NETIF_F_HW_CSUM)
    before = dev.features
    assert ethtool_set_features(host, dev, {"tx": True}) is False
    assert ethtool_set_features(host, dev, {"tx": False}) is False  # masked out, as ethnl
    assert dev.features == before
