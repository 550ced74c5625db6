"""Config schema of grid fingerprints: new defaulted settings keep run directories valid."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tomllib
from pathlib import Path

import pytest
from grid_toy import toy_trial

from soilsciml.search import GridSpec, ResumeError, run_grid
from soilsciml.search.grid import changed_settings
from soilsciml.search.runner import _job
from soilsciml.search.store import RunDirectory
from soilsciml.soc.cases import CASES, case_grid

FIXTURES = Path(__file__).parent / "fixtures"


def toy_class(*extra: tuple[str, type, object]) -> type:
    """A toy config class ``Toy`` of this module; ``extra`` fields model a later version of it."""
    fields = [("h1", int, 32), ("learning_rate", float, 3e-3), *extra]
    spec = [(name, kind, dataclasses.field(default=value)) for name, kind, value in fields]
    cls = dataclasses.make_dataclass("Toy", spec, frozen=True)
    cls.__module__ = __name__
    return cls


def toy_grid(config, tmp_path: Path) -> GridSpec:
    return GridSpec(toy_trial, config, {"h1": [16, 32]}, data={"log": str(tmp_path / "log")})


def test_a_defaulted_new_field_keeps_the_fingerprint_a_changed_value_does_not(tmp_path):
    before, after = toy_class(), toy_class(("smoothing", float, 0.0))
    fingerprint = toy_grid(before(), tmp_path).fingerprint
    assert toy_grid(after(), tmp_path).fingerprint == fingerprint
    assert toy_grid(after(smoothing=0.5), tmp_path).fingerprint != fingerprint
    assert toy_grid(before(learning_rate=1e-3), tmp_path).fingerprint != fingerprint
    assert changed_settings(after(smoothing=0.5)) == {"smoothing": 0.5}


def test_nested_settings_are_compared_with_the_field_default():
    config = CASES[4].fit_config()
    changed = changed_settings(config)
    # Case 4 differs from SOCFitConfig() in its loss weights only
    assert changed == {"loss": {"lambda_coll": 1.0, "lambda_wd": 1e-4}}
    assert changed_settings(dataclasses.replace(config, loss=type(config.loss)())) == {}


def test_a_run_written_before_a_new_field_is_resumed_without_rerunning(tmp_path):
    before, after = toy_class(), toy_class(("smoothing", float, 0.0))
    first = run_grid(toy_grid(before(), tmp_path), tmp_path / "run", quiet=True)
    assert len(first.executed) == 2
    again = run_grid(toy_grid(after(), tmp_path), tmp_path / "run", quiet=True)
    assert again.executed == ()
    assert {n: r["metrics"] for n, r in again.records.items()} == {
        n: r["metrics"] for n, r in first.records.items()
    }
    # the new value of the new field is another grid
    with pytest.raises(ResumeError, match="different grid"):
        run_grid(toy_grid(after(smoothing=0.5), tmp_path), tmp_path / "run", quiet=True)


def copy_schema1_run(tmp_path: Path) -> Path:
    """The Case 4 run directory written under schema 1 (its metrics are made up)."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "schema1_case4", run)
    return run


def test_a_schema1_run_directory_is_recognised_and_its_trials_resumed(tmp_path):
    path = copy_schema1_run(tmp_path)
    recorded = tomllib.loads((path / "grid.toml").read_text())
    spec = case_grid(CASES[4], "/data/case4.nc")
    assert "schema" not in recorded and recorded["fingerprint"] != spec.fingerprint
    assert spec.recognises(recorded)
    with pytest.raises(ResumeError, match="different grid"):
        RunDirectory.open(path, spec.document())

    trial = spec.trials[0]
    stored = json.loads((path / "trials" / trial.name / "outcome.json").read_text())
    for _ in range(2):  # the second open reads the earlier fingerprint from grid.toml
        with RunDirectory.open(path, spec.document(), recognise=spec.recognises) as run:
            assert run.earlier_fingerprints == (recorded["fingerprint"],)
            job = _job(spec, run, trial, trial.name, "grid", trial.config)
            assert run.load(job.identity(), upgrade=job.upgrade) == stored
    rewritten = tomllib.loads((path / "grid.toml").read_text())
    assert rewritten["fingerprint"] == spec.fingerprint and rewritten["schema"] == 2

    # another grid (other data) is not recognised by the schema-1 directory
    other = case_grid(CASES[4], "/data/other.nc")
    assert not other.recognises(recorded)


def test_an_edited_schema1_grid_file_is_not_recognised(tmp_path):
    path = copy_schema1_run(tmp_path)
    recorded = tomllib.loads((path / "grid.toml").read_text())
    recorded["base"]["train"]["adam_iters"] = 100  # content no longer matches its fingerprint
    spec = case_grid(CASES[4], "/data/case4.nc")
    assert not spec.recognises(recorded)
    recorded["base"]["train"]["adam_iters"] = 200
    assert spec.recognises(recorded)
