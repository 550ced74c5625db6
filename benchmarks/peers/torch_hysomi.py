"""One HySoMi training epoch in PyTorch + torchdiffeq (the peer of the JAX training step).

As in the HySoMi paper's code, the whole batch is one ODE: the (batch, 6) pools are stepped
together by ``torchdiffeq.odeint(..., method="dopri5")`` with one adaptive step size, and the
gradient is backpropagation through the solver. The network is the JAX engine's trait network
(Linear -> batch norm -> ReLU, linear head) with its weights copied in; the PBM right-hand
side and the constraint violations are the engine-neutral formulas of ``models/`` evaluated
on torch tensors through :data:`TORCH_XP`, so the peer solves the same model.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from torchdiffeq import odeint

from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = ["TORCH_XP", "TorchHySoMi", "network_arrays", "torch_network"]

_CO2 = model.STATE_NAMES.index("CO2")

#: The subset of the numpy API the ``models/`` formulas use, on torch tensors.
TORCH_XP = SimpleNamespace(
    tanh=torch.tanh,
    exp=torch.exp,
    stack=torch.stack,
    concatenate=torch.cat,
    ones_like=torch.ones_like,
    zeros_like=torch.zeros_like,
    sum=torch.sum,
    max=lambda x, axis, keepdims=False: torch.amax(x, dim=axis, keepdim=keepdims),
    min=lambda x, axis, keepdims=False: torch.amin(x, dim=axis, keepdim=keepdims),
    maximum=lambda x, floor: torch.clamp_min(x, floor),
)


def network_arrays(network) -> dict[str, np.ndarray]:
    """The arrays of a ``jax_hysomi_net.TraitNetwork`` by name, for :func:`torch_network`."""
    arrays = {"head.weight": network.head.weight, "head.bias": network.head.bias}
    for i, (linear, scale, shift) in enumerate(
        zip(network.hidden, network.norm_scales, network.norm_shifts, strict=True)
    ):
        arrays |= {f"hidden.{i}.weight": linear.weight, f"hidden.{i}.bias": linear.bias}
        arrays |= {f"norm.{i}.scale": scale, f"norm.{i}.shift": shift}
    return {k: np.asarray(v, dtype=float) for k, v in arrays.items()}


def torch_network(arrays: dict[str, np.ndarray]) -> torch.nn.Sequential:
    """The trait network in torch: (Linear, BatchNorm1d, ReLU) per hidden layer, then Linear.

    ``arrays`` as from :func:`network_arrays`. Batch normalisation has PyTorch's defaults
    (momentum 0.1, eps 1e-5), which the JAX network follows.
    """

    def linear(prefix: str) -> torch.nn.Linear:
        weight = torch.tensor(arrays[f"{prefix}.weight"])
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0], dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(torch.tensor(arrays[f"{prefix}.bias"]))
        return layer

    layers = []
    depth = sum(name.endswith(".scale") for name in arrays)
    for i in range(depth):
        norm = torch.nn.BatchNorm1d(arrays[f"norm.{i}.scale"].size, dtype=torch.float64)
        with torch.no_grad():
            norm.weight.copy_(torch.tensor(arrays[f"norm.{i}.scale"]))
            norm.bias.copy_(torch.tensor(arrays[f"norm.{i}.shift"]))
        layers += [linear(f"hidden.{i}"), norm, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, linear("head"))


class _BatchRHS(torch.nn.Module):
    """d(pools)/dt of the whole batch (n, 6) for parameters (n, 13): one ODE."""

    def __init__(self, params: torch.Tensor) -> None:
        super().__init__()
        self.params = params

    def forward(self, t, y):
        return model.rhs(y, self.params, model.PHYSICS, xp=TORCH_XP)


class TorchHySoMi:
    """The ``hysomi`` model with the ``adaptive`` weighting, trained by Adam in torch.

    Parameters
    ----------
    network : dict of ndarray
        The JAX network's arrays (:func:`network_arrays`).
    loss_scales : array, shape (n_terms,)
        Initial uncertainty scales s_k of the adaptive weighting.
    trait_mean, trait_std : array, shape (n_traits,)
        Standardisation of the traits.
    constraints : tuple of Constraint
    temperature : float
        Soft-constraint temperature.
    times : array, shape (nt,)
        Output times in hours.
    rtol, atol : float
        dopri5 tolerances.
    learning_rate : float
        Adam step size.
    """

    def __init__(
        self,
        network,
        loss_scales,
        trait_mean,
        trait_std,
        constraints,
        temperature,
        times,
        rtol,
        atol,
        learning_rate,
    ):
        self.network = torch_network(network)
        self.scales = torch.nn.Parameter(torch.tensor(np.asarray(loss_scales, dtype=float)))
        self.mean = torch.tensor(np.asarray(trait_mean, dtype=float))
        self.std = torch.tensor(np.asarray(trait_std, dtype=float))
        self.constraints, self.temperature = constraints, temperature
        self.times = torch.tensor(np.asarray(times, dtype=float))
        self.rtol, self.atol = rtol, atol
        self.lower = torch.tensor(model.LOWER)
        self.upper = torch.tensor(model.UPPER)
        self.initial = torch.tensor(model.INITIAL_STATE)
        self.optimizer = torch.optim.Adam(
            [*self.network.parameters(), self.scales], lr=learning_rate
        )

    def loss(self, traits: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Adaptive-weighted CO2 MSE and soft constraint violations of one batch."""
        raw = self.network((traits - self.mean) / self.std)
        params = self.lower + (self.upper - self.lower) * 0.5 * (1.0 + torch.tanh(0.5 * raw))
        y0 = self.initial.expand(traits.shape[0], -1)
        ys = odeint(
            _BatchRHS(params), y0, self.times, method="dopri5", rtol=self.rtol, atol=self.atol
        )
        pools = ys.permute(1, 0, 2)
        mse = torch.mean((pools[..., _CO2] - states[..., _CO2]) ** 2)
        violations = cons.soft_losses(
            self.constraints, pools, self.times, params, self.temperature, xp=TORCH_XP
        )
        terms = torch.cat([mse[None], violations.mean(0)])
        s2 = self.scales**2
        return torch.sum(terms / (2.0 * s2) + torch.log1p(s2))

    def epoch(
        self, traits: np.ndarray, states: np.ndarray, batch_size: int, rng: np.random.Generator
    ) -> list[float]:
        """One pass over the samples in shuffled batches; the batch losses."""
        traits_t, states_t = torch.tensor(traits), torch.tensor(states)
        self.network.train()
        order = rng.permutation(traits.shape[0])
        losses = []
        for start in range(0, order.size, batch_size):
            index = torch.tensor(order[start : start + batch_size])
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(traits_t[index], states_t[index])
            loss.backward()
            self.optimizer.step()
            losses.append(float(loss.detach()))
        return losses
