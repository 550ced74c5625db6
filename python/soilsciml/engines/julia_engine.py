"""The Julia engine: SoilSciML.jl (Lux, OrdinaryDiffEq, SciMLSensitivity, ...) via juliacall.

This module turns engine calls into plain arguments (numpy arrays, numbers, strings and nested
dicts from :func:`soilsciml.config.to_dict`) and Julia's NamedTuples back into the engine's
result classes. Julia start-up and conversions live in :mod:`~soilsciml.engines.julia_runtime`;
everything here up to the ``julia_runtime.call`` lines is plain Python and tested without Julia.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from soilsciml.config import HySoMiTrainConfig, SolverConfig, to_dict
from soilsciml.engines import julia_runtime
from soilsciml.engines.base import (
    AbstractEngine,
    HySoMiFitOutput,
    HySoMiTrainingData,
    PBMTrajectory,
    SOCFitOutput,
    SOCTrajectory,
    SOCTruthProblem,
    SolveStatus,
)
from soilsciml.models import constraints as cons
from soilsciml.models import hysomi as hysomi_model

__all__ = [
    "DEFAULT_SENSEALGS",
    "PBM_PARAMETERS",
    "SENSEALGS",
    "WEIGHT_KEYS",
    "JuliaEngine",
    "check_targets",
    "combine_sites",
    "constraint_rows",
    "fit_output",
    "hysomi_arguments",
    "hysomi_fit_output",
    "hysomi_model_arguments",
    "pbm_arguments",
    "soc_problem_dict",
    "soc_settings",
    "soc_trajectory",
    "soc_truth_arguments",
    "solver_settings",
    "weights_dict",
]

#: Gradient strategies of SoilSciML.jl (``SENSEALGS`` there); the first is the SOC paper's,
#: ``InterpolatingAdjoint(autojacvec=ZygoteVJP())``.
SENSEALGS = (
    "interpolating",
    "interpolating_checkpointed",
    "backsolve",
    "quadrature",
    "reversediff",
    "forwarddiff",
)
#: Gradient strategy by model when the engine is given none: the SOC paper's interpolating
#: adjoint; forward-mode sensitivities for HySoMi (13 parameters, 6 pools per solve, where
#: dual numbers through the solver beat a backward solve with a vector-Jacobian product).
DEFAULT_SENSEALGS = {"soc": "interpolating", "hysomi": "forwarddiff"}
#: The flat weight layout shared by the engines (contracts, "SOC UDE").
WEIGHT_KEYS = tuple(f"{net}.{kind}{i}" for net in "PR" for i in (1, 2, 3) for kind in "Wb")
PBM_PARAMETERS = 13
PBM_STATES = 6


def solver_settings(solver: SolverConfig) -> dict[str, Any]:
    """The solver section for Julia; float32 and a PI step-size controller are refused before
    Julia starts (the Julia engine's controller is the integral one)."""
    if solver.dtype != "float64":
        raise ValueError(f"solver.dtype must be float64 for the Julia engine; got {solver.dtype}")
    if solver.controller != "integral":
        raise ValueError(
            f"solver.controller must be 'integral' for the Julia engine; got {solver.controller!r}"
        )
    settings = to_dict(solver)
    del settings["controller"]
    return settings


def soc_truth_arguments(problem: SOCTruthProblem) -> list[tuple[Any, ...]]:
    """``(depth, times, initial, settings)`` for ``SoilSciML.simulate_soc_truth``, per site.

    ``problem.initial`` is ``(nz,)`` (one site) or ``(site, nz)`` with ``problem.drivers`` one
    ``DriverCoefficients`` for all sites or one per site.
    """
    depth = julia_runtime.float_array(problem.depth, "depth", (None,))
    initial = np.atleast_2d(julia_runtime.float_array(problem.initial, "initial"))
    if initial.ndim != 2 or initial.shape[1] != depth.size:
        raise ValueError(f"initial must have shape ({depth.size},) or (site, {depth.size})")
    drivers = problem.drivers
    if dataclasses.is_dataclass(drivers):
        drivers = [drivers] * initial.shape[0]
    if len(drivers) != initial.shape[0]:
        raise ValueError(f"got {len(drivers)} driver sets for {initial.shape[0]} sites")
    common = {
        "diffusion": float(problem.diffusion),
        "advection": float(problem.advection),
        "boundary": problem.boundary,
        "truth": problem.truth,
        "solver": solver_settings(problem.solver),
        "reference": dataclasses.asdict(problem.reference),
    }
    times = julia_runtime.float_array(problem.times, "times", (None,))
    return [
        (depth, times, site_initial, {**common, "drivers": dataclasses.asdict(site_drivers)})
        for site_initial, site_drivers in zip(initial, drivers, strict=True)
    ]


def combine_sites(sites: list[SOCTrajectory], batched: bool) -> SOCTrajectory:
    """One trajectory from per-site solves: soc (site, time, depth) when ``batched``, the first
    failure's code with the number of failed sites, and the largest step counts."""
    codes = [site.status.code for site in sites]
    failed = [code for code in codes if code != 0]
    soc = np.stack([site.soc for site in sites])
    return SOCTrajectory(
        times=sites[0].times,
        soc=soc if batched else soc[0],
        status=SolveStatus(code=failed[0] if failed else 0, n_failed=len(failed)),
        num_steps=max(site.num_steps for site in sites),
        num_rejected_steps=max(site.num_rejected_steps for site in sites),
    )


def soc_problem_dict(problem: Any) -> dict[str, Any]:
    """An ``SOCUDEProblem`` as the plain Dict SoilSciML.jl reads, every array shape checked."""
    nz, nt = np.size(problem.depth), np.size(problem.times)
    ntd = np.size(problem.driver_times)
    out = {
        "depth": julia_runtime.float_array(problem.depth, "depth", (nz,)),
        "times": julia_runtime.float_array(problem.times, "times", (nt,)),
        "initial": julia_runtime.float_array(problem.initial, "initial", (nz,)),
        "driver_times": julia_runtime.float_array(problem.driver_times, "driver_times", (ntd,)),
        "drivers": julia_runtime.float_array(problem.drivers, "drivers", (ntd, nz, 3)),
        "targets": julia_runtime.float_array(problem.targets, "targets", (nt, nz)),
        "diffusion": float(problem.diffusion),
        "advection": float(problem.advection),
        "boundary": problem.boundary,
    }
    for name in ("input_shift", "input_scale"):
        value = getattr(problem, name, None)
        out[name] = None if value is None else julia_runtime.float_array(value, name, (6,))
    if np.any(np.diff(out["times"]) <= 0):
        raise ValueError("times must increase strictly")
    return out


def soc_settings(config: Any, sensealg: str) -> dict[str, Any]:
    """The SOC fit config (dataclass or mapping) as a plain Dict plus the engine's sensealg."""
    data = to_dict(config) if dataclasses.is_dataclass(config) else dict(config)
    return {**data, "sensealg": sensealg}


def check_targets(problem: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuse a loss target the observations cannot support, before Julia starts.

    ``terminal`` and ``trajectory`` need an observed profile after the first time.
    """
    target = settings.get("loss", {}).get("target", "terminal")
    observed = np.flatnonzero(np.isfinite(problem["targets"]).any(axis=1))
    if target in ("terminal", "trajectory") and (observed.size == 0 or observed[-1] == 0):
        raise ValueError(
            f"loss.target={target!r} needs an observed profile after the first time; "
            "use loss.target='initial' when only the initial profile is observed"
        )


def weights_dict(weights: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Flat network weights as float64 arrays; missing or unknown keys raise ``ValueError``."""
    missing = [key for key in WEIGHT_KEYS if key not in weights]
    unknown = sorted(set(weights) - set(WEIGHT_KEYS))
    if missing or unknown:
        raise ValueError(f"weights: missing keys {missing}, unknown keys {unknown}")
    return {
        key: julia_runtime.float_array(weights[key], f"weights[{key!r}]") for key in WEIGHT_KEYS
    }


def soc_trajectory(result: Any) -> SOCTrajectory:
    """A Julia ``(times, soc, code, num_steps, num_rejected_steps)`` as an ``SOCTrajectory``."""
    code = int(result.code)
    return SOCTrajectory(
        times=julia_runtime.to_numpy(result.times),
        soc=julia_runtime.to_numpy(result.soc),
        status=SolveStatus(code=code, n_failed=int(code != 0)),
        num_steps=int(result.num_steps),
        num_rejected_steps=int(result.num_rejected_steps),
    )


def fit_output(result: Any, first_fit: bool) -> SOCFitOutput:
    """A Julia ``fit_soc`` NamedTuple as an :class:`SOCFitOutput`."""
    seconds = julia_runtime.to_numpy(result.step_seconds)
    per_step = float(np.diff(seconds).mean()) if seconds.size > 1 else float("nan")
    return SOCFitOutput(
        weights=julia_runtime.to_numpy_dict(result.weights),
        history=julia_runtime.to_numpy_dict(result.history),
        status=SolveStatus(code=int(result.code), n_failed=int(result.n_failed)),
        solver_stats={
            "loss_evaluations": int(result.loss_evaluations),
            "num_steps": int(result.num_steps),
            "num_rejected_steps": int(result.num_rejected_steps),
            "final_loss": float(result.final_loss),
            "first_step_seconds": float(seconds[0]) if seconds.size else float("nan"),
            "seconds_per_step": per_step,
        },
        num_compiles=int(first_fit),
        stop_reasons={str(k): str(v) for k, v in result.stop_reasons.items()},
    )


def pbm_arguments(
    params: Any, initial: Any, times: Any, solver: SolverConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """``(params, initial, times, settings)`` for ``SoilSciML.simulate_pbm``, shapes checked.

    The fixed sorption constants take Julia's defaults, the documented values (settings section
    ``physics`` overrides them).
    """
    params = julia_runtime.float_array(np.atleast_2d(params), "params", (None, PBM_PARAMETERS))
    initial = np.asarray(initial)
    expected = (PBM_STATES,) if initial.ndim == 1 else (params.shape[0], PBM_STATES)
    times = julia_runtime.float_array(times, "times", (None,))
    if times.size < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("times must hold at least two increasing values (hours)")
    return (
        params,
        julia_runtime.float_array(initial, "initial", expected),
        times,
        {"solver": solver_settings(solver)},
    )


def constraint_rows(config: HySoMiTrainConfig) -> list[dict[str, Any]]:
    """The constraint table of ``config`` as plain rows ``{label, lhs, rhs, a, b}``, the same
    table (thresholds included) the JAX engine's loss is built from."""
    constraints = cons.constraint_set(config.constraints.setting, config.constraints.factors())
    return [
        {"label": c.label, "lhs": c.lhs, "rhs": c.rhs, "a": float(c.a), "b": float(c.b)}
        for c in constraints
    ]


def hysomi_model_arguments(
    times: Any, config: HySoMiTrainConfig, sensealg: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What every HySoMi entry point of SoilSciML.jl reads besides the samples: the data keys
    ``times``, ``initial``, ``lower``, ``upper`` and ``constraints``, and the settings (the
    config as a plain dict with the sorption constants and the sensealg)."""
    data = {
        "times": julia_runtime.float_array(times, "times", (None,)),
        "initial": julia_runtime.float_array(hysomi_model.INITIAL_STATE, "initial", (6,)),
        "lower": julia_runtime.float_array(hysomi_model.LOWER, "lower", (PBM_PARAMETERS,)),
        "upper": julia_runtime.float_array(hysomi_model.UPPER, "upper", (PBM_PARAMETERS,)),
        "constraints": constraint_rows(config),
    }
    if data["times"].size < 2 or np.any(np.diff(data["times"]) <= 0):
        raise ValueError("times must hold at least two increasing values (hours)")
    settings = {
        **to_dict(config),
        "solver": solver_settings(config.solver),
        "physics": dataclasses.asdict(hysomi_model.PHYSICS),
        "sensealg": sensealg,
    }
    return data, settings


def hysomi_arguments(
    data: HySoMiTrainingData, config: HySoMiTrainConfig, sensealg: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, settings)`` for ``SoilSciML.fit_hysomi``, every array's shape checked."""
    arrays, settings = hysomi_model_arguments(data.times, config, sensealg)
    n_traits, nt = np.shape(data.traits_train)[-1], arrays["times"].size
    for split in ("train", "validation", "test"):
        traits = julia_runtime.float_array(
            getattr(data, f"traits_{split}"), f"traits_{split}", (None, n_traits)
        )
        arrays[f"traits_{split}"] = traits
        if split != "test":
            arrays[f"states_{split}"] = julia_runtime.float_array(
                getattr(data, f"states_{split}"), f"states_{split}", (traits.shape[0], nt, 6)
            )
    return arrays, settings


def hysomi_fit_output(result: Any) -> HySoMiFitOutput:
    """A Julia ``fit_hysomi`` NamedTuple as a :class:`HySoMiFitOutput` (the trained model is
    the dict of flat weights that ``predict_hysomi`` takes back)."""
    history = julia_runtime.to_numpy_dict(result.history)
    for name in ("failed_solves", "validation_failed"):
        history[name] = history[name].astype(np.int64)
    # one value in Julia; 0-d, as the JAX engine records it
    history["best_epoch"] = np.asarray(int(history["best_epoch"].item()))
    return HySoMiFitOutput(
        trained=julia_runtime.to_numpy_dict(result.weights),
        history=history,
        params=julia_runtime.to_numpy(result.params),
        states=julia_runtime.to_numpy(result.states),
        codes=np.array(result.codes, dtype=np.int64),
    )


class JuliaEngine(AbstractEngine):
    """Engine backed by SoilSciML.jl; Julia starts on the first call (see ``julia_runtime``).

    Parameters
    ----------
    sensealg : str, optional
        Gradient strategy through the solver, one of :data:`SENSEALGS`. None (default): each
        model's choice of :data:`DEFAULT_SENSEALGS` (for SOC the paper's
        ``InterpolatingAdjoint(autojacvec=ZygoteVJP())``).
    """

    name = "julia"

    def __init__(self, sensealg: str | None = None) -> None:
        if sensealg is not None and sensealg not in SENSEALGS:
            raise ValueError(f"unknown sensealg {sensealg!r}; choose one of {', '.join(SENSEALGS)}")
        self._sensealg = sensealg
        self._fits = 0

    def sensealg(self, model: str) -> str:
        """The gradient strategy used for ``model`` (``soc`` or ``hysomi``)."""
        return self._sensealg or DEFAULT_SENSEALGS[model]

    def simulate_soc_truth(self, problem: SOCTruthProblem) -> SOCTrajectory:
        sites = [
            soc_trajectory(julia_runtime.call("simulate_soc_truth", *arguments))
            for arguments in soc_truth_arguments(problem)
        ]
        return combine_sites(sites, batched=np.ndim(problem.initial) == 2)

    def predict_soc(self, problem: Any, weights: Mapping[str, Any], config: Any) -> SOCTrajectory:
        """Forward solve of the SOC UDE with the given flat weights (% on (time, depth))."""
        arguments = (soc_problem_dict(problem), weights_dict(weights))
        result = julia_runtime.call(
            "predict_soc", *arguments, soc_settings(config, self.sensealg("soc"))
        )
        return soc_trajectory(result)

    def soc_loss(self, problem: Any, weights: Mapping[str, Any], config: Any) -> float:
        """Total training loss for the given flat weights (the penalty if the solve fails)."""
        arguments = (soc_problem_dict(problem), weights_dict(weights))
        settings = soc_settings(config, self.sensealg("soc"))
        check_targets(arguments[0], settings)
        return float(julia_runtime.call("soc_loss", *arguments, settings).total)

    def fit_soc(self, problem: Any, config: Any, progress: bool = False) -> SOCFitOutput:
        """Train NN_P and NN_R with Adam then BFGS / L-BFGS, entirely in Julia.

        ``progress`` is accepted for interface parity; the optimisation loop runs in Julia
        without Python callbacks, so progress is reported afterwards through ``history``.
        """
        arguments = (soc_problem_dict(problem), soc_settings(config, self.sensealg("soc")))
        check_targets(*arguments)
        result = julia_runtime.call("fit_soc", *arguments, None)
        self._fits += 1
        return fit_output(result, first_fit=self._fits == 1)

    def simulate_pbm(
        self, params: Any, initial: Any, times: Any, solver: SolverConfig
    ) -> PBMTrajectory:
        """Batched forward simulation of the six-pool microbial model (one solve per sample)."""
        result = julia_runtime.call("simulate_pbm", *pbm_arguments(params, initial, times, solver))
        return PBMTrajectory(
            times=julia_runtime.to_numpy(result.times),
            states=julia_runtime.to_numpy(result.states),
            codes=np.array(result.codes, dtype=np.int64),
            num_steps=np.array(result.num_steps, dtype=np.int64),
        )

    def fit_hysomi(
        self, data: HySoMiTrainingData, config: HySoMiTrainConfig, progress: bool = False
    ) -> HySoMiFitOutput:
        """Train a compared HySoMi model entirely in Julia (Lux network, batched PBM solves).

        ``progress`` is accepted for interface parity; training runs in Julia without Python
        callbacks, so progress is reported afterwards through the history.
        """
        arguments = hysomi_arguments(data, config, self.sensealg("hysomi"))
        return hysomi_fit_output(julia_runtime.call("fit_hysomi", *arguments))

    def predict_hysomi(
        self, trained: Any, traits: Any, times: Any, config: HySoMiTrainConfig
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Parameters, pools and solve codes of a model trained by :meth:`fit_hysomi`."""
        data, settings = hysomi_model_arguments(times, config, self.sensealg("hysomi"))
        weights = {key: julia_runtime.float_array(value, key) for key, value in trained.items()}
        result = julia_runtime.call(
            "predict_hysomi", weights, julia_runtime.float_array(traits, "traits"), data, settings
        )
        return (
            julia_runtime.to_numpy(result.params),
            julia_runtime.to_numpy(result.states),
            np.array(result.codes, dtype=np.int64),
        )
