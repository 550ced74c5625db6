"""Figures of the symbolic distillation: parity of network and expression, P over depth."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from soilsciml.plots import new_figure

__all__ = ["plot_distillation"]


def plot_distillation(
    terms, samples: Mapping[str, np.ndarray], production: np.ndarray, respiration: np.ndarray
) -> Figure:
    """Network output vs distilled expression for P and R, and P over depth.

    Parameters
    ----------
    terms : DistilledTerms
        Result of :func:`soilsciml.interpret.distil_terms`.
    samples : mapping
        The sample points the networks were evaluated on.
    production, respiration : ndarray
        Network outputs at ``samples`` (% / yr).
    """
    fig, axes = new_figure(1, 3, figsize=(13, 4.2), layout="constrained")
    for ax, fit, output in zip(
        axes[:2], (terms.production, terms.respiration), (production, respiration), strict=True
    ):
        distilled = fit.predict(samples)
        ax.plot(output, distilled, ".", ms=2, alpha=0.4)
        bounds = [min(output.min(), distilled.min()), max(output.max(), distilled.max())]
        ax.plot(bounds, bounds, "k--", lw=1)
        ax.set_xlabel(f"network {fit.symbol} [% / yr]")
        ax.set_ylabel(f"distilled {fit.symbol} [% / yr]")
        ax.set_title(f"{fit.symbol}: R2 = {fit.r2:.4f}")
    ax = axes[2]
    depth = np.asarray(samples["depth"]).ravel()
    ax.plot(production, depth, ".", ms=2, alpha=0.3, label="network")
    ax.plot(terms.production.predict(samples), depth, ".", ms=2, alpha=0.3, label="distilled")
    ax.invert_yaxis()
    ax.set_xlabel("P [% / yr]")
    ax.set_ylabel("depth [m]")
    k = terms.production.decay_rate
    ax.set_title("P over depth" + ("" if k is None else f" (k = {k:.3f} 1/m)"))
    ax.legend(markerscale=4)
    return fig
