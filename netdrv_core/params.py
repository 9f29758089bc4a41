"""Typed, documented driver parameters — the ``module_param`` of netdrv.

A driver declares ``parameters = (Param("lockup", int, 0, "…"), …)``; the
command line gives ``name=value`` words, in-process code may give a mapping.
Both forms are checked alike: unknown names, ill-typed values and a default the
driver declared of the wrong type raise
:class:`~netdrv_core.errors.ParameterError` naming the driver and the
parameter, before any device is created.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import math
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError

__all__ = ["Param", "format_params", "ip_address", "ip_interface", "parse_bool", "parse_params"]

_TRUE = {"1", "y", "yes", "true", "on"}
_FALSE = {"0", "n", "no", "false", "off"}


def parse_bool(text: str) -> bool:
    """``1/y/yes/true/on`` or ``0/n/no/false/off`` (like the kernel's ``bool`` params)."""
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError(f"expected a boolean (1/0, y/n, true/false, on/off), got {text!r}")


def _parse_int(text: str) -> int:
    try:
        return int(text, 0)  # accepts 0x.. like module_param
    except ValueError:
        pass
    if text.strip().isdigit():  # "08": base 0 refuses leading zeros (is it octal?)
        raise ValueError(
            f"expected an integer without leading zeros (8, or 0o10 for octal), got {text!r}"
        ) from None
    raise ValueError(f"expected an integer (e.g. 5, 0x1f, 0o17, 0b101), got {text!r}") from None


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number (e.g. 0.5, 2, 1e-3), got {text!r}") from None


def ip_interface(text: str) -> str:
    """Parameter type ``ADDRESS/PREFIX`` (e.g. ``198.18.0.1/24``), checked when parsed."""
    ipaddress.ip_interface(text)
    return text


def ip_address(text: str) -> str:
    """Parameter type: a plain IPv4 or IPv6 address, checked when parsed."""
    ipaddress.ip_address(text)
    return text


# What ``netdrv drivers --verbose`` and error messages call these types.
_TYPE_NAMES: dict[Any, str] = {ip_interface: "address/prefix", ip_address: "address"}
# Types whose values in-process code may give as they are (not as text).
_PLAIN_TYPES = (int, float, bool)


@dataclass(frozen=True)
class Param:
    """One driver parameter: name, type, default, help and optional limits."""

    name: str
    type: type | Callable[[str], Any]
    default: Any
    help: str
    choices: Sequence[Any] | None = None
    min: float | None = None
    max: float | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        # Caught here, at import: otherwise only a given value would fail, naming the value.
        if not callable(self.type):
            raise TypeError(
                f"Param {self.name!r}: type must be int, float, bool, str or a function "
                f"turning the text into the value, not {self.type!r}"
            )

    def convert(self, text: str) -> Any:
        """Parse ``text`` and check choices/limits; ValueError explains what is wrong."""
        if self.type is bool:
            value: Any = parse_bool(text)
        elif self.type is int:
            value = _parse_int(text)
        elif self.type is float:
            value = _parse_float(text)
        else:
            value = self.type(text)
        return self.check(value)

    def accept(self, value: Any) -> Any:
        """A value of the mapping form of :func:`parse_params`: checked as the command line's.

        Text is converted exactly as a ``name=value`` word is.  Other values are
        only taken by ``int``/``float``/``bool`` parameters, and must be of exactly
        that type (an int does for a float; a bool is not an int here); every
        other parameter wants text, which its converter checks.
        """
        if isinstance(value, str):
            return self.convert(value)
        t = self.type
        if t is str:
            raise ValueError(f"expected str, got {_describe(value)}")
        if t not in _PLAIN_TYPES:
            raise ValueError(
                f"expected text ({self.type_name}, as on the command line), got {_describe(value)}"
            )
        if t is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, t) or (t is not bool and isinstance(value, bool)):
            raise ValueError(f"expected {self.type_name}, got {_describe(value)}")
        return self.check(value)

    def check(self, value: Any) -> Any:
        """Check ``value`` against choices/limits; ValueError explains what is wrong.

        Floats must be finite: NaN compares false with every limit (it would slip
        past ``min``/``max``) and an infinite delay would stall an event loop.
        """
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number, not {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(_choice, self.choices))}")
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            raise ValueError(f"must be {self._range()}")
        return value

    def _range(self) -> str:
        """``1..65536``, ``>= 0`` or ``<= 9``: the limits, as the messages and listings say."""
        if self.min is not None and self.max is not None:
            return f"{self.min}..{self.max}"
        return f">= {self.min}" if self.min is not None else f"<= {self.max}"

    def default_problem(self) -> str | None:
        """Why the declared default is not a valid value of this parameter (None when it is).

        The default is used as it is, never converted: ``Param("count", int, "1", …)``
        would hand the driver the text ``"1"``.  A converter's type is read from its
        return annotation; without one, any default but None passes.
        """
        d, t = self.default, self.type
        if t is bool:
            ok = isinstance(d, bool)
        elif t is int:
            ok = isinstance(d, int) and not isinstance(d, bool)
        elif t is float:
            ok = isinstance(d, int | float) and not isinstance(d, bool)
        elif isinstance(t, type):
            ok = isinstance(d, t)
        else:
            try:
                ret = typing.get_type_hints(t).get("return")
            except Exception:
                ret = None
            ok = isinstance(d, ret) if isinstance(ret, type) else d is not None
        if not ok:
            hint = ""
            if isinstance(d, str) and t in _PLAIN_TYPES:
                with contextlib.suppress(ValueError):
                    hint = f" (write {self.convert(d)!r}, not {d!r})"
            return f"default {d!r} is not {_a(self.type_name)}{hint}"
        if self.choices is not None and d not in self.choices:
            return f"default {d!r} is not one of its choices {list(self.choices)}"
        if isinstance(d, int | float) and not isinstance(d, bool):
            if self.min is not None and d < self.min:
                return f"default {d!r} is below its minimum {self.min}"
            if self.max is not None and d > self.max:
                return f"default {d!r} is above its maximum {self.max}"
        return None

    @property
    def type_name(self) -> str:
        """Human name of the type."""
        name = _TYPE_NAMES.get(self.type) or str(getattr(self.type, "__name__", self.type))
        return name.lstrip("_")  # a driver's private converter: "_port" reads as "port"

    def describe(self) -> str:
        """``name=TYPE (default D): help``."""
        extra = f", one of {'|'.join(map(_choice, self.choices))}" if self.choices else ""
        if self.min is not None or self.max is not None:
            extra += f", {self._range()}"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name}={self.type_name}{unit} (default {self.default!r}{extra}): {self.help}"


