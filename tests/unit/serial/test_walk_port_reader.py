"""LinePort's reader on a port without a file descriptor (pyserial's rfc2217://, loop://)."""

from __future__ import annotations

import threading

from netdrv_serial.port import LinePort


class _NoFdSerial:
    """Reads like pyserial's rfc2217 Serial: no fileno(); read(n) returns once n bytes have
    come or ``timeout`` has run out.  ``held_back`` counts reads that returned data only
    because the timeout ran out — bytes that sat in the buffer, delaying their frame."""

    def __init__(self) -> None:
        self.timeout: float | None = None
        self._buf = bytearray()
        self._cv = threading.Condition()
        self._closed = False
        self.held_back = 0

    def feed(self, data: bytes) -> None:
        with self._cv:
            self._buf += data
            self._cv.notify_all()

    @property
    def in_waiting(self) -> int:
        with self._cv:
            return len(self._buf)

    def read(self, size: int = 1) -> bytes:
        with self._cv:
            done = self._cv.wait_for(lambda: len(self._buf) >= size or self._closed, self.timeout)
            out = bytes(self._buf[:size])
            del self._buf[:size]
            if out and not done:
                self.held_back += 1
            return out

    def write(self, data: bytes) -> int:
        return len(data)

    def cancel_read(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def close(self) -> None:
        self.cancel_read()


def test_walk_reader_delivers_bytes_without_waiting_for_the_read_timeout() -> None:
    ser = _NoFdSerial()
    got = bytearray()
    arrived = threading.Event()

    def on_data(data: bytes) -> None:
        got.extend(data)
        if len(got) >= 10:
            arrived.set()

    port = LinePort("rfc2217://fake:1", 115200, lambda fn, *a: fn(*a), on_data,
                    lambda tok: None, lambda exc: None)  # fmt: skip
    port.open(ser)
    try:
        ser.feed(b"\xc0" + b"E" * 8 + b"\xc0")
        assert arrived.wait(10), "the reader never delivered the bytes"
    finally:
        port.close()
    assert bytes(got) == b"\xc0" + b"E" * 8 + b"\xc0"
    # A frame must not sit in the port until pyserial's read timeout runs out (that was
    # up to 20 ms per frame and direction on rfc2217://, read(4096) waiting for 4096 bytes).
    assert ser.held_back == 0


def test_walk_relative_port_path_is_refused_with_the_full_path_to_give(
    tmp_path, monkeypatch
) -> None:
    import os

    import pytest
    from netdrv_serial.port import NotAPortError, open_serial

    master, slave = os.openpty()
    try:
        (tmp_path / "ttyA").symlink_to(os.ttyname(slave))
        monkeypatch.chdir(tmp_path)
        # It exists *here*; a daemon started elsewhere would not find it, and would
        # retry it after an unplug relative to wherever it runs.
        with pytest.raises(NotAPortError, match="relative path") as info:
            open_serial("ttyA", 115200)
        assert "full path" in str(info.value) and "ttyA" in str(info.value)
        with pytest.raises(NotAPortError, match=r"port=/dev/null"):
            open_serial("null", 115200)
    finally:
        os.close(master)
        os.close(slave)


def test_walk_a_baud_the_port_refuses_fails_the_load_even_with_wait(monkeypatch) -> None:
    import os

    import pytest
    import serial
    from netdrv_serial.port import PortSettingError, open_serial

    from netdrv_core import Host, PluginManager
    from netdrv_core.params import parse_params

    def refuse(url, baudrate, **kw):  # what pyserial raises when TCSETS2 refuses the rate
        raise ValueError(
            f"Failed to set custom baud rate ({baudrate}): [Errno 22] Invalid argument"
        )

    monkeypatch.setattr(serial, "serial_for_url", refuse)
    master, slave = os.openpty()
    host = Host()
    try:
        path = os.ttyname(slave)
        with pytest.raises(PortSettingError, match=r"refuses baud=12345 .*use a rate the adapter"):
            open_serial(path, 12345)
        # wait=1 waits for a port that is not there yet, not for one that will never
        # take this rate: the load fails at once with the reason.
        pm = PluginManager()
        params = parse_params(
            "slip", pm.driver_parameters("slip"), {"port": path, "baud": "12345", "wait": "1"}
        )
        drv = pm.get_driver("slip")(host, params)
        with host.as_current(), pytest.raises(PortSettingError, match="baud=12345"):
            drv.init()
        assert drv.devices == []
    finally:
        host.close()
        host.loop.close()
        os.close(master)
        os.close(slave)


def test_walk_a_server_that_hangs_up_at_once_is_explained(monkeypatch) -> None:
    import pytest
    import serial
    import serial.rfc2217
    from netdrv_serial.port import PortError, open_serial

    def hang_up(self):  # pyserial's RFC 2217 negotiation writing to a closed socket
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(serial.rfc2217.Serial, "open", hang_up)
    with pytest.raises(PortError, match="took the connection and closed it") as info:
        open_serial("rfc2217://127.0.0.1:3333", 115200)
    assert "device behind it is probably missing" in str(info.value)
