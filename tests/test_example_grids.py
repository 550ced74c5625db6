"""The grid files shipped in examples/grids load, and say what they claim."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from soilsciml.search.spec import Selection, load_grid
from soilsciml.soc.cases import CASES, case_grid

GRIDS = Path(__file__).parents[1] / "examples" / "grids"


def test_case3_sweep_is_144_trials_of_case3_holding_the_papers_best_point():
    sweep = load_grid(GRIDS / "case3_sweep.toml")
    assert len(sweep.trials) == 144
    assert sweep.base == CASES[3].fit_config()
    case = case_grid(CASES[3], "data.nc")
    assert (sweep.retrain, sweep.kind) == (case.retrain, case.kind)
    # The loss weights vary, so the data misfit, not the weighted final loss, selects.
    assert sweep.select == Selection("mse_noisy", "min")
    best = _summary_module().PAPER_POINT  # the paper's reported best point
    assert sum(trial.settings == best for trial in sweep.trials) == 1


def _summary_module():
    spec = importlib.util.spec_from_file_location("summary", GRIDS / "case3_sweep_summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_case3_sweep_summary_names_each_criterions_trial_and_the_papers_point():
    summary = _summary_module()
    paper = summary.PAPER_POINT
    other = {**paper, "network.activation": "gelu", "loss.lambda_coll": 1.0}
    rows = [
        # (settings, mse_noisy, r2_clean, final_loss)
        (paper, 0.013, 0.68, 0.10),
        (other, 0.017, 0.84, 0.03),
        ({**other, "train.lr": 5e-3}, 0.009, 0.61, 0.11),
        ({**other, "train.lr": 3e-3}, 0.020, 0.70, 0.02),
    ]
    table = pd.DataFrame(
        [
            {
                "trial": f"t{i}",
                "status": "ok",
                **s,
                "mse_noisy": m,
                "r2_noisy": 0.9,
                "mse_clean": 0.02,
                "r2_clean": r2,
                "final_loss": f,
                "wall_time_s": 60.0,
                "max_weight": 0.01 if r2 > 0.8 else 0.3,
                "r2_clean_trajectory": 0.7 if r2 > 0.8 else -5.0 + i,
            }
            for i, (s, m, r2, f) in enumerate(rows)
        ]
        + [{"trial": "failed", "status": "failed", **paper, "r2_clean": 0.99}]
    )
    lines = summary.summary(table).splitlines()
    assert lines[0].startswith("5 trials saved, 4 ok")
    by_label = {line.split(" | ")[0].strip("| "): line for line in lines if " | " in line}
    assert "0.6100 |" in by_label["selected (smallest mse_noisy)"]
    assert "0.7000 |" in by_label["smallest final loss"]
    assert "0.8400 |" in by_label["largest r2_clean (oracle)"]
    assert "0.6800 |" in by_label["the paper's best point"]
    assert any("trials at or above 0.938: 0" in line for line in lines)
    assert lines[-1] == (
        "Trials with both networks switched off (max_weight < 0.05): 1, r2_clean 0.8400 - "
        "0.8400, max_weight 0.01 - 0.01, r2_clean_trajectory 0.7000 - 0.7000; largest "
        "r2_clean of the others: 0.7000, others with r2_clean_trajectory > 0: 0 of 3 "
        "(largest -2)."
    )


def test_max_weight_reads_the_networks_weights(tmp_path):
    summary = _summary_module()
    np.savez(tmp_path / "weights.npz", **{"P.W1": [[0.2, -0.7]], "R.W2": [[0.1]], "P.b1": [9.0]})
    assert summary.max_weight(tmp_path) == 0.7  # biases are not weights
    assert np.isnan(summary.max_weight(tmp_path / "missing"))
