"""``netdrv log``: this namespace's daemon log, from the last daemon's start (like dmesg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import netdrv_core.cli as cli_mod
import netdrv_core.daemon as daemon_mod
from netdrv_core.cli import cli

OLD = (
    "2026-12-01 10:00:00,000 netdrv.daemon INFO daemon 100 listening (netns net:[4026532248])\n"
    "2026-12-01 10:00:01,000 netdrv.snull INFO sn0: transmit timeout, recovering\n"
    "2026-12-01 10:05:00,000 netdrv.daemon INFO daemon stopped\n"
)
NEW = (
    "2026-12-06 09:00:00,000 netdrv.daemon INFO daemon 200 listening (netns net:[4026532248])\n"
    "2026-12-06 09:00:01,000 netdrv.host INFO registered sn0 (driver snull)\n"
    "2026-12-06 09:00:02,000 netdrv.attach.tap WARNING sn0: driver refused mtu 1600 (EINVAL)\n"
)


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "daemon-4026532248.log"
    path.write_text(OLD + NEW)
    monkeypatch.setattr(daemon_mod, "log_path", lambda: str(path))
    return path


def test_log_shows_the_last_daemons_lines(log_file: Path) -> None:
    res = CliRunner().invoke(cli, ["log"])
    assert res.exit_code == 0 and res.output == NEW


def test_log_all_and_last_lines(log_file: Path) -> None:
    assert CliRunner().invoke(cli, ["log", "-a"]).output == OLD + NEW
    assert CliRunner().invoke(cli, ["log", "-n", "1"]).output == NEW.splitlines(True)[-1]
    last4 = "".join((OLD + NEW).splitlines(True)[-4:])
    assert CliRunner().invoke(cli, ["log", "-a", "-n", "4"]).output == last4
    assert CliRunner().invoke(cli, ["log", "-n", "0"]).output == ""


def test_log_of_a_namespace_without_a_daemon_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(daemon_mod, "log_path", lambda: str(tmp_path / "daemon-1.log"))
    res = CliRunner().invoke(cli, ["log"])
    assert res.exit_code == 1
    assert "no netdrv daemon has run in this network namespace yet" in res.output


def test_log_follow_prints_what_is_written_until_ctrl_c(log_file: Path, monkeypatch) -> None:
    naps = []

    def sleep(seconds: float) -> None:  # the follow loop's wait: write, then Ctrl-C
        naps.append(seconds)
        if len(naps) == 1:
            with log_file.open("a") as f:
                f.write("2026-12-06 09:00:03,000 netdrv.snull INFO sn0: later\n")
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_mod.time, "sleep", sleep)
    res = CliRunner().invoke(cli, ["log", "-f"])
    assert res.exit_code == 0
    assert res.output == NEW + "2026-12-06 09:00:03,000 netdrv.snull INFO sn0: later\n"


def test_a_long_log_is_read_from_its_end(log_file: Path, monkeypatch) -> None:
    monkeypatch.setattr(cli_mod, "LOG_TAIL_BYTES", len(NEW) + 10)
    assert CliRunner().invoke(cli, ["log", "-a"]).output == NEW


def test_a_tail_that_starts_at_a_line_keeps_that_line(log_file: Path, monkeypatch) -> None:
    """Only a line the tail cuts in two is left out: one it starts exactly at is whole."""
    monkeypatch.setattr(cli_mod, "LOG_TAIL_BYTES", len(NEW))
    assert CliRunner().invoke(cli, ["log", "-a"]).output == NEW


def _follow_result(log_file: Path, monkeypatch: pytest.MonkeyPatch, *writes: Any) -> Any:
    """``netdrv log -f``, doing ``writes[i](log_file)`` at its i-th wait, then Ctrl-C."""
    naps = iter(writes)

    def sleep(seconds: float) -> None:
        write = next(naps, None)
        if write is None:
            raise KeyboardInterrupt
        write(log_file)

    monkeypatch.setattr(cli_mod.time, "sleep", sleep)
    res = CliRunner().invoke(cli, ["log", "-f"])
    assert res.exit_code == 0, res.output
    return res


def _follow(log_file: Path, monkeypatch: pytest.MonkeyPatch, *writes: Any) -> str:
    """What ``netdrv log -f`` printed on standard output (its notes go to stderr)."""
    return str(_follow_result(log_file, monkeypatch, *writes).stdout)


def test_follow_goes_on_after_the_log_is_truncated(log_file: Path, monkeypatch) -> None:
    """As tail -f: emptied (`: > LOG`) and written again, the log is read from its start,
    not from the old offset (nothing, then the middle of a line)."""
    later = "2026-12-06 09:10:00,000 netdrv.daemon INFO daemon 300 listening (netns net:[1])\n"

    def truncate(path: Path) -> None:
        path.write_text("")

    def append(path: Path) -> None:
        with path.open("a") as f:
            f.write(later)

    assert _follow(log_file, monkeypatch, truncate, append) == NEW + later


def test_follow_decodes_a_character_written_in_two_parts(log_file: Path, monkeypatch) -> None:
    """A message whose UTF-8 the daemon's write splits is printed whole, not as two '\ufffd'."""
    text = "2026-12-06 09:00:03,000 netdrv.slip WARNING sl0: port /dev/ttyÜSB0\n".encode()
    cut = text.index("Ü".encode()) + 1

    def first(path: Path) -> None:
        with path.open("ab") as f:
            f.write(text[:cut])

    def rest(path: Path) -> None:
        with path.open("ab") as f:
            f.write(text[cut:])

    assert _follow(log_file, monkeypatch, first, rest) == NEW + text.decode()


