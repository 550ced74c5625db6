"""Training of the SOC UDE on the JAX engine: Adam, then BFGS or L-BFGS, with early stopping.

The compiled kernels are module-level functions whose only compile-time arguments are the
hashable :class:`~soilsciml.engines.jax.ude.UDEStatic` settings; data, weights, loss weights
and the learning rate are arrays. JAX therefore compiles once per (shapes, static settings)
and every later fit with the same shapes reuses the executables (a grid search relies on it).
:data:`TRACES` counts the traces.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx

from soilsciml.config import SOCFitConfig, SOCTrainConfig, holdout_stride
from soilsciml.engines.base import SOCFitOutput, SOCUDEProblem, SolveStatus
from soilsciml.engines.jax import ude as jax_ude
from soilsciml.engines.jax.kernel_store import StoredKernel
from soilsciml.engines.jax.progress import StageReport, signature

__all__ = ["QUASI_NEWTON", "TRACES", "EarlyStopping", "fit", "holdout_loss", "value_and_grad"]

#: Number of traces (= compilations) of each training kernel in this process.
TRACES: collections.Counter[str] = collections.Counter()

_ADAM = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)

#: Second-stage optimisers by ``train.second_stage``. The Cauchy tolerances are tiny on purpose:
#: the stage ends by its iteration budget or by early stopping on the loss.
QUASI_NEWTON: dict[str, Callable[[], optx.AbstractMinimiser]] = {
    "bfgs": lambda: optx.BFGS(rtol=1e-12, atol=1e-14),
    "lbfgs": lambda: optx.LBFGS(rtol=1e-12, atol=1e-14),
}


def _traced_value_and_grad(weights: dict, data: dict, static: jax_ude.UDEStatic):
    TRACES["value_and_grad"] += 1
    return jax_ude.guarded_value_and_grad(weights, data, static)


_guarded_value_and_grad = StoredKernel("soc_value_and_grad", _traced_value_and_grad)


def value_and_grad(weights: dict, data: dict, static: jax_ude.UDEStatic):
    """Compiled failure-safe loss and gradient (one training step's work).

    The solve's outcome comes back with the result and is recorded in
    :data:`~soilsciml.engines.jax.ude.EVALUATIONS` here, on the host: no callback interrupts
    the compiled kernel, which can therefore live in the persistent compilation cache (the
    optimistix stage returns the outcome of its evaluations too, see :func:`_quasi_newton`).
    """
    loss, grads, outcome = _guarded_value_and_grad(weights, data, static=static)
    jax_ude.EVALUATIONS.record(np.asarray(data["fit_id"]), *(np.asarray(o) for o in outcome))
    return loss, grads


def _traced_holdout_loss(weights: dict, data: dict, static: jax_ude.UDEStatic):
    TRACES["holdout_loss"] += 1
    return jax_ude.holdout_misfit(weights, data, static)


_holdout_loss = StoredKernel("soc_holdout_loss", _traced_holdout_loss)


def holdout_loss(weights: dict, data: dict, static: jax_ude.UDEStatic):
    """Compiled MSE at the held-out depths (early stopping with ``train.holdout``)."""
    return _holdout_loss(weights, data, static=static)


class _Monitor:
    """The value early stopping watches: the training loss, or the held-out MSE."""

    def __init__(self, data, static, train: SOCTrainConfig) -> None:
        self.data, self.static = data, static
        self.held_out = holdout_stride(train.holdout) > 0
        self.history: list[float] = []

    def __call__(self, loss: float, weights: dict) -> float:
        if not self.held_out:
            return loss
        value = float(holdout_loss(weights, self.data, self.static))
        self.history.append(value)
        return value


@jax.jit
def _adam_update(weights, grads, opt_state):
    TRACES["adam_update"] += 1
    updates, opt_state = _ADAM.update(grads, opt_state, weights)
    return optax.apply_updates(weights, updates), opt_state


def _objective(weights, data, static):
    """The loss and, as optimistix's aux, the outcome of its solve."""
    return jax_ude.safe_loss(weights, data, static)


def _initial_state(solver, weights, data, structs):
    """optimistix's start state; ``structs`` are the shapes of the loss and of its aux."""
    fn = partial(_objective, static=None)  # never called by ``init``
    return solver.init(fn, weights, data, {}, *structs, frozenset())


def _traced_quasi_newton_init(weights, data, static):
    """The optimistix state before the first step, as the list of its arrays, and zeros
    shaped like the loss and its aux (the outcome), whose shapes the step kernel needs.

    ``static`` is ``(solver name, UDEStatic)``. The state travels between the host and the
    kernels as its array leaves (what the kernel store serialises); the step kernel rebuilds
    the optimistix object around them (:func:`_state_from`).
    """
    TRACES["quasi_newton_init"] += 1
    name, ude_static = static
    structs = jax.eval_shape(partial(_objective, static=ude_static), weights, data)
    state = _initial_state(QUASI_NEWTON[name](), weights, data, structs)
    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), structs)
    return jax.tree_util.tree_leaves(eqx.filter(state, eqx.is_array)), zeros


