"""The PI step-size controller setting: same solution to the tolerance, other step counts."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from soilsciml.config import ConfigError, SolverConfig
from soilsciml.engines.jax.solve import solve
from soilsciml.engines.julia_engine import solver_settings


def decay(times, config):
    """dy/dt = -k y for three rates k; exact y = exp(-k t)."""
    rates = jnp.array([0.5, 1.0, 2.0])
    ys, code, stats = solve(lambda t, y, k: -k * y, jnp.ones(3), times, rates, config)
    exact = np.exp(-np.outer(np.asarray(times), np.asarray(rates)))
    return np.asarray(ys), exact, int(code), int(stats["num_steps"])


@pytest.mark.parametrize("solver", ["tsit5", "dopri5"])
def test_pi_controller_keeps_the_solution_and_changes_the_steps(solver):
    times = jnp.linspace(0.0, 5.0, 6)
    integral = SolverConfig(solver=solver, rtol=1e-7, atol=1e-9)
    pi = SolverConfig(solver=solver, rtol=1e-7, atol=1e-9, controller="pi")
    ys_i, exact, code_i, steps_i = decay(times, integral)
    ys_pi, _, code_pi, steps_pi = decay(times, pi)
    assert code_i == code_pi == 0
    np.testing.assert_allclose(ys_i, exact, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(ys_pi, exact, rtol=1e-5, atol=1e-9)
    assert steps_pi != steps_i  # the setting reaches diffrax's controller


def test_controller_domain_and_julia_refusal():
    with pytest.raises(ConfigError, match="controller"):
        SolverConfig(controller="pid")
    assert "controller" not in solver_settings(SolverConfig())
    with pytest.raises(ValueError, match="solver.controller must be 'integral'"):
        solver_settings(SolverConfig(controller="pi"))


def test_hysomi_training_refuses_the_solver_controller_it_would_ignore():
    from soilsciml.config.hysomi import HySoMiTrainConfig

    assert HySoMiTrainConfig(step_controller="integral").step_controller == "integral"
    with pytest.raises(ConfigError, match="set step_controller"):
        HySoMiTrainConfig(solver=SolverConfig(controller="pi"))
