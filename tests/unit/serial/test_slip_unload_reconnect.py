"""An unload (or ``ip link set down``) while a reconnect to a network port is under way.

With ser2net's ``kickolduser``, every connection the server accepts takes the port from
the client that held it.  A line closed before its reconnect thread got to connect must
therefore never connect: the unload would take the port, once, from whoever uses it now.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from netdrv_serial import port as port_mod
from netdrv_serial.port import LinePort
from slip_helpers import Ser2netLike


def test_a_line_closed_before_its_reconnect_connects_never_connects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Ser2netLike(missing=False)
    held: list[threading.Thread] = []

    class Held(threading.Thread):
        """The open's thread, started when the test says (after the close)."""

        def start(self) -> None:
            held.append(self)

    fake = SimpleNamespace(**{n: getattr(threading, n) for n in dir(threading) if n[0] != "_"})
    fake.Thread = Held
    monkeypatch.setattr(port_mod, "threading", fake)
    connects: list[str] = []
    real_open = port_mod.open_serial

    def open_serial(url: str, *args: Any, **kwargs: Any) -> Any:
        connects.append(url)
        return real_open(url, *args, **kwargs)

    monkeypatch.setattr(port_mod, "open_serial", open_serial)
    posted: list[Any] = []
    line = LinePort(
        f"socket://127.0.0.1:{server.port}", 115200, lambda fn, *a: posted.append((fn, a)),
        lambda data: None, lambda tok: None, lambda exc: None,
    )  # fmt: skip
    try:
        line.open_async(lambda err: posted.append(("done", err)))
        opening = line.is_opening
        assert opening and len(held) == 1
        assert line.close() == []  # the unload, before the thread ran
        assert not line.is_opening
        threading.Thread.start(held[0])
        held[0].join(timeout=30)
        assert not held[0].is_alive()
        assert connects == []  # never connected: nobody's port was taken
        assert posted == [] and not line.is_open
    finally:
        line.close()
        server.stop()


def test_a_line_that_connects_after_all_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check does not stop an open nobody cancelled."""
    server = Ser2netLike(missing=False)
    posted: list[Any] = []
    done = threading.Event()

    def post(fn: Any, *a: Any) -> None:
        posted.append((fn, a))
        done.set()

    line = LinePort(
        f"socket://127.0.0.1:{server.port}", 115200, post,
        lambda data: None, lambda tok: None, lambda exc: None,
    )  # fmt: skip
    try:
        line.open_async(lambda err: posted.append(("done", err)))
        assert done.wait(30)
        fn, args = posted[0]
        fn(*args)  # what the loop runs
        assert line.is_open and ("done", None) in posted
        assert server.accepted == 1
    finally:
        line.close()
        server.stop()
