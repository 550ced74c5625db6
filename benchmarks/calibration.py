"""Calibration of the HySoMi PBM to the Certovo incubation: ours against scipy and the old path.

Contenders (one per process, JSON for ``run_all.py``):

- ``ours``: ``calibrate_hysomi`` on the Certovo CO2 series (``--series 1``) or on 50 series made
  from it (each scaled by a log-normal factor, sd 0.1, and 2 % noise per observation, seeded):
  screen, Levenberg-Marquardt from the best starts, polish, re-weight. The first call compiles;
  the median of the later calls is the time. CPU time is reported with the wall time.
- ``scipy``: the same residuals (the same weights, save points and constraint residuals) in
  numpy over ``scipy.integrate.solve_ivp`` (LSODA, rtol 1e-6, atol 1e-9), the same screen
  candidates and selection rule, then ``scipy.optimize.least_squares`` (trust-region
  reflective, finite-difference Jacobian, bounds = the box) from each start. For 50 series
  it fits the first ``--peer-series`` and scales the time to 50 (an estimate, stated so).
- ``legacy``: the previous implementation (Adam on every start, then BFGS, hourly save points)
  through its CLI in a subprocess, from a source tree given with ``--legacy-src``
  (``git archive 6b1589b python | tar -x -C /tmp/legacy``).

    python benchmarks/calibration.py --contender ours --series 1 --json out.json
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_util import write_json

ROOT = Path(__file__).resolve().parent.parent
CERTOVO = ROOT / "python" / "soilsciml" / "examples_data" / "certovo_aerobic.csv"
INITIAL = ("C_L=6.0", "B_A=0.09", "B_D=0.79")
COLUMNS = ["--time-column", "time_d", "--time-unit", "d"]
COLUMNS += ["--co2-column", "co2_cumulative_umol_per_g", "--co2-unit", "umol/g"]


def _series(n: int):
    from soilsciml.config import IncubationFormat
    from soilsciml.hysomi.incubation import read_incubation

    fmt = IncubationFormat(
        time_column="time_d",
        time_unit="d",
        co2_column="co2_cumulative_umol_per_g",
        co2_unit="umol/g",
    )
    ds = read_incubation(CERTOVO, fmt)
    if n == 1:
        return ds
    rng = np.random.default_rng(0)
    co2 = ds["co2"].values
    scale = np.exp(0.1 * rng.standard_normal((n, 1)))
    noisy = co2 * scale * (1.0 + 0.02 * rng.standard_normal((n, co2.shape[1])))
    out = ds.isel(series=np.zeros(n, dtype=int))
    out = out.assign_coords(series=[f"s{k:02d}" for k in range(n)])
    out["co2"] = (("series", "obs"), noisy, dict(ds["co2"].attrs))
    return out


def _config():
    from soilsciml.config import HySoMiCalibrationConfig
    from soilsciml.hysomi.calibrate import initial_pools

    return HySoMiCalibrationConfig(initial=initial_pools(INITIAL))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ours(n_series: int, repeats: int) -> dict:
    from soilsciml.hysomi.calibrate import calibrate_hysomi

    ds, config = _series(n_series), _config()
    walls, cpus = [], []
    for _ in range(repeats + 1):
        start, cpu = time.perf_counter(), _cpu()
        result = calibrate_hysomi(ds, config)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    later = np.array(walls[1:])
    r2 = result["r2"].sel(channel="co2").values
    return {
        "contender": "ours (Levenberg-Marquardt, JAX)",
        "median_s": float(np.median(later)),
        "min_s": float(later.min()),
        "max_s": float(later.max()),
        "repeats": repeats,
        "compile_s": walls[0] - float(np.median(later)),
        "first_call_s": walls[0],
        "cpu_median_s": float(np.median(cpus[1:])),
        "series": n_series,
        "r2_median": float(np.median(r2)),
        "r2_min": float(np.min(r2)),
        "chi2_median": float(np.median(result["chi2"].values)),
    }


def _peer_problem(ds, config):
    """Per series: save grid, observation index, weights, constraints (as ours builds them)."""
    from soilsciml.hysomi.calibrate import _save_grid, _sigma
    from soilsciml.models import constraints as cons
    from soilsciml.models import hysomi as model

    span = float(np.nanmax(ds["time"].values))
    factors = {"P11": 0.9 ** (span / model.HORIZON_HOURS)}
    constraints = cons.constraint_set("real", factors)
    problems = []
    for s in range(ds.sizes["series"]):
        t, y = ds["time"].values[s], ds["co2"].values[s]
        keep = np.isfinite(t) & np.isfinite(y)
        grid = _save_grid(t[np.isfinite(t)], config.constraint_points)
        sigma = _sigma(t, y, config.noise, config.noise_floor)
        problems.append((grid, np.searchsorted(grid, t[keep]), y[keep], sigma[keep]))
    return problems, constraints


def _peer_residuals(theta, problem, constraints, config):
    from scipy.integrate import solve_ivp

    from soilsciml.engines.jax.calibrate import CONSTRAINT_TOLERANCE, FAILED_RESIDUAL
    from soilsciml.models import hysomi as model

    grid, index, observed, sigma = problem
    solution = solve_ivp(
        lambda t, y: model.rhs(y, theta),
        (0.0, grid[-1]),
        np.asarray(config.initial, float),
        method="LSODA",
        t_eval=grid,
        rtol=1e-6,
        atol=1e-9,
    )
    count = observed.size + len(constraints)
    if not solution.success or solution.y.shape[1] != grid.size:
        return np.full(count, FAILED_RESIDUAL)
    states = solution.y.T
    misfit = (states[index, 5] - observed) / sigma
    violations = []
    for constraint in constraints:
        left, right = constraint.sides(states, grid, theta, config.constraints.temperature, np)
        violations.append(max(left - right, 0.0) / (abs(left) + abs(right) + 1e-12))
    scale = np.sqrt(config.constraint_weight) / CONSTRAINT_TOLERANCE
    return np.concatenate([misfit, scale * np.array(violations)])


def scipy_peer(n_series: int, peer_series: int) -> dict:
    from scipy.optimize import least_squares

    from soilsciml.hysomi.calibrate import _screen
    from soilsciml.models import hysomi as model

    ds, config = _series(n_series), _config()
    fitted = min(n_series, peer_series)
    problems, constraints = _peer_problem(ds, config)
    candidates = model.to_box(_screen(n_series, config))
    start, cpu = time.perf_counter(), _cpu()
    r2, chi2 = [], []
    for s in range(fitted):
        screened = [
            np.sum(_peer_residuals(c, problems[s], constraints, config) ** 2) for c in candidates[s]
        ]
        best = None
        for k in np.argsort(screened)[: config.n_starts]:
            x0 = np.clip(candidates[s, k], model.LOWER + 1e-9, model.UPPER - 1e-9)
            out = least_squares(
                lambda x, p=problems[s]: _peer_residuals(x, p, constraints, config),
                x0,
                bounds=(model.LOWER, model.UPPER),
                x_scale="jac",
                max_nfev=1000,
            )
            if best is None or out.cost < best.cost:
                best = out
        observed = problems[s][2]
        chi2.append(2 * best.cost)
        pred = observed + best.fun[: observed.size] * problems[s][3]
        r2.append(1 - np.sum((pred - observed) ** 2) / np.sum((observed - observed.mean()) ** 2))
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    factor = n_series / fitted
    return {
        "contender": "scipy least_squares + solve_ivp LSODA"
        + (f" ({fitted} series, x{factor:g})" if factor != 1 else ""),
        "median_s": wall * factor,
        "min_s": wall * factor,
        "max_s": wall * factor,
        "repeats": 1,
        "measured_s": wall,
        "cpu_s": cpu * factor,
        "series_fitted": fitted,
        "estimated": factor != 1,
        "r2_median": float(np.median(r2)),
        "r2_min": float(np.min(r2)),
        "chi2_median": float(np.median(chi2)),
    }


def legacy(source: Path, out_dir: Path) -> dict:
    command = [sys.executable, "-m", "soilsciml", "hysomi", "calibrate", str(CERTOVO)]
    command += [*COLUMNS, "--initial", *INITIAL, "--out", str(out_dir)]
    env = {**os.environ, "PYTHONPATH": str(source)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "contender": "previous implementation (Adam + BFGS, hourly grid; compile included)",
        "median_s": wall,
        "min_s": wall,
        "max_s": wall,
        "repeats": 1,
        "cpu_s": cpu,
        "output": done.stdout.strip().splitlines()[0],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", choices=("ours", "scipy", "legacy"), required=True)
    parser.add_argument("--series", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-series", type=int, default=5)
    parser.add_argument("--legacy-src", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    if args.contender == "ours":
        result = ours(args.series, args.repeats)
    elif args.contender == "scipy":
        result = scipy_peer(args.series, args.peer_series)
    else:
        if args.legacy_src is None:
            parser.error("--contender legacy needs --legacy-src")
        result = legacy(args.legacy_src, Path("/tmp") / "calibration_legacy_run")
    result["load_average_before"] = list(load)
    result["load_average_after"] = list(os.getloadavg())
    write_json(result, args.json)


if __name__ == "__main__":
    main()
