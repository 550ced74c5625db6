"""Directional central differences of the SOC UDE loss against the JAX engine's gradient."""

from __future__ import annotations

import numpy as np


def directional_derivatives(problem, weights: dict, config, step: float, directions: int):
    """Pairs ``(analytic, numeric)`` of the loss's derivative along seeded random directions.

    ``analytic`` is the gradient of the compiled training step projected on the direction;
    ``numeric`` the central difference of the engine's loss with ``step``.
    """
    import jax.numpy as jnp

    from soilsciml.engines import get_engine
    from soilsciml.engines.jax import train as jax_train
    from soilsciml.engines.jax import ude as jax_ude

    data = jax_ude.prepare_data(problem, config, "float64")
    static = jax_ude.static_settings(config, problem.boundary)
    _, grads = jax_train.value_and_grad(
        {k: jnp.asarray(v) for k, v in weights.items()}, data, static
    )
    engine = get_engine("jax")
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(directions):
        direction = {k: rng.standard_normal(v.shape) for k, v in weights.items()}
        plus, minus = (
            {k: v + sign * step * direction[k] for k, v in weights.items()} for sign in (1, -1)
        )
        numeric = (
            engine.soc_loss(problem, plus, config) - engine.soc_loss(problem, minus, config)
        ) / (2 * step)
        analytic = sum(float(np.sum(np.asarray(grads[k]) * direction[k])) for k in weights)
        pairs.append((analytic, numeric))
    return pairs
