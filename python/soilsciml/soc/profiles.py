"""Measured soil profiles: tidy tables of sampled layers at sites and campaigns.

A profile table has one row per sampled layer: the site, the sampling year (or date), the
top and bottom depth of the layer, and its SOC, pH, CEC and clay, each with explicit units,
written in the header (``soc [g/kg]``) or passed as ``units={"soc": "g/kg"}``.
:func:`read_profiles` checks it and returns a CF-style Dataset on (site, time, layer):

- ``time``: sampling time in decimal years (the union of every site's campaigns; a site
  not sampled at a time has NaN there);
- ``layer``: the distinct layers of each site over all its campaigns (campaigns may sample
  different layers), padded with NaN bounds up to the site with the most layers;
- ``depth_bounds`` (site, layer, bounds): top and bottom of each layer in m, referenced by
  the ``depth`` coordinate (layer midpoints) as its CF ``bounds``;
- ``soc`` (%), ``ph`` (1), ``cec`` (cmol(+)/kg), ``clay`` (%) on (site, time, layer), NaN
  where a layer was not measured; SOC stocks (with bulk density) become concentrations.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilsciml.data.schema import COORDS, SOC_VARIABLES, DatasetError, VariableSpec

__all__ = [
    "PROFILE_VARIABLES",
    "ProfileTableError",
    "is_profile_dataset",
    "read_profiles",
    "validate_profile_dataset",
]


class ProfileTableError(DatasetError):
    """A profile table is unusable; the one-line message names the site, layer and problem."""


#: Value columns of a profile table beyond the model's (concentrations from stocks).
STOCK_VARIABLES = {
    "soc_stock": VariableSpec(
        "kg/m2",
        "SOC stock of the layer",
        (("kg m-2", 1.0), ("Mg/ha", 0.1), ("t/ha", 0.1), ("g/m2", 0.001)),
        minimum=0.0,
        allow_nan=True,
    ),
    "bulk_density": VariableSpec(
        "g/cm3",
        "dry bulk density of the fine earth",
        (("g cm-3", 1.0), ("Mg/m3", 1.0), ("t/m3", 1.0), ("kg/m3", 0.001)),
        minimum=0.0,
        allow_nan=True,
    ),
}

#: Every value column a profile table may hold, by canonical name.
PROFILE_VARIABLES: dict[str, VariableSpec] = {
    **SOC_VARIABLES,
    "soc_clean": SOC_VARIABLES["soc"],
    **STOCK_VARIABLES,
}

_DRIVERS = ("ph", "cec", "clay")
_READERS = {
    ".csv": pd.read_csv,
    ".tsv": lambda path: pd.read_csv(path, sep="\t"),
    ".xlsx": pd.read_excel,
    ".xls": pd.read_excel,
    ".parquet": pd.read_parquet,
}
_HEADER = re.compile(r"\s*(?P<name>[^\[]*?)\s*(?:\[(?P<units>[^\]]*)\])?\s*")


def _read_table(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        return source.copy(), "DataFrame"
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such profile table: {path}")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ProfileTableError(
            f"{path}: unknown table format {path.suffix!r}; use {', '.join(_READERS)}"
        )
    return reader(path), path.name


def _columns(
    frame: pd.DataFrame, renames: dict[str, str], units: dict[str, str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Canonical column names and the units of each, from headers and the arguments."""
    reverse = {table: canonical for canonical, table in renames.items()}
    names, found = {}, {}
    for header in frame.columns:
        header = str(header)
        match = _HEADER.fullmatch(header)
        name = reverse.get(header, match["name"].lower().replace(" ", "_"))
        if name in names.values():
            raise ProfileTableError(f"column {header!r}: a second column for {name!r}")
        names[header] = name
        if match["units"] is not None:
            found[name] = match["units"].strip()
    found.update(units)
    return frame.rename(columns=names), found


