"""soilsciml: hybrid scientific machine learning of soil carbon.

Lazy public API: ``import soilsciml`` loads neither JAX nor juliacall; each name below is
imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "available_engines": "soilsciml.engines",
    "get_engine": "soilsciml.engines",
    "load_config": "soilsciml.config",
    "save_config": "soilsciml.config",
    "SOCSimulationConfig": "soilsciml.config",
    "NoiseConfig": "soilsciml.config",
    "SolverConfig": "soilsciml.config",
    "simulate_soc": "soilsciml.data.synthetic",
    "validate_soc_dataset": "soilsciml.data.schema",
    "load_dataset": "soilsciml.data.io",
    "save_dataset": "soilsciml.data.io",
    "add_noise": "soilsciml.noise",
    "GridSpec": "soilsciml.search",
    "load_grid": "soilsciml.search",
    "run_grid": "soilsciml.search",
    "HySoMiConstraintConfig": "soilsciml.config",
    "HySoMiGeneratorConfig": "soilsciml.config",
    "simulate_hysomi": "soilsciml.data.hysomi",
    "generate_hysomi": "soilsciml.data.hysomi",
    "constraint_pass_rates": "soilsciml.data.hysomi",
    "HySoMiCalibrationConfig": "soilsciml.config",
    "IncubationFormat": "soilsciml.config",
    "read_incubation": "soilsciml.data.incubation",
    "calibrate_hysomi": "soilsciml.calibrate",
    "write_calibration": "soilsciml.calibrate",
    "distil_terms": "soilsciml.interpret",
    "distil_callables": "soilsciml.interpret",
    "distil_report": "soilsciml.interpret",
    "SOCFitConfig": "soilsciml.config",
    "fit_soc": "soilsciml.soc_fit",
    "load_soc_model": "soilsciml.soc_fit",
    "HySoMiTrainConfig": "soilsciml.config",
    "fit_hysomi": "soilsciml.experiments.hysomi_fit",
    "HySoMiFitResult": "soilsciml.experiments.hysomi_fit",
    "run_experiment": "soilsciml.experiments.hysomi",
    "fit_soc_ensemble": "soilsciml.soc_ensemble",
    "fit_hysomi_ensemble": "soilsciml.hysomi_ensemble",
    "smooth_in_depth": "soilsciml.noise_aware",
    "simulate_soc_sites": "soilsciml.data.synthetic",
    "distil_soc_model": "soilsciml.soc_distil",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'soilsciml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
