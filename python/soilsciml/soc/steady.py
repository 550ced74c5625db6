"""Steady-state fits of the SOC UDE to single-campaign profiles at many sites.

Most soil databases hold one profile per site. Assuming each is at steady state under its
site's drivers, the networks are fitted so that the steady state C* of the PDE
(dC/dt = 0, found by Newton root finds with implicit gradients,
:mod:`soilsciml.engines.jax.steady`) reproduces every measured layer mean.

What this identifies, and what it does not:

- **identified**: the steady profile and, with the transport (D, v) taken as known, the net
  source at that profile, S(C*) = NN_P - NN_R = -(D C*_zz - v C*_z): where the net source
  changes sign with depth and how it varies across sites' drivers;
- **not identified**: P and R separately (adding any g >= 0 to both changes nothing), the
  net source away from the steady state (dS/dC: how fast a disturbed profile returns, i.e.
  turnover times), and any time dependence. A steady-state model must not be used to
  forecast change; fit campaigns over time (:func:`soilsciml.soc.fit_soc`) for that.

A site with several campaigns contributes its first one.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from soilsciml.config import ConfigError, SOCFitConfig, save_config, to_dict
from soilsciml.engines.base import SOCTrajectory, SolveStatus
from soilsciml.metrics import regression_metrics
from soilsciml.models import soc_ude
from soilsciml.soc import profile_fit
from soilsciml.soc.fit import SOCModel, write_report

__all__ = ["SOCSteadyFitResult", "fit_soc_steady"]


def _arrays(problem, config: SOCFitConfig, min_relaxation: float) -> dict:
    from soilsciml.engines.jax import ude as jax_ude

    data = jax_ude.model_data(problem, config, config.solver.dtype)
    observed = problem.targets[:, 0, :]
    mask = np.isfinite(observed)
    extra = {
        "observed": np.where(mask, observed, 0.0),
        "mask": mask * 1.0,
        "observation": problem.observation,
        "lambda_term": config.loss.lambda_term,
        "lambda_coll": config.loss.lambda_coll,
        "lambda_wd": config.loss.lambda_wd,
        "min_relaxation": min_relaxation,
    }
    return {**data, **jax_ude._as_arrays(extra, config.solver.dtype)}


@dataclass(frozen=True)
class SOCSteadyFitResult:
    """A steady-state fit: the model, its steady profiles and what they identify.

    Parameters
    ----------
    model : SOCModel
        The trained networks (their time input held at 0).
    predictions : xarray.Dataset
        The dataset with ``soc_pred`` (layer means of the steady state at the fitted
        campaign), ``soc_state`` (the steady state on ``model_depth``) and ``net_source``
        (NN_P - NN_R at the steady state, % yr-1, on (site, model_depth)).
    samples : dict of str to ndarray
        Network inputs at every (site, node) of the steady states (keys of
        :data:`soilsciml.interpret.library.INPUTS`), for distillation.
    history : dict of str to ndarray
        Loss per Adam iteration.
    failed_sites : int
        Sites whose steady state the final networks do not reach.
    wall_time_s : float
        Wall-clock time in s, compilation included.
    status, message : str
        ``ok`` or ``failed``, and what happened.
    """

    model: SOCModel
    predictions: xr.Dataset
    samples: dict[str, np.ndarray]
    history: dict[str, np.ndarray]
    failed_sites: int
    wall_time_s: float
    status: str
    message: str

    def metrics(self) -> dict:
        """MSE, RMSE, R2 of the steady layer means against the observed layers (and the clean
        truth when known), and the net source's range."""
        ds = self.predictions
        fitted = (ds["campaign"].values == 1)[..., None]
        out: dict = {"mode": "steady_state"}
        for kind, name in (("observed", "soc"), ("clean", "soc_clean")):
            if name in ds:
                scores = regression_metrics(
                    np.where(fitted, ds["soc_pred"].values, np.nan), ds[name].values
                )
                out.update({f"{m}_{kind}": scores[m] for m in ("mse", "rmse", "r2")})
        source = ds["net_source"].values
        out.update(
            net_source_min=float(np.nanmin(source)),
            net_source_max=float(np.nanmax(source)),
            failed_sites=self.failed_sites,
            wall_time_s=self.wall_time_s,
            status=self.status,
            message=self.message,
            iterations={k: len(v) for k, v in self.history.items()},
        )
        return out

    def save(self, path: str | Path, figures: bool = True) -> Path:
        """Write the model, ``results.nc``, ``metrics.json``/``.md`` and figures to ``path``."""
        from soilsciml.data.io import save_dataset
        from soilsciml.plots.soc import plot_loss
        from soilsciml.plots.soc_profiles import plot_net_source, plot_profiles_by_site

        path = self.model.save(path)
        save_config(self.model.config, path / "config.toml")
        out = self.predictions.copy()
        out.attrs.update(
            status=self.status,
            message=self.message,
            fit_config=json.dumps(to_dict(self.model.config)),
        )
        save_dataset(out, path / "results.nc")
        shown = {}
        if figures:
            shown = {
                "profiles_by_site": plot_profiles_by_site(self.predictions),
                "net_source": plot_net_source(self.predictions),
                "loss": plot_loss(self.history),
            }
        return write_report(path, self.metrics(), shown)


