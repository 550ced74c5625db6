"""The HySoMi paper's synthetic experiments as named grids (``soilsciml hysomi experiment``).

A recipe names its datasets (generator settings, cached as NetCDF in ``DIR/data``) and a grid
of ``hysomi_fit`` trials over :class:`~soilsciml.config.HySoMiTrialConfig` (model, seed,
dataset, ...), run by the project's search module (:func:`soilsciml.search.run_grid`) in
``DIR/grid``: resumable trial by trial (a finished trial is never rerun), on any executor
(``inprocess``, ``processes``, ``dask`` with a scheduler address). :func:`run_experiment`
then writes ``DIR/NAME.md`` (mean ± standard deviation over seeds; for ``main`` the paired
comparison of ``hysomi`` and ``unconstrained``, for ``ablation`` of the loss weightings),
``DIR/NAME.json`` (every record) and, where the paper has a figure, ``DIR/NAME_<figure>.png``
(drawn from the records, or for the trajectory figures from the first seed's run
directories).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soilsciml.config import (
    HySoMiConstraintConfig,
    HySoMiGeneratorConfig,
    HySoMiTrainConfig,
    HySoMiTrialConfig,
)
from soilsciml.data.io import json_text

__all__ = [
    "EXPERIMENTS",
    "FULL",
    "PAIRED_METRICS",
    "QUICK",
    "Recipe",
    "experiment_grid",
    "markdown_table",
    "paired_comparison",
    "run_experiment",
]

#: A figure of an experiment: (records, the grid's trials directory) -> a matplotlib Figure,
#: or None where the records hold nothing to draw.
FigureMaker = Callable[[list[dict[str, Any]], Path], Any]

METRIC_COLUMNS = ("mse_co2", "mse_hidden", "l1_params", "constraint_sum")
COMPARED = ("hysomi", "unconstrained", "all_states")
#: Metrics of the headline comparison (paper section 5.1 and Fig. 2).
PAIRED_METRICS = ("mse_hidden", "mse_B_D", "mse_C_H", "l1_params", "mse_co2", "constraint_sum")


@dataclass(frozen=True)
class Recipe:
    """Datasets, the grid of trials, table rows and the optional figures of one experiment.

    Parameters
    ----------
    datasets : dict
        Dataset name -> generator settings.
    base : HySoMiTrialConfig
        The config every trial starts from.
    grid : dict or list of dict
        Dotted field of ``base`` -> values (``train.model``, ``train.seed``, ``dataset``), or
        a list of such sub-grids (:func:`soilsciml.search.expand_grid`).
    rows : tuple of str
        Row labels of the table: ``model``, ``seed``, ``test_data``, a ``train`` setting
        (``n_train``, ``loss_weighting``, ``estimator_depth``) or a key of
        ``dataset_labels``.
    dataset_labels : dict
        Dataset name -> its row labels (``{"depth3": {"generator_depth": 3}}``).
    figures : dict
        Figure name -> function of the records and the grid's trials directory (each
        finished trial's run is in ``trials/<record["trial"]>``) that returns the figure.
    columns : tuple of str
        Metrics of the table.
    notes : str
        Text after the table.
    paired : (str, tuple of (str, str))
        A row label and the pairs of its values compared seed by seed after the table
        (:func:`paired_comparison`); none by default.
    """

    datasets: dict[str, HySoMiGeneratorConfig]
    base: HySoMiTrialConfig
    grid: dict[str, list[Any]] | list[dict[str, list[Any]]]
    rows: tuple[str, ...]
    dataset_labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: dict[str, FigureMaker] = field(default_factory=dict)
    columns: tuple[str, ...] = METRIC_COLUMNS
    notes: str = ""
    paired: tuple[str, tuple[tuple[str, str], ...]] = ("model", ())


@dataclass(frozen=True)
class Scale:
    """Sizes that distinguish the full recipes from their ``--quick`` variants."""

    n_samples: int
    seeds: tuple[int, ...]
    train: HySoMiTrainConfig


#: The full recipes train every run the paper's 300 epochs and keep the best epoch by the
#: selection criterion (patience = epochs, so early stopping never ends a run): measured on
#: the default dataset, the ``hysomi`` criterion stays high for about 25 epochs at a stretch
#: while its adaptive weights settle (seed 0: best 0.026 at epoch 19, above 2 for epochs
#: 22-42, 0.040 at epoch 49), so the default patience of 30 stopped runs at epochs 41-49, and
#: a 300-epoch run kept epoch 250 with ``mse_hidden`` 0.0151 against 0.0183.
FULL_EPOCHS = 300
FULL = Scale(973, (0, 1, 2, 3, 4), HySoMiTrainConfig(epochs=FULL_EPOCHS, patience=FULL_EPOCHS))
QUICK = Scale(
    60,
    (0, 1),
    HySoMiTrainConfig(epochs=6, patience=6, width=16, depth=2, batch_size=16),
)


def _data(scale: Scale, **settings: Any) -> HySoMiGeneratorConfig:
    return HySoMiGeneratorConfig(n_samples=scale.n_samples, seed=0, **settings)


def _base(scale: Scale, dataset: str = "default", **settings: Any) -> HySoMiTrialConfig:
    return HySoMiTrialConfig(dataset=dataset, train=dataclasses.replace(scale.train, **settings))


def _seeds(scale: Scale, first_only: bool = False) -> list[int]:
    return list(scale.seeds[:1] if first_only else scale.seeds)


def _main(scale: Scale) -> Recipe:
    # model first, hysomi and unconstrained leading: the pairs of the headline comparison
    # finish before the other two baselines start, so an interrupted run already holds them
    grid = {"train.model": [*COMPARED, "ml"], "train.seed": _seeds(scale)}
    figures = {**_bars_by(), **_trajectory_figures()}
    paired = ("model", (("hysomi", "unconstrained"),))
    return Recipe(
        {"default": _data(scale)}, _base(scale), grid, ("model",), figures=figures, paired=paired
    )


def _bars_by(key: str = "model") -> dict[str, FigureMaker]:
    """Per-state MSE and per-constraint violation bars of the seed means per ``key``."""
    from soilsciml.plots import hysomi as figures

    return {
        "state_mse": lambda records, _: figures.state_mse_bars(_mean_by(records, key)),
        "constraint_violations": lambda records, _: figures.constraint_violation_bars(
            _mean_by(records, key)
        ),
    }


def _first_seed_predictions(records: Sequence[dict[str, Any]], trials: Path) -> dict:
    """Model -> its test predictions (``results.nc`` as an ``xarray.Dataset``) for the
    smallest seed in ``records``, read from the run directories under ``trials``; a model
    whose run directory has no ``results.nc`` is left out."""
    from soilsciml.data.io import load_dataset

    seed = min(r["seed"] for r in records)
    out = {}
    for record in records:
        path = trials / record["trial"] / "results.nc"
        if record["seed"] == seed and record["model"] not in out and path.is_file():
            out[record["model"]] = load_dataset(path)
    return out


def _trajectory_figures() -> dict[str, FigureMaker]:
    """The paper's Fig. 6 (one test sample's pools under each model) and Fig. C.1 (test error
    over time), from the first seed's runs."""
    from soilsciml.plots import hysomi as figures

    read: dict[tuple, dict] = {}  # one read of the runs for both figures of a report

    def drawn_with(draw: Callable[[dict], Any]) -> FigureMaker:
        def figure(records: list[dict[str, Any]], trials: Path):
            key = (trials, tuple(r["trial"] for r in records))
            if key not in read:
                read.clear()
                read[key] = _first_seed_predictions(records, trials)
            return draw(read[key]) if read[key] else None

        return figure

    return {
        "trajectories": drawn_with(figures.model_trajectories),
        "error_over_time": drawn_with(figures.error_over_time),
    }


