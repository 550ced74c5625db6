"""HySoMi training on the Julia engine, up to the Julia boundary (no Julia needed).

``fit_hysomi(..., engine="julia")`` says how to enable Julia where it is absent; with a
stand-in for juliacall, the HySoMi arguments cross the boundary as plain arrays and dicts (the
constraint table as rows of data) and Julia's results come back as a fit result that saves,
loads and predicts like the JAX engine's.
"""

import dataclasses
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from soilsciml.config import HySoMiTrainConfig, SolverConfig
from soilsciml.engines import EngineUnavailableError, get_engine, julia_runtime
from soilsciml.engines import julia_engine as je
from soilsciml.hysomi import fit as hysomi_fit
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

JULIA_READY = julia_runtime.probe() is None
CONFIG = HySoMiTrainConfig(epochs=2, width=4, depth=1, batch_size=4)
N_TRAITS, N_TIMES = 3, 5


def _dataset():
    """Nine samples (train / validation / test, three each) of a tiny trait dataset."""
    rng = np.random.default_rng(0)
    n = 9
    states = np.broadcast_to(model.INITIAL_STATE, (n, N_TIMES, 6)).copy()
    states[..., 5] = np.linspace(0.0, 0.4, N_TIMES)
    params = model.LOWER + (model.UPPER - model.LOWER) * rng.random((n, 13))
    return xr.Dataset(
        {
            "traits": (("sample", "trait"), rng.random((n, N_TRAITS))),
            "states": (("sample", "time", "state"), states),
            "params": (("sample", "param"), params),
            "split": (("sample",), np.repeat(["train", "validation", "test"], 3)),
        },
        coords={"sample": np.arange(n), "time": np.arange(float(N_TIMES))},
    )


@pytest.mark.skipif(JULIA_READY, reason="Julia is available here; the error path needs it absent")
def test_julia_training_unavailable_says_how_to_enable():
    get_engine.cache_clear()
    with pytest.raises(EngineUnavailableError) as err:
        hysomi_fit.fit_hysomi(_dataset(), CONFIG, engine="julia")
    message = str(err.value)
    assert "juliacall" in message and 'pip install -e ".[julia]"' in message
    assert "SOILSCIML_JULIA_ONLINE=1" in message


@pytest.mark.skipif(JULIA_READY, reason="Julia is available here")
def test_engines_command_says_how_to_enable_julia():
    out = subprocess.run(
        [sys.executable, "-m", "soilsciml", "engines"], capture_output=True, text=True, check=True
    )
    assert "julia  unavailable: missing Python module(s) juliacall" in out.stdout
    assert 'to enable: pip install -e ".[julia]"' in out.stdout
    assert "SOILSCIML_JULIA_ONLINE=1" in out.stdout


def _fit_reply(data, settings):
    """A stand-in ``SoilSciML.fit_hysomi``: two epochs, flat weights, test predictions."""
    n_test, nt = data["traits_test"].shape[0], data["times"].size
    n_terms = 1 + len(data["constraints"])
    history = {
        "train_loss": [3.0, 2.0],
        "validation_loss": [3.5, 2.5],
        "selection": [1.5, 1.25],
        "validation_mse_co2": [1.0, 1.0],
        "validation_constraint_sum": [0.5, 0.25],
        "validation_failed": [0.0, 0.0],
        "best_epoch": [2.0],
        "learning_rate": [0.005, 0.005],
        "failed_solves": [1.0, 0.0],
        "validation_terms": np.ones((2, n_terms)),
        "term_weights": np.full((2, n_terms), 0.5),
    }
    states = np.broadcast_to(data["initial"], (n_test, nt, 6)).copy()
    return SimpleNamespace(
        weights={"head.weight": np.ones((13, 4)), "co2_scale": np.ones(1)},
        history=history,
        params=np.broadcast_to((data["lower"] + data["upper"]) / 2, (n_test, 13)).copy(),
        states=states,
        codes=[0] * n_test,
    )


def _predict_reply(weights, traits, data, settings):
    n = traits.shape[0]
    return SimpleNamespace(
        params=np.zeros((n, 13)), states=np.zeros((n, data["times"].size, 6)), codes=[0] * n
    )


@pytest.fixture
def julia_fit(fake_julia, monkeypatch):
    """``fit_hysomi(..., engine="julia")`` on the stand-in; yields the result and the calls."""
    fake_julia.replies.update(fit_hysomi=_fit_reply, predict_hysomi=_predict_reply)
    monkeypatch.setattr(hysomi_fit, "get_engine", lambda name: je.JuliaEngine())
    result = hysomi_fit.fit_hysomi(_dataset(), CONFIG, engine="julia")
    return result, fake_julia.calls


