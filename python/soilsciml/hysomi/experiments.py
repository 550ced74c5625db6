"""The HySoMi paper's synthetic experiments as named recipes (``soilsciml hysomi experiment``).

A recipe names its datasets (generator settings, cached as NetCDF in ``DIR/data``) and its
runs (a training config, the dataset it trains on, the datasets whose test split it is scored
on, and row labels). :func:`run_experiment` trains what is not finished yet (a run counts as
finished when its ``metrics.json`` exists, so an interrupted experiment resumes), then writes
``DIR/NAME.md`` (mean ± standard deviation over seeds), ``DIR/NAME.json`` (every record) and,
where the paper has a figure, ``DIR/NAME_<figure>.png``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soilsciml.config import HySoMiConstraintConfig, HySoMiGeneratorConfig, HySoMiTrainConfig
from soilsciml.data.io import json_text

__all__ = ["EXPERIMENTS", "FULL", "QUICK", "Recipe", "RunSpec", "markdown_table", "run_experiment"]

METRIC_COLUMNS = ("mse_co2", "mse_hidden", "l1_params", "constraint_sum")
COMPARED = ("hysomi", "unconstrained", "all_states")


@dataclass(frozen=True)
class RunSpec:
    """One training run of a recipe.

    Parameters
    ----------
    name : str
        Folder name under ``DIR/runs``.
    dataset : str
        Dataset it trains on (a key of :attr:`Recipe.datasets`).
    config : HySoMiTrainConfig
    labels : dict
        Row labels of the table (model, sweep value, ...); ``seed`` is added.
    score_on : tuple of str
        Datasets whose test split scores the model (default: its own).
    """

    name: str
    dataset: str
    config: HySoMiTrainConfig
    labels: dict[str, Any]
    score_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """Datasets, runs, table rows and the optional figure of one experiment."""

    datasets: dict[str, HySoMiGeneratorConfig]
    runs: tuple[RunSpec, ...]
    rows: tuple[str, ...]
    figures: dict[str, Callable[[list[dict[str, Any]]], Any]] = field(default_factory=dict)
    columns: tuple[str, ...] = METRIC_COLUMNS
    notes: str = ""


@dataclass(frozen=True)
class Scale:
    """Sizes that distinguish the full recipes from their ``--quick`` variants."""

    n_samples: int
    seeds: tuple[int, ...]
    train: HySoMiTrainConfig


FULL = Scale(973, (0, 1, 2), HySoMiTrainConfig())
QUICK = Scale(
    60,
    (0, 1),
    HySoMiTrainConfig(epochs=6, patience=6, width=16, depth=2, batch_size=16),
)


def _data(scale: Scale, **settings: Any) -> HySoMiGeneratorConfig:
    return HySoMiGeneratorConfig(n_samples=scale.n_samples, seed=0, **settings)


def _run(scale: Scale, dataset: str, seed: int, labels: dict[str, Any], **settings: Any):
    config = dataclasses.replace(scale.train, seed=seed, **settings)
    name = "_".join([dataset, *(f"{k}-{v}" for k, v in labels.items()), f"seed-{seed}"])
    return RunSpec(name, dataset, config, labels)


def _main(scale: Scale) -> Recipe:
    runs = tuple(
        _run(scale, "default", seed, {"model": m}, model=m)
        for m in (*COMPARED, "ml")
        for seed in scale.seeds
    )
    return Recipe({"default": _data(scale)}, runs, ("model",), _bars_by("model"))


def _bars_by(key: str) -> dict[str, Callable[[list[dict[str, Any]]], Any]]:
    """Per-state MSE and per-constraint violation bars of the seed means per ``key``."""
    from soilsciml.plots import hysomi as figures

    return {
        "state_mse": lambda records: figures.state_mse_bars(_mean_by(records, key)),
        "constraint_violations": lambda records: figures.constraint_violation_bars(
            _mean_by(records, key)
        ),
    }


def _complexity(scale: Scale) -> Recipe:
    depths = (1, 3, 9) if scale is QUICK else (1, 3, 5, 7, 9, 13, 17)
    datasets = {f"depth{d}": _data(scale, generator_depth=d) for d in depths}
    runs = tuple(
        _run(scale, f"depth{d}", scale.seeds[0], {"generator_depth": d, "model": m}, model=m)
        for d in depths
        for m in COMPARED
    )
    return Recipe(datasets, runs, ("generator_depth", "model"), _sweep("generator_depth"))


def _size(scale: Scale) -> Recipe:
    n_train = (30, 15) if scale is QUICK else (554, 300, 150, 75, 30)
    runs = tuple(
        _run(scale, "default", scale.seeds[0], {"n_train": n, "model": m}, model=m, n_train=n)
        for n in n_train
        for m in COMPARED
    )
    return Recipe({"default": _data(scale)}, runs, ("n_train", "model"), _sweep("n_train"))


def _trait_noise(scale: Scale) -> Recipe:
    sigmas = (3.0, 6.0, 10.0, 25.0)
    datasets = {f"noise{s:g}": _data(scale, trait_noise=s) for s in sigmas}
    runs = tuple(
        _run(scale, f"noise{s:g}", seed, {"trait_noise": s}, model="hysomi")
        for s in sigmas
        for seed in scale.seeds
    )
    return Recipe(datasets, runs, ("trait_noise",))


def _misspecified(p6: float, c3: float) -> HySoMiConstraintConfig:
    return HySoMiConstraintConfig(factor_labels=("P6", "C3"), factor_values=(p6, c3))


def _misspecification(scale: Scale) -> Recipe:
    cases = {"p6-0.5_c3-1.0": None, "p6-0.8_c3-0.7": (0.8, 0.7), "p6-0.8_c3-0.1": (0.8, 0.1)}
    datasets = {
        name: _data(scale) if f is None else _data(scale, constraints=_misspecified(*f))
        for name, f in cases.items()
    }
    runs = tuple(
        dataclasses.replace(
            _run(scale, "p6-0.5_c3-1.0", seed, {"model": "hysomi"}, model="hysomi"),
            score_on=tuple(cases),
        )
        for seed in scale.seeds
    )
    notes = "Trained on the default constraints (P6 0.5, C3 1.0), scored on each test set."
    return Recipe(datasets, runs, ("test_data",), notes=notes)


def _mismatch(scale: Scale) -> Recipe:
    tanh = _data(scale, generator_depth=5, generator_width=42, generator_activation="tanh")
    runs = tuple(
        _run(scale, "tanh5x42", seed, {"model": m}, model=m)
        for m in COMPARED
        for seed in scale.seeds[:1]
    )
    return Recipe({"tanh5x42": tanh}, runs, ("model",))


def _ablation(scale: Scale) -> Recipe:
    runs = tuple(
        _run(scale, "default", seed, {"loss_weighting": w}, model="hysomi", loss_weighting=w)
        for w in ("adaptive", "balanced", "normalised")
        for seed in scale.seeds
    )
    return Recipe({"default": _data(scale)}, runs, ("loss_weighting",))


def _sweep(x: str) -> dict[str, Callable[[list[dict[str, Any]]], Any]]:
    def figure(records: list[dict[str, Any]]):
        from soilsciml.plots.hysomi import sweep_lines

        return sweep_lines(records, x, ("mse_co2", "mse_hidden", "constraint_sum"))

    return {"sweep": figure}


#: Experiment name -> recipe builder (``Scale`` -> ``Recipe``).
EXPERIMENTS: dict[str, Callable[[Scale], Recipe]] = {
    "main": _main,
    "complexity": _complexity,
    "size": _size,
    "trait-noise": _trait_noise,
    "misspecification": _misspecification,
    "mismatch": _mismatch,
    "ablation": _ablation,
}


def _mean_by(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """Per value of ``key``: the mean of every numeric metric (None where any is None)."""
    out: dict[str, dict[str, Any]] = {}
    for value in dict.fromkeys(r[key] for r in records):
        group = [r for r in records if r[key] == value]
        out[str(value)] = {
            k: None
            if any(r.get(k) is None for r in group)
            else float(np.mean([r[k] for r in group]))
            for k, v in group[0].items()
            if v is None or isinstance(v, int | float)
        }
    return out


def markdown_table(
    records: Sequence[dict[str, Any]], rows: Sequence[str], columns: Sequence[str]
) -> str:
    """Markdown table: one row per distinct ``rows`` labels, ``mean ± sd (n)`` per column.

    ``sd`` is the sample standard deviation over the records of a row (seeds); ``n/a`` where
    a metric is None (the ``ml`` model has no parameters or hidden pools).
    """
    header = [*rows, *columns, "n"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keys = list(dict.fromkeys(tuple(r[k] for k in rows) for r in records))
    for key in keys:
        group = [r for r in records if tuple(r[k] for k in rows) == key]
        cells = [str(k) for k in key]
        for column in columns:
            values = [r.get(column) for r in group]
            if any(v is None for v in values):
                cells.append("n/a")
            elif len(values) > 1:
                cells.append(f"{np.mean(values):.4g} ± {np.std(values, ddof=1):.2g}")
            else:
                cells.append(f"{values[0]:.4g}")
        cells.append(str(len(group)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _dataset(path: Path, config: HySoMiGeneratorConfig, progress: bool):
    from soilsciml.data.io import load_dataset, save_dataset
    from soilsciml.hysomi.data import generate_hysomi

    if not path.is_file():
        save_dataset(generate_hysomi(config, progress=progress), path)
    return load_dataset(path)


def _scores(run: RunSpec, folder: Path, datasets: dict[str, Any], progress: bool) -> list[dict]:
    """Metrics of one run on each of its scoring datasets, training it if not finished."""
    from soilsciml.hysomi.fit import (
        HySoMiFitResult,
        fit_hysomi,
        hysomi_metrics,
        predict_split,
        write_run,
    )

    score_on = run.score_on or (run.dataset,)
    paths = {
        d: folder / ("metrics.json" if d == run.dataset else f"metrics_{d}.json") for d in score_on
    }
    if not all(p.is_file() for p in paths.values()):
        if (folder / "metrics.json").is_file():
            result = HySoMiFitResult.load(folder)
        else:
            result = fit_hysomi(datasets[run.dataset], run.config, progress=progress)
            write_run(result, folder)
        for name, path in paths.items():
            if not path.is_file():
                metrics = hysomi_metrics(predict_split(result, datasets[name]), run.config)
                path.write_text(json_text(metrics, indent=2) + "\n")
    base = json.loads((folder / "metrics.json").read_text())
    return [
        {
            **run.labels,
            "seed": run.config.seed,
            "test_data": name,
            **base,
            **json.loads(path.read_text()),
        }
        for name, path in paths.items()
    ]


def _score_cached(run: RunSpec, folder: Path, paths: dict[str, Path]) -> list[dict]:
    """:func:`_scores` in a worker process: datasets come from the experiment's cache."""
    from soilsciml.data.io import load_dataset

    datasets = {name: load_dataset(path) for name, path in paths.items()}
    return _scores(run, folder, datasets, progress=False)


