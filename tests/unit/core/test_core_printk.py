"""Driver messages in the kernel's words: netdev_* name the interface and go to the driver's
logger, netif_msg_* gate them on msg_enable, RateLimit/net_ratelimit limit them."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from fakedev import make_dev

from netdrv_core import (
    NETIF_MSG_DRV,
    NETIF_MSG_LINK,
    NETIF_MSG_PROBE,
    NETIF_MSG_RX_ERR,
    NETIF_MSG_WOL,
    RateLimit,
    net_ratelimit,
    netdev_dbg,
    netdev_err,
    netdev_info,
    netdev_warn,
    netdev_warn_once,
    netif_info,
    netif_msg_init,
    netif_msg_link,
    netif_msg_rx_err,
)
from netdrv_core.ethtool import NETIF_MSG_NAMES
from netdrv_core.netdevice import NETREG_REGISTERED


def _dev(name: str = "pk0", driver: str | None = "pkdrv", registered: bool = True):
    dev, _ = make_dev(name=name)
    dev.driver = SimpleNamespace(name=driver) if driver else None
    if registered:  # as a driver's device is when it runs (without a host to register on)
        dev.reg_state = NETREG_REGISTERED
    return dev


def test_a_message_names_the_interface_and_goes_to_the_drivers_logger(caplog) -> None:
    dev = _dev()
    caplog.set_level(logging.DEBUG)
    netdev_err(dev, "ring %d stuck", 3)
    netdev_warn(dev, "100% of the pool in use")  # no args: a % needs no escaping
    netdev_info(dev, "link up")
    netdev_dbg(dev, "poll")
    got = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert got == [
        ("netdrv.pkdrv", logging.ERROR, "pk0: ring 3 stuck"),
        ("netdrv.pkdrv", logging.WARNING, "pk0: 100% of the pool in use"),
        ("netdrv.pkdrv", logging.INFO, "pk0: link up"),
        ("netdrv.pkdrv", logging.DEBUG, "pk0: poll"),
    ]


def test_a_device_without_a_driver_logs_to_netdrv(caplog) -> None:
    caplog.set_level(logging.INFO)
    netdev_info(_dev(driver=None), "hello")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [("netdrv", "pk0: hello")]


def test_warn_once_warns_once_per_driver_and_text(caplog) -> None:
    a, b = _dev("pk0", "oncedrv"), _dev("pk1", "oncedrv")
    caplog.set_level(logging.WARNING)
    for dev in (a, b, a):
        netdev_warn_once(dev, "firmware %s is old", "1.0")
    netdev_warn_once(_dev("pk2", "otherdrv"), "firmware %s is old", "1.0")
    assert [r.getMessage() for r in caplog.records] == [
        "pk0: firmware 1.0 is old", "pk2: firmware 1.0 is old"
    ]  # fmt: skip


def test_the_msg_enable_bits_are_the_kernels_and_ethtools() -> None:
    assert (NETIF_MSG_DRV, NETIF_MSG_PROBE, NETIF_MSG_LINK, NETIF_MSG_WOL) == (1, 2, 4, 0x4000)
    assert NETIF_MSG_NAMES[NETIF_MSG_RX_ERR.bit_length() - 1] == "rx_err"
    assert len(NETIF_MSG_NAMES) == NETIF_MSG_WOL.bit_length()


@pytest.mark.parametrize(
    "debug,default,want",
    [(-1, 0x7, 0x7), (32, 0x7, 0x7), (0, 0x7, 0), (1, 0x7, 0x1), (3, 0, 0x7), (16, 0, 0xFFFF)],
)
def test_netif_msg_init_reads_a_debug_parameter_as_linux_does(debug, default, want) -> None:
    assert netif_msg_init(debug, default) == want


def test_netif_messages_are_gated_on_msg_enable(caplog) -> None:
    dev = _dev()
    priv = SimpleNamespace(msg_enable=NETIF_MSG_LINK)
    caplog.set_level(logging.DEBUG)
    assert netif_msg_link(priv) and not netif_msg_rx_err(priv)
    netif_info(priv, NETIF_MSG_LINK, dev, "carrier %s", "on")
    netif_info(priv, NETIF_MSG_RX_ERR, dev, "bad frame")
    assert [r.getMessage() for r in caplog.records] == ["pk0: carrier on"]


def test_a_rate_limit_lets_a_burst_through_per_interval_and_says_what_it_held(caplog) -> None:
    now = [0.0]
    rl = RateLimit(interval=5.0, burst=3, name="rx_err", clock=lambda: now[0])
    caplog.set_level(logging.WARNING)
    assert [rl() for _ in range(5)] == [True, True, True, False, False]
    assert rl.missed == 2 and not caplog.records
    now[0] = 5.0
    assert rl()
    assert [r.getMessage() for r in caplog.records] == ["rx_err: 2 callbacks suppressed"]
    assert rl.missed == 0
    assert all(RateLimit(interval=0)() for _ in range(100))  # 0: no limit


def test_net_ratelimit_is_ten_per_five_seconds() -> None:
    # The shared state may have been used by an earlier test: within one interval at most
    # ten calls in a row are allowed, and the eleventh of a fresh interval is refused.
    from netdrv_core import printk

    state = printk._net_ratelimit_state
    saved = state.begin, state.printed, state.missed
    try:
        state.begin, state.printed, state.missed = None, 0, 0
        assert sum(net_ratelimit() for _ in range(11)) == 10
    finally:
        state.begin, state.printed, state.missed = saved


_RELOADED_DRIVER = """\
from netdrv_core import netdev_warn_once

