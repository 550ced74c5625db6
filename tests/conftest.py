"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def reference_dataset():
    """The spec's reference truth: Nz 30, 50 years, D = v = 1e-3, mirror boundaries."""
    from soilsciml.data.synthetic import simulate_soc

    return simulate_soc()
