"""Calibrate the HySoMi PBM to incubation series ([HySoMi science: real data][hysomi-real-data]).

Without traits, the 13 parameters of each series are free variables inside the box, fitted by
weighted least squares to its observation channels (cumulative CO2, respiration rates,
biomass, glucose: each fitted or held out for validation) under a constraint set (the
real-data set by default); see ``engines.jax.calibrate`` for the residuals and the
Levenberg-Marquardt kernel. Per series: a Latin-hypercube screen in the unbounded transform,
Levenberg-Marquardt from the best candidates, the best polished, and (noise models
``constant`` and ``proportional``) each channel's sigma re-estimated from the residuals and
polished again. Intervals (``profile`` or ``mcmc``) come from ``hysomi.uncertainty``,
identifiability from ``hysomi.identifiability``; results and the run directory from
``hysomi.calibration_output``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import qmc

from soilsciml.config import HySoMiCalibrationConfig
from soilsciml.hysomi import identifiability, uncertainty
from soilsciml.hysomi.calibration_output import (
    calibration_report,
    result_dataset,
    write_calibration,
)
from soilsciml.hysomi.incubation import IncubationError
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = [
    "CHANNEL_VARIABLES",
    "InitialPoolError",
    "calibrate_hysomi",
    "calibration_report",
    "initial_pools",
    "write_calibration",
]

_CO2 = model.STATE_NAMES.index("CO2")

#: Pools a user may set at t = 0 (CO2 always starts at 0).
SETTABLE_POOLS = model.STATE_NAMES[:_CO2]

#: Channel name -> (kernel kind, unit): each channel is the Dataset variable of its name.
CHANNEL_VARIABLES = {
    "co2": ("co2", "mg C/g"),
    "co2_rate": ("co2_rate", "mg C/(g h)"),
    "biomass": ("biomass", "mg C/g"),
    "glucose": ("c_l", "mg C/g"),
}

#: Observation and save-point counts are padded up to multiples of these, so that problems
#: of similar size share one compilation.
_OBS_BUCKET, _TIME_BUCKET = 8, 16


class InitialPoolError(ValueError):
    """An ``--initial NAME=VALUE`` assignment names an unknown pool or has a bad value."""


def initial_pools(
    assignments: Sequence[str], base: Sequence[float] = tuple(model.INITIAL_STATE)
) -> tuple[float, ...]:
    """The six initial pools (mg C/g) with ``NAME=VALUE`` assignments applied over ``base``.

    Raises
    ------
    InitialPoolError
        For a malformed assignment, an unknown or repeated pool, or a value that is not a
        finite number >= 0.
    """
    pools = [float(v) for v in base]
    seen = set()
    for text in assignments:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InitialPoolError(f"--initial {text!r}: expected NAME=VALUE, e.g. C_L=6.0")
        if name not in SETTABLE_POOLS:
            raise InitialPoolError(
                f"--initial {text!r}: unknown pool {name!r}; the pools are "
                f"{', '.join(SETTABLE_POOLS)} (mg C/g)"
            )
        if name in seen:
            raise InitialPoolError(f"--initial: pool {name!r} is set twice")
        seen.add(name)
        try:
            number = float(value)
        except ValueError:
            raise InitialPoolError(f"--initial {text!r}: {value!r} is not a number") from None
        if not np.isfinite(number) or number < 0:
            raise InitialPoolError(
                f"--initial {text!r}: a pool must be a finite number >= 0 mg C/g"
            )
        pools[model.STATE_NAMES.index(name)] = number
    return tuple(pools)


def _channels(ds: xr.Dataset, config: HySoMiCalibrationConfig) -> list[tuple[str, bool]]:
    """(name, fitted) of every channel the series hold, checked against ``held_out``."""
    present = [name for name in CHANNEL_VARIABLES if name in ds]
    for name in config.held_out:
        if name not in present:
            raise ValueError(
                f"held-out channel {name!r} has no data; the series hold {', '.join(present)}"
            )
    held = set(config.held_out)
    if ds.attrs.get("co2_kind") == "rate":
        held.add("co2")  # integrated from the rates: compared, not fitted twice
    channels = [(name, name not in held) for name in present]
    if not any(fitted for _, fitted in channels):
        raise ValueError("every channel is held out: at least one must be fitted")
    return channels


def _pad(array: np.ndarray, length: int, axis: int, mode: str = "constant") -> np.ndarray:
    widths = [(0, 0)] * array.ndim
    widths[axis] = (0, length - array.shape[axis])
    return np.pad(array, widths, mode=mode)


def _bucket(n: int, size: int) -> int:
    return int(np.ceil(n / size) * size)


def _save_grid(obs_times: np.ndarray, points: int) -> np.ndarray:
    """t = 0, the observation times and ``points`` geometric points up to the last one (h)."""
    span = float(np.max(obs_times))
    spread = np.geomspace(min(1.0, span / 100.0), span, points) if span > 0 else np.zeros(1)
    return np.unique(np.concatenate([[0.0], obs_times, spread]))


def _sigma(time: np.ndarray, values: np.ndarray, noise: str, floor: float) -> np.ndarray:
    """Initial sigma (N,) of one series' channel under the noise model (NaN where missing)."""
    observed = np.isfinite(values)
    sigma = np.full(values.shape, np.nan)
    if not observed.any():
        return sigma
    lowest = max(floor * float(np.max(np.abs(values[observed]))), 1e-12)
    spreads, variances = {}, []
    for t in np.unique(time[observed]):
        group = values[observed & (time == t)]
        if group.size >= 2:
            spreads[t] = float(np.std(group, ddof=1))
            variances.append(spreads[t] ** 2)
    pooled = float(np.sqrt(np.mean(variances))) if variances else np.nan
    if noise == "proportional":
        sigma[observed] = 0.05 * np.maximum(np.abs(values[observed]), lowest)
    elif noise == "replicates" and spreads:
        at_time = np.array([spreads.get(t, pooled) for t in time[observed]])
        sigma[observed] = np.maximum(at_time, lowest)
    else:  # constant (or replicates without any replicate): one sigma for the channel
        guess = pooled if np.isfinite(pooled) else 0.02 * lowest / floor
        sigma[observed] = max(guess, lowest)
    return sigma


