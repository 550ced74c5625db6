"""Dataset validation: every malformed dataset gets a clear DatasetError naming the problem."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soilsciml.data.schema import DatasetError, validate_soc_dataset


def _valid(nt=4, nz=6):
    from soilsciml.soc.simulate import soc_dataset

    depth = np.linspace(0, 1, nz)
    times = np.arange(float(nt))
    shape = (nt, nz)
    drivers = {"ph": np.full(shape, 6.5), "cec": np.full(shape, 0.5), "clay": np.full(shape, 25.0)}
    return soc_dataset(times, depth, np.full(shape, 1.0), drivers)


def _drop(ds, name):
    return ds.drop_vars(name)


def _set(name, index, value):
    def corrupt(ds):
        if name not in ds:
            return ds  # already dropped by another corruption
        # (time, depth) positions by name: they hold after a transpose or an extra dimension
        corrupted = ds[name].copy(deep=True)
        corrupted[dict(zip(("time", "depth"), index, strict=True))] = value
        return ds.assign({name: corrupted})

    return corrupt


def _units(name, units):
    def corrupt(ds):
        if name not in ds.variables:
            return ds
        ds = ds.copy()
        if units is None:
            ds[name].attrs.pop("units", None)
        else:
            ds[name].attrs["units"] = units
        return ds

    return corrupt


def _coord(name, values_fn):
    def corrupt(ds):
        values = values_fn(ds[name].values.copy())
        return ds.assign_coords({name: (name, values, ds[name].attrs)})

    return corrupt


def _transpose(ds):
    if "soc" not in ds:
        return ds
    return ds.assign(soc=ds["soc"].transpose(*reversed(ds["soc"].dims)))


CORRUPTIONS = {
    "missing soc": (lambda ds: _drop(ds, "soc"), "variable 'soc'.*missing"),
    "missing ph": (lambda ds: _drop(ds, "ph"), "variable 'ph'.*missing"),
    "missing cec": (lambda ds: _drop(ds, "cec"), "variable 'cec'.*missing"),
    "wrong dims": (_transpose, "variable 'soc' has dims"),
    "negative soc": (_set("soc", (1, 2), -0.1), "variable 'soc' has values below 0"),
    "negative cec": (_set("cec", (0, 0), -1.0), "variable 'cec' has values below 0"),
    "negative clay": (_set("clay", (1, 0), -5.0), "variable 'clay' has values below 0"),
    "ph above 14": (_set("ph", (0, 2), 15.0), "variable 'ph' has values above 14"),
    "ph below 0": (_set("ph", (0, 2), -1.0), "variable 'ph' has values below 0"),
    "nan driver": (_set("clay", (1, 1), np.nan), "variable 'clay' has NaN"),
    "inf soc": (_set("soc", (1, 1), np.inf), "variable 'soc' has infinite"),
    "unknown units": (_units("soc", "furlongs"), "variable 'soc' has unknown units"),
    "no units": (_units("ph", None), "variable .ph. has no .units."),
    "depth units": (_units("depth", "fathom"), "coordinate 'depth' has unknown units"),
    "depth reversed": (_coord("depth", lambda v: v[::-1]), "coordinate 'depth' has non-monotonic"),
    "depth duplicated": (_coord("depth", lambda v: np.r_[v[:1], v[:-1]]), "'depth' has duplicated"),
    "time shuffled": (_coord("time", lambda v: v[[1, 0, *range(2, v.size)]]), "'time' has non-mon"),
    "time nan": (_coord("time", lambda v: np.r_[np.nan, v[1:]]), "coordinate 'time' has NaN"),
    "extra dim": (lambda ds: ds.expand_dims(member=2), "unexpected dimension"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_listed_malformations_raise_clear_errors(case):
    corrupt, message = CORRUPTIONS[case]
    with pytest.raises(DatasetError, match=message):
        validate_soc_dataset(corrupt(_valid()))


def test_valid_dataset_passes_with_nan_targets_and_unit_conversion():
    ds = _valid()
    ds = _set("soc", (2, 2), np.nan)(ds)
    ds["soc"] = ds["soc"] * 10.0
    ds["soc"].attrs.update(units="g/kg", long_name="soil organic carbon")
    depth_cm = ds.assign_coords(depth=("depth", ds["depth"].values * 100, {"units": "cm"}))
    out = validate_soc_dataset(depth_cm)
    assert out["soc"].attrs["units"] == "%"
    np.testing.assert_allclose(np.nanmax(out["soc"].values), 1.0)
    np.testing.assert_allclose(out["depth"].values[-1], 1.0)
    assert np.isnan(out["soc"].values[2, 2])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cases=st.lists(st.sampled_from(sorted(CORRUPTIONS)), min_size=1, max_size=3, unique=True),
    nt=st.integers(2, 5),
    nz=st.integers(3, 7),
)
def test_random_malformed_datasets_never_pass_or_crash(cases, nt, nz):
    ds = _valid(nt, nz)
    for case in cases:
        ds = CORRUPTIONS[case][0](ds)
    with pytest.raises(DatasetError):
        validate_soc_dataset(ds)


@settings(max_examples=40, deadline=None)
@given(
    value=st.floats(allow_nan=True, allow_infinity=True), var=st.sampled_from(["ph", "cec", "clay"])
)
def test_any_driver_value_is_accepted_only_when_physical(value, var):
    ds = _set(var, (0, 0), value)(_valid())
    bounds = {"ph": (0, 14), "cec": (0, 500), "clay": (0, 100)}[var]
    physical = np.isfinite(value) and bounds[0] <= value <= bounds[1]
    if physical:
        assert validate_soc_dataset(ds)[var].values[0, 0] == value
    else:
        with pytest.raises(DatasetError, match=var):
            validate_soc_dataset(ds)


def test_not_a_dataset():
    with pytest.raises(DatasetError, match="expected an xarray.Dataset"):
        validate_soc_dataset(xr.DataArray([1.0]))
