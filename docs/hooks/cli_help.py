"""MkDocs hook: the ``--help`` of every ``soilsciml`` command, generated into ``cli.md``.

The page holds the marker below; each command's help, as argparse prints it, replaces it, so
the reference can never drift from the parser.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- soilsciml-cli-help -->"


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...]):
    """``(words, parser)`` for this parser and every subcommand below it, depth first."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*words, name))


def cli_reference() -> str:
    """Markdown: one heading and one text block of ``--help`` per command."""
    from soilsciml.cli import build_parser

    os.environ["COLUMNS"] = "100"
    parts = []
    for words, parser in _commands(build_parser(), ("soilsciml",)):
        title = " ".join(words)
        parts.append(f"### `{title}`\n\n```text\n{parser.format_help().rstrip()}\n```")
    return "\n\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