def probe(dev):
    netdev_warn_once(dev, "firmware %s is old", "1.0")
"""


def test_warn_once_warns_again_once_the_driver_is_imported_afresh(caplog) -> None:
    """The kernel's once-flag lives in the module, so a reloaded module warns again: so
    does a plugin the daemon forgot at `netdrv unload` and imports afresh at `netdrv load`
    (in a daemon another driver keeps alive)."""
    dev = _dev("pk3", "reloaddrv")
    caplog.set_level(logging.WARNING)
    for _load in range(2):  # two imports of the same source
        module: dict[str, object] = {}
        exec(compile(_RELOADED_DRIVER, "netdrv_reloaddrv/driver.py", "exec"), module)
        for _probe in range(2):
            module["probe"](dev)  # type: ignore[operator]
    assert [r.getMessage() for r in caplog.records] == ["pk3: firmware 1.0 is old"] * 2


def test_warn_once_is_once_per_call_site_whatever_the_text(caplog) -> None:
    """As in the kernel (a static flag per call site): a text made per call (an f-string)
    neither warns each time nor makes the remembered state grow."""
    dev = _dev("pk4", "sitedrv")
    caplog.set_level(logging.WARNING)
    for n in range(3):
        netdev_warn_once(dev, f"queue {n} stuck")
    assert [r.getMessage() for r in caplog.records] == ["pk4: queue 0 stuck"]


def test_a_nameless_rate_limit_names_the_function_that_called_it(caplog) -> None:
    now = [0.0]
    rl = RateLimit(interval=1.0, burst=1, clock=lambda: now[0])

    def bad_frame() -> bool:
        return rl()

    caplog.set_level(logging.WARNING)
    assert [bad_frame() for _ in range(3)] == [True, False, False]
    now[0] = 2.0
    assert bad_frame()
    assert caplog.records[-1].getMessage() == (
        "test_a_nameless_rate_limit_names_the_function_that_called_it.<locals>.bad_frame: "
        "2 callbacks suppressed"
    )


def test_a_message_is_recorded_at_the_drivers_call_site(caplog) -> None:
    """The record's file, line and function are the driver's, not printk's: pytest's
    captured log and a handler showing %(filename)s:%(lineno)d point at the driver."""
    dev = _dev()
    priv = SimpleNamespace(msg_enable=NETIF_MSG_LINK)
    now = [0.0]
    rl = RateLimit(interval=1.0, burst=1, name="rl", clock=lambda: now[0])
    caplog.set_level(logging.DEBUG)

    def driver_code() -> None:
        netdev_err(dev, "a")
        netdev_info(dev, "b %d", 1)
        netif_info(priv, NETIF_MSG_LINK, dev, "c")
        netdev_warn_once(dev, "d")
        rl()
        rl()
        now[0] = 2.0
        rl()  # says what it held

    driver_code()
    assert len(caplog.records) == 5
    for r in caplog.records:
        assert (r.filename, r.funcName) == ("test_core_printk.py", "driver_code"), r.getMessage()


def test_a_device_not_yet_registered_is_unnamed_as_in_the_kernel(caplog) -> None:
    """Before register_netdev its name is still a pattern (eth%d): the kernel's
    netdev_name() says "(unnamed net_device)"."""
    caplog.set_level(logging.INFO)
    netdev_info(_dev("pk%d", driver=None, registered=False), "found at %#x", 0x300)
    assert [r.getMessage() for r in caplog.records] == [
        "(unnamed net_device) (uninitialized): found at 0x300"
    ]


def test_printk_state_is_a_fresh_boot_for_the_block(caplog) -> None:
    from netdrv_core.printk import printk_state

    dev = _dev("pk0", "bootdrv")
    caplog.set_level(logging.WARNING)

    def warn() -> None:
        netdev_warn_once(dev, "once")

    warn()
    now = [0.0]
    with printk_state(lambda: now[0]):
        warn()  # warns again: a fresh memory
        assert sum(net_ratelimit() for _ in range(11)) == 10
        now[0] = 5.0  # the given clock starts the next interval
        assert net_ratelimit()
    warn()  # the old memory is back: warned already
    assert [r.getMessage() for r in caplog.records if r.getMessage() == "pk0: once"] == [
        "pk0: once", "pk0: once"
    ]  # fmt: skip
