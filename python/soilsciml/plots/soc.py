"""Figures of SOC datasets: profiles over depth and drivers."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

__all__ = ["plot_drivers", "plot_profiles"]


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
    fig, ax = plt.subplots(figsize=(4.5, 5), layout="constrained")
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
    fig, axes = plt.subplots(1, 3, figsize=(10, 4.5), sharey=True, layout="constrained")
    for ax, name in zip(axes, ("ph", "cec", "clay"), strict=True):
        ax.plot(row[name], ds["depth"], "o-", ms=3, label="observed")
        if f"{name}_clean" in ds:
            ax.plot(row[f"{name}_clean"], ds["depth"], "--k", label="clean")
            ax.legend()
        ax.set_xlabel(_label(ds[name]))
    _depth_axis(axes[0])
    fig.suptitle(f"drivers at t = {float(row['time']):g} yr")
    return fig
