"""The SOC paper's six cases as named, runnable recipes.

See [SOC science: the cases][soc-cases] and [the six cases][the-six-soc-cases-against-the-paper].

Each case: simulate the reference truth (50 yr, yearly, Nz = 30), add the case's noise to the
drivers and SOC (multiplicative AR-1 along depth, rho = 0.8, seeded), run the grid of the
paper's Table 1 (16 configurations) with the case's loss weights and iterations (Tables 2-7),
select by the final training loss, retrain the best at rtol = atol = 1e-6 and write metrics,
figures and ``case.md``. :func:`run_cases` runs all six and writes ``summary.md`` next to the
paper's reported numbers (Table 8 and the text of its section 4.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soilsciml.config import (
    NoiseConfig,
    SOCFitConfig,
    SOCLossConfig,
    SOCTrainConfig,
)
from soilsciml.search.spec import GridSpec, Selection

__all__ = [
    "CASES",
    "GRID",
    "PAPER_RESULTS",
    "QUICK_GRID",
    "RETRAIN",
    "CaseRun",
    "SOCCase",
    "case_grid",
    "run_case",
    "run_cases",
    "summary_markdown",
]

#: The paper's Table 1: 2 x 2 x 2 x 2 = 16 configurations.
GRID = {
    "network.h1": [32, 64],
    "network.h2": [16, 32],
    "network.activation": ["tanh", "gelu"],
    "train.lr": [3e-3, 5e-3],
}

#: ``--quick``: two trials of one shape and a short budget (tests and demos).
QUICK_GRID = {"network.h1": [32], "network.h2": [16], "network.activation": ["gelu"]}
QUICK_LRS = [3e-3, 5e-3]
QUICK_ITERATIONS = (60, 60)

#: Final fit of the best configuration: the tight tolerance (docs/science/soc-ude.md#soc-training).
RETRAIN = {"solver.rtol": 1e-6, "solver.atol": 1e-6}

#: Selection metric: the training loss at the end of training (the paper's "terminal loss").
#: It includes the case's loss weights, so it ranks trials within one case only.
SELECT = Selection("final_loss", "min")


@dataclass(frozen=True)
class SOCCase:
    """One of the paper's six cases.

    Parameters
    ----------
    number : int
        1-6.
    target : str
        ``initial`` (the "t = 0" cases: the profile after a 1-yr rollout from the observed
        initial profile must reproduce it, plus collocation) or ``terminal`` (t = 50 yr).
    noise_level : float
        Relative level of the multiplicative AR-1 noise on pH, CEC, clay and SOC (0: clean).
    lambda_term, lambda_coll, lambda_wd : float
        Loss weights of the paper's Tables 2-7.
    adam_iters, bfgs_iters : int
        Iterations of the paper's Tables 2-7.
    """

    number: int
    target: str
    noise_level: float
    lambda_term: float
    lambda_coll: float
    lambda_wd: float
    adam_iters: int = 200
    bfgs_iters: int = 400

    @property
    def title(self) -> str:
        """``Case N: t = 0 | 50 yr, no noise | x % noise``."""
        time = "t = 0" if self.target == "initial" else "t = 50 yr"
        noise = f"{self.noise_level:.0%} noise" if self.noise_level else "no noise"
        return f"Case {self.number}: {time}, {noise}"

    def noise(self) -> NoiseConfig | None:
        """Noise of the case: AR-1 along depth, rho 0.8, seed = case number.

        See [SOC science: noise][soc-noise].
        """
        if self.noise_level == 0:
            return None
        return NoiseConfig(level=self.noise_level, kind="ar1", rho=0.8, seed=self.number)

    def fit_config(self, quick: bool = False) -> SOCFitConfig:
        """The base config of the case's grid (``quick``: the short budget)."""
        adam, bfgs = QUICK_ITERATIONS if quick else (self.adam_iters, self.bfgs_iters)
        return SOCFitConfig(
            loss=SOCLossConfig(
                target=self.target,
                lambda_term=self.lambda_term,
                lambda_coll=self.lambda_coll,
                lambda_wd=self.lambda_wd,
            ),
            train=SOCTrainConfig(adam_iters=adam, second_iters=bfgs),
        )


