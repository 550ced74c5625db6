"""Noise-aware SOC training: robust losses, held-out early stopping, denoising, ensembles."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

from soilsciml.config import (
    ConfigError,
    NoiseConfig,
    SOCFitConfig,
    SOCGridConfig,
    SOCLossConfig,
    SOCNetworkConfig,
    SOCSimulationConfig,
    SOCTrainConfig,
    from_dict,
)
from soilsciml.data.schema import DatasetError
from soilsciml.engines.jax.ude import DATA_LOSSES
from soilsciml.metrics import interval_coverage
from soilsciml.models.soc_ude import layer_shapes
from soilsciml.noise import add_noise
from soilsciml.soc.ensemble import predictive_band
from soilsciml.soc.fit import fit_soc
from soilsciml.soc.noise_aware import holdout_depths, smooth_in_depth
from soilsciml.soc.simulate import simulate_soc

jax.config.update("jax_enable_x64", True)

RESIDUAL = np.array([-0.3, -0.02, 0.0, 0.01, 0.04, 0.5])
PREDICTION = np.array([0.2, 0.5, 1.0, 1.2, 0.8, 0.4])
MASK = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
PARAMS = {
    "huber_delta": 0.05,
    "student_dof": 3.0,
    "noise_eta": 0.35,
    "noise_floor": 0.01,
    "aux.log_scale": np.log(0.07),
}


def _loss(kind, residual=RESIDUAL, params=PARAMS):
    return float(DATA_LOSSES[kind](jnp.asarray(residual), MASK, PREDICTION, params))


def test_losses_match_their_closed_forms():
    keep = MASK > 0
    r = RESIDUAL[keep]
    huber = np.where(np.abs(r) <= 0.05, 0.5 * r**2, 0.05 * (np.abs(r) - 0.025))
    assert _loss("huber") == pytest.approx(huber.mean(), rel=1e-12)
    student = -stats.t.logpdf(r, df=3.0, scale=0.07)
    assert _loss("student_t") == pytest.approx(student.mean(), rel=1e-10)
    sd = 0.35 * np.abs(PREDICTION[keep]) + 0.01
    assert _loss("heteroscedastic") == pytest.approx(
        -stats.norm.logpdf(r, scale=sd).mean(), rel=1e-10
    )
    assert _loss("mse") == pytest.approx(np.mean(r**2), rel=1e-12)


def test_student_t_gradient_matches_finite_differences():
    def loss(log_scale, residual):
        return DATA_LOSSES["student_t"](
            residual, MASK, PREDICTION, {**PARAMS, "aux.log_scale": log_scale}
        )

    grad = jax.grad(loss, argnums=(0, 1))(jnp.log(0.07), jnp.asarray(RESIDUAL))
    h = 1e-6
    fd_scale = (loss(np.log(0.07) + h, RESIDUAL) - loss(np.log(0.07) - h, RESIDUAL)) / (2 * h)
    assert float(grad[0]) == pytest.approx(float(fd_scale), rel=1e-6)
    bump = np.eye(RESIDUAL.size)[4] * h
    fd_r = (loss(np.log(0.07), RESIDUAL + bump) - loss(np.log(0.07), RESIDUAL - bump)) / (2 * h)
    assert float(grad[1][4]) == pytest.approx(float(fd_r), rel=1e-6)


def test_an_outlier_moves_robust_fits_less_than_mse():
    """Fit a constant to five points near 1 and one outlier at 5."""
    data = np.array([1.0, 1.05, 0.95, 1.02, 0.98, 5.0])
    ones = np.ones_like(data)

    def estimate(kind):
        def objective(c):
            residual = c[0] - jnp.asarray(data)
            return float(
                DATA_LOSSES[kind](residual, ones, ones * c[0], {**PARAMS, "huber_delta": 0.1})
            )

        return optimize.minimize(objective, [data.mean()], method="Nelder-Mead").x[0]

    shift = {kind: abs(estimate(kind) - 1.0) for kind in ("mse", "huber", "student_t")}
    assert shift["mse"] == pytest.approx(4.0 / 6.0, rel=1e-3)
    assert shift["huber"] < 0.1 and shift["student_t"] < 0.05


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"loss": {"kind": "cauchy"}}, "loss.kind"),
        ({"loss": {"huber_delta": 0.0}}, "loss.huber_delta"),
        ({"loss": {"noise_eta": -0.1}}, "loss.noise_eta"),
        ({"train": {"holdout": "1"}}, "train.holdout"),
        ({"train": {"holdout": "every_depth"}}, "train.holdout"),
    ],
)
def test_bad_noise_aware_config_is_named(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(SOCFitConfig, data)


def test_holdout_depths_and_heteroscedastic_needs_a_noise_level():
    np.testing.assert_array_equal(holdout_depths(10, "every_fourth_depth"), [2, 6])
    np.testing.assert_array_equal(holdout_depths(7, "3"), [1, 4])
    assert holdout_depths(7, "none").size == 0
    clean = simulate_soc(SOCSimulationConfig(years=2.0, grid=SOCGridConfig(nz=8)))
    config = SOCFitConfig(loss=SOCLossConfig(kind="heteroscedastic"))
    with pytest.raises(DatasetError, match="noise_level"):
        fit_soc(clean, config, progress=False)
    with pytest.raises(ConfigError, match="jax engine"):
        fit_soc(clean, config, engine="julia", progress=False)


def test_depth_smoothing_keeps_linear_profiles_and_reduces_noise():
    clean = simulate_soc(SOCSimulationConfig(years=3.0))
    noisy = add_noise(clean, NoiseConfig(level=0.35, seed=3))
    smoothed = smooth_in_depth(noisy, bandwidth=0.1)
    ramp = np.broadcast_to(2.0 * clean["depth"].values, clean["ph"].shape)
    linear = smooth_in_depth(clean.assign(ph=clean["ph"].copy(data=ramp)))
    np.testing.assert_allclose(linear["ph"].values, ramp, atol=1e-12)
    for name in ("ph", "cec", "clay"):
        before = np.abs(noisy[name] - noisy[f"{name}_clean"]).mean()
        after = np.abs(smoothed[name] - smoothed[f"{name}_clean"]).mean()
        assert after < 0.9 * before, name  # AR-1 noise is correlated over ~0.15 m
    np.testing.assert_array_equal(smoothed["soc"].values[1:], noisy["soc"].values[1:])
    assert (
        np.abs(smoothed["soc"][0] - noisy["soc_clean"][0]).mean()
        < np.abs(noisy["soc"][0] - noisy["soc_clean"][0]).mean()
    )
    with pytest.raises(ValueError, match="bandwidth"):
        smooth_in_depth(noisy, bandwidth=0.0)


def test_interval_coverage_and_bands_on_constructed_data():
    truth = np.array([0.0, 1.0, 2.0, 3.0, np.nan])
    assert interval_coverage(truth, truth - 0.5, truth + 0.5) == 1.0
    assert interval_coverage(truth, np.array([0.5, 0.5, 0.5, 0.5, 0.0]), 2.5) == 0.5
    members = np.array([[1.0, 2.0], [1.2, 2.4], [0.8, 1.6]])
    lower, upper = predictive_band(members, 0.0)
    np.testing.assert_allclose(lower, np.quantile(members, 0.05, axis=0))
    wide_lower, wide_upper = predictive_band(members, 0.1)
    assert np.all(wide_lower < lower) and np.all(wide_upper > upper)
    # one member and Gaussian noise: the band is m (1 +- 1.645 eta)
    lone_lower, lone_upper = predictive_band(np.array([[1.0]]), 0.1, draws=200_000)
    assert lone_lower[0] == pytest.approx(1 - 0.1645, abs=2e-3)
    assert lone_upper[0] == pytest.approx(1 + 0.1645, abs=2e-3)


@pytest.fixture(scope="module")
def noisy_small():
    clean = simulate_soc(SOCSimulationConfig(years=10.0, grid=SOCGridConfig(nz=12)))
    return add_noise(clean, NoiseConfig(level=0.2, seed=1))


SMALL = SOCFitConfig(
    network=SOCNetworkConfig(h1=8, h2=4),
    loss=SOCLossConfig(kind="student_t"),
    train=SOCTrainConfig(adam_iters=15, second_stage="none", holdout="every_fourth_depth"),
)


@pytest.mark.slow
def test_student_t_with_holdout_fit_is_finite_and_reproducible(noisy_small):
    first = fit_soc(noisy_small, SMALL, progress=False)
    second = fit_soc(noisy_small, SMALL, progress=False)
    assert second.num_compiles == 0
    for stage in first.history:
        np.testing.assert_array_equal(first.history[stage], second.history[stage])
    metrics = first.metrics()
    assert first.status == "ok" and np.isfinite(metrics["r2_clean"])
    assert np.isfinite(metrics["rmse_holdout_clean"]) and np.isfinite(metrics["rmse_holdout_noisy"])
    assert metrics["learned_scale"] > 0
    held_out = first.solver_stats["holdout_history"]
    assert held_out.size == sum(len(h) for h in first.history.values())
    assert first.params.keys() == layer_shapes(8, 4).keys()  # the learned scale stays aside


@pytest.mark.slow
def test_cli_ensemble_band_contains_the_mean(noisy_small, tmp_path):
    from soilsciml.cli import main
    from soilsciml.config import save_config
    from soilsciml.data.io import load_dataset, save_dataset

    save_dataset(noisy_small, tmp_path / "data.nc")
    tiny = SOCFitConfig(
        network=SOCNetworkConfig(h1=8, h2=4),
        train=SOCTrainConfig(adam_iters=10, second_stage="none"),
    )
    save_config(tiny, tmp_path / "fit.toml")
    code = main(
        [
            "soc",
            "ensemble",
            str(tmp_path / "data.nc"),
            "--members",
            "3",
            "--config",
            str(tmp_path / "fit.toml"),
            "--quiet",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    result = load_dataset(tmp_path / "run" / "results.nc")
    assert result.sizes["member"] == 3
    np.testing.assert_allclose(result["soc_mean"], result["soc_member"].mean("member"), rtol=1e-12)
    assert np.all(result["soc_lower"] <= result["soc_mean"])
    assert np.all(result["soc_mean"] <= result["soc_upper"])
    assert np.all(result["soc_lower"] <= result["soc_lower_epistemic"])
    assert metrics["num_compiles_after_first"] == 0
    assert metrics["noise_eta"] == 0.2 and metrics["noise_eta_source"] == "dataset noise_level"
    expected = interval_coverage(
        result["soc_fit_clean"].values, result["soc_lower"].values, result["soc_upper"].values
    )
    assert metrics["coverage_clean"] == expected
    assert (tmp_path / "run" / "fit_profile.png").is_file()
    assert (tmp_path / "run" / "member_2" / "weights.npz").is_file()


@pytest.mark.slow
def test_noise_aware_case_rows_score_the_profile_and_the_whole_trajectory():
    from soilsciml.soc.noise_aware_cases import markdown_table, run_case

    with pytest.raises(ValueError, match="unknown option 'nope'"):
        run_case(3, ("nope",), quick=True)
    (row,) = run_case(3, ("mse",), quick=True)
    assert row["option"] == "mse" and row["status"] == "ok"
    for key in ("r2_noisy", "r2_clean", "r2_clean_trajectory"):
        assert np.isfinite(row[key]) and row[key] <= 1.0
    line = markdown_table(3, [row]).splitlines()[-1]
    assert line.startswith(f"| {row['description']} | {row['r2_noisy']:.4f} |")
    assert f"| {row['r2_clean_trajectory']:.4g} |" in line
