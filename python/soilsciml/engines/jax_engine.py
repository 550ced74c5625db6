"""The JAX engine (default): diffrax solvers, equinox networks, optax and optimistix."""

from __future__ import annotations

from soilsciml.engines import jax_soc
from soilsciml.engines.base import AbstractEngine, SOCTrajectory, SOCTruthProblem

__all__ = ["JaxEngine"]


class JaxEngine(AbstractEngine):
    """Engine backed by JAX; compiled once per shape and reused."""

    name = "jax"

    def simulate_soc_truth(self, problem: SOCTruthProblem) -> SOCTrajectory:
        return jax_soc.simulate_truth(problem)
