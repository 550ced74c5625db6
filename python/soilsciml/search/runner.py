"""Run a grid: skip finished trials, run the rest on an executor, save each one as it finishes,
pick the best, retrain it if asked, and write the results."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xarray as xr
from tqdm.auto import tqdm

from soilsciml.search.executors import AbstractExecutor, make_executor
from soilsciml.search.grid import GridError, Trial, plain
from soilsciml.search.results import best_record, markdown_table, results_dataset, results_json
from soilsciml.search.spec import GridSpec
from soilsciml.search.store import BEST_DIR, GRID_FILE, RunDirectory, write_atomic
from soilsciml.search.trial import TrialContext, TrialJob, execute_trial

__all__ = ["GridRun", "LostTrialWarning", "finished_records", "run_grid"]


class LostTrialWarning(UserWarning):
    """The executor lost a trial (a worker died); it was not saved and reruns next time."""


@dataclass(frozen=True)
class GridRun:
    """What :func:`run_grid` did and found.

    Parameters
    ----------
    directory : Path
        The run directory.
    spec : GridSpec
        The grid.
    records : dict
        Trial name -> record of every finished trial (``ok`` or ``failed``).
    executed : tuple of str
        Trials run by this call (the others were finished before).
    lost : dict
        Trial name -> why the executor lost it; these were not saved.
    best : dict or None
        Record of the best trial by ``spec.select``; ``None`` if no trial has the metric.
    retrained : dict or None
        Record of the retrain of the best trial (``spec.retrain``), if any.
    dataset : xarray.Dataset
        The results on a ``trial`` dimension (also in ``results.nc``).
    """

    directory: Path
    spec: GridSpec
    records: dict[str, dict[str, Any]]
    executed: tuple[str, ...]
    lost: dict[str, str]
    best: dict[str, Any] | None
    retrained: dict[str, Any] | None
    dataset: xr.Dataset


def _job(
    spec: GridSpec, run: RunDirectory, trial: Trial, name: str, stage: str, config: Any
) -> TrialJob:
    context = TrialContext(
        name=name,
        seed=trial.seed,
        directory=run.trial_dir(name).resolve(),
        settings=trial.settings,
        data=plain(spec.data),
        stage=stage,
    )
    return TrialJob(spec.trial, config, context, spec.fingerprint)


def run_grid(
    spec: GridSpec,
    out: str | Path,
    *,
    executor: str = "inprocess",
    workers: int | None = None,
    scheduler: str | None = None,
    restart: bool = False,
    retry_failed: bool = False,
    quiet: bool = False,
) -> GridRun:
    """Run (or resume) the grid ``spec`` in the run directory ``out``.

    Finished trials found in ``out`` are kept; each trial run now is written to
    ``out/trials/<name>/outcome.json`` as soon as it finishes. A trial that raises is saved as
    ``failed`` with its message and does not stop the grid.

    Parameters
    ----------
    spec : GridSpec
        The grid (already validated).
    out : str or Path
        Run directory (created if needed).
    executor : str
        ``inprocess`` (default), ``processes`` or ``dask``.
    workers : int, optional
        Worker processes for ``processes`` and a local Dask cluster (default: CPU count).
    scheduler : str, optional
        Address of an existing Dask scheduler (``executor="dask"``).
    restart : bool
        Discard every trial and result in ``out`` and start over (needed to reuse ``out`` for a
        different grid, or to redo a grid after changing the trial function's code).
    retry_failed : bool
        Rerun trials saved as ``failed`` (by default they count as finished).
    quiet : bool
        No progress bar.

    Returns
    -------
    GridRun

    Raises
    ------
    GridError
        For a bad executor; :class:`~soilsciml.search.store.ResumeError` when ``out`` holds a
        different grid and ``restart`` is false. Both before any trial runs.
    """
    pool = make_executor(executor, workers=workers, scheduler=scheduler)
    run = RunDirectory.open(out, spec.document(), restart=restart, recognise=spec.recognises)
    records: dict[str, dict[str, Any]] = {}
    lost: dict[str, str] = {}
    executed: list[str] = []
    try:
        saved, jobs = _saved(spec, run)
        records.update(
            (name, record)
            for name, record in saved.items()
            if record["status"] == "ok" or not retry_failed
        )
        pending = [job for job in jobs if job.context.name not in records]
        with (
            pool,
            tqdm(
                total=len(spec.trials),
                initial=len(records),
                disable=quiet,
                desc="grid",
                unit="trial",
            ) as bar,
        ):
            for job, result in pool.map_unordered(execute_trial, pending):
                name = job.context.name
                if isinstance(result, BaseException):
                    lost[name] = f"{type(result).__name__}: {result}"
                    warnings.warn(
                        f"trial {name} lost: {lost[name]}", LostTrialWarning, stacklevel=2
                    )
                    continue
                records[name] = run.save(result)
                executed.append(name)
                bar.update()
            best = best_record(spec.trials, records, spec.select)
            retrained = _retrain(spec, run, pool, best)
        dataset = _write_results(spec, run, records, retrained)
    finally:
        run.close()
    return GridRun(run.path, spec, records, tuple(executed), lost, best, retrained, dataset)


def finished_records(spec: GridSpec, out: str | Path) -> dict[str, dict[str, Any]]:
    """The records of the trials of ``spec`` already saved in the run directory ``out``
    (finished or failed), by trial name; no trial is run.

    Raises
    ------
    GridError
        If ``out`` holds no run of any grid; :class:`~soilsciml.search.store.ResumeError`
        when it holds a different grid or a running grid holds its lock.
    """
    if not (Path(out) / GRID_FILE).is_file():
        raise GridError(f"{out} holds no grid run (no {GRID_FILE}); run the grid first")
    run = RunDirectory.open(out, spec.document(), recognise=spec.recognises)
    try:
        return _saved(spec, run)[0]
    finally:
        run.close()


def _saved(spec: GridSpec, run: RunDirectory) -> tuple[dict[str, dict[str, Any]], list[TrialJob]]:
    """The records saved in ``run`` by trial name, and the job of every trial of ``spec``."""
    records, jobs = {}, []
    for trial in spec.trials:
        job = _job(spec, run, trial, trial.name, "grid", trial.config)
        record = run.load(job.identity(), upgrade=job.upgrade)
        if record is not None:
            records[trial.name] = record
        jobs.append(job)
    return records, jobs


def _retrain(
    spec: GridSpec, run: RunDirectory, pool: AbstractExecutor, best: dict[str, Any] | None
) -> dict[str, Any] | None:
    if spec.retrain is None or best is None:
        return None
    trial = next(t for t in spec.trials if t.name == best["name"])
    job = _job(spec, run, trial, BEST_DIR, "retrain", spec.retrain_config(trial.config))
    record = run.load(job.identity(), warn_stale=False, upgrade=job.upgrade)
    if record is not None:
        return record
    for _, result in pool.map_unordered(execute_trial, [job]):
        if isinstance(result, BaseException):
            warnings.warn(f"retrain of {trial.name} lost: {result}", LostTrialWarning, stacklevel=3)
            return None
        return run.save(result)
    return None


def _write_results(
    spec: GridSpec,
    run: RunDirectory,
    records: dict[str, dict[str, Any]],
    retrained: dict[str, Any] | None,
) -> xr.Dataset:
    from soilsciml.data.io import save_dataset

    dataset = results_dataset(
        spec.trials,
        records,
        spec.select,
        attrs={"fingerprint": spec.fingerprint, "trial_function": spec.trial},
    )
    if retrained is not None:
        dataset.attrs.update({f"retrained_{k}": v for k, v in retrained["metrics"].items()})
        dataset.attrs["retrained_status"] = retrained["status"]
    save_dataset(dataset, run.path / "results.nc")
    write_atomic(
        run.path / "results.md", markdown_table(spec.trials, records, spec.select, retrained)
    )
    write_atomic(
        run.path / "results.json", results_json(spec.trials, records, spec.select, retrained)
    )
    return dataset
