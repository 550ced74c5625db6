"""Wall time of one SOC simulation grid on each executor, as ratios to the in-process run.

    PYTHONPATH=python python benchmarks/grid_executors.py [--workers 2] [--years 50]

The grid (8 trials: boundary x nz x advection) uses the ``soc_simulate`` trial kind; every
trial compiles its own solve (the depth grid changes the shapes), so the ratio shows what worker
processes buy once start-up (process spawn, JAX import, Dask cluster) is paid. Prints a Markdown
table; the metrics of every executor are checked to be identical to the in-process ones.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from soilsciml.config import SOCSimulationConfig
from soilsciml.search import GridSpec, Selection, run_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--years", type=float, default=50.0)
    args = parser.parse_args()
    spec = GridSpec(
        "soilsciml.soc.trials:simulate_trial",
        SOCSimulationConfig(years=args.years),
        {
            "transport.boundary": ["mirror", "zero_flux"],
            "grid.nz": [30, 60],
            "transport.advection": [1e-3, 1e-2],
        },
        select=Selection("solver_steps", "min"),
    )
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for executor in ("inprocess", "processes", "dask"):
            start = time.perf_counter()
            run = run_grid(
                spec, Path(tmp) / executor, executor=executor, workers=args.workers, quiet=True
            )
            wall = time.perf_counter() - start
            found = {name: record["metrics"] for name, record in run.records.items()}
            reference = reference or (wall, found)
            assert found == reference[1], f"{executor} metrics differ from in-process"
            rows.append((executor, wall, wall / reference[0]))
    print(f"| executor (workers={args.workers}) | wall time (s) | ratio to inprocess |")
    print("|---|---|---|")
    for executor, wall, ratio in rows:
        print(f"| {executor} | {wall:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
