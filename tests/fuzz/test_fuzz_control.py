"""Property tests of the control protocol: framing, request validation and the daemon's handler.

Anything a client (root or the daemon's own uid) sends must get a reply that is
either a result or a documented error (:class:`NetdrvError` and its
subclasses, :class:`ProtocolError` for malformed messages) — never an
"internal" error from an unhandled exception, never a hang — and the daemon
keeps serving afterwards.  The daemon here is a real :class:`Daemon` on the
memory attachment (no privileges), fed through its real connection code.
"""

from __future__ import annotations

import json
import select
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netdrv_core import Host
from netdrv_core.control import (
    COMMANDS,
    MAX_MESSAGE,
    ProtocolError,
    decode_message,
    encode_message,
    validate_request,
)
from netdrv_core.daemon import Daemon, _Conn
from netdrv_core.errors import NetdrvError
from netdrv_core.netdevice import SIOCDEVPRIVATE
from netdrv_core.plugins import PluginManager

FAST = settings(max_examples=200, deadline=5000, suppress_health_check=[HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])  # fmt: skip

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)  # fmt: skip
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)  # fmt: skip


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The well-typed value half of the time, any JSON value otherwise."""
    return st.one_of(strategy, json_value)


# Driver names the fuzzer may load: the memory-safe first-party drivers, unknown names and
# junk.  Plugin module names never name an importable module (prefix zz_fuzz_) or are junk
# that validation must refuse.
drivers = st.one_of(st.sampled_from(["snull", "loopback", "slip", "nosuch", ""]),
                    st.text(max_size=12))  # fmt: skip
param_words = st.lists(
    st.one_of(
        st.sampled_from(["configure=0", "configure=1", "lockup=3", "use_napi=1", "eth=1",
                         "pool_size=2", "port=loop://", "mode=kiss", "name=x%d", "mtu=100",
                         "lockup=-1", "timeout=0", "retry_max=nan", "noequals", "=1"]),
        st.text(max_size=15),
    ),
    max_size=4,
)  # fmt: skip
plugin_names = st.lists(
    st.one_of(st.sampled_from(["zz_fuzz_missing", "zz_fuzz.mod", "no:snull", "../etc", "a b",
                               "", "1abc"]),
              st.text(max_size=10).map(lambda s: "zz_fuzz_" + s)),
    max_size=2,
)  # fmt: skip
devs = st.one_of(st.sampled_from(["sn0", "sn1", "nlo0", "nosuch0"]), st.text(max_size=6))
ifmaps = st.dictionaries(
    st.one_of(st.sampled_from(["irq", "base_addr", "mem_start", "dma", "port"]), st.text(max_size=5)),
    _maybe(st.integers(-(2**40), 2**40)),
    max_size=3,
)  # fmt: skip
ioctls = st.one_of(st.sampled_from([SIOCDEVPRIVATE + i for i in range(4)]), st.integers(-1, 2**40))


FIELDS = {
    "load": ("driver", "params", "plugins"),
    "unload": ("driver",),
    "capture": ("dev", "count"),
    "set": ("dev", "ifmap", "ioctl", "data"),
}


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request object: a real command most of the time, its fields well-typed or not."""
    optional = {
        "driver": _maybe(drivers),
        "params": _maybe(param_words),
        "plugins": _maybe(plugin_names),
        "dev": _maybe(devs),
        "count": _maybe(st.integers(-5, 2**40)),
        "ifmap": _maybe(ifmaps),
        "ioctl": _maybe(ioctls),
        "data": _maybe(st.integers(-2, 3)),
    }
    req: dict[str, Any] = {}
    if draw(st.integers(0, 9)) == 0:
        cmd = draw(json_value)  # no command, or junk where the command goes
        if draw(st.booleans()):
            req["cmd"] = cmd
    else:
        cmd = draw(st.sampled_from([c for c in COMMANDS if c != "stop"]))
        req["cmd"] = cmd
    # The fields the command uses, each present most of the time; now and then any other.
    for key in FIELDS.get(cmd, ()) if isinstance(cmd, str) else ():
        if draw(st.integers(0, 3)):
            req[key] = draw(optional[key])
    for key, strategy in optional.items():
        if key not in req and draw(st.integers(0, 7)) == 0:
            req[key] = draw(strategy)
    if draw(st.integers(0, 4)) == 0:
        req.update(draw(st.dictionaries(st.text(max_size=6), json_value, max_size=2)))
    return req


_PM = PluginManager()  # shared: importing plugins once keeps the examples fast


