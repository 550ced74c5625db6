"""Synthetic SOC datasets from the paper's drivers and a truth generator (spec sections 1-3)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from soilsciml import __version__
from soilsciml.config import SOCSimulationConfig
from soilsciml.data.schema import COORDS, SOC_VARIABLES
from soilsciml.engines import get_engine
from soilsciml.engines.base import SOCTruthProblem
from soilsciml.models import soc as model

__all__ = ["simulate_soc", "soc_dataset"]


def soc_dataset(
    times: np.ndarray,
    depth: np.ndarray,
    soc: np.ndarray,
    drivers: dict[str, np.ndarray],
    attrs: dict | None = None,
) -> xr.Dataset:
    """Wrap SOC and driver arrays on (time, depth) into a dataset that follows the schema."""
    data = {"soc": (("time", "depth"), soc, SOC_VARIABLES["soc"].attrs())}
    for name in model.DRIVERS:
        data[name] = (("time", "depth"), drivers[name], SOC_VARIABLES[name].attrs())
    coords = {
        "time": ("time", times, COORDS["time"].attrs()),
        "depth": ("depth", depth, {**COORDS["depth"].attrs(), "positive": "down"}),
    }
    return xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))


def simulate_soc(config: SOCSimulationConfig | None = None, engine: str = "jax") -> xr.Dataset:
    """Simulate SOC profiles with the configured truth generator and the paper's drivers.

    Parameters
    ----------
    config : SOCSimulationConfig, optional
        Grid, transport, initial profile, truth generator, horizon and solver (defaults: the
        spec's reference setting, Nz = 30, 50 years, yearly output).
    engine : str
        Compute engine name.

    Returns
    -------
    xarray.Dataset
        ``soc`` (%), ``ph``, ``cec`` (cmol/kg) and ``clay`` (%) on (time, depth), the drivers
        sampled at the output times, and every setting in ``attrs``.
    """
    config = config or SOCSimulationConfig()
    depth = model.depth_grid(config.grid)
    n_out = int(np.floor(config.years / config.output_step + 1e-9)) + 1
    times = np.arange(n_out) * config.output_step
    if times[-1] < config.years - 1e-9:
        times = np.append(times, config.years)
    problem = SOCTruthProblem(
        depth=depth,
        times=times,
        initial=model.initial_profile(depth, config.initial),
        diffusion=config.transport.diffusion,
        advection=config.transport.advection,
        boundary=config.transport.boundary,
        truth=config.truth,
        solver=config.solver,
    )
    trajectory = get_engine(engine).simulate_soc_truth(problem)
    if not trajectory.status.ok:
        raise RuntimeError(f"truth simulation failed: {trajectory.status.message}")
    ph, cec, clay = model.driver_fields(depth[None, :], times[:, None])
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
    return soc_dataset(times, depth, trajectory.soc, {"ph": ph, "cec": cec, "clay": clay}, attrs)
