"""``soilsciml grid CONFIG.toml --out RUNDIR``: run or resume any grid search."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def _grid(args: argparse.Namespace) -> int:
    from soilsciml.search import load_grid, run_grid

    spec = load_grid(args.config)
    run = run_grid(
        spec,
        args.out,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        restart=args.restart,
        retry_failed=args.retry_failed,
        quiet=args.quiet,
    )
    failed = sum(r["status"] == "failed" for r in run.records.values())
    print(
        f"{len(spec.trials)} trials in {run.directory}: {len(run.executed)} run now, "
        f"{len(run.records) - len(run.executed)} already finished, {failed} failed, "
        f"{len(run.lost)} lost"
    )
    if run.best is None:
        print(f"no trial reported {spec.select.metric}; see {run.directory / 'results.md'}")
        return 1
    value = run.best["metrics"][spec.select.metric]
    print(f"best: {run.best['name']} ({spec.select.metric} = {value:.6g}, {spec.select.mode})")
    if run.retrained is not None:
        print(f"retrained best: {run.retrained['status']}, in {run.directory / 'best'}")
    print(f"results: {run.directory / 'results.md'}, results.nc, results.json")
    return 1 if run.lost else 0


def add_executor_options(parser: argparse.ArgumentParser, scheduler: bool = True) -> None:
    """``--executor``, ``--workers`` and (with ``scheduler``) ``--scheduler``: where trials run."""
    parser.add_argument(
        "--executor",
        default="inprocess",
        metavar="NAME",
        help="where trials run: inprocess (default), processes or dask",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: CPU count)"
    )
    if scheduler:
        parser.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="address of a running Dask scheduler (with dask)",
        )


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``grid`` command."""
    grid = commands.add_parser(
        "grid",
        help="run or resume a grid search (the product of a dict of lists over a config)",
        description=(
            "Run every trial of the grid in CONFIG.toml, writing each one to RUNDIR as it "
            "finishes. Rerunning the same command skips finished trials."
        ),
    )
    grid.add_argument(
        "config", type=Path, metavar="CONFIG.toml", help="grid file (kind, [base], [grid], ...)"
    )
    grid.add_argument("--out", type=Path, required=True, metavar="RUNDIR", help="run directory")
    add_executor_options(grid)
    grid.add_argument(
        "--restart",
        action="store_true",
        help="discard every trial in RUNDIR and start over (also for a different grid)",
    )
    grid.add_argument(
        "--retry-failed", action="store_true", help="rerun trials that were saved as failed"
    )
    grid.add_argument("--quiet", action="store_true", help="no progress bar")
    grid.set_defaults(handler=_grid)
