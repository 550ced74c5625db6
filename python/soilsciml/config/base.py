"""Config machinery: the shared solver settings, TOML I/O with type coercion.

Every setting declares its domain next to its definition (:mod:`soilsciml.config.domain`);
each class checks them when it is built, so loading (which also rejects unknown keys with
the key's full dotted name) fails on an impossible setting before any compute. TOML files
larger than :data:`MAX_TOML_BYTES` or nested deeper than :data:`MAX_TOML_DEPTH` are refused.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from soilsciml.config.domain import MAX_SEED, ConfigError, setting, settings

__all__ = [
    "ADJOINTS",
    "COMPATIBLE_SCHEMAS",
    "CONFIG_SCHEMA",
    "DTYPES",
    "MAX_MEMBERS",
    "MAX_SEED",
    "MAX_TOML_BYTES",
    "MAX_TOML_DEPTH",
    "SOLVERS",
    "SOLVER_CONTROLLERS",
    "ConfigError",
    "SolverConfig",
    "from_dict",
    "load_config",
    "read_toml",
    "replace_path",
    "save_config",
    "to_dict",
]

T = TypeVar("T")

SOLVERS = ("tsit5", "dopri5", "dopri8", "kvaerno5", "implicit_euler")
ADJOINTS = ("checkpoint", "backsolve", "direct", "forward")
DTYPES = ("float32", "float64")
#: Step-size controllers of ``solver.controller`` (``engines.jax.solve.CONTROLLERS``).
SOLVER_CONTROLLERS = ("integral", "pi")

#: Version of what the settings mean, recorded with every grid run (``schema`` in its
#: ``grid.toml``) and part of the grid fingerprint. Bump it when a default of a config class
#: changes what a run computes, so that run directories written under the old defaults are not
#: resumed. Adding a field whose default keeps the old results needs no bump: fingerprints hash
#: only the settings that differ from the defaults. (Version 1 hashed every setting.)
CONFIG_SCHEMA = 2

#: Earlier versions whose settings mean what they mean under :data:`CONFIG_SCHEMA`: run
#: directories written under them are still recognised and resumed. Empty it when bumping
#: :data:`CONFIG_SCHEMA` for a changed default.
COMPATIBLE_SCHEMAS: tuple[int, ...] = (1,)

#: Most members an ensemble (SOC or HySoMi) may train.
MAX_MEMBERS = 1000

#: Largest TOML file a loader reads, in bytes.
MAX_TOML_BYTES = 1_000_000
#: Deepest nesting of tables and arrays a loaded TOML file may have.
MAX_TOML_DEPTH = 32


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@settings("solver")
class SolverConfig:
    """ODE solver settings shared by every model family.

    Parameters
    ----------
    solver : str
        Integrator name: ``tsit5`` (default, as in the SOC paper), ``dopri5``, ``dopri8``,
        or the implicit ``kvaerno5`` and ``implicit_euler`` for stiff settings.
    rtol, atol : float
        Relative and absolute tolerances of the adaptive step-size controller.
    max_steps : int
        Largest number of steps, accepted and rejected, before a solve is reported as failed
        (diffrax's ``max_steps``, OrdinaryDiffEq's ``maxiters``: both count every attempt).
    dtype : str
        ``float64`` (default) or ``float32``.
    adjoint : str
        Gradient strategy: ``checkpoint`` (discretise-then-optimise, default), ``backsolve``
        (optimise-then-discretise), ``direct``, or ``forward`` (forward-mode derivatives only:
        Jacobians of a few parameters, as in a Levenberg-Marquardt fit).
    controller : str
        Step-size controller: ``integral`` (default, diffrax's I controller) or ``pi``
        (diffrax's ``PIDController`` with ``pcoeff = 0.4, icoeff = 0.3``), which took 61
        dopri5 steps instead of 67 on the Case 4 training step with the same loss to 7e-6
        (``benchmarks/soc_step.py --pi``). JAX engine only.
    """

    solver: str = setting("tsit5", choices=SOLVERS)
    rtol: float = setting(1e-5, gt=0, le=1)
    atol: float = setting(1e-5, gt=0, le=1000)
    max_steps: int = setting(100_000, ge=1, le=10_000_000)
    dtype: str = setting("float64", choices=DTYPES)
    adjoint: str = setting("checkpoint", choices=ADJOINTS)
    controller: str = setting("integral", choices=SOLVER_CONTROLLERS)


def to_dict(config: Any) -> dict[str, Any]:
    """Convert a config dataclass (nested) to plain TOML-ready data."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        elif value is not None:
            out[f.name] = value
    return out


def _coerce(value: Any, annotation: Any, path: str) -> Any:
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{path} must be a table; got {value!r}")
        return from_dict(annotation, value, prefix=f"{path}.")
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return None if value is None else _coerce(value, options[0], path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path} must be a list; got {value!r}")
        inner = typing.get_args(annotation)[0]
        return tuple(_coerce(v, inner, path) for v in value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path} must be a number; got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} must be an integer; got {value!r}")
        return value
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{path} must be true or false; got {value!r}")
    if annotation is str and not isinstance(value, str):
        raise ConfigError(f"{path} must be a string; got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build a config dataclass from plain data, rejecting unknown keys by name.

    Parameters
    ----------
    cls : type
        The dataclass to build.
    data : dict
        Plain data, as read from TOML. Missing keys take their defaults.
    prefix : str
        Dotted path of ``data`` inside the whole config, used in error messages.

    Raises
    ------
    ConfigError
        On an unknown key, a value of the wrong type or an impossible value.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        valid = ", ".join(sorted(names))
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}; valid keys here: {valid}")
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"invalid config for {prefix or cls.__name__}: {err}") from err


