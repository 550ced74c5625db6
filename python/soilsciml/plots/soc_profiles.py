"""Figures of SOC UDE fits to measured profiles: one panel per site.

Measured layers are drawn as steps (a layer mean is constant over its layer), the model state
as a line and its layer means as dashed steps; time axes span each site's observed campaigns.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from soilsciml.plots import new_figure
from soilsciml.plots.soc import plot_loss

__all__ = [
    "layer_steps",
    "plot_net_source",
    "plot_profiles_by_site",
    "plot_topsoil_by_site",
    "profile_figures",
]


def layer_steps(bounds: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, depth) of a step line through the layer means ``values`` over ``bounds`` (n, 2);
    NaN breaks the line at unmeasured layers and at gaps."""
    xs, zs = [], []
    for (top, bottom), value in sorted(zip(map(tuple, bounds), values, strict=True)):
        if not (np.isfinite(value) and np.isfinite(top)):
            continue
        if zs and zs[-1] != top:
            xs.append(np.nan)
            zs.append(np.nan)
        xs += [value, value]
        zs += [top, bottom]
    return np.array(xs), np.array(zs)


def _panels(n: int, width: float = 2.6, height: float = 3.0):
    columns = min(n, 4)
    rows = -(-n // columns)
    fig, axes = new_figure(
        rows, columns, figsize=(width * columns, height * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _units(var: xr.DataArray) -> str:
    return var.attrs.get("units", "")


def plot_profiles_by_site(fit: xr.Dataset) -> Figure:
    """Per site: observed layers (solid steps) and predicted layer means (dashed steps) at
    each SOC campaign, the model state (thin line) and the clean truth (dotted) when known."""
    fig, axes = _panels(fit.sizes["site"])
    for s, ax in enumerate(axes):
        if s >= fit.sizes["site"]:
            break
        site = fit.isel(site=s)
        bounds = site["depth_bounds"].values
        for j in np.flatnonzero(site["campaign"].values > 0):
            row = site.isel(time=j)
            color = f"C{(int(row['campaign']) - 1) % 10}"
            label = f"{float(row['time']):.0f}"
            ax.plot(*layer_steps(bounds, row["soc"].values), color=color, lw=1.8, label=label)
            ax.plot(*layer_steps(bounds, row["soc_pred"].values), "--", color=color, lw=1.0)
            ax.plot(row["soc_state"], fit["model_depth"], color=color, lw=0.6, alpha=0.7)
            if "soc_clean" in site:
                ax.plot(*layer_steps(bounds, row["soc_clean"].values), ":", color="k", lw=0.8)
        ax.invert_yaxis()
        ax.set_title(str(site["site"].values), fontsize=9)
        ax.set_xlabel(f"SOC [{_units(fit['soc'])}]")
        ax.set_ylabel("depth [m]")
        ax.legend(fontsize=7, title="campaign", title_fontsize=7)
    fig.suptitle("observed layers (solid), predicted layer means (dashed), model state (thin)")
    return fig


def plot_topsoil_by_site(fit: xr.Dataset) -> Figure:
    """Per site: topsoil SOC over the years of its observed campaigns, observed (dots, each
    campaign harmonised by the equal-area spline) and predicted (line)."""
    fig, axes = _panels(fit.sizes["site"], height=2.4)
    years = fit["time"].values
    for s, ax in enumerate(axes):
        if s >= fit.sizes["site"]:
            break
        site = fit.isel(site=s)
        measured = site["campaign"].values > 0
        predicted = site["soc_topsoil_pred"].values
        shown = np.isfinite(predicted)
        ax.plot(years[shown], predicted[shown], "-", color="C0", label="predicted")
        ax.plot(
            years[measured], site["soc_topsoil"].values[measured], "o", color="k", label="observed"
        )
        ax.set_xlim(years[measured].min() - 1, years[measured].max() + 1)
        ax.set_title(str(site["site"].values), fontsize=9)
        ax.set_xlabel("year [yr]")
        ax.set_ylabel(f"{fit['soc_topsoil'].attrs['long_name'].removeprefix('observed ')} [%]")
    axes[0].legend(fontsize=7)
    return fig


def plot_net_source(fit: xr.Dataset) -> Figure:
    """Net source NN_P - NN_R at each site's steady state over depth (one line per site)."""
    fig, ax = new_figure(figsize=(4.5, 5), layout="constrained")
    for s in range(fit.sizes["site"]):
        ax.plot(fit["net_source"].isel(site=s), fit["model_depth"], lw=0.8, color=f"C{s % 10}")
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel(f"net source P - R [{_units(fit['net_source'])}]")
    ax.set_ylabel("depth [m]")
    ax.set_title("net source at the steady state, by site")
    return fig


def profile_figures(fit: xr.Dataset, history: dict[str, np.ndarray]) -> dict[str, Figure]:
    """Every figure of a profile fit, by file stem."""
    return {
        "profiles_by_site": plot_profiles_by_site(fit),
        "topsoil_by_site": plot_topsoil_by_site(fit),
        "loss": plot_loss(history),
    }
