"""Measured profiles: the equal-area spline, the layer-mean operator, profile tables and the
fit on layers at sparse campaigns."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from soilsciml.config import (
    ConfigError,
    SOCDataConfig,
    SOCFitConfig,
    SOCLossConfig,
    SOCNetworkConfig,
    SOCTrainConfig,
)
from soilsciml.models.soc_layers import layer_mean_matrix
from soilsciml.soc.profiles import ProfileTableError, read_profiles
from soilsciml.soc.spline import equal_area_spline

EXAMPLE = Path(__file__).parents[1] / "examples" / "data" / "profiles_synthetic.csv"


@st.composite
def profiles(draw, gaps=True):
    """Layer bounds (m, sorted, optional gaps) and layer means of one profile."""
    n = draw(st.integers(1, 8))
    widths = draw(st.lists(st.floats(0.01, 0.4), min_size=n, max_size=n))
    spaces = draw(st.lists(st.floats(0.0, 0.2) if gaps else st.just(0.0), min_size=n, max_size=n))
    top, bottom, depth = [], [], draw(st.floats(0.0, 0.2))
    for width, space in zip(widths, spaces, strict=True):
        depth += space
        top.append(depth)
        depth += width
        bottom.append(depth)
    values = draw(st.lists(st.floats(0.01, 5.0), min_size=n, max_size=n))
    return np.array(top), np.array(bottom), np.array(values)


def test_spline_matches_mpspline2_reference_values():
    """mpspline2's own test (layers 0-10 ... 30-40 cm, lambda 0.1): s_bar, slopes, alfa."""
    top, bottom = np.array([0, 10, 20, 30]) / 100, np.array([10, 20, 30, 40]) / 100
    spline = equal_area_spline(top, bottom, np.array([5.4, 5.3, 5.6, 7.0]), lam=0.1)
    assert spline.fitted[0] == pytest.approx(5.3938765799840498, rel=1e-12)
    alpha, b0, gamma = spline.coefficients[0]
    assert alpha == pytest.approx(5.4193908300505127, rel=1e-12)
    assert b0 == 0.0
    assert gamma == pytest.approx(-0.00076542750199388358, rel=1e-10)
    # b1 of the first layer: the slope at its bottom, b0 + 2 gamma h
    assert b0 + 2 * gamma * 10 == pytest.approx(-0.015308550039877671, rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(profiles())
def test_spline_preserves_every_layer_mean_without_smoothing(profile):
    top, bottom, values = profile
    spline = equal_area_spline(top, bottom, values, lam=0.0)
    np.testing.assert_allclose(spline.layer_means(top, bottom), values, rtol=1e-11, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(profiles(), st.floats(0.0, 10.0))
def test_smoothed_spline_is_equal_area_and_continuously_differentiable(profile, lam):
    """Its layer means are its fitted values to round-off; they sum to the data's sum
    (Q 1 = 0 in Z); the spline and its slope are continuous at every piece boundary."""
    top, bottom, values = profile
    spline = equal_area_spline(top, bottom, values, lam=lam)
    np.testing.assert_allclose(
        spline.layer_means(top, bottom), spline.fitted, rtol=1e-10, atol=1e-12
    )
    assert spline.fitted.sum() == pytest.approx(values.sum(), rel=1e-10)
    edges = spline.edges / 100
    # thin layers with contrasting values give slopes of ~1e3 per m and curvatures of ~1e5
    # per m2: values are extrapolated to the edge, and eps keeps eps * curvature small
    eps = 1e-9
    for edge in edges[1:-1]:
        left, right = spline([edge - eps, edge - 2 * eps]), spline([edge + eps, edge + 2 * eps])
        scale = 1.0 + np.abs(values).max()
        at_edge_left, at_edge_right = 2 * left[0] - left[1], 2 * right[0] - right[1]
        assert at_edge_left == pytest.approx(at_edge_right, abs=1e-6 * scale)
        slope_left, slope_right = (left[0] - left[1]) / eps, (right[1] - right[0]) / eps
        assert slope_left == pytest.approx(slope_right, abs=1e-3 * scale)


def test_layer_means_of_piecewise_linear_states_are_exact():
    rng = np.random.default_rng(3)
    nodes = np.linspace(0.0, 1.0, 13)
    top = np.array([0.0, 0.07, 0.31, 0.55, 0.999])
    bottom = np.array([0.07, 0.31, 0.55, 1.0, 1.0 + 1e-12])
    matrix = layer_mean_matrix(nodes, top[:4], bottom[:4])
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-14)
    # a linear state: the layer mean is its value at the layer's midpoint
    np.testing.assert_allclose(matrix @ (2.0 - 1.5 * nodes), 2.0 - 0.75 * (top[:4] + bottom[:4]))
    state = rng.uniform(0.1, 2.0, nodes.size)
    for k in range(4):
        exact = quad(np.interp, top[k], bottom[k], args=(nodes, state), points=nodes, limit=100)
        assert (matrix @ state)[k] == pytest.approx(exact[0] / (bottom[k] - top[k]), rel=1e-12)
    padded = layer_mean_matrix(nodes, [0.0, np.nan], [0.1, np.nan])
    assert np.all(padded[1] == 0.0)
    with pytest.raises(ValueError, match="outside the model grid"):
        layer_mean_matrix(nodes, [0.5], [1.2])


def _table(changes=None) -> pd.DataFrame:
    rows = [
        ("A", 1990, 0, 10, 1.5, 6.5, 20.0, 25.0),
        ("A", 1990, 10, 30, 1.0, 6.4, 18.0, 27.0),
        ("A", 1990, 30, 60, 0.5, 6.3, 15.0, 30.0),
        ("B", 1995, 0, 20, 2.0, 5.5, 12.0, 15.0),
        ("B", 1995, 20, 50, 0.8, 5.6, 10.0, 18.0),
    ]
    columns = ["site", "year", "top [cm]", "bottom [cm]", "soc [%]", "ph [1]"]
    columns += ["cec [cmol(+)/kg]", "clay [%]"]
    frame = pd.DataFrame(rows, columns=columns)
    for (row, column), value in (changes or {}).items():
        frame.loc[row, column] = value
    return frame


def test_read_profiles_gives_a_cf_dataset_in_canonical_units():
    frame = _table().rename(
        columns={"soc [%]": "soc [g/kg]", "cec [cmol(+)/kg]": "cec [mmol(+)/kg]"}
    )
    ds = read_profiles(frame)
    assert ds["soc"].dims == ("site", "time", "layer")
    assert list(ds["site"].values) == ["A", "B"] and list(ds["time"].values) == [1990.0, 1995.0]
    np.testing.assert_allclose(
        ds["depth_bounds"].sel(site="A").values, [[0, 0.1], [0.1, 0.3], [0.3, 0.6]]
    )
    assert np.isnan(ds["depth_bounds"].sel(site="B").values[2]).all()  # padded layer
    assert ds["soc"].sel(site="A", time=1990).values[0] == pytest.approx(0.15)  # 1.5 g/kg
    assert ds["cec"].attrs["units"] == "cmol(+)/kg"
    assert ds["cec"].sel(site="A", time=1990).values[0] == pytest.approx(2.0)
    assert ds["depth"].attrs["bounds"] == "depth_bounds"
    assert np.isnan(ds["soc"].sel(site="A", time=1995)).all()  # A not sampled in 1995


def test_read_profiles_converts_stocks_and_dates(tmp_path):
    frame = _table().drop(columns="soc [%]")
    frame["soc_stock [kg/m2]"] = [1.95, 2.6, 1.95, 5.2, 3.12]
    frame["bulk_density [g/cm3]"] = 1.3
    frame["date"] = ["1990-07-02"] * 3 + ["1995-01-01"] * 2
    path = tmp_path / "stocks.xlsx"
    frame.drop(columns="year").to_excel(path, index=False)
    ds = read_profiles(path)
    # 0.1 stock / (BD h): 1.95 kg/m2 over 0.1 m at 1.3 g/cm3 is 1.5 %
    assert ds["soc"].isel(site=0, time=0).values[:3] == pytest.approx([1.5, 1.0, 0.5])
    assert ds["time"].values == pytest.approx([1990 + 182 / 365, 1995.0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({(1, "top [cm]"): 40}, r"site 'A', year 1990, layer 40-30 cm: bottom is not below top"),
        ({(1, "top [cm]"): 5}, r"site 'A', year 1990, layer 5-30 cm: overlaps layer 0-10 cm"),
        ({(1, "top [cm]"): 15}, r"site 'A', year 1990, layer 15-30 cm: gap after layer 0-10 cm"),
        ({(1, "top [cm]"): 0, (1, "bottom [cm]"): 10}, r"layer 0-10 cm: listed twice"),
        ({(4, "ph [1]"): 15.0}, r"site 'B', year 1995, layer 20-50 cm: ph = 15 1 is outside"),
        ({(3, "top [cm]"): -5}, r"site 'B', year 1995, layer -5-20 cm: negative depth"),
    ],
)
def test_bad_layers_get_one_line_errors_naming_site_and_layer(changes, message):
    with pytest.raises(ProfileTableError, match=message) as error:
        read_profiles(_table(changes))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("rename", "units", "message"),
    [
        ({"soc [%]": "soc [mg/l]"}, None, r"column 'soc' has unknown units 'mg/l'; known: %"),
        ({"soc [%]": "soc"}, None, r"column 'soc' has no units: write them in the header"),
        ({"clay [%]": "sand [%]"}, None, r"column 'clay' is missing"),
        ({"soc [%]": "soc"}, {"soc": "g/kg"}, None),
    ],
)
def test_bad_columns_get_one_line_errors(rename, units, message):
    frame = _table().rename(columns=rename)
    if message is None:
        assert read_profiles(frame, units=units)["soc"].max() == pytest.approx(0.2)
        return
    with pytest.raises(ProfileTableError, match=message) as error:
        read_profiles(frame, units=units)
    assert "\n" not in str(error.value)


