"""The JAX engine (default): diffrax solvers, equinox networks, optax and optimistix."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from soilsciml.config import HySoMiTrainConfig, SOCFitConfig, SolverConfig
from soilsciml.engines.base import (
    AbstractEngine,
    HySoMiFitOutput,
    HySoMiTrainingData,
    PBMTrajectory,
    SOCFitOutput,
    SOCTrajectory,
    SOCTruthProblem,
    SOCUDEProblem,
    SolveStatus,
)
from soilsciml.engines.jax import hysomi_train as jax_hysomi
from soilsciml.engines.jax import pbm as jax_pbm
from soilsciml.engines.jax import soc as jax_soc
from soilsciml.engines.jax import train as jax_train
from soilsciml.engines.jax import ude as jax_ude
from soilsciml.engines.jax.kernel_store import StoredKernel

__all__ = ["JaxEngine"]


def _traced_predict(weights, data, times, static):
    return jax_ude.trajectory(weights, data, times, static)


_predict = StoredKernel("soc_predict", _traced_predict)


def _arrays(problem: SOCUDEProblem, weights: dict, config: SOCFitConfig, prepare):
    dtype = config.solver.dtype
    weights = {k: jnp.asarray(v, dtype=dtype) for k, v in weights.items()}
    return (
        weights,
        prepare(problem, config, dtype),
        jax_ude.static_settings(config, problem.boundary),
    )


class JaxEngine(AbstractEngine):
    """Engine backed by JAX; compiled once per shape and reused."""

    name = "jax"
    supports_sites = True

    def simulate_soc_truth(self, problem: SOCTruthProblem) -> SOCTrajectory:
        return jax_soc.simulate_truth(problem)

    def simulate_pbm(
        self, params: np.ndarray, initial: np.ndarray, times: np.ndarray, solver: SolverConfig
    ) -> PBMTrajectory:
        return jax_pbm.simulate(params, initial, times, solver)

    def predict_soc(
        self, problem: SOCUDEProblem, weights: dict[str, np.ndarray], config: SOCFitConfig
    ) -> SOCTrajectory:
        times = np.asarray(problem.times, dtype=float)
        initial = np.asarray(problem.initial, dtype=float)
        if times.size == 1:
            return SOCTrajectory(times, initial[..., None, :], SolveStatus(), 0, 0)
        weights, data, static = _arrays(problem, weights, config, jax_ude.model_data)
        save_times = jnp.asarray(times, config.solver.dtype)
        ys, code, stats = _predict(weights, data, save_times, static=static)
        code = int(code)
        # All sites are one state (time, site, depth); trajectories are (site, time, depth).
        soc = np.asarray(ys, dtype=np.float64)
        return SOCTrajectory(
            times=times,
            soc=soc if initial.ndim == 1 else np.swapaxes(soc, 0, 1),
            status=SolveStatus(code=code, n_failed=int(code != 0)),
            num_steps=int(stats["num_steps"]),
            num_rejected_steps=int(stats["num_rejected_steps"]),
        )

    def soc_loss(
        self, problem: SOCUDEProblem, weights: dict[str, np.ndarray], config: SOCFitConfig
    ) -> float:
        weights, data, static = _arrays(problem, weights, config, jax_ude.prepare_data)
        return float(jax_train.value_and_grad(weights, data, static)[0])

    def fit_soc(
        self, problem: SOCUDEProblem, config: SOCFitConfig, progress: bool = True
    ) -> SOCFitOutput:
        return jax_train.fit(problem, config, progress)

    def fit_hysomi(
        self, data: HySoMiTrainingData, config: HySoMiTrainConfig, progress: bool = True
    ) -> HySoMiFitOutput:
        trained, history = jax_hysomi.train(
            data.traits_train,
            data.states_train,
            data.traits_validation,
            data.states_validation,
            data.times,
            config,
            progress,
        )
        params, states, codes = self.predict_hysomi(trained, data.traits_test, data.times, config)
        return HySoMiFitOutput(trained, history, params, states, codes)

    def predict_hysomi(
        self, trained: Any, traits: np.ndarray, times: np.ndarray, config: HySoMiTrainConfig
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return jax_hysomi.predict(trained, traits, times, config)
