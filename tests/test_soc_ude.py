"""SOC UDE kernels: gradients against finite differences, masking, collocation, the penalty."""

import dataclasses

import numpy as np
import pytest
from gradcheck import directional_derivatives

from soilsciml.config import (
    SOCFitConfig,
    SOCGridConfig,
    SOCLossConfig,
    SOCNetworkConfig,
    SOCSimulationConfig,
    SolverConfig,
)
from soilsciml.engines import get_engine
from soilsciml.engines.base import SOCUDEProblem
from soilsciml.models.soc_ude import collocation_field, layer_shapes
from soilsciml.soc.fit import problem_from_dataset
from soilsciml.soc.simulate import simulate_soc


@pytest.fixture(scope="module")
def small_problem():
    ds = simulate_soc(SOCSimulationConfig(years=10.0, grid=SOCGridConfig(nz=10)))
    return problem_from_dataset(ds, SOCFitConfig())


def _small_config(**solver):
    return SOCFitConfig(
        network=SOCNetworkConfig(h1=4, h2=3, activation="tanh"),
        solver=SolverConfig(**{"rtol": 1e-10, "atol": 1e-12, **solver}),
    )


@pytest.mark.parametrize("adjoint", ["checkpoint", "backsolve"])
def test_terminal_loss_gradient_matches_central_differences(small_problem, adjoint):
    from soilsciml.engines.jax import ude as jax_ude

    config = _small_config(adjoint=adjoint)
    weights = jax_ude.init_weights(4, 3, seed=1)
    # backsolve integrates the adjoint ODE at the same tolerance: agreement to the solve's
    # accuracy, the checkpointed adjoint differentiates the discrete solve exactly.
    tolerance = 1e-4 if adjoint == "checkpoint" else 1e-3
    for analytic, numeric in directional_derivatives(small_problem, weights, config, 1e-5, 3):
        assert analytic == pytest.approx(numeric, rel=tolerance)


def test_nan_targets_are_masked(small_problem):
    from soilsciml.engines.jax.ude import init_weights

    config = dataclasses.replace(_small_config(), loss=SOCLossConfig(target="trajectory"))
    weights = init_weights(4, 3, seed=2)
    engine = get_engine("jax")
    targets = small_problem.targets.copy()
    targets[3, 4] = np.nan
    targets[7, :5] = np.nan
    masked = dataclasses.replace(small_problem, targets=targets)
    predicted = engine.predict_soc(masked, weights, config).soc
    residual = (predicted - targets)[1:]
    expected = np.nanmean(residual**2)
    assert engine.soc_loss(masked, weights, config) == pytest.approx(expected, rel=1e-10)


def test_weight_decay_adds_sum_of_squares(small_problem):
    from soilsciml.engines.jax.ude import init_weights

    weights = init_weights(4, 3, seed=3)
    engine = get_engine("jax")
    plain = _small_config()
    decayed = dataclasses.replace(plain, loss=SOCLossConfig(lambda_wd=0.5))
    squares = sum(float(np.sum(w**2)) for w in weights.values())
    difference = engine.soc_loss(small_problem, weights, decayed) - engine.soc_loss(
        small_problem, weights, plain
    )
    assert difference == pytest.approx(0.5 * squares, rel=1e-10)


def test_collocation_field_is_exact_for_linear_change():
    times = np.array([0.0, 1.0, 2.5, 4.0, 6.0])
    depth = np.linspace(0.0, 1.0, 5)
    field = 1.0 + 0.3 * depth[None, :] - 0.05 * times[:, None] * (1 + depth[None, :])
    problem = SOCUDEProblem(
        depth, times, field[0], times, np.ones((5, 5, 3)), field, 1e-3, 1e-3, "mirror"
    )
    colloc = collocation_field(problem, SOCLossConfig())
    np.testing.assert_allclose(colloc.soc, field, atol=1e-12)
    np.testing.assert_allclose(
        colloc.rate, np.broadcast_to(-0.05 * (1 + depth), (5, 5)), atol=1e-12
    )
    single = dataclasses.replace(problem, targets=np.where(times[:, None] > 0, np.nan, field))
    assert collocation_field(single, SOCLossConfig()).times.size == 0


def test_collocation_term_is_the_pde_residual_on_the_smoothed_field(small_problem):
    """With the networks switched off (head 'none', zero weights) the collocation term equals
    the mean squared residual of transport alone on the smoothed observed field."""
    from soilsciml.models.soc import transport_tendency

    network = SOCNetworkConfig(h1=4, h2=3, head="none")
    config = SOCFitConfig(network=network, loss=SOCLossConfig(lambda_term=0.0, lambda_coll=1.0))
    zeros = {name: np.zeros(shape) for name, shape in layer_shapes(4, 3).items()}
    colloc = collocation_field(small_problem, config.loss)
    dz = small_problem.depth[1] - small_problem.depth[0]
    transport = transport_tendency(colloc.soc, dz, 1e-3, 1e-3, "mirror")
    expected = np.mean((colloc.rate - transport) ** 2)
    assert get_engine("jax").soc_loss(small_problem, zeros, config) == pytest.approx(expected)
