"""Fitting the SOC UDE to a dataset: the xarray edge of the training engines.

``fit_soc(dataset, config)`` validates the dataset and config, hands plain arrays to an engine
and wraps what comes back into a :class:`SOCFitResult` (predictions as an xarray Dataset,
metrics, figures, saving). :class:`SOCModel` is the trained model alone (weights, input
scaling, config): saved with :meth:`SOCModel.save`, reloaded with :func:`load_soc_model`.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from soilsciml import __version__
from soilsciml.config import ConfigError, SOCFitConfig, load_config, save_config, to_dict
from soilsciml.data.io import json_text
from soilsciml.data.schema import DatasetError, validate_soc_dataset
from soilsciml.engines import get_engine
from soilsciml.engines.base import SOCUDEProblem
from soilsciml.metrics import depth_residuals, metrics_markdown, regression_metrics
from soilsciml.models import soc as model
from soilsciml.models import soc_ude
from soilsciml.soc import noise_aware, profile_fit
from soilsciml.soc.profiles import is_profile_dataset

__all__ = [
    "SOCFitResult",
    "SOCModel",
    "fit_soc",
    "load_soc_model",
    "problem_from_dataset",
    "write_report",
]

SOC_ATTRS = {"units": "%", "long_name": "soil organic carbon"}


def problem_from_dataset(
    ds: xr.Dataset, config: SOCFitConfig, scaling: tuple[np.ndarray, np.ndarray] | None = None
) -> SOCUDEProblem:
    """Validate a SOC dataset and turn it into the arrays an engine trains on.

    The first time is the start of the solve and its SOC profile the initial condition; the
    drivers are the dataset's, sampled at its times. A dataset with a ``site`` dimension gives
    a multi-site problem (initial (site, nz), drivers (time, site, nz, 3), targets (site,
    time, nz); see :class:`~soilsciml.engines.base.SOCUDEProblem`).

    A profile dataset (a ``layer`` dimension, see :func:`soilsciml.soc.read_profiles`) gives
    a multi-site problem on the uniform grid of ``config.data`` with a layer observation
    operator (:func:`soilsciml.soc.profile_fit.profile_problem`).

    Raises
    ------
    DatasetError
        For an invalid dataset, a non-uniform depth grid or missing values in an initial
        profile.
    """
    if is_profile_dataset(ds):
        return profile_fit.profile_problem(ds, config, scaling)[0]
    if config.data_settings.format == "profiles":
        raise DatasetError(
            "data.format = 'profiles' needs a profile dataset (dims site, time, layer); "
            "read the table with soilsciml.soc.read_profiles"
        )
    ds = validate_soc_dataset(ds)
    depth = ds["depth"].values
    spacing = np.diff(depth)
    if not np.allclose(spacing, spacing[0], rtol=1e-6):
        raise DatasetError("coordinate 'depth' must be uniformly spaced (method of lines)")
    soc = ds["soc"].values
    initial = soc[..., 0, :]
    if not np.all(np.isfinite(initial)):
        where = (
            ""
            if initial.ndim == 1
            else f" of site(s) {np.flatnonzero(~np.isfinite(initial).all(axis=1)).tolist()}"
        )
        raise DatasetError(
            f"variable 'soc' has NaN at the first time{where}; that profile is the initial "
            "condition"
        )
    times = ds["time"].values
    shift, scale = scaling if scaling is not None else (None, None)
    drivers = np.stack([ds[name].values for name in model.DRIVERS], axis=-1)
    return SOCUDEProblem(
        depth=depth,
        times=times,
        initial=initial,
        driver_times=times,
        drivers=drivers if initial.ndim == 1 else np.swapaxes(drivers, 0, 1),
        targets=soc,
        diffusion=config.transport.diffusion,
        advection=config.transport.advection,
        boundary=config.transport.boundary,
        input_shift=shift,
        input_scale=scale,
    )


def _check_sites(problem: SOCUDEProblem, engine: str) -> None:
    """Refuse a multi-site problem for an engine that does not take one (the Julia engine)."""
    if soc_ude.site_count(problem) is not None and not get_engine(engine).supports_sites:
        raise DatasetError(
            f"engine {engine!r} does not support multi-site datasets (dimension 'site'); "
            "use engine='jax', or one site at a time: dataset.isel(site=0)"
        )


def _clean_truth(ds: xr.Dataset) -> np.ndarray | None:
    """The clean SOC field: ``soc_clean`` when kept, else ``soc`` of a noise-free synthetic set."""
    if "soc_clean" in ds:
        return ds["soc_clean"].values
    if "truth" in ds.attrs and "noise_level" not in ds.attrs:
        return ds["soc"].values
    return None


@dataclass(frozen=True)
class SOCModel:
    """A trained SOC UDE: weights (flat layout of ``contracts.md``), input scaling and config."""

    config: SOCFitConfig
    weights: dict[str, np.ndarray]
    input_shift: np.ndarray
    input_scale: np.ndarray
    engine: str = "jax"

    def problem(self, dataset: xr.Dataset) -> SOCUDEProblem:
        """``dataset`` as engine arrays with this model's input scaling."""
        return problem_from_dataset(dataset, self.config, (self.input_shift, self.input_scale))

    def predict(self, dataset: xr.Dataset) -> xr.Dataset:
        """Solve from the dataset's first profile with its drivers; SOC on its (time, depth).

        A dataset with a ``site`` dimension (new sites: their own initial profiles and drivers)
        is solved in one batched solve. The horizon is the dataset's: give drivers (and NaN
        ``soc``) at later times to forecast beyond the training period.

        Returns the dataset with ``soc_pred`` and ``residual`` (``soc_pred - soc``) added and
        the solve's status in ``attrs``.
        """
        return self._predict(dataset, np.zeros(0))[0]

    def _predict(self, dataset: xr.Dataset, extra_times: np.ndarray):
        """:meth:`predict`, plus SOC at ``extra_times`` (yr) from the same single solve."""
        if is_profile_dataset(dataset):
            return self._predict_profiles(dataset), None
        problem = self.problem(dataset)
        _check_sites(problem, self.engine)
        times = np.union1d(problem.times, extra_times)
        blank = np.full((*problem.initial.shape[:-1], times.size, problem.depth.size), np.nan)
        solve_at = dataclasses.replace(problem, times=times, targets=blank)
        trajectory = get_engine(self.engine).predict_soc(solve_at, self.weights, self.config)
        on_grid = trajectory.soc[..., np.searchsorted(times, problem.times), :]
        out = validate_soc_dataset(dataset).copy()
        dims = out["soc"].dims
        out["soc_pred"] = (dims, on_grid, {**SOC_ATTRS, "long_name": "predicted SOC"})
        out["residual"] = (
            dims,
            on_grid - out["soc"].values,
            {"units": "%", "long_name": "residual (predicted - observed)"},
        )
        out.attrs.update(
            solve_status=str(trajectory.status),
            solver_steps=trajectory.num_steps,
            engine=self.engine,
            soilsciml_version=__version__,
        )
        return out, trajectory.soc[..., np.searchsorted(times, extra_times), :]

    def _predict_profiles(self, dataset: xr.Dataset) -> xr.Dataset:
        """Layer means at every time of a profile dataset from each site's first campaign."""
        scaling = (self.input_shift, self.input_scale)
        problem, grid = profile_fit.profile_problem(dataset, self.config, scaling)
        _check_sites(problem, self.engine)
        trajectory = get_engine(self.engine).predict_soc(problem, self.weights, self.config)
        lam = self.config.data_settings.spline_lambda
        out = profile_fit.profile_predictions(dataset, problem, grid, trajectory, lam)
        out.attrs.update(
            solve_status=str(trajectory.status),
            solver_steps=trajectory.num_steps,
            engine=self.engine,
            soilsciml_version=__version__,
        )
        return out

    def save(self, path: str | Path) -> Path:
        """Write ``config.toml`` and ``weights.npz`` (weights and input scaling) to ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_config(self.config, path / "config.toml")
        np.savez(
            path / "weights.npz",
            input_shift=self.input_shift,
            input_scale=self.input_scale,
            **self.weights,
        )
        return path


def load_soc_model(path: str | Path, engine: str = "jax") -> SOCModel:
    """Read a model written by :meth:`SOCModel.save` or :meth:`SOCFitResult.save`."""
    path = Path(path)
    for name in ("config.toml", "weights.npz"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"no {name} in {path}; is it a saved SOC model?")
    config = load_config(path / "config.toml", SOCFitConfig)
    with np.load(path / "weights.npz") as stored:
        arrays = {k: np.asarray(stored[k]) for k in stored.files}
    shift, scale = arrays.pop("input_shift"), arrays.pop("input_scale")
    expected = soc_ude.layer_shapes(config.network.h1, config.network.h2)
    if {k: v.shape for k, v in arrays.items()} != expected:
        raise ValueError(f"weights in {path} do not match network sizes of its config.toml")
    return SOCModel(config, arrays, shift, scale, engine)


@dataclass(frozen=True)
class SOCFitResult:
    """Everything a SOC UDE fit produced.

    Parameters
    ----------
    model : SOCModel
        The trained model (``.weights``, ``.config``).
    predictions : xarray.Dataset
        The dataset with ``soc_pred`` and ``residual`` on (time, depth) and, on (fit_time,
        depth), the fitted profiles ``soc_fit_pred``, their targets ``soc_fit_obs`` and, when
        known, the clean truth ``soc_fit_clean``.
    history : dict of str to ndarray
        Loss per iteration of each optimiser stage.
    solver_stats : dict
        Loss evaluations, solver steps (accepted and rejected) summed over training, final loss.
    failed_solves : int
        Solves that failed during training (each cost the 1e6 penalty).
    wall_time_s : float
        Wall-clock time of the fit in s, compilation included.
    status : str
        ``ok`` or ``failed``.
    message : str
        What happened and, on failure, what to do.
    stop_reasons : dict of str to str
        Why each optimiser stage ended.
    num_compiles : int
        Kernel compilations during this fit.
    """

    model: SOCModel
    predictions: xr.Dataset
    history: dict[str, np.ndarray]
    solver_stats: dict
    failed_solves: int
    wall_time_s: float
    status: str
    message: str
    stop_reasons: dict[str, str]
    num_compiles: int

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Trained weights in the flat layout of ``contracts.md``."""
        return self.model.weights

    def predict(self, dataset: xr.Dataset) -> xr.Dataset:
        """Predict SOC on another dataset (see :meth:`SOCModel.predict`)."""
        return self.model.predict(dataset)

    def metrics(self) -> dict:
        """MSE, RMSE and R2 of the fitted profiles against the target (``*_noisy``) and the
        clean truth (``*_clean``, when known), the same over all times after the start
        (``*_trajectory``), residuals by depth, failed solves and wall time."""
        ds = self.predictions
        out = {"target": self.model.config.loss.target}
        if is_profile_dataset(ds):
            out.update(profile_fit.profile_scores(ds))
        else:
            out.update(self._grid_scores())
        learned = self.solver_stats.get("loss_parameters", {})
        out.update({f"learned_{name}": value for name, value in learned.items()})
        out.update(
            failed_solves=self.failed_solves,
            wall_time_s=self.wall_time_s,
            status=self.status,
            message=self.message,
            final_loss=self.solver_stats.get("final_loss"),
            iterations={k: len(v) for k, v in self.history.items()},
            stop_reasons=self.stop_reasons,
        )
        return out

    def _grid_scores(self) -> dict:
        """The scores of :meth:`metrics` of a fit on the model grid."""
        ds = self.predictions
        out = {}
        fitted = ds["soc_fit_pred"].values
        references = {"noisy": ds["soc_fit_obs"].values}
        after_start = {"time": slice(1, None)}
        trajectories = {"noisy": ds["soc"].isel(after_start).values}
        if "soc_fit_clean" in ds:
            references["clean"] = ds["soc_fit_clean"].values
            trajectories["clean"] = ds["soc_truth"].isel(after_start).values
        for kind, reference in references.items():
            scores = regression_metrics(fitted, reference)
            out.update({f"{m}_{kind}": scores[m] for m in ("mse", "rmse", "r2")})
            predicted = ds["soc_pred"].isel(after_start).values
            over_time = regression_metrics(predicted, trajectories[kind])
            out.update({f"{m}_{kind}_trajectory": over_time[m] for m in ("mse", "rmse", "r2")})
        nz = ds.sizes["depth"]
        by_depth = depth_residuals(
            fitted.reshape(-1, nz), references.get("clean", references["noisy"]).reshape(-1, nz)
        )
        out["residual_by_depth"] = {
            "depth_m": ds["depth"].values.tolist(),
            "bias": by_depth["bias"].tolist(),
            "rmse": by_depth["rmse"].tolist(),
            "against": "clean" if "clean" in references else "noisy",
        }
        out.update(noise_aware.holdout_metrics(ds, self.model.config))
        return out

    def figures(self) -> dict:
        """Named matplotlib figures of the fit (see :mod:`soilsciml.plots.soc`); of the first
        site for a multi-site fit, of every site for profile data
        (:mod:`soilsciml.plots.soc_profiles`)."""
        from soilsciml.plots.soc import fit_figures

        ds = self.predictions
        if is_profile_dataset(ds):
            from soilsciml.plots.soc_profiles import profile_figures

            return profile_figures(ds, self.history)
        return fit_figures(ds.isel(site=0) if "site" in ds.dims else ds, self.history)

    def save(self, path: str | Path, figures: bool = True) -> Path:
        """Write a run directory: ``config.toml``, ``weights.npz``, ``results.nc``,
        ``metrics.json``, ``metrics.md`` and (``figures=True``) one PNG per figure."""
        from soilsciml.data.io import save_dataset

        path = self.model.save(path)
        save_dataset(self._results_dataset(), path / "results.nc")
        return write_report(path, self.metrics(), self.figures() if figures else {})

    def _results_dataset(self) -> xr.Dataset:
        out = self.predictions.copy()
        for stage, losses in self.history.items():
            out[f"loss_{stage}"] = (
                (f"iteration_{stage}",),
                losses,
                {"units": "1", "long_name": f"training loss ({stage})"},
            )
        out.attrs.update(
            status=self.status,
            message=self.message,
            failed_solves=self.failed_solves,
            wall_time_s=self.wall_time_s,
            fit_config=json.dumps(to_dict(self.model.config)),
        )
        return out


