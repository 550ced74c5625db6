"""``soilsciml hysomi ...``: the microbial process-model commands."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from soilsciml.cli.grid import add_executor_options
from soilsciml.config import (
    CONSTRAINT_SETTINGS,
    GENERATOR_ACTIVATIONS,
    HYSOMI_MODELS,
    LOSS_WEIGHTINGS,
    NOISE_MODELS,
    SELECTIONS,
    SOLVERS,
    UNCERTAINTY_METHODS,
    ConfigError,
    HySoMiCalibrationConfig,
    HySoMiConstraintConfig,
    HySoMiGeneratorConfig,
    HySoMiTrainConfig,
    IncubationFormat,
)

__all__ = ["register"]

#: Names of ``experiments.hysomi.EXPERIMENTS`` (listed here so the parser imports no JAX).
EXPERIMENT_NAMES = (
    "main",
    "complexity",
    "size",
    "trait-noise",
    "misspecification",
    "mismatch",
    "ablation",
)


def _simulate(args: argparse.Namespace) -> int:
    from soilsciml.data.io import save_dataset
    from soilsciml.hysomi.data import SIMULATION_SOLVER, params_from_records, simulate_hysomi

    if not args.params.is_file():
        raise FileNotFoundError(f"no such file: {args.params}")
    try:
        records = json.loads(args.params.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{args.params} is not valid JSON: {err}") from err
    except RecursionError:
        raise ValueError(f"{args.params} nests objects or lists too deeply") from None
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
    from soilsciml.data.io import save_dataset
    from soilsciml.hysomi.data import generate_hysomi

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
    from soilsciml.data.io import load_dataset
    from soilsciml.hysomi.data import constraint_pass_rates

    ds = load_dataset(args.input)
    config = None if args.setting is None else HySoMiConstraintConfig(setting=args.setting)
    rates = constraint_pass_rates(ds, config)
    print(f"{'constraint':10s} pass rate ({ds.sizes['sample']} samples)")
    for label, rate in rates.items():
        print(f"{label:10s} {rate:.4f}")
    return 0


def _held_out(args: argparse.Namespace) -> tuple[str, ...]:
    """Channel names of the ``--validate-column`` columns."""
    roles = {
        args.co2_column: "co2",
        args.rate_column: "co2_rate",
        args.biomass_column: "biomass",
        args.glucose_column: "glucose",
    }
    held = []
    for column in args.validate_column:
        if column not in roles:
            given = ", ".join(c for c in roles if c is not None)
            raise ValueError(
                f"--validate-column {column!r}: not one of the columns given to --co2-column, "
                f"--rate-column, --biomass-column or --glucose-column ({given})"
            )
        held.append(roles[column])
    return tuple(held)


def _calibrate(args: argparse.Namespace) -> int:
    from soilsciml.hysomi.calibrate import calibrate_hysomi, initial_pools, write_calibration
    from soilsciml.hysomi.incubation import read_incubation

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
        kec=args.kec,
        glucose_column=args.glucose_column,
        glucose_unit=args.glucose_unit,
        rate_column=args.rate_column,
        rate_time_unit=args.rate_time_unit,
        series_column=args.series_column,
        min_times=args.min_times,
    )
    config = HySoMiCalibrationConfig(
        data=data,
        initial=initial_pools(args.initial),
        held_out=_held_out(args),
        noise=args.noise,
        n_screen=args.screen,
        n_starts=args.starts,
        explore_steps=args.explore_steps,
        max_steps=args.lm_steps,
        constraint_weight=args.constraint_weight,
        uncertainty=args.uncertainty,
        level=args.level,
        mcmc_chains=args.chains,
        mcmc_warmup=args.warmup,
        mcmc_samples=args.samples,
        mcmc_parameters=tuple(args.sample),
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
        metrics = ", ".join(
            f"{channel} ({role}) R2 {float(r2):.4f} bias {float(bias):.3g} {unit}"
            for channel, role, unit, r2, bias in zip(
                result["channel"].values,
                result["channel_role"].values,
                result["channel_units"].values,
                row["r2"].values,
                row["bias"].values,
                strict=True,
            )
        )
        print(
            f"{name}: {row['status'].item()}; {metrics}; constraints passed "
            f"{int(row['constraint_passed'].sum())}/{result.sizes['constraint']}"
        )
    for warnings in json.loads(result.attrs["warnings"]):
        for warning in warnings:
            print(f"warning: {warning}")
    print(f"wrote {args.out}: fit.json, results.nc, config.toml, figures per series")
    return 0


def _train_config(args: argparse.Namespace) -> HySoMiTrainConfig:
    defaults = HySoMiTrainConfig()
    return HySoMiTrainConfig(
        model=args.model,
        loss_weighting=args.loss_weighting,
        epochs=args.epochs,
        patience=args.patience,
        selection=args.selection,
        batch_size=args.batch_size,
        width=args.width,
        depth=args.depth,
        n_train=args.n_train,
        seed=args.seed,
        solver=dataclasses.replace(defaults.solver, rtol=args.rtol, atol=args.atol),
    )


def _train(args: argparse.Namespace) -> int:
    from soilsciml.data.io import load_dataset
    from soilsciml.hysomi.fit import METRIC_KEYS, fit_hysomi, write_run

    config = _train_config(args)
    ds = load_dataset(args.input)
    result = fit_hysomi(ds, config, engine=args.engine, progress=not args.quiet)
    write_run(result, args.out)
    metrics = result.metrics()
    shown = ", ".join(
        f"{k} {'n/a' if metrics[k] is None else format(metrics[k], '.4g')}" for k in METRIC_KEYS
    )
    print(
        f"wrote {args.out}: {args.model}, {metrics['epochs_run']} epochs "
        f"(best {metrics['best_epoch']}) in {metrics['wall_time_s']:.1f} s; test {shown}"
    )
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from soilsciml.data.io import load_dataset
    from soilsciml.hysomi.ensemble import fit_hysomi_ensemble

    config = _train_config(args)
    if args.members < 2:
        raise ConfigError(f"--members must be at least 2; got {args.members}")
    if config.model == "ml":
        raise ConfigError("the 'ml' model predicts CO2 only; ensemble a PBM-based model")
    ds = load_dataset(args.input)
    result = fit_hysomi_ensemble(
        ds, config, args.members, progress=not args.quiet, directory=args.out
    )
    result.save(args.out)
    m = result.metrics()
    print(
        f"wrote {args.out}: {m['members']} members in {m['wall_time_s']:.1f} s; the members' "
        f"5-95 % band covers {m['coverage_hidden']:.1%} of the true hidden pools "
        f"(CO2 {m['coverage_co2']:.1%}), the calibrated band (x{m['band_scale']:.3g}) "
        f"{m['coverage_hidden_calibrated']:.1%} (CO2 {m['coverage_co2_calibrated']:.1%}); "
        f"mean mse_hidden {m['mean_mse_hidden']:.4g} (members {m['members_mse_hidden']:.4g})"
    )
    return 0


def _experiment(args: argparse.Namespace) -> int:
    from soilsciml.hysomi.experiments import run_experiment

    table, records = run_experiment(
        args.name,
        args.out,
        quick=args.quick,
        progress=not args.quiet,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        report_only=args.report_only,
        seeds=args.seeds,
    )
    print(table, end="")
    print(f"wrote {args.out / (args.name + '.md')} ({len(records)} records)")
    return 0


def _add_train_options(parser: argparse.ArgumentParser, first_seed: bool = False) -> None:
    defaults = HySoMiTrainConfig()
    parser.add_argument("input", type=Path, help="HySoMi trait dataset (NetCDF)")
    parser.add_argument(
        "--model",
        choices=HYSOMI_MODELS,
        default="hysomi",
        help="hysomi (CO2 + constraints, default), unconstrained (CO2 only), all_states (all "
        "six pools, a reference) or ml (traits -> CO2 directly, no PBM)",
    )
    parser.add_argument(
        "--loss-weighting",
        choices=LOSS_WEIGHTINGS,
        default="adaptive",
        help="weights of the hysomi loss terms: adaptive (learned, default), balanced (all 1) "
        "or normalised (by running magnitude)",
    )
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="at most (300)")
    parser.add_argument("--patience", type=int, default=defaults.patience, help="early stopping")
    parser.add_argument(
        "--selection",
        choices=SELECTIONS,
        default=defaults.selection,
        help="validation criterion of early stopping and the epoch kept",
    )
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="samples per step (256)"
    )
    parser.add_argument("--width", type=int, default=defaults.width, help="hidden units (64)")
    parser.add_argument("--depth", type=int, default=defaults.depth, help="hidden layers (5)")
    parser.add_argument("--n-train", type=int, default=0, help="training samples (0: all)")
    seed_help = "seed of the first member (member k: seed + k)" if first_seed else "seed"
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--rtol", type=float, default=defaults.solver.rtol, help="solver rtol")
    parser.add_argument("--atol", type=float, default=defaults.solver.atol, help="solver atol")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--out", type=Path, required=True, help="run directory")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``hysomi`` command group."""
    group = commands.add_parser("hysomi", help="HySoMi microbial model: data, checks, training")
    sub = group.add_subparsers(dest="hysomi_command", required=True, metavar="SUBCOMMAND")

    sim = sub.add_parser("simulate", help="simulate the six pools for named parameter sets")
    sim.add_argument(
        "--params", type=Path, required=True, help="JSON object of the 13 parameters or a list"
    )
    sim.add_argument("--hours", type=float, default=168.0, help="horizon in hours (default 168)")
    sim.add_argument(
        "--solver", choices=SOLVERS, default="tsit5", help="kvaerno5 for an implicit solve"
    )
    sim.add_argument("--out", type=Path, required=True, help="output NetCDF file")
    sim.set_defaults(handler=_simulate, out_kind="file")

    gen = sub.add_parser(
        "generate",
        help="build the synthetic trait dataset (Latin hypercube, constraint filter, traits)",
    )
    gen.add_argument("--n", type=int, default=973, help="samples to keep (default 973)")
    gen.add_argument(
        "--seed", type=int, default=0, help="seed of the draws, traits and split (default 0)"
    )
    gen.add_argument("--generator-depth", type=int, default=3, help="hidden layers (default 3)")
    gen.add_argument("--generator-width", type=int, default=64, help="hidden width (default 64)")
    gen.add_argument(
        "--generator-activation",
        choices=GENERATOR_ACTIVATIONS,
        default="relu",
        help="activation of the trait generator (default relu)",
    )
    gen.add_argument("--trait-noise", type=float, default=0.0, help="Gaussian trait noise SD")
    gen.add_argument("--p6", type=float, default=None, help="factor of P6 (default 0.5)")
    gen.add_argument("--c3", type=float, default=None, help="factor of C3 (default 1.0)")
    gen.add_argument(
        "--solver", choices=SOLVERS, default="tsit5", help="kvaerno5 for an implicit solve"
    )
    gen.add_argument("--chunk-size", type=int, default=2048, help="draws per compiled batch")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.add_argument("--out", type=Path, required=True, help="output NetCDF file")
    gen.set_defaults(handler=_generate, out_kind="file")

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
    cal.add_argument(
        "--time-column", default="time", metavar="NAME", help="time since the pulse (default time)"
    )
    cal.add_argument("--time-unit", default="h", help="min, h or d (default h)")
    cal.add_argument("--co2-column", default="co2", metavar="NAME", help="CO2 column (default co2)")
    cal.add_argument(
        "--co2-unit", default="mg/g", help="mg/g, g/kg, ug/g, mg/kg, umol/g or mmol/g (of C)"
    )
    kind = cal.add_mutually_exclusive_group()
    kind.add_argument("--cumulative", action="store_true", help="CO2 is cumulative (default)")
    kind.add_argument("--rate", action="store_true", help="CO2 is a rate per time unit")
    cal.add_argument(
        "--biomass-column", default=None, metavar="NAME", help="microbial biomass C (B_A + B_D)"
    )
    cal.add_argument("--biomass-unit", default="mg/g", help="as --co2-unit (default mg/g)")
    cal.add_argument(
        "--kec",
        type=float,
        default=1.0,
        help="biomass C = column / kec (0.45 for chloroform-labile C; default 1)",
    )
    cal.add_argument(
        "--glucose-column", default=None, metavar="NAME", help="glucose or DOC, compared with C_L"
    )
    cal.add_argument("--glucose-unit", default="mg/g", help="as --co2-unit (default mg/g)")
    cal.add_argument(
        "--rate-column",
        default=None,
        metavar="NAME",
        help="respiration rates (CO2 unit per --rate-time-unit) besides cumulative CO2",
    )
    cal.add_argument(
        "--rate-time-unit", default=None, help="time unit of the rates (default: --time-unit)"
    )
    cal.add_argument(
        "--validate-column",
        action="append",
        default=[],
        metavar="NAME",
        help="hold this column out of the fit and report it as validation (repeatable)",
    )
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
    cal.add_argument(
        "--setting",
        choices=CONSTRAINT_SETTINGS,
        default="real",
        help="constraint set: real (short series, default) or synthetic (the full table)",
    )
    cal.add_argument(
        "--factor",
        action="append",
        default=[],
        metavar="LABEL=VALUE",
        help="re-threshold a constraint, e.g. P11=0.95 for a 3-day series; repeat for several",
    )
    defaults = HySoMiCalibrationConfig()
    cal.add_argument(
        "--noise",
        choices=NOISE_MODELS,
        default=defaults.noise,
        help="sigma of each residual: constant, proportional or from the replicates",
    )
    cal.add_argument("--screen", type=int, default=defaults.n_screen, help="candidates screened")
    cal.add_argument(
        "--starts", type=int, default=defaults.n_starts, help="Levenberg-Marquardt starts"
    )
    cal.add_argument(
        "--explore-steps",
        type=int,
        default=defaults.explore_steps,
        help="Levenberg-Marquardt iterations from every start",
    )
    cal.add_argument("--lm-steps", type=int, default=defaults.max_steps, help="polish steps")
    cal.add_argument(
        "--constraint-weight",
        type=float,
        default=defaults.constraint_weight,
        help="weight of the relative constraint violations (1: a 1 %% violation = one sigma)",
    )
    cal.add_argument(
        "--uncertainty",
        choices=UNCERTAINTY_METHODS,
        default=defaults.uncertainty,
        help="none, profile (profile-likelihood intervals) or mcmc (NUTS)",
    )
    cal.add_argument("--level", type=float, default=defaults.level, help="interval level")
    cal.add_argument("--chains", type=int, default=defaults.mcmc_chains, help="NUTS chains")
    cal.add_argument("--warmup", type=int, default=defaults.mcmc_warmup, help="NUTS warm-up")
    cal.add_argument("--samples", type=int, default=defaults.mcmc_samples, help="NUTS draws")
    cal.add_argument(
        "--sample",
        action="append",
        default=[],
        metavar="PARAM",
        help="parameter NUTS samples (repeat; default: those the fitted channels identify, "
        "the others held at the estimate)",
    )
    cal.add_argument("--min-times", type=int, default=3, help="fewest times per series")
    cal.add_argument("--seed", type=int, default=0, help="seed of the starts (default 0)")
    cal.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="RUNDIR",
        help="trained trait network run (not available yet)",
    )
    cal.add_argument("--out", type=Path, required=True, metavar="RUNDIR", help="run directory")
    cal.set_defaults(handler=_calibrate)

    train = sub.add_parser("train", help="train a compared model on a trait dataset")
    _add_train_options(train)
    train.add_argument(
        "--engine", default="jax", help="compute engine: jax (default) or julia (soilsciml engines)"
    )
    train.set_defaults(handler=_train)

    ens = sub.add_parser(
        "ensemble",
        help="train K seeds; 5-95 %% band on parameters and pools, its coverage",
        description="Train K members (seeds SEED + k) into RUNDIR/member_<k>; rerunning reuses "
        "the members already there (resume, or add members with a larger K).",
    )
    ens.add_argument("--members", type=int, default=5, help="ensemble size K (default 5)")
    _add_train_options(ens, first_seed=True)
    ens.set_defaults(handler=_ensemble)

    experiment = sub.add_parser(
        "experiment",
        help="run or resume a named experiment of the paper (a grid of hysomi_fit trials)",
        description="Run the experiment's trials as a grid in OUT/grid (rerunning skips "
        "finished trials), then write OUT/NAME.md, OUT/NAME.json and its figures.",
    )
    experiment.add_argument("name", choices=EXPERIMENT_NAMES, help="experiment recipe")
    experiment.add_argument("--quick", action="store_true", help="small data, few epochs")
    add_executor_options(experiment)
    experiment.add_argument("--quiet", action="store_true", help="no progress bars")
    experiment.add_argument(
        "--report-only",
        action="store_true",
        help="run no trial: write the table and figures of the trials finished so far in OUT",
    )
    experiment.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="training seeds instead of the recipe's (main: 0-4), e.g. --seeds 0 for a first "
        "look; another set of seeds is another grid: give it its own --out",
    )
    experiment.add_argument("--out", type=Path, required=True, help="experiment folder")
    experiment.set_defaults(handler=_experiment)
