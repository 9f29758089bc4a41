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


# struct ifmap (include/uapi/linux/if.h): mem_start and mem_end are unsigned long,
# base_addr an unsigned short, irq, dma and port unsigned chars; an ioctl's request
# number an unsigned int. A value that does not fit is refused, not wrapped or stored.
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("irq=256", "setting 'irq=256': irq is 0..255 (an unsigned char of struct ifmap)"),
        ("irq=-1", "setting 'irq=-1': irq is 0..255"),
        ("dma=0x100", "setting 'dma=0x100': dma is 0..255"),
        ("port=300", "setting 'port=300': port is 0..255"),
        ("base_addr=0x10000", "base_addr is 0..65535 (an unsigned short of struct ifmap)"),
        ("mem_start=-5", "mem_start is 0..18446744073709551615 (an unsigned long of struct"),
        ("mem_end=0x10000000000000000", "mem_end is 0..18446744073709551615"),
        ("ioctl=-1", "setting 'ioctl=-1': an ioctl request number is 0..4294967295"),
    ],
)
def test_a_setting_out_of_its_range_is_refused_before_any_daemon(
    setting: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import netdrv_core.cli as cli_mod

    def no_daemon_asked(*args: object, **kwargs: object) -> None:
        raise AssertionError("a daemon was asked")

    monkeypatch.setattr(cli_mod, "_client", no_daemon_asked)
    res = CliRunner().invoke(cli, ["set", "sn0", setting])
    assert res.exit_code == 1, res.output
    assert message in res.output and "Traceback" not in res.output, res.output


@pytest.mark.parametrize("field", ["irq", "dma", "port", "base_addr", "mem_start", "mem_end"])
def test_the_protocol_refuses_an_ifmap_value_out_of_its_range(field: str) -> None:
    from netdrv_core.control import ProtocolError, validate_request

    top = {"base_addr": 0xFFFF, "mem_start": 2**64 - 1, "mem_end": 2**64 - 1}.get(field, 0xFF)
    validate_request({"cmd": "set", "dev": "sn0", "ifmap": {field: top}})
    validate_request({"cmd": "set", "dev": "sn0", "ifmap": {field: 0}})
    for bad in (top + 1, -1):
        with pytest.raises(ProtocolError, match=f"{field} is 0..{top}"):
            validate_request({"cmd": "set", "dev": "sn0", "ifmap": {field: bad}})
    with pytest.raises(ProtocolError, match="ioctl"):
        validate_request({"cmd": "set", "dev": "sn0", "ioctl": 2**32})