def test_example_csv_reads_and_has_sparse_campaigns():
    ds = read_profiles(EXAMPLE)
    assert ds.sizes["site"] == 16
    campaigns = np.isfinite(ds["soc"].values).any(axis=2).sum(axis=1)
    assert np.all(campaigns == 2)
    years = ds["time"].values
    first = [years[np.isfinite(ds["soc"].values[s]).any(axis=1)] for s in range(16)]
    assert all(b - a == 20 for a, b in first)
    assert len({a for a, _ in first}) > 1  # sites sampled in different years
    assert ds["cec"].min() > 5 and ds["cec"].max() < 60  # real soils' CEC


QUICK = SOCFitConfig(
    network=SOCNetworkConfig(h1=4, h2=4, activation="tanh", input_scaling="standardise"),
    loss=SOCLossConfig(target="trajectory"),
    train=SOCTrainConfig(adam_iters=15, lr=1e-2, second_stage="none", patience=15),
    data=SOCDataConfig(nz=11),
)


@pytest.fixture(scope="module")
def example():
    return read_profiles(EXAMPLE).isel(site=slice(0, 4))


def test_profile_problem_maps_layers_sites_and_years(example):
    from soilsciml.soc.fit import problem_from_dataset

    problem = problem_from_dataset(example, QUICK)
    assert problem.initial.shape == (4, 11)
    assert problem.observation.shape == (4, example.sizes["layer"], 11)
    # years since each site's own first campaign; the other sites' years are solve times too
    observed = problem.times[np.isfinite(problem.targets).any(axis=(0, 2))]
    assert list(observed) == [0.0, 20.0]
    assert problem.targets.shape == (4, problem.times.size, example.sizes["layer"])
    # the initial state is the first campaign's spline: its layer means are the data's,
    # up to the smoothing and the piecewise-linear nodes
    first = problem.targets[:, 0]
    means = np.einsum("sz,soz->so", problem.initial, problem.observation)
    keep = np.isfinite(first)
    assert np.abs(means[keep] - first[keep]).max() < 0.1 * first[keep].max()


