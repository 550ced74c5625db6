"""JAX process settings of the engine: float64 support and the persistent compilation cache.

Imported by the :mod:`soilsciml.engines.jax` package itself, so these settings are in place
before any kernel of the engine is traced, in the main process and in every grid worker.

The compilation cache keeps the compiled kernels on disk, so a second process (a grid worker,
a rerun of the demo or of a fit) loads them instead of compiling them again. It lives in the
user's cache directory (``$XDG_CACHE_HOME/soilsciml/jax``, default ``~/.cache/soilsciml/jax``;
``~/Library/Caches/soilsciml/jax`` on macOS, ``%LOCALAPPDATA%\\soilsciml\\jax`` on Windows).
:data:`CACHE_ENV` moves it (a path) or turns it off (``off``); a cache directory set for JAX
itself (``JAX_COMPILATION_CACHE_DIR``) is respected when :data:`CACHE_ENV` is unset. Deleting
the directory is always safe: JAX compiles again.

JAX does not write a kernel with a host callback to that cache, and Equinox's runtime checks
(``equinox.error_if``, which diffrax applies to every ``SaveAt(ts=...)``, so to every solve
with save points) are host callbacks in Equinox's default mode (``EQX_ON_ERROR=raise``). The
engine therefore sets ``EQX_ON_ERROR=nan`` (:data:`EQX_ERROR_MODE`) unless it is set already:
a check that fires returns NaN instead of raising, which the engine reports as a failed solve
(``non-finite``), and the HySoMi training, validation and prediction kernels and the SOC truth
can be cached. Equinox reads the variable when it is imported, so a process that imported
Equinox before the engine keeps its mode, and those kernels are compiled again per process.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

#: Equinox's runtime-error mode set by the engine where the user has not chosen one: checks
#: return NaN instead of calling back into Python, so kernels stay cacheable. Set before
#: anything of the engine imports Equinox (it reads the variable on import).
EQX_ERROR_MODE = "nan"
os.environ.setdefault("EQX_ON_ERROR", EQX_ERROR_MODE)

import jax  # noqa: E402  (after the Equinox mode, as above)

__all__ = [
    "CACHE_DIRECTORY",
    "CACHE_ENV",
    "EQX_ERROR_MODE",
    "MIN_COMPILE_TIME_S",
    "OFF_VALUES",
    "cache_directory",
    "configure",
]

#: Environment variable: a directory for the compilation cache, or ``off``.
CACHE_ENV = "SOILSCIML_JAX_CACHE"

#: Values of :data:`CACHE_ENV` that turn the cache off (case-insensitive).
OFF_VALUES = ("off", "0", "false", "no", "none")

#: Kernels that compile faster than this (s) are not written to the cache: loading an entry
#: costs a few milliseconds, and the many tiny helper kernels would only fill the directory.
MIN_COMPILE_TIME_S = 0.1


def _user_cache_root(environ: Mapping[str, str]) -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    if sys.platform == "win32" and environ.get("LOCALAPPDATA"):
        return Path(environ["LOCALAPPDATA"])
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _off(environ: Mapping[str, str]) -> bool:
    return environ.get(CACHE_ENV, "").strip().lower() in OFF_VALUES


def cache_directory(environ: Mapping[str, str] | None = None) -> Path | None:
    """The compilation cache directory that :data:`CACHE_ENV` and the platform give, or ``None``.

    Parameters
    ----------
    environ : mapping, optional
        The environment (default ``os.environ``).

    Returns
    -------
    Path or None
        ``None`` when :data:`CACHE_ENV` is one of :data:`OFF_VALUES`, or when it is unset and
        JAX was given a cache directory of its own (``JAX_COMPILATION_CACHE_DIR``).
    """
    environ = os.environ if environ is None else environ
    value = environ.get(CACHE_ENV, "").strip()
    if _off(environ):
        return None
    if value:
        return Path(value).expanduser()
    if environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    return _user_cache_root(environ) / "soilsciml" / "jax"


def configure(environ: Mapping[str, str] | None = None) -> Path | None:
    """Turn on float64 support and the compilation cache; return the cache directory in use.

    Call it before the first compilation of the process (importing the engine does). A
    directory that cannot be created leaves the cache off with a warning; the engine runs
    either way.
    """
    environ = os.environ if environ is None else environ
    jax.config.update("jax_enable_x64", True)
    if _off(environ):
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    path = cache_directory(environ)
    if path is None:  # JAX's own JAX_COMPILATION_CACHE_DIR
        own = jax.config.jax_compilation_cache_dir
        return Path(own) if own else None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        warnings.warn(
            f"JAX compilation cache off: cannot create {path} ({err}); set {CACHE_ENV} to a "
            "writable directory or to off",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)
    return path


#: The cache directory of this process (``None``: off).
CACHE_DIRECTORY = configure()
