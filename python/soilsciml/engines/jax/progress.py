"""What a user sees while an optimiser stage runs: compilation, a progress bar, a summary line.

Each stage (``adam``, ``bfgs``, ``lbfgs``) reports on standard error:

- ``adam: compiling ...`` before its first step when that step compiles the kernels in this
  process, then ``done in 12.3 s`` (a kernel found in the persistent compilation cache is
  loaded instead, in well under a second after tracing);
- a tqdm progress bar (``tqdm.auto``: a widget in notebooks) started after the first step, so
  that its rate and estimate leave compilation out; it is cleared at the end;
- one summary line kept on screen: ``adam: 200 of 200 iterations (budget reached), loss
  1.234e-04, 20.4 s (12.3 s compiling)``, or ``bfgs: 233 of 400 iterations (early stop),
  ...``.

Nothing is printed when progress is off (grid trials, tests). Reporting never changes what the
stage computes.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm.auto import tqdm

__all__ = ["STOP_REASONS", "StageReport", "signature"]

#: Words of the summary line for each stop reason.
STOP_REASONS = {
    "budget": "budget reached",
    "early_stopping": "early stop",
    "converged": "converged",
    "line_search_failed": "line search failed",
}

#: Kernel signatures whose first step already ran in this process (compiled or loaded).
_SEEN: set[tuple] = set()


def signature(*parts: Any) -> tuple:
    """A hashable key of what a compiled step depends on: static settings and array shapes."""

    def key(part: Any) -> Any:
        if isinstance(part, dict):
            return tuple((name, key(value)) for name, value in sorted(part.items()))
        shape = getattr(part, "shape", None)
        if shape is not None:
            return (tuple(shape), str(getattr(part, "dtype", "")))
        return part if part is None or isinstance(part, int | float | str | tuple) else repr(part)

    return tuple(key(part) for part in parts)


def _say(text: str, end: str = "\n") -> None:
    sys.stderr.write(text + end)
    sys.stderr.flush()


class StageReport:
    """Progress of one optimiser stage; call :meth:`step` after every iteration, then
    :meth:`close`.

    Parameters
    ----------
    name : str
        The stage (``adam``, ``bfgs`` ...).
    total : int
        Its iteration budget.
    enabled : bool
        Show anything at all.
    key : tuple
        :func:`signature` of the stage's kernels; the first stage with a new key in this
        process announces its compilation.
    """

    def __init__(self, name: str, total: int, enabled: bool, key: tuple) -> None:
        self.name, self.total, self.enabled = name, total, enabled
        self.iterations = 0
        self.loss = float("nan")
        self._bar: Any = None
        self._key = (name, *key)
        self._start = time.perf_counter()
        self._compiling = enabled and self._key not in _SEEN
        self.compile_s: float | None = None
        if self._compiling:
            _say(f"{name}: compiling ...", end="")

    def step(self, loss: float) -> None:
        """Record one finished iteration and its loss."""
        self.iterations += 1
        self.loss = loss
        if self.iterations == 1:
            _SEEN.add(self._key)
            if self._compiling:
                self.compile_s = time.perf_counter() - self._start
                _say(f" done in {self.compile_s:.1f} s")
            if self.enabled:
                self._bar = tqdm(
                    total=self.total, initial=1, desc=self.name, leave=False, file=sys.stderr
                )
        elif self._bar is not None:
            self._bar.update()
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.3e}", refresh=False)

    def close(self, reason: str) -> str:
        """Clear the bar, print the summary line (when enabled) and return it."""
        if self._bar is not None:
            self._bar.close()
        summary = (
            f"{self.name}: {self.iterations} of {self.total} iterations "
            f"({STOP_REASONS.get(reason, reason)}), loss {self.loss:.3e}, "
            f"{time.perf_counter() - self._start:.1f} s"
        )
        if self.compile_s is not None:
            summary += f" ({self.compile_s:.1f} s compiling)"
        if self.enabled:
            if self._compiling and self.iterations == 0:
                _say("")
            _say(summary)
        return summary
