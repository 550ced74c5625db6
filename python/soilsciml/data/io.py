"""NetCDF reading and writing that preserves values and attributes; strict JSON text.

Metrics and report files are strict JSON (RFC 8259), readable by any parser: NaN and
infinite numbers, which JSON cannot hold, are written as ``null`` (:func:`json_text`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from soilsciml.data.schema import DatasetError

__all__ = ["json_safe", "json_text", "load_dataset", "save_dataset"]

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


def json_safe(value: Any) -> Any:
    """``value`` as strict-JSON data: NaN and +-inf as None, numpy scalars and arrays as
    Python numbers and lists, tuples as lists, mapping keys as strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def json_text(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``value`` (see :func:`json_safe`), never ``NaN`` or ``Infinity``."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
