"""Commands that span model families: ``demo`` and ``engines``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def _engines(args: argparse.Namespace) -> int:
    from soilsciml.engines import ENGINES, available_engines

    for name, reason in available_engines().items():
        if reason is None:
            print(f"{name:6s} ready")
        else:
            print(f"{name:6s} unavailable: {reason}\n{'':6s} to enable: {ENGINES[name].enable}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from soilsciml.soc.demo import run_demo

    run_demo(args.out, progress=not args.quiet)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``demo`` and ``engines``."""
    demo = commands.add_parser("demo", help="the quick-start job: data, model, figures, metrics")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=_demo)

    engines = commands.add_parser("engines", help="list compute engines and whether they are ready")
    engines.set_defaults(handler=_engines)
