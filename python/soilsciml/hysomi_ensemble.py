"""Ensembles of HySoMi fits for uncertainty: K seeds, intervals on parameters and pools.

The members are :func:`~soilsciml.experiments.hysomi_fit.fit_hysomi` runs with seeds
``config.seed + k`` (initial weights and batch order); they share shapes and the compiled
training step (``jax_hysomi_train.TRACES`` does not grow after the first member). On the test
split the ensemble gives, per sample, the mean and the 5-95 % range over members of the 13
predicted parameters and of the six pools. Only CO2 is observed; the band on the five hidden
pools is the members' disagreement about them (epistemic), and its coverage of the true hidden
pools (known for synthetic data) says how far that disagreement can be trusted as an
uncertainty.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from soilsciml.config import HySoMiTrainConfig
from soilsciml.experiments.hysomi_fit import (
    HIDDEN_STATES,
    HySoMiFitResult,
    fit_hysomi,
    hysomi_metrics,
)
from soilsciml.models import hysomi as model
from soilsciml.soc_ensemble import LOWER, UPPER, interval_coverage

__all__ = ["HySoMiEnsembleResult", "ensemble_predictions", "fit_hysomi_ensemble"]


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, 5 % and 95 % quantiles over the member axis (0)."""
    return values.mean(0), np.quantile(values, LOWER, axis=0), np.quantile(values, UPPER, axis=0)


def ensemble_predictions(members: list[HySoMiFitResult]) -> xr.Dataset:
    """The members' test predictions on a ``member`` dimension, with mean and 5-95 % band.

    Variables: ``params_pred`` (member, sample, param) and ``states_pred`` (member, sample,
    time, state); ``params_mean|lower|upper`` and ``states_mean|lower|upper`` over members;
    the truths ``params_true``, ``states_true``; ``solve_status`` (member, sample). A sample
    whose solve failed in a member is left out of that member's band (NaN).
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
        for suffix, value in (("mean", mean), ("lower", lower), ("upper", upper)):
            data[f"{kind}_{suffix}"] = (dims, value)
    ds = stacked.assign(data).assign_coords(member=np.arange(len(members)))
    ds["params_true"] = first["params_true"]
    ds["states_true"] = first["states_true"]
    ds["params_lower"].attrs["long_name"] = f"{LOWER:.0%} quantile over members"
    ds["params_upper"].attrs["long_name"] = f"{UPPER:.0%} quantile over members"
    ds.attrs.update(first.attrs | {"members": len(members)})
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
        """Coverage of the 5-95 % band and the scores of the mean and of the members.

        ``coverage_hidden``: fraction of the true hidden-pool values (five pools, every test
        sample solved by all members, every time after t = 0, where all pools start at the
        same initial state) inside the band; ``coverage_<pool>`` per pool, ``coverage_co2``
        and ``coverage_params`` likewise; ``width_hidden``: mean band width over the mean
        absolute hidden pool (relative). ``mean_<metric>``: the ensemble mean's
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

        for label, names in (("hidden", HIDDEN_STATES), *((n, (n,)) for n in model.STATE_NAMES)):
            key = "coverage_" + label.lower()
            out[key] = interval_coverage(
                pools("states_true", names),
                pools("states_lower", names),
                pools("states_upper", names),
            )
        width = pools("states_upper", HIDDEN_STATES) - pools("states_lower", HIDDEN_STATES)
        out["width_hidden"] = float(
            np.mean(width) / np.mean(np.abs(pools("states_true", HIDDEN_STATES)))
        )
        out["coverage_params"] = interval_coverage(
            p["params_true"].values[ok], p["params_lower"].values[ok], p["params_upper"].values[ok]
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
        """Write ``member_<k>/`` runs, ``ensemble.nc``, ``metrics.json`` and ``bands.png``."""
        import matplotlib.pyplot as plt

        from soilsciml.data.io import save_dataset
        from soilsciml.plots.hysomi import ensemble_bands

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for k, member in enumerate(self.members):
            member.save(directory / f"member_{k}")
        save_dataset(self.predictions, directory / "ensemble.nc")
        metrics = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in self.metrics().items()
        }
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if figures:
            fig = ensemble_bands(self.predictions, sample=0)
            fig.savefig(directory / "bands.png", dpi=110)
            plt.close(fig)
        return directory


def fit_hysomi_ensemble(
    ds: xr.Dataset,
    config: HySoMiTrainConfig | None = None,
    members: int = 5,
    progress: bool = True,
) -> HySoMiEnsembleResult:
    """Train ``members`` HySoMi models with seeds ``config.seed + k``; band on the test split.

    Raises
    ------
    ValueError
        Fewer than 2 members, or the ``ml`` model (it predicts CO2 only: no parameters or
        hidden pools to put a band on).
    """
    config = config or HySoMiTrainConfig()
    if not isinstance(members, int) or members < 2:
        raise ValueError(f"an ensemble needs at least 2 members; got {members!r}")
    if config.model == "ml":
        raise ValueError("the 'ml' model predicts CO2 only; ensemble a PBM-based model")
    fits = []
    for k in tqdm(range(members), desc="members", unit="member", disable=not progress):
        member_config = dataclasses.replace(config, seed=config.seed + k)
        fits.append(fit_hysomi(ds, member_config, progress=False))
    return HySoMiEnsembleResult(config, fits, ensemble_predictions(fits))
