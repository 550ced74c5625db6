"""The equal-area quadratic smoothing spline of soil profiles (Bishop et al. 1999).

A profile is measured as layer means y_i over layers [u_i, l_i]. The spline f is quadratic
in each layer, linear in gaps between layers, continuous with a continuous first derivative,
with zero slope at the top of the first and the bottom of the last layer, and minimises

    (1/n) sum_i (y_i - fbar_i)^2 + lambda * integral f'(z)^2 dz,

where fbar_i is the mean of f over layer i. The solution (Bishop et al. 1999, eqs. 6-7, as
implemented in R's ``mpspline2``) is fbar = Z^-1 y with Z = I + 6 n lambda Q' R^-1 Q; every
layer mean of the spline equals fbar_i exactly (the "equal-area" or mass-preserving
property), and lambda = 0 gives fbar = y, so the spline then reproduces every measured
layer mean to round-off.

As in ``mpspline2``, depths enter the matrices in cm, so lambda has that package's meaning
(default 0.1). Outside the measured layers the spline is held at its end values; with the
zero end slopes this keeps f continuously differentiable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EqualAreaSpline", "equal_area_spline"]

#: cm per m: the depth unit in which lambda is defined (that of ``mpspline2``).
_CM = 100.0


@dataclass(frozen=True)
class EqualAreaSpline:
    """A fitted equal-area spline: polynomial pieces over depth.

    Parameters
    ----------
    edges : ndarray, shape (m + 1,)
        Piece boundaries in cm (layers and the gaps between them, top to bottom).
    coefficients : ndarray, shape (m, 3)
        f(z) = c0 + c1 d + c2 d^2 with d = z - edges[k] (cm) on piece k.
    fitted : ndarray, shape (n,)
        The spline's mean over each input layer (fbar; equal to the data when lambda = 0).
    """

    edges: np.ndarray
    coefficients: np.ndarray
    fitted: np.ndarray

    def _piece(self, z_cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = np.clip(np.searchsorted(self.edges, z_cm, side="right") - 1, 0, len(self.edges) - 2)
        return k, z_cm - self.edges[k]

    def _end_values(self) -> tuple[float, float]:
        c = self.coefficients
        width = self.edges[-1] - self.edges[-2]
        return float(c[0, 0]), float(c[-1, 0] + c[-1, 1] * width + c[-1, 2] * width**2)

    def __call__(self, depth: np.ndarray) -> np.ndarray:
        """Values of the spline at ``depth`` (m)."""
        z = np.asarray(depth, dtype=float) * _CM
        k, d = self._piece(z)
        c = self.coefficients[k]
        inside = c[..., 0] + c[..., 1] * d + c[..., 2] * d**2
        first, last = self._end_values()
        return np.where(z < self.edges[0], first, np.where(z > self.edges[-1], last, inside))

    def _antiderivative(self, z_cm: np.ndarray) -> np.ndarray:
        """F(z) = integral of f from edges[0] to z (cm x value)."""
        c = self.coefficients
        widths = np.diff(self.edges)
        areas = c[:, 0] * widths + c[:, 1] * widths**2 / 2 + c[:, 2] * widths**3 / 3
        cumulative = np.concatenate([[0.0], np.cumsum(areas)])
        inner = np.clip(z_cm, self.edges[0], self.edges[-1])
        k, d = self._piece(inner)
        ck = c[k]
        value = cumulative[k] + ck[..., 0] * d + ck[..., 1] * d**2 / 2 + ck[..., 2] * d**3 / 3
        first, last = self._end_values()
        value = value + first * np.minimum(z_cm - self.edges[0], 0.0)
        return value + last * np.maximum(z_cm - self.edges[-1], 0.0)

    def layer_means(self, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        """Exact mean of the spline over each layer [top, bottom] (m)."""
        a = np.asarray(top, dtype=float) * _CM
        b = np.asarray(bottom, dtype=float) * _CM
        return (self._antiderivative(b) - self._antiderivative(a)) / (b - a)


def equal_area_spline(
    top: np.ndarray, bottom: np.ndarray, values: np.ndarray, lam: float = 0.1
) -> EqualAreaSpline:
    """Fit the equal-area quadratic spline to layer means.

    Parameters
    ----------
    top, bottom : ndarray, shape (n,)
        Layer bounds in m, sorted from the surface down, not overlapping (gaps allowed).
    values : ndarray, shape (n,)
        Measured layer means (any unit; the spline has the same).
    lam : float
        Smoothing parameter lambda (>= 0) in the convention of ``mpspline2`` (depths in cm).

    Returns
    -------
    EqualAreaSpline
        A single layer gives the constant spline.

    Raises
    ------
    ValueError
        For unsorted, overlapping or inverted layers, a negative lambda or non-finite values.
    """
    u = np.asarray(top, dtype=float) * _CM
    lower = np.asarray(bottom, dtype=float) * _CM
    y = np.asarray(values, dtype=float)
    if lam < 0:
        raise ValueError(f"lambda must be >= 0; got {lam}")
    if not (u.shape == lower.shape == y.shape) or u.ndim != 1 or u.size == 0:
        raise ValueError("top, bottom and values must be 1-D arrays of one length >= 1")
    if not np.all(np.isfinite(np.concatenate([u, lower, y]))):
        raise ValueError("top, bottom and values must be finite")
    thickness = lower - u
    if np.any(thickness <= 0):
        raise ValueError("every layer needs bottom > top")
    gaps = u[1:] - lower[:-1]
    if np.any(gaps < 0):
        raise ValueError("layers must be sorted from the surface down and must not overlap")
    n = y.size
    if n == 1:
        return EqualAreaSpline(np.array([u[0], lower[0]]), np.array([[y[0], 0.0, 0.0]]), y.copy())
    r = (
        np.diag(2.0 * thickness[1:] + 2.0 * thickness[:-1] + 6.0 * gaps)
        + np.diag(thickness[1:-1], 1)
        + np.diag(thickness[1:-1], -1)
    )
    q = np.zeros((n - 1, n))
    q[np.arange(n - 1), np.arange(n - 1)] = -1.0
    q[np.arange(n - 1), np.arange(1, n)] = 1.0
    r_inv_q = np.linalg.solve(r, q)
    z = np.eye(n) + 6.0 * n * lam * q.T @ r_inv_q
    fitted = np.linalg.solve(z, y)
    slopes = 6.0 * r_inv_q @ fitted  # f' at the interior boundaries
    b0, b1 = np.concatenate([[0.0], slopes]), np.concatenate([slopes, [0.0]])
    gamma = (b1 - b0) / (2.0 * thickness)
    alpha = fitted - b0 * thickness / 2.0 - gamma * thickness**2 / 3.0
    edges, pieces = [u[0]], []
    for i in range(n):
        pieces.append([alpha[i], b0[i], gamma[i]])
        edges.append(lower[i])
        if i < n - 1 and gaps[i] > 0:
            # Linear through the gap with the slope at the layer above, reaching the value at
            # the top of the layer below (mpspline2's infill).
            pieces.append([alpha[i + 1] - b1[i] * gaps[i], b1[i], 0.0])
            edges.append(u[i + 1])
    return EqualAreaSpline(np.asarray(edges), np.asarray(pieces), fitted)
