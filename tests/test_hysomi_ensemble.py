"""HySoMi ensembles: one compiled step for all members, the band, its coverage, the command."""

import dataclasses
import json

import numpy as np
import pytest

from soilsciml.cli import main
from soilsciml.data.io import save_dataset
from soilsciml.engines.jax import hysomi_train as jax_hysomi_train
from soilsciml.hysomi.ensemble import Z, band_scale, ensemble_predictions, fit_hysomi_ensemble
from soilsciml.hysomi.experiments import QUICK as QUICK_EXPERIMENT
from soilsciml.hysomi.fit import predict_split
from soilsciml.metrics import interval_coverage
from soilsciml.models.hysomi import STATE_NAMES

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
    # rerun with one more member: the two saved members are loaded, only member 2 trains
    stamps = [(out / f"member_{k}" / "model.eqx").stat().st_mtime_ns for k in range(2)]
    assert main([*argv[:4], "3", *argv[5:], "--quiet"]) == 0
    assert [(out / f"member_{k}" / "model.eqx").stat().st_mtime_ns for k in range(2)] == stamps
    assert json.loads((out / "metrics.json").read_text())["members"] == 3
    # other settings refuse to mix with the saved members
    assert main([*argv, "--width", "8", "--quiet"]) == 2
    bad = ["hysomi", "ensemble", str(data), "--members", "1", "--out", str(tmp_path / "x")]
    assert main(bad) == 2
    assert not (tmp_path / "x").exists()


def test_calibrated_band_covers_90_percent_of_the_validation_co2(dataset, ensemble):
    scale = band_scale(ensemble.members, dataset, "validation")
    assert scale == pytest.approx(ensemble.predictions.attrs["band_scale"])
    co2 = STATE_NAMES.index("CO2")
    pred = np.stack(
        [
            predict_split(m, dataset, "validation")["states_pred"].values[:, 1:, co2]
            for m in ensemble.members
        ]
    )
    truth = predict_split(ensemble.members[0], dataset, "validation")["states_true"].values
    half = scale * Z * pred.std(0)
    inside = np.abs(truth[:, 1:, co2] - pred.mean(0)) <= half * (1 + 1e-9)
    assert inside.mean() >= 0.9
    # a wider factor widens every band around the same mean (upper side: pools are unbounded
    # above); the lower side stops at zero
    wide = ensemble_predictions(ensemble.members, 2 * scale)
    p = ensemble.predictions
    assert float(wide["states_lower_calibrated"].min()) >= 0.0
    np.testing.assert_allclose(
        wide["states_upper_calibrated"] - wide["states_mean"],
        2 * (p["states_upper_calibrated"] - p["states_mean"]),
        rtol=1e-6,  # differences of nearby numbers: round-off of the mean
        atol=1e-12,
    )