def _complexity(scale: Scale) -> Recipe:
    """Fig. 3A: every generator depth with the default estimator; Fig. 3B: the estimator as
    deep as the generator where the generator is deeper (a sub-grid per such depth, since
    the estimator's depth follows the dataset's)."""
    depths = (1, 3, 9) if scale is QUICK else (1, 3, 5, 7, 9, 13, 17)
    names = {f"depth{d}": d for d in depths}
    datasets = {name: _data(scale, generator_depth=d) for name, d in names.items()}
    models, seeds = list(COMPARED), _seeds(scale, True)
    fixed = {"dataset": list(names), "train.model": models, "train.seed": seeds}
    estimator = scale.train.depth

    def matched(generator_depth: int) -> int:  # Fig. 3B: at least the default, as deep
        return max(estimator, generator_depth)

    deeper = [
        {"dataset": [name], "train.depth": [matched(d)], "train.model": models, "train.seed": seeds}
        for name, d in names.items()
        if matched(d) != estimator
    ]
    labels = {name: {"generator_depth": d} for name, d in names.items()}
    figures = {
        "sweep": _sweep("generator_depth", lambda r: r["estimator_depth"] == estimator),
        "sweep_deeper_estimator": _sweep(
            "generator_depth",
            lambda r: r["estimator_depth"] == matched(r["generator_depth"]),
        ),
    }
    deeper_figure = _figure_name("complexity", "sweep_deeper_estimator")
    notes = (
        f"Estimator depth {estimator} (the default) for every dataset (the paper's Fig. 3A), "
        f"and as deep as the generator where that is deeper (Fig. 3B: `{deeper_figure}`)."
    )
    return Recipe(
        datasets,
        _base(scale, "depth1"),
        [fixed, *deeper],
        ("generator_depth", "estimator_depth", "model"),
        labels,
        figures,
        notes=notes,
    )


