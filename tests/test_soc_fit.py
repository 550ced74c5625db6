"""SOC UDE training end to end: accuracy, reproducibility, failures, bad input, saving, CLI."""

import dataclasses
import json

import numpy as np
import pytest

from soilsciml.config import (
    ConfigError,
    SOCFitConfig,
    SOCGridConfig,
    SOCNetworkConfig,
    SOCSimulationConfig,
    SOCTrainConfig,
    SolverConfig,
    from_dict,
    save_config,
)
from soilsciml.data.schema import DatasetError
from soilsciml.soc.fit import fit_soc, load_soc_model
from soilsciml.soc.simulate import simulate_soc

TINY = SOCFitConfig(
    network=SOCNetworkConfig(h1=8, h2=4),
    train=SOCTrainConfig(adam_iters=5, second_iters=5),
)


@pytest.fixture(scope="module")
def small_dataset():
    return simulate_soc(SOCSimulationConfig(years=10.0, grid=SOCGridConfig(nz=10)))


@pytest.mark.slow
def test_demo_trains_case4_to_r2_0999_against_truth(tmp_path):
    """The README's demo: Case 4 (reference truth, clean, terminal t = 50, H = (32, 16), gelu,
    lr 3e-3, Adam 200 + BFGS 400 with early stopping), figures and the metrics table."""
    from soilsciml.soc.demo import run_demo

    metrics = run_demo(tmp_path, progress=False)
    assert metrics["status"] == "ok" and metrics["failed_solves"] == 0
    assert metrics["target"] == "terminal"
    assert metrics["r2_clean"] >= 0.999
    table = json.loads((tmp_path / "metrics.json").read_text())
    assert table["r2_clean"] == metrics["r2_clean"]
    assert "r2_clean" in (tmp_path / "metrics.md").read_text()
    for name in ("profiles.png", "drivers.png", "data.nc"):
        assert (tmp_path / name).is_file()
    for name in ("fit_profile", "residual_depth", "heatmap", "drivers_mid", "loss"):
        assert (tmp_path / "case4" / f"{name}.png").is_file()


def test_same_seed_reproduces_loss_history_exactly(small_dataset):
    first = fit_soc(small_dataset, TINY, progress=False)
    second = fit_soc(small_dataset, TINY, progress=False)
    assert first.history.keys() == second.history.keys() == {"adam", "bfgs"}
    for stage in first.history:
        np.testing.assert_array_equal(first.history[stage], second.history[stage])
    other = fit_soc(
        small_dataset,
        dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, seed=1)),
        progress=False,
    )
    assert not np.array_equal(other.history["adam"], first.history["adam"])
    # Same shapes and static settings: the compiled kernels are reused, not rebuilt.
    assert second.num_compiles == 0 and other.num_compiles == 0


def test_lbfgs_stage_decreases_the_loss_monotonically(small_dataset):
    train = dataclasses.replace(TINY.train, second_stage="lbfgs", second_iters=15)
    result = fit_soc(small_dataset, dataclasses.replace(TINY, train=train), progress=False)
    losses = result.history["lbfgs"]
    assert np.all(np.diff(losses) <= 0)
    assert losses[-1] < 0.5 * result.history["adam"].min()


def test_failed_solves_are_penalised_counted_and_training_completes(small_dataset):
    config = dataclasses.replace(
        TINY,
        solver=SolverConfig(max_steps=2),
        train=dataclasses.replace(TINY.train, second_stage="none"),
    )
    result = fit_soc(small_dataset, config, progress=False)
    assert result.history["adam"].size == TINY.train.adam_iters
    np.testing.assert_array_equal(result.history["adam"], 1e6)
    assert result.failed_solves >= TINY.train.adam_iters
    assert result.failed_solves == result.solver_stats["loss_evaluations"]
    assert result.status == "failed"
    assert "max_steps" in result.message and "increase solver.max_steps" in result.message
    assert result.metrics()["failed_solves"] == result.failed_solves


