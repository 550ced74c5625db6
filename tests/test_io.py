"""NetCDF round trip."""

import numpy as np
import pytest

from soilsciml.config import NoiseConfig
from soilsciml.data.io import load_dataset, save_dataset
from soilsciml.data.schema import DatasetError, validate_soc_dataset
from soilsciml.noise import add_noise


def test_round_trip_preserves_values_and_attrs(reference_dataset, tmp_path):
    ds = add_noise(reference_dataset, NoiseConfig(level=0.07, seed=2))
    path = save_dataset(ds, tmp_path / "sub" / "noisy.nc")
    back = load_dataset(path)
    for name in ds.variables:
        np.testing.assert_array_equal(back[name].values, ds[name].values)
        assert back[name].attrs == ds[name].attrs
    assert back.attrs == ds.attrs
    validate_soc_dataset(back)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "nope.nc")
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    with pytest.raises(DatasetError, match="not a readable NetCDF"):
        load_dataset(junk)
