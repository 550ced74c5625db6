"""HySoMi datasets: forward simulations and the synthetic trait dataset.

See [HySoMi science: the PBM][hysomi-pbm] and [the dataset][hysomi-dataset].

Arrays go to the engine; this module wraps its results into xarray Datasets with dims
``sample``, ``time`` (hours), ``state``, ``param`` and ``trait``, units and long names on every
variable and every setting in ``attrs``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import qmc
from tqdm.auto import tqdm

from soilsciml import __version__
from soilsciml.config import (
    ConfigError,
    HySoMiConstraintConfig,
    HySoMiGeneratorConfig,
    SolverConfig,
    from_dict,
    to_dict,
)
from soilsciml.engines import get_engine
from soilsciml.engines.base import PBMTrajectory
from soilsciml.hysomi.traits import random_trait_network, split_labels, traits_from_params
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as model

__all__ = [
    "constraint_pass_rates",
    "generate_hysomi",
    "params_from_records",
    "pbm_dataset",
    "simulate_hysomi",
]

#: Longest simulation horizon, h (ten years of hourly output times).
MAX_HORIZON_HOURS = 24.0 * 3650

#: Default solver for single simulations: tight enough to match scipy's Radau at 1e-5.
SIMULATION_SOLVER = SolverConfig(rtol=1e-8, atol=1e-10, max_steps=100_000)


def params_from_records(records: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Parameter sets (n, 13) from one mapping of the 13 named parameters or a list of them.

    Raises
    ------
    ParameterError
        Naming the parameter (and the set, for a list) that is missing, unknown, not a finite
        number or outside the box.
    """
    if isinstance(records, Mapping):
        return model.params_from_mapping(records)[None, :]
    if not isinstance(records, Sequence) or isinstance(records, str) or not records:
        raise model.ParameterError(
            "parameters must be an object of the 13 named parameters or a non-empty list of them"
        )
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise model.ParameterError(f"parameter set {i} is not an object of named parameters")
        try:
            rows.append(model.params_from_mapping(record))
        except model.ParameterError as err:
            raise model.ParameterError(f"parameter set {i}: {err}") from err
    return np.stack(rows)


def pbm_dataset(
    params: np.ndarray, trajectory: PBMTrajectory, attrs: Mapping[str, Any] | None = None
) -> xr.Dataset:
    """Wrap parameter sets (n, 13) and their pools into a Dataset (sample, time, state, param)."""
    n = params.shape[0]
    units = [p.unit for p in model.PARAMETERS]
    data = {
        "params": (
            ("sample", "param"),
            params,
            {"long_name": "biokinetic parameters", "units": "see param_units"},
        ),
        "states": (
            ("sample", "time", "state"),
            trajectory.states,
            {"long_name": "carbon pools", "units": "mg C/g"},
        ),
        "co2": (
            ("sample", "time"),
            trajectory.states[..., model.STATE_NAMES.index("CO2")],
            {"long_name": "cumulative respired carbon", "units": "mg C/g"},
        ),
        "solve_status": (
            ("sample",),
            trajectory.codes,
            {"long_name": "solver status (0 = success)", "units": "1"},
        ),
    }
    coords = {
        "sample": ("sample", np.arange(n), {"long_name": "sample index"}),
        "time": ("time", trajectory.times, {"long_name": "time since the pulse", "units": "h"}),
        "state": ("state", list(model.STATE_NAMES), {"long_name": "carbon pool"}),
        "param": ("param", list(model.PARAM_NAMES), {"long_name": "biokinetic parameter"}),
        "param_units": ("param", units, {"long_name": "parameter units"}),
        "param_lower": ("param", model.LOWER, {"long_name": "lower bound of the box"}),
        "param_upper": ("param", model.UPPER, {"long_name": "upper bound of the box"}),
    }
    return xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))


def simulate_hysomi(
    params: np.ndarray,
    solver: SolverConfig = SIMULATION_SOLVER,
    horizon: float = model.HORIZON_HOURS,
    engine: str = "jax",
) -> xr.Dataset:
    """Simulate the PBM for parameter sets (n, 13) from the documented initial pools, hourly.

    Failed solves are not raised: ``solve_status`` holds each sample's code.
    """
    if isinstance(horizon, bool) or not 0 < horizon <= MAX_HORIZON_HOURS:
        raise ConfigError(
            f"horizon (--hours) must be a number of hours > 0 and <= {MAX_HORIZON_HOURS:g} "
            f"(ten years of hourly output); got {horizon!r}"
        )
    params = np.atleast_2d(np.asarray(params, dtype=float))
    times = model.hourly_times(horizon)
    trajectory = get_engine(engine).simulate_pbm(params, model.INITIAL_STATE, times, solver)
    attrs = {
        "title": "HySoMi process-model simulation",
        "solver": solver.solver,
        "rtol": solver.rtol,
        "atol": solver.atol,
        "engine": engine,
        "n_failed": trajectory.status.n_failed,
        "soilsciml_version": __version__,
    }
    return pbm_dataset(params, trajectory, attrs)


def _constraints(config: HySoMiConstraintConfig) -> tuple[cons.Constraint, ...]:
    return cons.constraint_set(config.setting, config.factors())