def _state_from(leaves: list, solver, weights, data, structs):
    """The optimistix state whose arrays are ``leaves`` (the structure of a start state)."""
    dynamic, fixed = eqx.partition(_initial_state(solver, weights, data, structs), eqx.is_array)
    structure = jax.tree_util.tree_structure(dynamic)
    return eqx.combine(jax.tree_util.tree_unflatten(structure, leaves), fixed)


def _traced_quasi_newton_step(weights, leaves, data, static):
    """One optimistix step: one loss evaluation, at the state's ``y_eval``.

    Returns the weights (the last accepted point), the new state's arrays and a dict with
    the point evaluated, whether the line search accepted it, the loss and solve outcome at
    the last accepted point, and the solver's termination and health.
    """
    TRACES["quasi_newton_step"] += 1
    name, ude_static, structs = static
    solver = QUASI_NEWTON[name]()
    fn = partial(_objective, static=ude_static)
    state = _state_from(leaves, solver, weights, data, structs)
    evaluated, accepted_before = state.y_eval, state.num_accepted_steps
    weights, state, _ = solver.step(fn, weights, data, {}, state, frozenset())
    done, result = solver.terminate(fn, weights, data, {}, state, frozenset())
    info = {
        "evaluated": evaluated,
        "accepted": state.num_accepted_steps > accepted_before,
        "loss": state.f_info.f,
        "outcome": state.aux,
        "done": done,
        "healthy": result == optx.RESULTS.successful,
    }
    return weights, jax.tree_util.tree_leaves(eqx.filter(state, eqx.is_array)), info


_quasi_newton_init = StoredKernel("soc_quasi_newton_init", _traced_quasi_newton_init)
_quasi_newton_step = StoredKernel("soc_quasi_newton_step", _traced_quasi_newton_step)


class EarlyStopping:
    """Stop after ``patience`` iterations without a relative improvement above ``min_delta``.

    Keeps the best loss and the weights that produced it.
    """

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.best_weights: dict | None = None
        self._waited = 0

    def update(self, loss: float, weights: dict) -> bool:
        """Record ``loss`` at ``weights``; True when the stage should stop."""
        if self.best_weights is None or loss < self.best - self.min_delta * abs(self.best):
            self.best, self.best_weights, self._waited = loss, weights, 0
        else:
            self._waited += 1
        return self._waited >= self.patience


@dataclass
class _StageResult:
    weights: dict
    history: np.ndarray
    stop_reason: str


def _adam(
    weights,
    data,
    static,
    train: SOCTrainConfig,
    progress: bool,
    monitor: Callable | None = None,
    step: Callable = value_and_grad,
) -> _StageResult:
    """The Adam stage; ``step(weights, data, static)`` gives the loss and gradient and
    ``monitor(loss, weights)`` the value early stopping watches (default: the loss)."""
    monitor = monitor or (lambda loss, _: loss)
    opt_state = _ADAM.init(weights)
    dtype = jax.tree_util.tree_leaves(weights)[0].dtype
    opt_state.hyperparams["learning_rate"] = jnp.asarray(train.lr, dtype=dtype)
    stopper = EarlyStopping(train.patience, train.min_delta)
    history, reason = [], "budget"
    key = signature(getattr(step, "__qualname__", ""), weights, data, static)
    report = StageReport("adam", train.adam_iters, progress, key)
    for _ in range(train.adam_iters):
        loss, grads = step(weights, data, static)
        loss = float(loss)
        history.append(loss)
        report.step(loss)
        if stopper.update(monitor(loss, weights), weights):
            reason = "early_stopping"
            break
        weights, opt_state = _adam_update(weights, grads, opt_state)
    report.close(reason)
    return _StageResult(stopper.best_weights or weights, np.asarray(history), reason)


