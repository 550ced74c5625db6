"""SOC UDE training step in PyTorch + torchdiffeq (the peer of ``engines/jax_ude.py``).

Same grid, drivers, input scaling, networks and terminal loss as the JAX engine: the arrays
come from :func:`soilsciml.engines.jax.ude.prepare_data` (as numpy) and the weights in the
flat layout of ``contracts.md``. The solve is ``torchdiffeq.odeint(..., method="dopri5")``
and the gradient is plain backpropagation through the solver's operations.
"""

from __future__ import annotations

import numpy as np
import torch
from torchdiffeq import odeint

from soilsciml.models import soc as model

__all__ = ["TorchSOCUDE"]

ACTIVATIONS = {
    "tanh": torch.tanh,
    "gelu": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
}
HEADS = {
    "softplus": lambda y, scale: torch.nn.functional.softplus(y),
    "scaled_sigmoid": lambda y, scale: scale * torch.sigmoid(y),
    "none": lambda y, scale: y,
}


class TorchSOCUDE(torch.nn.Module):
    """dC/dt = D C_zz - v C_z + NN_P(x) - NN_R(x) with NN_P, NN_R as ``torch`` parameters.

    Parameters
    ----------
    weights : dict of ndarray
        Flat weights ``"P.W1"`` ... ``"R.b3"`` (y = W x + b).
    data : dict of ndarray
        The arrays of ``jax_ude.prepare_data`` (grid, transport, drivers, scaling, targets).
    activation, head : str
        Hidden activation and output head, as in ``SOCNetworkConfig``.
    head_scale : float
        Scale of the ``scaled_sigmoid`` head.
    boundary : str
        ``mirror`` (the paper's ghost points; the only one the peer implements).
    """

    def __init__(
        self, weights, data, activation="gelu", head="softplus", head_scale=1.0, boundary="mirror"
    ):
        super().__init__()
        if boundary != "mirror":
            raise ValueError(
                f"the torch peer implements the mirror boundary only; got {boundary!r}"
            )
        self.weights = torch.nn.ParameterDict(
            {
                k.replace(".", "_"): torch.nn.Parameter(torch.tensor(np.asarray(v)))
                for k, v in weights.items()
            }
        )
        self.data = {k: torch.tensor(np.asarray(v, dtype=float)) for k, v in data.items()}
        self.act, self.head, self.head_scale = ACTIVATIONS[activation], HEADS[head], head_scale
        self.boundary = boundary

    def network(self, net: str, x: torch.Tensor) -> torch.Tensor:
        """NN_P or NN_R on scaled inputs (..., 6), in % yr-1."""
        w = self.weights
        hidden = self.act(x @ w[f"{net}_W1"].T + w[f"{net}_b1"])
        hidden = self.act(hidden @ w[f"{net}_W2"].T + w[f"{net}_b2"])
        return self.head((hidden @ w[f"{net}_W3"].T + w[f"{net}_b3"])[..., 0], self.head_scale)

    def forward(self, t: torch.Tensor, soc: torch.Tensor) -> torch.Tensor:
        """The UDE right-hand side (nz,) at time ``t`` (yr)."""
        d = self.data
        times = d["driver_times"]
        i = torch.clamp(
            torch.searchsorted(times, t.reshape(1), right=True)[0] - 1, 0, times.numel() - 2
        )
        w = torch.clamp((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
        drivers = (1.0 - w) * d["drivers"][i] + w * d["drivers"][i + 1]
        x = torch.stack(
            [drivers[:, 0], soc, drivers[:, 1], drivers[:, 2], d["depth"], t.expand(soc.shape)],
            dim=-1,
        )
        x = (x - d["shift"]) / d["scale"]
        transport = model.transport_tendency(
            soc, d["dz"], d["diffusion"], d["advection"], self.boundary, xp=torch
        )
        return transport + self.network("P", x) - self.network("R", x)

    def loss(self, rtol: float = 1e-5, atol: float = 1e-5) -> torch.Tensor:
        """Data misfit (masked MSE at the save times) + weight decay; no collocation term."""
        d = self.data
        if float(d["lambda_coll"]) != 0.0:
            raise ValueError("the torch peer has no collocation term; set lambda_coll = 0")
        ys = odeint(self, d["initial"], d["save_times"], method="dopri5", rtol=rtol, atol=atol)
        misfit = torch.sum(d["mask"] * (ys - d["observed"]) ** 2) / torch.clamp(
            torch.sum(d["mask"]), min=1.0
        )
        decay = sum(torch.sum(w**2) for w in self.weights.values())
        return d["lambda_term"] * misfit + d["lambda_wd"] * decay

    def value_and_grad(self, rtol: float = 1e-5, atol: float = 1e-5):
        """One training step's work: the loss and its gradient (dict in the flat layout)."""
        self.zero_grad(set_to_none=True)
        loss = self.loss(rtol, atol)
        loss.backward()
        grads = {k.replace("_", ".", 1): v.grad for k, v in self.weights.items()}
        return float(loss.detach()), grads