def fit_soc_steady(
    dataset: xr.Dataset,
    config: SOCFitConfig | None = None,
    progress: bool = True,
    min_relaxation: float = 0.01,
    warmup_iters: int = 100,
) -> SOCSteadyFitResult:
    """Fit NN_P and NN_R so that each site's steady state matches its measured layers.

    Parameters
    ----------
    dataset : xarray.Dataset
        Profiles from :func:`soilsciml.soc.read_profiles` (one campaign per site is enough).
    config : SOCFitConfig, optional
        Networks (``network.input_scaling = 'standardise'`` for measured drivers), the Adam
        stage of ``train`` (the steady fit has no second stage), ``loss.lambda_term``,
        ``loss.lambda_coll`` (weight of the steady-state residual at the observed profile;
        > 0 keeps Newton's starting point near a root early on), ``loss.lambda_wd``,
        ``solver`` (``rtol``, ``atol`` and ``max_steps`` of Newton) and ``transport``.
    progress : bool
        Show a progress bar.
    min_relaxation : float
        Smallest rate (yr-1) at which the net source must fall with SOC at the observed
        profiles (weighted by ``loss.lambda_coll``): a prior that the measured steady states
        are stable. The data do not identify this rate (see the module docstring).
    warmup_iters : int
        Adam iterations on the collocation and stability terms alone (no root finds count)
        before the ``train.adam_iters`` on the whole loss; needs ``loss.lambda_coll > 0``.

    Returns
    -------
    SOCSteadyFitResult
    """
    import jax.numpy as jnp

    from soilsciml.engines.jax import steady as jax_steady
    from soilsciml.engines.jax import train as jax_train
    from soilsciml.engines.jax import ude as jax_ude

    config = config or SOCFitConfig()
    if warmup_iters and config.loss.lambda_coll <= 0:
        raise ConfigError(
            "the steady-state warm-up trains the collocation and stability terms, weighted by "
            "loss.lambda_coll: set it > 0 (e.g. 1.0) or warmup_iters = 0"
        )
    problem, grid = profile_fit.profile_problem(dataset, config)
    first = problem.targets[:, :1]
    problem = dataclasses.replace(
        problem,
        times=problem.times[:1],
        driver_times=problem.times[:1],
        drivers=problem.drivers[:1],
        targets=first,
    )
    shift, scale = soc_ude.input_scaling(problem, config.network)
    problem = dataclasses.replace(problem, input_shift=shift, input_scale=scale)
    data = _arrays(problem, config, min_relaxation)
    static = jax_ude.static_settings(config, problem.boundary)
    failures = []

    def step(weights, data, static):
        loss, grads, failed = jax_steady.loss_and_grad(weights, data, static)
        failures.append(int(failed))
        return loss, grads

    start = time.perf_counter()
    weights = jax_ude.init_weights(config.network.h1, config.network.h2, config.train.seed)
    weights = {k: jnp.asarray(v, config.solver.dtype) for k, v in weights.items()}
    history = {}
    if warmup_iters:
        # The collocation and stability terms alone first: near-singular Jacobians of an
        # untrained net source give huge implicit gradients and failed root finds.
        warmup = dataclasses.replace(config.train, adam_iters=warmup_iters)
        terms_only = {**data, "lambda_term": jnp.zeros_like(data["lambda_term"])}
        result = jax_train._adam(weights, terms_only, static, warmup, progress, step=step)
        weights, history["warmup"] = result.weights, result.history
        failures.clear()  # root finds do not count in the warm-up loss
    result = jax_train._adam(weights, data, static, config.train, progress, step=step)
    history["adam"] = result.history
    states, found = jax_steady.steady_states(result.weights, data, static)
    states, found = np.asarray(states, float), np.asarray(found)
    production, respiration = jax_ude.rates(0.0, states, result.weights, data, static)
    states = np.where(found[:, None], states, np.nan)
    trained = {k: np.asarray(v, np.float64) for k, v in result.weights.items()}
    model = SOCModel(config, trained, shift, scale, "jax")
    trajectory = SOCTrajectory(problem.times, states[:, None], SolveStatus(), 0, 0)
    lam = config.data_settings.spline_lambda
    first_only = dataclasses.replace(grid, rows=np.where(grid.rows == 0, 0, -1))
    predictions = profile_fit.profile_predictions(dataset, problem, first_only, trajectory, lam)
    predictions["net_source"] = (
        ("site", "model_depth"),
        np.where(found[:, None], np.asarray(production - respiration, float), np.nan),
        {"units": "% yr-1", "long_name": "net source P - R at the steady state"},
    )
    drivers = problem.drivers[0]
    samples = {
        "ph": drivers[..., 0],
        "soc": states,
        "cec": drivers[..., 1],
        "clay": drivers[..., 2],
        "depth": np.broadcast_to(problem.depth, states.shape),
        "time": np.zeros_like(states),
    }
    failed = int((~found).sum())
    message = (
        f"steady state found at all {found.size} sites"
        if failed == 0
        else f"no steady state at {failed} of {found.size} sites; raise loss.lambda_coll or "
        "solver.max_steps"
    )
    message += f"; {sum(failures)} failed site root finds after the warm-up"
    return SOCSteadyFitResult(
        model=model,
        predictions=predictions,
        samples={k: np.asarray(v, float).ravel() for k, v in samples.items()},
        history=history,
        failed_sites=failed,
        wall_time_s=time.perf_counter() - start,
        status="ok" if failed == 0 else "failed",
        message=message,
    )
