"""Time one SOC UDE training step on the JAX engine (Case 4 setting, rtol 1e-5).

One step = value and gradient of the terminal loss (checkpointed adjoint), measured after
compilation with ``block_until_ready``; compile time is reported separately. RHS evaluations
are counted exactly by a host callback in an instrumented copy of the vector field (forward
solve alone, and value + gradient). Prints a Markdown table; ``--json`` writes the numbers.

    python benchmarks/soc_step.py [--repeats 20] [--json benchmarks/out/soc_step.json]
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from soilsciml.config import SOCFitConfig, SolverConfig
from soilsciml.data.synthetic import simulate_soc
from soilsciml.engines import jax_train, jax_ude
from soilsciml.soc_fit import problem_from_dataset


def _count_rhs(weights, data, static) -> tuple[int, int]:
    """(forward solve, value + gradient) RHS evaluations, counted by a host callback."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args()

    config = SOCFitConfig(solver=SolverConfig(rtol=1e-5, atol=1e-5))
    problem = problem_from_dataset(simulate_soc(), config)
    data = jax_ude.prepare_data(problem, config, "float64")
    static = jax_ude.static_settings(config, problem.boundary)
    weights = jax_ude.init_weights(config.network.h1, config.network.h2, config.train.seed)
    weights = {k: jnp.asarray(v) for k, v in weights.items()}

    start = time.perf_counter()
    jax.block_until_ready(jax_train.value_and_grad(weights, data, static))
    first_call = time.perf_counter() - start
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(jax_train.value_and_grad(weights, data, static))
        timings.append(time.perf_counter() - start)
    step = float(np.median(timings))
    _, _, stats = jax.block_until_ready(
        jax.jit(partial(jax_ude.trajectory, static=static))(weights, data, data["save_times"])
    )
    n_forward, n_step = _count_rhs(weights, data, static)
    result = {
        "setting": "Case 4: Nz 30, t 0-50 yr, H (32, 16), gelu, Tsit5, rtol = atol = 1e-5",
        "compile_s": first_call - step,
        "step_median_s": step,
        "step_min_s": float(np.min(timings)),
        "repeats": args.repeats,
        "solver_steps": int(stats["num_steps"]),
        "rhs_evaluations_forward": n_forward,
        "rhs_evaluations_value_and_grad": n_step,
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
    }
    print("| quantity | value |\n|---|---|")
    for name, value in result.items():
        print(f"| {name} | {value:.4g} |" if isinstance(value, float) else f"| {name} | {value} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
