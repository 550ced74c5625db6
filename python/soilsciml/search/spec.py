"""A grid search as one object (``GridSpec``), the registry of trial kinds, and the TOML format.

A grid file::

    kind = "soc_simulate"          # a registered trial kind (see TRIAL_KINDS) ...
    # trial = "pkg.module:function" and config = "pkg.module:ConfigClass" instead, for your own
    seed = 0                       # base seed of the per-trial seeds
    select = {metric = "solver_steps", mode = "min"}

    [base]                         # the kind's config (its defaults fill what is left out)
    years = 10.0

    [grid]                         # dotted field -> list of values; the product is the grid
    "transport.boundary" = ["mirror", "zero_flux"]
    "grid.nz" = [20, 40]
    # or several sub-grids, whose trials follow one another: [[grid]] tables instead

    [retrain]                      # optional: overrides for a final run of the best trial
    "solver.rtol" = 1e-6

    [data]                         # optional: plain table handed to every trial (paths ...)

The ``fingerprint``, ``schema`` and ``earlier_fingerprints`` keys that a run writes into its
``grid.toml`` are accepted and ignored, so a run's ``grid.toml`` is itself a valid grid file.

The fingerprint hashes the settings of ``base`` that differ from the config class's defaults
(:func:`~soilsciml.search.grid.changed_settings`) with the config schema
(:data:`~soilsciml.config.CONFIG_SCHEMA`), so a new setting with a default leaves every run
directory valid. A run written under an earlier compatible schema (schema 1 hashed every
setting) is recognised by re-reading its ``grid.toml`` under today's classes.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import tomli_w

from soilsciml.config import (
    COMPATIBLE_SCHEMAS,
    CONFIG_SCHEMA,
    MAX_SEED,
    ConfigError,
    from_dict,
    read_toml,
    replace_path,
)
from soilsciml.search.grid import (
    GridError,
    Trial,
    changed_settings,
    expand_grid,
    fingerprint,
    plain,
)
from soilsciml.search.trial import resolve_callable, trial_path

__all__ = ["MODES", "TRIAL_KINDS", "GridSpec", "Selection", "TrialKind", "load_grid"]

MODES = ("min", "max")

#: Version of the run-directory format (trial naming, seeding, outcome files); part of the
#: fingerprint, so a run written under another format is never resumed by mistake.
RUN_FORMAT = 1


@dataclass(frozen=True)
class TrialKind:
    """A registered kind of trial: ``module:function`` and ``module:ConfigClass``, by name.

    ``select`` is the kind's default selection metric and mode. ``identity`` is the name the
    grid fingerprint records for the trial function: fixed when the kind was registered, so
    that moving the function to another module keeps every run directory of the kind valid.
    ``metrics`` lists the metric names (``fnmatch`` patterns) the kind's trials report: a
    grid may select only one of them. ``check_data`` is the ``module:function`` that checks a
    grid's ``[data]`` table (required keys, engine name) before any trial runs; it raises
    ``ValueError`` naming the key.
    """

    trial: str
    config: str
    select: tuple[str, str] = ("loss", "min")
    identity: str = ""
    metrics: tuple[str, ...] = ()
    check_data: str | None = None

    def __post_init__(self) -> None:
        if not self.identity:
            object.__setattr__(self, "identity", self.trial)


TRIAL_KINDS: dict[str, TrialKind] = {
    "soc_simulate": TrialKind(
        trial="soilsciml.soc.trials:simulate_trial",
        config="soilsciml.config:SOCSimulationConfig",
        select=("solver_steps", "min"),
        identity="soilsciml.experiments.soc_trials:simulate_trial",
        metrics=(
            "soc_mean",
            "soc_variance",
            "soc_surface",
            "soc_bottom",
            "carbon_change",
            "solver_steps",
        ),
        check_data="soilsciml.soc.trials:check_simulate_data",
    ),
    "soc_fit": TrialKind(
        trial="soilsciml.soc.trials:fit_trial",
        config="soilsciml.config:SOCFitConfig",
        select=("final_loss", "min"),
        identity="soilsciml.experiments.soc_trials:fit_trial",
        metrics=(
            "mse_noisy*",
            "rmse_noisy*",
            "r2_noisy*",
            "mse_clean*",
            "rmse_clean*",
            "r2_clean*",
            "mse_holdout_*",
            "rmse_holdout_*",
            "r2_holdout_*",
            "learned_*",
            "iterations_*",
            "final_loss",
            "failed_solves",
            "wall_time_s",
            "cpu_time_s",
        ),
        check_data="soilsciml.soc.trials:check_fit_data",
    ),
    "hysomi_fit": TrialKind(
        trial="soilsciml.hysomi.trials:fit_trial",
        config="soilsciml.config:HySoMiTrialConfig",
        select=("selection", "min"),
        metrics=(
            "selection",
            "l1_params*",
            "mse_*",
            "constraint_sum*",
            "violation_*",
            "pass_rate_*",
            "n_test*",
            "n_failed*",
            "epochs_run",
            "best_epoch",
            "wall_time_s",
            "cpu_time_s",
        ),
        check_data="soilsciml.hysomi.trials:check_fit_data",
    ),
}


def _registered_kind(trial: str) -> tuple[str, TrialKind] | None:
    """The registered kind whose trial function is ``trial`` (None for a user's own)."""
    for name, kind in TRIAL_KINDS.items():
        if kind.trial == trial:
            return name, kind
    return None


def _trial_identity(trial: str) -> str:
    """The fingerprint's name for ``trial``: a registered kind's fixed identity, else the path."""
    for kind in TRIAL_KINDS.values():
        if kind.trial == trial:
            return kind.identity
    return trial


@dataclass(frozen=True)
class Selection:
    """How the best trial is chosen: the ``mode`` (``min`` or ``max``) of ``metric``."""

    metric: str = "loss"
    mode: str = "min"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise GridError(f"select.metric must be a metric name; got {self.metric!r}")
        if self.mode not in MODES:
            raise GridError(f"select.mode must be one of {', '.join(MODES)}; got {self.mode!r}")


@dataclass(frozen=True)
class GridSpec:
    """Everything that defines a grid search.

    Parameters
    ----------
    trial : str or callable
        The trial function, ``module:function`` or a module-level callable.
    base : dataclass
        The config that every trial starts from.
    grid : mapping or list of mappings
        Dotted field -> list of values; or a list of such sub-grids, whose trials follow one
        another (``[[grid]]`` tables in a grid file).
    seed : int
        Base seed of the per-trial seeds.
    select : Selection
        Metric and direction that choose the best trial.
    data : mapping
        Plain data for every trial (``context.data``), e.g. a dataset path.
    retrain : mapping or callable, optional
        How to rerun the best trial: dotted field -> value overrides, or a function from the best
        trial's config to the final config (e.g. tight tolerance, more iterations).
    kind : str, optional
        The registered kind's name, recorded in ``grid.toml``.

    Raises
    ------
    GridError
        For any invalid setting, before any compute: the trials are expanded and the resolved
        spec is rendered as TOML on creation.
    """

    trial: str | Callable[..., Any]
    base: Any
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] = field(
        default_factory=dict
    )
    seed: int = 0
    select: Selection = field(default_factory=Selection)
    data: Mapping[str, Any] = field(default_factory=dict)
    retrain: Mapping[str, Any] | Callable[[Any], Any] | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "trial", trial_path(self.trial))
        except ValueError as err:
            raise GridError(str(err)) from err
        if self.kind is not None and (
            self.kind not in TRIAL_KINDS or TRIAL_KINDS[self.kind].trial != self.trial
        ):
            raise GridError(
                f"kind {self.kind!r} is not the registered kind of trial {self.trial}; "
                f"registered kinds: {', '.join(TRIAL_KINDS)}"
            )
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or not 0 <= self.seed <= MAX_SEED
        ):
            raise GridError(f"seed must be an integer from 0 to {MAX_SEED}; got {self.seed!r}")
        if not isinstance(self.select, Selection):
            raise GridError(f"select must be a Selection; got {self.select!r}")
        if not isinstance(self.data, Mapping):
            raise GridError(f"data must be a table; got {self.data!r}")
        self._check_kind()
        if isinstance(self.retrain, Mapping):
            self.retrain_config(self.base)
        elif self.retrain is not None and not callable(self.retrain):
            raise GridError(
                f"retrain must be a table of overrides or a function; got {self.retrain!r}"
            )
        try:
            tomli_w.dumps(self.document())
        except TypeError as err:
            raise GridError(
                f"grid settings must be plain TOML data (data, grid, base): {err}"
            ) from err

    def _check_kind(self) -> None:
        """A registered kind's selection metric and ``[data]`` table, before any trial runs."""
        registered = _registered_kind(self.trial)
        if registered is None:
            return
        name, kind = registered
        metric = self.select.metric
        if kind.metrics and not any(fnmatch.fnmatchcase(metric, p) for p in kind.metrics):
            raise GridError(
                f"select.metric {metric!r} is not a metric that {name} trials report; they "
                f"report {', '.join(kind.metrics)}"
            )
        if kind.check_data is not None:
            try:
                resolve_callable(kind.check_data)(self.data)
            except ValueError as err:
                raise GridError(f"{name} grid: {err}") from err

    @cached_property
    def trials(self) -> list[Trial]:
        """The expanded, validated trials in grid order."""
        return expand_grid(self.base, self.grid, self.seed)

    @cached_property
    def fingerprint(self) -> str:
        """Fingerprint of the grid (see :meth:`document`)."""
        return self.document()["fingerprint"]

    def retrain_config(self, config: Any) -> Any:
        """The config of the final run of the best trial, whose config is ``config``."""
        if self.retrain is None:
            return config
        if callable(self.retrain):
            return self.retrain(config)
        for key, value in self.retrain.items():
            try:
                config = replace_path(config, key, value)
            except ValueError as err:
                raise GridError(f"retrain.{key} = {value!r}: {err}") from err
        return config

    def document(self) -> dict[str, Any]:
        """The resolved spec as plain data (what ``grid.toml`` holds), with its fingerprint.

        The fingerprint covers the trial function, config class, the settings of the base
        config that differ from the class defaults, grid, seed, data, :data:`RUN_FORMAT` and
        :data:`~soilsciml.config.CONFIG_SCHEMA`: everything that determines the trials and their
        results. Changing the selection or the retrain does not change it (finished trials stay
        valid), nor does a new config field left at its default.
        """
        identity = self._identity(changed_settings(self.base), CONFIG_SCHEMA)
        head: dict[str, Any] = {"fingerprint": fingerprint(identity), "schema": CONFIG_SCHEMA}
        if self.kind is not None:
            head["kind"] = self.kind
        else:
            head.update(trial=self.trial, config=identity["config"])
        body = {
            "seed": self.seed,
            "select": {"metric": self.select.metric, "mode": self.select.mode},
            "base": plain(self.base),
            "grid": self._grid_values(),
            "data": identity["data"],
        }
        if isinstance(self.retrain, Mapping):
            body["retrain"] = plain(self.retrain)
        return {**head, **body}

    def recognises(self, recorded: Mapping[str, Any]) -> bool:
        """Whether ``recorded`` (a run's ``grid.toml``) is this grid under an earlier schema.

        True when ``recorded`` names a schema in :data:`~soilsciml.config.COMPATIBLE_SCHEMAS`,
        its fingerprint is the one that schema gives its own content, and its content, read
        with today's config classes (new fields at their defaults), is this grid.
        """
        schema = recorded.get("schema", 1)
        if schema not in COMPATIBLE_SCHEMAS:
            return False
        try:
            earlier = grid_spec_from_dict(recorded)
        except ConfigError:
            return False
        # schema 1 hashed the whole base config as it was written then
        base = recorded.get("base", {}) if schema == 1 else changed_settings(earlier.base)
        return (
            fingerprint(earlier._identity(base, schema)) == recorded.get("fingerprint")
            and earlier.fingerprint == self.fingerprint
        )

    def _identity(self, base: Any, schema: int) -> dict[str, Any]:
        config_class = type(self.base)
        identity = {
            "format": RUN_FORMAT,
            "trial": _trial_identity(self.trial),
            "config": f"{config_class.__module__}:{config_class.__qualname__}",
            "seed": self.seed,
            "base": base,
            "grid": _grid_identity(self._grid_values()),
            "data": plain(self.data),
        }
        return identity if schema == 1 else {**identity, "schema": schema}

    def _grid_values(self) -> dict[str, list[Any]] | list[dict[str, list[Any]]]:
        """The coerced values of each key, as the trials use them: a dict, or for sub-grids
        a list of dicts."""
        trials = self.trials  # expanded, so the grid is valid
        if isinstance(self.grid, Mapping):
            return _values_of(trials, self.grid)
        return [
            _values_of([t for t in trials if t.part == index], part)
            for index, part in enumerate(self.grid)
        ]


