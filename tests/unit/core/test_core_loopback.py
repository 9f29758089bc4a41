"""loopback: what is sent comes back; statistics; the memory stack's wires."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakedev import LoadSnull, get, load_driver, make_dev, mem
from frames import ETH_P_IP, eth_frame, udp_packet

from netdrv_core import (
    ARPHRD_ETHER,
    CHECKSUM_UNNECESSARY,
    IFF_LOOPBACK,
    IFF_NOARP,
    Host,
    NetDevice,
    dev_get_stats,
    netif_queue_stopped,
)
from netdrv_core.ethtool import EthtoolError, ethtool_request
from netdrv_core.skbuff import PACKET_BROADCAST, PACKET_HOST, PACKET_LOOPBACK


@pytest.fixture
def lo(host: Host) -> Callable[..., NetDevice]:
    from netdrv_loopback.driver import Loopback

    def make(**params: str) -> NetDevice:
        drv = load_driver(host, Loopback, **params)
        (dev,) = drv.devices
        mem(host).up(dev)
        return dev

    return make


def frame(n: int, size: int = 100) -> bytes:
    return eth_frame("02:00:00:00:00:01", "02:00:00:00:00:01", ETH_P_IP,
                     udp_packet("127.0.0.1", "127.0.0.1", n, 7, bytes([n]) * size))  # fmt: skip


def test_what_is_sent_comes_back(host: Host, lo: Callable[..., NetDevice]) -> None:
    dev = lo()
    assert dev.name == "nlo0"
    frames = [frame(i, 10 * i + 1) for i in range(5)]
    for f in frames:
        mem(host).send(dev, f)
    host.loop.run_until_idle()
    assert mem(host).received(dev) == frames
    s = dev_get_stats(dev)
    total = sum(len(f) - 14 for f in frames)  # without the link header, as loopback.c
    assert (s.tx_packets, s.rx_packets, s.tx_bytes, s.rx_bytes) == (5, 5, total, total)
    assert dev.core_stats.tx_submitted == 5 == s.tx_packets + s.tx_dropped + s.tx_errors


def test_bytes_are_counted_without_the_link_header_as_loopback_c_does(
    host: Host, lo: Callable[..., NetDevice]
) -> None:
    # loopback_xmit() takes len = skb->len after eth_type_trans(): `ping -c1 127.0.0.1`
    # shows lo 2 packets, 168 bytes (84-byte IP packets, not 98-byte frames).
    dev = lo()
    f = frame(1, 56)
    mem(host).send(dev, f)
    host.loop.run_until_idle()
    s = dev_get_stats(dev)
    assert (s.tx_packets, s.tx_bytes, s.rx_packets, s.rx_bytes) == (1, len(f) - 14, 1, len(f) - 14)


def test_received_skb_metadata(host: Host, lo: Callable[..., NetDevice]) -> None:
    dev = lo()
    mem(host).send(dev, frame(1))
    host.loop.run_until_idle()
    (skb,) = mem(host).received_skbs(dev)
    assert skb.ip_summed == CHECKSUM_UNNECESSARY
    assert skb.protocol == ETH_P_IP and skb.dev is dev and skb.data - skb.mac_header == 14


def test_pkt_type_is_eth_type_trans_s_not_packet_loopback(
    host: Host, lo: Callable[..., NetDevice]
) -> None:
    """loopback_xmit() leaves pkt_type to eth_type_trans(): PACKET_HOST for the device's own
    address, PACKET_BROADCAST for ff:ff:... (PACKET_LOOPBACK is dev_loopback_xmit()'s, for the
    copies of multicast a host sends itself, not the loopback driver's)."""
    dev = lo()
    bcast = eth_frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", ETH_P_IP,
                      udp_packet("127.0.0.1", "127.0.0.1", 1, 7, b"x" * 20))  # fmt: skip
    mem(host).send(dev, frame(1))
    mem(host).send(dev, bcast)
    host.loop.run_until_idle()
    own, other = mem(host).received_skbs(dev)
    assert (own.pkt_type, other.pkt_type) == (PACKET_HOST, PACKET_BROADCAST)
    assert PACKET_LOOPBACK not in (own.pkt_type, other.pkt_type)


def test_setup(lo: Callable[..., NetDevice]) -> None:
    dev = lo(name="lb%d")
    assert dev.name == "lb0"
    assert dev.flags & IFF_LOOPBACK and dev.flags & IFF_NOARP
    assert dev.type == ARPHRD_ETHER and dev.mtu == 65536 and dev.tx_queue_len == 1000
    assert dev.hard_header_len == 14