def _problem(ds, config, channels, constraints):
    """The kernel, its problem, the unpadded save grids and the initial sigmas (S, C, N)."""
    from soilsciml.engines.jax.calibrate import (
        CalibrationKernel,
        CalibrationProblem,
        CalibrationSettings,
    )

    time = ds["time"].values
    grids = [_save_grid(t[np.isfinite(t)], config.constraint_points) for t in time]
    length = _bucket(max(g.size for g in grids), _TIME_BUCKET)
    width = _bucket(time.shape[1], _OBS_BUCKET)
    times = np.stack([_pad(g, length, 0, mode="edge") for g in grids])
    index = np.stack(
        [np.searchsorted(g, np.nan_to_num(t)) for g, t in zip(grids, time, strict=True)]
    )
    observed = np.stack([ds[name].values for name, _ in channels], axis=1)
    sigma = np.stack(
        [
            np.stack(
                [
                    _sigma(t, v, config.noise, config.noise_floor)
                    for t, v in zip(time, obs, strict=True)
                ]
            )
            for obs in np.moveaxis(observed, 1, 0)
        ],
        axis=1,
    )
    fitted = np.array([f for _, f in channels], dtype=float)[None, :, None]
    weight = np.where(np.isfinite(observed), fitted / np.where(np.isfinite(sigma), sigma, 1.0), 0.0)
    problem = CalibrationProblem(
        times=times,
        initial=np.broadcast_to(np.asarray(config.initial, float), (len(grids), 6)).copy(),
        index=_pad(np.broadcast_to(index[:, None], observed.shape), width, 2).astype(np.int32),
        observed=_pad(np.nan_to_num(observed), width, 2),
        weight=_pad(weight, width, 2),
    )
    settings = CalibrationSettings(
        channels=tuple(CHANNEL_VARIABLES[name][0] for name, _ in channels),
        constraints=constraints,
        temperature=config.constraints.temperature,
        constraint_weight=config.constraint_weight,
        rtol=config.lm_rtol,
        atol=config.lm_atol,
        solver=config.solver,
    )
    return CalibrationKernel(problem, settings), grids, sigma


