"""HySoMi calibration kernel of the JAX engine: weighted least squares on the observations.

Each series has one residual vector: ``(model - observation) / sigma`` for every fitted
observation (replicates separate, zero where missing or held out), then one residual per
constraint, ``sqrt(constraint_weight) * relative violation / CONSTRAINT_TOLERANCE``. The fit is
Levenberg-Marquardt on the unbounded parameters ``raw`` (``to_box(raw)`` in the box) with a
forward-mode Jacobian through the solve (diffrax ``ForwardMode``); the solve saves only at the
observation times and the few points where the constraints are evaluated. The loop is written
here rather than taken from ``optimistix.LevenbergMarquardt``, whose step limit is static:
with a traced limit, one compiled function per problem shape serves the screen's starts, the
polish and every profile point (a profile holds parameters with ``free = 0``), and each
iteration traces one solve. The callers pad shapes to buckets so that similar problems share
one compilation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from soilsciml.config import SolverConfig
from soilsciml.engines.jax.solve import solve
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = [
    "CHANNEL_KINDS",
    "CONSTRAINT_TOLERANCE",
    "FAILED_RESIDUAL",
    "RAW_LIMIT",
    "CalibrationKernel",
    "CalibrationProblem",
    "CalibrationSettings",
    "residuals",
]

_CO2, _C_L = model.STATE_NAMES.index("CO2"), model.STATE_NAMES.index("C_L")
_B_A, _B_D = model.STATE_NAMES.index("B_A"), model.STATE_NAMES.index("B_D")
N_PARAMS = len(model.PARAMETERS)

#: Model quantities an observation channel can be compared with (all in mg C/g, the rate in
#: mg C/(g h)): cumulative CO2, the respiration rate dCO2/dt, B_A + B_D, C_L.
CHANNEL_KINDS = ("co2", "co2_rate", "biomass", "c_l")

#: A relative constraint violation of this size costs as much as one observation one sigma off
#: (at ``constraint_weight`` 1).
CONSTRAINT_TOLERANCE = 0.01

#: Unbounded parameters are kept within +-RAW_LIMIT (1e-6 of the box width from its ends).
RAW_LIMIT = 14.0

#: Every residual of a start whose solve failed: far above any fit, so it is never picked.
FAILED_RESIDUAL = 1e3


@dataclass(frozen=True)
class CalibrationProblem:
    """Arrays of a batch of series, padded to common lengths (engines see numpy only).

    Parameters
    ----------
    times : ndarray, shape (S, L)
        Save times of each series in hours, non-decreasing, ``times[:, 0] = 0``: the
        observation times and the constraint points, padded by repeating the last time.
    initial : ndarray, shape (S, 6)
        Pools at t = 0 in mg C/g.
    index : ndarray of int, shape (S, C, N)
        Position in ``times`` of each observation of each channel.
    observed : ndarray, shape (S, C, N)
        Observed values in the channel's unit (0 where missing).
    weight : ndarray, shape (S, C, N)
        1 / sigma of each fitted observation; 0 where missing, padded or held out.
    """

    times: np.ndarray
    initial: np.ndarray
    index: np.ndarray
    observed: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class CalibrationSettings:
    """Static settings of the fit (hashable: part of the compiled functions' key).

    Parameters
    ----------
    channels : tuple of str
        Kind of each channel (:data:`CHANNEL_KINDS`), in the order of the problem's axis C.
    constraints : tuple of Constraint
        The constraint set penalised.
    temperature : float
        Softmax/sigmoid temperature of the smooth constraint functionals.
    constraint_weight : float
        Weight of the squared constraint residuals.
    rtol, atol : float
        Levenberg-Marquardt stops when an accepted step lowers chi2 by less than ``rtol``
        times chi2, or when no unbounded parameter moves by more than ``atol``.
    solver : SolverConfig
        ODE solver settings; the adjoint must support forward mode (``forward``).
    """

    channels: tuple[str, ...]
    constraints: tuple[cons.Constraint, ...]
    temperature: float
    constraint_weight: float
    rtol: float
    atol: float
    solver: SolverConfig


def _field(t, y, params):
    return model.rhs(y, params, model.PHYSICS, xp=jnp)


def _channel_values(states, params, kinds):
    """Model value of each channel kind on the save times: (C, L)."""
    values = []
    for kind in kinds:
        if kind == "co2":
            values.append(states[:, _CO2])
        elif kind == "co2_rate":
            values.append(model.rhs(states, params, model.PHYSICS, xp=jnp)[:, _CO2])
        elif kind == "biomass":
            values.append(states[:, _B_A] + states[:, _B_D])
        else:
            values.append(states[:, _C_L])
    return jnp.stack(values)


def _simulate(params, series, settings):
    """Pools on the save times (L, 6), each channel at its observations (C, N), success."""
    times, initial, index = series[0], series[1], series[2]
    states, code, _ = solve(_field, initial, times, params, settings.solver)
    solved = (code == 0) & jnp.all(jnp.isfinite(states))
    states = jnp.where(jnp.isfinite(states), states, 0.0)
    values = _channel_values(states, params, settings.channels)
    return states, jnp.take_along_axis(values, index, axis=1), solved


def residuals(raw, series, settings):
    """Residuals (C N + K,) of one series at unbounded ``raw`` (13,), and the channels (C, N).

    Where the solve fails every residual is :data:`FAILED_RESIDUAL` and the channels NaN.
    """
    times, _, _, observed, weight = series
    params = model.to_box(raw, jnp)
    states, at_obs, solved = _simulate(params, series, settings)
    misfit = (weight * (at_obs - observed)).ravel()
    parts = [misfit]
    if settings.constraints:
        scale = jnp.sqrt(settings.constraint_weight) / CONSTRAINT_TOLERANCE
        violations = []
        for constraint in settings.constraints:
            left, right = constraint.sides(states, times, params, settings.temperature, jnp)
            gap = jnp.maximum(left - right, 0.0)
            violations.append(gap / (jnp.abs(left) + jnp.abs(right) + 1e-12))
        parts.append(scale * jnp.stack(violations))
    residual = jnp.concatenate(parts)
    ok = solved & jnp.all(jnp.isfinite(residual))
    return jnp.where(ok, residual, FAILED_RESIDUAL), jnp.where(ok, at_obs, jnp.nan)


def _as_jax(problem: CalibrationProblem, dtype):
    return (
        jnp.asarray(problem.times, dtype),
        jnp.asarray(problem.initial, dtype),
        jnp.asarray(problem.index, jnp.int32),
        jnp.asarray(problem.observed, dtype),
        jnp.asarray(problem.weight, dtype),
    )


def _evaluate(raw, series, settings):
    """Residuals, every channel at its observations (aux) and both Jacobians w.r.t. ``raw``."""

    def outputs(z):
        residual, at_obs = residuals(z, series, settings)
        return (residual, at_obs), (residual, at_obs)

    (jac_residual, jac_obs), (residual, at_obs) = jax.jacfwd(outputs, has_aux=True)(raw)
    return residual, at_obs, jac_residual, jac_obs


def _levenberg_marquardt(data, z0, free, max_steps, settings):
    """Levenberg-Marquardt (Marquardt's scaling, Nielsen's damping update) from ``z0``.

    Parameters ``free`` (13,) of 0 are held at their value in ``z0``. Every iteration takes one
    forward-mode Jacobian (the trial point's residuals come with it), so the loop stays one
    traced solve; ``max_steps`` is a traced value, so one compilation serves every stage.
    """
    residual, at_obs, jac, jac_obs = _evaluate(z0, data, settings)
    eye = jnp.eye(N_PARAMS, dtype=z0.dtype)
    chi2 = jnp.sum(residual**2)
    state = (z0, residual, at_obs, jac, jac_obs, chi2, 1e-3, 2.0, 0, False)

    def proposal(state):
        z, residual, _, jac, _, _, lam, _, _, _ = state
        jac = jac * free
        gradient = jac.T @ residual
        normal = jac.T @ jac
        scaling = jnp.maximum(jnp.diag(normal), 1e-12)
        system = normal + lam * jnp.diag(scaling)
        system = jnp.where(free[:, None] * free[None, :] > 0, system, eye)
        step = -jnp.linalg.solve(system, gradient * free)
        step = jnp.where(jnp.all(jnp.isfinite(step)), step, 0.0)
        predicted = step @ (lam * scaling * step - gradient)
        return jnp.clip(z + step, -RAW_LIMIT, RAW_LIMIT), step, predicted

    def body(state):
        z, residual, at_obs, jac, jac_obs, chi2, lam, nu, steps, _ = state
        trial, step, predicted = proposal(state)
        new_residual, new_obs, new_jac, new_jac_obs = _evaluate(trial, data, settings)
        new_chi2 = jnp.sum(new_residual**2)
        accept = jnp.isfinite(new_chi2) & (new_chi2 < chi2)
        gain = (chi2 - new_chi2) / jnp.maximum(predicted, 1e-300)
        lam_accept = lam * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3)
        small_step = jnp.max(jnp.abs(step)) <= settings.atol
        small_gain = accept & (chi2 - new_chi2 <= settings.rtol * chi2)
        done = small_step | small_gain | (lam > 1e12)

        def pick(new, old):
            return jnp.where(accept, new, old)

        return (
            pick(trial, z),
            pick(new_residual, residual),
            pick(new_obs, at_obs),
            pick(new_jac, jac),
            pick(new_jac_obs, jac_obs),
            pick(new_chi2, chi2),
            jnp.where(accept, jnp.maximum(lam_accept, 1e-12), lam * nu),
            jnp.where(accept, 2.0, 2.0 * nu),
            steps + 1,
            done,
        )

    def running(state):
        return (state[8] < max_steps) & ~state[9]

    z, residual, at_obs, jac, jac_obs, chi2, _, _, steps, _ = jax.lax.while_loop(
        running, body, state
    )
    return {
        "raw": z,
        "chi2": chi2,
        "steps": steps,
        "residual": residual,
        "at_obs": at_obs,
        "jacobian": jac,
        "obs_jacobian": jac_obs,
    }


@partial(jax.jit, static_argnames=("settings",))
def _lm_batch(series, z0, free, max_steps, settings):
    return jax.vmap(_levenberg_marquardt, in_axes=(0, 0, 0, None, None))(
        series, z0, free, max_steps, settings
    )


@partial(jax.jit, static_argnames=("settings",))
def _screen_batch(series, candidates, settings):
    def one(data, raw):
        residual, _ = residuals(raw, data, settings)
        return jnp.sum(residual**2)

    return jax.vmap(jax.vmap(one, in_axes=(None, 0)))(series, candidates)


class CalibrationKernel:
    """The compiled pieces of one problem shape: screen, Levenberg-Marquardt, re-weighting.

    Parameters
    ----------
    problem : CalibrationProblem
        Padded arrays of S series (weights may be replaced with :meth:`reweighted`).
    settings : CalibrationSettings
    """

    def __init__(self, problem: CalibrationProblem, settings: CalibrationSettings):
        self.settings = settings
        self.dtype = jnp.dtype(settings.solver.dtype)
        self.problem = problem
        self.series = _as_jax(problem, self.dtype)

    def with_weight(self, weight: np.ndarray) -> CalibrationKernel:
        """The same problem with new weights (S, C, N) (no new compilation)."""
        problem = CalibrationProblem(*dataclasses.astuple(self.problem)[:4], weight=weight)
        return CalibrationKernel(problem, self.settings)

    def screen(self, candidates: np.ndarray) -> np.ndarray:
        """Chi2 (S, M) of unbounded candidates (S, M, 13); inf where the solve failed."""
        chi2 = np.asarray(
            _screen_batch(self.series, jnp.asarray(candidates, self.dtype), self.settings)
        )
        return np.where(np.isfinite(chi2), chi2, np.inf).astype(float)

    def least_squares(
        self, z0: np.ndarray, max_steps: int, free: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Levenberg-Marquardt from unbounded ``z0`` (S, 13), one run per series at once.

        Parameters
        ----------
        z0 : ndarray, shape (S, 13)
        max_steps : int
            Iterations at most (a traced value: no recompilation).
        free : ndarray, shape (S, 13), optional
            1 for fitted parameters, 0 for held ones (default: all fitted).

        Returns
        -------
        dict
            ``raw`` (S, 13), ``params`` (S, 13) in the box, ``chi2`` (S,), ``steps`` (S,),
            ``residual`` (S, R), ``at_obs`` (S, C, N) every channel at its observations,
            ``jacobian`` (S, R, 13) of the residuals and ``obs_jacobian`` (S, C, N, 13) of
            ``at_obs``, both with respect to the unbounded parameters.
        """
        free = np.ones_like(z0) if free is None else free
        out = _lm_batch(
            self.series,
            jnp.asarray(z0, self.dtype),
            jnp.asarray(free, self.dtype),
            jnp.asarray(max_steps, jnp.int32),
            self.settings,
        )
        out = {key: np.asarray(value, dtype=float) for key, value in out.items()}
        out["steps"] = out["steps"].astype(int)
        out["params"] = model.to_box(out["raw"])
        return out
