"""The paper's six SOC cases as recipes: the case table, the data, a quick run end to end."""

import json

import numpy as np
import pytest

from soilsciml.cli import main
from soilsciml.soc.cases import (
    CASES,
    PAPER_RESULTS,
    case_grid,
    run_case,
    run_cases,
    simulate_case_data,
)

# Typed from the paper (Tables 2-7: loss weights and Adam + BFGS iterations; Table 8 and
# section 4.2: reported results) and docs/science/soc-ude.md#soc-cases (target time, noise).
PAPER_TABLES = {
    # case: (target, noise, lambda_term, lambda_coll, lambda_wd, adam, bfgs)
    1: ("initial", 0.0, 1.0, 1.0, 1e-4, 200, 400),
    2: ("initial", 0.07, 1.5, 1.0, 1e-3, 200, 400),
    3: ("initial", 0.35, 1.0, 1.0, 1e-3, 200, 400),
    4: ("terminal", 0.0, 1.0, 1.0, 1e-4, 200, 400),
    5: ("terminal", 0.07, 1.5, 1.0, 1e-3, 200, 400),
    6: ("terminal", 0.35, 2.0, 1.0, 1e-4, 400, 800),
}


@pytest.mark.parametrize("number", sorted(PAPER_TABLES))
def test_case_table_matches_the_papers_tables(number):
    target, noise, term, coll, wd, adam, bfgs = PAPER_TABLES[number]
    case = CASES[number]
    config = case.fit_config()
    assert (config.loss.target, case.noise_level) == (target, noise)
    assert (config.loss.lambda_term, config.loss.lambda_coll, config.loss.lambda_wd) == (
        term,
        coll,
        wd,
    )
    assert (config.train.adam_iters, config.train.second_stage, config.train.second_iters) == (
        adam,
        "bfgs",
        bfgs,
    )
    noise_config = case.noise()
    if noise == 0:
        assert noise_config is None
    else:
        assert (noise_config.level, noise_config.kind, noise_config.rho) == (noise, "ar1", 0.8)
        assert set(noise_config.variables) == {"soc", "ph", "cec", "clay"}


def test_reference_numbers_are_the_papers_table8():
    assert PAPER_RESULTS[3]["r2_clean"] == 0.938 and PAPER_RESULTS[3]["r2_noisy"] == 0.99996
    assert PAPER_RESULTS[4]["mse_noisy"] == 1.6e-5 and PAPER_RESULTS[4]["r2_noisy"] == 0.9999
    assert PAPER_RESULTS[5]["mse_noisy"] == 3.39e-6 and PAPER_RESULTS[5]["r2_noisy"] == 0.99998
    six = PAPER_RESULTS[6]
    assert (six["mse_noisy"], six["mse_clean"]) == (0.694, 0.192)
    assert (six["r2_noisy"], six["r2_clean"]) == (-0.017, -0.033)


def test_full_grid_is_table1_with_tight_retrain(tmp_path):
    spec = case_grid(CASES[6], tmp_path / "data.nc")
    assert len(spec.trials) == 16
    shapes = {(t.config.network.h1, t.config.network.h2) for t in spec.trials}
    assert shapes == {(32, 16), (32, 32), (64, 16), (64, 32)}
    assert {t.config.network.activation for t in spec.trials} == {"tanh", "gelu"}
    assert {t.config.train.lr for t in spec.trials} == {3e-3, 5e-3}
    assert len({t.name for t in spec.trials}) == len({t.seed for t in spec.trials}) == 16
    assert "h1-64_h2-32_act-tanh_lr-0.003" in {t.name for t in spec.trials}
    assert (spec.kind, spec.select.metric, spec.select.mode) == ("soc_fit", "final_loss", "min")
    best = spec.retrain_config(spec.trials[0].config)
    assert (best.solver.rtol, best.solver.atol) == (1e-6, 1e-6)
    assert best.train.second_iters == 800 and best.loss.lambda_term == 2.0


def test_case_data_carry_the_specified_noise_and_the_clean_truth():
    clean = simulate_case_data(CASES[4])
    assert "noise_level" not in clean.attrs and "soc_clean" not in clean
    noisy = simulate_case_data(CASES[3])
    assert (noisy.attrs["noise_level"], noisy.attrs["noise_kind"]) == (0.35, "ar1")
    assert noisy.attrs["noise_rho"] == 0.8
    np.testing.assert_array_equal(noisy["soc_clean"].values, clean["soc"].values)
    relative = (noisy["soc"] / noisy["soc_clean"] - 1.0).values
    assert 0.3 < relative.std() < 0.4  # 35 % multiplicative noise
    # AR-1 along depth: neighbouring depths correlate with rho = 0.8.
    lag1 = np.corrcoef(relative[:, :-1].ravel(), relative[:, 1:].ravel())[0, 1]
    assert 0.7 < lag1 < 0.9


def test_unknown_case_fails_before_any_compute(tmp_path):
    with pytest.raises(ValueError, match="case must be one of"):
        run_case(7, tmp_path / "case7")
    assert not (tmp_path / "case7").exists()
    with pytest.raises(ValueError, match="case must be one of"):
        run_cases(tmp_path, numbers=(0,))
    with pytest.raises(SystemExit):
        main(["soc", "case", "7", "--out", str(tmp_path / "x")])


@pytest.mark.slow
def test_quick_cases_end_to_end_summary_and_resume(tmp_path, capsys):
    """Quick Cases 1 and 4 (2 trials each, 60 + 60 iterations): run directories, summary
    table, Case 4 accuracy against the truth, and a resume that runs nothing again."""
    runs = run_cases(tmp_path, numbers=(1, 4), quick=True, quiet=True)
    for number in (1, 4):
        case_dir = tmp_path / f"case{number}"
        for name in ("data.nc", "drivers.png", "grid.toml", "results.nc", "results.md", "case.md"):
            assert (case_dir / name).is_file(), name
        trials = sorted(p.name for p in (case_dir / "trials").iterdir())
        assert trials == ["h1-32_h2-16_act-gelu_lr-0.003", "h1-32_h2-16_act-gelu_lr-0.005"]
        for trial in trials:
            assert (case_dir / "trials" / trial / "weights.npz").is_file()
        for name in ("weights.npz", "metrics.json", "fit_profile.png", "heatmap.png"):
            assert (case_dir / "best" / name).is_file(), name
        best = json.loads((case_dir / "best" / "outcome.json").read_text())
        assert best["config"]["solver"]["rtol"] == 1e-6

    case1, case4 = runs
    assert case1.metrics["final_loss"] > 0 and case1.grid.best is not None
    assert case4.metrics["r2_clean"] >= 0.95
    assert case4.metrics["r2_clean"] == case4.metrics["r2_noisy"]  # noise-free case

    summary = (tmp_path / "summary.md").read_text().splitlines()
    rows = [line for line in summary if line.startswith("| Case ")]
    assert [row.split("|")[1].strip() for row in rows] == [
        "Case 1: t = 0, no noise",
        "Case 4: t = 50 yr, no noise",
    ]
    assert "1.6e-05" in rows[1] and "0.9999" in rows[1]  # the paper's Case 4 numbers
    assert f"{case4.metrics['r2_clean']:.5g}" in rows[1]

    again = run_case(4, tmp_path / "case4", quick=True, quiet=True)
    assert again.grid.executed == ()
    assert again.metrics == case4.metrics
    assert main(["soc", "case", "4", "--out", str(tmp_path / "case4"), "--quick", "--quiet"]) == 0
    assert "Case 4: t = 50 yr, no noise: best h1-32_h2-16_act-gelu" in capsys.readouterr().out
