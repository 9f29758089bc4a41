"""snull's ``timeout`` parameter (ms): bounded, with the range in the error and the listing."""

from __future__ import annotations

import threading

import pytest

from netdrv_core import Host, ParameterError, PluginManager
from netdrv_core.checksum import ip_fast_csum
from netdrv_core.params import parse_params

_HDR = bytes.fromhex("4500001c0001000040010000c6120001c6120002")  # 198.18.0.1 -> .0.2, ICMP
_IP = (
    _HDR[:10]
    + ip_fast_csum(_HDR).to_bytes(2, "big")
    + _HDR[12:]
    + bytes.fromhex("0800f7ff00000000")
)
ETH_IP = bytes.fromhex("00534e554c3002aabbccddee0800") + _IP  # to sn0's MAC


def _params(**given: str) -> dict:
    pm = PluginManager()
    return parse_params("snull", pm.driver_parameters("snull"), given)


@pytest.mark.parametrize("value", ["0", "3600001", "3000000000"])
def test_a_timeout_out_of_range_is_refused_naming_the_range(value: str) -> None:
    with pytest.raises(ParameterError) as info:
        _params(timeout=value)
    text = str(info.value)
    assert f"bad value '{value}' for timeout: must be 1..3600000" in text
    assert "timeout=int ms (default 5, 1..3600000)" in text  # the listing says so too


def test_the_longest_timeout_arms_a_watchdog_the_loop_can_wait_for() -> None:
    # 3000000000 ms (34 days) used to be taken: after a lockup the watchdog timer was the
    # loop's next deadline, beyond epoll_wait's longest wait, and run_once raised
    # OverflowError (the daemon's loop would end). The maximum, an hour, is safe.
    p = _params(timeout="3600000", lockup="1")
    host = Host()
    try:
        drv = PluginManager().get_driver("snull")(host, p)
        with host.as_current():
            drv.init()
            drv.configure()
        sn0 = host.dev_get_by_name("sn0")
        assert sn0 is not None and sn0.watchdog_timeo == 3600.0
        host.attachment.send(sn0, ETH_IP)  # every packet locks up: the queue stops
        host.loop.run_until_idle()
        assert sn0._queue_stopped and sn0._watchdog is not None
        # Nothing else is due: the loop waits for the watchdog's deadline, an hour away,
        # until the thread wakes it.
        wake = threading.Timer(0.05, host.loop.call_soon_threadsafe, (lambda: None,))
        wake.start()
        host.loop.run_once(None)
        wake.join()
        with host.as_current():
            drv.exit()
    finally:
        host.close()
        host.loop.close()
