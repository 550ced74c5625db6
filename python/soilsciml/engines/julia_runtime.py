"""Julia start-up for the optional Julia engine. The only module that imports juliacall.

Importing this module is cheap: juliacall is imported lazily, on the first call into Julia.
Three rules hold at start-up:

- Nothing is downloaded unless the user opts in: juliapkg runs offline
  (``PYTHON_JULIAPKG_OFFLINE=yes``) unless ``SOILSCIML_JULIA_ONLINE=1`` is set (or the user set
  ``PYTHON_JULIAPKG_OFFLINE`` explicitly). The first online start installs Julia's packages
  (and Julia itself when none is found); later starts work offline.
- Julia is not started in a process that has already imported JAX (both ship LLVM; loading
  both is a known juliacall hazard) unless ``SOILSCIML_JULIA_WITH_JAX=1`` is set. Use
  :func:`soilsciml.engines.isolated.call_in_subprocess` to run each engine in its own process.
- Julia code lives in ``julia/`` (SoilSciML.jl, declared in ``soilsciml/juliapkg.json`` as a dev
  dependency); calls go through its PythonCall extension, which converts arguments to plain
  Julia arrays and Dicts.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, MutableMapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "JULIA_PACKAGE",
    "ONLINE_ENV",
    "WITH_JAX_ENV",
    "JuliaRuntimeError",
    "call",
    "check_no_jax",
    "configure_environment",
    "find_julia",
    "float_array",
    "julia_candidates",
    "online_opt_in",
    "probe",
    "start",
    "to_numpy",
    "to_numpy_dict",
]

#: Set to 1 to let juliapkg download Julia and the Julia packages.
ONLINE_ENV = "SOILSCIML_JULIA_ONLINE"
#: Set to 1 to start Julia even though JAX is loaded in the same process.
WITH_JAX_ENV = "SOILSCIML_JULIA_WITH_JAX"
OFFLINE_ENV = "PYTHON_JULIAPKG_OFFLINE"
#: The SoilSciML.jl package of this source tree.
JULIA_PACKAGE = Path(__file__).resolve().parents[3] / "julia"
BRIDGE = "SoilSciMLPythonCallExt"
_TRUE = {"1", "yes", "true", "on"}


class JuliaRuntimeError(RuntimeError):
    """Julia could not be started or SoilSciML.jl could not be loaded."""


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def online_opt_in(environ: Mapping[str, str] | None = None) -> bool:
    """True when the user allows juliapkg to download (``SOILSCIML_JULIA_ONLINE=1``)."""
    return _environ(environ).get(ONLINE_ENV, "").strip().lower() in _TRUE


def configure_environment(environ: MutableMapping[str, str] | None = None) -> str:
    """Set ``PYTHON_JULIAPKG_OFFLINE`` before juliacall is imported and return its value.

    ``no`` when the user opted in with ``SOILSCIML_JULIA_ONLINE``; otherwise the user's own
    ``PYTHON_JULIAPKG_OFFLINE`` if set, else ``yes``.
    """
    env = os.environ if environ is None else environ
    env[OFFLINE_ENV] = "no" if online_opt_in(env) else env.get(OFFLINE_ENV, "yes")
    return env[OFFLINE_ENV]


def _juliapkg_project(env: Mapping[str, str], depot: Path) -> Path:
    """Where juliapkg keeps its Julia environment (same rules as juliapkg.state)."""
    if env.get("PYTHON_JULIAPKG_PROJECT"):
        return Path(env["PYTHON_JULIAPKG_PROJECT"])
    prefix = sys.prefix if sys.prefix != sys.base_prefix else env.get("CONDA_PREFIX")
    if prefix is None:
        return depot / "environments" / "pyjuliapkg"
    return Path(prefix) / "julia_env"


def _juliaup_executables(depot: Path) -> list[Path]:
    """Julia executables installed by juliaup (from its metadata; nothing is run)."""
    meta = depot / "juliaup" / "juliaup.json"
    try:
        versions = json.loads(meta.read_text()).get("InstalledVersions", {})
    except (OSError, ValueError):
        return []
    return [
        depot / "juliaup" / info["Path"] / "bin" / "julia"
        for info in versions.values()
        if isinstance(info, dict) and "Path" in info
    ]


def julia_candidates(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Julia executables juliapkg would consider, in its order, without downloading anything.

    ``PYTHON_JULIAPKG_EXE``; juliapkg's own install under its project
    (``<project>/pyjuliapkg/install/bin/julia``) and the executable its metadata recorded;
    juliaup's installs; ``julia`` on ``PATH``.
    """
    env = _environ(environ)
    depot_path = env.get("JULIA_DEPOT_PATH", "")
    depot = Path(depot_path.split(os.pathsep)[0]) if depot_path else Path.home() / ".julia"
    prefix = _juliapkg_project(env, depot) / "pyjuliapkg"
    candidates = [Path(env["PYTHON_JULIAPKG_EXE"])] if env.get("PYTHON_JULIAPKG_EXE") else []
    candidates.append(prefix / "install" / "bin" / "julia")
    try:
        recorded = json.loads((prefix / "meta.json").read_text()).get("executable")
    except (OSError, ValueError):
        recorded = None
    if recorded:
        candidates.append(Path(recorded))
    candidates.extend(_juliaup_executables(depot))
    on_path = shutil.which("julia", path=env.get("PATH"))
    if on_path:
        candidates.append(Path(on_path))
    return candidates