def write_report(path: Path, metrics: dict, figures: dict) -> Path:
    """Write ``metrics.json``, ``metrics.md`` and one PNG per named figure to ``path``."""
    (path / "metrics.json").write_text(json_text(metrics, indent=2) + "\n")
    (path / "metrics.md").write_text(metrics_markdown(metrics))
    for name, fig in figures.items():
        fig.savefig(path / f"{name}.png", dpi=120)
    return path


def _predict_with_fit(dataset: xr.Dataset, problem: SOCUDEProblem, soc_model: SOCModel):
    """Predictions on the dataset's grid and, from the same solve, at the loss's target times
    next to their targets (and the clean truth) on (fit_time, depth); for profile data the
    predicted layer means at every campaign (:meth:`SOCModel.predict`)."""
    if is_profile_dataset(dataset):
        return soc_model.predict(dataset)
    layout = soc_ude.target_layout(problem, soc_model.config.loss)
    rows = layout.mask.reshape(layout.save_times.size, -1).any(axis=1)
    predictions, predicted = soc_model._predict(dataset, layout.save_times[rows])

    def site_first(rows_of_layout: np.ndarray) -> np.ndarray:  # (fit_time, site, depth)
        return rows_of_layout if rows_of_layout.ndim == 2 else np.swapaxes(rows_of_layout, 0, 1)

    observed = site_first(np.where(layout.mask > 0, layout.observed, np.nan)[rows])
    sites = ("site",) if "site" in predictions.dims else ()
    dims = (*sites, "fit_time", "depth")
    out = {
        "soc_fit_pred": (dims, predicted, {**SOC_ATTRS, "long_name": "predicted SOC (fitted)"}),
        "soc_fit_obs": (dims, observed, {**SOC_ATTRS, "long_name": "target SOC (fitted)"}),
    }
    clean = _clean_truth(predictions)
    if clean is not None:
        truth = dataclasses.replace(problem, targets=clean)
        truth_rows = site_first(soc_ude.target_layout(truth, soc_model.config.loss).observed[rows])
        out["soc_fit_clean"] = (dims, truth_rows, {**SOC_ATTRS, "long_name": "clean SOC"})
        out["soc_truth"] = (predictions["soc"].dims, clean, {**SOC_ATTRS, "long_name": "clean SOC"})
    fit_time = ("fit_time", layout.save_times[rows], {"units": "yr", "long_name": "fitted time"})
    return predictions.merge(xr.Dataset(out, coords={"fit_time": fit_time}))


