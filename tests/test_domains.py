"""Declared domains: one regression test per bad input that once crashed, hung or was accepted.

Every case asserts the package's own error type, raised before any compute, and that the
message names the setting, variable or column.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from soilsciml.cli import main
from soilsciml.config import (
    ConfigError,
    Domain,
    HySoMiCalibrationConfig,
    HySoMiConstraintConfig,
    IncubationFormat,
    NoiseConfig,
    SOCFitConfig,
    SOCSimulationConfig,
    domain_table,
    from_dict,
    load_config,
    settings_classes,
)
from soilsciml.data.io import json_text
from soilsciml.data.schema import DatasetError, validate_soc_dataset
from soilsciml.hysomi.incubation import IncubationError, read_incubation
from soilsciml.models.hysomi import PARAM_NAMES, ParameterError, params_from_mapping
from soilsciml.search import GridError, load_grid
from soilsciml.search.grid import MAX_TRIALS

ROOT = Path(__file__).parent.parent


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _csv(path: Path, header, rows) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _cli_error(capsys, argv) -> str:
    """Run the CLI, assert exit status 2 and one line on stderr, return that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("soilsciml: error:")
    return err


def _soc_dataset(nt=3, nz=5, depth_max=1.0):
    from soilsciml.soc.simulate import soc_dataset

    shape = (nt, nz)
    drivers = {"ph": np.full(shape, 6.5), "cec": np.full(shape, 0.5), "clay": np.full(shape, 25.0)}
    depth = np.linspace(0.0, depth_max, nz)
    return soc_dataset(np.arange(float(nt)), depth, np.full(shape, 1.0), drivers)


# --- crashes ---------------------------------------------------------------------------------


def test_deeply_nested_config_is_a_config_error(tmp_path, capsys):
    deep = _write(tmp_path / "deep.toml", "x = " + "[" * 2000 + "]" * 2000 + "\n")
    with pytest.raises(ConfigError, match="more than 32 levels deep"):
        load_config(deep, SOCFitConfig)
    with pytest.raises(GridError, match="more than 32 levels deep"):
        load_grid(deep)
    tables = _write(tmp_path / "tables.toml", "[" + ".".join(["a"] * 40) + "]\nb = 1\n")
    with pytest.raises(ConfigError, match="deep.toml|tables.toml"):
        load_config(tables, SOCFitConfig)
    err = _cli_error(capsys, ["soc", "fit", "x.nc", "--config", str(deep), "--out", str(tmp_path)])
    assert "deep.toml" in err


def test_oversized_config_file_is_refused(tmp_path):
    big = _write(tmp_path / "big.toml", "# padding\n" * 200_000)
    with pytest.raises(ConfigError, match="big.toml is .* bytes; a settings file may hold"):
        load_config(big, SOCFitConfig)


def test_duplicated_csv_header_names_the_column(tmp_path):
    path = _csv(tmp_path / "dup.csv", ["time", "co2", "co2"], [["0", "0", "0"], ["1", "1", "1"]])
    with pytest.raises(IncubationError, match="column name 'co2' is used twice"):
        read_incubation(path)
    blank = _csv(tmp_path / "blank.csv", ["time", "", "co2"], [["0", "0", "0"]])
    with pytest.raises(IncubationError, match="column 2 has no name"):
        read_incubation(blank)


@pytest.mark.parametrize("days", [1e5, 1e12])
def test_absurd_incubation_span_is_refused_before_compute(tmp_path, days):
    rows = [["0", "0"], [str(days / 2), "0.5"], [str(days), "1"]]
    path = _csv(tmp_path / "long.csv", ["time", "co2"], rows)
    start = time.perf_counter()
    with pytest.raises(IncubationError, match=r"column 'time' reaches .* at most data.max_days"):
        read_incubation(path, IncubationFormat(time_unit="d"))
    assert time.perf_counter() - start < 5.0


def test_calibration_checks_the_span_of_a_dataset_built_by_hand(tmp_path):
    from soilsciml.hysomi.calibrate import calibrate_hysomi

    good = read_incubation(
        _csv(tmp_path / "s.csv", ["time", "co2"], [["0", "0"], ["1", "1"], ["2", "2"]])
    )
    far = good.assign(time=good["time"] * 1e12)
    with pytest.raises(IncubationError, match="variable 'time' reaches .* data.max_days"):
        calibrate_hysomi(far, HySoMiCalibrationConfig())


def _parameters(**changes):
    from soilsciml.models.hysomi import PARAMETERS

    values = {p.name: 0.5 * (p.lower + p.upper) for p in PARAMETERS}
    return {**values, **changes}


