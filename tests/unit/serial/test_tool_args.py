"""The serial tools refuse nonsense arguments with a usage error, before doing anything."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from netdrv_serial import relay
from netdrv_serial.linktest import linktest_command


def test_the_relay_refuses_a_negative_line_rate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        relay.main(["--baud", "-9600", "pty:/tmp/none-a", "pty:/tmp/none-b"])
    assert exc.value.code == 2 and "--baud -9600" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "what"),
    [(["-n", "-2"], "--count"), (["--size", "70000"], "--size"), (["-d", "-1"], "--duration")],
)
def test_linktest_refuses_out_of_range_options(args: list[str], what: str) -> None:
    res = CliRunner().invoke(linktest_command, ["sl0", *args])
    assert res.exit_code == 2 and what in res.output and "Traceback" not in res.output
