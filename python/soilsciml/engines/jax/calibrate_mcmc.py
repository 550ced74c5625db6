"""NUTS posterior of one calibrated series (numpyro) on the JAX PBM.

The potential is ``0.5 * sum(residuals**2) - log|d to_box / d raw|``: the Gaussian likelihood
of the fit's weighted residuals (constraint residuals included, a soft prior), a uniform prior
on the box carried to the unbounded parameters by the transform's Jacobian. NUTS moves the
``sampled`` parameters; the others stay at the point estimate (a conditional posterior). The
gradient is taken in forward mode (one direction through the solve per sampled parameter, as
in the fit) behind a ``jax.custom_vjp``, so the solver keeps its forward-mode adjoint. Chains
run vectorised.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from soilsciml.engines.jax.calibrate import CalibrationKernel, residuals
from soilsciml.models import hysomi as model

__all__ = ["sample_posterior"]


def _log_jacobian(raw):
    """log prod d to_box / d raw (up to a constant): log sigmoid(raw) + log sigmoid(-raw)."""
    return -jnp.sum(jax.nn.softplus(-raw) + jax.nn.softplus(raw))


def _potential(series, settings, held, sampled):
    """Potential of the sampled unbounded parameters, the others fixed at ``held`` (13,)."""

    def value(z):
        raw = held.at[sampled].set(z)
        residual, _ = residuals(raw, series, settings)
        return 0.5 * jnp.sum(residual**2) - _log_jacobian(z)

    @jax.custom_vjp
    def potential(raw):
        return value(raw)

    def forward(raw):
        gradient = jax.jacfwd(value)(raw)
        return value(raw), gradient

    def backward(gradient, cotangent):
        return (cotangent * gradient,)

    potential.defvjp(forward, backward)
    return potential


def sample_posterior(
    kernel: CalibrationKernel, series: int, raw: np.ndarray, config, sampled: np.ndarray
) -> dict[str, Any]:
    """NUTS draws of one series' unbounded parameters, started around ``raw`` (13,).

    Parameters
    ----------
    kernel : CalibrationKernel
        The fitted problem (its weights are the likelihood's 1 / sigma).
    series : int
        Which series of the kernel's problem.
    raw : ndarray, shape (13,)
        The point estimate (unbounded).
    config : HySoMiCalibrationConfig
        ``mcmc_chains``, ``mcmc_warmup``, ``mcmc_samples``, ``mcmc_tree_depth``, ``seed``.
    sampled : ndarray of int
        Indices of the parameters NUTS moves; the others are held at ``raw``.

    Returns
    -------
    dict
        ``raw`` (chains, samples, 13) with the held parameters constant, ``rhat`` and ``ess``
        (13,) of the box parameters (NaN for held ones), ``divergent`` (int) divergent
        transitions after warm-up.
    """
    from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
    from numpyro.infer import MCMC, NUTS

    data = tuple(a[series] for a in kernel.series)
    sampled = np.asarray(sampled, dtype=int)
    held = jnp.asarray(raw, kernel.dtype)
    potential = _potential(data, kernel.settings, held, jnp.asarray(sampled))
    sampler = NUTS(potential_fn=potential, max_tree_depth=config.mcmc_tree_depth)
    mcmc = MCMC(
        sampler,
        num_warmup=config.mcmc_warmup,
        num_samples=config.mcmc_samples,
        num_chains=config.mcmc_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    key, jitter = jax.random.split(jax.random.PRNGKey(config.seed + series))
    noise = 0.05 * jax.random.normal(jitter, (config.mcmc_chains, sampled.size))
    mcmc.run(key, init_params=held[sampled] + noise, extra_fields=("diverging",))
    moved = np.asarray(mcmc.get_samples(group_by_chain=True), dtype=float)
    draws = np.broadcast_to(np.asarray(raw, float), (*moved.shape[:2], raw.size)).copy()
    draws[..., sampled] = moved
    box = model.to_box(draws)[..., sampled]
    diverging = np.asarray(mcmc.get_extra_fields()["diverging"])
    rhat, ess = np.full(raw.size, np.nan), np.full(raw.size, np.nan)
    if config.mcmc_chains > 1:
        rhat[sampled] = np.asarray(split_gelman_rubin(box), dtype=float)
    ess[sampled] = np.asarray(effective_sample_size(box), dtype=float)
    return {"raw": draws, "rhat": rhat, "ess": ess, "divergent": int(diverging.sum())}