@pytest.mark.slow
def test_quick_profile_fit_learns_reports_and_saves(example, tmp_path):
    from soilsciml.soc.fit import fit_soc

    with pytest.warns(UserWarning, match="constrain .* network weights"):
        result = fit_soc(example, QUICK, progress=False)
    losses = result.history["adam"]
    assert result.status == "ok" and losses.min() < 0.5 * losses[0]
    metrics = result.metrics()
    assert metrics["layers_scored"] > 0 and "r2_clean" in metrics and "2" in metrics["by_campaign"]
    assert result.predictions["soc_pred"].dims == ("site", "time", "layer")
    result.save(tmp_path / "run")
    assert (tmp_path / "run" / "profiles_by_site.png").is_file()


def test_paper_scaling_is_refused_on_real_cec(example):
    from soilsciml.soc.fit import fit_soc

    paper = SOCFitConfig(network=SOCNetworkConfig(input_scaling="paper"), data=SOCDataConfig(nz=11))
    with pytest.raises(
        ConfigError, match="cec at up to .* use network.input_scaling = 'standardise'"
    ):
        fit_soc(example, paper, progress=False)


@pytest.mark.slow
def test_cli_writes_synthetic_profiles_and_fits_them(tmp_path, capsys):
    from soilsciml.cli import main

    table = tmp_path / "profiles.csv"
    assert (
        main(["soc", "synthetic-profiles", "--sites", "3", "--seed", "4", "--out", str(table)]) == 0
    )
    assert read_profiles(table).sizes["site"] == 3
    config = tmp_path / "fit.toml"
    config.write_text(
        '[network]\nh1 = 3\nh2 = 3\ninput_scaling = "standardise"\n'
        '[loss]\ntarget = "trajectory"\n[train]\nadam_iters = 3\nsecond_stage = "none"\n'
        "[data]\nnz = 11\n"
    )
    out = tmp_path / "run"
    args = ["soc", "fit", str(table), "--profiles", "--config", str(config), "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    assert "r2_observed" in capsys.readouterr().out
    assert (out / "profiles_by_site.png").is_file() and (out / "results.nc").is_file()
