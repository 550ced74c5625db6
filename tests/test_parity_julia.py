"""Parity of the JAX and Julia engines: same forward solutions and losses for the same weights,
and HySoMi training that reaches the same outcomes on the same data.

Runs where the Julia engine is available and is skipped, with the reason, everywhere else. Each
engine runs in its own process (``call_in_subprocess``): Julia and JAX never share one.
SOC weights are drawn here in Python and passed to both engines, so both start identical; the
HySoMi networks are initialised by each engine from its own random numbers.
"""

import numpy as np
import pytest

from soilsciml import config as cfg
from soilsciml.engines import base, engine_status, get_engine
from soilsciml.engines.isolated import call_in_subprocess

REASON = engine_status("julia")
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"Julia engine unavailable: {REASON}")
TIGHT = cfg.SolverConfig(rtol=1e-10, atol=1e-12, max_steps=200_000)
TIMEOUT = 900


def _both(method, *args):
    jax = call_in_subprocess("jax", method, *args, timeout=TIMEOUT).value
    julia = call_in_subprocess("julia", method, *args, timeout=TIMEOUT).value
    return jax, julia


@pytest.mark.parametrize("boundary", ["mirror", "zero_flux"])
def test_truth_forward_solutions_agree(boundary):
    depth = np.linspace(0.0, 1.0, 30)
    problem = base.SOCTruthProblem(
        depth,
        np.arange(0.0, 51.0, 5.0),
        1.2 * np.exp(-2 * depth),
        1e-3,
        1e-3,
        boundary,
        "reference",
        TIGHT,
    )
    jax, julia = _both("simulate_soc_truth", problem)
    assert jax.status.ok and julia.status.ok
    np.testing.assert_allclose(julia.soc, jax.soc, rtol=1e-7, atol=1e-9)


def _ude_parts(loss_changes):
    """A small SOC UDE problem, a tight fit config and random weights, or skip with the reason."""
    problem_cls = getattr(base, "SOCUDEProblem", None)
    config_cls = getattr(cfg, "SOCFitConfig", None)
    if problem_cls is None or config_cls is None:
        pytest.skip("the JAX SOC UDE (SOCUDEProblem, SOCFitConfig) is not in this tree")
    from soilsciml.soc.simulate import simulate_soc

    ds = simulate_soc(cfg.SOCSimulationConfig(years=10.0, grid=cfg.SOCGridConfig(nz=10)))
    drivers = np.stack([ds[name].values for name in ("ph", "cec", "clay")], axis=-1)
    problem = problem_cls(
        depth=ds["depth"].values,
        times=np.array([0.0, 5.0, 10.0]),
        initial=ds["soc"].values[0],
        driver_times=ds["time"].values,
        drivers=drivers,
        targets=ds["soc"].sel(time=[0.0, 5.0, 10.0]).values,
        diffusion=1e-3,
        advection=1e-3,
        boundary="mirror",
    )
    try:
        config = cfg.replace_path(config_cls(), "solver.rtol", 1e-10)
        config = cfg.replace_path(config, "solver.atol", 1e-12)
        for key, value in loss_changes.items():
            config = cfg.replace_path(config, key, value)
    except cfg.ConfigError as err:
        pytest.skip(f"SOCFitConfig has no solver section named as the Julia engine reads: {err}")
    network = cfg.to_dict(config).get("network", {})
    h1, h2 = network.get("h1", 32), network.get("h2", 16)
    rng = np.random.default_rng(0)
    shapes = {"W1": (h1, 6), "b1": (h1,), "W2": (h2, h1), "b2": (h2,), "W3": (1, h2), "b3": (1,)}
    weights = {
        f"{net}.{name}": 0.3 * rng.standard_normal(shape)
        for net in "PR"
        for name, shape in shapes.items()
    }
    return problem, weights, config