def _values_of(trials: Sequence[Trial], keys: Mapping[str, Any]) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {key: [] for key in keys}
    for trial in trials:
        for key, value in trial.settings.items():
            if value not in values[key]:
                values[key].append(value)
    return values


def _grid_identity(values: dict[str, list[Any]] | list[dict[str, list[Any]]]) -> list:
    """What the fingerprint hashes of the grid: (key, values) pairs in order; for sub-grids,
    a list of them per sub-grid (a single grid hashes as it always has)."""
    if isinstance(values, dict):
        return [[key, list(v)] for key, v in values.items()]
    return [_grid_identity(part) for part in values]


def _table(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise GridError(f"{key} must be a table; got {value!r}")
    return value


def _grid_table(data: Mapping[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
    """``[grid]`` as a table, or ``[[grid]]`` as a list of sub-grid tables."""
    value = data.get("grid", {})
    return value if isinstance(value, list) else _table(data, "grid")


def grid_spec_from_dict(data: Mapping[str, Any]) -> GridSpec:
    """Build a :class:`GridSpec` from a parsed grid file (see the module docstring)."""
    allowed = {"kind", "trial", "config", "seed", "select", "base", "grid", "data", "retrain"}
    unknown = sorted(set(data) - allowed - {"fingerprint", "schema", "earlier_fingerprints"})
    if unknown:
        raise GridError(
            f"unknown grid file key {unknown[0]}; valid keys: {', '.join(sorted(allowed))}"
        )
    kind = data.get("kind")
    if kind is not None:
        if not isinstance(kind, str) or kind not in TRIAL_KINDS:
            raise GridError(
                f"unknown trial kind {kind!r}; registered kinds: {', '.join(TRIAL_KINDS)}"
            )
        if "trial" in data or "config" in data:
            raise GridError("give either kind or trial and config, not both")
        entry = TRIAL_KINDS[kind]
    elif "trial" in data and "config" in data:
        moved = {k.identity: k.trial for k in TRIAL_KINDS.values()}
        trial = moved.get(str(data["trial"]), str(data["trial"]))
        entry = TrialKind(trial, str(data["config"]))
    else:
        raise GridError(
            f"a grid file needs kind (one of {', '.join(TRIAL_KINDS)}) or trial and config"
        )
    try:
        config_class = resolve_callable(entry.config)
    except ValueError as err:
        raise GridError(f"config class: {err}") from err
    if not dataclasses.is_dataclass(config_class):
        raise GridError(f"config {entry.config} is not a config dataclass")
    select = _table(data, "select")
    unknown = sorted(set(select) - {"metric", "mode"})
    if unknown:
        raise GridError(f"unknown key select.{unknown[0]}; valid keys: metric, mode")
    retrain = _table(data, "retrain") or None
    return GridSpec(
        trial=entry.trial,
        base=from_dict(config_class, _table(data, "base"), prefix="base."),
        grid=_grid_table(data),
        seed=data.get("seed", 0),
        select=Selection(
            select.get("metric", entry.select[0]), select.get("mode", entry.select[1])
        ),
        data=_table(data, "data"),
        retrain=retrain,
        kind=kind,
    )


def load_grid(path: str | Path) -> GridSpec:
    """Read a grid file (TOML) into a validated :class:`GridSpec`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    GridError
        For invalid TOML or any invalid setting (the key is named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"grid file not found: {path}")
    return grid_spec_from_dict(read_toml(path, GridError))
