"""Grid search machinery: expansion, naming, seeding, persistence, resume, executors, results."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from grid_toy import ToyConfig, toy_loss, toy_trial

from soilsciml.search import (
    CorruptOutcomeWarning,
    GridError,
    GridSpec,
    LostTrialWarning,
    ResumeError,
    Selection,
    expand_grid,
    make_executor,
    run_grid,
    trial_seed,
)
from soilsciml.search.grid import MAX_NAME_LENGTH
from soilsciml.search.spec import grid_spec_from_dict
from soilsciml.search.store import RunDirectory

TABLE_1 = {
    "network.h1": [32, 64],
    "network.h2": [16, 32],
    "activation": ["tanh", "gelu"],
    "learning_rate": [3e-3, 5e-3],
}
TESTS = Path(__file__).parent


def toy_spec(tmp_path: Path, grid=None, **kwargs) -> GridSpec:
    data = {"log": str(tmp_path / "calls.log")}
    return GridSpec(toy_trial, ToyConfig(), TABLE_1 if grid is None else grid, data=data, **kwargs)


def call_log(tmp_path: Path) -> list[tuple[str, int]]:
    """(trial name, process id) of every trial function call, in order."""
    log = tmp_path / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(name, int(pid)) for name, pid in (line.split() for line in lines)]


def calls(tmp_path: Path) -> list[str]:
    return [name for name, _ in call_log(tmp_path)]


def metrics(run) -> dict[str, dict[str, float]]:
    return {name: record["metrics"] for name, record in run.records.items()}


def test_expansion_order_names_and_seeds():
    trials = expand_grid(ToyConfig(), TABLE_1, seed=7)
    assert len(trials) == 16
    assert trials[0].name == "h1-32_h2-16_act-tanh_lr-0.003"
    assert trials[1].name == "h1-32_h2-16_act-tanh_lr-0.005"
    assert trials[-1].name == "h1-64_h2-32_act-gelu_lr-0.005"
    assert trials[5].settings == {
        "network.h1": 32,
        "network.h2": 32,
        "activation": "tanh",
        "learning_rate": 0.005,
    }
    assert trials[5].config.network.h2 == 32 and trials[5].config.learning_rate == 0.005
    assert [t.seed for t in trials] == [trial_seed(7, t.name) for t in trials]
    assert len({t.seed for t in trials}) == 16
    assert all(0 <= t.seed < 2**32 for t in trials)
    # Stable: a second expansion gives the same names and seeds; another base seed does not.
    again = expand_grid(ToyConfig(), TABLE_1, seed=7)
    assert [(t.name, t.seed) for t in again] == [(t.name, t.seed) for t in trials]
    assert trial_seed(8, trials[0].name) != trials[0].seed
    # Values are coerced to the field's type, so 1 and 1.0 name the same trial.
    assert expand_grid(ToyConfig(), {"learning_rate": [1]})[0].name == "lr-1.0"
    assert [t.name for t in expand_grid(ToyConfig(), {})] == ["base"]


def test_long_and_clashing_names_are_hashed_and_safe():
    long_label = "x" * 120
    trials = expand_grid(ToyConfig(), {"label": [long_label, "a/b c", "Run", "run"]})
    names = [t.name for t in trials]
    assert len(set(names)) == 4 and len({n.casefold() for n in names}) == 4
    assert all(len(n) <= MAX_NAME_LENGTH for n in names)
    assert names[1] == "label-a~b~c"
    # the long one and the two that clash on case-insensitive file systems end in a hash
    for name in (names[0], names[2], names[3]):
        assert len(name.rpartition("_")[2]) == 8
    assert names[2].startswith("label-Run_") and names[3].startswith("label-run_")
    # two keys with the same last part are labelled by their whole path
    shared = expand_grid(ToyConfig(), {"network.h1": [8], "label": ["h"]})
    assert shared[0].name == "h1-8_label-h"


def test_sub_grids_run_in_turn_and_round_trip_through_toml(tmp_path):
    # a deeper network only with the other activation: no single product says this
    parts = [
        {"activation": ["tanh", "gelu"]},
        {"activation": ["gelu"], "network.h1": [64, 128]},
    ]
    trials = expand_grid(ToyConfig(), parts, seed=3)
    assert [t.name for t in trials] == [
        "act-tanh",
        "act-gelu",
        "act-gelu_h1-64",
        "act-gelu_h1-128",
    ]
    assert [t.config.network.h1 for t in trials] == [32, 32, 64, 128]
    assert [t.seed for t in trials] == [trial_seed(3, t.name) for t in trials]

    spec = toy_spec(tmp_path, parts)
    document = spec.document()
    assert document["grid"] == [
        {"activation": ["tanh", "gelu"]},
        {"activation": ["gelu"], "network.h1": [64, 128]},
    ]
    # the file form ([[grid]] tables) reads back to the same grid, the same fingerprint
    text = tomli_w.dumps({**document, "trial": "grid_toy:toy_trial"})
    assert "[[grid]]" in text
    again = grid_spec_from_dict(tomllib.loads(text))
    assert again.fingerprint == spec.fingerprint
    assert [t.name for t in again.trials] == [t.name for t in trials]
    # a single grid keeps its fingerprint form; one sub-grid is another grid
    assert toy_spec(tmp_path, [parts[0]]).fingerprint != toy_spec(tmp_path, parts[0]).fingerprint
    assert toy_spec(tmp_path, parts[::-1]).fingerprint != spec.fingerprint

    run = run_grid(spec, tmp_path / "run", quiet=True)
    assert sorted(run.executed) == sorted(t.name for t in trials)
    assert run.best["name"] == "act-gelu"  # the toy loss is lowest at h1 = 32, gelu
    assert not run_grid(spec, tmp_path / "run", quiet=True).executed  # resumed: nothing rerun


@pytest.mark.parametrize(
    ("grid", "words"),
    [
        ([], ["non-empty list"]),
        ([{"activation": ["tanh"]}, 3], ["grid[1]", "table"]),
        ([{"activation": ["tanh"]}, {"network.h1": 32}], ["grid[1].network.h1", "list"]),
        ([{"activation": ["tanh"]}, {"network.h1": [0]}], ["grid[1]", "network.h1", ">= 1"]),
        ([{"activation": ["tanh"]}, {"activation": ["tanh"]}], ["appear twice", "trials 1 and 2"]),
    ],
)
def test_bad_sub_grids_fail_before_any_compute(tmp_path, grid, words):
    with pytest.raises(GridError) as err:
        toy_spec(tmp_path, grid)
    assert all(word in str(err.value) for word in words), str(err.value)
    assert calls(tmp_path) == []


@pytest.mark.parametrize(
    ("grid", "words"),
    [
        ({"network.h3": [1]}, ["network.h3", "unknown"]),
        ({"network.h1": [32, 0]}, ["network.h1", ">= 1"]),
        ({"activation": ["tanh", "relu"]}, ["activation", "relu"]),
        ({"learning_rate": ["fast"]}, ["learning_rate", "number"]),
        ({"network.h1": []}, ["network.h1", "empty"]),
        ({"network.h1": 32}, ["network.h1", "list"]),
        ({"network.h1": [32, 32]}, ["network.h1", "more than once"]),
    ],
)
def test_bad_grid_fails_before_any_compute(tmp_path, grid, words):
    with pytest.raises(GridError) as err:
        toy_spec(tmp_path, grid)
    assert all(word in str(err.value) for word in words), str(err.value)
    assert calls(tmp_path) == []


def test_bad_settings_fail_before_any_compute(tmp_path):
    with pytest.raises(GridError, match="not importable"):
        GridSpec(lambda config, context: {}, ToyConfig())
    with pytest.raises(GridError, match=r"retrain\.network\.h1"):
        toy_spec(tmp_path, retrain={"network.h1": -1})
    with pytest.raises(GridError, match="select.mode"):
        Selection("loss", "lowest")
    with pytest.raises(GridError, match="inprocess, processes, dask"):
        run_grid(toy_spec(tmp_path), tmp_path / "run", executor="slurm")
    with pytest.raises(GridError, match="only applies to executor 'dask'"):
        make_executor("processes", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(GridError, match="registered kinds: soc_simulate"):
        toy_spec(tmp_path, kind="soc_simulate")
    with pytest.raises(GridError, match="plain TOML data"):
        GridSpec(toy_trial, ToyConfig(), data={"path": tmp_path})
    assert not (tmp_path / "run").exists() and calls(tmp_path) == []


def test_run_writes_every_trial_and_selects_the_best(tmp_path):
    run = run_grid(toy_spec(tmp_path), tmp_path / "run", quiet=True)
    assert sorted(calls(tmp_path)) == sorted(t.name for t in run.spec.trials)
    assert run.best["name"] == "h1-32_h2-16_act-gelu_lr-0.003"
    for trial in run.spec.trials:
        record = json.loads((tmp_path / "run/trials" / trial.name / "outcome.json").read_text())
        draw = np.random.default_rng(trial.seed).random()
        assert record["metrics"]["loss"] == toy_loss(trial.config, draw)
        assert record["seed"] == trial.seed and record["settings"] == trial.settings
        assert (tmp_path / "run/trials" / trial.name / "draws.npy").exists()

    ds = xr.load_dataset(tmp_path / "run/results.nc")
    assert ds.sizes == {"trial": 16}
    assert list(ds["trial"].values) == [t.name for t in run.spec.trials]
    assert list(ds["network.h1"].values) == [t.settings["network.h1"] for t in run.spec.trials]
    assert ds.attrs["best_trial"] == run.best["name"]
    names = [t.name for t in run.spec.trials]
    assert int(np.argmin(ds["loss"].values)) == names.index(run.best["name"])
    np.testing.assert_array_equal(ds["loss"].values, run.dataset["loss"].values)

    rows = [
        line.split(" | ")
        for line in (tmp_path / "run/results.md").read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| rank")
    ]
    assert rows[0][1] == run.best["name"]
    losses = [run.records[row[1]]["metrics"]["loss"] for row in rows]
    assert losses == sorted(losses) and len(rows) == 16

    # Rerunning finds everything finished; selecting by max of r2 needs no trial either.
    by_r2 = toy_spec(tmp_path, select=Selection("r2", "max"))
    again = run_grid(by_r2, tmp_path / "run", quiet=True)
    assert again.executed == () and len(calls(tmp_path)) == 16
    assert again.best["name"] == run.best["name"]


def test_corrupted_partial_and_stale_outcomes_are_redone(tmp_path):
    spec = toy_spec(tmp_path)
    first = run_grid(spec, tmp_path / "run", quiet=True)
    names = [t.name for t in spec.trials]
    trials = tmp_path / "run/trials"
    truncated = trials / names[0] / "outcome.json"
    truncated.write_text(truncated.read_text()[:50])
    edited = trials / names[1] / "outcome.json"
    record = json.loads(edited.read_text())
    record["metrics"]["loss"] = -1.0
    edited.write_text(json.dumps(record))
    shutil.copy(trials / names[3] / "outcome.json", trials / names[2] / "outcome.json")
    (trials / names[4] / "outcome.json").unlink()
    (trials / names[5] / ".outcome.json.123.tmp").write_text("{")
    log_before = len(calls(tmp_path))

    with pytest.warns(CorruptOutcomeWarning) as caught:
        second = run_grid(spec, tmp_path / "run", quiet=True)
    messages = " ".join(str(w.message) for w in caught)
    assert "unreadable" in messages and "checksum" in messages and "name differs" in messages
    assert sorted(second.executed) == sorted([names[0], names[1], names[2], names[4]])
    assert calls(tmp_path)[log_before:] == list(second.executed)
    assert metrics(second) == metrics(first)
    assert not list(trials.glob("*/.*.tmp"))


def test_changed_grid_refuses_to_resume_unless_restarted(tmp_path):
    small = {"network.h1": [32, 64], "learning_rate": [3e-3]}
    run_grid(toy_spec(tmp_path, small), tmp_path / "run", quiet=True)
    changed = {"network.h1": [32, 128], "learning_rate": [3e-3]}
    with pytest.raises(ResumeError, match="--restart") as err:
        run_grid(toy_spec(tmp_path, changed), tmp_path / "run", quiet=True)
    assert "2 finished trial(s)" in str(err.value)
    assert len(calls(tmp_path)) == 2

    run = run_grid(toy_spec(tmp_path, changed), tmp_path / "run", restart=True, quiet=True)
    assert sorted(run.executed) == ["h1-128_lr-0.003", "h1-32_lr-0.003"]
    assert sorted(p.name for p in (tmp_path / "run/trials").iterdir()) == sorted(run.executed)

    # --restart with an unchanged grid starts over too (e.g. after editing the trial's code)
    again = run_grid(toy_spec(tmp_path, changed), tmp_path / "run", restart=True, quiet=True)
    assert sorted(again.executed) == sorted(run.executed)

    with RunDirectory.open(tmp_path / "other", run.spec.document()):
        with pytest.raises(ResumeError, match="in use"):
            RunDirectory.open(tmp_path / "other", run.spec.document())


def test_failing_trials_are_recorded_and_skipped_by_selection(tmp_path):
    spec = GridSpec(
        toy_trial,
        ToyConfig(fail_h1=32),
        TABLE_1,
        data={"log": str(tmp_path / "calls.log")},
    )
    run = run_grid(spec, tmp_path / "run", quiet=True)
    failed = {n for n, r in run.records.items() if r["status"] == "failed"}
    assert len(failed) == 8 and all(n.startswith("h1-32_") for n in failed)
    assert {run.records[n]["message"] for n in failed} == {"RuntimeError: toy failure"}
    assert run.best["name"] == "h1-64_h2-16_act-gelu_lr-0.003"
    assert list(run.dataset["status"].values).count("failed") == 8
    assert np.isnan(run.dataset["loss"].values[:8]).all()
    assert run_grid(spec, tmp_path / "run", quiet=True).executed == ()
    retried = run_grid(spec, tmp_path / "run", retry_failed=True, quiet=True)
    assert set(retried.executed) == failed


def bad_metric_trial(config, context):
    return {"status": 1.0} if config.network.h1 == 32 else {"loss": "low"}


def test_bad_metrics_fail_the_trial_not_the_grid(tmp_path):
    run = run_grid(GridSpec(bad_metric_trial, ToyConfig(), {"network.h1": [32, 64]}), tmp_path)
    messages = [run.records[name]["message"] for name in ("h1-32", "h1-64")]
    assert "ValueError: metric name 'status'" in messages[0]
    assert messages[1] == "TypeError: metric 'loss' must be a real number; got 'low'"
    assert run.best is None and list(run.dataset["status"].values) == ["failed", "failed"]


def test_best_is_retrained_with_overrides_once(tmp_path):
    spec = toy_spec(tmp_path, retrain={"tolerance": 1e-6})
    run = run_grid(spec, tmp_path / "run", quiet=True)
    best = run.best
    assert run.retrained["config"]["tolerance"] == 1e-6
    assert run.retrained["seed"] == best["seed"] and run.retrained["settings"] == best["settings"]
    assert run.retrained["metrics"]["loss"] == pytest.approx(
        best["metrics"]["loss"] - 1e-3 + 1e-6, abs=1e-15
    )
    assert calls(tmp_path).count("best") == 1
    assert (tmp_path / "run/best/draws.npy").exists()
    retrained_line = f"Best trial `{best['name']}` retrained (ok)"
    assert retrained_line in (tmp_path / "run/results.md").read_text()
    # Resuming keeps the retrain; another retrain setting redoes only the retrain.
    run_grid(spec, tmp_path / "run", quiet=True)
    assert calls(tmp_path).count("best") == 1
    unchanged = run_grid(
        toy_spec(tmp_path, retrain=lambda config: config), tmp_path / "run", quiet=True
    )
    assert unchanged.executed == () and calls(tmp_path).count("best") == 2
    assert unchanged.retrained["metrics"] == best["metrics"]


@pytest.fixture
def worker_path(monkeypatch):
    """Worker processes import the toy trial and this checkout's package."""
    package = str(TESTS.parent / "python")
    paths = [str(TESTS), package, os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_executors_give_the_same_metrics_as_in_process(tmp_path, worker_path, executor):
    grid = {"network.h1": [32, 64], "activation": ["tanh", "gelu"]}
    local = run_grid(toy_spec(tmp_path, grid), tmp_path / "inprocess", quiet=True)
    spread = run_grid(
        toy_spec(tmp_path, grid), tmp_path / executor, executor=executor, workers=2, quiet=True
    )
    assert len(spread.records) == 4 and not spread.lost
    assert metrics(spread) == metrics(local)
    assert spread.best["name"] == local.best["name"]
    workers = {pid for _, pid in call_log(tmp_path)[4:]}
    assert os.getpid() not in workers and 1 <= len(workers) <= 2


def test_trials_lost_with_a_dead_worker_are_not_saved_and_rerun(tmp_path, worker_path):
    data = {"log": str(tmp_path / "calls.log"), "crash_marker": str(tmp_path / "crashed")}
    grid = {"label": ["a", "b", "crash", "c"]}
    spec = GridSpec(toy_trial, ToyConfig(), grid, data=data, retrain={"tolerance": 1e-6})
    # One worker runs the trials in order: a and b finish, the worker dies in "crash", and
    # "c", queued behind it, is lost with it.
    with pytest.warns(LostTrialWarning):
        run = run_grid(spec, tmp_path / "run", executor="processes", workers=1, quiet=True)
    assert sorted(run.records) == ["label-a", "label-b"]
    assert sorted(run.lost) == ["label-c", "label-crash"]
    assert "BrokenProcessPool" in run.lost["label-crash"]
    saved = {p.parent.name for p in (tmp_path / "run/trials").glob("*/outcome.json")}
    assert saved == set(run.records)
    assert list(run.dataset["status"].values) == ["ok", "ok", "missing", "missing"]
    # a fresh pool runs the retrain of the best trial
    assert run.retrained is not None and run.retrained["status"] == "ok"
    again = run_grid(spec, tmp_path / "run", executor="processes", workers=1, quiet=True)
    assert sorted(again.executed) == ["label-c", "label-crash"] and not again.lost
    assert set(again.dataset["status"].values) == {"ok"}


def test_dask_executor_uses_an_existing_scheduler(tmp_path):
    from distributed import LocalCluster

    grid = {"network.h1": [32, 64]}
    local = run_grid(toy_spec(tmp_path, grid), tmp_path / "inprocess", quiet=True)
    with LocalCluster(
        n_workers=1, processes=False, protocol="tcp", dashboard_address=None, silence_logs=40
    ) as cluster:
        remote = run_grid(
            toy_spec(tmp_path, grid),
            tmp_path / "remote",
            executor="dask",
            scheduler=cluster.scheduler_address,
            quiet=True,
        )
        assert cluster.scheduler_address.startswith("tcp://")
    assert metrics(remote) == metrics(local) and len(remote.records) == 2
