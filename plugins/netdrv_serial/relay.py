"""A null-modem cable made of two pseudo-terminals, paced at a real line rate.

``python -m netdrv_serial.relay --baud 115200 /tmp/ttyA /tmp/ttyB`` creates
two ptys, links their slave ends at the given paths and copies bytes between
them at ``baud / 10`` bytes per second in each direction (8N1: start + 8 data
+ stop bits), like a real cable between two UARTs.  ``--baud 0`` copies as
fast as possible.  Signals: SIGUSR1 injects a burst of random garbage in both
directions (line noise); SIGTERM/SIGINT pull the cable (the links disappear,
the ports hang up).  On exit it prints how busy each direction was.

Machine-readable: SIGUSR2 prints a line ``stats {json}`` at once, and the
same line is printed on exit; the JSON holds the monotonic time ``t`` and, per
direction (``A->B``, ``B->A``), ``bytes`` moved and ``busy`` seconds of line
time they took.  The busy fraction over any window is the difference of two
snapshots' ``busy`` divided by the difference of their ``t``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import select
import signal
import sys
import time
import tty

__all__ = ["LinkPathError", "Relay", "check_link_path", "main"]

CHUNK = 4096
MAX_BUFFER = 4096  # bytes held per direction before we stop reading (back-pressure)
MAX_LATE = 0.05  # seconds of line time a late wake-up may send at once


class _Direction:
    def __init__(self, src: int, dst: int, rate: float) -> None:
        self.src = src
        self.dst = dst
        self.rate = rate  # bytes/s, 0 = unpaced
        self.buf = bytearray()
        self.credit_t = 0.0
        self.sent = 0
        self.busy_start = 0.0
        self.busy_time = 0.0
        self.last_done = 0.0

    def receive(self, data: bytes, now: float) -> None:
        """Queue bytes read from the source at ``now``."""
        if data and not self.buf and self.rate:
            # The line had nothing to send until now: a UART saves no line time while
            # idle, so the transmission starts now (its first byte goes at once).
            self.credit_t = max(self.credit_t, now - 1.0 / self.rate)
        self.buf += data

    def allowed(self, now: float) -> int:
        """How many queued bytes the line has carried by ``now``."""
        if not self.rate:
            return len(self.buf)
        if now - self.credit_t > MAX_LATE:
            # We woke late with bytes waiting (descheduled): what the line would have sent
            # meanwhile goes now, but at most MAX_LATE of it at once.
            self.credit_t = now - MAX_LATE
        n = int((now - self.credit_t) * self.rate + 1e-6)  # float error: 0.99999 bytes
        return min(n, len(self.buf))

    def consume(self, n: int, now: float) -> None:
        self.sent += n
        if self.rate:
            self.credit_t += n / self.rate
            # Busy time: the line is busy while it has credit-paced bytes in flight.
            self.busy_time += n / self.rate
        del self.buf[:n]


class LinkPathError(ValueError):
    """A cable end's path cannot be made a link to a pty; the message says why and what to do."""


def check_link_path(link: str) -> None:
    """Refuse a path the relay must not take over: :class:`LinkPathError` says why.

    The relay replaces only a dangling symbolic link (one a relay or socat that
    was killed left behind): anything else at the path — a regular file, a device
    such as ``/dev/ttyUSB0``, a directory, a link to a pty that is still open (a
    relay or socat running on this path) — is someone's, and is never deleted.
    """
    if os.path.islink(link):
        if not os.path.exists(link):
            return  # dangling: its pty is gone
        raise LinkPathError(
            f"{link} already leads to {os.path.realpath(link)}, which is open: another relay "
            f"or socat is using this path — stop it first, or choose another path (if nothing "
            f"is using it, remove the link: rm {link})"
        )
    if os.path.lexists(link):
        raise LinkPathError(
            f"{link} exists and is not a symbolic link: the relay makes each end a symbolic "
            f"link to a new pty and replaces only an old link, never a file or a device — "
            f"choose a new path (e.g. /tmp/ttyA)"
        )
    parent = os.path.dirname(os.path.abspath(link))
    if not os.path.isdir(parent):
        raise LinkPathError(f"{link}: directory {parent} does not exist (create it first)")


