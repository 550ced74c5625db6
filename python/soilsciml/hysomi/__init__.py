"""HySoMi: the six-pool microbial model, trait data, training, ensembles, calibration.

Public names are imported on first use (``import soilsciml.hysomi`` loads no JAX):

- :func:`simulate_hysomi`, :func:`generate_hysomi`, :func:`constraint_pass_rates`
  (``hysomi.data``): the synthetic trait dataset;
- :func:`fit_hysomi`, :class:`HySoMiFitResult` (``hysomi.fit``): trait-to-parameter training;
- :func:`fit_hysomi_ensemble` (``hysomi.ensemble``); :func:`run_experiment`
  (``hysomi.experiments``): the paper's experiments;
- :func:`read_incubation` (``hysomi.incubation``), :func:`calibrate_hysomi`,
  :func:`write_calibration` (``hysomi.calibrate``): calibration to incubation series.
"""

from soilsciml._lazy import lazy_namespace

_NAMES = {
    "simulate_hysomi": "soilsciml.hysomi.data",
    "generate_hysomi": "soilsciml.hysomi.data",
    "constraint_pass_rates": "soilsciml.hysomi.data",
    "fit_hysomi": "soilsciml.hysomi.fit",
    "HySoMiFitResult": "soilsciml.hysomi.fit",
    "fit_hysomi_ensemble": "soilsciml.hysomi.ensemble",
    "run_experiment": "soilsciml.hysomi.experiments",
    "read_incubation": "soilsciml.hysomi.incubation",
    "calibrate_hysomi": "soilsciml.hysomi.calibrate",
    "write_calibration": "soilsciml.hysomi.calibrate",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_namespace(__name__, _NAMES, globals())
