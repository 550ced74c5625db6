"""Batches of HySoMi training: padded index batches, lanes ordered by their solver steps.

Every batch has the same length (the last one padded with index 0 and masked), so one
compiled step serves all of them. A vmapped PBM solve runs as long as its slowest sample and
the engine solves a batch in consecutive chunks (``engines.jax.pbm``), so the host orders
each batch's lanes by the steps each sample took when last solved, padding first: the chunks
then group samples of similar cost. The order changes neither the loss (a masked mean) nor
the batch statistics.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batches", "ordered", "remember_steps"]


def batches(n: int, size: int, rng: np.random.Generator | None):
    """Index arrays of equal length ``size`` and masks; the last one padded with index 0."""
    order = np.arange(n) if rng is None else rng.permutation(n)
    for start in range(0, n, size):
        chunk = order[start : start + size]
        mask = np.zeros(size)
        mask[: chunk.size] = 1.0
        yield np.concatenate([chunk, np.zeros(size - chunk.size, dtype=int)]), mask


def ordered(batches, last_steps: np.ndarray):
    """Each batch's lanes reordered: padding first, then by the steps last seen."""
    for index, mask in batches:
        order = np.lexsort((last_steps[index], mask))
        yield index[order], mask[order]


def remember_steps(last_steps: np.ndarray, index, mask, lane_steps) -> np.ndarray:
    """Store the real lanes' steps in ``last_steps``; return them."""
    real = mask > 0
    lane_steps = np.asarray(lane_steps)[real]
    last_steps[index[real]] = lane_steps
    return lane_steps
