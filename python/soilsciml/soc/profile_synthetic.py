"""Synthetic measured profiles: the reference truth sampled as layer means at irregular horizons.

Real soils have CEC of about 5-40 cmol(+)/kg, far above the paper's synthetic 0.3-0.8, so
these sites draw realistic drivers and use the reference truth with its CEC terms rescaled
(:data:`FIELD_TRUTH`). Each site is sampled by its own irregular horizons at the first
campaign and by standard depth increments at later ones; the truth is solved on a fine grid
and averaged exactly over each layer (:func:`~soilsciml.models.soc_layers.layer_mean_matrix`),
then perturbed with layer-measurement noise. :func:`synthetic_steady_profiles` samples the
truth's steady state once per site (the common case of soil databases).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from soilsciml.config import SOCInitialConfig, SOCTransportConfig, SolverConfig
from soilsciml.engines import get_engine
from soilsciml.engines.base import SOCTruthProblem
from soilsciml.models import soc as model
from soilsciml.models.soc_layers import layer_mean_matrix

__all__ = [
    "FIELD_SITE_RANGES",
    "FIELD_TRUTH",
    "STANDARD_INCREMENTS",
    "reference_steady_state",
    "site_drivers",
    "synthetic_profiles",
    "synthetic_steady_profiles",
]

#: The reference truth with respiration falling by 2 % per cmol(+)/kg of CEC above 20.
FIELD_TRUTH = model.ReferenceTruth(r_cec=0.02, cec_ref=20.0)

#: Per-site draws (low, high): pH, CEC (cmol(+)/kg), clay (%), surface SOC (%), profile depth (m).
FIELD_SITE_RANGES = {
    "ph0": (5.0, 7.5),
    "cec0": (8.0, 35.0),
    "clay0": (10.0, 45.0),
    "surface": (0.8, 2.5),
    "profile_depth": (0.6, 1.0),
}

#: Depth increments (m) of resampling campaigns, cut at each site's profile depth.
STANDARD_INCREMENTS = (0.0, 0.1, 0.3, 0.5, 1.0)

#: Layer-measurement noise: relative SD of SOC, CEC and clay; SD of pH (units).
_NOISE = {"soc": 0.05, "cec": 0.05, "clay": 0.05, "ph": 0.1}

_NODES = np.linspace(0.0, 1.0, 51)  # truth grid (m)
_COLUMNS = {
    "soc": "soc [%]",
    "soc_clean": "soc_clean [%]",
    "ph": "ph [1]",
    "cec": "cec [cmol(+)/kg]",
    "clay": "clay [%]",
}


def site_drivers(n_sites: int, seed: int) -> tuple[model.DriverCoefficients, ...]:
    """The drivers of the sites of :func:`synthetic_profiles` and
    :func:`synthetic_steady_profiles` with the same ``n_sites`` and ``seed``."""
    return _site_drivers(np.random.default_rng(seed), n_sites)[1]


def _site_drivers(rng: np.random.Generator, n_sites: int) -> tuple[dict, tuple]:
    draws = {name: rng.uniform(lo, hi, n_sites) for name, (lo, hi) in FIELD_SITE_RANGES.items()}
    drivers = tuple(
        model.DriverCoefficients(ph0=p, cec0=c, cec_depth_amp=0.2 * c, cec_amp=0.05 * c, clay0=k)
        for p, c, k in zip(draws["ph0"], draws["cec0"], draws["clay0"], strict=True)
    )
    return draws, drivers


def _horizons(rng: np.random.Generator, depth: float) -> np.ndarray:
    """Irregular horizon boundaries (m, rounded to cm) from the surface to ``depth``."""
    edges = [0.0]
    while edges[-1] < depth - 0.05:
        edges.append(min(round(edges[-1] + rng.uniform(0.05, 0.3), 2), depth))
    edges[-1] = depth
    return np.array(edges)


def _increments(depth: float) -> np.ndarray:
    edges = [e for e in STANDARD_INCREMENTS if e < depth - 1e-9]
    return np.array([*edges, depth])


def _rows(site, year, campaign, edges, fields, rng, noise: bool) -> list[dict]:
    """Table rows of one campaign: layer means of the node fields, with noise."""
    matrix = layer_mean_matrix(_NODES, edges[:-1], edges[1:])
    means = {name: matrix @ values for name, values in fields.items()}
    observed = dict(means)
    if noise:
        for name in ("soc", "cec", "clay"):
            observed[name] = means[name] * (
                1.0 + _NOISE[name] * rng.standard_normal(edges.size - 1)
            )
        observed["ph"] = means["ph"] + _NOISE["ph"] * rng.standard_normal(edges.size - 1)
    rows = []
    for k in range(edges.size - 1):
        row = {"site": site, "year": year, "campaign": campaign}
        row.update(
            {"top [cm]": round(100 * edges[k], 1), "bottom [cm]": round(100 * edges[k + 1], 1)}
        )
        row.update({_COLUMNS[name]: round(float(observed[name][k]), 4) for name in model.DRIVERS})
        row[_COLUMNS["soc"]] = round(float(observed["soc"][k]), 4)
        row[_COLUMNS["soc_clean"]] = round(float(means["soc"][k]), 4)
        rows.append(row)
    return rows


def synthetic_profiles(
    n_sites: int = 16,
    campaign_offsets: tuple[float, ...] = (0.0, 20.0),
    seed: int = 0,
    noise: bool = True,
    transport: SOCTransportConfig | None = None,
    engine: str = "jax",
) -> pd.DataFrame:
    """A tidy profile table of the reference truth at sparse campaigns (see the module).

    Parameters
    ----------
    n_sites : int
        Sites, each with drivers and surface SOC drawn from :data:`FIELD_SITE_RANGES` and a
        first campaign in a year drawn from 1985-1995.
    campaign_offsets : tuple of float
        Years of the campaigns after each site's first (the first must be 0).
    seed : int
        Seed of every draw (drivers, horizons, years, noise).
    noise : bool
        Add layer-measurement noise (SOC, CEC, clay 5 % relative; pH 0.1 units).
    transport : SOCTransportConfig, optional
        Transport of the truth (default: the spec's D = v = 1e-3, mirror boundaries).

    Returns
    -------
    pandas.DataFrame
        Columns ``site, year, campaign, top [cm], bottom [cm], ph [1], cec [cmol(+)/kg],
        clay [%], soc [%], soc_clean [%]`` (``soc_clean``: the noise-free layer mean).
    """
    if campaign_offsets[0] != 0 or np.any(np.diff(campaign_offsets) <= 0):
        raise ValueError(f"campaign_offsets must start at 0 and increase; got {campaign_offsets}")
    transport = transport or SOCTransportConfig()
    rng = np.random.default_rng(seed)
    draws, drivers = _site_drivers(rng, n_sites)
    initial = np.stack(
        [
            model.initial_profile(_NODES, SOCInitialConfig(surface=float(s)))
            for s in draws["surface"]
        ]
    )
    problem = SOCTruthProblem(
        depth=_NODES,
        times=np.asarray(campaign_offsets, float) if len(campaign_offsets) > 1 else np.zeros(1),
        initial=initial,
        diffusion=transport.diffusion,
        advection=transport.advection,
        boundary=transport.boundary,
        truth="reference",
        solver=SolverConfig(rtol=1e-8, atol=1e-10),
        drivers=drivers,
        reference=FIELD_TRUTH,
    )
    soc = (
        get_engine(engine).simulate_soc_truth(problem).soc
        if len(campaign_offsets) > 1
        else initial[:, None]
    )
    first_years = rng.integers(1985, 1996, n_sites)
    rows = []
    for s in range(n_sites):
        depth = round(float(draws["profile_depth"][s]), 2)
        for c, offset in enumerate(campaign_offsets):
            edges = _horizons(rng, depth) if c == 0 else _increments(depth)
            fields = dict(
                zip(model.DRIVERS, model.driver_fields(_NODES, offset, drivers[s]), strict=True)
            )
            fields["soc"] = soc[s, c]
            rows += _rows(
                f"S{s + 1:02d}", int(first_years[s] + offset), c + 1, edges, fields, rng, noise
            )
    return pd.DataFrame(rows)


def reference_steady_state(
    nodes: np.ndarray,
    drivers: model.DriverCoefficients,
    transport: SOCTransportConfig,
    truth: model.ReferenceTruth = FIELD_TRUTH,
) -> np.ndarray:
    """The truth's steady state (%) on ``nodes`` with the drivers held at t = 0.

    The reference respiration is linear in C, so dC/dt = A C + P - r C = 0 is one linear
    solve, A the transport matrix of :func:`~soilsciml.models.soc.transport_tendency`.
    """
    dz = nodes[1] - nodes[0]
    transport_matrix = model.transport_tendency(
        np.eye(nodes.size), dz, transport.diffusion, transport.advection, transport.boundary
    ).T
    ph, cec, clay = model.driver_fields(nodes, 0.0, drivers)
    production = model.reference_production(nodes, ph, truth)
    rate = model.reference_respiration(1.0, ph, cec, clay, truth)
    return np.linalg.solve(transport_matrix - np.diag(rate), -production)


def synthetic_steady_profiles(
    n_sites: int = 32,
    seed: int = 0,
    noise: bool = True,
    transport: SOCTransportConfig | None = None,
) -> pd.DataFrame:
    """One campaign per site of the truth's steady state, at irregular horizons.

    Columns as :func:`synthetic_profiles`; the years of the campaigns are drawn from
    1990-2020 (they carry no information: the profiles are at steady state).
    """
    transport = transport or SOCTransportConfig()
    rng = np.random.default_rng(seed)
    draws, drivers = _site_drivers(rng, n_sites)
    years = rng.integers(1990, 2021, n_sites)
    rows = []
    for s in range(n_sites):
        fields = dict(zip(model.DRIVERS, model.driver_fields(_NODES, 0.0, drivers[s]), strict=True))
        fields["soc"] = reference_steady_state(_NODES, drivers[s], transport)
        edges = _horizons(rng, round(float(draws["profile_depth"][s]), 2))
        rows += _rows(f"S{s + 1:02d}", int(years[s]), 1, edges, fields, rng, noise)
    return pd.DataFrame(rows)