def _size(scale: Scale) -> Recipe:
    n_train = [30, 15] if scale is QUICK else [554, 300, 150, 75, 30]
    grid = {
        "train.n_train": n_train,
        "train.model": list(COMPARED),
        "train.seed": _seeds(scale, True),
    }
    return Recipe(
        {"default": _data(scale)},
        _base(scale),
        grid,
        ("n_train", "model"),
        figures={"sweep": _sweep("n_train")},
    )


def _trait_noise(scale: Scale) -> Recipe:
    names = {f"noise{s:g}": s for s in (3.0, 6.0, 10.0, 25.0)}
    datasets = {name: _data(scale, trait_noise=s) for name, s in names.items()}
    grid = {"dataset": list(names), "train.seed": _seeds(scale)}
    labels = {name: {"trait_noise": s} for name, s in names.items()}
    return Recipe(datasets, _base(scale, "noise3"), grid, ("trait_noise",), labels)


def _misspecified(p6: float, c3: float) -> HySoMiConstraintConfig:
    return HySoMiConstraintConfig(factor_labels=("P6", "C3"), factor_values=(p6, c3))


def _misspecification(scale: Scale) -> Recipe:
    cases = {"p6-0.5_c3-1.0": None, "p6-0.8_c3-0.7": (0.8, 0.7), "p6-0.8_c3-0.1": (0.8, 0.1)}
    datasets = {
        name: _data(scale) if f is None else _data(scale, constraints=_misspecified(*f))
        for name, f in cases.items()
    }
    base = dataclasses.replace(_base(scale, "p6-0.5_c3-1.0"), score_on=tuple(cases)[1:])
    notes = "Trained on the default constraints (P6 0.5, C3 1.0), scored on each test set."
    return Recipe(datasets, base, {"train.seed": _seeds(scale)}, ("test_data",), notes=notes)


def _mismatch(scale: Scale) -> Recipe:
    tanh = _data(scale, generator_depth=5, generator_width=42, generator_activation="tanh")
    grid = {"train.model": list(COMPARED), "train.seed": _seeds(scale)}
    return Recipe({"tanh5x42": tanh}, _base(scale, "tanh5x42"), grid, ("model",))


def _ablation(scale: Scale) -> Recipe:
    grid = {
        "train.loss_weighting": ["adaptive", "balanced", "normalised"],
        "train.seed": _seeds(scale),
    }
    paired = ("loss_weighting", (("adaptive", "balanced"), ("adaptive", "normalised")))
    return Recipe({"default": _data(scale)}, _base(scale), grid, ("loss_weighting",), paired=paired)


