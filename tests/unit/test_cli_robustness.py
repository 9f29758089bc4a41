"""``netdrv`` when the daemon is swamped, a value is out of range, text is odd or a disk is full."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import netdrv_core.cli as cli_mod
import netdrv_core.control as control_mod
from netdrv_core.cli import cli
from netdrv_core.control import ControlClient, DaemonBusy, DaemonNotRunning


@pytest.fixture
def swamped(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A control socket (of this test only) whose daemon accepts nobody: its backlog is full."""
    address = f"\0netdrv-test/{uuid.uuid4().hex}"
    monkeypatch.setattr(control_mod, "CONTROL_ADDRESS", address)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(0)
    waiting = []
    while True:  # connect until the kernel queues no more connections
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(address)
        except BlockingIOError:
            s.close()
            break
        waiting.append(s)
    yield listener
    for s in waiting:
        s.close()
    listener.close()


def test_a_daemon_too_busy_to_accept_is_reported_busy(swamped: socket.socket) -> None:
    with pytest.raises(DaemonBusy, match=r"did not answer 'connect' within 0\.2 s"):
        ControlClient(timeout=0.2)


def test_a_daemon_that_accepts_late_is_waited_for(swamped: socket.socket) -> None:
    accepted: list[socket.socket] = []

    def accept_all() -> None:  # the daemon gets round to its queue, and to the new one
        swamped.settimeout(2)
        for _ in range(20):
            try:
                accepted.append(swamped.accept()[0])
            except OSError:
                return

    t = threading.Timer(0.2, accept_all)
    t.start()
    try:
        ControlClient(timeout=10).close()
    finally:
        t.join()
        for s in accepted:
            s.close()


def test_an_out_of_range_sysctl_starts_no_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_daemon(timeout: float | None = None) -> ControlClient:
        raise DaemonNotRunning("none here")

    def start_daemon(*a: Any, **kw: Any) -> None:
        raise AssertionError("a daemon was started for a value it must refuse")

    monkeypatch.setattr(cli_mod, "ControlClient", no_daemon)
    monkeypatch.setattr(cli_mod, "start_daemon", start_daemon)
    for value in ("-1", "10000001", "0x7fffffffffffffff"):
        res = CliRunner().invoke(cli, ["sysctl", f"busy_poll={value}"])
        assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
        assert "is out of range: 0..10000000" in res.output


