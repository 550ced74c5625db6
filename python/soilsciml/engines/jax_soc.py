"""SOC method-of-lines kernels of the JAX engine."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from soilsciml.engines.base import SOCTrajectory, SOCTruthProblem, SolveStatus
from soilsciml.engines.jax_solve import solve
from soilsciml.models import soc as model

__all__ = ["simulate_truth", "truth_vector_field"]


def truth_vector_field(t, soc, args, *, boundary, truth, drivers, reference):
    """dC/dt for a truth generator with analytic drivers.

    ``args`` is ``(depth, dz, diffusion, advection)``; the keyword settings are static.
    """
    depth, dz, diffusion, advection = args
    dcdt = model.transport_tendency(soc, dz, diffusion, advection, boundary, xp=jnp)
    if truth == "reference":
        ph, cec, clay = model.driver_fields(depth, t, drivers, xp=jnp)
        dcdt = dcdt + model.reference_production(depth, ph, reference, xp=jnp)
        dcdt = dcdt - model.reference_respiration(soc, ph, cec, clay, reference)
    return dcdt


@partial(jax.jit, static_argnames=("boundary", "truth", "drivers", "reference", "solver"))
def _solve_truth(
    initial, times, depth, diffusion, advection, boundary, truth, drivers, reference, solver
):
    dz = depth[1] - depth[0]
    vector_field = partial(
        truth_vector_field, boundary=boundary, truth=truth, drivers=drivers, reference=reference
    )
    return solve(vector_field, initial, times, (depth, dz, diffusion, advection), solver)


def simulate_truth(problem: SOCTruthProblem) -> SOCTrajectory:
    """Solve the SOC PDE with a mechanistic truth generator (see ``engines.base``)."""
    dtype = jnp.dtype(problem.solver.dtype)
    times = np.asarray(problem.times, dtype=float)
    if times.size == 1:
        return SOCTrajectory(times, np.asarray(problem.initial)[None], SolveStatus(), 0, 0)
    ys, code, stats = _solve_truth(
        jnp.asarray(problem.initial, dtype),
        jnp.asarray(times, dtype),
        jnp.asarray(problem.depth, dtype),
        problem.diffusion,
        problem.advection,
        problem.boundary,
        problem.truth,
        problem.drivers,
        problem.reference,
        problem.solver,
    )
    code = int(code)
    return SOCTrajectory(
        times=times,
        soc=np.asarray(ys),
        status=SolveStatus(code=code, n_failed=int(code != 0)),
        num_steps=int(stats["num_steps"]),
        num_rejected_steps=int(stats["num_rejected_steps"]),
    )
