"""Property-based checks of the declared domains: configs, grids, datasets and incubation files
generated from the declarations and just outside them.

Valid input is accepted; invalid input raises the package's own error naming the setting,
variable or column; nothing hangs (every example has a deadline and tiny sizes).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import sys
import tempfile
import types
import typing
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soilsciml.config import (
    ConfigError,
    Domain,
    SOCSimulationConfig,
    domain_of,
    from_dict,
    settings_classes,
)
from soilsciml.config.domain import qualified
from soilsciml.data.schema import SOC_VARIABLES, DatasetError, validate_soc_dataset
from soilsciml.hysomi.incubation import IncubationError, read_incubation
from soilsciml.models.constraints import CONSTRAINT_SETS
from soilsciml.search import GridError, expand_grid
from soilsciml.soc.simulate import soc_dataset

FAST = settings(
    max_examples=12,
    deadline=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: Datasets and files: the first example also pays for xarray's and pandas' lazy imports.
SLOWER = settings(FAST, deadline=5000)

#: Valid ``train.holdout`` values and constraint labels: checked by their classes, not a domain.
HOLDOUTS = st.sampled_from(["none", "every_fourth_depth"]) | st.integers(2, 100_000).map(str)
SYNTHETIC_LABELS = CONSTRAINT_SETS["synthetic"][0]


def _fields():
    out = []
    for cls in settings_classes():
        hints = typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__settings_module__]))
        for f in dataclasses.fields(cls):
            # nested settings (optional ones too) are checked as classes of their own
            kinds = typing.get_args(hints[f.name]) or (hints[f.name],)
            if not any(dataclasses.is_dataclass(k) for k in kinds):
                out.append(pytest.param(cls, f.name, hints[f.name], id=f"{cls.__name__}.{f.name}"))
    return out


FIELDS = _fields()


def _optional(kind):
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(kind) if a is not type(None)), True
    return kind, False


def _lower(d: Domain):
    return d.gt if d.gt is not None else d.ge


def _upper(d: Domain):
    return d.lt if d.lt is not None else d.le


def valid(d: Domain, kind) -> st.SearchStrategy:
    """Values inside the domain ``d`` of a setting of type ``kind``."""
    kind, optional = _optional(kind)
    if typing.get_origin(kind) is tuple:
        inner = typing.get_args(kind)[0]
        items = valid(d.items or Domain(), inner)
        if d.length is not None:
            strategy = st.lists(items, min_size=d.length, max_size=d.length)
        else:
            strategy = st.lists(items, max_size=min(d.max_items or 4, 4))
        strategy = strategy.map(tuple)
    elif d.choices is not None:
        strategy = st.sampled_from(d.choices)
    elif kind is bool:
        strategy = st.booleans()
    elif kind is str:
        strategy = st.text(min_size=1, max_size=8).filter(str.strip)
    elif kind is int:
        low = d.ge if d.ge is not None else (d.gt + 1 if d.gt is not None else None)
        high = d.le if d.le is not None else (d.lt - 1 if d.lt is not None else None)
        strategy = st.integers(low, high)
    else:
        strategy = st.floats(
            min_value=_lower(d),
            max_value=_upper(d),
            exclude_min=d.gt is not None,
            exclude_max=d.lt is not None,
            allow_nan=False,
            allow_infinity=not d.finite,
        )
    return st.none() | strategy if optional else strategy


def invalid(d: Domain, kind) -> st.SearchStrategy:
    """Values just outside the domain ``d`` (and of the wrong type)."""
    kind, optional = _optional(kind)
    wrong_type = st.sampled_from([[1.0], {"a": 1}])
    if typing.get_origin(kind) is tuple:
        inner = typing.get_args(kind)[0]
        options = [
            st.just("abc"),
            st.lists(invalid(d.items or Domain(), inner), min_size=1, max_size=2),
        ]
        if d.length is not None:
            options.append(
                st.lists(
                    valid(d.items or Domain(), inner), min_size=d.length + 1, max_size=d.length + 2
                )
            )
        if d.max_items is not None:
            too_many = valid(d.items or Domain(), inner)
            options.append(st.lists(too_many, min_size=d.max_items + 1, max_size=d.max_items + 1))
        return st.one_of(*options).map(lambda v: tuple(v) if isinstance(v, list) else v)
    if kind is bool:
        return st.sampled_from([0, 1, "true", 1.0])
    if kind is str:
        bad = (
            st.sampled_from(["", "  "])
            if d.choices is None
            else st.text(max_size=6).filter(lambda s: s not in d.choices)
        )
        return bad | st.integers(0, 3) | (st.none() if not optional else st.nothing())
    options = [st.booleans(), st.text(max_size=3), wrong_type]
    low, high = _lower(d), _upper(d)
    if kind is int:
        options.append(st.floats(allow_nan=True).filter(lambda x: not float(x).is_integer()))
        if low is not None:
            edge = d.gt if d.gt is not None else d.ge - 1
            options.append(st.integers(int(edge) - 3, int(edge)))
        if high is not None:
            edge = d.lt if d.lt is not None else d.le + 1
            options += [st.just(int(edge)), st.just(10**30)]
    else:
        options += [st.just(math.nan)] + (
            [st.just(math.inf), st.just(-math.inf)] if d.finite else []
        )
        if low is not None:
            options.append(
                st.floats(
                    max_value=low,
                    exclude_max=d.ge is not None,
                    allow_nan=False,
                    allow_infinity=False,
                    min_value=low - 1e3 - abs(low),
                )
            )
        if high is not None:
            options.append(
                st.floats(
                    min_value=high,
                    exclude_min=d.le is not None,
                    allow_nan=False,
                    allow_infinity=False,
                    max_value=high + 1e3 + abs(high),
                )
            )
    return st.one_of(*options)


def _context(cls, name, value) -> dict:
    """Other fields a valid ``value`` needs to pass the class's checks across fields."""
    if cls.__name__ == "HySoMiConstraintConfig" and name == "factor_labels":
        return {"factor_values": (1.0,) * len(value)}
    if cls.__name__ == "HySoMiConstraintConfig" and name == "factor_values":
        return {"factor_labels": ("P1",) * len(value)}
    return {}