class _FakeClient:
    """A :class:`ControlClient` answering from a script."""

    def __init__(self, reply: dict[str, Any], stream: list[bytes] | None = None) -> None:
        self.reply = reply
        self.stream = list(stream or [])
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def request(self, cmd: str, **kw: Any) -> dict[str, Any]:
        return self.reply

    def read_raw(self, n: int = 65536) -> bytes:
        return self.stream.pop(0) if self.stream else b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> _FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_status_shows_names_and_descriptions_as_text_not_markup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stats = dict.fromkeys(("rx_packets", "rx_bytes", "rx_errors", "rx_dropped", "tx_packets",
                           "tx_bytes", "tx_errors", "tx_dropped"), 0)  # fmt: skip
    dev = {"name": "[red]", "driver": "odd", "state": "up", "carrier": True, "queue": "awake",
           "mtu": 1500, "stats": stats}  # fmt: skip
    st = {"ok": True, "pid": 1, "devices": [dev], "drivers": [{
        "name": "odd", "description": "[red] over [/dev/ttyS0]", "faults": 1,
        "last_fault": "[red]: open: ValueError: bad [/x]",
    }]}  # fmt: skip
    monkeypatch.setattr(cli_mod, "_client", lambda *a, **kw: _FakeClient(st))
    res = CliRunner().invoke(cli, ["status"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "│ [red]" in res.output  # the device's name, not an empty cell
    assert "odd: [red] over [/dev/ttyS0]" in res.output
    assert "last: [red]: open: ValueError: bad [/x]" in res.output


def test_status_abbreviates_large_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Packet and byte counts abbreviated as docs/cli.md shows them (999, 1K, 2M); errors and
    drops exact, whatever their size (the JSON keeps everything exact)."""
    stats = {"rx_packets": 999, "rx_bytes": 1000, "rx_errors": 1999, "rx_dropped": 0,
             "tx_packets": 2_500_000, "tx_bytes": 7 * 10**9, "tx_errors": 0,
             "tx_dropped": 3 * 10**15}  # fmt: skip
    dev = {"name": "sn0", "driver": "snull", "state": "up", "carrier": True, "queue": "awake",
           "mtu": 1500, "stats": stats}  # fmt: skip
    st = {"ok": True, "pid": 1, "devices": [dev], "drivers": []}
    monkeypatch.setattr(cli_mod, "_client", lambda *a, **kw: _FakeClient(st))
    res = CliRunner().invoke(cli, ["status"])
    assert res.exit_code == 0, (res.output, res.exception)
    row = next(line for line in res.output.splitlines() if "sn0" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[6:] == ["999", "1K", "1999", "0", "2M", "7G", "0", str(3 * 10**15)], cells


def test_a_full_disk_ends_the_capture_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeClient({"ok": True, "linktype": 1}, [b"\xd4\xc3\xb2\xa1" + bytes(20)] * 3)
    monkeypatch.setattr(cli_mod, "ControlClient", lambda timeout=None: fake)
    res = CliRunner().invoke(cli, ["capture", "sn0", "-w", "/dev/full"])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.exception
    assert "cannot write capture file /dev/full: No space left on device" in res.output


def _pcap_stream() -> tuple[bytes, list[bytes]]:
    from netdrv_core.phy.pcap import PcapWriter

    w = PcapWriter()
    return w.header(), [w.record(bytes([i]) * 1000, 0) for i in range(6)]


def test_a_capture_ended_mid_record_writes_whole_records_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon's stream arrives in chunks that end anywhere; when it ends (Ctrl-C, the
    # daemon killed) in the middle of a record, that record is left out: a file ending
    # in a cut record is one tcpdump refuses ("truncated dump file").  Ended by the
    # daemon, not by Ctrl-C, the capture then fails (status 1), as tcpdump's does.
    header, recs = _pcap_stream()
    stream = header + b"".join(recs)
    chunks = [stream[:30], stream[30:2500], stream[2500:-10]]  # the last 10 bytes never come
    monkeypatch.setattr(cli_mod, "ControlClient", lambda timeout=None: _FakeClient(
        {"ok": True, "linktype": 1}, chunks))  # fmt: skip
    out = tmp_path / "cut.pcap"
    res = CliRunner().invoke(cli, ["capture", "sn0", "-w", str(out)])
    assert res.exit_code == 1, (res.output, res.exception)
    assert "the capture ended after 5 frames" in res.output
    assert out.read_bytes() == header + b"".join(recs[:-1])


def test_ctrl_c_during_a_write_finishes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Writing to a pipe whose reader is slow, Ctrl-C interrupts the write: a buffered
    # file's write() then returns short (or raises KeyboardInterrupt part way).  The
    # records being written go out whole, and the capture ends after them.
    import signal

    import netdrv_core.phy.pcap as pcap_mod

    header, recs = _pcap_stream()
    chunks = [header + b"".join(recs[:3]), b"".join(recs[3:])]
    got = bytearray()

    class SlowPipe:
        def write(self, data: bytes) -> int:
            if not got:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the first write blocks
                data = bytes(data)[:100]
            got.extend(data)
            return len(data)

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(cli_mod, "ControlClient", lambda timeout=None: _FakeClient(
        {"ok": True, "linktype": 1}, chunks))  # fmt: skip
    monkeypatch.setattr(pcap_mod, "open_capture_file", lambda path: SlowPipe())
    before = signal.getsignal(signal.SIGINT)
    res = CliRunner().invoke(cli, ["capture", "sn0", "-w", str(tmp_path / "x.pcap")])
    assert res.exit_code == 0, (res.output, res.exception)
    assert bytes(got) == chunks[0], "the interrupted write was cut short"
    assert signal.getsignal(signal.SIGINT) is before


def test_a_busy_file_left_by_a_killed_daemon_is_not_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A daemon killed with SIGKILL leaves its busy file behind; a busy report at connect
    # (no pid known yet) must not quote that dead daemon's state as this one's.
    import json
    import subprocess as sp
    import time

    from netdrv_core import daemon as daemon_mod
    from netdrv_core.control import busy_report

    path = tmp_path / "daemon.busy"
    monkeypatch.setattr(daemon_mod, "busy_path", lambda: str(path))
    gone = sp.Popen(["true"])
    gone.wait()
    path.write_text(json.dumps({"pid": gone.pid, "busy": "driver 'x' exit", "since": time.time()}))
    assert busy_report(None) == ""
    path.write_text(
        json.dumps({"pid": os.getpid(), "busy": "driver 'x' exit", "since": time.time()})
    )
    assert busy_report(None).startswith("driver 'x' exit for ")
    assert busy_report(os.getpid()).startswith("driver 'x' exit")


def test_ctrl_c_while_plugins_load_for_their_commands_is_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netdrv_core.plugins import PluginManager

    def interrupted(self: PluginManager) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(PluginManager, "load_all", interrupted)
    with pytest.raises(SystemExit) as exc:
        cli_mod.main(["linktest", "sl0"])  # a plugin's command: plugins load first
    assert exc.value.code == 130
    assert capsys.readouterr().err == "Aborted!\n"


_FOREGROUND = """\
import logging
import netdrv_core.daemon as daemon_mod
from netdrv_core import Host, cli

class Daemon(daemon_mod.Daemon):  # `netdrv load -f`'s daemon, minus the kernel and driver
    def __init__(self, pm, exit_when_empty):
        super().__init__(Host(), pm, exit_when_empty=exit_when_empty, watchdog=None)
    def listen(self):
        pass
    def load(self, name, args):
        return {"description": "a driver"}
    def run(self):
        logging.getLogger("netdrv.drv").info("info at the default level")
        logging.getLogger("netdrv.drv").warning("a warning")
        print("sysctl:", self.sysctl({"loglevel": 8}), flush=True)
        logging.getLogger("netdrv.drv").debug("debug after loglevel=8")

daemon_mod.Daemon = Daemon
cli._foreground("drv", [], None)
"""


def test_sysctl_loglevel_reaches_the_terminal_of_a_foreground_daemon() -> None:
    """`netdrv load -f` logs to the terminal, warnings by default: `netdrv sysctl
    loglevel=8` (which reads back 8) lets debug messages in there too."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _FOREGROUND], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "'loglevel': 8" in res.stdout
    assert "a warning" in res.stderr and "info at the default level" not in res.stderr
    assert "debug after loglevel=8" in res.stderr, res.stderr
