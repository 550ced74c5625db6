"""Summarise a run of the Case 3 sweep (``case3_sweep.toml``) next to the paper's R2 0.938.

Reads the saved trials of the run directory (finished trials only; run it after the grid, or
on a stopped run) and prints Markdown:

- the trials picked by three criteria: the grid's selection (smallest ``mse_noisy``, the data
  misfit against the noisy observations), the smallest final loss (not comparable across
  loss weights, shown because it was the cases' criterion), and the largest ``r2_clean``
  (an oracle: it uses the clean truth, which no user of noisy data has);
- the paper's reported best point (32, 16, tanh, lr 1e-3, lambda_pde 5, lambda_data 0.25);
- the mean and range of ``r2_clean`` for each value of each swept setting;
- the trials whose networks weight decay switched off: the largest absolute weight of the
  production and respiration networks (``max_weight``, from each trial's ``weights.npz``)
  below ``OFF_WEIGHT``, so that both networks give a constant; with the R2 of their 50-year
  trajectories against the clean truth (``r2_clean_trajectory``, which the t = 0 fit does
  not constrain) and how many of the other trials forecast better than the mean (R2 > 0).

Run from the folder the grid was run in (its ``[data] path`` is relative)::

    python examples/grids/case3_sweep_summary.py runs/case3-sweep \\
        [--grid examples/grids/case3_sweep.toml]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from soilsciml.search.runner import finished_records
from soilsciml.search.spec import load_grid
from soilsciml.soc.cases import PAPER_RESULTS

HERE = Path(__file__).resolve().parent
PAPER = PAPER_RESULTS[3]
PAPER_R2_CLEAN = PAPER["r2_clean"]
PAPER_POINT = {
    "network.h1": 32,
    "network.h2": 16,
    "network.activation": "tanh",
    "train.lr": 1e-3,
    "loss.lambda_coll": 5.0,
    "loss.lambda_term": 0.25,
}
#: Largest absolute network weight below which a trial's networks count as switched off: their
#: inputs (scaled to about [0, 1]) then move the network outputs by less than a few percent.
OFF_WEIGHT = 0.05
METRICS = (
    "mse_noisy",
    "r2_noisy",
    "mse_clean",
    "r2_clean",
    "r2_clean_trajectory",
    "final_loss",
    "wall_time_s",
)


def max_weight(trial: Path) -> float:
    """Largest absolute weight matrix entry of the production (``P``) and respiration (``R``)
    networks in ``trial/weights.npz`` (NaN without the file)."""
    path = trial / "weights.npz"
    if not path.is_file():
        return float("nan")
    with np.load(path) as weights:
        return max(float(np.abs(weights[k]).max()) for k in weights.files if ".W" in k)


def trial_table(run: Path, grid: Path) -> pd.DataFrame:
    """One row per saved trial: its swept settings, status, scalar metrics and ``max_weight``."""
    records = finished_records(load_grid(grid), run)
    rows = [
        {
            "trial": name,
            "status": record["status"],
            **record["settings"],
            **{m: record["metrics"].get(m) for m in METRICS},
            "max_weight": max_weight(run / "trials" / name),
        }
        for name, record in records.items()
    ]
    return pd.DataFrame(rows)


def _row(frame: pd.DataFrame, label: str, settings: list[str]) -> str:
    row = frame.iloc[0]
    point = ", ".join(f"{row[s]}" for s in settings)
    return (
        f"| {label} | {point} | {row['mse_noisy']:.5f} | {row['r2_noisy']:.4f} | "
        f"{row['mse_clean']:.5f} | {row['r2_clean']:.4f} |"
    )


def summary(table: pd.DataFrame) -> str:
    """The Markdown summary of a sweep's trial table."""
    settings = list(PAPER_POINT)
    ok = table[table["status"] == "ok"]
    paper = ok
    for name, value in PAPER_POINT.items():
        paper = paper[paper[name] == value]
    lines = [
        f"{len(table)} trials saved, {len(ok)} ok; trial wall times "
        f"{ok['wall_time_s'].min():.0f}-{ok['wall_time_s'].max():.0f} s "
        f"({ok['wall_time_s'].sum() / 60:.0f} min in all).",
        "",
        f"| trial | {', '.join(s.split('.')[-1] for s in settings)} | mse_noisy | r2_noisy "
        "| mse_clean | r2_clean |",
        "|---|---|---|---|---|---|",
        _row(ok.nsmallest(1, "mse_noisy"), "selected (smallest mse_noisy)", settings),
        _row(ok.nsmallest(1, "final_loss"), "smallest final loss", settings),
        _row(ok.nlargest(1, "r2_clean"), "largest r2_clean (oracle)", settings),
    ]
    if len(paper):
        lines.append(_row(paper, "the paper's best point", settings))
    lines += [
        f"| the paper's best point, as reported | | | {PAPER['r2_noisy']} | | {PAPER_R2_CLEAN} |",
        "",
        f"r2_clean over the ok trials: median {ok['r2_clean'].median():.4f}, "
        f"max {ok['r2_clean'].max():.4f}; trials at or above {PAPER_R2_CLEAN}: "
        f"{int((ok['r2_clean'] >= PAPER_R2_CLEAN).sum())}.",
        "",
        "| setting | value | trials | mean r2_clean | min - max |",
        "|---|---|---|---|---|",
    ]
    for name in settings:
        for value, group in ok.groupby(name)["r2_clean"]:
            lines.append(
                f"| {name} | {value} | {len(group)} | {group.mean():.4f} | "
                f"{group.min():.4f} - {group.max():.4f} |"
            )
    if "max_weight" in ok and ok["max_weight"].notna().any():
        off = ok[ok["max_weight"] < OFF_WEIGHT]
        on = ok[ok["max_weight"] >= OFF_WEIGHT]
        lines += [
            "",
            f"Trials with both networks switched off (max_weight < {OFF_WEIGHT}): {len(off)}",
        ]
        if len(off):
            lines[-1] += (
                f", r2_clean {off['r2_clean'].min():.4f} - {off['r2_clean'].max():.4f}, "
                f"max_weight {off['max_weight'].min():.2g} - {off['max_weight'].max():.2g}"
            )
            if "r2_clean_trajectory" in off:
                lines[-1] += (
                    f", r2_clean_trajectory {off['r2_clean_trajectory'].min():.4f} - "
                    f"{off['r2_clean_trajectory'].max():.4f}"
                )
        if len(on):
            lines[-1] += f"; largest r2_clean of the others: {on['r2_clean'].max():.4f}"
            if "r2_clean_trajectory" in on:
                forecast = on["r2_clean_trajectory"]
                lines[-1] += (
                    f", others with r2_clean_trajectory > 0: {int((forecast > 0).sum())} "
                    f"of {len(on)} (largest {forecast.max():.4g})"
                )
        lines[-1] += "."
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run directory of the sweep")
    parser.add_argument("--grid", type=Path, default=HERE / "case3_sweep.toml")
    parser.add_argument("--csv", type=Path, help="also write the trial table as CSV")
    args = parser.parse_args(argv)
    table = trial_table(args.run, args.grid)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(summary(table))


if __name__ == "__main__":
    main()
