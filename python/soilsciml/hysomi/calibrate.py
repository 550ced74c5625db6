"""Calibrate the HySoMi PBM to incubation series ([HySoMi science: real data][hysomi-real-data]).

Without traits, the 13 parameters of each series are free variables inside the box, fitted to
its cumulative CO2 (and biomass, where observed) under a constraint set (the real-data set by
default); see ``engines.jax_calibrate`` for the loss and the optimiser. The series come from
``data.incubation.read_incubation``; the result is one Dataset (observations, fitted pools,
parameters, fit statistics, constraint satisfaction), written to a run directory with
``fit.json``, ``results.nc``, ``config.toml`` and a figure per series.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import qmc

from soilsciml import __version__
from soilsciml.config import HySoMiCalibrationConfig, save_config, to_dict
from soilsciml.data.io import json_text, save_dataset
from soilsciml.engines.base import SOLVE_MESSAGES
from soilsciml.hysomi.incubation import IncubationError
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = [
    "InitialPoolError",
    "calibrate_hysomi",
    "calibration_report",
    "initial_pools",
    "write_calibration",
]

_CO2 = model.STATE_NAMES.index("CO2")
_B_A, _B_D = model.STATE_NAMES.index("B_A"), model.STATE_NAMES.index("B_D")

#: Pools a user may set at t = 0 (CO2 always starts at 0).
SETTABLE_POOLS = model.STATE_NAMES[:_CO2]


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


def _save_times(obs_times: np.ndarray) -> np.ndarray:
    """The hourly points up to the last observation and the observation times, in hours."""
    span = float(np.max(obs_times))
    return np.unique(np.concatenate([np.arange(np.floor(span) + 1.0), obs_times]))


def _check_span(ds: xr.Dataset, max_days: float) -> None:
    """Finite, non-negative times within ``max_days``: the hourly grid stays of sane size."""
    time = ds["time"].values
    observed = time[~np.isnan(time)]
    if observed.size == 0 or not np.all(np.isfinite(observed)) or observed.min() < 0:
        raise IncubationError("variable 'time' needs finite observation times >= 0 h")
    if observed.max() > 24.0 * max_days:
        raise IncubationError(
            f"variable 'time' reaches {observed.max() / 24.0:g} days; at most data.max_days = "
            f"{max_days:g} (calibration solves on an hourly grid)"
        )


def _problem(ds: xr.Dataset, initial: np.ndarray):
    """Padded arrays of every series and each series' own save times."""
    from soilsciml.engines.jax.calibrate import CalibrationProblem

    time = ds["time"].values
    co2 = ds["co2"].values
    biomass = ds["biomass"].values if "biomass" in ds else np.full_like(co2, np.nan)
    grids = [_save_times(t[~np.isnan(t)]) for t in time]
    length = max(g.size for g in grids)
    times = np.stack([np.pad(g, (0, length - g.size), mode="edge") for g in grids])
    index = np.stack(
        [
            np.searchsorted(g, np.nan_to_num(t), side="left")
            for g, t in zip(grids, time, strict=True)
        ]
    )
    problem = CalibrationProblem(
        times=times,
        initial=np.broadcast_to(initial, (len(grids), initial.size)).copy(),
        obs_index=index,
        co2=np.nan_to_num(co2),
        co2_mask=np.isfinite(co2).astype(float),
        biomass=np.nan_to_num(biomass),
        biomass_mask=np.isfinite(biomass).astype(float),
    )
    return problem, grids


def _starts(n_series: int, n_starts: int, seed: int) -> np.ndarray:
    """Latin-hypercube starting parameters (S, K, 13) in the inner 90 % of the box."""
    sampler = qmc.LatinHypercube(d=len(model.PARAMETERS), seed=seed)
    unit = 0.05 + 0.9 * sampler.random(n_series * n_starts)
    params = qmc.scale(unit, model.LOWER, model.UPPER)
    return params.reshape(n_series, n_starts, len(model.PARAMETERS))


def _r2_rmse(pred: np.ndarray, observed: np.ndarray) -> tuple[float, float]:
    keep = np.isfinite(observed) & np.isfinite(pred)
    if keep.sum() < 2:
        return float("nan"), float("nan")
    residual = pred[keep] - observed[keep]
    total = np.sum((observed[keep] - observed[keep].mean()) ** 2)
    return float(1.0 - np.sum(residual**2) / total), float(np.sqrt(np.mean(residual**2)))


def _constraint_table(constraints, grids, states, params):
    """Hard pass/fail and violation ``max(a v1 - b v2, 0)`` per series and constraint."""
    passed = np.zeros((len(grids), len(constraints)), dtype=bool)
    violation = np.zeros(passed.shape)
    for s, grid in enumerate(grids):
        trajectory = states[s, : grid.size]
        passed[s] = cons.hard_check(constraints, trajectory, grid, params[s])
        for k, constraint in enumerate(constraints):
            left, right = constraint.sides(trajectory, grid, params[s])
            violation[s, k] = max(float(left - right), 0.0)
    return passed, violation


