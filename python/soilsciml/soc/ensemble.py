"""Ensembles of SOC UDE fits for uncertainty: K seeds, their spread and a predictive band.

The members are trained one after the other with seeds ``train.seed + k``; they share shapes
and static settings, so every member after the first reuses the first one's compiled kernels
(``num_compiles == 0``). The band is a 5-95 % predictive interval: each member's prediction
``m_k`` plus the observation-noise model ([SOC science: noise][soc-noise]),
``m_k (1 + eta eps)`` with ``eps ~ N(0, 1)``, pooled over members (Monte Carlo, seeded). The
members' spread alone (the epistemic band) is kept too; it is too narrow when few members
agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from soilsciml.config import MAX_MEMBERS, SOCFitConfig
from soilsciml.metrics import BAND_LOWER as LOWER
from soilsciml.metrics import BAND_UPPER as UPPER
from soilsciml.metrics import interval_coverage, regression_metrics
from soilsciml.soc.fit import SOC_ATTRS, SOCFitResult, fit_soc, write_report

__all__ = ["SOCEnsembleResult", "fit_soc_ensemble", "predictive_band"]


def predictive_band(
    members: np.ndarray, eta: float, draws: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """5 % and 95 % quantiles of the pooled predictive ``m_k (1 + eta eps)`` over members.

    Parameters
    ----------
    members : ndarray, shape (K, ...)
        Member predictions (SOC, %).
    eta : float
        Relative observation-noise level (0 gives the members' own 5-95 % spread).
    draws : int
        Monte Carlo draws per member.
    """
    members = np.asarray(members, dtype=float)
    if eta == 0:
        return np.quantile(members, LOWER, axis=0), np.quantile(members, UPPER, axis=0)
    eps = np.random.default_rng(seed).standard_normal((draws, *members.shape))
    samples = (members[None] * (1.0 + eta * eps)).reshape(-1, *members.shape[1:])
    return np.quantile(samples, LOWER, axis=0), np.quantile(samples, UPPER, axis=0)


def _noise_level(dataset: xr.Dataset, members: list[SOCFitResult], eta: float | None):
    """(eta, source): given, the dataset's ``noise_level``, or the members' relative RMS
    residual (an underestimate when they fit the noise)."""
    if eta is not None:
        return float(eta), "given"
    if "noise_level" in dataset.attrs:
        return float(dataset.attrs["noise_level"]), "dataset noise_level"
    fits = members[0].predictions
    relative = [
        (m.predictions["soc_fit_pred"] - fits["soc_fit_obs"]) / fits["soc_fit_obs"] for m in members
    ]
    return float(np.sqrt(np.nanmean(np.square(relative)))), "members' relative residual"


@dataclass(frozen=True)
class SOCEnsembleResult:
    """K SOC UDE fits and their band.

    Parameters
    ----------
    members : list of SOCFitResult
        The member fits (seeds ``train.seed + k``).
    predictions : xarray.Dataset
        The first member's predictions with, on (fit_time, depth): ``soc_mean`` (mean of the
        members), ``soc_lower`` and ``soc_upper`` (5 % and 95 % predictive quantiles),
        ``soc_lower_epistemic``/``soc_upper_epistemic`` (the members' own spread) and on
        (member, fit_time, depth) ``soc_member``.
    noise_eta : float
        Observation-noise level used in the band; ``noise_eta_source`` says where it came from.
    """

    members: list[SOCFitResult]
    predictions: xr.Dataset
    noise_eta: float
    noise_eta_source: str

    def metrics(self) -> dict:
        """Scores of the ensemble mean, coverage and mean width of both bands (clean truth)."""
        ds = self.predictions
        out = {"members": len(self.members), "noise_eta": self.noise_eta}
        out["noise_eta_source"] = self.noise_eta_source
        references = {"noisy": ds["soc_fit_obs"].values}
        if "soc_fit_clean" in ds:
            references["clean"] = ds["soc_fit_clean"].values
        for kind, reference in references.items():
            scores = regression_metrics(ds["soc_mean"].values, reference)
            out.update({f"{m}_{kind}": scores[m] for m in ("mse", "rmse", "r2")})
            for band in ("", "_epistemic"):
                lower, upper = ds[f"soc_lower{band}"].values, ds[f"soc_upper{band}"].values
                out[f"coverage{band}_{kind}"] = interval_coverage(reference, lower, upper)
        for band in ("", "_epistemic"):
            width = ds[f"soc_upper{band}"].values - ds[f"soc_lower{band}"].values
            out[f"interval_width{band}"] = float(np.nanmean(width))
        out["member_r2_clean"] = [m.metrics().get("r2_clean") for m in self.members]
        out["num_compiles_after_first"] = sum(m.num_compiles for m in self.members[1:])
        out["failed_solves"] = sum(m.failed_solves for m in self.members)
        out["wall_time_s"] = sum(m.wall_time_s for m in self.members)
        out["status"] = "ok" if all(m.status == "ok" for m in self.members) else "failed"
        return out

    def figures(self) -> dict:
        """The profile with the band, plus the first member's other figures."""
        from soilsciml.plots.soc import plot_ensemble_profile

        figures = self.members[0].figures()
        figures["fit_profile"] = plot_ensemble_profile(self.predictions)
        return figures

    def save(self, path: str | Path, figures: bool = True) -> Path:
        """Write ``results.nc`` (band and members), ``metrics.json``/``metrics.md``, the first
        member's model (``config.toml``, ``weights.npz``) and each member under ``member_k``."""
        from soilsciml.data.io import save_dataset

        path = Path(path)
        self.members[0].model.save(path)
        for k, member in enumerate(self.members):
            member.model.save(path / f"member_{k}")
        save_dataset(self.predictions, path / "results.nc")
        return write_report(path, self.metrics(), self.figures() if figures else {})


def fit_soc_ensemble(
    dataset: xr.Dataset,
    config: SOCFitConfig | None = None,
    members: int = 5,
    engine: str = "jax",
    noise_eta: float | None = None,
    progress: bool = False,
) -> SOCEnsembleResult:
    """Train ``members`` SOC UDEs with seeds ``config.train.seed + k`` and band their predictions.

    Parameters
    ----------
    dataset, config, engine
        As for :func:`~soilsciml.soc.fit.fit_soc`.
    members : int
        Ensemble size K (>= 2).
    noise_eta : float, optional
        Relative observation-noise level of the predictive band; by default the dataset's
        ``noise_level`` attribute, else the members' relative RMS residual.
    progress : bool
        Progress bars of each member's fit.
    """
    if isinstance(members, bool) or not isinstance(members, int) or not 2 <= members <= MAX_MEMBERS:
        raise ValueError(f"members must be an integer from 2 to {MAX_MEMBERS}; got {members!r}")
    if noise_eta is not None and not 0 <= noise_eta <= 1:
        raise ValueError(
            f"noise_eta must be a relative level from 0 to 1 (0.07 for 7 %); got {noise_eta}"
        )
    config = config or SOCFitConfig()
    fits = []
    for k in range(members):
        train = dataclasses.replace(config.train, seed=config.train.seed + k)
        member_config = dataclasses.replace(config, train=train)
        fits.append(fit_soc(dataset, member_config, engine=engine, progress=progress))
    eta, source = _noise_level(dataset, fits, noise_eta)
    stacked = np.stack([fit.predictions["soc_fit_pred"].values for fit in fits])
    lower, upper = predictive_band(stacked, eta)
    dims = ("fit_time", "depth")
    band = {
        "soc_member": (("member", *dims), stacked, {**SOC_ATTRS, "long_name": "member SOC"}),
        "soc_mean": (dims, stacked.mean(axis=0), {**SOC_ATTRS, "long_name": "ensemble mean"}),
        "soc_lower": (dims, lower, {**SOC_ATTRS, "long_name": "5 % predictive quantile"}),
        "soc_upper": (dims, upper, {**SOC_ATTRS, "long_name": "95 % predictive quantile"}),
    }
    epistemic = predictive_band(stacked, 0.0)
    band["soc_lower_epistemic"] = (dims, epistemic[0], {**SOC_ATTRS, "long_name": "5 % member"})
    band["soc_upper_epistemic"] = (dims, epistemic[1], {**SOC_ATTRS, "long_name": "95 % member"})
    predictions = fits[0].predictions.assign(band).assign_coords(member=np.arange(members))
    predictions.attrs.update(ensemble_members=members, noise_eta=eta, noise_eta_source=source)
    return SOCEnsembleResult(fits, predictions, eta, source)
