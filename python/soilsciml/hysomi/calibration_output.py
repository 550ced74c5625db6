"""Results of a HySoMi calibration: the Dataset, ``fit.json`` and the run directory."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from soilsciml import __version__
from soilsciml.config import HySoMiCalibrationConfig, save_config, to_dict
from soilsciml.data.io import json_text, save_dataset
from soilsciml.engines.base import SOLVE_MESSAGES
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = ["calibration_report", "result_dataset", "write_calibration"]

_UNITS = {"co2": "mg C/g", "co2_rate": "mg C/(g h)", "biomass": "mg C/g", "glucose": "mg C/g"}
_MODEL_QUANTITY = {
    "co2": "cumulative CO2",
    "co2_rate": "dCO2/dt",
    "biomass": "B_A + B_D",
    "glucose": "C_L",
}


def _metrics(pred: np.ndarray, observed: np.ndarray) -> tuple[float, float, float, int]:
    """R2, RMSE, bias (mean of fit - observation) and count over the observed values."""
    keep = np.isfinite(observed) & np.isfinite(pred)
    count = int(np.isfinite(observed).sum())
    if keep.sum() < 2:
        return np.nan, np.nan, np.nan, count
    residual = pred[keep] - observed[keep]
    total = np.sum((observed[keep] - observed[keep].mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / total if total > 0 else np.nan
    return float(r2), float(np.sqrt(np.mean(residual**2))), float(residual.mean()), count


def _constraint_table(constraints, grids, dense, states, params):
    """Hard pass/fail and violation ``max(a v1 - b v2, 0)`` on the dense grid of each series."""
    passed = np.zeros((len(grids), len(constraints)), dtype=bool)
    violation = np.zeros(passed.shape)
    for s, grid in enumerate(grids):
        keep = dense <= grid[-1]
        trajectory, times = states[s, keep], dense[keep]
        passed[s] = cons.hard_check(constraints, trajectory, times, params[s])
        for k, constraint in enumerate(constraints):
            left, right = constraint.sides(trajectory, times, params[s])
            violation[s, k] = max(float(left - right), 0.0)
    return passed, violation


def _status(fit) -> list[str]:
    from soilsciml.engines.jax.calibrate import FAILED_RESIDUAL

    out = []
    for chi2, code in zip(fit["chi2"], fit["codes"], strict=True):
        if code != 0:
            out.append(SOLVE_MESSAGES.get(int(code), f"solver failure (code {code})"))
        elif not chi2 < FAILED_RESIDUAL**2:
            out.append("the best start's solve failed")
        else:
            out.append("ok")
    return out


def result_dataset(ds, config, channels, constraints, grids, dense, fit, spread, ident, factors):
    """The calibration Dataset (see ``calibrate_hysomi``)."""
    n_series, width = ds.sizes["series"], ds.sizes["obs"]
    names = [name for name, _ in channels]
    observed_time = ds["time"].values
    obs, series = ("series", "obs"), ("series",)
    carbon = "mg C/g"
    horizon = np.array([g[-1] for g in grids])
    beyond = dense[None, :] > horizon[:, None]
    states = np.where(beyond[..., None], np.nan, fit["states"])
    data: dict[str, Any] = {
        "obs_time": (obs, observed_time, {"long_name": "observation time", "units": "h"}),
    }
    metrics = np.full((n_series, len(names), 3), np.nan)
    counts = np.zeros((n_series, len(names)), dtype=int)
    for c, name in enumerate(names):
        pred = np.where(np.isfinite(observed_time), fit["at_obs"][:, c, :width], np.nan)
        data[name] = (obs, ds[name].values, dict(ds[name].attrs))
        data[f"{name}_fit"] = (
            obs,
            pred,
            {"long_name": f"fitted {_MODEL_QUANTITY[name]}", "units": _UNITS[name]},
        )
        for s in range(n_series):
            *metrics[s, c], counts[s, c] = _metrics(pred[s], ds[name].values[s])
    data["sigma"] = (
        ("series", "channel", "obs"),
        fit["sigma"],
        {
            "long_name": "observation sigma (noise model; held-out: residual RMS)",
            "units": "see channel_units",
        },
    )
    for k, (key, long_name) in enumerate(
        (("r2", "R2"), ("rmse", "RMSE"), ("bias", "bias: mean of fit - observation"))
    ):
        units = "1" if key == "r2" else "see channel_units"
        data[key] = (
            ("series", "channel"),
            metrics[..., k],
            {"long_name": long_name, "units": units},
        )
    data["n_obs"] = (("series", "channel"), counts, {"long_name": "observations", "units": "1"})
    data["params"] = (("series", "param"), fit["params"], {"long_name": "fitted parameters"})
    data["chi2"] = (series, fit["chi2"], {"long_name": "sum of squared residuals", "units": "1"})
    data["lm_steps"] = (series, fit["steps"], {"long_name": "polish iterations", "units": "1"})
    data["status"] = (series, np.array(_status(fit), dtype=object), {"long_name": "fit status"})
    pools = ("series", "time", "state")
    data["states"] = (pools, states, {"long_name": "fitted carbon pools", "units": carbon})
    passed, violation = _constraint_table(constraints, grids, dense, fit["states"], fit["params"])
    data["constraint_passed"] = (
        ("series", "constraint"),
        passed.astype(np.int8),
        {"long_name": "constraint satisfied on the dense fitted trajectory (1 = yes)"},
    )
    data["constraint_violation"] = (
        ("series", "constraint"),
        violation,
        {"long_name": "max(a v1 - b v2, 0) in the constraint's units", "units": "various"},
    )
    ident_dims = ("series", "channel_set", "param")
    data["importance"] = (ident_dims, ident["importance"], {"long_name": "sensitivity msqr"})
    data["identifiable"] = (
        ident_dims,
        ident["identifiable"].astype(np.int8),
        {"long_name": "in the largest subset with collinearity below the threshold"},
    )
    data["collinearity_all"] = (
        ("series", "channel_set"),
        ident["gamma_all"],
        {"long_name": "collinearity index of all 13 parameters", "units": "1"},
    )
    data["collinearity_best"] = (
        ("series", "channel_set", "subset_size"),
        ident["gamma_best"],
        {"long_name": "lowest collinearity index of a subset of each size", "units": "1"},
    )
    coords: dict[str, Any] = {
        "series": ds["series"].values,
        "channel": ("channel", names, {"long_name": "observation channel"}),
        "channel_role": ("channel", ["fitted" if f else "held out" for _, f in channels]),
        "channel_units": ("channel", [_UNITS[n] for n in names]),
        "channel_set": ("channel_set", ident["sets"]),
        "subset_size": ("subset_size", np.arange(2, len(model.PARAMETERS) + 1)),
        "time": ("time", dense, {"long_name": "time since the pulse", "units": "h"}),
        "state": ("state", list(model.STATE_NAMES), {"long_name": "carbon pool"}),
        "param": ("param", list(model.PARAM_NAMES), {"long_name": "biokinetic parameter"}),
        "param_units": ("param", [p.unit for p in model.PARAMETERS]),
        "constraint": ("constraint", [c.label for c in constraints]),
        "constraint_description": ("constraint", [c.description for c in constraints]),
    }
    warnings: list[list[str]] = [[] for _ in range(n_series)]
    if spread is not None:
        _add_spread(data, coords, spread, beyond)
        warnings = spread["warnings"]
    attrs = {
        "title": "HySoMi calibration to incubation series",
        "source": ds.attrs.get("source", ""),
        "co2_kind": ds.attrs.get("co2_kind", "cumulative"),
        "format": ds.attrs.get("format", ""),
        "uncertainty": config.uncertainty,
        "level": config.level,
        "collinearity_threshold": config.collinearity_threshold,
        "constraint_factors": json.dumps(factors),
        "warnings": json.dumps(warnings),
        "config": json.dumps(to_dict(config)),
        "soilsciml_version": __version__,
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _add_spread(data, coords, spread, beyond) -> None:
    level = "interval bound at the level in attrs"
    for key in ("lower", "upper"):
        data[f"params_{key}"] = (("series", "param"), spread[key], {"long_name": f"{key} {level}"})
        band = np.where(beyond[..., None], np.nan, spread[f"band_{key}"])
        data[f"states_{key}"] = (
            ("series", "time", "state"),
            band[..., :-1],
            {"long_name": f"{key} band of the pools ({spread['method']})", "units": "mg C/g"},
        )
        data[f"biomass_band_{key}"] = (
            ("series", "time"),
            band[..., -1],
            {"long_name": f"{key} band of B_A + B_D ({spread['method']})", "units": "mg C/g"},
        )
        data[f"{key}_open"] = (
            ("series", "param"),
            spread[f"open_{key}"].astype(np.int8),
            {"long_name": f"{key} side reaches the box edge (1 = not identified there)"},
        )
    if spread["method"] == "profile":
        dims = ("series", "param", "point")
        data["profile_value"] = (dims, spread["profile_value"], {"long_name": "held value"})
        data["profile_delta_chi2"] = (
            dims,
            spread["profile_delta_chi2"],
            {"long_name": "chi2 - chi2_min, the others re-fitted", "units": "1"},
        )
        data["profile_threshold"] = ((), spread["threshold"], {"long_name": "chi2(1) quantile"})
    else:
        data["draws"] = (("series", "draw", "param"), spread["draws"], {"long_name": "NUTS draws"})
        data["rhat"] = (("series", "param"), spread["rhat"], {"long_name": "split R-hat"})
        data["ess"] = (("series", "param"), spread["ess"], {"long_name": "effective sample size"})
        data["divergent"] = (("series",), spread["divergent"], {"long_name": "divergences"})
        data["sampled"] = (
            ("series", "param"),
            spread["sampled"].astype(np.int8),
            {"long_name": "sampled by NUTS (1); 0: held at the point estimate"},
        )


def _number(value: Any) -> float | None:
    """A float for JSON; None where not finite (no statistic, failed solve)."""
    value = float(value)
    return value if np.isfinite(value) else None


def _median(values: np.ndarray) -> float | None:
    """Median of the finite values (None when there is none)."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def _parameters(row, result) -> dict[str, Any]:
    out = {}
    for i, spec in enumerate(model.PARAMETERS):
        entry = {"value": float(row["params"].values[i]), "unit": spec.unit}
        if "params_lower" in result:
            entry["lower"] = _number(row["params_lower"].values[i])
            entry["upper"] = _number(row["params_upper"].values[i])
            entry["lower_reaches_box"] = bool(row["lower_open"].values[i])
            entry["upper_reaches_box"] = bool(row["upper_open"].values[i])
        if "rhat" in result:
            entry["sampled"] = bool(row["sampled"].values[i])
            entry["rhat"] = _number(row["rhat"].values[i])
            entry["ess"] = _number(row["ess"].values[i])
        out[spec.name] = entry
    return out