def _screen(n_series: int, config: HySoMiCalibrationConfig) -> np.ndarray:
    """Latin-hypercube candidates (S, M, 13) in the unbounded transform, each in [-3, 3]."""
    sampler = qmc.LatinHypercube(d=len(model.PARAMETERS), seed=config.seed)
    unit = sampler.random(n_series * config.n_screen)
    return (-3.0 + 6.0 * unit).reshape(n_series, config.n_screen, len(model.PARAMETERS))


def _rescaled_weight(kernel, fit, channels) -> tuple[np.ndarray, np.ndarray]:
    """Weights over each channel's residual RMS (in sigmas, n/(n - 13) corrected); the RMS."""
    weight = kernel.problem.weight
    residual = weight * (fit["at_obs"] - kernel.problem.observed)
    count = np.sum(weight > 0, axis=-1)
    dof = np.maximum(count.sum(axis=1, keepdims=True) - len(model.PARAMETERS), 1)
    dof = dof / np.maximum(count.sum(axis=1, keepdims=True), 1)
    scale = np.sqrt(np.nansum(residual**2, axis=-1) / np.maximum(count, 1) / dof)
    scale = np.where(np.isfinite(scale) & (scale > 0) & (count > 0), scale, 1.0)
    return weight / scale[..., None], scale


def _fit(kernel, config, channels) -> tuple[Any, dict[str, np.ndarray]]:
    """Screen, explore from the best candidates, polish, re-weight; (kernel, best fit)."""
    candidates = _screen(kernel.problem.times.shape[0], config)
    chi2 = kernel.screen(candidates)
    order = np.argsort(chi2, axis=1)[:, : config.n_starts]
    best = None
    for k in range(order.shape[1]):
        start = np.take_along_axis(candidates, order[:, k, None, None], axis=1)[:, 0]
        result = kernel.least_squares(start, config.explore_steps)
        if best is None:
            best = result
        else:
            better = result["chi2"] < best["chi2"]
            best = {key: _where(better, result[key], best[key]) for key in best}
    fit = kernel.least_squares(best["raw"], config.max_steps)
    if config.noise != "replicates":
        weight, _ = _rescaled_weight(kernel, fit, channels)
        kernel = kernel.with_weight(weight)
        fit = kernel.least_squares(fit["raw"], config.max_steps)
    fit["screen_chi2"] = chi2
    fit["explore_chi2"] = best["chi2"]
    return kernel, fit


def _fitted_identifiable(ident: dict[str, Any], channels) -> np.ndarray:
    """Identifiable parameters (S, 13) bool of the channel set that was fitted (CO2 alone when
    no set holds exactly the fitted channels)."""
    fitted = {name for name, used in channels if used}
    sets = identifiability.channel_sets(channels)
    labels = [label for label, members in sets if set(members) == fitted] or [sets[0][0]]
    return ident["identifiable"][:, ident["sets"].index(labels[0])]


def _where(mask: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    return np.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)


def _sigma_used(kernel, sigma) -> np.ndarray:
    """Sigma of every observation (S, C, N): the last polish's weights for fitted channels,
    the noise model's own (from the data, not the misfit) for held-out ones."""
    weight = kernel.problem.weight[:, :, : sigma.shape[2]]
    return np.where(weight > 0, 1.0 / np.where(weight > 0, weight, 1.0), sigma)


