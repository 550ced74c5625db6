"""Multiplicative observation noise, iid or AR-1 correlated along depth.

See [SOC science: noise][soc-noise].

    x~ = x (1 + level * eps)

For ``ar1``, eps along depth follows eps_1 ~ N(0, 1), eps_i = rho eps_i-1 + sqrt(1 - rho^2) xi_i
(unit marginal variance), drawn independently at each time (and site).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from soilsciml.config import NoiseConfig
from soilsciml.data.schema import SOC_VARIABLES, DatasetError

__all__ = ["add_noise", "standard_noise"]


def standard_noise(
    shape: tuple[int, ...], kind: str, rho: float, rng: np.random.Generator
) -> np.ndarray:
    """Unit-variance Gaussian noise; for ``ar1`` correlated along the last axis (depth)."""
    xi = rng.standard_normal(shape)
    if kind == "iid":
        return xi
    if kind != "ar1":
        raise ValueError(f"unknown noise kind {kind!r}; use 'iid' or 'ar1'")
    eps = np.empty_like(xi)
    eps[..., 0] = xi[..., 0]
    innovation = np.sqrt(1.0 - rho**2)
    for i in range(1, shape[-1]):
        eps[..., i] = rho * eps[..., i - 1] + innovation * xi[..., i]
    return eps


def add_noise(ds: xr.Dataset, config: NoiseConfig) -> xr.Dataset:
    """Perturb the configured variables of a SOC dataset, keeping each clean field.

    The noise is always applied to the clean field (``<name>_clean`` when present), so noising
    a noisy dataset replaces its noise rather than compounding it. Values pushed outside a
    variable's physical range (negative SOC, pH above 14) are clipped to it and counted in
    ``attrs['noise_clipped']``. NaN targets stay NaN.

    Parameters
    ----------
    ds : xarray.Dataset
        A SOC dataset with ``depth`` as its last dimension.
    config : NoiseConfig
        Level, kind, rho, seed and the variables to perturb.
    """
    rng = np.random.default_rng(config.seed)
    out = ds.copy()
    clipped = 0
    for name in config.variables:
        if name not in ds.data_vars:
            raise DatasetError(f"variable '{name}' to perturb is missing from the dataset")
        clean = ds[f"{name}_clean"] if f"{name}_clean" in ds.data_vars else ds[name]
        if clean.dims[-1] != "depth":
            raise DatasetError(f"variable '{name}' must have 'depth' as its last dimension")
        eps = standard_noise(clean.shape, config.kind, config.rho, rng)
        noisy = clean.values * (1.0 + config.level * eps)
        spec = SOC_VARIABLES.get(name)
        if spec is not None:
            low = -np.inf if spec.minimum is None else spec.minimum
            high = np.inf if spec.maximum is None else spec.maximum
            outside = (noisy < low) | (noisy > high)
            clipped += int(outside.sum())
            noisy = np.clip(noisy, low, high)
        out[name] = clean.copy(data=noisy)
        out[f"{name}_clean"] = clean.copy()
        out[f"{name}_clean"].attrs["long_name"] = f"{clean.attrs.get('long_name', name)} (clean)"
    out.attrs.update(
        noise_level=config.level,
        noise_kind=config.kind,
        noise_rho=config.rho,
        noise_seed=config.seed,
        noise_variables=",".join(config.variables),
        noise_clipped=clipped,
    )
    return out
