"""The JAX engine (default): diffrax solvers, equinox networks, optax and optimistix."""

from __future__ import annotations

import numpy as np

from soilsciml.config import SolverConfig
from soilsciml.engines import jax_pbm, jax_soc
from soilsciml.engines.base import (
    AbstractEngine,
    PBMTrajectory,
    SOCTrajectory,
    SOCTruthProblem,
)

__all__ = ["JaxEngine"]


class JaxEngine(AbstractEngine):
    """Engine backed by JAX; compiled once per shape and reused."""

    name = "jax"

    def simulate_soc_truth(self, problem: SOCTruthProblem) -> SOCTrajectory:
        return jax_soc.simulate_truth(problem)

    def simulate_pbm(
        self, params: np.ndarray, initial: np.ndarray, times: np.ndarray, solver: SolverConfig
    ) -> PBMTrajectory:
        return jax_pbm.simulate(params, initial, times, solver)
