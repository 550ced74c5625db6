"""Distil a trained SOC UDE's networks into sparse symbolic expressions.

The trained NN_P and NN_R are wrapped as callables over the distillation's sample dict (keys
of :data:`soilsciml.interpret.library.INPUTS`), with the input scaling saved with the model,
evaluated on a dataset's (site, time, depth) grid (:func:`soilsciml.interpret.sample_points`)
and distilled by :func:`soilsciml.interpret.distil_terms`. The OC input is by default the
model's own predicted SOC: the state the networks saw inside the solve.

SOC data constrain only the net source P - R: adding the same g(x) >= 0 to both networks
changes nothing in the UDE, and a trained model typically carries such a common offset. With
``net=True`` the net source is distilled (in place of P, with one library holding the depth
decay and the OC factor, uniform weights since it changes sign); R is distilled as usual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from soilsciml.config import ConfigError
from soilsciml.data.io import json_text
from soilsciml.soc.fit import SOCModel

__all__ = [
    "NET_SYMBOL",
    "OC_SOURCES",
    "SOCDistillation",
    "distil_soc_model",
    "net_source_config",
    "network_callables",
]

#: Where the OC input of the samples comes from: the model's predicted SOC or the data's.
OC_SOURCES = ("predicted", "observed")

#: Sample keys in the order of the network inputs (pH, OC, CEC, Clay, z, t).
_NETWORK_INPUTS = ("ph", "soc", "cec", "clay", "depth", "time")

Samples = dict[str, np.ndarray]

#: Symbol of the distilled net source.
NET_SYMBOL = "P - R"


def net_source_config():
    """Distillation settings of the net source P - R: the production library with and
    without the OC factor (48 terms), uniform weights."""
    from soilsciml.interpret import DistilConfig, ProductionLibrary

    return DistilConfig(production=ProductionLibrary(soc_factor="both"), weighting="uniform")


def network_callables(model: SOCModel) -> tuple[Callable[[Samples], np.ndarray], ...]:
    """NN_P and NN_R of ``model`` as ``fn(samples) -> ndarray`` in % / yr.

    Evaluated with the JAX definition of the networks (the flat weight layout is the same for
    every engine), after the model's input scaling ``(x - shift) / scale``.
    """
    import jax.numpy as jnp

    from soilsciml.engines.jax import ude as jax_ude

    static = jax_ude.static_settings(model.config, model.config.transport.boundary)
    weights = {name: jnp.asarray(value, jnp.float64) for name, value in model.weights.items()}

    def scaled(samples: Samples) -> jnp.ndarray:
        x = np.stack([np.asarray(samples[name], float).ravel() for name in _NETWORK_INPUTS], -1)
        return jnp.asarray((x - model.input_shift) / model.input_scale)

    def production(samples: Samples) -> np.ndarray:
        return np.asarray(jax_ude.network(weights, "P", scaled(samples), static))

    def respiration(samples: Samples) -> np.ndarray:
        return np.asarray(jax_ude.network(weights, "R", scaled(samples), static))

    return production, respiration


@dataclass(frozen=True)
class SOCDistillation:
    """The distilled terms of a trained model and the samples they were fitted on."""

    terms: object
    samples: Samples
    production: np.ndarray
    respiration: np.ndarray

    def save(self, path: str | Path, truth: bool = True) -> Path:
        """Write ``report.md`` (compared with the reference P*, R* when ``truth``),
        ``terms.json`` and ``distillation.png`` to ``path``."""
        from soilsciml.interpret import distil_report, reference_expressions
        from soilsciml.plots.distil import plot_distillation

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        net = self.terms.production.symbol == NET_SYMBOL
        report = distil_report(self.terms, **({} if truth and not net else {"truth": None}))
        if net:
            note = "The first expression is the net source P - R (the networks' sum is free)."
            if truth:
                p_star, r_star = reference_expressions()
                note += f" Reference: `{p_star}` minus `{r_star}`."
            report = report.replace("\n\n", f"\n\n{note}\n\n", 1)
            report = report.replace("| P distilled |", f"| {NET_SYMBOL} distilled |")
            report = report.replace("decay rate of P:", f"decay rate of {NET_SYMBOL}:")
            report = report.replace("R2(P) =", f"R2({NET_SYMBOL}) =")
        (path / "report.md").write_text(report)
        (path / "terms.json").write_text(json_text(self.terms.to_dict(), indent=2) + "\n")
        figure = plot_distillation(self.terms, self.samples, self.production, self.respiration)
        figure.savefig(path / "distillation.png", dpi=120)
        return path


def distil_soc_model(
    model: SOCModel, dataset: xr.Dataset, config=None, oc: str = "predicted", net: bool = False
) -> SOCDistillation:
    """Distil ``model``'s NN_P and NN_R on the grid of ``dataset``.

    Parameters
    ----------
    model : SOCModel
        A trained model (e.g. from :func:`soilsciml.soc.fit.load_soc_model`).
    dataset : xarray.Dataset
        Drivers on (time, depth) or (site, time, depth), and ``soc``.
    config : DistilConfig, optional
        Libraries and regression settings of :mod:`soilsciml.interpret`.
    oc : str
        ``predicted`` (default: the model's SOC trajectory from the dataset's first profile)
        or ``observed`` (the dataset's ``soc``, which must then be complete).
    net : bool
        Distil the net source P - R in place of P (default settings: :func:`net_source_config`).
    """
    from soilsciml.interpret import distil_terms, sample_points

    if oc not in OC_SOURCES:
        raise ConfigError(f"oc must be one of {', '.join(OC_SOURCES)}; got {oc!r}")
    soc_field = model.predict(dataset)["soc_pred"].values if oc == "predicted" else "soc"
    samples = sample_points(dataset, soc_field)
    production, respiration = (fn(samples) for fn in network_callables(model))
    if not net:
        terms = distil_terms(samples, production, respiration, config)
        return SOCDistillation(terms, samples, production, respiration)
    source = production - respiration
    terms = distil_terms(samples, source, respiration, config or net_source_config())
    terms = dataclasses.replace(
        terms, production=dataclasses.replace(terms.production, symbol=NET_SYMBOL)
    )
    return SOCDistillation(terms, samples, source, respiration)
