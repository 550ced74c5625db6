"""Where the wall time of one default Case 4 SOC fit goes.

Runs the fit of the demo (reference truth, clean, Adam 200 + BFGS 400 with early stopping) in
a child process with the training kernels wrapped in timers, twice: with an empty persistent
compilation cache (``cold``) and again with the cache it filled (``warm``, a new process); each
child also repeats the fit in the same process (``again``: every kernel already in memory).
Each timed kernel call blocks until its result is ready, so a kernel's time is its compute;
the first call of each kernel is counted as compilation (tracing, compiling or loading from the
cache, and one run). Writes a section of ``benchmarks/results.md`` and the numbers as JSON::

    python benchmarks/fit_breakdown.py [--adam 200 --bfgs 400] [--json FILE] [--results FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench_util import load_average, write_section

HERE = Path(__file__).resolve().parent

#: The compiled training kernels of ``engines.jax.train`` (looked up by name at each call).
KERNELS = ("_guarded_value_and_grad", "_adam_update", "_quasi_newton_init", "_quasi_newton_step")


def _instrument(timings: dict) -> None:
    """Wrap the training kernels and the per-step host work of ``engines.jax.train``."""
    import jax

    from soilsciml.engines.jax import progress, train
    from soilsciml.soc import fit as soc_fit

    def timed(name, fn, block=True):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            if block:
                jax.block_until_ready(out)
            timings[name].append(time.perf_counter() - start)
            return out

        return wrapper

    for name in KERNELS:
        setattr(train, name, timed(name, getattr(train, name)))
    train._record_evaluation = timed("record_evaluation", train._record_evaluation, False)
    progress.StageReport.step = timed("report_step", progress.StageReport.step, False)
    train.EarlyStopping.update = timed("early_stopping", train.EarlyStopping.update, False)
    soc_fit._predict_with_fit = timed("predict", soc_fit._predict_with_fit, False)


def _collocation_ms(config, dataset) -> float:
    """Median time (ms) of the collocation term's value and gradient alone."""
    import jax
    import numpy as np

    from soilsciml.engines.jax import ude
    from soilsciml.soc.fit import problem_from_dataset

    problem = problem_from_dataset(dataset, config)
    data = ude.prepare_data(problem, config, "float64")
    static = ude.static_settings(config, problem.boundary)
    weights = {k: jax.numpy.asarray(v) for k, v in ude.init_weights(32, 16, 0).items()}
    term = jax.jit(jax.value_and_grad(lambda w: ude._collocation(w, data, static)))
    jax.block_until_ready(term(weights))
    seconds = []
    for _ in range(50):
        start = time.perf_counter()
        jax.block_until_ready(term(weights))
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds) * 1e3)


def child(adam: int, bfgs: int, out_dir: Path) -> dict:
    """One process: simulate, fit twice (instrumented), save the first run's figures."""
    start = time.perf_counter()
    from soilsciml.config import SOCFitConfig, SOCTrainConfig
    from soilsciml.soc.fit import fit_soc
    from soilsciml.soc.simulate import simulate_soc

    imported = time.perf_counter() - start
    start = time.perf_counter()
    dataset = simulate_soc()
    simulated = time.perf_counter() - start
    config = SOCFitConfig(train=SOCTrainConfig(adam_iters=adam, second_iters=bfgs))
    timings: dict = defaultdict(list)
    _instrument(timings)
    fits = []
    for label in ("first", "again"):
        timings.clear()
        start = time.perf_counter()
        result = fit_soc(dataset, config, progress=False)
        wall = time.perf_counter() - start
        saved = None
        if label == "first":
            start = time.perf_counter()
            result.save(out_dir / "case4")
            saved = time.perf_counter() - start
        fits.append(
            {
                "label": label,
                "timings": {k: list(v) for k, v in timings.items()},
                "wall_s": wall,
                "save_s": saved,
                "iterations": {k: int(v.size) for k, v in result.history.items()},
                "stop_reasons": dict(result.stop_reasons),
                "final_loss": result.solver_stats["final_loss"],
                "loss_evaluations": result.solver_stats["loss_evaluations"],
                "r2_clean": result.metrics()["r2_clean"],
            }
        )
    return {
        "import_s": imported,
        "simulate_s": simulated,
        "collocation_ms": _collocation_ms(config, dataset),
        "fits": fits,
    }


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else 0.0


def _split(calls: list[float]) -> tuple[float, float]:
    """(compilation, compute) of one kernel's calls: the first call less a typical one (a
    kernel called once, the BFGS initialisation, counts as compilation)."""
    if not calls:
        return 0.0, 0.0
    compile_s = max(calls[0] - _median(calls[1:]), 0.0) if len(calls) > 1 else calls[0]
    return compile_s, sum(calls) - compile_s


