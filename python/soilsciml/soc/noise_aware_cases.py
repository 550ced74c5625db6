"""Noise-aware training of the noisy SOC cases (3 and 6) next to the paper's plain MSE.

Case data: the reference truth over 50 years, AR-1 multiplicative noise at 35 % (rho 0.8,
seed 0) on the drivers and on SOC; Case 3 fits the initial profile (epsilon rollout), Case 6
the terminal profile at t = 50 yr. Every option is scored by R2 against the noisy target and
against the clean truth. See [SOC science: truth][soc-truth], [noise][soc-noise] and
[cases][soc-cases].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import xarray as xr

from soilsciml.config import (
    NoiseConfig,
    SOCFitConfig,
    SOCLossConfig,
    SOCSimulationConfig,
    SOCTrainConfig,
)

__all__ = ["CASES", "OPTIONS", "NoiseAwareOption", "case_config", "case_dataset", "run_case"]

#: Case number -> (loss target, noise level, Adam iterations, second-stage iterations).
CASES = {3: ("initial", 0.35, 200, 400), 6: ("terminal", 0.35, 400, 800)}
NOISE_SEED = 0


@dataclass(frozen=True)
class NoiseAwareOption:
    """One training option: a description, loss/train settings and an optional data prior."""

    description: str
    loss: dict
    train: dict
    denoise: bool = False


OPTIONS = {
    "mse": NoiseAwareOption("plain MSE (the paper)", {}, {}),
    "huber": NoiseAwareOption("Huber, delta 0.05 %", {"kind": "huber"}, {}),
    "student_t": NoiseAwareOption("Student-t, 4 dof, learned scale", {"kind": "student_t"}, {}),
    "heteroscedastic": NoiseAwareOption(
        "heteroscedastic Gaussian, sd = 0.35 abs(C) + 0.01", {"kind": "heteroscedastic"}, {}
    ),
    "holdout": NoiseAwareOption(
        "MSE, early stopping on every fourth depth", {}, {"holdout": "every_fourth_depth"}
    ),
    "denoised": NoiseAwareOption(
        "drivers and initial profile smoothed in depth (0.1 m), MSE", {}, {}, denoise=True
    ),
    "denoised_heteroscedastic": NoiseAwareOption(
        "drivers and initial profile smoothed in depth (0.1 m) + heteroscedastic + hold-out",
        {"kind": "heteroscedastic"},
        {"holdout": "every_fourth_depth"},
        denoise=True,
    ),
}


def case_dataset(case: int, quick: bool = False) -> xr.Dataset:
    """The noisy dataset of ``case`` (3 or 6); ``quick``: 10 years instead of 50."""
    from soilsciml.noise import add_noise
    from soilsciml.soc.simulate import simulate_soc

    _, level, _, _ = CASES[case]
    clean = simulate_soc(SOCSimulationConfig(years=10.0 if quick else 50.0))
    return add_noise(clean, NoiseConfig(level=level, kind="ar1", rho=0.8, seed=NOISE_SEED))


def case_config(case: int, option: NoiseAwareOption, quick: bool = False) -> SOCFitConfig:
    """The fit config of ``case`` with ``option`` (``quick``: 20 Adam + 10 BFGS iterations)."""
    target, _, adam, second = CASES[case]
    if quick:
        adam, second = 20, 10
    loss = SOCLossConfig(target=target, **option.loss)
    train = SOCTrainConfig(adam_iters=adam, second_iters=second, **option.train)
    return SOCFitConfig(loss=loss, train=train)


def run_case(
    case: int,
    options: tuple[str, ...] | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Fit ``case`` with each option; one row of scores per option."""
    from soilsciml.soc.fit import fit_soc
    from soilsciml.soc.noise_aware import smooth_in_depth

    if case not in CASES:
        raise ValueError(f"case must be one of {sorted(CASES)}; got {case}")
    names = options or tuple(OPTIONS)
    unknown = [name for name in names if name not in OPTIONS]
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r}; options: {', '.join(OPTIONS)}")
    noisy = case_dataset(case, quick)
    rows = []
    for name in names:
        option = OPTIONS[name]
        data = smooth_in_depth(noisy) if option.denoise else noisy
        result = fit_soc(data, case_config(case, option, quick), progress=False)
        metrics = result.metrics()
        row = {"option": name, "description": option.description}
        keys = (
            "r2_noisy",
            "r2_clean",
            "mse_clean",
            "r2_clean_trajectory",
            "rmse_holdout_clean",
            "wall_time_s",
        )
        row.update({key: metrics.get(key, float("nan")) for key in keys})
        row.update(status=result.status, iterations=metrics["iterations"])
        rows.append(row)
        if progress is not None:
            progress(f"case {case} {name}: R2 clean {row['r2_clean']:.4f}")
    return rows


def markdown_table(case: int, rows: list[dict]) -> str:
    """The rows of :func:`run_case` as a Markdown table."""
    lines = [
        f"Case {case}: R2 of the fitted profile against the noisy target and the clean truth, "
        "and of the whole predicted trajectory (every time after the start) against the "
        "clean truth",
        "",
        "| option | R2 noisy | R2 clean | MSE clean | R2 clean, all times | iterations | status "
        "| wall time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        iters = " + ".join(str(n) for n in row["iterations"].values())
        lines.append(
            f"| {row['description']} | {row['r2_noisy']:.4f} | {row['r2_clean']:.4f} | "
            f"{row['mse_clean']:.3g} | {row['r2_clean_trajectory']:.4g} | {iters} | "
            f"{row['status']} | {row['wall_time_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"
