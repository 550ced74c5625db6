"""Declared domains: every setting states what values it accepts, one validator checks them all.

A settings class is declared with :func:`settings` (a frozen dataclass whose ``__post_init__``
first runs :func:`check_domains`) and each of its fields with :func:`setting`, which records
the field's :class:`Domain` in the field's metadata, next to its default::

    @settings("grid")
    class SOCGridConfig:
        nz: int = setting(30, ge=3, le=2000)
        depth: float = setting(1.0, gt=0, le=100)

The validator reads the field's type from its annotation and the domain from its metadata:

- ``int``: a Python integer, never a bool, within ``ge``/``gt`` .. ``le``/``lt``. Every integer
  setting has an upper bound (``le``) that keeps memory and run time sane (network widths,
  iterations, grid points, samples, seeds < 2**32).
- ``float``: a real number (int or float, never a bool or a string), finite unless
  ``finite=False``, within its bounds.
- ``str``: a string; one of ``choices`` when given, else non-empty.
- ``bool``: ``True`` or ``False`` only.
- ``tuple[X, ...]``: a tuple of at most ``max_items`` items, each checked against ``items``
  (a :class:`Domain` of its own), of exactly ``length`` items when that is given.
- ``X | None``: ``None`` or an ``X``.
- a nested settings class: an instance of it (validated when it was built).

Errors are :class:`ConfigError` messages naming the setting with its section
(``network.h1 must be a positive integer <= 4096; got 1000000000``). ``fraction=True`` marks a
relative level (0.07 for 7 %): a value in (1, 100] then gets the hint "did you mean 0.07?".

A class's ``__post_init__`` keeps only what a domain cannot say: checks across fields
(``trait_min < trait_max``), parsing (``holdout``), lookups in other tables (constraint labels).

Adding a setting: give it ``setting(default, ...)`` with its bounds; ``tests/test_config.py``
fails for a field without a declared domain or a default outside it, and for a stale domain
table in ``docs/data-conventions.md`` (regenerate it with :func:`domain_table`).
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, TypeVar

__all__ = [
    "MAX_SEED",
    "ConfigError",
    "Domain",
    "check_domains",
    "domain_of",
    "domain_table",
    "setting",
    "settings",
    "settings_classes",
]

T = TypeVar("T")

#: Largest seed any setting accepts (seeds are drawn below 2**32 by the grid search).
MAX_SEED = 2**32 - 1

_DOMAIN_KEY = "soilsciml.domain"
UNSUPPORTED = "unsupported type"
_REGISTRY: list[type] = []
_HINTS: dict[type, dict[str, Any]] = {}


class ConfigError(ValueError):
    """A setting is unknown or has an impossible value."""


@dataclass(frozen=True)
class Domain:
    """The values one setting accepts.

    Parameters
    ----------
    ge, gt, le, lt : float or None
        Inclusive (``ge``, ``le``) or strict (``gt``, ``lt``) bounds of a number.
    choices : tuple or None
        The allowed values of a string setting.
    finite : bool
        Whether a float must be finite (default); ``False`` admits +-inf (never NaN).
    items : Domain or None
        The domain of each item of a tuple setting.
    length, max_items : int or None
        Exact and largest number of items of a tuple setting.
    fraction : bool
        The setting is a relative level (0.07 for 7 %): too large values get a hint.
    note : str
        What the setting must be, in words, where its class checks more than the domain
        says (``train.holdout``); replaces the generated text in messages and the table.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    finite: bool = True
    items: Domain | None = None
    length: int | None = None
    max_items: int | None = None
    fraction: bool = False
    note: str = ""

    def bounds_text(self) -> str:
        """The bounds as text: ``> 0 and <= 1`` (empty without bounds)."""
        parts = []
        if self.gt is not None:
            parts.append(f"> {_number(self.gt)}")
        if self.ge is not None:
            parts.append(f">= {_number(self.ge)}")
        if self.lt is not None:
            parts.append(f"< {_number(self.lt)}")
        if self.le is not None:
            parts.append(f"<= {_number(self.le)}")
        return " and ".join(parts)

    def text(self, kind: Any) -> str:
        """What the setting must be, in words: ``a positive integer <= 4096``."""
        if self.note:
            return self.note
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        origin = typing.get_origin(kind)
        if origin is tuple:
            inner = typing.get_args(kind)[0]
            items = self.items or Domain()
            if self.length is not None:
                size = f"exactly {self.length}"
            elif self.max_items is not None:
                size = f"at most {self.max_items}"
            else:
                size = "any number of"
            return f"a list of {size} items, each {items.text(inner)}"
        if kind is bool:
            return "true or false"
        if kind is str:
            return "a non-empty string"
        if kind is int or kind is float:
            return self._number_text(kind)
        return f"a {getattr(kind, '__name__', kind)}"

    def _number_text(self, kind: type) -> str:
        noun = "integer" if kind is int else "number"
        if self.gt == 0 or (kind is int and self.ge == 1):
            head, rest = f"a positive {noun}", dataclasses.replace(self, gt=None, ge=None)
        elif self.ge == 0:
            head, rest = f"a non-negative {noun}", dataclasses.replace(self, ge=None)
        else:
            head = "a finite number" if self.finite else "a number"
            head, rest = ("an integer" if kind is int else head), self
        return f"{head} {rest.bounds_text()}".strip()

    def violation(self, value: Any, kind: Any) -> str | None:
        """Why ``value`` is outside the domain of a setting of type ``kind`` (None if inside)."""
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            if value is None:
                return None
            kind = _plain_kind(kind)
        if typing.get_origin(kind) is tuple:
            return self._tuple_violation(value, typing.get_args(kind)[0])
        if dataclasses.is_dataclass(kind):
            return None if isinstance(value, kind) else "wrong type"
        if kind is bool:
            return None if isinstance(value, bool) else "wrong type"
        if kind is str:
            if not isinstance(value, str):
                return "wrong type"
            if self.choices is not None:
                return None if value in self.choices else "not a choice"
            return None if value.strip() else "empty"
        if kind is int and (isinstance(value, bool) or not isinstance(value, Integral)):
            return "wrong type"
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, Real):
                return "wrong type"
            if math.isnan(value) or (self.finite and math.isinf(value)):
                return "not finite"
        if kind in (int, float):
            return self._bound_violation(value)
        return UNSUPPORTED

    def _bound_violation(self, value: Any) -> str | None:
        if self.gt is not None and not value > self.gt:
            return "too small"
        if self.ge is not None and not value >= self.ge:
            return "too small"
        if self.lt is not None and not value < self.lt:
            return "too large"
        if self.le is not None and not value <= self.le:
            return "too large"
        if self.choices is not None and value not in self.choices:
            return "not a choice"
        return None

    def _tuple_violation(self, value: Any, inner: Any) -> str | None:
        if not isinstance(value, tuple):
            return "wrong type"
        if self.length is not None and len(value) != self.length:
            return "wrong length"
        if self.max_items is not None and len(value) > self.max_items:
            return "too many items"
        items = self.items or Domain()
        if any(items.violation(v, inner) is not None for v in value):
            return "bad item"
        return None

    def hint(self, value: Any) -> str:
        """A hint for a likely slip (a percentage given for a fraction), or empty."""
        upper = self.le if self.le is not None else self.lt
        if self.fraction and isinstance(value, Real) and upper is not None and value > upper:
            guess = value / 100.0
            if self.violation(guess, float) is None:
                return f" (a fraction: 0.07 for 7 %; did you mean {guess:g}?)"
        return ""