def test_hysomi_arguments_cross_as_plain_arrays_and_dicts(julia_fit):
    _, calls = julia_fit
    [(entry_point, (data, settings))] = calls
    assert entry_point == "fit_hysomi"
    assert data["traits_train"].shape == (3, N_TRAITS) and data["traits_test"].shape == (3, 3)
    assert data["states_validation"].shape == (3, N_TIMES, 6)
    np.testing.assert_array_equal(data["lower"], model.LOWER)
    np.testing.assert_array_equal(data["initial"], model.INITIAL_STATE)
    table = cons.constraint_set("synthetic")
    assert [row["label"] for row in data["constraints"]] == [c.label for c in table]
    assert data["constraints"][5] == {
        "label": "P6",
        "lhs": "max_active",
        "rhs": "final_dormant",
        "a": 0.5,
        "b": 1.0,
    }
    assert settings["model"] == "hysomi" and settings["batch_size"] == 4
    assert settings["selection"] == "co2_constraints"  # Julia's early stopping criterion
    assert settings["sensealg"] == "forwarddiff"  # the engine's default for HySoMi
    assert settings["physics"] == dataclasses.asdict(model.PHYSICS)
    assert settings["constraints"]["temperature"] == CONFIG.constraints.temperature


def test_factors_are_sent_as_data():
    config = dataclasses.replace(
        CONFIG,
        constraints=dataclasses.replace(
            CONFIG.constraints, factor_labels=("P6", "C3"), factor_values=(0.8, 0.1)
        ),
    )
    rows = {row["label"]: row for row in je.constraint_rows(config)}
    assert rows["P6"]["a"] == 0.8 and rows["C3"]["a"] == 0.1


def test_julia_results_become_a_fit_result(julia_fit, tmp_path):
    result, _ = julia_fit
    assert result.engine == "julia"
    predictions = result.predictions
    sizes = {"sample": 3, "time": N_TIMES, "state": 6, "param": 13, "epoch": 2, "term": 15}
    assert dict(predictions.sizes) == sizes
    assert predictions["failed_solves"].values.tolist() == [1, 0]
    assert predictions.attrs["best_epoch"] == 2
    assert predictions.attrs["selection"] == "co2_constraints"
    assert predictions["selection"].values.tolist() == [1.5, 1.25]
    assert predictions["validation_failed"].values.dtype == np.int64
    metrics = result.metrics()
    assert metrics["n_failed"] == 0 and metrics["epochs_run"] == 2
    loaded = hysomi_fit.HySoMiFitResult.load(result.save(tmp_path / "run"))
    assert (tmp_path / "run" / "model.npz").is_file()
    assert loaded.engine == "julia"
    np.testing.assert_array_equal(loaded.trained["head.weight"], np.ones((13, 4)))


def test_predict_split_uses_the_training_engine(julia_fit, fake_julia):
    result, calls = julia_fit
    out = hysomi_fit.predict_split(result, _dataset(), "validation")
    assert out.sizes["sample"] == 3
    entry_point, (weights, traits, data, settings) = calls[-1]
    assert entry_point == "predict_hysomi"
    assert traits.shape == (3, N_TRAITS) and set(weights) == {"head.weight", "co2_scale"}
    assert data["times"].size == N_TIMES and settings["solver"]["dtype"] == "float64"


def test_bad_hysomi_inputs_fail_before_julia():
    ds = _dataset()
    data = hysomi_fit.HySoMiTrainingData(
        *(ds[name].values[:3] for name in ("traits", "states", "traits", "states", "traits")),
        times=ds["time"].values,
    )
    with pytest.raises(ValueError, match=r"states_train must have shape \(3, 4, 6\)"):
        je.hysomi_arguments(dataclasses.replace(data, times=np.arange(4.0)), CONFIG, "forwarddiff")
    with pytest.raises(ValueError, match="float64"):
        je.hysomi_arguments(
            data, dataclasses.replace(CONFIG, solver=SolverConfig(dtype="float32")), "forwarddiff"
        )
    with pytest.raises(ValueError, match="increasing"):
        je.hysomi_arguments(
            dataclasses.replace(data, times=np.zeros(N_TIMES)), CONFIG, "forwarddiff"
        )
