"""HySoMi process-model kernels of the JAX engine: batched, differentiable simulation.

:func:`simulate_states` is a pure JAX function (jit + vmap; each sample keeps its own adaptive
steps) that stays usable inside ``jax.grad``; :func:`simulate` is its numpy-facing wrapper.

A vmapped adaptive solve runs its step loop as long as its slowest sample: every sample of
the batch pays for the most steps any of them takes. ``chunk`` splits the batch into
consecutive groups of that many samples, each solved by its own vmapped loop one after the
other (``lax.map``), so a caller that orders the samples by their expected number of steps
pays roughly for each sample's own steps. Samples marked inactive (``active`` 0: padding)
get a zero vector field, which the step-size controller crosses in a handful of steps.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from soilsciml.config import SolverConfig
from soilsciml.engines.base import PBMTrajectory
from soilsciml.engines.jax.solve import solve
from soilsciml.models import hysomi as model

__all__ = ["simulate", "simulate_states", "vector_field"]


def vector_field(t, y, params, *, physics):
    """dy/dt of the six pools for one parameter vector (``physics`` is static)."""
    return model.rhs(y, params, physics, xp=jnp)


def _gated_field(t, y, args, *, physics):
    """:func:`vector_field`, zero where the sample is inactive (``args = (params, active)``)."""
    params, active = args
    return jnp.where(active > 0, model.rhs(y, params, physics, xp=jnp), 0.0)


@partial(jax.jit, static_argnames=("solver", "physics", "controller", "chunk"))
def simulate_states(
    params: jax.Array,
    initial: jax.Array,
    times: jax.Array,
    solver: SolverConfig,
    physics: model.Physics = model.PHYSICS,
    controller: str = "integral",
    chunk: int = 0,
    active: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Solve the PBM for a batch of parameter sets.

    Parameters
    ----------
    params : Array, shape (n, 13)
        Biokinetic parameters in the order of ``models.hysomi.PARAM_NAMES``.
    initial : Array, shape (n, 6)
        Pools at ``times[0]`` in mg C/g.
    times : Array, shape (nt,)
        Increasing output times in hours.
    solver : SolverConfig
        Static solver settings.
    physics : Physics
        Static fixed sorption parameters.
    controller : str
        Step-size controller (``engines.jax.solve.CONTROLLERS``).
    chunk : int
        Samples per vmapped solve (0: the whole batch in one); the batch is padded with
        inactive samples to a multiple of ``chunk``.
    active : Array, shape (n,), optional
        1 for samples to solve, 0 for padding (their pools stay at ``initial``).

    Returns
    -------
    states : Array, shape (n, nt, 6)
    codes : Array, shape (n,)
        0 on success, else a key of ``engines.base.SOLVE_MESSAGES``.
    num_steps : Array, shape (n,)
    """
    field = partial(_gated_field, physics=physics)
    n = params.shape[0]
    active = jnp.ones(n, params.dtype) if active is None else active

    def one(theta, y0, on):
        ys, code, stats = solve(field, y0, times, (theta, on), solver, controller)
        return ys, code, stats["num_steps"]

    if chunk <= 0 or chunk >= n:
        return jax.vmap(one)(params, initial, active)
    size = -(-n // chunk) * chunk
    lanes = [
        jnp.concatenate([a, jnp.broadcast_to(a[:1], (size - n, *a.shape[1:]))])
        for a in (params, initial)
    ]
    lanes.append(jnp.concatenate([active, jnp.zeros(size - n, active.dtype)]))
    grouped = [a.reshape(size // chunk, chunk, *a.shape[1:]) for a in lanes]
    out = jax.lax.map(lambda group: jax.vmap(one)(*group), grouped)
    return tuple(a.reshape(size, *a.shape[2:])[:n] for a in out)


def simulate(
    params: np.ndarray, initial: np.ndarray, times: np.ndarray, solver: SolverConfig
) -> PBMTrajectory:
    """Numpy-facing batched PBM simulation (see ``AbstractEngine.simulate_pbm``)."""
    params = np.atleast_2d(np.asarray(params, dtype=float))
    initial = np.asarray(initial, dtype=float)
    times = np.asarray(times, dtype=float)
    n_params, n_states = len(model.PARAM_NAMES), len(model.STATE_NAMES)
    if params.ndim != 2 or params.shape[1] != n_params:
        raise ValueError(f"params must have shape (n, {n_params}); got {params.shape}")
    if initial.shape not in ((n_states,), (params.shape[0], n_states)):
        raise ValueError(
            f"initial must have shape ({n_states},) or (n, {n_states}); got {initial.shape}"
        )
    if times.ndim != 1 or times.size < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be a 1-D array of at least two increasing values (hours)")
    initial = np.broadcast_to(initial, (params.shape[0], n_states))
    dtype = jnp.dtype(solver.dtype)
    states, codes, num_steps = simulate_states(
        jnp.asarray(params, dtype), jnp.asarray(initial, dtype), jnp.asarray(times, dtype), solver
    )
    return PBMTrajectory(
        times=times,
        states=np.asarray(states, dtype=float),
        codes=np.asarray(codes, dtype=int),
        num_steps=np.asarray(num_steps, dtype=int),
    )
