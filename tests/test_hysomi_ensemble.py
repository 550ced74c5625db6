"""HySoMi ensembles: one compiled step for all members, the band, its coverage, the command."""

import dataclasses
import json

import numpy as np
import pytest

from soilsciml.cli import main
from soilsciml.data.io import save_dataset
from soilsciml.engines import jax_hysomi_train
from soilsciml.experiments.hysomi import QUICK as QUICK_EXPERIMENT
from soilsciml.hysomi_ensemble import fit_hysomi_ensemble
from soilsciml.models.hysomi import STATE_NAMES
from soilsciml.soc_ensemble import interval_coverage

QUICK = dataclasses.replace(QUICK_EXPERIMENT.train, epochs=3)


@pytest.fixture(scope="module")
def dataset(hysomi_quick_dataset):
    return hysomi_quick_dataset


@pytest.fixture(scope="module")
def ensemble(dataset):
    return fit_hysomi_ensemble(dataset, QUICK, members=3, progress=False)


def test_members_after_the_first_reuse_the_compiled_step(dataset, ensemble):
    before = sum(jax_hysomi_train.TRACES.values())
    other = dataclasses.replace(QUICK, seed=11, learning_rate=1e-3, epochs=2)
    fit_hysomi_ensemble(dataset, other, members=2, progress=False)
    assert sum(jax_hysomi_train.TRACES.values()) == before


def test_band_is_ordered_contains_the_mean_and_members_differ(ensemble):
    p = ensemble.predictions
    assert p.sizes["member"] == 3
    ok = (p["solve_status"] == 0).all("member").values
    lower, mean, upper = (p[f"states_{k}"].values[ok] for k in ("lower", "mean", "upper"))
    assert np.all(lower <= mean + 1e-12) and np.all(mean <= upper + 1e-12)
    assert np.all(p["params_lower"].values[ok] <= p["params_upper"].values[ok])
    spread = p["states_pred"].values[:, ok].std(0)
    assert spread[..., STATE_NAMES.index("B_A")].max() > 0  # seeds give different members


def test_coverage_counts_the_truth_inside_the_band_after_t0(ensemble):
    p, m = ensemble.predictions, ensemble.metrics()
    ok = (p["solve_status"] == 0).all("member").values
    j = STATE_NAMES.index("C_L")
    truth, lower, upper = (
        p[name].values[ok][:, 1:, j] for name in ("states_true", "states_lower", "states_upper")
    )
    manual = np.mean((truth >= lower) & (truth <= upper))
    assert m["coverage_c_l"] == pytest.approx(manual)
    assert interval_coverage(np.array([1.0, 5.0]), np.zeros(2), np.full(2, 2.0)) == 0.5
    assert 0.0 <= m["coverage_hidden"] <= 1.0 and m["width_hidden"] > 0


def test_ensemble_mean_is_no_worse_than_the_average_member(ensemble):
    # Jensen: the squared error of the mean is at most the mean of the squared errors
    # (same samples: every member solved every test sample here).
    m = ensemble.metrics()
    assert m["n_failed_any_member"] == 0
    assert m["mean_mse_hidden"] <= m["members_mse_hidden"] + 1e-12
    assert m["mean_mse_co2"] <= m["members_mse_co2"] + 1e-12


def test_ensemble_command_writes_members_band_and_metrics(dataset, tmp_path, capsys):
    data = save_dataset(dataset, tmp_path / "traits.nc")
    out = tmp_path / "ens"
    argv = ["hysomi", "ensemble", str(data), "--members", "2", "--epochs", "2", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["members"] == 2 and 0.0 <= metrics["coverage_hidden"] <= 1.0
    assert (out / "bands.png").stat().st_size > 0 and (out / "member_1" / "model.eqx").exists()
    assert "covers" in capsys.readouterr().out
    bad = ["hysomi", "ensemble", str(data), "--members", "1", "--out", str(tmp_path / "x")]
    assert main(bad) == 2
    assert not (tmp_path / "x").exists()
