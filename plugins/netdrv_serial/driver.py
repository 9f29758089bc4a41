"""The ``slip`` driver: IP over a serial line, after Linux ``slip.c`` (and ``plip.c``, ``mkiss.c``).

One point-to-point interface (``sl%d``; a TUN on the kernel attachment,
IFF_NOARP|IFF_POINTOPOINT) per serial port.  The line mode — SLIP, CSLIP,
adaptive, a PLIP-like framing or KISS — is a parameter; the framing is done by
the sans-I/O codecs in :mod:`netdrv_serial.codecs`, the I/O by
:class:`~netdrv_serial.port.LinePort` threads.

Faults, as a serial link should take them: when the port vanishes the carrier
goes off (NO-CARRIER in ``ip link``), the counters stay, and the port is
reopened with exponential backoff until it comes back; garbage on the line is
counted as framing errors; writes never block the event loop; a line that takes
nothing for :data:`TX_TIMEOUT` seconds (flow control held off, a serial server that
stopped reading) has the frame it is stuck on given up and counted in
``tx_errors``, and the queue restarts (Linux ``sl_tx_timeout``).

``netdrv ethtool -t DEV external_lb`` tests the line itself with a loopback plug
(TX wired to RX): a byte pattern goes out and must come back intact (see
:class:`SerialLoopback`).
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import ipaddress
import logging
import os
from typing import TYPE_CHECKING, Any

from netdrv_core import (
    ETH_TEST_FL_EXTERNAL_LB,
    ETH_TEST_FL_EXTERNAL_LB_DONE,
    ETH_TEST_FL_FAILED,
    NETDEV_TX_OK,
    Completion,
    Driver,
    EthtoolTest,
    NetDevice,
    NetDeviceOps,
    Param,
    ParameterError,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_queue_stopped,
    netif_rx,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
    ptp_setup,
)
from netdrv_core.ether import ETH_P_IP, ETH_P_IPV6
from netdrv_core.ethtool import DrvInfo, EthtoolOps
from netdrv_core.linktypes import ARPHRD_AX25, ARPHRD_CSLIP, ARPHRD_SLIP
from netdrv_core.params import ip_address, ip_interface

from .codecs import DEFAULT_MTUS, MODES, CodecError, linux_rx
from .port import (
    LinePort,
    NotAPortError,
    PortError,
    ServerClosedError,
    open_blocks,
    open_serial,
    port_key,
    server_said,
)

if TYPE_CHECKING:
    from .linktest import Responder

log = logging.getLogger("netdrv.serial")

OPEN_WARN_EVERY = 600.0  # seconds between warnings that a port still cannot be reopened
# A network port reopened after a loss is watched this long: a serial server that takes
# each connection and hangs up at once (ser2net when its serial device is missing) is a
# port that cannot be opened, not one that comes and goes.  Its carrier waits for the
# connection to last this long only while such a hang-up is possible: on the first attempt
# after the loss, and after a hang-up (until a connection has held: an open of the link
# included).  It comes on at once where the connection is known
# good: an RFC 2217 open (the server answered the port's settings, which ser2net does only
# with its device open) or a server that was unreachable (refused, timed out) and answers
# again; and it ends the wait when the peer's first frame comes through (see _opened).
NET_SETTLE = 0.5
# priv.open_error of a serial server that took the connection and hung up.
_HUNG_UP = "server closed"

# Frames queued to the writer thread before the queue is stopped: enough to keep
# the line busy between two loop wake-ups, small enough to keep latency low.
TX_INFLIGHT = 2
# sl_setup's watchdog_timeo: a queue stopped this long (the line took nothing) times out,
# and the frame the writer is stuck on is given up (see SerialOps.tx_timeout) — longer on
# a line so slow that the frames in flight take a good part of it to go out.
TX_TIMEOUT = 20.0
# Bytes of garbage with no frame at all before the log says the peer speaks another mode.
GARBAGE_WARN = 256
MODE_TYPES = {"slip": ARPHRD_SLIP, "cslip": ARPHRD_CSLIP, "adaptive": ARPHRD_SLIP,
              "plip": ARPHRD_SLIP, "kiss": ARPHRD_AX25}  # fmt: skip
# ethtool -t: the tests, in the order of their results.
SERIAL_TEST_STRINGS = ("Port test       (on/offline)", "Loopback errors (external_lb)",
                       "Loopback bytes sent", "Loopback bytes received")  # fmt: skip
_SELFTEST = object()  # the writer's token of the loopback pattern: written, but no packet
SELFTEST_WRITE_GRACE = 5.0  # seconds the writer may take to get the loopback pattern out


class SerialPriv:
    """Per-interface state."""

    def __init__(self) -> None:
        self.port: LinePort | None = None
        self.encoder: Any = None
        self.decoder: Any = None
        self.inflight = 0
        self.params: dict[str, Any] = {}
        # port_key of a server's params["port"] at the load: its name is looked up once (up
        # to a second), not again at each later load's check of the daemon's lines.  (A
        # device's is asked again: the tty a path names changes with what is plugged in.)
        self.port_key: str | None = None
        self.reopen_timer: Any = None
        self.backoff = 0.1
        self.port_losses = 0
        self.reconnects = 0
        self.last_rx = 0.0
        self.last_tx = 0.0
        self.keepalive_timer: Any = None
        self.outfill_timer: Any = None
        self.line_bytes_out = 0
        self.line_bytes_in = 0
        self.closing = False
        self.preopened: Any = None  # the port init() opened, for the first open to adopt
        # Codec counters of the codecs an MTU change replaced, so the ethtool counters carry on.
        self.rx_base: dict[str, int] = {}
        self.tx_base: dict[str, int] = {}
        self.not_ip = 0  # frames that decoded but were no IP packet (a peer in another mode)
        self.lb_pattern_said = False  # the one note that a peer's loopback pattern arrived
        self.garbage_warned = False  # the one warning that only garbage arrives (mode=plip)
        # The last reopen failure logged, when, and the failures since (see _opened).
        self.open_error: str | None = None
        self.open_warned = 0.0
        self.open_failures = 0
        self.settle_timer: Any = None  # a reopened network port proving it holds (NET_SETTLE)
        self.settle_said = bytearray()  # what it sent meanwhile (a server's reason to hang up)
        # A port that hung up within NET_SETTLE of an open that looked good: until one holds
        # (NET_SETTLE, or the peer's frame), no open is taken for good before it says so —
        # an open of the link (ip link set up) included.
        self.settle_hung_up = False
        self.settle_reopen = False  # the port being watched was reopened after a loss
        self.no_carrier: str | None = None  # why the carrier is off, for `netdrv status`
        self.selftest: SerialLoopback | None = None  # the line's loopback test, while it runs
        self.lb_drain: SerialLoopback | None = None  # one that gave up: its pattern may be late


def _priv(dev: NetDevice) -> SerialPriv:
    return dev.priv


class SerialOps(NetDeviceOps):
    """Open the port on ``ip link set up``, close it on ``down``."""

    def open(self, dev: NetDevice) -> int:
        """Open the line (if it fails, the link stays up without carrier and retries)."""
        priv = _priv(dev)
        priv.closing = False
        _port_open(dev)
        netif_start_queue(dev)
        _arm_timers(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        """Close the line; what was queued is counted as dropped."""
        priv = _priv(dev)
        priv.closing = True
        netif_stop_queue(dev)
        _end_selftest(dev)  # what came back so far; the rest is missing
        for t in (priv.reopen_timer, priv.keepalive_timer, priv.outfill_timer, priv.settle_timer):
            if t is not None:
                t.cancel()
        priv.reopen_timer = priv.keepalive_timer = priv.outfill_timer = priv.settle_timer = None
        dev.stats.tx_dropped += _close_port(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """Frame the IP packet and queue it to the writer thread."""
        priv = _priv(dev)
        port = priv.port
        if port is None or not port.is_open or not netif_carrier_ok(dev):
            # No line to send on: a carrier error, which is one kind of tx_errors
            # (rtnl_link_stats64; ip_tunnel_xmit counts a packet without a route so),
            # and the packet ends there, once — not also in tx_dropped.
            dev.stats.tx_errors += 1
            dev.stats.tx_carrier_errors += 1
            dev_kfree_skb(skb)
            return NETDEV_TX_OK
        vj = getattr(priv.encoder, "vj", None)
        compressed = vj.stats.compressed if vj is not None else 0
        try:
            wire = priv.encoder.encode(skb.view())
        except CodecError as exc:
            log.debug("%s: cannot frame packet: %s", dev.name, exc)
            dev.stats.tx_dropped += 1
            dev_kfree_skb(skb)
            return NETDEV_TX_OK
        if vj is not None:  # slip.c reports slhc's sls_o_compressed as tx_compressed
            dev.stats.tx_compressed += vj.stats.compressed - compressed
        length = skb.len
        dev_kfree_skb(skb)
        priv.inflight += 1
        priv.line_bytes_out += len(wire)
        port.write(wire, length)
        if priv.inflight >= TX_INFLIGHT:
            netif_stop_queue(dev)
        return NETDEV_TX_OK

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        """Like ``sl_change_mtu``: rebuild the codecs for the new MTU (68..65534)."""
        if new_mtu < 68 or new_mtu > 65534:
            return -errno.EINVAL
        dev.mtu = new_mtu
        _make_codecs(dev)
        dev.watchdog_timeo = _tx_timeout(dev)
        return 0

    def tx_timeout(self, dev: NetDevice, txqueue: int = 0) -> None:
        """``sl_tx_timeout``: the queue stayed stopped for ``watchdog_timeo``, the line took
        nothing.  The frame the writer is stuck on is given up (the rest of it is not
        written), counted in ``tx_errors``, and the queue is woken.  A network port's write
        cannot be cut short: the frame given up still holds the writer until that write
        ends, and is no longer one of the :data:`TX_INFLIGHT` in flight."""
        priv = _priv(dev)
        port = priv.port
        if not dev.is_up or port is None or not port.is_open or priv.selftest is not None:
            return  # no line (its loss is counted), or the loopback test holds the queue
        given_up, token = port.abandon_write()
        if given_up and token is not _SELFTEST:
            priv.inflight = max(0, priv.inflight - 1)  # a packet, or an outfill END
        if given_up and token is not None and token is not _SELFTEST:
            dev.stats.tx_errors += 1
            log.warning("%s: transmit timed out: the line took nothing for %.0f s (%s?); the "
                        "frame is dropped, counted in tx_errors", dev.name, dev.watchdog_timeo,
                        _stuck_why(priv.params))  # fmt: skip
        if priv.inflight < TX_INFLIGHT:
            netif_wake_queue(dev)


class SerialEthtool(EthtoolOps):
    """Line rate and codec counters.

    No ``get_link_ksettings``: Linux's slip has no ethtool link settings, and a line
    rate in whole Mbit/s (1 for 115200 baud) on a twisted-pair port would mislead;
    the exact rate is the ``baud`` statistic.
    """

    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        """Driver, mode and port."""
        p = _priv(dev).params
        return DrvInfo(driver="slip", version=SerialLink.version, bus_info=p["port"],
                       fw_version=p["mode"])  # fmt: skip

    def get_strings(self, dev: NetDevice) -> list[str]:
        """Codec and line counters."""
        return [name for name, _ in _private_stats(dev)]

    def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
        """Values in :meth:`get_strings` order."""
        return [v for _, v in _private_stats(dev)]

    def get_test_strings(self, dev: NetDevice) -> list[str]:
        """The port test, and the external loopback test's errors and byte counts."""
        return list(SERIAL_TEST_STRINGS)

    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Completion | None:
        """``ethtool -t``: is the port open (1 if not); with ``external_lb`` (a loopback plug
        fitted), a pattern sent and checked (:class:`SerialLoopback`), which completes later."""
        port = _priv(dev).port
        if port is None or not port.is_open or not dev.is_up:
            data[0] = 1  # nothing to test the line with: its carrier is off, it is reopened
            test.flags |= ETH_TEST_FL_FAILED
            return None
        if not test.flags & ETH_TEST_FL_EXTERNAL_LB:
            return None  # needs a plug: it is run only when one is said to be fitted
        return SerialLoopback(dev, test, data).start()