def _factor(name: str, spec: VariableSpec, units: dict[str, str]) -> float:
    if name not in units:
        raise ProfileTableError(
            f"column {name!r} has no units: write them in the header ('{name} [{spec.units}]') "
            f"or pass units={{{name!r}: {spec.units!r}}}"
        )
    factor = spec.factor(units[name])
    if factor is None:
        known = ", ".join([spec.units, *(alias for alias, _ in spec.aliases)])
        raise ProfileTableError(
            f"column {name!r} has unknown units {units[name]!r}; known: {known}"
        )
    return factor


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce")
    bad = values.isna() & frame[name].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ProfileTableError(
            f"column {name!r}, row {row + 1}: {frame[name].iloc[row]!r} is not a number"
        )
    return values.to_numpy(dtype=float)


def _decimal_years(frame: pd.DataFrame) -> np.ndarray:
    if "year" in frame:
        return _numbers(frame, "year")
    if "date" not in frame:
        raise ProfileTableError(
            f"a 'year' or 'date' column is missing (sampling time); columns: {list(frame)}"
        )
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise ProfileTableError(f"column 'date', row {row + 1}: not a date")
    days = np.where(dates.dt.is_leap_year, 366.0, 365.0)
    return (dates.dt.year + (dates.dt.day_of_year - 1) / days).to_numpy(dtype=float)


def _where(site: str, year: float, top=None, bottom=None, unit: str = "cm") -> str:
    layer = "" if top is None else f", layer {top:g}-{bottom:g} {unit}"
    return f"site {site!r}, year {year:g}{layer}"


def _check_campaign(site: str, year: float, top, bottom, scale: float, unit: str) -> None:
    """Sorted layer bounds (m) of one campaign: inverted, duplicated, overlapping or gapped."""
    shown_top, shown_bottom = top / scale, bottom / scale
    for k in range(top.size):  # each layer alone first, then neighbours
        where = _where(site, year, shown_top[k], shown_bottom[k], unit)
        if not (np.isfinite(top[k]) and np.isfinite(bottom[k])):
            raise ProfileTableError(f"{_where(site, year)}: a layer has no top or bottom depth")
        if top[k] < 0:
            raise ProfileTableError(f"{where}: negative depth (depths are positive down)")
        if bottom[k] <= top[k]:
            raise ProfileTableError(f"{where}: bottom is not below top (inverted layer)")
    for k in range(1, top.size):
        where = _where(site, year, shown_top[k], shown_bottom[k], unit)
        previous = f"{shown_top[k - 1]:g}-{shown_bottom[k - 1]:g} {unit}"
        if top[k] == top[k - 1] and bottom[k] == bottom[k - 1]:
            raise ProfileTableError(f"{where}: listed twice (duplicate rows)")
        if top[k] < bottom[k - 1]:
            raise ProfileTableError(f"{where}: overlaps layer {previous}")
        if top[k] > bottom[k - 1]:
            raise ProfileTableError(
                f"{where}: gap after layer {previous}; add the missing layer as a row "
                "with empty values"
            )


def _check_values(site, year, top, bottom, values: dict, scale: float, unit: str) -> None:
    for name, column in values.items():
        spec = PROFILE_VARIABLES[name]
        low = -np.inf if spec.minimum is None else spec.minimum
        high = np.inf if spec.maximum is None else spec.maximum
        outside = np.isfinite(column) & ((column < low) | (column > high))
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            where = _where(site, year, top[k] / scale, bottom[k] / scale, unit)
            raise ProfileTableError(
                f"{where}: {name} = {column[k]:g} {spec.units} is outside [{low:g}, {high:g}]"
            )


def _concentration(values: dict[str, np.ndarray], thickness: np.ndarray) -> np.ndarray:
    """SOC in % from a layer stock (kg/m2) and bulk density (g/cm3): 0.1 stock / (BD h)."""
    return 0.1 * values.pop("soc_stock") / (values.pop("bulk_density") * thickness)


