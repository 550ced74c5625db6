"""Shared helpers of the benchmark scripts: timing statistics, peak memory, JSON output.

Every benchmark script runs one *contender* per process (``--contender``), so the peak
resident set size it reports belongs to that contender alone, and writes its numbers as JSON
(``--json``) for ``run_all.py``.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "kept_sections",
    "load_average",
    "peak_rss_mb",
    "time_repeats",
    "torch_result",
    "use_torch_threads",
    "write_json",
    "write_section",
]


def time_repeats(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Call ``fn`` ``repeats`` times; median, min and max wall time in seconds.

    ``fn`` must block until its result is computed (``jax.block_until_ready``).
    """
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {
        "median_s": float(np.median(seconds)),
        "min_s": float(np.min(seconds)),
        "max_s": float(np.max(seconds)),
        "repeats": repeats,
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (``getrusage`` ``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def use_torch_threads(threads: int) -> None:
    """Set torch's intra- and inter-op thread counts (before any torch work)."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


def write_json(result: dict[str, Any], path: Path | None) -> None:
    """Print ``result`` and, when ``path`` is given, write it there as JSON."""
    result = {**result, "peak_rss_mb": peak_rss_mb()}
    text = json.dumps(result, indent=2)
    print(text)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def torch_result(contender: str, timing: dict, threads: int) -> dict:
    """The JSON result of a torch peer: timings, thread count and versions (no compile step)."""
    import torch
    import torchdiffeq

    return {
        "contender": contender,
        "compile_s": 0.0,
        **timing,
        "threads": threads,
        "versions": f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}",
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. ``"1.2, 0.9, 0.7"``."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


_SECTION = re.compile(r"<!-- section:(\w+) -->\n.*?<!-- /section:\1 -->\n?", re.S)


def kept_sections(text: str) -> str:
    """The sections of ``results.md`` written by :func:`write_section`, to keep on rewrite."""
    return "".join(match.group(0) for match in _SECTION.finditer(text))


def write_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` into ``path`` as section ``name``, replacing that section if present."""
    text = path.read_text() if path.exists() else ""
    block = f"<!-- section:{name} -->\n{body.rstrip()}\n<!-- /section:{name} -->\n"
    pattern = re.compile(rf"<!-- section:{name} -->\n.*?<!-- /section:{name} -->\n?", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text + "\n" + block
    path.write_text(text)
