"""Networks of HySoMi training: traits -> PBM parameters, and the ML baseline traits -> CO2.

One multilayer perceptron serves both: ``depth`` hidden layers of ``width`` units, each
Linear -> batch normalisation -> ReLU (paper section 5), then a linear head. Batch
normalisation is written here rather than taken from ``eqx.nn.BatchNorm`` because training
pads the last partial batch to a fixed shape: the batch statistics must ignore the padding,
so they are masked means. Running statistics live in a separate pytree
(:class:`NormStatistics`) that the caller threads through, so the network itself holds only
trainable arrays.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["NormStatistics", "TraitNetwork", "init_statistics"]

#: Momentum of the running batch-norm statistics (PyTorch's default).
NORM_MOMENTUM = 0.1
#: Added to the variance before dividing (PyTorch's default).
NORM_EPS = 1e-5


class NormStatistics(eqx.Module):
    """Running mean and variance of every hidden layer's pre-activations."""

    means: tuple[jax.Array, ...]
    variances: tuple[jax.Array, ...]


class TraitNetwork(eqx.Module):
    """MLP with masked batch normalisation: (n, n_in) -> (n, n_out).

    Parameters
    ----------
    n_in, n_out : int
        Input and output sizes (38 traits -> 13 raw parameters, or -> 169 CO2 values).
    width, depth : int
        Units per hidden layer and number of hidden layers.
    key : jax.Array
        PRNG key of the initial weights (equinox's default uniform initialisation).
    dtype : dtype
        Array dtype.
    """

    hidden: tuple[eqx.nn.Linear, ...]
    norm_scales: tuple[jax.Array, ...]
    norm_shifts: tuple[jax.Array, ...]
    head: eqx.nn.Linear

    def __init__(self, n_in: int, n_out: int, width: int, depth: int, key: jax.Array, dtype):
        keys = jax.random.split(key, depth + 1)
        sizes = [n_in] + [width] * depth
        self.hidden = tuple(
            eqx.nn.Linear(sizes[i], width, key=keys[i], dtype=dtype) for i in range(depth)
        )
        self.norm_scales = tuple(jnp.ones(width, dtype) for _ in range(depth))
        self.norm_shifts = tuple(jnp.zeros(width, dtype) for _ in range(depth))
        self.head = eqx.nn.Linear(sizes[-1], n_out, key=keys[-1], dtype=dtype)

    def __call__(
        self, x: jax.Array, statistics: NormStatistics, mask: jax.Array, training: bool
    ) -> tuple[jax.Array, NormStatistics]:
        """Outputs (n, n_out) and updated running statistics.

        Parameters
        ----------
        x : Array, shape (n, n_in)
            Standardised inputs.
        statistics : NormStatistics
            Running statistics; used for normalising when ``training`` is False.
        mask : Array, shape (n,)
            1 for real samples, 0 for padding; padding never enters batch statistics.
        training : bool
            Normalise with the (masked) batch statistics and update the running ones.
        """
        weights = mask / jnp.maximum(jnp.sum(mask), 1.0)
        n_real = jnp.sum(mask)
        means, variances = [], []
        h = x
        for layer, scale, shift, run_mean, run_var in zip(
            self.hidden,
            self.norm_scales,
            self.norm_shifts,
            statistics.means,
            statistics.variances,
            strict=True,
        ):
            h = h @ layer.weight.T + layer.bias
            if training:
                mean = weights @ h
                var = weights @ (h - mean) ** 2
                unbiased = var * n_real / jnp.maximum(n_real - 1.0, 1.0)
                means.append((1 - NORM_MOMENTUM) * run_mean + NORM_MOMENTUM * mean)
                variances.append((1 - NORM_MOMENTUM) * run_var + NORM_MOMENTUM * unbiased)
            else:
                mean, var = run_mean, run_var
            h = jax.nn.relu(scale * (h - mean) / jnp.sqrt(var + NORM_EPS) + shift)
        out = h @ self.head.weight.T + self.head.bias
        if training:
            statistics = NormStatistics(tuple(means), tuple(variances))
        return out, statistics


def init_statistics(network: TraitNetwork) -> NormStatistics:
    """Running statistics of a fresh network: zero means, unit variances."""
    return NormStatistics(
        tuple(jnp.zeros_like(s) for s in network.norm_scales),
        tuple(jnp.ones_like(s) for s in network.norm_scales),
    )
