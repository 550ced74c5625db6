"""Uncertainty of a HySoMi calibration: profile likelihood or a NUTS posterior, and bands.

- ``profile``: each parameter is held at values stepping out from its estimate (doubling
  steps until chi2 rises by ``q``, the chi-square(1) quantile of the level, then bisection
  of the bracket) while Levenberg-Marquardt re-fits the other twelve (one compiled kernel
  for every point, all series at once). The interval is where the signed root of
  ``chi2 - chi2_min`` stays within ``+-sqrt(q)``, interpolated linearly inside the last
  bracket; a side that never crosses reaches the box edge (``open``). The band is the
  envelope of the pools of every profile point inside the region.
- ``mcmc``: NUTS (numpyro) on the unbounded parameters with a uniform prior on the box
  (the transform's log-Jacobian added), the Gaussian likelihood of the fit's sigmas and the
  constraint residuals as a soft prior. It samples ``mcmc_parameters``, by default the
  parameters the fitted channels identify (collinearity analysis), and holds the others at
  the estimate: over all 13 the unidentified ones roam the box and the chains do not mix in
  affordable runs (a synthetic 15-h series, 4 x 200 draws: split R-hat 1.5 for the
  identifiable mu_max and Y; with a dense mass matrix up to 2.8, ESS 2-14). Split R-hat
  and effective sample size per sampled parameter, a warning where R-hat > 1.05 or
  ESS < 100. Intervals are equal-tailed posterior quantiles (sampled parameters only),
  bands the quantiles of the pools of ``band_draws`` thinned draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import chi2 as chi_square

from soilsciml.config import HySoMiCalibrationConfig
from soilsciml.models import hysomi as model

__all__ = ["ESS_LIMIT", "RHAT_LIMIT", "dense_times", "estimate", "simulate"]

#: Parameter sets simulated per compiled call on the dense grid.
_CHUNK = 32
#: Largest split R-hat and smallest effective sample size without a warning.
RHAT_LIMIT, ESS_LIMIT = 1.05, 100.0


def dense_times(grids: list[np.ndarray], points: int = 200) -> np.ndarray:
    """Output grid (h) up to the longest series: linear and geometric points, and every save
    point of every series (so observations and constraint points are on it)."""
    span = max(float(g[-1]) for g in grids)
    spread = [np.linspace(0.0, span, points)]
    if span > 0:
        spread.append(np.geomspace(min(0.1, span / 1000.0), span, points // 2))
    return np.unique(np.concatenate([*spread, *grids]))


def simulate(
    params: np.ndarray,
    initial: np.ndarray,
    times: np.ndarray,
    config: HySoMiCalibrationConfig,
    codes: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pools (n, T, 6) of parameter sets (n, 13) from pools (n, 6) on ``times``; NaN where the
    solve failed (and the solve codes (n,) with ``codes``). Runs in padded chunks, so any n
    shares one compilation."""
    import jax.numpy as jnp

    from soilsciml.engines.jax.pbm import simulate_states

    n = params.shape[0]
    initial = np.broadcast_to(initial, (n, initial.shape[-1]))
    out = np.full((n, times.size, initial.shape[-1]), np.nan)
    status = np.zeros(n, dtype=int)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        fill = _CHUNK - (stop - start)
        theta = np.concatenate([params[start:stop], np.repeat(params[stop - 1 : stop], fill, 0)])
        y0 = np.concatenate([initial[start:stop], np.repeat(initial[stop - 1 : stop], fill, 0)])
        states, chunk_codes, _ = simulate_states(
            jnp.asarray(theta), jnp.asarray(y0), jnp.asarray(times), config.solver
        )
        states = np.asarray(states)[: stop - start]
        status[start:stop] = np.asarray(chunk_codes)[: stop - start]
        ok = status[start:stop] == 0
        out[start:stop] = np.where(ok[:, None, None], states, np.nan)
    return (out, status) if codes else out


def _with_biomass(states: np.ndarray) -> np.ndarray:
    """Pools (..., 6) with B_A + B_D appended (..., 7), so the band of the sum is its own."""
    return np.concatenate([states, states[..., :1] + states[..., 1:2]], axis=-1)


def _wald_se(jacobian: np.ndarray) -> np.ndarray:
    """Standard errors (S, 13) of the unbounded parameters from the residual Jacobian."""
    normal = np.einsum("sri,srj->sij", jacobian, jacobian)
    cov = np.linalg.pinv(normal, hermitian=True)
    return np.clip(np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None)), 0.01, 1.0)


def _crossing(values, roots, centre, bound, side):
    """Where the signed root first passes ``side * bound`` going out from ``centre``."""
    order = np.argsort(values)
    values, roots = values[order], roots[order]
    outward = values > centre if side > 0 else values < centre
    path_v = np.concatenate([[centre], values[outward][::side]])
    path_r = np.concatenate([[0.0], roots[outward][::side]])
    beyond = np.flatnonzero(side * path_r >= bound)
    if beyond.size == 0:
        return path_v[-1], True
    k = beyond[0]
    r0, r1 = path_r[k - 1], path_r[k]
    fraction = (side * bound - r0) / (r1 - r0) if r1 != r0 else 1.0
    return path_v[k - 1] + fraction * (path_v[k] - path_v[k - 1]), False


