"""Ecological constraints of HySoMi as data ([HySoMi science: constraints][hysomi-constraints],
paper Table 1).

Every constraint is ``a * v1 <= b * v2`` with ``v1`` and ``v2`` named functionals of a
trajectory (pools on an output time axis) or of the parameters. Each functional has a hard
form (exact min/max/argmax, durations by counting) and a smooth form (argmax by a softmax with
temperature, durations by a sigmoid-smoothed indicator), giving two evaluations:

- :func:`hard_check` -- a boolean per sample and constraint, for filtering datasets;
- :func:`soft_losses` -- ``relu(a v1 - b v2)`` per sample and constraint, differentiable.

Constraint sets (the synthetic and real-data settings, and their re-thresholded variants) are
tables of named constraints, so adding, dropping or re-thresholding one is a configuration.
All formulas take an array module ``xp`` (numpy or jax.numpy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from soilsciml.models.hysomi import PARAM_NAMES, STATE_NAMES, sigmoid

__all__ = [
    "CONSTRAINTS",
    "CONSTRAINT_SETS",
    "FUNCTIONALS",
    "Constraint",
    "Functional",
    "constraint_set",
    "hard_check",
    "soft_losses",
    "term_names",
]

_B_A, _B_D, _C_H, _C_L, _C_LS = (STATE_NAMES.index(s) for s in ("B_A", "B_D", "C_H", "C_L", "C_LS"))


@dataclass(frozen=True)
class Functional:
    """A scalar per sample computed from pools (..., nt, 6), times (nt,) and params (..., 13).

    Parameters
    ----------
    description : str
        What the value is, with units.
    hard : callable
        ``(states, times, params, xp) -> (...)`` exact value.
    soft : callable or None
        ``(states, times, params, temperature, xp) -> (...)`` smooth value; ``None`` when the
        hard form is already differentiable almost everywhere (min, max, end values).
    """

    description: str
    hard: Callable[..., Any]
    soft: Callable[..., Any] | None = None

    def value(self, states, times, params, temperature: float | None, xp: ModuleType) -> Any:
        """The hard value (``temperature`` None) or the smooth one."""
        if temperature is None or self.soft is None:
            return self.hard(states, times, params, xp)
        return self.soft(states, times, params, temperature, xp)


def _biomass(states):
    return states[..., _B_A] + states[..., _B_D]


def _organic_carbon(states):
    return states[..., _C_H] + states[..., _C_L] + states[..., _C_LS]


def _peak_time(states, times, params, xp):
    return times[xp.argmax(states[..., _B_A], axis=-1)]


def _soft_peak_time(states, times, params, temperature, xp):
    active = states[..., _B_A]
    peak = xp.max(active, axis=-1, keepdims=True)
    logits = (active - peak) / (temperature * peak)
    weights = xp.exp(logits)
    return xp.sum(weights * times, axis=-1) / xp.sum(weights, axis=-1)


def _interval_widths(times, xp):
    """Length of time each output point stands for (half the gap to each neighbour), hours."""
    gaps = times[1:] - times[:-1]
    zero = xp.zeros_like(times[:1])
    return 0.5 * (xp.concatenate([zero, gaps]) + xp.concatenate([gaps, zero]))


def _duration_above_half_peak(states, times, params, xp):
    active = states[..., _B_A]
    above = active > 0.5 * xp.max(active, axis=-1, keepdims=True)
    return xp.sum(xp.where(above, _interval_widths(times, xp), 0.0), axis=-1)


def _soft_duration_above_half_peak(states, times, params, temperature, xp):
    active = states[..., _B_A]
    peak = xp.max(active, axis=-1, keepdims=True)
    indicator = sigmoid((active - 0.5 * peak) / (temperature * peak), xp)
    return xp.sum(indicator * _interval_widths(times, xp), axis=-1)


def _parameter(name: str) -> Functional:
    index = PARAM_NAMES.index(name)
    return Functional(f"parameter {name}", lambda s, t, p, xp: p[..., index])


#: Named functionals the constraints are built from (pools in mg C/g, times in hours).
FUNCTIONALS: dict[str, Functional] = {
    "one": Functional("the constant 1", lambda s, t, p, xp: xp.ones_like(s[..., 0, 0])),
    "min_biomass": Functional(
        "min_t B_A + B_D (mg C/g)", lambda s, t, p, xp: xp.min(_biomass(s), axis=-1)
    ),
    "max_biomass": Functional(
        "max_t B_A + B_D (mg C/g)", lambda s, t, p, xp: xp.max(_biomass(s), axis=-1)
    ),
    "initial_biomass": Functional(
        "B_A + B_D at t = 0 (mg C/g)", lambda s, t, p, xp: _biomass(s)[..., 0]
    ),
    "min_organic_carbon": Functional(
        "min_t C_H + C_L + C_LS (mg C/g)", lambda s, t, p, xp: xp.min(_organic_carbon(s), axis=-1)
    ),
    "max_organic_carbon": Functional(
        "max_t C_H + C_L + C_LS (mg C/g)", lambda s, t, p, xp: xp.max(_organic_carbon(s), axis=-1)
    ),
    "max_active": Functional(
        "max_t B_A (mg C/g)", lambda s, t, p, xp: xp.max(s[..., _B_A], axis=-1)
    ),
    "final_active": Functional(
        "B_A at the last time (mg C/g)", lambda s, t, p, xp: s[..., -1, _B_A]
    ),
    "final_dormant": Functional(
        "B_D at the last time (mg C/g)", lambda s, t, p, xp: s[..., -1, _B_D]
    ),
    "initial_dormant": Functional("B_D at t = 0 (mg C/g)", lambda s, t, p, xp: s[..., 0, _B_D]),
    "initial_hmw": Functional("C_H at t = 0 (mg C/g)", lambda s, t, p, xp: s[..., 0, _C_H]),
    "final_hmw": Functional("C_H at the last time (mg C/g)", lambda s, t, p, xp: s[..., -1, _C_H]),
    "peak_time_active": Functional(
        "argmax_t B_A (h); soft: softmax of B_A / (temperature max B_A)",
        _peak_time,
        _soft_peak_time,
    ),
    "active_duration": Functional(
        "time with B_A > 0.5 max_t B_A (h); soft: sigmoid-smoothed indicator",
        _duration_above_half_peak,
        _soft_duration_above_half_peak,
    ),
    **{name: _parameter(name) for name in ("mu_max", "k_R", "k_D", "m_max")},
}


@dataclass(frozen=True)
class Constraint:
    """One named inequality ``a * v1 <= b * v2``.

    Parameters
    ----------
    label : str
        Short name (``P1`` ... ``P12``, ``C1`` ... ``C3``).
    description : str
        The inequality in words and symbols.
    lhs, rhs : str
        Keys of :data:`FUNCTIONALS` for ``v1`` and ``v2``.
    a, b : float
        Coefficients of ``v1`` and ``v2``.
    factor_of : str
        Which coefficient (``"a"`` or ``"b"``) is the constraint's factor, the value that
        thresholds it and that variants change.
    """

    label: str
    description: str
    lhs: str
    rhs: str
    a: float = 1.0
    b: float = 1.0
    factor_of: str = "a"

    def __post_init__(self) -> None:
        for side in (self.lhs, self.rhs):
            if side not in FUNCTIONALS:
                raise ValueError(f"constraint {self.label}: unknown functional {side!r}")
        if self.factor_of not in ("a", "b"):
            raise ValueError(f"constraint {self.label}: factor_of must be 'a' or 'b'")

    @property
    def factor(self) -> float:
        """The thresholding coefficient."""
        return getattr(self, self.factor_of)

    def with_factor(self, value: float) -> Constraint:
        """The same constraint with its factor replaced."""
        return dataclasses.replace(self, **{self.factor_of: float(value)})

    def sides(self, states, times, params, temperature: float | None = None, xp=np):
        """``(a * v1, b * v2)``, hard when ``temperature`` is None, else smooth."""
        v1 = FUNCTIONALS[self.lhs].value(states, times, params, temperature, xp)
        v2 = FUNCTIONALS[self.rhs].value(states, times, params, temperature, xp)
        return self.a * v1, self.b * v2


def _at_most(label: str, description: str, functional: str, bound: float) -> Constraint:
    """``functional <= bound`` (the bound is the factor)."""
    return Constraint(label, description, functional, "one", b=bound, factor_of="b")


def _at_least(label: str, description: str, functional: str, bound: float) -> Constraint:
    """``bound <= functional`` (the bound is the factor)."""
    return Constraint(label, description, "one", functional, a=bound)


#: Every documented constraint (paper Table 1 and the real-data P12), by label.
CONSTRAINTS: dict[str, Constraint] = {
    c.label: c
    for c in (
        _at_least("P1", "min_t B >= 0.05 mg C/g", "min_biomass", 0.05),
        _at_most("P2", "max_t B <= 3.18 mg C/g", "max_biomass", 3.18),
        _at_least("P3", "min_t (C_H + C_L + C_LS) >= 5 mg C/g", "min_organic_carbon", 5.0),
        _at_most("P4", "max_t (C_H + C_L + C_LS) <= 100 mg C/g", "max_organic_carbon", 100.0),
        Constraint("P5", "max_t B >= 2 B(0)", "initial_biomass", "max_biomass", a=2.0),
        Constraint("P6", "B_D(T) >= 0.5 max_t B_A", "max_active", "final_dormant", a=0.5),
        _at_most("P7", "argmax_t B_A <= 48 h", "peak_time_active", 48.0),
        _at_least("P8", "argmax_t B_A >= 15 h", "peak_time_active", 15.0),
        _at_most("P9", "duration(B_A > 0.5 max B_A) <= 48 h", "active_duration", 48.0),
        _at_least("P10", "duration(B_A > 0.5 max B_A) >= 5 h", "active_duration", 5.0),
        Constraint("P11", "C_H(T) >= 0.9 C_H(0)", "initial_hmw", "final_hmw", a=0.9),
        Constraint("P12", "B_A(T) >= 0.9 B_D(0)", "initial_dormant", "final_active", a=0.9),
        Constraint("C1", "m_max <= mu_max", "m_max", "mu_max"),
        Constraint("C2", "mu_max <= k_D", "mu_max", "k_D"),
        Constraint("C3", "c k_D <= k_R, c = 1", "k_D", "k_R"),
    )
}

#: P11 over the real data's 15 h series (DECIDED): the 7-day bound, 10 % of C_H lost at most,
#: scaled to 15 h at the same relative rate.
REAL_DATA_P11_FACTOR = 0.9 ** (15.0 / 168.0)

#: Named settings: the labels they use and the factors they change
#: (docs/science/hysomi.md#hysomi-constraints).
CONSTRAINT_SETS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "synthetic": (
        ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "C1", "C2", "C3"),
        {},
    ),
    "real": (
        ("P1", "P2", "P3", "P4", "P11", "P12", "C1", "C2", "C3"),
        {"P11": REAL_DATA_P11_FACTOR},
    ),
}


def constraint_set(
    setting: str = "synthetic", factors: Mapping[str, float] | None = None
) -> tuple[Constraint, ...]:
    """The constraints of a named setting, with factors re-thresholded by label.

    Parameters
    ----------
    setting : str
        A key of :data:`CONSTRAINT_SETS`.
    factors : mapping, optional
        Label -> factor overrides, e.g. ``{"P6": 0.8}`` or ``{"C3": 0.1}``.

    Raises
    ------
    ValueError
        For an unknown setting or a label that is not in the setting.
    """
    if setting not in CONSTRAINT_SETS:
        raise ValueError(
            f"unknown constraint setting {setting!r}; choose one of {', '.join(CONSTRAINT_SETS)}"
        )
    labels, defaults = CONSTRAINT_SETS[setting]
    overrides = {**defaults, **(factors or {})}
    for label in overrides:
        if label not in labels:
            raise ValueError(
                f"constraint {label!r} is not in the {setting!r} setting ({', '.join(labels)})"
            )
    return tuple(
        CONSTRAINTS[label].with_factor(overrides[label])
        if label in overrides
        else CONSTRAINTS[label]
        for label in labels
    )


def hard_check(
    constraints: tuple[Constraint, ...], states, times, params, xp: ModuleType = np
) -> Any:
    """Which samples satisfy each constraint exactly.

    Parameters
    ----------
    constraints : tuple of Constraint
    states : array, shape (..., nt, 6)
        Pools in mg C/g on ``times``.
    times : array, shape (nt,)
        Output times in hours.
    params : array, shape (..., 13)
        Biokinetic parameters.

    Returns
    -------
    array of bool, shape (..., n_constraints)
        False also where the trajectory is not finite.
    """
    passed = []
    for constraint in constraints:
        left, right = constraint.sides(states, times, params, None, xp)
        passed.append(left <= right)
    finite = xp.all(xp.isfinite(states), axis=(-2, -1))
    return xp.stack(passed, axis=-1) & finite[..., None]


def soft_losses(
    constraints: tuple[Constraint, ...],
    states,
    times,
    params,
    temperature: float = 0.01,
    xp: ModuleType = np,
) -> Any:
    """Differentiable violations ``relu(a v1 - b v2)`` per sample and constraint.

    ``temperature`` scales the softmax argmax and the sigmoid durations relative to the
    sample's max B_A. Average over the sample axis for the batch loss. Shapes as in
    :func:`hard_check`; the result has shape (..., n_constraints).
    """
    losses = []
    for constraint in constraints:
        left, right = constraint.sides(states, times, params, temperature, xp)
        losses.append(xp.maximum(left - right, 0.0))
    return xp.stack(losses, axis=-1)


def term_names(model: str, constraints: tuple[Constraint, ...]) -> tuple[str, ...]:
    """Names of the loss terms of the compared HySoMi model ``model``, in order: the CO2 MSE
    and one term per constraint for ``hysomi``, one MSE term for the other models."""
    if model == "hysomi":
        return ("mse_co2", *(c.label for c in constraints))
    return ("mse_all_states",) if model == "all_states" else ("mse_co2",)
