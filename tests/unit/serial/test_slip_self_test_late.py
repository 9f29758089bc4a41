"""The slip loopback test: a pattern that comes back after the test gave up is no frame."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator

import pytest
from netdrv_serial.driver import SERIAL_TEST_STRINGS
from slip_helpers import load_slip

from netdrv_core import ETH_TEST_FL_EXTERNAL_LB, ETH_TEST_FL_OFFLINE, Host
from netdrv_core.ethtool import ethtool_self_test

PORT, ERRORS, SENT, RECEIVED = SERIAL_TEST_STRINGS
EXTERNAL_LB = ETH_TEST_FL_OFFLINE | ETH_TEST_FL_EXTERNAL_LB


class SlowPlug:
    """A pty's far end that echoes what it reads ``delay`` seconds later (a slow line)."""

    def __init__(self, delay: float) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.delay = delay
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            time.sleep(self.delay)
            os.write(self.master, data)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(3)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def slow_plug() -> Iterator[SlowPlug]:
    p = SlowPlug(1.6)  # longer than the test waits at 115200 bit/s (1.04 s after the write)
    yield p
    p.close()


def test_a_pattern_back_after_the_test_ended_is_no_frame(host: Host, slow_plug: SlowPlug) -> None:
    drv = load_slip(host, port=slow_plug.path, name="st%d")
    dev = drv.devices[0]
    try:
        r = ethtool_self_test(host, dev, EXTERNAL_LB)
        assert not r["passed"] and r["results"][RECEIVED] == 0, r
        # The pattern comes back now, late: it must not reach the decoder as frames.
        before = dev.priv.line_bytes_in
        assert host.loop.run_until(lambda: dev.priv.line_bytes_in >= before + 256, timeout=5)
        host.loop.run_until_idle()
        assert dev.stats.rx_errors == 0 and dev.stats.rx_packets == 0
        assert host.attachment.received(dev) == []  # type: ignore[attr-defined]
    finally:
        with host.as_current():
            drv.exit()
