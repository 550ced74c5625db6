"""Engine calls in a fresh process: same results as in-process, failures reported."""

import numpy as np
import pytest

from soilsciml.config import SolverConfig
from soilsciml.engines import engine_status, get_engine
from soilsciml.engines.base import SOCTruthProblem
from soilsciml.engines.isolated import IsolatedCallError, call_in_subprocess


def test_subprocess_call_matches_in_process_solution():
    depth = np.linspace(0.0, 1.0, 10)
    problem = SOCTruthProblem(
        depth,
        np.array([0.0, 5.0, 10.0]),
        np.exp(-depth),
        1e-3,
        1e-3,
        "mirror",
        "reference",
        SolverConfig(rtol=1e-8, atol=1e-10),
    )
    isolated = call_in_subprocess("jax", "simulate_soc_truth", problem, timeout=300, repeat=2)
    local = get_engine("jax").simulate_soc_truth(problem)
    assert isolated.value.status.ok
    np.testing.assert_array_equal(isolated.value.soc, local.soc)
    assert isolated.seconds > 0 and isolated.startup_seconds > 0
    first, warm = isolated.repeat_seconds
    assert first == isolated.seconds and warm < first  # the second call reuses the compilation


@pytest.mark.skipif(engine_status("julia") is None, reason="Julia is available here")
def test_unavailable_engine_in_subprocess_reports_why():
    with pytest.raises(IsolatedCallError, match="engine 'julia' is unavailable"):
        call_in_subprocess(
            "julia",
            "simulate_pbm",
            np.ones((1, 13)),
            np.ones(6),
            np.arange(2.0),
            SolverConfig(),
            timeout=120,
        )
