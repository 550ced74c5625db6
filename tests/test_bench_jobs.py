"""The whole-job harness (``benchmarks/jobs.py``) counts every fit's iterations of a job.

The torch peer's time for a job is estimated from those counts, so a grid whose trials were
left out would be estimated too low. No compute: the runs' files are written by hand.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import jobs


def _outcome(folder: Path, adam: int, bfgs: int) -> None:
    folder.mkdir(parents=True)
    metrics = {"iterations_adam": float(adam), "iterations_bfgs": float(bfgs), "r2_clean": 0.9}
    (folder / "outcome.json").write_text(json.dumps({"metrics": metrics}))


def test_a_grid_counts_its_trials_and_its_retrain_once(tmp_path):
    grid = tmp_path / "grid"
    _outcome(grid / "trials" / "a", 200, 136)
    _outcome(grid / "trials" / "b", 200, 400)
    _outcome(grid / "best", 200, 233)
    # the retrain's run folder also holds metrics.json: it must not be counted twice
    (grid / "best" / "metrics.json").write_text(json.dumps({"iterations": {"adam": 200}}))
    assert jobs._iterations(tmp_path, "grid", steps=30) == 200 * 3 + 136 + 400 + 233


def test_a_single_fit_counts_its_metrics(tmp_path):
    fit = tmp_path / "fit"
    fit.mkdir()
    (fit / "metrics.json").write_text(json.dumps({"iterations": {"adam": 200, "bfgs": 233}}))
    assert jobs._iterations(tmp_path, "fit", steps=30) == 433
    assert jobs._iterations(tmp_path, "reduced_peer", steps=30) == 30


def test_the_warm_run_starts_empty_and_the_cold_run_is_kept(tmp_path):
    cold = tmp_path / "cases"
    cold.mkdir()
    (cold / "summary.md").write_text("cold")
    jobs._keep_earlier_run(tmp_path, "cases")
    assert not cold.exists()
    assert (tmp_path / "cases-earlier" / "summary.md").read_text() == "cold"
    jobs._keep_earlier_run(tmp_path, "cases")  # nothing to move: the kept run stays
    assert (tmp_path / "cases-earlier" / "summary.md").read_text() == "cold"
