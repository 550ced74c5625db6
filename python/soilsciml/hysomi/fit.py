"""Train a compared HySoMi model on a trait dataset; metrics and results on the test split.

The xarray edge of the engines' HySoMi training (:meth:`AbstractEngine.fit_hysomi`):
:func:`fit_hysomi` turns a dataset from ``generate_hysomi`` into arrays, trains on the chosen
engine (``jax``, the default, or ``julia``), predicts the test split and returns a
:class:`HySoMiFitResult` (trained model, history, predictions Dataset, metrics, save/load).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from soilsciml import __version__
from soilsciml.config import HySoMiTrainConfig, load_config, save_config, to_dict
from soilsciml.data.io import json_safe, json_text
from soilsciml.engines import get_engine
from soilsciml.engines.base import HySoMiTrainingData
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = [
    "METRIC_KEYS",
    "HySoMiFitResult",
    "fit_hysomi",
    "hysomi_metrics",
    "predict_split",
    "split_arrays",
    "write_run",
]

#: The four headline metrics of every run (``metrics.json``).
METRIC_KEYS = ("l1_params", "mse_co2", "mse_hidden", "constraint_sum")
HIDDEN_STATES = tuple(s for s in model.STATE_NAMES if s != "CO2")
#: The trained model's file in a run directory, by engine: the JAX engine's equinox model, the
#: Julia engine's flat weights.
MODEL_FILES = {"jax": "model.eqx", "julia": "model.npz"}


def split_arrays(ds: xr.Dataset, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Traits (n, n_traits), pools (n, nt, 6) and true parameters (n, 13) of one split.

    Raises
    ------
    ValueError
        Naming a missing variable, or a split without samples.
    """
    for name in ("traits", "states", "params", "split"):
        if name not in ds:
            raise ValueError(f"variable '{name}' is missing; not a HySoMi trait dataset")
    chosen = ds.isel(sample=np.flatnonzero(ds["split"].values == split))
    if chosen.sizes["sample"] == 0:
        raise ValueError(f"split '{split}' has no samples")
    traits = chosen["traits"].transpose("sample", "trait").values
    states = chosen["states"].transpose("sample", "time", "state").values
    params = chosen["params"].transpose("sample", "param").values
    for name, values in (("traits", traits), ("states", states), ("params", params)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"variable '{name}' has non-finite values in split '{split}'")
    return traits, states, params


def hysomi_metrics(predictions: xr.Dataset, config: HySoMiTrainConfig) -> dict[str, Any]:
    """Test metrics of a predictions Dataset (see :meth:`HySoMiFitResult.metrics`).

    ``l1_params``: mean absolute error of the parameters scaled to [0, 1] in their box;
    ``mse_co2`` and ``mse_<state>``: mean squared error over samples and times,
    (mg C/g)^2; ``mse_hidden``: mean of the five unobserved pools' MSEs;
    ``constraint_sum``: sum over constraints of the mean soft violation on the predicted
    trajectories and parameters; ``violation_<label>`` and ``pass_rate_<label>`` per
    constraint. Samples whose solve failed are left out and counted in ``n_failed``. Values
    a model cannot produce (``ml``: everything but CO2) are None.
    """
    ok = predictions["solve_status"].values == 0
    pred = predictions["states_pred"].values[ok]
    true = predictions["states_true"].values[ok]
    out: dict[str, Any] = {"n_test": int(ok.size), "n_failed": int((~ok).sum())}
    per_state = np.mean((pred - true) ** 2, axis=(0, 1)) if ok.any() else np.full(6, np.nan)
    for i, name in enumerate(model.STATE_NAMES):
        out[f"mse_{name}"] = None if np.isnan(per_state[i]) else float(per_state[i])
    out["mse_co2"] = out["mse_CO2"]
    hidden = [out[f"mse_{s}"] for s in HIDDEN_STATES]
    out["mse_hidden"] = None if None in hidden else float(np.mean(hidden))
    params = predictions["params_pred"].values[ok]
    constraints = cons.constraint_set(config.constraints.setting, config.constraints.factors())
    if not ok.any() or np.isnan(params).any():
        out["l1_params"] = out["constraint_sum"] = None
        for c in constraints:
            out[f"violation_{c.label}"] = out[f"pass_rate_{c.label}"] = None
        return out
    span = model.UPPER - model.LOWER
    truth = predictions["params_true"].values[ok]
    out["l1_params"] = float(np.mean(np.abs(params - truth) / span))
    times = predictions["time"].values
    soft = cons.soft_losses(constraints, pred, times, params, config.constraints.temperature)
    hard = cons.hard_check(constraints, pred, times, params)
    out["constraint_sum"] = float(soft.mean(0).sum())
    for i, c in enumerate(constraints):
        out[f"violation_{c.label}"] = float(soft[:, i].mean())
        out[f"pass_rate_{c.label}"] = float(hard[:, i].mean())
    out["pass_rate_all"] = float(hard.all(-1).mean())
    return out