#: The paper's Tables 2-7 (loss weights, Adam + BFGS iterations) and the target time and noise
#: of docs/science/soc-ude.md#soc-cases.
CASES: dict[int, SOCCase] = {
    1: SOCCase(1, "initial", 0.0, lambda_term=1.0, lambda_coll=1.0, lambda_wd=1e-4),
    2: SOCCase(2, "initial", 0.07, lambda_term=1.5, lambda_coll=1.0, lambda_wd=1e-3),
    3: SOCCase(3, "initial", 0.35, lambda_term=1.0, lambda_coll=1.0, lambda_wd=1e-3),
    4: SOCCase(4, "terminal", 0.0, lambda_term=1.0, lambda_coll=1.0, lambda_wd=1e-4),
    5: SOCCase(5, "terminal", 0.07, lambda_term=1.5, lambda_coll=1.0, lambda_wd=1e-3),
    6: SOCCase(
        6,
        "terminal",
        0.35,
        lambda_term=2.0,
        lambda_coll=1.0,
        lambda_wd=1e-4,
        adam_iters=400,
        bfgs_iters=800,
    ),
}

#: What the paper reports (Table 8 and its section 4.2; docs/science/soc-ude.md#soc-cases).
#: Cases 1 and 2 have no numbers. Case 4 is noise-free, so its numbers hold against both references.
PAPER_RESULTS: dict[int, dict[str, Any]] = {
    1: {"best": "(32, 16) per Table 2"},
    2: {"best": "(32, 32) per Table 3"},
    3: {
        "best": "32, 16, tanh, lr 0.001, lambda_pde 5, lambda_data 0.25",
        "rmse_noisy": 0.0018,
        "r2_noisy": 0.99996,
        "rmse_clean": 0.075,
        "r2_clean": 0.938,
    },
    4: {"best": "32, 16, gelu, lr 0.003", "mse_noisy": 1.6e-5, "r2_noisy": 0.9999},
    5: {"best": "32, 16, tanh, lr 0.003", "mse_noisy": 3.39e-6, "r2_noisy": 0.99998},
    6: {
        "best": "64, 32, tanh, lr 0.003",
        "mse_noisy": 0.694,
        "r2_noisy": -0.017,
        "mse_clean": 0.192,
        "r2_clean": -0.033,
    },
}


def case_grid(case: SOCCase, data_path: str | Path, quick: bool = False) -> GridSpec:
    """The grid search of ``case`` on the dataset at ``data_path`` (Table 1, or the quick grid)."""
    grid = {**QUICK_GRID, "train.lr": QUICK_LRS} if quick else GRID
    return GridSpec(
        trial="soilsciml.soc.trials:fit_trial",
        base=case.fit_config(quick),
        grid=grid,
        seed=0,
        select=SELECT,
        data={"path": str(Path(data_path).resolve())},
        retrain=RETRAIN,
        kind="soc_fit",
    )


def simulate_case_data(case: SOCCase):
    """Reference truth (50 yr, yearly, Nz = 30) with the case's noise; clean fields kept."""
    from soilsciml.noise import add_noise
    from soilsciml.soc.simulate import simulate_soc

    clean = simulate_soc()
    noise = case.noise()
    return clean if noise is None else add_noise(clean, noise)


@dataclass(frozen=True)
class CaseRun:
    """What :func:`run_case` produced: the case, its grid run and the retrained metrics."""

    case: SOCCase
    directory: Path
    grid: Any
    metrics: dict[str, float]


def run_case(
    number: int,
    out: str | Path,
    *,
    quick: bool = False,
    executor: str = "inprocess",
    workers: int | None = None,
    quiet: bool = False,
) -> CaseRun:
    """Run (or resume) case ``number`` in the run directory ``out``.

    Writes ``data.nc`` (the case's training data) and ``drivers.png``, the grid
    (``grid.toml``, ``trials/``, ``results.*``), the retrained best model with its metrics and
    figures in ``best/``, and ``case.md``. Rerunning skips finished trials.

    Raises
    ------
    ValueError
        For a case number outside 1-6, before any compute.
    """
    if number not in CASES:
        raise ValueError(f"case must be one of {', '.join(map(str, CASES))}; got {number!r}")
    from soilsciml.data.io import save_dataset
    from soilsciml.plots.soc import plot_drivers
    from soilsciml.search.runner import run_grid

    case = CASES[number]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_path = out / "data.nc"
    if not data_path.exists():
        dataset = simulate_case_data(case)
        save_dataset(dataset, data_path)
        plot_drivers(dataset, time=25.0).savefig(out / "drivers.png", dpi=120)
    spec = case_grid(case, data_path, quick)
    grid = run_grid(spec, out, executor=executor, workers=workers, quiet=quiet)
    metrics = dict(grid.retrained["metrics"]) if grid.retrained else {}
    run = CaseRun(case, out, grid, metrics)
    (out / "case.md").write_text(case_markdown(run, quick))
    return run


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:.5g}"


