"""Typed, documented driver parameters — the ``module_param`` of netdrv.

A driver declares ``parameters = (Param("lockup", int, 0, "…"), …)``; the
command line gives ``name=value`` words.  Unknown names and ill-typed values
raise :class:`~netdrv_core.errors.ParameterError` listing the valid
parameters, before any device is created.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
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
    return int(text, 0)  # accepts 0x.. like module_param


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

    def convert(self, text: str) -> Any:
        """Parse ``text`` and check choices/limits; ValueError explains what is wrong."""
        if self.type is bool:
            value: Any = parse_bool(text)
        elif self.type is int:
            value = _parse_int(text)
        else:
            value = self.type(text)  # type: ignore[call-arg]
        return self.check(value)

    def accept(self, value: Any) -> Any:
        """A value that is not text (the mapping form of :func:`parse_params`): type, then limits.

        ``int``/``float``/``bool`` parameters want exactly that type (an int does for
        a float; a bool is not an int here).  Other parameters take the value as it
        is: in-process, a ``str`` parameter may be given the object its text names
        (usbnet's ``backend``).
        """
        t = self.type
        if t is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if t in (int, float, bool) and (
            not isinstance(value, t) or (t is not bool and isinstance(value, bool))
        ):
            raise ValueError(f"expected {self.type_name}, got {type(value).__name__} {value!r}")
        return self.check(value)

    def check(self, value: Any) -> Any:
        """Check ``value`` against choices/limits; ValueError explains what is wrong.

        Floats must be finite: NaN compares false with every limit (it would slip
        past ``min``/``max``) and an infinite delay would stall an event loop.
        """
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number, not {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(str, self.choices))}")
        if self.min is not None and value < self.min:
            raise ValueError(f"must be >= {self.min}")
        if self.max is not None and value > self.max:
            raise ValueError(f"must be <= {self.max}")
        return value

    @property
    def type_name(self) -> str:
        """Human name of the type."""
        name = _TYPE_NAMES.get(self.type) or getattr(self.type, "__name__", str(self.type))
        return name.lstrip("_")  # a driver's private converter: "_port" reads as "port"

    def describe(self) -> str:
        """``name=TYPE (default D): help``."""
        extra = f", one of {'|'.join(map(str, self.choices))}" if self.choices else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name}={self.type_name}{unit} (default {self.default!r}{extra}): {self.help}"


def format_params(params: Iterable[Param]) -> str:
    """One line per parameter, for error messages and ``--verbose`` listings."""
    lines = [f"  {p.describe()}" for p in params]
    return "\n".join(lines) if lines else "  (this driver takes no parameters)"


def parse_params(
    driver: str, params: Sequence[Param], args: Iterable[str] | Mapping[str, Any]
) -> dict[str, Any]:
    """Turn ``["k=v", …]`` (or a mapping) into a dict with every declared parameter set."""
    decl = {p.name: p for p in params}
    values = {p.name: p.default for p in params}
    items = args.items() if isinstance(args, Mapping) else _split(driver, args, decl)
    for name, raw in items:
        p = decl.get(name)
        if p is None:
            close = difflib.get_close_matches(name, decl, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(
                f"driver {driver!r} has no parameter {name!r}.{hint}\n"
                f"Valid parameters:\n{format_params(params)}"
            )
        try:
            values[name] = p.convert(raw) if isinstance(raw, str) else p.accept(raw)
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
    return values


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