def calibrate_hysomi(
    ds: xr.Dataset, config: HySoMiCalibrationConfig | None = None, model_dir: Path | None = None
) -> xr.Dataset:
    """Fit the 13 PBM parameters to each series of ``ds`` (from ``read_incubation``).

    Parameters
    ----------
    ds : xarray.Dataset
        Dims (series, obs): ``time`` (h), ``co2`` (cumulative, mg C/g), optional ``biomass``.
    config : HySoMiCalibrationConfig, optional
        Initial pools, starts, optimiser, constraint set and solver.
    model_dir : Path, optional
        Run directory of a trained HySoMi trait network, to calibrate through it from the
        series' traits. Not available yet: passing one raises ``NotImplementedError``.

    Returns
    -------
    xarray.Dataset
        The observations (``obs_time``, ``co2``, ``biomass``), the fit at the observations
        (``co2_fit``, ``biomass_fit``), fitted ``params`` (series, param), the six pools on
        the hourly grid (``states``, NaN past each series' last observation), ``co2_r2``,
        ``co2_rmse``, ``loss``, ``status`` (series,), ``constraint_passed`` and
        ``constraint_violation`` (series, constraint); every setting in ``attrs``.
    """
    from soilsciml.engines.jax.calibrate import CalibrationSettings, fit_parameters

    config = config or HySoMiCalibrationConfig()
    if model_dir is not None:
        raise NotImplementedError(
            "calibration through a trained HySoMi trait network (--model) is not available "
            "yet; omit it to fit the 13 parameters of each series directly"
        )
    for name in ("time", "co2"):
        if name not in ds:
            raise ValueError(f"variable {name!r} is missing; read series with read_incubation")
    _check_span(ds, config.data.max_days)
    constraints = cons.constraint_set(config.constraints.setting, config.constraints.factors())
    problem, grids = _problem(ds, np.asarray(config.initial, dtype=float))
    settings = CalibrationSettings(
        constraints=constraints,
        temperature=config.constraints.temperature,
        constraint_weight=config.constraint_weight,
        biomass_weight=config.biomass_weight,
        adam_steps=config.adam_steps,
        polish_steps=config.polish_steps,
        learning_rate=config.learning_rate,
        solver=config.solver,
    )
    starts = _starts(len(grids), config.n_starts, config.seed)
    fit = fit_parameters(problem, starts, settings)
    return _result_dataset(ds, config, constraints, problem, grids, fit)


