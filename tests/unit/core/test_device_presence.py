"""netif_device_detach / netif_device_attach / netif_device_present (__LINK_STATE_PRESENT).

What Linux does for a suspended or unplugged device: detach stops the transmit queue of a
running device, the watchdog leaves it alone, ``dev_open`` (and an MTU or address change)
fails with ENODEV; attach wakes the queue (sending what waited) and watches it again.
"""

from __future__ import annotations

import errno

from fakedev import Run, make_dev, tx

from netdrv_core import (
    Host,
    alloc_etherdev,
    dev_open,
    netdev_get_tx_queue,
    netdev_sent_queue,
    netif_device_attach,
    netif_device_detach,
    netif_device_present,
    netif_queue_stopped,
    netif_stop_queue,
    netif_xmit_stopped,
)
from netdrv_core.netdevice import NET_XMIT_DROP, NET_XMIT_SUCCESS


def test_a_new_device_is_present() -> None:
    assert netif_device_present(alloc_etherdev())


def test_detach_stops_the_queue_of_a_running_device_and_frames_wait(host: Host) -> None:
    dev, ops = make_dev(host, tx_queue_len=3)
    netif_device_detach(dev)
    assert not netif_device_present(dev) and netif_queue_stopped(dev)
    results = [tx(host, dev, bytes([i]) * 60) for i in range(4)]
    host.loop.run_until_idle()
    # The driver gets nothing; the qdisc holds what it can, as for any stopped queue.
    assert ops.sent_bytes == []
    assert results == [NET_XMIT_SUCCESS] * 3 + [NET_XMIT_DROP]
    assert len(dev.qdisc) == 3 and dev.core_stats.tx_qdisc_drops == 1
    netif_device_attach(dev)
    host.loop.run_until_idle()
    assert netif_device_present(dev) and not netif_queue_stopped(dev)
    assert ops.sent_bytes == [bytes([i]) * 60 for i in range(3)]


def test_detach_and_attach_of_a_down_device_leave_its_queue_alone(host: Host) -> None:
    # Linux's netif_device_detach/attach stop and wake the queues of a running device only.
    dev, _ = make_dev(host, up=False)
    for stopped in (False, True):  # zeroed at alloc_netdev_mqs; then as a driver's stop left it
        if stopped:
            netif_stop_queue(dev)
        assert netif_queue_stopped(dev) is stopped
        netif_device_detach(dev)
        netif_device_attach(dev)
        assert netif_device_present(dev) and netif_queue_stopped(dev) is stopped


def test_open_of_a_detached_device_fails_with_enodev(host: Host) -> None:
    dev, ops = make_dev(host, up=False)
    netif_device_detach(dev)
    assert dev_open(dev) == -errno.ENODEV
    assert ops.calls == [] and not dev.is_up
    netif_device_attach(dev)
    assert dev_open(dev) == 0 and ops.calls == ["open"]


def test_mtu_and_address_changes_of_a_detached_device_fail_with_enodev(host: Host) -> None:
    dev, _ = make_dev(host, up=False)
    netif_device_detach(dev)
    assert host.dev_set_mtu(dev, 1400) == -errno.ENODEV and dev.mtu == 1500
    assert host.extack == f"{dev.name} is detached (suspended or unplugged)"  # what ip is told
    host.extack = None
    new = b"\x02\x00\x00\x00\x00\x99"
    assert host.dev_set_mac_address(dev, new) == -errno.ENODEV and dev.dev_addr != new
    assert host.extack == f"{dev.name} is detached (suspended or unplugged)"
    netif_device_attach(dev)
    assert host.dev_set_mtu(dev, 1400) == 0 and dev.mtu == 1400
    assert host.dev_set_mac_address(dev, new) == 0 and dev.dev_addr == new


def test_the_watchdog_ignores_a_detached_device(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=0.05)
    ops.mode = "hold"  # the frame stays on the "ring": the queue is stopped
    tx(host, dev)
    netif_device_detach(dev)
    run(0.5)
    assert ops.timeouts == 0 and dev.core_stats.tx_timeouts == 0
    assert dev._watchdog is None, "nothing is checked for a device that is not present"


def test_the_watchdog_works_again_after_attach(host: Host, run: Run) -> None:
    dev, ops = make_dev(host, watchdog_timeo=0.05)
    ops.mode = "hold"
    tx(host, dev)
    netif_device_detach(dev)
    run(0.2)  # the check finds the device detached and is not armed again
    netif_device_attach(dev)
    tx(host, dev)  # the ring is still full: the driver stops the queue again
    run(0.2)
    assert ops.timeouts >= 1


def test_attach_watches_a_queue_byte_queue_limits_still_hold(host: Host, run: Run) -> None:
    # Attach wakes only the driver's stop: with bytes in flight over the BQL limit the
    # queue stays stopped, and the watchdog restarted by attach (__netdev_watchdog_up)
    # times it out if no completion comes.
    dev, ops = make_dev(host, watchdog_timeo=0.05)
    netdev_sent_queue(dev, 100_000)
    assert netif_xmit_stopped(netdev_get_tx_queue(dev, 0))
    netif_device_detach(dev)
    run(0.2)
    assert ops.timeouts == 0
    netif_device_attach(dev)
    assert not netif_queue_stopped(dev) and netif_xmit_stopped(netdev_get_tx_queue(dev, 0))
    run(0.2)
    assert ops.timeouts >= 1


def test_detach_twice_then_attach_once_is_present(host: Host) -> None:
    dev, _ = make_dev(host)
    netif_device_detach(dev)
    netif_device_detach(dev)
    netif_device_attach(dev)
    assert netif_device_present(dev) and not netif_queue_stopped(dev)


def test_a_driver_stop_before_detach_is_undone_by_attach(host: Host) -> None:
    # netif_tx_wake_all_queues: Linux wakes every queue on attach, whoever stopped it.
    dev, _ = make_dev(host)
    netif_stop_queue(dev)
    netif_device_detach(dev)
    netif_device_attach(dev)
    assert not netif_queue_stopped(dev)
