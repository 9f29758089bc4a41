"""``netdrv linktest DEV``: measure a serial link whose far end also runs netdrv.

The ``slip`` driver runs a small responder on its interface's local address
(UDP and TCP port :data:`PORT`, in the daemon): UDP probes are echoed, a TCP
connection either sinks what it is sent (``SINK``) or sources data for a given
time (``SOURCE``), and reports the far end's device counters as JSON.

The test measures, one phase after the other, with a live progress view:

* round-trip latency and loss (UDP echo probes);
* throughput out and back (TCP, so the line — not a queue — is the limit);
* error counters on both ends (framing, overruns, checksum, carrier);

and ends with a summary including the efficiency against the configured line
rate and the theoretical maximum for the mode and MTU.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable
from typing import Any

import click

__all__ = [
    "PORT",
    "Responder",
    "bulk_tcp_segments",
    "linktest_command",
    "queue_limit",
    "send_for",
    "theoretical_goodput",
]

PORT = 7359
_PROBE = struct.Struct("!4sIQ")
_MAGIC = b"NDLT"
CHUNK = 16384
# How long the far end may take to answer once the data is sent (besides the line
# time of what is still queued): a daemon under load, a slow line's ACKs.
ANSWER_TIMEOUT = 30.0


def queue_limit(baud: int, mtu: int) -> int:
    """Bytes a throughput sender keeps queued in its TCP socket on a ``baud`` line.

    A serial line drains a full socket buffer slowly: Linux's default (megabytes,
    autotuned) holds minutes of a 9600-baud line, so a transfer told to stop
    after ``-d`` seconds would go on until the buffer drained.  Three packets (one
    on the line, two waiting) or half a second of line time, whichever is more,
    keep the line busy and bound the drain.  It is enforced with SIOCOUTQ, not
    SO_SNDBUF: a socket overshoots its SO_SNDBUF by whole segments' overhead.
    """
    return max(3 * mtu, int(baud / 10 * 0.5))


def _drain_timeout(limit: int, baud: int) -> float:
    # The queued bytes at the line rate, twice over for framing, ACKs and retransmissions.
    return ANSWER_TIMEOUT + 2 * limit / (baud / 10)


class Responder:
    """The far end of ``netdrv linktest``: echo, sink and source, on one address."""

    def __init__(self, address: str, stats: Callable[[], dict[str, Any]]) -> None:
        self.address = address
        self.stats = stats
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for s in (self.udp, self.tcp):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # The interface address may not be usable yet; bind anyway (freebind).
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND
            s.bind((address, PORT))
        self.tcp.listen(4)
        self._stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._udp_loop, daemon=True, name="netdrv-linktest-udp"),
            threading.Thread(target=self._tcp_loop, daemon=True, name="netdrv-linktest-tcp"),
        ]
        for t in self.threads:
            t.start()

    def close(self) -> None:
        """Stop serving."""
        self._stop.set()
        for s in (self.udp, self.tcp):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for t in self.threads:
            t.join(timeout=2)

    def _udp_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.udp.recvfrom(65536)
            except OSError:
                return
            if data[:4] == _MAGIC:
                with contextlib.suppress(OSError):
                    self.udp.sendto(data, addr)

    def _tcp_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(120)
            try:
                line = _readline(conn)
                if line.startswith(b"SINK"):
                    # The rate counts what arrived after the first chunk, over the time
                    # from that chunk to the last: the first chunk's own line time
                    # lies before the clock started.
                    n = 0
                    t0 = t1 = 0.0
                    while True:
                        b = conn.recv(CHUNK)
                        if not b:
                            break
                        t1 = time.monotonic()
                        if t0 == 0.0:
                            t0 = t1
                        else:
                            n += len(b)
                    report = {"bytes": n, "seconds": t1 - t0, "stats": self.stats()}
                    conn.sendall(json.dumps(report).encode())
                elif line.startswith(b"SOURCE"):
                    words = line.split()
                    duration = float(words[1])
                    # The client sizes our queue for its line (an older client does not).
                    limit = int(words[2]) if len(words) > 2 else 0
                    send_for(conn, os.urandom(CHUNK), duration, limit)
                    conn.settimeout(120)
                    conn.shutdown(socket.SHUT_WR)
                elif line.startswith(b"STATS"):
                    conn.sendall(json.dumps({"stats": self.stats()}).encode())
            except (OSError, ValueError):
                return


def send_for(
    conn: socket.socket,
    buf: bytes,
    duration: float,
    limit: int = 0,
    tick: Callable[[float, int], None] | None = None,
) -> int:
    """Send ``buf`` over and over for ``duration`` seconds; the bytes sent.

    At most ``limit`` bytes (0: no limit) are kept unacknowledged in the socket
    (see :func:`queue_limit`).  Each send waits at most until the time is up and
    may be partial, so a slow line (a 16 KiB write is 17 s at 9600 baud) cannot
    stretch the transfer.
    """
    view = memoryview(buf)
    # Whole segments only: a short write would go out as a short segment once the
    # last ACK arrives (Nagle only holds it) and waste header bytes on a slow line.
    mss = max(1, conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)) if limit else 1
    t0 = time.monotonic()
    sent = 0
    while (left := duration - (time.monotonic() - t0)) > 0:
        room = len(buf)
        if limit:
            room = min(room, limit - _outq(conn)) // mss * mss
            if room <= 0:
                time.sleep(min(0.005, left))  # a 1 kB packet is 1 ms even at 921600 baud
                continue
        conn.settimeout(left)
        try:
            sent += conn.send(view[:room])
        except TimeoutError:
            break
        if tick is not None:
            tick(time.monotonic() - t0, sent)
    return sent


def _outq(conn: socket.socket) -> int:
    """Bytes queued in a TCP socket, sent but unacknowledged included (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def _readline(conn: socket.socket) -> bytes:
    out = bytearray()
    while not out.endswith(b"\n") and len(out) < 256:
        b = conn.recv(1)
        if not b:
            break
        out += b
    return bytes(out)


def bulk_tcp_segments(mtu: int, count: int) -> list[bytes]:
    """``count`` full-sized segments of one TCP bulk transfer, as they cross the line.

    IPv4 and TCP headers with the 12-byte timestamp option Linux sends (52 bytes
    in all), consecutive sequence numbers and IP ids, the same timestamps (a burst
    the sender wrote at once), and random payload from a fixed seed, so the result
    is the same on every call.
    """
    import random

    from netdrv_core.checksum import ip_compute_csum

    rng = random.Random(mtu)
    payload = mtu - 52
    out = []
    for i in range(count):
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, mtu, i + 1, 0x4000, 64, 6, 0,
                                   bytes((198, 18, 5, 1)), bytes((198, 18, 5, 2))))  # fmt: skip
        struct.pack_into("!H", ip, 10, ip_compute_csum(ip))
        tcp = struct.pack("!HHIIBBHHH", 40000, PORT, 1 + i * payload, 1, 8 << 4, 0x10, 502,
                          rng.getrandbits(16), 0)  # fmt: skip
        out.append(bytes(ip) + tcp + b"\x01\x01\x08\x0a" + bytes(8) + rng.randbytes(payload))
    return out