class _Harness:
    """A daemon on the memory attachment with one client connection over a socketpair."""

    def __init__(self, preload: bool = False) -> None:
        self.host = Host()
        self.daemon = Daemon(host=self.host, pm=_PM, exit_when_empty=False)
        _PM.extra[:] = []
        self.client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.client.settimeout(5)
        server.setblocking(False)
        self.conn = _Conn(server)
        self.daemon.conns[server.fileno()] = self.conn
        if preload:  # devices for set/capture to find: sn0 up, sn1 down
            self.daemon.load("snull", ["configure=0"])
            self.host.attachment.up(self.host.devices["sn0"])  # type: ignore[attr-defined]

    def __enter__(self) -> _Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle(self, req: dict[str, Any]) -> dict[str, Any] | None:
        """validate + handle, as ``_on_readable`` does; only documented errors escape."""
        validate_request(req)
        return self.daemon.handle(req, self.conn)

    def roundtrip(self, raw: bytes) -> list[dict[str, Any]]:
        """Send raw bytes on the connection; return the replies the daemon wrote."""
        view = memoryview(raw)
        self.client.setblocking(False)
        try:
            while True:
                if view:
                    try:
                        view = view[self.client.send(view[:65536]) :]
                    except BlockingIOError:
                        pass
                    except OSError:  # the daemon closed the connection (protocol error)
                        view = view[:0]
                # As the event loop would: read while the connection is readable and open.
                readable = self.conn.sock.fileno() >= 0 and select.select(
                    [self.conn.sock], [], [], 0)[0]  # fmt: skip
                if readable:
                    self.daemon._on_readable(self.conn)
                elif not view:
                    break
        finally:
            self.client.settimeout(5)
        self.host.loop.run_until_idle()
        return self.replies()

    def replies(self) -> list[dict[str, Any]]:
        """Every complete reply waiting on the client side."""
        buf = bytearray()
        self.client.setblocking(False)
        try:
            while True:
                try:
                    chunk = self.client.recv(1 << 20)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                buf += chunk
        finally:
            self.client.settimeout(5)
        out = []
        while (msg := decode_message(buf)) is not None:
            out.append(msg)
        return out

    def close(self) -> None:
        """Unload everything, close the connection and the host."""
        for name in list(self.daemon.drivers):
            self.daemon.unload(name)
        if self.conn.sock.fileno() >= 0:
            self.daemon._close_conn(self.conn)
        self.client.close()
        self.host.close()
        self.host.loop.close()


@pytest.fixture
def harness() -> Iterator[_Harness]:
    h = _Harness()
    yield h
    h.close()


def _serving(h: _Harness) -> None:
    """The daemon still answers ping and status, and status is valid JSON."""
    assert h.daemon.handle({"cmd": "ping"})["ok"] is True
    st_ = h.daemon.handle({"cmd": "status"})
    assert st_ is not None and st_["ok"] is True
    encode_message(st_)


# -- framing -------------------------------------------------------------------------------
@FAST
@given(st.binary(max_size=300), st.integers(1, 64))
@example(struct.pack("!I", MAX_MESSAGE + 1), 4)
@example(struct.pack("!I", 2) + b"[]", 1)
@example(struct.pack("!I", 4000) + b"[" * 4000, 64)  # nesting deeper than the JSON parser's stack
def test_decode_only_raises_protocol_error(data: bytes, chunk: int) -> None:
    buf = bytearray()
    for i in range(0, len(data), chunk):
        buf += data[i : i + chunk]
        while True:
            try:
                msg = decode_message(buf)
            except ProtocolError as exc:
                assert str(exc)
                return
            if msg is None:
                break
            assert isinstance(msg, dict)
    # What is left is at most one incomplete message.
    assert len(buf) < 4 or len(buf) < 4 + struct.unpack_from("!I", buf)[0]


@FAST
@given(st.lists(st.dictionaries(st.text(max_size=5), json_value, max_size=4), max_size=5),
       st.integers(1, 50))  # fmt: skip
def test_encode_decode_identity_under_any_chunking(objs: list[dict[str, Any]], chunk: int) -> None:
    wire = b"".join(encode_message(o) for o in objs)
    buf = bytearray()
    out = []
    for i in range(0, len(wire), chunk):
        buf += wire[i : i + chunk]
        while (msg := decode_message(buf)) is not None:
            out.append(msg)
    # NaN != NaN: compare the canonical JSON text.
    assert [json.dumps(o, sort_keys=True) for o in out] == [
        json.dumps(o, sort_keys=True) for o in objs
    ]
    assert not buf


