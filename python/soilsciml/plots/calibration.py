"""Figures of HySoMi calibrations: observed vs fitted CO2, and the hidden pools."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from soilsciml.plots import new_figure

__all__ = ["plot_calibration"]

#: Hidden pools drawn in the second panel; C_H (large) goes on its own axis.
_SMALL_POOLS = ("B_A", "B_D", "C_L", "C_LS")


def plot_calibration(result: xr.Dataset, series: str) -> Figure:
    """Observed CO2 (every replicate) against the fitted curve, and the fitted hidden pools.

    Parameters
    ----------
    result : xarray.Dataset
        Output of ``calibrate.calibrate_hysomi``.
    series : str
        Which series to draw.
    """
    row = result.sel(series=series)
    hours = result["time"].values
    states = row["states"]
    fig, (top, bottom) = new_figure(2, 1, figsize=(6, 7), sharex=True, layout="constrained")
    top.plot(row["obs_time"], row["co2"], "o", ms=4, label="observed (replicates as points)")
    top.plot(hours, states.sel(state="CO2"), "-", label="fitted")
    top.set_ylabel("cumulative CO2 [mg C/g]")
    top.set_title(
        f"{series}: R2 = {float(row['co2_r2']):.4f}, "
        f"constraints passed {int(row['constraint_passed'].sum())}/{result.sizes['constraint']}"
    )
    top.legend()
    for pool in _SMALL_POOLS:
        bottom.plot(hours, states.sel(state=pool), label=pool)
    if "biomass" in result:
        bottom.plot(row["obs_time"], row["biomass"], "ks", ms=4, label="observed B_A + B_D")
    hmw = bottom.twinx()
    hmw.plot(hours, states.sel(state="C_H"), "k--", label="C_H (right axis)")
    hmw.set_ylabel("C_H [mg C/g]")
    bottom.set_ylabel("pool [mg C/g]")
    bottom.set_xlabel("time since the pulse [h]")
    handles = [*bottom.get_legend_handles_labels()[0], *hmw.get_legend_handles_labels()[0]]
    bottom.legend(handles=handles, fontsize="small")
    last = np.nanmax(row["obs_time"].values)
    bottom.set_xlim(0, last)
    return fig