def _choice(value: Any) -> str:
    """A choice as the user types it; the empty one as ``''`` (it would vanish in a list)."""
    return str(value) if value != "" else "''"


def format_params(params: Iterable[Param]) -> str:
    """One line per parameter, for error messages and ``--verbose`` listings."""
    lines = [f"  {p.describe()}" for p in params]
    return "\n".join(lines) if lines else "  (this driver takes no parameters)"


def parse_params(
    driver: str, params: Sequence[Param], args: Iterable[str] | Mapping[str, Any]
) -> dict[str, Any]:
    """Turn ``["k=v", …]`` (or a mapping) into a dict with every declared parameter set.

    A mapping's values are text, converted as on the command line, or for
    ``int``/``float``/``bool`` parameters values of that type (see
    :meth:`Param.accept`).  A default of the wrong type that would be used
    is refused as the driver's bug, naming the parameter to give instead.
    """
    decl = {p.name: p for p in params}
    values = {p.name: p.default for p in params}
    items = args.items() if isinstance(args, Mapping) else _split(driver, args, decl)
    given: set[str] = set()
    for name, raw in items:
        p = decl.get(name)
        if p is None:
            close = difflib.get_close_matches(name, decl, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(
                f"driver {driver!r} has no parameter {name!r}.{hint}\n"
                f"Valid parameters:\n{format_params(params)}"
            )
        given.add(name)
        try:
            values[name] = p.accept(raw)
        except (ValueError, TypeError) as exc:
            raise ParameterError(
                f"driver {driver!r}: bad value {_short(raw)} for {name}: {_short(exc, 300)}\n"
                f"  {p.describe()}"
            ) from None
        except ParameterError:
            raise
        except Exception as exc:
            # A plugin's converter failed some other way: still the value's fault.
            raise ParameterError(
                f"driver {driver!r}: bad value {_short(raw)} for {name}: "
                f"{type(exc).__name__}: {_short(exc, 300)}\n  {p.describe()}"
            ) from None
    for p in params:
        # Only the plain types: a converter's default is what it returns, unknown here.
        if p.name not in given and (p.type in _PLAIN_TYPES or p.type is str):
            problem = p.default_problem()
            if problem is not None:
                raise ParameterError(
                    f"driver {driver!r}: parameter {p.name}: {problem} — a bug in the "
                    f"driver's Param declaration; give {p.name}=VALUE meanwhile\n"
                    f"  {p.describe()}"
                )
    return values


def _describe(value: object) -> str:
    """``int 5``, ``NoneType None``: the type and the value, for an error message."""
    text = _short(value)
    name = type(value).__name__
    return text if text.startswith(name) else f"{name} {text}"


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _short(obj: object, limit: int = 80) -> str:
    """``repr`` (of a value) or ``str`` (of an exception), cut to ``limit`` characters."""
    text = str(obj) if isinstance(obj, BaseException) else repr(obj)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _split(driver: str, args: Iterable[str], decl: Mapping[str, Param]) -> list[tuple[str, str]]:
    out = []
    for word in args:
        name, sep, raw = word.partition("=")
        if not sep or not name:
            raise ParameterError(
                f"driver {driver!r}: parameter {word!r} is not of the form name=value\n"
                f"Valid parameters:\n{format_params(decl.values())}"
            )
        out.append((name.strip(), raw))
    return out


def check_params_error(driver: str, exc: ParameterError) -> ParameterError:
    """A ``ParameterError`` a driver's ``check_params`` raised, named like the core's own
    parameter errors (``driver 'slip:b': …``) unless the driver wrote that prefix itself."""
    msg = str(exc)
    base = driver.partition(":")[0]  # slip:b is an instance of slip (driver.split_instance)
    if msg.startswith((f"driver {driver!r}", f"driver {base!r}")):
        return exc
    return ParameterError(f"driver {driver!r}: {msg}")


def name_failed_plugins(
    exc: ParameterError, decl: Iterable[Param], args: Iterable[str],
    failed: Mapping[str, Exception], where: str = "",
) -> ParameterError:  # fmt: skip
    """``exc`` about a parameter the driver does not declare, with the plugins that failed
    to load (``failed``, by name, ``where`` they did: `` in the daemon``) named: one of
    them may be what adds it.  ``exc`` itself when no plugin failed or every parameter
    given is declared (the error is about a value)."""
    given = {a.partition("=")[0].strip() for a in args}
    if not failed or not given - {p.name for p in decl}:
        return exc
    why = "\n".join(f"  {err}" for err in failed.values())
    which, it = ("This plugin", "it") if len(failed) == 1 else ("These plugins", "one of them")
    return ParameterError(
        f"{exc}\n{which}, loaded with every driver, failed to load{where} ({it} may be "
        f"what adds the parameter):\n{why}"
    )
