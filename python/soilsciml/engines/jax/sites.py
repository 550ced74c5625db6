"""Data-parallel training of a multi-site SOC UDE: the sites split into chunks.

Each chunk's loss and gradient come from the same compiled kernel as an in-process fit
(:func:`~soilsciml.engines.jax.train.value_and_grad`), on that chunk's sites and with the same
weights, in this process or on ``dask.distributed`` workers; the driver combines them and steps
Adam. The batched loss is ``lambda_term`` x the mean over sites of each site's misfit +
``lambda_coll`` x the mean collocation residual over sites + ``lambda_wd`` ||theta||^2, so with
chunk c holding S_c of the S sites

    L = sum_c (S_c / S) L_c,        dL/dtheta = sum_c (S_c / S) dL_c/dtheta

exactly (the weight decay enters every L_c once and the shares sum to 1). A failed solve in any
chunk makes the whole evaluation the penalty with a zero gradient, as in a batched fit.

All sites of one batched solve share the adaptive step sequence, so the chunked loss equals
the batched loss to the solver's tolerance, not to round-off; the same chunks give the same
numbers on Dask workers and in this process (round-off: only the order of the sums differs).

The driver holds the data arrays (small: sites x times x depths); each worker holds the solves
of its chunk (the memory that grows with the network, the steps and the sites). The first
stage (Adam) runs chunked; the optimistix second stage needs the whole objective in one
compiled function, so a chunked fit sets ``train.second_stage = "none"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from soilsciml.config import ConfigError, SOCFitConfig, holdout_stride
from soilsciml.engines.base import SOCFitOutput, SOCUDEProblem, SolveStatus
from soilsciml.engines.jax import train as jax_train
from soilsciml.engines.jax import ude as jax_ude
from soilsciml.models import soc_ude

__all__ = [
    "CHUNK_EXECUTORS",
    "SiteChunks",
    "check_chunking",
    "fit_chunked",
    "fit_on",
    "split_sites",
]

#: Where chunked evaluations run.
CHUNK_EXECUTORS = ("inprocess", "dask")

#: Site axis of each array of :func:`~soilsciml.engines.jax.ude.prepare_data` that has one.
_SITE_AXES = {
    "initial": 0,
    "drivers": 1,
    "observed": 1,
    "mask": 1,
    "colloc_soc": 1,
    "colloc_rate": 1,
    "observation": 0,
}


def check_chunking(
    problem: SOCUDEProblem, config: SOCFitConfig, executor: str, site_chunks: int | None
) -> None:
    """Refuse an impossible chunked fit before any compute.

    Raises
    ------
    ConfigError
        Unknown executor, chunks of a single-site problem, ``site_chunks`` outside
        [1, sites], or a second optimiser stage.
    """
    if executor not in CHUNK_EXECUTORS:
        raise ConfigError(f"executor must be one of {', '.join(CHUNK_EXECUTORS)}; got {executor!r}")
    sites = soc_ude.site_count(problem)
    if sites is None:
        raise ConfigError("site_chunks and executor='dask' need a dataset with a 'site' dimension")
    if site_chunks is not None and not 1 <= site_chunks <= sites:
        raise ConfigError(f"site_chunks must be in [1, {sites}] (the sites); got {site_chunks}")
    if holdout_stride(config.train.holdout):
        raise ConfigError(
            "a chunked (site_chunks or Dask) fit stops on the training loss; set train.holdout = 0"
        )
    if config.train.second_stage != "none" and config.train.second_iters > 0:
        raise ConfigError(
            "a chunked (site_chunks or Dask) fit runs the Adam stage only; "
            "set train.second_stage = 'none'"
        )


def split_sites(n_sites: int, n_chunks: int) -> list[slice]:
    """``n_chunks`` contiguous slices of the sites, sizes differing by at most one."""
    bounds = np.linspace(0, n_sites, n_chunks + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def chunk_data(data: dict, sites: slice) -> dict[str, np.ndarray]:
    """The arrays of :func:`~soilsciml.engines.jax.ude.prepare_data` for some of the sites."""
    out = {}
    for name, value in data.items():
        value = np.asarray(value)
        if name in _SITE_AXES:
            index = [slice(None)] * value.ndim
            index[_SITE_AXES[name]] = sites
            value = value[tuple(index)]
        out[name] = value
    return out


def chunk_value_and_grad(weights: dict, chunk: dict, static: jax_ude.UDEStatic) -> tuple:
    """Loss, gradient (numpy) and evaluation counts of one chunk (runs on a worker)."""
    fit_id = jax_ude.EVALUATIONS.open()
    try:
        dtype = chunk["depth"].dtype
        data = {name: jnp.asarray(value) for name, value in chunk.items()}
        data["fit_id"] = jnp.asarray(fit_id, dtype)
        weights = {name: jnp.asarray(value, dtype) for name, value in weights.items()}
        loss, grads = jax_train.value_and_grad(weights, data, static)
        loss, grads = float(loss), {name: np.asarray(g) for name, g in grads.items()}
    finally:
        counts = jax_ude.EVALUATIONS.close(fit_id)
    return loss, grads, counts


class SiteChunks:
    """The loss and gradient of a multi-site problem, summed over chunks of its sites.

    Parameters
    ----------
    problem : SOCUDEProblem
        A multi-site problem (initial (site, nz)).
    config : SOCFitConfig
        Fit settings.
    site_chunks : int
        Number of chunks (each one batched solve).
    client : distributed.Client, optional
        Evaluate the chunks on this Dask cluster (the chunks' data are scattered to the
        workers once); None evaluates them one after the other in this process.
    """

    def __init__(
        self, problem: SOCUDEProblem, config: SOCFitConfig, site_chunks: int, client: Any = None
    ) -> None:
        data = jax_ude.prepare_data(problem, config, config.solver.dtype)
        #: initial learned loss parameters (``aux.*``), from all sites' targets
        self.initial_aux = jax_ude.init_aux(
            config, np.asarray(data["observed"]), np.asarray(data["mask"])
        )
        sites = soc_ude.site_count(problem)
        slices = split_sites(sites, site_chunks)
        self.shares = [(part.stop - part.start) / sites for part in slices]
        self.static = jax_ude.static_settings(config, problem.boundary)
        self.chunks: Sequence[Any] = [chunk_data(data, part) for part in slices]
        self.client = client
        if client is not None:
            self.chunks = client.scatter(list(self.chunks))
        self.counts = dict.fromkeys(
            ("evaluations", "failed_solves", "num_steps", "num_rejected_steps", "last_code"), 0
        )

    def value_and_grad(self, weights: dict) -> tuple[float, dict]:
        """Combined failure-safe loss and gradient at ``weights`` (see the module docstring)."""
        weights = {name: np.asarray(value) for name, value in weights.items()}
        if self.client is None:
            results = [chunk_value_and_grad(weights, chunk, self.static) for chunk in self.chunks]
        else:
            futures = [
                self.client.submit(chunk_value_and_grad, weights, chunk, self.static, pure=False)
                for chunk in self.chunks
            ]
            results = self.client.gather(futures)
        codes = [counts["last_code"] for _, _, counts in results]
        for key in ("num_steps", "num_rejected_steps"):
            self.counts[key] += sum(counts[key] for _, _, counts in results)
        self.counts["evaluations"] += 1
        failed = next((code for code in codes if code != 0), 0)
        self.counts["failed_solves"] += int(failed != 0)
        self.counts["last_code"] = failed
        if failed:
            return jax_ude.PENALTY, {name: np.zeros_like(w) for name, w in weights.items()}
        loss = sum(share * value for share, (value, _, _) in zip(self.shares, results, strict=True))
        grads = {
            name: sum(
                share * g[name] for share, (_, g, _) in zip(self.shares, results, strict=True)
            )
            for name in weights
        }
        return loss, grads


def fit_on(
    executor: str,
    problem: SOCUDEProblem,
    config: SOCFitConfig,
    site_chunks: int | None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> SOCFitOutput:
    """:func:`fit_chunked` in this process (``inprocess``) or on a Dask cluster (``dask``: a
    ``LocalCluster`` of ``workers`` processes, or the one at ``scheduler``; ``site_chunks``
    defaults to the number of the cluster's workers)."""
    if executor == "inprocess":
        return fit_chunked(problem, config, site_chunks or 1, progress=progress)
    from soilsciml.search.executors import make_executor

    with make_executor("dask", workers, scheduler) as dask:
        client = dask.client()
        n_workers = max(len(client.scheduler_info()["workers"]), 1)
        chunks = site_chunks or min(n_workers, soc_ude.site_count(problem))
        return fit_chunked(problem, config, chunks, client, progress)


def fit_chunked(
    problem: SOCUDEProblem,
    config: SOCFitConfig,
    site_chunks: int,
    client: Any = None,
    progress: bool = True,
) -> SOCFitOutput:
    """Train on chunks of sites (Adam with early stopping); see :class:`SiteChunks`.

    ``num_compiles`` counts the traces in this process only (the workers compile the loss
    kernel once per chunk shape).
    """
    dtype = config.solver.dtype
    traces_before = sum(jax_train.TRACES.values())
    objective = SiteChunks(problem, config, site_chunks, client)

    def step(weights, data, static):
        loss, grads = objective.value_and_grad(weights)
        return loss, {name: jnp.asarray(g, dtype) for name, g in grads.items()}

    weights = jax_ude.init_weights(config.network.h1, config.network.h2, config.train.seed)
    weights.update(objective.initial_aux)
    weights = {name: jnp.asarray(value, dtype) for name, value in weights.items()}
    history, stop_reasons = {}, {}
    if config.train.adam_iters > 0:
        result = jax_train._adam(weights, None, None, config.train, progress, step=step)
        weights, history["adam"], stop_reasons["adam"] = (
            result.weights,
            result.history,
            result.stop_reason,
        )
    final_loss, _ = objective.value_and_grad(weights)
    counts = objective.counts
    return SOCFitOutput(
        weights={
            name: np.asarray(value, np.float64)
            for name, value in weights.items()
            if not name.startswith(jax_ude.AUX_PREFIX)
        },
        history=history,
        status=SolveStatus(code=counts["last_code"], n_failed=counts["failed_solves"]),
        solver_stats={
            "loss_evaluations": counts["evaluations"],
            "num_steps": counts["num_steps"],
            "num_rejected_steps": counts["num_rejected_steps"],
            "final_loss": float(final_loss),
            "site_chunks": site_chunks,
        },
        num_compiles=sum(jax_train.TRACES.values()) - traces_before,
        stop_reasons=stop_reasons,
    )