def theoretical_goodput(baud: int, mode: str, mtu: int) -> tuple[float, float]:
    """(max TCP goodput in bytes/s, framing efficiency) of a bulk transfer at ``baud`` 8N1.

    The segments of :func:`bulk_tcp_segments` go through the mode's own encoder;
    the goodput is their payload over the line time of their wire bytes, in the
    steady state (the first segment, which opens a VJ slot, is left out).  For
    ``cslip`` (and ``adaptive``, once it compresses) that is the best case, every
    segment VJ-compressed; a stream whose TCP timestamps change from one segment
    to the next goes uncompressed.  The framing efficiency is packet bytes over
    wire bytes (above 1 when VJ compression saves more than the framing costs).
    """
    from .codecs import MODES

    if mtu <= 52:
        return 0.0, 0.0
    enc, _ = MODES["cslip" if mode == "adaptive" else mode](mtu=mtu)
    segments = bulk_tcp_segments(mtu, max(8, min(64, (1 << 20) // mtu)))
    enc.encode(segments[0])
    wire = sum(len(enc.encode(seg)) for seg in segments[1:])
    n = len(segments) - 1
    return baud / 10.0 * n * (mtu - 52) / wire, n * mtu / wire


# -- the client ---------------------------------------------------------------------------
def _status(dev: str) -> dict[str, Any]:
    from netdrv_core.control import ControlClient, DaemonNotRunning
    from netdrv_core.errors import NetdrvError

    try:
        with ControlClient() as c:
            st = c.request("status")
    except DaemonNotRunning:
        raise click.ClickException(
            f"no netdrv daemon in this network namespace, so {dev} is not a netdrv device here: "
            f"load the slip driver first (netdrv load slip port=PORT local=ADDR/PREFIX peer=ADDR), "
            f"or run linktest in the namespace that has it (ip netns exec NS netdrv linktest {dev})"
        ) from None
    except NetdrvError as exc:  # the daemon did not answer, or answered nonsense
        raise click.ClickException(f"cannot ask the netdrv daemon about {dev}: {exc}") from None
    if not st.get("ok"):
        raise click.ClickException(str(st.get("error")))
    return st


def _find(dev: str) -> tuple[dict[str, Any], dict[str, Any]]:
    st = _status(dev)
    d = next((x for x in st["devices"] if x["name"] == dev), None)
    drv = next((x for x in st["drivers"] if dev in x["devices"]), None)
    # "name" is slip or slip:TAG, "driver" slip for both.
    if d is not None and drv is not None and drv.get("driver", drv["name"]) == "slip":
        return d, drv["params"]
    slips = [n for x in st["drivers"] if x.get("driver", x["name"]) == "slip" for n in x["devices"]]
    use = (f"its slip devices: {', '.join(slips)}" if slips else "no slip device here: netdrv "
           "load slip port=PORT local=ADDR/PREFIX peer=ADDR on each end of the cable")  # fmt: skip
    if d is None:
        raise click.ClickException(f"{dev} is not a netdrv device in this namespace; {use}")
    raise click.ClickException(f"{dev} is not a slip device (driver {d['driver']}); {use}")


_ERRS = ("rx_errors", "rx_frame_errors", "rx_over_errors", "rx_crc_errors", "tx_errors",
         "tx_dropped", "tx_carrier_errors")  # fmt: skip


def _err_counts(stats: dict[str, Any]) -> dict[str, int]:
    return {k: int(stats.get(k, 0)) for k in _ERRS}


@click.command(name="linktest")
@click.argument("dev")
@click.option("--peer", help="the peer's address (default: the slip driver's peer=)")
@click.option("-d", "--duration", default=5.0, type=click.FloatRange(0, 3600), show_default=True,
              help="seconds per throughput direction")  # fmt: skip
@click.option("-n", "--count", default=20, type=click.IntRange(0, 100_000), show_default=True,
              help="latency probes")  # fmt: skip
# A probe is one UDP datagram: at most 65507 bytes of payload (IPv4).
@click.option("--size", default=64, type=click.IntRange(_PROBE.size, 65507), show_default=True,
              help="probe size (bytes)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def linktest_command(dev: str, peer: str | None, duration: float, count: int, size: int,
                     as_json: bool) -> None:  # fmt: skip
    """Measure latency, loss, throughput both ways and errors of serial link DEV."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    d0, params = _find(dev)
    peer = peer or params.get("peer")
    if not peer:
        raise click.ClickException(f"{dev} has no peer= address; give --peer ADDR")
    if not d0.get("carrier", True):
        # Nothing crosses a link without carrier: say so now, not after half a minute.
        raise click.ClickException(
            f"{dev} has no carrier (NO-CARRIER), so nothing can cross the link: `netdrv status` "
            f"shows why (the port is gone or not open yet, or keepalive= declared the line "
            f"dead), `netdrv log` says more; the carrier comes back when the port does"
        )
    local = str(params.get("local", "")).split("/")[0] or None
    baud, mode, mtu = int(params["baud"]), str(params["mode"]), int(d0["mtu"])
    console = Console(stderr=as_json)
    errs0 = _err_counts(d0["stats"])
    res: dict[str, Any] = {"dev": dev, "peer": peer, "baud": baud, "mode": mode, "mtu": mtu}
    progress = Progress(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                        console=console, disable=as_json)  # fmt: skip

    def alive() -> bool:
        try:
            return bool(_find(dev)[0].get("carrier", True))
        except Exception:  # the device or its daemon is gone
            return False

    try:
        remote0 = _remote_stats(peer, local, alive)
    except CarrierLost:
        raise click.ClickException(
            f"{dev} lost its carrier while linktest reached for the peer (the cable was pulled, "
            f"the port failed, or keepalive= declared the line dead): `netdrv status` shows the "
            f"link, the daemon's log says why"
        ) from None
    except OSError as exc:
        raise click.ClickException(
            f"no linktest responder at {peer}:{PORT} ({exc}): is netdrv's slip driver loaded "
            f"on the far end with local={peer}/… (and linktest=1, the default), and is the "
            f"carrier on at both ends?"
        ) from None
    with progress:
        # 1. latency and loss
        t = progress.add_task("latency", total=count, info="", visible=count > 0)
        rtts = []
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if local:
            s.bind((local, 0))
        line_time = (size + 28 + 2) * 10 / baud
        s.settimeout(max(1.0, 4 * line_time + 0.5))
        pad = b"\0" * max(0, size - _PROBE.size)
        for i in range(count):
            t0 = time.perf_counter_ns()
            s.sendto(_PROBE.pack(_MAGIC, i, t0) + pad, (peer, PORT))
            try:
                while True:
                    data, _ = s.recvfrom(65536)
                    magic, seq, _ = _PROBE.unpack_from(data)
                    if magic == _MAGIC and seq == i:
                        rtts.append((time.perf_counter_ns() - t0) / 1e6)
                        break
            except TimeoutError:
                pass
            progress.update(t, advance=1, info=f"{len(rtts)}/{i + 1} answered")
        s.close()
        res["probes"] = count
        res["lost"] = count - len(rtts)
        res["loss_pct"] = 100.0 * (count - len(rtts)) / count if count else 0.0
        if rtts:
            res["rtt_ms"] = {"min": min(rtts), "avg": sum(rtts) / len(rtts), "max": max(rtts)}
        try:
            if duration > 0:  # -d 0: no throughput test
                # 2. throughput out (we send, the peer sinks)
                t = progress.add_task("to peer", total=duration, info="")
                res["out_bps"] = _sink(peer, local, duration, (baud, mtu), lambda x, info: (
                    progress.update(t, completed=x, info=info)), alive) * 8  # fmt: skip
                # 3. throughput back (the peer sources)
                t = progress.add_task("from peer", total=duration, info="")
                res["in_bps"] = _source(peer, local, duration, (baud, mtu), lambda x, info: (
                    progress.update(t, completed=x, info=info)), alive) * 8  # fmt: skip
        except CarrierLost:
            raise click.ClickException(
                f"the throughput test to {peer} broke off: {dev} lost its carrier (the cable was "
                f"pulled, the port failed, or keepalive= declared the line dead): `netdrv status` "
                f"shows the link, the daemon's log says why"
            ) from None
        except OSError as exc:
            raise click.ClickException(
                f"the throughput test to {peer} broke off ({exc}): is the cable still in, and the "
                f"far end's daemon running? (`netdrv status` on both ends)"
            ) from None
    d1, _ = _find(dev)
    errs1 = _err_counts(d1["stats"])
    res["local_errors"] = {k: errs1[k] - errs0[k] for k in _ERRS}
    try:
        remote1 = _remote_stats(peer, local, alive)
    except OSError as exc:  # the line failed just now: the rest of the results still stand
        res["peer_errors"] = None
        res["peer_errors_unknown"] = f"the peer did not answer at the end ({exc})"
    else:
        r0, r1 = _err_counts(remote0), _err_counts(remote1)
        res["peer_errors"] = {k: r1[k] - r0[k] for k in _ERRS}
    line = baud / 10.0 * 8  # payload bits/s an 8N1 line can carry
    max_goodput, framing = theoretical_goodput(baud, mode, mtu)
    res["line_rate_bps"] = line
    res["max_goodput_bps"] = max_goodput * 8
    res["framing_efficiency"] = framing
    if duration > 0:
        res["efficiency_out"] = res["out_bps"] / line
        res["efficiency_in"] = res["in_bps"] / line
    note = pacing_note(res)
    if note:
        res["note"] = note
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    tb = Table(title=f"linktest {dev} -> {peer} ({mode}, mtu {mtu}, {baud} bit/s)")
    tb.add_column("measure")
    tb.add_column("value", justify="right")
    rtt = res.get("rtt_ms")
    if count == 0:
        tb.add_row("round trip min/avg/max", "not measured (-n 0)")
        tb.add_row("loss", "not measured (-n 0)")
    else:
        tb.add_row(
            "round trip min/avg/max",
            f"{rtt['min']:.2f}/{rtt['avg']:.2f}/{rtt['max']:.2f} ms" if rtt else "no answer",
        )
        tb.add_row("loss", f"{res['lost']}/{count} ({res['loss_pct']:.1f} %)")
    # The percentages are of the data bits the line carries: a byte is 10 bits on an 8N1 line.
    tb.add_row("line rate", f"{line / 1000:.1f} kbit/s of data ({baud} baud, 8N1)")
    for key, label in (("out_bps", "throughput to peer"), ("in_bps", "throughput from peer")):
        if key not in res:
            tb.add_row(label, "not measured (-d 0)")
            continue
        eff = res[key] / line * 100
        tb.add_row(label, f"{res[key] / 1000:.1f} kbit/s = {eff:.1f} % of line rate")
    # CSLIP's maximum assumes every segment compressed (see theoretical_goodput).
    vj = ", every TCP header VJ-compressed" if mode in ("cslip", "adaptive") else ""
    tb.add_row("theoretical maximum",
               f"{max_goodput * 8 / 1000:.1f} kbit/s ({max_goodput * 8 / line * 100:.1f} %, "
               f"framing efficiency {framing * 100:.1f} %{vj})")  # fmt: skip
    tb.add_row("errors here", _fmt_errs(res["local_errors"]))
    tb.add_row("errors at peer", _fmt_errs(res["peer_errors"]) if res["peer_errors"] is not None
               else f"unknown: {res['peer_errors_unknown']}")  # fmt: skip
    console.print(tb)
    if note:
        console.print(f"note: {note}")


def pacing_note(res: dict[str, Any]) -> str | None:
    """A warning when the link moved more than its ``baud=`` allows: the "cable" is not a
    line at that rate (a pty pair, socat, a network port), so the percentages mean nothing."""
    if max(res.get("efficiency_out", 0.0), res.get("efficiency_in", 0.0)) <= 1.05:
        return None
    return (f"the link carried more than {res['baud']} bit/s can: nothing paces it at the "
            f"baud= rate (a pty pair or socat copies as fast as it can; the baud= of a pty "
            f"changes nothing), so the percentages of the line rate are meaningless. For a "
            f"real line rate between two ptys use `python -m netdrv_serial.relay --baud "
            f"{res['baud']}`")  # fmt: skip


def _fmt_errs(e: dict[str, int]) -> str:
    nz = {k: v for k, v in e.items() if v}
    return ", ".join(f"{k} {v}" for k, v in nz.items()) if nz else "none"


def _connect(
    peer: str, local: str | None, alive: Callable[[], bool] | None = None
) -> socket.socket:
    """A connection to the peer's responder; :class:`CarrierLost` as soon as ``alive()`` says
    the link went down while connecting (a SYN into a dead line is not waited out)."""
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if local:
            c.bind((local, 0))
        c.setblocking(False)
        err = c.connect_ex((peer, PORT))
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while err in (errno.EINPROGRESS, errno.EALREADY):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            _, w, _ = select.select([], [c], [], min(_POLL, left))
            if w:
                err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            elif alive is not None and not alive():
                raise CarrierLost("the carrier went off")
        if err:
            raise OSError(err, os.strerror(err))
        c.settimeout(ANSWER_TIMEOUT)
    except BaseException:
        c.close()
        raise
    return c


class CarrierLost(OSError):
    """The link under test lost its carrier while the client waited for the peer."""


# How often a client waiting for the peer looks at the local link's carrier.
_POLL = 1.0


def _recv(c: socket.socket, size: int, deadline: float,
          alive: Callable[[], bool] | None) -> bytes:  # fmt: skip
    """``c.recv(size)`` until ``deadline``; :class:`CarrierLost` as soon as ``alive()``
    says the link went down — a pulled cable is not waited out for half a minute."""
    while True:
        c.settimeout(max(0.001, min(_POLL, deadline - time.monotonic())))
        try:
            return c.recv(size)
        except TimeoutError:
            if alive is not None and not alive():
                raise CarrierLost("the carrier went off") from None
            if time.monotonic() >= deadline:
                raise


def _read_all(c: socket.socket, deadline: float | None = None,
              alive: Callable[[], bool] | None = None) -> bytes:  # fmt: skip
    if deadline is None:
        deadline = time.monotonic() + (c.gettimeout() or ANSWER_TIMEOUT)
    data = b""
    while b := _recv(c, 65536, deadline, alive):
        data += b
    return data


def _remote_stats(peer: str, local: str | None,
                  alive: Callable[[], bool] | None = None) -> dict[str, Any]:  # fmt: skip
    with _connect(peer, local, alive) as c:
        c.sendall(b"STATS\n")
        return _answer(_read_all(c, None, alive))["stats"]


def _answer(data: bytes) -> dict[str, Any]:
    """The responder's JSON answer; :class:`OSError` if it is cut short or is not one."""
    try:
        ans = json.loads(data)
    except ValueError:
        raise OSError(f"the peer's answer was cut short or garbled ({len(data)} bytes)") from None
    if not isinstance(ans, dict):
        raise OSError("the peer's answer was not a linktest report")
    return ans


def _sink(
    peer: str, local: str | None, duration: float, link: tuple[int, int],
    tick: Callable[[float, str], None], alive: Callable[[], bool] | None = None,
) -> float:  # fmt: skip
    baud, mtu = link
    limit = queue_limit(baud, mtu)
    with _connect(peer, local, alive) as c:
        c.sendall(b"SINK\n")
        send_for(c, os.urandom(CHUNK), duration, limit, lambda el, sent: tick(
            el, f"{sent * 8 / max(el, 1e-3) / 1000:.1f} kbit/s"))  # fmt: skip
        # The peer answers once what is still queued has crossed the line.
        deadline = time.monotonic() + _drain_timeout(limit, baud)
        c.shutdown(socket.SHUT_WR)
        rep = _answer(_read_all(c, deadline, alive))
    tick(duration, "done")
    # The peer's count over the time until the last byte arrived.
    return rep["bytes"] / max(rep["seconds"], 1e-6)


def _source(
    peer: str, local: str | None, duration: float, link: tuple[int, int],
    tick: Callable[[float, str], None], alive: Callable[[], bool] | None = None,
) -> float:  # fmt: skip
    baud, mtu = link
    limit = queue_limit(baud, mtu)
    with _connect(peer, local, alive) as c:
        c.sendall(f"SOURCE {duration} {limit}\n".encode())
        deadline = time.monotonic() + duration + _drain_timeout(limit, baud)
        t0 = time.monotonic()
        n = 0
        first = last = 0.0
        while True:
            b = _recv(c, CHUNK, deadline, alive)
            if not b:
                break
            last = time.monotonic()
            if first == 0.0:
                first = last  # the first chunk's line time lies before this clock
            else:
                n += len(b)
            el = last - t0
            tick(min(el, duration), f"{n * 8 / max(el, 1e-3) / 1000:.1f} kbit/s")
    tick(duration, "done")
    return n / max(last - first, 1e-6)
