"""SOC dataset schema and validation.

A SOC dataset has dims ``time`` (years) and ``depth`` (m, positive down), optionally ``site``,
and the variables ``soc`` (target, NaN allowed and masked later), ``ph``, ``cec`` and ``clay``
(drivers, no NaN). Validation checks everything before any compute and raises a
:class:`DatasetError` that names the variable and the problem; recognised alternative units are
converted to the canonical ones.

Every variable and coordinate needs a ``units`` attribute (a string) and real numbers (float or
integer dtype: no strings, booleans or complex numbers), within its physical bounds
(:data:`SOC_VARIABLES`, :data:`COORDS`): SOC 0-100 %, pH 0-14, CEC 0-500 cmol(+)/kg, clay
0-100 %. A profile deeper than :data:`MAX_DEPTH_M` (10 m; often a depth in cm labelled ``m``)
is refused unless the caller allows it (``max_depth`` argument, or a ``max_depth`` attribute
on the depth coordinate, in m); a time span over :data:`MAX_YEARS` and more depth points than
:data:`MAX_DEPTH_POINTS` are refused too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

__all__ = [
    "COORDS",
    "MAX_DEPTH_M",
    "MAX_DEPTH_POINTS",
    "MAX_YEARS",
    "SOC_VARIABLES",
    "DatasetError",
    "VariableSpec",
    "check_real",
    "validate_soc_dataset",
]

#: Deepest profile accepted without an explicit ``max_depth``, in m.
MAX_DEPTH_M = 10.0
#: Most depth points a dataset may have (the cap of ``grid.nz``).
MAX_DEPTH_POINTS = 2000
#: Longest time span accepted, in years (the cap of ``years``).
MAX_YEARS = 10_000.0


class DatasetError(ValueError):
    """A dataset does not follow the schema; the message names the variable."""


@dataclass(frozen=True)
class VariableSpec:
    """One variable or coordinate of the schema.

    Parameters
    ----------
    units : str
        Canonical units.
    long_name : str
        Human-readable name, used for plot labels.
    aliases : dict
        Other accepted units and the factor that converts them to ``units``.
    minimum, maximum : float or None
        Physical bounds (inclusive).
    allow_nan : bool
        Whether missing values are allowed (targets only).
    standard_name : str or None
        CF standard name where CF defines one.
    """

    units: str
    long_name: str
    aliases: tuple[tuple[str, float], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    allow_nan: bool = False
    standard_name: str | None = None

    def factor(self, units: str) -> float | None:
        """Conversion factor from ``units`` to the canonical units, or None if unknown."""
        if units == self.units:
            return 1.0
        return dict(self.aliases).get(units)

    def attrs(self) -> dict[str, str]:
        """CF-style attributes for a variable of this spec."""
        out = {"units": self.units, "long_name": self.long_name}
        if self.standard_name:
            out["standard_name"] = self.standard_name
        return out


COORDS: dict[str, VariableSpec] = {
    "time": VariableSpec("yr", "time since start", (("year", 1.0), ("years", 1.0), ("a", 1.0))),
    "depth": VariableSpec(
        "m",
        "depth below the surface",
        (("cm", 0.01), ("mm", 0.001)),
        minimum=0.0,
        standard_name="depth",
    ),
}

SOC_VARIABLES: dict[str, VariableSpec] = {
    "soc": VariableSpec(
        "%",
        "soil organic carbon",
        (("percent", 1.0), ("g/100g", 1.0), ("g/kg", 0.1), ("mg/g", 0.1)),
        minimum=0.0,
        maximum=100.0,
        allow_nan=True,
    ),
    "ph": VariableSpec("1", "soil pH", (("pH", 1.0), ("", 1.0)), minimum=0.0, maximum=14.0),
    "cec": VariableSpec(
        "cmol(+)/kg",
        "cation exchange capacity",
        (("cmol/kg", 1.0), ("meq/100g", 1.0), ("mmol(+)/kg", 0.1), ("mmol/kg", 0.1)),
        minimum=0.0,
        maximum=500.0,
    ),
    "clay": VariableSpec(
        "%",
        "clay content",
        (("percent", 1.0), ("g/100g", 1.0), ("g/kg", 0.1)),
        minimum=0.0,
        maximum=100.0,
    ),
}

ALLOWED_DIMS = (("time", "depth"), ("site", "time", "depth"))


def check_real(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as float64 if they are real numbers (float or integer dtype), else an error.

    Raises
    ------
    DatasetError
        Naming ``what`` (``variable 'soc'``) for strings, booleans, complex numbers, objects.
    """
    values = np.asarray(values)
    if values.dtype.kind not in "fiu":
        raise DatasetError(
            f"{what} holds {values.dtype} values; expected real numbers (a float or integer "
            "dtype, not text, booleans or complex numbers)"
        )
    return values.astype(float)


def _units(var: xr.DataArray, what: str, spec: VariableSpec) -> float:
    """The factor from the ``units`` attribute of ``var`` to the canonical units."""
    units = var.attrs.get("units")
    if units is None:
        raise DatasetError(f"{what} has no 'units' attribute; expected {spec.units!r}")
    if not isinstance(units, str):
        raise DatasetError(f"{what} has a 'units' attribute {units!r} that is not text")
    factor = spec.factor(units)
    if factor is None:
        raise DatasetError(f"{what} has unknown units {units!r}; expected {spec.units!r}")
    return factor


def _depth_limit(ds: xr.Dataset, max_depth: float | None) -> float | None:
    stated = ds["depth"].attrs.get("max_depth")
    if stated is None:
        return max_depth
    try:
        limit = float(stated)
    except (TypeError, ValueError):
        limit = math.nan
    if not limit > 0:
        raise DatasetError(
            f"coordinate 'depth' has a 'max_depth' attribute {stated!r}; expected a depth in m"
        )
    return limit


