"""Noise: determinism, level and AR-1 correlation along depth."""

import numpy as np
import pytest

from soilsciml.config import NoiseConfig
from soilsciml.noise import add_noise, standard_noise


def test_seeded_noise_is_deterministic(reference_dataset):
    a = add_noise(reference_dataset, NoiseConfig(level=0.07, seed=3))
    b = add_noise(reference_dataset, NoiseConfig(level=0.07, seed=3))
    c = add_noise(reference_dataset, NoiseConfig(level=0.07, seed=4))
    np.testing.assert_array_equal(a["soc"].values, b["soc"].values)
    assert not np.array_equal(a["soc"].values, c["soc"].values)


@pytest.mark.parametrize("kind", ["iid", "ar1"])
@pytest.mark.parametrize("level", [0.07, 0.35])
def test_relative_perturbation_has_std_eta(reference_dataset, kind, level):
    noisy = add_noise(
        reference_dataset, NoiseConfig(level=level, kind=kind, seed=1, variables=("clay",))
    )
    relative = noisy["clay"].values / noisy["clay_clean"].values - 1.0
    assert relative.std() == pytest.approx(level, rel=0.1)
    np.testing.assert_array_equal(noisy["clay_clean"].values, reference_dataset["clay"].values)


def test_ar1_lag_one_correlation_along_depth():
    rng = np.random.default_rng(0)
    eps = standard_noise((4000, 30), "ar1", 0.8, rng)
    lag1 = np.corrcoef(eps[:, :-1].ravel(), eps[:, 1:].ravel())[0, 1]
    assert lag1 == pytest.approx(0.8, abs=0.1)
    assert eps.std() == pytest.approx(1.0, rel=0.05)
    iid = standard_noise((4000, 30), "iid", 0.8, rng)
    assert abs(np.corrcoef(iid[:, :-1].ravel(), iid[:, 1:].ravel())[0, 1]) < 0.05


def test_noise_settings_are_recorded_and_not_compounded(reference_dataset):
    once = add_noise(reference_dataset, NoiseConfig(level=0.35, kind="ar1", rho=0.6, seed=7))
    assert once.attrs["noise_level"] == 0.35
    assert once.attrs["noise_kind"] == "ar1"
    assert once.attrs["noise_rho"] == 0.6
    assert once.attrs["noise_seed"] == 7
    twice = add_noise(once, NoiseConfig(level=0.35, kind="ar1", rho=0.6, seed=7))
    np.testing.assert_array_equal(once["soc"].values, twice["soc"].values)
    assert (once["soc"].values >= 0).all()
