"""soilsciml: hybrid scientific machine learning of soil carbon.

Lazy public API: ``import soilsciml`` loads neither JAX nor juliacall; each name below is
imported on first use.
"""

from soilsciml._lazy import lazy_namespace

__version__ = "0.1.0"

_LAZY = {
    "available_engines": "soilsciml.engines",
    "get_engine": "soilsciml.engines",
    "load_config": "soilsciml.config",
    "save_config": "soilsciml.config",
    "SOCSimulationConfig": "soilsciml.config",
    "NoiseConfig": "soilsciml.config",
    "SolverConfig": "soilsciml.config",
    "simulate_soc": "soilsciml.soc.simulate",
    "validate_soc_dataset": "soilsciml.data.schema",
    "load_dataset": "soilsciml.data.io",
    "save_dataset": "soilsciml.data.io",
    "add_noise": "soilsciml.noise",
    "GridSpec": "soilsciml.search",
    "load_grid": "soilsciml.search",
    "run_grid": "soilsciml.search",
    "HySoMiConstraintConfig": "soilsciml.config",
    "HySoMiGeneratorConfig": "soilsciml.config",
    "simulate_hysomi": "soilsciml.hysomi.data",
    "generate_hysomi": "soilsciml.hysomi.data",
    "constraint_pass_rates": "soilsciml.hysomi.data",
    "HySoMiCalibrationConfig": "soilsciml.config",
    "IncubationFormat": "soilsciml.config",
    "read_incubation": "soilsciml.hysomi.incubation",
    "calibrate_hysomi": "soilsciml.hysomi.calibrate",
    "write_calibration": "soilsciml.hysomi.calibrate",
    "distil_terms": "soilsciml.interpret",
    "distil_callables": "soilsciml.interpret",
    "distil_report": "soilsciml.interpret",
    "SOCFitConfig": "soilsciml.config",
    "fit_soc": "soilsciml.soc.fit",
    "load_soc_model": "soilsciml.soc.fit",
    "HySoMiTrainConfig": "soilsciml.config",
    "fit_hysomi": "soilsciml.hysomi.fit",
    "HySoMiFitResult": "soilsciml.hysomi.fit",
    "run_experiment": "soilsciml.hysomi.experiments",
    "fit_soc_ensemble": "soilsciml.soc.ensemble",
    "fit_hysomi_ensemble": "soilsciml.hysomi.ensemble",
    "smooth_in_depth": "soilsciml.soc.noise_aware",
    "simulate_soc_sites": "soilsciml.soc.simulate",
    "distil_soc_model": "soilsciml.soc.distil",
}

__all__ = ["__version__", *_LAZY]


__getattr__, __dir__ = lazy_namespace(__name__, _LAZY, globals())
