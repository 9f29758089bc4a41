"""`netdrv set` checks its arguments before it talks to a daemon."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from netdrv_core.cli import cli


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("irq=abc", "setting 'irq=abc': 'abc' is not a number"),
        ("ioctl=0x89f0:x1", "setting 'ioctl=0x89f0:x1': 'x1' is not a number"),
        ("ioctl=", "setting 'ioctl=': '' is not a number"),
        ("irq", "setting 'irq' is not name=value"),
        ("speed=10", "unknown setting 'speed'"),
    ],
)
def test_a_malformed_setting_fails_with_a_message_not_a_traceback(
    setting: str, message: str
) -> None:
    res = CliRunner().invoke(cli, ["set", "sn0", setting])
    assert res.exit_code == 1, res.output
    assert message in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_no_setting_is_a_usage_error_before_any_daemon() -> None:
    # Not the daemon's "set: give 'ifmap', 'ioctl' or 'bql'" (its request's words).
    res = CliRunner().invoke(cli, ["set", "sn0"])
    assert res.exit_code == 2, res.output
    assert "give at least one setting: irq, base_addr" in res.output
    assert "ifmap" not in res.output
