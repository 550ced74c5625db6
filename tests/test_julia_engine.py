"""The Julia engine's Python side, up to the Julia boundary (no Julia needed).

The registry's error path, lazy imports, the plain arguments built from problems and configs
(checked before Julia starts), and the conversion of Julia's results into the engine's classes.
"""

import subprocess
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from soilsciml.config import SolverConfig, to_dict
from soilsciml.engines import EngineUnavailableError, available_engines, get_engine, julia_runtime
from soilsciml.engines import julia_engine as je
from soilsciml.engines.base import SOCTruthProblem
from soilsciml.models.soc import DriverCoefficients, ReferenceTruth

JULIA_READY = julia_runtime.probe() is None


@pytest.mark.skipif(JULIA_READY, reason="Julia is available here; the error path needs it absent")
def test_registry_reports_julia_unavailable_and_how_to_enable():
    reason = available_engines()["julia"]
    assert reason and ("juliacall" in reason or "Julia" in reason)
    get_engine.cache_clear()
    with pytest.raises(EngineUnavailableError) as err:
        get_engine("julia")
    message = str(err.value)
    assert reason in message
    assert "Julia >= 1.10" in message and "SOILSCIML_JULIA_ONLINE=1" in message
    assert "Engines ready here: jax" in message


def test_engine_modules_import_neither_juliacall_nor_jax():
    code = (
        "import sys; import soilsciml.engines.julia_engine, soilsciml.engines.isolated, "
        "soilsciml.hysomi.fit; "
        "print(sorted(m for m in ('juliacall', 'juliapkg', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _truth_problem(solver=None):
    depth = np.linspace(0.0, 1.0, 5)
    return SOCTruthProblem(
        depth=depth,
        times=np.array([0.0, 1.0]),
        initial=np.exp(-depth),
        diffusion=1e-3,
        advection=2e-3,
        boundary="zero_flux",
        truth="reference",
        solver=solver or SolverConfig(rtol=1e-8),
    )


def test_truth_arguments_are_plain_arrays_and_dicts():
    [(depth, times, initial, settings)] = je.soc_truth_arguments(_truth_problem())
    assert [a.shape for a in (depth, times, initial)] == [(5,), (2,), (5,)]
    # the step-size controller stays in Python (the Julia engine refuses all but the default)
    expected = {k: v for k, v in to_dict(SolverConfig(rtol=1e-8)).items() if k != "controller"}
    assert settings["solver"] == expected
    assert settings["drivers"]["ph_period"] == DriverCoefficients().ph_period
    assert set(settings["reference"]) == set(ReferenceTruth.__dataclass_fields__)
    assert (settings["boundary"], settings["advection"]) == ("zero_flux", 2e-3)
    with pytest.raises(ValueError, match="float64"):
        je.soc_truth_arguments(_truth_problem(SolverConfig(dtype="float32")))


def test_truth_sites_get_their_own_drivers():
    base = _truth_problem()
    drivers = (DriverCoefficients(), DriverCoefficients(ph0=5.5))
    problem = SOCTruthProblem(**{**base.__dict__, "initial": np.ones((2, 5)), "drivers": drivers})
    sites = je.soc_truth_arguments(problem)
    assert [site[3]["drivers"]["ph0"] for site in sites] == [6.5, 5.5]
    with pytest.raises(ValueError, match="2 driver sets for 3 sites"):
        je.soc_truth_arguments(SOCTruthProblem(**{**problem.__dict__, "initial": np.ones((3, 5))}))


def _ude_problem(nz=4, nt=3, ntd=5):
    targets = np.full((nt, nz), np.nan)
    targets[-1] = 1.0
    return SimpleNamespace(
        depth=np.linspace(0, 1, nz),
        times=np.linspace(0, 10, nt),
        initial=np.ones(nz),
        driver_times=np.linspace(0, 10, ntd),
        drivers=np.ones((ntd, nz, 3)),
        targets=targets,
        diffusion=1e-3,
        advection=1e-3,
        boundary="mirror",
    )


@dataclass(frozen=True)
class _Network:
    h1: int = 3
    h2: int = 2


@dataclass(frozen=True)
class _FitConfig:
    network: _Network = field(default_factory=_Network)
    solver: SolverConfig = field(default_factory=SolverConfig)


def _weights(h1=3, h2=2):
    shapes = {"W1": (h1, 6), "b1": (h1,), "W2": (h2, h1), "b2": (h2,), "W3": (1, h2), "b3": (1,)}
    return {f"{net}.{name}": np.zeros(shape) for net in "PR" for name, shape in shapes.items()}


def test_ude_problem_and_settings_become_plain_dicts():
    problem = je.soc_problem_dict(_ude_problem())
    assert problem["drivers"].shape == (5, 4, 3) and problem["boundary"] == "mirror"
    settings = je.soc_settings(_FitConfig(), "backsolve")
    assert settings == {
        "network": {"h1": 3, "h2": 2},
        "solver": to_dict(SolverConfig()),
        "sensealg": "backsolve",
    }
    assert set(je.weights_dict(_weights())) == set(je.WEIGHT_KEYS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drivers": np.ones((5, 4, 2))}, "drivers must have shape"),
        ({"targets": np.ones((2, 4))}, "targets must have shape"),
        ({"times": np.array([0.0, 0.0, 1.0])}, "increase strictly"),
        ({"input_shift": np.ones(5), "input_scale": np.ones(6)}, r"input_shift must have shape"),
    ],
)
def test_bad_ude_problems_fail_before_julia(change, message):
    problem = _ude_problem()
    problem.__dict__.update(change)
    with pytest.raises(ValueError, match=message):
        je.soc_problem_dict(problem)


