"""Layer means of the SOC state: the observation operator of measured soil profiles.

The PDE state lives on uniform depth nodes; a soil sample is an average over a layer (a
horizon or a depth increment). Between nodes the state is taken as piecewise linear (the
method-of-lines picture), so the mean over a layer [a, b] is an exact linear function of the
node values: a matrix row. Everything here is numpy and independent of the engines.
"""

from __future__ import annotations

import numpy as np

__all__ = ["layer_mean_matrix"]

#: Slack (m) allowed between a layer's bounds and the ends of the node grid (round-off of
#: unit conversions such as 100 cm -> 1.0 m).
_EDGE_SLACK = 1e-9


def layer_mean_matrix(nodes: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Matrix M (n_layers, nz) with ``(M @ c)[k]`` the mean of the state over layer k.

    The state is the piecewise-linear interpolant of the node values ``c``; on each segment
    [z_i, z_i+1] cut by the layer to [l, r] its integral is (r - l) times its value at
    (l + r) / 2, which splits between the two nodes by the linear weights. The rows therefore
    integrate any piecewise-linear state exactly, and each valid row sums to 1.

    Parameters
    ----------
    nodes : ndarray, shape (nz,)
        Increasing node depths in m.
    top, bottom : ndarray, shape (n_layers,)
        Upper and lower bounds of each layer in m (top < bottom). A layer with a NaN bound
        (padding of a profile with fewer layers) gets a row of zeros.

    Raises
    ------
    ValueError
        For an inverted layer or one that reaches outside [nodes[0], nodes[-1]].
    """
    nodes = np.asarray(nodes, dtype=float)
    top, bottom = np.atleast_1d(np.asarray(top, float)), np.atleast_1d(np.asarray(bottom, float))
    valid = np.isfinite(top) & np.isfinite(bottom)
    if np.any(valid & (bottom <= top)):
        k = int(np.flatnonzero(valid & (bottom <= top))[0])
        raise ValueError(f"layer {k} ({top[k]:g}-{bottom[k]:g} m) has its bottom above its top")
    outside = valid & ((top < nodes[0] - _EDGE_SLACK) | (bottom > nodes[-1] + _EDGE_SLACK))
    if np.any(outside):
        k = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"layer {k} ({top[k]:g}-{bottom[k]:g} m) reaches outside the model grid "
            f"({nodes[0]:g}-{nodes[-1]:g} m); deepen the grid"
        )
    a = np.where(valid, top, 0.0)[:, None]
    b = np.where(valid, bottom, 1.0)[:, None]
    left, right = nodes[:-1], nodes[1:]
    lo, hi = np.clip(a, left, right), np.clip(b, left, right)
    length = hi - lo
    weight = (0.5 * (lo + hi) - left) / (right - left)
    matrix = np.zeros((top.size, nodes.size))
    matrix[:, :-1] += length * (1.0 - weight)
    matrix[:, 1:] += length * weight
    return np.where(valid[:, None], matrix / (b - a), 0.0)
