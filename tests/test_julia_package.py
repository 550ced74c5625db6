"""SoilSciML.jl against its Python side, read as text (no Julia needed).

The package manifest and juliapkg.json agree, every dependency has a compat bound, the entry
points Python calls exist in Julia, and the settings keys Julia reads exist in the configs.
"""

import dataclasses
import importlib.util
import json
import re
import tomllib
from pathlib import Path

import pytest

from soilsciml import config as cfg
from soilsciml.engines import julia_engine
from soilsciml.models.soc import DriverCoefficients, ReferenceTruth

ROOT = Path(__file__).resolve().parents[1]
JULIA = ROOT / "julia"
PROJECT = tomllib.loads((JULIA / "Project.toml").read_text())
JULIAPKG = json.loads((ROOT / "python" / "soilsciml" / "juliapkg.json").read_text())
SOURCES = "\n".join(p.read_text() for p in sorted((JULIA / "src").glob("*.jl")))
STDLIBS = {"LinearAlgebra", "Random", "Statistics", "Test"}


def _setting_keys():
    return set(re.findall(r'setting\(settings, "([^"]+)"', SOURCES))


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
    assert JULIAPKG["julia"] == PROJECT["compat"]["julia"]


def test_every_dependency_has_a_compat_bound():
    names = set(PROJECT["deps"]) | set(PROJECT["weakdeps"]) | set(PROJECT["extras"])
    assert names <= set(PROJECT["compat"])
    for extension in PROJECT["extensions"]:
        assert (JULIA / "ext" / f"{extension}.jl").is_file()


def test_entry_points_called_from_python_exist_in_julia():
    engine = Path(julia_engine.__file__).read_text()
    called = set(re.findall(r'julia_runtime\.call\(\s*"(\w+)"', engine))
    export_line = re.search(r"^export (.+)$", SOURCES, re.MULTILINE).group(1)
    exported = {name.strip() for name in export_line.split(",")}
    assert called == {"simulate_soc_truth", "predict_soc", "soc_loss", "fit_soc", "simulate_pbm"}
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

    def present(key):
        node = data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    engine_only = {"sensealg", "diffusion", "advection", "boundary", "truth"}
    missing = sorted(k for k in _setting_keys() - engine_only if not present(k))
    assert missing == [], f"SoilSciML.jl reads keys that SOCFitConfig lacks: {missing}"