def test_targets_must_support_the_loss_target():
    problem = je.soc_problem_dict(_ude_problem())
    je.check_targets(problem, {"loss": {"target": "trajectory"}})
    problem["targets"][1:] = np.nan
    problem["targets"][0] = 1.0
    with pytest.raises(ValueError, match="use loss.target='initial'"):
        je.check_targets(problem, {})
    je.check_targets(problem, {"loss": {"target": "initial"}})


def test_bad_weights_and_pbm_inputs_fail_before_julia():
    weights = _weights()
    del weights["R.b2"]
    with pytest.raises(ValueError, match=r"missing keys \['R.b2'\]"):
        je.weights_dict({**weights, "Q.W1": np.zeros(1)})
    with pytest.raises(ValueError, match="params must have shape"):
        je.pbm_arguments(np.ones((2, 12)), np.ones(6), np.arange(3), SolverConfig())
    with pytest.raises(ValueError, match=r"initial must have shape \(2, 6\)"):
        je.pbm_arguments(np.ones((2, 13)), np.ones((3, 6)), np.arange(3), SolverConfig())
    with pytest.raises(ValueError, match="at least two increasing"):
        je.pbm_arguments(np.ones((2, 13)), np.ones(6), np.array([0.0]), SolverConfig())
    with pytest.raises(ValueError, match="unknown sensealg"):
        je.JuliaEngine(sensealg="adjoint")


def test_engine_converts_julia_results(fake_julia):
    def trajectory(depth, times, initial, settings):
        soc = np.vstack([initial, initial * np.nan])
        return SimpleNamespace(times=times, soc=soc, code=1, num_steps=7, num_rejected_steps=2)

    fake_julia.replies["simulate_soc_truth"] = trajectory
    out = je.JuliaEngine().simulate_soc_truth(_truth_problem())
    assert out.soc.shape == (2, 5) and out.num_steps == 7
    assert not out.status.ok and "max_steps" in out.status.message
    base = _truth_problem()
    sites = SOCTruthProblem(**{**base.__dict__, "initial": np.ones((3, 5))})
    out = je.JuliaEngine().simulate_soc_truth(sites)
    assert out.soc.shape == (3, 2, 5) and out.status.n_failed == 3

    def pbm(params, initial, times, settings):
        n = params.shape[0]
        return SimpleNamespace(
            times=times, states=np.zeros((n, times.size, 6)), codes=[0] * n, num_steps=[3] * n
        )

    fake_julia.replies["simulate_pbm"] = pbm
    out = je.JuliaEngine().simulate_pbm(
        np.ones((4, 13)), np.ones(6), np.arange(5.0), SolverConfig()
    )
    assert out.states.shape == (4, 5, 6) and out.codes.dtype == np.int64


def test_fit_and_loss_pass_the_sensealg_and_convert_results(fake_julia):
    fake_julia.replies["fit_soc"] = lambda problem, settings, weights: SimpleNamespace(
        weights=_weights(),
        history={"adam": [1.0, 0.5], "bfgs": [0.4]},
        step_seconds=[20.0, 20.5, 21.5],
        stop_reasons={"adam": "budget", "bfgs": "converged"},
        code=0,
        n_failed=2,
        loss_evaluations=9,
        num_steps=120,
        num_rejected_steps=3,
        final_loss=0.4,
    )
    fake_julia.replies["soc_loss"] = lambda problem, weights, settings: SimpleNamespace(
        total=0.25, code=0
    )
    engine = je.JuliaEngine(sensealg="quadrature")
    fit = engine.fit_soc(_ude_problem(), _FitConfig())
    assert fit.status.ok and fit.status.n_failed == 2
    assert fit.history["adam"].tolist() == [1.0, 0.5]
    assert fit.stop_reasons == {"adam": "budget", "bfgs": "converged"}
    assert fit.solver_stats["first_step_seconds"] == 20.0
    assert fit.solver_stats["seconds_per_step"] == pytest.approx(0.75)
    assert fit.solver_stats["loss_evaluations"] == 9 and fit.num_compiles == 1
    assert engine.fit_soc(_ude_problem(), _FitConfig()).num_compiles == 0
    assert set(fit.weights) == set(je.WEIGHT_KEYS)
    assert engine.soc_loss(_ude_problem(), _weights(), _FitConfig()) == 0.25
    settings = next(args[-1] for name, args in fake_julia.calls if name == "soc_loss")
    assert settings["sensealg"] == "quadrature"
    problem = fake_julia.calls[0][1][0]
    assert problem["input_shift"] is None and problem["drivers"].shape == (5, 4, 3)
    assert fake_julia.calls[0][1][-1] is None  # no starting weights: Julia initialises


@pytest.mark.skipif(JULIA_READY, reason="Julia is available here; the benchmark would run")
def test_parity_benchmark_explains_and_succeeds_without_julia():
    out = subprocess.run(
        [sys.executable, "benchmarks/parity.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=julia_runtime.JULIA_PACKAGE.parent,
    )
    assert out.stdout.startswith("Julia engine unavailable, parity benchmark not run: ")
