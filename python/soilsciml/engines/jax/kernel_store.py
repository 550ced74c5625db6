"""Traced kernels kept on disk, so a new process loads them instead of tracing them again.

The compilation cache (:mod:`~soilsciml.engines.jax.runtime`) keeps compiled executables,
but JAX looks an executable up by its lowered program, so every new process still traces
each kernel in Python first: for the Case 4 fit kernels that tracing (the diffrax solve and
its adjoint) is most of what a warm process pays (docs/performance.md). A
:class:`StoredKernel` keeps the traced and lowered kernel as a :mod:`jax.export` artifact in
``<compilation cache>/exported/``; a later process with the same key deserialises it (a few
milliseconds) and calls it through :func:`jax.jit`, whose executable then comes from the
compilation cache.

The key of an artifact is the kernel's name, the ``repr`` of its static settings, the tree
structure, shapes and dtypes of its arguments, the platform, float64 mode, Equinox's error
mode, the versions of JAX and of the libraries the kernels are built from, and a digest of
this package's own source files, so an edited engine never runs a stale trace. The store is
off when the compilation cache is (``SOILSCIML_JAX_CACHE=off``) or when JAX cannot
serialise (the ``flatbuffers`` package missing); a kernel that cannot be exported, or an
artifact that cannot be read (deleted, truncated, written by another version) is traced as
before: the store only ever saves time. Deleting the directory is always safe.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
import warnings
from collections.abc import Callable, Hashable
from functools import cache, partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from soilsciml.engines.jax import runtime

__all__ = ["STORE_DIRECTORY", "StoredKernel", "source_digest"]

#: Where the artifacts live (``None``: the store is off, with the compilation cache).
STORE_DIRECTORY: Path | None = (
    None if runtime.CACHE_DIRECTORY is None else runtime.CACHE_DIRECTORY / "exported"
)

#: Distributions whose code is traced into the kernels (their versions enter every key).
_TRACED_LIBRARIES = ("jax", "jaxlib", "diffrax", "equinox", "lineax", "optimistix", "optax")

#: Each artifact starts with the SHA-256 of the rest, so a damaged file is traced again.
_CHECKSUM_BYTES = 32

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@cache
def source_digest() -> str:
    """SHA-256 of every ``.py`` file of the package, with its path (hex)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


@cache
def _environment() -> str:
    libraries = ",".join(f"{name}={_version(name)}" for name in _TRACED_LIBRARIES)
    return "|".join(
        (
            libraries,
            jax.default_backend(),
            f"x64={jax.config.jax_enable_x64}",
            f"eqx={os.environ.get('EQX_ON_ERROR', '')}",
            source_digest(),
        )
    )


@cache
def _serialisable() -> bool:
    try:
        import flatbuffers  # noqa: F401  (what jax.export's serialisation needs)
    except ImportError:
        return False
    return True


def _weak(leaf) -> bool:
    return isinstance(leaf, jax.Array) and leaf.weak_type


def _leaf_type(leaf) -> tuple:
    """Shape and dtype of an argument: what selects a trace besides structure."""
    if hasattr(leaf, "dtype"):
        return np.shape(leaf), str(leaf.dtype)
    return (), str(np.result_type(leaf)), "weak"  # a Python scalar


def _named(fn: Callable, name: str) -> Callable:
    """``fn`` under ``name``, the name of its compiled kernel (``jit_<name>`` in the cache)."""

    def kernel(*args):
        return fn(*args)

    kernel.__name__ = kernel.__qualname__ = name
    return kernel


def _read(path: Path) -> bytearray:
    """The artifact at ``path``; ``ValueError`` if it does not match its checksum."""
    content = path.read_bytes()
    checksum, blob = content[:_CHECKSUM_BYTES], content[_CHECKSUM_BYTES:]
    if hashlib.sha256(blob).digest() != checksum:
        raise ValueError(f"{path} is damaged (checksum)")
    return bytearray(blob)


def _write(path: Path, blob: bytes) -> None:
    """Write ``blob`` after its checksum, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(hashlib.sha256(blob).digest() + blob)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise


class StoredKernel:
    """A compiled kernel ``fn(*args, static=...)`` whose trace is kept in the store.

    Parameters
    ----------
    name : str
        Names the kernel's artifacts (unique per kernel).
    fn : callable
        ``fn(*args, static=static)``; ``args`` are dicts, lists and tuples of arrays (what
        :mod:`jax.export` serialises), ``static`` the compile-time settings.

    Notes
    -----
    ``static`` must be hashable and its ``repr`` must describe it completely (frozen
    dataclasses and tuples of plain values do): together with the arguments' structure,
    shapes and dtypes it selects the trace. Within a process each key is traced or loaded
    once and kept, like :func:`jax.jit`'s own cache.
    """

    def __init__(self, name: str, fn: Callable) -> None:
        self.name, self.fn = name, fn
        self._kernels: dict[Hashable, Callable] = {}
        self._warned = False

    def __call__(self, *args, static: Hashable):
        leaves, treedef = jax.tree_util.tree_flatten(args)
        if any(_weak(leaf) for leaf in leaves):
            # Weakly typed arrays (``jnp.array(0)`` in an optimiser's state) turn strong in
            # a kernel's outputs; made strong here, a state passed back in keeps its key.
            leaves = [jnp.asarray(leaf, leaf.dtype) if _weak(leaf) else leaf for leaf in leaves]
            args = jax.tree_util.tree_unflatten(treedef, leaves)
        signature = (treedef, tuple(_leaf_type(leaf) for leaf in leaves), static)
        kernel = self._kernels.get(signature)
        if kernel is None:
            kernel = self._kernels[signature] = self._kernel(args, signature)
        return kernel(*args)

    def _kernel(self, args: tuple, signature: tuple) -> Callable:
        jitted = jax.jit(_named(partial(self.fn, static=signature[2]), self.name))
        if STORE_DIRECTORY is None or not _serialisable():
            return jitted
        from jax import export

        key = hashlib.sha256(f"{self.name}|{signature!r}|{_environment()}".encode()).hexdigest()
        path = STORE_DIRECTORY / f"{self.name}-{key[:32]}.jaxexport"
        try:
            exported = export.deserialize(_read(path))
        except Exception:  # missing, truncated or unreadable: trace it (again)
            try:
                blob = export.export(jitted)(*args).serialize()
            except Exception as err:  # a kernel JAX cannot export runs as before
                self._warn(f"cannot be exported ({type(err).__name__}: {err})")
                return jitted
            try:
                _write(path, blob)
            except OSError as err:  # a full or read-only disk: traced again next time
                self._warn(f"is not stored ({err})")
            # Run what a later process will load: a deserialised kernel's outputs carry no
            # weak types, so the arguments built from them give the same keys in every process.
            exported = export.deserialize(bytearray(blob))
        # One placement for every argument: an exported kernel called with a mix of placed
        # (kernel outputs) and unplaced arrays (fresh inputs) is lowered, so compiled, anew
        # for each mix; placed explicitly it compiles once.
        device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        return jax.jit(_named(exported.call, self.name), in_shardings=device)

    def _warn(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"traced kernel {self.name!r} {why}; it is traced in each new process",
                RuntimeWarning,
                stacklevel=4,
            )