def _valid_strategy(cls, name, kind):
    d = domain_of(cls, name)
    special = {
        ("SOCTrainConfig", "holdout"): HOLDOUTS,
        ("HySoMiConstraintConfig", "factor_labels"): st.lists(
            st.sampled_from(SYNTHETIC_LABELS), max_size=4
        ).map(tuple),
        ("HySoMiCalibrationConfig", "initial"): valid(d, kind)
        .map(lambda v: (*v[:5], 0.0))
        .filter(lambda v: v[0] + v[1] > 0),
        ("HySoMiGeneratorConfig", "trait_min"): valid(d, kind).filter(lambda v: v < 200.0),
        ("HySoMiGeneratorConfig", "trait_max"): valid(d, kind).filter(lambda v: v > 5.0),
        ("SOCSimulationConfig", "output_step"): valid(d, kind).filter(lambda v: 50.0 / v <= 1e5),
    }
    return special.get((cls.__name__, name), valid(d, kind))


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _section(cls) -> str:
    section = cls.__settings_section__
    return f"{section}." if section else ""


@pytest.mark.parametrize(("cls", "name", "kind"), FIELDS)
def test_every_integer_setting_has_a_cap(cls, name, kind):
    d = domain_of(cls, name)
    inner, _ = _optional(kind)
    if inner is int:
        assert _upper(d) is not None, f"{qualified(cls, name)} needs an upper bound"
    if typing.get_origin(inner) is tuple:
        assert d.length is not None or d.max_items is not None


@pytest.mark.parametrize(("cls", "name", "kind"), FIELDS)
def test_values_inside_the_domain_are_accepted(cls, name, kind):
    @FAST
    @given(value=_valid_strategy(cls, name, kind))
    def check(value):
        context = _context(cls, name, value)
        built = cls(**{name: value, **context})
        assert getattr(built, name) == value
        data = {name: _plain(value), **{k: _plain(v) for k, v in context.items()}}
        loaded = from_dict(cls, data, prefix=_section(cls))
        assert getattr(loaded, name) == value

    check()


