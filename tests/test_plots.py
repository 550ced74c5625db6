"""Figures are plain matplotlib Figures: no pyplot, no backend switch at import, files written."""

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from soilsciml.plots import InlineFigure
from soilsciml.plots.soc import plot_drivers, plot_profiles

PNG = b"\x89PNG\r\n\x1a\n"


def test_importing_the_figure_modules_loads_no_pyplot():
    code = (
        "import sys, matplotlib\n"
        "backend = dict.__getitem__(matplotlib.rcParams, 'backend')\n"
        "import importlib, pkgutil, soilsciml.plots\n"
        "for module in pkgutil.iter_modules(soilsciml.plots.__path__):\n"
        "    importlib.import_module(f'soilsciml.plots.{module.name}')\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert dict.__getitem__(matplotlib.rcParams, 'backend') == backend\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _dataset() -> xr.Dataset:
    depth = np.linspace(0.0, 1.0, 6)
    time = np.array([0.0, 1.0, 2.0])
    field = np.outer(np.ones(3), np.exp(-depth))
    attrs = {"units": "%", "long_name": "soil organic carbon"}
    return xr.Dataset(
        {
            "soc": (("time", "depth"), field, attrs),
            "ph": (("time", "depth"), 6.5 + 0 * field, {"units": "1", "long_name": "soil pH"}),
            "cec": (("time", "depth"), 0.5 + 0 * field, {"units": "cmol/kg", "long_name": "CEC"}),
            "clay": (("time", "depth"), 25 + 0 * field, {"units": "%", "long_name": "clay"}),
        },
        coords={"time": time, "depth": ("depth", depth, {"units": "m", "positive": "down"})},
    )


def test_figures_are_returned_and_written(tmp_path):
    ds = _dataset()
    for figure in (plot_profiles(ds), plot_drivers(ds)):
        assert isinstance(figure, Figure)
        path = tmp_path / "figure.png"
        figure.savefig(path, dpi=50)
        assert path.read_bytes()[:8] == PNG
        assert isinstance(figure, InlineFigure) and figure._repr_png_()[:8] == PNG


def test_a_returned_figure_shows_as_an_image_in_jupyter():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from soilsciml.plots import new_figure\n"
            "figure, axes = new_figure(figsize=(2, 2))\n"
            "axes.plot([0, 1])\n"
            "figure"
        )
    ]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    (output,) = notebook.cells[0].outputs
    assert "image/png" in output["data"]


def test_sweep_lines_label_their_units_and_keep_a_zero_violation():
    from soilsciml.plots.hysomi import sweep_lines

    records = [
        {"model": m, "n_train": n, "mse_hidden": 0.01 * k, "constraint_sum": v}
        for m, k, v in (("hysomi", 1, 0.0), ("unconstrained", 2, 1.5))
        for n in (30, 300)
    ]
    fig = sweep_lines(records, "n_train", ("mse_hidden", "constraint_sum"))
    errors, violations = fig.axes
    assert errors.get_xlabel() == "training samples"
    assert "(mg C/g)" in errors.get_ylabel() and errors.get_yscale() == "log"
    assert violations.get_yscale() == "symlog"
    hysomi_line = violations.get_lines()[0]
    assert list(hysomi_line.get_ydata()) == [0.0, 0.0]  # drawn, where a log axis drops it
    assert violations.get_ylim()[0] <= 0.0
    # no zero: a log axis, whose tick labels read within a decade (3-6)
    positive = [{**r, "constraint_sum": 3.0 + r["constraint_sum"] * 2} for r in records]
    violations = sweep_lines(positive, "n_train", ("constraint_sum",)).axes[0]
    assert violations.get_yscale() == "log"


def _predictions(offset: float, failed: int | None = None) -> xr.Dataset:
    """Test predictions of 4 samples: the truth plus ``offset``; sample ``failed`` is far off
    and marked as a failed solve."""
    from soilsciml.models.hysomi import STATE_NAMES

    rng = np.random.default_rng(0)
    truth = rng.uniform(0.1, 1.0, size=(4, 5, len(STATE_NAMES)))
    truth[2, -1, STATE_NAMES.index("B_D")] = 5.0  # the most dormant sample at the end
    predicted = truth + offset
    status = np.zeros(4, dtype=int)
    if failed is not None:
        predicted[failed] += 100.0
        status[failed] = 1
    pools = ("sample", "time", "state")
    return xr.Dataset(
        {
            "states_true": (pools, truth),
            "states_pred": (pools, predicted),
            "solve_status": (("sample",), status),
        },
        coords={"sample": [10, 11, 12, 13], "time": np.arange(5.0), "state": list(STATE_NAMES)},
    )


def test_model_trajectories_show_the_most_dormant_sample_under_each_model():
    from soilsciml.plots.hysomi import model_trajectories, most_dormant_sample

    predictions = {"hysomi": _predictions(0.1), "unconstrained": _predictions(0.3)}
    assert most_dormant_sample(predictions["hysomi"]) == 2
    fig = model_trajectories(predictions)
    first = fig.axes[0]
    assert [line.get_label() for line in first.get_lines()] == ["truth", "hysomi", "unconstrained"]
    truth, hysomi, _ = first.get_lines()
    expected = predictions["hysomi"]["states_true"].values[2, :, 0]
    np.testing.assert_allclose(truth.get_ydata(), expected)
    np.testing.assert_allclose(hysomi.get_ydata(), expected + 0.1)
    assert "test sample 12" in fig._suptitle.get_text()
    assert all(ax.get_ylabel() == "mg C/g" for ax in fig.axes)


def test_error_over_time_is_the_test_mse_per_pool_without_failed_solves():
    from soilsciml.plots.hysomi import error_over_time

    fig = error_over_time({"hysomi": _predictions(0.1, failed=1), "ml": _predictions(0.5)})
    for ax in fig.axes:
        hysomi, ml = ax.get_lines()
        np.testing.assert_allclose(hysomi.get_ydata(), 0.01)  # the failed sample is left out
        np.testing.assert_allclose(ml.get_ydata(), 0.25)
        assert ax.get_yscale() == "log" and "mg C/g" in ax.get_ylabel()
    assert all("(h)" in ax.get_xlabel() for ax in fig.axes[-3:])