def _tx_timeout(dev: NetDevice) -> float:
    """``watchdog_timeo``: :data:`TX_TIMEOUT`, or three times the line time of the frames
    in flight at their largest (every byte escaped) where that is longer (a slow line)."""
    baud = _priv(dev).params.get("baud") or 115200
    return max(TX_TIMEOUT, 3 * TX_INFLIGHT * (2 * dev.mtu + 4) * 10 / baud)


def _stuck_why(p: dict[str, Any]) -> str:
    """What likely holds a line that takes nothing, for the transmit timeout's warning."""
    if open_blocks(p["port"]):
        return "the serial server stopped reading"
    if p["rtscts"]:
        return "the peer holds CTS off (rtscts=1), or nothing reads the other end"
    return "nothing reads the other end, or the adapter hangs"


def _lb_marker() -> bytes:
    """The loopback pattern's 8 start bytes: an END (0xC0, also KISS's FEND), then 7 random
    bytes, none of them END or ESC, the first 0x01..0x3F.  A peer on the line instead of a
    plug then decodes the pattern as frames that are not IP (in every mode: no IP version
    nibble, no CSLIP packet type, no KISS data frame for port 0) and counts them as frame
    errors: a random first byte 0x4X or 0x6X went up its stack as an IP packet.  The END
    ends what the peer's decoder holds (the tail of an earlier test's pattern) first, as
    SLIP's leading END does, so that it is not taken for a frame of another mode."""
    while True:
        m = os.urandom(7)
        if 0 < m[0] < 0x40 and 0xC0 not in m and 0xDB not in m:
            return b"\xc0" + m


