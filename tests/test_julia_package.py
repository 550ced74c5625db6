"""SoilSciML.jl against its Python side, read as text (no Julia needed).

The package manifest and juliapkg.json agree, every dependency has a compat bound, the entry
points Python calls exist in Julia, the settings keys Julia reads exist in the configs, and
the constants and functional names the HySoMi training mirrors match the Python side.
"""

import dataclasses
import importlib.util
import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from soilsciml import config as cfg
from soilsciml.engines import julia_engine
from soilsciml.models.soc import DriverCoefficients, ReferenceTruth

ROOT = Path(__file__).resolve().parents[1]
JULIA = ROOT / "julia"
PROJECT = tomllib.loads((JULIA / "Project.toml").read_text())
JULIAPKG = json.loads((ROOT / "python" / "soilsciml" / "juliapkg.json").read_text())
SOURCE_FILES = sorted((JULIA / "src").glob("*.jl"))
SOURCES = "\n".join(p.read_text() for p in SOURCE_FILES)
STDLIBS = {"LinearAlgebra", "Random", "Statistics", "TOML", "Test"}


def _setting_keys(prefix: str = ""):
    """Settings keys read by the Julia files whose names start with ``prefix``."""
    files = [p.read_text() for p in SOURCE_FILES if p.name.startswith(prefix)]
    return set(re.findall(r'setting\(settings, "([^"]+)"', "\n".join(files)))


def _present(data: dict, key: str) -> bool:
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _exported() -> set[str]:
    block = re.search(r"^export ((?:[^\n]*,\s*\n)*[^\n]*)$", SOURCES, re.MULTILINE).group(1)
    return {name.strip() for name in block.split(",") if name.strip()}


def test_juliapkg_develops_this_package():
    own = JULIAPKG["packages"]["SoilSciML"]
    path = (ROOT / "python" / "soilsciml" / own["path"]).resolve()
    assert path == JULIA and own["dev"] is True
    assert own["uuid"] == PROJECT["uuid"]


def test_juliapkg_dependencies_match_the_project():
    declared = {**PROJECT["deps"], **PROJECT["weakdeps"]}
    for name, spec in JULIAPKG["packages"].items():
        if name == "SoilSciML":
            continue
        assert declared[name] == spec["uuid"], name
        assert PROJECT["compat"][name] == spec["version"], name
    assert set(JULIAPKG["packages"]) - {"SoilSciML"} == set(PROJECT["deps"]) - STDLIBS
    assert JULIAPKG["julia"] == PROJECT["compat"]["julia"]


def test_every_dependency_has_a_compat_bound():
    names = set(PROJECT["deps"]) | set(PROJECT["weakdeps"]) | set(PROJECT["extras"])
    assert names <= set(PROJECT["compat"])
    for extension in PROJECT["extensions"]:
        assert (JULIA / "ext" / f"{extension}.jl").is_file()


def test_entry_points_called_from_python_exist_in_julia():
    engine = Path(julia_engine.__file__).read_text()
    called = set(re.findall(r'julia_runtime\.call\(\s*"(\w+)"', engine))
    exported = _exported()
    assert called == {
        "simulate_soc_truth",
        "predict_soc",
        "soc_loss",
        "fit_soc",
        "simulate_pbm",
        "fit_hysomi",
        "predict_hysomi",
    }
    assert called <= exported
    for name in called:
        assert re.search(rf"^function {name}\(", SOURCES, re.MULTILINE), name


def test_solver_and_model_constants_match_the_python_side():
    solver_fields = {f.name for f in dataclasses.fields(cfg.SolverConfig)}
    read = {key.split(".", 1)[1] for key in _setting_keys() if key.startswith("solver.")}
    assert read <= solver_fields
    pairs = [("DriverCoefficients", DriverCoefficients), ("ReferenceTruth", ReferenceTruth)]
    if importlib.util.find_spec("soilsciml.models.hysomi") is not None:
        from soilsciml.models.hysomi import Physics

        pairs.append(("Sorption", Physics))
    for julia_name, cls in pairs:
        julia_fields = re.search(rf"struct {julia_name}\n(.*?)\nend", SOURCES, re.DOTALL).group(1)
        assert re.findall(r"^\s+(\w+)::Float64", julia_fields, re.MULTILINE) == [
            f.name for f in dataclasses.fields(cls)
        ]


def test_fit_keys_exist_in_the_soc_fit_config():
    fit_config = getattr(cfg, "SOCFitConfig", None)
    if fit_config is None:
        pytest.skip("SOCFitConfig is not in this tree")
    data = cfg.to_dict(fit_config())
    engine_only = {"sensealg", "diffusion", "advection", "boundary", "truth"}
    read = _setting_keys("soc_") | _setting_keys("settings")
    missing = sorted(k for k in read - engine_only if not _present(data, k))
    assert missing == [], f"SoilSciML.jl reads keys that SOCFitConfig lacks: {missing}"


def test_hysomi_keys_exist_in_the_hysomi_train_config():
    data = cfg.to_dict(cfg.HySoMiTrainConfig())
    read = _setting_keys("hysomi_") | _setting_keys("settings")
    missing = sorted(k for k in read - {"sensealg"} if not _present(data, k))
    assert missing == [], f"SoilSciML.jl reads keys that HySoMiTrainConfig lacks: {missing}"
    settings = julia_engine.hysomi_model_arguments(
        np.arange(3.0), cfg.HySoMiTrainConfig(), "forwarddiff"
    )[1]
    assert all(_present(settings, k) for k in read)


def _julia_constant(name: str) -> float:
    return float(re.search(rf"^const {name} = (\S+)$", SOURCES, re.MULTILINE).group(1))


def test_hysomi_constants_match_the_jax_engine():
    from soilsciml.engines.jax import hysomi_loss, hysomi_net

    for module, name in [
        (hysomi_net, "NORM_MOMENTUM"),
        (hysomi_net, "NORM_EPS"),
        (hysomi_loss, "RUNNING_DECAY"),
        (hysomi_loss, "MAGNITUDE_FLOOR"),
    ]:
        assert _julia_constant(name) == getattr(module, name), name


def test_julia_knows_every_constraint_functional():
    from soilsciml.models.constraints import FUNCTIONALS

    block = re.search(r"^const FUNCTIONALS = Dict.*?^\)$", SOURCES, re.MULTILINE | re.DOTALL)
    names = set(re.findall(r'^\s+"(\w+)" =>', block.group(0), re.MULTILINE))
    splat = re.search(r"for name in \(([^)]*)\)", block.group(0)).group(1)
    names |= {n.strip().lstrip(":") for n in splat.split(",")}
    assert names == set(FUNCTIONALS)