def test_initial_target_uses_the_epsilon_rollout(small_dataset):
    from soilsciml.config import SOCLossConfig

    config = dataclasses.replace(TINY, loss=SOCLossConfig(target="initial", lambda_coll=0.1))
    result = fit_soc(small_dataset, config, progress=False)
    fit = result.predictions
    assert fit["fit_time"].values.tolist() == [1.0]
    np.testing.assert_array_equal(
        fit["soc_fit_obs"].values[0], small_dataset["soc"].isel(time=0).values
    )
    assert result.metrics()["r2_noisy"] > 0.9
    # Only the loss arrays changed, not their shapes or the static settings: no recompilation.
    assert result.num_compiles == 0


def test_float32_fit_runs(small_dataset):
    config = dataclasses.replace(
        TINY,
        solver=SolverConfig(dtype="float32", rtol=1e-4, atol=1e-4),
        train=dataclasses.replace(TINY.train, second_stage="none"),
    )
    result = fit_soc(small_dataset, config, progress=False)
    assert result.status == "ok"
    assert np.all(np.isfinite(result.history["adam"]))
    assert result.params["P.W1"].dtype == np.float64


def test_save_load_predict_round_trip(small_dataset, tmp_path):
    result = fit_soc(small_dataset, TINY, progress=False)
    result.save(tmp_path / "run")
    for name in ("config.toml", "weights.npz", "results.nc", "metrics.json", "loss.png"):
        assert (tmp_path / "run" / name).is_file()
    model = load_soc_model(tmp_path / "run")
    assert model.config == TINY
    predicted = model.predict(small_dataset)
    np.testing.assert_allclose(predicted["soc_pred"], result.predictions["soc_pred"], rtol=1e-12)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"network": {"width": 3}}, r"unknown config key network\.width"),
        ({"solver": {"rtol": -1e-5}}, "solver.rtol must be a positive number"),
        ({"network": {"h1": 0}}, "network.h1 must be a positive integer"),
        ({"network": {"activation": "relu"}}, "network.activation must be one of"),
        ({"train": {"second_stage": "newton"}}, "train.second_stage must be one of"),
        ({"loss": {"target": "final"}}, "loss.target must be one of"),
    ],
)
def test_bad_config_is_named(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(SOCFitConfig, data)


def test_bad_dataset_fails_before_any_compute(small_dataset, monkeypatch):
    from soilsciml.engines.jax.engine import JaxEngine

    def never(*args, **kwargs):
        raise AssertionError("the engine must not run on invalid input")

    monkeypatch.setattr(JaxEngine, "fit_soc", never)
    with pytest.raises(DatasetError, match="variable 'clay'"):
        fit_soc(small_dataset.drop_vars("clay"), TINY)
    nan_start = small_dataset.copy(deep=True)
    nan_start["soc"][0, 2] = np.nan
    with pytest.raises(DatasetError, match="initial condition"):
        fit_soc(nan_start, TINY)
    with pytest.raises(ValueError, match="needs an observed profile after the first time"):
        fit_soc(small_dataset.isel(time=[0]), TINY)


def test_cli_fit_writes_run_folder(small_dataset, tmp_path):
    from soilsciml.cli import main
    from soilsciml.data.io import save_dataset

    data = save_dataset(small_dataset, tmp_path / "data.nc")
    config = save_config(TINY, tmp_path / "fit.toml")
    out = tmp_path / "run"
    code = main(["soc", "fit", str(data), "--config", str(config), "--out", str(out), "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("mse_noisy", "rmse_noisy", "r2_noisy", "mse_clean", "rmse_clean", "r2_clean"):
        assert np.isfinite(metrics[key])
    assert metrics["failed_solves"] == 0 and metrics["wall_time_s"] > 0
    for name in ("config.toml", "results.nc", "fit_profile.png", "residual_depth.png"):
        assert (out / name).is_file()
    assert (out / "heatmap.png").is_file() and (out / "drivers_mid.png").is_file()