def _number(value: float) -> str:
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:g}"


def setting(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    **domain: Any,
) -> Any:
    """A dataclass field with its declared :class:`Domain` (keywords as in :class:`Domain`).

    ``factory`` gives a default factory instead of a default (tuples built at import).
    """
    metadata = {_DOMAIN_KEY: Domain(**domain)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@typing.dataclass_transform(frozen_default=True, field_specifiers=(setting, dataclasses.field))
def settings(section: str = "") -> Callable[[type[T]], type[T]]:
    """Declare a settings class: a frozen dataclass validated against its fields' domains.

    Parameters
    ----------
    section : str
        The dotted name of the class inside a whole config (``"network"``), used in error
        messages and in the domain table; empty for a top-level config.
    """

    def decorate(cls: type[T]) -> type[T]:
        own_check = cls.__dict__.get("__post_init__")

        def __post_init__(self) -> None:
            check_domains(self)
            if own_check is not None:
                own_check(self)

        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
        cls.__settings_section__ = section  # type: ignore[attr-defined]
        cls.__settings_module__ = cls.__module__  # type: ignore[attr-defined]
        out = dataclass(frozen=True)(cls)
        _REGISTRY.append(out)
        return out

    return decorate


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        module = sys.modules[getattr(cls, "__settings_module__", cls.__module__)]
        _HINTS[cls] = typing.get_type_hints(cls, globalns=vars(module))
    return _HINTS[cls]


def domain_of(cls: type, name: str) -> Domain | None:
    """The declared domain of field ``name`` of ``cls`` (None for a nested config or none)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get(_DOMAIN_KEY)
    raise KeyError(name)


def qualified(cls: type, name: str) -> str:
    """``section.name`` of a setting, as error messages name it."""
    section = getattr(cls, "__settings_section__", "")
    return f"{section}.{name}" if section else name


def check_domains(config: Any) -> None:
    """Check every field of a settings instance against its declared domain.

    Raises
    ------
    ConfigError
        Naming the first setting outside its domain, what it must be and what it got.
    """
    cls = type(config)
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        domain = f.metadata.get(_DOMAIN_KEY)
        if domain is None:
            if not dataclasses.is_dataclass(kind):
                raise ConfigError(f"{qualified(cls, f.name)} has no declared domain")
            domain = Domain()
        value = getattr(config, f.name)
        problem = domain.violation(value, kind)
        if problem == UNSUPPORTED:
            raise ConfigError(
                f"{qualified(cls, f.name)} has type {kind}, which a domain cannot check: use "
                "int, float, str, bool, tuple[X, ...], X | None or a settings class"
            )
        if problem is not None:
            raise ConfigError(
                f"{qualified(cls, f.name)} must be {domain.text(_plain_kind(kind))}; "
                f"got {reprlib.repr(value)}{domain.hint(value)}"
            )


def _plain_kind(kind: Any) -> Any:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def settings_classes() -> list[type]:
    """Every class declared with :func:`settings`, in definition order."""
    return list(_REGISTRY)


def _type_name(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return f"{_type_name(_plain_kind(kind))} or none"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(kind)[0])}"
    return getattr(kind, "__name__", str(kind))


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    if dataclasses.is_dataclass(value):
        standard = type(value)()
        changed = [
            f"{g.name}={getattr(value, g.name)!r}"
            for g in dataclasses.fields(value)
            if getattr(value, g.name) != getattr(standard, g.name)
        ]
        return f"`{type(value).__name__}({', '.join(changed)})`"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value!r}`"


def domain_table() -> str:
    """Markdown tables of every setting's type, default and domain, one per settings class.

    ``docs/data-conventions.md`` holds this text (a test checks it is current).
    """
    lines = []
    for cls in _REGISTRY:
        section = getattr(cls, "__settings_section__", "")
        where = f" (`{section}`)" if section else ""
        lines += [f"### `{cls.__name__}`{where}", ""]
        lines += ["| setting | type | default | domain |", "|---|---|---|---|"]
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            kind = hints[f.name]
            domain = f.metadata.get(_DOMAIN_KEY)
            if domain is None:
                text = f"a table: see `{kind.__name__}`"
            else:
                text = domain.text(_plain_kind(kind))
                if typing.get_origin(kind) in (typing.Union, types.UnionType):
                    text += ", or none"
                if domain.fraction:
                    text += " (a fraction)"
                if kind is float and not domain.finite:
                    text += " (inf allowed)"
            name = qualified(cls, f.name)
            cells = (f"`{name}`", _type_name(kind), _default_text(f), text.replace("|", "\\|"))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
