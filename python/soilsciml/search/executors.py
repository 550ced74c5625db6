"""Executors: where trials run. Registered by name, checked for availability without importing.

- ``inprocess`` (default): one after the other in this process.
- ``processes``: a pool of local worker processes (``concurrent.futures``, spawn start method,
  so each worker starts clean, which JAX needs).
- ``dask``: a ``dask.distributed`` cluster, a ``LocalCluster`` of ``workers`` processes or an
  existing one at ``scheduler`` (``tcp://host:8786``; dask-jobqueue for SLURM and friends).

Every executor yields ``(job, record)`` pairs as trials finish, in any order; a job lost to the
executor itself (a worker killed, the pool broken) comes back with the exception instead of a
record. Results do not depend on the executor: a trial's seed comes from its name only.
"""

from __future__ import annotations

import abc
import importlib.util
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, ClassVar

from soilsciml.search.grid import GridError

__all__ = [
    "EXECUTORS",
    "AbstractExecutor",
    "DaskExecutor",
    "ExecutorEntry",
    "InProcessExecutor",
    "ProcessExecutor",
    "make_executor",
]

Outcome = tuple[Any, Any]

#: Most worker processes an executor may start.
MAX_WORKERS = 1024


class AbstractExecutor(abc.ABC):
    """Runs a picklable function over jobs; use as a context manager to release workers."""

    name: ClassVar[str]

    @abc.abstractmethod
    def map_unordered(
        self, function: Callable[[Any], Any], jobs: Sequence[Any]
    ) -> Iterator[Outcome]:
        """Yield ``(job, function(job))`` as each finishes, or ``(job, exception)`` if lost."""

    def close(self) -> None:  # noqa: B027 - executors without resources have nothing to release
        """Release workers and clusters started by this executor."""

    def __enter__(self) -> AbstractExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExecutor(AbstractExecutor):
    """Run trials one after the other in this process."""

    name = "inprocess"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        pass

    def map_unordered(
        self, function: Callable[[Any], Any], jobs: Sequence[Any]
    ) -> Iterator[Outcome]:
        for job in jobs:
            yield job, function(job)


class ProcessExecutor(AbstractExecutor):
    """Run trials in a pool of ``workers`` spawned local processes (default: CPU count)."""

    name = "processes"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(
        self, function: Callable[[Any], Any], jobs: Sequence[Any]
    ) -> Iterator[Outcome]:
        if not jobs:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=min(self.workers, len(jobs)),
                mp_context=multiprocessing.get_context("spawn"),
            )
        futures = {self._pool.submit(function, job): job for job in jobs}
        broken = False
        for future in as_completed(futures):
            error = future.exception()
            broken = broken or isinstance(error, BrokenProcessPool)
            yield futures[future], (future.result() if error is None else error)
        if broken:
            # A worker died (killed, out of memory): its trial and those queued behind it are
            # lost; the next call starts a fresh pool.
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(AbstractExecutor):
    """Run trials on a ``dask.distributed`` cluster.

    Parameters
    ----------
    workers : int, optional
        Worker processes of the ``LocalCluster`` started here (default: CPU count), one thread
        each. Ignored when ``scheduler`` is given.
    scheduler : str, optional
        Address of a running scheduler; the cluster's workers must be able to import the trial
        function and write to the run directory (a shared file system) for trial artifacts.
    """

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None

    def client(self) -> Any:
        """The ``distributed.Client`` of this executor, connecting on first use."""
        return self._client or self._connect()

    def _connect(self) -> Any:
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            self._client = Client(self.scheduler)
        else:
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster)
        return self._client

    def map_unordered(
        self, function: Callable[[Any], Any], jobs: Sequence[Any]
    ) -> Iterator[Outcome]:
        if not jobs:
            return
        from distributed import as_completed as dask_completed

        client = self.client()
        futures = {client.submit(function, job, pure=False): job for job in jobs}
        for future in dask_completed(list(futures)):
            if future.status == "finished":
                yield futures[future], future.result()
            else:
                yield futures[future], future.exception()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


@dataclass(frozen=True)
class ExecutorEntry:
    """An executor class and the Python modules it needs (checked with ``find_spec``)."""

    executor: type[AbstractExecutor]
    requires: tuple[str, ...] = ()
    enable: str = ""


EXECUTORS: dict[str, ExecutorEntry] = {
    "inprocess": ExecutorEntry(InProcessExecutor),
    "processes": ExecutorEntry(ProcessExecutor),
    "dask": ExecutorEntry(
        DaskExecutor, requires=("distributed",), enable="pip install 'soilsciml[dask]'"
    ),
}


def make_executor(
    name: str = "inprocess", workers: int | None = None, scheduler: str | None = None
) -> AbstractExecutor:
    """The executor called ``name``.

    Parameters
    ----------
    name : str
        ``inprocess``, ``processes`` or ``dask``.
    workers : int, optional
        Worker processes (``processes``, local ``dask``).
    scheduler : str, optional
        Address of an existing Dask scheduler (``dask`` only).

    Raises
    ------
    GridError
        For an unknown name (listing the valid ones), a missing requirement (saying how to
        install it), ``workers < 1`` or a scheduler given to another executor.
    """
    if name not in EXECUTORS:
        raise GridError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    entry = EXECUTORS[name]
    missing = [m for m in entry.requires if importlib.util.find_spec(m) is None]
    if missing:
        raise GridError(
            f"executor {name!r} needs the Python module(s) {', '.join(missing)}: {entry.enable}"
        )
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise GridError(f"workers must be from 1 to {MAX_WORKERS}; got {workers}")
    if scheduler is not None and name != "dask":
        raise GridError(f"a scheduler address only applies to executor 'dask', not {name!r}")
    return entry.executor(workers=workers, scheduler=scheduler)
