"""Shared fixtures."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI runs derandomised so a red run can be reproduced; locally hypothesis explores freely.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


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
