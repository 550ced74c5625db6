"""The grid files shipped in examples/grids load, and say what they claim."""

from pathlib import Path

from soilsciml.search.spec import load_grid
from soilsciml.soc.cases import CASES, case_grid

GRIDS = Path(__file__).parents[1] / "examples" / "grids"


def test_case3_sweep_is_144_trials_of_case3_holding_the_papers_best_point():
    sweep = load_grid(GRIDS / "case3_sweep.toml")
    assert len(sweep.trials) == 144
    assert sweep.base == CASES[3].fit_config()
    case = case_grid(CASES[3], "data.nc")
    assert (sweep.select, sweep.retrain, sweep.kind) == (case.select, case.retrain, case.kind)
    best = {
        "network.h1": 32,
        "network.h2": 16,
        "network.activation": "tanh",
        "train.lr": 1e-3,
        "loss.lambda_coll": 5.0,
        "loss.lambda_term": 0.25,
    }
    assert sum(trial.settings == best for trial in sweep.trials) == 1
