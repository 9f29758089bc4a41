"""``netdrv capture`` says how many frames it wrote, and why the daemon ended it early.

The daemon ends a capture by closing the stream: after ``-c N`` frames, or because the
device was unregistered (a USB adapter unplugged, its driver unloaded) or the daemon
stopped.  Only the first is what was asked for: the others are said, as tcpdump says
"The interface disappeared", and short of ``-c N`` the command exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from test_cli_robustness import _FakeClient, _pcap_stream

import netdrv_core.cli as cli_mod
from netdrv_core.cli import cli


class _Daemon(_FakeClient):
    """Streams ``stream`` to a capture of sn0 (ifindex 1), then answers ``status`` with
    ``devices`` (name -> ifindex)."""

    def __init__(self, stream: list[bytes], devices: dict[str, int]) -> None:
        super().__init__({"ok": True, "linktype": 1, "ifindex": 1}, stream)
        self.devices = devices

    def request(self, cmd: str, **kw: Any) -> dict[str, Any]:
        if cmd == "status":
            devices = [{"name": n, "ifindex": i} for n, i in self.devices.items()]
            return {"ok": True, "pid": 1, "devices": devices}
        return self.reply


def _capture(
    monkeypatch: pytest.MonkeyPatch, out: Path, frames: int, devices: dict[str, int], *args: str
) -> Result:
    """``netdrv capture sn0 -w OUT ARGS`` of a stream of ``frames`` records, then EOF."""
    header, recs = _pcap_stream()
    stream = [header, *recs[:frames]]
    clients = iter([_Daemon(stream, devices), _Daemon([], devices)])
    monkeypatch.setattr(cli_mod, "ControlClient", lambda timeout=None: next(clients))
    return CliRunner().invoke(cli, ["capture", "sn0", "-w", str(out), *args])


def test_count_reached_is_a_plain_success(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    res = _capture(monkeypatch, tmp_path / "x.pcap", 2, {"sn0": 1}, "-c", "2")
    assert (res.exit_code, res.stderr) == (0, (
        f"capturing on sn0 (both directions) into {tmp_path / 'x.pcap'}\n"
        f"wrote {tmp_path / 'x.pcap'} (2 frames)\n")), res.output  # fmt: skip


def test_a_device_gone_before_the_count_exits_1_saying_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "x.pcap"
    res = _capture(monkeypatch, out, 1, {}, "-c", "4")
    assert res.exit_code == 1, res.output
    assert res.stderr.splitlines()[1:] == [
        f"wrote {out} (1 frame)",
        "netdrv: the capture ended after 1 frame of the 4 requested: sn0 was unregistered "
        "(unplugged or unloaded)",
    ]
    header, recs = _pcap_stream()
    assert out.read_bytes() == header + recs[0]  # what came is kept


def test_a_capture_without_count_ended_by_the_daemon_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    res = _capture(monkeypatch, tmp_path / "x.pcap", 3, {"sn0": 2})  # a new sn0
    assert res.exit_code == 1, res.output  # not ended by Ctrl-C, as it was to be
    assert res.stderr.splitlines()[-1] == (
        "netdrv: the capture ended after 3 frames: sn0 was unregistered (unplugged or unloaded)"
    )


def test_a_stalled_reader_cut_off_is_told_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    res = _capture(monkeypatch, tmp_path / "x.pcap", 2, {"lan0": 1})  # renamed, still there
    assert res.exit_code == 1, res.output
    assert res.stderr.splitlines()[-1] == (
        "netdrv: the capture ended after 2 frames: the daemon ended it: a reader that takes "
        "nothing for 2 s is cut off (see netdrv log)"
    )