def _sweep(x: str, keep: Callable[[dict[str, Any]], bool] = lambda _: True) -> FigureMaker:
    """Metrics against the swept setting ``x`` (one line per model) of the records that
    ``keep`` accepts (all by default)."""

    def figure(records: list[dict[str, Any]], _: Path):
        from soilsciml.plots.hysomi import sweep_lines

        kept = [r for r in records if keep(r)]
        return sweep_lines(kept, x, ("mse_co2", "mse_hidden", "constraint_sum")) if kept else None

    return figure


def _figure_name(name: str, key: str) -> str:
    """File name of figure ``key`` of experiment ``name`` in its output folder."""
    return f"{name}_{key}.png"


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


def _checked_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """``seeds`` as a tuple of distinct non-negative ints (ValueError naming ``seeds``)."""
    values = tuple(seeds)
    if not values or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in values):
        raise ValueError(f"seeds: need one or more non-negative integers, got {list(values)}")
    if len(set(values)) != len(values):
        raise ValueError(f"seeds: each seed once, got {list(values)}")
    return values


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


def _dataset(path: Path, config: HySoMiGeneratorConfig, progress: bool) -> None:
    """Generate the dataset of ``config`` into ``path`` unless it is there already."""
    from soilsciml.data.io import save_dataset
    from soilsciml.hysomi.data import generate_hysomi

    if not path.is_file():
        save_dataset(generate_hysomi(config, progress=progress), path)


def experiment_grid(recipe: Recipe, paths: dict[str, Path]):
    """The recipe's grid as a :class:`~soilsciml.search.GridSpec` of kind ``hysomi_fit``."""
    from soilsciml.search import GridSpec, Selection

    return GridSpec(
        trial="soilsciml.hysomi.trials:fit_trial",
        base=recipe.base,
        grid=recipe.grid,
        select=Selection("selection", "min"),
        data={"datasets": {k: str(Path(p).resolve()) for k, p in paths.items()}},
        kind="hysomi_fit",
    )


def _rows(recipe: Recipe, grid_records: dict[str, dict[str, Any]], trials) -> list[dict]:
    """One record per finished trial and scoring dataset: row labels, seed and metrics."""
    from soilsciml.hysomi.trials import scored_metrics

    records = []
    for trial in trials:
        record = grid_records.get(trial.name)
        if record is None or record["status"] != "ok":
            continue
        config = trial.config
        labels = {
            "model": config.train.model,
            "n_train": config.train.n_train,
            "loss_weighting": config.train.loss_weighting,
            "estimator_depth": config.train.depth,
            **recipe.dataset_labels.get(config.dataset, {}),
        }
        for name in (config.dataset, *config.score_on):
            own = name == config.dataset
            metrics = scored_metrics(record["metrics"], None if own else name)
            if not own:
                metrics = {**scored_metrics(record["metrics"], None), **metrics}
            clean = {k: None if math.isnan(v) else v for k, v in metrics.items()}
            records.append(
                {
                    **{k: labels[k] for k in recipe.rows if k in labels},
                    "model": config.train.model,
                    "seed": config.train.seed,
                    "test_data": name,
                    "trial": trial.name,
                    **clean,
                }
            )
    return records


