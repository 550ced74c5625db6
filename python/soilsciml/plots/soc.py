"""Figures of SOC datasets and SOC UDE fits: profiles, drivers, residuals, loss curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from soilsciml.plots import new_figure

__all__ = [
    "fit_figures",
    "plot_drivers",
    "plot_fit_heatmap",
    "plot_fit_profile",
    "plot_loss",
    "plot_profiles",
    "plot_residual_depth",
]


def _label(var: xr.DataArray) -> str:
    return f"{var.attrs.get('long_name', var.name)} [{var.attrs.get('units', '')}]"


def _depth_axis(ax) -> None:
    ax.invert_yaxis()
    ax.set_ylabel("depth [m]")


def plot_profiles(ds: xr.Dataset, times: Sequence[float] | None = None) -> Figure:
    """SOC profiles at a few times (default: start, middle, end); clean truth dashed if kept."""
    if times is None:
        t = ds["time"].values
        times = sorted({float(t[0]), float(t[len(t) // 2]), float(t[-1])})
    fig, ax = new_figure(figsize=(4.5, 5), layout="constrained")
    for i, time in enumerate(times):
        color = f"C{i}"
        row = ds.sel(time=time, method="nearest")
        ax.plot(row["soc"], ds["depth"], "o", ms=3, color=color, label=f"t = {time:g} yr")
        if "soc_clean" in ds:
            ax.plot(row["soc_clean"], ds["depth"], "--", color=color)
    ax.set_xlabel(_label(ds["soc"]))
    _depth_axis(ax)
    ax.legend(title="dashed: clean" if "soc_clean" in ds else None)
    ax.set_title("SOC depth profiles")
    return fig


def plot_drivers(ds: xr.Dataset, time: float | None = None) -> Figure:
    """pH, CEC and clay over depth at ``time`` (default: mid-horizon)."""
    if time is None:
        time = float(np.median(ds["time"].values))
    row = ds.sel(time=time, method="nearest")
    fig, axes = new_figure(1, 3, figsize=(10, 4.5), sharey=True, layout="constrained")
    for ax, name in zip(axes, ("ph", "cec", "clay"), strict=True):
        ax.plot(row[name], ds["depth"], "o-", ms=3, label="observed")
        if f"{name}_clean" in ds:
            ax.plot(row[f"{name}_clean"], ds["depth"], "--k", label="clean")
            ax.legend()
        ax.set_xlabel(_label(ds[name]))
    _depth_axis(axes[0])
    fig.suptitle(f"drivers at t = {float(row['time']):g} yr")
    return fig


def _fitted_rows(fit: xr.Dataset):
    """(time, row, colour) for each fitted time of a fit dataset."""
    for i, time in enumerate(fit["fit_time"].values):
        yield time, fit.sel(fit_time=time), f"C{i % 10}"


def plot_fit_profile(fit: xr.Dataset) -> Figure:
    """Predicted vs target SOC profile at each fitted time (clean truth dashed when known)."""
    fig, ax = new_figure(figsize=(4.5, 5), layout="constrained")
    depth = fit["depth"]
    for time, row, color in _fitted_rows(fit):
        label = f"t = {time:g} yr" if fit.sizes["fit_time"] <= 5 else None
        ax.plot(row["soc_fit_obs"], depth, "o", ms=3, color=color, label=label)
        ax.plot(row["soc_fit_pred"], depth, "-", color=color)
        if "soc_fit_clean" in fit:
            ax.plot(row["soc_fit_clean"], depth, "--", color="k", lw=0.8)
    ax.set_xlabel(_label(fit["soc_fit_pred"]).replace("predicted ", ""))
    _depth_axis(ax)
    ax.legend(title="dots: target, line: UDE", fontsize=8)
    ax.set_title("true vs predicted profile")
    return fig


def plot_residual_depth(fit: xr.Dataset) -> Figure:
    """Residual (predicted - target) over depth at each fitted time; vs clean truth dashed."""
    fig, ax = new_figure(figsize=(4.5, 5), layout="constrained")
    depth = fit["depth"]
    for _, row, color in _fitted_rows(fit):
        ax.plot(row["soc_fit_pred"] - row["soc_fit_obs"], depth, "o-", ms=3, color=color)
        if "soc_fit_clean" in fit:
            ax.plot(row["soc_fit_pred"] - row["soc_fit_clean"], depth, "--", color=color)
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("residual, predicted - target [%]")
    _depth_axis(ax)
    ax.set_title("residual vs depth" + (" (dashed: vs clean)" if "soc_fit_clean" in fit else ""))
    return fig


def plot_fit_heatmap(fit: xr.Dataset) -> Figure:
    """Three panels over (time, depth): target (clean truth when known) | predicted | residual."""
    reference = fit["soc_truth"] if "soc_truth" in fit else fit["soc"]
    residual = fit["soc_pred"] - reference
    fig, axes = new_figure(1, 3, figsize=(12, 4), sharey=True, layout="constrained")
    vmin = float(np.nanmin([reference.min(), fit["soc_pred"].min()]))
    vmax = float(np.nanmax([reference.max(), fit["soc_pred"].max()]))
    extent = float(np.nanmax(np.abs(residual.values))) or 1.0
    panels = [
        (reference, "true" if "soc_truth" in fit else "observed", "viridis", vmin, vmax),
        (fit["soc_pred"], "predicted", "viridis", vmin, vmax),
        (residual, "residual", "RdBu_r", -extent, extent),
    ]
    for ax, (field, title, cmap, low, high) in zip(axes, panels, strict=True):
        mesh = ax.pcolormesh(
            fit["time"],
            fit["depth"],
            field.transpose("depth", "time"),
            cmap=cmap,
            vmin=low,
            vmax=high,
            shading="nearest",
        )
        fig.colorbar(mesh, ax=ax, label="SOC [%]")
        ax.set_title(title)
        ax.set_xlabel("time [yr]")
    _depth_axis(axes[0])
    return fig


def plot_loss(history: dict[str, np.ndarray]) -> Figure:
    """Training loss per iteration, stages one after the other, log scale."""
    fig, ax = new_figure(figsize=(6, 4), layout="constrained")
    offset = 0
    for stage, losses in history.items():
        steps = offset + np.arange(len(losses))
        ax.semilogy(steps, losses, label=stage)
        offset += len(losses)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    ax.legend()
    ax.set_title("loss curve")
    return fig


def fit_figures(fit: xr.Dataset, history: dict[str, np.ndarray]) -> dict[str, Figure]:
    """Every figure of a SOC UDE fit, by file stem."""
    return {
        "fit_profile": plot_fit_profile(fit),
        "residual_depth": plot_residual_depth(fit),
        "heatmap": plot_fit_heatmap(fit),
        "drivers_mid": plot_drivers(fit),
        "loss": plot_loss(history),
    }


def plot_ensemble_profile(fit: xr.Dataset) -> Figure:
    """Ensemble mean and its 5-95 % band over depth at each fitted time, with the target
    (dots) and the clean truth (dashed) when known."""
    fig, ax = new_figure(figsize=(4.5, 5), layout="constrained")
    depth = fit["depth"]
    for time, row, color in _fitted_rows(fit):
        ax.fill_betweenx(
            depth,
            row["soc_lower"],
            row["soc_upper"],
            color=color,
            alpha=0.25,
            lw=0,
            label="5-95 % band",
        )
        ax.plot(row["soc_fit_obs"], depth, "o", ms=3, color=color, label=f"target t = {time:g} yr")
        ax.plot(row["soc_mean"], depth, "-", color=color, label="ensemble mean")
        if "soc_fit_clean" in fit:
            ax.plot(row["soc_fit_clean"], depth, "--", color="k", lw=0.8, label="clean truth")
    ax.set_xlabel(_label(fit["soc_mean"]).replace("ensemble mean", "SOC"))
    _depth_axis(ax)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=8)
    ax.set_title(f"ensemble of {fit.sizes.get('member', 0)} fits")
    return fig
