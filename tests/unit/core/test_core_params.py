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
    [("lockup=-1", "must be >= 0"), ("timeout=0", "must be 1..10000"),
     ("timeout=10001", "must be 1..10000"), ("lockup=five", "bad value 'five' for lockup"),
     ("lockup=1.5", "bad value '1.5' for lockup"), ("use_napi=maybe", "expected a boolean"),
     ("mode=ppp", "must be one of slip, cslip, kiss"), ("ratio=2", "must be 0.0..1.0"),
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
     ({"timeout": 99999}, "must be 1..10000")],
)  # fmt: skip
def test_mapping_values_are_checked_too(mapping: dict[str, object], fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment):
        parse_params("snull", PARAMS, mapping)


def test_describe() -> None:
    assert PARAMS[1].describe() == "timeout=int ms (default 5, 1..10000): watchdog timeout"
    assert "one of slip|cslip|kiss" in PARAMS[4].describe()
    assert Param("n", int, 0, "h", min=0).describe() == "n=int (default 0, >= 0): h"
    # An empty choice is shown, not lost between separators.
    empty = Param("sim", str, "", "h", choices=("", "a"))
    assert "one of ''|a" in empty.describe()
    with pytest.raises(ValueError, match="must be one of '', a"):
        empty.check("b")
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
     ({"use_napi": 1}, "expected bool, got int 1"), ({"ratio": "x"}, "expected a number")],
)  # fmt: skip
def test_mapping_values_must_have_the_parameter_type(mapping: dict[str, object], fragment) -> None:
    with pytest.raises(ParameterError, match=fragment):
        parse_params("snull", PARAMS, mapping)


def test_an_int_is_accepted_for_a_float_parameter() -> None:
    p = Param("delay", float, 0.5, "seconds")
    assert parse_params("x", (p,), {"delay": 2}) == {"delay": 2.0}


@pytest.mark.parametrize("value", [5, None, b"eth%d", ["eth%d"], True, 1.5])
def test_mapping_values_of_a_str_parameter_must_be_str(value: object) -> None:
    with pytest.raises(ParameterError) as ei:
        parse_params("snull", PARAMS, {"name": value})
    msg = str(ei.value)
    assert msg.startswith(f"driver 'snull': bad value {value!r} for name: expected str, got ")
    assert "name=str (default 'sn%d'): interface name" in msg


def test_mapping_values_of_a_converter_parameter_must_be_text() -> None:
    import ipaddress

    addr = Param("addr", ip_interface, "198.18.0.1/24", "address")
    given = ipaddress.ip_interface("198.18.0.9/24")
    with pytest.raises(ParameterError, match=r"for addr: expected text \(address/prefix, as on"):
        parse_params("x", (addr,), {"addr": given})
    with pytest.raises(ParameterError, match="for addr: expected text"):
        parse_params("x", (addr,), {"addr": 3})
    assert parse_params("x", (addr,), {"addr": "198.18.0.9/24"}) == {"addr": "198.18.0.9/24"}


CONVERTER = Param("addr", ip_interface, "198.18.0.1/24", "address")


@pytest.mark.parametrize(
    "text",
    ["5", "0x10", "-1", "08", "five", "1.5", "", "y", "maybe", "kiss", "ppp", "nan", "inf",
     "0.25", "2", "eth%d", "198.18.0.1/24", "198.18.0.300/24", " 7"],
)  # fmt: skip
def test_the_mapping_form_refuses_and_accepts_what_the_command_line_does(text: str) -> None:
    for p in (*PARAMS, CONVERTER):
        try:
            from_words: object = parse_params("snull", (p,), [f"{p.name}={text}"])
        except ParameterError as exc:
            from_words = str(exc)
        try:
            from_mapping: object = parse_params("snull", (p,), {p.name: text})
        except ParameterError as exc:
            from_mapping = str(exc)
        assert from_mapping == from_words, p.name


def test_a_type_that_is_not_callable_is_refused_when_declared() -> None:
    with pytest.raises(TypeError, match="Param 'count': type must be int, float, bool, str or"):
        Param("count", "int", 1, "number of interfaces")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("param", "fragment"),
    [(Param("count", int, "1", "n"), "default '1' is not an int (write 1, not '1')"),
     (Param("on", bool, 1, "n"), "default 1 is not a bool"),
     (Param("name", str, None, "n"), "default None is not a str"),
     (Param("count", int, 0, "n", min=1), "default 0 is below its minimum 1"),
     (Param("mode", str, "x", "n", choices=("a", "b")), "default 'x' is not one of")],
)  # fmt: skip
def test_a_default_of_the_wrong_type_is_the_drivers_bug(param: Param, fragment: str) -> None:
    assert fragment in (param.default_problem() or "")
    with pytest.raises(ParameterError) as ei:
        parse_params("mydrv", (param,), [])
    msg = str(ei.value)
    assert msg.startswith(f"driver 'mydrv': parameter {param.name}: {fragment}")
    assert f"a bug in the driver's Param declaration; give {param.name}=VALUE" in msg
    # Given explicitly, the default is not used: loading works meanwhile.
    good = {"count": "2", "on": "0", "name": "x%d", "mode": "a"}[param.name]
    assert parse_params("mydrv", (param,), [f"{param.name}={good}"])[param.name] != param.default


def test_a_converters_default_is_not_second_guessed_when_loading() -> None:
    def _port(text: str) -> int:
        return int(text)

    p = Param("port", _port, "", "a port")  # the kit reports it; loading leaves it to the driver
    assert p.default_problem() == "default '' is not a port"
    assert parse_params("x", (p,), []) == {"port": ""}


@pytest.mark.parametrize(
    ("word", "message"),
    [("lockup=five", "expected an integer (e.g. 5, 0x1f, 0o17, 0b101), got 'five'"),
     ("lockup=08", "expected an integer without leading zeros (8, or 0o10 for octal), got '08'"),
     ("ratio=half", "expected a number (e.g. 0.5, 2, 1e-3), got 'half'")],
)  # fmt: skip
def test_number_errors_say_what_is_expected(word: str, message: str) -> None:
    with pytest.raises(ParameterError) as ei:
        parse(word)
    assert message in str(ei.value) and "invalid literal" not in str(ei.value)
