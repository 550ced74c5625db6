"""Does vmapping same-shape grid trials through one jitted Adam step beat running them in turn?

The Case 4 grid has 4 shapes (h1, h2); within a shape, trials differ by learning rate and seed
(and activation). This times ``--steps`` Adam steps (failure-safe value and gradient, then the
optax update) of ``--batch`` trials of one shape, initialised with different seeds and learning
rates:

- sequential: one compiled step, called for each trial in turn (what a grid does today);
- batched: the same step ``jax.vmap``-ed over the stacked weights, learning rates and optimiser
  states of the ``--batch`` trials, one call per step for all of them.

Compile times are reported separately from run times (``block_until_ready``). Run times are the
median of ``--repeats`` interleaved rounds. Prints a Markdown table; ``--json`` writes the numbers.

    PYTHONPATH=python python benchmarks/grid_batching.py [--batch 4] [--steps 20] [--repeats 3]
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
import optax

from soilsciml.config import SOCFitConfig, SOCLossConfig
from soilsciml.engines.jax import ude as jax_ude
from soilsciml.soc.fit import problem_from_dataset
from soilsciml.soc.simulate import simulate_soc


def _step(weights, opt_state, lr, data, static):
    loss, grads = jax_ude.safe_value_and_grad(weights, data, static)
    updates, opt_state = optax.adam(lr).update(grads, opt_state, weights)
    return optax.apply_updates(weights, updates), opt_state, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4, help="same-shape trials")
    parser.add_argument("--steps", type=int, default=20, help="Adam steps per trial")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args()

    # Case 4 loss: terminal target, collocation and weight decay (paper Table 5).
    config = SOCFitConfig(loss=SOCLossConfig(lambda_coll=1.0, lambda_wd=1e-4))
    problem = problem_from_dataset(simulate_soc(), config)
    data = jax_ude.prepare_data(problem, config, "float64")
    static = jax_ude.static_settings(config, problem.boundary)
    seeds = range(args.batch)
    lrs = jnp.asarray(np.linspace(3e-3, 5e-3, args.batch))
    inits = [
        {k: jnp.asarray(v) for k, v in jax_ude.init_weights(32, 16, seed).items()} for seed in seeds
    ]
    states = [optax.adam(lrs[i]).init(w) for i, w in enumerate(inits)]

    one = jax.jit(partial(_step, static=static))
    many = jax.jit(jax.vmap(partial(_step, static=static), in_axes=(0, 0, 0, None)))
    stack = partial(jax.tree_util.tree_map, lambda *xs: jnp.stack(xs))

    def sequential():
        for i in range(args.batch):
            w, s = inits[i], states[i]
            for _ in range(args.steps):
                w, s, loss = one(w, s, lrs[i], data)
            jax.block_until_ready(loss)
        return loss

    def batched():
        w, s = stack(*inits), stack(*states)
        for _ in range(args.steps):
            w, s, loss = many(w, s, lrs, data)
        return jax.block_until_ready(loss)

    compile_s = {}
    for name, call in (
        ("sequential", lambda: one(inits[0], states[0], lrs[0], data)),
        ("batched", lambda: many(stack(*inits), stack(*states), lrs, data)),
    ):
        start = time.perf_counter()
        jax.block_until_ready(call())
        compile_s[name] = time.perf_counter() - start
    timings = {"sequential": [], "batched": []}
    for _ in range(args.repeats):
        for name, run in (("sequential", sequential), ("batched", batched)):
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)
    median = {k: float(np.median(v)) for k, v in timings.items()}
    result = {
        "setting": f"Case 4 loss, H (32, 16), gelu, {args.batch} trials x {args.steps} Adam steps",
        "compile_s": compile_s,
        "run_median_s": median,
        "run_all_s": timings,
        "batched_over_sequential": median["batched"] / median["sequential"],
    }
    print(f"{result['setting']}, median of {args.repeats} rounds\n")
    print("| path | compile + first step [s] | run [s] | per trial-step [ms] |")
    print("|---|---|---|---|")
    for name in ("sequential", "batched"):
        per = 1e3 * median[name] / (args.batch * args.steps)
        print(f"| {name} | {compile_s[name]:.1f} | {median[name]:.2f} | {per:.1f} |")
    print(f"\nbatched / sequential run time: {result['batched_over_sequential']:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
