"""``soilsciml soc ...``: the SOC depth-profile commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from soilsciml.cli.grid import add_executor_options
from soilsciml.config import (
    BOUNDARIES,
    NOISE_KINDS,
    TRUTHS,
    NoiseConfig,
    SOCGridConfig,
    SOCSimulationConfig,
    SOCTransportConfig,
)

__all__ = ["register"]

ENGINE_HELP = "compute engine: jax (default) or julia (see 'soilsciml engines')"

FIT_DESCRIPTION = """\
Train the SOC UDE on a dataset and write the run folder (config.toml, weights, results.nc,
metrics.json, metrics.md, figures).

The dataset (NetCDF, e.g. from 'soilsciml soc simulate' or your own profiles) needs, on
dimensions (time, depth) or (site, time, depth):
  time    coordinate, years since the start, increasing
  depth   coordinate, m, positive down, increasing (cm and mm are converted)
  soc     soil organic carbon, % (g C per 100 g soil; g/kg is converted); NaN allowed,
          masked out of the loss
  ph      soil pH (units "1"), 0-14, no NaN
  cec     cation exchange capacity, cmol(+)/kg (meq/100g accepted), no NaN
  clay    clay content, % (g/kg is converted), no NaN
Every variable and the depth coordinate need a 'units' attribute. A dataset with
soc_clean (written by 'soilsciml soc noise') also gets metrics against the clean truth.