def test_integer_beyond_float_range_in_parameters_is_named(tmp_path, capsys):
    name = PARAM_NAMES[0]
    with pytest.raises(ParameterError, match=f"parameter '{name}' must be a finite number"):
        params_from_mapping(_parameters(**{name: 10**400}))
    for bad in ("0.1", None, [0.1], True):
        with pytest.raises(ParameterError, match=name):
            params_from_mapping(_parameters(**{name: bad}))
    path = tmp_path / "params.json"
    path.write_text(json.dumps(_parameters(**{name: 10**400})))
    argv = ["hysomi", "simulate", "--params", str(path), "--out", str(tmp_path / "o.nc")]
    err = _cli_error(capsys, argv)
    assert f"parameter '{name}'" in err


def test_huge_network_width_is_refused_before_compute(tmp_path, capsys):
    with pytest.raises(ConfigError, match="network.h1 must be a positive integer <= 4096"):
        from_dict(SOCFitConfig, {"network": {"h1": 10**9}})
    config = _write(tmp_path / "fit.toml", "[network]\nh1 = 1000000000\n")
    err = _cli_error(
        capsys, ["soc", "fit", "x.nc", "--config", str(config), "--out", str(tmp_path)]
    )
    assert "network.h1" in err


# --- silent acceptance -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "key",
    ["solver.rtol", "train.lr", "transport.advection", "transport.diffusion", "loss.lambda_term"],
)
def test_non_finite_settings_are_named(tmp_path, key, value):
    section, name = key.split(".")
    path = _write(tmp_path / "fit.toml", f"[{section}]\n{name} = {value}\n")
    with pytest.raises(ConfigError, match=rf"^{key} must be a .*; got {value}$"):
        load_config(path, SOCFitConfig)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"solver": {"max_steps": 2**70}}, "solver.max_steps"),
        ({"network": {"h2": 10**9}}, "network.h2"),
        ({"train": {"adam_iters": 10**12}}, "train.adam_iters"),
        ({"train": {"seed": 2**40}}, "train.seed"),
        ({"network": {"h1": True}}, "network.h1"),
        ({"loss": {"learn_dof": 1}}, "loss.learn_dof"),
    ],
)
def test_absurd_sizes_and_bools_are_named(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from_dict(SOCFitConfig, data)


def test_huge_grid_nz_in_a_grid_file_is_named(tmp_path):
    grid = _write(tmp_path / "g.toml", 'kind = "soc_simulate"\n[grid]\n"grid.nz" = [1000000000]\n')
    with pytest.raises(GridError, match=r"grid.nz .*must be an integer >= 3 and <= 2000"):
        load_grid(grid)


def test_too_many_trials_are_refused(tmp_path):
    values = ", ".join(str(i) for i in range(3, 60))
    text = f'kind = "soc_simulate"\n[grid]\n"grid.nz" = [{values}]\n"years" = [{values}]\n'
    text += f'"output_step" = [{", ".join(str(0.01 * i) for i in range(1, 60))}]\n'
    assert 57 * 57 * 59 > MAX_TRIALS
    with pytest.raises(GridError, match=f"at most {MAX_TRIALS}"):
        load_grid(_write(tmp_path / "g.toml", text))


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("soc", 250.0, "variable 'soc' has values above 100"),
        ("soc", 1e300, "variable 'soc' has values above 100"),
        ("cec", 1e300, "variable 'cec' has values above 500"),
        ("clay", 101.0, "variable 'clay' has values above 100"),
    ],
)
def test_implausible_values_are_named(variable, value, message):
    ds = _soc_dataset()
    values = ds[variable].values.copy()
    values[1, 1] = value
    with pytest.raises(DatasetError, match=message):
        validate_soc_dataset(ds.assign({variable: ds[variable].copy(data=values)}))


@pytest.mark.parametrize(
    "values",
    [
        np.full((3, 5), "1.0"),
        np.full((3, 5), "abc"),
        np.full((3, 5), True),
        np.full((3, 5), 1.0 + 0.5j),
        np.full((3, 5), None, dtype=object),
    ],
    ids=["numeric strings", "text", "booleans", "complex", "objects"],
)
def test_soc_must_hold_real_numbers(values):
    ds = _soc_dataset()
    bad = ds.assign(soc=(("time", "depth"), values, ds["soc"].attrs))
    with pytest.raises(DatasetError, match="variable 'soc' holds .* expected real numbers"):
        validate_soc_dataset(bad)


@pytest.mark.parametrize(
    ("co2", "message"),
    [
        (["0", "0.2", "-0.1", "0.4"], "line 4: column 'co2' is negative"),
        (["0", "0.3", "0.2", "0.1"], "series 'g' column 'co2' decreases at time 2 h"),
        (["0", "0.3", "5000", "6000"], "line 4: column 'co2' exceeds 1000 mg C/g"),
    ],
)
def test_negative_decreasing_or_huge_co2_is_refused(tmp_path, co2, message):
    rows = [["g", str(t), value] for t, value in enumerate(co2)]
    path = _csv(tmp_path / "g.csv", ["series", "time", "co2"], rows)
    with pytest.raises(IncubationError, match=message):
        read_incubation(path)


