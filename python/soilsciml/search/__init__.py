"""Grid search over any config: expansion, executors, resumable per-trial persistence, results.

The pieces, each in its own module:

- :mod:`~soilsciml.search.grid`: a base config and a dict of dotted field -> values become named,
  seeded, validated trials.
- :mod:`~soilsciml.search.trial`: what a trial function receives and returns.
- :mod:`~soilsciml.search.spec`: a grid as one object, trial kinds, the TOML format.
- :mod:`~soilsciml.search.executors`: ``inprocess``, ``processes`` and ``dask``.
- :mod:`~soilsciml.search.store`: the run directory, atomic outcome files, resume and restart.
- :mod:`~soilsciml.search.results`: best trial, Dataset over ``trial``, Markdown table.
- :mod:`~soilsciml.search.runner`: :func:`run_grid`, which ties them together.
"""

from soilsciml.search.executors import EXECUTORS, make_executor
from soilsciml.search.grid import GridError, Trial, expand_grid, trial_name, trial_seed
from soilsciml.search.runner import GridRun, LostTrialWarning, finished_records, run_grid
from soilsciml.search.spec import TRIAL_KINDS, GridSpec, Selection, TrialKind, load_grid
from soilsciml.search.store import CorruptOutcomeWarning, ResumeError
from soilsciml.search.trial import TrialContext, TrialOutcome

__all__ = [
    "EXECUTORS",
    "TRIAL_KINDS",
    "CorruptOutcomeWarning",
    "GridError",
    "GridRun",
    "GridSpec",
    "LostTrialWarning",
    "ResumeError",
    "Selection",
    "Trial",
    "TrialContext",
    "TrialKind",
    "TrialOutcome",
    "expand_grid",
    "finished_records",
    "load_grid",
    "make_executor",
    "run_grid",
    "trial_name",
    "trial_seed",
]
