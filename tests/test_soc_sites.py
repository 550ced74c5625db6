"""Multi-site synthetic data: one batched solve equals per-site solves."""

import numpy as np
import pytest

from soilsciml.config import NoiseConfig, SOCSimulationConfig
from soilsciml.data.schema import validate_soc_dataset
from soilsciml.engines import get_engine
from soilsciml.engines.base import SOCTruthProblem
from soilsciml.models.soc import DriverCoefficients, initial_profile
from soilsciml.noise import add_noise
from soilsciml.soc.simulate import SITE_RANGES, simulate_soc_sites


def test_batched_sites_match_individual_solves():
    config = SOCSimulationConfig(years=10.0)
    ds = simulate_soc_sites(3, config, seed=4)
    validate_soc_dataset(ds)
    assert ds["soc"].dims == ("site", "time", "depth")
    for site in range(3):
        row = ds.isel(site=site)
        for name, (lo, hi) in SITE_RANGES.items():
            assert lo <= float(row[f"site_{name}"]) <= hi
        drivers = DriverCoefficients(
            ph0=float(row["site_ph0"]), cec0=float(row["site_cec0"]), clay0=float(row["site_clay0"])
        )
        initial = initial_profile(ds["depth"].values, config.initial) / config.initial.surface
        problem = SOCTruthProblem(
            ds["depth"].values,
            ds["time"].values,
            initial * float(row["site_surface"]),
            1e-3,
            1e-3,
            "mirror",
            "reference",
            config.solver,
            drivers,
        )
        alone = get_engine("jax").simulate_soc_truth(problem)
        np.testing.assert_allclose(row["soc"].values, alone.soc, rtol=1e-6)
        np.testing.assert_allclose(row["ph"].isel(time=0, depth=0), drivers.ph0, rtol=1e-12)


def test_sites_differ_and_noise_applies_per_site():
    ds = simulate_soc_sites(4, SOCSimulationConfig(years=5.0), seed=0)
    final = ds["soc"].isel(time=-1).values
    assert np.all(np.std(final, axis=0) > 0)
    noisy = add_noise(ds, NoiseConfig(level=0.07, seed=1))
    assert noisy["soc"].shape == ds["soc"].shape
    np.testing.assert_array_equal(noisy["soc_clean"].values, ds["soc"].values)


def test_bad_site_count():
    with pytest.raises(ValueError, match="n_sites must be >= 1"):
        simulate_soc_sites(0)
