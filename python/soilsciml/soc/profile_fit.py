"""Measured profiles as a SOC UDE problem: layers, sparse campaigns, many sites.

The PDE keeps its uniform depth grid. Each site's solve starts at its first campaign, from
the equal-area spline of that campaign's SOC (:mod:`soilsciml.soc.spline`) evaluated at the
nodes; all sites share the solver's time axis, which counts years since each site's own
first campaign, so sites sampled in different years fit together in one batched solve. The
drivers of every campaign go onto the nodes by the same spline and are interpolated between a
site's campaigns (or held at their mean). The loss compares every measured layer with the
mean of the piecewise-linear model state over that layer (the observation operator of
:mod:`soilsciml.models.soc_layers`), masked where a layer was not measured.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from soilsciml.config import ConfigError, SOCFitConfig, SOCNetworkConfig
from soilsciml.data.schema import SOC_VARIABLES, DatasetError
from soilsciml.engines.base import SOCTrajectory, SOCUDEProblem
from soilsciml.metrics import regression_metrics
from soilsciml.models import soc as model
from soilsciml.models import soc_ude
from soilsciml.models.soc_layers import layer_mean_matrix
from soilsciml.soc.profiles import validate_profile_dataset
from soilsciml.soc.spline import equal_area_spline

__all__ = [
    "ProfileGrid",
    "observed_count",
    "profile_predictions",
    "profile_problem",
    "profile_scores",
    "warn_if_unconstrained",
]

SOC_ATTRS = {"units": "%", "long_name": "soil organic carbon"}


@dataclass(frozen=True)
class ProfileGrid:
    """How a profile dataset sits on the model's grids.

    Parameters
    ----------
    nodes : ndarray, shape (nz,)
        Model depth nodes in m.
    start : ndarray, shape (site,)
        Each site's first SOC campaign (decimal year): its time 0.
    elapsed : ndarray, shape (nt,)
        The solver's times: years since a site's start, the union over sites.
    rows : ndarray of int, shape (site, time)
        Index into ``elapsed`` of each (site, dataset time); -1 before the site's start.
    campaign : ndarray of int, shape (site, time)
        1 for a site's first SOC campaign, 2 for its second, ...; 0 where SOC is not measured.
    """

    nodes: np.ndarray
    start: np.ndarray
    elapsed: np.ndarray
    rows: np.ndarray
    campaign: np.ndarray


def _grid_depth(bounds: np.ndarray, depth: float, sites) -> float:
    deepest = float(np.nanmax(bounds[..., 1]))
    if depth == 0:
        return deepest
    too_deep = np.nanmax(bounds[..., 1], axis=1) > depth + 1e-9
    if too_deep.any():
        site = sites[int(np.flatnonzero(too_deep)[0])]
        raise ConfigError(
            f"data.depth = {depth:g} m is shallower than the layers of site {site!r} "
            f"(down to {deepest:g} m); raise data.depth or set it to 0"
        )
    return depth


def _spline_at(nodes, bounds, values, lam) -> np.ndarray | None:
    """The spline of one campaign's measured layers at the nodes; None when nothing measured."""
    keep = np.isfinite(values) & np.isfinite(bounds[:, 0])
    if not keep.any():
        return None
    return equal_area_spline(bounds[keep, 0], bounds[keep, 1], values[keep], lam)(nodes)


def _time_grid(ds: xr.Dataset, soc: np.ndarray):
    times = np.asarray(ds["time"].values, float)
    measured = np.isfinite(soc).any(axis=2)  # (site, time)
    for s in np.flatnonzero(~measured.any(axis=1)):
        raise DatasetError(f"site {ds['site'].values[s]!r} has no SOC measured in any campaign")
    start = times[np.argmax(measured, axis=1)]
    offsets = np.round(times[None, :] - start[:, None], 9)
    elapsed = np.unique(offsets[offsets >= 0])
    rows = np.where(offsets >= 0, np.searchsorted(elapsed, offsets), -1)
    campaign = np.where(measured, np.cumsum(measured, axis=1), 0)
    return start, elapsed, rows, campaign


def _drivers(ds, grid: ProfileGrid, bounds, lam: float, how: str) -> np.ndarray:
    """Drivers (elapsed, site, nz, 3) from each campaign's spline, between campaigns by ``how``."""
    sites = ds["site"].values
    out = np.empty((grid.elapsed.size, sites.size, grid.nodes.size, len(model.DRIVERS)))
    for d, name in enumerate(model.DRIVERS):
        values = ds[name].values
        for s in range(sites.size):
            sampled = [
                (
                    grid.elapsed[grid.rows[s, j]],
                    _spline_at(grid.nodes, bounds[s], values[s, j], lam),
                )
                for j in np.flatnonzero(grid.rows[s] >= 0)
            ]
            sampled = [(t, profile) for t, profile in sampled if profile is not None]
            if not sampled:
                raise DatasetError(
                    f"site {sites[s]!r}: no {name} ({SOC_VARIABLES[name].long_name}) measured "
                    "in any campaign from the first SOC campaign on"
                )
            times = np.array([t for t, _ in sampled])
            profiles = np.stack([p for _, p in sampled])
            if how == "constant":
                out[:, s, :, d] = profiles.mean(axis=0)
                continue
            for z in range(grid.nodes.size):
                out[:, s, z, d] = np.interp(grid.elapsed, times, profiles[:, z])
    return out


