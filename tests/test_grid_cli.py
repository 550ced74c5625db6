"""``soilsciml grid``: end to end with the SOC simulation kind, errors, and resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from soilsciml.cli import main
from soilsciml.search import load_grid, run_grid

TESTS = Path(__file__).parent

TOY_GRID = """
trial = "grid_toy:toy_trial"
config = "grid_toy:ToyConfig"
seed = 3
select = {{metric = "loss", mode = "min"}}

[base]
sleep = {sleep}

[grid]
"network.h1" = [32, 64]
"network.h2" = [16, 32]
activation = ["tanh", "gelu"]
learning_rate = [0.003, 0.005]

[data]
log = "{log}"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_soc_simulate_grid_end_to_end(tmp_path, capsys):
    grid = write(
        tmp_path / "boundaries.toml",
        """
kind = "soc_simulate"
[base]
truth = "transport_only"
years = 5.0
grid = {nz = 12}
[grid]
"transport.boundary" = ["mirror", "zero_flux"]
"transport.advection" = [0.001, 0.01]
""",
    )
    assert main(["grid", str(grid), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "4 run now" in capsys.readouterr().out
    ds = xr.load_dataset(tmp_path / "run/results.nc")
    assert ds.sizes == {"trial": 4} and set(ds["status"].values) == {"ok"}
    boundary, change = ds["transport.boundary"].values, ds["carbon_change"].values
    # Zero-flux transport conserves total carbon to round-off; the mirror boundary does not.
    assert np.abs(change[boundary == "zero_flux"]).max() < 1e-9
    assert change[boundary == "mirror"].min() > 1e-3
    assert (tmp_path / "run/trials/boundary-zero_flux_advection-0.01/soc.nc").exists()
    # The same command again runs nothing.
    assert main(["grid", str(grid), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "0 run now, 4 already finished" in capsys.readouterr().out


def test_soc_simulate_reference_numbers_across_solvers(tmp_path):
    path = write(
        tmp_path / "solvers.toml",
        """
kind = "soc_simulate"
[grid]
"solver.solver" = ["tsit5", "dopri8"]
""",
    )
    run = run_grid(load_grid(path), tmp_path / "run", quiet=True)
    for record in run.records.values():
        # docs/science/soc-ude.md#soc-truth: terminal mean, variance, surface and bottom SOC
        assert record["metrics"]["soc_mean"] == pytest.approx(0.657, abs=5e-4)
        assert record["metrics"]["soc_variance"] == pytest.approx(0.205, abs=5e-4)
        assert record["metrics"]["soc_surface"] == pytest.approx(1.504, abs=5e-4)
        assert record["metrics"]["soc_bottom"] == pytest.approx(0.192, abs=5e-4)
    assert run.best["name"] == "solver-dopri8"  # fewer, higher-order steps


def test_grid_command_errors_are_one_line(tmp_path, capsys):
    toy = write(tmp_path / "toy.toml", TOY_GRID.format(sleep=0.0, log=tmp_path / "log"))
    assert main(["grid", str(toy), "--out", str(tmp_path / "r"), "--executor", "slurm"]) == 2
    assert "valid executors: inprocess, processes, dask" in capsys.readouterr().err
    unknown = write(tmp_path / "unknown.toml", 'kind = "soc_fly"\n')
    assert main(["grid", str(unknown), "--out", str(tmp_path / "r")]) == 2
    assert "registered kinds: soc_simulate" in capsys.readouterr().err
    bad = write(tmp_path / "bad.toml", 'kind = "soc_simulate"\n[grid]\n"grid.nz" = [30, 1]\n')
    assert main(["grid", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "grid.nz" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_changed_grid_file_needs_restart(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    toy = write(tmp_path / "toy.toml", TOY_GRID.format(sleep=0.0, log=tmp_path / "log"))
    assert main(["grid", str(toy), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    write(toy, TOY_GRID.format(sleep=0.0, log=tmp_path / "log").replace("[32, 64]", "[32, 128]"))
    assert main(["grid", str(toy), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "refusing to resume" in err and "--restart" in err
    assert main(["grid", str(toy), "--out", str(tmp_path / "run"), "--restart", "--quiet"]) == 0
    assert "16 run now" in capsys.readouterr().out
    # the run's own grid.toml is a valid grid file that resumes the same run
    resumed = ["grid", str(tmp_path / "run/grid.toml"), "--out", str(tmp_path / "run"), "--quiet"]
    assert main(resumed) == 0
    assert "0 run now" in capsys.readouterr().out


def test_resume_after_sigkill_mid_grid(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    toy = write(tmp_path / "toy.toml", TOY_GRID.format(sleep=0.15, log=log))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent / "python")])}
    command = [sys.executable, "-m", "soilsciml", "grid", str(toy), "--out", str(tmp_path / "run")]
    trials = tmp_path / "run/trials"

    first = subprocess.Popen([*command, "--quiet"], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(trials.glob("*/outcome.json"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    finished = {p.parent.name for p in trials.glob("*/outcome.json")}
    assert 5 <= len(finished) < 16
    calls_before = len(log.read_text().splitlines())

    second = subprocess.run([*command, "--quiet"], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    rerun = [line.split()[0] for line in log.read_text().splitlines()[calls_before:]]
    assert not finished & set(rerun)
    assert len(rerun) == len(set(rerun)) == 16 - len(finished)

    monkeypatch.syspath_prepend(str(TESTS))
    spec = load_grid(toy)
    names = sorted(t.name for t in spec.trials)
    assert sorted(p.parent.name for p in trials.glob("*/outcome.json")) == names
    assert sorted(p.name for p in trials.iterdir()) == names
    resumed = xr.load_dataset(tmp_path / "run/results.nc")
    assert sorted(resumed["trial"].values) == names and set(resumed["status"].values) == {"ok"}

    run_grid(spec, tmp_path / "whole", quiet=True)
    whole = xr.load_dataset(tmp_path / "whole/results.nc")
    assert whole.attrs["best_trial"] == resumed.attrs["best_trial"]
    assert resumed.attrs["best_trial"] == "h1-32_h2-16_act-gelu_lr-0.003"
    np.testing.assert_array_equal(whole["loss"].values, resumed["loss"].values)