def test_replicate_noise_on_a_plateau_is_accepted(tmp_path):
    rows = [["g", "0", "0"], ["g", "1", "1.0"], ["g", "2", "0.99"], ["g", "3", "1.2"]]
    ds = read_incubation(_csv(tmp_path / "g.csv", ["series", "time", "co2"], rows))
    np.testing.assert_allclose(ds["co2"].values[0], [0, 1.0, 0.99, 1.2])


@pytest.mark.parametrize("factor", ["-0.5", "nan", "inf"])
def test_negative_or_nan_calibration_factors_are_named(tmp_path, capsys, factor):
    with pytest.raises(ConfigError, match="constraints.factor_values"):
        HySoMiConstraintConfig(
            setting="real", factor_labels=("P11",), factor_values=(float(factor),)
        )
    path = _csv(tmp_path / "s.csv", ["time", "co2"], [["0", "0"], ["1", "1"], ["2", "2"]])
    argv = [
        "hysomi",
        "calibrate",
        str(path),
        "--factor",
        f"P11={factor}",
        "--out",
        str(tmp_path / "r"),
    ]
    assert "constraints.factor_values" in _cli_error(capsys, argv)


def test_grid_metric_must_be_one_the_kind_reports(tmp_path):
    text = 'kind = "soc_simulate"\nselect = {metric = "r2_clean"}\n[grid]\n"grid.nz" = [5, 6]\n'
    with pytest.raises(GridError, match="select.metric 'r2_clean' is not a metric that soc_sim"):
        load_grid(_write(tmp_path / "g.toml", text))
    fit = 'kind = "soc_fit"\nselect = {metric = "%s"}\n[data]\npath = "d.nc"\n'
    for metric in ("r2_clean", "mse_holdout_noisy", "iterations_adam", "final_loss"):
        assert load_grid(_write(tmp_path / "f.toml", fit % metric)).select.metric == metric
    with pytest.raises(GridError, match="select.metric 'loss'"):
        load_grid(_write(tmp_path / "f.toml", fit % "loss"))


def test_soc_fit_grid_needs_a_data_path_before_any_trial(tmp_path, capsys):
    text = 'kind = "soc_fit"\n[grid]\n"network.h1" = [4, 8]\n'
    with pytest.raises(GridError, match=r"soc_fit grid: \[data\] path is required"):
        load_grid(_write(tmp_path / "g.toml", text))
    err = _cli_error(capsys, ["grid", str(tmp_path / "g.toml"), "--out", str(tmp_path / "run")])
    assert "[data] path is required" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('engine = "torch"', r"\[data\] engine 'torch' is not a registered engine; engines: jax"),
        ("engine = 3", r"\[data\] engine must be a non-empty string"),
        ('pth = "d.nc"', r"unknown \[data\] key 'pth'"),
    ],
)
def test_data_table_of_a_kind_is_checked(tmp_path, data, message):
    text = f'kind = "soc_simulate"\n[data]\n{data}\n'
    with pytest.raises(GridError, match=message):
        load_grid(_write(tmp_path / "g.toml", text))


# --- hangs -----------------------------------------------------------------------------------


def test_nan_advection_fails_before_any_fit(tmp_path, capsys, monkeypatch):
    import soilsciml.soc.fit as fit

    monkeypatch.setattr(fit, "fit_soc", lambda *a, **k: pytest.fail("fit_soc was called"))
    data = tmp_path / "d.nc"
    _soc_dataset().to_netcdf(data)
    config = _write(tmp_path / "fit.toml", "[transport]\nadvection = nan\n")
    argv = ["soc", "fit", str(data), "--config", str(config), "--out", str(tmp_path / "run")]
    err = _cli_error(capsys, argv)
    assert "transport.advection must be a finite number" in err


# --- a new user's mistakes -------------------------------------------------------------------


def test_depth_without_units_is_refused():
    ds = _soc_dataset()
    del ds["depth"].attrs["units"]
    with pytest.raises(DatasetError, match="coordinate 'depth' has no 'units' attribute"):
        validate_soc_dataset(ds)


