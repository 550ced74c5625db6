"""SOC trial functions for grid searches (``soilsciml grid``, trial kinds in
:data:`soilsciml.search.TRIAL_KINDS`)."""

from __future__ import annotations

import numpy as np

from soilsciml.config import SOCSimulationConfig
from soilsciml.search.trial import TrialContext

__all__ = ["simulate_trial"]


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
        ``solver_steps``, the accepted steps of the adaptive solver.
    """
    from soilsciml.data.io import save_dataset
    from soilsciml.data.synthetic import simulate_soc
    from soilsciml.models.soc import total_carbon

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
