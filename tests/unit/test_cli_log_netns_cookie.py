"""``netdrv log`` tells a reused namespace inode from the namespace that wrote the log.

Logs are named by network-namespace inode, which the kernel reuses once a namespace
is deleted: a new namespace may find the log of a deleted one (another user's
driver).  Each daemon's ``listening`` line records the namespace's cookie
(``SO_NETNS_COOKIE``, never reused while the system runs); ``netdrv log`` shows
only the daemons of this namespace, and says so when none has run in it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import netdrv_core.control as control_mod
import netdrv_core.daemon as daemon_mod
from netdrv_core.cli import cli

OLD = (
    "2026-12-01 10:00:00,000 netdrv.daemon INFO daemon 100 listening "
    "(netns net:[4026532248], cookie 7)\n"
    "2026-12-01 10:00:01,000 netdrv.snull INFO sn0: someone else's driver\n"
)
NEW = (
    "2026-12-06 09:00:00,000 netdrv.daemon INFO daemon 200 listening "
    "(netns net:[4026532248], cookie 9)\n"
    "2026-12-06 09:00:01,000 netdrv.host INFO registered sn0 (driver snull)\n"
)
REFUSAL = (
    "the last log for this namespace inode is from an earlier namespace that no longer "
    "exists; no daemon has run in this one"
)


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "daemon-4026532248.log"
    monkeypatch.setattr(daemon_mod, "log_path", lambda: str(path))
    return path


def _cookie(monkeypatch: pytest.MonkeyPatch, cookie: int | None) -> None:
    monkeypatch.setattr(control_mod, "netns_cookie", lambda: cookie)


def test_the_log_of_an_earlier_namespace_is_refused(log_file: Path, monkeypatch) -> None:
    log_file.write_text(OLD)
    _cookie(monkeypatch, 9)
    for args in (["log"], ["log", "-a"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1, res.output
        assert REFUSAL in res.output, res.output
        assert "someone else's driver" not in res.output, res.output


def test_only_this_namespaces_daemons_are_shown(log_file: Path, monkeypatch) -> None:
    log_file.write_text(OLD + NEW)
    _cookie(monkeypatch, 9)
    assert CliRunner().invoke(cli, ["log"]).output == NEW
    assert CliRunner().invoke(cli, ["log", "-a"]).output == NEW  # not the earlier namespace's


def test_the_same_namespace_and_an_unknown_cookie_show_the_log(log_file: Path, monkeypatch) -> None:
    log_file.write_text(OLD)
    _cookie(monkeypatch, 7)
    assert CliRunner().invoke(cli, ["log"]).output == OLD
    _cookie(monkeypatch, None)  # a kernel before 5.14: as before, the last daemon's lines
    assert CliRunner().invoke(cli, ["log", "-a"]).output == OLD
    _cookie(monkeypatch, 9)  # a log written before cookies were recorded: nothing to compare
    log_file.write_text(OLD.replace(", cookie 7", ""))
    assert CliRunner().invoke(cli, ["log"]).output == OLD.replace(", cookie 7", "")


def test_follow_waits_for_this_namespaces_daemon(log_file: Path, monkeypatch) -> None:
    import netdrv_core.cli as cli_mod

    log_file.write_text(OLD)
    _cookie(monkeypatch, 9)
    naps: list[float] = []

    def sleep(seconds: float) -> None:  # the follow loop's wait: a daemon starts, then Ctrl-C
        naps.append(seconds)
        if len(naps) == 1:
            with log_file.open("a") as f:
                f.write(NEW)
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_mod.time, "sleep", sleep)
    res = CliRunner().invoke(cli, ["log", "-f"])
    assert res.exit_code == 0, res.output
    assert res.stdout == NEW, res.stdout
    assert REFUSAL in res.stderr, res.stderr


def test_netns_cookie_is_this_namespaces() -> None:
    """A u64 from SO_NETNS_COOKIE (Linux >= 5.14), the same each time; None before."""
    cookie = control_mod.netns_cookie()
    assert cookie is None or (cookie > 0 and cookie == control_mod.netns_cookie())


def test_a_user_whose_log_is_an_earlier_namespaces_is_pointed_to_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's own log for this inode is an earlier namespace's, and root's daemon has a
    log for it: as when the user has none, the error points to root's log, rather than
    saying that no daemon has run in this namespace."""
    import netdrv_core.cli as cli_mod

    roots = tmp_path / "run-netdrv"
    roots.mkdir()
    (roots / "daemon-4026532248.log").write_text(NEW)
    monkeypatch.setattr(cli_mod, "ROOT_RUN_DIR", str(roots))
    monkeypatch.setattr(cli_mod.os, "geteuid", lambda: 1000)
    mine = tmp_path / "xdg" / "netdrv" / "daemon-4026532248.log"
    mine.parent.mkdir(parents=True)
    mine.write_text(OLD)  # this user's daemon ran in the earlier namespace only
    monkeypatch.setattr(daemon_mod, "log_path", lambda: str(mine))
    _cookie(monkeypatch, 9)

    def interrupt(seconds: float) -> None:  # -f must not wait: nothing of this user's comes
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_mod.time, "sleep", interrupt)
    for args in (["log"], ["log", "-f"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1, res.output
        assert "earlier namespace" in res.output, res.output
        assert "no daemon has run in this one" not in res.output, res.output
        assert f"root's log for it is {roots / 'daemon-4026532248.log'} (sudo netdrv log)" in (
            res.output
        ), res.output
        assert "someone else's driver" not in res.output, res.output