def replace_path(config: T, dotted: str, value: Any) -> T:
    """Return ``config`` with one (possibly nested) field replaced, e.g. ``"network.h1"``.

    The value is coerced and validated like a loaded one.
    """
    head, _, rest = dotted.partition(".")
    names = {f.name for f in dataclasses.fields(config)}
    if head not in names:
        raise ConfigError(
            f"unknown config key {dotted}; valid keys here: {', '.join(sorted(names))}"
        )
    current = getattr(config, head)
    if rest and current is None:  # an optional section not given: start from its defaults
        hint = typing.get_type_hints(type(config))[head]
        section = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        current = section[0]() if section else None
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"config key {head} has no field {rest}")
        new = replace_path(current, rest, value)
    else:
        new = _coerce(value, typing.get_type_hints(type(config))[head], dotted)
    return dataclasses.replace(config, **{head: new})


def _depth(data: Any) -> int:
    """Nesting depth of parsed TOML data (tables and arrays), without recursion."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level + 1)
            if level + 1 > MAX_TOML_DEPTH:
                break
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, level + 1) for v in items)
    return deepest


def read_toml(path: str | Path, error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """Parse a TOML file, refusing a file too large, too deeply nested or not TOML.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ConfigError
        (or ``error``) for a file over :data:`MAX_TOML_BYTES`, nested deeper than
        :data:`MAX_TOML_DEPTH`, not UTF-8 or not valid TOML.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    size = path.stat().st_size
    if size > MAX_TOML_BYTES:
        raise error(f"{path} is {size} bytes; a settings file may hold at most {MAX_TOML_BYTES}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise error(f"{path} is not UTF-8 text: {err}") from err
    except RecursionError:
        data = None
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path} is not valid TOML: {err}") from err
    if data is None or _depth(data) > MAX_TOML_DEPTH:
        raise error(
            f"{path} nests tables or arrays more than {MAX_TOML_DEPTH} levels deep; settings "
            "files are a few levels deep"
        )
    return data


def load_config(path: str | Path, cls: type[T]) -> T:
    """Read a TOML file (see :func:`read_toml`) into the config class ``cls``."""
    return from_dict(cls, read_toml(path))


def save_config(config: Any, path: str | Path) -> Path:
    """Write a config dataclass as TOML and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(to_dict(config)))
    return path