def read_profiles(
    source: str | Path | pd.DataFrame,
    *,
    units: dict[str, str] | None = None,
    columns: dict[str, str] | None = None,
) -> xr.Dataset:
    """Read a tidy table of soil layers into a Dataset on (site, time, layer).

    Parameters
    ----------
    source : path or pandas.DataFrame
        CSV, TSV, Excel (``.xlsx``, ``.xls``) or Parquet file, or a DataFrame. Columns:
        ``site``; ``year`` (decimal years) or ``date``; ``top`` and ``bottom`` (layer depths;
        cm, m or mm); ``soc`` (%, g/kg, mg/g) or ``soc_stock`` (kg/m2, Mg/ha) with
        ``bulk_density`` (g/cm3, kg/m3); ``ph``; ``cec`` (cmol(+)/kg, meq/100g, mmol(+)/kg);
        ``clay`` (%, g/kg); optionally ``soc_clean`` (the clean truth of synthetic data).
        Other columns are ignored (listed in ``attrs["ignored_columns"]``). Empty cells are
        missing measurements.
    units : dict of str to str, optional
        Units by canonical column name, for headers that do not carry them (``soc [%]``).
    columns : dict of str to str, optional
        Canonical name -> the table's header, for tables named otherwise.

    Returns
    -------
    xarray.Dataset
        See the module docstring; values in canonical units.

    Raises
    ------
    ProfileTableError
        One line naming the site, campaign and layer: a missing column or units, unknown
        units, a non-number, an inverted, duplicated or overlapping layer, a gap, a value out
        of range.
    """
    frame, origin = _read_table(source)
    frame, found_units = _columns(frame, columns or {}, units or {})
    required = ["site", "top", "bottom", *_DRIVERS]
    required += ["soc"] if "soc_stock" not in frame else ["soc_stock", "bulk_density"]
    for name in required:
        if name not in frame:
            raise ProfileTableError(f"column {name!r} is missing; columns: {list(frame)}")
    depth_unit = found_units.get("top", found_units.get("bottom"))
    scale = _factor("top", COORDS["depth"], {"top": depth_unit} if depth_unit else {})
    if found_units.get("bottom", depth_unit) != depth_unit:
        raise ProfileTableError("columns 'top' and 'bottom' must have the same units")
    present = [name for name in PROFILE_VARIABLES if name in frame]
    values = {
        name: _numbers(frame, name) * _factor(name, PROFILE_VARIABLES[name], found_units)
        for name in present
    }
    top, bottom = _numbers(frame, "top") * scale, _numbers(frame, "bottom") * scale
    years = _decimal_years(frame)
    sites = frame["site"].astype(str).to_numpy()
    if np.any(frame["site"].isna()) or np.any(~np.isfinite(years)):
        raise ProfileTableError("every row needs a site and a sampling year or date")
    used = {"site", "year", "date", "top", "bottom", *present}
    ignored = [name for name in frame if name not in used]
    order = np.lexsort((bottom, top, years, sites))
    top, bottom, years, sites = top[order], bottom[order], years[order], sites[order]
    values = {name: column[order] for name, column in values.items()}
    for site, year in dict.fromkeys(zip(sites, years, strict=True)):
        rows = (sites == site) & (years == year)
        _check_campaign(site, year, top[rows], bottom[rows], scale, depth_unit)
        _check_values(
            site,
            year,
            top[rows],
            bottom[rows],
            {n: v[rows] for n, v in values.items()},
            scale,
            depth_unit,
        )
    if "soc_stock" in values:
        values["soc"] = _concentration(values, bottom - top)
    attrs = {"source": origin, "ignored_columns": ", ".join(ignored)}
    return _profile_dataset(sites, years, top, bottom, values, attrs)


