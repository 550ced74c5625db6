"""Run every benchmark, each contender in its own process, and write ``benchmarks/results.md``.

The table holds, per measurement, the median over repeated runs with min and max for the JAX
engine and its peer, the ratio of medians (peer / ours), the target, the JAX compile time
(reported separately, never inside the timings) and the peak resident memory of each
contender's process. Machine, versions, thread settings, date and load averages go on top.

    python benchmarks/run_all.py [--quick] [--only GROUP ...] [--out benchmarks/results.md]

``--quick`` runs fewer repeats (for a smoke test, not for the record). ``--only`` re-runs the
named groups (``soc``, ``hysomi_epoch``, ``hysomi_run``, ``generate``, ``grid``,
``calibration``) and takes the others from their JSON files of an earlier run in
``benchmarks/out``; every row states when it was measured and the load average then, and the
contenders of one ratio always run together.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench_util import kept_sections

HERE = Path(__file__).resolve().parent
#: XLA on one thread (the torch peers run on one thread too).
ONE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
#: XLA's CPU runtime before the thunk runtime (less overhead per small op in a loop body).
LEGACY_XLA = "--xla_cpu_use_thunk_runtime=false"
#: Arguments of a timed JAX SOC step, up to the repeat count.
JAX_STEP = ("--contender", "jax", "--repeats")


GROUPS = ("soc", "hysomi_epoch", "hysomi_run", "generate", "grid", "calibration")
#: Largest CPU time of a whole 300-epoch HySoMi run (issue 15), s.
HYSOMI_RUN_TARGET_S = 60.0


def run(name: str, script: str, args: list[str], out: Path, env: dict | None = None) -> dict:
    """Run one benchmark contender in a fresh process; its JSON result (or the error).

    The result also records when it started and the load average then.
    """
    target = out / f"{name}.json"
    stamp = {
        "measured_at": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "load_average": os.getloadavg()[0],
    }
    command = [sys.executable, str(HERE / script), *args, "--json", str(target)]
    print("$", " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"  failed: {tail[0]}", flush=True)
        return {"error": tail[0], **stamp}
    result = {**json.loads(target.read_text()), **stamp}
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return result


def _stats(result: dict, unit: float = 1.0) -> str:
    if "error" in result:
        return f"failed: {result['error']}"
    return (
        f"{result['median_s'] * unit:.4g} ({result['min_s'] * unit:.4g} - "
        f"{result['max_s'] * unit:.4g}), n = {result['repeats']}"
    )


def _row(label, ours, peer, target, unit_name="s", unit=1.0) -> str:
    ok = "error" not in ours and "error" not in peer
    ratio = peer["median_s"] / ours["median_s"] if ok else float("nan")
    met = "yes" if ok and ratio >= target else "no"
    compile_s = f"{ours['compile_s']:.1f}" if "compile_s" in ours else "-"
    rss = " / ".join(f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "-" for r in (ours, peer))
    when = f"{ours.get('measured_at', '-')} (load {ours.get('load_average', float('nan')):.1f})"
    return (
        f"| {label} ({unit_name}) | {ours.get('contender', '-')}: {_stats(ours, unit)} | "
        f"{peer.get('contender', '-')}: {_stats(peer, unit)} | {ratio:.1f}x | >= {target}x | "
        f"{met} | {compile_s} | {rss} | {when} |"
    )


def calibration_rows(res: dict) -> list[str]:
    """Table rows of the calibration group: ours against scipy (1 and 50 series) and against
    the previous implementation (both with their compilation, as a user waits for them)."""
    rows = [
        _row("HySoMi calibration, Certovo, 1 series", res["cal_ours_1"], res["cal_scipy_1"], 1),
        _row("HySoMi calibration, 50 series", res["cal_ours_50"], res["cal_scipy_50"], 1),
    ]
    legacy = res.get("cal_legacy", {"error": "not run (give --legacy-src)"})
    ours = res["cal_ours_1"]
    if "first_call_s" in ours:
        first = {**ours, "median_s": ours["first_call_s"], "min_s": ours["first_call_s"]}
        first = {**first, "max_s": ours["first_call_s"], "repeats": 1}
        first.pop("compile_s", None)
        rows.append(_row("HySoMi calibration, 1 series, compile included", first, legacy, 1))
    return rows


def _whole_run(ours: dict, baseline: dict, check: dict) -> list[str]:
    """The whole-run row: CPU time of a HySoMi run against the target, the earlier settings
    per epoch, and the loss and gradient check against a tight reference."""
    if "error" in ours:
        return [f"HySoMi whole run: failed: {ours['error']}"]
    met = "yes" if ours["epochs"] >= 300 and ours["cpu_s"] <= HYSOMI_RUN_TARGET_S else "no"
    lines = [
        "| whole run | CPU (s) | wall (s) | CPU per epoch (s) | target | met | measured |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in (("HySoMi, defaults", ours), ("HySoMi, earlier settings", baseline)):
        if "error" in r:
            lines.append(f"| {label} | failed: {r['error']} | | | | | |")
            continue
        target = f"<= {HYSOMI_RUN_TARGET_S:g} s CPU for 300 epochs" if r is ours else "-"
        lines.append(
            f"| {label}, {r['epochs']} epochs (compile included) | {r['cpu_s']:.1f} | "
            f"{r['wall_s']:.1f} | {r['cpu_per_epoch_s']:.2f} | {target} | "
            f"{met if r is ours else '-'} | {r.get('measured_at', '-')} "
            f"(load {r.get('load_average', float('nan')):.1f}) |"
        )
    if "error" not in check:
        lines += [
            "",
            f"- Whole-run check, first batch at the initial weights against rtol 1e-9: loss "
            f"{check['loss_relative_difference_default']:.1e} (defaults) and "
            f"{check['loss_relative_difference_baseline']:.1e} (earlier), gradient "
            f"{check['gradient_relative_difference_default']:.1e} and "
            f"{check['gradient_relative_difference_baseline']:.1e} (relative L2).",
        ]
    return lines


def _machine() -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    versions = []
    for module in ("jax", "diffrax", "torch", "torchdiffeq", "scipy", "numpy"):
        if importlib.util.find_spec(module) is not None:
            versions.append(f"{module} {__import__(module).__version__}")
    return [
        f"- Machine: {platform.node()}, {platform.system()} {platform.release()}, {cpu}, "
        f"{os.cpu_count()} logical CPUs",
        f"- Python {platform.python_version()}; {', '.join(versions)}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    parser.add_argument("--only", nargs="+", choices=GROUPS, help="re-run only these groups")
    parser.add_argument(
        "--legacy-src",
        type=Path,
        default=None,
        help="source tree (its python/ folder) of the previous calibration, for its row",
    )
    args = parser.parse_args(argv)
    work = HERE / "out"
    work.mkdir(exist_ok=True)
    inputs = ["--inputs", str(work)]
    n = lambda full, quick: str(quick if args.quick else full)  # noqa: E731
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.UTC)
    jobs = {
        "soc": [
            ("soc_check", "soc_step.py", ["--contender", "check", *inputs], None),
            (
                "soc_jax",
                "soc_step.py",
                ["--contender", "jax", "--repeats", n(30, 5), "--count-rhs"],
                None,
            ),
            (
                "soc_jax_1",
                "soc_step.py",
                ["--contender", "jax", "--repeats", n(30, 5)],
                {"XLA_FLAGS": ONE_THREAD_XLA},
            ),
            (
                "soc_legacy",
                "soc_step.py",
                ["--contender", "jax", "--repeats", n(30, 5)],
                {"XLA_FLAGS": LEGACY_XLA},
            ),
            (
                "soc_float32",
                "soc_step.py",
                ["--contender", "jax", "--repeats", n(30, 5), "--dtype", "float32"],
                None,
            ),
            (
                "soc_tsit5",
                "soc_step.py",
                ["--contender", "jax", "--repeats", n(30, 5), "--solver", "tsit5"],
                None,
            ),
            (
                "soc_tsit5_float32",
                "soc_step.py",
                [*JAX_STEP, n(30, 5), "--solver", "tsit5", "--dtype", "float32"],
                None,
            ),
            ("soc_pi", "soc_step.py", [*JAX_STEP, n(30, 5), "--pi"], None),
            (
                "soc_tsit5_float32_pi",
                "soc_step.py",
                [*JAX_STEP, n(30, 5), "--solver", "tsit5", "--dtype", "float32", "--pi"],
                None,
            ),
            (
                "soc_torch",
                "soc_step.py",
                ["--contender", "torch", "--repeats", n(10, 2), *inputs],
                None,
            ),
        ],
        "hysomi_epoch": [
            ("hy_check", "hysomi_epoch.py", ["--contender", "check", *inputs], None),
            (
                "hy_jax",
                "hysomi_epoch.py",
                ["--contender", "jax", "--repeats", n(5, 1), *inputs],
                None,
            ),
            (
                "hy_torch",
                "hysomi_epoch.py",
                ["--contender", "torch", "--repeats", n(2, 1), *inputs],
                None,
            ),
        ],
        "hysomi_run": [
            ("hyrun_check", "hysomi_run.py", ["--contender", "check", *inputs], None),
            (
                "hyrun_jax",
                "hysomi_run.py",
                ["--contender", "jax", "--epochs", n(300, 10), *inputs],
                None,
            ),
            (
                "hyrun_baseline",
                "hysomi_run.py",
                ["--contender", "baseline", "--epochs", n(30, 5), *inputs],
                None,
            ),
        ],
        "generate": [
            (
                "gen_jax",
                "hysomi_generate.py",
                ["--contender", "jax", "--repeats", n(2, 1), *inputs],
                None,
            ),
            (
                "gen_scipy",
                "hysomi_generate.py",
                ["--contender", "scipy", "--draws", n(400, 40), *inputs],
                None,
            ),
        ],
        "grid": [("grid", "grid_compiles.py", [], None)],
        "calibration": [
            ("cal_ours_1", "calibration.py", ["--contender", "ours", "--repeats", n(3, 1)], None),
            ("cal_scipy_1", "calibration.py", ["--contender", "scipy"], None),
            (
                "cal_ours_50",
                "calibration.py",
                ["--contender", "ours", "--series", "50", "--repeats", n(2, 1)],
                None,
            ),
            (
                "cal_scipy_50",
                "calibration.py",
                ["--contender", "scipy", "--series", "50", "--peer-series", n(5, 1)],
                None,
            ),
            *(
                [
                    (
                        "cal_legacy",
                        "calibration.py",
                        ["--contender", "legacy", "--legacy-src", str(args.legacy_src)],
                        None,
                    )
                ]
                if args.legacy_src
                else []
            ),
        ],
    }
    hysomi_training = importlib.util.find_spec("soilsciml.engines.jax.hysomi_train")
    res = {}
    for group, entries in jobs.items():
        for name, script, script_args, env in entries:
            stored = work / f"{name}.json"
            if args.only and group not in args.only:
                res[name] = (
                    json.loads(stored.read_text())
                    if stored.exists()
                    else {"error": "not run (no earlier result)"}
                )
            elif group.startswith("hysomi") and hysomi_training is None:
                res[name] = {"error": "HySoMi training (engines/jax_hysomi_train.py) is not here"}
            else:
                res[name] = run(name, script, script_args, work, env)
    julia = subprocess.run(
        [sys.executable, str(HERE / "parity.py")], capture_output=True, text=True
    )
    load_after = os.getloadavg()

    lines = [
        "# Benchmark results",
        "",
        f"Written by `python benchmarks/run_all.py{' --quick' if args.quick else ''}"
        f"{' --only ' + ' '.join(args.only) if args.only else ''}`, "
        f"started {started:%Y-%m-%d %H:%M} UTC.",
        "",
        *_machine(),
        "- Threads: torch peers `torch.set_num_threads(1)` (on this machine under load, two "
        "torch threads made each small matmul ~1000x slower); JAX with XLA's default thread "
        "pool (both cores) unless the row says 1 thread (`XLA_FLAGS="
        f'"{ONE_THREAD_XLA}"`).',
        f"- Load average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.1f}' for x in load_after)} (the machine is shared; ratios "
        "within one run partly cancel the contention).",
        "",
        "Times in seconds: median (min - max) over n repeats after compilation. Ratio = peer "
        "median / ours. Compile: JAX first call minus the median. Peak RSS of each contender's "
        "own process (ours / peer), MiB.",
        "",
        "| measurement | ours | peer | ratio | target | met | compile (s) | peak RSS (MiB) "
        "| measured (1-min load) |",
        "|---|---|---|---|---|---|---|---|---|",
        _row("SOC training step", res["soc_jax"], res["soc_torch"], 20),
        _row("SOC training step, XLA 1 thread", res["soc_jax_1"], res["soc_torch"], 20),
        _row(
            "SOC training step, XLA legacy CPU runtime",
            res["soc_legacy"],
            res["soc_torch"],
            20,
        ),
        _row("SOC training step, ours float32", res["soc_float32"], res["soc_torch"], 20),
        _row("SOC training step, ours Tsit5", res["soc_tsit5"], res["soc_torch"], 20),
        _row(
            "SOC training step, ours Tsit5 float32",
            res["soc_tsit5_float32"],
            res["soc_torch"],
            20,
        ),
        _row("SOC training step, ours PI controller", res["soc_pi"], res["soc_torch"], 20),
        _row(
            "SOC training step, ours Tsit5 float32 PI controller",
            res["soc_tsit5_float32_pi"],
            res["soc_torch"],
            20,
        ),
        _row("HySoMi training epoch", res["hy_jax"], res["hy_torch"], 10),
        _row("HySoMi generation per draw", res["gen_jax"], res["gen_scipy"], 20, "ms", 1e3),
        *calibration_rows(res),
        "",
        *_whole_run(res["hyrun_jax"], res["hyrun_baseline"], res["hyrun_check"]),
        "",
        "Same loss for the same weights (checked before timing):",
        "",
    ]
    for key, label in (("soc_check", "SOC step"), ("hy_check", "HySoMi first batch")):
        r = res[key]
        if "error" in r:
            lines.append(f"- {label}: check failed: {r['error']}")
        else:
            extra = (
                f", gradient {r['gradient_relative_difference']:.1e}"
                if "gradient_relative_difference" in r
                else ""
            )
            lines.append(
                f"- {label}: JAX {r['loss_jax']:.10g}, torch {r['loss_torch']:.10g}, "
                f"relative difference {r['loss_relative_difference']:.1e}{extra}"
            )
    soc = res["soc_jax"]
    if "rhs_evaluations_forward" in soc:
        lines.append(
            f"- SOC step, ours: {soc['solver_steps']} dopri5 steps, "
            f"{soc['rhs_evaluations_forward']} RHS evaluations forward, "
            f"{soc['rhs_evaluations_value_and_grad']} for value + gradient."
        )
    pi = res["soc_pi"]
    if "solver_steps" in pi and "solver_steps" in soc:
        lines.append(
            f"- SOC step, ours PI controller: {pi['solver_steps']} dopri5 steps "
            f"({pi.get('rejected_steps', '-')} rejected) against {soc['solver_steps']} "
            f"({soc.get('rejected_steps', '-')} rejected) with the integral controller."
        )
    for key, label in (
        ("soc_float32", "float32"),
        ("soc_tsit5", "Tsit5"),
        ("soc_tsit5_float32", "Tsit5 float32"),
        ("soc_pi", "PI controller (pcoeff 0.4, icoeff 0.3)"),
        ("soc_tsit5_float32_pi", "Tsit5 float32 PI controller"),
    ):
        difference = res[key].get("loss_relative_difference_to_dopri5_float64")
        if difference is not None:
            lines.append(
                f"- SOC step, ours {label}: loss relative difference to dopri5 float64 (the "
                f"peer's setting) {difference:.1e} for the same weights, checked before timing."
            )
    lines.append(f'- XLA legacy CPU runtime row: `XLA_FLAGS="{LEGACY_XLA}"`.')
    gen, scipy_gen = res["gen_jax"], res["gen_scipy"]
    if "error" not in gen and "error" not in scipy_gen:
        lines.append(
            f"- Generation: ours {gen['draws']} draws for 973 samples in "
            f"{gen['dataset_median_s']:.1f} s (median); scipy on the first "
            f"{scipy_gen['draws']} draws ({scipy_gen['failed_solves']} failed solves), "
            f"accepted {scipy_gen['accepted_first_draws']} vs ours "
            f"{gen['accepted_first_draws']}, same keep/drop decision for "
            f"{scipy_gen.get('same_filter_decision', '-')} draws."
        )
    grid = res["grid"]
    if "error" in grid:
        lines.append(f"- Grid compiles: failed: {grid['error']}")
    else:
        lines.append(
            f"- Grid search, {len(grid['trials'])} same-shape SOC fits (lr, seed, weight decay "
            f"differ): compilations per trial {grid['compiles_per_trial']}, wall times "
            + ", ".join(f"{t['wall_s']:.1f}" for t in grid["trials"])
            + " s."
        )
    julia_text = (julia.stdout or julia.stderr).strip()
    lines += ["", "Julia engine vs JAX (`benchmarks/parity.py`):", "", julia_text or "no output"]
    # sections written by other scripts (fit_breakdown.py, jobs.py) stay
    kept = kept_sections(args.out.read_text()) if args.out.exists() else ""
    args.out.write_text("\n".join(lines) + "\n" + ("\n" + kept if kept else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
