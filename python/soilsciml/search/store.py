"""The run directory: the grid's resolved spec, one outcome file per trial, resume and restart.

Layout::

    RUNDIR/grid.toml                     resolved spec (kind, trial, seed, base, grid, data ...)
                                         with its fingerprint and config schema
    RUNDIR/trials/<name>/outcome.json    one finished trial: settings, config, seed, status,
                                         message, metrics, wall time and a checksum
    RUNDIR/trials/<name>/...             the trial's own artifacts
    RUNDIR/best/outcome.json             the retrain of the best trial (when asked for)
    RUNDIR/results.nc, results.md, results.json

Each outcome file is written to a temporary file, flushed to disk and renamed over the final
name, so it is either absent or complete; a killed run loses at most the trials in flight. A file
that does not parse, whose checksum does not match its content, or that describes another trial
(name, settings, config, seed or grid fingerprint) is reported with a warning and redone.

A run written under an earlier compatible config schema (another fingerprint for the same grid,
see :meth:`~soilsciml.search.spec.GridSpec.recognises`) is resumed: its fingerprint is kept in
``grid.toml`` as ``earlier_fingerprints``, and its outcome files count as this grid's.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from soilsciml.search.grid import GridError, digest
from soilsciml.search.trial import STATUSES

__all__ = [
    "BEST_DIR",
    "GRID_FILE",
    "OUTCOME_FILE",
    "TRIALS_DIR",
    "CorruptOutcomeWarning",
    "ResumeError",
    "RunDirectory",
    "read_record",
    "seal",
    "write_atomic",
]

GRID_FILE = "grid.toml"
TRIALS_DIR = "trials"
BEST_DIR = "best"
OUTCOME_FILE = "outcome.json"
LOCK_FILE = ".lock"
RESULT_FILES = ("results.nc", "results.md", "results.json")


class ResumeError(GridError):
    """The run directory holds another grid, or is in use by another run."""


class CorruptOutcomeWarning(UserWarning):
    """A trial's outcome file was unreadable, tampered with or stale; the trial is redone."""


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a flushed temporary file and an atomic rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def seal(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with ``checksum``: SHA-256 of the canonical JSON of everything else."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    return {**body, "checksum": digest(body)}


def _problem(
    record: Any, expected: Mapping[str, Any], view: Callable[[dict], dict] | None = None
) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("checksum") != seal(record)["checksum"]:
        return "checksum does not match the content"
    current = record if view is None else view(record)
    for key, value in expected.items():
        if current.get(key) != value:
            return f"{key} differs from this grid's ({current.get(key)!r} != {value!r})"
    if record.get("status") not in STATUSES:
        return f"unknown status {record.get('status')!r}"
    metrics = record.get("metrics")
    if not isinstance(metrics, dict) or not all(isinstance(v, float) for v in metrics.values()):
        return "metrics are not a table of numbers"
    return None


def read_record(
    path: Path,
    expected: Mapping[str, Any],
    warn_stale: bool = True,
    view: Callable[[dict], dict] | None = None,
) -> dict[str, Any] | None:
    """The valid record at ``path``, or ``None`` (with a warning when one was there but bad).

    Parameters
    ----------
    path : Path
        An ``outcome.json``.
    expected : mapping
        Fields the record must hold with these values (``TrialJob.identity()``).
    warn_stale : bool
        Warn about an intact record of another trial too (not only about damaged files).
    view : callable, optional
        The record as today's schema reads it (``TrialJob.upgrade``), compared with
        ``expected``; the record itself is returned.
    """
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problem = f"unreadable ({err})"
    else:
        problem = _problem(record, expected, view)
        if problem is None:
            return record
        # Checked against its own identity, an intact record has no problem: it is merely stale.
        if not warn_stale and _problem(record, record) is None:
            return None
    warnings.warn(
        f"{path}: {problem}; redoing trial {expected['name']}", CorruptOutcomeWarning, stacklevel=2
    )
    return None


class RunDirectory:
    """An open run directory, locked against a second run using it at the same time.

    Use :meth:`open`; close it (or use it as a context manager) to release the lock.
    """

    def __init__(self, path: Path, lock: Any) -> None:
        self.path = path
        self._lock = lock
        #: fingerprints of this grid under earlier config schemas, found in the directory
        self.earlier_fingerprints: tuple[str, ...] = ()

    @classmethod
    def open(
        cls,
        path: str | Path,
        document: Mapping[str, Any],
        restart: bool = False,
        recognise: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> RunDirectory:
        """Open (or create) ``path`` for the grid described by ``document``.

        Parameters
        ----------
        path : str or Path
            The run directory.
        document : mapping
            The grid's resolved spec, with its ``fingerprint``; written as ``grid.toml``.
        restart : bool
            Discard the trials and results found there (of this grid or another) first.
        recognise : callable, optional
            Whether a recorded ``grid.toml`` with another fingerprint is this grid written under
            an earlier config schema (``GridSpec.recognises``); such a run is resumed.

        Raises
        ------
        ResumeError
            If ``path`` holds a different grid (or no readable ``grid.toml`` beside finished
            trials) and ``restart`` is false, or another run holds its lock.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path, _lock(path / LOCK_FILE))
        try:
            found, recorded = run._recorded()
            if restart:
                run._clear()
            elif found == document["fingerprint"]:
                run.earlier_fingerprints = tuple(recorded.get("earlier_fingerprints", ()))
            elif run._has_results(found):
                if recognise is None or not recorded or not recognise(recorded):
                    raise ResumeError(run._refusal(found, document["fingerprint"]))
                earlier = (*recorded.get("earlier_fingerprints", ()), found)
                run.earlier_fingerprints = tuple(str(f) for f in earlier)
            written = dict(document)
            if run.earlier_fingerprints:
                written["earlier_fingerprints"] = list(run.earlier_fingerprints)
            write_atomic(path / GRID_FILE, tomli_w.dumps(written))
            for stale in path.glob(f"{TRIALS_DIR}/*/.*.tmp"):
                stale.unlink()
        except BaseException:
            run.close()
            raise
        return run

    def _recorded(self) -> tuple[str | None, dict[str, Any]]:
        """The recorded fingerprint (``None`` if none, ``"unreadable"``) and ``grid.toml``."""
        try:
            recorded = tomllib.loads((self.path / GRID_FILE).read_text())
        except FileNotFoundError:
            return None, {}
        except (OSError, ValueError):
            return "unreadable", {}
        if "fingerprint" not in recorded:
            return "unreadable", {}
        return str(recorded["fingerprint"]), recorded

    def _has_results(self, found: str | None) -> bool:
        return found is not None or (self.path / TRIALS_DIR).exists()

    def _refusal(self, found: str | None, wanted: str) -> str:
        finished = len(list(self.path.glob(f"{TRIALS_DIR}/*/{OUTCOME_FILE}")))
        what = (
            f"a different grid (fingerprint {found}, this grid's is {wanted})"
            if found not in (None, "unreadable")
            else f"trials without a readable {GRID_FILE}"
        )
        return (
            f"run directory {self.path} holds {what}; refusing to resume into it. Rerun with "
            f"--restart (restart=True) to discard its {finished} finished trial(s), or choose "
            "another --out"
        )

    def _clear(self) -> None:
        for name in (TRIALS_DIR, BEST_DIR):
            shutil.rmtree(self.path / name, ignore_errors=True)
        for name in (GRID_FILE, *RESULT_FILES):
            (self.path / name).unlink(missing_ok=True)

    def trial_dir(self, name: str) -> Path:
        """Folder of trial ``name`` (or of the retrain of the best trial, ``best``)."""
        return self.path / BEST_DIR if name == BEST_DIR else self.path / TRIALS_DIR / name

    def load(
        self,
        expected: Mapping[str, Any],
        warn_stale: bool = True,
        upgrade: Callable[[dict], dict] | None = None,
    ) -> dict[str, Any] | None:
        """The valid finished record of the trial that ``expected`` describes, else ``None``.

        ``warn_stale=False`` silently replaces an intact record made for other settings (the
        retrain, after the best trial or the retrain settings changed). ``upgrade`` reads a
        record's config under today's config class (``TrialJob.upgrade``); a record written
        under one of :attr:`earlier_fingerprints` counts as written under this grid's.
        """

        def view(record: dict) -> dict:
            record = record if upgrade is None else upgrade(record)
            if record.get("fingerprint") in self.earlier_fingerprints:
                record = {**record, "fingerprint": expected["fingerprint"]}
            return record

        path = self.trial_dir(expected["name"]) / OUTCOME_FILE
        return read_record(path, expected, warn_stale, view)

    def save(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Write a finished trial's record (sealed with its checksum) at once; return it."""
        sealed = seal(record)
        folder = self.trial_dir(sealed["name"])
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / OUTCOME_FILE, json.dumps(sealed, indent=1, sort_keys=True))
        return sealed

    def close(self) -> None:
        """Release the lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(path: Path) -> Any:
    # flock is released by the OS when the holder dies, even by SIGKILL, so a killed run never
    # leaves a stale lock behind. Platforms without fcntl run unlocked.
    try:
        import fcntl
    except ImportError:
        return None
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        handle.close()
        raise ResumeError(f"run directory {path.parent} is in use by another run") from err
    return handle
