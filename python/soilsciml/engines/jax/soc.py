"""SOC method-of-lines kernels of the JAX engine."""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from soilsciml.engines.base import SOCTrajectory, SOCTruthProblem, SolveStatus
from soilsciml.engines.jax.kernel_store import StoredKernel
from soilsciml.engines.jax.solve import solve
from soilsciml.models import soc as model

__all__ = ["simulate_truth", "truth_vector_field"]


def truth_vector_field(t, soc, args, *, boundary, truth, reference):
    """dC/dt for a truth generator with analytic drivers.

    ``args`` is ``(depth, dz, diffusion, advection, coefficients)`` where ``coefficients``
    holds the fields of :class:`~soilsciml.models.soc.DriverCoefficients` in order (traced, so
    sites with different drivers share one compiled solve); the keyword settings are static.
    """
    depth, dz, diffusion, advection, coefficients = args
    dcdt = model.transport_tendency(soc, dz, diffusion, advection, boundary, xp=jnp)
    if truth == "reference":
        drivers = model.DriverCoefficients(*coefficients)
        ph, cec, clay = model.driver_fields(depth, t, drivers, xp=jnp)
        dcdt = dcdt + model.reference_production(depth, ph, reference, xp=jnp)
        dcdt = dcdt - model.reference_respiration(soc, ph, cec, clay, reference)
    return dcdt


def _traced_solve_truth(initial, times, depth, diffusion, advection, coefficients, static):
    """Solve every site (leading axis of ``initial`` and ``coefficients``) in one vmapped call.

    ``static`` is ``(boundary, truth, reference, solver)``.
    """
    boundary, truth, reference, solver = static
    dz = depth[1] - depth[0]
    vector_field = partial(truth_vector_field, boundary=boundary, truth=truth, reference=reference)

    def one_site(site_initial, site_coefficients):
        args = (depth, dz, diffusion, advection, tuple(site_coefficients))
        return solve(vector_field, site_initial, times, args, solver)

    return jax.vmap(one_site)(initial, coefficients)


_solve_truth = StoredKernel("soc_solve_truth", _traced_solve_truth)


def simulate_truth(problem: SOCTruthProblem) -> SOCTrajectory:
    """Solve the SOC PDE with a mechanistic truth generator (see ``engines.base``).

    With a 2-D ``problem.initial`` (site, depth) and one set of driver coefficients per site,
    all sites are solved in one batched call and ``soc`` has shape (site, time, depth).
    """
    dtype = jnp.dtype(problem.solver.dtype)
    times = np.asarray(problem.times, dtype=float)
    initial = np.atleast_2d(np.asarray(problem.initial, dtype=float))
    drivers = problem.drivers
    if isinstance(drivers, model.DriverCoefficients):
        drivers = [drivers] * initial.shape[0]
    if len(drivers) != initial.shape[0]:
        raise ValueError(
            f"got {len(drivers)} driver sets for {initial.shape[0]} initial profiles; "
            "give one per site"
        )
    coefficients = np.array([dataclasses.astuple(d) for d in drivers], dtype=float)
    if times.size == 1:
        soc, codes, steps, rejected = initial[:, None], np.zeros(len(initial), int), 0, 0
    else:
        ys, codes, stats = _solve_truth(
            jnp.asarray(initial, dtype),
            jnp.asarray(times, dtype),
            jnp.asarray(problem.depth, dtype),
            problem.diffusion,
            problem.advection,
            jnp.asarray(coefficients, dtype),
            static=(problem.boundary, problem.truth, problem.reference, problem.solver),
        )
        soc, codes = np.asarray(ys), np.asarray(codes)
        steps = int(np.max(stats["num_steps"]))
        rejected = int(np.max(stats["num_rejected_steps"]))
    failed = codes != 0
    return SOCTrajectory(
        times=times,
        soc=soc if np.ndim(problem.initial) == 2 else soc[0],
        status=SolveStatus(
            code=int(codes[failed][0]) if failed.any() else 0, n_failed=int(failed.sum())
        ),
        num_steps=steps,
        num_rejected_steps=rejected,
    )