@pytest.mark.parametrize(
    "loss_changes",
    [
        {},
        {"loss.target": "trajectory", "loss.lambda_coll": 0.1, "loss.lambda_wd": 1e-3},
        {"loss.target": "initial", "network.input_scaling": "standardise"},
    ],
    ids=["terminal", "trajectory-collocation-decay", "initial-standardised"],
)
def test_ude_prediction_and_loss_agree_for_the_same_weights(loss_changes):
    if not hasattr(get_engine("jax"), "predict_soc"):
        pytest.skip("the JAX engine has no predict_soc in this tree")
    problem, weights, config = _ude_parts(loss_changes)
    jax, julia = _both("predict_soc", problem, weights, config)
    assert jax.status.ok and julia.status.ok
    np.testing.assert_allclose(julia.soc, jax.soc, rtol=1e-6, atol=1e-9)
    jax_loss, julia_loss = _both("soc_loss", problem, weights, config)
    assert julia_loss == pytest.approx(jax_loss, rel=1e-6)


def test_pbm_batches_agree():
    if not hasattr(get_engine("jax"), "simulate_pbm"):
        pytest.skip("the JAX engine has no simulate_pbm in this tree")
    lower = np.array([0.01, 0.01, 0.01, 0.3, 0.1, 1.0, 1e-4, 1e-3, 0.01, 0.0, 0.1, 1e-4, 0.0])
    upper = np.array([0.3, 1.0, 1.0, 0.85, 20.0, 50.0, 1e-2, 0.05, 1.0, 1.0, 0.9, 1e-2, 1.0])
    params = lower + (upper - lower) * np.random.default_rng(1).random((6, 13))
    initial = np.array([0.025, 0.225, 15.0, 1.0, 0.0, 0.0])
    times = np.arange(0.0, 169.0)
    jax, julia = _both("simulate_pbm", params, initial, times, TIGHT)
    ok = (np.asarray(jax.codes) == 0) & (np.asarray(julia.codes) == 0)
    assert ok.sum() >= 4
    np.testing.assert_allclose(julia.states[ok], jax.states[ok], rtol=1e-6, atol=1e-9)


def _hysomi_data(ds):
    from soilsciml.hysomi.fit import split_arrays

    traits, states, _ = split_arrays(ds, "train")
    traits_val, states_val, _ = split_arrays(ds, "validation")
    traits_test, states_test, params_test = split_arrays(ds, "test")
    data = base.HySoMiTrainingData(
        traits, states, traits_val, states_val, traits_test, ds["time"].values
    )
    return data, states_test, params_test


def _constraint_sum(fit, times, config):
    from soilsciml.models import constraints as cons

    ok = np.asarray(fit.codes) == 0
    table = cons.constraint_set(config.constraints.setting, config.constraints.factors())
    soft = cons.soft_losses(
        table, fit.states[ok], times, fit.params[ok], config.constraints.temperature
    )
    return float(soft.mean(0).sum())


def test_hysomi_training_agrees(hysomi_quick_dataset):
    """Both engines train the quick experiment's model on the same data: the loss falls on
    each, and Julia reaches what JAX reaches (their initial weights and batch orders differ,
    so the comparison is of outcomes, with the spread between seeds as the tolerance)."""
    from soilsciml.hysomi.experiments import QUICK

    config = QUICK.train
    data, states_test, _ = _hysomi_data(hysomi_quick_dataset)
    jax, julia = _both("fit_hysomi", data, config)
    for fit in (jax, julia):
        loss = np.asarray(fit.history["train_loss"])
        assert loss[-1] < loss[0]
        assert np.all(np.asarray(fit.codes) == 0)
        assert np.asarray(fit.history["validation_terms"]).shape == (loss.size, 15)
    assert julia.history["train_loss"][0] == pytest.approx(jax.history["train_loss"][0], rel=0.3)
    assert julia.history["train_loss"][-1] < 1.2 * jax.history["train_loss"][-1]
    times = data.times
    assert _constraint_sum(julia, times, config) < 1.5 * _constraint_sum(jax, times, config)
    mse = {
        name: float(np.mean((fit.states[..., 5] - states_test[..., 5]) ** 2))
        for name, fit in (("jax", jax), ("julia", julia))
    }
    assert mse["julia"] < 2.0 * mse["jax"]
    again = call_in_subprocess(
        "julia", "predict_hysomi", julia.trained, data.traits_test, times, config, timeout=TIMEOUT
    ).value
    np.testing.assert_allclose(again[0], julia.params, rtol=1e-12)
    np.testing.assert_allclose(again[1], julia.states, rtol=1e-8)
