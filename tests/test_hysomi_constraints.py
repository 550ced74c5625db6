"""The constraint table: hard checks and soft losses on constructed trajectories, gradients."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from soilsciml.config import SolverConfig
from soilsciml.engines.jax.pbm import simulate_states
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

TIMES = model.hourly_times()
SYNTHETIC = cons.constraint_set("synthetic")
LABELS = [c.label for c in SYNTHETIC]


@dataclasses.dataclass
class Shape:
    """A hand-made trajectory that passes every synthetic constraint by a clear margin."""

    peak_time: float = 30.0
    peak_width: float = 10.0
    peak_height: float = 0.6
    dormant_start: float = 0.225
    dormant_slope: float = 0.5 / 168
    hmw: float = 15.0
    hmw_slope: float = 0.5 / 168
    params: dict = dataclasses.field(
        default_factory=lambda: {"mu_max": 0.1, "k_R": 0.5, "k_D": 0.3, "m_max": 0.001}
    )

    def states(self, times=TIMES):
        active = 0.02 + self.peak_height * np.exp(
            -(((times - self.peak_time) / self.peak_width) ** 2)
        )
        dormant = self.dormant_start + self.dormant_slope * times
        hmw = self.hmw - self.hmw_slope * times
        low = np.exp(-times / 20.0)
        sorbed = 0.1 * (1.0 - np.exp(-times))
        co2 = 0.01 * times
        return np.stack([active, dormant, hmw, low, sorbed, co2], axis=-1)

    def theta(self):
        values = dict(zip(model.PARAM_NAMES, (model.LOWER + model.UPPER) / 2, strict=True))
        return np.array([{**values, **self.params}[name] for name in model.PARAM_NAMES])


#: For each constraint, a change of the passing shape that breaks that constraint only.
BREAKS = {
    "P1": {"dormant_start": 0.01},
    "P2": {"peak_height": 4.0, "dormant_slope": 2.5 / 168},
    "P3": {"hmw": 4.0, "hmw_slope": 0.0},
    "P4": {"hmw": 120.0, "hmw_slope": 0.0},
    "P5": {"peak_height": 0.1, "dormant_slope": 0.0},
    "P6": {"dormant_slope": -0.125 / 168},
    "P7": {"peak_time": 60.0},
    "P8": {"peak_time": 12.0, "peak_width": 5.0},
    "P9": {"peak_time": 45.0, "peak_width": 30.0},
    "P10": {"peak_width": 2.0},
    "P11": {"hmw_slope": 3.0 / 168},
    "C1": {"params": {"mu_max": 0.1, "k_R": 0.5, "k_D": 0.3, "m_max": 0.2}},
    "C2": {"params": {"mu_max": 0.4, "k_R": 0.5, "k_D": 0.3, "m_max": 0.001}},
    "C3": {"params": {"mu_max": 0.1, "k_R": 0.5, "k_D": 0.6, "m_max": 0.001}},
}


def _evaluate(shape, constraints=SYNTHETIC, times=TIMES):
    states, theta = shape.states(times), shape.theta()
    passed = cons.hard_check(constraints, states, times, theta)
    losses = cons.soft_losses(constraints, states, times, theta)
    return passed, losses


def test_the_table_holds_the_spec_constraints():
    assert LABELS == [*(f"P{i}" for i in range(1, 12)), "C1", "C2", "C3"]
    real = [c.label for c in cons.constraint_set("real")]
    assert real == ["P1", "P2", "P3", "P4", "P11", "P12", "C1", "C2", "C3"]
    assert cons.constraint_set("real")[4].factor == pytest.approx(0.9 ** (15 / 168))
    assert cons.constraint_set("synthetic", {"P6": 0.8})[5].a == 0.8
    assert cons.CONSTRAINTS["P2"].with_factor(2.0).b == 2.0


def test_passing_trajectory_passes_hard_and_has_zero_loss():
    passed, losses = _evaluate(Shape())
    assert passed.all()
    np.testing.assert_array_equal(losses, 0.0)


@pytest.mark.parametrize("label", LABELS)
def test_breaking_one_constraint_fails_it_in_both_evaluations(label):
    passed, losses = _evaluate(Shape(**BREAKS[label]))
    index = LABELS.index(label)
    assert not passed[index] and losses[index] > 0
    others = np.delete(np.arange(len(LABELS)), index)
    assert passed[others].all()
    np.testing.assert_array_equal(losses[others], 0.0)


def test_real_data_setting_checks_final_active_biomass():
    times = np.arange(16.0)
    constraints = cons.constraint_set("real")
    growing = Shape(peak_time=20.0, peak_width=10.0, hmw_slope=0.0)
    passed, losses = _evaluate(growing, constraints, times)
    assert passed.all() and np.all(losses == 0)
    stalled = Shape(peak_time=40.0, peak_width=3.0, hmw_slope=0.0)
    passed, losses = _evaluate(stalled, constraints, times)
    p12 = [c.label for c in constraints].index("P12")
    assert not passed[p12] and losses[p12] > 0 and passed.sum() == len(constraints) - 1


def test_factors_rethreshold_constraints():
    broken_c3 = Shape(**BREAKS["C3"])
    relaxed = cons.constraint_set("synthetic", {"C3": 0.1})
    assert _evaluate(broken_c3, relaxed)[0].all()
    strict = cons.constraint_set("synthetic", {"P6": 2.0})
    passed, losses = _evaluate(Shape(), strict)
    assert not passed[LABELS.index("P6")] and losses[LABELS.index("P6")] > 0


def test_soft_functionals_approach_hard_ones_at_low_temperature():
    states, theta = Shape().states(), Shape().theta()
    for name in ("peak_time_active", "active_duration"):
        functional = cons.FUNCTIONALS[name]
        hard = functional.value(states, TIMES, theta, None, np)
        soft = functional.value(states, TIMES, theta, 1e-4, np)
        assert soft == pytest.approx(hard, abs=1e-3)


def test_non_finite_trajectories_fail():
    states = Shape().states()
    states[50, 0] = np.nan
    assert not cons.hard_check(SYNTHETIC, states, TIMES, Shape().theta()).any()


def test_constraint_loss_gradient_matches_finite_differences():
    """d(batch loss)/d(raw parameters) through the ODE solve, against central differences."""
    solver = SolverConfig(rtol=1e-10, atol=1e-12, max_steps=50_000)
    constraints = cons.constraint_set(
        "synthetic", {"P6": 5.0, "P8": 100.0, "P10": 100.0, "P11": 1.0, "C3": 10.0}
    )
    raw = jnp.asarray(np.random.default_rng(0).normal(0.0, 0.5, size=(3, 13)))
    initial = jnp.broadcast_to(jnp.asarray(model.INITIAL_STATE), (3, 6))
    times = jnp.asarray(TIMES)

    def loss(raw):
        params = model.to_box(raw, jnp)
        states, _, _ = simulate_states(params, initial, times, solver)
        return jnp.mean(cons.soft_losses(constraints, states, times, params, xp=jnp), axis=0).sum()

    value, grad = jax.value_and_grad(loss)(raw)
    assert value > 0 and np.all(np.isfinite(grad))
    direction = jnp.asarray(np.random.default_rng(1).normal(size=raw.shape))
    step = 1e-5
    numeric = (loss(raw + step * direction) - loss(raw - step * direction)) / (2 * step)
    assert float(jnp.vdot(grad, direction)) == pytest.approx(float(numeric), rel=1e-4)
    single = jnp.zeros_like(raw).at[1, model.PARAM_NAMES.index("k_R")].set(1.0)
    numeric = (loss(raw + step * single) - loss(raw - step * single)) / (2 * step)
    assert float(grad[1, model.PARAM_NAMES.index("k_R")]) == pytest.approx(float(numeric), rel=1e-4)


def test_numpy_and_jax_evaluations_agree():
    shapes = [Shape(), *(Shape(**change) for change in BREAKS.values())]
    states = np.stack([shape.states() for shape in shapes])
    params = np.stack([shape.theta() for shape in shapes])
    as_jax = [jnp.asarray(x) for x in (states, TIMES, params)]
    np.testing.assert_array_equal(
        cons.hard_check(SYNTHETIC, states, TIMES, params),
        cons.hard_check(SYNTHETIC, *as_jax, xp=jnp),
    )
    np.testing.assert_allclose(
        cons.soft_losses(SYNTHETIC, states, TIMES, params),
        cons.soft_losses(SYNTHETIC, *as_jax, xp=jnp),
        rtol=1e-12,
        atol=1e-12,
    )
