"""Driver parameters: typed parsing, limits, choices, and actionable errors."""

from __future__ import annotations

import pytest

from netdrv_core import Param, ParameterError
from netdrv_core.params import format_params, ip_address, ip_interface, parse_bool, parse_params

PARAMS = (
    Param("lockup", int, 0, "simulate a lockup every N packets", min=0),
    Param("timeout", int, 5, "watchdog timeout", min=1, max=10_000, unit="ms"),
    Param("use_napi", bool, False, "receive through NAPI"),
    Param("name", str, "sn%d", "interface name"),
    Param("mode", str, "slip", "framing", choices=("slip", "cslip", "kiss")),
    Param("ratio", float, 0.5, "a fraction", min=0.0, max=1.0),
)


def parse(*words: str) -> dict[str, object]:
    return parse_params("snull", PARAMS, list(words))


def test_defaults_when_nothing_given() -> None:
    assert parse() == {
        "lockup": 0, "timeout": 5, "use_napi": False, "name": "sn%d", "mode": "slip",
        "ratio": 0.5,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("word", "value"),
    [("lockup=5", 5), ("lockup=0x10", 16), ("lockup=0o10", 8), ("lockup=0b11", 3),
     ("lockup=1_000", 1000), ("lockup= 7", 7)],
)  # fmt: skip
def test_int_values(word: str, value: int) -> None:
    assert parse(word)["lockup"] == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", True), ("0", False), ("y", True), ("n", False), ("Y", True), ("yes", True),
     ("no", False), ("on", True), ("off", False), ("true", True), ("FALSE", False)],
)  # fmt: skip
def test_bool_values(text: str, value: bool) -> None:
    assert parse(f"use_napi={text}")["use_napi"] is value
    assert parse_bool(text) is value


def test_str_and_choices_and_float() -> None:
    v = parse("name=eth%d", "mode=kiss", "ratio=0.25")
    assert (v["name"], v["mode"], v["ratio"]) == ("eth%d", "kiss", 0.25)
    assert parse("name=")["name"] == ""  # an empty string is a string
    assert parse("name=a=b")["name"] == "a=b"  # only the first '=' splits


@pytest.mark.parametrize(
    ("word", "fragment"),
    [("lockup=-1", "must be >= 0"), ("timeout=0", "must be >= 1"),
     ("timeout=10001", "must be <= 10000"), ("lockup=five", "bad value 'five' for lockup"),
     ("lockup=1.5", "bad value '1.5' for lockup"), ("use_napi=maybe", "expected a boolean"),
     ("mode=ppp", "must be one of slip, cslip, kiss"), ("ratio=2", "must be <= 1.0"),
     ("lockup=08", "bad value '08'")],
)  # fmt: skip
def test_ill_typed_or_out_of_range_values(word: str, fragment: str) -> None:
    with pytest.raises(ParameterError) as ei:
        parse(word)
    msg = str(ei.value)
    assert fragment in msg and "snull" in msg
    name = word.split("=")[0]
    assert f"{name}=" in msg  # the parameter's description is shown


def test_unknown_parameter_lists_valid_ones_with_a_hint() -> None:
    with pytest.raises(ParameterError) as ei:
        parse("lokcup=5")
    msg = str(ei.value)
    assert "no parameter 'lokcup'" in msg and "Did you mean 'lockup'?" in msg
    for p in PARAMS:
        assert f"{p.name}=" in msg
    assert "watchdog timeout" in msg and "ms" in msg


def test_unknown_parameter_without_a_close_match_has_no_hint() -> None:
    with pytest.raises(ParameterError) as ei:
        parse("zzzzzz=1")
    assert "Did you mean" not in str(ei.value) and "Valid parameters" in str(ei.value)


@pytest.mark.parametrize("word", ["lockup", "=5", ""])
def test_malformed_word_without_equals(word: str) -> None:
    with pytest.raises(ParameterError, match="not of the form name=value") as ei:
        parse(word)
    assert "Valid parameters" in str(ei.value)


def test_no_parameters_message() -> None:
    with pytest.raises(ParameterError, match="takes no parameters"):
        parse_params("loop", (), ["x=1"])
    assert format_params(()) == "  (this driver takes no parameters)"


def test_mapping_values() -> None:
    v = parse_params("snull", PARAMS, {"lockup": "3", "use_napi": True})
    assert v["lockup"] == 3 and v["use_napi"] is True


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [({"lockup": -1}, "must be >= 0"), ({"mode": "ppp"}, "must be one of"),
     ({"timeout": 99999}, "must be <= 10000")],
)  # fmt: skip
def test_mapping_values_are_checked_too(mapping: dict[str, object], fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment):
        parse_params("snull", PARAMS, mapping)


def test_describe() -> None:
    assert PARAMS[1].describe() == "timeout=int ms (default 5): watchdog timeout"
    assert "one of slip|cslip|kiss" in PARAMS[4].describe()
    assert PARAMS[2].type_name == "bool"


def test_address_types_read_as_addresses_and_are_checked() -> None:
    addr = Param("addr", ip_interface, "198.18.0.1/24", "address")
    peer = Param("peer", ip_address, "", "peer")
    assert addr.describe().startswith("addr=address/prefix (default '198.18.0.1/24')")
    assert peer.type_name == "address"
    got = parse_params("x", (addr, peer), ["addr=2001:db8::1/64", "peer=198.18.0.2"])
    assert got == {"addr": "2001:db8::1/64", "peer": "198.18.0.2"}
    with pytest.raises(ParameterError, match=r"bad value '198\.18\.0\.300/24' for addr"):
        parse_params("x", (addr,), ["addr=198.18.0.300/24"])
    with pytest.raises(ParameterError, match="for peer"):
        parse_params("x", (peer,), ["peer=198.18.0.0/24"])


def test_a_private_converter_is_named_without_its_underscore() -> None:
    def _port(text: str) -> str:
        return text

    assert Param("port", _port, "", "a port").type_name == "port"


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [({"lockup": 3.7}, "expected int, got float 3.7"), ({"lockup": True}, "expected int, got bool"),
     ({"use_napi": 1}, "expected bool, got int 1"), ({"ratio": "x"}, "could not convert")],
)  # fmt: skip
def test_mapping_values_must_have_the_parameter_type(mapping: dict[str, object], fragment) -> None:
    with pytest.raises(ParameterError, match=fragment):
        parse_params("snull", PARAMS, mapping)


def test_an_int_is_accepted_for_a_float_parameter() -> None:
    p = Param("delay", float, 0.5, "seconds")
    assert parse_params("x", (p,), {"delay": 2}) == {"delay": 2.0}
