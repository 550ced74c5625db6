"""Figures of HySoMi calibrations: fit and residuals by time, pools with bands, profiles or
marginal posteriors. Every axis carries its unit."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from soilsciml.models import hysomi as model
from soilsciml.plots import new_figure

__all__ = ["plot_fit", "plot_pools", "plot_uncertainty"]

_LABELS = {
    "co2": "cumulative CO2",
    "co2_rate": "CO2 rate",
    "biomass": "biomass B_A + B_D",
    "glucose": "glucose vs C_L",
}
#: Pool panels: (title, state or None for B_A + B_D, observed channel drawn on it).
_POOLS = (
    ("B_A", "B_A", None),
    ("B_D", "B_D", None),
    ("B_A + B_D", None, "biomass"),
    ("C_L", "C_L", "glucose"),
    ("C_LS", "C_LS", None),
    ("C_H", "C_H", None),
    ("CO2", "CO2", "co2"),
)


def _dense(row: xr.Dataset, channel: str) -> np.ndarray:
    """The model quantity a channel is compared with, on the dense time grid."""
    states = row["states"]
    if channel == "co2":
        return states.sel(state="CO2").values
    if channel == "biomass":
        return (states.sel(state="B_A") + states.sel(state="B_D")).values
    if channel == "glucose":
        return states.sel(state="C_L").values
    co2 = model.STATE_NAMES.index("CO2")
    return model.rhs(np.nan_to_num(states.values), row["params"].values)[:, co2]


def _band(ax, hours, lower, upper, label):
    if lower is not None and np.isfinite(lower).any():
        ax.fill_between(hours, lower, upper, alpha=0.25, lw=0, label=label)


def plot_fit(result: xr.Dataset, series: str) -> Figure:
    """Every channel against its fit (top row) and the residuals by time (bottom row).

    Parameters
    ----------
    result : xarray.Dataset
        Output of ``calibrate_hysomi``.
    series : str
        Which series to draw.
    """
    row = result.sel(series=series)
    channels = list(result["channel"].values)
    fig, axes = new_figure(
        2, len(channels), figsize=(4.2 * len(channels), 6), squeeze=False, layout="constrained"
    )
    hours = result["time"].values
    method = result.attrs.get("uncertainty", "none")
    for c, name in enumerate(channels):
        unit = str(result["channel_units"].values[c])
        role = str(result["channel_role"].values[c])
        top, bottom = axes[0, c], axes[1, c]
        time, observed, fitted = row["obs_time"], row[name], row[f"{name}_fit"]
        top.plot(time, observed, "o", ms=3, alpha=0.7, label="observed (replicates)")
        top.plot(hours, _dense(row, name), "-", label="fit")
        if name == "co2" and "states_lower" in result:
            lower = row["states_lower"].sel(state="CO2")
            _band(top, hours, lower, row["states_upper"].sel(state="CO2"), f"band ({method})")
        if name == "biomass" and "biomass_band_lower" in result:
            lower, upper = row["biomass_band_lower"], row["biomass_band_upper"]
            _band(top, hours, lower, upper, f"band ({method})")
        r2 = float(row["r2"].values[c])
        top.set_title(f"{_LABELS[name]} ({role}), R2 = {r2:.3f}", fontsize="medium")
        top.set_ylabel(f"{_LABELS[name]} [{unit}]")
        top.legend(fontsize="small")
        residual = fitted - observed
        bottom.axhline(0.0, color="k", lw=0.8)
        bottom.plot(time, residual, "o", ms=3)
        sigma = row["sigma"].values[c]
        keep = np.isfinite(sigma) & np.isfinite(time.values)
        along = np.argsort(time.values[keep])
        span_t, span_s = time.values[keep][along], 2.0 * sigma[keep][along]
        bottom.plot(span_t, span_s, "k:", lw=0.8, label="+-2 sigma")
        bottom.plot(span_t, -span_s, "k:", lw=0.8)
        bottom.set_ylabel(f"fit - observed [{unit}]")
        bottom.set_xlabel("time since the pulse [h]")
        bottom.legend(fontsize="small")
    fig.suptitle(f"{series}: fit and residuals by time")
    return fig


def plot_pools(result: xr.Dataset, series: str) -> Figure:
    """The six pools and B_A + B_D with their bands, observed biomass and glucose on top."""
    row = result.sel(series=series)
    hours = result["time"].values
    fig, axes = new_figure(2, 4, figsize=(14, 6), layout="constrained")
    channels = list(result["channel"].values)
    for ax, (title, state, channel) in zip(axes.ravel(), _POOLS, strict=False):
        if state is None:
            line = row["states"].sel(state="B_A") + row["states"].sel(state="B_D")
            lower = row["biomass_band_lower"] if "biomass_band_lower" in result else None
            upper = row["biomass_band_upper"] if "biomass_band_upper" in result else None
        else:
            line = row["states"].sel(state=state)
            has = "states_lower" in result
            lower = row["states_lower"].sel(state=state) if has else None
            upper = row["states_upper"].sel(state=state) if has else None
        ax.plot(hours, line, "-", label="fit")
        if lower is not None:
            _band(ax, hours, lower, upper, f"band ({result.attrs.get('uncertainty')})")
        if channel in channels:
            role = str(result["channel_role"].values[channels.index(channel)])
            ax.plot(row["obs_time"], row[channel], "k.", ms=4, label=f"observed ({role})")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel(f"{title} [mg C/g]")
        ax.set_xlabel("time since the pulse [h]")
        ax.legend(fontsize="x-small")
    axes.ravel()[-1].axis("off")
    fig.suptitle(f"{series}: carbon pools")
    return fig


def plot_uncertainty(result: xr.Dataset, series: str) -> Figure:
    """Profiles (chi2 - chi2_min against the held value) or marginal posteriors per parameter."""
    row = result.sel(series=series)
    fig, axes = new_figure(3, 5, figsize=(16, 9), layout="constrained")
    for ax, name, unit in zip(
        axes.ravel(), result["param"].values, result["param_units"].values, strict=False
    ):
        lower = float(row["params_lower"].sel(param=name))
        upper = float(row["params_upper"].sel(param=name))
        if "profile_value" in result:
            estimate = float(row["params"].sel(param=name))
            value = np.append(row["profile_value"].sel(param=name).values, estimate)
            delta = np.append(row["profile_delta_chi2"].sel(param=name).values, 0.0)
            order = np.argsort(value)
            ax.plot(value[order], delta[order], "o-", ms=3)
            ax.axhline(float(result["profile_threshold"]), color="r", lw=0.8, ls="--")
            ax.set_ylabel("chi2 - chi2_min [1]")
            ax.set_ylim(0, 4 * float(result["profile_threshold"]))
        elif bool(row["sampled"].sel(param=name)):
            ax.hist(row["draws"].sel(param=name).values, bins=30, density=True)
            ax.set_ylabel(f"posterior density [1/({unit})]")
        else:
            ax.text(0.5, 0.5, "held at the estimate", ha="center", transform=ax.transAxes)
            ax.set_ylabel(f"posterior density [1/({unit})]")
        ax.axvline(float(row["params"].sel(param=name)), color="k", lw=1)
        if np.isfinite(lower) and np.isfinite(upper):
            ax.axvspan(lower, upper, alpha=0.15, color="g")
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.set_xlabel(f"{name} [{unit}]")
    for ax in axes.ravel()[len(result["param"]) :]:
        ax.axis("off")
    level = float(result.attrs.get("level", 0.95))
    fig.suptitle(f"{series}: {result.attrs.get('uncertainty')} with {level:.0%} intervals (green)")
    return fig
