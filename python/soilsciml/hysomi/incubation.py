"""Incubation series from a user's file: CSV or NetCDF, units converted explicitly.

A file holds rows of one or several series (a ``series`` column groups them): a time, CO2
(cumulative or a rate), optionally microbial biomass and per-series trait columns
(``trait_*``). Units are stated by the user, never guessed, and converted with the tables below
to the model's units: hours and mg C per g soil. Rows at the same time are replicates, kept as
separate observations; empty cells and ``NaN`` are missing values, masked later.

Conventions (documented in the README):

- time is counted from the substrate pulse: the model starts at t = 0 from the initial pools;
- a cumulative series with an observation at t = 0 is offset so that CO2(0) = 0 (the offset,
  the mean over replicates at t = 0, is kept in ``co2_offset``);
- a rate series (CO2 unit per time unit) is averaged over replicates at each time and
  integrated with the trapezoid rule from t = 0; before the first observation the rate is taken
  equal to the first observed one. Each replicate row then gets the cumulative value of its time.

Checks before any compute: column names unique and non-empty; values real numbers (no text,
booleans or infinities); times, CO2 and biomass non-negative, CO2 and biomass at most
:data:`MAX_CARBON` mg C/g; the last time within ``max_days`` of the
format (calibration solves on an hourly grid, 24 points per day); a cumulative series does not
decrease: the mean over replicates at each time may fall below an earlier time's by at most
:data:`DECREASE_TOLERANCE` of the series' range (replicate noise), no more.

Every problem is a one-line :class:`IncubationError` naming the file, the column and the line.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from soilsciml.config.hysomi import CARBON_UNITS, CO2_KINDS, TIME_UNITS
from soilsciml.data.schema import DatasetError

if TYPE_CHECKING:
    from soilsciml.config import IncubationFormat

__all__ = [
    "CARBON_UNITS",
    "CO2_KINDS",
    "TIME_UNITS",
    "IncubationError",
    "read_incubation",
]

#: Cell contents read as a missing value.
_MISSING = {"", "na", "nan", "n/a", "null"}

TRAIT_PREFIX = "trait_"

#: Largest fall of a cumulative series' mean between times, as a fraction of its range.
DECREASE_TOLERANCE = 0.02

#: Largest carbon amount a CO2 or biomass value may hold, mg C/g (the whole gram of soil).
MAX_CARBON = 1000.0


class IncubationError(DatasetError):
    """An incubation file cannot be read as series; the message names the column and line."""


def _read_csv(path: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Columns as lists of cell texts, and a row label ('line N') for each row."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise IncubationError(f"{path}: the file is empty (expected a header row)")
        names = [h.strip() for h in header]
        for i, name in enumerate(names):
            if not name:
                raise IncubationError(f"{path} line 1: column {i + 1} has no name")
            if name in names[:i]:
                raise IncubationError(
                    f"{path} line 1: column name {name!r} is used twice (columns "
                    f"{names.index(name) + 1} and {i + 1}); each column needs its own name"
                )
        columns: dict[str, list[str]] = {name: [] for name in names}
        labels = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                raise IncubationError(
                    f"{path} line {reader.line_num}: {len(row)} cells, the header has {len(names)}"
                )
            for name, cell in zip(names, row, strict=True):
                columns[name].append(cell.strip())
            labels.append(f"line {reader.line_num}")
    return columns, labels


def _read_netcdf(path: Path) -> tuple[dict[str, list], list[str]]:
    """1-D variables of one dimension as columns; row labels are positions along it."""
    from soilsciml.data.io import load_dataset

    ds = load_dataset(path)
    columns = {
        str(name): [v.decode() if isinstance(v, bytes) else v for v in ds[name].values.tolist()]
        for name in ds.variables
        if ds[name].ndim == 1
    }
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise IncubationError(f"{path}: the 1-D variables have different lengths {lengths}")
    n = lengths.pop() if lengths else 0
    return columns, [f"row {i}" for i in range(n)]


def _numbers(path, columns, labels, name, allow_missing):
    """The column ``name`` as floats (NaN where missing), checked cell by cell."""
    if name not in columns:
        raise IncubationError(
            f"{path}: column {name!r} is missing; the columns are {', '.join(columns)}"
        )
    values = np.empty(len(labels))
    for i, cell in enumerate(columns[name]):
        if isinstance(cell, bool | complex):
            raise IncubationError(
                f"{path} {labels[i]}: column {name!r} value {cell!r} is not a real number"
            )
        text = str(cell).strip()
        if text.lower() in _MISSING:
            value = math.nan
        else:
            try:
                value = float(text)
            except ValueError:
                raise IncubationError(
                    f"{path} {labels[i]}: column {name!r} value {text!r} is not a number"
                ) from None
            if math.isinf(value):
                raise IncubationError(f"{path} {labels[i]}: column {name!r} value is infinite")
        if math.isnan(value) and not allow_missing:
            raise IncubationError(f"{path} {labels[i]}: column {name!r} has no value")
        values[i] = value
    return values


def _check_carbon(path, labels, values, column) -> None:
    """Carbon values (mg C/g, NaN missing) are >= 0 and at most :data:`MAX_CARBON`."""
    for bad, problem in (
        (values < 0, "is negative (carbon amounts and rates are >= 0)"),
        (values > MAX_CARBON, f"exceeds {MAX_CARBON:g} mg C/g, the whole gram of soil"),
    ):
        rows = np.flatnonzero(bad)
        if rows.size:
            raise IncubationError(f"{path} {labels[rows[0]]}: column {column!r} {problem}")


def _cumulative_from_rate(times: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Cumulative CO2 at each row from a rate (mg C/g/h) by the trapezoid rule from t = 0."""
    observed = ~np.isnan(rate)
    distinct = np.unique(times[observed])
    mean_rate = np.array([rate[observed & (times == t)].mean() for t in distinct])
    grid = np.concatenate([[0.0], distinct])
    values = np.concatenate([mean_rate[:1], mean_rate])
    steps = 0.5 * (values[1:] + values[:-1]) * np.diff(grid)
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    return np.where(observed, np.interp(times, grid, cumulative), np.nan)


