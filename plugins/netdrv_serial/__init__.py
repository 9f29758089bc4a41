"""slip: IP over a serial line — SLIP, CSLIP, a PLIP-like framing and KISS, over pyserial."""

from __future__ import annotations

from typing import Any

from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers() -> list[type]:
    """Offer the serial link driver."""
    from .driver import SerialLink

    return [SerialLink]


@hookimpl
def netdrv_cli_commands(cli: Any) -> None:
    """Add ``netdrv linktest``."""
    from .linktest import linktest_command

    cli.add_command(linktest_command)