def calibration_report(result: xr.Dataset) -> dict[str, Any]:
    """The content of ``fit.json``: per series the status, channel metrics, parameters with
    intervals, identifiability and constraints. Statistics that do not exist are ``null``."""
    warnings = json.loads(result.attrs.get("warnings", "[]"))
    series = []
    for s, name in enumerate(result["series"].values):
        row = result.sel(series=name)
        channels = {}
        for c, channel in enumerate(result["channel"].values):
            channels[str(channel)] = {
                "role": str(result["channel_role"].values[c]),
                "unit": _UNITS[str(channel)],
                "n": int(row["n_obs"].values[c]),
                "r2": _number(row["r2"].values[c]),
                "rmse": _number(row["rmse"].values[c]),
                "bias": _number(row["bias"].values[c]),
                "sigma": _median(row["sigma"].values[c]),
            }
        identifiability = {
            str(label): {
                "identifiable": [
                    p
                    for p, flag in zip(
                        model.PARAM_NAMES, row["identifiable"].values[k], strict=True
                    )
                    if flag
                ],
                "importance": {
                    p: _number(v)
                    for p, v in zip(model.PARAM_NAMES, row["importance"].values[k], strict=True)
                },
                "collinearity_all": _number(row["collinearity_all"].values[k]),
            }
            for k, label in enumerate(result["channel_set"].values)
        }
        entry = {
            "series": str(name),
            "status": str(row["status"].values),
            "chi2": _number(row["chi2"]),
            "channels": channels,
            "parameters": _parameters(row, result),
            "identifiability": identifiability,
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
            "warnings": warnings[s] if s < len(warnings) else [],
        }
        series.append(entry)
    return {
        "source": result.attrs["source"],
        "uncertainty": result.attrs["uncertainty"],
        "level": float(result.attrs["level"]),
        "collinearity_threshold": float(result.attrs["collinearity_threshold"]),
        "constraint_factors": json.loads(result.attrs["constraint_factors"]),
        "series": series,
    }


def write_calibration(
    result: xr.Dataset, config: HySoMiCalibrationConfig, run_dir: str | Path
) -> list[Path]:
    """Write ``fit.json`` (strict JSON), ``results.nc``, ``config.toml`` and per series
    ``fit_<series>.png`` (fit and residuals), ``pools_<series>.png`` (pools with bands) and,
    with intervals, ``uncertainty_<series>.png`` (profiles or marginal posteriors)."""
    from soilsciml.plots.calibration import plot_fit, plot_pools, plot_uncertainty

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    report = run_dir / "fit.json"
    report.write_text(json_text(calibration_report(result), indent=2) + "\n")
    paths = [report, save_dataset(result, run_dir / "results.nc")]
    paths.append(save_config(config, run_dir / "config.toml"))
    plots = [("fit", plot_fit), ("pools", plot_pools)]
    if "params_lower" in result:
        plots.append(("uncertainty", plot_uncertainty))
    for name in result["series"].values:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))
        for prefix, plot in plots:
            figure = plot(result, name)
            path = run_dir / f"{prefix}_{stem}.png"
            figure.savefig(path, dpi=110)
            paths.append(path)
    return paths