@dataclass(frozen=True)
class HySoMiFitResult:
    """One trained compared model and its test-split predictions.

    Parameters
    ----------
    config : HySoMiTrainConfig
    trained : Any
        The trained model of the engine named in ``predictions.attrs["engine"]``: the JAX
        engine's ``TrainedModel`` (``engines.jax.hysomi_train``) or the Julia engine's flat
        weights (dict of arrays).
    predictions : xarray.Dataset
        Test split: ``params_pred`` / ``params_true`` (sample, param), ``states_pred`` /
        ``states_true`` (sample, time, state), ``solve_status``; history on ``epoch``:
        ``train_loss``, ``validation_loss``, ``selection`` (the criterion of early stopping),
        ``validation_mse_co2``, ``validation_constraint_sum``, ``validation_failed``,
        ``learning_rate``, ``failed_solves``, ``solver_steps``, ``validation_terms`` and
        ``term_weights`` (epoch, term); attrs: run settings, ``wall_time_s``,
        ``best_epoch`` (the epoch kept, from 1; 0 for the initial weights), ``selection``,
        ``engine``.
    """

    config: HySoMiTrainConfig
    trained: Any
    predictions: xr.Dataset

    @property
    def engine(self) -> str:
        """The engine that trained the model (``jax`` for runs saved before engines were
        recorded)."""
        return str(self.predictions.attrs.get("engine", "jax"))

    def metrics(self) -> dict[str, Any]:
        """Test metrics (:func:`hysomi_metrics`) plus the wall time and epochs run."""
        out = hysomi_metrics(self.predictions, self.config)
        out["epochs_run"] = int(self.predictions.sizes["epoch"])
        out["best_epoch"] = int(self.predictions.attrs["best_epoch"])
        out["wall_time_s"] = float(self.predictions.attrs["wall_time_s"])
        return out

    def save(self, directory: str | Path) -> Path:
        """Write ``config.toml``, ``metrics.json``, ``results.nc`` and the trained model
        (``model.eqx`` from the JAX engine, ``model.npz`` from the Julia engine)."""
        from soilsciml.data.io import save_dataset

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_config(self.config, directory / "config.toml")
        metrics = json_safe(self.metrics())
        (directory / "metrics.json").write_text(json_text(metrics, indent=2) + "\n")
        save_dataset(self.predictions, directory / "results.nc")
        path = directory / MODEL_FILES[self.engine]
        if self.engine == "jax":
            import equinox as eqx

            eqx.tree_serialise_leaves(path, self.trained)
        else:
            np.savez(path, **self.trained)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> HySoMiFitResult:
        """Read a run directory written by :meth:`save`."""
        from soilsciml.data.io import load_dataset

        directory = Path(directory)
        config = load_config(directory / "config.toml", HySoMiTrainConfig)
        predictions = load_dataset(directory / "results.nc")
        engine = str(predictions.attrs.get("engine", "jax"))
        path = directory / MODEL_FILES[engine]
        if engine == "jax":
            import equinox as eqx

            from soilsciml.engines.jax.hysomi_train import skeleton

            n_traits = int(predictions.attrs["n_traits"])
            blank = skeleton(config, n_traits, predictions.sizes["time"])
            trained = eqx.tree_deserialise_leaves(path, blank)
        else:
            with np.load(path) as stored:
                trained = {key: stored[key] for key in stored.files}
        return cls(config, trained, predictions)


def fit_hysomi(
    ds: xr.Dataset,
    config: HySoMiTrainConfig | None = None,
    engine: str = "jax",
    progress: bool = True,
) -> HySoMiFitResult:
    """Train ``config.model`` on the dataset's training split, predict its test split.

    Trait standardisation is fitted on the training samples used (the first ``n_train`` of
    the training split when ``n_train`` > 0). Early stopping and the epoch kept follow the
    validation criterion ``config.selection`` (``engines.jax.hysomi_train``).

    Parameters
    ----------
    ds : xarray.Dataset
        A HySoMi trait dataset (``generate_hysomi``).
    config : HySoMiTrainConfig, optional
        The run's settings (default: the paper's).
    engine : str
        ``jax`` (default) or ``julia`` (SoilSciML.jl; see ``soilsciml engines``).
    progress : bool
        Show a progress bar over epochs (the JAX engine; the Julia engine trains without
        Python callbacks).

    Raises
    ------
    EngineUnavailableError
        When ``engine`` cannot run here; the message says how to enable it.
    """
    config = config or HySoMiTrainConfig()
    backend = get_engine(engine)
    traits, states, _ = split_arrays(ds, "train")
    if config.n_train:
        if config.n_train > traits.shape[0]:
            raise ValueError(
                f"n_train = {config.n_train} exceeds the {traits.shape[0]} training samples"
            )
        traits, states = traits[: config.n_train], states[: config.n_train]
    traits_val, states_val, _ = split_arrays(ds, "validation")
    traits_test, states_test, params_test = split_arrays(ds, "test")
    times = ds["time"].values
    data = HySoMiTrainingData(traits, states, traits_val, states_val, traits_test, times)
    start = time.perf_counter()
    fit = backend.fit_hysomi(data, config, progress)
    wall = time.perf_counter() - start
    constraints = cons.constraint_set(config.constraints.setting, config.constraints.factors())
    terms = cons.term_names(config.model, constraints)
    test_index = ds["sample"].values[ds["split"].values == "test"]
    predictions = xr.merge(
        [
            _predictions_dataset(
                test_index, times, fit.params, params_test, fit.states, states_test, fit.codes
            ),
            _history_dataset(fit.history, terms),
        ]
    )
    history = fit.history
    predictions.attrs.update(
        {
            "title": f"HySoMi {config.model} predictions on the test split",
            "model": config.model,
            "config": json.dumps(to_dict(config)),
            "n_train": int(traits.shape[0]),
            "n_traits": int(traits.shape[1]),
            # every engine records the epoch it kept on the criterion ``config.selection``
            "best_epoch": int(history["best_epoch"]),
            "selection": config.selection,
            "wall_time_s": wall,
            "engine": engine,
            "dataset_title": str(ds.attrs.get("title", "")),
            "soilsciml_version": __version__,
        }
    )
    return HySoMiFitResult(config, fit.trained, predictions)


