"""What a user sees while a SOC fit runs: compilation announced, one summary line per stage."""

from __future__ import annotations

import re

import numpy as np

from soilsciml.config import (
    SOCFitConfig,
    SOCGridConfig,
    SOCNetworkConfig,
    SOCSimulationConfig,
    SOCTrainConfig,
)
from soilsciml.engines.jax.progress import StageReport
from soilsciml.soc.fit import fit_soc
from soilsciml.soc.simulate import simulate_soc

SUMMARY = re.compile(
    r"^(?P<stage>\w+): (?P<done>\d+) of (?P<total>\d+) iterations \((?P<reason>[a-z ]+)\), "
    r"loss (?P<loss>\S+), (?P<seconds>[\d.]+) s"
)


def test_an_early_stop_is_reported_with_its_iteration_count(capsys):
    report = StageReport("bfgs", 400, True, ("a new kernel",))
    for loss in np.linspace(1.0, 0.5, 233):
        report.step(float(loss))
    line = report.close("early_stopping")
    err = capsys.readouterr().err
    assert err.startswith("bfgs: compiling ... done in ")
    assert line.startswith("bfgs: 233 of 400 iterations (early stop), loss 5.000e-01, ")
    assert err.rstrip().endswith(line)
    # the same kernel again in this process: nothing to compile, nothing announced
    StageReport("bfgs", 400, True, ("a new kernel",)).close("budget")
    assert "compiling" not in capsys.readouterr().err
    quiet = StageReport("adam", 10, False, ("another kernel",))
    quiet.step(1.0)
    quiet.close("budget")
    assert capsys.readouterr().err == ""


def test_a_fit_prints_one_summary_per_stage_matching_its_history(capsys):
    data = simulate_soc(SOCSimulationConfig(years=5.0, grid=SOCGridConfig(nz=7)))
    config = SOCFitConfig(
        network=SOCNetworkConfig(h1=5, h2=3),
        train=SOCTrainConfig(adam_iters=4, second_iters=6),
    )
    result = fit_soc(data, config, progress=True)
    err = re.split(r"[\r\n]", capsys.readouterr().err)
    lines = [m.groupdict() for m in map(SUMMARY.match, err) if m]
    assert [line["stage"] for line in lines] == ["adam", "bfgs"]
    words = {"budget": "budget reached", "early_stopping": "early stop", "converged": "converged"}
    for line in lines:
        history = result.history[line["stage"]]
        assert int(line["done"]) == history.size
        assert int(line["total"]) == (4 if line["stage"] == "adam" else 6)
        assert float(line["loss"]) == float(f"{history[-1]:.3e}")
        assert line["reason"] == words[result.stop_reasons[line["stage"]]]
