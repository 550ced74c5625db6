"""Grid expansion: a base config and a dict of dotted field -> values become named, seeded trials.

Every trial is built (and so validated) before any compute. Trials come in a fixed order: the
Cartesian product of the grid's values, the first key varying slowest, keys in the order given.
A grid may also be a list of such dicts (sub-grids, as in scikit-learn's ``ParameterGrid``):
the trials are those of each sub-grid in turn, for settings that a single product cannot
express (an estimator depth that grows with the dataset's generator depth).

Names are read from the settings, ``<label>-<value>`` joined by ``_`` (``h1-32_h2-16_act-gelu``),
where the label is the last part of the dotted key (shortened for a few common fields, or the
whole key with ``-`` for ``.`` when two keys would share a label). Characters outside
``[A-Za-z0-9._+-]`` become ``~``. A name longer than :data:`MAX_NAME_LENGTH`, or one that would
clash with another trial's name on a case-insensitive file system, is cut and given a short hash
of the settings, so every name is unique, stable and safe as a folder name.

Each trial's seed is :func:`trial_seed` of the grid's base seed and the trial's name: the first
four bytes (little endian) of SHA-256 of ``"<base seed>/<name>"``, an integer in [0, 2**32). It
depends on nothing else, so a trial gets the same seed on every executor, machine and rerun.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from soilsciml.config import ConfigError, replace_path, to_dict

__all__ = [
    "LABELS",
    "MAX_NAME_LENGTH",
    "MAX_TRIALS",
    "GridError",
    "Trial",
    "changed_settings",
    "expand_grid",
    "fingerprint",
    "plain",
    "sub_grids",
    "trial_name",
    "trial_seed",
]

#: Short labels for common fields in trial names; other fields use their last dotted part.
LABELS = {
    "activation": "act",
    "learning_rate": "lr",
    "weight_decay": "wd",
    "noise.level": "noise",
}

#: Longest trial name kept as is; longer ones are cut and end in a hash of the settings.
MAX_NAME_LENGTH = 80

#: Most trials one grid may expand to (the product of the lengths of its value lists).
MAX_TRIALS = 100_000

_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-]")


class GridError(ConfigError):
    """A grid is malformed: unknown field, impossible or repeated value, empty list."""


@dataclass(frozen=True)
class Trial:
    """One point of a grid.

    Parameters
    ----------
    name : str
        Folder-safe, stable name built from the settings.
    settings : dict
        Dotted field -> value (plain JSON-ready data) of this point, in grid order.
    seed : int
        Seed of this trial, see :func:`trial_seed`.
    config : dataclass
        The base config with the settings applied (validated).
    part : int
        Index of the sub-grid the trial comes from (0 for a single grid).
    """

    name: str
    settings: dict[str, Any]
    seed: int
    config: Any
    part: int = 0


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as dicts, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def changed_settings(config: Any, reference: Any = None) -> dict[str, Any]:
    """The fields of the config dataclass ``config`` that differ from their defaults, as plain data.

    Nested configs are compared field by field with the default of the field that holds them,
    and appear only when some field inside differs; a field without a default always appears.
    This is what a grid fingerprint hashes, so adding a field with a default (that keeps what
    the config computed before) leaves every fingerprint unchanged.

    Parameters
    ----------
    config : dataclass
        The config.
    reference : dataclass, optional
        Compare with this config of the same class instead of the field defaults.

    Examples
    --------
    >>> from soilsciml.config import SolverConfig
    >>> changed_settings(SolverConfig(rtol=1e-6))
    {'rtol': 1e-06}
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        default = _default(f) if reference is None else getattr(reference, f.name)
        if dataclasses.is_dataclass(value) and type(default) is type(value):
            nested = changed_settings(value, default)
            if nested:
                out[f.name] = nested
        elif default is dataclasses.MISSING or plain(value) != plain(default):
            out[f.name] = plain(value)
    return out


def canonical_json(data: Any) -> str:
    """Deterministic JSON text of plain data (sorted keys, no spaces); NaN written as NaN."""
    return json.dumps(plain(data), sort_keys=True, separators=(",", ":"))


