"""Run one engine call in a fresh Python process.

Julia and JAX are not loaded into the same process (see ``julia_runtime``); comparisons between
engines, such as the parity tests and ``benchmarks/parity.py``, run each engine through
:func:`call_in_subprocess`. Arguments and results travel as pickles (dataclasses of numpy
arrays), so they must be picklable.

Command line (used internally): ``python -m soilsciml.engines.isolated REQUEST REPLY``.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["IsolatedCallError", "IsolatedResult", "call_in_subprocess"]


class IsolatedCallError(RuntimeError):
    """The engine call failed in the child process (the message carries its error output)."""


@dataclass(frozen=True)
class IsolatedResult:
    """What an engine method returned, with timings taken in the child process.

    Parameters
    ----------
    value : Any
        The method's return value (of the last call when repeated).
    seconds : float
        Wall-clock seconds of the first call (compilation and Julia start-up included).
    startup_seconds : float
        Seconds from the child's start to the engine being ready (imports; not Julia, which
        starts on the first call).
    repeat_seconds : tuple of float
        Wall-clock seconds of every call, the first included.
    """

    value: Any
    seconds: float
    startup_seconds: float
    repeat_seconds: tuple[float, ...]


def call_in_subprocess(
    engine: str,
    method: str,
    *args: Any,
    engine_options: dict[str, Any] | None = None,
    timeout: float | None = None,
    repeat: int = 1,
) -> IsolatedResult:
    """Call ``get_engine(engine).method(*args)`` in a fresh Python process.

    Parameters
    ----------
    engine : str
        Registered engine name.
    method : str
        Engine method, e.g. ``"simulate_soc_truth"``.
    *args
        Picklable arguments of the method.
    engine_options : dict, optional
        Keyword arguments for the engine's constructor (e.g. ``{"sensealg": "backsolve"}``).
    timeout : float, optional
        Seconds before the child is stopped.
    repeat : int
        Number of identical calls in the same child (later calls show warm timings).

    Raises
    ------
    IsolatedCallError
        When the child fails; the message ends with its standard error.
    """
    with tempfile.TemporaryDirectory(prefix="soilsciml-") as tmp:
        request, reply = Path(tmp) / "request.pkl", Path(tmp) / "reply.pkl"
        request.write_bytes(pickle.dumps((engine, engine_options or {}, method, args, repeat)))
        done = subprocess.run(
            [sys.executable, "-m", "soilsciml.engines.isolated", str(request), str(reply)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise IsolatedCallError(
                f"{engine}.{method} failed in a subprocess (exit {done.returncode}):\n"
                f"{done.stderr[-4000:]}"
            )
        value, seconds, startup_seconds = pickle.loads(reply.read_bytes())
        return IsolatedResult(value, seconds[0], startup_seconds, tuple(seconds))


def main(argv: list[str]) -> int:
    """Child side: read the request, run it, write ``(value, seconds, startup_seconds)``."""
    started = time.perf_counter()
    request, reply = Path(argv[0]), Path(argv[1])
    engine_name, options, method, args, repeat = pickle.loads(request.read_bytes())
    from soilsciml.engines import get_engine

    engine = get_engine(engine_name)
    if options:
        engine = type(engine)(**options)
    ready = time.perf_counter()
    seconds = []
    for _ in range(repeat):
        begin = time.perf_counter()
        value = getattr(engine, method)(*args)
        seconds.append(time.perf_counter() - begin)
    reply.write_bytes(pickle.dumps((value, seconds, ready - started)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
