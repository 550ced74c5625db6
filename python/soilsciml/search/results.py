"""Results of a grid: the best trial, an xarray Dataset over ``trial``, a Markdown table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from soilsciml import __version__
from soilsciml.data.io import json_text
from soilsciml.search.grid import Trial
from soilsciml.search.spec import Selection

__all__ = ["best_record", "markdown_table", "ranked", "results_dataset", "results_json"]


def _score(record: Mapping[str, Any] | None, selection: Selection) -> float | None:
    if record is None or record["status"] != "ok":
        return None
    value = record["metrics"].get(selection.metric, math.nan)
    return value if math.isfinite(value) else None


def ranked(
    trials: Sequence[Trial], records: Mapping[str, Mapping[str, Any]], selection: Selection
) -> list[Trial]:
    """Trials sorted best first by ``selection``; trials without a usable score come last.

    Ties keep grid order, so the ranking is deterministic.
    """
    sign = 1.0 if selection.mode == "min" else -1.0

    def key(item: tuple[int, Trial]) -> tuple[bool, float, int]:
        score = _score(records.get(item[1].name), selection)
        return (score is None, 0.0 if score is None else sign * score, item[0])

    return [trial for _, trial in sorted(enumerate(trials), key=key)]


def best_record(
    trials: Sequence[Trial], records: Mapping[str, Mapping[str, Any]], selection: Selection
) -> Mapping[str, Any] | None:
    """Record of the best trial: ``ok`` status, finite selection metric, min or max of it.

    Returns ``None`` when no trial has a usable value of the metric.
    """
    for trial in ranked(trials, records, selection):
        record = records.get(trial.name)
        if _score(record, selection) is not None:
            return record
    return None


def _coordinate(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, bool) for v in values) or all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        return np.asarray(values)
    return np.asarray([v if isinstance(v, str) else json.dumps(v) for v in values], dtype=str)


def results_dataset(
    trials: Sequence[Trial],
    records: Mapping[str, Mapping[str, Any]],
    selection: Selection,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """The grid's results on a ``trial`` dimension, in grid order.

    Settings are coordinates (named by their dotted field) together with ``seed``; every metric
    is a float variable (NaN where a trial failed, has not run, or did not report it), next to
    ``status`` (``ok``, ``failed`` or ``missing``), ``message`` and ``trial_wall_time_s`` (s).
    """
    names = [t.name for t in trials]
    coords: dict[str, Any] = {"trial": ("trial", np.asarray(names, dtype=str))}
    for key in trials[0].settings if trials else ():
        coords[key] = (
            "trial",
            _coordinate([t.settings[key] for t in trials]),
            {"long_name": f"grid setting {key}"},
        )
    coords["seed"] = ("trial", np.asarray([t.seed for t in trials], dtype=np.int64))
    found = [records.get(name) for name in names]
    metric_names: list[str] = []
    for record in found:
        for metric in (record or {}).get("metrics", {}):
            if metric not in metric_names:
                metric_names.append(metric)
    data: dict[str, Any] = {
        metric: (
            "trial",
            np.asarray([(r or {}).get("metrics", {}).get(metric, np.nan) for r in found], float),
            {"long_name": metric},
        )
        for metric in metric_names
    }
    data["status"] = ("trial", np.asarray([r["status"] if r else "missing" for r in found], str))
    data["message"] = ("trial", np.asarray([r["message"] if r else "" for r in found], str))
    data["trial_wall_time_s"] = (
        "trial",
        np.asarray([r["wall_time_s"] if r else np.nan for r in found], float),
        {"long_name": "wall time of the trial", "units": "s"},
    )
    best = best_record(trials, records, selection)
    return xr.Dataset(
        data,
        coords=coords,
        attrs={
            "title": "grid search results",
            "select_metric": selection.metric,
            "select_mode": selection.mode,
            "best_trial": best["name"] if best else "",
            "soilsciml_version": __version__,
            **dict(attrs or {}),
        },
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(
    trials: Sequence[Trial],
    records: Mapping[str, Mapping[str, Any]],
    selection: Selection,
    retrained: Mapping[str, Any] | None = None,
) -> str:
    """A Markdown table of every trial, best first by ``selection``.

    Columns: rank, trial, the settings, the metrics, status and wall time; a retrain of the best
    trial, when given, is listed under the table.
    """
    order = ranked(trials, records, selection)
    settings = list(trials[0].settings) if trials else []
    metrics: list[str] = []
    for trial in order:
        for metric in records.get(trial.name, {}).get("metrics", {}):
            if metric not in metrics:
                metrics.append(metric)
    header = ["rank", "trial", *settings, *metrics, "status", "trial_wall_time_s"]
    lines = [
        f"Selection: {selection.mode} of `{selection.metric}`.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for rank, trial in enumerate(order, start=1):
        record = records.get(trial.name)
        row = [rank, trial.name, *(trial.settings[k] for k in settings)]
        row += [(record or {}).get("metrics", {}).get(m, math.nan) for m in metrics]
        status = record["status"] if record else "missing"
        if record and record["message"]:
            status = f"{status}: {record['message']}"
        row += [status, record["wall_time_s"] if record else math.nan]
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if retrained is not None:
        lines += ["", f"Best trial `{order[0].name}` retrained ({retrained['status']}):", ""]
        lines += [f"- {m}: {_cell(v)}" for m, v in retrained["metrics"].items()]
        if retrained["message"]:
            lines.append(f"- message: {retrained['message']}")
    return "\n".join(lines) + "\n"


def results_json(
    trials: Sequence[Trial],
    records: Mapping[str, Mapping[str, Any]],
    selection: Selection,
    retrained: Mapping[str, Any] | None = None,
) -> str:
    """JSON text with the selection, the best trial's name, the retrain and every record."""
    best = best_record(trials, records, selection)
    return json_text(
        {
            "select": {"metric": selection.metric, "mode": selection.mode},
            "best": best["name"] if best else None,
            "retrained": retrained,
            "trials": [records.get(t.name, {"name": t.name, "status": "missing"}) for t in trials],
        },
        indent=1,
    )
