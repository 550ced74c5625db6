"""HySoMi training objectives: loss terms per compared model and their weighting.

See [HySoMi science: loss][hysomi-loss] and [models][hysomi-models].

A model's objective is a vector of loss terms (each a masked batch mean); a weighting turns
the vector into one scalar. Both are registries:

- :data:`OBJECTIVES`: ``hysomi`` (CO2 MSE and one term per constraint), ``unconstrained``
  (CO2 MSE), ``all_states`` (MSE over all six pools), ``ml`` (CO2 MSE of a direct prediction);
- :data:`WEIGHTINGS`: ``adaptive`` (learnable homoscedastic uncertainty weights,
  ``sum_k terms_k / (2 s_k^2) + ln(1 + s_k^2)``), ``balanced`` (all weights 1) and
  ``normalised`` (each term divided by its running magnitude, then summed with weight 1).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from soilsciml.models import constraints as cons
from soilsciml.models.hysomi import STATE_NAMES

__all__ = [
    "OBJECTIVES",
    "WEIGHTINGS",
    "Objective",
    "adaptive",
    "balanced",
    "masked_mean",
    "normalised",
]

_CO2 = STATE_NAMES.index("CO2")
#: Decay of the running term magnitudes of the ``normalised`` weighting (per step).
RUNNING_DECAY = 0.9
#: Smallest running magnitude divided by (a term that has always been zero stays zero).
MAGNITUDE_FLOOR = 1e-12


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` (n, ...) over the samples where ``mask`` (n,) is 1, per trailing entry."""
    weights = mask / jnp.maximum(jnp.sum(mask), 1.0)
    return jnp.tensordot(weights, values, axes=1)


def _mse_co2(states, target_states, params, times, mask, constraints, temperature):
    errors = jnp.mean((states[..., _CO2] - target_states[..., _CO2]) ** 2, axis=-1)
    return masked_mean(errors, mask)[None]


def _mse_all_states(states, target_states, params, times, mask, constraints, temperature):
    errors = jnp.mean((states - target_states) ** 2, axis=(-2, -1))
    return masked_mean(errors, mask)[None]


def _constrained(states, target_states, params, times, mask, constraints, temperature):
    violations = cons.soft_losses(constraints, states, times, params, temperature, xp=jnp)
    mse = _mse_co2(states, target_states, params, times, mask, constraints, temperature)
    return jnp.concatenate([mse, masked_mean(violations, mask)])


#: ``(states, target_states, params, times, mask, constraints, temperature) -> terms``.
Objective = Callable[..., jax.Array]

#: Model name -> its vector of loss terms. ``ml`` predicts CO2 directly, passed as ``states``
#: with the CO2 series in the last pool.
OBJECTIVES: dict[str, Objective] = {
    "hysomi": _constrained,
    "unconstrained": _mse_co2,
    "all_states": _mse_all_states,
    "ml": _mse_co2,
}


def adaptive(terms: jax.Array, scales: jax.Array, running: jax.Array):
    """Uncertainty weighting: ``sum_k terms_k / (2 s_k^2) + ln(1 + s_k^2)``
    ([HySoMi science: loss][hysomi-loss]).

    Returns the loss and the (unchanged) running magnitudes.
    """
    s2 = scales**2
    return jnp.sum(terms / (2.0 * s2) + jnp.log1p(s2)), running


def balanced(terms: jax.Array, scales: jax.Array, running: jax.Array):
    """All weights 1: the plain sum of the terms."""
    return jnp.sum(terms), running


def normalised(terms: jax.Array, scales: jax.Array, running: jax.Array):
    """Each term over its running magnitude (no gradient through the magnitude), summed.

    ``running`` starts at zero, which means "no magnitude yet": the first step takes the
    terms' own values.
    """
    value = jax.lax.stop_gradient(terms)
    updated = jnp.where(running > 0, RUNNING_DECAY * running + (1 - RUNNING_DECAY) * value, value)
    return jnp.sum(terms / jnp.maximum(updated, MAGNITUDE_FLOOR)), updated


#: Weighting name -> ``(terms, scales, running) -> (loss, running)``.
WEIGHTINGS: dict[str, Callable[..., tuple[jax.Array, jax.Array]]] = {
    "adaptive": adaptive,
    "balanced": balanced,
    "normalised": normalised,
}