def read_incubation(path: str | Path, fmt: IncubationFormat | None = None) -> xr.Dataset:
    """Read incubation series into a Dataset with dims (series, obs) in hours and mg C/g.

    Parameters
    ----------
    path : str or Path
        CSV file (header row, one observation per row) or NetCDF file (``.nc``; 1-D variables
        along one dimension, named like the columns).
    fmt : IncubationFormat, optional
        Column names, units (keys of :data:`TIME_UNITS` and :data:`CARBON_UNITS`; for a rate
        series the CO2 column is in ``co2_unit`` per ``time_unit``), cumulative or rate, and
        the fewest distinct times with CO2 a series needs. A file without the series column
        holds one series, named after the file.

    Returns
    -------
    xarray.Dataset
        ``time`` (h), ``co2`` (cumulative, mg C/g), ``co2_input`` (as read, converted),
        optionally ``biomass`` (mg C/g) and ``traits``, ``co2_offset`` (series,); rows of a
        series sorted by time (replicates in file order), padded with NaN to a common length.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IncubationError
        For a missing column, a non-numeric or missing required value, a negative time or
        biomass, a series with too few observation times, an empty or ragged file.
    """
    from soilsciml.config import IncubationFormat

    fmt = fmt or IncubationFormat()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() in (".nc", ".nc4", ".netcdf"):
        columns, labels = _read_netcdf(path)
    else:
        try:
            columns, labels = _read_csv(path)
        except UnicodeDecodeError:
            raise IncubationError(f"{path} is not a text CSV file") from None
    if not labels:
        raise IncubationError(f"{path}: no data rows")
    hours = TIME_UNITS[fmt.time_unit]
    time = _numbers(path, columns, labels, fmt.time_column, allow_missing=False) * hours
    negative = np.flatnonzero(time < 0)
    if negative.size:
        raise IncubationError(
            f"{path} {labels[negative[0]]}: column {fmt.time_column!r} is negative "
            "(time is counted from the pulse)"
        )
    span = float(np.max(time)) / 24.0
    if span > fmt.max_days:
        raise IncubationError(
            f"{path} {labels[int(np.argmax(time))]}: column {fmt.time_column!r} reaches "
            f"{span:g} days; at most data.max_days = {fmt.max_days:g} (calibration solves on "
            f"an hourly grid: {24 * span:.3g} points). Check the time unit (--time-unit)"
        )
    co2 = _numbers(path, columns, labels, fmt.co2_column, True) * CARBON_UNITS[fmt.co2_unit]
    _check_carbon(path, labels, co2, fmt.co2_column)
    if fmt.co2_kind == "rate":
        co2 /= hours
    biomass = None
    if fmt.biomass_column is not None:
        biomass = _numbers(path, columns, labels, fmt.biomass_column, True)
        biomass *= CARBON_UNITS[fmt.biomass_unit]
        _check_carbon(path, labels, biomass, fmt.biomass_column)
    if fmt.series_column in columns:
        names = [str(v).strip() for v in columns[fmt.series_column]]
        missing = [labels[i] for i, name in enumerate(names) if name.lower() in _MISSING]
        if missing:
            raise IncubationError(f"{path} {missing[0]}: column {fmt.series_column!r} has no value")
    else:
        names = [path.stem] * len(labels)
    trait_names = sorted(c for c in columns if c.startswith(TRAIT_PREFIX))
    traits = {c: _numbers(path, columns, labels, c, allow_missing=False) for c in trait_names}
    ds = _series_dataset(path, names, labels, time, co2, biomass, traits, fmt)
    ds.attrs["format"] = json.dumps(dataclasses.asdict(fmt))
    return ds