# -- validation and the handler --------------------------------------------------------------
@FAST
@given(requests())
def test_validate_request_only_raises_protocol_error(req: dict[str, Any]) -> None:
    try:
        validate_request(req)
    except ProtocolError as exc:
        assert str(exc)


@settings(FAST, max_examples=400)
@given(st.lists(requests(), min_size=1, max_size=6), st.booleans())
def test_handler_replies_or_refuses_with_documented_errors(
    reqs: list[dict[str, Any]], preload: bool
) -> None:
    with _Harness(preload) as h:
        for req in reqs:
            try:
                reply = h.handle(req)
            except NetdrvError as exc:
                assert str(exc)
                reply = {"ok": False, "error": str(exc)}
            if reply is None:  # capture: it answered on the connection itself
                assert req.get("cmd") == "capture"
                h.daemon._close_conn(h.conn)
                h.client.close()
                h.client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                server.setblocking(False)
                h.conn = _Conn(server)
                continue
            assert isinstance(reply.get("ok"), bool)
            encode_message(reply)  # the daemon must be able to send it
            h.host.loop.run_until_idle()
            _serving(h)


@FAST
@given(st.lists(requests(), min_size=1, max_size=4), st.booleans())
def test_the_socket_path_never_answers_internal(reqs: list[dict[str, Any]], preload: bool) -> None:
    """Through ``_on_readable``: one reply per request, none of kind 'internal'."""
    with _Harness(preload) as h:
        for req in reqs:
            if req.get("cmd") == "capture":
                continue  # streams raw pcap afterwards; covered above
            try:
                raw = encode_message(req)
            except (ProtocolError, ValueError):
                continue
            replies = h.roundtrip(raw)
            assert len(replies) == 1, (req, replies)
            assert replies[0].get("kind") != "internal", (req, replies[0])
        _serving(h)


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000,  # deeper than json's recursion limit
        b'{"cmd":' * 50_000,
        b"\xff\xfe",
        b'"just a string"',
        b"1" * 5000,  # more digits than int() converts
        b'{"cmd": "ping"',
    ],
    ids=["deep-array", "deep-object", "not-utf8", "string", "huge-int", "truncated"],
)
def test_malformed_messages_get_a_protocol_error_reply(harness: _Harness, payload: bytes) -> None:
    replies = harness.roundtrip(struct.pack("!I", len(payload)) + payload)
    assert len(replies) == 1 and replies[0]["ok"] is False
    assert "control message" in replies[0]["error"]
    # That connection is closed; a new one is served.
    with _Harness() as h2:
        assert h2.roundtrip(encode_message({"cmd": "ping"}))[0]["ok"] is True


def test_an_unserialisable_reply_becomes_an_error_reply(harness: _Harness) -> None:
    """A driver whose ioctl returns something JSON cannot carry still gets the client an answer."""
    harness.daemon.load("snull", ["configure=0"])
    dev = harness.host.devices["sn0"]
    dev.netdev_ops.do_ioctl = lambda d, r, data: {"raw": b"\x00\x01"}  # type: ignore[method-assign]
    replies = harness.roundtrip(encode_message({"cmd": "set", "dev": "sn0",
                                                "ioctl": SIOCDEVPRIVATE}))  # fmt: skip
    assert len(replies) == 1 and replies[0]["ok"] is False
    assert "could not be encoded" in replies[0]["error"]
    _serving(harness)


def test_a_raising_ioctl_is_a_driver_fault_not_an_internal_error(harness: _Harness) -> None:
    harness.daemon.load("snull", ["configure=0"])
    dev = harness.host.devices["sn0"]
    for d in harness.host.devices.values():
        harness.host.attachment.up(d)  # type: ignore[attr-defined]

    def boom(d: Any, r: int, data: Any) -> Any:
        raise KeyError("driver bug")

    dev.netdev_ops.do_ioctl = boom  # type: ignore[method-assign]
    replies = harness.roundtrip(encode_message({"cmd": "set", "dev": "sn0",
                                                "ioctl": SIOCDEVPRIVATE}))  # fmt: skip
    assert replies[0]["ok"] is False and replies[0]["kind"] == "DriverError"
    assert "snull" in replies[0]["error"] and "do_ioctl" in replies[0]["error"]
    harness.host.loop.run_until_idle()
    assert not dev.is_up, "the faulting device is taken down"
    assert harness.host.devices["sn1"].is_up, "the others are fine"