def digest(data: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def fingerprint(spec: Mapping[str, Any]) -> str:
    """Short (16 hex digits) fingerprint of everything that determines a grid's trial results."""
    return digest(spec)[:16]


def trial_seed(base_seed: int, name: str) -> int:
    """Seed of trial ``name``: first 4 bytes of SHA-256 of ``"<base_seed>/<name>"``, < 2**32."""
    return int.from_bytes(hashlib.sha256(f"{base_seed}/{name}".encode()).digest()[:4], "little")


def _labels(keys: Sequence[str]) -> dict[str, str]:
    def short(key: str) -> str:
        if key in LABELS:
            return LABELS[key]
        last = key.rpartition(".")[2]
        return LABELS.get(last, last)

    shorts = [short(k) for k in keys]
    return {
        key: label if shorts.count(label) == 1 else key.replace(".", "-")
        for key, label in zip(keys, shorts, strict=True)
    }


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "+".join(_format_value(v) for v in value)
    if isinstance(value, dict):
        return canonical_json(value)
    return str(value)


def trial_name(settings: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """Readable name of a trial from its settings (without the clash and length fallback).

    Parameters
    ----------
    settings : mapping
        Dotted field -> plain value.
    labels : mapping, optional
        Dotted field -> label; default the labels derived from the keys.
    """
    if not settings:
        return "base"
    labels = labels or _labels(list(settings))
    parts = (f"{labels[k]}-{_format_value(v)}" for k, v in settings.items())
    return _UNSAFE.sub("~", "_".join(parts))


def _with_hash(name: str, settings: Mapping[str, Any]) -> str:
    return f"{name[: MAX_NAME_LENGTH - 9]}_{digest(settings)[:8]}"


def _set(config: Any, key: str, value: Any, where: str) -> Any:
    try:
        return replace_path(config, key, value)
    except ConfigError as err:
        raise GridError(f"{where} {key} = {value!r}: {err}") from err


def _get(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


def _check_values(grid: Mapping[str, Any], where: str = "grid") -> None:
    for key, values in grid.items():
        if not isinstance(key, str) or not key:
            raise GridError(f"{where} keys must be dotted field names; got {key!r}")
        if not isinstance(values, list | tuple):
            raise GridError(f"{where}.{key} must be a list of values; got {values!r}")
        if len(values) == 0:
            raise GridError(f"{where}.{key} is an empty list; give at least one value")


def expand_grid(
    base: Any,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    seed: int = 0,
) -> list[Trial]:
    """All trials of ``grid`` over the config dataclass ``base``, validated, in product order.

    Parameters
    ----------
    base : dataclass
        The config every trial starts from.
    grid : mapping or sequence of mappings
        Dotted field -> list of values (``{"network.h1": [32, 64], "activation": ["tanh"]}``),
        or a list of such sub-grids, whose trials follow one another.
    seed : int
        Base seed; each trial's seed is ``trial_seed(seed, name)``.

    Returns
    -------
    list of Trial

    Raises
    ------
    GridError
        For a non-list or empty list, an unknown field, a value the field rejects (alone or in
        combination with the other settings), a value given twice, an empty list of sub-grids
        or the same settings in two sub-grids, before any compute.
    """
    if not dataclasses.is_dataclass(base) or isinstance(base, type):
        raise GridError(f"the base config must be a config dataclass instance; got {base!r}")
    parts = sub_grids(grid)
    size = sum(math.prod(len(values) for values in part.values()) for part in parts)
    if size > MAX_TRIALS:
        raise GridError(
            f"the grid expands to {size} trials; at most {MAX_TRIALS} (the product of the "
            "lengths of the [grid] lists, summed over sub-grids)"
        )
    points = []
    for index, part in enumerate(parts):
        where = f"grid[{index}]" if isinstance(grid, list | tuple) else "grid"
        points.extend((*point, index) for point in _product(base, part, where))
    seen: dict[str, int] = {}
    for i, (_, settings, _, _) in enumerate(points):
        key = canonical_json(settings)
        if key in seen:
            raise GridError(
                f"the settings {settings} appear twice in the grid (trials {seen[key] + 1} and "
                f"{i + 1}); give each point once"
            )
        seen[key] = i

    folded = [name.casefold() for name, *_ in points]
    trials = []
    for name, settings, config, index in points:
        if len(name) > MAX_NAME_LENGTH or folded.count(name.casefold()) > 1:
            name = _with_hash(name, settings)
        trials.append(Trial(name, settings, trial_seed(seed, name), config, index))
    return trials


def sub_grids(grid: Any) -> list[Mapping[str, Sequence[Any]]]:
    """The sub-grids of ``grid``: ``[grid]`` for a mapping, the mappings of a list (checked)."""
    if isinstance(grid, Mapping):
        parts = [grid]
    elif isinstance(grid, list | tuple) and grid:
        parts = list(grid)
    else:
        raise GridError(
            f"grid must be a table of dotted field -> values or a non-empty list of such "
            f"tables; got {grid!r}"
        )
    for index, part in enumerate(parts):
        where = "grid" if isinstance(grid, Mapping) else f"grid[{index}]"
        if not isinstance(part, Mapping):
            raise GridError(f"{where} must be a table of dotted field -> values; got {part!r}")
        _check_values(part, where)
    return parts


def _product(base: Any, grid: Mapping[str, Sequence[Any]], where: str) -> list[tuple]:
    """(name, settings, config) of each point of one Cartesian grid, before clash handling."""
    # Coerce every value once, on its own, so that bad values fail with their key named and
    # `1` and `1.0` for a float field name the same trial.
    coerced: dict[str, list[Any]] = {}
    for key, values in grid.items():
        canonical = [plain(_get(_set(base, key, v, where), key)) for v in values]
        repeated = [v for i, v in enumerate(canonical) if v in canonical[:i]]
        if repeated:
            raise GridError(f"{where}.{key} lists {repeated[0]!r} more than once")
        coerced[key] = canonical
    labels = _labels(list(coerced))
    points = []
    for combination in itertools.product(*coerced.values()):
        settings = dict(zip(coerced, combination, strict=True))
        config = base
        for key, value in settings.items():
            config = _set(config, key, value, f"trial {trial_name(settings, labels)}:")
        points.append((trial_name(settings, labels), settings, config))
    return points
