"""Every Julia source under julia/ parses (tree-sitter-julia); Julia itself is not needed."""

from pathlib import Path

import pytest

JULIA_ROOT = Path(__file__).resolve().parents[1] / "julia"
SOURCES = sorted(JULIA_ROOT.rglob("*.jl"))


def _parser():
    import tree_sitter
    import tree_sitter_julia

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_julia.language()))


def _errors(node, found):
    if node.type == "ERROR" or node.is_missing:
        found.append(f"line {node.start_point[0] + 1}: {node.type}")
    for child in node.children:
        _errors(child, found)
    return found


def test_package_sources_are_present():
    names = {str(p.relative_to(JULIA_ROOT)) for p in SOURCES}
    assert {"src/SoilSciML.jl", "test/runtests.jl", "ext/SoilSciMLPythonCallExt.jl"} <= names


def test_parser_rejects_broken_julia():
    tree = _parser().parse(b"function f(x)\n    x +\n")
    assert tree.root_node.has_error


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(JULIA_ROOT)))
def test_julia_source_parses(path):
    tree = _parser().parse(path.read_bytes())
    assert _errors(tree.root_node, []) == []
