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
    HySoMiCalibrationConfig,
    HySoMiConstraintConfig,
    HySoMiGeneratorConfig,
    IncubationFormat,
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


def _calibrate(args: argparse.Namespace) -> int:
    from soilsciml.calibrate import calibrate_hysomi, initial_pools, write_calibration
    from soilsciml.data.incubation import read_incubation

    factors = {}
    for text in args.factor:
        label, _, value = text.partition("=")
        try:
            factors[label.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--factor {text!r}: expected LABEL=NUMBER, e.g. P11=0.95") from None
    data = IncubationFormat(
        time_column=args.time_column,
        time_unit=args.time_unit,
        co2_column=args.co2_column,
        co2_unit=args.co2_unit,
        co2_kind="rate" if args.rate else "cumulative",
        biomass_column=args.biomass_column,
        biomass_unit=args.biomass_unit,
        series_column=args.series_column,
        min_times=args.min_times,
    )
    config = HySoMiCalibrationConfig(
        data=data,
        initial=initial_pools(args.initial),
        n_starts=args.starts,
        adam_steps=args.adam_steps,
        polish_steps=args.polish_steps,
        learning_rate=args.learning_rate,
        constraint_weight=args.constraint_weight,
        seed=args.seed,
        constraints=HySoMiConstraintConfig(
            setting=args.setting,
            factor_labels=tuple(factors),
            factor_values=tuple(factors.values()),
        ),
    )
    series = read_incubation(args.input, data)
    if "traits" in series and args.model is None:
        print("traits found but no --model given: fitting the 13 parameters of each series")
    result = calibrate_hysomi(series, config, model_dir=args.model)
    write_calibration(result, config, args.out)
    for name in result["series"].values:
        row = result.sel(series=name)
        print(
            f"{name}: {row['status'].item()}, R2 of CO2 {float(row['co2_r2']):.4f}, "
            f"constraints passed {int(row['constraint_passed'].sum())}/"
            f"{result.sizes['constraint']}"
        )
    print(f"wrote {args.out}: fit.json, results.nc, config.toml, one figure per series")
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

    cal = sub.add_parser(
        "calibrate", help="fit the PBM parameters to incubation series (CSV or NetCDF)"
    )
    cal.add_argument("input", type=Path, metavar="SERIES", help="series file: CSV or NetCDF (.nc)")
    cal.add_argument("--time-column", default="time", metavar="NAME")
    cal.add_argument("--time-unit", default="h", help="min, h or d (default h)")
    cal.add_argument("--co2-column", default="co2", metavar="NAME")
    cal.add_argument(
        "--co2-unit", default="mg/g", help="mg/g, g/kg, ug/g, mg/kg, umol/g or mmol/g (of C)"
    )
    kind = cal.add_mutually_exclusive_group()
    kind.add_argument("--cumulative", action="store_true", help="CO2 is cumulative (default)")
    kind.add_argument("--rate", action="store_true", help="CO2 is a rate per time unit")
    cal.add_argument(
        "--biomass-column", default=None, metavar="NAME", help="microbial biomass C (B_A + B_D)"
    )
    cal.add_argument("--biomass-unit", default="mg/g")
    cal.add_argument(
        "--series-column", default="series", metavar="NAME", help="column grouping rows"
    )
    cal.add_argument(
        "--initial",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="initial pools in mg C/g (B_A, B_D, C_H, C_L, C_LS), e.g. C_L=6.0 B_D=0.33",
    )
    cal.add_argument("--setting", choices=CONSTRAINT_SETTINGS, default="real")
    cal.add_argument(
        "--factor",
        action="append",
        default=[],
        metavar="LABEL=VALUE",
        help="re-threshold a constraint, e.g. P11=0.95 for a 3-day series; repeat for several",
    )
    cal.add_argument("--starts", type=int, default=8, help="Latin-hypercube starts per series")
    cal.add_argument("--adam-steps", type=int, default=300)
    cal.add_argument("--polish-steps", type=int, default=200, help="BFGS steps (0: none)")
    cal.add_argument("--learning-rate", type=float, default=0.05)
    cal.add_argument("--constraint-weight", type=float, default=1.0)
    cal.add_argument("--min-times", type=int, default=3, help="fewest times per series")
    cal.add_argument("--seed", type=int, default=0)
    cal.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="RUNDIR",
        help="trained trait network run (not available yet)",
    )
    cal.add_argument("--out", type=Path, required=True, metavar="RUNDIR", help="run directory")
    cal.set_defaults(handler=_calibrate)
