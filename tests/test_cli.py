"""The command line: simulate, noise, and one-line errors for bad input."""

import subprocess
import sys

import numpy as np

from soilsciml.cli import main
from soilsciml.data.io import load_dataset


def test_simulate_then_noise(tmp_path, capsys):
    clean = tmp_path / "clean.nc"
    assert (
        main(
            [
                "soc",
                "simulate",
                "--truth",
                "transport_only",
                "--boundary",
                "zero_flux",
                "--nz",
                "20",
                "--years",
                "10",
                "--out",
                str(clean),
            ]
        )
        == 0
    )
    ds = load_dataset(clean)
    assert ds["soc"].dims == ("time", "depth")
    assert ds.sizes == {"time": 11, "depth": 20}
    assert set(ds.data_vars) == {"soc", "ph", "cec", "clay"}
    assert ds.attrs["boundary"] == "zero_flux"

    noisy = tmp_path / "noisy.nc"
    assert (
        main(
            [
                "soc",
                "noise",
                str(clean),
                "--level",
                "0.07",
                "--kind",
                "iid",
                "--seed",
                "1",
                "--out",
                str(noisy),
            ]
        )
        == 0
    )
    nds = load_dataset(noisy)
    np.testing.assert_array_equal(nds["soc_clean"].values, ds["soc"].values)
    assert not np.array_equal(nds["soc"].values, ds["soc"].values)
    assert nds.attrs["noise_kind"] == "iid"


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "soilsciml", *args], capture_output=True, text=True
    )


def test_bad_input_exits_nonzero_with_one_line(tmp_path):
    missing = _run("soc", "noise", str(tmp_path / "missing.nc"), "--out", str(tmp_path / "o.nc"))
    assert missing.returncode != 0
    assert missing.stderr.strip().count("\n") == 0
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr

    junk = tmp_path / "junk.nc"
    junk.write_text("garbage")
    bad = _run("soc", "noise", str(junk), "--out", str(tmp_path / "o.nc"))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "not a readable NetCDF" in bad.stderr


def test_invalid_dataset_is_reported(tmp_path):
    from soilsciml.config import SOCSimulationConfig
    from soilsciml.data.io import save_dataset
    from soilsciml.soc.simulate import simulate_soc

    ds = simulate_soc(SOCSimulationConfig(years=2.0)).drop_vars("clay")
    path = save_dataset(ds, tmp_path / "noclay.nc")
    result = _run("soc", "noise", str(path), "--out", str(tmp_path / "o.nc"))
    assert result.returncode == 2
    assert "variable 'clay'" in result.stderr and "Traceback" not in result.stderr