def _check_span(name: str, values: np.ndarray, units: str, limit: float | None) -> None:
    if name == "depth" and limit is not None and values.max() > limit:
        raise DatasetError(
            f"coordinate 'depth' reaches {values.max():g} m, deeper than {limit:g} m: is it in "
            "cm labelled 'm'? Give the right units, or allow a deeper profile with "
            "validate_soc_dataset(..., max_depth=...) or attrs['max_depth'] on 'depth' (m)"
        )
    if name == "time" and np.ptp(values) > MAX_YEARS:
        raise DatasetError(
            f"coordinate 'time' spans {np.ptp(values):g} {units}, more than {MAX_YEARS:g}: is "
            "it in days or hours labelled years?"
        )


def _check_coordinate(ds: xr.Dataset, name: str, max_depth: float | None = None) -> xr.Dataset:
    spec = COORDS[name]
    if name not in ds.dims:
        raise DatasetError(f"dimension '{name}' is missing (dims are {tuple(ds.dims)})")
    if name not in ds.coords:
        raise DatasetError(f"coordinate '{name}' is missing: give '{name}' values in {spec.units}")
    what = f"coordinate '{name}'"
    values = check_real(ds[name].values, what)
    if values.size == 0:
        raise DatasetError(f"{what} is empty")
    if name == "depth" and values.size > MAX_DEPTH_POINTS:
        raise DatasetError(f"{what} has {values.size} points; at most {MAX_DEPTH_POINTS}")
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"{what} has NaN or infinite values")
    if values.size > 1 and not np.all(np.diff(values) > 0):
        problem = "duplicated" if np.any(np.diff(values) == 0) else "non-monotonic"
        raise DatasetError(f"{what} has {problem} values; it must increase strictly")
    if name == "time" and "units" not in ds[name].attrs:
        factor = 1.0  # time in years unless stated
    else:
        factor = _units(ds[name], what, spec)
    if spec.minimum is not None and values.min() * factor < spec.minimum:
        raise DatasetError(f"{what} has values below {spec.minimum:g} {spec.units}")
    _check_span(name, values * factor, spec.units, max_depth if name == "depth" else None)
    positive = ds[name].attrs.get("positive", "down")
    if name == "depth" and (not isinstance(positive, str) or positive != "down"):
        raise DatasetError("coordinate 'depth' must be positive down (attrs positive='down')")
    attrs = {**ds[name].attrs, **spec.attrs()}
    if name == "depth":
        attrs["positive"] = "down"
    return ds.assign_coords({name: (name, values * factor, attrs)})


def _check_variable(ds: xr.Dataset, name: str, spec: VariableSpec, dims: tuple[str, ...]):
    if name not in ds.data_vars:
        raise DatasetError(f"variable '{name}' ({spec.long_name}) is missing")
    var = ds[name]
    if var.dims != dims:
        raise DatasetError(f"variable '{name}' has dims {var.dims}; expected {dims}")
    factor = _units(var, f"variable '{name}'", spec)
    values = check_real(var.values, f"variable '{name}'") * factor
    if np.any(np.isinf(values)):
        raise DatasetError(f"variable '{name}' has infinite values")
    finite = values[np.isfinite(values)]
    if not spec.allow_nan and finite.size != values.size:
        raise DatasetError(f"variable '{name}' has NaN values; drivers must be complete")
    if finite.size == 0:
        raise DatasetError(f"variable '{name}' has no finite values")
    if spec.minimum is not None and finite.min() < spec.minimum:
        raise DatasetError(
            f"variable '{name}' has values below {spec.minimum} {spec.units} (min {finite.min():g})"
        )
    if spec.maximum is not None and finite.max() > spec.maximum:
        raise DatasetError(
            f"variable '{name}' has values above {spec.maximum} {spec.units} (max {finite.max():g})"
        )
    attrs = {**var.attrs, **spec.attrs()}
    attrs.setdefault("long_name", spec.long_name)
    return xr.Variable(dims, values, attrs)


def validate_soc_dataset(ds: xr.Dataset, max_depth: float | None = MAX_DEPTH_M) -> xr.Dataset:
    """Check a SOC dataset against the schema and return it in canonical units.

    Variables ``soc_clean`` and ``<driver>_clean`` (kept by the noise functions) are checked
    like their noisy twins when present.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset.
    max_depth : float or None
        Deepest profile accepted, in m (``None``: any); a ``max_depth`` attribute on the
        depth coordinate takes precedence, so a deep dataset carries its own permission.

    Raises
    ------
    DatasetError
        Naming the variable and the problem.
    """
    if not isinstance(ds, xr.Dataset):
        raise DatasetError(f"expected an xarray.Dataset; got {type(ds).__name__}")
    dims = ("site", "time", "depth") if "site" in ds.dims else ("time", "depth")
    extra = sorted(set(ds.dims) - set(dims))
    if extra:
        raise DatasetError(f"unexpected dimension(s) {extra}; allowed dims are {dims}")
    out = ds
    for name in ("time", "depth"):
        limit = _depth_limit(out, max_depth) if name == "depth" and name in out.coords else None
        out = _check_coordinate(out, name, limit)
    if out.sizes["depth"] < 3:
        raise DatasetError("coordinate 'depth' needs at least 3 points")
    for name, spec in SOC_VARIABLES.items():
        for var in (name, f"{name}_clean"):
            if var == name or var in out.data_vars:
                out = out.assign({var: _check_variable(out, var, spec, dims)})
    return out
