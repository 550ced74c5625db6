"""Shared fixtures."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import settings

# The JAX engine's compilation cache: under the temporary directory, never the user's home;
# shared by the test processes and their worker subprocesses, kept between runs.
os.environ.setdefault(
    "SOILSCIML_JAX_CACHE", str(Path(tempfile.gettempdir()) / "soilsciml-tests-jax-cache")
)

# CI runs derandomised so a red run can be reproduced; locally hypothesis explores freely.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_kernels():
    """Release every compiled JAX kernel after each test module.

    Each loaded XLA CPU executable keeps its own memory mappings; over the whole suite in one
    process they passed the kernel's limit (``vm.max_map_count``, 65530 by default; one
    process reached 20000 mappings after 41 tests) and XLA crashed the interpreter while
    loading or saving a kernel. A module that needs a kernel again compiles it or reads it
    from the persistent cache.
    """
    yield
    jax = sys.modules.get("jax")
    if jax is not None:
        jax.clear_caches()


@pytest.fixture(scope="session")
def reference_dataset():
    """The documented reference truth: Nz 30, 50 years, D = v = 1e-3, mirror boundaries.

    See docs/science/soc-ude.md#soc-truth.
    """
    from soilsciml.soc.simulate import simulate_soc

    return simulate_soc()


@pytest.fixture(scope="session")
def hysomi_quick_dataset():
    """The small HySoMi trait dataset of the quick experiments (generated once per session)."""
    from soilsciml.config import HySoMiGeneratorConfig
    from soilsciml.hysomi.data import generate_hysomi
    from soilsciml.hysomi.experiments import QUICK

    config = HySoMiGeneratorConfig(n_samples=QUICK.n_samples, chunk_size=1024)
    return generate_hysomi(config, progress=False)


@pytest.fixture
def fake_julia(monkeypatch):
    """Replace the Julia call by a recorder that checks every argument is plain data.

    ``replies[entry_point]`` computes the stand-in result from the arguments; ``calls``
    records ``(entry_point, args)``.
    """
    import numpy as np

    from soilsciml.engines import julia_runtime

    calls = []

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, np.ndarray | float | int | str | bool)

    def call(entry_point, *args):
        assert all(plain(a) for a in args), f"non-plain argument to {entry_point}"
        calls.append((entry_point, args))
        return replies[entry_point](*args)

    replies = {}
    monkeypatch.setattr(julia_runtime, "call", call)
    return SimpleNamespace(calls=calls, replies=replies)
