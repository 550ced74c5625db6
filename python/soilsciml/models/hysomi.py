"""Engine-neutral HySoMi process-based model: six microbial carbon pools.

See [HySoMi science: the PBM][hysomi-pbm] and [the parameters][hysomi-parameters].

The right-hand side takes an array module ``xp`` (numpy or jax.numpy), so one formula serves
the JAX engine, scipy reference solves and the tests. Units: carbon in mg C per g soil, time
in hours. States, in order: B_A, B_D, C_H, C_L, C_LS, CO2; parameters, in order, the 13 of
:data:`PARAMETERS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "HORIZON_HOURS",
    "INITIAL_STATE",
    "LOWER",
    "PARAMETERS",
    "PARAM_NAMES",
    "PHYSICS",
    "STATES",
    "STATE_NAMES",
    "UPPER",
    "ParameterError",
    "ParameterSpec",
    "Physics",
    "from_box",
    "hourly_times",
    "params_from_mapping",
    "rhs",
    "sigmoid",
    "to_box",
]


class ParameterError(ValueError):
    """A PBM parameter set is missing a parameter, has an unknown one or leaves the box."""


@dataclass(frozen=True)
class ParameterSpec:
    """One biokinetic parameter and its box ([HySoMi science: parameters][hysomi-parameters]).

    Parameters
    ----------
    name : str
        Symbol used in code, configs and datasets.
    meaning : str
        What the parameter is.
    unit : str
        Unit (``-`` for dimensionless).
    lower, upper : float
        Box bounds (linear range).
    """

    name: str
    meaning: str
    unit: str
    lower: float
    upper: float


#: The 13 biokinetic parameters, in the contract order, with their box
#: (docs/science/hysomi.md#hysomi-parameters).
PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("mu_max", "maximum growth rate", "1/h", 0.01, 0.3),
    ParameterSpec("k_R", "reactivation rate", "1/h", 0.01, 1.0),
    ParameterSpec("k_D", "deactivation rate", "1/h", 0.01, 1.0),
    ParameterSpec("Y", "growth yield", "-", 0.3, 0.85),
    ParameterSpec("k_S", "specific affinity for LMW C", "g/(mg h)", 0.1, 20.0),
    ParameterSpec("K_H", "half-saturation for HMW C", "mg C/g", 1.0, 50.0),
    ParameterSpec("v_max", "maximum depolymerisation rate", "1/h", 1e-4, 1e-2),
    ParameterSpec("C_thr", "threshold LMW C for (in)activation", "mg C/g", 1e-3, 0.05),
    ParameterSpec("sigma", "shape of the dormancy switch", "-", 0.01, 1.0),
    ParameterSpec("f_N", "necromass fraction to HMW", "-", 0.0, 1.0),
    ParameterSpec("Y_M", "maintenance yield", "-", 0.1, 0.9),
    ParameterSpec("m_max", "maximum maintenance rate", "1/h", 1e-4, 1e-2),
    ParameterSpec("beta", "maintenance reduction when dormant", "-", 0.0, 1.0),
)
PARAM_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMETERS)
LOWER = np.array([p.lower for p in PARAMETERS])
UPPER = np.array([p.upper for p in PARAMETERS])

#: State name -> meaning, in the contract order (all in mg C/g).
STATES: dict[str, str] = {
    "B_A": "active bacterial biomass",
    "B_D": "dormant bacterial biomass",
    "C_H": "high-molecular-weight organic carbon",
    "C_L": "low-molecular-weight (dissolved) organic carbon",
    "C_LS": "sorbed low-molecular-weight carbon",
    "CO2": "cumulative respired carbon",
}
STATE_NAMES: tuple[str, ...] = tuple(STATES)

#: Initial pools in mg C/g: 0.25 mg biomass, mostly dormant, and a 1 mg glucose pulse.
INITIAL_STATE = np.array([0.025, 0.225, 15.0, 1.0, 0.0, 0.0])

#: Incubation horizon in hours (7 days).
HORIZON_HOURS = 168.0


@dataclass(frozen=True)
class Physics:
    """Fixed physical parameters of the kinetic Langmuir sorption (after Kothawala et al. 2009).

    Parameters
    ----------
    q_max : float
        Sorption capacity Q_max in mg C/g.
    k_ads_half : float
        Langmuir half-saturation K_ads in mg C/g.
    k_ads_rate : float
        Sorption rate constant k_ads in 1/h.
    """

    q_max: float = 0.5
    k_ads_half: float = 0.1
    k_ads_rate: float = 1.0


#: The fixed sorption parameters (docs/science/hysomi.md#hysomi-pbm).
PHYSICS = Physics()


def hourly_times(horizon: float = HORIZON_HOURS) -> np.ndarray:
    """Output times 0, 1, ..., horizon in hours (169 points for 7 days)."""
    return np.arange(round(horizon) + 1, dtype=float)


def sigmoid(x: Any, xp: ModuleType = np) -> Any:
    """Logistic function written with tanh, stable (and differentiable) for any |x|."""
    return 0.5 * (1.0 + xp.tanh(0.5 * x))


def to_box(raw: Any, xp: ModuleType = np) -> Any:
    """Map unbounded values (..., 13) into the box: ``lower + (upper - lower) * sigmoid(raw)``."""
    return LOWER + (UPPER - LOWER) * sigmoid(raw, xp)


def from_box(params: Any, xp: ModuleType = np) -> Any:
    """Inverse of :func:`to_box` for parameters strictly inside the box."""
    unit = (params - LOWER) / (UPPER - LOWER)
    return xp.log(unit) - xp.log1p(-unit)


def rhs(y: Any, params: Any, physics: Physics = PHYSICS, xp: ModuleType = np) -> Any:
    """Time derivative of the six pools in mg C/(g h) ([HySoMi science: the PBM][hysomi-pbm]).

    Parameters
    ----------
    y : array, shape (..., 6)
        Pools B_A, B_D, C_H, C_L, C_LS, CO2 in mg C/g.
    params : array, shape (..., 13)
        Biokinetic parameters in the order of :data:`PARAM_NAMES`.
    physics : Physics
        Fixed sorption parameters.
    xp : module
        ``numpy`` or ``jax.numpy``.

    Returns
    -------
    array, shape (..., 6)
        Derivatives; they sum to zero (total carbon is conserved).
    """
    b_a, b_d, c_h, c_l, c_ls = (y[..., i] for i in range(5))
    mu_max, k_r, k_d, y_g, k_s, k_h, v_max, c_thr, sigma, f_n, y_m, m_max, beta = (
        params[..., i] for i in range(13)
    )
    affinity = k_s * c_l
    growth = mu_max * affinity / (mu_max + affinity) * b_a
    uptake = m_max * affinity / (m_max + affinity)
    maint_active = uptake * b_a
    maint_dormant = uptake * beta * b_d
    decay_active = m_max * b_a - maint_active
    decay_dormant = m_max * beta * b_d - maint_dormant
    decay = decay_active + decay_dormant
    active_fraction = sigmoid((c_l - c_thr) / (sigma * c_thr), xp)
    deactivation = (1.0 - active_fraction) * k_d * b_a
    reactivation = active_fraction * k_r * b_d
    depolymerisation = v_max * c_h / (k_h + c_h) * b_a
    sorption = physics.k_ads_rate * (physics.q_max * c_l / (physics.k_ads_half + c_l) - c_ls)
    maintenance = maint_active + maint_dormant
    return xp.stack(
        [
            growth - deactivation + reactivation - decay_active / y_m,
            deactivation - reactivation - decay_dormant / y_m,
            -depolymerisation + f_n * decay,
            depolymerisation + (1.0 - f_n) * decay - maintenance - growth / y_g - sorption,
            sorption,
            (1.0 - y_g) / y_g * growth + (1.0 - y_m) / y_m * decay + maintenance,
        ],
        axis=-1,
    )


def params_from_mapping(values: Mapping[str, Any]) -> np.ndarray:
    """One parameter vector (13,) from a mapping of the 13 named parameters, checked.

    Raises
    ------
    ParameterError
        Naming the parameter that is missing, unknown, not a finite number or outside its box.
    """
    unknown = sorted(set(values) - set(PARAM_NAMES))
    if unknown:
        raise ParameterError(
            f"unknown parameter {unknown[0]!r}; the parameters are {', '.join(PARAM_NAMES)}"
        )
    vector = np.empty(len(PARAMETERS))
    for i, spec in enumerate(PARAMETERS):
        if spec.name not in values:
            raise ParameterError(f"parameter {spec.name!r} ({spec.meaning}) is missing")
        value = values[spec.name]
        try:
            number = math.nan if isinstance(value, bool) else float(value)
        except (TypeError, ValueError, OverflowError):  # text, null, an integer beyond float
            number = math.nan
        if not isinstance(value, int | float) or not math.isfinite(number):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise ParameterError(f"parameter {spec.name!r} must be a finite number; got {shown}")
        value = number
        if not spec.lower <= value <= spec.upper:
            raise ParameterError(
                f"parameter {spec.name!r} = {value!r} is outside its box "
                f"[{spec.lower:g}, {spec.upper:g}] {spec.unit}"
            )
        vector[i] = value
    return vector