def find_julia(environ: Mapping[str, str] | None = None) -> str | None:
    """The first executable Julia among :func:`julia_candidates`, or ``None``."""
    for path in julia_candidates(environ):
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def probe(environ: Mapping[str, str] | None = None) -> str | None:
    """``None`` when the Julia engine can start here, else why not (without starting Julia)."""
    import importlib.util

    if importlib.util.find_spec("juliacall") is None:
        return "the Python package juliacall is not installed"
    if not (JULIA_PACKAGE / "Project.toml").is_file():
        return f"SoilSciML.jl was not found at {JULIA_PACKAGE} (install soilsciml from a checkout)"
    if find_julia(environ) is None and not online_opt_in(environ):
        return (
            "no Julia executable found (PYTHON_JULIAPKG_EXE, juliapkg's and juliaup's installs, "
            f"PATH) and downloads are off; install Julia >= 1.10 or set {ONLINE_ENV}=1 to let "
            "juliapkg install it"
        )
    return None


def check_no_jax(
    modules: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """Refuse to start Julia in a process that has imported JAX, unless the user opted in.

    Raises
    ------
    JuliaRuntimeError
        When ``jax`` is imported and ``SOILSCIML_JULIA_WITH_JAX`` is not set.
    """
    modules = sys.modules if modules is None else modules
    if "jax" in modules and _environ(environ).get(WITH_JAX_ENV, "").lower() not in _TRUE:
        raise JuliaRuntimeError(
            "JAX is already loaded in this process, and loading Julia next to it can crash "
            "(both ship LLVM). Run the Julia engine in its own process "
            "(soilsciml.engines.isolated.call_in_subprocess) or set "
            f"{WITH_JAX_ENV}=1 to try anyway."
        )


@cache
def _bridge() -> tuple[Any, Any]:
    """Start Julia once: ``(SoilSciML module, bridge module)``."""
    reason = probe()
    if reason is not None:
        raise JuliaRuntimeError(f"the Julia engine cannot start: {reason}")
    check_no_jax()
    configure_environment()
    import juliacall

    # A fresh module, never Main; not named SoilSciML, which would shadow the package inside it.
    module = juliacall.newmodule("SoilSciMLPython")
    try:
        module.seval("using SoilSciML")
        package = module.seval("SoilSciML")
    except juliacall.JuliaError as err:
        raise JuliaRuntimeError(
            f"SoilSciML.jl could not be loaded: {err}. If its Julia packages are not installed "
            f"yet, run once with {ONLINE_ENV}=1 (this downloads them)."
        ) from err
    bridge = module.seval(f"Base.get_extension(SoilSciML, :{BRIDGE})")
    if bridge is None:
        raise JuliaRuntimeError(f"the PythonCall extension {BRIDGE} of SoilSciML.jl did not load")
    return package, bridge


def start() -> None:
    """Start Julia and load SoilSciML.jl now rather than on the first call.

    With ``SOILSCIML_JULIA_ONLINE=1`` the first start installs the Julia packages (and Julia
    when none is found); afterwards starts work offline.
    """
    _bridge()


def call(entry_point: str, *args: Any) -> Any:
    """Call the SoilSciML.jl function ``entry_point`` with plain arguments.

    Arguments are numpy arrays, numbers, strings and (nested) dicts of them; the result is the
    Julia NamedTuple, to be converted with :func:`to_numpy` and friends.

    Raises
    ------
    ValueError
        When SoilSciML.jl rejects its input (a Julia ``ArgumentError``).
    """
    package, bridge = _bridge()
    try:
        return bridge.call(getattr(package, entry_point), *args)
    except Exception as err:
        # Julia's ArgumentError is SoilSciML.jl's "bad input": the Python ValueError.
        message = str(err)
        if type(err).__name__ == "JuliaError" and message.startswith("ArgumentError: "):
            raise ValueError(message.removeprefix("ArgumentError: ")) from err
        raise


def float_array(value: Any, name: str, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """``value`` as a C-contiguous float64 array, its shape checked (``None`` matches any size).

    Raises
    ------
    ValueError
        Naming ``name`` when the shape does not match.
    """
    array = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
    if shape is not None and (
        array.ndim != len(shape)
        or any(
            want is not None and got != want for got, want in zip(array.shape, shape, strict=True)
        )
    ):
        want = tuple("any" if s is None else s for s in shape)
        raise ValueError(f"{name} must have shape {want}; got {array.shape}")
    return array


def to_numpy(value: Any) -> np.ndarray:
    """A Julia (or any array-like) value copied into a float64 numpy array."""
    return np.array(value, dtype=np.float64)


def to_numpy_dict(mapping: Any) -> dict[str, np.ndarray]:
    """A Julia Dict (or any mapping) of arrays as a dict of numpy arrays."""
    return {str(key): to_numpy(value) for key, value in mapping.items()}
