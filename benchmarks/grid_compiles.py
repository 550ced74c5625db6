"""Compilations across the trials of a SOC grid search that share shapes.

Fits the Case 4 SOC UDE ``--trials`` times in one process with a different learning rate,
seed and weight decay each time (a grid over values, not shapes), with a short Adam + BFGS
budget, and reports each fit's ``num_compiles`` (traces of the training kernels,
``jax_train.TRACES``) and wall time: the first fit compiles, the others must not.

    python benchmarks/grid_compiles.py [--trials 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench_util import write_json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args(argv)

    from soilsciml.config import SOCFitConfig, SOCLossConfig, SOCTrainConfig
    from soilsciml.engines.jax.train import TRACES
    from soilsciml.soc.fit import fit_soc
    from soilsciml.soc.simulate import simulate_soc

    ds = simulate_soc()
    trials = []
    for i in range(args.trials):
        train = SOCTrainConfig(adam_iters=5, second_iters=3, lr=3e-3 * (1 + i), seed=i)
        config = SOCFitConfig(train=train, loss=SOCLossConfig(lambda_wd=1e-6 * i))
        start = time.perf_counter()
        result = fit_soc(ds, config, progress=False)
        trials.append(
            {
                "lr": train.lr,
                "seed": train.seed,
                "lambda_wd": config.loss.lambda_wd,
                "num_compiles": result.num_compiles,
                "wall_s": time.perf_counter() - start,
            }
        )
    write_json(
        {
            "benchmark": "grid_compiles",
            "contender": "jax",
            "trials": trials,
            "compiles_per_trial": [t["num_compiles"] for t in trials],
            "traces": dict(TRACES),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