def run_experiment(
    name: str, out: str | Path, quick: bool = False, progress: bool = True, jobs: int = 1
) -> tuple[str, list[dict[str, Any]]]:
    """Run (or resume) the named experiment in ``out``; return its Markdown table and records.

    ``jobs`` > 1 trains that many runs at once in separate (spawned) processes.

    Raises
    ------
    ValueError
        For an unknown experiment name, listing the known ones.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    recipe = EXPERIMENTS[name](QUICK if quick else FULL)
    out = Path(out)
    datasets = {
        key: _dataset(out / "data" / f"{key}.nc", config, progress)
        for key, config in recipe.datasets.items()
    }
    records: list[dict[str, Any]] = []
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        paths = {key: out / "data" / f"{key}.nc" for key in recipe.datasets}
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = [
                pool.submit(_score_cached, run, out / "runs" / run.name, paths)
                for run in recipe.runs
            ]
            for future in futures:
                records += future.result()
    else:
        for run in recipe.runs:
            records += _scores(run, out / "runs" / run.name, datasets, progress)
    title = f"# HySoMi experiment `{name}`{' (quick)' if quick else ''}\n\n"
    table = markdown_table(records, recipe.rows, recipe.columns)
    notes = f"\n{recipe.notes}\n" if recipe.notes else ""
    (out / f"{name}.md").write_text(title + table + notes)
    (out / f"{name}.json").write_text(json_text(records, indent=2) + "\n")
    for key, draw in recipe.figures.items():
        fig = draw(records)
        fig.savefig(out / f"{name}_{key}.png", dpi=110)
    return table, records
