"""Engine-neutral SOC depth-profile model.

See [SOC science: the model][soc-model], [drivers][soc-drivers] and [truth][soc-truth].

The formulas here take an array module ``xp`` (numpy or jax.numpy), so the same expressions
generate data, drive the JAX engine and serve as the reference for tests.

    dC/dt = D d2C/dz2 - v dC/dz + P(env) - R(env)

Units: C in % (g C per 100 g soil), z in m (positive down), t in years, D in m2 yr-1,
v in m yr-1, P and R in % yr-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from soilsciml.config import SOCGridConfig, SOCInitialConfig


__all__ = [
    "DRIVERS",
    "DriverCoefficients",
    "ReferenceTruth",
    "cell_volumes",
    "depth_grid",
    "driver_fields",
    "initial_profile",
    "reference_production",
    "reference_respiration",
    "total_carbon",
    "transport_tendency",
]

DRIVERS = ("ph", "cec", "clay")


@dataclass(frozen=True)
class DriverCoefficients:
    """Synthetic drivers of the paper, eqs. 9-11 (pH in pH units, CEC in cmol(+)/kg, clay in %).

    pH(z, t)   = ph0 + ph_slope z + ph_amp sin(2 pi t / ph_period)
    CEC(z, t)  = cec0 + cec_depth_amp sin(2 pi z) + cec_amp cos(2 pi t / cec_period)
    Clay(z, t) = clay0 + clay_depth_amp cos(2 pi z) + clay_amp sin(2 pi t / clay_period)
    """

    ph0: float = 6.5
    ph_slope: float = -0.5
    ph_amp: float = 0.10
    ph_period: float = 1.0
    cec0: float = 0.5
    cec_depth_amp: float = 0.1
    cec_amp: float = 0.05
    cec_period: float = 5.0
    clay0: float = 25.0
    clay_depth_amp: float = 5.0
    clay_amp: float = 0.5
    clay_period: float = 10.0


@dataclass(frozen=True)
class ReferenceTruth:
    """Mechanistic source and sink of the ``reference`` truth generator.

    See [SOC science: truth][soc-truth].

    P*(z, t)    = p0 exp(-p_depth z) (1 + p_ph (pH - ph_ref))                         [% / yr]
    R*(C, z, t) = r0 (1 - r_cec (CEC - cec_ref)) (clay_ref / Clay) (1 + r_ph (pH - ph_ref)) C
    """

    p0: float = 0.08
    p_depth: float = 3.0
    p_ph: float = 0.2
    r0: float = 0.04
    r_cec: float = 0.5
    r_ph: float = 0.1
    ph_ref: float = 6.5
    cec_ref: float = 0.5
    clay_ref: float = 25.0


def depth_grid(grid: SOCGridConfig) -> np.ndarray:
    """Uniform depth nodes in m, both ends included."""
    return np.linspace(0.0, grid.depth, grid.nz)


def initial_profile(depth: np.ndarray, initial: SOCInitialConfig) -> np.ndarray:
    """C(z, 0) = surface exp(-decay depth_scale z) in % (paper eq. 8)."""
    return initial.surface * np.exp(-initial.decay * initial.depth_scale * np.asarray(depth))


def driver_fields(
    depth: Any, time: Any, coef: DriverCoefficients = DriverCoefficients(), xp: ModuleType = np
) -> tuple[Any, Any, Any]:
    """pH, CEC and clay at depths ``depth`` (m) and time ``time`` (yr); broadcasting applies."""
    two_pi = 2.0 * np.pi
    ph = coef.ph0 + coef.ph_slope * depth + coef.ph_amp * xp.sin(two_pi * time / coef.ph_period)
    cec = (
        coef.cec0
        + coef.cec_depth_amp * xp.sin(two_pi * depth)
        + coef.cec_amp * xp.cos(two_pi * time / coef.cec_period)
    )
    clay = (
        coef.clay0
        + coef.clay_depth_amp * xp.cos(two_pi * depth)
        + coef.clay_amp * xp.sin(two_pi * time / coef.clay_period)
    )
    return ph, cec, clay


def reference_production(
    depth: Any, ph: Any, truth: ReferenceTruth = ReferenceTruth(), xp: ModuleType = np
) -> Any:
    """P*(z, t) in % yr-1."""
    return truth.p0 * xp.exp(-truth.p_depth * depth) * (1.0 + truth.p_ph * (ph - truth.ph_ref))


def reference_respiration(
    soc: Any, ph: Any, cec: Any, clay: Any, truth: ReferenceTruth = ReferenceTruth()
) -> Any:
    """R*(C, z, t) in % yr-1."""
    return (
        truth.r0
        * (1.0 - truth.r_cec * (cec - truth.cec_ref))
        * (truth.clay_ref / clay)
        * (1.0 + truth.r_ph * (ph - truth.ph_ref))
        * soc
    )


def transport_tendency(
    soc: Any, dz: float, diffusion: Any, advection: Any, boundary: str, xp: ModuleType = np
) -> Any:
    """D C_zz - v C_z on the node grid, second-order central differences.

    ``mirror``: ghost points C_-1 = C_1 and C_N = C_N-2 (paper eq. 6); with v > 0 this does
    not conserve mass. ``zero_flux``: finite volumes around the nodes (half cells at the ends),
    face fluxes F = v (C_i + C_i+1)/2 - D (C_i+1 - C_i)/dz and F = 0 at both ends, so the
    interior nodes get the same central scheme and total carbon is conserved to round-off.
    The last axis of ``soc`` is depth.
    """
    if boundary == "mirror":
        padded = xp.concatenate([soc[..., 1:2], soc, soc[..., -2:-1]], axis=-1)
        czz = (padded[..., 2:] - 2.0 * padded[..., 1:-1] + padded[..., :-2]) / dz**2
        cz = (padded[..., 2:] - padded[..., :-2]) / (2.0 * dz)
        return diffusion * czz - advection * cz
    if boundary == "zero_flux":
        face = (
            advection * 0.5 * (soc[..., 1:] + soc[..., :-1])
            - diffusion * (soc[..., 1:] - soc[..., :-1]) / dz
        )
        zero = xp.zeros_like(soc[..., :1])
        flux = xp.concatenate([zero, face, zero], axis=-1)
        return -(flux[..., 1:] - flux[..., :-1]) / cell_volumes(soc.shape[-1], dz, xp)
    raise ValueError(f"unknown boundary {boundary!r}; use 'mirror' or 'zero_flux'")


def cell_volumes(nz: int, dz: float, xp: ModuleType = np) -> Any:
    """Control-volume widths in m: dz inside, dz/2 at both ends (trapezoid weights)."""
    widths = xp.full((nz,), dz)
    if xp is np:
        widths[0] = widths[-1] = dz / 2
        return widths
    return widths.at[0].set(dz / 2).at[-1].set(dz / 2)


def total_carbon(soc: Any, dz: float, xp: ModuleType = np) -> Any:
    """Depth integral of SOC (trapezoid rule), in % m; conserved by ``zero_flux`` transport."""
    return xp.sum(soc * cell_volumes(soc.shape[-1], dz, xp), axis=-1)