With --profiles, INPUT is instead a table of measured layers (CSV, Excel, Parquet): one row
per site, year and layer (top, bottom) with soc, ph, cec and clay, units in the header
(see read_profiles and the docs' measured-profiles page).
"""


def _simulate(args: argparse.Namespace) -> int:
    from soilsciml.data.io import save_dataset
    from soilsciml.soc.simulate import simulate_soc, simulate_soc_sites

    config = SOCSimulationConfig(
        truth=args.truth,
        years=args.years,
        output_step=args.output_step,
        grid=SOCGridConfig(nz=args.nz),
        transport=SOCTransportConfig(
            diffusion=args.diffusion, advection=args.advection, boundary=args.boundary
        ),
    )
    if args.sites:
        ds = simulate_soc_sites(args.sites, config, seed=args.seed, engine=args.engine)
    else:
        ds = simulate_soc(config, engine=args.engine)
    save_dataset(ds, args.out)
    sites = f"{args.sites} sites x " if args.sites else ""
    print(
        f"wrote {args.out}: soc, ph, cec, clay on "
        f"{sites}{ds.sizes['time']} times x {config.grid.nz} depths"
    )
    return 0


def _noise(args: argparse.Namespace) -> int:
    from soilsciml.data.io import load_dataset, save_dataset
    from soilsciml.data.schema import validate_soc_dataset
    from soilsciml.noise import add_noise

    config = NoiseConfig(
        level=args.level,
        kind=args.kind,
        rho=args.rho,
        seed=args.seed,
        variables=tuple(args.variables.split(",")),
    )
    ds = validate_soc_dataset(load_dataset(args.input))
    noisy = add_noise(ds, config)
    save_dataset(noisy, args.out)
    print(
        f"wrote {args.out}: {config.kind} noise at {config.level:g} "
        f"on {', '.join(config.variables)}"
        f" (seed {config.seed}; clean fields kept as *_clean)"
    )
    return 0


def _summary(metrics: dict, names: tuple[str, ...]) -> str:
    """``name value`` pairs of the metrics present, comma-separated."""
    return ", ".join(f"{name} {metrics[name]:.6g}" for name in names if name in metrics)


def _fit(args: argparse.Namespace) -> int:
    from soilsciml.config import SOCFitConfig, load_config
    from soilsciml.data.io import load_dataset
    from soilsciml.soc.fit import fit_soc

    config = load_config(args.config, SOCFitConfig) if args.config else SOCFitConfig()
    tabular = args.profiles or args.steady or config.data_settings.format == "profiles"
    if tabular and args.input.suffix.lower() != ".nc":
        from soilsciml.soc.profiles import read_profiles

        dataset = read_profiles(args.input)
    else:
        dataset = load_dataset(args.input)
    if args.steady:
        from soilsciml.soc.steady import fit_soc_steady

        result = fit_soc_steady(dataset, config, progress=not args.quiet)
    else:
        result = fit_soc(dataset, config, engine=args.engine, progress=not args.quiet)
    result.save(args.out)
    metrics = result.metrics()
    names = ("mse_noisy", "r2_noisy", "rmse_observed", "r2_observed", "mse_clean", "r2_clean")
    summary = _summary(metrics, names)
    print(f"wrote {args.out}: {summary}; {result.status}: {result.message}")
    return 0 if result.status == "ok" else 1


def _synthetic_profiles(args: argparse.Namespace) -> int:
    from soilsciml.soc.profile_synthetic import synthetic_profiles, synthetic_steady_profiles

    if args.steady:
        table = synthetic_steady_profiles(args.sites, seed=args.seed)
    else:
        offsets = tuple(float(v) for v in args.campaigns.split(","))
        table = synthetic_profiles(args.sites, offsets, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"wrote {args.out}: {len(table)} layers at {args.sites} sites")
    return 0


def _case_summary(run) -> str:
    metrics = run.metrics
    scores = ", ".join(
        f"{name} {metrics[name]:.6g}"
        for name in ("mse_noisy", "r2_noisy", "mse_clean", "r2_clean")
        if name in metrics
    )
    best = run.grid.best["name"] if run.grid.best else "none"
    return f"{run.case.title}: best {best}; retrained: {scores or 'no retrain'}"


def _case(args: argparse.Namespace) -> int:
    from soilsciml.soc.cases import run_case

    run = run_case(
        args.number,
        args.out,
        quick=args.quick,
        executor=args.executor,
        workers=args.workers,
        quiet=args.quiet,
    )
    print(f"wrote {args.out}: {_case_summary(run)}; see {args.out / 'case.md'}")
    return 0 if run.metrics and not run.grid.lost else 1


def _cases(args: argparse.Namespace) -> int:
    from soilsciml.soc.cases import run_cases

    runs = run_cases(
        args.out,
        quick=args.quick,
        executor=args.executor,
        workers=args.workers,
        quiet=args.quiet,
    )
    for run in runs:
        print(_case_summary(run))
    print(f"summary: {args.out / 'summary.md'}")
    return 0 if all(run.metrics and not run.grid.lost for run in runs) else 1


def _add_case_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="2 trials and 60 + 60 iterations (tests, demos)"
    )
    add_executor_options(parser, scheduler=False)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _noise_aware(args: argparse.Namespace) -> int:
    from soilsciml.soc.noise_aware_cases import OPTIONS, markdown_table, run_case

    options = tuple(args.options.split(",")) if args.options else tuple(OPTIONS)
    progress = None if args.quiet else print
    rows = run_case(args.case, options, quick=args.quick, progress=progress)
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(args.case, rows)
    (args.out / f"case{args.case}.md").write_text(table)
    print(table, end="")
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from soilsciml.config import SOCFitConfig, load_config
    from soilsciml.data.io import load_dataset
    from soilsciml.soc.ensemble import fit_soc_ensemble

    config = load_config(args.config, SOCFitConfig) if args.config else SOCFitConfig()
    result = fit_soc_ensemble(
        load_dataset(args.input),
        config,
        members=args.members,
        engine=args.engine,
        noise_eta=args.noise_eta,
        progress=not args.quiet,
    )
    result.save(args.out)
    metrics = result.metrics()
    names = ("r2_clean", "coverage_clean", "coverage_epistemic_clean", "interval_width")
    summary = _summary(metrics, names)
    print(f"wrote {args.out}: {args.members} members, {summary}; {metrics['status']}")
    return 0 if metrics["status"] == "ok" else 1


def _distil(args: argparse.Namespace) -> int:
    from soilsciml.data.io import load_dataset
    from soilsciml.soc.distil import distil_soc_model
    from soilsciml.soc.fit import load_soc_model

    model = load_soc_model(args.rundir)
    dataset = load_dataset(args.data)
    distilled = distil_soc_model(model, dataset, oc=args.oc, net=args.net)
    truth = dataset.attrs.get("truth") == "reference" and not args.no_reference
    distilled.save(args.out, truth=truth)
    p, r = distilled.terms.production, distilled.terms.respiration
    k = "no decay kept" if p.decay_rate is None else f"k = {p.decay_rate:.4f} 1/m"
    print(f"wrote {args.out}: {p.expression()} ({k}); {r.expression()}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``soc`` command group."""
    group = commands.add_parser("soc", help="SOC depth-profile UDE: data, training, cases")
    sub = group.add_subparsers(dest="soc_command", required=True, metavar="SUBCOMMAND")

    sim = sub.add_parser(
        "simulate", help="simulate synthetic SOC profiles with the paper's drivers"
    )
    sim.add_argument(
        "--truth",
        choices=TRUTHS,
        default="reference",
        help="truth generator: reference (known production and respiration, default) or "
        "transport_only (P = R = 0, the paper's literal text)",
    )
    sim.add_argument(
        "--boundary",
        choices=BOUNDARIES,
        default="mirror",
        help="mirror (the paper's ghost points, default; not mass-conserving with advection) "
        "or zero_flux (finite volume, conserves total carbon)",
    )
    sim.add_argument("--nz", type=int, default=30, help="depth points (default 30)")
    sim.add_argument("--years", type=float, default=50.0, help="horizon in years (default 50)")
    sim.add_argument("--output-step", type=float, default=1.0, help="output spacing in years")
    sim.add_argument("--diffusion", type=float, default=1e-3, help="D in m2/yr (default 1e-3)")
    sim.add_argument("--advection", type=float, default=1e-3, help="v in m/yr (default 1e-3)")
    sim.add_argument("--engine", default="jax", help=ENGINE_HELP)
    sim.add_argument(
        "--sites",
        type=int,
        default=0,
        help="simulate this many sites with drivers and initial profiles drawn per site "
        "(default 0: the paper's single profile)",
    )
    sim.add_argument("--seed", type=int, default=0, help="seed of the per-site draws")
    sim.add_argument("--out", type=Path, required=True, help="output NetCDF file")
    sim.set_defaults(handler=_simulate, out_kind="file")

    noise = sub.add_parser("noise", help="add multiplicative noise, keeping the clean fields")
    noise.add_argument("input", type=Path, help="SOC dataset (NetCDF)")
    noise.add_argument("--level", type=float, default=0.07, help="relative level (0.07 = 7 %%)")
    noise.add_argument(
        "--kind",
        choices=NOISE_KINDS,
        default="ar1",
        help="ar1: correlated along depth with --rho (default); iid: independent per point",
    )
    noise.add_argument("--rho", type=float, default=0.8, help="AR-1 correlation along depth")
    noise.add_argument("--seed", type=int, default=0, help="seed of the noise draws (default 0)")
    noise.add_argument(
        "--variables", default="soc,ph,cec,clay", help="comma-separated variables to perturb"
    )
    noise.add_argument("--out", type=Path, required=True, help="output NetCDF file")
    noise.set_defaults(handler=_noise, out_kind="file")

    fit = sub.add_parser(
        "fit",
        help="train the SOC UDE (NN_P, NN_R) on a dataset",
        description=FIT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "input",
        type=Path,
        help="SOC dataset (NetCDF, see the description), or a profile table with --profiles",
    )
    fit.add_argument("--config", type=Path, help="SOCFitConfig as TOML (default: Case 4 setting)")
    fit.add_argument(
        "--profiles",
        action="store_true",
        help="INPUT is a table of measured layers (CSV, Excel, Parquet; see read_profiles); "
        "same as [data] format = 'profiles'",
    )
    fit.add_argument(
        "--steady",
        action="store_true",
        help="fit the steady state of the PDE to single-campaign profiles (implies --profiles)",
    )
    fit.add_argument("--engine", default="jax", help=ENGINE_HELP)
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument(
        "--out", type=Path, required=True, help="run folder: config, results, metrics, figures"
    )
    fit.set_defaults(handler=_fit)

    synthetic = sub.add_parser(
        "synthetic-profiles",
        help="a profile table of the reference truth at irregular horizons and campaigns",
    )
    synthetic.add_argument("--sites", type=int, default=16, help="sites (default 16)")
    synthetic.add_argument(
        "--campaigns", default="0,20", help="years of the campaigns after the first (default 0,20)"
    )
    synthetic.add_argument(
        "--steady", action="store_true", help="one campaign per site at the truth's steady state"
    )
    synthetic.add_argument(
        "--seed", type=int, default=0, help="seed of the sites, horizons and noise (default 0)"
    )
    synthetic.add_argument("--out", type=Path, required=True, help="output CSV file")
    synthetic.set_defaults(handler=_synthetic_profiles)

    case = sub.add_parser(
        "case",
        help="run (or resume) one of the paper's six cases: data, grid, retrain, metrics",
        description=(
            "Case N (1-6): simulate the reference truth with the case's noise, run the grid of "
            "the paper's Table 1 with the case's loss weights and iterations, retrain the best "
            "configuration at rtol = atol = 1e-6, write metrics, figures and case.md to RUNDIR. "
            "Rerunning skips finished trials."
        ),
    )
    case.add_argument("number", type=int, choices=range(1, 7), metavar="N", help="case 1-6")
    case.add_argument("--out", type=Path, required=True, metavar="RUNDIR", help="run directory")
    _add_case_options(case)
    case.set_defaults(handler=_case)

    cases = sub.add_parser(
        "cases", help="run (or resume) all six cases into DIR/caseN and write DIR/summary.md"
    )
    cases.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    _add_case_options(cases)
    cases.set_defaults(handler=_cases)

    aware = sub.add_parser(
        "noise-aware", help="Case 3 or 6 with robust losses and priors next to plain MSE"
    )
    aware.add_argument(
        "--case",
        type=int,
        choices=(3, 6),
        required=True,
        help="3: initial profile through the 1-yr rollout; 6: terminal profile at 50 yr "
        "(both 35 %% AR-1 noise)",
    )
    aware.add_argument("--options", help="comma-separated option names (default: all)")
    aware.add_argument("--quick", action="store_true", help="10 years, 20 + 10 iterations")
    aware.add_argument("--quiet", action="store_true", help="no per-option lines")
    aware.add_argument("--out", type=Path, required=True, help="folder for caseN.md")
    aware.set_defaults(handler=_noise_aware)

    ens = sub.add_parser("ensemble", help="train K seeds; mean and 5-95 %% predictive band")
    ens.add_argument("input", type=Path, help="SOC dataset (NetCDF)")
    ens.add_argument("--members", type=int, default=5, help="ensemble size K (default 5)")
    ens.add_argument("--config", type=Path, help="SOCFitConfig as TOML")
    ens.add_argument(
        "--noise-eta", type=float, help="relative noise of the band (default: dataset's)"
    )
    ens.add_argument("--engine", default="jax", help=ENGINE_HELP)
    ens.add_argument("--quiet", action="store_true", help="no progress bar")
    ens.add_argument("--out", type=Path, required=True, help="run folder")
    ens.set_defaults(handler=_ensemble)

    distil = sub.add_parser(
        "distil", help="distil a trained model's NN_P and NN_R into sparse symbolic expressions"
    )
    distil.add_argument("rundir", type=Path, help="run folder of 'soc fit' (or a saved model)")
    distil.add_argument(
        "--data", type=Path, required=True, help="dataset whose grid and drivers are sampled"
    )
    distil.add_argument(
        "--oc",
        choices=("predicted", "observed"),
        default="predicted",
        help="OC input: the model's predicted SOC (default) or the data's soc",
    )
    distil.add_argument(
        "--net",
        action="store_true",
        help="distil the net source P - R in place of P (SOC data identify only the net source)",
    )
    distil.add_argument(
        "--no-reference",
        action="store_true",
        help="leave out the comparison with the reference P*, R* (used by default when the "
        "dataset was simulated with the reference truth)",
    )
    distil.add_argument(
        "--out", type=Path, required=True, help="folder for report.md, terms.json, figure"
    )
    distil.set_defaults(handler=_distil)
