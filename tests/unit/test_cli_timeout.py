"""``--timeout`` / ``NETDRV_TIMEOUT``: a value a socket cannot wait for is a usage error."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner, Result

import netdrv_core.cli as cli_mod
from netdrv_core.cli import cli
from netdrv_core.control import DEFAULT_TIMEOUT, MAX_TIMEOUT, ControlClient, DaemonNotRunning

BAD = ["inf", "1e300", "-inf", "nan", "0", "-1", str(MAX_TIMEOUT + 1)]


def usage_error(res: Result) -> None:
    assert res.exit_code == 2, res.output
    assert "Invalid value for '--timeout'" in res.output, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)


@pytest.mark.parametrize("value", BAD)
def test_an_unusable_timeout_option_is_a_usage_error(value: str) -> None:
    usage_error(CliRunner().invoke(cli, ["--timeout", value, "status"]))


@pytest.mark.parametrize("value", BAD)
def test_an_unusable_netdrv_timeout_is_a_usage_error(value: str) -> None:
    usage_error(CliRunner().invoke(cli, ["status"], env={"NETDRV_TIMEOUT": value}))


@pytest.mark.parametrize("value", [*BAD, "abc"])
def test_a_bad_netdrv_timeout_is_named_as_the_source(value: str) -> None:
    # Not only "--timeout", which the command line does not have: the variable, and the fix.
    res = CliRunner().invoke(cli, ["status"], env={"NETDRV_TIMEOUT": value})
    assert f"(from the environment: NETDRV_TIMEOUT={value}; " in res.output, res.output
    assert "or unset it" in res.output
    # Given on the command line, it is the option's own error only.
    res = CliRunner().invoke(cli, ["--timeout", value, "status"])
    assert "NETDRV_TIMEOUT=" not in res.output, res.output


def test_the_range_is_named() -> None:
    res = CliRunner().invoke(cli, ["--timeout", "inf", "status"])
    assert f"0<x<={MAX_TIMEOUT:g}" in res.output


@pytest.mark.parametrize("value", ["0.5", "30", str(MAX_TIMEOUT)])
def test_a_usable_timeout_reaches_the_client(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[float | None] = []

    def client(timeout: float | None = DEFAULT_TIMEOUT) -> ControlClient:
        got.append(timeout)
        raise DaemonNotRunning("none here")

    monkeypatch.setattr(cli_mod, "ControlClient", client)
    for args, env in (
        (["--timeout", value, "status"], {}),
        (["status"], {"NETDRV_TIMEOUT": value}),
    ):
        res = CliRunner().invoke(cli, args, env=env)
        assert res.exit_code != 2 and "Traceback" not in res.output, res.output
    assert got == [float(value), float(value)]


@pytest.mark.parametrize(
    ("env", "expected"),
    [("inf", DEFAULT_TIMEOUT), ("1e300", DEFAULT_TIMEOUT), ("nan", DEFAULT_TIMEOUT),
     ("abc", DEFAULT_TIMEOUT), ("", DEFAULT_TIMEOUT), ("12.5", 12.5)],
)  # fmt: skip
def test_the_env_read_before_click_parses_stays_in_range(
    env: str, expected: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # main() reads NETDRV_TIMEOUT itself to bound plugin imports (setitimer overflows too)
    monkeypatch.setenv("NETDRV_TIMEOUT", env)
    assert cli_mod._timeout() == expected


def test_the_client_clamps_an_endless_timeout_and_refuses_nan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_to: list[float | None] = []
    real = socket.socket.settimeout

    def settimeout(self: socket.socket, value: float | None) -> None:
        set_to.append(value)
        real(self, value)  # raises OverflowError for inf

    monkeypatch.setattr(socket.socket, "settimeout", settimeout)
    # No daemon at the (abstract) control address of a fresh name: DaemonNotRunning, after
    # the timeout was set; never OverflowError.
    monkeypatch.setattr("netdrv_core.control.CONTROL_ADDRESS", "\0netdrv-test-no-daemon")
    for value in (float("inf"), 1e300):
        with pytest.raises(DaemonNotRunning):
            ControlClient(timeout=value)
    assert set_to == [MAX_TIMEOUT, MAX_TIMEOUT]
    with pytest.raises(ValueError, match="NaN"):
        ControlClient(timeout=float("nan"))
