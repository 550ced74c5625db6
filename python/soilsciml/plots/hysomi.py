"""Figures of HySoMi training runs: per-state MSE and per-constraint violation bars,
predicted against true trajectories (one run, or one test sample under several models), the
test error over time, training curves. Each function returns a Figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from soilsciml.models.hysomi import STATE_NAMES, STATES
from soilsciml.plots import new_figure

__all__ = [
    "constraint_violation_bars",
    "ensemble_bands",
    "error_over_time",
    "model_trajectories",
    "most_dormant_sample",
    "state_mse_bars",
    "sweep_lines",
    "training_curves",
    "trajectories",
]


def _grouped_bars(
    metrics: Mapping[str, Mapping[str, Any]],
    keys: Sequence[str],
    labels: Sequence[str],
    ylabel: str,
    log: bool,
) -> Figure:
    """Bars of ``metrics[model][key]`` grouped by key, one colour per model (None -> no bar)."""
    fig, ax = new_figure(figsize=(max(6.0, 0.7 * len(keys) * max(1, len(metrics))), 3.8))
    width = 0.8 / max(1, len(metrics))
    x = np.arange(len(keys))
    for i, (name, values) in enumerate(metrics.items()):
        heights = [np.nan if values.get(k) is None else values[k] for k in keys]
        ax.bar(x + (i - (len(metrics) - 1) / 2) * width, heights, width, label=name)
    ax.set_xticks(x, labels)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def state_mse_bars(metrics: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Per-state test MSE, (mg C/g)^2, log scale, one bar per model (paper Fig. 2)."""
    keys = [f"mse_{s}" for s in STATE_NAMES]
    return _grouped_bars(metrics, keys, STATE_NAMES, "test MSE ((mg C/g)$^2$)", log=True)


