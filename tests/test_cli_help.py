"""Every command-line option says what it does; ``soc fit --help`` says what a dataset needs."""

import argparse

import pytest

from soilsciml.cli import build_parser, main


def _commands(parser, words=("soilsciml",)):
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*words, name))


def test_every_option_and_argument_has_help():
    missing = [
        f"{' '.join(words)} {action.option_strings or action.dest}"
        for words, parser in _commands(build_parser())
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert missing == []


def test_every_help_text_renders():
    for _, parser in _commands(build_parser()):
        assert parser.format_help()


def test_soc_fit_help_names_the_variables_and_units(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["soc", "fit", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for needed in ("soc", "ph", "cec", "clay", "cmol(+)/kg", "%", "years", "m, positive down"):
        assert needed in text, needed
