"""SOC dataset schema and validation.

A SOC dataset has dims ``time`` (years) and ``depth`` (m, positive down), optionally ``site``,
and the variables ``soc`` (target, NaN allowed and masked later), ``ph``, ``cec`` and ``clay``
(drivers, no NaN). Validation checks everything before any compute and raises a
:class:`DatasetError` that names the variable and the problem; recognised alternative units are
converted to the canonical ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

__all__ = ["COORDS", "SOC_VARIABLES", "DatasetError", "VariableSpec", "validate_soc_dataset"]


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
        allow_nan=True,
    ),
    "ph": VariableSpec("1", "soil pH", (("pH", 1.0), ("", 1.0)), minimum=0.0, maximum=14.0),
    "cec": VariableSpec(
        "cmol(+)/kg",
        "cation exchange capacity",
        (("cmol/kg", 1.0), ("meq/100g", 1.0), ("mmol(+)/kg", 0.1), ("mmol/kg", 0.1)),
        minimum=0.0,
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


def _check_coordinate(ds: xr.Dataset, name: str) -> xr.Dataset:
    spec = COORDS[name]
    if name not in ds.dims:
        raise DatasetError(f"dimension '{name}' is missing (dims are {tuple(ds.dims)})")
    if name not in ds.coords:
        raise DatasetError(f"coordinate '{name}' is missing: give '{name}' values in {spec.units}")
    values = np.asarray(ds[name].values, dtype=float)
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"coordinate '{name}' has NaN or infinite values")
    if values.size > 1 and not np.all(np.diff(values) > 0):
        problem = "duplicated" if np.any(np.diff(values) == 0) else "non-monotonic"
        raise DatasetError(f"coordinate '{name}' has {problem} values; it must increase strictly")
    factor = spec.factor(ds[name].attrs.get("units", spec.units))
    if factor is None:
        raise DatasetError(
            f"coordinate '{name}' has unknown units {ds[name].attrs.get('units')!r}; "
            f"expected {spec.units!r}"
        )
    if spec.minimum is not None and values.min() * factor < spec.minimum:
        raise DatasetError(f"coordinate '{name}' has values below {spec.minimum} {spec.units}")
    if name == "depth" and ds[name].attrs.get("positive", "down") != "down":
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
    units = var.attrs.get("units")
    if units is None:
        raise DatasetError(f"variable '{name}' has no 'units' attribute; expected {spec.units!r}")
    factor = spec.factor(units)
    if factor is None:
        raise DatasetError(
            f"variable '{name}' has unknown units {units!r}; expected {spec.units!r}"
        )
    values = np.asarray(var.values, dtype=float) * factor
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


def validate_soc_dataset(ds: xr.Dataset) -> xr.Dataset:
    """Check a SOC dataset against the schema and return it in canonical units.

    Variables ``soc_clean`` and ``<driver>_clean`` (kept by the noise functions) are checked
    like their noisy twins when present.

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
        out = _check_coordinate(out, name)
    if out.sizes["depth"] < 3:
        raise DatasetError("coordinate 'depth' needs at least 3 points")
    for name, spec in SOC_VARIABLES.items():
        for var in (name, f"{name}_clean"):
            if var == name or var in out.data_vars:
                out = out.assign({var: _check_variable(out, var, spec, dims)})
    return out