def test_ethtool_shows_no_link_settings_as_ethtool_lo(
    host: Host, lo: Callable[..., NetDevice]
) -> None:
    """loopback_ethtool_ops has get_link and no get_link_ksettings: ``ethtool lo`` prints only
    ``Link detected: yes`` (no Speed, Duplex or Port), and -s has nothing to change."""
    dev = lo()
    res, _ = ethtool_request(host, dev, "settings")
    assert res["link"] is True
    assert (res["speed"], res["duplex"], res["port"]) == (None, None, None)
    with pytest.raises(EthtoolError):
        ethtool_request(host, dev, "settings", {"speed": 10})


def test_large_mtu(host: Host, lo: Callable[..., NetDevice]) -> None:
    dev = lo()
    assert host.dev_set_mtu(dev, 65536) == 0 and host.dev_set_mtu(dev, 9000) == 0
    assert dev.mtu == 9000
    big = eth_frame("02:00:00:00:00:01", "02:00:00:00:00:01", ETH_P_IP, bytes(60000))
    mem(host).send(dev, big)
    host.loop.run_until_idle()
    assert mem(host).received(dev) == [big]


def test_backlog_overflow_is_counted_once_as_rx_dropped(
    host: Host, lo: Callable[..., NetDevice]
) -> None:
    """loopback_xmit(): ``if (likely(__netif_rx(skb) == NET_RX_SUCCESS)) dev_lstats_add(dev,
    len);`` — a frame the full backlog drops is counted once, by the core, in rx_dropped
    (enqueue_to_backlog's dev_core_stats_rx_dropped_inc), and in no tx counter."""
    dev = lo()
    host.netdev_max_backlog = 3
    for i in range(5):
        mem(host).send(dev, frame(i))
    host.loop.run_until_idle()
    s = dev_get_stats(dev)
    assert (s.tx_packets, s.rx_packets) == (3, 3)
    assert (s.tx_dropped, s.rx_dropped) == (0, 2) and dev.core_stats.rx_backlog_drops == 2
    assert len(mem(host).received(dev)) == 3


def test_two_loopbacks_get_distinct_names(host: Host, lo: Callable[..., NetDevice]) -> None:
    a, b = lo(), lo()
    assert (a.name, b.name) == ("nlo0", "nlo1")


def test_status_names_the_interface_a_name_parameter_gave(host: Host) -> None:
    from netdrv_loopback.driver import Loopback

    drv = load_driver(host, Loopback, name="tst%d")
    assert drv.describe().endswith("as tst0")


# -- MemoryStack.wire ------------------------------------------------------------------------
def test_a_wire_transmits_received_frames_on_the_peer_with_their_link_header(
    host: Host,
    snull: LoadSnull,
) -> None:
    snull()
    sn0, sn1 = get(host, "sn0"), get(host, "sn1")
    tap, ops = make_dev(host, "wire%d")
    mem(host).wire(sn1, tap)
    pkt = udp_packet("198.18.0.1", "198.18.0.2", 1, 2, b"over the wire" * 4)
    mem(host).send(sn0, eth_frame(sn0.dev_addr, "02:00:00:00:00:99", ETH_P_IP, pkt))
    host.loop.run_until_idle()
    assert len(ops.sent_bytes) == 1
    out = ops.sent_bytes[0]
    assert out[:6] == sn1.dev_addr and out[6:12] == sn0.dev_addr
    assert out[12:14] == b"\x08\x00" and len(out) == 14 + len(pkt)
    assert mem(host).received(sn1) == []
    host.unregister_netdev(tap)
    assert mem(host).wires == {}


def test_the_queue_is_never_stopped_as_loopback_c_has_no_open_or_stop(
    host: Host, lo: Callable[..., NetDevice]
) -> None:
    # Linux's loopback_ops has no ndo_open and no ndo_stop: its queue keeps the state
    # alloc_netdev_mqs gave it (awake) through every down and up, and it sends at once.
    dev = lo()
    for _cycle in range(2):
        assert not netif_queue_stopped(dev)
        mem(host).send(dev, frame(1))
        host.loop.run_until_idle()
        assert mem(host).received(dev)[-1] == frame(1)
        assert host.dev_close(dev) == 0
        assert not netif_queue_stopped(dev)  # nothing stopped it
        mem(host).up(dev)
    assert dev_get_stats(dev).tx_packets == 2
