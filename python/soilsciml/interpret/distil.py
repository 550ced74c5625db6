"""Distil the production and respiration networks into sparse symbolic expressions.

The networks NN_P and NN_R of the SOC UDE are functions of (pH, OC, CEC, Clay, z, t). Here
they are only seen through their outputs on a set of sample points, so anything that maps
inputs to production and respiration (% / yr) can be distilled: a trained UDE wrapped as
``fn(samples) -> ndarray``, or the reference truth itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from soilsciml.config import ConfigError
from soilsciml.interpret.library import (
    INPUTS,
    InputPoint,
    ProductionLibrary,
    RespirationLibrary,
    Term,
    TermLibrary,
    build_terms,
    evaluate_terms,
)
from soilsciml.interpret.sparse import fit_decay_and_terms

__all__ = [
    "DistilConfig",
    "DistilledTerms",
    "SampleError",
    "TermFit",
    "distil_callables",
    "distil_terms",
    "sample_points",
]

Samples = dict[str, np.ndarray]


class SampleError(ValueError):
    """Samples or network outputs given to the distillation are unusable; names the key."""


@dataclass(frozen=True)
class DistilConfig:
    """Settings of the symbolic distillation.

    Parameters
    ----------
    production, respiration : ProductionLibrary, RespirationLibrary
        Candidate terms of P (default: terms with and without ``exp(-k z)``, times
        ``{1, 25/Clay}``, times monomials up to degree 2 in centred pH and CEC; 24 terms) and
        of R (the same with an OC factor instead of the depth decay; 24 terms).
    threshold : float
        STLSQ threshold on standardised coefficients, relative to the output's RMS.
    ridge : float
        Ridge penalty of the thresholding rounds (per sample, standardised units).
    weighting : str
        ``relative`` (weights 1/|y|, for multiplicative errors and outputs spanning decades
        over depth) or ``uniform``.
    decay_min, decay_max : float
        Search interval of the depth-decay rate k in 1/m.
    decay_points : int
        Size of the log-spaced grid of the first search over k.
    summary_point : InputPoint
        Where the comparison with the reference truth evaluates values and sensitivities.
    """

    production: ProductionLibrary = field(default_factory=ProductionLibrary)
    respiration: RespirationLibrary = field(default_factory=RespirationLibrary)
    threshold: float = 0.03
    ridge: float = 0.0
    weighting: str = "relative"
    decay_min: float = 0.1
    decay_max: float = 10.0
    decay_points: int = 41
    summary_point: InputPoint = field(default_factory=lambda: InputPoint(soc=1.0))

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ConfigError(f"threshold must be >= 0; got {self.threshold}")
        if self.ridge < 0:
            raise ConfigError(f"ridge must be >= 0; got {self.ridge}")
        if self.weighting not in ("relative", "uniform"):
            raise ConfigError(f"weighting must be relative or uniform; got {self.weighting!r}")
        if not 0 < self.decay_min < self.decay_max:
            raise ConfigError(
                f"need 0 < decay_min < decay_max; got {self.decay_min}, {self.decay_max}"
            )
        if self.decay_points < 3:
            raise ConfigError(f"decay_points must be >= 3; got {self.decay_points}")


@dataclass(frozen=True)
class TermFit:
    """The distilled expression of one network output.

    Attributes
    ----------
    symbol : str
        ``P`` or ``R``.
    terms : tuple of Term
        The whole candidate library.
    centres : InputPoint
        Centres of the library's drivers.
    coefficients : ndarray (n_terms,)
        In % / yr per unit of each term; zero for dropped terms.
    decay_rate : float or None
        Fitted k of ``exp(-k z)`` in 1/m; None when no decay term was kept.
    decay_interval : (float, float) or None
        95 % profile-likelihood interval of k (assumes independent Gaussian errors, so it is
        optimistic for a network's smooth, correlated errors).
    r2, rmse : float
        Fit of the distilled expression to the network outputs (rmse in % / yr).
    """

    symbol: str
    terms: tuple[Term, ...]
    centres: InputPoint
    coefficients: np.ndarray
    decay_rate: float | None
    decay_interval: tuple[float, float] | None
    r2: float
    rmse: float

    @property
    def selected(self) -> list[tuple[str, float]]:
        """(term label, coefficient) of the kept terms."""
        return [
            (term.label(self.centres), float(c))
            for term, c in zip(self.terms, self.coefficients, strict=True)
            if c != 0
        ]

    def predict(self, samples: Mapping[str, np.ndarray]) -> np.ndarray:
        """The distilled expression at ``samples`` (keys :data:`INPUTS`), in % / yr."""
        k = 0.0 if self.decay_rate is None else self.decay_rate
        points = _validated(samples)
        return evaluate_terms(self.terms, points, k, self.centres) @ self.coefficients

    def expression(self, digits: int = 4) -> str:
        """Readable formula, terms grouped by their factors, e.g.
        ``P ≈ exp(-3.000 z) [0.08 + 0.016 (pH - 6.5)]``."""
        groups: dict[str, list[str]] = {}
        for term, c in zip(self.terms, self.coefficients, strict=True):
            if c == 0:
                continue
            label = Term(False, False, False, term.powers).label(self.centres)
            prefix = Term(term.decay, term.soc, term.inverse_clay, ()).label(self.centres)
            if term.decay:
                prefix = prefix.replace("exp(-k z)", f"exp(-{self.decay_rate:.{digits - 1}f} z)")
            body = f"{c:.{digits}g}" if label == "1" else f"{c:.{digits}g} {label}"
            groups.setdefault("" if prefix == "1" else prefix, []).append(body)
        if not groups:
            return f"{self.symbol} ≈ 0"
        parts = [
            " + ".join(bodies) if not prefix else f"{prefix} [{' + '.join(bodies)}]"
            for prefix, bodies in groups.items()
        ]
        return f"{self.symbol} ≈ " + " + ".join(parts).replace("+ -", "- ")


@dataclass(frozen=True)
class DistilledTerms:
    """Distilled production and respiration, with the settings that produced them."""

    production: TermFit
    respiration: TermFit
    n_samples: int
    config: DistilConfig

    def to_dict(self) -> dict:
        """Plain, JSON-ready summary: per output the expression, kept terms, k and the fit."""
        out: dict = {"n_samples": self.n_samples}
        for name, fit in (("production", self.production), ("respiration", self.respiration)):
            out[name] = {
                "expression": fit.expression(),
                "terms": dict(fit.selected),
                "decay_rate_per_m": fit.decay_rate,
                "decay_interval_95": list(fit.decay_interval) if fit.decay_interval else None,
                "r2": fit.r2,
                "rmse_percent_per_yr": fit.rmse,
            }
        return out


def _validated(samples: Mapping[str, np.ndarray]) -> Samples:
    missing = [name for name in INPUTS if name not in samples]
    if missing:
        raise SampleError(f"samples lack {missing[0]!r}; need {', '.join(INPUTS)}")
    points = {name: np.asarray(samples[name], dtype=float).ravel() for name in INPUTS}
    n = points["depth"].size
    for name, values in points.items():
        if values.size != n:
            raise SampleError(f"samples[{name!r}] has {values.size} values; depth has {n}")
        if not np.all(np.isfinite(values)):
            raise SampleError(f"samples[{name!r}] has NaN or infinite values")
    if np.any(points["clay"] <= 0):
        raise SampleError("samples['clay'] must be positive (1/Clay terms)")
    return points


def _output(values: np.ndarray, name: str, n: int) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    if values.size != n:
        raise SampleError(f"{name} has {values.size} values; the samples have {n}")
    if not np.all(np.isfinite(values)):
        raise SampleError(f"{name} has NaN or infinite values")
    if not np.any(values):
        raise SampleError(f"{name} is zero everywhere; nothing to distil")
    return values


def _fit_one(
    symbol: str, target: np.ndarray, points: Samples, library: TermLibrary, config: DistilConfig
) -> TermFit:
    terms = build_terms(library)
    decay_mask = np.array([term.decay for term in terms])
    if config.weighting == "relative":
        magnitude = np.abs(target)
        weights = 1.0 / np.maximum(magnitude, 1e-3 * np.sqrt(np.mean(target**2)))
    else:
        weights = np.ones_like(target)
    grid = np.geomspace(config.decay_min, config.decay_max, config.decay_points)
    fit, interval = fit_decay_and_terms(
        lambda k: evaluate_terms(terms, points, k, library.centres),
        target,
        weights,
        decay_mask,
        grid,
        config.threshold,
        config.ridge,
    )
    has_decay = bool((fit.support & decay_mask).any())
    k = fit.decay_rate if has_decay else 0.0
    residual = target - evaluate_terms(terms, points, k, library.centres) @ fit.coefficients
    return TermFit(
        symbol=symbol,
        terms=terms,
        centres=library.centres,
        coefficients=fit.coefficients,
        decay_rate=fit.decay_rate if has_decay else None,
        decay_interval=interval,
        r2=float(1.0 - np.sum(residual**2) / np.sum((target - target.mean()) ** 2)),
        rmse=float(np.sqrt(np.mean(residual**2))),
    )


def distil_terms(
    samples: Mapping[str, np.ndarray],
    production: np.ndarray,
    respiration: np.ndarray,
    config: DistilConfig | None = None,
) -> DistilledTerms:
    """Fit sparse symbolic expressions to production and respiration outputs.

    Parameters
    ----------
    samples : mapping of str to ndarray
        Network inputs at n points: ``ph``, ``soc`` (OC, %), ``cec`` (cmol/kg), ``clay`` (%),
        ``depth`` (m) and ``time`` (yr); any shape, flattened.
    production, respiration : ndarray (n,)
        Network outputs P and R at those points, % / yr.
    config : DistilConfig, optional
        Libraries and regression settings.

    Returns
    -------
    DistilledTerms

    Raises
    ------
    SampleError
        Missing keys, mismatched lengths, NaN or non-positive clay, before any fitting.
    """
    config = config or DistilConfig()
    points = _validated(samples)
    n = points["depth"].size
    p = _output(production, "production", n)
    r = _output(respiration, "respiration", n)
    return DistilledTerms(
        production=_fit_one("P", p, points, config.production, config),
        respiration=_fit_one("R", r, points, config.respiration, config),
        n_samples=n,
        config=config,
    )


def sample_points(dataset: xr.Dataset, soc_field: str | np.ndarray = "soc") -> Samples:
    """Network inputs on a SOC dataset's (time, depth) grid, or (site, time, depth).

    Parameters
    ----------
    dataset : xarray.Dataset
        Has ``ph``, ``cec`` and ``clay`` on (time, depth) or (site, time, depth) and the
        ``time`` (yr) and ``depth`` (m) coordinates.
    soc_field : str or ndarray
        The OC input: a variable name of ``dataset`` (default ``soc``) or an array of the
        drivers' shape, e.g. the UDE's predicted trajectory.

    Returns
    -------
    dict of str to ndarray
        Flat arrays under the keys :data:`INPUTS`.
    """
    for name in ("ph", "cec", "clay"):
        if name not in dataset:
            raise SampleError(f"dataset has no variable {name!r}")
    shape = dataset["ph"].shape
    dims = dataset["ph"].dims
    if dims not in (("time", "depth"), ("site", "time", "depth")):
        raise SampleError(f"dataset['ph'] has dims {dims}; need (time, depth) or (site, ...)")
    if isinstance(soc_field, str):
        if soc_field not in dataset:
            raise SampleError(f"dataset has no variable {soc_field!r}")
        soc = dataset[soc_field].transpose(*dims).values
    else:
        soc = np.asarray(soc_field, dtype=float)
    if soc.shape != shape:
        raise SampleError(f"soc_field has shape {soc.shape}; the drivers have {shape}")
    time = dataset["time"].values[:, None]
    depth = dataset["depth"].values[None, :]
    return {
        "ph": dataset["ph"].values.ravel(),
        "soc": soc.ravel(),
        "cec": dataset["cec"].transpose(*dims).values.ravel(),
        "clay": dataset["clay"].transpose(*dims).values.ravel(),
        "depth": np.broadcast_to(depth, shape).ravel(),
        "time": np.broadcast_to(time, shape).ravel(),
    }


def distil_callables(
    production_fn: Callable[[Samples], np.ndarray],
    respiration_fn: Callable[[Samples], np.ndarray],
    dataset: xr.Dataset,
    config: DistilConfig | None = None,
    soc_field: str | np.ndarray = "soc",
) -> DistilledTerms:
    """Distil two callables ``fn(samples) -> ndarray`` (% / yr) on a dataset's grid.

    A trained UDE's networks, wrapped to take the sample dict, plug in here.
    """
    points = sample_points(dataset, soc_field)
    return distil_terms(points, production_fn(points), respiration_fn(points), config)