def generate_hysomi(
    config: HySoMiGeneratorConfig | None = None, engine: str = "jax", progress: bool = True
) -> xr.Dataset:
    """The synthetic trait dataset: Latin hypercube, simulation, constraint filter, traits.

    Draws chunks of ``chunk_size`` Latin-hypercube parameter sets, simulates 7 days hourly,
    keeps those whose solve succeeded and that pass every hard constraint, until
    ``n_samples`` are kept; then maps them to traits with a random network and splits them.

    Returns
    -------
    xarray.Dataset
        ``params``, ``states``, ``co2``, ``traits`` (and ``traits_clean`` with trait noise),
        ``split``; attrs hold every setting, the draws, failures and the acceptance rate.

    Raises
    ------
    RuntimeError
        If ``max_draws`` draws keep fewer than ``n_samples``.
    """
    config = config or HySoMiGeneratorConfig()
    constraints = _constraints(config.constraints)
    times = model.hourly_times()
    sampler = qmc.LatinHypercube(d=len(model.PARAMETERS), seed=config.seed)
    pbm = get_engine(engine)
    kept_params, kept_states = [], []
    n_kept = n_draws = n_failed = n_accepted = 0
    with tqdm(total=config.n_samples, unit="sample", disable=not progress) as bar:
        while n_kept < config.n_samples:
            if n_draws >= config.max_draws:
                raise RuntimeError(
                    f"only {n_kept} of {config.n_samples} samples passed the constraints in "
                    f"{n_draws} draws; raise max_draws or relax the constraints"
                )
            params = qmc.scale(sampler.random(config.chunk_size), model.LOWER, model.UPPER)
            trajectory = pbm.simulate_pbm(params, model.INITIAL_STATE, times, config.solver)
            solved = trajectory.codes == 0
            passed = solved & cons.hard_check(constraints, trajectory.states, times, params).all(-1)
            take = np.flatnonzero(passed)[: config.n_samples - n_kept]
            kept_params.append(params[take])
            kept_states.append(trajectory.states[take])
            n_draws += config.chunk_size
            n_failed += int((~solved).sum())
            n_accepted += int(passed.sum())
            n_kept += take.size
            bar.update(take.size)
            bar.set_postfix(draws=n_draws, acceptance=f"{n_accepted / n_draws:.3f}")
    params = np.concatenate(kept_params)
    codes = np.zeros(config.n_samples, dtype=int)
    trajectory = PBMTrajectory(times, np.concatenate(kept_states), codes, codes)
    rng = np.random.default_rng(config.seed)
    layers = random_trait_network(
        config.n_traits, config.generator_depth, config.generator_width, rng
    )
    traits = traits_from_params(
        params, layers, config.generator_activation, config.trait_min, config.trait_max
    )
    split = split_labels(config.n_samples, rng)
    attrs = {
        "title": "synthetic HySoMi trait dataset",
        **_flat_settings(config),
        "constraint_labels": ", ".join(c.label for c in constraints),
        "constraint_factors": np.array([c.factor for c in constraints]),
        "n_draws": n_draws,
        "n_failed_solves": n_failed,
        "acceptance_rate": n_accepted / n_draws,
        "config": json.dumps(to_dict(config)),
        "engine": engine,
        "soilsciml_version": __version__,
    }
    ds = pbm_dataset(params, trajectory, attrs).drop_vars("solve_status")
    trait_attrs = {"long_name": "synthetic genomic traits", "units": "1"}
    if config.trait_noise > 0:
        ds["traits_clean"] = (("sample", "trait"), traits, trait_attrs)
        traits = traits + rng.normal(0.0, config.trait_noise, size=traits.shape)
    ds["traits"] = (("sample", "trait"), traits, trait_attrs)
    ds["split"] = (("sample",), split, {"long_name": "train / validation / test split"})
    return ds.assign_coords(trait=[f"trait_{i:02d}" for i in range(config.n_traits)])


def _flat_settings(config: Any) -> dict[str, Any]:
    """Every setting as one attribute, nested names joined by underscores."""
    out: dict[str, Any] = {}
    for key, value in to_dict(config).items():
        if isinstance(value, dict):
            out.update({f"{key}_{inner}": v for inner, v in value.items()})
        else:
            out[key] = value
    return out


def constraint_pass_rates(
    ds: xr.Dataset, config: HySoMiConstraintConfig | None = None
) -> dict[str, float]:
    """Per-constraint pass rate (fraction of samples) of a HySoMi dataset's trajectories.

    ``config`` defaults to the constraint settings stored in the dataset's ``config``
    attribute, else the synthetic set.
    """
    if config is None:
        stored = (
            json.loads(ds.attrs["config"]).get("constraints", {}) if "config" in ds.attrs else {}
        )
        config = from_dict(HySoMiConstraintConfig, stored)
    for name in ("params", "states"):
        if name not in ds:
            raise ValueError(f"variable '{name}' is missing; not a HySoMi dataset")
    constraints = _constraints(config)
    passed = cons.hard_check(
        constraints,
        ds["states"].transpose("sample", "time", "state").values,
        ds["time"].values,
        ds["params"].transpose("sample", "param").values,
    )
    rates = {c.label: float(passed[:, i].mean()) for i, c in enumerate(constraints)}
    rates["all"] = float(passed.all(axis=-1).mean())
    return rates
