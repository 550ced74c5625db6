"""HySoMi trial function for grid searches (trial kind ``hysomi_fit`` of
:data:`soilsciml.search.TRIAL_KINDS`; ``soilsciml grid`` and the paper's experiments).

A grid file::

    kind = "hysomi_fit"
    [base.train]
    epochs = 300
    [grid]
    "train.model" = ["hysomi", "unconstrained"]
    "train.seed" = [0, 1, 2, 3, 4]
    [data.datasets]
    default = "data/hysomi_973.nc"
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

from soilsciml.config import HySoMiTrialConfig
from soilsciml.search.trial import TrialContext, TrialOutcome

__all__ = ["SCORE_SEPARATOR", "check_fit_data", "fit_trial", "scored_metrics"]

#: Metric name of a score on another dataset: ``<metric>@<dataset>``.
SCORE_SEPARATOR = "@"


def check_fit_data(data) -> None:
    """Check the ``[data]`` table of a ``hysomi_fit`` grid: ``datasets`` (name -> NetCDF
    path, required) and ``engine`` (optional, a registered engine).

    Raises
    ------
    ValueError
        Naming the key.
    """
    from soilsciml.engines import ENGINES

    unknown = sorted(set(data) - {"datasets", "engine"})
    if unknown:
        raise ValueError(f"unknown [data] key {unknown[0]!r}; valid keys: datasets, engine")
    datasets = data.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        raise ValueError("[data] datasets is required: a table of dataset name -> NetCDF path")
    for name, path in datasets.items():
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"[data] datasets.{name} must be a non-empty path; got {path!r}")
    engine = data.get("engine", "jax")
    if engine not in ENGINES:
        raise ValueError(
            f"[data] engine {engine!r} is not a registered engine; engines: {', '.join(ENGINES)}"
        )


@functools.lru_cache(maxsize=8)
def _load(path: str):
    """The dataset at ``path``, read once per worker process."""
    from soilsciml.data.io import load_dataset

    return load_dataset(path).load()


def _dataset(context: TrialContext, name: str):
    datasets = context.data.get("datasets", {})
    if name not in datasets:
        known = ", ".join(datasets) or "none"
        raise ValueError(f"dataset {name!r} is not in the grid's [data] datasets ({known})")
    return _load(str(Path(datasets[name]).resolve()))


def _numbers(metrics: dict, suffix: str = "") -> dict[str, float]:
    """The numeric metrics, None as NaN (a grid metric is a real number)."""
    return {
        f"{k}{suffix}": math.nan if v is None else float(v)
        for k, v in metrics.items()
        if v is None or (isinstance(v, int | float) and not isinstance(v, bool))
    }


def fit_trial(config: HySoMiTrialConfig, context: TrialContext) -> TrialOutcome:
    """Train ``config.train`` on ``config.dataset``; write the run; return its test metrics.

    ``context.data["engine"]`` picks the compute engine (default ``jax``). The seed is
    ``config.train.seed`` as given (``context.seed`` is unused), so seeds are a grid axis and
    two models on the same seed share their initial weights and batch order.
    The run folder (``config.toml``, ``metrics.json``, ``results.nc``, ``model.eqx``,
    figures) is the trial folder.

    Returns
    -------
    TrialOutcome
        The test metrics of :meth:`HySoMiFitResult.metrics` (None as NaN), ``selection``
        (the validation criterion at the epoch kept), ``cpu_time_s`` (CPU time of this
        process during the trial, all threads) and, per dataset of ``score_on``, every test
        metric as ``<metric>@<dataset>``. Test samples whose solve failed are left out of
        the metrics and counted in ``n_failed``; an exception makes the trial ``failed``.
    """
    from soilsciml.hysomi.fit import fit_hysomi, hysomi_metrics, predict_split, write_run

    cpu = time.process_time()
    engine = context.data.get("engine", "jax")
    result = fit_hysomi(
        _dataset(context, config.dataset), config.train, engine=engine, progress=False
    )
    write_run(result, context.directory)
    metrics = _numbers(result.metrics())
    history = result.predictions
    best = int(history.attrs["best_epoch"])
    criterion = history["selection"]
    metrics["selection"] = float(criterion.values[best - 1]) if best else math.nan
    for name in config.score_on:
        scored = hysomi_metrics(predict_split(result, _dataset(context, name)), config.train)
        metrics.update(_numbers(scored, f"{SCORE_SEPARATOR}{name}"))
    metrics["cpu_time_s"] = time.process_time() - cpu
    return TrialOutcome(metrics)


def scored_metrics(metrics: dict[str, float], dataset: str | None) -> dict[str, float]:
    """The metrics of one scoring dataset (None: the trained one's), names without suffix."""
    if dataset is None:
        return {k: v for k, v in metrics.items() if SCORE_SEPARATOR not in k}
    suffix = f"{SCORE_SEPARATOR}{dataset}"
    return {k[: -len(suffix)]: v for k, v in metrics.items() if k.endswith(suffix)}