def test_depth_in_cm_labelled_m_is_refused_unless_allowed():
    deep = _soc_dataset(depth_max=100.0)
    with pytest.raises(DatasetError, match="'depth' reaches 100 m, deeper than 10 m: is it in cm"):
        validate_soc_dataset(deep)
    assert validate_soc_dataset(deep, max_depth=None)["depth"].values[-1] == 100.0
    allowed = deep.assign_coords(depth=deep["depth"].assign_attrs(max_depth=150.0))
    assert validate_soc_dataset(allowed)["depth"].values[-1] == 100.0
    relabelled = deep.assign_coords(depth=deep["depth"].assign_attrs(units="cm"))
    assert validate_soc_dataset(relabelled)["depth"].values[-1] == pytest.approx(1.0)


def test_noise_level_in_percent_gets_a_hint(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"noise.level .*did you mean 0.07\?"):
        NoiseConfig(level=7)
    data = tmp_path / "d.nc"
    _soc_dataset().to_netcdf(data)
    err = _cli_error(
        capsys, ["soc", "noise", str(data), "--level", "7", "--out", str(tmp_path / "n.nc")]
    )
    assert "did you mean 0.07?" in err


def test_output_path_is_checked_before_compute(tmp_path, capsys, monkeypatch):
    import soilsciml.soc.simulate as simulate

    monkeypatch.setattr(simulate, "simulate_soc", lambda *a, **k: pytest.fail("computed"))
    blocker = _write(tmp_path / "file.txt", "not a folder")
    err = _cli_error(capsys, ["soc", "simulate", "--out", str(blocker / "sub" / "out.nc")])
    assert "--out" in err and "file.txt is a file" in err
    err = _cli_error(capsys, ["soc", "simulate", "--out", str(tmp_path)])
    assert "is a folder; give a file name" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_refused_before_compute(tmp_path, capsys, monkeypatch):
    import soilsciml.soc.simulate as simulate

    monkeypatch.setattr(simulate, "simulate_soc", lambda *a, **k: pytest.fail("computed"))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        err = _cli_error(capsys, ["soc", "simulate", "--out", str(locked / "out.nc")])
    finally:
        locked.chmod(0o755)
    assert "cannot write in" in err


# --- unclear messages ------------------------------------------------------------------------


def test_array_valued_units_and_empty_coordinates_are_named():
    ds = _soc_dataset()
    ds["soc"].attrs["units"] = np.array(["%", "%"])
    with pytest.raises(DatasetError, match="variable 'soc' has a 'units' attribute .* not text"):
        validate_soc_dataset(ds)
    empty = _soc_dataset().isel(depth=slice(0, 0))
    with pytest.raises(DatasetError, match="coordinate 'depth' is empty"):
        validate_soc_dataset(empty)
    text_depth = _soc_dataset()
    text_depth = text_depth.assign_coords(depth=("depth", ["a"] * 5, {"units": "m"}))
    with pytest.raises(DatasetError, match="coordinate 'depth' holds"):
        validate_soc_dataset(text_depth)


def test_infinite_horizon_is_named():
    with pytest.raises(ConfigError, match="years must be a positive number <= 10000; got inf"):
        SOCSimulationConfig(years=float("inf"))
    with pytest.raises(ConfigError, match="years / output_step must be at most"):
        SOCSimulationConfig(years=10_000.0, output_step=1e-6)


# --- strict JSON -----------------------------------------------------------------------------


def test_metrics_json_is_strict():
    text = json_text({"r2": float("nan"), "mse": np.float64(np.inf), "n": np.int64(3), "v": [1.0]})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "r2": None,
        "mse": None,
        "n": 3,
        "v": [1.0],
    }


def test_grid_results_json_is_strict(tmp_path):
    from soilsciml.search.grid import expand_grid
    from soilsciml.search.results import results_json
    from soilsciml.search.spec import Selection

    trials = expand_grid(SOCSimulationConfig(), {"grid.nz": [5]})
    record = {"name": trials[0].name, "status": "ok", "metrics": {"loss": float("nan")}}
    text = results_json(trials, {trials[0].name: record}, Selection("loss"))
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(c))
    assert parsed["trials"][0]["metrics"]["loss"] is None


# --- the declarations themselves -------------------------------------------------------------


def test_every_setting_has_a_domain_and_its_default_is_inside():
    import soilsciml.config as config

    classes = settings_classes()
    public = [getattr(config, n) for n in config.__all__]
    dataclass_types = [
        c for c in public if isinstance(c, type) and dataclasses.is_dataclass(c) and c is not Domain
    ]
    assert set(dataclass_types) <= set(classes)
    for cls in classes:
        cls()  # the validator raises for a field without a domain or a default outside it


def test_docs_list_the_current_domains():
    page = (ROOT / "docs" / "data-conventions.md").read_text()
    assert domain_table() in page, (
        "docs/data-conventions.md is stale: paste the output of "
        "`python -c 'import soilsciml.config as c; print(c.domain_table())'` into it"
    )
