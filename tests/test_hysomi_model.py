"""The HySoMi process model: parameter box, conservation, scipy parity, per-sample failures."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.stats import qmc

import soilsciml.engines.jax.solve  # noqa: F401  (turns on float64 support in JAX)
from soilsciml.config import SolverConfig
from soilsciml.engines import get_engine
from soilsciml.models import hysomi as model

TIGHT = SolverConfig(rtol=1e-10, atol=1e-12, max_steps=200_000)
GENERATOR = SolverConfig(rtol=1e-6, atol=1e-9, max_steps=20_000)


def _box_draws(n, seed):
    return qmc.scale(qmc.LatinHypercube(d=13, seed=seed).random(n), model.LOWER, model.UPPER)


def _simulate(params, solver):
    times = model.hourly_times()
    return get_engine("jax").simulate_pbm(params, model.INITIAL_STATE, times, solver)


def test_parameter_table_follows_the_contract():
    assert model.PARAM_NAMES == (
        "mu_max", "k_R", "k_D", "Y", "k_S", "K_H", "v_max", "C_thr", "sigma", "f_N", "Y_M",
        "m_max", "beta",
    )  # fmt: skip
    assert model.STATE_NAMES == ("B_A", "B_D", "C_H", "C_L", "C_LS", "CO2")
    assert model.hourly_times().shape == (169,) and model.hourly_times()[-1] == 168.0
    assert np.all(model.LOWER < model.UPPER)


@pytest.mark.parametrize("xp", [np, jnp])
def test_bounded_transform_and_inverse(xp):
    raw = np.random.default_rng(0).normal(0.0, 3.0, size=(50, 13))
    params = model.to_box(xp.asarray(raw), xp)
    assert np.all((np.asarray(params) >= model.LOWER) & (np.asarray(params) <= model.UPPER))
    np.testing.assert_allclose(np.asarray(model.from_box(params, xp)), raw, rtol=1e-9, atol=1e-9)
    extreme = np.asarray(model.to_box(xp.asarray([[-1e4] * 13, [1e4] * 13]), xp))
    np.testing.assert_allclose(extreme, [model.LOWER, model.UPPER])


def test_derivatives_sum_to_zero():
    rng = np.random.default_rng(1)
    states = rng.uniform(0.0, 2.0, size=(200, 6)) * np.array([1, 1, 20, 1, 0.5, 5])
    dydt = model.rhs(states, _box_draws(200, 1))
    scale = np.abs(dydt).max(axis=-1)
    assert np.all(np.abs(dydt.sum(axis=-1)) <= 1e-14 * scale)


def test_total_carbon_conserved_over_seven_days():
    trajectory = _simulate(_box_draws(100, 2), GENERATOR)
    assert np.all(trajectory.codes == 0)
    total = trajectory.states.sum(axis=-1)
    relative = np.abs(total - total[:, :1]) / total[:, :1]
    assert relative.max() < 1e-10


def test_matches_scipy_radau():
    params = _box_draws(4, 3)
    trajectory = _simulate(params, TIGHT)
    assert np.all(trajectory.codes == 0)
    for theta, states in zip(params, trajectory.states, strict=True):
        reference = solve_ivp(
            lambda t, y, p=theta: model.rhs(y, p),
            (0.0, 168.0),
            model.INITIAL_STATE,
            method="Radau",
            t_eval=model.hourly_times(),
            rtol=1e-11,
            atol=1e-13,
        )
        assert reference.success
        error = np.abs(states - reference.y.T).max(axis=0) / np.abs(reference.y.T).max(axis=0)
        assert error.max() < 1e-5


def test_explicit_solver_copes_at_box_corners_and_agrees_with_kvaerno5():
    corners = np.random.default_rng(4).integers(0, 2, size=(32, 13))
    params = model.LOWER + (model.UPPER - model.LOWER) * corners
    explicit = _simulate(params, GENERATOR)
    implicit = _simulate(params, SolverConfig(solver="kvaerno5", rtol=1e-6, atol=1e-9))
    assert np.all(explicit.codes == 0) and np.all(implicit.codes == 0)
    scale = np.abs(implicit.states).max(axis=1, keepdims=True)
    assert (np.abs(explicit.states - implicit.states) / scale).max() < 1e-4


def test_failures_are_reported_per_sample():
    params = _box_draws(16, 5)
    params[3, model.PARAM_NAMES.index("k_S")] = np.nan
    full = _simulate(params, GENERATOR)
    assert full.codes[3] != 0 and np.all(np.delete(full.codes, 3) == 0)
    assert full.status.n_failed == 1
    limit = int(np.median(np.delete(full.num_steps, 3)))
    capped = _simulate(params, SolverConfig(rtol=1e-6, atol=1e-9, max_steps=limit))
    expect_failed = full.num_steps > limit
    expect_failed[3] = True
    np.testing.assert_array_equal(capped.codes != 0, expect_failed)
    assert np.all(capped.codes[full.num_steps > limit] == 1)


def test_bad_shapes_are_rejected_before_compute():
    engine = get_engine("jax")
    times = model.hourly_times()
    with pytest.raises(ValueError, match=r"params must have shape \(n, 13\)"):
        engine.simulate_pbm(np.ones((2, 12)), model.INITIAL_STATE, times, GENERATOR)
    with pytest.raises(ValueError, match="initial must have shape"):
        engine.simulate_pbm(_box_draws(2, 0), np.ones(5), times, GENERATOR)
    with pytest.raises(ValueError, match="times must be"):
        engine.simulate_pbm(_box_draws(2, 0), model.INITIAL_STATE, times[::-1], GENERATOR)


def test_chunked_solve_with_padding_matches_one_solve_and_pi_control_agrees():
    from soilsciml.engines.jax.pbm import simulate_states

    train_solver = SolverConfig(rtol=1e-5, atol=1e-7, max_steps=4096)
    params = jnp.asarray(_box_draws(10, 5))
    initial = jnp.broadcast_to(jnp.asarray(model.INITIAL_STATE), (10, 6))
    times = jnp.asarray(model.hourly_times())
    whole, codes, steps = simulate_states(params, initial, times, train_solver, controller="pi")
    active = jnp.asarray([1.0] * 7 + [0.0] * 3)
    chunked, chunked_codes, chunked_steps = simulate_states(
        params, initial, times, train_solver, controller="pi", chunk=4, active=active
    )
    assert np.all(np.asarray(codes) == 0) and np.all(np.asarray(chunked_codes) == 0)
    # each sample's solve is its own, whatever else shares its batch or chunk
    np.testing.assert_allclose(chunked[:7], whole[:7], rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(chunked_steps[:7], steps[:7])
    # padding keeps its initial pools and costs a handful of steps
    np.testing.assert_array_equal(chunked[7:], np.broadcast_to(initial[7:, None], (3, 169, 6)))
    assert int(np.max(chunked_steps[7:])) < 10 < int(np.min(steps))
    # the PI controller changes the steps, not the solution beyond the tolerance
    integral, _, integral_steps = simulate_states(params, initial, times, train_solver)
    scale = np.abs(np.asarray(integral)).max(axis=1, keepdims=True)
    assert (np.abs(np.asarray(whole) - np.asarray(integral)) / scale).max() < 1e-4
    assert not np.array_equal(steps, integral_steps)