def _result_dataset(ds, config, constraints, problem, grids, fit) -> xr.Dataset:
    from soilsciml.engines.jax.calibrate import FAILED_LOSS

    n_series = len(grids)
    states = fit["states"]
    at_obs = np.take_along_axis(states, problem.obs_index[..., None], axis=1)
    observed = np.isfinite(ds["time"].values)
    co2_fit = np.where(observed, at_obs[..., _CO2], np.nan)
    biomass_fit = np.where(observed, at_obs[..., _B_A] + at_obs[..., _B_D], np.nan)
    hours = np.arange(np.floor(max(g[-1] for g in grids)) + 1.0)
    hourly = np.full((n_series, hours.size, len(model.STATE_NAMES)), np.nan)
    fit_stats = np.full((n_series, 4), np.nan)
    status = []
    for s, grid in enumerate(grids):
        on_hour = np.isin(grid, hours)
        hourly[s, : on_hour.sum()] = states[s, : grid.size][on_hour]
        code = int(fit["codes"][s])
        ok = code == 0 and fit["loss"][s] < FAILED_LOSS
        failure = SOLVE_MESSAGES.get(code) if code else "the best start's loss is not finite"
        status.append("ok" if ok else failure or f"solver failure (code {code})")
        fit_stats[s, :2] = _r2_rmse(co2_fit[s], ds["co2"].values[s])
        if "biomass" in ds:
            fit_stats[s, 2:] = _r2_rmse(biomass_fit[s], ds["biomass"].values[s])
    passed, violation = _constraint_table(constraints, grids, states, fit["params"])
    series, obs = ("series",), ("series", "obs")
    carbon = "mg C/g"
    data = {
        "obs_time": (obs, ds["time"].values, {"long_name": "observation time", "units": "h"}),
        "co2": (obs, ds["co2"].values, dict(ds["co2"].attrs)),
        "co2_fit": (obs, co2_fit, {"long_name": "fitted cumulative CO2", "units": carbon}),
        "params": (
            ("series", "param"),
            fit["params"],
            {"long_name": "fitted biokinetic parameters", "units": "see param_units"},
        ),
        "states": (
            ("series", "time", "state"),
            hourly,
            {"long_name": "fitted carbon pools", "units": carbon},
        ),
        "co2_r2": (series, fit_stats[:, 0], {"long_name": "R2 of cumulative CO2", "units": "1"}),
        "co2_rmse": (
            series,
            fit_stats[:, 1],
            {"long_name": "RMSE of cumulative CO2", "units": carbon},
        ),
        "loss": (series, fit["loss"], {"long_name": "calibration loss", "units": "1"}),
        "status": (series, np.array(status, dtype=object), {"long_name": "fit status"}),
        "constraint_passed": (
            ("series", "constraint"),
            passed.astype(np.int8),
            {"long_name": "constraint satisfied on the fitted trajectory (1 = yes)", "units": "1"},
        ),
        "constraint_violation": (
            ("series", "constraint"),
            violation,
            {"long_name": "max(a v1 - b v2, 0) in the constraint's units", "units": "various"},
        ),
    }
    if "biomass" in ds:
        data["biomass"] = (obs, ds["biomass"].values, dict(ds["biomass"].attrs))
        data["biomass_fit"] = (
            obs,
            biomass_fit,
            {"long_name": "fitted microbial biomass B_A + B_D", "units": carbon},
        )
        data["biomass_r2"] = (series, fit_stats[:, 2], {"long_name": "R2 of biomass", "units": "1"})
        data["biomass_rmse"] = (
            series,
            fit_stats[:, 3],
            {"long_name": "RMSE of biomass", "units": carbon},
        )
    coords = {
        "series": ds["series"].values,
        "time": ("time", hours, {"long_name": "time since the pulse", "units": "h"}),
        "state": ("state", list(model.STATE_NAMES), {"long_name": "carbon pool"}),
        "param": ("param", list(model.PARAM_NAMES), {"long_name": "biokinetic parameter"}),
        "param_units": ("param", [p.unit for p in model.PARAMETERS]),
        "constraint": ("constraint", [c.label for c in constraints]),
        "constraint_description": ("constraint", [c.description for c in constraints]),
    }
    attrs = {
        "title": "HySoMi calibration to incubation series",
        "source": ds.attrs.get("source", ""),
        "co2_kind": ds.attrs.get("co2_kind", "cumulative"),
        "format": ds.attrs.get("format", ""),
        "config": json.dumps(to_dict(config)),
        "soilsciml_version": __version__,
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _number(value: Any) -> float | None:
    """A float for JSON; None where not finite (no fit statistic, failed solve)."""
    value = float(value)
    return value if np.isfinite(value) else None


def calibration_report(result: xr.Dataset) -> dict[str, Any]:
    """The content of ``fit.json``: per series parameters with units, fit and constraints.

    Statistics that do not exist (biomass R2 of a series without biomass) are ``null``.
    """
    series = []
    for name in result["series"].values:
        row = result.sel(series=name)
        entry = {
            "series": str(name),
            "status": str(row["status"].values),
            "n_co2": int(np.isfinite(row["co2"].values).sum()),
            "co2_r2": _number(row["co2_r2"]),
            "co2_rmse_mg_C_per_g": _number(row["co2_rmse"]),
            "loss": _number(row["loss"]),
            "parameters": {
                p.name: {"value": float(v), "unit": p.unit}
                for p, v in zip(model.PARAMETERS, row["params"].values, strict=True)
            },
            "constraints": {
                str(label): {
                    "description": str(description),
                    "passed": bool(passed),
                    "violation": _number(violation),
                }
                for label, description, passed, violation in zip(
                    result["constraint"].values,
                    result["constraint_description"].values,
                    row["constraint_passed"].values,
                    row["constraint_violation"].values,
                    strict=True,
                )
            },
        }
        if "biomass_r2" in result:
            entry["biomass_r2"] = _number(row["biomass_r2"])
            entry["biomass_rmse_mg_C_per_g"] = _number(row["biomass_rmse"])
        series.append(entry)
    return {"source": result.attrs["source"], "series": series}


def write_calibration(
    result: xr.Dataset, config: HySoMiCalibrationConfig, run_dir: str | Path
) -> list[Path]:
    """Write ``fit.json``, ``results.nc``, ``config.toml`` and ``fit_<series>.png``."""
    from soilsciml.plots.calibration import plot_calibration

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    report = run_dir / "fit.json"
    report.write_text(json_text(calibration_report(result), indent=2) + "\n")
    paths = [report, save_dataset(result, run_dir / "results.nc")]
    paths.append(save_config(config, run_dir / "config.toml"))
    for name in result["series"].values:
        figure = plot_calibration(result, name)
        path = run_dir / f"fit_{re.sub(r'[^A-Za-z0-9_.-]+', '_', str(name))}.png"
        figure.savefig(path, dpi=120)
        paths.append(path)
    return paths
