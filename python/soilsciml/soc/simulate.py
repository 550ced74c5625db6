"""Synthetic SOC datasets from the paper's drivers and a truth generator.

See [SOC science: the model][soc-model], [drivers][soc-drivers] and [truth][soc-truth].
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr

from soilsciml import __version__
from soilsciml.config import ConfigError, SOCSimulationConfig
from soilsciml.data.schema import COORDS, SOC_VARIABLES
from soilsciml.engines import get_engine
from soilsciml.engines.base import SOCTruthProblem
from soilsciml.models import soc as model

#: Most sites one batched simulation may hold.
MAX_SITES = 100_000

__all__ = ["SITE_RANGES", "output_times", "simulate_soc", "simulate_soc_sites", "soc_dataset"]


def soc_dataset(
    times: np.ndarray,
    depth: np.ndarray,
    soc: np.ndarray,
    drivers: dict[str, np.ndarray],
    attrs: dict | None = None,
) -> xr.Dataset:
    """Wrap SOC and driver arrays into a dataset that follows the schema.

    Arrays are on (time, depth), or (site, time, depth) when ``soc`` is 3-D.
    """
    dims = ("site", "time", "depth") if np.ndim(soc) == 3 else ("time", "depth")
    data = {"soc": (dims, soc, SOC_VARIABLES["soc"].attrs())}
    for name in model.DRIVERS:
        data[name] = (
            dims,
            np.broadcast_to(drivers[name], np.shape(soc)),
            SOC_VARIABLES[name].attrs(),
        )
    coords = {
        "time": ("time", times, COORDS["time"].attrs()),
        "depth": ("depth", depth, {**COORDS["depth"].attrs(), "positive": "down"}),
    }
    return xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))


def output_times(config: SOCSimulationConfig) -> np.ndarray:
    """Output times in years: every ``output_step`` from 0, the horizon always included."""
    n_out = int(np.floor(config.years / config.output_step + 1e-9)) + 1
    times = np.arange(n_out) * config.output_step
    if times[-1] < config.years - 1e-9:
        times = np.append(times, config.years)
    return times


def _simulate(
    config: SOCSimulationConfig,
    engine: str,
    surface: np.ndarray | float,
    drivers: model.DriverCoefficients | tuple[model.DriverCoefficients, ...],
) -> xr.Dataset:
    depth = model.depth_grid(config.grid)
    times = output_times(config)
    surfaces = np.atleast_1d(surface)
    initial = np.stack(
        [model.initial_profile(depth, replace(config.initial, surface=float(s))) for s in surfaces]
    )
    many = isinstance(drivers, tuple)
    problem = SOCTruthProblem(
        depth=depth,
        times=times,
        initial=initial if many else initial[0],
        diffusion=config.transport.diffusion,
        advection=config.transport.advection,
        boundary=config.transport.boundary,
        truth=config.truth,
        solver=config.solver,
        drivers=drivers,
    )
    trajectory = get_engine(engine).simulate_soc_truth(problem)
    if not trajectory.status.ok:
        raise RuntimeError(f"truth simulation failed: {trajectory.status.message}")
    fields = [
        model.driver_fields(depth[None, :], times[:, None], coef)
        for coef in (drivers if many else (drivers,))
    ]
    arrays = {
        name: np.stack([f[k] for f in fields]) if many else fields[0][k]
        for k, name in enumerate(model.DRIVERS)
    }
    attrs = {
        "title": "synthetic SOC depth profiles",
        "truth": config.truth,
        "boundary": config.transport.boundary,
        "diffusion_m2_per_yr": config.transport.diffusion,
        "advection_m_per_yr": config.transport.advection,
        "nz": config.grid.nz,
        "years": config.years,
        "solver": config.solver.solver,
        "rtol": config.solver.rtol,
        "engine": engine,
        "solver_steps": trajectory.num_steps,
        "soilsciml_version": __version__,
    }
    return soc_dataset(times, depth, trajectory.soc, arrays, attrs)


def simulate_soc(config: SOCSimulationConfig | None = None, engine: str = "jax") -> xr.Dataset:
    """Simulate SOC profiles with the configured truth generator and the paper's drivers.

    Parameters
    ----------
    config : SOCSimulationConfig, optional
        Grid, transport, initial profile, truth generator, horizon and solver (defaults: the
        documented reference setting, Nz = 30, 50 years, yearly output).
    engine : str
        Compute engine name.

    Returns
    -------
    xarray.Dataset
        ``soc`` (%), ``ph``, ``cec`` (cmol(+)/kg) and ``clay`` (%) on (time, depth), the drivers
        sampled at the output times, and every setting in ``attrs``.
    """
    config = config or SOCSimulationConfig()
    return _simulate(config, engine, config.initial.surface, model.DriverCoefficients())


#: Ranges (low, high) of the per-site draws of :func:`simulate_soc_sites`.
SITE_RANGES = {
    "ph0": (5.5, 7.5),
    "cec0": (0.3, 0.8),
    "clay0": (15.0, 40.0),
    "surface": (0.8, 1.6),
}


def simulate_soc_sites(
    n_sites: int,
    config: SOCSimulationConfig | None = None,
    seed: int = 0,
    engine: str = "jax",
) -> xr.Dataset:
    """Simulate many sites whose drivers and initial profiles differ, in one batched solve.

    Each site draws its mean pH, CEC and clay (``ph0``, ``cec0``, ``clay0`` of
    :class:`~soilsciml.models.soc.DriverCoefficients`) and its surface SOC uniformly from
    :data:`SITE_RANGES`; the depth and time patterns of the drivers are the paper's.

    Returns
    -------
    xarray.Dataset
        Variables on (site, time, depth) plus the per-site draws as ``site_<name>`` on (site,).
    """
    if isinstance(n_sites, bool) or not isinstance(n_sites, int) or not 1 <= n_sites <= MAX_SITES:
        raise ConfigError(f"n_sites must be >= 1 and <= {MAX_SITES} (sites); got {n_sites!r}")
    config = config or SOCSimulationConfig()
    rng = np.random.default_rng(seed)
    draws = {name: rng.uniform(lo, hi, n_sites) for name, (lo, hi) in SITE_RANGES.items()}
    drivers = tuple(
        model.DriverCoefficients(ph0=p, cec0=c, clay0=k)
        for p, c, k in zip(draws["ph0"], draws["cec0"], draws["clay0"], strict=True)
    )
    ds = _simulate(config, engine, draws["surface"], drivers)
    units = {"ph0": "1", "cec0": "cmol(+)/kg", "clay0": "%", "surface": "%"}
    for name, values in draws.items():
        ds[f"site_{name}"] = ("site", values, {"units": units[name], "long_name": f"site {name}"})
    ds = ds.assign_coords(site=("site", np.arange(n_sites), {"long_name": "site index"}))
    ds.attrs.update(title="synthetic multi-site SOC depth profiles", site_seed=seed)
    return ds
