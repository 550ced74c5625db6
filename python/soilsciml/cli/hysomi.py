"""``soilsciml hysomi ...``: the microbial process-model commands."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from soilsciml.config import (
    CONSTRAINT_SETTINGS,
    GENERATOR_ACTIVATIONS,
    SOLVERS,
    HySoMiConstraintConfig,
    HySoMiGeneratorConfig,
)

__all__ = ["register"]


def _simulate(args: argparse.Namespace) -> int:
    from soilsciml.data.hysomi import SIMULATION_SOLVER, params_from_records, simulate_hysomi
    from soilsciml.data.io import save_dataset

    if not args.params.is_file():
        raise FileNotFoundError(f"no such file: {args.params}")
    try:
        records = json.loads(args.params.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{args.params} is not valid JSON: {err}") from err
    params = params_from_records(records)
    solver = dataclasses.replace(SIMULATION_SOLVER, solver=args.solver)
    ds = simulate_hysomi(params, solver=solver, horizon=args.hours)
    save_dataset(ds, args.out)
    failed = int((ds["solve_status"] != 0).sum())
    print(
        f"wrote {args.out}: six pools of {params.shape[0]} parameter set(s) on "
        f"{ds.sizes['time']} hourly times" + (f"; {failed} solve(s) failed" if failed else "")
    )
    return 0


def _generate(args: argparse.Namespace) -> int:
    from soilsciml.data.hysomi import generate_hysomi
    from soilsciml.data.io import save_dataset

    defaults = HySoMiGeneratorConfig()
    factors = {
        label: value for label, value in (("P6", args.p6), ("C3", args.c3)) if value is not None
    }
    config = HySoMiGeneratorConfig(
        n_samples=args.n,
        seed=args.seed,
        chunk_size=args.chunk_size,
        generator_depth=args.generator_depth,
        generator_width=args.generator_width,
        generator_activation=args.generator_activation,
        trait_noise=args.trait_noise,
        constraints=HySoMiConstraintConfig(
            factor_labels=tuple(factors), factor_values=tuple(factors.values())
        ),
        solver=dataclasses.replace(defaults.solver, solver=args.solver),
    )
    ds = generate_hysomi(config, progress=not args.quiet)
    save_dataset(ds, args.out)
    print(
        f"wrote {args.out}: {config.n_samples} samples kept of {ds.attrs['n_draws']} draws "
        f"(acceptance {ds.attrs['acceptance_rate']:.4f}, "
        f"{ds.attrs['n_failed_solves']} failed solves)"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from soilsciml.data.hysomi import constraint_pass_rates
    from soilsciml.data.io import load_dataset

    ds = load_dataset(args.input)
    config = None if args.setting is None else HySoMiConstraintConfig(setting=args.setting)
    rates = constraint_pass_rates(ds, config)
    print(f"{'constraint':10s} pass rate ({ds.sizes['sample']} samples)")
    for label, rate in rates.items():
        print(f"{label:10s} {rate:.4f}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``hysomi`` command group."""
    group = commands.add_parser("hysomi", help="HySoMi microbial model: simulate, data, checks")
    sub = group.add_subparsers(dest="hysomi_command", required=True, metavar="SUBCOMMAND")

    sim = sub.add_parser("simulate", help="simulate the six pools for named parameter sets")
    sim.add_argument(
        "--params", type=Path, required=True, help="JSON object of the 13 parameters or a list"
    )
    sim.add_argument("--hours", type=float, default=168.0, help="horizon in hours (default 168)")
    sim.add_argument("--solver", choices=SOLVERS, default="tsit5")
    sim.add_argument("--out", type=Path, required=True, help="output NetCDF file")
    sim.set_defaults(handler=_simulate)

    gen = sub.add_parser("generate", help="build the synthetic trait dataset (spec section 5)")
    gen.add_argument("--n", type=int, default=973, help="samples to keep (default 973)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--generator-depth", type=int, default=3, help="hidden layers (default 3)")
    gen.add_argument("--generator-width", type=int, default=64, help="hidden width (default 64)")
    gen.add_argument("--generator-activation", choices=GENERATOR_ACTIVATIONS, default="relu")
    gen.add_argument("--trait-noise", type=float, default=0.0, help="Gaussian trait noise SD")
    gen.add_argument("--p6", type=float, default=None, help="factor of P6 (default 0.5)")
    gen.add_argument("--c3", type=float, default=None, help="factor of C3 (default 1.0)")
    gen.add_argument(
        "--solver", choices=SOLVERS, default="tsit5", help="kvaerno5 for an implicit solve"
    )
    gen.add_argument("--chunk-size", type=int, default=2048, help="draws per compiled batch")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.add_argument("--out", type=Path, required=True, help="output NetCDF file")
    gen.set_defaults(handler=_generate)

    check = sub.add_parser("check", help="per-constraint pass rate of a HySoMi dataset")
    check.add_argument("input", type=Path, help="HySoMi dataset (NetCDF)")
    check.add_argument(
        "--setting",
        choices=CONSTRAINT_SETTINGS,
        default=None,
        help="constraint set (default: the dataset's own, else synthetic)",
    )
    check.set_defaults(handler=_check)