def _predictions_dataset(
    sample, times, params, params_true, states, states_true, codes
) -> xr.Dataset:
    pools = ("sample", "time", "state")
    data = {
        "params_pred": (("sample", "param"), params, {"long_name": "predicted parameters"}),
        "params_true": (("sample", "param"), params_true, {"long_name": "true parameters"}),
        "states_pred": (pools, states, {"long_name": "predicted pools", "units": "mg C/g"}),
        "states_true": (pools, states_true, {"long_name": "true pools", "units": "mg C/g"}),
        "solve_status": (("sample",), codes, {"long_name": "solver status (0 = success)"}),
    }
    coords = {
        "sample": ("sample", sample, {"long_name": "sample index in the dataset"}),
        "time": ("time", times, {"long_name": "time since the pulse", "units": "h"}),
        "state": ("state", list(model.STATE_NAMES)),
        "param": ("param", list(model.PARAM_NAMES)),
    }
    return xr.Dataset(data, coords=coords)


#: History entry -> long name (the per-term ones are on (epoch, term)).
HISTORY_NAMES = {
    "train_loss": "mean training loss",
    "validation_loss": "training objective on the validation split",
    "selection": "validation criterion of early stopping",
    "validation_mse_co2": "validation CO2 MSE",
    "validation_constraint_sum": "validation sum of mean soft constraint violations",
    "validation_failed": "failed validation solves",
    "learning_rate": "Adam step size",
    "failed_solves": "failed training solves",
    "solver_steps": "mean accepted solver steps per training sample",
    "validation_terms": "validation loss terms",
    "term_weights": "loss weights 1/(2 s^2)",
}


def _history_dataset(history: dict[str, np.ndarray], terms: tuple[str, ...]) -> xr.Dataset:
    data = {
        name: (("epoch", "term")[: history[name].ndim], history[name], {"long_name": long_name})
        for name, long_name in HISTORY_NAMES.items()
        if name in history
    }
    coords = {"epoch": np.arange(1, len(history["train_loss"]) + 1), "term": list(terms)}
    return xr.Dataset(data, coords=coords)


def predict_split(result: HySoMiFitResult, ds: xr.Dataset, split: str = "test") -> xr.Dataset:
    """Predictions of a trained model on one split of another dataset (same traits layout).

    The returned Dataset has the prediction variables of ``result.predictions`` (no history);
    :func:`hysomi_metrics` scores it.
    """
    traits, states, params_true = split_arrays(ds, split)
    params, pred, codes = get_engine(result.engine).predict_hysomi(
        result.trained, traits, ds["time"].values, result.config
    )
    index = ds["sample"].values[ds["split"].values == split]
    return _predictions_dataset(index, ds["time"].values, params, params_true, pred, states, codes)


def write_run(result: HySoMiFitResult, directory: str | Path) -> Path:
    """Save a run (:meth:`HySoMiFitResult.save`) and its figures as PNG files."""
    from soilsciml.plots import hysomi as figures

    directory = result.save(directory)
    metrics = {result.config.model: result.metrics()}
    n_show = min(3, result.predictions.sizes["sample"])
    drawn = {
        "trajectories": figures.trajectories(result.predictions, tuple(range(n_show))),
        "training_curves": figures.training_curves(result.predictions),
        "state_mse": figures.state_mse_bars(metrics),
    }
    if result.config.model != "ml":
        drawn["constraint_violations"] = figures.constraint_violation_bars(metrics)
    for name, fig in drawn.items():
        fig.savefig(directory / f"{name}.png", dpi=110)
    return directory
