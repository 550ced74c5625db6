"""Time one SOC UDE training step: the JAX engine against the torchdiffeq peer.

One step = value and gradient of the terminal loss (Case 4: Nz 30, t 0-50 yr, H (32, 16),
gelu, rtol = atol = 1e-5, seeded initial weights), measured after compilation; the optimiser
update is left out on both sides. Three contenders, each run in its own process:

- ``check``: builds the inputs, computes loss and gradient with both engines for the same
  weights, fails unless they agree to the solver tolerance, and writes the inputs for
  ``torch`` to ``--inputs``;
- ``jax``: the JAX engine (``--solver``, checkpointed adjoint), with ``block_until_ready``;
  reports the compile time separately and, with ``--count-rhs``, counts RHS evaluations
  with a host callback;
- ``torch``: ``benchmarks/peers/torch_soc.py`` (``odeint`` dopri5, backpropagation through
  the solver), ``--threads`` torch threads.

    python benchmarks/soc_step.py --contender check --inputs benchmarks/out
    python benchmarks/soc_step.py --contender jax [--solver dopri5] [--dtype float64]
        [--pi] [--repeats 20] [--count-rhs]

``--pi`` uses the PI step-size controller (``solver.controller = "pi"``: pcoeff 0.4, icoeff
0.3) instead of the integral one; like every setting other than the peer's, its loss for the same
weights is checked against dopri5 float64 with the integral controller before timing.
    python benchmarks/soc_step.py --contender torch --inputs benchmarks/out [--repeats 10]
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
from bench_util import time_repeats, torch_result, use_torch_threads, write_json

RTOL = ATOL = 1e-5
#: Largest relative difference of loss and gradient between the engines (solver tolerance).
AGREEMENT = 1e-3
INPUTS = "soc_inputs.npz"


def _setup(solver: str, dtype: str = "float64", pi: bool = False):
    """Problem arrays, static settings and seeded weights of the Case 4 step."""
    from soilsciml.config import SOCFitConfig, SolverConfig
    from soilsciml.engines.jax import ude as jax_ude
    from soilsciml.soc.fit import problem_from_dataset
    from soilsciml.soc.simulate import simulate_soc

    controller = "pi" if pi else "integral"
    solver_config = SolverConfig(
        solver=solver, rtol=RTOL, atol=ATOL, dtype=dtype, controller=controller
    )
    config = SOCFitConfig(solver=solver_config)
    problem = problem_from_dataset(simulate_soc(), config)
    data = jax_ude.prepare_data(problem, config, dtype)
    static = jax_ude.static_settings(config, problem.boundary)
    weights = jax_ude.init_weights(config.network.h1, config.network.h2, config.train.seed)
    return config, problem, data, static, weights


def _count_rhs(weights, data, static) -> tuple[int, int]:
    """(forward solve, value + gradient) RHS evaluations, counted by a host callback."""
    import jax

    from soilsciml.engines.jax import ude as jax_ude

    calls = [0]
    original = jax_ude.ude_vector_field

    def counted(t, soc, args, static):
        jax.debug.callback(lambda: calls.__setitem__(0, calls[0] + 1))
        return original(t, soc, args, static)

    jax_ude.ude_vector_field = counted
    try:
        forward = jax.jit(partial(jax_ude.trajectory, static=static))
        jax.block_until_ready(forward(weights, data, data["save_times"]))
        n_forward, calls[0] = calls[0], 0
        step = jax.jit(partial(jax_ude.safe_value_and_grad, static=static))
        jax.block_until_ready(step(weights, data))
        return n_forward, calls[0]
    finally:
        jax_ude.ude_vector_field = original


def _reference_difference(loss: float, weights: dict) -> float:
    """Relative difference of ``loss`` to the peer's setting (dopri5, float64) for the same
    weights; exits when it exceeds :data:`AGREEMENT`."""
    import jax.numpy as jnp

    from soilsciml.engines.jax import train as jax_train

    _, _, data, static, _ = _setup("dopri5")
    reference, _ = jax_train.value_and_grad(
        {k: jnp.asarray(v) for k, v in weights.items()}, data, static
    )
    difference = abs(loss - float(reference)) / abs(float(reference))
    if difference > AGREEMENT:
        raise SystemExit(f"loss {loss} differs from the dopri5 float64 loss {float(reference)}")
    return difference


def run_jax(
    solver: str, repeats: int, count_rhs: bool, dtype: str = "float64", pi: bool = False
) -> dict:
    """Compile time, step time statistics, solver steps and RHS counts of the JAX engine.

    Other than dopri5 in float64 (the peer's setting), the loss for the same weights is also
    compared with the dopri5 float64 one (``loss_relative_difference_to_dopri5_float64``):
    a faster setting counts only where it computes the same loss to the solver tolerance."""
    import jax
    import jax.numpy as jnp

    from soilsciml.engines.jax import train as jax_train
    from soilsciml.engines.jax import ude as jax_ude

    _, _, data, static, initial = _setup(solver, dtype, pi)
    weights = {k: jnp.asarray(v, dtype) for k, v in initial.items()}

    def step():
        return jax.block_until_ready(jax_train.value_and_grad(weights, data, static))

    start = time.perf_counter()
    loss, _ = step()
    first_call = time.perf_counter() - start
    timing = time_repeats(step, repeats)
    _, _, stats = jax.block_until_ready(
        jax.jit(partial(jax_ude.trajectory, static=static))(weights, data, data["save_times"])
    )
    result = {
        "contender": (
            f"jax ({solver}{', ' + dtype if dtype != 'float64' else ''}{', PI' if pi else ''})"
        ),
        "compile_s": first_call - timing["median_s"],
        **timing,
        "solver_steps": int(stats["num_steps"]),
        "rejected_steps": int(stats["num_rejected_steps"]),
        "versions": f"jax {jax.__version__}",
    }
    if (solver, dtype, pi) != ("dopri5", "float64", False):
        result["loss_relative_difference_to_dopri5_float64"] = _reference_difference(
            float(loss), initial
        )
    if count_rhs:
        counts = _count_rhs(weights, data, static)
        result["rhs_evaluations_forward"], result["rhs_evaluations_value_and_grad"] = counts
    return result


def _peer(inputs: Path):
    from peers.torch_soc import TorchSOCUDE

    with np.load(inputs) as stored:
        arrays = dict(stored)
    weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w:")}
    data = {k[2:]: v for k, v in arrays.items() if k.startswith("d:")}
    return TorchSOCUDE(weights, data, boundary=str(arrays["boundary"]))


def run_torch(inputs: Path, repeats: int, threads: int) -> dict:
    """Step time statistics of the torchdiffeq peer (no compilation; first call excluded)."""
    use_torch_threads(threads)
    peer = _peer(inputs / INPUTS)
    peer.value_and_grad(RTOL, ATOL)  # warm-up
    timing = time_repeats(lambda: peer.value_and_grad(RTOL, ATOL), repeats)
    return torch_result("torchdiffeq (dopri5)", timing, threads)


def check(inputs: Path, threads: int) -> dict:
    """Loss and gradient of both engines for the same weights; raises unless they agree."""
    use_torch_threads(threads)
    import jax.numpy as jnp

    from soilsciml.engines.jax import train as jax_train

    _, problem, data, static, weights = _setup("dopri5")
    arrays = {f"w:{k}": v for k, v in weights.items()}
    arrays.update({f"d:{k}": np.asarray(v) for k, v in data.items()})
    inputs.mkdir(parents=True, exist_ok=True)
    np.savez(inputs / INPUTS, boundary=problem.boundary, **arrays)
    loss, grads = jax_train.value_and_grad(
        {k: jnp.asarray(v) for k, v in weights.items()}, data, static
    )
    peer_loss, peer_grads = _peer(inputs / INPUTS).value_and_grad(RTOL, ATOL)
    loss_error = abs(peer_loss - float(loss)) / abs(float(loss))
    grad_error = max(
        float(np.max(np.abs(peer_grads[k].numpy() - np.asarray(g))) / np.max(np.abs(g)))
        for k, g in grads.items()
    )
    if max(loss_error, grad_error) > AGREEMENT:
        raise SystemExit(
            f"the torch peer disagrees: loss {peer_loss} vs {float(loss)} "
            f"(relative {loss_error:.2e}), gradient relative error {grad_error:.2e}"
        )
    return {
        "contender": "check",
        "loss_jax": float(loss),
        "loss_torch": peer_loss,
        "loss_relative_difference": loss_error,
        "gradient_relative_difference": grad_error,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", choices=("check", "jax", "torch"), default="jax")
    parser.add_argument("--solver", default="dopri5", help="JAX solver (tsit5, dopri5, ...)")
    parser.add_argument("--dtype", default="float64", help="JAX dtype (float64, float32)")
    parser.add_argument("--pi", action="store_true", help="jax: PI step-size controller")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--count-rhs", action="store_true", help="jax: count RHS evaluations")
    parser.add_argument("--inputs", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    if args.contender == "jax":
        result = run_jax(args.solver, args.repeats, args.count_rhs, args.dtype, args.pi)
    elif args.contender == "torch":
        result = run_torch(args.inputs, args.repeats, args.threads)
    else:
        result = check(args.inputs, args.threads)
    write_json({"benchmark": "soc_step", **result}, args.json)


if __name__ == "__main__":
    main()
