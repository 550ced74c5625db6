"""Ensembles of HySoMi fits for uncertainty: K seeds, intervals on parameters and pools.

The members are :func:`~soilsciml.hysomi.fit.fit_hysomi` runs with seeds
``config.seed + k`` (initial weights and batch order); they share shapes and the compiled
training step (``jax_hysomi_train.TRACES`` does not grow after the first member). On the test
split the ensemble gives, per sample, the mean and the 5-95 % range over members of the 13
predicted parameters and of the six pools. Only CO2 is observed; the band on the five hidden
pools is the members' disagreement about them (epistemic), and its coverage of the true hidden
pools (known for synthetic data) says how far that disagreement can be trusted as an
uncertainty.

A few members trained on the same data agree more closely than they are right, so the raw band
is narrow. The *calibrated* band widens it by one factor learned from the observed pool: on the
validation split, ``band_scale`` is the 90 % quantile (the next larger value, never
interpolated) of ``|CO2_true - CO2_mean| / (z sd)``
over samples and times after t = 0 (``sd``: the members' standard deviation, ``z``: the
standard normal 95 % quantile), so that the band ``mean +- band_scale z sd`` covers 90 % of the
validation CO2; the same factor then widens the band of every pool and parameter on the test
split. Only CO2 enters the factor, so it is available for real data too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from soilsciml.config import MAX_MEMBERS, HySoMiTrainConfig, load_config
from soilsciml.data.io import json_safe, json_text
from soilsciml.hysomi.fit import (
    HIDDEN_STATES,
    MODEL_FILES,
    HySoMiFitResult,
    fit_hysomi,
    hysomi_metrics,
    predict_split,
)
from soilsciml.metrics import BAND_LOWER as LOWER
from soilsciml.metrics import BAND_UPPER as UPPER
from soilsciml.metrics import interval_coverage
from soilsciml.models import hysomi as model

__all__ = [
    "HySoMiEnsembleResult",
    "band_scale",
    "ensemble_predictions",
    "fit_hysomi_ensemble",
]

#: Coverage the calibrated band is tuned to on the validation CO2.
NOMINAL = UPPER - LOWER
#: Standard normal quantile of the band's upper end (1.645 for 95 %).
Z = float(NormalDist().inv_cdf(UPPER))
_CO2 = model.STATE_NAMES.index("CO2")


def band_scale(members: list[HySoMiFitResult], ds: xr.Dataset, split: str = "validation") -> float:
    """Widening factor of the calibrated band from the observed CO2 of ``split`` (see the
    module docstring); 1 when the members agree exactly everywhere."""
    predictions = [predict_split(m, ds, split) for m in members]
    ok = np.all([p["solve_status"].values == 0 for p in predictions], axis=0)
    co2 = np.stack([p["states_pred"].values[ok, 1:, _CO2] for p in predictions])
    truth = predictions[0]["states_true"].values[ok, 1:, _CO2]
    spread = co2.std(0)
    keep = spread > 0
    if not keep.any():
        return 1.0
    ratio = np.abs(truth - co2.mean(0))[keep] / (Z * spread[keep])
    return float(max(np.quantile(ratio, NOMINAL, method="higher"), 1e-12))


def ensemble_predictions(members: list[HySoMiFitResult], scale: float = 1.0) -> xr.Dataset:
    """The members' test predictions on a ``member`` dimension, with mean and bands.

    Variables: ``params_pred`` (member, sample, param) and ``states_pred`` (member, sample,
    time, state); ``params_mean|lower|upper`` and ``states_mean|lower|upper`` (5-95 % over
    members); ``*_lower_calibrated|upper_calibrated``, ``mean +- scale z sd`` over members
    (``scale`` from :func:`band_scale`, stored as the attribute ``band_scale``), clipped to
    non-negative pools and to the parameters' box; the truths
    ``params_true``, ``states_true``; ``solve_status`` (member, sample). A sample whose solve
    failed in a member is left out of that member's band (NaN).
    """
    first = members[0].predictions
    names = ("params_pred", "states_pred", "solve_status")
    stacked = xr.concat([m.predictions[list(names)] for m in members], dim="member")
    failed = stacked["solve_status"] != 0
    data = {}
    for kind, dims in (("params", ("sample", "param")), ("states", ("sample", "time", "state"))):
        values = stacked[f"{kind}_pred"].where(~failed).values
        with np.errstate(invalid="ignore"):
            mean, lower, upper = (
                np.nanmean(values, 0),
                np.nanquantile(values, LOWER, axis=0),
                np.nanquantile(values, UPPER, axis=0),
            )
            half = scale * Z * np.nanstd(values, 0)
        # pools are non-negative masses, parameters live in their box
        floor, ceiling = (0.0, np.inf) if kind == "states" else (model.LOWER, model.UPPER)
        bands = {"mean": mean, "lower": lower, "upper": upper}
        bands |= {
            "lower_calibrated": np.maximum(mean - half, floor),
            "upper_calibrated": np.minimum(mean + half, ceiling),
        }
        for suffix, value in bands.items():
            data[f"{kind}_{suffix}"] = (dims, value)
    ds = stacked.assign(data).assign_coords(member=np.arange(len(members)))
    ds["params_true"] = first["params_true"]
    ds["states_true"] = first["states_true"]
    ds["params_lower"].attrs["long_name"] = f"{LOWER:.0%} quantile over members"
    ds["params_upper"].attrs["long_name"] = f"{UPPER:.0%} quantile over members"
    ds.attrs.update(first.attrs | {"members": len(members), "band_scale": scale})
    ds.attrs["title"] = (
        f"HySoMi {members[0].config.model} ensemble of {len(members)} on the test split"
    )
    return ds


@dataclass(frozen=True)
class HySoMiEnsembleResult:
    """K HySoMi fits and their band on the test split.

    Parameters
    ----------
    config : HySoMiTrainConfig
        The first member's config (members differ by ``seed``).
    members : list of HySoMiFitResult
    predictions : xarray.Dataset
        :func:`ensemble_predictions`.
    """

    config: HySoMiTrainConfig
    members: list[HySoMiFitResult]
    predictions: xr.Dataset

    def mean_predictions(self) -> xr.Dataset:
        """The ensemble mean as a single-model predictions Dataset (for ``hysomi_metrics``)."""
        p = self.predictions
        ok = (p["solve_status"] == 0).all("member")
        return xr.Dataset(
            {
                "params_pred": p["params_mean"],
                "params_true": p["params_true"],
                "states_pred": p["states_mean"],
                "states_true": p["states_true"],
                "solve_status": xr.where(ok, 0, 1),
            },
            attrs=p.attrs,
        )

    def metrics(self) -> dict[str, Any]:
        """Coverage of the bands and the scores of the mean and of the members.

        ``coverage_hidden``: fraction of the true hidden-pool values (five pools, every test
        sample solved by all members, every time after t = 0, where all pools start at the
        same initial state) inside the 5-95 % band; ``coverage_<pool>`` per pool,
        ``coverage_co2`` and ``coverage_params`` likewise; ``width_hidden``: mean band width
        over the mean absolute hidden pool (relative); the same with ``_calibrated`` for the
        calibrated band and its ``band_scale``. ``mean_<metric>``: the ensemble mean's
        ``hysomi_metrics``; ``members_<metric>``: mean and spread over members.
        """
        p = self.predictions
        ok = (p["solve_status"] == 0).all("member").values
        later = p["time"].values > p["time"].values[0]
        out: dict[str, Any] = {"members": len(self.members), "n_test": int(ok.size)}
        out["n_failed_any_member"] = int((~ok).sum())
        index = {name: list(model.STATE_NAMES).index(name) for name in model.STATE_NAMES}

        def pools(variable: str, names) -> np.ndarray:
            cols = [index[n] for n in names]
            return p[variable].values[ok][:, later][..., cols]

        out["band_scale"] = float(p.attrs.get("band_scale", 1.0))
        groups = (("hidden", HIDDEN_STATES), *((n, (n,)) for n in model.STATE_NAMES))
        for band in ("", "_calibrated"):
            lower, upper = f"states_lower{band}", f"states_upper{band}"
            for label, names in groups:
                out[f"coverage_{label.lower()}{band}"] = interval_coverage(
                    pools("states_true", names), pools(lower, names), pools(upper, names)
                )
            width = pools(upper, HIDDEN_STATES) - pools(lower, HIDDEN_STATES)
            out[f"width_hidden{band}"] = float(
                np.mean(width) / np.mean(np.abs(pools("states_true", HIDDEN_STATES)))
            )
            out[f"coverage_params{band}"] = interval_coverage(
                p["params_true"].values[ok],
                p[f"params_lower{band}"].values[ok],
                p[f"params_upper{band}"].values[ok],
            )
        for key, value in hysomi_metrics(self.mean_predictions(), self.config).items():
            if key in ("l1_params", "mse_co2", "mse_hidden", "constraint_sum"):
                out[f"mean_{key}"] = value
        member_scores = [m.metrics() for m in self.members]
        for key in ("l1_params", "mse_co2", "mse_hidden", "constraint_sum"):
            values = [s[key] for s in member_scores if s[key] is not None]
            out[f"members_{key}"] = float(np.mean(values)) if values else None
            out[f"members_{key}_sd"] = float(np.std(values)) if values else None
        out["wall_time_s"] = float(sum(s["wall_time_s"] for s in member_scores))
        return out

    def save(self, directory: str | Path, figures: bool = True) -> Path:
        """Write ``member_<k>/`` runs (those not saved yet), ``ensemble.nc``, ``metrics.json``
        and ``bands.png``."""
        from soilsciml.data.io import save_dataset
        from soilsciml.plots.hysomi import ensemble_bands

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for k, member in enumerate(self.members):
            if not (directory / f"member_{k}" / MODEL_FILES[member.engine]).exists():
                member.save(directory / f"member_{k}")
        save_dataset(self.predictions, directory / "ensemble.nc")
        metrics = json_safe(self.metrics())
        (directory / "metrics.json").write_text(json_text(metrics, indent=2) + "\n")
        if figures:
            fig = ensemble_bands(self.predictions, sample=0)
            fig.savefig(directory / "bands.png", dpi=110)
        return directory


def _member(ds, config: HySoMiTrainConfig, folder: Path | None) -> HySoMiFitResult:
    """Train one member, or reuse the one saved in ``folder`` with the same config."""
    if folder is not None and (folder / MODEL_FILES["jax"]).exists():
        saved = load_config(folder / "config.toml", HySoMiTrainConfig)
        if saved != config:
            raise ValueError(
                f"{folder} holds a member trained with other settings; choose another output "
                "folder or remove it"
            )
        try:
            return HySoMiFitResult.load(folder)
        except Exception:  # a partial or corrupted member: train it again
            pass
    member = fit_hysomi(ds, config, progress=False)
    if folder is not None:
        member.save(folder)
    return member


def fit_hysomi_ensemble(
    ds: xr.Dataset,
    config: HySoMiTrainConfig | None = None,
    members: int = 5,
    progress: bool = True,
    directory: str | Path | None = None,
) -> HySoMiEnsembleResult:
    """Train ``members`` HySoMi models with seeds ``config.seed + k``; bands on the test
    split, the calibrated one widened by :func:`band_scale` from the validation CO2.

    With ``directory``, each member is saved to ``directory/member_<k>`` as soon as it is
    trained, and a member already saved there with the same settings is loaded instead of
    trained again (an interrupted ensemble resumes; a larger one adds members).

    Raises
    ------
    ValueError
        Fewer than 2 members, the ``ml`` model (it predicts CO2 only: no parameters or
        hidden pools to put a band on), or a saved member with other settings.
    """
    config = config or HySoMiTrainConfig()
    if isinstance(members, bool) or not isinstance(members, int) or not 2 <= members <= MAX_MEMBERS:
        raise ValueError(f"an ensemble needs from 2 to {MAX_MEMBERS} members; got {members!r}")
    if config.model == "ml":
        raise ValueError("the 'ml' model predicts CO2 only; ensemble a PBM-based model")
    fits = []
    for k in tqdm(range(members), desc="members", unit="member", disable=not progress):
        member_config = dataclasses.replace(config, seed=config.seed + k)
        folder = None if directory is None else Path(directory) / f"member_{k}"
        fits.append(_member(ds, member_config, folder))
    scale = band_scale(fits, ds, "validation")
    return HySoMiEnsembleResult(config, fits, ensemble_predictions(fits, scale))
