"""Julia start-up (``engines.julia_runtime``) without Julia.

Offline by default, finding Julia the way juliapkg would without downloading, no Julia next to
JAX, start-up through a stand-in juliacall, conversions, and Julia's errors in Python terms.
"""

import importlib.util
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from soilsciml.engines import julia_runtime


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "yes"),
        ({"SOILSCIML_JULIA_ONLINE": "1"}, "no"),
        ({"PYTHON_JULIAPKG_OFFLINE": "no"}, "no"),
        ({"PYTHON_JULIAPKG_OFFLINE": "yes", "SOILSCIML_JULIA_ONLINE": "yes"}, "no"),
    ],
)
def test_juliapkg_is_offline_unless_the_user_opts_in(environ, expected):
    assert julia_runtime.configure_environment(environ) == expected
    assert environ["PYTHON_JULIAPKG_OFFLINE"] == expected


def _fake_julia(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho 'julia version 1.11.0'\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def juliacall_installed(monkeypatch):
    """Pretend juliacall is installed (find_spec only; nothing is imported)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: object() if name == "juliacall" else real(name, *args),
    )


def test_probe_finds_juliapkgs_own_install(tmp_path, juliacall_installed):
    env = {"PATH": "", "PYTHON_JULIAPKG_PROJECT": str(tmp_path / "env")}
    assert julia_runtime.find_julia(env) is None
    reason = julia_runtime.probe(env)
    assert "no Julia executable" in reason and "SOILSCIML_JULIA_ONLINE=1" in reason
    exe = _fake_julia(tmp_path / "env" / "pyjuliapkg" / "install" / "bin" / "julia")
    assert julia_runtime.find_julia(env) == exe
    assert julia_runtime.probe(env) is None


def test_probe_finds_juliaup_and_explicit_executables(tmp_path, juliacall_installed):
    depot = tmp_path / "depot"
    env = {"PATH": "", "JULIA_DEPOT_PATH": str(depot), "PYTHON_JULIAPKG_PROJECT": str(tmp_path)}
    exe = _fake_julia(depot / "juliaup" / "julia-1.11.0" / "bin" / "julia")
    (depot / "juliaup" / "juliaup.json").write_text(
        '{"InstalledVersions": {"1.11.0+0.x64.linux.gnu": {"Path": "julia-1.11.0"}}}'
    )
    assert julia_runtime.find_julia(env) == exe
    explicit = _fake_julia(tmp_path / "custom" / "julia")
    assert julia_runtime.find_julia({**env, "PYTHON_JULIAPKG_EXE": explicit}) == explicit


def test_online_opt_in_lets_juliapkg_install_julia(tmp_path, juliacall_installed):
    env = {"PATH": "", "PYTHON_JULIAPKG_PROJECT": str(tmp_path), "SOILSCIML_JULIA_ONLINE": "1"}
    assert julia_runtime.probe(env) is None


def test_julia_is_not_started_next_to_jax():
    with pytest.raises(julia_runtime.JuliaRuntimeError, match="its own process"):
        julia_runtime.check_no_jax({"jax": object()}, {})
    julia_runtime.check_no_jax({"jax": object()}, {"SOILSCIML_JULIA_WITH_JAX": "1"})
    julia_runtime.check_no_jax({}, {})


def test_startup_checks_jax_before_importing_juliacall(monkeypatch):
    monkeypatch.setattr(julia_runtime, "probe", lambda: None)
    monkeypatch.setitem(sys.modules, "jax", sys.modules.get("jax", object()))
    monkeypatch.delenv("SOILSCIML_JULIA_WITH_JAX", raising=False)
    julia_runtime._bridge.cache_clear()
    with pytest.raises(julia_runtime.JuliaRuntimeError, match="JAX is already loaded"):
        julia_runtime.call("simulate_pbm")
    assert "juliacall" not in sys.modules
    julia_runtime._bridge.cache_clear()


def test_float_array_checks_shapes_by_name():
    array = julia_runtime.float_array([[1, 2, 3]], "drivers", (1, None))
    assert array.dtype == np.float64 and array.flags.c_contiguous
    with pytest.raises(ValueError, match=r"drivers must have shape \(2, 'any'\); got \(1, 3\)"):
        julia_runtime.float_array([[1, 2, 3]], "drivers", (2, None))
    source = np.arange(3.0)
    copied = julia_runtime.to_numpy(source)
    copied[0] = 10.0
    assert source[0] == 0.0
    assert julia_runtime.to_numpy_dict({"P.b3": [1]}) == {"P.b3": np.array([1.0])}


def test_julia_argument_errors_become_value_errors(monkeypatch):
    class JuliaError(Exception):
        pass

    def refuse(f, *args):
        raise JuliaError("ArgumentError: setting loss.kind must be mse; got 'huber'")

    bridge = SimpleNamespace(call=refuse)
    monkeypatch.setattr(julia_runtime, "_bridge", lambda: (SimpleNamespace(soc_loss=None), bridge))
    with pytest.raises(ValueError, match="^setting loss.kind must be mse"):
        julia_runtime.call("soc_loss")


class _FakeJuliaModule:
    """Stands in for a juliacall module: records evaluations, returns canned values."""

    def __init__(self, name, fail_on=None, extension=True):
        self.name, self.fail_on, self.extension = name, fail_on, extension
        self.evaluated = []
        self.offline = os.environ.get("PYTHON_JULIAPKG_OFFLINE")

    def seval(self, code):
        self.evaluated.append(code)
        if code == self.fail_on:
            raise sys.modules["juliacall"].JuliaError("ArgumentError: Package SoilSciML not found")
        if code.startswith("Base.get_extension"):
            return SimpleNamespace(call=lambda f, *args: (f, args)) if self.extension else None
        return SimpleNamespace(simulate_pbm="SoilSciML.simulate_pbm")


@pytest.fixture
def fake_juliacall(monkeypatch):
    """A fake juliacall in a process without JAX; yields the modules it creates."""
    created = []

    class JuliaError(Exception):
        pass

    def newmodule(name):
        created.append(_FakeJuliaModule(name, **options))
        return created[-1]

    options = {}
    monkeypatch.setitem(
        sys.modules, "juliacall", SimpleNamespace(newmodule=newmodule, JuliaError=JuliaError)
    )
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.setattr(julia_runtime, "probe", lambda: None)
    for name in ("PYTHON_JULIAPKG_OFFLINE", "SOILSCIML_JULIA_ONLINE"):
        monkeypatch.setenv(name, "")  # recorded, so start-up's setting is undone afterwards
        monkeypatch.delenv(name)
    julia_runtime._bridge.cache_clear()
    yield SimpleNamespace(created=created, options=options)
    julia_runtime._bridge.cache_clear()


def test_startup_loads_the_package_offline_in_a_new_module(fake_juliacall):
    assert julia_runtime.call("simulate_pbm", 1, "x") == ("SoilSciML.simulate_pbm", (1, "x"))
    julia_runtime.call("simulate_pbm")
    [module] = fake_juliacall.created  # started once
    assert module.name == "SoilSciMLPython" and module.offline == "yes"
    assert module.evaluated == [
        "using SoilSciML",
        "SoilSciML",
        "Base.get_extension(SoilSciML, :SoilSciMLPythonCallExt)",
    ]


def test_startup_failures_say_what_to_do(fake_juliacall):
    fake_juliacall.options["fail_on"] = "using SoilSciML"
    with pytest.raises(julia_runtime.JuliaRuntimeError, match="SOILSCIML_JULIA_ONLINE=1"):
        julia_runtime.start()
    julia_runtime._bridge.cache_clear()
    fake_juliacall.options.update(fail_on=None, extension=False)
    with pytest.raises(julia_runtime.JuliaRuntimeError, match="extension .* did not load"):
        julia_runtime.start()
