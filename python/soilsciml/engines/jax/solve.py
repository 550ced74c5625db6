"""Shared diffrax machinery of the JAX engine: solver, adjoint and controller registries, one
solve call.

Float64 support in JAX (``jax_enable_x64``) is on once the engine is imported
(:mod:`~soilsciml.engines.jax.runtime`); each run still chooses its own dtype through
:class:`~soilsciml.config.SolverConfig`.
"""

from __future__ import annotations

from typing import Any

import diffrax
import jax
import jax.numpy as jnp

from soilsciml.config import SolverConfig

__all__ = [
    "ADJOINTS",
    "CONTROLLERS",
    "SOLVERS",
    "STATUS_CODE",
    "make_adjoint",
    "make_solver",
    "solve",
]

SOLVERS: dict[str, type] = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "kvaerno5": diffrax.Kvaerno5,
    "implicit_euler": diffrax.ImplicitEuler,
}

ADJOINTS: dict[str, type] = {
    "checkpoint": diffrax.RecursiveCheckpointAdjoint,
    "backsolve": diffrax.BacksolveAdjoint,
    "direct": diffrax.DirectAdjoint,
    "forward": diffrax.ForwardMode,
}


#: Step-size controller name -> (pcoeff, icoeff) of ``diffrax.PIDController``: ``integral``
#: (diffrax's default I controller) and ``pi`` (a PI controller, which damps the step-size
#: oscillation where stability rather than accuracy limits the step: on the HySoMi PBM it
#: rejects about 4 % of the attempted steps instead of 16 %, see ``docs/hysomi-experiments.md``).
CONTROLLERS: dict[str, tuple[float, float]] = {"integral": (0.0, 1.0), "pi": (0.4, 0.3)}


def make_solver(name: str) -> Any:
    """A diffrax solver instance from its registry name."""
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")
    return SOLVERS[name]()


def make_adjoint(name: str) -> Any:
    """A diffrax adjoint instance from its registry name."""
    if name not in ADJOINTS:
        raise ValueError(f"unknown adjoint {name!r}; choose one of {', '.join(ADJOINTS)}")
    return ADJOINTS[name]()


def STATUS_CODE(result: Any, ys: jax.Array) -> jax.Array:
    """Map a diffrax result and the saved states to the codes of ``engines.base.SOLVE_MESSAGES``."""
    ok = result == diffrax.RESULTS.successful
    max_steps = result == diffrax.RESULTS.max_steps_reached
    finite = jnp.all(jnp.isfinite(ys))
    return jnp.where(ok & finite, 0, jnp.where(max_steps, 1, jnp.where(ok & ~finite, 2, 3))).astype(
        jnp.int32
    )


def _save_at(ts: jax.Array) -> diffrax.SaveAt:
    """Save at ``ts``; two times are the ends of the solve, saved without interpolation (the
    terminal loss: a cheaper step loop, the same numbers)."""
    if ts.shape[0] == 2:
        return diffrax.SaveAt(t0=True, t1=True)
    return diffrax.SaveAt(ts=ts)


def solve(
    vector_field: Any,
    y0: jax.Array,
    ts: jax.Array,
    args: Any,
    config: SolverConfig,
    controller: str | None = None,
) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """Integrate ``dy/dt = vector_field(t, y, args)`` and save at ``ts``.

    Never raises on solver failure: returns ``(ys, code, stats)`` where ``code`` is 0 on
    success (see ``engines.base.SOLVE_MESSAGES``) and ``stats`` holds ``num_steps`` and
    ``num_rejected_steps``. Traceable: call it inside ``jit``, ``vmap`` and ``grad``.

    Parameters
    ----------
    vector_field : callable
        ``(t, y, args) -> dy/dt``.
    y0 : Array
        State at ``ts[0]``.
    ts : Array, shape (nt,)
        Increasing save times; ``ts[0]`` is the start.
    args : pytree
        Passed through to ``vector_field``.
    config : SolverConfig
        Solver, tolerances, step limit and adjoint.
    controller : str, optional
        Step-size controller, a key of :data:`CONTROLLERS`; default ``config.controller``.
    """
    controller = config.controller if controller is None else controller
    if controller not in CONTROLLERS:
        raise ValueError(
            f"unknown step controller {controller!r}; choose one of {', '.join(CONTROLLERS)}"
        )
    pcoeff, icoeff = CONTROLLERS[controller]
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        make_solver(config.solver),
        t0=ts[0],
        t1=ts[-1],
        dt0=None,
        y0=y0,
        args=args,
        saveat=_save_at(ts),
        stepsize_controller=diffrax.PIDController(
            rtol=config.rtol, atol=config.atol, pcoeff=pcoeff, icoeff=icoeff
        ),
        max_steps=config.max_steps,
        adjoint=make_adjoint(config.adjoint),
        throw=False,
    )
    ys = solution.ys
    stats = {
        "num_steps": solution.stats["num_steps"],
        "num_rejected_steps": solution.stats["num_rejected_steps"],
    }
    return ys, STATUS_CODE(solution.result, ys), stats