def paired_comparison(
    records: Sequence[dict[str, Any]],
    first: str = "hysomi",
    second: str = "unconstrained",
    metrics: Sequence[str] = PAIRED_METRICS,
    key: str = "model",
) -> str:
    """Markdown table of ``first`` against ``second`` (values of ``key``: the model, or a
    setting such as ``loss_weighting``), paired by seed, per metric.

    Columns: each model's mean ± sample SD, the mean paired difference (first - second) and
    its relative size, ``n`` (seeds present for both), the two-sided paired t-test p-value
    and the exact Wilcoxon signed-rank p-value (``scipy.stats``; n/a below 2 pairs).
    """
    from scipy import stats

    by_seed = {m: {r["seed"]: r for r in records if r[key] == m} for m in (first, second)}
    seeds = sorted(set(by_seed[first]) & set(by_seed[second]))
    header = f"| metric | {first} | {second} | difference | n | t-test p | Wilcoxon p |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for metric in metrics:
        a = np.array([by_seed[first][s].get(metric) for s in seeds], dtype=float)
        b = np.array([by_seed[second][s].get(metric) for s in seeds], dtype=float)
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        n = int(keep.sum())
        if n == 0:
            lines.append(f"| {metric} | n/a | n/a | n/a | 0 | n/a | n/a |")
            continue
        spread = (lambda x: f" ± {np.std(x, ddof=1):.2g}") if n > 1 else (lambda x: "")
        diff = float(np.mean(a - b))
        t_p = f"{stats.ttest_rel(a, b).pvalue:.3g}" if n > 1 else "n/a"
        w_p = f"{stats.wilcoxon(a, b).pvalue:.3g}" if n > 1 and np.any(a != b) else "n/a"
        lines.append(
            f"| {metric} | {np.mean(a):.4g}{spread(a)} | {np.mean(b):.4g}{spread(b)} | "
            f"{diff:+.3g} ({diff / np.mean(b):+.1%}) | {n} | {t_p} | {w_p} |"
        )
    return "\n".join(lines) + "\n"


def run_experiment(
    name: str,
    out: str | Path,
    quick: bool = False,
    progress: bool = True,
    executor: str = "inprocess",
    workers: int | None = None,
    scheduler: str | None = None,
    report_only: bool = False,
    seeds: Sequence[int] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Run (or resume) the named experiment in ``out``; return its Markdown table and records.

    The trials run as a grid (:func:`soilsciml.search.run_grid`) in ``out/grid`` on
    ``executor`` (``inprocess``, ``processes`` with ``workers``, ``dask`` with ``workers``
    or a ``scheduler`` address); finished trials are kept, so rerunning resumes. With
    ``report_only`` no trial runs: the files are written from the trials finished so far
    (the table says how many are missing), for an experiment stopped part way. ``seeds``
    replaces the recipe's training seeds (an experiment that uses one seed takes the
    first); a run with other seeds is another grid and needs its own ``out``.

    Raises
    ------
    ValueError
        For an unknown experiment name, listing the known ones.
    soilsciml.search.GridError
        With ``report_only``, when ``out`` holds no run of the experiment.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    from soilsciml.search import finished_records, run_grid
    from soilsciml.search.store import TRIALS_DIR

    scale = QUICK if quick else FULL
    if seeds is not None:
        scale = dataclasses.replace(scale, seeds=_checked_seeds(seeds))
    recipe = EXPERIMENTS[name](scale)
    out = Path(out)
    paths = {key: out / "data" / f"{key}.nc" for key in recipe.datasets}
    if not report_only:
        for key, config in recipe.datasets.items():
            _dataset(paths[key], config, progress)
    spec = experiment_grid(recipe, paths)
    if report_only:
        grid_records = finished_records(spec, out / "grid")
    else:
        grid_records = run_grid(
            spec,
            out / "grid",
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            quiet=not progress,
        ).records
    records = _rows(recipe, grid_records, spec.trials)
    title = f"# HySoMi experiment `{name}`{' (quick)' if quick else ''}\n\n"
    table = markdown_table(records, recipe.rows, recipe.columns)
    notes = f"\n{recipe.notes}\n" if recipe.notes else ""
    missing = len(spec.trials) - sum(r["status"] == "ok" for r in grid_records.values())
    if missing:
        notes += f"\n{missing} of {len(spec.trials)} trials not finished or failed.\n"
    key, pairs = recipe.paired
    for first, second in pairs:
        notes += f"\nPaired by seed, {first} against {second}:\n\n" + paired_comparison(
            records, first, second, key=key
        )
    (out / f"{name}.md").write_text(title + table + notes)
    (out / f"{name}.json").write_text(json_text(records, indent=2) + "\n")
    for key, draw in recipe.figures.items() if records else ():
        fig = draw(records, out / "grid" / TRIALS_DIR)
        if fig is not None:
            fig.savefig(out / _figure_name(name, key), dpi=110)
    return table, records