def _check_span(ds: xr.Dataset, max_days: float) -> float:
    """The longest series' span in hours; finite times >= 0 within ``max_days`` required."""
    time = ds["time"].values
    observed = time[~np.isnan(time)]
    if observed.size == 0 or not np.all(np.isfinite(observed)) or observed.min() < 0:
        raise IncubationError("variable 'time' needs finite observation times >= 0 h")
    if observed.max() > 24.0 * max_days:
        raise IncubationError(
            f"variable 'time' reaches {observed.max() / 24.0:g} days; at most data.max_days = "
            f"{max_days:g}: check the time unit (--time-unit)"
        )
    return float(observed.max())


def calibrate_hysomi(
    ds: xr.Dataset, config: HySoMiCalibrationConfig | None = None, model_dir: Path | None = None
) -> xr.Dataset:
    """Fit the 13 PBM parameters to each series of ``ds`` (from ``read_incubation``).

    Parameters
    ----------
    ds : xarray.Dataset
        Dims (series, obs): ``time`` (h), ``co2`` (cumulative, mg C/g), optional
        ``co2_rate`` (mg C/(g h)), ``biomass`` and ``glucose`` (mg C/g).
    config : HySoMiCalibrationConfig, optional
        Initial pools, channels held out, noise model, optimiser, uncertainty method,
        constraint set and solver.
    model_dir : Path, optional
        Run directory of a trained HySoMi trait network, to calibrate through it from the
        series' traits. Not available yet: passing one raises ``NotImplementedError``.

    Returns
    -------
    xarray.Dataset
        Observations and fit of every channel (``<channel>``, ``<channel>_fit``, both (series,
        obs)), ``sigma`` (series, channel, obs), channel metrics (``r2``, ``rmse``, ``bias``,
        (series, channel)), ``params`` with ``params_lower`` / ``params_upper`` (series,
        param), the pools on a dense time grid with their band (``states``,
        ``states_lower``, ``states_upper``), profiles or posterior draws, identifiability,
        ``status`` and constraint satisfaction; every setting in ``attrs``. See the docs
        page ``calibration.md``.

    Raises
    ------
    ValueError
        For missing variables or a held-out channel without data; an ``IncubationError``
        for times that are not finite and >= 0 or span more than ``config.data.max_days``
        (all before any compute).
    """
    config = config or HySoMiCalibrationConfig()
    if model_dir is not None:
        raise NotImplementedError(
            "calibration through a trained HySoMi trait network (--model) is not available "
            "yet; omit it to fit the 13 parameters of each series directly"
        )
    for name in ("time", "co2"):
        if name not in ds:
            raise ValueError(f"variable {name!r} is missing; read series with read_incubation")
    span = _check_span(ds, config.data.max_days)
    channels = _channels(ds, config)
    factors = config.constraints.factors()
    if config.constraints.setting == "real" and "P11" not in factors:
        factors["P11"] = 0.9 ** (span / model.HORIZON_HOURS)  # 10 % per 7 days, as 15 h
    constraints = cons.constraint_set(config.constraints.setting, factors)
    kernel, grids, sigma = _problem(ds, config, channels, constraints)
    kernel, fit = _fit(kernel, config, channels)
    fit["sigma"] = _sigma_used(kernel, sigma)
    dense = uncertainty.dense_times(grids)
    fit["states"], fit["codes"] = uncertainty.simulate(
        fit["params"], kernel.problem.initial, dense, config, codes=True
    )
    ident = identifiability.analyse(fit, channels, config.collinearity_threshold)
    spread = uncertainty.estimate(kernel, fit, dense, config, _fitted_identifiable(ident, channels))
    return result_dataset(
        ds, config, channels, constraints, grids, dense, fit, spread, ident, factors
    )
