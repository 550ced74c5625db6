"""Libraries of candidate terms for the symbolic distillation of NN_P and NN_R.

A candidate term is a product of optional factors and a monomial in centred drivers::

    [exp(-k z)] [OC] [clay_ref / Clay] (x_1 - c_1)^a_1 ... (x_m - c_m)^a_m

The exponential depth factor carries the decay rate ``k`` (1/m) that the distillation
optimises; every other factor is fixed, so for a given ``k`` a model is linear in the
coefficients. Drivers are centred at a reference point (by default the paper's site: pH 6.5,
CEC 0.5 cmol/kg, clay 25 %), which keeps the monomials far less collinear than raw powers and
makes the coefficients read like the reference truth's ``(1 + b (pH - 6.5))`` factors.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from soilsciml.config import ConfigError

__all__ = [
    "INPUTS",
    "InputPoint",
    "ProductionLibrary",
    "RespirationLibrary",
    "Term",
    "TermLibrary",
    "build_terms",
    "evaluate_terms",
]

#: Network inputs in the contract's order (pH, OC, CEC, Clay, z, t), as sample keys.
INPUTS = ("ph", "soc", "cec", "clay", "depth", "time")

_LABELS = {"ph": "pH", "soc": "OC", "cec": "CEC", "clay": "Clay", "depth": "z", "time": "t"}
_FACTOR_CHOICES = ("none", "both", "only")


@dataclass(frozen=True)
class InputPoint:
    """A point in the network's input space (pH, OC %, CEC cmol/kg, clay %, depth m, time yr).

    As a library's centres, ``clay`` is also the reference of the factor ``clay / Clay``.
    """

    ph: float = 6.5
    soc: float = 0.0
    cec: float = 0.5
    clay: float = 25.0
    depth: float = 0.0
    time: float = 0.0

    def __post_init__(self) -> None:
        if self.clay <= 0:
            raise ConfigError(f"clay must be positive; got {self.clay}")


@dataclass(frozen=True)
class TermLibrary:
    """Which candidate terms enter one regression.

    Parameters
    ----------
    variables : tuple of str
        Inputs of the polynomial part (any of ``ph, soc, cec, clay, depth, time``). The
        default (pH, CEC) leaves clay to the inverse-clay factor, depth to ``exp(-k z)`` and
        OC to the OC factor: with all six in the polynomial the library is so collinear on
        the paper's drivers that no sparse fit can single out the true terms.
    degree : int
        Largest total degree of the monomials (0 gives the constant only).
    inverse_clay : bool
        Also multiply every term by ``centres.clay / Clay``.
    depth_decay : str
        ``none``, ``both`` (terms with and without ``exp(-k z)``) or ``only``.
    soc_factor : str
        ``none``, ``both`` (terms with and without the OC factor) or ``only``.
    centres : InputPoint
        Reference point of the centred drivers.
    """

    variables: tuple[str, ...] = ("ph", "cec")
    degree: int = 2
    inverse_clay: bool = True
    depth_decay: str = "none"
    soc_factor: str = "none"
    centres: InputPoint = field(default_factory=InputPoint)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.variables) - set(INPUTS))
        if unknown:
            raise ConfigError(
                f"library.variables: unknown input {unknown[0]!r}; use {', '.join(INPUTS)}"
            )
        if len(set(self.variables)) != len(self.variables):
            raise ConfigError(f"library.variables has a repeated input: {self.variables}")
        if not isinstance(self.degree, int) or self.degree < 0:
            raise ConfigError(f"library.degree must be an integer >= 0; got {self.degree!r}")
        for name in ("depth_decay", "soc_factor"):
            value = getattr(self, name)
            if value not in _FACTOR_CHOICES:
                raise ConfigError(
                    f"library.{name} must be one of {', '.join(_FACTOR_CHOICES)}; got {value!r}"
                )


@dataclass(frozen=True)
class ProductionLibrary(TermLibrary):
    """Default library of P: terms with and without ``exp(-k z)`` (24 terms)."""

    depth_decay: str = "both"


@dataclass(frozen=True)
class RespirationLibrary(TermLibrary):
    """Default library of R: terms with and without the OC factor (24 terms)."""

    soc_factor: str = "both"


@dataclass(frozen=True)
class Term:
    """One candidate term: the factors it carries and the exponents of its monomial."""

    decay: bool
    soc: bool
    inverse_clay: bool
    powers: tuple[tuple[str, int], ...]

    def label(self, centres: InputPoint) -> str:
        """Readable form, e.g. ``exp(-k z) (25/Clay) (pH - 6.5)^2``."""
        parts = ["exp(-k z)"] if self.decay else []
        if self.soc:
            parts.append("OC")
        if self.inverse_clay:
            parts.append(f"({centres.clay:g}/Clay)")
        for name, power in self.powers:
            centre = getattr(centres, name)
            base = _LABELS[name] if centre == 0 else f"({_LABELS[name]} - {centre:g})"
            parts.append(base if power == 1 else f"{base}^{power}")
        return " ".join(parts) or "1"


def _factor_options(choice: str) -> tuple[bool, ...]:
    return {"none": (False,), "both": (False, True), "only": (True,)}[choice]


def build_terms(library: TermLibrary) -> tuple[Term, ...]:
    """All candidate terms of ``library``, constant-like terms first."""
    monomials = [
        tuple((name, combo.count(name)) for name in library.variables if name in combo)
        for degree in range(library.degree + 1)
        for combo in itertools.combinations_with_replacement(library.variables, degree)
    ]
    return tuple(
        Term(decay, soc, inverse, powers)
        for decay in _factor_options(library.depth_decay)
        for soc in _factor_options(library.soc_factor)
        for inverse in ((False, True) if library.inverse_clay else (False,))
        for powers in monomials
    )


def evaluate_terms(
    terms: tuple[Term, ...],
    samples: Mapping[str, np.ndarray],
    decay_rate: float,
    centres: InputPoint,
) -> np.ndarray:
    """Library matrix (n_samples, n_terms) of ``terms`` at ``samples``.

    Parameters
    ----------
    terms : tuple of Term
        Candidate terms (see :func:`build_terms`).
    samples : mapping
        1-D arrays of the network inputs, keys :data:`INPUTS` (pH, OC %, CEC cmol/kg,
        clay %, depth m, time yr).
    decay_rate : float
        ``k`` of ``exp(-k z)`` in 1/m.
    centres : InputPoint
        Reference point of the centred drivers.
    """
    decay = np.exp(-decay_rate * samples["depth"])
    inverse_clay = centres.clay / samples["clay"]
    columns = []
    for term in terms:
        column = np.ones_like(samples["depth"], dtype=float)
        if term.decay:
            column = column * decay
        if term.soc:
            column = column * samples["soc"]
        if term.inverse_clay:
            column = column * inverse_clay
        for name, power in term.powers:
            column = column * (samples[name] - getattr(centres, name)) ** power
        columns.append(column)
    return np.stack(columns, axis=1)
