"""What a trial function is given and returns, and the wrapper that runs one on any executor.

A trial function is any importable, module-level callable::

    def my_trial(config, context: TrialContext) -> TrialOutcome | Mapping[str, float]: ...

It reads its settings from ``config`` (a config dataclass), seeds everything from
``context.seed``, may write artifacts into ``context.directory`` and returns its metrics. An
exception inside it becomes a failed outcome (status and message); it never stops the grid.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

from soilsciml.config import ConfigError, from_dict
from soilsciml.search.grid import plain

__all__ = [
    "STATUSES",
    "TrialContext",
    "TrialJob",
    "TrialOutcome",
    "execute_trial",
    "resolve_callable",
    "trial_path",
]

#: Status of a finished trial.
STATUSES = ("ok", "failed")

#: Names the results Dataset uses itself, so no metric may take them.
RESERVED_NAMES = ("trial", "seed", "status", "message", "trial_wall_time_s")


@dataclass(frozen=True)
class TrialOutcome:
    """Metrics of one trial.

    Parameters
    ----------
    metrics : dict of str to float
        Named scalar results (loss, R2, wall times in s ...); NaN allowed.
    status : str
        ``ok`` or ``failed``.
    message : str
        Why a trial failed (empty when it did not).
    """

    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {self.status!r}")


@dataclass(frozen=True)
class TrialContext:
    """What a trial function needs besides its config.

    Parameters
    ----------
    name : str
        Trial name (``best`` for the retrain of the best trial).
    seed : int
        Seed for every random draw of the trial (network initialisation, noise ...).
    directory : Path
        Folder for the trial's artifacts; it exists when the trial starts.
    settings : dict
        The grid settings of this trial (dotted field -> value).
    data : dict
        The grid's ``[data]`` table, as plain data.
    stage : str
        ``grid`` for a grid trial, ``retrain`` for the retrain of the best one.
    """

    name: str
    seed: int
    directory: Path
    settings: dict[str, Any]
    data: dict[str, Any]
    stage: str = "grid"


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to run one trial; plain, picklable data."""

    trial: str
    config: Any
    context: TrialContext
    fingerprint: str

    def identity(self) -> dict[str, Any]:
        """What a saved record of this job must hold to count as this trial's outcome."""
        return {
            "name": self.context.name,
            "stage": self.context.stage,
            "fingerprint": self.fingerprint,
            "settings": self.context.settings,
            "config": plain(self.config),
            "seed": self.context.seed,
        }

    def upgrade(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with its config read by this job's config class (new fields at defaults).

        A record written before a config field was added then matches :meth:`identity`; a
        config that no longer loads (a removed field, an impossible value) is left as is.
        """
        config = record.get("config")
        if not isinstance(config, dict) or not dataclasses.is_dataclass(self.config):
            return record
        try:
            return {**record, "config": plain(from_dict(type(self.config), config))}
        except ConfigError:
            return record


def trial_path(function: str | Callable[..., Any]) -> str:
    """``module:qualname`` of a trial function that workers can import.

    Raises
    ------
    ValueError
        If ``function`` is a lambda, a local function or otherwise not importable by name.
    """
    if isinstance(function, str):
        resolve_callable(function)
        return function
    path = f"{getattr(function, '__module__', '')}:{getattr(function, '__qualname__', '')}"
    try:
        found = resolve_callable(path)
    except ValueError:
        found = None
    if found is not function:
        raise ValueError(
            f"trial function {function!r} is not importable as {path}; define it at the top "
            "level of a module that the workers can import"
        )
    return path


def resolve_callable(path: str) -> Callable[..., Any]:
    """Import ``module:attribute`` (the attribute may be dotted) and return it."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:function'; got {path!r}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import {path}: {err}") from err
    if not callable(target):
        raise ValueError(f"{path} is not callable")
    return target


def _metrics(result: Any) -> TrialOutcome:
    outcome = result if isinstance(result, TrialOutcome) else TrialOutcome(dict(result))
    metrics = {}
    for key, value in outcome.metrics.items():
        if not isinstance(key, str) or not key or "/" in key or key in RESERVED_NAMES:
            raise ValueError(
                f"metric name {key!r} must be a non-empty string without '/', other than "
                f"{', '.join(RESERVED_NAMES)}"
            )
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"metric {key!r} must be a real number; got {value!r}")
        metrics[key] = float(value)
    return TrialOutcome(metrics, outcome.status, outcome.message)


def execute_trial(job: TrialJob) -> dict[str, Any]:
    """Run one trial and return its record (without checksum); never raises for trial errors.

    Returns
    -------
    dict
        ``name``, ``stage``, ``fingerprint``, ``settings``, ``config``, ``seed``, ``status``,
        ``message``, ``metrics`` and ``wall_time_s`` (s, the trial function's own time).
    """
    context = job.context
    start = time.perf_counter()
    try:
        Path(context.directory).mkdir(parents=True, exist_ok=True)
        outcome = _metrics(resolve_callable(job.trial)(job.config, context))
    except Exception as err:
        outcome = TrialOutcome({}, "failed", f"{type(err).__name__}: {err}")
    wall = time.perf_counter() - start
    return {
        **job.identity(),
        "status": outcome.status,
        "message": outcome.message,
        "metrics": outcome.metrics,
        "wall_time_s": wall,
    }
