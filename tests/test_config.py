"""Config dataclasses: TOML round trip, unknown keys, impossible values."""

import pytest

from soilsciml.config import (
    ConfigError,
    NoiseConfig,
    SOCSimulationConfig,
    SolverConfig,
    from_dict,
    load_config,
    replace_path,
    save_config,
)


def test_toml_round_trip(tmp_path):
    config = SOCSimulationConfig(truth="transport_only", years=20.0)
    config = replace_path(config, "transport.boundary", "zero_flux")
    config = replace_path(config, "grid.nz", 41)
    path = save_config(config, tmp_path / "run.toml")
    assert load_config(path, SOCSimulationConfig) == config


def test_unknown_key_is_named_with_its_path():
    with pytest.raises(ConfigError, match=r"unknown config key transport\.diffusivity"):
        from_dict(SOCSimulationConfig, {"transport": {"diffusivity": 1.0}})
    with pytest.raises(ConfigError, match="unknown config key colour"):
        from_dict(NoiseConfig, {"colour": "pink"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rtol": -1e-5}, "rtol must be a positive number"),
        ({"solver": "euler"}, "solver.solver must be one of"),
        ({"max_steps": 0}, "max_steps must be a positive integer"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"rtol": "small"}, "rtol must be a number"),
    ],
)
def test_impossible_solver_values(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(SolverConfig, data)


def test_impossible_grid_and_noise():
    with pytest.raises(ConfigError, match="grid.nz must be an integer >= 3"):
        from_dict(SOCSimulationConfig, {"grid": {"nz": 2}})
    with pytest.raises(ConfigError, match=r"noise.rho must be a finite number > -1 and < 1"):
        NoiseConfig(rho=1.0)


def test_bad_toml_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("truth = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, SOCSimulationConfig)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.toml", SOCSimulationConfig)


def test_settings_classes_live_in_the_public_namespace():
    # grid fingerprints hash "module:Class"; moving a class inside the config package must not
    # invalidate run directories written before
    import soilsciml.config as config_package
    from soilsciml.soc.cases import CASES, case_grid

    classes = [getattr(config_package, n) for n in config_package.__all__]
    assert all(c.__module__ == "soilsciml.config" for c in classes if isinstance(c, type))
    spec = case_grid(CASES[4], "/runs/case4/data.nc")
    assert type(spec.base).__module__ == "soilsciml.config"
    assert spec.fingerprint == case_grid(CASES[4], "/runs/case4/data.nc").fingerprint
    # config schema 2 hashes only the settings that differ from the defaults; Case 4 run
    # directories written under schema 1 (this path: "a9e1b0c4f44a46e4") are recognised and
    # resumed (tests/test_grid_schema.py)
    assert spec.fingerprint == "a15d2bb9cecc9ee9"
