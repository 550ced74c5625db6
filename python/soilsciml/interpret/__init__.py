"""Interpretable terms: distil the SOC UDE's networks into sparse symbolic expressions."""

from soilsciml.interpret.distil import (
    DistilConfig,
    DistilledTerms,
    SampleError,
    TermFit,
    distil_callables,
    distil_terms,
    sample_points,
)
from soilsciml.interpret.library import (
    InputPoint,
    ProductionLibrary,
    RespirationLibrary,
    TermLibrary,
)
from soilsciml.interpret.report import distil_report, reference_expressions, sensitivities

__all__ = [
    "DistilConfig",
    "DistilledTerms",
    "InputPoint",
    "ProductionLibrary",
    "RespirationLibrary",
    "SampleError",
    "TermFit",
    "TermLibrary",
    "distil_callables",
    "distil_report",
    "distil_terms",
    "reference_expressions",
    "sample_points",
    "sensitivities",
]
