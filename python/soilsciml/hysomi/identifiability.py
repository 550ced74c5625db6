"""Local identifiability of the 13 PBM parameters from observed channels (Brun et al. 2001).

The sensitivity matrix of a set of channels has one row per observation and one column per
parameter: ``S_ij = d y_i / d theta_j * theta_j / sigma_i`` (the derivative through the solve,
a relative change of the parameter, in units of the observation's sigma; FME's ``sensFun``
with ``parscale`` = the parameter and the observation noise as ``varscale``). From it:

- importance ``delta_j = sqrt(mean_i S_ij^2)`` (FME's ``msqr``);
- the collinearity index of a subset K, ``gamma_K = 1 / sqrt(min eig(Sn_K^T Sn_K))`` with the
  columns of S normalised to unit length (FME's ``collin``): how far a change of one
  parameter can be compensated by the others; a subset with ``gamma_K`` below the threshold
  (10-15 in Brun et al.) is identifiable;
- the identifiable set (greedy, as Brun et al. rank parameters): by decreasing importance,
  each parameter with ``delta >= 1`` (doubling it moves the observations by one sigma, root
  mean square) joins when the subset's ``gamma`` stays below the threshold;
- the lowest ``gamma`` of any subset of each size (all 8,191 subsets), as FME's table.

Channel sets: CO2 alone (``co2`` and ``co2_rate``), CO2 with each further channel, and all.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from soilsciml.models import hysomi as model

__all__ = ["MIN_IMPORTANCE", "analyse", "channel_sets", "collinearity", "subset_indices"]

_P = len(model.PARAMETERS)
#: Smallest importance of an identifiable parameter: doubling it moves the observations by
#: one sigma (root mean square).
MIN_IMPORTANCE = 1.0
_CO2_CHANNELS = ("co2", "co2_rate")


def subset_indices() -> dict[int, np.ndarray]:
    """Size -> array (n_subsets, size) of every parameter subset of at least two."""
    return {k: np.array(list(combinations(range(_P), k))) for k in range(2, _P + 1)}


_SUBSETS = subset_indices()


def collinearity(sensitivity: np.ndarray) -> dict[int, np.ndarray]:
    """Size -> collinearity index of every subset (see :func:`subset_indices`).

    Parameters
    ----------
    sensitivity : ndarray, shape (n_obs, 13)
        Scaled sensitivities (rows: observations).
    """
    norms = np.linalg.norm(sensitivity, axis=0)
    live = norms > 1e-9 * max(float(norms.max()), 1e-300)
    unit = sensitivity / np.where(live, norms, 1.0)
    gram = unit.T @ unit
    out = {}
    for size, subsets in _SUBSETS.items():
        blocks = gram[subsets[:, :, None], subsets[:, None, :]]
        smallest = np.linalg.eigvalsh(blocks)[:, 0]
        gamma = 1.0 / np.sqrt(np.clip(smallest, 1e-300, None))
        out[size] = np.where(np.all(live[subsets], axis=1), gamma, np.inf)
    return out


def _identifiable_set(sensitivity: np.ndarray, importance, threshold) -> np.ndarray:
    """Greedy (Brun et al. 2001): parameters by decreasing importance, each kept when the
    subset stays below the collinearity threshold; insensitive ones never enter."""
    chosen: list[int] = []
    norms = np.linalg.norm(sensitivity, axis=0)
    unit = sensitivity / np.where(norms > 0, norms, 1.0)
    for j in np.argsort(-importance):
        if importance[j] < MIN_IMPORTANCE:
            break
        trial = [*chosen, int(j)]
        block = unit[:, trial].T @ unit[:, trial]
        smallest = np.linalg.eigvalsh(block)[0]
        if smallest > 0 and 1.0 / np.sqrt(smallest) < threshold:
            chosen = trial
    mask = np.zeros(_P, dtype=bool)
    mask[chosen] = True
    return mask


def channel_sets(channels: list[tuple[str, bool]]) -> list[tuple[str, tuple[str, ...]]]:
    """(label, channel names) of CO2 alone, CO2 with each further channel, and all."""
    names = [name for name, _ in channels]
    co2 = tuple(n for n in names if n in _CO2_CHANNELS)
    others = [n for n in names if n not in _CO2_CHANNELS]
    sets = [("co2", co2)] if co2 else []
    sets += [(f"co2+{n}" if co2 else n, (*co2, n)) for n in others]
    if len(others) > 1:
        sets.append(("all", tuple(names)))
    return sets


def analyse(fit: dict[str, Any], channels: list[tuple[str, bool]], threshold: float) -> dict:
    """Importance, identifiable sets and collinearity per series and channel set.

    Parameters
    ----------
    fit : dict
        ``obs_jacobian`` (S, C, N, 13) with respect to the unbounded parameters, ``raw`` and
        ``params`` (S, 13), ``sigma`` (S, C, N') and ``at_obs`` (S, C, N).
    channels : list of (name, fitted)
    threshold : float
        Largest collinearity index of an identifiable subset.

    Returns
    -------
    dict
        ``sets`` (labels), ``importance`` (S, n_sets, 13), ``identifiable`` (S, n_sets, 13)
        bool, ``gamma_all`` (S, n_sets) the index of all 13, ``gamma_best`` (S, n_sets, 12)
        the lowest index of any subset of each size 2 ... 13, ``sensitivity`` (S, C, N', 13).
    """
    sets = channel_sets(channels)
    names = [name for name, _ in channels]
    width = fit["sigma"].shape[2]
    unit = (fit["params"] - model.LOWER) / (model.UPPER - model.LOWER)
    slope = (model.UPPER - model.LOWER) * unit * (1.0 - unit)  # d theta / d raw
    jacobian = fit["obs_jacobian"][:, :, :width] / np.where(slope > 0, slope, np.inf)[:, None, None]
    sensitivity = jacobian * fit["params"][:, None, None, :] / fit["sigma"][..., None]
    n_series = sensitivity.shape[0]
    importance = np.zeros((n_series, len(sets), _P))
    identifiable = np.zeros(importance.shape, dtype=bool)
    gamma_all = np.full((n_series, len(sets)), np.inf)
    gamma_best = np.full((n_series, len(sets), _P - 1), np.inf)
    for s in range(n_series):
        for k, (_, members) in enumerate(sets):
            rows = [sensitivity[s, names.index(m)] for m in members]
            rows = np.concatenate(rows)
            rows = rows[np.all(np.isfinite(rows), axis=1)]
            if rows.shape[0] == 0:
                continue
            importance[s, k] = np.sqrt(np.mean(rows**2, axis=0))
            gamma = collinearity(rows)
            identifiable[s, k] = _identifiable_set(rows, importance[s, k], threshold)
            gamma_all[s, k] = gamma[_P][0]
            gamma_best[s, k] = [np.min(gamma[size]) for size in range(2, _P + 1)]
    return {
        "sets": [label for label, _ in sets],
        "importance": importance,
        "identifiable": identifiable,
        "gamma_all": gamma_all,
        "gamma_best": gamma_best,
        "sensitivity": sensitivity,
        "threshold": threshold,
    }
