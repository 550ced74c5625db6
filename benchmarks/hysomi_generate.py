"""Time synthetic HySoMi dataset generation: the JAX generator against per-sample scipy.

Both solve the PBM for Latin-hypercube parameter draws (scipy ``qmc``, seed 0) on the 169
hourly points at the generator's tolerances (rtol 1e-6, atol 1e-9) and keep the draws that
solve and pass every hard constraint of the synthetic set. Contenders, each in its own
process, compared per draw:

- ``jax``: ``generate_hysomi`` for the paper's 973 samples (chunks of 2048 draws, one
  vmapped Tsit5 solve each), timed after a warm-up call that compiles the chunk; also writes
  which of the first ``--draws`` draws pass, for the scipy contender to compare;
- ``scipy``: ``solve_ivp`` (``--method``, LSODA by default) one draw at a time on the first
  ``--draws`` draws of the same sequence, then the same filter.

    python benchmarks/hysomi_generate.py --contender jax [--repeats 3] [--inputs benchmarks/out]
    python benchmarks/hysomi_generate.py --contender scipy [--draws 400] [--method LSODA]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_util import time_repeats, write_json

FLAGS = "generator_flags.npy"


def _draws(n: int) -> np.ndarray:
    """The first ``n`` (<= one chunk) parameter draws of the generator's sequence."""
    from scipy.stats import qmc

    from soilsciml.config import HySoMiGeneratorConfig
    from soilsciml.models import hysomi as model

    config = HySoMiGeneratorConfig()
    sampler = qmc.LatinHypercube(d=len(model.PARAMETERS), seed=config.seed)
    return qmc.scale(sampler.random(config.chunk_size), model.LOWER, model.UPPER)[:n]


def _passes(states: np.ndarray, params: np.ndarray, solved: np.ndarray) -> np.ndarray:
    """The generator's filter: solved and every hard constraint of the synthetic set."""
    from soilsciml.config import HySoMiGeneratorConfig
    from soilsciml.models import constraints as cons
    from soilsciml.models import hysomi as model

    settings = HySoMiGeneratorConfig().constraints
    constraints = cons.constraint_set(settings.setting, settings.factors())
    return solved & cons.hard_check(constraints, states, model.hourly_times(), params).all(-1)


def run_jax(inputs: Path, repeats: int, draws: int) -> dict:
    """Per-draw time of ``generate_hysomi`` (973 samples) and the flags of the first draws."""
    import jax

    from soilsciml.config import HySoMiGeneratorConfig
    from soilsciml.engines import get_engine
    from soilsciml.hysomi.data import generate_hysomi
    from soilsciml.models import hysomi as model

    config = HySoMiGeneratorConfig(n_samples=973)
    start = time.perf_counter()
    generate_hysomi(HySoMiGeneratorConfig(n_samples=3), progress=False)
    first = time.perf_counter() - start
    n_draws = []

    def generate():
        n_draws.append(generate_hysomi(config, progress=False).attrs["n_draws"])

    timing = time_repeats(generate, repeats)
    chunks = n_draws[0] / config.chunk_size
    params = _draws(config.chunk_size)
    trajectory = get_engine("jax").simulate_pbm(
        params, model.INITIAL_STATE, model.hourly_times(), config.solver
    )
    flags = _passes(trajectory.states, params, trajectory.codes == 0)[:draws]
    inputs.mkdir(parents=True, exist_ok=True)
    np.save(inputs / FLAGS, flags)
    per_draw = {k: v / n_draws[0] for k, v in timing.items() if k.endswith("_s")}
    return {
        "contender": "jax generate_hysomi (tsit5, vmapped chunks of 2048)",
        "compile_s": first - timing["median_s"] / chunks,
        "dataset_median_s": timing["median_s"],
        **per_draw,
        "repeats": repeats,
        "draws": int(n_draws[0]),
        "accepted_first_draws": int(flags.sum()),
        "versions": f"jax {jax.__version__}",
    }


def run_scipy(inputs: Path, draws: int, method: str) -> dict:
    """Per-draw time of one ``solve_ivp`` per draw plus the filter, on the first draws."""
    import scipy
    from scipy.integrate import solve_ivp

    from soilsciml.config import HySoMiGeneratorConfig
    from soilsciml.models import hysomi as model

    solver = HySoMiGeneratorConfig().solver
    params = _draws(draws)
    times = model.hourly_times()
    states = np.full((draws, times.size, len(model.STATE_NAMES)), np.nan)
    solved = np.zeros(draws, dtype=bool)
    start = time.perf_counter()
    for i, theta in enumerate(params):
        solution = solve_ivp(
            lambda t, y, p=theta: model.rhs(y, p),
            (times[0], times[-1]),
            model.INITIAL_STATE,
            method=method,
            t_eval=times,
            rtol=solver.rtol,
            atol=solver.atol,
        )
        solved[i] = solution.success
        if solution.success:
            states[i] = solution.y.T
    flags = _passes(states, params, solved)
    per_draw = (time.perf_counter() - start) / draws
    result = {
        "contender": f"scipy solve_ivp ({method}) per draw",
        "compile_s": 0.0,
        "median_s": per_draw,
        "min_s": per_draw,
        "max_s": per_draw,
        "repeats": 1,
        "draws": draws,
        "accepted_first_draws": int(flags.sum()),
        "failed_solves": int((~solved).sum()),
        "versions": f"scipy {scipy.__version__}",
    }
    if (inputs / FLAGS).exists():
        reference = np.load(inputs / FLAGS)[:draws]
        result["same_filter_decision"] = f"{int((reference == flags).sum())} / {reference.size}"
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", choices=("jax", "scipy"), default="jax")
    parser.add_argument("--repeats", type=int, default=3, help="jax: generated datasets")
    parser.add_argument("--draws", type=int, default=400, help="scipy: draws solved")
    parser.add_argument("--method", default="LSODA", help="scipy: solve_ivp method")
    parser.add_argument("--inputs", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    if args.contender == "jax":
        result = run_jax(args.inputs, args.repeats, args.draws)
    else:
        result = run_scipy(args.inputs, args.draws, args.method)
    write_json({"benchmark": "hysomi_generate", **result}, args.json)


if __name__ == "__main__":
    main()
