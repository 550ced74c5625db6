"""Whole jobs as a user runs them, cold and warm: the demo, one Case 4 fit, the Case 4 grid,
the six cases, and a reduced Case 4 fit (``--reduced-steps`` Adam steps, no second stage)
that the torch peer runs too.

Each job is the command line a user types, run in a fresh process. ``cold`` runs it with an
empty persistent compilation cache (``SOILSCIML_JAX_CACHE`` pointing at a new folder); ``warm``
runs it again in a new process with the cache the cold run filled (a rerun, or the next job
on the same machine). The grid's run directory is emptied between the two, so the warm grid
trains every trial again. Each row records the 1-minute load average before and after.

The torch peer's time for the same job is an estimate: its measured training step
(``--peer-step-s``, default the idle-machine median of ``results.md``) times the job's
iterations (Adam steps plus BFGS iterations of every fit: a grid's trials and retrain from
their ``outcome.json``, a single fit from its ``metrics.json``);
the peer's compilation-free start-up is left out. The reduced fit is measured outright for
the peer too: ``peers/torch_soc_fit.py`` as its own process (interpreter start, torch import,
the problem's arrays and initial weights from ``soc_step.py``'s check, the Adam steps), twice
(``cold`` and ``warm``: torch has no compilation to cache, so they differ only by the file
cache). Ours writes its run folder (figures, results) as well; the peer writes nothing.
Writes a section of ``results.md``::

    python benchmarks/jobs.py [--jobs demo fit grid cases reduced] [--executor processes]
        [--workers 2] [--reduced-steps 30] [--runs cold warm] [--work DIR]

``--runs cold`` measures the cold run only (the six cases take about an hour each way);
``--work DIR`` keeps the runs of each job (its metrics, the six cases' ``summary.md``) in
``DIR`` instead of a temporary folder: the last in ``DIR/work/<job>``, the one before it (the
cold run) in ``DIR/work/<job>-earlier``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_util import load_average, write_section

HERE = Path(__file__).resolve().parent
#: The torch peer's SOC training step (s): dopri5 float64, median of the idle run in results.md.
PEER_STEP_S = 0.216
JOBS = ("demo", "fit", "grid", "cases", "reduced")
RUNS = ("cold", "warm")
#: A run that was not measured, as the table shows it.
_NOT_RUN = {"wall_s": None, "load_before": "-", "load_after": "-"}
#: Adam steps of the reduced fit (both engines), unless ``--reduced-steps`` says otherwise.
REDUCED_STEPS = 30


def _command(job: str, work: Path, executor: str, workers: int | None, steps: int) -> list[str]:
    cli = [sys.executable, "-m", "soilsciml"]
    if job == "demo":
        return [*cli, "demo", "--out", str(work / "demo"), "--quiet"]
    if job == "fit":
        return [*cli, "soc", "fit", str(work / "truth.nc"), "--out", str(work / "fit"), "--quiet"]
    if job == "reduced":
        fit = [*cli, "soc", "fit", str(work / "truth.nc"), "--out", str(work / "reduced")]
        return [*fit, "--config", str(work / "reduced.toml"), "--quiet"]
    if job == "reduced_peer":
        peer = [sys.executable, str(HERE / "peers" / "torch_soc_fit.py")]
        return [*peer, str(work / "peer" / "soc_inputs.npz"), "--steps", str(steps)]
    if job == "cases":
        command = [*cli, "soc", "cases", "--out", str(work / "cases"), "--quiet"]
    else:
        command = [*cli, "soc", "case", "4", "--out", str(work / "grid"), "--quiet"]
    command += ["--executor", executor]
    return command + (["--workers", str(workers)] if workers else [])


def _iterations(work: Path, job: str, steps: int) -> int:
    """Adam steps plus BFGS iterations of every fit the job ran.

    A grid's fits are its trials and its retrain, each with an ``outcome.json``
    (``metrics.iterations_<stage>``); a single fit writes only ``metrics.json``.
    """
    if job == "reduced_peer":
        return steps
    folder = work / ("demo/case4" if job == "demo" else job)  # the demo's fit is its Case 4
    outcomes = [json.loads(p.read_text()).get("metrics", {}) for p in folder.rglob("outcome.json")]
    if outcomes:
        return sum(
            int(v)
            for metrics in outcomes
            for k, v in metrics.items()
            if k.startswith("iterations_")
        )
    fits = [json.loads(p.read_text()).get("iterations") for p in folder.rglob("metrics.json")]
    return sum(int(v) for fit in fits if isinstance(fit, dict) for v in fit.values())


def measure(
    job: str, cache: Path, work: Path, executor: str, workers: int | None, steps: int
) -> dict:
    """Run ``job`` once in a new process; wall time, load averages, iterations."""
    env = {**os.environ, "SOILSCIML_JAX_CACHE": str(cache)}
    before = load_average()
    start = time.perf_counter()
    done = subprocess.run(
        _command(job, work, executor, workers, steps), env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{job} failed:\n{done.stdout}\n{done.stderr}")
    return {
        "wall_s": wall,
        "load_before": before,
        "load_after": load_average(),
        "iterations": _iterations(work, job, steps),
        **_final_loss(job, work, done.stdout),
    }


def _seconds(run: dict) -> str:
    """A run's wall time for the table, ``-`` when it was not measured."""
    return "-" if run["wall_s"] is None else f"{run['wall_s']:.1f}"


def _final_loss(job: str, work: Path, stdout: str) -> dict:
    """The reduced fits' final training loss (ours from metrics.json, the peer's printed)."""
    if job == "reduced":
        return {"final_loss": json.loads((work / job / "metrics.json").read_text())["final_loss"]}
    if job == "reduced_peer":
        return {"final_loss": json.loads(stdout.strip().splitlines()[-1])["best_loss"]}
    return {}


