"""Engine registry: names map to (required modules, class), checked without importing them.

``get_engine("jax")`` returns the default engine; a bad name lists the valid ones, and an
unavailable engine says how to enable it. Nothing is downloaded or imported to find out.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache

from soilsciml.engines.base import AbstractEngine

__all__ = ["ENGINES", "EngineUnavailableError", "available_engines", "engine_status", "get_engine"]


class EngineUnavailableError(RuntimeError):
    """The engine exists but cannot run here."""


@dataclass(frozen=True)
class EngineEntry:
    """How to find, check and enable one engine.

    Parameters
    ----------
    requires : tuple of str
        Python modules that must be importable (checked with ``find_spec``, not imported).
    target : str
        ``module:Class`` of the engine.
    enable : str
        What a user does to enable it.
    probe : str or None
        ``module:function`` returning ``None`` when ready or a reason string; it must not
        import heavy modules.
    """

    requires: tuple[str, ...]
    target: str
    enable: str
    probe: str | None = None


ENGINES: dict[str, EngineEntry] = {
    "jax": EngineEntry(
        requires=("jax", "diffrax", "equinox", "optax", "optimistix"),
        target="soilsciml.engines.jax.engine:JaxEngine",
        enable="pip install soilsciml (JAX is a core dependency)",
    ),
    "julia": EngineEntry(
        requires=("juliacall",),
        target="soilsciml.engines.julia_engine:JuliaEngine",
        enable=(
            'pip install -e ".[julia]" from a source checkout (installs juliacall), install Julia '
            ">= 1.10 (julia on PATH or PYTHON_JULIAPKG_EXE set), then run once with "
            "SOILSCIML_JULIA_ONLINE=1 so that juliapkg installs the Julia packages (nothing is "
            "downloaded otherwise)"
        ),
        probe="soilsciml.engines.julia_runtime:probe",
    ),
}


def _resolve(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def engine_status(name: str) -> str | None:
    """``None`` when engine ``name`` can run here, else the reason it cannot."""
    entry = ENGINES[name]
    missing = [m for m in entry.requires if importlib.util.find_spec(m) is None]
    if missing:
        return f"missing Python module(s) {', '.join(missing)}"
    if entry.probe is not None:
        return _resolve(entry.probe)()
    return None


def available_engines() -> dict[str, str | None]:
    """Every registered engine with ``None`` (ready) or the reason it is unavailable."""
    return {name: engine_status(name) for name in ENGINES}


@cache
def get_engine(name: str = "jax") -> AbstractEngine:
    """Return the engine called ``name``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the registered engines).
    EngineUnavailableError
        When the engine cannot run here (the message says why and how to enable it).
    """
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; available engines: {', '.join(ENGINES)}")
    reason = engine_status(name)
    if reason is not None:
        ready = [n for n, r in available_engines().items() if r is None]
        raise EngineUnavailableError(
            f"engine {name!r} is unavailable: {reason}. To enable it: {ENGINES[name].enable}. "
            f"Engines ready here: {', '.join(ready) or 'none'}"
        )
    return _resolve(ENGINES[name].target)()