def test_a_user_whose_daemon_never_ran_is_pointed_to_roots_log(tmp_path: Path, monkeypatch) -> None:
    # A user's daemon logs under $XDG_RUNTIME_DIR/netdrv; root's (the usual one) in /run/netdrv.
    roots = tmp_path / "run-netdrv"
    roots.mkdir()
    (roots / "daemon-4026532248.log").write_text(NEW)
    monkeypatch.setattr(cli_mod, "ROOT_RUN_DIR", str(roots))
    monkeypatch.setattr(cli_mod.os, "geteuid", lambda: 1000)
    mine = tmp_path / "xdg" / "netdrv" / "daemon-4026532248.log"
    monkeypatch.setattr(daemon_mod, "log_path", lambda: str(mine))
    res = CliRunner().invoke(cli, ["log"])
    assert res.exit_code == 1
    assert "root's has" in res.output and "sudo netdrv log" in res.output, res.output


LATER = "2026-12-06 09:10:00,000 netdrv.daemon INFO daemon 300 listening (netns net:[1])\n"
MORE = "2026-12-06 09:10:01,000 netdrv.host INFO registered sn0 (driver snull)\n"


def test_follow_moves_to_a_log_that_was_rotated(log_file: Path, monkeypatch) -> None:
    """As tail -F: a log moved away (logrotate) and created again under its name is
    followed by name — what the old file still got first, then the new one from its start."""
    old_line = "2026-12-06 09:09:59,000 netdrv.daemon INFO daemon stopped\n"

    def rotate(path: Path) -> None:
        path.rename(path.with_suffix(".log.1"))
        with path.with_suffix(".log.1").open("a") as f:
            f.write(old_line)  # written to the old file after it was moved
        path.write_text(LATER)

    def append(path: Path) -> None:
        with path.open("a") as f:
            f.write(MORE)

    res = _follow_result(log_file, monkeypatch, rotate, append)
    assert res.stdout == NEW + old_line + LATER + MORE
    assert "has been replaced; following the new file" in res.stderr


def test_follow_waits_while_the_log_is_gone_and_reads_the_new_one(
    log_file: Path, monkeypatch
) -> None:
    """Removed (a daemon restart that recreates it, a clean-up): waited for, then read."""

    def remove(path: Path) -> None:
        path.unlink()

    def recreate(path: Path) -> None:
        path.write_text(LATER)

    res = _follow_result(log_file, monkeypatch, remove, lambda path: None, recreate)
    assert res.stdout == NEW + LATER
    assert res.stderr.count("has gone; waiting for it to come back") == 1
    assert "has appeared; following the new file" in res.stderr


def test_follow_reads_a_log_that_shrank_from_its_start(log_file: Path, monkeypatch) -> None:
    """Truncated and written again before the follower looked: shorter than what it had
    read, so it is a new log, read from its start."""

    def rewrite(path: Path) -> None:
        path.write_text(LATER)  # O_TRUNC, then fewer bytes than before

    res = _follow_result(log_file, monkeypatch, rewrite)
    assert res.stdout == NEW + LATER and "file truncated" in res.stderr


def test_follow_of_a_log_not_written_yet_waits_for_it(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "daemon-1.log"
    monkeypatch.setattr(daemon_mod, "log_path", lambda: str(path))

    def first_daemon(p: Path) -> None:
        path.write_text(LATER)

    res = _follow_result(path, monkeypatch, lambda p: None, first_daemon)
    assert res.stdout == LATER
    assert "no netdrv daemon has run in this network namespace yet; waiting" in res.stderr


def test_log_reads_the_rotated_file_for_the_last_daemons_start(log_file: Path) -> None:
    """A daemon whose log grew past its limit goes on in a new file: its start is in
    ``….log.1``, and so are the daemons before it."""
    log_file.rename(f"{log_file}.1")
    log_file.write_text(MORE)
    assert CliRunner().invoke(cli, ["log"]).output == NEW + MORE
    assert CliRunner().invoke(cli, ["log", "-a"]).output == OLD + NEW + MORE
    assert CliRunner().invoke(cli, ["log", "-n", "1"]).output == MORE
