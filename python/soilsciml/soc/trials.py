"""SOC trial functions for grid searches (``soilsciml grid``, trial kinds in
:data:`soilsciml.search.TRIAL_KINDS`)."""

from __future__ import annotations

import functools
import time
from dataclasses import replace

import numpy as np

from soilsciml.config import SOCFitConfig, SOCSimulationConfig
from soilsciml.search.trial import TrialContext, TrialOutcome

__all__ = ["check_fit_data", "check_simulate_data", "fit_trial", "simulate_trial"]

#: ``[data]`` keys of the SOC trial kinds and what each holds.
DATA_KEYS = {
    "path": "the training dataset, a NetCDF file (soc_fit only, required)",
    "engine": "the compute engine (default jax)",
}


def _check_data(data, required: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Required and known ``[data]`` keys, string values, a registered engine name."""
    from soilsciml.engines import ENGINES

    for key in required:
        if key not in data:
            raise ValueError(f"[data] {key} is required: {DATA_KEYS[key]}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"unknown [data] key {unknown[0]!r}; valid keys: {', '.join(allowed)}")
    for key in allowed:
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise ValueError(f"[data] {key} must be a non-empty string; got {data[key]!r}")
    engine = data.get("engine", "jax")
    if engine not in ENGINES:
        raise ValueError(
            f"[data] engine {engine!r} is not a registered engine; engines: {', '.join(ENGINES)}"
        )


def check_simulate_data(data) -> None:
    """Check the ``[data]`` table of a ``soc_simulate`` grid: only ``engine``, registered.

    Raises
    ------
    ValueError
        Naming the key.
    """
    _check_data(data, required=(), allowed=("engine",))


def check_fit_data(data) -> None:
    """Check the ``[data]`` table of a ``soc_fit`` grid: ``path`` given, ``engine`` registered.

    Raises
    ------
    ValueError
        Naming the key.
    """
    _check_data(data, required=("path",), allowed=("path", "engine"))


def simulate_trial(config: SOCSimulationConfig, context: TrialContext) -> dict[str, float]:
    """Simulate the SOC truth for ``config``; write ``soc.nc`` into the trial folder.

    Deterministic (no random draws), so the seed is unused. ``context.data["engine"]`` picks
    the compute engine (default ``jax``).

    Returns
    -------
    dict
        Terminal profile statistics, ``soc_mean``, ``soc_variance``, ``soc_surface`` and
        ``soc_bottom`` (% and %^2); ``carbon_change`` (relative change of the depth-integrated
        SOC over the run, 1; zero for mass-conserving transport without sources);
        ``solver_steps``, the steps (accepted and rejected) of the adaptive solver.
    """
    from soilsciml.data.io import save_dataset
    from soilsciml.models.soc import total_carbon
    from soilsciml.soc.simulate import simulate_soc

    ds = simulate_soc(config, engine=context.data.get("engine", "jax"))
    save_dataset(ds, context.directory / "soc.nc")
    soc = ds["soc"].values
    depth = ds["depth"].values
    carbon = total_carbon(soc, depth[1] - depth[0])
    terminal = soc[-1]
    return {
        "soc_mean": float(np.mean(terminal)),
        "soc_variance": float(np.var(terminal)),
        "soc_surface": float(terminal[0]),
        "soc_bottom": float(terminal[-1]),
        "carbon_change": float(carbon[-1] / carbon[0] - 1.0),
        "solver_steps": float(ds.attrs["solver_steps"]),
    }


@functools.lru_cache(maxsize=4)
def _load_training_data(path: str):
    """The training dataset at ``path``, read once per worker process."""
    from soilsciml.data.io import load_dataset

    return load_dataset(path).load()


def fit_trial(config: SOCFitConfig, context: TrialContext) -> TrialOutcome:
    """Train the SOC UDE on the dataset at ``context.data["path"]`` with ``config``.

    The network initialisation is seeded with the trial's seed (``train.seed`` is replaced by
    ``context.seed``). A grid trial writes its model (``config.toml``, ``weights.npz``) and
    metrics into the trial folder; the retrain of the best trial (``context.stage ==
    "retrain"``) writes the whole run folder of :meth:`SOCFitResult.save`, figures included.

    Returns
    -------
    TrialOutcome
        The scalar metrics of :meth:`SOCFitResult.metrics` (``mse/rmse/r2_noisy`` and
        ``_clean``, ``*_trajectory``, ``final_loss`` (the training loss at the end of training,
        the paper's "terminal loss" used for selection), ``failed_solves``, ``wall_time_s``),
        plus ``iterations_<stage>`` and ``cpu_time_s`` (CPU time of this process during the
        fit, all threads, in s: unlike wall time, it does not grow when other jobs share the
        machine); status ``failed`` when the final model does not solve.
    """
    from soilsciml.soc.fit import fit_soc

    cpu_start = time.process_time()
    dataset = _load_training_data(str(context.data["path"]))
    seeded = replace(config, train=replace(config.train, seed=context.seed))
    result = fit_soc(dataset, seeded, engine=context.data.get("engine", "jax"), progress=False)
    if context.stage == "retrain":
        result.save(context.directory)
    else:
        result.model.save(context.directory)
    metrics = result.metrics()
    scalars = {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    scalars.update({f"iterations_{k}": float(v) for k, v in metrics["iterations"].items()})
    scalars["cpu_time_s"] = time.process_time() - cpu_start
    return TrialOutcome(scalars, result.status, "" if result.status == "ok" else result.message)