@pytest.mark.parametrize(("cls", "name", "kind"), FIELDS)
def test_values_outside_the_domain_name_the_setting(cls, name, kind):
    if name == "holdout":
        strategy = st.sampled_from(["", "1", "0", "abc", "100001", "\u00b2", "every_depth"])
    elif name == "factor_labels":
        strategy = st.sampled_from([("P99",), ("",), ("P1",) * 33])
    else:
        strategy = invalid(domain_of(cls, name), kind)

    @FAST
    @given(value=strategy)
    def check(value):
        where = qualified(cls, name)
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            cls(**{name: value})
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            from_dict(cls, {name: _plain(value)}, prefix=_section(cls))

    check()


@FAST
@given(
    key=st.sampled_from(["grid.nz", "transport.advection", "solver.rtol", "years"]),
    value=st.sampled_from([math.nan, math.inf, 10**12, True, "x"]),
)
def test_grid_values_outside_the_domain_name_the_key(key, value):
    with pytest.raises(GridError, match=key.replace(".", r"\.")):
        expand_grid(SOCSimulationConfig(), {key: [value]})


def _dataset(soc, nz):
    nt = soc.shape[0]
    shape = (nt, nz)
    drivers = {"ph": np.full(shape, 6.5), "cec": np.full(shape, 0.5), "clay": np.full(shape, 25.0)}
    return soc_dataset(np.arange(float(nt)), np.linspace(0, 1, nz), soc, drivers)


@SLOWER
@given(
    nt=st.integers(2, 4),
    nz=st.integers(3, 5),
    data=st.data(),
)
def test_soc_values_inside_bounds_pass_and_outside_are_named(nt, nz, data):
    spec = SOC_VARIABLES["soc"]
    inside = st.floats(spec.minimum, spec.maximum, allow_nan=False)
    soc = np.array(data.draw(st.lists(inside, min_size=nt * nz, max_size=nt * nz))).reshape(nt, nz)
    ds = _dataset(soc, nz)
    np.testing.assert_array_equal(validate_soc_dataset(ds)["soc"].values, soc)
    outside = st.floats(max_value=spec.minimum - 1e-9) | st.floats(
        min_value=spec.maximum, exclude_min=True
    )
    bad = soc.copy()
    bad[data.draw(st.integers(0, nt - 1)), data.draw(st.integers(0, nz - 1))] = data.draw(outside)
    with pytest.raises(DatasetError, match="variable 'soc'"):
        validate_soc_dataset(ds.assign(soc=ds["soc"].copy(data=bad)))
    kind = data.draw(st.sampled_from(["U4", "bool", "complex128", "object"]))
    typed = ds.assign(soc=(("time", "depth"), soc.astype(kind), ds["soc"].attrs))
    with pytest.raises(DatasetError, match="variable 'soc' holds"):
        validate_soc_dataset(typed)


def _write(path: Path, header, rows) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@SLOWER
@given(
    steps=st.lists(st.floats(0.01, 48.0), min_size=2, max_size=6),
    increments=st.lists(st.floats(0.0, 2.0), min_size=7, max_size=7),
    fault=st.sampled_from(["none", "negative", "decrease", "duplicate", "too long", "text"]),
)
def test_incubation_files_inside_the_rules_pass_and_others_are_named(steps, increments, fault):
    times = np.concatenate([[0.0], np.cumsum(steps)])
    co2 = np.concatenate([[0.0], np.cumsum(increments[: times.size - 1])]) + 0.1
    header = ["time", "co2"]
    cells = [[repr(float(t)), repr(float(c))] for t, c in zip(times, co2, strict=True)]
    if fault == "negative":
        cells[1][1] = "-0.5"
    elif fault == "decrease":
        cells[-1][1] = repr(float(co2[-2] - 0.5 * (co2.max() - co2.min()) - 1.0))
    elif fault == "duplicate":
        header = ["time", "time"]
    elif fault == "too long":
        cells[-1][0] = repr(24.0 * 1001)
    elif fault == "text":
        cells[0][1] = "abc"
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder) / "s.csv", header, cells)
        if fault == "none":
            ds = read_incubation(path)
            np.testing.assert_allclose(ds["co2"].values[0], co2 - co2[0], atol=1e-12)
            return
        column = "'time'" if fault in ("duplicate", "too long") else "'co2'"
        with pytest.raises(IncubationError, match=column):
            read_incubation(path)
