"""Steady states of the SOC UDE on the JAX engine: Newton root finds, implicit gradients.

With drivers held constant (and the networks' time input at 0) the UDE has a steady state
C* with F(C*) = D C*_zz - v C*_z + NN_P - NN_R = 0. Each site's C* is found by
``optimistix.root_find`` with ``optimistix.Newton`` (sites are independent: the root finds
are vmapped, each with its own nz x nz Jacobian), started from the observed profile's spline.
Gradients go through ``optimistix.ImplicitAdjoint`` (the default adjoint of ``root_find``):
dC*/dtheta = -(dF/dC)^-1 dF/dtheta at the root, with no backpropagation through the Newton
iterations.

The loss is ``lambda_term`` x the mean over sites of the layer-mean misfit at the steady
state, plus ``lambda_coll`` x the mean squared F at the observed profile (the steady-state
collocation term: it needs no root find, so it guides the networks even where a root find
fails) and the mean squared stability shortfall C max(0, dS/dC + min_relaxation) of the net
source S = NN_P - NN_R at that profile (a measured steady state is a stable one; without it
dS/dC ~ 0 leaves the Jacobian D d2/dz2 - v d/dz + dS/dC singular with mirror boundaries and
Newton fails), plus ``lambda_wd`` ||theta||^2. A site whose root find fails (or gives a negative or
non-finite state) adds a misfit of :data:`FAILED_MISFIT` with no gradient and is counted.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import optimistix as optx

from soilsciml.engines.jax import ude as jax_ude
from soilsciml.models import soc as model

__all__ = ["FAILED_MISFIT", "loss_and_grad", "steady_loss", "steady_states"]

#: Misfit (% squared) of a site whose steady state was not found.
FAILED_MISFIT = 1.0


def _site_field(soc, weights, data, drivers, static):
    site = {**data, "drivers": drivers}
    return jax_ude.ude_vector_field(jnp.zeros((), soc.dtype), soc, (weights, site), static)


def steady_states(weights: dict, data: dict, static: jax_ude.UDEStatic):
    """Steady state of every site from ``data["initial"]`` (site, nz): ``(states, found)``.

    ``found`` (site,) is True where Newton converged to a finite, non-negative state.
    """
    solver = optx.Newton(rtol=static.solver.rtol, atol=static.solver.atol)

    def one_site(guess, drivers):
        fn = lambda soc, args: _site_field(soc, *args, static)  # noqa: E731
        solution = optx.root_find(
            fn,
            solver,
            guess,
            args=(weights, data, drivers),
            max_steps=static.solver.max_steps,
            throw=False,
        )
        state = solution.value
        found = (
            (solution.result == optx.RESULTS.successful)
            & jnp.all(jnp.isfinite(state))
            & jnp.all(state >= 0.0)
        )
        return state, found

    return jax.vmap(one_site, in_axes=(0, 1))(data["initial"], data["drivers"])


def steady_loss(weights: dict, data: dict, static: jax_ude.UDEStatic):
    """Total loss and ``found`` per site (see the module docstring)."""
    states, found = steady_states(weights, data, static)
    safe = jnp.where(found[:, None], states, data["initial"])
    layers = jnp.einsum("sz,soz->so", safe, data["observation"])
    mask = data["mask"]
    per_site = jnp.sum(mask * (layers - data["observed"]) ** 2, axis=1) / jnp.maximum(
        jnp.sum(mask, axis=1), 1.0
    )
    misfit = jnp.mean(jnp.where(found, per_site, FAILED_MISFIT))
    residual, unstable = jax.vmap(partial(_at_observed, static=static), in_axes=(0, None, None, 1))(
        data["initial"], weights, data, data["drivers"]
    )
    decay = sum(jnp.sum(w**2) for w in jax.tree_util.tree_leaves(weights))
    total = (
        data["lambda_term"] * misfit
        + data["lambda_coll"] * (jnp.mean(residual**2) + jnp.mean(unstable**2))
        + data["lambda_wd"] * decay
    )
    return total, found


def _at_observed(soc, weights, data, drivers, static):
    """F at the observed profile and the stability shortfall (% yr-1) of its net source:
    ``C max(0, dS/dC + min_relaxation)``, zero where S falls with C at least that fast."""
    site = {**data, "drivers": drivers}

    def net_source(c):
        production, respiration = jax_ude.rates(jnp.zeros((), c.dtype), c, weights, site, static)
        return production - respiration

    # Node i's source depends on C_i only, so the JVP along ones is the diagonal dS_i/dC_i.
    source, slope = jax.jvp(net_source, (soc,), (jnp.ones_like(soc),))
    transport = model.transport_tendency(
        soc, data["dz"], data["diffusion"], data["advection"], static.boundary, xp=jnp
    )
    shortfall = soc * jax.nn.relu(slope + data["min_relaxation"])
    return transport + source, shortfall


@partial(jax.jit, static_argnames="static")
def loss_and_grad(weights: dict, data: dict, static: jax_ude.UDEStatic):
    """Compiled loss, gradient (zero where not finite) and the number of failed sites."""
    (loss, found), grads = jax.value_and_grad(steady_loss, has_aux=True)(weights, data, static)
    finite = jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)])
    )
    grads = jax.tree_util.tree_map(lambda g: jnp.where(finite, g, 0.0), grads)
    return loss, grads, jnp.sum(~found)
