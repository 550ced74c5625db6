"""The SOC depth-profile UDE: simulation, fit, ensembles, noise-aware options, distillation.

Public names are imported on first use (``import soilsciml.soc`` loads no JAX):

- :func:`simulate_soc`, :func:`simulate_soc_sites` (``soc.simulate``): reference-truth data;
- :func:`fit_soc`, :func:`load_soc_model`, :class:`SOCFitResult` (``soc.fit``): the UDE fit;
- :func:`fit_soc_ensemble` (``soc.ensemble``), :func:`smooth_in_depth` (``soc.noise_aware``);
- :func:`distil_soc_model` (``soc.distil``): symbolic forms of the learnt terms;
- :func:`run_case` (``soc.cases``): the paper's six cases; :func:`run_demo` (``soc.demo``);
- :func:`read_profiles` (``soc.profiles``), :func:`fit_soc_steady` (``soc.steady``),
  :func:`synthetic_profiles` (``soc.profile_synthetic``): measured soil profiles.
"""

from soilsciml._lazy import lazy_namespace

_NAMES = {
    "simulate_soc": "soilsciml.soc.simulate",
    "simulate_soc_sites": "soilsciml.soc.simulate",
    "fit_soc": "soilsciml.soc.fit",
    "load_soc_model": "soilsciml.soc.fit",
    "SOCFitResult": "soilsciml.soc.fit",
    "fit_soc_ensemble": "soilsciml.soc.ensemble",
    "smooth_in_depth": "soilsciml.soc.noise_aware",
    "distil_soc_model": "soilsciml.soc.distil",
    "run_case": "soilsciml.soc.cases",
    "run_demo": "soilsciml.soc.demo",
    "read_profiles": "soilsciml.soc.profiles",
    "fit_soc_steady": "soilsciml.soc.steady",
    "synthetic_profiles": "soilsciml.soc.profile_synthetic",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_namespace(__name__, _NAMES, globals())
