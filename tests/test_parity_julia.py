"""Parity of the JAX and Julia engines: same forward solutions and losses for the same weights.

Runs where the Julia engine is available and is skipped, with the reason, everywhere else. Each
engine runs in its own process (``call_in_subprocess``): Julia and JAX never share one.
Weights are drawn here in Python and passed to both engines, so both start identical.
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
