"""The ``soilsciml`` command line: one parser, one module of subcommands per model family.

Expected failures (bad files, invalid datasets or configs) end with a one-line message on
stderr and exit code 2, never a traceback; set ``SOILSCIML_DEBUG=1`` to see the traceback.
Every command's ``--out`` is checked for writability before any compute (a command writing
one file sets ``out_kind="file"``; the others write a folder).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from soilsciml import __version__
from soilsciml.cli import common, grid, hysomi, soc
from soilsciml.cli.paths import check_output

__all__ = ["build_parser", "main"]

GROUPS = (soc, hysomi, grid, common)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="soilsciml", description="Hybrid scientific machine learning of soil carbon."
    )
    parser.add_argument("--version", action="version", version=f"soilsciml {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "out", None) is not None:
            check_output(args.out, getattr(args, "out_kind", "folder"))
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("soilsciml: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("SOILSCIML_DEBUG"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"soilsciml: error: {message}", file=sys.stderr)
        return 2
