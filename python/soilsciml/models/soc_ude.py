"""Engine-neutral pieces of the SOC UDE.

See [SOC science: the model][soc-model] and [losses][soc-losses].

Everything here is numpy and depends only on the data and the config, never on the network
weights, so both engines receive the same arrays: input scaling, the layout of the loss targets
and the smoothed field of the collocation term.

Network inputs, in order: (pH, OC, CEC, Clay, z, t); OC is the current SOC state in %.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from soilsciml.config import SOCLossConfig, SOCNetworkConfig
    from soilsciml.engines.base import SOCUDEProblem


__all__ = [
    "INPUTS",
    "INPUT_SCALINGS",
    "TARGET_LAYOUTS",
    "CollocationField",
    "TargetLayout",
    "collocation_field",
    "input_scaling",
    "layer_shapes",
    "scaled_extent",
    "site_count",
    "target_layout",
]

INPUTS = ("ph", "oc", "cec", "clay", "depth", "time")


def layer_shapes(h1: int, h2: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the flat weight layout exchanged between engines (y = W x + b)."""
    one = {"W1": (h1, 6), "b1": (h1,), "W2": (h2, h1), "b2": (h2,), "W3": (1, h2), "b3": (1,)}
    return {f"{net}.{name}": shape for net in ("P", "R") for name, shape in one.items()}


def site_count(problem: SOCUDEProblem) -> int | None:
    """Number of sites of a multi-site problem (``initial`` of shape (site, nz)); None for one."""
    return None if np.ndim(problem.initial) == 1 else int(np.shape(problem.initial)[0])


def _as_one_profile(problem: SOCUDEProblem) -> SOCUDEProblem:
    """A multi-site problem seen as one profile of site x depth columns (site-major).

    Everything in this module treats depth columns independently, so the layouts, the input
    scaling and the collocation field of the sites are those of this view, reshaped.
    """
    sites = site_count(problem)
    if sites is None:
        return problem
    nt, n_obs = problem.times.size, np.shape(problem.targets)[-1]
    return dataclasses.replace(
        problem,
        initial=np.reshape(problem.initial, -1),
        targets=np.swapaxes(problem.targets, 0, 1).reshape(nt, sites * n_obs),
    )


def _end_time(problem: SOCUDEProblem) -> float:
    observed = problem.times[np.any(np.isfinite(problem.targets), axis=1)]
    t_end = float(observed[-1]) if observed.size else float(problem.times[-1])
    return t_end if t_end != 0 else 1.0


def _paper_scaling(problem: SOCUDEProblem) -> tuple[np.ndarray, np.ndarray]:
    scale = np.array([7.0, 1.0, 1.0, 30.0, 1.0, _end_time(problem)])
    return np.zeros(6), scale


def _standard_scaling(problem: SOCUDEProblem) -> tuple[np.ndarray, np.ndarray]:
    drivers = problem.drivers.reshape(-1, 3)
    columns = [
        drivers[:, 0],
        problem.targets[np.isfinite(problem.targets)],
        drivers[:, 1],
        drivers[:, 2],
        problem.depth,
        problem.times,
    ]
    shift = np.array([np.mean(c) for c in columns])
    spread = np.array([np.std(c) for c in columns])
    # A constant input (one observed time, a uniform driver) keeps unit scale.
    return shift, np.where(spread > 0, spread, 1.0)


INPUT_SCALINGS: dict[str, Callable[[SOCUDEProblem], tuple[np.ndarray, np.ndarray]]] = {
    "paper": _paper_scaling,
    "standardise": _standard_scaling,
}