def _parts(fit: dict) -> dict[str, tuple[float, str]]:
    """Seconds and a note for each part of one fit."""
    t = defaultdict(list, fit["timings"])
    n_adam = fit["iterations"].get("adam", 0)
    calls = t["_guarded_value_and_grad"]
    adam_vg, after = calls[:n_adam], calls[n_adam:]
    replays, final = after[:-1], after[-1:]  # BFGS line-search replays, then the final loss
    split = {
        "_guarded_value_and_grad": _split(adam_vg),
        **{k: _split(t[k]) for k in KERNELS[1:]},
    }
    host = sum(t["report_step"]) + sum(t["early_stopping"])
    record = sum(t["record_evaluation"]) - sum(replays)
    kernels = sum(sum(t[k]) for k in KERNELS)
    rest = fit["wall_s"] - kernels - host - max(record, 0.0) - sum(t["predict"])
    qn = t["_quasi_newton_step"]
    return {
        "compilation (first call of each training kernel, less one step)": (
            sum(c for c, _ in split.values()),
            "",
        ),
        "Adam steps (value and gradient)": (
            split["_guarded_value_and_grad"][1],
            f"{len(adam_vg)} steps, median {_median(adam_vg[1:]) * 1e3:.1f} ms",
        ),
        "Adam updates": (split["_adam_update"][1], f"{len(t['_adam_update'])} updates"),
        "BFGS iterations (one loss evaluation each)": (
            split["_quasi_newton_step"][1] + split["_quasi_newton_init"][1],
            f"{len(qn)} iterations, median {_median(qn[1:]) * 1e3:.1f} ms",
        ),
        "BFGS line-search rejections, evaluated again for the counts": (
            sum(replays),
            f"{len(replays)} rejected points (Adam's kernel, value and gradient)",
        ),
        "final loss evaluation": (sum(final), ""),
        "per-step host work (progress report, early stopping, outcome counts)": (
            host + max(record, 0.0),
            f"{len(t['report_step'])} calls",
        ),
        "predictions after the fit (trajectory solve, first call compiles)": (
            sum(t["predict"]),
            "",
        ),
        "rest of the fit (data preparation, host round trips, dispatch)": (rest, ""),
    }


def table(results: dict) -> str:
    """The Markdown section: one column per run."""
    runs = [("cold", results["cold"]["fits"][0]), ("warm", results["warm"]["fits"][0])]
    runs.append(("again", results["warm"]["fits"][1]))
    parts = {label: _parts(fit) for label, fit in runs}
    head = (
        "| part of the fit | cold: new process, empty cache (s) | warm: new process, filled "
        "cache (s) | again: same process (s) | note (warm) |"
    )
    lines = [head, "|---|---|---|---|---|"]
    for name in parts["cold"]:
        cells = [f"{parts[label][name][0]:.2f}" for label, _ in runs]
        lines.append(f"| {name} | {' | '.join(cells)} | {parts['warm'][name][1]} |")
    walls = [f"**{fit['wall_s']:.1f}**" for _, fit in runs]
    lines.append(f"| **fit_soc wall time** | {' | '.join(walls)} | |")
    cold, warm = results["cold"], results["warm"]
    lines.append(
        f"| figures and files of the run (`result.save`) | {cold['fits'][0]['save_s']:.2f} | "
        f"{warm['fits'][0]['save_s']:.2f} | - | |"
    )
    lines.append(
        f"| before the fit: import, reference truth (simulate_soc) | "
        f"{cold['import_s']:.1f} + {cold['simulate_s']:.1f} | "
        f"{warm['import_s']:.1f} + {warm['simulate_s']:.1f} | - | |"
    )
    fit = warm["fits"][0]
    notes = [
        "",
        f"Iterations {fit['iterations']}, stop reasons {fit['stop_reasons']}, final loss "
        f"{fit['final_loss']:.4e}, R2 vs truth {fit['r2_clean']:.6f}, "
        f"{fit['loss_evaluations']} loss evaluations (same in every run: cold "
        f"{results['cold']['fits'][0]['final_loss']:.10e}, warm {fit['final_loss']:.10e}).",
        f"The collocation term alone (value and gradient, jitted by itself) takes "
        f"{warm['collocation_ms']:.2f} ms per evaluation.",
        f"Load average (1, 5, 15 min) before: {results['load_before']}, after: "
        f"{results['load_after']} on {os.cpu_count()} logical CPUs; the machine was shared, so "
        "absolute times are inflated.",
    ]
    return "\n".join(lines + notes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam", type=int, default=200)
    parser.add_argument("--bfgs", type=int, default=400)
    parser.add_argument("--json", type=Path, default=HERE / "out" / "fit_breakdown.json")
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        result = child(args.adam, args.bfgs, args.child.parent)
        args.child.write_text(json.dumps(result))
        return
    results = {"load_before": load_average(), "started": time.strftime("%Y-%m-%d %H:%M UTC")}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SOILSCIML_JAX_CACHE": str(Path(tmp) / "jax-cache")}
        for label in ("cold", "warm"):
            out = Path(tmp) / f"{label}.json"
            command = [sys.executable, __file__, "--child", str(out)]
            command += ["--adam", str(args.adam), "--bfgs", str(args.bfgs)]
            subprocess.run(command, env=env, check=True)
            results[label] = json.loads(out.read_text())
    results["load_after"] = load_average()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    text = (
        f"Where a default Case 4 fit's time goes (`python benchmarks/fit_breakdown.py`, "
        f"Adam {args.adam} + BFGS {args.bfgs}, measured {results['started']}):\n\n" + table(results)
    )
    write_section(args.results, "fit_breakdown", text)
    print(text)


if __name__ == "__main__":
    main()