def _record_evaluation(accepted, outcome, evaluated: dict, data: dict, static) -> None:
    """Count the loss evaluation of one optimistix step in ``EVALUATIONS``.

    An accepted point's outcome is the state's aux; a point the line search rejected left no
    trace in the state, so it is evaluated again with the (already compiled) Adam kernel,
    which records it: the same solve, so the same counts.
    """
    if bool(accepted):
        jax_ude.EVALUATIONS.record(np.asarray(data["fit_id"]), *(np.asarray(o) for o in outcome))
    else:
        value_and_grad(evaluated, data, static)


def _quasi_newton(
    name: str, weights, data, static, train: SOCTrainConfig, progress: bool, monitor
) -> _StageResult:
    report = StageReport(name, train.second_iters, progress, signature(weights, data, static))
    state, zeros = _quasi_newton_init(weights, data, static=(name, static))
    structs = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), zeros)
    kernel_static = (name, static, structs)
    stopper = EarlyStopping(train.patience, train.min_delta)
    history, reason = [], "budget"
    for _ in range(train.second_iters):
        weights, state, info = _quasi_newton_step(weights, state, data, static=kernel_static)
        _record_evaluation(info["accepted"], info["outcome"], info["evaluated"], data, static)
        # The loss at the last accepted point: non-increasing along the stage.
        loss = float(info["loss"])
        history.append(loss)
        report.step(loss)
        if stopper.update(monitor(loss, weights), weights):
            reason = "early_stopping"
        elif not bool(info["healthy"]):
            reason = "line_search_failed"
        elif bool(info["done"]):
            reason = "converged"
        else:
            continue
        break
    report.close(reason)
    return _StageResult(stopper.best_weights or weights, np.asarray(history), reason)


def fit(problem: SOCUDEProblem, config: SOCFitConfig, progress: bool = True) -> SOCFitOutput:
    """Train NN_P and NN_R (see :meth:`AbstractEngine.fit_soc`)."""
    dtype = config.solver.dtype
    train = config.train
    static = jax_ude.static_settings(config, problem.boundary)
    traces_before = sum(TRACES.values())
    fit_id = jax_ude.EVALUATIONS.open()
    try:
        data = jax_ude.prepare_data(problem, config, dtype, fit_id)
        weights = jax_ude.init_weights(config.network.h1, config.network.h2, train.seed)
        weights.update(
            jax_ude.init_aux(config, np.asarray(data["observed"]), np.asarray(data["mask"]))
        )
        weights = {k: jnp.asarray(v, dtype=dtype) for k, v in weights.items()}
        monitor = _Monitor(data, static, train)
        history, stop_reasons = {}, {}
        stages = [("adam", train.adam_iters, _adam)]
        if train.second_stage != "none":
            stages.append(
                (train.second_stage, train.second_iters, partial(_quasi_newton, train.second_stage))
            )
        for name, iters, run in stages:
            if iters == 0:
                continue
            result = run(weights, data, static, train, progress, monitor)
            weights = result.weights
            history[name] = result.history
            stop_reasons[name] = result.stop_reason
        final_loss, _ = value_and_grad(weights, data, static)
        final_loss = float(final_loss)
    finally:
        counts = jax_ude.EVALUATIONS.close(fit_id)
    code = counts["last_code"]
    solver_stats = {
        "loss_evaluations": counts["evaluations"],
        "num_steps": counts["num_steps"],
        "num_rejected_steps": counts["num_rejected_steps"],
        "final_loss": final_loss,
        # learned loss parameters, e.g. {"scale": ...} of student_t, on their natural scale
        "loss_parameters": {
            k.removeprefix(jax_ude.AUX_PREFIX + "log_"): float(np.exp(v))
            for k, v in weights.items()
            if k.startswith(jax_ude.AUX_PREFIX)
        },
    }
    if monitor.held_out:
        solver_stats["holdout_history"] = np.asarray(monitor.history)
    return SOCFitOutput(
        weights={
            k: np.asarray(v, dtype=np.float64)
            for k, v in weights.items()
            if not k.startswith(jax_ude.AUX_PREFIX)
        },
        history=history,
        status=SolveStatus(code=code, n_failed=counts["failed_solves"]),
        solver_stats=solver_stats,
        num_compiles=sum(TRACES.values()) - traces_before,
        stop_reasons=stop_reasons,
    )
