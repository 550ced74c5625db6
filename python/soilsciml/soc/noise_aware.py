"""Noise-aware SOC training helpers (numpy and xarray; the losses live in the JAX engine).

- :func:`resolve_config`: fill the heteroscedastic noise level from the dataset and refuse
  settings an engine cannot train;
- :func:`holdout_depths` and :func:`holdout_metrics`: the depths ``train.holdout`` leaves out
  of the training loss and the fit's error there;
- :func:`smooth_in_depth`: a denoising prior, Gaussian-kernel local-linear smoothing along depth.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from soilsciml.config import ConfigError, SOCFitConfig, holdout_stride
from soilsciml.data.schema import DatasetError
from soilsciml.metrics import regression_metrics

__all__ = ["holdout_depths", "holdout_metrics", "resolve_config", "smooth_in_depth"]


def resolve_config(config: SOCFitConfig, dataset: xr.Dataset, engine: str) -> SOCFitConfig:
    """``config`` with ``loss.noise_eta`` taken from the dataset when it is 0 and needed.

    Raises
    ------
    DatasetError
        ``heteroscedastic`` with ``noise_eta = 0`` on a dataset without ``noise_level``.
    ConfigError
        A robust loss or a hold-out on an engine other than ``jax``.
    """
    loss = config.loss
    if engine != "jax" and (loss.kind != "mse" or config.train.holdout != "none"):
        raise ConfigError(
            f"loss.kind={loss.kind!r} and train.holdout={config.train.holdout!r} need the jax "
            "engine; the julia engine trains loss.kind='mse' without a hold-out"
        )
    if loss.kind != "heteroscedastic" or loss.noise_eta > 0:
        return config
    if "noise_level" not in dataset.attrs:
        raise DatasetError(
            "loss.kind='heteroscedastic' with loss.noise_eta=0 takes the noise level from the "
            "dataset's 'noise_level' attribute, which it lacks; set loss.noise_eta"
        )
    eta = float(dataset.attrs["noise_level"])
    return dataclasses.replace(config, loss=dataclasses.replace(loss, noise_eta=eta))


def holdout_depths(nz: int, holdout: str) -> np.ndarray:
    """Indices of the held-out depths: every ``stride``-th from ``stride // 2`` (none: empty)."""
    stride = holdout_stride(holdout)
    return np.arange(stride // 2, nz, stride) if stride else np.zeros(0, dtype=int)


def holdout_metrics(fit: xr.Dataset, config: SOCFitConfig) -> dict[str, float]:
    """MSE, RMSE and R2 of the fitted profiles at the held-out depths (``*_holdout_noisy`` and,
    when the clean truth is known, ``*_holdout_clean``); empty without a hold-out."""
    columns = holdout_depths(fit.sizes["depth"], config.train.holdout)
    if columns.size == 0:
        return {}
    predicted = fit["soc_fit_pred"].values[:, columns]
    out = {}
    for kind, name in (("noisy", "soc_fit_obs"), ("clean", "soc_fit_clean")):
        if name in fit:
            scores = regression_metrics(predicted, fit[name].values[:, columns])
            out.update({f"{m}_holdout_{kind}": scores[m] for m in ("mse", "rmse", "r2")})
    return out


def _smoothing_matrix(depth: np.ndarray, bandwidth: float) -> np.ndarray:
    """Rows of local-linear Gaussian-kernel weights: smoothed = matrix @ values."""
    offsets = depth[None, :] - depth[:, None]
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
    s1 = np.sum(kernel * offsets, axis=1, keepdims=True)
    s2 = np.sum(kernel * offsets**2, axis=1, keepdims=True)
    weights = kernel * (s2 - offsets * s1)
    return weights / np.sum(weights, axis=1, keepdims=True)


def smooth_in_depth(
    ds: xr.Dataset,
    variables: tuple[str, ...] = ("ph", "cec", "clay"),
    bandwidth: float = 0.1,
    initial_profile: bool = True,
) -> xr.Dataset:
    """Smooth noisy fields along depth (a denoising prior), keeping the clean fields.

    Local-linear regression with a Gaussian kernel of standard deviation ``bandwidth`` (m) at
    every time; local-linear rather than a plain kernel average so that linear trends are kept
    exactly, also at the surface and the bottom. ``initial_profile`` smooths the first SOC
    profile too (the solve's initial condition); later SOC profiles, the training targets,
    stay as observed.

    Raises
    ------
    DatasetError
        A variable that is missing or does not have ``depth`` as its last dimension.
    ValueError
        A bandwidth that is not positive.
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0 m; got {bandwidth}")
    matrix = _smoothing_matrix(ds["depth"].values, bandwidth)
    out = ds.copy()
    for name in (*variables, *(("soc",) if initial_profile else ())):
        if name not in ds.data_vars or ds[name].dims[-1] != "depth":
            raise DatasetError(f"variable '{name}' to smooth must exist with 'depth' last")
    for name in variables:
        out[name] = ds[name].copy(data=ds[name].values @ matrix.T)
    if initial_profile:
        soc = ds["soc"].values.copy()
        soc[0] = matrix @ soc[0]
        out["soc"] = ds["soc"].copy(data=soc)
    out.attrs.update(depth_smoothing_bandwidth=bandwidth, depth_smoothing_initial=initial_profile)
    return out