def _walk(kernel, fit, j, side, se, config):
    """One side of parameter ``j``'s profile: step out from the estimate, then bisect.

    The first step is half the Wald half-width (at most 0.5 in the unbounded transform) and
    each next one twice the last, until chi2 rises by the quantile ``q``; then the bracket
    between the last point inside and the first outside is halved (continuation: each re-fit
    starts from the inside point's). The last point is the box edge for a series that never
    crossed. Returns values (S, P + 1), chi2 (S, P + 1) and re-fits (S, P + 1, 13), all in
    the unbounded transform.
    """
    from soilsciml.engines.jax.calibrate import RAW_LIMIT

    quantile = chi_square.ppf(config.level, 1)
    raw = fit["raw"]
    n_series, n_points = raw.shape[0], config.profile_points + 1
    values, chi2 = np.empty((n_series, n_points)), np.empty((n_series, n_points))
    refits = np.empty((n_series, n_points, raw.shape[1]))
    free = np.ones_like(raw)
    free[:, j] = 0.0
    step = np.minimum(0.5 * np.sqrt(quantile) * se[:, j], 0.5)
    inside, inside_fit = raw[:, j].copy(), raw.copy()
    outside = np.full(n_series, np.nan)
    for k in range(n_points):
        bracketed = np.isfinite(outside)
        grown = np.clip(inside + side * step, -RAW_LIMIT, RAW_LIMIT)
        if k == n_points - 1:  # the box edge where no crossing was found
            grown = np.full(n_series, side * RAW_LIMIT)
        trial = np.where(bracketed, 0.5 * (inside + outside), grown)
        start = inside_fit.copy()
        start[:, j] = trial
        out = kernel.least_squares(start, config.profile_steps, free)
        values[:, k], chi2[:, k], refits[:, k] = trial, out["chi2"], out["raw"]
        crossed = out["chi2"] - fit["chi2"] >= quantile
        outside = np.where(crossed, trial, outside)
        inside = np.where(crossed, inside, trial)
        inside_fit = np.where(crossed[:, None], inside_fit, out["raw"])
        step = np.where(bracketed | crossed, step, 2.0 * step)
    return values, chi2, refits


def _profile_warnings(fit, values, chi2, delta, bounds, profiled, quantile) -> list[list[str]]:
    """Per series: a better fit found by a profile (the estimate is a local optimum), and
    profile points within the threshold outside the interval (more than one region)."""
    out = []
    for s in range(values.shape[0]):
        notes = []
        better = fit["chi2"][s] - np.nanmin(chi2[s])
        if better > 1e-6 * max(fit["chi2"][s], 1.0):
            notes.append(
                f"a profile found a fit better by chi2 {better:.3g}: the estimate is a local "
                "optimum (more starts: --screen, --starts)"
            )
        for j in profiled:
            low, high = bounds[s, j]
            apart = (delta[s, j] <= quantile) & ((values[s, j] < low) | (values[s, j] > high))
            if apart.any():
                spec = model.PARAMETERS[j]
                unit = 1.0 / (1.0 + np.exp(-values[s, j][apart][0]))
                value = spec.lower + (spec.upper - spec.lower) * unit
                notes.append(
                    f"{spec.name}: a fit within the threshold at {value:.4g} {spec.unit}, "
                    "outside the interval: the likelihood has more than one region"
                )
        out.append(notes)
    return out