def scaled_extent(problem: SOCUDEProblem, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Largest |(x - shift) / scale| of each network input over the problem's data, shape (6,).

    OC is taken over the observed targets; far beyond O(1) the networks saturate.
    """
    drivers = np.reshape(problem.drivers, (-1, 3))
    columns = [
        drivers[:, 0],
        np.asarray(problem.targets)[np.isfinite(problem.targets)],
        drivers[:, 1],
        drivers[:, 2],
        problem.depth,
        problem.times,
    ]
    return np.array(
        [np.max(np.abs((c - s) / k)) for c, s, k in zip(columns, shift, scale, strict=True)]
    )


def input_scaling(problem: SOCUDEProblem, network: SOCNetworkConfig) -> tuple[np.ndarray, ...]:
    """``(shift, scale)``, each shape (6,): the network sees ``(x - shift) / scale``.

    The problem's own ``input_shift`` / ``input_scale`` win when given. ``paper``: pH/7, OC,
    CEC, Clay/30, z as is, t/t_end (t_end the last observed time, 1 when it is 0).
    ``standardise``: mean and standard deviation of the training drivers, targets, depths and
    times.
    """
    if problem.input_shift is not None and problem.input_scale is not None:
        return np.asarray(problem.input_shift), np.asarray(problem.input_scale)
    return INPUT_SCALINGS[network.input_scaling](_as_one_profile(problem))


@dataclass(frozen=True)
class TargetLayout:
    """Where the solve saves and what it is compared with.

    Parameters
    ----------
    save_times : ndarray, shape (ns,)
        Increasing times in yr, ``save_times[0]`` the start; ns >= 2.
    observed : ndarray, shape (ns, nz) or, for many sites, (ns, site, nz)
        Target SOC in % aligned with ``save_times`` (0 where masked); with an observation
        operator the last axis is the observed layers.
    mask : ndarray, shape of ``observed``
        1.0 where the misfit counts, 0.0 elsewhere.
    """

    save_times: np.ndarray
    observed: np.ndarray
    mask: np.ndarray

    @property
    def fitted_times(self) -> np.ndarray:
        """Save times with at least one counted observation."""
        return self.save_times[self.mask.reshape(self.save_times.size, -1).any(axis=1)]


def _layout(save_times, rows) -> TargetLayout:
    rows = np.asarray(rows, dtype=float)
    mask = np.isfinite(rows)
    return TargetLayout(np.asarray(save_times, float), np.where(mask, rows, 0.0), mask * 1.0)


def _observed_rows(problem: SOCUDEProblem) -> np.ndarray:
    return np.flatnonzero(np.any(np.isfinite(problem.targets), axis=1))


def _terminal(problem: SOCUDEProblem, loss: SOCLossConfig) -> TargetLayout:
    last = _observed_rows(problem)[-1]
    if last == 0:
        raise ValueError(
            "loss.target='terminal' needs an observed profile after the first time; "
            "use loss.target='initial' when only the initial profile is observed"
        )
    blank = np.full_like(problem.targets[last], np.nan)
    return _layout([problem.times[0], problem.times[last]], [blank, problem.targets[last]])


def _trajectory(problem: SOCUDEProblem, loss: SOCLossConfig) -> TargetLayout:
    if _observed_rows(problem)[-1] == 0:
        raise ValueError("loss.target='trajectory' needs observed profiles after the first time")
    # The first row is the initial condition itself: it carries no information about P and R.
    rows = problem.targets.copy()
    rows[0] = np.nan
    return _layout(problem.times, rows)


def _initial(problem: SOCUDEProblem, loss: SOCLossConfig) -> TargetLayout:
    blank = np.full_like(problem.targets[0], np.nan)
    t0 = problem.times[0]
    return _layout([t0, t0 + loss.epsilon_rollout], [blank, problem.targets[0]])


TARGET_LAYOUTS: dict[str, Callable[[SOCUDEProblem, SOCLossConfig], TargetLayout]] = {
    "terminal": _terminal,
    "trajectory": _trajectory,
    "initial": _initial,
}


def target_layout(problem: SOCUDEProblem, loss: SOCLossConfig) -> TargetLayout:
    """The save times and targets of ``loss.target``.

    See [SOC science: losses][soc-losses] and [cases][soc-cases].

    ``terminal``: the last observed profile; ``trajectory``: every observed time after the
    start; ``initial``: the profile after a rollout of ``epsilon_rollout`` years from the
    observed initial profile is compared with that same initial profile. For many sites the
    save times are shared: ``terminal`` is the last time at which any site is observed.
    """
    layout = TARGET_LAYOUTS[loss.target](_as_one_profile(problem), loss)
    if site_count(problem) is None:
        return layout
    shape = (layout.save_times.size, site_count(problem), np.shape(problem.targets)[-1])
    return TargetLayout(
        layout.save_times, layout.observed.reshape(shape), layout.mask.reshape(shape)
    )


@dataclass(frozen=True)
class CollocationField:
    """A smoothed estimate of the observed field and its time derivative.

    Parameters
    ----------
    times : ndarray, shape (m,)
        Observed times in yr (empty when fewer than two times are observed).
    soc : ndarray, shape (m, nz)
        Kernel-smoothed SOC in %.
    rate : ndarray, shape (m, nz)
        Finite-difference dC/dt of ``soc`` in % yr-1.
    """

    times: np.ndarray
    soc: np.ndarray
    rate: np.ndarray


def collocation_field(problem: SOCUDEProblem, loss: SOCLossConfig) -> CollocationField:
    """Smooth the observed field in time and differentiate it (the collocation term's input).

    Local-linear regression with a Gaussian kernel of width ``collocation_bandwidth`` times the
    median spacing of the observed times (NaN observations get zero weight), then second-order
    finite differences in time (``numpy.gradient``). Fewer than two observed times, or layer
    observations (``problem.observation``), give an empty field, so the collocation term is
    zero. For many sites ``soc`` and ``rate`` are (m, site, nz).
    """
    if problem.observation is not None:
        if loss.lambda_coll > 0:
            raise ValueError(
                "loss.lambda_coll needs SOC observed at the model nodes; layer-mean (profile) "
                "data have none: set loss.lambda_coll = 0"
            )
        sites = site_count(problem)
        shape = (0, problem.depth.size) if sites is None else (0, sites, problem.depth.size)
        return CollocationField(np.zeros(0), np.zeros(shape), np.zeros(shape))
    field = _collocation_one_profile(_as_one_profile(problem), loss)
    if site_count(problem) is None:
        return field
    shape = (field.times.size, site_count(problem), problem.depth.size)
    return CollocationField(field.times, field.soc.reshape(shape), field.rate.reshape(shape))


def _collocation_one_profile(problem: SOCUDEProblem, loss: SOCLossConfig) -> CollocationField:
    rows = _observed_rows(problem)
    nz = problem.initial.size
    if rows.size < 2:
        empty = np.zeros((0, nz))
        return CollocationField(np.zeros(0), empty, empty)
    times = problem.times[rows]
    values = problem.targets[rows]
    mask = np.isfinite(values)
    values = np.where(mask, values, 0.0)
    bandwidth = loss.collocation_bandwidth * float(np.median(np.diff(times)))
    offset = times[None, :] - times[:, None]  # (i, j): t_j - t_i
    kernel = np.exp(-0.5 * (offset / bandwidth) ** 2)[:, :, None] * mask[None, :, :]
    s0 = kernel.sum(axis=1)
    s1 = (kernel * offset[:, :, None]).sum(axis=1)
    s2 = (kernel * offset[:, :, None] ** 2).sum(axis=1)
    t0 = (kernel * values[None]).sum(axis=1)
    t1 = (kernel * offset[:, :, None] * values[None]).sum(axis=1)
    determinant = s0 * s2 - s1**2
    well_posed = determinant > 1e-12 * np.maximum(s0 * s2, 1e-300)
    local_linear = (s2 * t0 - s1 * t1) / np.where(well_posed, determinant, 1.0)
    smooth = np.where(well_posed, local_linear, t0 / np.maximum(s0, 1e-300))
    return CollocationField(times, smooth, np.gradient(smooth, times, axis=0))