def constraint_violation_bars(metrics: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Mean soft violation per constraint on the test split, one bar per model (paper Fig. 5)."""
    first = next(iter(metrics.values()))
    labels = [k.removeprefix("violation_") for k in first if k.startswith("violation_")]
    keys = [f"violation_{label}" for label in labels]
    return _grouped_bars(metrics, keys, labels, "mean violation (constraint units)", log=False)


def _pool_panels(ylabel: str, xlabel: str = "time (h)"):
    """A 2 x 3 figure, one panel per pool in the contract order, titled and labelled."""
    fig, axes = new_figure(2, 3, figsize=(11, 6), sharex=True)
    for ax, state in zip(axes.flat, STATE_NAMES, strict=True):
        ax.set_title(f"{state}: {STATES[state]}", fontsize=8)
        ax.set_ylabel(ylabel)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    return fig, axes


def trajectories(predictions: xr.Dataset, samples: Sequence[int] = (0, 1, 2)) -> Figure:
    """True (solid) and predicted (dashed) pools of a few test samples, one panel per pool."""
    fig, axes = _pool_panels("mg C/g")
    times = predictions["time"].values
    for j, ax in enumerate(axes.flat):
        for k, i in enumerate(samples):
            colour = f"C{k}"
            ax.plot(times, predictions["states_true"].values[i, :, j], color=colour, lw=1.5)
            ax.plot(times, predictions["states_pred"].values[i, :, j], "--", color=colour, lw=1.2)
    fig.suptitle(
        f"{predictions.attrs.get('model', '')}: true (solid) and predicted (dashed) test samples"
    )
    fig.tight_layout()
    return fig


def most_dormant_sample(predictions: xr.Dataset) -> int:
    """Position of the test sample with the largest true dormant biomass B_D at the end of
    the incubation, the kind of sample the paper's Fig. 6 shows (dormancy after the pulse)."""
    j = STATE_NAMES.index("B_D")
    return int(np.argmax(predictions["states_true"].values[:, -1, j]))


def model_trajectories(predictions: Mapping[str, xr.Dataset], sample: int | None = None) -> Figure:
    """One test sample's six pools, true (black) and as each model predicts them (dashed),
    one panel per pool, mg C/g against hours (paper Fig. 6).

    Parameters
    ----------
    predictions : mapping
        Model name -> its predictions on the same test split (``results.nc`` of a run:
        ``states_true``, ``states_pred`` on (sample, time, state)). A model without a
        process-model trajectory (``ml``) draws only the pools it predicts (finite values).
    sample : int, optional
        Position in the test split; default :func:`most_dormant_sample` of the first model.
    """
    first = next(iter(predictions.values()))
    i = most_dormant_sample(first) if sample is None else int(sample)
    fig, axes = _pool_panels("mg C/g", "time since the pulse (h)")
    times = first["time"].values
    for j, ax in enumerate(axes.flat):
        ax.plot(times, first["states_true"].values[i, :, j], "k", lw=1.8, label="truth")
        for k, (name, ds) in enumerate(predictions.items()):
            values = ds["states_pred"].values[i, :, j]
            if np.isfinite(values).any():
                ax.plot(times, values, "--", color=f"C{k}", lw=1.3, label=name)
    axes.flat[-1].legend(fontsize=7)  # CO2: the pool every model predicts
    fig.suptitle(f"test sample {int(first['sample'].values[i])}: truth and predictions")
    fig.tight_layout()
    return fig


def error_over_time(predictions: Mapping[str, xr.Dataset]) -> Figure:
    """Test MSE of each pool at each output time, one line per model, log scale (paper
    Fig. C.1); samples whose solve failed are left out, as in the metrics.

    Parameters
    ----------
    predictions : mapping
        Model name -> its predictions on the test split (see :func:`model_trajectories`).
    """
    fig, axes = _pool_panels("test MSE ((mg C/g)$^2$)", "time since the pulse (h)")
    for k, (name, ds) in enumerate(predictions.items()):
        keep = ds["solve_status"].values == 0
        error = (ds["states_pred"].values[keep] - ds["states_true"].values[keep]) ** 2
        times = ds["time"].values
        for j, ax in enumerate(axes.flat):
            mse = error[:, :, j].mean(axis=0)
            if np.isfinite(mse).any():
                ax.plot(times, mse, color=f"C{k}", lw=1.3, label=name)
    for ax in axes.flat:
        ax.set_yscale("log")
    axes.flat[-1].legend(fontsize=7)  # CO2: the pool every model predicts
    fig.suptitle("test error over the incubation")
    fig.tight_layout()
    return fig


def ensemble_bands(ensemble: xr.Dataset, sample: int = 0) -> Figure:
    """One test sample's pools: the ensemble's 5-95 % band, its calibrated band, the mean and
    the truth."""
    fig, axes = _pool_panels("mg C/g")
    times = ensemble["time"].values
    for j, ax in enumerate(axes.flat):
        lower = ensemble["states_lower"].values[sample, :, j]
        upper = ensemble["states_upper"].values[sample, :, j]
        if "states_lower_calibrated" in ensemble:
            ax.fill_between(
                times,
                ensemble["states_lower_calibrated"].values[sample, :, j],
                ensemble["states_upper_calibrated"].values[sample, :, j],
                color="C1",
                alpha=0.2,
                lw=0,
                label=f"calibrated (x{ensemble.attrs.get('band_scale', 1.0):.2g})",
            )
        ax.fill_between(times, lower, upper, color="C0", alpha=0.3, lw=0, label="5-95 %")
        ax.plot(times, ensemble["states_mean"].values[sample, :, j], color="C0", label="mean")
        ax.plot(times, ensemble["states_true"].values[sample, :, j], "k--", lw=1, label="truth")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(
        f"ensemble of {ensemble.sizes['member']}: test sample {int(ensemble['sample'][sample])}"
    )
    fig.tight_layout()
    return fig


def training_curves(predictions: xr.Dataset) -> Figure:
    """Training and validation objective per epoch, and the validation loss terms with the
    selection criterion (log scale); the dotted line marks the epoch kept."""
    fig, (ax_loss, ax_terms) = new_figure(1, 2, figsize=(10, 3.8))
    epoch = predictions["epoch"].values
    ax_loss.plot(epoch, predictions["train_loss"].values, label="training")
    ax_loss.plot(epoch, predictions["validation_loss"].values, label="validation")
    if "selection" in predictions:
        ax_terms.plot(epoch, predictions["selection"].values, "k", lw=2, label="criterion")
        ax_terms.axvline(predictions.attrs.get("best_epoch", epoch[-1]), color="grey", ls=":")
    ax_loss.axvline(predictions.attrs.get("best_epoch", epoch[-1]), color="grey", ls=":")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    terms = predictions["validation_terms"]
    for name in terms["term"].values:
        values = terms.sel(term=name).values
        if np.any(values > 0):
            ax_terms.plot(epoch, values, label=str(name))
    ax_terms.set_yscale("log")
    ax_terms.set_xlabel("epoch")
    ax_terms.set_ylabel("validation term")
    ax_terms.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


#: Axis labels, with units, of the swept settings and metrics of :func:`sweep_lines`.
AXIS_LABELS = {
    "n_train": "training samples",
    "generator_depth": "generator depth (hidden layers)",
    "trait_noise": "trait noise (SD, trait units)",
    "mse_co2": "test MSE of CO$_2$ ((mg C/g)$^2$)",
    "mse_hidden": "test MSE of the hidden pools ((mg C/g)$^2$)",
    "l1_params": "test mean abs. parameter error (box width = 1)",
    "constraint_sum": "test constraint violation (sum of means)",
}


def sweep_lines(records: Sequence[Mapping[str, Any]], x: str, metrics: Sequence[str]) -> Figure:
    """Metrics against a swept setting ``x``, one line per model (paper Figs. 3 and 4).

    ``records`` hold ``x``, ``model`` and the metrics; seeds of one (x, model) are averaged.
    Errors are on a log axis; ``constraint_sum`` too, or on a symmetric-log one where a
    value is an exact zero (every constraint met), so that it stays on the figure.
    """
    fig, axes = new_figure(1, len(metrics), figsize=(4.0 * len(metrics), 3.5))
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        drawn = []
        for name in dict.fromkeys(r["model"] for r in records):
            xs = sorted({r[x] for r in records if r["model"] == name})
            ys = [
                np.mean([r[metric] for r in records if r["model"] == name and r[x] == value])
                for value in xs
            ]
            ax.plot(xs, ys, "o-", label=name)
            drawn.extend(ys)
        ax.set_xlabel(AXIS_LABELS.get(x, x))
        ax.set_ylabel(AXIS_LABELS.get(metric, metric))
        if metric == "constraint_sum" and min(drawn, default=0.0) <= 0:
            ax.set_yscale("symlog", linthresh=1e-4)
        else:
            ax.set_yscale("log")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