def profile_problem(
    ds: xr.Dataset, config: SOCFitConfig, scaling: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[SOCUDEProblem, ProfileGrid]:
    """A multi-site problem with a layer observation operator from a profile dataset.

    Raises
    ------
    DatasetError, ConfigError
        A site without SOC or without a driver, layers deeper than ``data.depth``, a setting
        that needs node observations (``train.holdout``, ``loss.lambda_coll``).
    """
    settings = config.data_settings
    if settings.format == "grid":
        raise ConfigError(
            "data.format = 'grid' but the dataset holds layers (dimension 'layer'); "
            "set data.format = 'profiles' or 'auto'"
        )
    if config.train.holdout != "none":
        raise ConfigError("train.holdout leaves out model depths; profile data need 'none'")
    ds = validate_profile_dataset(ds)
    sites = ds["site"].values
    bounds = ds["depth_bounds"].values
    nodes = np.linspace(0.0, _grid_depth(bounds, settings.depth, sites), settings.nz)
    soc = ds["soc"].values
    grid = ProfileGrid(nodes, *_time_grid(ds, soc))
    targets = np.full((sites.size, grid.elapsed.size, ds.sizes["layer"]), np.nan)
    initial = np.empty((sites.size, nodes.size))
    for s in range(sites.size):
        for j in np.flatnonzero(grid.campaign[s] > 0):
            targets[s, grid.rows[s, j]] = soc[s, j]
        first = np.flatnonzero(grid.campaign[s] == 1)[0]
        initial[s] = _spline_at(nodes, bounds[s], soc[s, first], settings.spline_lambda)
    observation = np.stack([layer_mean_matrix(nodes, b[:, 0], b[:, 1]) for b in bounds])
    shift, scale = scaling if scaling is not None else (None, None)
    problem = SOCUDEProblem(
        depth=nodes,
        times=grid.elapsed,
        initial=np.maximum(initial, 0.0),
        driver_times=grid.elapsed,
        drivers=_drivers(ds, grid, bounds, settings.spline_lambda, settings.drivers),
        targets=targets,
        diffusion=config.transport.diffusion,
        advection=config.transport.advection,
        boundary=config.transport.boundary,
        input_shift=shift,
        input_scale=scale,
        observation=observation,
    )
    return problem, grid


def observed_count(problem: SOCUDEProblem) -> int:
    """Measured layer means after each site's first campaign: what constrains P and R."""
    return int(np.isfinite(problem.targets[:, 1:]).sum())


def warn_if_unconstrained(problem: SOCUDEProblem, network: SOCNetworkConfig) -> None:
    """Refuse data without a campaign after the first; warn when fewer layer means than
    network weights constrain P and R."""
    observed = observed_count(problem)
    weights = sum(int(np.prod(s)) for s in soc_ude.layer_shapes(network.h1, network.h2).values())
    if observed == 0:
        raise DatasetError(
            "no SOC measured after any site's first campaign: the data cannot constrain P and "
            "R over time; fit the steady state instead (soilsciml.soc.fit_soc_steady)"
        )
    if observed < weights:
        warnings.warn(
            f"{observed} layer means after the first campaigns constrain {weights} network "
            "weights: many fits explain the data equally well; read the networks only through "
            "the net source they agree on, use smaller networks (network.h1, network.h2), "
            "weight decay (loss.lambda_wd), or more sites and campaigns",
            UserWarning,
            stacklevel=3,
        )


#: Depth (m) of the topsoil over which campaigns are compared in time (harmonised by spline).
TOPSOIL = 0.3


def _topsoil(ds: xr.Dataset, problem, grid: ProfileGrid, state: np.ndarray, lam: float):
    """Mean SOC over 0-``TOPSOIL`` m: observed (each campaign's spline, so campaigns with
    different layers compare) and predicted (the model state), on (site, time)."""
    depth = min(TOPSOIL, float(grid.nodes[-1]))
    operator = layer_mean_matrix(grid.nodes, [0.0], [depth])[0]
    bounds, soc = ds["depth_bounds"].values, ds["soc"].values
    observed = np.full(grid.rows.shape, np.nan)
    for s, j in zip(*np.nonzero(grid.campaign), strict=True):
        keep = np.isfinite(soc[s, j]) & np.isfinite(bounds[s, :, 0])
        spline = equal_area_spline(bounds[s, keep, 0], bounds[s, keep, 1], soc[s, j, keep], lam)
        observed[s, j] = spline.layer_means(0.0, depth)
    predicted = np.where(grid.rows >= 0, state @ operator, np.nan)
    name = f"SOC 0-{100 * depth:g} cm"
    return xr.Dataset(
        {
            "soc_topsoil": (
                ("site", "time"),
                observed,
                {**SOC_ATTRS, "long_name": f"observed {name}"},
            ),
            "soc_topsoil_pred": (
                ("site", "time"),
                predicted,
                {**SOC_ATTRS, "long_name": f"predicted {name}"},
            ),
        }
    )


def profile_predictions(
    ds: xr.Dataset,
    problem: SOCUDEProblem,
    grid: ProfileGrid,
    trajectory: SOCTrajectory,
    lam: float = 0.1,
) -> xr.Dataset:
    """The dataset with ``soc_pred`` (layer means of the model state), ``residual``,
    ``soc_state`` (the state on (site, time, model_depth)) and ``soc_start`` (layer means of
    the initial state: the no-change baseline) added."""
    layers = np.einsum("stz,soz->sto", trajectory.soc, problem.observation)
    columns = np.where(grid.rows >= 0, grid.rows, 0)
    before = (grid.rows < 0)[..., None]
    picked = np.take_along_axis(layers, columns[..., None], axis=1)
    state = np.take_along_axis(trajectory.soc, columns[..., None], axis=1)
    padded = ~np.isfinite(ds["depth_bounds"].values[..., 0])[:, None, :]
    out = validate_profile_dataset(ds).copy()
    dims = ("site", "time", "layer")
    out["soc_pred"] = (
        dims,
        np.where(before | padded, np.nan, picked),
        {**SOC_ATTRS, "long_name": "predicted SOC (layer mean)"},
    )
    out["residual"] = (
        dims,
        out["soc_pred"].values - out["soc"].values,
        {"units": "%", "long_name": "residual (predicted - observed)"},
    )
    out["soc_state"] = (
        ("site", "time", "model_depth"),
        np.where(before, np.nan, state),
        {**SOC_ATTRS, "long_name": "predicted SOC (model state)"},
    )
    start = np.einsum("sz,soz->so", problem.initial, problem.observation)
    out["soc_start"] = (
        ("site", "layer"),
        np.where(padded[:, 0], np.nan, start),
        {**SOC_ATTRS, "long_name": "initial state (first campaign's spline), layer mean"},
    )
    out["campaign"] = (("site", "time"), grid.campaign, {"long_name": "SOC campaign number"})
    out = out.merge(_topsoil(out, problem, grid, state, lam))
    out["site_start"] = ("site", grid.start, {"units": "yr", "long_name": "first SOC campaign"})
    return out.assign_coords(
        model_depth=("model_depth", grid.nodes, {"units": "m", "long_name": "model depth node"})
    )


def profile_scores(ds: xr.Dataset) -> dict:
    """MSE, RMSE, R2 of the predicted layer means at every campaign after each site's first:
    against the observed layers (``*_observed``), the clean truth (``*_clean``, when
    known) and, as ``*_no_change``, of the initial state's layer means (the baseline a
    model that learnt nothing reaches); the same per campaign number under ``by_campaign``."""
    later = (ds["campaign"].values > 1)[..., None]
    predicted = np.where(later, ds["soc_pred"].values, np.nan)
    unchanged = np.where(later, ds["soc_start"].values[:, None, :], np.nan)
    references = {"observed": ds["soc"].values}
    if "soc_clean" in ds:
        references["clean"] = ds["soc_clean"].values
    out: dict = {"layers_scored": int(np.isfinite(predicted * references["observed"]).sum())}
    for kind, reference in references.items():
        for suffix, guess in (("", predicted), ("_no_change", unchanged)):
            scores = regression_metrics(guess, reference)
            out.update({f"{m}_{kind}{suffix}": scores[m] for m in ("mse", "rmse", "r2")})
    by_campaign = {}
    for number in range(2, int(ds["campaign"].values.max()) + 1):
        here = (ds["campaign"].values == number)[..., None]
        scores = {}
        for kind, reference in references.items():
            r = regression_metrics(np.where(here, ds["soc_pred"].values, np.nan), reference)
            base = regression_metrics(
                np.where(here, ds["soc_start"].values[:, None], np.nan), reference
            )
            scores.update({f"r2_{kind}": r["r2"], f"rmse_{kind}": r["rmse"], "n": r["n"]})
            scores[f"r2_{kind}_no_change"] = base["r2"]
        by_campaign[str(number)] = scores
    out["by_campaign"] = by_campaign
    return out
