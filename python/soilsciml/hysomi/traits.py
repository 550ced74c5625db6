"""Synthetic genomic traits from PBM parameters: a random, fixed MLP.

See [HySoMi science: dataset][hysomi-dataset], steps 2-3.

The network is numpy only and fully determined by its seed: He-normal weights, zero biases,
``depth`` hidden layers of ``width`` units (ReLU, or tanh for the generator-mismatch variant),
then a linear layer to the traits, a sigmoid and a linear scaling to ``[trait_min, trait_max]``.
Parameters enter scaled to [0, 1] within their box.
"""

from __future__ import annotations

import itertools

import numpy as np

from soilsciml.models.hysomi import LOWER, UPPER, sigmoid

__all__ = ["ACTIVATIONS", "SPLITS", "random_trait_network", "split_labels", "traits_from_params"]

ACTIVATIONS = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh}

#: Split names and the paper's sizes for 973 samples (554 / 139 / 280).
SPLITS = {"train": 554, "validation": 139, "test": 280}


def random_trait_network(
    n_traits: int, depth: int, width: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialised layers ``(W, b)`` (y = x @ W + b) from 13 parameters to ``n_traits``.

    Weights are drawn from N(0, 2 / fan_in) (He et al. 2015), biases are zero.
    """
    sizes = [UPPER.size, *([width] * depth), n_traits]
    return [
        (rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out)), np.zeros(fan_out))
        for fan_in, fan_out in itertools.pairwise(sizes)
    ]


def traits_from_params(
    params: np.ndarray,
    layers: list[tuple[np.ndarray, np.ndarray]],
    activation: str = "relu",
    trait_min: float = 5.0,
    trait_max: float = 200.0,
) -> np.ndarray:
    """Traits (n, n_traits) in ``[trait_min, trait_max]`` from parameters (n, 13) in the box."""
    hidden = (np.asarray(params, dtype=float) - LOWER) / (UPPER - LOWER)
    act = ACTIVATIONS[activation]
    for weights, bias in layers[:-1]:
        hidden = act(hidden @ weights + bias)
    weights, bias = layers[-1]
    return trait_min + (trait_max - trait_min) * sigmoid(hidden @ weights + bias)


def split_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffled split names for ``n`` samples in the paper's 554 : 139 : 280 proportions.

    For n = 973 the sizes are exactly 554, 139 and 280; otherwise validation and test are
    rounded in proportion and the rest is training.
    """
    total = sum(SPLITS.values())
    n_val = round(n * SPLITS["validation"] / total)
    n_test = round(n * SPLITS["test"] / total)
    labels = np.array(["train"] * (n - n_val - n_test) + ["validation"] * n_val + ["test"] * n_test)
    return labels[rng.permutation(n)]
