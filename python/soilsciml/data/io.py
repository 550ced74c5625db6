"""NetCDF reading and writing that preserves values and attributes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from soilsciml.data.schema import DatasetError

__all__ = ["load_dataset", "save_dataset"]

NETCDF_ENGINE = "netcdf4"


def _storable(value):
    """Attribute values NetCDF can hold: str, numbers and numeric arrays; others as JSON text."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, str | int | float | np.integer | np.floating | np.ndarray):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return np.asarray(value)
    return json.dumps(value, default=str)


def save_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to NetCDF-4 at ``path``, creating parent folders.

    Attributes that NetCDF cannot hold (booleans, dicts, None) are written as text.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = ds.copy()
    out.attrs = {k: _storable(v) for k, v in ds.attrs.items()}
    for name in out.variables:
        out[name].attrs = {k: _storable(v) for k, v in ds[name].attrs.items()}
    tmp = path.with_name(path.name + ".part")
    out.to_netcdf(tmp, engine=NETCDF_ENGINE)
    tmp.replace(path)
    return path


def load_dataset(path: str | Path) -> xr.Dataset:
    """Read a NetCDF file fully into memory.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DatasetError
        If the file is not a readable NetCDF file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return xr.load_dataset(path, engine=NETCDF_ENGINE, decode_times=False)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path} is not a readable NetCDF file: {err}") from err