class SerialLoopback:
    """The external loopback test: a byte pattern out of TX must come back on RX intact.

    For a loopback plug (TX wired to RX) on the port.  The link's own traffic
    stops meanwhile: the queue stays stopped (packets wait in the qdisc), what
    arrives goes to :meth:`feed` instead of the decoder, and outfill sends
    nothing.  The pattern — 8 bytes that mark its start (:func:`_lb_marker`), then
    every byte value — is about a tenth of a second of line time (16..256 bytes); frames
    the writer still had queued come back first and are skipped.  It ends when
    the whole pattern is back, or twice its line time plus a second after the
    writer has written it (:data:`SELFTEST_WRITE_GRACE` more while it has not):
    ``data[1]`` the bytes missing or changed (0: passed), ``data[2]`` the bytes
    sent, ``data[3]`` those received.  Then the decoder starts afresh and the
    queue is woken.  A test that gave up with bytes missing swallows what comes
    back until the pattern's end has passed (for one more timeout at most): a
    pattern late behind a busy writer is no frame for the decoder.
    """

    def __init__(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> None:
        self.dev, self.test, self.data = dev, test, data
        self.completion = Completion()
        baud = _priv(dev).params["baud"]
        size = max(16, min(256, baud // 100))  # 10 bits a byte: 0.1 s of the line
        self.marker = _lb_marker()
        self.pattern = self.marker + bytes(i & 0xFF for i in range(size - 8))
        self.timeout = 2 * len(self.pattern) * 10 / baud + 1.0
        self.rx = bytearray()
        self.timer: Any = None

    def start(self) -> Completion:
        """Stop the link's traffic, send the pattern, arm the timeout."""
        dev = self.dev
        priv = _priv(dev)
        host = dev.host
        assert host is not None and priv.port is not None  # up, its port open
        _end_drain(dev)  # an earlier test's late pattern: this one's marker tells them apart
        priv.selftest = self
        netif_stop_queue(dev)
        priv.line_bytes_out += len(self.pattern)
        priv.port.write(self.pattern, _SELFTEST)
        self.test.flags |= ETH_TEST_FL_EXTERNAL_LB_DONE
        # Counted from the write, not from now: packets queued ahead of the pattern take
        # line time first (the timer is re-armed in written()).
        self.timer = host.loop.call_later(self.timeout + SELFTEST_WRITE_GRACE, self.finish)
        return self.completion

    def written(self) -> None:
        """The writer has written the pattern: it has :attr:`timeout` to come back."""
        host = self.dev.host
        if self.completion.done or host is None:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer = host.loop.call_later(self.timeout, self.finish)

    def _end(self) -> int:
        """Where the pattern ends in what came back; -1 while it is not all back."""
        at = self.rx.find(self.marker)
        return at + len(self.pattern) if at >= 0 and len(self.rx) - at >= len(self.pattern) else -1

    def feed(self, data: bytes) -> None:
        """Bytes from the line (instead of the decoder): done once the pattern is back."""
        self.rx += data
        if self._end() >= 0:
            self.finish()

    def drain(self, data: bytes) -> bytes:
        """Bytes from the line after the test gave up: swallowed up to the late pattern's
        end; what follows it is the link's again (returned, for the decoder)."""
        self.rx += data
        end = self._end()
        if end < 0:
            return b""
        _end_drain(self.dev)
        return bytes(self.rx[end:])

    def finish(self) -> None:
        """Count what came back, resume the link's traffic, complete the test."""
        if self.completion.done:
            return
        if self.timer is not None:
            self.timer.cancel()
        dev = self.dev
        priv = _priv(dev)
        priv.selftest = None
        n = len(self.pattern)
        at = self.rx.find(self.marker)
        # Without the marker (it came back changed), the last bytes are the pattern's.
        got = bytes(self.rx[at : at + n] if at >= 0 else self.rx[-n:])
        # Aligned, not byte by byte: a byte lost (an overrun) or added on the way is one
        # error, not a shift that makes every byte after it look changed.
        same = difflib.SequenceMatcher(None, got, self.pattern, autojunk=False)
        errors = n - sum(block.size for block in same.get_matching_blocks())
        self.data[1:4] = [errors, n, len(got)]
        if errors:
            self.test.flags |= ETH_TEST_FL_FAILED
            log.info("%s: external loopback test: %d of %d bytes did not come back intact (is "
                     "a loopback plug fitted?)", dev.name, errors, n)  # fmt: skip
        if priv.decoder is not None:
            priv.decoder.reset()  # the pattern's bytes were no frame: start afresh
        if len(got) < n and dev.is_up and priv.port is not None and priv.port.is_open:
            host = dev.host
            assert host is not None  # up, so registered
            priv.lb_drain = self  # the rest may still be on its way (behind queued frames)
            self.timer = host.loop.call_later(self.timeout, _end_drain, dev)
        if dev.is_up and priv.inflight < TX_INFLIGHT:
            netif_wake_queue(dev)
        self.completion.complete()


def _end_drain(dev: NetDevice) -> None:
    """Stop swallowing a finished loopback test's late pattern; the decoder starts afresh."""
    priv = _priv(dev)
    lb, priv.lb_drain = priv.lb_drain, None
    if lb is None:
        return
    if lb.timer is not None:
        lb.timer.cancel()
        lb.timer = None
    if priv.decoder is not None:
        priv.decoder.reset()


def _private_stats(dev: NetDevice) -> list[tuple[str, int]]:
    priv = _priv(dev)
    out: list[tuple[str, int]] = [
        ("baud", priv.params.get("baud", 0)),
        ("port_losses", priv.port_losses),
        ("reconnects", priv.reconnects),
        ("line_bytes_in", priv.line_bytes_in),
        ("line_bytes_out", priv.line_bytes_out),
    ]
    if priv.decoder is not None:
        for k, v in priv.decoder.stats.as_dict().items():
            out.append((f"rx_{k}", int(v) + priv.rx_base.get(k, 0)))
    if priv.encoder is not None:
        for k, v in priv.encoder.stats.as_dict().items():
            out.append((f"tx_{k}", int(v) + priv.tx_base.get(k, 0)))
    return out


# -- line events (all on the event loop) -------------------------------------------------
def _make_codecs(dev: NetDevice) -> None:
    priv = _priv(dev)
    old_enc, old_dec = priv.encoder, priv.decoder
    # The decoder takes what slip.c (mkiss.c for kiss) takes: frames up to its receive
    # buffer of max(2 * mtu, 1152) bytes, so a peer with a larger MTU still gets through.
    mode = priv.params["mode"]
    enc, dec = MODES[mode](mtu=dev.mtu, **linux_rx(mode, dev.mtu))
    if old_enc is not None and old_dec is not None:
        # Like sl_change_mtu, whose sl_realloc_bufs keeps sl->slcomp and sl->mode: the VJ
        # connection slots and the adaptive switch carry over (new ones would make the
        # peer's compressed packets be tossed until TCP retransmits), and so do the counters.
        for new, old in ((enc, old_enc), (dec, old_dec)):
            for attr in ("vj", "adaptive"):
                if getattr(old, attr, None) is not None:
                    setattr(new, attr, getattr(old, attr))
        for base, old_s, new_s in ((priv.rx_base, old_dec.stats, dec.stats),
                                   (priv.tx_base, old_enc.stats, enc.stats)):  # fmt: skip
            carried = new_s.as_dict()  # what the moved VJ state brings along already
            for k, v in old_s.as_dict().items():
                base[k] = base.get(k, 0) + v - carried[k]
        log.debug("%s: codecs rebuilt for mtu %d", dev.name, dev.mtu)
    priv.encoder, priv.decoder = enc, dec
    if old_dec is not None:
        # sl_realloc_bufs keeps the frame arriving: without it, its rest would be
        # taken for a frame of its own (a garbled packet, or a VJ packet that corrupts
        # its slot).  A frame too long for the new buffer is an overrun, counted here.
        before = _errors(dec.stats)
        priv.decoder.adopt(old_dec)
        _count_rx_errors(dev, before, _errors(dec.stats))


def _port_open(dev: NetDevice, *, reopen: bool = False) -> None:
    """Open the line: at once for a device path, on a thread for a network port.

    A connect to a ser2net host that does not answer takes seconds; done on the
    event loop it would stall ``netdrv status`` and every other device.  The
    carrier stays off until the port is open.
    """
    priv = _priv(dev)
    p = priv.params
    host = dev.host
    assert host is not None
    if priv.port is None:
        priv.port = LinePort(
            p["port"], p["baud"], host.loop.call_soon_threadsafe,
            lambda data: _on_data(dev, data), lambda tok: _on_written_any(dev, tok),
            lambda exc: _on_lost(dev, exc), rtscts=p["rtscts"], xonxoff=p["xonxoff"],
            on_written_late=lambda tok: _on_written_late(dev, tok),
        )  # fmt: skip
    ser, priv.preopened = priv.preopened, None
    if ser is None and open_blocks(p["port"]):
        netif_carrier_off(dev)
        if priv.no_carrier is None:
            priv.no_carrier = f"connecting to {p['port']}"
        priv.port.open_async(lambda err: _opened(dev, err, reopen))
        return
    try:
        priv.port.open(ser)
    except PortError as exc:
        _opened(dev, exc, reopen)
        return
    _opened(dev, None, reopen)


def _opened(dev: NetDevice, err: PortError | None, reopen: bool) -> None:
    """The port opened (carrier on) or failed to (carrier off, retry with backoff)."""
    priv = _priv(dev)
    host = dev.host
    if host is None or priv.closing:
        return  # stop() closed the port (an open in progress included)
    if err is not None:
        # A cable left unplugged fails every retry_max seconds for as long as it stays
        # out: a new reason is logged, the same one again only every OPEN_WARN_EVERY s.
        priv.open_failures += 1
        now = host.loop.clock()
        # A server's hang-up is one reason whether or not its words came through this time.
        reason = _HUNG_UP if isinstance(err, ServerClosedError) else str(err)
        same = reason == priv.open_error
        if not same or now - priv.open_warned >= OPEN_WARN_EVERY:
            again = f" (still: {priv.open_failures} attempts so far)" if same else ""
            log.warning("%s: %s; retrying in %.1f s%s", dev.name, err, priv.backoff, again)
            priv.open_error, priv.open_warned = reason, now
        else:
            log.debug("%s: %s; retrying in %.1f s", dev.name, err, priv.backoff)
        netif_carrier_off(dev)
        priv.no_carrier = f"{err}; retrying"
        _schedule_reopen(dev)
        return
    if priv.decoder is not None:
        priv.decoder.reset()
    vj = getattr(priv.encoder, "vj", None)
    if vj is not None:
        # The decoder forgot the peer's connections: forget ours too.  A peer that restarted
        # while the line was down would toss every compressed packet we send until TCP
        # retransmits; after a reset each connection starts with an UNCOMPRESSED_TCP.
        vj.reset()
    priv.last_rx = priv.last_tx = host.loop.clock()
    if (reopen or priv.settle_hung_up) and open_blocks(priv.params["port"]):
        # Watched for NET_SETTLE: a hang-up before then is an open that failed (_on_lost).
        # So is an open of the link (ip link set up) to a server known to hang up.
        priv.settle_said = bytearray()
        priv.settle_reopen = reopen
        priv.settle_timer = host.loop.call_later(NET_SETTLE, _settled, dev)
        if _known_good(priv):
            _carrier_on(dev)  # (a hang-up within NET_SETTLE is still a failed open)
        else:
            # The first attempt after the loss, or after a hang-up, on a raw TCP port: a
            # connection to a server that is about to hang up looks the same until it does,
            # or until the peer's first frame comes through (_on_data).
            netif_carrier_off(dev)
        return
    _carrier_back(dev, reopen)


def _known_good(priv: SerialPriv) -> bool:
    """Is a reopened network port known to be back, before NET_SETTLE has passed?

    An RFC 2217 open negotiated the port's settings with the server: ser2net answers
    them only with its serial device open, and hangs up first — the open fails — when
    the device is missing.  A server that was out of reach (refused, timed out) and
    answers again is back too, unless it turns out to hang up (carrier on for that
    moment: a raw TCP connection to ser2net without its device looks like any other
    until it hangs up).  Neither holds after a hang-up within NET_SETTLE of an open
    that looked good: that server has to hold for NET_SETTLE.
    """
    if priv.settle_hung_up:
        return False
    if priv.params["port"].lower().startswith("rfc2217://"):
        return True
    return priv.open_error is not None and priv.open_error != _HUNG_UP


def _settled(dev: NetDevice) -> None:
    """A reopened network port held for NET_SETTLE seconds, or the peer's first frame came
    through it: it is back, and a server that hung up before is trusted again."""
    priv = _priv(dev)
    if priv.settle_timer is not None:
        priv.settle_timer.cancel()
    priv.settle_timer = None
    if priv.closing or dev.host is None or priv.port is None or not priv.port.is_open:
        return
    priv.settle_hung_up = False
    _carrier_back(dev, priv.settle_reopen)


def _carrier_on(dev: NetDevice) -> None:
    priv = _priv(dev)
    priv.no_carrier = None
    netif_carrier_on(dev)
    # (open() itself starts the queue next; a loopback test wakes it when done.)  A queue
    # stopped on a full writer stays stopped: the carrier may have been on already (a
    # reconnect settling), with TX_INFLIGHT frames still in flight.
    _wake_if_room(dev)


def _carrier_back(dev: NetDevice, reopen: bool) -> None:
    priv = _priv(dev)
    priv.open_error, priv.open_failures = None, 0
    priv.backoff = 0.1
    _carrier_on(dev)
    if reopen:
        priv.reconnects += 1
        log.info("%s: %s is back; carrier on", dev.name, priv.params["port"])


def _schedule_reopen(dev: NetDevice) -> None:
    priv = _priv(dev)
    if priv.closing or dev.host is None:
        return
    delay = priv.backoff
    priv.backoff = min(priv.backoff * 2, priv.params["retry_max"])
    priv.reopen_timer = dev.host.loop.call_later(delay, _reopen, dev)


def _reopen(dev: NetDevice) -> None:
    priv = _priv(dev)
    priv.reopen_timer = None
    if priv.closing or not dev.is_up:
        return
    _port_open(dev, reopen=True)


def _on_lost(dev: NetDevice, exc: BaseException) -> None:
    """The port failed: carrier off, count what was in flight, retry with backoff."""
    priv = _priv(dev)
    url = priv.params["port"]
    if priv.settle_timer is not None:
        # Reopened, and gone again before it settled: the server took the connection and
        # hung up.  That is an open that failed (logged as those are, backoff growing),
        # not a port that came back and was lost again.
        priv.settle_timer.cancel()
        priv.settle_timer = None
        priv.settle_hung_up = True
        netif_carrier_off(dev)  # (on already if the open looked good)
        _end_selftest(dev)
        lost = _close_port(dev)
        dev.stats.tx_errors += lost
        dev.stats.tx_carrier_errors += lost
        said = server_said(bytes(priv.settle_said))
        log.debug("%s: %s hung up before it settled: %s", dev.name, url, exc)
        _opened(dev, ServerClosedError(url, f"it said {said!r}" if said else ""), True)
        return
    priv.port_losses += 1
    log.warning("%s: lost %s (%s); carrier off, retrying", dev.name, url, exc)
    netif_carrier_off(dev)
    priv.no_carrier = f"lost {url} ({exc}); reopening"
    _end_selftest(dev)
    lost = _close_port(dev)
    dev.stats.tx_errors += lost
    dev.stats.tx_carrier_errors += lost
    _schedule_reopen(dev)


def _end_selftest(dev: NetDevice) -> None:
    """The port is closing under a running loopback test: it ends now, with what came back
    so far (as on ``ip link set down``); the writer's report of its pattern, if still to
    come, is one of a closed open of the port and is not passed on."""
    test = _priv(dev).selftest
    if test is not None:
        test.finish()


def _close_port(dev: NetDevice) -> int:
    """Close the line; the number of packets it had not sent (outfill ENDs are not packets)."""
    priv = _priv(dev)
    _end_drain(dev)  # what the closed port had not yet returned will not come
    unsent = 0
    if priv.preopened is not None:  # the interface never came up
        with contextlib.suppress(Exception):
            priv.preopened.close()
        priv.preopened = None
    if priv.port is not None:
        unsent = sum(tok is not None and tok is not _SELFTEST for tok in priv.port.close())
    priv.inflight = 0
    return unsent


def _on_written_late(dev: NetDevice, token: Any) -> None:
    """A frame an earlier open of the port wrote, reported after that open closed.

    It left, and the close did not count it as unsent: it is sent.  But the close
    reset the frames in flight, so it is none of the current open's: counting it off
    them would let one frame more than :data:`TX_INFLIGHT` in.  (A loopback pattern's
    report is not passed on: a test running now is one of the current open, its own
    pattern still to be written.)
    """
    if token is not None and token is not _SELFTEST:  # (an outfill END is no packet)
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += token


def _on_written(dev: NetDevice, length: int) -> None:
    priv = _priv(dev)
    priv.inflight = max(0, priv.inflight - 1)
    dev.stats.tx_packets += 1
    dev.stats.tx_bytes += length
    if dev.host is not None:
        priv.last_tx = dev.host.loop.clock()
    _wake_if_room(dev)


def _wake_if_room(dev: NetDevice) -> None:
    """A frame in flight ended: wake the queue if the writer has room again."""
    priv = _priv(dev)
    if (priv.inflight < TX_INFLIGHT and netif_queue_stopped(dev) and dev.is_up
            and priv.selftest is None):  # fmt: skip
        netif_wake_queue(dev)


def _on_data(dev: NetDevice, data: bytes) -> None:
    """Bytes from the line: decode and hand every complete packet up."""
    if not dev.is_up:
        # Posted by the reader thread before the port closed, run after: as slip.c's
        # receive_buf, nothing is received on an interface that is not running (it may
        # be unregistered by now).
        return
    priv = _priv(dev)
    priv.line_bytes_in += len(data)
    if priv.settle_timer is not None and len(priv.settle_said) < 300:
        priv.settle_said += data[: 300 - len(priv.settle_said)]
    host = dev.host
    if host is not None:
        # Any line activity (an outfill END included) proves the line alive, as
        # Linux clears SLF_KEEPTEST on every received byte.
        priv.last_rx = host.loop.clock()
    if priv.selftest is not None:  # the loopback test's pattern, not frames
        priv.selftest.feed(data)
        return
    if priv.lb_drain is not None:  # a test that gave up: its pattern, late, is no frame
        data = priv.lb_drain.drain(data)
        if not data:
            return
    dec = priv.decoder
    before = _errors(dec.stats)
    packets = dec.feed(data)
    st = dec.stats  # (a snapshot, for the stacked modes)
    _count_rx_errors(dev, before, _errors(st))
    if not priv.garbage_warned and st.garbage_bytes >= GARBAGE_WARN:
        _only_garbage(dev, st)
    if (not netif_carrier_ok(dev) and priv.port is not None and priv.port.is_open
            and priv.settle_timer is None):  # fmt: skip
        netif_carrier_on(dev)  # keepalive had declared the line dead; it is back
        priv.no_carrier = None
        log.info("%s: the line is alive again (data received); carrier on", dev.name)
    if not packets:
        return
    if priv.settle_timer is not None:
        # A reopened network port waiting to prove it holds: the peer's frame came through
        # the server, so its serial device is there (a server without it only says so,
        # in text, and hangs up).
        _settled(dev)
    for pkt in packets:
        n = len(pkt)
        v = pkt[0] >> 4
        if v != 4 and v != 6:
            _not_ip(dev, pkt)
            continue
        skb = SkBuff(n + 16)
        skb.data = skb.tail = 16
        skb.put_data(pkt)
        skb.dev = dev
        skb.protocol = ETH_P_IP if v == 4 else ETH_P_IPV6
        skb.mac_header = skb.network_header = skb.data
        dev.stats.rx_packets += 1
        dev.stats.rx_bytes += n
        netif_rx(skb)


def _count_rx_errors(dev: NetDevice, before: tuple[int, ...], after: tuple[int, ...]) -> None:
    """Add what the codec counted between two :func:`_errors` snapshots to the device's."""
    if after == before:
        return
    s = dev.stats
    s.rx_errors += after[0] - before[0]
    s.rx_frame_errors += after[1] - before[1]
    s.rx_over_errors += after[2] - before[2]
    s.rx_crc_errors += after[3] - before[3]
    s.rx_dropped += after[4] - before[4]
    s.rx_compressed += after[5] - before[5]


def _only_garbage(dev: NetDevice, st: Any) -> None:
    """Bytes keep arriving and none of them makes a frame: say once what that means.

    A ``mode=plip`` end hunting for its sync pair in another mode's frames counts
    only ``rx_garbage_bytes``, which no device error counter shows.  A link that
    has decoded frames is not warned about (line noise between frames).
    """
    priv = _priv(dev)
    priv.garbage_warned = True
    n = st.garbage_bytes
    if st.frames or st.dropped or priv.rx_base.get("frames"):
        return
    log.warning("%s: %d bytes received and not one %s frame among them: the peer uses another "
                "mode= or baud=, or the line is noisy; use the same mode= and baud= on both "
                "ends (counted in rx_garbage_bytes: netdrv ethtool -S %s)", dev.name, n,
                priv.params["mode"].upper(), dev.name)  # fmt: skip


def _not_ip(dev: NetDevice, pkt: bytes) -> None:
    """A frame that decoded cleanly but is no IP packet: the peer speaks another mode.

    The interface carries only IPv4 and IPv6 (a TUN refuses anything else), so it is a
    frame error of this link, not a packet; the first one is explained in the log.
    """
    priv = _priv(dev)
    dev.stats.rx_errors += 1
    dev.stats.rx_frame_errors += 1
    if _counts_up(pkt):  # the other end's loopback test: no sign of another mode
        if not priv.lb_pattern_said:
            priv.lb_pattern_said = True
            log.warning("%s: received a frame that is not an IP packet (it looks like the byte "
                        "pattern of `netdrv ethtool -t DEV external_lb` run at the other end "
                        "of the cable: that test is for a loopback plug, not for a line with a "
                        "peer on it); counted in rx_frame_errors", dev.name)  # fmt: skip
        return
    priv.not_ip += 1
    if priv.not_ip > 1:
        return
    mode = priv.params["mode"]
    b = pkt[0]
    if mode == "slip" and b >= 0x70:
        why = ("it looks like CSLIP, VJ-compressed TCP: if the peer uses mode=cslip or "
               "adaptive, use mode=cslip (or mode=adaptive) here too")  # fmt: skip
    elif mode != "kiss" and b & 0x0F == 0 and len(pkt) > 1 and pkt[1] >> 4 in (4, 6):
        why = "it looks like a KISS data frame: if the peer uses mode=kiss, use it here too"
    else:
        why = (f"first byte {b:#04x}: the peer uses another mode= or baud=, or the line is "
               f"noisy; use the same mode= and baud= on both ends")  # fmt: skip
    log.warning("%s: received a frame that is not an IP packet (%s); counted in "
                "rx_frame_errors, further ones silently", dev.name, why)  # fmt: skip


_COUNT = bytes(range(256))
_COUNT_TAIL = _COUNT[0xC1:0xDB] + b"\xc0" + _COUNT[0xDD:]  # after its END; DB DC decodes to C0


def _counts_up(pkt: bytes) -> bool:
    """Is ``pkt`` a piece of :class:`SerialLoopback`'s pattern as a SLIP decoder cuts it:
    its random marker (8 bytes, or what follows an END among them), then 0, 1, 2, … up to
    the END byte (0xC0); or what follows that END?"""
    n = len(pkt)
    if any(n - j >= 8 and pkt[j:] == _COUNT[: n - j] for j in range(9)):
        return True
    return n > 8 and pkt == _COUNT_TAIL[:n]


def _errors(s: Any) -> tuple[int, int, int, int, int, int]:
    """(rx_errors, rx_frame_errors, rx_over_errors, rx_crc_errors, rx_dropped, rx_compressed)
    as the codec counters contribute to them.

    A bad escape counts in both ``escape_errors`` and ``framing_errors`` (it is one
    kind of framing error), so only the latter is added up.  VJ packets tossed while
    resynchronising are ``rx_dropped`` and compressed ones ``rx_compressed``, as
    ``sl_get_stats64`` reports slhc's ``sls_i_tossed`` and ``sls_i_compressed``.
    """
    return (s.framing_errors + s.overruns + s.checksum_errors, s.framing_errors, s.overruns,
            s.checksum_errors, s.tossed, s.compressed)  # fmt: skip


# -- keepalive / outfill (Linux slip.c SLF_KEEPTEST / SLF_OUTWAIT) --------------------------
def _arm_timers(dev: NetDevice) -> None:
    priv = _priv(dev)
    host = dev.host
    assert host is not None
    if priv.params["keepalive"]:
        priv.keepalive_timer = host.loop.call_later(priv.params["keepalive"], _keepalive, dev)
    if priv.params["outfill"]:
        priv.outfill_timer = host.loop.call_later(priv.params["outfill"], _outfill, dev)


def _keepalive(dev: NetDevice) -> None:
    """No frame for ``keepalive`` seconds: the line is dead, carrier off (until data returns)."""
    priv = _priv(dev)
    host = dev.host
    if host is None or not dev.is_up:
        return
    ka = priv.params["keepalive"]
    if host.loop.clock() - priv.last_rx >= ka and netif_carrier_ok(dev):
        log.warning("%s: no packets received for %d s; carrier off (keepalive)", dev.name, ka)
        netif_carrier_off(dev)
        priv.no_carrier = (f"nothing received for {ka} s (keepalive={ka}): is the far end "
                           f"running, with outfill= or traffic?")  # fmt: skip
    priv.keepalive_timer = host.loop.call_later(ka, _keepalive, dev)


def _outfill(dev: NetDevice) -> None:
    """Idle for ``outfill`` seconds: send a lone END so the peer's keepalive stays happy."""
    priv = _priv(dev)
    host = dev.host
    if host is None or not dev.is_up:
        return
    of = priv.params["outfill"]
    # As sl_outfill: "if device busy no outfill" — a stopped queue is a busy (or stuck)
    # line, and the END would be one frame in flight too many.
    if (host.loop.clock() - priv.last_tx >= of and priv.port is not None and priv.port.is_open
            and priv.selftest is None and not netif_queue_stopped(dev)):  # fmt: skip
        priv.port.write(b"\xc0", None)
        priv.inflight += 1
        priv.line_bytes_out += 1
        if priv.inflight >= TX_INFLIGHT:
            netif_stop_queue(dev)
    priv.outfill_timer = host.loop.call_later(of, _outfill, dev)


def _on_written_any(dev: NetDevice, token: Any) -> None:
    if token is _SELFTEST:  # the loopback test's pattern: no packet, not in flight
        test = _priv(dev).selftest
        if test is not None:
            test.written()
        return
    if token is None:  # an outfill byte, not a packet
        priv = _priv(dev)
        priv.inflight = max(0, priv.inflight - 1)
        _wake_if_room(dev)
        return
    _on_written(dev, token)


def serial_setup(dev: NetDevice) -> None:
    """``sl_setup``: a point-to-point L3 device without ARP, queue of 10."""
    ptp_setup(dev)
    dev.netdev_ops = SerialOps()
    dev.ethtool_ops = SerialEthtool()


class SerialLink(Driver):
    """IP over a serial line (SLIP, CSLIP, PLIP-like, KISS)."""

    name = "slip"
    summary = "IP over a serial line: SLIP, CSLIP, a PLIP-like framing and KISS, over pyserial"
    version = "1.0"
    parameters = (
        Param("port", str, "", "serial port: an absolute device path, socket://host:port, "
              "rfc2217://host:port or loop://"),
        Param("baud", int, 115200, "line rate", min=50, max=20_000_000, unit="bit/s"),
        Param("mode", str, "slip", "line discipline", choices=tuple(MODES)),
        Param("local", ip_interface, "", "local IPv4 address with prefix, e.g. 198.18.5.1/30 "
              "(empty: configure it yourself)"),
        Param("peer", ip_address, "", "the peer's IPv4 address (a host route to it is added)"),
        Param("mtu", int, 0, "MTU (0: the mode's default: slip 296, plip 1500, kiss 256)",
              min=0, max=65534),
        Param("name", str, "sl%d", "interface name"),
        Param("rtscts", bool, False, "hardware (RTS/CTS) flow control"),
        Param("xonxoff", bool, False, "software (XON/XOFF) flow control: refused, the frames "
              "carry 0x11/0x13 unescaped (use rtscts)"),
        # At most 255 s, as slip.c's SIOCSKEEPALIVE/SIOCSOUTFILL (an unsigned char).
        Param("keepalive", int, 0, "carrier off when nothing is received for N seconds "
              "(0: off)", min=0, max=255, unit="s"),
        Param("outfill", int, 0, "send an END when idle for N seconds (0: off)", min=0,
              max=255, unit="s"),
        Param("retry_max", float, 5.0, "longest wait between attempts to reopen a lost port",
              min=0.1, unit="s"),
        Param("txqueuelen", int, 10, "kernel transmit queue length", min=1),
        Param("wait", bool, False, "load even if the port is missing or cannot be opened yet "
              "(retry); a path that can never be a port still fails"),
        Param("linktest", bool, True, "answer `netdrv linktest` from the peer on the local address"),
    )  # fmt: skip
    conformance_params = {"port": "loop://", "mode": "slip"}
    responder: Responder | None = None  # answers `netdrv linktest` (linktest=1, local=)
    multiple_instances = True  # one load per line: netdrv load slip:b port=/dev/ttyUSB1 …

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Refuse what cannot carry IP, before anything starts (``netdrv load`` exits 2)."""
        if params["xonxoff"]:
            raise ParameterError(
                "xonxoff=1: XON/XOFF flow control takes the bytes 0x11 and 0x13 out of the data "
                "stream, and SLIP, CSLIP, PLIP and KISS frames carry them unescaped, so most "
                "packets would arrive corrupted (a ping's payload holds both): use rtscts=1 "
                "(hardware flow control, on both ends) or no flow control"
            )
        for name in ("local", "peer"):
            value = params[name]
            if value and ipaddress.ip_interface(str(value)).version == 6:
                raise ParameterError(
                    f"{name}={value}: the slip interface carries IPv4 only (IPv6 is off on it, "
                    f"so no router solicitations or multicast reports take up the line): give "
                    f"an IPv4 address"
                )
        if 0 < params["mtu"] < 68:
            raise ParameterError(
                f"mtu={params['mtu']}: must be 0 (the mode's default) or 68..65534, the MTUs "
                "the interface accepts (IPv4 needs 68)"
            )

    def init(self) -> None:
        """Check the port, create the interface."""
        p = self.params
        if not p["port"]:
            raise PortError(
                "the slip driver needs port=PORT (a device path, socket://host:port, "
                "rfc2217://host:port or loop://)"
            )
        self.check_params(p)  # also when not loaded by netdrv load
        key = self._check_port_free(p["port"])
        # Fail before creating anything if the port cannot be opened at all.  What is
        # opened is kept for the interface's first open: closing and reopening would
        # use up a one-client serial server and toggle a real tty's DTR (an Arduino resets).
        ser = None
        if not p["wait"]:
            ser = open_serial(p["port"], p["baud"], rtscts=p["rtscts"], xonxoff=p["xonxoff"])
        elif not open_blocks(p["port"]):
            # wait=1 waits for a port that is not there yet (an adapter not plugged in), not
            # for a path that can never be one (a regular file, a directory): that would be
            # retried forever, so it fails the load like any other bad path.
            try:
                ser = open_serial(p["port"], p["baud"], rtscts=p["rtscts"], xonxoff=p["xonxoff"])
            except NotAPortError:
                raise
            except PortError as exc:
                log.info("%s; wait=1: the interface waits for it", exc)
        try:
            dev = alloc_netdev(SerialPriv, p["name"], serial_setup)
            priv = _priv(dev)
            priv.params = p
            if p["port"].lower().startswith(("socket://", "rfc2217://")):  # as pyserial
                priv.port_key = key
            priv.preopened = ser
            dev.type = MODE_TYPES[p["mode"]]
            dev.mtu = p["mtu"] or DEFAULT_MTUS[p["mode"]]
            dev.watchdog_timeo = _tx_timeout(dev)
            dev.tx_queue_len = p["txqueuelen"]
            dev.disable_ipv6 = True
            _make_codecs(dev)
            self.register(dev)
        except BaseException:
            if ser is not None:
                ser.close()
            raise

    def _check_port_free(self, url: str) -> str | None:
        """Refuse a port another line of this daemon drives (:class:`PortError`); the
        port's :func:`port_key`.

        A device's lock refuses a second open only while the first holds it (with
        ``wait=1`` the load would wait for its own daemon's line for ever), and a
        network port has no lock: ser2net's ``kickolduser`` hands the port to each new
        connection, so two lines on one server would take it from each other in turn.
        """
        key = port_key(url)
        if key is None:
            return None
        for other in list(self.host.devices.values()):
            priv = other.priv
            if not isinstance(priv, SerialPriv):
                continue
            if (priv.port_key or port_key(priv.params.get("port", ""))) != key:
                continue
            owner = getattr(other.driver, "instance", None) or self.name
            raise PortError(
                f"serial port {url} is already the line of {other.name} ({owner}) in this "
                f"daemon (port={priv.params['port']}): two links on one port split its bytes, "
                f"and a server that hands the port to its newest client (ser2net's kickolduser) "
                f"would pass it back and forth between them — netdrv unload {owner} first, or "
                f"give this load its own port"
            )
        return key

    def configure(self) -> None:
        """Addresses and the peer route, link up."""
        dev = self.devices[0]
        att = self.host.attachment
        p = self.params
        if p["local"]:
            iface = ipaddress.ip_interface(p["local"])
            if p["peer"]:
                att.add_address(dev, f"{iface.ip}/{iface.network.prefixlen}", peer=p["peer"])
            else:
                att.add_address(dev, p["local"])
        ret = att.set_link_up(dev)
        if ret:
            raise OSError(-ret, f"{dev.name}: open failed")
        if p["peer"] and not p["local"]:
            # No address of ours to pair it with (configure it yourself): still the host
            # route to the peer that peer= promises.
            att.add_route(dev, f"{p['peer']}/32")
        if p["linktest"] and p["local"] and att.is_kernel:
            from netdrv_core.netdevice import dev_get_stats

            from .linktest import Responder

            self.responder = Responder(
                str(ipaddress.ip_interface(p["local"]).ip), lambda: dev_get_stats(dev).as_dict()
            )

    def exit(self) -> None:
        """Close the port and the linktest responder, unregister."""
        if self.responder is not None:
            self.responder.close()
            self.responder = None
        for dev in self.devices:
            _priv(dev).closing = True
            # Closed here (the writer thread ends now), so stop() finds nothing left:
            # what the line had not sent is counted here.
            dev.stats.tx_dropped += _close_port(dev)
        super().exit()

    def describe(self) -> str:
        """Interface, port, mode and rate."""
        p = self.params
        names = ", ".join(d.name for d in self.devices)
        peer = f" peer {p['peer']}" if p["peer"] else ""
        local = f" {p['local']}" if p["local"] else ""
        line = f"{names}{local}{peer} over {p['port']} at {p['baud']} bit/s, mode {p['mode']}"
        for dev in self.devices:
            why = _priv(dev).no_carrier
            if dev.is_up and not netif_carrier_ok(dev) and why:
                line += f"; NO-CARRIER: {why}"
        return line