class Relay:
    """Two ptys joined back to back, paced at ``baud``."""

    def __init__(self, link_a: str, link_b: str, baud: int) -> None:
        if os.path.abspath(link_a) == os.path.abspath(link_b):
            raise LinkPathError(f"both ends are {link_a}: give two different paths")
        for link in (link_a, link_b):
            check_link_path(link)
        self.links = (link_a, link_b)
        self.masters: list[int] = []
        self.slaves: list[int] = []
        self.made: list[tuple[str, str]] = []  # (link, the pty it points to) made by this relay
        try:
            for link in self.links:
                m, s = os.openpty()
                self.masters.append(m)
                self.slaves.append(s)
                tty.setraw(s)  # no echo or line editing before the driver opens it
                os.set_blocking(m, False)
                if os.path.islink(link):  # left by an earlier relay or socat
                    os.unlink(link)
                os.symlink(os.ttyname(s), link)
                self.made.append((link, os.ttyname(s)))
        except OSError as exc:
            self.close()
            raise LinkPathError(f"cannot create the link {link}: {exc.strerror}") from None
        rate = baud / 10.0
        self.baud = baud
        self.dirs = [
            _Direction(self.masters[0], self.masters[1], rate),
            _Direction(self.masters[1], self.masters[0], rate),
        ]
        self.noise = 0
        self.running = True
        self.started = time.monotonic()

    def inject_noise(self, n: int = 200) -> None:
        """Queue ``n`` random bytes in each direction."""
        now = time.monotonic()
        for d in self.dirs:
            d.receive(bytes(random.getrandbits(8) for _ in range(n)), now)
        self.noise += n

    def run(self) -> None:
        """Copy until stopped."""
        while self.running:
            now = time.monotonic()
            rlist = [d.src for d in self.dirs if len(d.buf) < MAX_BUFFER]
            wlist = []
            timeout = 0.5
            for d in self.dirs:
                if d.buf:
                    n = d.allowed(now)
                    if n > 0:
                        wlist.append(d.dst)
                    else:
                        timeout = min(timeout, max(0.0002, 1.0 / d.rate if d.rate else 0))
            try:
                r, w, _ = select.select(rlist, wlist, [], timeout)
            except InterruptedError:
                continue
            now = time.monotonic()
            for d in self.dirs:
                if d.src in r:
                    try:
                        data = os.read(d.src, CHUNK)
                    except BlockingIOError:
                        data = b""
                    except OSError:
                        data = b""
                    d.receive(data, now)
                if d.dst in w and d.buf:
                    n = d.allowed(now)
                    if n > 0:
                        try:
                            k = os.write(d.dst, bytes(d.buf[:n]))
                        except (BlockingIOError, OSError):
                            k = 0
                        if k:
                            d.consume(k, now)

    def close(self) -> None:
        """Pull the cable: remove the links, close the ptys."""
        for link, target in self.made:
            # Only the link this relay made: not what replaced it since (another relay's).
            with contextlib.suppress(OSError):
                if os.readlink(link) == target:
                    os.unlink(link)
        self.made = []
        for fd in self.masters + self.slaves:
            with contextlib.suppress(OSError):
                os.close(fd)

    def stats(self) -> dict[str, object]:
        """Counters for the ``stats`` line: time, and bytes and busy seconds per direction."""
        out: dict[str, object] = {"t": time.monotonic(), "baud": self.baud}
        for name, d in zip(("A->B", "B->A"), self.dirs, strict=True):
            out[name] = {"bytes": d.sent, "busy": d.busy_time}
        return out

    def report(self) -> str:
        """How busy each direction was."""
        elapsed = time.monotonic() - self.started
        parts = []
        for name, d in zip(("A->B", "B->A"), self.dirs, strict=True):
            busy = d.busy_time / elapsed * 100 if elapsed and d.rate else 0.0
            parts.append(f"{name}: {d.sent} bytes, line busy {busy:.1f}% of {elapsed:.1f} s")
        return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m netdrv_serial.relay", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("link_a")
    ap.add_argument("link_b")
    ap.add_argument("--baud", type=int, default=115200, help="line rate (0: unpaced)")
    ns = ap.parse_args(argv)
    if ns.baud < 0:
        ap.error(f"--baud {ns.baud}: a line rate is a positive number of bit/s (0: unpaced)")
    try:
        relay = Relay(ns.link_a, ns.link_b, ns.baud)
    except LinkPathError as exc:
        ap.error(str(exc))

    def stop(*_: object) -> None:
        relay.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda *_: relay.inject_noise())
    signal.signal(
        signal.SIGUSR2, lambda *_: print("stats " + json.dumps(relay.stats()), flush=True)
    )
    print(f"ready {ns.link_a} <-> {ns.link_b} at {ns.baud} bit/s", flush=True)
    try:
        relay.run()
    finally:
        relay.close()
        print(relay.report(), flush=True)
        print("stats " + json.dumps(relay.stats()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
