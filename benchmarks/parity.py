"""Train SOC Case 4 on the JAX and the Julia engines and compare them side by side.

Case 4: noise-free reference truth, Nz = 30, 50 years, terminal-profile loss at t = 50, the
default SOC fit config (Adam then BFGS). Each engine trains twice in its own process (JAX and
Julia never share one), from its own seeded initialisation: the first fit includes compilation
(and Julia's start), the second is warm. The table reports both wall-clock times, the
compile / first-call overhead (first minus warm), time per optimiser iteration of the warm fit,
iterations, the final loss, and MSE / R2 of the terminal profile against the truth.

    python benchmarks/parity.py [--set optimiser.adam_steps=50 ...] [--out FILE.md]

Where the Julia engine is unavailable the script says why and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from soilsciml import config as cfg
from soilsciml.engines import base, engine_status
from soilsciml.engines.isolated import IsolatedResult, call_in_subprocess


def case4_problem() -> tuple[Any, np.ndarray]:
    """The Case 4 training problem (targets at t = 50 only) and the clean terminal profile."""
    from soilsciml.soc.simulate import simulate_soc

    ds = simulate_soc()
    times = ds["time"].values
    targets = np.full((2, ds.sizes["depth"]), np.nan)
    targets[-1] = ds["soc"].values[-1]
    problem = base.SOCUDEProblem(
        depth=ds["depth"].values,
        times=np.array([times[0], times[-1]]),
        initial=ds["soc"].values[0],
        driver_times=times,
        drivers=np.stack([ds[name].values for name in ("ph", "cec", "clay")], axis=-1),
        targets=targets,
        diffusion=1e-3,
        advection=1e-3,
        boundary="mirror",
    )
    return problem, ds["soc"].values[-1]


def summarise(engine: str, result: IsolatedResult, problem: Any, config: Any, truth) -> dict:
    """Timings and terminal metrics of one engine's two fits."""
    fit = result.value
    iterations = sum(len(h) for h in fit.history.values())
    warm = result.repeat_seconds[-1]
    prediction = call_in_subprocess(engine, "predict_soc", problem, fit.weights, config).value
    mse = float(np.mean((np.asarray(prediction.soc)[-1] - truth) ** 2))
    return {
        "engine": engine,
        "first_s": result.seconds,
        "warm_s": warm,
        "compile_s": result.seconds - warm,
        "per_step_ms": 1e3 * warm / max(iterations, 1),
        "steps": iterations,
        "final_loss": float(fit.solver_stats["final_loss"]),
        "mse": mse,
        "r2": 1.0 - mse / float(np.var(truth)),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of the summaries."""
    header = (
        "| engine | first fit (s) | warm fit (s) | compile + start (s) | per iteration (ms) | "
        "iterations | final loss | terminal MSE | terminal R2 |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['first_s']:.1f} | {r['warm_s']:.1f} | {r['compile_s']:.1f} | "
            f"{r['per_step_ms']:.1f} | {r['steps']} | {r['final_loss']:.3e} | {r['mse']:.3e} | "
            f"{r['r2']:.5f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a SOC fit config key (dotted name; value parsed as TOML)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/parity.md"))
    args = parser.parse_args(argv)

    reason = engine_status("julia")
    if reason is not None:
        print(f"Julia engine unavailable, parity benchmark not run: {reason}")
        return 0
    fit_config = getattr(cfg, "SOCFitConfig", None)
    if fit_config is None or not hasattr(base, "SOCUDEProblem"):
        print("SOC UDE training (SOCFitConfig, SOCUDEProblem) is not in this tree; not run")
        return 0
    config = fit_config()
    for item in args.set:
        key, _, value = item.partition("=")
        config = cfg.replace_path(config, key, tomllib.loads(f"v = {value}")["v"])
    problem, truth = case4_problem()
    rows = []
    for engine in ("jax", "julia"):
        print(f"training Case 4 on {engine} ...", flush=True)
        result = call_in_subprocess(engine, "fit_soc", problem, config, False, repeat=2)
        rows.append(summarise(engine, result, problem, config, truth))
    report = table(rows)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