def _check_increasing(path, name, times, values, column) -> None:
    """A cumulative series' mean over replicates never falls by more than the tolerance."""
    observed = ~np.isnan(values)
    distinct = np.unique(times[observed])
    means = np.array([values[observed & (times == t)].mean() for t in distinct])
    allowed = DECREASE_TOLERANCE * (means.max() - means.min())
    falls = np.flatnonzero(np.maximum.accumulate(means) - means > allowed)
    if falls.size:
        first = falls[0]
        raise IncubationError(
            f"{path}: series {name!r} column {column!r} decreases at time {distinct[first]:g} h "
            f"(mean {means[first]:g} after {means[:first].max():g} mg C/g): a cumulative series "
            "cannot decrease; is it a rate (--rate)?"
        )


def _series_dataset(path, names, labels, time, co2, biomass, traits, fmt):
    series = list(dict.fromkeys(names))
    names = np.asarray(names)
    rows = [np.flatnonzero(names == s) for s in series]
    rows = [r[np.argsort(time[r], kind="stable")] for r in rows]
    width = max(r.size for r in rows)
    shape = (len(series), width)
    out = {key: np.full(shape, np.nan) for key in ("time", "co2", "co2_input", "biomass")}
    offsets = np.zeros(len(series))
    trait_values = np.zeros((len(series), len(traits)))
    for s, (name, r) in enumerate(zip(series, rows, strict=True)):
        t, value = time[r], co2[r]
        n_times = np.unique(t[~np.isnan(value)]).size
        if n_times < fmt.min_times:
            raise IncubationError(
                f"{path}: series {name!r} has {n_times} time(s) with a value in column "
                f"{fmt.co2_column!r}; at least {fmt.min_times} are needed"
            )
        if fmt.co2_kind == "rate":
            cumulative = _cumulative_from_rate(t, value)
        else:
            _check_increasing(path, name, t, value, fmt.co2_column)
            at_zero = value[(t == 0) & ~np.isnan(value)]
            offsets[s] = float(at_zero.mean()) if at_zero.size else 0.0
            cumulative = value - offsets[s]
        out["time"][s, : r.size] = t
        out["co2"][s, : r.size] = cumulative
        out["co2_input"][s, : r.size] = value
        if biomass is not None:
            out["biomass"][s, : r.size] = biomass[r]
        for j, (trait, values) in enumerate(traits.items()):
            if np.unique(values[r]).size > 1:
                raise IncubationError(
                    f"{path}: trait column {trait!r} varies within series {name!r} "
                    f"({labels[r[0]]} onwards); traits are one value per series"
                )
            trait_values[s, j] = values[r[0]]
    dims = ("series", "obs")
    kind = fmt.co2_kind
    input_units = "mg C/g" if kind == "cumulative" else "mg C/(g h)"
    data = {
        "time": (dims, out["time"], {"long_name": "time since the pulse", "units": "h"}),
        "co2": (dims, out["co2"], {"long_name": "cumulative respired carbon", "units": "mg C/g"}),
        "co2_input": (
            dims,
            out["co2_input"],
            {"long_name": f"CO2 as given ({kind}), converted", "units": input_units},
        ),
        "co2_offset": (
            ("series",),
            offsets,
            {"long_name": "CO2 at t = 0 subtracted from a cumulative series", "units": "mg C/g"},
        ),
    }
    if biomass is not None:
        data["biomass"] = (
            dims,
            out["biomass"],
            {"long_name": "microbial biomass carbon B_A + B_D", "units": "mg C/g"},
        )
    coords = {"series": ("series", series, {"long_name": "incubation series"})}
    if traits:
        data["traits"] = (("series", "trait"), trait_values, {"long_name": "traits", "units": "1"})
        coords["trait"] = ("trait", list(traits), {"long_name": "trait"})
    attrs = {"title": "incubation series", "source": str(path), "co2_kind": kind}
    return xr.Dataset(data, coords=coords, attrs=attrs)
