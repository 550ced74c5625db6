"""HySoMi calibration: reading incubation files, unit conversion, the fit through the CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from soilsciml.config import IncubationFormat
from soilsciml.hysomi.calibrate import InitialPoolError, initial_pools
from soilsciml.hysomi.incubation import IncubationError, read_incubation
from soilsciml.models import hysomi as model

#: Parameters of the hidden truth; they satisfy the real-data constraints over 15 h from
#: PULSE (checked in the test), and no training data was simulated from them.
TRUTH = {
    "mu_max": 0.14,
    "k_R": 0.85,
    "k_D": 0.75,
    "Y": 0.64,
    "k_S": 12.0,
    "K_H": 2.6,
    "v_max": 0.0095,
    "C_thr": 0.003,
    "sigma": 0.17,
    "f_N": 0.14,
    "Y_M": 0.57,
    "m_max": 4e-4,
    "beta": 0.64,
}
#: A 500 umol C/g glucose pulse: the README's example initial pools.
PULSE = {"C_L": 6.0, "B_D": 0.33, "B_A": 0.03}
UMOL_C_MG = 0.012011


def _write_csv(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _truth(hours):
    """Cumulative CO2 and biomass B_A + B_D (mg C/g) of TRUTH from PULSE at ``hours``."""
    from soilsciml.config import SolverConfig
    from soilsciml.engines import get_engine
    from soilsciml.models import constraints as cons

    initial = np.array(initial_pools([f"{k}={v}" for k, v in PULSE.items()]))
    grid = np.unique(np.concatenate([model.hourly_times(15.0), hours]))
    params = model.params_from_mapping(TRUTH)[None]
    solver = SolverConfig(rtol=1e-9, atol=1e-11)
    trajectory = get_engine("jax").simulate_pbm(params, initial, grid, solver)
    passed = cons.hard_check(cons.constraint_set("real"), trajectory.states, grid, params)
    assert passed.all(), "the truth must satisfy the real-data constraints"
    states = trajectory.states[0]
    return np.interp(hours, grid, states[:, 5]), np.interp(hours, grid, states[:, 0] + states[:, 1])


def test_calibrate_recovers_a_synthetic_series(tmp_path, capsys):
    from soilsciml.cli import main

    days_a = np.arange(11) * 0.0625  # every 1.5 h over 15 h
    days_b = np.arange(6) * 0.125  # every 3 h
    rows = []
    for name, days in (("A", days_a), ("B", days_b)):
        co2, biomass = _truth(days * 24.0)
        for i, day in enumerate(days):
            replicates = (1.01, 0.99) if name == "A" else (1.0,)
            for r, factor in enumerate(replicates):
                missing = name == "A" and i == 5 and r == 1
                value = "" if missing else repr(float(co2[i] * factor / UMOL_C_MG))
                # biomass observed (in ug C/g) in series A only
                mass = repr(float(biomass[i] * 1e3)) if name == "A" else ""
                rows.append([name, repr(float(day)), value, mass])
    path = _write_csv(tmp_path / "series.csv", ["series", "day", "co2_umol", "mic"], rows)
    out = tmp_path / "run"
    args = ["hysomi", "calibrate", str(path), "--time-column", "day", "--time-unit", "d"]
    args += ["--co2-column", "co2_umol", "--co2-unit", "umol/g", "--cumulative"]
    args += ["--biomass-column", "mic", "--biomass-unit", "ug/g"]
    args += ["--initial", *(f"{k}={v}" for k, v in PULSE.items())]
    args += ["--starts", "4", "--adam-steps", "150", "--polish-steps", "100", "--out", str(out)]
    assert main(args) == 0
    assert "A: ok" in capsys.readouterr().out
    report = json.loads((out / "fit.json").read_text())
    assert report["series"][0]["biomass_r2"] >= 0.99
    assert report["series"][1]["biomass_r2"] is None
    assert [s["series"] for s in report["series"]] == ["A", "B"]
    for entry in report["series"]:
        assert entry["status"] == "ok"
        assert entry["co2_r2"] >= 0.99
        assert entry["n_co2"] == (21 if entry["series"] == "A" else 6)
        assert set(entry["constraints"]) == {"P1", "P2", "P3", "P4", "P11", "P12", "C1", "C2", "C3"}
        assert set(entry["parameters"]) == set(model.PARAM_NAMES)
        for spec in model.PARAMETERS:
            value = entry["parameters"][spec.name]["value"]
            assert spec.lower <= value <= spec.upper
            assert entry["parameters"][spec.name]["unit"] == spec.unit
    for name in ("results.nc", "config.toml", "fit_A.png", "fit_B.png"):
        assert (out / name).is_file()
    from soilsciml.data.io import load_dataset

    result = load_dataset(out / "results.nc")
    assert result.sizes["obs"] == 22 and int(np.isnan(result["co2"].values[0]).sum()) == 1
    assert np.isnan(result["states"].sel(series="B", time=15.0)).sum() == 0


def test_units_are_converted_exactly(tmp_path):
    rows = [["0", "0", "0.2"], ["0.5", "10", "0.3"], ["1", "25", "0.5"], ["2", "40", ""]]
    path = _write_csv(tmp_path / "a.csv", ["t", "c", "b"], rows)
    fmt = IncubationFormat("t", "d", "c", "umol/g", biomass_column="b", biomass_unit="mmol/g")
    ds = read_incubation(path, fmt)
    np.testing.assert_array_equal(ds["time"].values[0], [0.0, 12.0, 24.0, 48.0])
    np.testing.assert_array_equal(ds["co2"].values[0], np.array([0, 10, 25, 40]) * 0.012011)
    np.testing.assert_array_equal(ds["biomass"].values[0, :3], np.array([0.2, 0.3, 0.5]) * 12.011)
    assert np.isnan(ds["biomass"].values[0, 3])
    minutes = read_incubation(path, IncubationFormat("t", "min", "c", "ug/g"))
    np.testing.assert_allclose(minutes["time"].values[0], [0, 0.5 / 60, 1 / 60, 2 / 60])
    np.testing.assert_allclose(minutes["co2"].values[0], [0, 0.01, 0.025, 0.04], rtol=1e-15)
    assert ds["co2"].attrs["units"] == "mg C/g" and ds["time"].attrs["units"] == "h"


def test_rate_and_cumulative_give_the_same_series(tmp_path):
    hours = np.array([0.0, 1.0, 2.5, 4.0, 6.0, 9.0])
    rate = np.array([0.01, 0.02, 0.05, 0.04, 0.03, 0.02])  # mg C/g/h
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(hours))])

    def table(name, times, values):
        rows = [[repr(float(t)), repr(float(v))] for t, v in zip(times, values, strict=True)]
        return _write_csv(tmp_path / name, ["time", "co2"], rows)

    from_rate = read_incubation(table("r.csv", hours, rate), IncubationFormat(co2_kind="rate"))
    from_cumulative = read_incubation(table("c.csv", hours, cumulative))
    np.testing.assert_allclose(from_rate["co2"].values, from_cumulative["co2"].values, atol=1e-15)
    replicated = _write_csv(
        tmp_path / "rr.csv",
        ["time", "co2"],
        [
            [repr(float(h)), repr(float(r * f))]
            for h, r in zip(hours, rate, strict=True)
            for f in (1.1, 0.9)
        ]
        + [["4.0", ""]],
    )
    from_replicates = read_incubation(replicated, IncubationFormat(co2_kind="rate"))
    values, times = from_replicates["co2"].values[0], from_replicates["time"].values[0]
    kept = ~np.isnan(values)
    assert kept.sum() == 2 * hours.size
    np.testing.assert_allclose(values[kept], np.repeat(cumulative, 2), rtol=1e-14)
    np.testing.assert_array_equal(times[kept], np.repeat(hours, 2))
    per_day = IncubationFormat(time_unit="d", co2_kind="rate")
    rate_per_day = read_incubation(table("rd.csv", hours / 24, rate * 24), per_day)
    np.testing.assert_allclose(rate_per_day["co2"].values, from_cumulative["co2"].values)


def test_cumulative_offset_and_sorting(tmp_path):
    rows = [["s", "2", "0.9"], ["s", "0", "0.5"], ["s", "0", "0.3"], ["s", "1", "0.6"]]
    ds = read_incubation(_write_csv(tmp_path / "o.csv", ["series", "time", "co2"], rows))
    assert float(ds["co2_offset"][0]) == pytest.approx(0.4)
    np.testing.assert_allclose(ds["time"].values[0], [0, 0, 1, 2])
    np.testing.assert_allclose(ds["co2"].values[0], [0.1, -0.1, 0.2, 0.5])


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "soilsciml", "hysomi", "calibrate", *args],
        capture_output=True,
        text=True,
    )


GOOD = [["0", "0"], ["1", "0.1"], ["2", "0.3"], ["3", "0.4"]]


@pytest.mark.parametrize(
    ("header", "rows", "options", "message"),
    [
        (["t", "co2"], GOOD, [], "column 'time' is missing"),
        (["time", "co2"], [*GOOD, ["4", "abc"]], [], "line 6: column 'co2' value 'abc' is not"),
        (["time", "co2"], GOOD, ["--co2-unit", "ppm"], "co2_unit must be one of"),
        (["time", "co2"], GOOD, ["--time-unit", "week"], "time_unit must be one of"),
        (["time", "co2"], [["-1", "0"], *GOOD], [], "line 2: column 'time' is negative"),
        (["time", "co2"], [*GOOD[:2], ["2", ""]], [], "at least 3 are needed"),
        (["time", "co2"], [["", "0"], *GOOD], [], "line 2: column 'time' has no value"),
        (["time", "co2"], [], [], "no data rows"),
        (["time", "co2"], GOOD, ["--initial", "X=1"], "unknown pool 'X'"),
        (["time", "co2"], GOOD, ["--initial", "C_L=-1"], "finite number >= 0"),
        (["time", "co2"], GOOD, ["--model", "somewhere"], "not available yet"),
        (["time", "co2"], GOOD, ["--factor", "P5=0.5"], "'P5' is not in the 'real' setting"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, header, rows, options, message):
    path = _write_csv(tmp_path / "bad.csv", header, rows)
    result = _run(str(path), *options, "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_missing_file_and_ragged_rows(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_incubation(tmp_path / "absent.csv")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("time,co2\n0,0\n1,0.1,7\n")
    with pytest.raises(IncubationError, match="line 3: 3 cells, the header has 2"):
        read_incubation(ragged)


def test_initial_pools_are_validated():
    pools = initial_pools(["C_L=6.0", "B_D=0.33", "B_A=0.03"])
    expected = model.INITIAL_STATE.copy()
    expected[[0, 1, 3]] = [0.03, 0.33, 6.0]
    np.testing.assert_array_equal(pools, expected)
    for bad, message in (
        (["C_L"], "expected NAME=VALUE"),
        (["CO2=1"], "unknown pool 'CO2'"),
        (["C_L=abc"], "is not a number"),
        (["C_L=nan"], "finite number >= 0"),
        (["C_L=1", "C_L=2"], "set twice"),
    ):
        with pytest.raises(InitialPoolError, match=message):
            initial_pools(bad)


def test_netcdf_input_and_traits(tmp_path):
    import xarray as xr

    rows = [["a", "0", "0", "7"], ["a", "1", "0.2", "7"], ["b", "0", "0", "9"]]
    rows += [["b", "2", "0.5", "9"], ["a", "2", "0.3", "7"], ["b", "3", "0.6", "9"]]
    path = _write_csv(tmp_path / "t.csv", ["series", "time", "co2", "trait_gc"], rows)
    from_csv = read_incubation(path)
    np.testing.assert_array_equal(from_csv["traits"].values, [[7.0], [9.0]])
    columns = list(zip(*rows, strict=True))
    table = xr.Dataset(
        {
            "series": ("row", list(columns[0])),
            "time": ("row", np.array(columns[1], dtype=float)),
            "co2": ("row", np.array(columns[2], dtype=float)),
            "trait_gc": ("row", np.array(columns[3], dtype=float)),
        }
    )
    table.to_netcdf(tmp_path / "t.nc")
    from_netcdf = read_incubation(tmp_path / "t.nc")
    for name in ("time", "co2", "traits"):
        np.testing.assert_array_equal(from_netcdf[name].values, from_csv[name].values)
    rows[1][3] = "8"
    with pytest.raises(IncubationError, match="trait column 'trait_gc' varies within series 'a'"):
        read_incubation(_write_csv(tmp_path / "v.csv", ["series", "time", "co2", "trait_gc"], rows))


def test_failed_solves_are_reported_not_raised(tmp_path):
    from soilsciml.config import HySoMiCalibrationConfig, SolverConfig
    from soilsciml.hysomi.calibrate import calibrate_hysomi, calibration_report, write_calibration

    path = _write_csv(tmp_path / "s.csv", ["time", "co2"], GOOD)
    config = HySoMiCalibrationConfig(
        n_starts=2, adam_steps=2, polish_steps=0, solver=SolverConfig(max_steps=2)
    )
    result = calibrate_hysomi(read_incubation(path), config)
    entry = calibration_report(result)["series"][0]
    assert entry["status"].startswith("max_steps reached")
    assert entry["co2_r2"] is None
    write_calibration(result, config, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "fit.json").read_text())["series"][0]["loss"] > 0