def _paper_error(paper: dict[str, Any], truth: str) -> str:
    """The paper's MSE against ``truth``, or its RMSE where it gives only that (Case 3)."""
    if f"mse_{truth}" in paper:
        return _number(paper[f"mse_{truth}"])
    if f"rmse_{truth}" in paper:
        return f"RMSE {_number(paper[f'rmse_{truth}'])}"
    return "–"


def _best_settings(run: CaseRun) -> str:
    best = run.grid.best
    if best is None:
        return "none"
    s = best["settings"]
    return f"{s['network.h1']}, {s['network.h2']}, {s['network.activation']}, lr {s['train.lr']:g}"


def case_markdown(run: CaseRun, quick: bool = False) -> str:
    """The case's report: settings, best configuration, retrained metrics vs the paper."""
    case, metrics = run.case, run.metrics
    noise = case.noise()
    lines = [
        f"# {case.title}" + (" (quick budget)" if quick else ""),
        "",
        f'- target: `loss.target = "{case.target}"`'
        + (" (1-yr rollout from the observed initial profile)" if case.target == "initial" else ""),
        "- noise: none"
        if noise is None
        else f"- noise: {noise.level:.0%} multiplicative AR-1 along depth (rho {noise.rho:g}, "
        f"seed {noise.seed}) on {', '.join(noise.variables)}; clean fields kept",
        f"- loss weights: lambda_term {case.lambda_term:g}, lambda_coll {case.lambda_coll:g}, "
        f"lambda_wd {case.lambda_wd:g}",
        f"- grid: {len(run.grid.spec.trials)} configurations, selection: min of `final_loss`; "
        f"best: {_best_settings(run)}; retrained at rtol = atol = 1e-6 (`best/`)",
        "",
        "| metric | this run | paper |",
        "|---|---|---|",
    ]
    paper = PAPER_RESULTS[case.number]
    for name in ("final_loss", "mse_noisy", "r2_noisy", "mse_clean", "r2_clean", "rmse_clean"):
        lines.append(f"| {name} | {_number(metrics.get(name))} | {_number(paper.get(name))} |")
    lines += ["", f"Paper's best configuration: {paper['best']}.", "", "## Grid", ""]
    lines.append((run.directory / "results.md").read_text())
    return "\n".join(lines)


def _cpu_time(run: CaseRun) -> float:
    """CPU time in s of the case's trials and retrain (NaN where a record lacks it)."""
    records = [*run.grid.records.values(), *([run.grid.retrained] if run.grid.retrained else [])]
    return sum(r["metrics"].get("cpu_time_s", math.nan) for r in records)


def summary_markdown(runs: list[CaseRun]) -> str:
    """Side-by-side table of every case: this run's retrained metrics and the paper's.

    The last column is the CPU time of the case's trials and retrain (s, summed over worker
    processes; it does not grow with the load from other jobs, unlike wall time).
    """
    header = (
        "| case | best (h1, h2, act, lr) | MSE noisy | R2 noisy | MSE clean | R2 clean "
        "| paper MSE noisy | paper R2 noisy | paper MSE clean | paper R2 clean "
        "| CPU time [s] |"
    )
    lines = [header, "|" + "---|" * 11]
    for run in runs:
        m, paper = run.metrics, PAPER_RESULTS[run.case.number]
        cells = [
            run.case.title,
            _best_settings(run),
            *(_number(m.get(k)) for k in ("mse_noisy", "r2_noisy", "mse_clean", "r2_clean")),
            _paper_error(paper, "noisy"),
            _number(paper.get("r2_noisy")),
            _paper_error(paper, "clean"),
            _number(paper.get("r2_clean")),
            f"{_cpu_time(run):.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_cases(
    out: str | Path,
    *,
    numbers: tuple[int, ...] = tuple(CASES),
    quick: bool = False,
    executor: str = "inprocess",
    workers: int | None = None,
    quiet: bool = False,
) -> list[CaseRun]:
    """Run (or resume) the cases ``numbers`` into ``out/caseN``; write ``out/summary.md``."""
    unknown = [n for n in numbers if n not in CASES]
    if unknown:
        raise ValueError(f"case must be one of {', '.join(map(str, CASES))}; got {unknown[0]!r}")
    out = Path(out)
    runs = []
    for number in numbers:
        runs.append(
            run_case(
                number,
                out / f"case{number}",
                quick=quick,
                executor=executor,
                workers=workers,
                quiet=quiet,
            )
        )
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.md").write_text(summary_markdown(runs))
    return runs