#: Largest |scaled input| of the ``paper`` input scaling that is only warned about; beyond
#: ``_PAPER_REFUSED`` the fit is refused (tanh and GELU saturate far from O(1) inputs).
_PAPER_WARNED, _PAPER_REFUSED = 4.0, 10.0


def _check_input_range(problem: SOCUDEProblem, config: SOCFitConfig, scaling) -> None:
    """Refuse (or warn about) the fixed ``paper`` scaling on data far outside its range."""
    if config.network.input_scaling != "paper":
        return
    extent = soc_ude.scaled_extent(problem, *scaling)
    worst = int(np.argmax(extent))
    name = soc_ude.INPUTS[worst]
    message = (
        f"network.input_scaling = 'paper' puts the data's {name} at up to {extent[worst]:.3g} "
        "(the networks expect O(1) inputs; real CEC is 5-40 cmol(+)/kg, the paper's 0.3-0.8)"
    )
    advice = "; use network.input_scaling = 'standardise' (scaling from the data)"
    if extent[worst] > _PAPER_REFUSED:
        raise ConfigError(message + advice)
    if extent[worst] > _PAPER_WARNED:
        warnings.warn(message + advice, UserWarning, stacklevel=3)


def fit_soc(
    dataset: xr.Dataset,
    config: SOCFitConfig | None = None,
    engine: str = "jax",
    progress: bool = True,
    *,
    executor: str = "inprocess",
    site_chunks: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> SOCFitResult:
    """Train the SOC UDE (NN_P, NN_R inside the PDE) on a dataset.

    Parameters
    ----------
    dataset : xarray.Dataset
        ``soc`` (%, NaN allowed after the first time), ``ph``, ``cec``, ``clay`` on (time,
        depth), or on (site, time, depth) for many sites fitted together in one batched solve
        (JAX engine); optional ``soc_clean`` for metrics against the clean truth. Or measured
        profiles on (site, time, layer) from :func:`soilsciml.soc.read_profiles`: layer
        means at sparse campaigns, compared with the layer means of the model state.
    config : SOCFitConfig, optional
        Networks, loss, optimiser, solver and transport (defaults: the paper's Case 4 setting).
    engine : str
        ``jax`` (default) or ``julia``.
    progress : bool
        Show a tqdm progress bar per optimiser stage.
    executor : str
        ``inprocess`` (default) or ``dask``: where the site chunks of a multi-site fit are
        evaluated (data-parallel gradient, see :mod:`soilsciml.engines.jax.sites`; JAX engine,
        Adam stage only).
    site_chunks : int, optional
        Split the sites into this many chunks, each one batched solve (default: no split
        in-process, ``workers`` chunks with Dask).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default: a ``LocalCluster``.
    workers : int, optional
        Worker processes of that ``LocalCluster`` (default: CPU count).

    Raises
    ------
    DatasetError, ConfigError
        Before any compute, for an invalid dataset or config.
    """
    config = config or SOCFitConfig()
    if not isinstance(config, SOCFitConfig):
        raise TypeError(f"config must be a SOCFitConfig; got {type(config).__name__}")
    config = noise_aware.resolve_config(config, dataset, engine)
    backend = get_engine(engine)
    problem = problem_from_dataset(dataset, config)
    _check_sites(problem, engine)
    chunked = executor != "inprocess" or site_chunks is not None
    if chunked:
        from soilsciml.engines.jax import sites as jax_sites

        if engine != "jax":
            raise DatasetError(f"chunked site fits run on the JAX engine only, not {engine!r}")
        jax_sites.check_chunking(problem, config, executor, site_chunks)
    soc_ude.target_layout(problem, config.loss)  # a target the data cannot give fails here
    scaling = soc_ude.input_scaling(problem, config.network)
    _check_input_range(problem, config, scaling)
    if problem.observation is not None:
        soc_ude.collocation_field(problem, config.loss)  # lambda_coll > 0 fails here
        profile_fit.warn_if_unconstrained(problem, config.network)
    problem = dataclasses.replace(problem, input_shift=scaling[0], input_scale=scaling[1])
    start = time.perf_counter()
    if chunked:
        args = (executor, problem, config, site_chunks, scheduler, workers, progress)
        output = jax_sites.fit_on(*args)
    else:
        output = backend.fit_soc(problem, config, progress=progress)
    soc_model = SOCModel(config, output.weights, scaling[0], scaling[1], engine)
    predictions = _predict_with_fit(dataset, problem, soc_model)
    wall_time = time.perf_counter() - start
    final = output.status
    failures = (
        f"{final.n_failed} failed solve(s) during training were penalised (loss 1e6, zero gradient)"
        if final.n_failed
        else "no failed solves during training"
    )
    outcome = "the final model solves" if final.ok else f"the final model fails: {final.message}"
    message = f"{failures}; {outcome}"
    return SOCFitResult(
        model=soc_model,
        predictions=predictions,
        history=output.history,
        solver_stats=output.solver_stats,
        failed_solves=output.status.n_failed,
        wall_time_s=wall_time,
        status="ok" if final.ok else "failed",
        message=message,
        stop_reasons=output.stop_reasons,
        num_compiles=output.num_compiles,
    )
