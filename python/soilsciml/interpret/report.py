"""Compare distilled expressions with the reference truth P*, R* and write a Markdown report."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from soilsciml.interpret.distil import DistilledTerms, Samples
from soilsciml.interpret.library import INPUTS, InputPoint
from soilsciml.models.soc import ReferenceTruth, reference_production, reference_respiration

__all__ = ["distil_report", "reference_expressions", "sensitivities"]

_REFERENCE = ReferenceTruth()

#: (row label, input, kind): "log" is d ln f / dx, "elasticity" is d ln f / d ln x.
_SENSITIVITIES = (
    ("d ln f / d pH", "ph", "log"),
    ("d ln f / d CEC", "cec", "log"),
    ("d ln f / d ln Clay", "clay", "elasticity"),
    ("d ln f / d ln OC", "soc", "elasticity"),
    ("d ln f / d z [1/m]", "depth", "log"),
    ("d ln f / d t [1/yr]", "time", "log"),
)


def _point(point: InputPoint, name: str | None = None, step: float = 0.0) -> Samples:
    values = {key: np.array([getattr(point, key)], dtype=float) for key in INPUTS}
    if name is not None:
        values[name] = values[name] + step
    return values


def sensitivities(fn: Callable[[Samples], np.ndarray], point: InputPoint) -> dict[str, float]:
    """Value and relative sensitivities of ``fn`` at ``point`` (central differences).

    Returns ``{"value": f, "d ln f / d pH": ..., ...}``; for the reference truth these are
    P*: 0.08, 0.2 per pH unit, -3 per m; R*: 0.04 at OC 1 %, 0.1 per pH unit, -0.5 per
    cmol/kg, clay elasticity -1, OC elasticity 1.
    """
    value = float(fn(_point(point))[0])
    out = {"value": value}
    for label, name, kind in _SENSITIVITIES:
        base = getattr(point, name)
        step = 1e-4 * max(abs(base), 1.0)
        up = float(fn(_point(point, name, step))[0])
        down = float(fn(_point(point, name, -step))[0])
        derivative = (up - down) / (2 * step) / value if value else float("nan")
        out[label] = derivative * base if kind == "elasticity" else derivative
    return out


def _truth_functions(truth: ReferenceTruth) -> tuple[Callable, Callable]:
    def production(s: Samples) -> np.ndarray:
        return reference_production(s["depth"], s["ph"], truth)

    def respiration(s: Samples) -> np.ndarray:
        return reference_respiration(s["soc"], s["ph"], s["cec"], s["clay"], truth)

    return production, respiration


def reference_expressions(truth: ReferenceTruth = _REFERENCE) -> tuple[str, str]:
    """The reference truth's P* and R* as readable formulas ([SOC science: truth][soc-truth])."""
    p = f"P* = {truth.p0:g} exp(-{truth.p_depth:g} z) (1 + {truth.p_ph:g} (pH - {truth.ph_ref:g}))"
    r = (
        f"R* = {truth.r0:g} (1 - {truth.r_cec:g} (CEC - {truth.cec_ref:g})) "
        f"({truth.clay_ref:g}/Clay) (1 + {truth.r_ph:g} (pH - {truth.ph_ref:g})) OC"
    )
    return p, r


def _fmt(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.4g}"


def distil_report(terms: DistilledTerms, truth: ReferenceTruth | None = _REFERENCE) -> str:
    """Markdown report: expressions, decay rate, fit, and a side-by-side table with P*, R*.

    Parameters
    ----------
    terms : DistilledTerms
        Result of :func:`~soilsciml.interpret.distil.distil_terms`.
    truth : ReferenceTruth or None
        Reference source and sink to compare with; None leaves the comparison out (real data).
    """
    p, r = terms.production, terms.respiration
    lines = ["## Distilled production and respiration", ""]
    lines += [f"- `{fit.expression()}`" for fit in (p, r)]
    if truth is not None:
        lines += [f"- reference: `{text}`" for text in reference_expressions(truth)]
    interval = p.decay_interval
    lines += [
        "",
        "Depth decay rate of P: k = "
        + ("none kept" if p.decay_rate is None else f"{p.decay_rate:.5f} 1/m")
        + (f" (95 % profile interval {interval[0]:.5f} – {interval[1]:.5f})" if interval else "")
        + (f"; reference {truth.p_depth:g}" if truth is not None else ""),
        "",
        f"Fit to the network outputs on {terms.n_samples} points: "
        f"R2(P) = {p.r2:.5f} (RMSE {p.rmse:.3g} %/yr), "
        f"R2(R) = {r.r2:.5f} (RMSE {r.rmse:.3g} %/yr).",
        "",
    ]
    point = terms.config.summary_point
    where = ", ".join(f"{name} = {getattr(point, name):g}" for name in INPUTS)
    lines += [f"Values and relative sensitivities at ({where}):", ""]
    header = "| quantity | P distilled | R distilled |"
    rule = "|---|---|---|"
    truth_fns = _truth_functions(truth) if truth is not None else None
    if truth_fns is not None:
        header = "| quantity | P* reference | P distilled | R* reference | R distilled |"
        rule = "|---|---|---|---|---|"
    lines += [header, rule]
    fitted = [sensitivities(fit.predict, point) for fit in (p, r)]
    reference = [sensitivities(fn, point) for fn in truth_fns] if truth_fns else None
    for key in fitted[0]:
        cells = (
            [reference[0][key], fitted[0][key], reference[1][key], fitted[1][key]]
            if reference
            else [fitted[0][key], fitted[1][key]]
        )
        lines.append(f"| {key} | " + " | ".join(_fmt(c) for c in cells) + " |")
    lines += ["", "Kept terms (coefficients in %/yr per unit of the term):", ""]
    lines += ["| output | term | coefficient |", "|---|---|---|"]
    for fit in (p, r):
        lines += [f"| {fit.symbol} | {label} | {c:.5g} |" for label, c in fit.selected]
    return "\n".join(lines) + "\n"
