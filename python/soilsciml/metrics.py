"""Engine-neutral fit metrics (numpy): MSE, RMSE, R2 and residuals by depth, NaN masked."""

from __future__ import annotations

import numpy as np

__all__ = [
    "BAND_LOWER",
    "BAND_UPPER",
    "depth_residuals",
    "interval_coverage",
    "metrics_markdown",
    "regression_metrics",
]


#: Quantiles of an ensemble band: a 90 % interval.
BAND_LOWER, BAND_UPPER = 0.05, 0.95


def interval_coverage(truth: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Fraction of finite ``truth`` entries with ``lower <= truth <= upper``."""
    truth, lower, upper = np.broadcast_arrays(truth, lower, upper)
    keep = np.isfinite(truth) & np.isfinite(lower) & np.isfinite(upper)
    if not keep.any():
        return float("nan")
    inside = (truth[keep] >= lower[keep]) & (truth[keep] <= upper[keep])
    return float(np.mean(inside))


def regression_metrics(predicted: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """MSE, RMSE and R2 of ``predicted`` against ``observed`` over entries where both are finite.

    Parameters
    ----------
    predicted, observed : ndarray
        Same shape, same units (SOC in % for the SOC UDE); NaN marks a missing value.

    Returns
    -------
    dict
        ``mse`` (units squared), ``rmse`` (units), ``r2`` (1 - SSE / SST around the mean of
        the observed entries; NaN when they have no variance) and ``n`` (entries used).
    """
    predicted = np.asarray(predicted, dtype=float)
    observed = np.asarray(observed, dtype=float)
    if predicted.shape != observed.shape:
        raise ValueError(f"shapes differ: predicted {predicted.shape}, observed {observed.shape}")
    keep = np.isfinite(predicted) & np.isfinite(observed)
    if not keep.any():
        return {"mse": float("nan"), "rmse": float("nan"), "r2": float("nan"), "n": 0}
    residual = predicted[keep] - observed[keep]
    mse = float(np.mean(residual**2))
    total = float(np.sum((observed[keep] - observed[keep].mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else float("nan")
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "r2": r2, "n": int(keep.sum())}


def depth_residuals(predicted: np.ndarray, observed: np.ndarray) -> dict[str, np.ndarray]:
    """Mean residual (bias) and RMSE at each depth of (time, depth) arrays, NaN masked.

    Returns
    -------
    dict
        ``bias`` and ``rmse``, each shape (nz,), in the units of the inputs.
    """
    residual = np.asarray(predicted, dtype=float) - np.asarray(observed, dtype=float)
    residual = np.atleast_2d(residual)
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(residual).sum(axis=0)
        filled = np.where(np.isfinite(residual), residual, 0.0)
        bias = np.where(counts > 0, filled.sum(axis=0) / np.maximum(counts, 1), np.nan)
        rmse = np.where(
            counts > 0, np.sqrt((filled**2).sum(axis=0) / np.maximum(counts, 1)), np.nan
        )
    return {"bias": bias, "rmse": rmse}


def metrics_markdown(metrics: dict) -> str:
    """A Markdown table of the scalar entries of a metrics dict (nested entries left out)."""
    lines = ["| metric | value |", "|---|---|"]
    for name, value in metrics.items():
        if isinstance(value, float):
            lines.append(f"| {name} | {value:.6g} |")
        elif isinstance(value, int | str):
            lines.append(f"| {name} | {value} |")
    return "\n".join(lines) + "\n"
