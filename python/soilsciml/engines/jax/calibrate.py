"""HySoMi calibration kernel of the JAX engine: fit the 13 parameters to observed series.

Each series is fitted on its own (its own initial pools, observation times and constraint
horizon), all series and all starts at once: the parameters are free variables inside the box
through ``models.hysomi.to_box``; the loss is the scaled CO2 misfit plus relative soft
constraint violations (plus the scaled biomass misfit where biomass is observed). Several
Latin-hypercube starts per series run Adam together (``vmap``); the best start of each series is
then polished with BFGS (optimistix). Everything is one compiled function per problem shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx

from soilsciml.config import SolverConfig
from soilsciml.engines.jax.pbm import simulate_states
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = ["CalibrationProblem", "CalibrationSettings", "fit_parameters"]

_CO2 = model.STATE_NAMES.index("CO2")
_B_A, _B_D = model.STATE_NAMES.index("B_A"), model.STATE_NAMES.index("B_D")

#: Loss of a start whose solve failed: far above any fit, so it is never picked.
FAILED_LOSS = 1e3


@dataclass(frozen=True)
class CalibrationProblem:
    """Arrays of a batch of series, padded to common lengths (engines see numpy only).

    Parameters
    ----------
    times : ndarray, shape (S, L)
        Save times of each series in hours, increasing, starting at 0; the hourly points of the
        horizon and the observation times, padded by repeating the last time.
    initial : ndarray, shape (S, 6)
        Pools at t = 0 in mg C/g.
    obs_index : ndarray of int, shape (S, N)
        Position in ``times`` of each observation.
    co2, co2_mask : ndarray, shape (S, N)
        Cumulative CO2 in mg C/g and 1 where observed, 0 where missing or padding.
    biomass, biomass_mask : ndarray, shape (S, N)
        Microbial biomass B_A + B_D in mg C/g and its mask (all zero when not observed).
    """

    times: np.ndarray
    initial: np.ndarray
    obs_index: np.ndarray
    co2: np.ndarray
    co2_mask: np.ndarray
    biomass: np.ndarray
    biomass_mask: np.ndarray


@dataclass(frozen=True)
class CalibrationSettings:
    """Static settings of the fit (hashable: part of the compiled function's key).

    Parameters
    ----------
    constraints : tuple of Constraint
        The constraint set penalised.
    temperature : float
        Softmax/sigmoid temperature of the smooth constraint functionals.
    constraint_weight, biomass_weight : float
        Weights of the constraint penalty and of the biomass misfit relative to the CO2 misfit.
    adam_steps, polish_steps : int
        Adam iterations on every start, then BFGS iterations on the best start.
    learning_rate : float
        Adam step size on the unbounded parameters.
    solver : SolverConfig
        ODE solver settings.
    """

    constraints: tuple[cons.Constraint, ...]
    temperature: float
    constraint_weight: float
    biomass_weight: float
    adam_steps: int
    polish_steps: int
    learning_rate: float
    solver: SolverConfig


def _scaled_misfit(pred, observed, mask):
    """Masked mean squared error divided by the observations' variance (1 - R2 when fitted)."""
    count = jnp.maximum(jnp.sum(mask), 1.0)
    mean = jnp.sum(mask * observed) / count
    variance = jnp.maximum(jnp.sum(mask * (observed - mean) ** 2) / count, 1e-12)
    return jnp.sum(mask * (pred - observed) ** 2, axis=-1) / count / variance


def _relative_violations(settings, states, times, params):
    """relu(a v1 - b v2) / (|a v1| + |b v2|) per start and constraint: dimensionless."""
    out = []
    for constraint in settings.constraints:
        left, right = constraint.sides(states, times, params, settings.temperature, jnp)
        out.append(jnp.maximum(left - right, 0.0) / (jnp.abs(left) + jnp.abs(right) + 1e-12))
    return jnp.stack(out, axis=-1)


def _series_loss(raw, series, settings):
    """Loss of each start (K,) of one series for unbounded parameters ``raw`` (K, 13)."""
    times, initial, index, co2, co2_mask, biomass, biomass_mask = series
    params = model.to_box(raw, jnp)
    initial = jnp.broadcast_to(initial, (raw.shape[0], initial.shape[-1]))
    states, codes, _ = simulate_states(params, initial, times, settings.solver)
    solved = (codes == 0) & jnp.all(jnp.isfinite(states), axis=(-2, -1))
    states = jnp.where(jnp.isfinite(states), states, 0.0)
    at_obs = states[:, index, :]
    loss = _scaled_misfit(at_obs[..., _CO2], co2, co2_mask)
    has_biomass = jnp.sum(biomass_mask) > 0
    biomass_loss = _scaled_misfit(at_obs[..., _B_A] + at_obs[..., _B_D], biomass, biomass_mask)
    loss = loss + jnp.where(has_biomass, settings.biomass_weight * biomass_loss, 0.0)
    penalty = jnp.sum(_relative_violations(settings, states, times, params), axis=-1)
    loss = loss + settings.constraint_weight * penalty
    return jnp.where(solved, loss, FAILED_LOSS)


def _adam(raw, series, settings):
    """Adam on every start of one series; returns the best raw parameters met and their loss."""
    optimiser = optax.chain(
        optax.zero_nans(), optax.clip_by_global_norm(10.0), optax.adam(settings.learning_rate)
    )

    def total(r):
        losses = _series_loss(r, series, settings)
        return jnp.sum(losses), losses

    def step(carry, _):
        current, state, best, best_loss = carry
        (_, losses), grads = jax.value_and_grad(total, has_aux=True)(current)
        better = losses < best_loss
        best = jnp.where(better[:, None], current, best)
        best_loss = jnp.where(better, losses, best_loss)
        updates, state = optimiser.update(grads, state, current)
        return (optax.apply_updates(current, updates), state, best, best_loss), None

    initial_loss = jnp.full(raw.shape[0], jnp.inf)
    carry = (raw, optimiser.init(raw), raw, initial_loss)
    (last, _, best, best_loss), _ = jax.lax.scan(step, carry, None, length=settings.adam_steps)
    last_loss = _series_loss(last, series, settings)
    better = last_loss < best_loss
    return jnp.where(better[:, None], last, best), jnp.where(better, last_loss, best_loss)


def _polish(raw, series, settings):
    """BFGS from one start (13,); returns the polished raw parameters, their loss, steps."""

    def loss(r, _):
        value = _series_loss(r[None, :], series, settings)[0]
        return jnp.where(jnp.isfinite(value), value, FAILED_LOSS)

    solution = optx.minimise(
        loss,
        optx.BFGS(rtol=1e-10, atol=1e-12),
        raw,
        max_steps=settings.polish_steps,
        throw=False,
    )
    polished = jnp.where(jnp.all(jnp.isfinite(solution.value)), solution.value, raw)
    return polished, loss(polished, None), solution.stats["num_steps"]


@partial(jax.jit, static_argnames=("settings",))
def _fit(series, starts, settings):
    def one(one_series, one_starts):
        raw, losses = _adam(one_starts, one_series, settings)
        best = jnp.argmin(losses)
        adam_raw, adam_loss = raw[best], losses[best]
        if settings.polish_steps > 0:
            polished, polished_loss, steps = _polish(adam_raw, one_series, settings)
            take = polished_loss < adam_loss
            final = jnp.where(take, polished, adam_raw)
            final_loss = jnp.where(take, polished_loss, adam_loss)
        else:
            final, final_loss, steps = adam_raw, adam_loss, jnp.asarray(0)
        params = model.to_box(final, jnp)
        states, codes, _ = simulate_states(
            params[None], one_series[1][None], one_series[0], settings.solver
        )
        return params, final_loss, losses, steps, states[0], codes[0]

    return jax.vmap(one)(series, starts)


def fit_parameters(
    problem: CalibrationProblem, starts: np.ndarray, settings: CalibrationSettings
) -> dict[str, np.ndarray]:
    """Fit the 13 parameters of every series of ``problem``.

    Parameters
    ----------
    problem : CalibrationProblem
        Padded arrays of S series.
    starts : ndarray, shape (S, K, 13)
        Starting parameters, strictly inside the box.
    settings : CalibrationSettings

    Returns
    -------
    dict
        ``params`` (S, 13) fitted parameters, ``loss`` (S,) their loss (``FAILED_LOSS`` where
        every start failed to solve), ``start_loss`` (S, K) each start's loss after Adam and
        ``polish_steps`` (S,) BFGS steps taken, ``states`` (S, L, 6) the fitted pools on
        ``problem.times`` and ``codes`` (S,) their solve status.
    """
    dtype = jnp.dtype(settings.solver.dtype)
    series = (
        jnp.asarray(problem.times, dtype),
        jnp.asarray(problem.initial, dtype),
        jnp.asarray(problem.obs_index, jnp.int32),
        jnp.asarray(problem.co2, dtype),
        jnp.asarray(problem.co2_mask, dtype),
        jnp.asarray(problem.biomass, dtype),
        jnp.asarray(problem.biomass_mask, dtype),
    )
    raw = jnp.asarray(model.from_box(np.asarray(starts, dtype=float)), dtype)
    params, loss, start_loss, steps, states, codes = _fit(series, raw, settings)
    return {
        "params": np.asarray(params, dtype=float),
        "loss": np.asarray(loss, dtype=float),
        "start_loss": np.asarray(start_loss, dtype=float),
        "polish_steps": np.asarray(steps, dtype=int),
        "states": np.asarray(states, dtype=float),
        "codes": np.asarray(codes, dtype=int),
    }
