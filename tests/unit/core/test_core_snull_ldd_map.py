"""snull read side by side with LDD's snull.c: what the chapter's code does, this one does."""

from __future__ import annotations

import errno
import logging

import pytest
from fakedev import LoadSnull, mem
from frames import ETH_P_IP, eth_frame, udp_packet

from netdrv_core import Host, NapiStruct, NetDevice, NetDeviceOps, napi_schedule

SRC, DST = "198.18.0.1", "198.18.0.2"


def devs(host: Host) -> tuple[NetDevice, NetDevice]:
    sn0, sn1 = host.dev_get_by_name("sn0"), host.dev_get_by_name("sn1")
    assert sn0 is not None and sn1 is not None
    return sn0, sn1


def send(host: Host, dev: NetDevice, payload: bytes) -> None:
    frame = eth_frame(dev.dev_addr, b"\x02\xaa\xbb\xcc\xdd\xee", ETH_P_IP,
                      udp_packet(SRC, DST, 1, 2, payload))  # fmt: skip
    mem(host).send(dev, frame)


def test_the_rx_interrupt_stays_masked_while_napi_complete_done_keeps_the_poll_scheduled(
    host: Host, snull: LoadSnull
) -> None:
    # LDD3's snull_poll: "if (napi_complete_done(napi, npackets)) snull_rx_ints(dev, 1)".
    # A schedule that came during the poll (NAPIF_STATE_MISSED) keeps the context
    # scheduled: the interrupt must stay off until the poll that really completes.
    snull(use_napi=1)
    sn0, sn1 = devs(host)
    napi = sn1.priv.napi
    assert isinstance(napi, NapiStruct)
    poll = napi.poll
    after: list[tuple[bool, bool]] = []  # (interrupt enabled, still scheduled) after each poll

    def polled(n: NapiStruct, budget: int) -> int:
        if not after:
            napi_schedule(n)  # another event while this poll runs: noted as missed
        done = poll(n, budget)
        after.append((n.dev.priv.rx_int_enabled, n.scheduled))
        return done

    napi.poll = polled
    send(host, sn0, b"x" * 20)
    host.loop.run_until_idle()
    assert after[0] == (False, True), "interrupt re-enabled while the poll is still scheduled"
    assert after[-1] == (True, False)  # the next poll completed and re-enabled it
    assert len(mem(host).received("sn1")) == 1


def test_ether_setup_bounds_refuse_an_mtu_before_change_mtu_is_called(
    host: Host, snull: LoadSnull, caplog: pytest.LogCaptureFixture
) -> None:
    # docs/drivers/snull.md: since Linux 4.10 ether_setup's min_mtu/max_mtu (68, 1500)
    # are checked by the core (dev_validate_mtu) first; snull_change_mtu's own 68..1500
    # test is LDD's, reached only when a driver widens them.
    snull()
    sn0, _ = devs(host)
    assert (sn0.min_mtu, sn0.max_mtu) == (68, 1500)
    from netdrv_snull.driver import SnullOps

    called: list[int] = []

    class Spy(SnullOps):
        def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
            called.append(new_mtu)
            return super().change_mtu(dev, new_mtu)

    sn0.netdev_ops = Spy()
    with caplog.at_level(logging.WARNING, logger="netdrv.host"):
        assert host.dev_set_mtu(sn0, 1600) == -errno.EINVAL
    assert called == [] and sn0.mtu == 1500
    assert "sn0: mtu 1600 refused: the device accepts 68..1500" in caplog.text
    assert host.dev_set_mtu(sn0, 1400) == 0 and called == [1400] and sn0.mtu == 1400


def test_statistics_live_in_dev_stats_without_a_get_stats(host: Host, snull: LoadSnull) -> None:
    # LDD's snull_stats returns &priv->stats; a driver without get_stats has the core
    # read dev->stats (Linux's dev_get_stats), which is where snull counts.
    from netdrv_snull.driver import SnullOps

    assert SnullOps.get_stats is NetDeviceOps.get_stats
    snull()
    sn0, sn1 = devs(host)
    send(host, sn0, b"y" * 20)
    host.loop.run_until_idle()
    assert sn0.stats.tx_packets == 1 and sn1.stats.rx_packets == 1


def test_pulling_the_virtual_cable_takes_the_carrier_of_both_ends(
    host: Host, snull: LoadSnull
) -> None:
    # LDD: "when a user trips over the cable, that carrier vanishes". The one cable joins
    # sn0 and sn1: with it out, nothing sent on sn0 may arrive on sn1.
    from netdrv_snull.driver import SNULL_IOC_SETCARRIER

    from netdrv_core import netif_carrier_ok

    snull()
    sn0, sn1 = devs(host)
    assert host.dev_ioctl(sn1, SNULL_IOC_SETCARRIER, 0) == 0
    assert not netif_carrier_ok(sn1) and not netif_carrier_ok(sn0)
    send(host, sn0, b"z" * 20)
    host.loop.run_until_idle()
    assert mem(host).received("sn1") == [] and sn1.stats.rx_packets == 0
    assert sn0.core_stats.tx_qdisc_drops == 1  # dropped and counted, as Linux's noop qdisc
    assert host.dev_ioctl(sn0, SNULL_IOC_SETCARRIER, 1) == 0  # plugged back, from either end
    assert netif_carrier_ok(sn0) and netif_carrier_ok(sn1)
    send(host, sn0, b"z" * 20)
    host.loop.run_until_idle()
    assert len(mem(host).received("sn1")) == 1