def _profile(kernel, fit, dense, config) -> dict[str, Any]:
    n_series = fit["raw"].shape[0]
    raw = fit["raw"]
    quantile = chi_square.ppf(config.level, 1)
    se = _wald_se(fit["jacobian"])
    n_points = 2 * (config.profile_points + 1)
    values = np.full((n_series, len(model.PARAMETERS), n_points), np.nan)
    chi2 = np.full(values.shape, np.nan)
    refits = np.full((*values.shape, len(model.PARAMETERS)), np.nan)
    names = config.profile_parameters or model.PARAM_NAMES
    profiled = [model.PARAM_NAMES.index(name) for name in names]
    for j in profiled:
        for half, side in enumerate((-1, 1)):
            part = slice(half * n_points // 2, (half + 1) * n_points // 2)
            values[:, j, part], chi2[:, j, part], refits[:, j, part] = _walk(
                kernel, fit, j, side, se, config
            )
    best = np.minimum(fit["chi2"], np.nanmin(chi2, axis=(1, 2)))
    delta = np.clip(chi2 - best[:, None, None], 0, None)
    roots = np.sign(values - raw[..., None]) * np.sqrt(delta)
    bounds = np.full((n_series, len(model.PARAMETERS), 2), np.nan)
    open_side = np.zeros(bounds.shape, dtype=bool)
    for s in range(n_series):
        for j in profiled:
            for k, side in enumerate((-1, 1)):
                bounds[s, j, k], open_side[s, j, k] = _crossing(
                    values[s, j], roots[s, j], raw[s, j], np.sqrt(quantile), side
                )
    inside = np.nan_to_num(delta, nan=np.inf) <= quantile
    warnings = _profile_warnings(fit, values, chi2, delta, bounds, profiled, quantile)
    members = []
    for s in range(n_series):
        sets = np.concatenate([fit["raw"][s : s + 1], refits[s][inside[s]]])
        states = _with_biomass(
            simulate(model.to_box(sets), kernel.problem.initial[s], dense, config)
        )
        members.append((np.nanmin(states, axis=0), np.nanmax(states, axis=0)))
    box = model.to_box(np.moveaxis(bounds, -1, 0))
    return {
        "method": "profile",
        "lower": box[0],
        "upper": box[1],
        "open_lower": open_side[..., 0],
        "open_upper": open_side[..., 1],
        "band_lower": np.stack([m[0] for m in members]),
        "band_upper": np.stack([m[1] for m in members]),
        "profile_value": model.to_box(np.moveaxis(values, 1, -1)).swapaxes(1, 2),
        "profile_delta_chi2": delta,
        "threshold": float(quantile),
        "warnings": warnings,
    }


def _sampled(config: HySoMiCalibrationConfig, identifiable: np.ndarray) -> tuple[np.ndarray, str]:
    """Indices NUTS moves for one series (``mcmc_parameters``, else its identifiable set, else
    all 13) and a warning when the identifiable set was empty."""
    if config.mcmc_parameters:
        return np.array([model.PARAM_NAMES.index(n) for n in config.mcmc_parameters]), ""
    if identifiable.any():
        return np.flatnonzero(identifiable), ""
    return np.arange(len(model.PARAMETERS)), (
        "no parameter is identifiable from the fitted channels: NUTS sampled all 13"
    )


def _mcmc(kernel, fit, dense, config, identifiable) -> dict[str, Any]:
    from soilsciml.engines.jax.calibrate_mcmc import sample_posterior

    n_series = fit["raw"].shape[0]
    tail = (1.0 - config.level) / 2.0
    out: dict[str, list] = {key: [] for key in ("draws", "rhat", "ess", "divergent", "warnings")}
    bands, sampled_mask = [], np.zeros((n_series, len(model.PARAMETERS)), dtype=bool)
    for s in range(n_series):
        sampled, note = _sampled(config, identifiable[s])
        sampled_mask[s, sampled] = True
        posterior = sample_posterior(kernel, s, fit["raw"][s], config, sampled)
        draws = model.to_box(posterior["raw"])  # (chains, samples, 13)
        flat = draws.reshape(-1, draws.shape[-1])
        out["draws"].append(flat)
        for key in ("rhat", "ess", "divergent"):
            out[key].append(posterior[key])
        warnings = [note] if note else []
        poor = (posterior["rhat"] > RHAT_LIMIT) | (posterior["ess"] < ESS_LIMIT)
        if poor.any():
            names = ", ".join(np.asarray(model.PARAM_NAMES)[poor])
            warnings.append(
                f"NUTS has not converged for {names} (split R-hat > {RHAT_LIMIT} or ESS < "
                f"{ESS_LIMIT:g}): run more warm-up and draws (mcmc_warmup, mcmc_samples) "
                "before trusting these intervals"
            )
        if posterior["divergent"] > 0:
            warnings.append(f"{posterior['divergent']} divergent transitions")
        out["warnings"].append(warnings)
        pick = np.linspace(0, flat.shape[0] - 1, min(config.band_draws, flat.shape[0]))
        states = _with_biomass(
            simulate(flat[pick.astype(int)], kernel.problem.initial[s], dense, config)
        )
        bands.append(np.nanquantile(states, [tail, 1 - tail], axis=0))
    draws = np.stack(out["draws"])
    return {
        "method": "mcmc",
        "lower": np.where(sampled_mask, np.quantile(draws, tail, axis=1), np.nan),
        "upper": np.where(sampled_mask, np.quantile(draws, 1 - tail, axis=1), np.nan),
        "sampled": sampled_mask,
        "open_lower": np.zeros(draws.shape[::2], dtype=bool),
        "open_upper": np.zeros(draws.shape[::2], dtype=bool),
        "band_lower": np.stack([b[0] for b in bands]),
        "band_upper": np.stack([b[1] for b in bands]),
        "draws": draws,
        "rhat": np.stack(out["rhat"]),
        "ess": np.stack(out["ess"]),
        "divergent": np.array(out["divergent"]),
        "warnings": out["warnings"],
    }


def estimate(
    kernel, fit, dense, config: HySoMiCalibrationConfig, identifiable: np.ndarray
) -> dict[str, Any] | None:
    """Intervals and bands by ``config.uncertainty`` (None for ``none``); ``identifiable``
    (S, 13) bool, the parameters the fitted channels identify, chooses what NUTS samples."""
    if config.uncertainty == "profile":
        return _profile(kernel, fit, dense, config)
    if config.uncertainty == "mcmc":
        return _mcmc(kernel, fit, dense, config, identifiable)
    return None
