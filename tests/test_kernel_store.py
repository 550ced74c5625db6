"""Traced kernels kept on disk: loaded instead of traced, damaged files traced again."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from soilsciml.engines.jax import kernel_store
from soilsciml.engines.jax.kernel_store import StoredKernel

TRACED: collections.Counter[str] = collections.Counter()


def _damped(state: dict, forcing: list, static: tuple):
    """A small stand-in kernel with dict and list arguments and a static setting."""
    TRACED["damped"] += 1
    rate, steps = static
    y = state["y"]
    for _ in range(steps):
        y = y - rate * y + forcing[0]
    return {"y": y, "norm": jnp.sum(y**2)}, [forcing[0] * 2.0]


def _host_side(x: jax.Array, static: None):
    """A kernel JAX cannot export: a host callback has no serialisable form."""
    TRACED["host_side"] += 1
    return jax.pure_callback(np.sin, jax.ShapeDtypeStruct(x.shape, x.dtype), x)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_store, "STORE_DIRECTORY", tmp_path / "exported")
    TRACED.clear()
    return tmp_path / "exported"


def _arguments(n: int = 3):
    return {"y": jnp.linspace(0.0, 1.0, n)}, [jnp.full(n, 0.1)]


def _expected(static):
    rate, steps = static
    y, forcing = np.linspace(0.0, 1.0, 3), 0.1
    for _ in range(steps):
        y = y - rate * y + forcing
    return y


def test_a_new_kernel_loads_the_stored_trace_instead_of_tracing(store):
    static = (0.25, 4)
    first = StoredKernel("damped", _damped)
    out, doubled = first(*_arguments(), static=static)
    np.testing.assert_allclose(out["y"], _expected(static), rtol=1e-12)
    assert TRACED["damped"] == 1 and len(list(store.iterdir())) == 1
    first(*_arguments(), static=static)  # kept in the process
    assert TRACED["damped"] == 1

    # a new StoredKernel stands for a new process: same key, nothing traced
    again, doubled_again = StoredKernel("damped", _damped)(*_arguments(), static=static)
    assert TRACED["damped"] == 1
    np.testing.assert_array_equal(again["y"], out["y"])
    np.testing.assert_array_equal(doubled_again[0], doubled[0])
    assert set(again) == {"y", "norm"} and isinstance(doubled_again, list)


def test_static_settings_and_shapes_select_their_own_trace(store):
    kernel = StoredKernel("damped", _damped)
    for static in [(0.25, 4), (0.5, 4), (0.25, 2)]:
        out, _ = kernel(*_arguments(), static=static)
        np.testing.assert_allclose(out["y"], _expected(static), rtol=1e-12)
    kernel(*_arguments(5), static=(0.25, 4))
    assert TRACED["damped"] == 4 and len(list(store.iterdir())) == 4


def test_the_key_changes_with_the_package_source(store, monkeypatch):
    StoredKernel("damped", _damped)(*_arguments(), static=(0.25, 4))
    monkeypatch.setattr(kernel_store, "_environment", lambda: "an edited engine")
    StoredKernel("damped", _damped)(*_arguments(), static=(0.25, 4))
    assert TRACED["damped"] == 2 and len(list(store.iterdir())) == 2


def test_source_digest_covers_every_module_of_the_package(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    monkeypatch.setattr(kernel_store, "_PACKAGE_ROOT", package)
    digest = kernel_store.source_digest.__wrapped__
    before = digest()
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert digest() != before
    assert kernel_store.source_digest() != before  # the real package, cached per process


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_damaged_artifact_is_traced_again_and_replaced(store, damage):
    static = (0.25, 4)
    StoredKernel("damped", _damped)(*_arguments(), static=static)
    (path,) = store.iterdir()
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    else:
        blob = bytearray()
    path.write_bytes(bytes(blob))

    out, _ = StoredKernel("damped", _damped)(*_arguments(), static=static)
    np.testing.assert_allclose(out["y"], _expected(static), rtol=1e-12)
    assert TRACED["damped"] == 2
    StoredKernel("damped", _damped)(*_arguments(), static=static)  # the replacement loads
    assert TRACED["damped"] == 2


def test_an_unwritable_store_warns_and_computes(store):
    store.parent.mkdir(exist_ok=True)
    store.write_text("a file where the store's directory should be")
    with pytest.warns(RuntimeWarning, match="'damped' is not stored"):
        out, _ = StoredKernel("damped", _damped)(*_arguments(), static=(0.25, 4))
    np.testing.assert_allclose(out["y"], _expected((0.25, 4)), rtol=1e-12)


def test_a_kernel_that_cannot_be_exported_runs_traced(store):
    kernel = StoredKernel("host_side", _host_side)
    with pytest.warns(RuntimeWarning, match="'host_side' cannot be exported"):
        out = kernel(jnp.linspace(0.0, 1.0, 4), static=None)
    np.testing.assert_allclose(out, np.sin(np.linspace(0.0, 1.0, 4)), rtol=1e-12)
    kernel(jnp.linspace(0.0, 1.0, 4), static=None)
    assert TRACED["host_side"] == 1 and not store.exists()


def test_the_store_is_off_with_the_compilation_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_store, "STORE_DIRECTORY", None)
    TRACED.clear()
    out, _ = StoredKernel("damped", _damped)(*_arguments(), static=(0.25, 4))
    np.testing.assert_allclose(out["y"], _expected((0.25, 4)), rtol=1e-12)
    StoredKernel("damped", _damped)(*_arguments(), static=(0.25, 4))
    assert TRACED["damped"] == 2 and not any(tmp_path.iterdir())
