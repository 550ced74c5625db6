"""The engine registry: names, availability checks and errors."""

import pytest

from soilsciml.engines import (
    ENGINES,
    EngineUnavailableError,
    available_engines,
    engine_status,
    get_engine,
)


def test_jax_engine_is_ready_and_named():
    assert engine_status("jax") is None
    assert get_engine("jax").name == "jax"


def test_unknown_engine_lists_the_valid_ones():
    with pytest.raises(ValueError, match="available engines: jax, julia"):
        get_engine("fortran")


def test_unavailable_engine_says_why_and_how(monkeypatch):
    monkeypatch.setitem(
        ENGINES,
        "julia",
        ENGINES["julia"].__class__(
            requires=("soilsciml_no_such_module",),
            target=ENGINES["julia"].target,
            enable=ENGINES["julia"].enable,
        ),
    )
    get_engine.cache_clear()
    assert "soilsciml_no_such_module" in available_engines()["julia"]
    with pytest.raises(EngineUnavailableError, match="To enable it: install Julia"):
        get_engine("julia")