def _profile_dataset(sites, years, top, bottom, values: dict, attrs: dict) -> xr.Dataset:
    """Rows (checked, in canonical units) onto (site, time, layer)."""
    site_names = list(dict.fromkeys(sites))
    times = np.unique(years)
    layers = {
        site: sorted(set(zip(top[sites == site], bottom[sites == site], strict=True)))
        for site in site_names
    }
    n_layer = max(len(pairs) for pairs in layers.values())
    bounds = np.full((len(site_names), n_layer, 2), np.nan)
    for s, site in enumerate(site_names):
        bounds[s, : len(layers[site])] = layers[site]
    grids = {name: np.full((len(site_names), times.size, n_layer), np.nan) for name in values}
    s = np.array([site_names.index(site) for site in sites])
    t = np.searchsorted(times, years)
    k = np.array(
        [layers[site].index((a, b)) for site, a, b in zip(sites, top, bottom, strict=True)]
    )
    dims = ("site", "time", "layer")
    data = {}
    for name, column in values.items():
        grids[name][s, t, k] = column
        spec = PROFILE_VARIABLES["soc" if name == "soc_clean" else name]
        long_name = "clean SOC (synthetic truth)" if name == "soc_clean" else spec.long_name
        data[name] = (dims, grids[name], {**spec.attrs(), "long_name": f"{long_name} (layer mean)"})
    data["depth_bounds"] = (
        ("site", "layer", "bounds"),
        bounds,
        {"units": "m", "long_name": "top and bottom of the layer"},
    )
    coords = {
        "site": ("site", np.array(site_names, dtype=object), {"long_name": "site"}),
        "time": ("time", times, {"units": "yr", "long_name": "sampling year (decimal)"}),
        "layer": ("layer", np.arange(n_layer), {"long_name": "layer index within the site"}),
        "depth": (
            ("site", "layer"),
            bounds.mean(axis=-1),
            {
                **COORDS["depth"].attrs(),
                "positive": "down",
                "bounds": "depth_bounds",
                "long_name": "layer midpoint depth",
            },
        ),
    }
    attrs = {"title": "measured soil profiles", "featureType": "timeSeriesProfile", **attrs}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def is_profile_dataset(ds: xr.Dataset) -> bool:
    """Whether ``ds`` holds layer means (a ``layer`` dimension) rather than node values."""
    return isinstance(ds, xr.Dataset) and "layer" in ds.dims


def validate_profile_dataset(ds: xr.Dataset) -> xr.Dataset:
    """Check a profile Dataset (as :func:`read_profiles` writes it) and convert its units.

    Raises
    ------
    DatasetError
        Naming the variable or coordinate and the problem.
    """
    if not is_profile_dataset(ds) or set(ds.dims) - {"site", "time", "layer", "bounds"}:
        raise DatasetError(f"a profile dataset has dims (site, time, layer); got {tuple(ds.dims)}")
    if "depth_bounds" not in ds or ds["depth_bounds"].dims != ("site", "layer", "bounds"):
        raise DatasetError("variable 'depth_bounds' (site, layer, bounds) in m is missing")
    times = np.asarray(ds["time"].values, dtype=float)
    if times.size == 0 or not np.all(np.diff(times) > 0):
        raise DatasetError("coordinate 'time' must increase strictly")
    out = ds
    for name in ("soc", *_DRIVERS, "soc_clean"):
        if name not in ds:
            if name == "soc_clean":
                continue
            raise DatasetError(f"variable {name!r} ({SOC_VARIABLES[name].long_name}) is missing")
        spec = PROFILE_VARIABLES[name]
        factor = spec.factor(ds[name].attrs.get("units", ""))
        if factor is None:
            raise DatasetError(
                f"variable {name!r} has unknown units {ds[name].attrs.get('units')!r}; "
                f"expected {spec.units!r}"
            )
        if ds[name].dims != ("site", "time", "layer"):
            raise DatasetError(
                f"variable {name!r} has dims {ds[name].dims}; expected (site, time, layer)"
            )
        out = out.assign({name: ds[name] * factor})
        out[name].attrs = {**ds[name].attrs, "units": spec.units}
    return out
