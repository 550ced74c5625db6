"""The benchmark peers (PyTorch + torchdiffeq) compute the same losses as the JAX engine.

Speed is measured in ``benchmarks/``; these tests only check that the peers solve the same
problems, on tiny settings. They need the ``bench`` extra and skip without it.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the benchmark peers need torch (pip install '.[bench]')")
pytest.importorskip("torchdiffeq", reason="the benchmark peers need torchdiffeq ('.[bench]')")

import jax.numpy as jnp
import torch

from soilsciml.config import (
    SOCFitConfig,
    SOCGridConfig,
    SOCNetworkConfig,
    SOCSimulationConfig,
    SolverConfig,
)
from soilsciml.engines.jax import train as jax_train
from soilsciml.engines.jax import ude as jax_ude
from soilsciml.engines.jax.pbm import simulate_states
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model
from soilsciml.soc.fit import problem_from_dataset
from soilsciml.soc.simulate import simulate_soc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from peers.torch_hysomi import TORCH_XP, TorchHySoMi, network_arrays
from peers.torch_soc import TorchSOCUDE

TIGHT = 1e-9


@pytest.mark.parametrize("activation", ["gelu", "tanh"])
def test_soc_peer_loss_and_gradient_equal_ours(activation):
    sim = SOCSimulationConfig(years=3.0, grid=SOCGridConfig(nz=8))
    config = SOCFitConfig(
        network=SOCNetworkConfig(h1=5, h2=4, activation=activation),
        solver=SolverConfig(solver="dopri5", rtol=TIGHT, atol=TIGHT),
    )
    problem = problem_from_dataset(simulate_soc(sim), config)
    data = jax_ude.prepare_data(problem, config, "float64")
    static = jax_ude.static_settings(config, problem.boundary)
    weights = jax_ude.init_weights(5, 4, seed=3)
    weights = {k: 10 * v for k, v in weights.items()}  # networks far from cancelling
    loss, grads = jax_train.value_and_grad(
        {k: jnp.asarray(v) for k, v in weights.items()}, data, static
    )
    peer = TorchSOCUDE(
        weights, {k: np.asarray(v) for k, v in data.items()}, activation, boundary=problem.boundary
    )
    peer_loss, peer_grads = peer.value_and_grad(TIGHT, TIGHT)
    assert float(loss) > 1e-4
    np.testing.assert_allclose(peer_loss, float(loss), rtol=1e-6)
    for name, grad in grads.items():
        np.testing.assert_allclose(
            peer_grads[name].numpy(), np.asarray(grad), rtol=1e-5, atol=1e-7 * np.abs(grad).max()
        )


def test_hysomi_peer_batch_solve_and_constraints_equal_ours():
    rng = np.random.default_rng(0)
    params = model.LOWER + (model.UPPER - model.LOWER) * rng.uniform(0.2, 0.8, (3, 13))
    times = np.arange(25.0)
    solver = SolverConfig(rtol=TIGHT, atol=1e-12, max_steps=100_000)
    states, codes, _ = simulate_states(
        jnp.asarray(params),
        jnp.asarray(np.tile(model.INITIAL_STATE, (3, 1))),
        jnp.asarray(times),
        solver,
    )
    assert np.all(np.asarray(codes) == 0)
    peer_params = torch.tensor(params)
    from torchdiffeq import odeint

    peer_states = odeint(
        lambda t, y: model.rhs(y, peer_params, model.PHYSICS, xp=TORCH_XP),
        torch.tensor(np.tile(model.INITIAL_STATE, (3, 1))),
        torch.tensor(times),
        method="dopri5",
        rtol=TIGHT,
        atol=1e-12,
    ).permute(1, 0, 2)
    np.testing.assert_allclose(peer_states.numpy(), np.asarray(states), rtol=1e-6, atol=1e-9)
    constraints = cons.constraint_set("synthetic")
    soft = cons.soft_losses(constraints, np.asarray(states), times, params, 0.05)
    peer_soft = cons.soft_losses(
        constraints, peer_states, torch.tensor(times), peer_params, 0.05, xp=TORCH_XP
    )
    assert np.any(soft > 0)
    np.testing.assert_allclose(peer_soft.numpy(), soft, rtol=1e-5, atol=1e-9)


def test_hysomi_peer_training_loss_equals_ours():
    ht = pytest.importorskip(
        "soilsciml.engines.jax.hysomi_train", reason="HySoMi training is not in this tree"
    )
    from soilsciml.config import HySoMiTrainConfig

    config = HySoMiTrainConfig(
        width=8, depth=2, solver=SolverConfig(rtol=TIGHT, atol=1e-12, max_steps=100_000)
    )
    times = np.arange(25.0)
    rng = np.random.default_rng(1)
    traits = rng.uniform(5.0, 200.0, (6, 4))
    targets = np.abs(rng.normal(0.5, 0.2, (6, times.size, 6)))
    trained = ht.skeleton(config, traits.shape[1], times.size)
    constraints = ht._constraints(config)
    loss, _ = ht._terms(
        trained,
        jnp.asarray(traits),
        jnp.asarray(targets),
        jnp.ones(6),
        jnp.zeros(trained.loss_scales.size),
        True,
        jnp.asarray(times),
        config,
        constraints,
    )
    peer = TorchHySoMi(
        network_arrays(trained.network),
        trained.loss_scales,
        np.zeros(4),
        np.ones(4),
        constraints,
        config.constraints.temperature,
        times,
        TIGHT,
        1e-12,
        1e-3,
    )
    peer_loss = peer.loss(torch.tensor(traits), torch.tensor(targets))
    np.testing.assert_allclose(float(peer_loss.detach()), float(loss), rtol=1e-7)
