"""Time one multi-site SOC UDE training step for 1, 8 and 32 sites (JAX engine).

One step = value and gradient of the trajectory loss over all sites in one batched solve
(Nz 30, 50 years, yearly targets, H (32, 16) gelu, Tsit5 rtol = atol = 1e-5, checkpointed
adjoint), measured after compilation with ``block_until_ready``; compile time is reported
separately. The sites are the first 1, 8, 32 of ``simulate_soc_sites(32, seed=0)``. Prints a
Markdown table with the per-step time, its ratio to one site and the solver steps;
``--json`` writes the numbers.

    python benchmarks/soc_sites.py [--repeats 10] [--sites 1 8 32] [--json out.json]
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

from soilsciml.config import SOCFitConfig, SOCLossConfig
from soilsciml.engines.jax import train as jax_train
from soilsciml.engines.jax import ude as jax_ude
from soilsciml.soc.fit import problem_from_dataset
from soilsciml.soc.simulate import simulate_soc_sites


def time_step(dataset, config: SOCFitConfig, repeats: int) -> dict:
    """Compile time, median and minimum step time (s) and solver steps of one dataset."""
    problem = problem_from_dataset(dataset, config)
    data = jax_ude.prepare_data(problem, config, "float64")
    static = jax_ude.static_settings(config, problem.boundary)
    weights = jax_ude.init_weights(config.network.h1, config.network.h2, config.train.seed)
    weights = {k: jnp.asarray(v) for k, v in weights.items()}
    start = time.perf_counter()
    jax.block_until_ready(jax_train.value_and_grad(weights, data, static))
    first_call = time.perf_counter() - start
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(jax_train.value_and_grad(weights, data, static))
        timings.append(time.perf_counter() - start)
    forward = jax.jit(partial(jax_ude.trajectory, static=static))
    _, _, stats = jax.block_until_ready(forward(weights, data, data["save_times"]))
    step = float(np.median(timings))
    return {
        "compile_s": first_call - step,
        "step_median_s": step,
        "step_min_s": float(np.min(timings)),
        "solver_steps": int(stats["num_steps"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args()

    config = SOCFitConfig(loss=SOCLossConfig(target="trajectory"))
    everything = simulate_soc_sites(max(args.sites), seed=0)
    rows = {
        n: time_step(everything.isel(site=slice(0, n)), config, args.repeats) for n in args.sites
    }
    base = rows[args.sites[0]]["step_median_s"]
    header = "| sites | step (median) | step (min) | ratio to 1 site | per site | solver steps |"
    print(header + " compile |\n|---|---|---|---|---|---|---|")
    for n, row in rows.items():
        ratio = row["step_median_s"] / base
        print(
            f"| {n} | {1e3 * row['step_median_s']:.1f} ms | {1e3 * row['step_min_s']:.1f} ms "
            f"| {ratio:.2f} | {ratio / n:.3f} | {row['solver_steps']} | {row['compile_s']:.1f} s |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "setting": "Nz 30, t 0-50 yr, trajectory loss, H (32, 16), gelu, Tsit5, rtol 1e-5",
            "rows": {str(n): row for n, row in rows.items()},
            "repeats": args.repeats,
            "jax": jax.__version__,
            "device": str(jax.devices()[0]),
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