def _keep_earlier_run(work: Path, job: str) -> None:
    """Move the job's previous run (the cold one) aside to ``<job>-earlier`` for the next run.

    The warm run must start from an empty run folder (a grid would resume its finished
    trials), but the cold run's results (the six cases' ``summary.md``) are kept.
    """
    earlier = work / f"{job}-earlier"
    if (work / job).exists():
        shutil.rmtree(earlier, ignore_errors=True)
        (work / job).rename(earlier)


def _prepare_reduced(work: Path, steps: int) -> None:
    """The reduced fit's config (ours) and the problem's arrays and weights (the peer's)."""
    (work / "reduced.toml").write_text(f'[train]\nadam_iters = {steps}\nsecond_stage = "none"\n')
    check = [sys.executable, str(HERE / "soc_step.py"), "--contender", "check"]
    subprocess.run([*check, "--inputs", str(work / "peer")], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", nargs="+", choices=JOBS, default=["demo", "fit"])
    parser.add_argument("--executor", default="inprocess", help="grid executor")
    parser.add_argument("--workers", type=int, help="grid worker processes")
    parser.add_argument("--peer-step-s", type=float, default=PEER_STEP_S)
    parser.add_argument("--reduced-steps", type=int, default=REDUCED_STEPS, help="Adam steps")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument(
        "--work", type=Path, help="keep the runs here (default: a temporary folder)"
    )
    parser.add_argument("--json", type=Path, default=HERE / "out" / "jobs.json")
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    parser.add_argument("--section", default="jobs", help="section of --results to replace")
    args = parser.parse_args(argv)
    runs = [run for run in RUNS if run in args.runs]
    if runs == ["warm"]:
        parser.error("--runs: warm needs cold (it reuses the cache the cold run fills)")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        work, cache = root / "work", root / "jax-cache"
        work.mkdir(parents=True, exist_ok=True)
        if {"fit", "reduced"} & set(args.jobs):
            simulate = [sys.executable, "-m", "soilsciml", "soc", "simulate"]
            subprocess.run([*simulate, "--out", str(work / "truth.nc")], check=True)
        jobs = list(args.jobs)
        if "reduced" in jobs:
            _prepare_reduced(work, args.reduced_steps)
            jobs.append("reduced_peer")
        for job in jobs:
            shutil.rmtree(cache, ignore_errors=True)
            rows[job] = {}
            for label in runs:
                _keep_earlier_run(work, job)
                rows[job][label] = measure(
                    job, cache, work, args.executor, args.workers, args.reduced_steps
                )
                print(job, label, rows[job][label], flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"started": started, "rows": rows}, indent=1) + "\n")
    names = {
        "demo": "`soilsciml demo`",
        "fit": "`soilsciml soc fit` (Case 4, one fit)",
        "grid": f"`soilsciml soc case 4` (16 trials + retrain, {args.executor})",
        "cases": f"`soilsciml soc cases` (six cases, 16 trials + retrain each, {args.executor})",
        "reduced": f"`soilsciml soc fit` (Case 4, {args.reduced_steps} Adam steps, no BFGS)",
    }
    lines = [
        f"Whole jobs (`python benchmarks/jobs.py --jobs {' '.join(args.jobs)}"
        f"{'' if args.executor == 'inprocess' else ' --executor ' + args.executor}"
        f"{'' if args.workers is None else f' --workers {args.workers}'}"
        f"{'' if runs == list(RUNS) else ' --runs ' + ' '.join(runs)}`, measured "
        f"{started}; cold: empty compilation cache, warm: a new process with the filled cache):",
        "",
        "| job | cold (s) | warm (s) | iterations | torch peer (s) "
        "| load before / after (cold; warm) |",
        "|---|---|---|---|---|---|",
    ]
    for job, row in rows.items():
        if job == "reduced_peer":
            continue
        cold, warm = (row.get(run, _NOT_RUN) for run in RUNS)
        iterations = (warm if warm["wall_s"] is not None else cold)["iterations"]
        if job == "reduced":
            measured = rows["reduced_peer"]
            peer = (
                f"{_seconds(measured.get('cold', _NOT_RUN))} / "
                f"{_seconds(measured.get('warm', _NOT_RUN))} (measured, cold / warm)"
            )
        else:
            peer = f"{iterations * args.peer_step_s:.0f} (estimated)"
        lines.append(
            f"| {names[job]} | {_seconds(cold)} | {_seconds(warm)} | "
            f"{iterations} | {peer} | {cold['load_before']} / {cold['load_after']}; "
            f"{warm['load_before']} / {warm['load_after']} |"
        )
    lines += [
        "",
        f"Peer estimate: {args.peer_step_s} s per training step (the torch peer's measured "
        "SOC step) times the job's iterations; not measured, except for the reduced fit "
        "(`peers/torch_soc_fit.py`, its whole process). Load averages on "
        f"{os.cpu_count()} logical CPUs: above about {os.cpu_count()} the machine was shared "
        "and the times are inflated.",
    ]
    if "reduced" in rows:
        ours, peer = rows["reduced"][runs[-1]], rows["reduced_peer"][runs[-1]]
        lines += [
            "",
            f"Reduced fit, training loss: ours {ours['final_loss']:.8g} (`final_loss`, at the "
            "best weights the Adam stage evaluated), the peer "
            f"{peer['final_loss']:.8g} (the lowest of its steps); same problem, initial weights "
            "and Adam settings.",
        ]
    text = "\n".join(lines)
    write_section(args.results, args.section, text)
    print(text)


if __name__ == "__main__":
    main()
